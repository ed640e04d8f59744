//! The agent against a real paywall on a socket, with the in-process facilitator on anvil (here) and on the
//! in-process chain (`doubt`).

mod auth_capture;
mod batch;
mod doubt;
mod local;
mod middleware;
mod signer;
mod sponsored;
mod upto;
mod v1;

use alloy::{primitives::U256, providers::Provider, signers::local::PrivateKeySigner};
use axum::{Json, Router, http::StatusCode, routing::get};
use quittance_agent::{Agent, AgentError, Budget, Policy, PolicyRefusal, SpendRecord};
use quittance_paywall::{ChannelOffer, InvoiceIssuer, Paywall, Price};
use quittance_testkit::{PRICE, World};
use quittance_x402::ErrorReason;
use serde_json::json;
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

/// Serves `/report` (invoice and exact), `/exact` (exact only) and `/flaky` (fails its first call).
async fn serve(world: &World) -> eyre::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let paywall = Paywall::new(world.facilitator.clone(), base.clone());
    let price = Price {
        network: world.facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "a report".into(),
        mime_type: "application/json".into(),
        invoices: Some(InvoiceIssuer {
            registry: *world.registry.address(),
            signer: world.seller.clone(),
            validity_seconds: 600,
        }),
        settle_before_serving: false,
        channels: None,
        cross_chain: Vec::new(),
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/report", get(|| async { Json(json!({"report": 42})) }).layer(paywall.price(price.clone())))
        .route(
            "/exact",
            get(|| async { Json(json!({"exact": true})) })
                .layer(paywall.price(Price { invoices: None, ..price.clone() })),
        )
        .route(
            "/flaky",
            get(move || {
                let calls = calls.clone();
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err(StatusCode::SERVICE_UNAVAILABLE)
                    } else {
                        Ok(Json(json!({"flaky": "fine now"})))
                    }
                }
            })
            .layer(paywall.price(price)),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

fn policy(world: &World, per_request: u64, total: u64) -> Policy {
    Policy {
        budgets: BTreeMap::from([(
            *world.token.address(),
            Budget {
                per_request: U256::from(per_request),
                per_host: U256::from(total),
                period: Duration::from_secs(3600),
                total: U256::from(total),
            },
        )]),
        networks: vec![world.facilitator.network().into()],
        hosts: None,
        channel_requests: 0,
    }
}

fn agent(world: &World, policy: Policy) -> eyre::Result<Agent> {
    Ok(Agent::new(world.agent.clone(), policy, Arc::new(SpendRecord::in_memory()?)))
}

#[tokio::test]
async fn the_agent_prefers_the_invoice_and_gets_the_resource_with_a_receipt() -> eyre::Result<()> {
    let world = World::new().await?;
    let base = serve(&world).await?;
    let agent = agent(&world, policy(&world, PRICE, 10 * PRICE))?;

    let paid = agent.get(&format!("{base}/report")).await?;
    assert_eq!(paid.response.status(), 200);
    let receipt = paid.receipt.expect("a receipt");
    assert!(receipt.success);
    assert_eq!(paid.payment.expect("a payment").accepted.scheme, "invoice");
    let id: alloy::primitives::B256 = serde_json::from_value(receipt.extra.expect("extra")["invoiceId"].clone())?;
    assert!(world.registry.isPaid(id).call().await?);
    assert_eq!(paid.response.json::<serde_json::Value>().await?, json!({"report": 42}));
    assert_eq!(agent.record().spent_total(*world.token.address(), u64::MAX - 1)?, U256::from(PRICE));

    // Without an invoice on offer, it pays exact.
    let paid = agent.get(&format!("{base}/exact")).await?;
    assert_eq!(paid.payment.expect("a payment").accepted.scheme, "exact");
    assert!(paid.receipt.expect("a receipt").success);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(2 * PRICE));
    Ok(())
}

#[tokio::test]
async fn the_policy_refuses_before_any_signature() -> eyre::Result<()> {
    let world = World::new().await?;
    let base = serve(&world).await?;
    let stingy = agent(&world, policy(&world, PRICE - 1, 10 * PRICE))?;
    match stingy.get(&format!("{base}/report")).await {
        Err(AgentError::Policy(refusals)) => {
            assert!(refusals.iter().all(|r| matches!(r, PolicyRefusal::PerRequest { .. })), "{refusals:?}")
        }
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    assert_eq!(stingy.record().spent_total(*world.token.address(), 0)?, U256::ZERO, "nothing signed");

    let mut elsewhere = policy(&world, PRICE, 10 * PRICE);
    elsewhere.networks = vec!["eip155:1".into()];
    let wrong_network = agent(&world, elsewhere)?;
    assert!(matches!(wrong_network.get(&format!("{base}/report")).await, Err(AgentError::Policy(_))));

    // A budget of two payments allows two.
    let budgeted = agent(&world, policy(&world, PRICE, 2 * PRICE))?;
    budgeted.get(&format!("{base}/report")).await?;
    budgeted.get(&format!("{base}/report")).await?;
    match budgeted.get(&format!("{base}/report")).await {
        Err(AgentError::Policy(refusals)) => {
            assert!(refusals.iter().any(|r| matches!(r, PolicyRefusal::PerHost { .. } | PolicyRefusal::Total { .. })))
        }
        other => panic!("expected the budget to stop the third payment, got {other:?}"),
    }
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(2 * PRICE));
    Ok(())
}

