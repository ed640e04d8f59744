//! The paywall in front of real routes, with the in-process facilitator on anvil: the 402, each way to
//! pay, and each way a payment is refused.

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use axum::{
    Json, Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode},
    routing::get,
};
use http_body_util::BodyExt;
use quittance_paywall::{InvoiceIssuer, Paywall, Price};
use quittance_testkit::{PRICE, World};
use quittance_x402::{
    PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentPayload, PaymentRequired,
    PaymentRequirementsResponseV1, SettleResponse, decode_header, encode_header, exact, invoice,
};
use serde_json::{Value, json};
use tower::ServiceExt;

mod auth_capture;
mod batch;
mod once;
mod page;
mod upto;

pub(crate) fn price(world: &World) -> Price {
    Price {
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
    }
}

pub(crate) fn app(world: &World) -> Router {
    let paywall = Paywall::new(world.facilitator.clone(), "http://127.0.0.1");
    let prepaid = Price { settle_before_serving: true, ..price(world) };
    Router::new()
        .route("/report", get(|| async { Json(json!({"report": 42})) }).layer(paywall.price(price(world))))
        .route("/broken", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }).layer(paywall.price(price(world))))
        .route("/prepaid", get(|| async { Json(json!({"prepaid": true})) }).layer(paywall.price(prepaid)))
}

pub(crate) async fn get_with(
    app: &Router,
    path: &str,
    payment: Option<&PaymentPayload>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = Request::builder().uri(path);
    if let Some(payment) = payment {
        request = request.header(PAYMENT_SIGNATURE, encode_header(payment));
    }
    let response = app.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

pub(crate) fn required(headers: &HeaderMap) -> PaymentRequired {
    decode_header(headers[PAYMENT_REQUIRED].to_str().expect("ascii")).expect("a PAYMENT-REQUIRED header")
}

pub(crate) fn receipt(headers: &HeaderMap) -> SettleResponse {
    decode_header(headers[PAYMENT_RESPONSE].to_str().expect("ascii")).expect("a PAYMENT-RESPONSE header")
}

pub(crate) async fn pay_exact_for(
    world: &World,
    app: &Router,
    path: &str,
    payer: &PrivateKeySigner,
) -> eyre::Result<PaymentPayload> {
    let (_, headers, _) = get_with(app, path, None).await;
    let offer = required(&headers);
    let option = offer.accepts.iter().find(|o| o.scheme == "exact").expect("an exact option");
    Ok(exact::pay(
        option,
        Some(offer.resource.clone()),
        payer,
        payer.address(),
        world.now().await?,
        alloy::primitives::B256::random(),
    )?)
}

#[tokio::test]
async fn an_unpaid_request_gets_a_402_with_exact_and_invoice_options() -> eyre::Result<()> {
    let world = World::new().await?;
    let (status, headers, body) = get_with(&app(&world), "/report", None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(headers["cache-control"], "no-store");
    let offer = required(&headers);
    assert_eq!(offer.x402_version, 2);
    assert_eq!(offer.resource.url, "http://127.0.0.1/report");
    let schemes: Vec<_> = offer.accepts.iter().map(|o| o.scheme.as_str()).collect();
    assert_eq!(schemes, ["exact", "invoice"]);
    let exact_option = &offer.accepts[0];
    assert_eq!(
        (exact_option.amount.as_str(), exact_option.pay_to.as_str()),
        ("10000", world.payee.to_checksum(None).as_str())
    );
    let terms = invoice::InvoiceTerms::from_requirements(&offer.accepts[1]).map_err(|r| eyre::eyre!("{r}"))?;
    terms.check_issuer().map_err(|r| eyre::eyre!("{r}"))?;
    terms.check_for("http://127.0.0.1/report", world.now().await?).map_err(|r| eyre::eyre!("{r}"))?;
    // The v1 body: no v1 name exists for chain 31337, so no v1 option, but the shape is the v1 answer.
    let v1: PaymentRequirementsResponseV1 = serde_json::from_value(body)?;
    assert_eq!(v1.x402_version, 1);
    Ok(())
}

#[tokio::test]
async fn an_exact_payment_is_served_settled_and_a_copy_gets_the_same_answer() -> eyre::Result<()> {
    let world = World::new().await?;
    let app = app(&world);
    let payment = pay_exact_for(&world, &app, "/report", &world.agent).await?;

    let (status, headers, body) = get_with(&app, "/report", Some(&payment)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"report": 42})));
    let receipt = receipt(&headers);
    assert!(receipt.success, "{receipt:?}");
    assert_eq!(receipt.payer, Some(world.agent.address().to_checksum(None)));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));

    // The same proof again gets the answer it bought, again, and nothing more is charged.
    let (status, again, body) = get_with(&app, "/report", Some(&payment)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"report": 42})));
    assert_eq!(again.get(PAYMENT_RESPONSE), headers.get(PAYMENT_RESPONSE), "the same receipt");
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));
    // The same proof for another resource is refused.
    let (status, headers, _) = get_with(&app, "/prepaid", Some(&payment)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert!(required(&headers).error.is_some());
    Ok(())
}

