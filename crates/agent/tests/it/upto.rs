//! The agent pays a metered (`upto`) route: it signs a permit of the maximum, its policy counts the
//! maximum, and its record keeps what the receipt says was used (with a facilitator that accepts every
//! payment and settles what it is asked to).

use alloy::{
    primitives::{Address, U256, address},
    signers::local::PrivateKeySigner,
};
use axum::{Router, routing::get};
use quittance_agent::{Agent, Budget, Policy, SpendRecord, SpendState};
use quittance_paywall::{ClientError, FacilitatorClient, Paywall, Price};
use quittance_x402::{SettleResponse, VerifyRequest, VerifyResponse, upto};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

const FACILITATOR: Address = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
const SELLER: Address = address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906");

struct Accepting;

impl FacilitatorClient for Accepting {
    async fn verify(&self, _: &VerifyRequest) -> Result<VerifyResponse, ClientError> {
        Ok(VerifyResponse { is_valid: true, invalid_reason: None, invalid_message: None, payer: None, extra: None })
    }

    async fn settle(&self, request: &VerifyRequest) -> Result<SettleResponse, ClientError> {
        Ok(SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: None,
            transaction: format!("0x{:064x}", 1),
            network: request.payment_requirements.network.clone(),
            amount: Some(request.payment_requirements.amount.clone()),
            extra: None,
        })
    }
}

#[tokio::test]
async fn the_agent_pays_the_maximum_and_records_what_was_used() -> eyre::Result<()> {
    let price = Price::usd("eip155:8453", "$0.01", SELLER, "metered", "text/plain")?;
    let paywall = Paywall::new(Arc::new(Accepting), "http://127.0.0.1");
    let app =
        Router::new().route(
            "/metered",
            get(|| async { ([(upto::SETTLEMENT_OVERRIDES, r#"{"amount":"2500"}"#)], "served") })
                .layer(paywall.price_upto(price.clone(), FACILITATOR, false)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let budget = |per_request: u64| Budget {
        per_request: U256::from(per_request),
        per_host: U256::from(100_000),
        period: Duration::from_secs(3600),
        total: U256::from(100_000),
    };
    let policy = |per_request| Policy {
        budgets: BTreeMap::from([(price.asset, budget(per_request))]),
        networks: vec![price.network.clone()],
        hosts: None,
        channel_requests: 0,
    };
    let record = Arc::new(SpendRecord::in_memory()?);

    // The maximum (10000) is what the policy weighs: a request limit below it refuses the route.
    let frugal = Agent::new(PrivateKeySigner::random(), policy(9_999), record.clone());
    assert!(frugal.get(&format!("{base}/metered")).await.is_err(), "the maximum counts against the limit");

    let agent = Agent::new(PrivateKeySigner::random(), policy(10_000), record.clone());
    let paid = agent.get(&format!("{base}/metered")).await?;
    assert_eq!(paid.response.status(), 200);
    assert_eq!(paid.receipt.and_then(|r| r.amount).as_deref(), Some("2500"));
    let payment = paid.payment.expect("paid");
    assert_eq!(payment.accepted.scheme, "upto");
    assert_eq!(payment.payload["permit2Authorization"]["permitted"]["amount"], "10000", "a permit of the maximum");
    let spend = record.spend(paid.spend.expect("recorded"))?.expect("a spend");
    assert_eq!((spend.state, spend.amount), (SpendState::Settled, U256::from(2_500)));
    assert_eq!(record.settled_total(price.asset)?, U256::from(2_500));
    Ok(())
}