#[tokio::test]
async fn a_failed_answer_is_sent_again_with_the_same_payment_instead_of_paying_twice() -> eyre::Result<()> {
    let world = World::new().await?;
    let base = serve(&world).await?;
    let agent = agent(&world, policy(&world, PRICE, 10 * PRICE))?;

    // The handler fails once (503): nothing is settled and the payment is in doubt, so the agent sends the
    // same payment again, which is now served and settled once.
    let paid = agent.get(&format!("{base}/flaky")).await?;
    assert_eq!(paid.response.status(), 200);
    assert!(paid.receipt.expect("a receipt").success);
    assert_eq!(paid.state, Some(quittance_agent::SpendState::Settled));
    assert_eq!(agent.record().all_unresolved()?.len(), 0);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE), "paid once");
    let signed = agent.record().spend(paid.spend.expect("a spend"))?.expect("recorded");
    assert_eq!(Some(signed.payment), paid.payment, "the one payment signed");
    Ok(())
}

#[tokio::test]
async fn budgets_survive_a_restart_and_refusals_are_reported() -> eyre::Result<()> {
    let world = World::new().await?;
    let base = serve(&world).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("spend.sqlite");
    let first = Agent::new(world.agent.clone(), policy(&world, PRICE, PRICE), Arc::new(SpendRecord::open(&path)?));
    first.get(&format!("{base}/report")).await?;
    drop(first);

    let restarted = Agent::new(world.agent.clone(), policy(&world, PRICE, PRICE), Arc::new(SpendRecord::open(&path)?));
    assert!(
        matches!(restarted.get(&format!("{base}/report")).await, Err(AgentError::Policy(_))),
        "the budget is spent"
    );

    let pauper =
        Agent::new(PrivateKeySigner::random(), policy(&world, PRICE, PRICE), Arc::new(SpendRecord::in_memory()?));
    match pauper.get(&format!("{base}/exact")).await {
        Err(AgentError::Refused(reason)) => assert_eq!(reason, ErrorReason::ExactEvmInsufficientBalance),
        other => panic!("expected a refusal, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn through_a_voucher_channel_the_chain_is_touched_to_open_and_to_claim_only() -> eyre::Result<()> {
    let world = World::new().await?;
    let channels = quittance_bindings::VoucherChannels::deploy(world.rpc.clone()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let paywall = Paywall::new(world.facilitator.clone(), base.clone());
    let price = Price {
        network: world.facilitator.network().into(),
        asset: *world.token.address(),
        asset_name: "USD Coin".into(),
        asset_version: "2".into(),
        amount: U256::from(PRICE / 10),
        pay_to: world.payee,
        max_timeout_seconds: 120,
        description: "a tick".into(),
        mime_type: "application/json".into(),
        invoices: None,
        settle_before_serving: false,
        channels: Some(ChannelOffer { contract: *channels.address(), min_withdraw_delay: 3600 }),
        cross_chain: Vec::new(),
    };
    let app = Router::new().route("/tick", get(|| async { Json(json!({"tick": true})) }).layer(paywall.price(price)));
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A budget of 25 ticks: the deposit is cut down to it.
    let mut policy = policy(&world, PRICE, 25 * PRICE / 10);
    policy.channel_requests = 100;
    let agent = agent(&world, policy)?;
    let before = world.token.balanceOf(world.agent.address()).call().await?;
    let nonce_before = world.rpc.get_transaction_count(world.facilitator.address()).await?;
    for tick in 1..=25u64 {
        let paid = agent.get(&format!("{base}/tick")).await?;
        assert_eq!(paid.response.status(), 200, "tick {tick}");
        assert_eq!(paid.payment.expect("a payment").accepted.scheme, "channel");
        assert!(paid.receipt.expect("a receipt").success);
    }
    // One deposit of the whole budget, one transaction: the opening.
    assert_eq!(before - world.token.balanceOf(world.agent.address()).call().await?, U256::from(25 * PRICE / 10));
    assert_eq!(world.rpc.get_transaction_count(world.facilitator.address()).await? - nonce_before, 1);
    // The 26th tick would need a top-up beyond the budget.
    assert!(matches!(agent.get(&format!("{base}/tick")).await, Err(AgentError::Policy(_))));

    let report = world.facilitator.claim_channels().await?;
    assert_eq!(report.claimed, u128::from(25 * PRICE / 10));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(25 * PRICE / 10));
    Ok(())
}
