//! `auth-capture` between the official x402 TypeScript SDK's client (`@x402/evm` 2.27, the only role the SDK
//! ships) and Quittance, on anvil with Quittance's `AuthCaptureCollector` installed at the canonical EIP-3009
//! token collector in front of Quittance's `PaymentEscrow`: the client signs one authorization of the price,
//! our paywall holds it in escrow through our facilitator (the operator), serves, and captures it for the
//! payee. The same payment sent again to a second paywall is refused with the spec's code, nothing moved.

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use axum::{Json, Router, routing::get};
use quittance_bindings::PaymentEscrow;
use quittance_chain::RpcChain;
use quittance_facilitator::{Facilitator, SqliteLedger};
use quittance_interop::Script;
use quittance_paywall::{AuthCaptureOffer, Paywall, Price};
use quittance_testkit::{TIMEOUT, World, fast};
use quittance_x402::{ErrorReason, auth_capture};
use serde_json::{Value, json};
use std::sync::Arc;

/// The price: a cent of the 6-decimal token, authorized in full and captured after serving.
const PRICE: u64 = 10_000;

/// Our paywall for `/report`, priced in `auth-capture` and backed by `facilitator`, with its own store;
/// returns its URL.
async fn our_paywall(world: &World, facilitator: Arc<Facilitator<RpcChain>>) -> eyre::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let price = Price {
        network: facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "Today's market report, held in escrow until served".into(),
        mime_type: "application/json".into(),
        invoices: None,
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    };
    let offer = AuthCaptureOffer {
        operator: facilitator.address(),
        authorizer: world.seller.clone(),
        capture_seconds: 3_600,
        refund_seconds: 86_400,
    };
    let paywall = Paywall::new(facilitator, base.clone());
    let handler = || async { Json(json!({"report": "markets are up"})) };
    let app = Router::new().route("/report", get(handler).layer(paywall.price_auth_capture(price, offer)));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("{base}/report"))
}

#[tokio::test]
async fn the_official_auth_capture_client_pays_our_paywall_held_and_captured_by_our_facilitator() -> eyre::Result<()> {
    let world = World::new().await?;
    let escrow = *PaymentEscrow::deploy(world.rpc.clone(), *world.registry.address()).await?.address();
    quittance_deploy::install_auth_capture(&RpcChain::http(world.endpoint.clone()), escrow).await?;
    // A facilitator started after the collector is there: it offers auth-capture, as the operator.
    let facilitator = Arc::new(world.facilitator_with(Arc::new(SqliteLedger::in_memory()?), fast()).await?);
    assert!(facilitator.supported().kinds.iter().any(|k| k.scheme == auth_capture::SCHEME));
    let payer = PrivateKeySigner::from(world._anvil.keys()[3].clone());
    world
        .token
        .mint(payer.address(), U256::from(100 * PRICE))
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    // Two paywalls in front of the same facilitator, each with its own store: the second gets the replay.
    let (url, other) =
        (our_paywall(&world, facilitator.clone()).await?, our_paywall(&world, facilitator.clone()).await?);
    let balance = |who: Address| {
        let token = world.token.clone();
        async move { token.balanceOf(who).call().await }
    };
    let (payer_before, payee_before) = (balance(payer.address()).await?, balance(world.payee).await?);

    let report = Script::run(
        "auth-capture-client.mjs",
        &[
            ("QUITTANCE_RPC_URL", world.endpoint.to_string()),
            ("QUITTANCE_URL", url),
            ("QUITTANCE_REPLAY_URL", other),
            ("QUITTANCE_PAYER_KEY", B256::from(payer.to_bytes()).to_string()),
            ("QUITTANCE_TOKEN", world.token.address().to_checksum(None)),
        ],
    )
    .await?;

    let offered = &report["offered"][0];
    assert_eq!(offered["scheme"], "auth-capture", "{report}");
    let address = |value: &Value| value.as_str().and_then(|a| a.parse::<Address>().ok());
    assert_eq!(address(&offered["extra"]["captureAuthorizer"]), Some(facilitator.address()), "{report}");
    let signed = &report["payment"]["payload"];
    assert_eq!(address(&signed["authorization"]["to"]), Some(auth_capture::EIP3009_TOKEN_COLLECTOR), "{report}");
    assert!(signed["saltNonce"].is_string(), "the salt is bound to the receiver authorizer: {report}");

    let first = &report["first"];
    assert_eq!(first["status"], 200, "{report}");
    let body: Value = serde_json::from_str(first["body"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(body["report"], "markets are up", "{report}");
    let captured = &first["paymentResponse"];
    assert_eq!((&captured["success"], &captured["amount"]), (&json!(true), &json!(PRICE.to_string())), "{report}");
    let tx: B256 = captured["transaction"].as_str().unwrap_or_default().parse()?;
    let receipt = world.rpc.get_transaction_receipt(tx).await?.ok_or_else(|| eyre::eyre!("no receipt"))?;
    assert_eq!((receipt.from, receipt.to), (facilitator.address(), Some(escrow)), "captured by the operator");
    println!("capture through PaymentEscrow: {} gas", receipt.gas_used);

    let replay = &report["replay"];
    assert_eq!(replay["status"], 402, "{report}");
    assert_eq!(
        replay["paymentRequired"]["error"],
        ErrorReason::AuthCapturePaymentAlreadyCollected.to_string(),
        "{report}"
    );
    // The replay's answer names the authorization's transaction: through the collector, by the operator.
    let tx: B256 = replay["paymentResponse"]["transaction"].as_str().unwrap_or_default().parse()?;
    let receipt = world.rpc.get_transaction_receipt(tx).await?.ok_or_else(|| eyre::eyre!("no receipt"))?;
    let collector = Some(auth_capture::EIP3009_TOKEN_COLLECTOR);
    assert_eq!((receipt.from, receipt.to), (facilitator.address(), collector), "authorized through the collector");
    println!("authorize through the collector into PaymentEscrow: {} gas", receipt.gas_used);
    assert_eq!(balance(payer.address()).await?, payer_before - U256::from(PRICE), "the payer paid once");
    assert_eq!(balance(world.payee).await?, payee_before + U256::from(PRICE), "the payee was paid once");
    assert_eq!(balance(escrow).await?, U256::ZERO, "nothing left held");
    Ok(())
}
