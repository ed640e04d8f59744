//! The route table of `quittance serve --config routes.toml`: many paid routes, each with its price, the
//! schemes it offers, its payee, its settle mode, what it sells and what it answers. The format is documented
//! by `crates/cli/routes.example.toml`.
//!
//! Reading checks the form of everything (an amount, an address, a path, a scheme name); errors name the
//! file, the route and the field.

use crate::amount::Amount;
use alloy::primitives::Address;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A route table, as read from its file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    /// The token every price is in (default: `--token` or the deployment's).
    #[serde(default)]
    pub token: Option<TokenConfig>,
    /// The routes.
    #[serde(rename = "route", default)]
    pub routes: Vec<RouteConfig>,
}

/// The token prices are in, with its EIP-712 domain for tokens without `eip712Domain()` (ERC-5267).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Its address (default: `--token` or the deployment's).
    #[serde(default)]
    pub address: Option<Address>,
    /// Its EIP-712 domain name (`"USD Coin"`); read from the token when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Its EIP-712 domain version (`"2"`); read from the token when absent.
    #[serde(default)]
    pub version: Option<String>,
}

/// How a route is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteScheme {
    /// x402's `exact` with an EIP-3009 authorization (plus the invoice and channel options when asked).
    Exact,
    /// x402's `exact` over Permit2 (any ERC-20), as the only option.
    ExactPermit2,
    /// x402's `upto`: the price is the most a request may cost.
    Upto,
    /// x402's `auth-capture` (escrow flow): held before serving, captured after (voided on a failure), the
    /// operations signed by the issuer's key as the receiver authorizer.
    AuthCapture,
}

impl RouteScheme {
    /// Its name in the route file.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::ExactPermit2 => "exact-permit2",
            Self::Upto => "upto",
            Self::AuthCapture => "auth-capture",
        }
    }

    /// Its name in the facilitator's `/supported`.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Exact | Self::ExactPermit2 => "exact",
            Self::Upto => "upto",
            Self::AuthCapture => "auth-capture",
        }
    }
}

/// One paid route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Its path (`/report`), served to `GET`.
    pub path: String,
    /// Its price, as people type it (`"0.01"`, `"$0.01"`), or in the smallest unit with `units = true`.
    pub price: String,
    /// Read `price` in the token's smallest unit.
    #[serde(default)]
    pub units: bool,
    /// How it is paid (default `exact`).
    #[serde(default = "default_scheme")]
    pub scheme: RouteScheme,
    /// Offer Quittance invoices too (`exact` only; needs the issuer's key and a registry).
    #[serde(default)]
    pub invoice: bool,
    /// Offer voucher channels too (`exact` only; needs a `VoucherChannels` contract).
    #[serde(default)]
    pub channel: bool,
    /// Declare `eip2612GasSponsoring` (`exact-permit2` and `upto` only; the token must have EIP-2612): a
    /// payer who never approved Permit2 signs an EIP-2612 permit along.
    #[serde(default)]
    pub eip2612: bool,
    /// Who is paid (default: `--pay-to`).
    #[serde(default)]
    pub pay_to: Option<Address>,
    /// Settle before serving (default: serve, then settle).
    #[serde(default)]
    pub settle_before_serving: bool,
    /// What it sells.
    #[serde(default)]
    pub description: Option<String>,
    /// The MIME type of what it answers (default `application/json`).
    #[serde(default)]
    pub mime_type: Option<String>,
    /// The answer, as written here.
    #[serde(default)]
    pub body: Option<String>,
    /// The answer, read from this file (relative to the route file) at start.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// Seconds a payment may take (default 120).
    #[serde(default)]
    pub max_timeout_seconds: Option<u64>,
}

fn default_scheme() -> RouteScheme {
    RouteScheme::Exact
}

/// A route, checked and with its answer loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Its path.
    pub path: String,
    /// Its price as typed.
    pub price: Amount,
    /// Whether `price` is in the smallest unit.
    pub units: bool,
    /// How it is paid.
    pub scheme: RouteScheme,
    /// Offer invoices too.
    pub invoice: bool,
    /// Offer channels too.
    pub channel: bool,
    /// Declare `eip2612GasSponsoring`.
    pub eip2612: bool,
    /// Who is paid, when the route names it.
    pub pay_to: Option<Address>,
    /// Settle before serving.
    pub settle_before_serving: bool,
    /// What it sells.
    pub description: String,
    /// The MIME type of its answer.
    pub mime_type: String,
    /// Its answer.
    pub body: Vec<u8>,
    /// Seconds a payment may take.
    pub max_timeout_seconds: u64,
}

