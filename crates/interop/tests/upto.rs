//! `upto` between Quittance and the official x402 TypeScript SDK, in three directions, on anvil with Permit2
//! and x402's upto proxy that Quittance installs at their canonical addresses (the testkit's `World`): the
//! payer signs a permit of a maximum, the handler reports what the request used, and exactly that moves
//! from the payer to the payee. Each direction ends with the same payment sent again and refused with the
//! SDK's reason code.

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256},
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use axum::{Json, Router, http::HeaderMap, routing::get};
use quittance_agent::{Agent, Budget, Policy, SpendRecord};
use quittance_bindings::TestStablecoin;
use quittance_interop::{Script, key_hex};
use quittance_paywall::{Paywall, Price};
use quittance_testkit::{TIMEOUT, World};
use quittance_x402::{ErrorReason, decode_header, encode_header, upto};
use serde_json::{Value, json};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// The most a request may cost: a cent of the 6-decimal token.
const MAXIMUM: u64 = 10_000;
/// What the handler reports the request used.
const USAGE: u64 = 3_700;

/// A payer holding tokens, who never approved Permit2: anvil's account `index`.
async fn unapproved_payer(world: &World, index: usize) -> eyre::Result<PrivateKeySigner> {
    Script::start("multicall3.mjs", &[("QUITTANCE_RPC_URL", world.endpoint.to_string())])?.report().await?;
    let payer = PrivateKeySigner::from(world._anvil.keys()[index].clone());
    world
        .token
        .mint(payer.address(), U256::from(100 * MAXIMUM))
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    Ok(payer)
}

/// The payer: anvil's account 3 (it pays its own gas for the approval), holding tokens, with Permit2
/// approved once (an ordinary `approve`, as the SDK's client asks of a payer without an allowance).
async fn funded_payer(world: &World) -> eyre::Result<PrivateKeySigner> {
    let payer = unapproved_payer(world, 3).await?;
    let rpc = ProviderBuilder::new().wallet(EthereumWallet::from(payer.clone())).connect_http(world.endpoint.clone());
    TestStablecoin::new(*world.token.address(), rpc)
        .approve(upto::PERMIT2_ADDRESS, U256::MAX)
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    Ok(payer)
}

async fn balances(world: &World, payer: Address) -> eyre::Result<(U256, U256)> {
    Ok((world.token.balanceOf(payer).call().await?, world.token.balanceOf(world.payee).call().await?))
}

/// The payer paid exactly [`USAGE`], not the maximum, to the payee.
async fn assert_paid_usage(world: &World, payer: Address, before: (U256, U256)) -> eyre::Result<()> {
    let after = balances(world, payer).await?;
    assert_eq!(before.0 - after.0, U256::from(USAGE), "the payer paid what was used, once");
    assert_eq!(after.1 - before.1, U256::from(USAGE), "the payee received what was used, once");
    Ok(())
}

/// The official client's first answer: served, settled for the usage in a transaction from `settler`.
async fn assert_served(world: &World, answer: &Value, settler: Address) -> eyre::Result<()> {
    assert_eq!(answer["status"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(body["report"], "markets are up", "{answer}");
    let settled = &answer["paymentResponse"];
    assert_eq!(settled["success"], true, "{answer}");
    assert_eq!(settled["amount"], USAGE.to_string(), "{answer}");
    let tx: B256 = settled["transaction"].as_str().unwrap_or_default().parse()?;
    let receipt = world.rpc.get_transaction_receipt(tx).await?.ok_or_else(|| eyre::eyre!("no receipt"))?;
    assert_eq!((receipt.from, receipt.to), (settler, Some(upto::UPTO_PROXY_ADDRESS)), "settled through the proxy");
    Ok(())
}

/// A 402 refusing a payment with `reason`, as a server's PAYMENT-REQUIRED says.
fn assert_refused(answer: &Value, reason: ErrorReason) {
    assert_eq!(answer["status"], 402, "{answer}");
    assert_eq!(answer["paymentRequired"]["error"], reason.to_string(), "{answer}");
}

/// Our paywall for a metered `/report` (at most [`MAXIMUM`], its handler reporting `usage`), settled by
/// our in-process facilitator; returns its URL.
async fn our_paywall(world: &World, usage: u64) -> eyre::Result<String> {
    our_paywall_sponsoring(world, usage, false).await
}

/// The same, declaring `eip2612GasSponsoring` when `eip2612`.
async fn our_paywall_sponsoring(world: &World, usage: u64, eip2612: bool) -> eyre::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let price = Price {
        network: world.facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(MAXIMUM),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "Today's market report, metered".into(),
        mime_type: "application/json".into(),
        invoices: None,
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    };
    let paywall = Paywall::new(world.facilitator.clone(), base.clone());
    let handler = move || async move {
        let mut headers = HeaderMap::new();
        let usage = json!({"amount": usage.to_string()}).to_string();
        headers.insert(upto::SETTLEMENT_OVERRIDES, usage.parse().expect("a header value"));
        (headers, Json(json!({"report": "markets are up"})))
    };
    let app = Router::new()
        .route("/report", get(handler).layer(paywall.price_upto(price, world.facilitator.address(), eip2612)));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("{base}/report"))
}

