use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, PaymentRequirementsResponseV1, SettleResponse, SupportedResponse,
    VerifyResponse, find_matching,
};
use serde_json::json;

/// A `PAYMENT-SIGNATURE` payload as the official TypeScript client sends it.
const SDK_PAYLOAD: &str = r#"{"x402Version":2,
 "payload":{"authorization":{"from":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","to":"0x90F79bf6EB2c4f870365E785982E1f101E93b906","value":"10000",
            "validAfter":"0","validBefore":"1795508599","nonce":"0x46da5a3b1ec5e7bb0c4b5b7c7d8a0f7bb0b5a3e2c1d7f0f8e9a6b5c4d3e2f1a0"},
            "signature":"0xaf4d"},
 "resource":{"url":"http://127.0.0.1:51137/weather","description":"Weather","mimeType":"application/json"},
 "accepted":{"scheme":"exact","network":"eip155:31337","amount":"10000",
             "asset":"0x5fbdb2315678afecb367f032d93f642f64180aa3","payTo":"0x90F79bf6EB2c4f870365E785982E1f101E93b906","maxTimeoutSeconds":120,
             "extra":{"name":"USD Coin","version":"2"}}}"#;

#[test]
fn reads_the_official_clients_payload_and_writes_the_same_field_names() {
    let payload: PaymentPayload = serde_json::from_str(SDK_PAYLOAD).expect("SDK payload parses");
    assert_eq!(payload.accepted.pay_to, "0x90F79bf6EB2c4f870365E785982E1f101E93b906");
    assert_eq!(payload.accepted.max_timeout_seconds, 120);
    // Strings are kept as sent (lower-case asset included), so an echo compares equal.
    assert_eq!(payload.accepted.asset, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
    let written = serde_json::to_value(&payload).expect("serializes");
    let original: serde_json::Value = serde_json::from_str(SDK_PAYLOAD).expect("json");
    assert_eq!(written, original);
}

#[test]
fn tolerates_null_optional_fields_from_other_implementations() {
    let requirements: PaymentRequirements = serde_json::from_value(json!({
        "scheme": "exact", "network": "eip155:1", "amount": "1", "asset": "0x0000000000000000000000000000000000000001",
        "payTo": "0x0000000000000000000000000000000000000002", "maxTimeoutSeconds": 60, "extra": null
    }))
    .expect("null extra is accepted");
    assert!(requirements.extra.is_empty());
    // and `extra` is always written, as the SDK expects
    assert_eq!(serde_json::to_value(&requirements).expect("serializes")["extra"], json!({}));

    let settle: SettleResponse = serde_json::from_value(json!({
        "success": false, "errorReason": "invalid_exact_evm_nonce_already_used", "transaction": null,
        "network": "eip155:1", "payer": null
    }))
    .expect("parses");
    assert_eq!(settle.error_reason, Some(ErrorReason::ExactEvmNonceAlreadyUsed));
    assert_eq!(settle.transaction, "");

    let supported: SupportedResponse =
        serde_json::from_value(json!({"kinds": [], "extensions": null})).expect("parses");
    assert!(supported.signers.is_empty());
}

#[test]
fn reason_codes_round_trip_and_unknown_codes_survive() {
    for code in ErrorReason::KNOWN {
        let reason = ErrorReason::from_code(code);
        assert!(!matches!(reason, ErrorReason::Other(_)), "{code}");
        assert_eq!(reason.as_str(), *code);
        assert_eq!(serde_json::to_value(&reason).expect("serializes"), json!(code));
    }
    let verify: VerifyResponse =
        serde_json::from_value(json!({"isValid": false, "invalidReason": "brand_new_code"})).expect("parses");
    assert_eq!(verify.invalid_reason, Some(ErrorReason::Other("brand_new_code".into())));
    assert_eq!(ErrorReason::ExactEvmSignature.as_str(), "invalid_exact_evm_signature");
    assert_eq!(ErrorReason::InsufficientFunds.to_string(), "insufficient_funds");
}

#[test]
fn v1_messages_use_v1_names() {
    let v1: PaymentRequirementsResponseV1 = serde_json::from_value(json!({
        "x402Version": 1, "error": "X-PAYMENT header is required",
        "accepts": [{"scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "10000",
            "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "payTo": "0x0000000000000000000000000000000000000002",
            "resource": "https://api.example/x", "description": "x", "mimeType": "application/json",
            "maxTimeoutSeconds": 60, "extra": {"name": "USDC", "version": "2"}}]
    }))
    .expect("parses");
    assert_eq!(v1.accepts[0].max_amount_required, "10000");
    assert_eq!(serde_json::to_value(&v1).expect("serializes")["accepts"][0]["maxAmountRequired"], "10000");
}

#[test]
fn matching_requires_equal_core_fields_and_the_offered_extra() {
    let payload: PaymentPayload = serde_json::from_str(SDK_PAYLOAD).expect("parses");
    let offered = vec![payload.accepted.clone()];
    assert!(find_matching(&offered, &payload.accepted).is_some());

    let mut extra_added = payload.accepted.clone();
    extra_added.extra.insert("note".into(), json!("client may add"));
    assert!(find_matching(&offered, &extra_added).is_some());

    let mut cheaper = payload.accepted.clone();
    cheaper.amount = "9999".into();
    assert!(find_matching(&offered, &cheaper).is_none());

    let mut other_payee = payload.accepted.clone();
    other_payee.pay_to = "0x0000000000000000000000000000000000000bad".into();
    assert!(find_matching(&offered, &other_payee).is_none());

    let mut other_domain = payload.accepted.clone();
    other_domain.extra.insert("name".into(), json!("Fake Coin"));
    assert!(find_matching(&offered, &other_domain).is_none());

    let mut no_extra = payload.accepted;
    no_extra.extra.clear();
    assert!(find_matching(&offered, &no_extra).is_none());
}
