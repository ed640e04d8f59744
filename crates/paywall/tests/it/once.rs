//! One payment buys one execution of the handler: concurrent copies, later copies, copies for another
//! request, `payment-identifier`, a facilitator that cannot be reached or whose answer is lost, and a
//! paywall that restarts on its store.

use crate::{get_with, price, receipt, required};
use alloy::primitives::U256;
use axum::{
    Json, Router,
    http::{HeaderMap, StatusCode},
    routing::get,
};
use quittance_chain::RpcChain;
use quittance_facilitator::Facilitator;
use quittance_paywall::{ClientError, FacilitatorClient, PaymentStore, Paywall, Price, SqliteStore};
use quittance_testkit::{PRICE, World};
use quittance_x402::{
    ErrorReason, PAYMENT_RESPONSE, PaymentPayload, SettleResponse, VerifyRequest, VerifyResponse, invoice,
    payment_identifier,
};
use serde_json::json;
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

/// The in-process facilitator, with answers to settle that can be lost (the settlement happens, the paywall
/// hears nothing) or that never come (the facilitator is unreachable).
struct Flaky {
    facilitator: Arc<Facilitator<RpcChain>>,
    lose_settle_answer: AtomicBool,
    unreachable: AtomicBool,
}

impl FacilitatorClient for Flaky {
    async fn verify(&self, request: &VerifyRequest) -> Result<VerifyResponse, ClientError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(ClientError::Http("connection refused".into()));
        }
        Ok(self.facilitator.verify(request).await)
    }

    async fn settle(&self, request: &VerifyRequest) -> Result<SettleResponse, ClientError> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(ClientError::Http("connection refused".into()));
        }
        let settled = self.facilitator.settle(request).await;
        if self.lose_settle_answer.swap(false, Ordering::SeqCst) {
            return Err(ClientError::Http("connection reset".into()));
        }
        Ok(settled)
    }
}

/// A paid `/counted` (and `/other`) whose handler counts its executions.
fn counted<F: FacilitatorClient>(paywall: &Paywall<F>, price: Price) -> (Router, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let handler = move || {
        let counter = counter.clone();
        async move { Json(json!({"run": counter.fetch_add(1, Ordering::SeqCst) + 1})) }
    };
    let router = Router::new()
        .route("/counted", get(handler.clone()).layer(paywall.price(price.clone())))
        .route("/other", get(handler).layer(paywall.price(price)));
    (router, runs)
}

async fn exact_for(world: &World, app: &Router, path: &str) -> eyre::Result<PaymentPayload> {
    crate::pay_exact_for(world, app, path, &world.agent).await
}

async fn paid(world: &World) -> eyre::Result<U256> {
    Ok(world.token.balanceOf(world.payee).call().await?)
}

#[tokio::test]
async fn concurrent_copies_of_one_payment_run_the_handler_once_and_get_the_same_answer() -> eyre::Result<()> {
    let world = World::new().await?;
    for settle_first in [false, true] {
        let paywall = Paywall::new(world.facilitator.clone(), "http://127.0.0.1");
        let (app, runs) = counted(&paywall, Price { settle_before_serving: settle_first, ..price(&world) });
        let before = paid(&world).await?;
        let (_, headers, _) = get_with(&app, "/counted", None).await;
        let offer = required(&headers);
        let invoice_option = offer.accepts.iter().find(|o| o.scheme == "invoice").expect("an invoice option");
        let now = world.now().await?;
        let payments = [
            exact_for(&world, &app, "/counted").await?,
            invoice::pay(invoice_option, &offer.resource, &world.agent, world.agent.address(), now)?,
        ];
        for payment in &payments {
            let runs_before = runs.load(Ordering::SeqCst);
            let copies = futures::future::join_all((0..4).map(|_| get_with(&app, "/counted", Some(payment)))).await;
            let (status, first_headers, body) = &copies[0];
            assert_eq!(*status, StatusCode::OK);
            for (status, headers, copy) in &copies {
                assert_eq!((status, copy), (&StatusCode::OK, body), "every copy gets the first answer");
                assert_eq!(headers.get(PAYMENT_RESPONSE), first_headers.get(PAYMENT_RESPONSE));
            }
            assert_eq!(runs.load(Ordering::SeqCst), runs_before + 1, "one execution per payment");
            // Later, the same again; for another resource, refused.
            let (status, _, again) = get_with(&app, "/counted", Some(payment)).await;
            assert_eq!((status, &again), (StatusCode::OK, body));
            let (status, headers, _) = get_with(&app, "/other", Some(payment)).await;
            assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
            assert!(required(&headers).error.is_some());
            assert_eq!(runs.load(Ordering::SeqCst), runs_before + 1);
        }
        assert_eq!(paid(&world).await? - before, U256::from(2 * PRICE), "charged once per payment");
    }
    Ok(())
}

