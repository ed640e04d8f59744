//! `quittance serve`: an example paid API behind the paywall, settled by a facilitator over HTTP.

use crate::{
    amount::Amount,
    keys::KeySource,
    routes::{self, Route, RouteScheme},
    server,
};
use alloy::primitives::Address;
use axum::{Json, Router, extract::DefaultBodyLimit, http::header, routing::get};
use quittance_bindings::TestStablecoin;
use quittance_chain::{Chain, RpcChain};
use quittance_paywall::{
    AuthCaptureOffer, ByNetwork, ChannelOffer, CrossChainRoute, HttpFacilitator, InvoiceIssuer, PageConfig,
    PaymentStore, Paywall, Price, SqliteStore,
};
use quittance_x402::crosschain::Lane;
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

/// Arguments of `quittance serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// JSON-RPC endpoint of the chain payments settle on.
    #[arg(long, env = "QUITTANCE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: reqwest::Url,
    /// The facilitator that verifies and settles (e.g. one started with `quittance facilitator`).
    #[arg(long, env = "QUITTANCE_FACILITATOR_URL", default_value = "http://127.0.0.1:4021/")]
    pub facilitator_url: reqwest::Url,
    /// A deployment manifest (`quittance deploy`, `deployments/<chain-id>.json`): the token, the registry and
    /// the channels contract default to its `TestStablecoin`, `InvoiceRegistry` and `VoucherChannels`.
    #[arg(long)]
    pub deployment: Option<PathBuf>,
    /// The token prices are in (an EIP-3009 token such as USDC).
    #[arg(long, required_unless_present = "deployment")]
    pub token: Option<Address>,
    /// The price of `/report`, in whole tokens (`0.01` or `$0.01` is a cent of a dollar stablecoin), or in
    /// the token's smallest unit with `--units`.
    #[arg(long, default_value = "0.01")]
    pub amount: Amount,
    /// Read `--amount` in the token's smallest unit (`10000` is a cent of USDC) instead of whole tokens.
    #[arg(long)]
    pub units: bool,
    /// Who is paid (routes of `--config` may name their own payee).
    #[arg(long, required_unless_present = "config")]
    pub pay_to: Option<Address>,
    /// A route table (TOML; see `crates/cli/routes.example.toml`): many paid routes, each with its price,
    /// schemes, payee, settle mode, description, MIME type and answer, and the token's EIP-712 domain for
    /// tokens without `eip712Domain()`. Without it, `serve` sells one route, `/report`, as the flags say.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Offer Quittance invoices of this registry too (needs the issuer's key).
    #[arg(long)]
    pub registry: Option<Address>,
    /// File holding the invoice issuer's hex private key.
    #[arg(long, conflicts_with = "issuer_key_env")]
    pub issuer_key_file: Option<PathBuf>,
    /// Environment variable holding the invoice issuer's hex private key.
    #[arg(long, default_value = "QUITTANCE_ISSUER_KEY")]
    pub issuer_key_env: String,
    /// Offer payment through voucher channels of this `VoucherChannels` contract too (the facilitator claims
    /// them; see `quittance facilitator --claim-every`).
    #[arg(long)]
    pub channels: Option<Address>,
    /// The shortest withdrawal delay a channel may have, in seconds: longer than the facilitator's claim
    /// interval.
    #[arg(long, default_value = "3600")]
    pub min_withdraw_delay: u64,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The payment store (an SQLite file, created if missing): every payment is reserved here before it is
    /// verified, with the answer it bought, so that a copy of it gets that answer and nothing runs twice.
    /// Servers on one machine may share the file.
    #[arg(long, default_value = "quittance-paywall.sqlite")]
    pub store: PathBuf,
    /// This server's name among those that share the store, the same across its restarts (default: the
    /// address it listens on).
    #[arg(long)]
    pub instance: Option<String>,
    /// The title and heading of the page browsers get for a paid route.
    #[arg(long, default_value = "Payment required")]
    pub page_title: String,
    /// Answer browsers with the bare 402 (JSON and headers) instead of the paywall page.
    #[arg(long)]
    pub no_page: bool,
    /// Require x402's `payment-identifier` on every payment (it is always declared and honoured).
    #[arg(long)]
    pub require_payment_id: bool,
    /// The public origin clients reach this server at (default: `http://<listen>`).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Accept payment from another chain through CCIP: that chain's manifest, with the lane `quittance ccip
    /// deploy` recorded (repeat for more chains). Prices are then in this chain's Cross-Chain Token.
    #[arg(long, requires = "deployment")]
    pub cross_chain_from: Vec<PathBuf>,
    /// The facilitator for payments made on another network, as `<CAIP-2 network>=<URL>` (the facilitator
    /// of a `--cross-chain-from` chain, watching this one).
    #[arg(long, value_parser = network_url)]
    pub facilitator_for: Vec<(String, reqwest::Url)>,
    /// Seconds each JSON-RPC request to the chain may take before it fails as timed out.
    #[arg(long, default_value_t = quittance_chain::RPC_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub rpc_timeout_secs: u64,
    /// Seconds each request to a facilitator (verify, settle) may take before it fails as timed out: longer
    /// than the facilitator waits for a settlement's receipt.
    #[arg(long, default_value_t = HttpFacilitator::DEFAULT_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub facilitator_timeout_secs: u64,
    /// Seconds a request to this server may take before it is answered 503.
    #[arg(long, default_value_t = server::PAYWALL_REQUEST_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// The connection bounds.
    #[command(flatten)]
    pub server: server::ServerArgs,
}