/// An official upto resource server for `/report` (at most [`MAXIMUM`], its handler reporting [`USAGE`]),
/// settled by the facilitator at `facilitator`; returns it and its URL.
async fn official_server(world: &World, facilitator: &str) -> eyre::Result<(Script, String)> {
    let (server, port) = Script::serve(
        "upto-server.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_FACILITATOR_URL", facilitator.into()),
            ("QUITTANCE_PAY_TO", world.payee.to_checksum(None)),
            ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
            ("QUITTANCE_MAXIMUM", MAXIMUM.to_string()),
            ("QUITTANCE_USAGE", USAGE.to_string()),
        ],
    )
    .await?;
    Ok((server, format!("http://127.0.0.1:{port}/report")))
}

/// The official upto client pays `url` once, then sends the same payment to `replay`.
async fn official_client(world: &World, payer: &PrivateKeySigner, url: &str, replay: &str) -> eyre::Result<Value> {
    let env = [
        ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
        ("QUITTANCE_URL", url.into()),
        ("QUITTANCE_REPLAY_URL", replay.into()),
        ("QUITTANCE_PAYER_KEY", key_hex(payer)),
        ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
    ];
    Script::start("upto-client.mjs", &env)?.report().await
}

#[tokio::test]
async fn the_official_upto_client_pays_our_paywall_settled_by_our_facilitator() -> eyre::Result<()> {
    let world = World::new().await?;
    let payer = funded_payer(&world).await?;
    // Two paywalls in front of the same facilitator, each with its own store: the second gets the replay.
    let (url, other) = (our_paywall(&world, USAGE).await?, our_paywall(&world, USAGE).await?);
    let before = balances(&world, payer.address()).await?;
    let report = official_client(&world, &payer, &url, &other).await?;

    let offered = &report["offered"][0];
    assert_eq!(offered["scheme"], "upto", "{report}");
    assert_eq!(offered["extra"]["facilitatorAddress"], world.facilitator.address().to_checksum(None), "{report}");
    let witness = &report["payment"]["payload"]["permit2Authorization"]["witness"];
    assert_eq!(witness["facilitator"], world.facilitator.address().to_checksum(None), "{report}");
    assert_served(&world, &report["first"], world.facilitator.address()).await?;
    assert_refused(&report["replay"], ErrorReason::Permit2InvalidNonce);
    assert_paid_usage(&world, payer.address(), before).await
}

#[tokio::test]
async fn the_official_upto_client_without_an_allowance_pays_our_sponsoring_paywall_with_an_eip2612_permit()
-> eyre::Result<()> {
    let world = World::new().await?;
    let payer = unapproved_payer(&world, 4).await?;
    let (url, other) =
        (our_paywall_sponsoring(&world, USAGE, true).await?, our_paywall_sponsoring(&world, USAGE, true).await?);
    let before = balances(&world, payer.address()).await?;
    let report = official_client(&world, &payer, &url, &other).await?;

    let permit = &report["payment"]["extensions"]["eip2612GasSponsoring"]["info"];
    assert_eq!(permit["spender"], upto::PERMIT2_ADDRESS.to_checksum(None), "{report}");
    assert_eq!(permit["amount"], MAXIMUM.to_string(), "a permit of the maximum: {report}");
    assert_served(&world, &report["first"], world.facilitator.address()).await?;
    assert_refused(&report["replay"], ErrorReason::Permit2InvalidNonce);
    // The permit approved Permit2 for the maximum; the settlement spent the usage of it.
    let allowance = world.token.allowance(payer.address(), upto::PERMIT2_ADDRESS).call().await?;
    assert_eq!(allowance, U256::from(MAXIMUM - USAGE), "{report}");
    assert_paid_usage(&world, payer.address(), before).await
}

