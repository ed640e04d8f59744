//! A metered route priced `upto` a maximum: the handler reports its usage, the paywall settles it capped at
//! the maximum, once, after serving (with a facilitator that records what it is asked to settle).

use alloy::{
    primitives::{Address, U256, address},
    signers::local::PrivateKeySigner,
};
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    routing::get,
};
use http_body_util::BodyExt;
use quittance_paywall::{ClientError, FacilitatorClient, Paywall, Price};
use quittance_x402::{
    PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentPayload, PaymentRequired, SettleResponse,
    VerifyRequest, VerifyResponse, decode_header, encode_header, upto,
};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const FACILITATOR: Address = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
const SELLER: Address = address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906");

/// Accepts every payment and records the amounts it is asked to settle.
#[derive(Default)]
struct Recording {
    settled: Mutex<Vec<String>>,
}

impl FacilitatorClient for Recording {
    async fn verify(&self, request: &VerifyRequest) -> Result<VerifyResponse, ClientError> {
        assert_eq!(request.payment_requirements.amount, "10000", "verify sees the maximum");
        Ok(VerifyResponse { is_valid: true, invalid_reason: None, invalid_message: None, payer: None, extra: None })
    }

    async fn settle(&self, request: &VerifyRequest) -> Result<SettleResponse, ClientError> {
        let amount = request.payment_requirements.amount.clone();
        self.settled.lock().expect("lock").push(amount.clone());
        Ok(SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: None,
            transaction: if amount == "0" { String::new() } else { format!("0x{:064x}", 1) },
            network: request.payment_requirements.network.clone(),
            amount: Some(amount),
            extra: None,
        })
    }
}

fn metered(facilitator: Arc<Recording>) -> Router {
    let paywall = Paywall::new(facilitator, "http://shop.test");
    let price = Price::usd("eip155:8453", "$0.01", SELLER, "metered", "text/plain").expect("a price");
    let route = |report: Option<&'static str>| {
        get(move || async move {
            match report {
                Some(report) => ([(upto::SETTLEMENT_OVERRIDES, report)], "served").into_response_parts(),
                None => ([(upto::SETTLEMENT_OVERRIDES, "")], "served").into_response_parts(),
            }
        })
        .layer(paywall.price_upto(price.clone(), FACILITATOR, false))
    };
    Router::new()
        .route("/used", route(Some(r#"{"amount":"2500"}"#)))
        .route("/over", route(Some(r#"{"amount":"20000"}"#)))
        .route("/free", route(Some(r#"{"amount":"0"}"#)))
        .route("/silent", route(None))
}

trait Parts {
    fn into_response_parts(self) -> axum::response::Response;
}

impl Parts for ([(&'static str, &'static str); 1], &'static str) {
    fn into_response_parts(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        let ([(name, value)], body) = self;
        if value.is_empty() { body.into_response() } else { ([(name, value)], body).into_response() }
    }
}

async fn get_paid(app: &Router, path: &str, payment: Option<&PaymentPayload>) -> (StatusCode, axum::http::HeaderMap) {
    let mut request = Request::get(path);
    if let Some(payment) = payment {
        request = request.header(PAYMENT_SIGNATURE, encode_header(payment));
    }
    let response = app.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("answer");
    let (parts, body) = response.into_parts();
    let _ = body.collect().await;
    (parts.status, parts.headers)
}

async fn pay(app: &Router, path: &str) -> PaymentPayload {
    let (status, headers) = get_paid(app, path, None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let required: PaymentRequired =
        decode_header(headers[PAYMENT_REQUIRED].to_str().expect("text")).expect("a PAYMENT-REQUIRED");
    assert_eq!(required.accepts.len(), 1, "a metered route offers upto only");
    let option = &required.accepts[0];
    assert_eq!((option.scheme.as_str(), option.amount.as_str()), ("upto", "10000"));
    assert_eq!(option.extra_str(upto::FACILITATOR_ADDRESS), Some(FACILITATOR.to_checksum(None).as_str()));
    let signer = PrivateKeySigner::random();
    upto::pay(option, Some(required.resource), &signer, signer.address(), 1_750_000_000, U256::from(7)).expect("signs")
}

fn receipt(headers: &axum::http::HeaderMap) -> SettleResponse {
    decode_header(headers[PAYMENT_RESPONSE].to_str().expect("text")).expect("a PAYMENT-RESPONSE")
}

#[tokio::test]
async fn the_reported_usage_is_settled_once_capped_at_the_maximum_and_zero_sends_nothing() {
    let facilitator = Arc::new(Recording::default());
    let app = metered(facilitator.clone());
    for (path, settled) in [("/used", "2500"), ("/over", "10000"), ("/free", "0"), ("/silent", "10000")] {
        let payment = pay(&app, path).await;
        let (status, headers) = get_paid(&app, path, Some(&payment)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!headers.contains_key(upto::SETTLEMENT_OVERRIDES), "{path}: the usage report is not passed on");
        assert_eq!(receipt(&headers).amount.as_deref(), Some(settled), "{path}");
        // A copy of the payment gets the same answer and settles nothing more.
        let (again, copy) = get_paid(&app, path, Some(&payment)).await;
        assert_eq!((again, receipt(&copy).amount), (StatusCode::OK, Some(settled.to_owned())), "{path}");
        assert!(!copy.contains_key(upto::SETTLEMENT_OVERRIDES), "{path}");
    }
    assert_eq!(*facilitator.settled.lock().expect("lock"), ["2500", "10000", "0", "10000"]);
}
