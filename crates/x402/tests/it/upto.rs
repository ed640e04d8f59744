use alloy::{
    primitives::{Address, U256, address, b256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements,
    upto::{self, PermitWitnessTransferFrom, UptoPayload},
};
use serde_json::json;

const NOW: u64 = 1_750_000_000;
const TOKEN: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
const SELLER: Address = address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906");
const FACILITATOR: Address = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
const NONCE: U256 = U256::from_limbs([123_456_789, 0, 0, 0]);

fn requirements() -> PaymentRequirements {
    serde_json::from_value(json!({
        "scheme": "upto", "network": "eip155:31337", "amount": "10000", "asset": TOKEN.to_checksum(None),
        "payTo": SELLER.to_checksum(None), "maxTimeoutSeconds": 120,
        "extra": {"name": "USD Coin", "version": "2", "assetTransferMethod": "permit2",
                  "facilitatorAddress": FACILITATOR.to_checksum(None)}
    }))
    .expect("valid requirements")
}

fn payer() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&b256!("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"))
        .expect("valid key")
}

fn paid() -> PaymentPayload {
    let signer = payer();
    upto::pay(&requirements(), None, &signer, signer.address(), NOW, NONCE).expect("signs")
}

fn with_payload(payment: &PaymentPayload, edit: impl FnOnce(&mut UptoPayload)) -> PaymentPayload {
    let mut upto: UptoPayload = serde_json::from_value(payment.payload.clone()).expect("upto payload");
    edit(&mut upto);
    PaymentPayload { payload: serde_json::to_value(upto).expect("serializes"), ..payment.clone() }
}

/// Edits the permit and signs it again, so that only the edit is wrong.
fn resigned(payment: &PaymentPayload, edit: impl FnOnce(&mut upto::Permit2Authorization)) -> PaymentPayload {
    with_payload(payment, |p| {
        edit(&mut p.permit2_authorization);
        let message = PermitWitnessTransferFrom::from(&p.permit2_authorization);
        p.signature =
            payer().sign_typed_data_sync(&message, &upto::permit2_domain(31337)).expect("signs").as_bytes().into();
    })
}

fn full_check(payment: &PaymentPayload, offered: &PaymentRequirements) -> Result<(), ErrorReason> {
    upto::check(payment, offered, NOW)?.check_eoa_signature()
}

#[test]
fn the_signing_hash_is_the_official_sdks() {
    // viem's hashTypedData of the same message with the SDK's `uptoPermit2WitnessTypes`.
    let checked = upto::check(&paid(), &requirements(), NOW).expect("valid");
    assert_eq!(checked.signing_hash(), b256!("0x012ed1a4fffa3f7754a1a24b96eea5089c4e79cd5ea7e75b0a93888816c73e8c"));
}

#[test]
fn a_signed_payment_has_the_sdks_wire_form_and_passes_every_offline_check() {
    let payment = paid();
    assert_eq!(payment.accepted, requirements(), "the chosen option is echoed unchanged");
    // Addresses travel EIP-55 checksummed, as the official clients write them.
    let hex = |address: Address| json!(address.to_checksum(None));
    let a = &payment.payload["permit2Authorization"];
    assert_eq!(a["from"], hex(payer().address()));
    assert_eq!(a["permitted"], json!({"token": hex(TOKEN), "amount": "10000"}));
    assert_eq!(a["spender"], hex(upto::UPTO_PROXY_ADDRESS));
    assert_eq!(upto::UPTO_PROXY_ADDRESS, address!("0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"));
    assert_eq!(a["nonce"], json!("123456789"));
    assert_eq!(a["deadline"], json!((NOW + 120).to_string()));
    assert_eq!(a["witness"], json!({"to": hex(SELLER), "facilitator": hex(FACILITATOR), "validAfter": "0"}));
    let checked = upto::check(&payment, &requirements(), NOW).expect("valid");
    checked.check_eoa_signature().expect("signed by the payer");
    checked.check_facilitator(FACILITATOR).expect("names the facilitator");
    assert_eq!(checked.check_facilitator(SELLER), Err(ErrorReason::UptoFacilitatorMismatch));
}

#[test]
fn a_client_cannot_pay_without_a_named_facilitator() {
    let mut requirements = requirements();
    requirements.extra.remove(upto::FACILITATOR_ADDRESS);
    let err = upto::pay(&requirements, None, &payer(), payer().address(), NOW, NONCE).expect_err("no facilitator");
    assert!(matches!(err, upto::SignError::NoFacilitator));
}