/// The largest request body `quittance serve` accepts, in bytes (its routes take none).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parses `<CAIP-2 network>=<URL>`.
pub(crate) fn network_url(text: &str) -> Result<(String, reqwest::Url), String> {
    let (network, url) = text.split_once('=').ok_or("expected <CAIP-2 network>=<URL>")?;
    network.parse::<quittance_x402::Network>().map_err(|e| e.to_string())?;
    Ok((network.to_owned(), url.parse().map_err(|e| format!("{url}: {e}"))?))
}

/// Serves `GET /report` (paid) and `GET /` (free) until stopped.
pub async fn run(args: ServeArgs) -> eyre::Result<()> {
    let table = args.config.as_deref().map(routes::read).transpose()?;
    let config_name = args.config.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let table_token = table.as_ref().and_then(|t| t.token.clone()).unwrap_or(routes::TokenConfig {
        address: None,
        name: None,
        version: None,
    });
    let manifest = args.deployment.as_ref().map(quittance_deploy::Manifest::read).transpose()?;
    let from_manifest = |name: &str| manifest.as_ref().and_then(|m| m.address(name));
    let ccip = manifest.as_ref().and_then(|m| m.ccip.as_ref());
    let routes = match ccip {
        _ if args.cross_chain_from.is_empty() => Vec::new(),
        None => eyre::bail!("--cross-chain-from needs a deployment with a CCIP end: run `quittance ccip deploy`"),
        Some(here) => {
            let network = manifest.as_ref().map(|m| m.network.clone()).unwrap_or_default();
            let mut routes = Vec::new();
            for path in &args.cross_chain_from {
                let source = quittance_deploy::Manifest::read(path)?;
                let end = source.ccip.as_ref().ok_or_else(|| eyre::eyre!("{} has no CCIP end", path.display()))?;
                eyre::ensure!(end.lanes.contains_key(&network), "{} has no lane to {network}", path.display());
                routes.push(CrossChainRoute {
                    network: source.network.clone(),
                    asset: end.token,
                    asset_name: end.token_name.clone(),
                    asset_version: end.token_version.clone(),
                    lane: Lane {
                        sender: end.invoice_sender,
                        destination_chain_selector: here.selector()?,
                        receiver: here.invoice_receiver,
                        gas_limit: here.receiver_gas,
                    },
                });
            }
            routes
        }
    };
    // Cross-chain payments arrive in this chain's Cross-Chain Token, so prices are in it.
    let default_token = if routes.is_empty() { from_manifest("TestStablecoin") } else { ccip.map(|c| c.token) };
    let token = table_token
        .address
        .or(args.token)
        .or(default_token)
        .ok_or_else(|| eyre::eyre!("no --token, and the deployment has no TestStablecoin"))?;
    eyre::ensure!(
        routes.is_empty() || Some(token) == ccip.map(|c| c.token),
        "with --cross-chain-from, prices are in the deployment's Cross-Chain Token"
    );
    let issuer_key = match &args.issuer_key_file {
        Some(path) => KeySource::File(path.clone()),
        None => KeySource::Env(args.issuer_key_env.clone()),
    };
    // Invoices: an explicit --registry needs the issuer's key; the deployment's registry is used when the
    // key is there.
    let invoices = match (args.registry, from_manifest("InvoiceRegistry")) {
        (Some(registry), _) => Some(InvoiceIssuer { registry, signer: issuer_key.load()?, validity_seconds: 600 }),
        (None, Some(registry)) => {
            issuer_key.load().ok().map(|signer| InvoiceIssuer { registry, signer, validity_seconds: 600 })
        }
        (None, None) => None,
    };
    let channels = args.channels.or_else(|| from_manifest("VoucherChannels"));
    let chain = RpcChain::http_with_timeout(args.rpc_url.clone(), Duration::from_secs(args.rpc_timeout_secs));
    let chain_id =
        chain.chain_id().await.map_err(|e| eyre::eyre!("could not reach the chain at {}: {e}", args.rpc_url))?;
    let network = quittance_x402::Network::eip155(chain_id).to_string();
    // The token's EIP-712 domain: as the route table gives it, or as the token declares it (ERC-5267).
    let (asset_name, asset_version) = match (table_token.name.clone(), table_token.version.clone()) {
        (Some(name), Some(version)) => (name, version),
        (name, version) => {
            let domain =
                quittance_chain::read(&chain, token, TestStablecoin::eip712DomainCall {}).await.map_err(|e| {
                    eyre::eyre!(
                        "could not read the EIP-712 domain of the token {token} (ERC-5267 eip712Domain()): {e}; give \
                     it as name and version under [token] in a --config route table"
                    )
                })?;
            (name.unwrap_or(domain.name), version.unwrap_or(domain.version))
        }
    };
    let decimals = quittance_chain::read(&chain, token, TestStablecoin::decimalsCall {})
        .await
        .map_err(|e| eyre::eyre!("could not read the decimals of the token {token}: {e}"))?;
    let channels = channels.map(|contract| ChannelOffer { contract, min_withdraw_delay: args.min_withdraw_delay });
    // The routes sold: the table's, or `/report` as the flags say.
    let sold = match &table {
        Some(table) => table.routes.clone(),
        None => vec![Route {
            path: "/report".into(),
            price: args.amount.clone(),
            units: args.units,
            scheme: RouteScheme::Exact,
            invoice: invoices.is_some(),
            channel: channels.is_some(),
            eip2612: false,
            pay_to: args.pay_to,
            settle_before_serving: false,
            description: "A market report".into(),
            mime_type: "application/json".into(),
            body: serde_json::to_vec(&serde_json::json!({"report": "markets are up"}))?,
            max_timeout_seconds: 120,
        }],
    };
    let mut priced = Vec::new();
    for route in &sold {
        let in_route = |field: &str, message: String| match &table {
            Some(_) => eyre::eyre!("{config_name}: route {}: {field}: {message}", route.path),
            None => eyre::eyre!("--{}: {message}", if field == "price" { "amount" } else { field }),
        };
        let amount = route.price.resolve(decimals, route.units).map_err(|e| in_route("price", e.to_string()))?;
        let pay_to = route
            .pay_to
            .or(args.pay_to)
            .ok_or_else(|| in_route("pay_to", "missing: name the payee here or pass --pay-to".into()))?;
        let route_invoices = match (route.invoice, &invoices) {
            (false, _) => None,
            (true, Some(issuer)) => Some(issuer.clone()),
            (true, None) => {
                return Err(in_route(
                    "invoice",
                    "needs a registry (--registry or the deployment's) and the issuer's key (--issuer-key-env or \
                     --issuer-key-file)"
                        .into(),
                ));
            }
        };
        let route_channels = match (route.channel, &channels) {
            (false, _) => None,
            (true, Some(offer)) => Some(*offer),
            (true, None) => {
                return Err(in_route("channel", "needs --channels or a deployment with VoucherChannels".into()));
            }
        };
        let price = Price {
            network: network.clone(),
            asset: token,
            asset_name: asset_name.clone(),
            asset_version: asset_version.clone(),
            amount,
            pay_to,
            max_timeout_seconds: route.max_timeout_seconds,
            description: route.description.clone(),
            mime_type: route.mime_type.clone(),
            invoices: route_invoices,
            settle_before_serving: route.settle_before_serving,
            channels: route_channels,
            cross_chain: if route.scheme == RouteScheme::Exact { routes.clone() } else { Vec::new() },
        };
        priced.push((route.clone(), price));
    }
    let price = priced[0].1.clone();
    let facilitator_timeout = Duration::from_secs(args.facilitator_timeout_secs);
    let facilitator = |url| Arc::new(HttpFacilitator::with_timeout(url, facilitator_timeout));
    let mut facilitators = ByNetwork::new().with(price.network.clone(), facilitator(args.facilitator_url.clone()));
    for (network, url) in args.facilitator_for {
        facilitators = facilitators.with(network, facilitator(url));
    }
    eyre::ensure!(
        price.cross_chain.is_empty() || price.invoices.is_some(),
        "payments from other chains pay the seller's invoices: give the issuer's key (--issuer-key-env or --issuer-key-file)"
    );
    for route in &price.cross_chain {
        eyre::ensure!(
            facilitators.serves(&route.network),
            "no facilitator for payments made on {}: pass --facilitator-for {}=<URL>",
            route.network,
            route.network
        );
    }
    let (facilitator_address, operator) =
        check_supported(&args.facilitator_url, facilitator_timeout, &network, &priced).await?;
    // `auth-capture` routes: the facilitator operates the escrow; the issuer's key consents to its operations.
    let auth_capture = match priced.iter().any(|(route, _)| route.scheme == RouteScheme::AuthCapture) {
        false => None,
        true => Some(AuthCaptureOffer {
            operator: operator.ok_or_else(|| eyre::eyre!("the facilitator names no auth-capture operator"))?,
            authorizer: issuer_key.load().map_err(|e| {
                eyre::eyre!("auth-capture routes need the issuer's key (--issuer-key-env or --issuer-key-file): {e}")
            })?,
            capture_seconds: 3_600,
            refund_seconds: 7 * 24 * 3_600,
        }),
    };
    let listener = server::bind(args.listen).await?;
    let bound = listener.local_addr()?;
    let public_url = args.public_url.unwrap_or_else(|| format!("http://{bound}"));
    let store = Arc::new(
        SqliteStore::open(&args.store)
            .map_err(|err| eyre::eyre!("could not open the payment store {}: {err}", args.store.display()))?,
    );
    let instance = args.instance.unwrap_or_else(|| args.listen.to_string());
    prune_every_hour(store.clone());
    // Browsers get the paywall page, with prices in whole tokens of the token served.
    let page = (!args.no_page)
        .then(|| PageConfig { title: args.page_title.clone(), tokens: vec![(token, asset_name.clone(), decimals)] });
    let paywall = Paywall::new(Arc::new(facilitators), public_url.clone())
        .with_page(page)
        .with_store(store, &instance)
        .with_payment_identifier(Some(args.require_payment_id));
    let paths: Vec<String> = priced.iter().map(|(route, _)| route.path.clone()).collect();
    let mut app = Router::new().route("/", get(move || async move { Json(serde_json::json!({ "paid": paths })) }));
    for (route, price) in priced {
        let line = format!(
            "serving {public_url}{} (paid, {} of the token {token}, {}{}) on {bound}",
            route.path,
            crate::amount::format_units(price.amount, decimals),
            route.scheme.file_name(),
            if route.settle_before_serving { ", settled before serving" } else { "" }
        );
        let (mime, body) = (route.mime_type.clone(), route.body.clone());
        let handler = get(move || async move { ([(header::CONTENT_TYPE, mime)], body) });
        let layer = match route.scheme {
            RouteScheme::Exact => paywall.price(price),
            RouteScheme::ExactPermit2 => paywall.price_exact_permit2(price, route.eip2612),
            RouteScheme::Upto => paywall.price_upto(price, facilitator_address.unwrap_or_default(), route.eip2612),
            RouteScheme::AuthCapture => match &auth_capture {
                Some(offer) => paywall.price_auth_capture(price, offer.clone()),
                None => eyre::bail!("route {}: no auth-capture offer", route.path),
            },
        };
        app = app.route(&route.path, handler.layer(layer));
        println!("{line}");
    }
    let app = app.layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    server::serve(listener, app, args.server.limits(args.request_timeout_secs)).await?;
    Ok(())
}