#[tokio::test]
async fn an_invoice_payment_is_served_with_the_proof_in_the_registry() -> eyre::Result<()> {
    let world = World::new().await?;
    let app = app(&world);
    let (_, headers, _) = get_with(&app, "/report", None).await;
    let offer = required(&headers);
    let option = offer.accepts.iter().find(|o| o.scheme == "invoice").expect("an invoice option");
    let agent = &world.agent;
    let payment = invoice::pay(option, &offer.resource, agent, agent.address(), world.now().await?)?;

    let (status, headers, body) = get_with(&app, "/report", Some(&payment)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"report": 42})));
    let receipt = receipt(&headers);
    let id: alloy::primitives::B256 = serde_json::from_value(receipt.extra.expect("extra")["invoiceId"].clone())?;
    assert!(world.registry.isPaid(id).call().await?);
    assert_eq!(world.registry.recordOf(id).call().await?.payer, agent.address());
    Ok(())
}

#[tokio::test]
async fn a_failing_handler_is_not_paid_for() -> eyre::Result<()> {
    let world = World::new().await?;
    let app = app(&world);
    let payment = pay_exact_for(&world, &app, "/broken", &world.agent).await?;
    let (status, headers, _) = get_with(&app, "/broken", Some(&payment)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(headers.get(PAYMENT_RESPONSE).is_none());
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::ZERO, "nothing settled");
    Ok(())
}

#[tokio::test]
async fn a_route_can_settle_before_serving() -> eyre::Result<()> {
    let world = World::new().await?;
    let app = app(&world);
    let payment = pay_exact_for(&world, &app, "/prepaid", &world.agent).await?;
    let (status, headers, body) = get_with(&app, "/prepaid", Some(&payment)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"prepaid": true})));
    assert!(receipt(&headers).success);

    // A copy of the payment gets the answer it bought, and nothing is settled again.
    let (status, again, body) = get_with(&app, "/prepaid", Some(&payment)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"prepaid": true})));
    assert_eq!(again.get(PAYMENT_RESPONSE), headers.get(PAYMENT_RESPONSE));
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE), "paid once");
    Ok(())
}

#[tokio::test]
async fn bad_payments_get_a_402_with_the_reason_and_move_nothing() -> eyre::Result<()> {
    let world = World::new().await?;
    let app = app(&world);
    let send_raw = |header: &str| {
        let request =
            Request::builder().uri("/report").header(PAYMENT_SIGNATURE, header).body(Body::empty()).expect("request");
        app.clone().oneshot(request)
    };
    for garbage in ["not base64!", "e30=", &"A".repeat(20_000)] {
        let response = send_raw(garbage).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED, "{garbage:.20}");
        assert_eq!(required(response.headers()).error.as_deref(), Some("invalid_payload"));
    }

    // The client changed the price it echoes.
    let mut cheaper = pay_exact_for(&world, &app, "/report", &world.agent).await?;
    cheaper.accepted.amount = "1".into();
    let (status, headers, _) = get_with(&app, "/report", Some(&cheaper)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers).error.as_deref(), Some("invalid_payment_requirements"));

    // An invoice issued for another resource is not accepted here.
    let (_, headers, _) = get_with(&app, "/prepaid", None).await;
    let offer = required(&headers);
    let option = offer.accepts.iter().find(|o| o.scheme == "invoice").expect("invoice option");
    let agent = &world.agent;
    let elsewhere = invoice::pay(option, &offer.resource, agent, agent.address(), world.now().await?)?;
    let (status, headers, _) = get_with(&app, "/report", Some(&elsewhere)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers).error.as_deref(), Some("invalid_invoice_resource_mismatch"));

    // A payer without funds.
    let pauper = PrivateKeySigner::random();
    let broke = pay_exact_for(&world, &app, "/report", &pauper).await?;
    let (status, headers, _) = get_with(&app, "/report", Some(&broke)).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers).error.as_deref(), Some("invalid_exact_evm_insufficient_balance"));

    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::ZERO);
    Ok(())
}

