//! The facilitator's HTTP service, as the x402 specification describes it: `POST /verify`,
//! `POST /settle`, `GET /supported`, and `GET /health`.

use crate::Facilitator;
use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use quittance_chain::Chain;
use quittance_x402::{ErrorReason, VerifyRequest};
use serde_json::json;
use std::{sync::Arc, time::Duration};

/// The largest request body accepted, in bytes: a verify or settle request is a few kilobytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The routes of the facilitator service.
pub fn router<C: Chain + 'static>(facilitator: Arc<Facilitator<C>>) -> Router {
    Router::new()
        .route("/verify", post(verify::<C>))
        .route("/settle", post(settle::<C>))
        .route("/supported", get(supported::<C>))
        .route("/health", get(health::<C>))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(facilitator)
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

async fn verify<C: Chain + 'static>(
    State(facilitator): State<Arc<Facilitator<C>>>,
    request: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(request)) => Json(facilitator.verify(&request).await).into_response(),
        Err(rejection) => bad_request(rejection),
    }
}

async fn settle<C: Chain + 'static>(
    State(facilitator): State<Arc<Facilitator<C>>>,
    request: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(request)) => Json(facilitator.settle(&request).await).into_response(),
        Err(rejection) => bad_request(rejection),
    }
}

async fn supported<C: Chain + 'static>(State(facilitator): State<Arc<Facilitator<C>>>) -> Response {
    Json(facilitator.supported()).into_response()
}

/// How long `/health` waits for the chain before it answers 503.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// `200 {"status":"ok", network, address, inFlight}` when the chain answers within [`HEALTH_TIMEOUT`] and the
/// ledger can be read (`inFlight`: settlements not concluded yet); otherwise `503 {"status":"unavailable",
/// "error": …}` saying what is wrong.
async fn health<C: Chain + 'static>(State(facilitator): State<Arc<Facilitator<C>>>) -> Response {
    let error = match tokio::time::timeout(HEALTH_TIMEOUT, facilitator.chain().chain_id()).await {
        Ok(Ok(_)) => match facilitator.in_flight() {
            Ok(in_flight) => {
                return Json(json!({
                    "status": "ok",
                    "network": facilitator.network(),
                    "address": facilitator.address().to_checksum(None),
                    "inFlight": in_flight,
                }))
                .into_response();
            }
            Err(err) => format!("the settlement ledger cannot be read: {err}"),
        },
        Ok(Err(err)) => format!("the chain could not be reached: {err}"),
        Err(_) => format!("the chain did not answer within {}s", HEALTH_TIMEOUT.as_secs()),
    };
    let body = json!({
        "status": "unavailable",
        "error": error,
        "network": facilitator.network(),
        "address": facilitator.address().to_checksum(None),
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