/// How long `serve` waits at start for a facilitator that does not accept connections yet.
const FACILITATOR_START_GRACE: Duration = Duration::from_secs(10);

/// Checks that the facilitator at `url` serves every scheme the routes offer on `network` (its `GET
/// /supported`), with an error naming the facilitator and what it lacks; gives the facilitator's address for
/// `upto` (its `extra.facilitatorAddress`) when a route needs it.
async fn check_supported(
    url: &reqwest::Url,
    timeout: Duration,
    network: &str,
    priced: &[(Route, Price)],
) -> eyre::Result<(Option<Address>, Option<Address>)> {
    let supported_url = url.join("supported").map_err(|e| eyre::eyre!("the facilitator URL {url}: {e}"))?;
    let client = reqwest::Client::builder().timeout(timeout).build()?;
    // A facilitator started alongside may not listen yet: it gets a few seconds.
    let deadline = tokio::time::Instant::now() + FACILITATOR_START_GRACE;
    let response = loop {
        match client.get(supported_url.clone()).send().await {
            Ok(response) => break response,
            Err(err) if err.is_connect() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => eyre::bail!("could not reach the facilitator at {url} ({supported_url}): {err}"),
        }
    };
    let status = response.status();
    eyre::ensure!(status.is_success(), "the facilitator at {url} answered {status} to GET /supported");
    let supported: quittance_x402::SupportedResponse = response
        .json()
        .await
        .map_err(|e| eyre::eyre!("the facilitator at {url} answered GET /supported with something unreadable: {e}"))?;
    let mut needed = Vec::new();
    for (route, price) in priced {
        needed.push((route.scheme.wire_name(), &route.path));
        if price.invoices.is_some() {
            needed.push(("invoice", &route.path));
        }
        if price.channels.is_some() {
            needed.push(("channel", &route.path));
        }
    }
    let kind = |scheme: &str| supported.kinds.iter().find(|k| k.scheme == scheme && k.network == network);
    for (scheme, path) in needed {
        eyre::ensure!(
            kind(scheme).is_some(),
            "the facilitator at {url} does not support the scheme {scheme} on {network} (route {path}): see its \
             GET /supported, or start `quittance facilitator` on that chain"
        );
    }
    let named = |scheme: &str, field: &str| {
        kind(scheme)
            .and_then(|k| k.extra.as_ref())
            .and_then(|extra| extra.get(field))
            .and_then(|a| a.as_str())
            .and_then(|a| a.parse().ok())
    };
    Ok((named("upto", "facilitatorAddress"), named("auth-capture", "captureAuthorizer")))
}

/// How long the store keeps the answers payments bought: a week, longer than any payment stays valid.
const KEEP_ANSWERS_SECONDS: u64 = 7 * 24 * 3600;

/// Forgets, every hour, the answers older than [`KEEP_ANSWERS_SECONDS`].
fn prune_every_hour(store: Arc<SqliteStore>) {
    tokio::spawn(async move {
        loop {
            let now = quittance_x402::Ambient::system().now();
            match store.prune(now.saturating_sub(KEEP_ANSWERS_SECONDS)) {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "forgot old paid answers"),
                Err(err) => tracing::warn!(%err, "could not prune the payment store"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    });
}
