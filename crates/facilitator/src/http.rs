//! The facilitator's HTTP service, as the x402 specification describes it: `POST /verify`,
//! `POST /settle`, `GET /supported`, and `GET /health`.

use crate::{Facilitator, Networks};
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use quittance_chain::Chain;
use quittance_x402::{ErrorReason, SettleResponse, SupportedResponse, VerifyRequest, VerifyResponse};
use serde_json::json;
use std::{sync::Arc, time::Duration};

/// The largest request body accepted, in bytes: a verify or settle request is a few kilobytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the HTTP service serves: one network's [`Facilitator`], or many behind one URL ([`Networks`]).
pub trait Service: Send + Sync + 'static {
    /// `POST /verify`.
    fn verify(&self, request: &VerifyRequest) -> impl Future<Output = VerifyResponse> + Send;
    /// `POST /settle`.
    fn settle(&self, request: &VerifyRequest) -> impl Future<Output = SettleResponse> + Send;
    /// `GET /supported`.
    fn supported(&self) -> SupportedResponse;
    /// `GET /health`: whether it can serve now, and the report saying why (per network).
    fn health(&self) -> impl Future<Output = (bool, serde_json::Value)> + Send;
}

impl<C: Chain + 'static> Service for Facilitator<C> {
    async fn verify(&self, request: &VerifyRequest) -> VerifyResponse {
        Facilitator::verify(self, request).await
    }

    async fn settle(&self, request: &VerifyRequest) -> SettleResponse {
        Facilitator::settle(self, request).await
    }

    fn supported(&self) -> SupportedResponse {
        Facilitator::supported(self)
    }

    /// `{"status":"ok", network, address, inFlight}` when the chain answers within [`HEALTH_TIMEOUT`] and the
    /// ledger can be read (`inFlight`: settlements not concluded yet); otherwise `{"status":"unavailable",
    /// "error": …}` saying what is wrong.
    async fn health(&self) -> (bool, serde_json::Value) {
        let error = match tokio::time::timeout(HEALTH_TIMEOUT, self.chain().chain_id()).await {
            Ok(Ok(_)) => match self.in_flight() {
                Ok(in_flight) => {
                    let report = json!({
                        "status": "ok",
                        "network": self.network(),
                        "address": self.address().to_checksum(None),
                        "inFlight": in_flight,
                    });
                    return (true, report);
                }
                Err(err) => format!("the settlement ledger cannot be read: {err}"),
            },
            Ok(Err(err)) => format!("the chain could not be reached: {err}"),
            Err(_) => format!("the chain did not answer within {}s", HEALTH_TIMEOUT.as_secs()),
        };
        let report = json!({
            "status": "unavailable",
            "error": error,
            "network": self.network(),
            "address": self.address().to_checksum(None),
        });
        (false, report)
    }
}

impl<C: Chain + 'static> Service for Networks<C> {
    async fn verify(&self, request: &VerifyRequest) -> VerifyResponse {
        Networks::verify(self, request).await
    }

    async fn settle(&self, request: &VerifyRequest) -> SettleResponse {
        Networks::settle(self, request).await
    }

    fn supported(&self) -> SupportedResponse {
        Networks::supported(self)
    }

    /// `{"status":"ok"|"unavailable", "networks": {network: its facilitator's report}}`: ok when every
    /// network is (each is asked at once, within [`HEALTH_TIMEOUT`]).
    async fn health(&self) -> (bool, serde_json::Value) {
        let reports = futures::future::join_all(self.facilitators().map(|f| async move {
            let (ok, report) = Service::health(f.as_ref()).await;
            (f.network().to_owned(), ok, report)
        }))
        .await;
        let ok = reports.iter().all(|(_, ok, _)| *ok);
        let networks: serde_json::Map<String, serde_json::Value> =
            reports.into_iter().map(|(network, _, report)| (network, report)).collect();
        (ok, json!({ "status": if ok { "ok" } else { "unavailable" }, "networks": networks }))
    }
}

/// The routes of the facilitator service.
pub fn router<S: Service>(service: Arc<S>) -> Router {
    Router::new()
        .route("/verify", post(verify::<S>))
        .route("/settle", post(settle::<S>))
        .route("/supported", get(supported::<S>))
        .route("/health", get(health::<S>))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

/// A body that is not a verify/settle request: 400 (413 when too large), with the reason code and what was
/// wrong.
fn bad_request(rejection: JsonRejection) -> Response {
    let status = match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = json!({ "error": ErrorReason::InvalidPayload, "message": rejection.body_text() });
    (status, Json(body)).into_response()
}

async fn verify<S: Service>(
    State(service): State<Arc<S>>,
    request: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(request)) => Json(service.verify(&request).await).into_response(),
        Err(rejection) => bad_request(rejection),
    }
}

async fn settle<S: Service>(
    State(service): State<Arc<S>>,
    request: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(request)) => Json(service.settle(&request).await).into_response(),
        Err(rejection) => bad_request(rejection),
    }
}

async fn supported<S: Service>(State(service): State<Arc<S>>) -> Response {
    Json(service.supported()).into_response()
}

/// How long `/health` waits for a chain before it answers 503.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// `200` with the service's report when it can serve, `503` with it when it cannot.
async fn health<S: Service>(State(service): State<Arc<S>>) -> Response {
    let (ok, report) = service.health().await;
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(report)).into_response()
}