#[tokio::test]
async fn v1_clients_get_the_v1_answer_and_pay_with_x_payment() -> eyre::Result<()> {
    // Chain 84532 stands in for base-sepolia, a network x402 v1 names.
    let world = World::on_chain(84532).await?;
    let app = app(&world);
    let (status, _, body) = get_with(&app, "/report", None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let v1: PaymentRequirementsResponseV1 = serde_json::from_value(body)?;
    let option = &v1.accepts[0];
    assert_eq!((option.network.as_str(), option.max_amount_required.as_str()), ("base-sepolia", "10000"));
    assert_eq!(option.resource, "http://127.0.0.1/report");

    // A v1 client signs the same EIP-3009 authorization and sends it in X-PAYMENT.
    let v2_option = world.exact_option(*world.token.address(), "USD Coin");
    let signed = world.pay_exact(&v2_option, &world.agent).await?;
    let v1_payment = quittance_x402::PaymentPayloadV1 {
        x402_version: 1,
        scheme: "exact".into(),
        network: "base-sepolia".into(),
        payload: signed.payload,
    };
    let request = Request::builder()
        .uri("/report")
        .header(quittance_x402::X_PAYMENT, encode_header(&v1_payment))
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let receipt: quittance_x402::SettlementResponseV1 =
        decode_header(response.headers()[quittance_x402::X_PAYMENT_RESPONSE].to_str()?)?;
    assert!(receipt.success);
    assert_eq!(receipt.network, "base-sepolia");
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));
    Ok(())
}

/// The bad-input matrix through the HTTP stack: each bad payment is answered 402 with its reason code, and
/// no money moves.
#[tokio::test]
async fn every_bad_payment_gets_its_reason_code_and_moves_nothing() -> eyre::Result<()> {
    use alloy::{
        primitives::{Address, B256, Bytes},
        signers::SignerSync,
    };
    use quittance_x402::exact::{ExactEvmPayload, ExactTerms, TransferWithAuthorization};

    let world = World::new().await?;
    let app = app(&world);
    let valid = pay_exact_for(&world, &app, "/report", &world.agent).await?;
    let offered = valid.accepted.clone();
    let edit = |f: &dyn Fn(&mut ExactEvmPayload)| -> PaymentPayload {
        let mut exact: ExactEvmPayload = serde_json::from_value(valid.payload.clone()).expect("payload");
        f(&mut exact);
        PaymentPayload { payload: serde_json::to_value(exact).expect("json"), ..valid.clone() }
    };
    // Re-signs an edited authorization with `key` in the domain of `requirements`.
    let resign = |key: &PrivateKeySigner,
                  requirements: &quittance_x402::PaymentRequirements,
                  f: &dyn Fn(&mut ExactEvmPayload)| {
        let terms = ExactTerms::from_requirements(requirements).expect("terms");
        edit(&|p| {
            f(p);
            let message = TransferWithAuthorization::from(&p.authorization);
            p.signature = key.sign_typed_data_sync(&message, &terms.domain).expect("signs").as_bytes().into();
        })
    };
    let now = world.now().await?;
    let mut other_chain = offered.clone();
    other_chain.network = "eip155:1".into();
    let mut other_token = offered.clone();
    other_token.extra.insert("name".into(), json!("Other Coin"));
    let high_s = edit(&|p| {
        let mut bytes: [u8; 65] = p.signature.as_ref().try_into().expect("65 bytes");
        let n = U256::from_be_bytes(
            alloy::primitives::b256!("0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141").0,
        );
        let s = U256::from_be_bytes::<32>(bytes[32..64].try_into().expect("32"));
        bytes[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        bytes[64] = if bytes[64] == 27 { 28 } else { 27 };
        p.signature = Bytes::copy_from_slice(&bytes);
    });
    let mut wrong_version = valid.clone();
    wrong_version.x402_version = 3;
    let mut unknown_scheme = valid.clone();
    unknown_scheme.accepted.scheme = "upto".into();
    let mut wrong_pay_to = valid.clone();
    wrong_pay_to.accepted.pay_to = Address::repeat_byte(7).to_checksum(None);
    let mut wrong_asset = valid.clone();
    wrong_asset.accepted.asset = Address::repeat_byte(8).to_checksum(None);

    let cases: Vec<(&str, PaymentPayload, &str)> = vec![
        ("wrong x402Version", wrong_version, "invalid_x402_version"),
        ("unknown scheme", unknown_scheme, "unsupported_scheme"),
        ("accepted with another payTo", wrong_pay_to, "invalid_payment_requirements"),
        ("accepted with another asset", wrong_asset, "invalid_payment_requirements"),
        (
            "authorization to another payee",
            edit(&|p| p.authorization.to = Address::repeat_byte(9)),
            "invalid_exact_evm_recipient_mismatch",
        ),
        (
            "authorization for less",
            edit(&|p| p.authorization.value = U256::from(1u64)),
            "invalid_exact_evm_payload_authorization_value_mismatch",
        ),
        (
            "expired authorization",
            resign(&world.agent, &offered, &|p| p.authorization.valid_before = U256::from(now - 1)),
            "invalid_exact_evm_payload_authorization_valid_before",
        ),
        (
            "not yet valid",
            resign(&world.agent, &offered, &|p| p.authorization.valid_after = U256::from(now + 3600)),
            "invalid_exact_evm_payload_authorization_valid_after",
        ),
        ("forged signature", resign(&PrivateKeySigner::random(), &offered, &|_| {}), "invalid_exact_evm_signature"),
        ("signed for another chain", resign(&world.agent, &other_chain, &|_| {}), "invalid_exact_evm_signature"),
        (
            "signed for another token's domain",
            resign(&world.agent, &other_token, &|_| {}),
            "invalid_exact_evm_signature",
        ),
        ("high-s signature", high_s, "invalid_exact_evm_signature"),
        (
            "another nonce under the same signature",
            edit(&|p| p.authorization.nonce = B256::repeat_byte(1)),
            "invalid_exact_evm_signature",
        ),
    ];
    for (what, payment, code) in cases {
        let (status, headers, _) = get_with(&app, "/report", Some(&payment)).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{what}");
        assert_eq!(required(&headers).error.as_deref(), Some(code), "{what}");
    }

    // Unparseable transport: valid base64 of something that is not JSON, and an oversized header.
    for (what, header) in [("not JSON", "bm90IGpzb24=".to_owned()), ("oversized", "A".repeat(20_000))] {
        let request = Request::builder().uri("/report").header(PAYMENT_SIGNATURE, header).body(Body::empty())?;
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED, "{what}");
        assert_eq!(required(response.headers()).error.as_deref(), Some("invalid_payload"), "{what}");
    }

    // A tampered invoice: the amount changed after the seller signed.
    let (_, headers, _) = get_with(&app, "/report", None).await;
    let offer = required(&headers);
    let mut option = offer.accepts.iter().find(|o| o.scheme == "invoice").expect("invoice option").clone();
    option.extra["invoice"]["amount"] = json!("0x1");
    option.amount = "1".into();
    let agent = &world.agent;
    assert!(invoice::pay(&option, &offer.resource, agent, agent.address(), now).is_err(), "the agent refuses it");

    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::ZERO, "no money moved");
    // The valid payment still works after all that.
    let (status, _, _) = get_with(&app, "/report", Some(&valid)).await;
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