#[tokio::test]
async fn payment_identifier_is_declared_reserved_before_verify_and_replayed_or_refused() -> eyre::Result<()> {
    let world = World::new().await?;
    let paywall = Paywall::new(world.facilitator.clone(), "http://127.0.0.1");
    let (app, runs) = counted(&paywall, price(&world));
    let (_, headers, _) = get_with(&app, "/counted", None).await;
    let offer = required(&headers);
    assert!(payment_identifier::declared(offer.extensions.as_ref()), "declared in the 402");

    let with_id = |mut payment: PaymentPayload, id: &str| -> eyre::Result<PaymentPayload> {
        payment_identifier::append(offer.extensions.as_ref(), &mut payment.extensions, id)?;
        Ok(payment)
    };
    let id = payment_identifier::generate();
    let first = with_id(exact_for(&world, &app, "/counted").await?, &id)?;
    let (status, headers, body) = get_with(&app, "/counted", Some(&first)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, again, same) = get_with(&app, "/counted", Some(&first)).await;
    assert_eq!((status, &same), (StatusCode::OK, &body), "the same id and payload: the stored answer");
    assert_eq!(again.get(PAYMENT_RESPONSE), headers.get(PAYMENT_RESPONSE));

    // The same id with another payload: 409, and nothing is verified, served or charged.
    let other = with_id(exact_for(&world, &app, "/counted").await?, &id)?;
    let (status, _, _) = get_with(&app, "/counted", Some(&other)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A malformed id: 400.
    let mut bad = exact_for(&world, &app, "/counted").await?;
    bad.extensions =
        Some(serde_json::from_value(json!({"payment-identifier": {"info": {"required": false, "id": "x"}}}))?);
    assert_eq!(get_with(&app, "/counted", Some(&bad)).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(paid(&world).await?, U256::from(PRICE));

    // Required: a payment without an id is refused with 400.
    let strict = Paywall::new(world.facilitator.clone(), "http://127.0.0.1").with_payment_identifier(Some(true));
    let (app, _) = counted(&strict, price(&world));
    let (status, _, _) = get_with(&app, "/counted", Some(&exact_for(&world, &app, "/counted").await?)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    Ok(())
}

/// A `settlement_pending` 402 with `Retry-After`, the answer to a payment whose outcome is not known.
fn assert_pending(status: StatusCode, headers: &HeaderMap) {
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(headers).error.as_deref(), Some(ErrorReason::SettlementPending.as_str()));
    assert!(headers.get("retry-after").is_some(), "Retry-After tells when to ask again");
}

#[tokio::test]
async fn an_unreachable_facilitator_or_a_lost_answer_is_pending_and_the_retry_is_served_once() -> eyre::Result<()> {
    let world = World::new().await?;
    let flaky = Arc::new(Flaky {
        facilitator: world.facilitator.clone(),
        lose_settle_answer: AtomicBool::new(false),
        unreachable: AtomicBool::new(true),
    });
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn PaymentStore> = Arc::new(SqliteStore::open(dir.path().join("paywall.sqlite"))?);
    let paywall = Paywall::new(flaky.clone(), "http://127.0.0.1").with_store(store.clone(), "server a");
    let (app, runs) = counted(&paywall, price(&world));
    let payment = exact_for(&world, &app, "/counted").await?;

    // Unreachable: pending, never a plain 402 inviting a second payment; nothing ran, nothing moved.
    let (status, headers, _) = get_with(&app, "/counted", Some(&payment)).await;
    assert_pending(status, &headers);
    assert_eq!((runs.load(Ordering::SeqCst), paid(&world).await?), (0, U256::ZERO));

    // Reachable, but the answer to settle is lost after the payment settled.
    flaky.unreachable.store(false, Ordering::SeqCst);
    flaky.lose_settle_answer.store(true, Ordering::SeqCst);
    let (status, headers, _) = get_with(&app, "/counted", Some(&payment)).await;
    assert_pending(status, &headers);
    assert_eq!((runs.load(Ordering::SeqCst), paid(&world).await?), (1, U256::from(PRICE)));

    // The paywall restarts on its store; the retry gets the answer the payment bought, from the run that
    // was settling it, and nothing runs or moves again.
    let restarted = Paywall::new(flaky.clone(), "http://127.0.0.1").with_store(store, "server a");
    let (app, runs_after) = counted(&restarted, price(&world));
    let (status, headers, body) = get_with(&app, "/counted", Some(&payment)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"run": 1})));
    assert!(receipt(&headers).success);
    assert_eq!(runs_after.load(Ordering::SeqCst), 0, "the handler is not run again");
    assert_eq!(paid(&world).await?, U256::from(PRICE));
    Ok(())
}

#[tokio::test]
async fn a_payment_settled_for_another_paywall_is_not_served_again() -> eyre::Result<()> {
    let world = World::new().await?;
    // Two paywalls with stores of their own, one facilitator.
    let a = Paywall::new(world.facilitator.clone(), "http://127.0.0.1");
    let b = Paywall::new(world.facilitator.clone(), "http://127.0.0.1");
    let (app_a, runs_a) = counted(&a, Price { settle_before_serving: true, ..price(&world) });
    let (app_b, runs_b) = counted(&b, Price { settle_before_serving: true, ..price(&world) });
    let payment = exact_for(&world, &app_a, "/counted").await?;
    assert_eq!(get_with(&app_a, "/counted", Some(&payment)).await.0, StatusCode::OK);
    let (status, headers, _) = get_with(&app_b, "/counted", Some(&payment)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers).error.as_deref(), Some(ErrorReason::ExactEvmNonceAlreadyUsed.as_str()));
    assert_eq!((runs_a.load(Ordering::SeqCst), runs_b.load(Ordering::SeqCst)), (1, 0));
    Ok(())
}