#[test]
fn every_bad_input_gets_the_sdks_reason() {
    let payment = paid();
    let offered = requirements();
    let other = |edit: fn(&mut PaymentRequirements)| {
        let mut r = offered.clone();
        edit(&mut r);
        r
    };
    let cases: Vec<(&str, PaymentPayload, PaymentRequirements, ErrorReason)> = vec![
        ("exact requirements", payment.clone(), other(|r| r.scheme = "exact".into()), ErrorReason::UptoEvmScheme),
        (
            "another network",
            payment.clone(),
            other(|r| r.network = "eip155:1".into()),
            ErrorReason::UptoEvmNetworkMismatch,
        ),
        (
            "a payload of another shape",
            PaymentPayload { payload: json!({"signature": "0x", "authorization": {}}), ..payment.clone() },
            offered.clone(),
            ErrorReason::UnsupportedPayloadType,
        ),
        (
            "another spender",
            resigned(&payment, |a| a.spender = FACILITATOR),
            offered.clone(),
            ErrorReason::Permit2InvalidSpender,
        ),
        (
            "another payee",
            resigned(&payment, |a| a.witness.to = FACILITATOR),
            offered.clone(),
            ErrorReason::Permit2RecipientMismatch,
        ),
        (
            "another token",
            resigned(&payment, |a| a.permitted.token = SELLER),
            offered.clone(),
            ErrorReason::Permit2TokenMismatch,
        ),
        (
            "less than the maximum permitted",
            resigned(&payment, |a| a.permitted.amount = U256::from(9_999)),
            offered.clone(),
            ErrorReason::Permit2AmountMismatch,
        ),
        (
            "an expired deadline",
            resigned(&payment, |a| a.deadline = U256::from(NOW + 5)),
            offered.clone(),
            ErrorReason::Permit2DeadlineExpired,
        ),
        (
            "not valid yet",
            resigned(&payment, |a| a.witness.valid_after = U256::from(NOW + 1)),
            offered.clone(),
            ErrorReason::Permit2NotYetValid,
        ),
        (
            "an edit after signing",
            with_payload(&payment, |p| p.permit2_authorization.nonce = U256::from(1)),
            offered.clone(),
            ErrorReason::Permit2InvalidSignature,
        ),
        (
            "a signature of the wrong length",
            with_payload(&payment, |p| p.signature = vec![0x1b; 64].into()),
            offered.clone(),
            ErrorReason::Permit2InvalidSignature,
        ),
    ];
    for (what, payment, offered, reason) in cases {
        assert_eq!(full_check(&payment, &offered), Err(reason), "{what}");
    }
}

#[test]
fn a_settlement_may_be_anything_up_to_the_maximum() {
    let payment = paid();
    let settle = |amount: &str| {
        let requirements = PaymentRequirements { amount: amount.into(), ..requirements() };
        upto::check_settlement(&payment, &requirements).map(|(_, amount)| amount)
    };
    assert_eq!(settle("0"), Ok(U256::ZERO));
    assert_eq!(settle("2500"), Ok(U256::from(2_500)));
    assert_eq!(settle("10000"), Ok(U256::from(10_000)));
    assert_eq!(settle("10001"), Err(ErrorReason::UptoEvmSettlementExceedsAmount));
    assert_eq!(settle("-1"), Err(ErrorReason::InvalidPaymentRequirements));
}

#[test]
fn usage_reports_read_as_the_official_server_reads_them() {
    let max = U256::from(10_000);
    assert_eq!(upto::settlement_override(r#"{"amount":"1234"}"#, max), Ok(U256::from(1_234)));
    assert_eq!(upto::settlement_override(r#"{"amount":"0"}"#, max), Ok(U256::ZERO));
    assert_eq!(upto::settlement_override(r#"{"amount":"50%"}"#, max), Ok(U256::from(5_000)));
    assert_eq!(upto::settlement_override(r#"{"amount":"33.33%"}"#, U256::from(100)), Ok(U256::from(33)));
    assert_eq!(upto::settlement_override(r#"{"amount":"20000"}"#, max), Ok(U256::from(20_000)), "the caller caps");
    for bad in [r#"{"amount":"$0.01"}"#, r#"{"amount":"1.5"}"#, r#"{"amount":"1.234%"}"#, "1234", r#"{"amount":-1}"#] {
        assert!(upto::settlement_override(bad, max).is_err(), "{bad}");
    }
}
