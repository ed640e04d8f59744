//! The paywall page: what a browser gets instead of JSON, escaped; and a real headless Chromium paying
//! through it with a test EIP-1193 wallet, on anvil with the in-process facilitator.

use super::{app, price};
use alloy::primitives::U256;
use axum::{
    Json, Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode, header},
    middleware::{self, Next},
    routing::get,
};
use http_body_util::BodyExt;
use quittance_paywall::{PageConfig, Paywall, Price};
use quittance_testkit::{PRICE, World};
use quittance_x402::PAYMENT_SIGNATURE;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

async fn fetch(app: &Router, path: &str, accept: &str) -> (StatusCode, HeaderMap, String) {
    let request = Request::builder()
        .uri(path)
        .header(header::ACCEPT, accept)
        .header(header::USER_AGENT, FIREFOX)
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn a_browser_gets_a_page_with_the_same_headers_and_an_api_client_json() -> eyre::Result<()> {
    let world = World::new().await?;
    let app = app(&world);
    let (status, html_headers, page) = fetch(&app, "/report", BROWSER).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert!(html_headers[header::CONTENT_TYPE].to_str()?.starts_with("text/html"));
    assert!(html_headers.contains_key(quittance_x402::PAYMENT_REQUIRED), "the offer header stays");
    assert!(html_headers[header::CONTENT_SECURITY_POLICY].to_str()?.contains("default-src 'none'"));
    assert!(page.contains("Pay with wallet") && page.contains("a report") && page.contains("http://127.0.0.1/report"));
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "nothing from elsewhere");

    let (status, headers, body) = fetch(&app, "/report", "application/json").await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert!(headers[header::CONTENT_TYPE].to_str()?.starts_with("application/json"));
    let body: Value = serde_json::from_str(&body)?;
    assert_eq!(body["x402Version"], 1);
    assert!(headers.contains_key(quittance_x402::PAYMENT_REQUIRED));

    // A client that says text/html without being a browser, and a paywall with the page off: JSON.
    let request = Request::builder().uri("/report").header(header::ACCEPT, BROWSER).body(Body::empty())?;
    let response = app.clone().oneshot(request).await?;
    assert!(response.headers()[header::CONTENT_TYPE].to_str()?.starts_with("application/json"));
    let off = Paywall::new(world.facilitator.clone(), "http://127.0.0.1").with_page(None);
    let off = Router::new().route("/report", get_report().layer(off.price(price(&world))));
    let (_, headers, _) = fetch(&off, "/report", BROWSER).await;
    assert!(headers[header::CONTENT_TYPE].to_str()?.starts_with("application/json"));
    Ok(())
}

fn get_report() -> axum::routing::MethodRouter {
    get(|| async { Json(json!({"report": 42})) })
}