/// Why a route table cannot be used: the message names the file, the route and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct RouteTableError {
    /// The file.
    pub file: String,
    /// What is wrong in it.
    pub message: String,
}

/// A route table read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// The token section.
    pub token: Option<TokenConfig>,
    /// The routes, in file order.
    pub routes: Vec<Route>,
}

/// Reads and checks the route table at `path`.
pub fn read(path: &Path) -> Result<Routes, RouteTableError> {
    let file = path.display().to_string();
    let fail = |message: String| RouteTableError { file: file.clone(), message };
    let text = std::fs::read_to_string(path).map_err(|err| fail(format!("cannot read it: {err}")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(fail)
}

/// Parses and checks a route table's text; `base` is where `file = …` paths are relative to.
pub fn parse(text: &str, base: &Path) -> Result<Routes, String> {
    let table: RouteTable = toml::from_str(text).map_err(|err| err.to_string().trim_end().to_owned())?;
    if table.routes.is_empty() {
        return Err("no routes: add at least one [[route]] with a path and a price".into());
    }
    let mut routes = Vec::new();
    for (index, route) in table.routes.into_iter().enumerate() {
        let name =
            if route.path.is_empty() { format!("route #{}", index + 1) } else { format!("route {}", route.path) };
        let field = |field: &str, message: String| format!("{name}: {field}: {message}");
        if !route.path.starts_with('/') || route.path.contains(['?', '#', ' ']) || route.path.contains("{") {
            return Err(field("path", format!("{:?} is not a path: write it like \"/report\"", route.path)));
        }
        if route.path == "/" {
            return Err(field("path", "\"/\" lists the paid routes and is free: pick another path".into()));
        }
        if routes.iter().any(|r: &Route| r.path == route.path) {
            return Err(field("path", "appears twice".into()));
        }
        let price: Amount =
            route.price.parse().map_err(|err: crate::amount::AmountError| field("price", err.to_string()))?;
        // Zero is refused now; the decimals are checked once the token is read.
        if let Err(err @ crate::amount::AmountError::Zero) = price.resolve(36, route.units) {
            return Err(field("price", err.to_string()));
        }
        if route.scheme != RouteScheme::Exact && (route.invoice || route.channel) {
            let what = if route.invoice { "invoice" } else { "channel" };
            return Err(field(what, format!("only an `exact` route offers it, not {:?}", route.scheme)));
        }
        if route.eip2612 && !matches!(route.scheme, RouteScheme::ExactPermit2 | RouteScheme::Upto) {
            return Err(field(
                "eip2612",
                format!("only an `exact-permit2` or `upto` route offers it, not {:?}", route.scheme),
            ));
        }
        let body = match (&route.body, &route.file) {
            (Some(_), Some(_)) => return Err(field("file", "give a body or a file, not both".into())),
            (Some(body), None) => body.clone().into_bytes(),
            (None, Some(file)) => {
                let full = base.join(file);
                std::fs::read(&full).map_err(|err| field("file", format!("cannot read {}: {err}", full.display())))?
            }
            (None, None) => {
                return Err(field("body", "missing: give the answer as body = \"…\" or file = \"…\"".into()));
            }
        };
        if route.max_timeout_seconds == Some(0) {
            return Err(field("max_timeout_seconds", "must be more than zero".into()));
        }
        routes.push(Route {
            path: route.path,
            price,
            units: route.units,
            scheme: route.scheme,
            invoice: route.invoice,
            channel: route.channel,
            eip2612: route.eip2612,
            pay_to: route.pay_to,
            settle_before_serving: route.settle_before_serving,
            description: route.description.unwrap_or_default(),
            mime_type: route.mime_type.unwrap_or_else(|| "application/json".into()),
            body,
            max_timeout_seconds: route.max_timeout_seconds.unwrap_or(120),
        });
    }
    Ok(Routes { token: table.token, routes })
}
