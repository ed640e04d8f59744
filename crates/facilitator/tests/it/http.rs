use crate::{World, request};
use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use quittance_facilitator::http::{MAX_BODY_BYTES, router};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn call(world: &World, method: &str, path: &str, body: Option<String>) -> (StatusCode, Value) {
    let mut builder = Request::builder().method(method).uri(path);
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    let request = builder.body(body.map(Body::from).unwrap_or_else(Body::empty)).expect("request");
    let response = router(world.facilitator.clone()).oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_service_answers_supported_health_verify_and_settle() -> eyre::Result<()> {
    let world = World::new().await?;
    let (status, supported) = call(&world, "GET", "/supported", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(supported["kinds"][0], json!({"x402Version": 2, "scheme": "exact", "network": "eip155:31337"}));
    assert_eq!(supported["signers"]["eip155:*"][0], json!(world.facilitator.address().to_checksum(None)));

    let (status, health) = call(&world, "GET", "/health", None).await;
    assert_eq!((status, &health["status"]), (StatusCode::OK, &json!("ok")));
    assert_eq!(health["inFlight"], json!(0), "no settlement in flight");

    let option = world.exact_option(*world.token.address(), "USD Coin");
    let body = serde_json::to_string(&request(world.pay_exact(&option, &world.agent).await?, option))?;
    let (status, verified) = call(&world, "POST", "/verify", Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(verified["isValid"], json!(true), "{verified}");

    let (status, settled) = call(&world, "POST", "/settle", Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settled["success"], json!(true), "{settled}");
    let (_, again) = call(&world, "POST", "/settle", Some(body)).await;
    assert_eq!(again["success"], json!(false), "a replay is never a success: {again}");
    assert_eq!(again["errorReason"], json!("invalid_exact_evm_nonce_already_used"));
    assert_eq!(again["transaction"], settled["transaction"], "it names the settling transaction");
    assert_eq!(again["extra"]["settledBefore"], json!(true));
    Ok(())
}

#[tokio::test]
async fn bad_bodies_get_400_with_a_reason_and_oversized_ones_413() -> eyre::Result<()> {
    let world = World::new().await?;
    for body in ["{not json", "{}", r#"{"x402Version": 2, "paymentPayload": 7}"#, "[]"] {
        for path in ["/verify", "/settle"] {
            let (status, answer) = call(&world, "POST", path, Some(body.to_owned())).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}");
            assert_eq!(answer["error"], json!("invalid_payload"));
        }
    }
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
    let (status, _) = call(&world, "POST", "/verify", Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // A well-formed request for a bad payment is a 200 with the reason, as the x402 specification says.
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let mut payment = world.pay_exact(&option, &world.agent).await?;
    payment.payload["signature"] = json!("0x1234");
    let (status, answer) =
        call(&world, "POST", "/verify", Some(serde_json::to_string(&request(payment, option))?)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"isValid": false, "invalidReason": "invalid_exact_evm_failed_to_parse_signature", "payer": world.agent.address().to_checksum(None)})
    );
    Ok(())
}
