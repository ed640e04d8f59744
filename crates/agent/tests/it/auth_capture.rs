//! The agent pays an `auth-capture` route of our paywall, backed by our facilitator on anvil with our collector
//! in front of `PaymentEscrow`: it authorizes the price into escrow (its policy counts it), the route is served
//! and captured, the agent's record holds the payment as settled, and the payee is paid once.

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use axum::{Json, Router, routing::get};
use quittance_agent::{Agent, Budget, Policy, SpendRecord, SpendState};
use quittance_bindings::PaymentEscrow;
use quittance_chain::RpcChain;
use quittance_facilitator::SqliteLedger;
use quittance_paywall::{AuthCaptureOffer, Paywall, Price};
use quittance_testkit::{PRICE, World, fast};
use serde_json::json;
use std::{collections::BTreeMap, sync::Arc, time::Duration};

#[tokio::test]
async fn the_agent_authorizes_into_escrow_and_the_route_is_captured_once() -> eyre::Result<()> {
    let world = World::new().await?;
    let escrow = *PaymentEscrow::deploy(world.rpc.clone(), *world.registry.address()).await?.address();
    quittance_deploy::install_auth_capture(&RpcChain::http(world.endpoint.clone()), escrow).await?;
    let facilitator = Arc::new(world.facilitator_with(Arc::new(SqliteLedger::in_memory()?), fast()).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let paywall = Paywall::new(facilitator.clone(), base.clone());
    let price = Price {
        network: facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "a report, held in escrow until served".into(),
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
    let app = Router::new()
        .route("/held", get(|| async { Json(json!({"held": true})) }).layer(paywall.price_auth_capture(price, offer)));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let policy = |per_request: u64| Policy {
        budgets: BTreeMap::from([(
            *world.token.address(),
            Budget {
                per_request: U256::from(per_request),
                per_host: U256::from(10 * PRICE),
                period: Duration::from_secs(3600),
                total: U256::from(10 * PRICE),
            },
        )]),
        networks: vec![facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    };
    let record = Arc::new(SpendRecord::in_memory()?);
    let url = format!("{base}/held");
    // The whole authorization is what the policy weighs.
    let frugal = Agent::new(world.agent.clone(), policy(PRICE - 1), record.clone());
    assert!(frugal.get(&url).await.is_err(), "the authorized maximum counts against the limit");
    let agent_before = world.token.balanceOf(world.agent.address()).call().await?;

    let agent = Agent::new(world.agent.clone(), policy(PRICE), record.clone());
    let paid = agent.get(&url).await?;
    assert_eq!(paid.response.status(), 200);
    let receipt = paid.receipt.clone().ok_or_else(|| eyre::eyre!("no PAYMENT-RESPONSE"))?;
    assert!(receipt.success, "{receipt:?}");
    assert_eq!(paid.payment.as_ref().map(|p| p.accepted.scheme.as_str()), Some("auth-capture"));
    let spend =
        record.spend(paid.spend.ok_or_else(|| eyre::eyre!("not recorded"))?)?.ok_or_else(|| eyre::eyre!("no spend"))?;
    assert_eq!((spend.state, spend.amount), (SpendState::Settled, U256::from(PRICE)));
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, agent_before - U256::from(PRICE));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE), "captured once");
    assert_eq!(world.token.balanceOf(escrow).call().await?, U256::ZERO, "nothing left held");
    // Another agent key without funds is refused by the facilitator, nothing moved.
    let pauper = Agent::new(PrivateKeySigner::random(), policy(PRICE), Arc::new(SpendRecord::in_memory()?));
    assert!(pauper.get(&url).await.is_err());
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));
    Ok(())
}
