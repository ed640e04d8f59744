//! Quittance and the official x402 TypeScript SDK pay each other, in three directions, on anvil.

use alloy::{
    primitives::{B256, U256},
    signers::local::PrivateKeySigner,
};
use axum::{Json, Router, routing::get};
use quittance_agent::{Agent, Budget, Policy, SpendRecord};
use quittance_interop::{Script, key_hex};
use quittance_paywall::{InvoiceIssuer, Paywall, Price};
use quittance_testkit::{PRICE, World};
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

async fn balances(world: &World) -> eyre::Result<(U256, U256)> {
    Ok((world.token.balanceOf(world.agent.address()).call().await?, world.token.balanceOf(world.payee).call().await?))
}

/// The payer paid exactly the price to the payee.
async fn assert_paid_once(world: &World, before: (U256, U256)) -> eyre::Result<()> {
    let after = balances(world).await?;
    assert_eq!(before.0 - after.0, U256::from(PRICE), "the payer paid the price once");
    assert_eq!(after.1 - before.1, U256::from(PRICE), "the payee received the price once");
    Ok(())
}

/// The official client's report: 200, a successful settlement, the served body.
fn assert_official_client_served(report: &Value) {
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(report["paymentResponse"]["success"], true, "{report}");
    assert!(report["paymentResponse"]["transaction"].as_str().is_some_and(|t| t.len() == 66), "{report}");
    let body: Value = serde_json::from_str(report["body"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(body["report"], "markets are up", "{report}");
}

fn client_env(world: &World, url: String) -> Vec<(&'static str, String)> {
    vec![
        ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
        ("QUITTANCE_URL", url),
        ("QUITTANCE_AGENT_KEY", key_hex(&world.agent)),
        ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
    ]
}

async fn install_multicall3(world: &World) -> eyre::Result<()> {
    Script::run("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())]).await?;
    Ok(())
}

/// An official resource server (`@x402/express`) for `/report`, settled by the facilitator at `facilitator`.
async fn official_server(world: &World, facilitator: &str) -> eyre::Result<(Script, String)> {
    let (server, port) = Script::serve(
        "server.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_FACILITATOR_URL", facilitator.into()),
            ("QUITTANCE_PAY_TO", world.payee.to_checksum(None)),
            ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
            ("QUITTANCE_PRICE", PRICE.to_string()),
        ],
    )
    .await?;
    Ok((server, format!("http://127.0.0.1:{port}/report")))
}

/// Our paywall for `/report`, settled by our in-process facilitator, on a loopback port; returns its URL.
async fn our_paywall(world: &World) -> eyre::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let price = Price {
        network: world.facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "Today's market report".into(),
        mime_type: "application/json".into(),
        // The official client does not know the invoice option and pays `exact`.
        invoices: Some(InvoiceIssuer {
            registry: *world.registry.address(),
            signer: world.seller.clone(),
            validity_seconds: 600,
        }),
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    };
    let paywall = Paywall::new(world.facilitator.clone(), base.clone());
    let app = Router::new()
        .route("/report", get(|| async { Json(json!({"report": "markets are up"})) }).layer(paywall.price(price)));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("{base}/report"))
}

#[tokio::test]
async fn the_official_client_pays_our_paywall_settled_by_our_facilitator() -> eyre::Result<()> {
    let world = World::new().await?;
    install_multicall3(&world).await?;
    let url = our_paywall(&world).await?;
    let before = balances(&world).await?;
    let report = Script::run("client.mjs", &client_env(&world, url)).await?;
    assert_official_client_served(&report);
    assert_paid_once(&world, before).await
}

#[tokio::test]
async fn the_official_client_with_a_payment_identifier_gets_the_stored_answer_on_retry() -> eyre::Result<()> {
    let world = World::new().await?;
    install_multicall3(&world).await?;
    let url = our_paywall(&world).await?;
    let before = balances(&world).await?;
    let report = Script::run("client_id.mjs", &client_env(&world, url)).await?;
    assert_eq!(report["offered"]["info"]["required"], false, "our 402 declares the extension: {report}");
    assert_eq!(report["echoed"], report["id"], "the official client echoes its id: {report}");
    assert_official_client_served(&report["first"]);
    // The same payment again (a lost answer): the stored answer, the same receipt, nothing charged twice.
    assert_eq!(report["retry"], report["first"], "{report}");
    // Another payment under the same id: 409, and it moves nothing.
    assert_eq!(report["other"]["status"], 409, "{report}");
    assert_paid_once(&world, before).await
}

#[tokio::test]
async fn our_agent_pays_an_official_server_settled_by_the_official_facilitator() -> eyre::Result<()> {
    let world = World::new().await?;
    install_multicall3(&world).await?;
    // The official facilitator settles with anvil's account 3.
    let facilitator_key = PrivateKeySigner::from(world._anvil.keys()[3].clone());
    let (_facilitator, port) = Script::serve(
        "facilitator.mjs",
        &[("QUITTANCE_RPC_URL", world.endpoint.to_string()), ("QUITTANCE_FACILITATOR_KEY", key_hex(&facilitator_key))],
    )
    .await?;
    let (_server, url) = official_server(&world, &format!("http://127.0.0.1:{port}")).await?;

    let budget = Budget {
        per_request: U256::from(PRICE),
        per_host: U256::from(10 * PRICE),
        period: Duration::from_secs(3600),
        total: U256::from(10 * PRICE),
    };
    let policy = Policy {
        budgets: BTreeMap::from([(*world.token.address(), budget)]),
        networks: vec![world.facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    let agent = Agent::new(world.agent.clone(), policy, Arc::new(SpendRecord::in_memory()?));
    let before = balances(&world).await?;
    let paid = agent.get(&url).await?;
    assert_eq!(paid.response.status(), 200);
    let receipt = paid.receipt.clone().ok_or_else(|| eyre::eyre!("no PAYMENT-RESPONSE"))?;
    assert!(receipt.success, "{receipt:?}");
    assert_eq!(receipt.payer.as_deref().map(str::to_lowercase), Some(world.agent.address().to_string().to_lowercase()));
    let body: Value = paid.response.json().await?;
    assert_eq!(body["report"], "markets are up");
    assert_paid_once(&world, before).await
}

#[tokio::test]
async fn an_official_server_is_settled_by_our_facilitator_over_http() -> eyre::Result<()> {
    let world = World::new().await?;
    install_multicall3(&world).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let facilitator = format!("http://{}", listener.local_addr()?);
    let router = quittance_facilitator::http::router(world.facilitator.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (_server, url) = official_server(&world, &facilitator).await?;

    let before = balances(&world).await?;
    let report = Script::run("client.mjs", &client_env(&world, url)).await?;
    assert_official_client_served(&report);
    assert_paid_once(&world, before).await?;
    // The settlement came from our facilitator's account.
    let transaction: B256 = report["paymentResponse"]["transaction"].as_str().unwrap_or_default().parse()?;
    let receipt = alloy::providers::Provider::get_transaction_receipt(&world.rpc, transaction)
        .await?
        .ok_or_else(|| eyre::eyre!("no receipt"))?;
    assert_eq!(receipt.from, world.facilitator.address());
    Ok(())
}
