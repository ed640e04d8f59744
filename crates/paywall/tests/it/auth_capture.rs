//! A route priced in `auth-capture` (escrow flow), with the in-process facilitator on anvil as the operator
//! and Quittance's collector in front of its `PaymentEscrow`: the payment is held before serving, captured
//! after a successful answer, voided after a failed one; a copy gets the same answer and nothing more moves;
//! the seller refunds part later from the handler's kept payment.

use crate::{get_with, price, receipt, required};
use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256},
    providers::{Provider, ProviderBuilder},
};
use axum::{Extension, Json, Router, http::StatusCode, routing::get};
use quittance_bindings::{PaymentEscrow, TestStablecoin};
use quittance_chain::RpcChain;
use quittance_facilitator::SqliteLedger;
use quittance_paywall::{AuthCaptureOffer, EscrowedPayment, Lifecycle, Paywall, Price};
use quittance_testkit::{PRICE, TIMEOUT, World, fast};
use quittance_x402::{ErrorReason, PaymentPayload, auth_capture};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// The operator's refund liquidity, approved to the escrow.
const REFUND_LIQUIDITY: u64 = 5_000;

#[tokio::test]
async fn an_escrowed_payment_is_captured_after_serving_voided_after_a_failure_and_refunded_later() -> eyre::Result<()> {
    let world = World::new().await?;
    let escrow = *PaymentEscrow::deploy(world.rpc.clone(), *world.registry.address()).await?.address();
    quittance_deploy::install_auth_capture(&RpcChain::http(world.endpoint.clone()), escrow).await?;
    // The operator's refund liquidity, provided before the facilitator that sees the collector starts.
    let operator_rpc = ProviderBuilder::new()
        .wallet(EthereumWallet::from(world.facilitator_key.clone()))
        .connect_http(world.endpoint.clone())
        .erased();
    let operator = world.facilitator_key.address();
    world.token.mint(operator, U256::from(REFUND_LIQUIDITY)).send().await?.with_timeout(TIMEOUT).get_receipt().await?;
    TestStablecoin::new(*world.token.address(), operator_rpc)
        .approve(escrow, U256::from(REFUND_LIQUIDITY))
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    let facilitator = Arc::new(world.facilitator_with(Arc::new(SqliteLedger::in_memory()?), fast()).await?);

    let offer = AuthCaptureOffer {
        operator: facilitator.address(),
        authorizer: world.seller.clone(),
        capture_seconds: 3_600,
        refund_seconds: 86_400,
    };
    let kept: Arc<Mutex<Vec<EscrowedPayment>>> = Arc::default();
    let paywall = Paywall::new(facilitator.clone(), "http://127.0.0.1");
    let priced = Price { invoices: None, ..price(&world) };
    let keep = kept.clone();
    let app = Router::new()
        .route(
            "/report",
            get(move |Extension(payment): Extension<EscrowedPayment>| {
                let keep = keep.clone();
                async move {
                    keep.lock().expect("lock").push(payment);
                    Json(json!({"report": 42}))
                }
            })
            .layer(paywall.price_auth_capture(priced.clone(), offer.clone())),
        )
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }).layer(paywall.price_auth_capture(priced, offer)),
        );
    let balance = |who: Address| {
        let token = world.token.clone();
        async move { token.balanceOf(who).call().await }
    };
    let pay = |path: &'static str| {
        let (app, world) = (app.clone(), &world);
        async move {
            let (status, headers, _) = get_with(&app, path, None).await;
            assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
            let offered = required(&headers);
            let schemes: Vec<_> = offered.accepts.iter().map(|o| o.scheme.as_str()).collect();
            assert_eq!(schemes, ["auth-capture"], "an escrow route offers auth-capture only");
            let option = &offered.accepts[0];
            let payload =
                auth_capture::pay(option, &world.agent, world.agent.address(), world.now().await?, B256::random())?;
            eyre::Ok(PaymentPayload {
                x402_version: 2,
                resource: Some(offered.resource.clone()),
                accepted: option.clone(),
                payload,
                extensions: None,
            })
        }
    };
    let agent = world.agent.address();
    let (agent_before, payee_before) = (balance(agent).await?, balance(world.payee).await?);

    // Served, then the whole price captured for the seller.
    let payment = pay("/report").await?;
    let (status, headers, body) = get_with(&app, "/report", Some(&payment)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"report": 42})));
    let captured = receipt(&headers);
    assert!(captured.success, "{captured:?}");
    assert_eq!(captured.amount.as_deref(), Some(PRICE.to_string().as_str()), "the capture's receipt");
    assert_eq!(balance(agent).await?, agent_before - U256::from(PRICE));
    assert_eq!(balance(world.payee).await?, payee_before + U256::from(PRICE));
    assert_eq!(balance(escrow).await?, U256::ZERO, "nothing left held");
    // A copy gets the same answer; nothing more moves; the handler ran once.
    let (status, again, body) = get_with(&app, "/report", Some(&payment)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"report": 42})));
    assert_eq!(again.get(quittance_x402::PAYMENT_RESPONSE), headers.get(quittance_x402::PAYMENT_RESPONSE));
    assert_eq!(balance(agent).await?, agent_before - U256::from(PRICE));
    assert_eq!(kept.lock().expect("lock").len(), 1, "one payment, one execution");
    // The same payment for another route is refused.
    let (status, headers, _) = get_with(&app, "/broken", Some(&payment)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers).error, Some(ErrorReason::AuthCapturePaymentAlreadyCollected.to_string()));

    // A failed handler: held, then voided back; the payer ends where it started.
    let failing = pay("/broken").await?;
    let (status, headers, _) = get_with(&app, "/broken", Some(&failing)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(receipt(&headers).success, "the void's receipt");
    assert_eq!(balance(agent).await?, agent_before - U256::from(PRICE), "voided in full");
    assert_eq!(balance(world.payee).await?, payee_before + U256::from(PRICE));

    // Later, the seller refunds part of the capture from the kept payment (funded by the operator).
    let escrowed = kept.lock().expect("lock")[0].clone();
    let held = U256::from(PRICE);
    let too_much = escrowed
        .request(Lifecycle::Refund { amount: U256::from(6_000u64), expected: (U256::ZERO, held) }, &world.seller)?;
    assert_eq!(
        facilitator.settle(&too_much).await.error_reason,
        Some(ErrorReason::AuthCaptureRefundFundingUnavailable),
        "more than the operator's liquidity"
    );
    let refund = escrowed
        .request(Lifecycle::Refund { amount: U256::from(4_000u64), expected: (U256::ZERO, held) }, &world.seller)?;
    let refunded = facilitator.settle(&refund).await;
    assert!(refunded.success, "{refunded:?}");
    assert_eq!(facilitator.settle(&refund).await.transaction, refunded.transaction, "asked again: the same refund");
    assert_eq!(balance(agent).await?, agent_before - U256::from(PRICE - 4_000));
    assert_eq!(balance(operator).await?, U256::from(REFUND_LIQUIDITY - 4_000));
    Ok(())
}

