//! The paywall page for people: a browser asking for a paid route, without a payment, gets the 402 as an
//! HTML page (the price in the token's units, what is sold, the options, and a "Pay with wallet" button that
//! signs an `exact` EIP-3009 authorization through the browser's EIP-1193 wallet) instead of bare JSON.
//! API clients keep the JSON body and the headers unchanged.
//!
//! The page is self-contained (inline CSS and JS, nothing fetched from elsewhere), and every value that comes
//! from the seller or the request is escaped: rendered as text, and the offer embedded as JSON that cannot
//! close its `<script>` element.

use crate::price::USD_ASSETS;
use alloy::primitives::{Address, U256};
use axum::http::{HeaderMap, header};
use quittance_x402::PaymentRequired;

/// How the paywall page looks, given with [`crate::Paywall::with_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageConfig {
    /// The page's title and heading (default "Payment required").
    pub title: String,
    /// Tokens not in [`USD_ASSETS`] whose amounts the page shows in whole units: address, symbol, decimals.
    pub tokens: Vec<(Address, String, u8)>,
}

impl Default for PageConfig {
    fn default() -> Self {
        Self { title: "Payment required".into(), tokens: Vec::new() }
    }
}

/// Whether a request is a browser's that wants a page, the official SDK's rule: its `Accept` names
/// `text/html` and its `User-Agent` says `Mozilla` (as every browser's does).
pub fn wants_html(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    text(header::ACCEPT).contains("text/html") && text(header::USER_AGENT).contains("Mozilla")
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element: `<`, `>` and `&` as `\u` escapes (still the same JSON).
fn script_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `amount` (base units) in whole units of `decimals`, without trailing zeros: `10000`, 6 → `0.01`.
pub fn human_amount(amount: U256, decimals: u8) -> String {
    let scale = U256::from(10u64).pow(U256::from(decimals));
    let (whole, fraction) = amount.div_rem(scale);
    if fraction.is_zero() {
        return whole.to_string();
    }
    let fraction = format!("{fraction:0>width$}", width = usize::from(decimals));
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// One option's price in words: `0.01 USDC` for a known token, else `10000 base units of <name>`.
fn price_words(config: &PageConfig, network: &str, asset: &str, amount: &str, name: &str) -> String {
    let address = asset.parse::<Address>().ok();
    let known = USD_ASSETS
        .iter()
        .find(|a| a.network == network && Some(a.address) == address)
        .map(|a| ("USDC".to_owned(), a.decimals))
        .or_else(|| config.tokens.iter().find(|t| Some(t.0) == address).map(|t| (t.1.clone(), t.2)));
    match (known, amount.parse::<U256>()) {
        (Some((symbol, decimals)), Ok(units)) => format!("{} {symbol}", human_amount(units, decimals)),
        _ => format!("{amount} base units of {name}"),
    }
}

/// The page for `required`.
pub fn render(config: &PageConfig, required: &PaymentRequired) -> String {
    let resource = &required.resource;
    let mut options = String::new();
    for option in &required.accepts {
        let name = option.extra.get("name").and_then(|v| v.as_str()).unwrap_or("the token");
        let price = price_words(config, &option.network, &option.asset, &option.amount, name);
        options.push_str(&format!(
            "<li><strong>{}</strong> · <code>{}</code> on <code>{}</code><br><small>token {} · to {}</small></li>",
            escape(&price),
            escape(&option.scheme),
            escape(&option.network),
            escape(&option.asset),
            escape(&option.pay_to),
        ));
    }
    let headline = required
        .accepts
        .iter()
        .find(|o| o.scheme == "exact")
        .or(required.accepts.first())
        .map(|o| {
            let name = o.extra.get("name").and_then(|v| v.as_str()).unwrap_or("the token");
            price_words(config, &o.network, &o.asset, &o.amount, name)
        })
        .unwrap_or_default();
    let title = escape(&config.title);
    let description = escape(resource.description.as_deref().unwrap_or(""));
    let mime = escape(resource.mime_type.as_deref().unwrap_or("unknown"));
    let url = escape(&resource.url);
    let headline = escape(&headline);
    let offer = script_json(required);
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title><style>{STYLE}</style></head>
<body><main>
<h1>{title}</h1>
<p class="price" id="price">{headline}</p>
<dl>
<dt>What you buy</dt><dd id="description">{description}</dd>
<dt>Resource</dt><dd><code id="resource">{url}</code></dd>
<dt>Content type</dt><dd><code>{mime}</code></dd>
</dl>
<h2>Ways to pay</h2>
<ul>{options}</ul>
<noscript><p>Paying from this page needs JavaScript and a browser wallet. Any x402 client can pay instead: it
reads the offer in the <code>PAYMENT-REQUIRED</code> header and sends the signed payment in
<code>PAYMENT-SIGNATURE</code>.</p></noscript>
<p><button id="pay" type="button" hidden>Pay with wallet</button></p>
<p id="status" role="status" aria-live="polite"></p>
<pre id="content" hidden></pre>
</main>
<script type="application/json" id="x402-offer">{offer}</script>
<script>{SCRIPT}</script>
</body></html>
"#
    )
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#1b1b1b}\
main{max-width:40rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:8px}\
.price{font-size:1.6rem;font-weight:600}dt{font-weight:600}dd{margin:0 0 .5rem;overflow-wrap:anywhere}\
small,code{overflow-wrap:anywhere}button{font:inherit;padding:.6rem 1.2rem;border-radius:6px;border:0;\
background:#1d4ed8;color:#fff;cursor:pointer}button:disabled{opacity:.5}\
pre{background:#f0f0f0;padding:1rem;white-space:pre-wrap;overflow-wrap:anywhere}";

/// The page's Content-Security-Policy: inline script and style only, `fetch` to its own origin.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The wallet button: the `exact` EIP-3009 `TransferWithAuthorization`, as the agent signs it.
const SCRIPT: &str = include_str!("page.js");

/// The 402 `response` (with its `PAYMENT-REQUIRED` header) as the page: the same status and headers, the
/// page as the body.
pub fn into_page(config: &PageConfig, response: axum::response::Response) -> axum::response::Response {
    let (mut parts, body) = response.into_parts();
    let required = parts
        .headers
        .get(quittance_x402::PAYMENT_REQUIRED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| quittance_x402::decode_header::<PaymentRequired>(v).ok());
    let Some(required) = required else {
        return axum::response::Response::from_parts(parts, body);
    };
    parts.headers.insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/html; charset=utf-8"));
    parts.headers.remove(header::CONTENT_LENGTH);
    // The page's own inline script and style, requests to its own origin, nothing else.
    parts.headers.insert(header::CONTENT_SECURITY_POLICY, axum::http::HeaderValue::from_static(CSP));
    parts.headers.insert(header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
    axum::response::Response::from_parts(parts, axum::body::Body::from(render(config, &required)))
}