#[test]
fn usd_prices_parse_exactly_and_pick_the_networks_usdc() {
    use quittance_paywall::{PriceError, usd_amount};
    assert_eq!(usd_amount("$0.01", 6), Ok(U256::from(10_000u64)));
    assert_eq!(usd_amount("0.001", 6), Ok(U256::from(1_000u64)));
    assert_eq!(usd_amount("2", 6), Ok(U256::from(2_000_000u64)));
    assert_eq!(usd_amount("$1.50", 6), Ok(U256::from(1_500_000u64)));
    assert_eq!(usd_amount("0.0000010", 6), Ok(U256::from(1u64)));
    assert!(matches!(usd_amount("0.0000001", 6), Err(PriceError::TooPrecise { .. })));
    assert_eq!(usd_amount("0", 6), Err(PriceError::Zero));
    for bad in ["", "$", ".", "-1", "1e3", "abc", "$0.0.1", "0x10", "1 000"] {
        assert!(matches!(usd_amount(bad, 6), Err(PriceError::Malformed(_))), "{bad:?}");
    }

    let payee = alloy::primitives::Address::repeat_byte(1);
    let base = Price::usd("eip155:8453", "$0.01", payee, "report", "application/json").expect("Base has USDC");
    assert_eq!(base.asset, alloy::primitives::address!("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"));
    assert_eq!((base.asset_name.as_str(), base.asset_version.as_str()), ("USD Coin", "2"));
    assert_eq!(base.amount, U256::from(10_000u64));
    let sepolia = Price::usd("eip155:84532", "0.5", payee, "report", "application/json").expect("Base Sepolia");
    assert_eq!(sepolia.asset_name, "USDC", "USDC's EIP-712 name differs on Base Sepolia");
    assert!(matches!(
        Price::usd("eip155:31337", "0.01", payee, "report", "application/json"),
        Err(PriceError::UnknownNetwork(_))
    ));
}