/// Forwards to the facilitator, but loses the answer to the first lifecycle `/settle` (after the facilitator
/// acted on it), as a connection that drops would.
struct LosesFirstFinalize {
    facilitator: Arc<quittance_facilitator::Facilitator<RpcChain>>,
    lost: std::sync::atomic::AtomicBool,
}

impl quittance_paywall::FacilitatorClient for LosesFirstFinalize {
    async fn verify(
        &self,
        request: &quittance_x402::VerifyRequest,
    ) -> Result<quittance_x402::VerifyResponse, quittance_paywall::ClientError> {
        Ok(self.facilitator.verify(request).await)
    }

    async fn settle(
        &self,
        request: &quittance_x402::VerifyRequest,
    ) -> Result<quittance_x402::SettleResponse, quittance_paywall::ClientError> {
        let settled = self.facilitator.settle(request).await;
        let lifecycle = request.payment_payload.payload.get("type").is_some();
        if lifecycle && !self.lost.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(quittance_paywall::ClientError::Http("connection reset".into()));
        }
        Ok(settled)
    }
}

#[tokio::test]
async fn a_finalize_whose_answer_was_lost_is_asked_again_and_the_handler_never_runs_twice() -> eyre::Result<()> {
    let world = World::new().await?;
    let escrow = *PaymentEscrow::deploy(world.rpc.clone(), *world.registry.address()).await?.address();
    quittance_deploy::install_auth_capture(&RpcChain::http(world.endpoint.clone()), escrow).await?;
    let facilitator = Arc::new(world.facilitator_with(Arc::new(SqliteLedger::in_memory()?), fast()).await?);
    let offer = AuthCaptureOffer {
        operator: facilitator.address(),
        authorizer: world.seller.clone(),
        capture_seconds: 3_600,
        refund_seconds: 86_400,
    };
    let client = Arc::new(LosesFirstFinalize { facilitator, lost: Default::default() });
    let paywall = Paywall::new(client, "http://127.0.0.1");
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    let app = Router::new().route(
        "/report",
        get(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Json(json!({"report": 42}))
            }
        })
        .layer(paywall.price_auth_capture(Price { invoices: None, ..price(&world) }, offer)),
    );
    let (_, headers, _) = get_with(&app, "/report", None).await;
    let option = required(&headers).accepts[0].clone();
    let agent = &world.agent;
    let payload = auth_capture::pay(&option, agent, agent.address(), world.now().await?, B256::random())?;
    let payment = PaymentPayload { x402_version: 2, resource: None, accepted: option, payload, extensions: None };
    let before = world.token.balanceOf(agent.address()).call().await?;

    // Served and captured, but the capture's answer is lost: the client is told to come back.
    let (status, headers, _) = get_with(&app, "/report", Some(&payment)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers).error, Some(ErrorReason::SettlementPending.to_string()));
    // Sent again: the kept answer, the capture's receipt from the facilitator's ledger; nothing runs or moves twice.
    let (status, headers, body) = get_with(&app, "/report", Some(&payment)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"report": 42})));
    assert!(receipt(&headers).success);
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1, "one payment, one execution");
    assert_eq!(world.token.balanceOf(agent.address()).call().await?, before - U256::from(PRICE));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE), "captured once");
    Ok(())
}