#[tokio::test]
async fn the_page_renders_hostile_seller_data_as_text() -> eyre::Result<()> {
    let world = World::new().await?;
    let hostile = "</script><script>alert(1)</script><img src=x onerror=alert(2)> & \"quoted\" 'single'";
    let paywall = Paywall::new(world.facilitator.clone(), "http://127.0.0.1")
        .with_page(Some(PageConfig { title: "<b>Shop</b>".into(), ..PageConfig::default() }));
    let priced =
        Price { description: hostile.into(), mime_type: "text/html\"><script>x</script>".into(), ..price(&world) };
    let app = Router::new().route("/report", get_report().layer(paywall.price(priced)));
    let (_, _, page) = fetch(&app, "/report", BROWSER).await;
    for raw in ["<script>alert", "<img", "<b>Shop", "\"><script>x"] {
        assert!(!page.contains(raw), "{raw:?} is in the page unescaped");
    }
    assert!(page.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; &amp; &quot;quoted&quot; &#39;single&#39;"));
    assert!(page.contains("<title>&lt;b&gt;Shop&lt;/b&gt;</title>"));
    // The page's own two scripts only.
    assert_eq!(page.matches("<script").count(), 2);
    Ok(())
}

#[test]
fn amounts_are_shown_in_whole_units() {
    use quittance_paywall::page::human_amount;
    assert_eq!(human_amount(U256::from(10_000u64), 6), "0.01");
    assert_eq!(human_amount(U256::from(1_500_000u64), 6), "1.5");
    assert_eq!(human_amount(U256::from(2_000_000u64), 6), "2");
    assert_eq!(human_amount(U256::from(7u64), 0), "7");
}

/// Chromium, or why the browser test cannot run: a clear failure unless `QUITTANCE_SKIP_BROWSER=1`.
fn chromium() -> Option<String> {
    let candidates = std::env::var("CHROMIUM").into_iter().chain(["chromium".into(), "chromium-browser".into()]);
    for candidate in candidates {
        if std::process::Command::new(&candidate).arg("--version").output().is_ok_and(|o| o.status.success()) {
            return Some(candidate);
        }
    }
    assert!(
        std::env::var("QUITTANCE_SKIP_BROWSER").as_deref() == Ok("1"),
        "the paywall page test needs Chromium: install Debian's `chromium` (tools/test does: ensure_chromium in \
         tools/lib.sh), point CHROMIUM at a Chromium binary, or set QUITTANCE_SKIP_BROWSER=1 to skip it"
    );
    None
}

/// Opens `url` in headless Chromium with the test wallet (signing `wrong_value` instead, if given), clicks
/// pay, and returns what the page showed (`tests/it/browser.mjs`).
async fn drive(world: &World, chromium: &str, url: &str, wrong_value: Option<u64>) -> eyre::Result<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/browser.mjs");
    let mut command = std::process::Command::new("node");
    command
        .arg(script)
        .env("PAGE_URL", url)
        .env("PAYER_KEY", alloy::hex::encode_prefixed(world.agent.to_bytes()))
        .env("CHAIN_ID", world.facilitator.network().trim_start_matches("eip155:"))
        .env("CHROMIUM", chromium);
    if let Some(value) = wrong_value {
        command.env("WRONG_VALUE", value.to_string());
    }
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    eyre::ensure!(output.status.success(), "the browser run failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

#[tokio::test]
async fn a_refused_payment_is_explained_on_the_page_and_moves_nothing() -> eyre::Result<()> {
    let Some(chromium) = chromium() else { return Ok(()) };
    let world = World::new().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let paywall = Paywall::new(world.facilitator.clone(), base.clone());
    let priced = Price { settle_before_serving: true, ..price(&world) };
    let app = Router::new().route("/report", get_report().layer(paywall.price(priced)));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let payer_before = world.token.balanceOf(world.agent.address()).call().await?;

    let seen = drive(&world, &chromium, &format!("{base}/report"), Some(PRICE + 1)).await?;
    assert_eq!(
        seen["status"], "Not paid: the wallet's signature does not match the payment (invalid_exact_evm_signature).",
        "{seen}"
    );
    assert_eq!(seen["content"], Value::Null);
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, payer_before);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::ZERO);
    Ok(())
}

#[tokio::test]
async fn headless_chromium_pays_through_the_page_with_a_wallet_and_a_replay_is_not_charged() -> eyre::Result<()> {
    let Some(chromium) = chromium() else { return Ok(()) };
    let world = World::new().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let tokens = vec![(*world.token.address(), "TUSD".to_owned(), 6)];
    let paywall = Paywall::new(world.facilitator.clone(), base.clone())
        .with_page(Some(PageConfig { title: "Reports".into(), tokens }));
    let priced = Price { settle_before_serving: true, description: "a <fresh> report".into(), ..price(&world) };
    let payments: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = payments.clone();
    let app = Router::new().route("/report", get_report().layer(paywall.price(priced))).layer(middleware::from_fn(
        move |request: axum::extract::Request, next: Next| {
            if let Some(value) = request.headers().get(PAYMENT_SIGNATURE).and_then(|v| v.to_str().ok()) {
                seen.lock().expect("lock").push(value.to_owned());
            }
            next.run(request)
        },
    ));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let payer_before = world.token.balanceOf(world.agent.address()).call().await?;
    let payee_before = world.token.balanceOf(world.payee).call().await?;

    let seen = drive(&world, &chromium, &format!("{base}/report"), None).await?;
    assert_eq!(seen["title"], "Reports");
    assert_eq!(seen["description"], "a <fresh> report", "seller text shown as text");
    let human = quittance_paywall::page::human_amount(U256::from(PRICE), 6);
    assert_eq!(seen["price"], format!("{human} TUSD"));
    assert_eq!(seen["status"], "Paid. Here is what you bought:", "{seen}");
    assert_eq!(serde_json::from_str::<Value>(seen["content"].as_str().unwrap_or_default())?, json!({"report": 42}));
    let authorization = &seen["signed"][0]["message"];
    assert_eq!(authorization["from"], world.agent.address().to_checksum(None), "EIP-55 from");
    assert_eq!(authorization["to"], world.payee.to_checksum(None));
    assert_eq!(authorization["value"], PRICE.to_string());

    let price = U256::from(PRICE);
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, payer_before - price);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, payee_before + price);

    // The same payment again (as a reload with the signed header would send it): the same answer, not charged.
    let sent = payments.lock().expect("lock").clone();
    assert_eq!(sent.len(), 1, "the page paid once");
    let replay =
        reqwest::Client::new().get(format!("{base}/report")).header(PAYMENT_SIGNATURE, &sent[0]).send().await?;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await?, json!({"report": 42}));
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, payer_before - price);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, payee_before + price);
    Ok(())
}