#[tokio::test]
async fn our_agent_pays_an_official_upto_server_settled_by_the_official_facilitator() -> eyre::Result<()> {
    let world = World::new().await?;
    let payer = funded_payer(&world).await?;
    // The official facilitator settles with anvil's account 4.
    let facilitator_key = PrivateKeySigner::from(world._anvil.keys()[4].clone());
    let (_facilitator, port) = Script::serve(
        "upto-facilitator.mjs",
        &[("QUITTANCE_RPC_URL", world.endpoint.to_string()), ("QUITTANCE_FACILITATOR_KEY", key_hex(&facilitator_key))],
    )
    .await?;
    let (_server, url) = official_server(&world, &format!("http://127.0.0.1:{port}")).await?;

    let budget = Budget {
        per_request: U256::from(MAXIMUM),
        per_host: U256::from(10 * MAXIMUM),
        period: Duration::from_secs(3600),
        total: U256::from(10 * MAXIMUM),
    };
    let policy = Policy {
        budgets: BTreeMap::from([(*world.token.address(), budget)]),
        networks: vec![world.facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    let agent = Agent::new(payer.clone(), policy, Arc::new(SpendRecord::in_memory()?));
    let before = balances(&world, payer.address()).await?;
    let paid = agent.get(&url).await?;
    assert_eq!(paid.response.status(), 200);
    let receipt = paid.receipt.clone().ok_or_else(|| eyre::eyre!("no PAYMENT-RESPONSE"))?;
    assert!(receipt.success, "{receipt:?}");
    assert_eq!(receipt.amount.as_deref(), Some(USAGE.to_string().as_str()), "{receipt:?}");
    let payment = paid.payment.clone().ok_or_else(|| eyre::eyre!("no payment sent"))?;
    assert_eq!(payment.accepted.scheme, "upto");
    let tx: B256 = receipt.transaction.parse()?;
    let mined = world.rpc.get_transaction_receipt(tx).await?.ok_or_else(|| eyre::eyre!("no receipt"))?;
    assert_eq!(mined.from, facilitator_key.address(), "the official facilitator settled it");
    let body: Value = paid.response.json().await?;
    assert_eq!(body["report"], "markets are up");
    assert_paid_usage(&world, payer.address(), before).await?;

    // The same payment again: the official facilitator's simulation fails (Permit2's nonce is spent).
    let replay = reqwest::Client::new().get(&url).header("PAYMENT-SIGNATURE", encode_header(&payment)).send().await?;
    assert_eq!(replay.status(), 402);
    let required = replay.headers().get("PAYMENT-REQUIRED").and_then(|h| h.to_str().ok()).unwrap_or_default();
    let required: Value = decode_header(required)?;
    assert_eq!(required["error"], ErrorReason::Permit2SimulationFailed.to_string(), "{required}");
    assert_paid_usage(&world, payer.address(), before).await
}

#[tokio::test]
async fn the_official_upto_client_and_server_are_settled_by_our_facilitator_over_http() -> eyre::Result<()> {
    let world = World::new().await?;
    let payer = funded_payer(&world).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let facilitator = format!("http://{}", listener.local_addr()?);
    let router = quittance_facilitator::http::router(world.facilitator.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (_server, url) = official_server(&world, &facilitator).await?;

    let before = balances(&world, payer.address()).await?;
    let report = official_client(&world, &payer, &url, &url).await?;
    // The official server named our facilitator, from our /supported, in its offer.
    let offered = &report["offered"][0];
    assert_eq!(offered["extra"]["facilitatorAddress"], world.facilitator.address().to_checksum(None), "{report}");
    assert_served(&world, &report["first"], world.facilitator.address()).await?;
    assert_refused(&report["replay"], ErrorReason::Permit2InvalidNonce);
    assert_paid_usage(&world, payer.address(), before).await
}

#[tokio::test]
async fn a_request_that_used_nothing_is_served_for_nothing_and_its_payment_is_spent() -> eyre::Result<()> {
    let world = World::new().await?;
    let payer = funded_payer(&world).await?;
    let (url, other) = (our_paywall(&world, 0).await?, our_paywall(&world, 0).await?);
    let before = balances(&world, payer.address()).await?;
    let report = official_client(&world, &payer, &url, &other).await?;

    let first = &report["first"];
    assert_eq!(first["status"], 200, "{report}");
    // Settled for 0 as the official facilitator answers it: a success, no transaction.
    let settled = &first["paymentResponse"];
    assert_eq!(
        (&settled["success"], &settled["transaction"], &settled["amount"]),
        (&json!(true), &json!(""), &json!("0"))
    );
    assert_eq!(balances(&world, payer.address()).await?, before, "nothing moved");
    // The facilitator's ledger remembers it: the same payment is refused elsewhere, for any amount.
    assert_refused(&report["replay"], ErrorReason::Permit2InvalidNonce);
    Ok(())
}
