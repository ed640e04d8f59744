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
use std::sync::Arc;

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

async fn verify<C: Chain>(
    State(facilitator): State<Arc<Facilitator<C>>>,
    request: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(request)) => Json(facilitator.verify(&request).await).into_response(),
        Err(rejection) => bad_request(rejection),
    }
}

async fn settle<C: Chain>(
    State(facilitator): State<Arc<Facilitator<C>>>,
    request: Result<Json<VerifyRequest>, JsonRejection>,
) -> Response {
    match request {
        Ok(Json(request)) => Json(facilitator.settle(&request).await).into_response(),
        Err(rejection) => bad_request(rejection),
    }
}

async fn supported<C: Chain>(State(facilitator): State<Arc<Facilitator<C>>>) -> Response {
    Json(facilitator.supported()).into_response()
}

async fn health<C: Chain>(State(facilitator): State<Arc<Facilitator<C>>>) -> Response {
    match facilitator.chain().chain_id().await {
        Ok(_) => Json(json!({
            "status": "ok",
            "network": facilitator.network(),
            "address": facilitator.address().to_checksum(None),
        }))
        .into_response(),
        Err(err) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "error": err.to_string() })))
                .into_response()
        }
    }
}
