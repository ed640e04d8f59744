use alloy::{
    primitives::{Address, B256, Bytes, U256, address, b256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements,
    exact::{self, ExactEvmPayload, TransferWithAuthorization},
};
use serde_json::json;

const NOW: u64 = 1_750_000_000;
const TOKEN: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
const SELLER: Address = address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906");
const NONCE: B256 = b256!("0x46da5a3b1ec5e7bb0c4b5b7c7d8a0f7bb0b5a3e2c1d7f0f8e9a6b5c4d3e2f1a0");

fn requirements() -> PaymentRequirements {
    serde_json::from_value(json!({
        "scheme": "exact", "network": "eip155:31337", "amount": "10000", "asset": TOKEN.to_checksum(None),
        "payTo": SELLER.to_checksum(None), "maxTimeoutSeconds": 120, "extra": {"name": "USD Coin", "version": "2"}
    }))
    .expect("valid requirements")
}

fn payer() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&b256!("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"))
        .expect("valid key")
}

fn paid() -> PaymentPayload {
    let signer = payer();
    exact::pay(&requirements(), None, &signer, signer.address(), NOW, NONCE).expect("signs")
}

fn with_payload(payment: &PaymentPayload, edit: impl FnOnce(&mut ExactEvmPayload)) -> PaymentPayload {
    let mut exact: ExactEvmPayload = serde_json::from_value(payment.payload.clone()).expect("exact payload");
    edit(&mut exact);
    PaymentPayload { payload: serde_json::to_value(exact).expect("serializes"), ..payment.clone() }
}

/// Re-signs the payload's authorization with `signer` in `domain_of` requirements' domain.
fn resigned(payment: &PaymentPayload, signer: &PrivateKeySigner, domain_of: &PaymentRequirements) -> PaymentPayload {
    let terms = exact::ExactTerms::from_requirements(domain_of).expect("terms");
    with_payload(payment, |p| {
        let sig = signer
            .sign_typed_data_sync(&TransferWithAuthorization::from(&p.authorization), &terms.domain)
            .expect("signs");
        p.signature = sig.as_bytes().into();
    })
}

fn full_check(payment: &PaymentPayload, offered: &PaymentRequirements, now: u64) -> Result<(), ErrorReason> {
    exact::check(payment, offered, now)?.check_eoa_signature()
}

#[test]
fn a_signed_payment_passes_every_offline_check() {
    let payment = paid();
    assert_eq!(payment.accepted, requirements(), "the chosen option is echoed unchanged");
    let checked = exact::check(&payment, &requirements(), NOW).expect("valid");
    checked.check_eoa_signature().expect("signed by the payer");
    assert_eq!(checked.payer(), payer().address());
    assert_eq!(checked.authorization.to, SELLER);
    assert_eq!(checked.authorization.value, U256::from(10_000u64));
    assert_eq!(checked.authorization.valid_before, U256::from(NOW + 120));
    assert_eq!(checked.authorization.nonce, NONCE);
    // the wire form uses decimal strings, as the official SDK
    assert_eq!(payment.payload["authorization"]["validBefore"], json!((NOW + 120).to_string()));
    assert_eq!(payment.payload["authorization"]["value"], json!("10000"));
}

#[test]
fn wrong_scheme_domain_or_network_is_refused_with_the_sdk_codes() {
    let payment = paid();
    let mut upto = requirements();
    upto.scheme = "upto".into();
    assert_eq!(full_check(&payment, &upto, NOW), Err(ErrorReason::ExactEvmScheme));

    let mut no_domain = requirements();
    no_domain.extra.remove("version");
    assert_eq!(full_check(&payment, &no_domain, NOW), Err(ErrorReason::ExactEvmMissingEip712Domain));

    let mut other_network = requirements();
    other_network.network = "eip155:8453".into();
    assert_eq!(full_check(&payment, &other_network, NOW), Err(ErrorReason::ExactEvmNetworkMismatch));

    let mut not_evm = payment.clone();
    not_evm.accepted.network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp".into();
    let mut offered_not_evm = requirements();
    offered_not_evm.network = not_evm.accepted.network.clone();
    assert_eq!(full_check(&not_evm, &offered_not_evm, NOW), Err(ErrorReason::InvalidNetwork));
}

#[test]
fn malformed_payloads_are_invalid_payloads() {
    for payload in [
        json!({}),
        json!("0x00"),
        json!({"signature": "0x00", "authorization": {"from": "nope"}}),
        json!({"signature": "0x00", "authorization": {"from": SELLER, "to": SELLER, "value": "-1",
            "validAfter": "0", "validBefore": "1", "nonce": NONCE}}),
        json!({"signature": "0x00", "authorization": {"from": SELLER, "to": SELLER, "value": "0x10",
            "validAfter": "0", "validBefore": "1", "nonce": NONCE}}),
    ] {
        let payment = PaymentPayload { payload, ..paid() };
        assert_eq!(full_check(&payment, &requirements(), NOW), Err(ErrorReason::InvalidPayload));
    }
}

#[test]
fn wrong_recipient_amount_or_time_window_is_refused() {
    let payment = paid();
    let other_payee = with_payload(&payment, |p| p.authorization.to = Address::repeat_byte(0xbb));
    assert_eq!(full_check(&other_payee, &requirements(), NOW), Err(ErrorReason::ExactEvmRecipientMismatch));

    let cheaper = with_payload(&payment, |p| p.authorization.value = U256::from(9_999u64));
    assert_eq!(full_check(&cheaper, &requirements(), NOW), Err(ErrorReason::ExactEvmValueMismatch));
    let dearer = with_payload(&payment, |p| p.authorization.value = U256::from(10_001u64));
    assert_eq!(full_check(&dearer, &requirements(), NOW), Err(ErrorReason::ExactEvmValueMismatch));

    // Expired, or expiring within the inclusion margin.
    assert_eq!(full_check(&payment, &requirements(), NOW + 120), Err(ErrorReason::ExactEvmValidBefore));
    assert_eq!(
        full_check(&payment, &requirements(), NOW + 120 - exact::VALID_BEFORE_MARGIN + 1),
        Err(ErrorReason::ExactEvmValidBefore)
    );
    full_check(&payment, &requirements(), NOW + 120 - exact::VALID_BEFORE_MARGIN).expect("just in time");

    let future = with_payload(&payment, |p| p.authorization.valid_after = U256::from(NOW + 60));
    let future = resigned(&future, &payer(), &requirements());
    assert_eq!(full_check(&future, &requirements(), NOW), Err(ErrorReason::ExactEvmValidAfter));
}

#[test]
fn forged_or_misdirected_signatures_are_refused() {
    let payment = paid();

    // Signed by someone else.
    let stranger = PrivateKeySigner::random();
    let forged = resigned(&payment, &stranger, &requirements());
    assert_eq!(full_check(&forged, &requirements(), NOW), Err(ErrorReason::ExactEvmSignature));

    // Signed for another chain id, and for another token's domain.
    let mut other_chain = requirements();
    other_chain.network = "eip155:1".into();
    let wrong_chain = resigned(&payment, &payer(), &other_chain);
    assert_eq!(full_check(&wrong_chain, &requirements(), NOW), Err(ErrorReason::ExactEvmSignature));
    let mut other_token = requirements();
    other_token.extra.insert("name".into(), json!("USDC"));
    let wrong_token = resigned(&payment, &payer(), &other_token);
    assert_eq!(full_check(&wrong_token, &requirements(), NOW), Err(ErrorReason::ExactEvmSignature));

    // Signature kept, terms changed after signing (a larger value is refused earlier by the amount check,
    // so change the nonce).
    let tampered = with_payload(&payment, |p| p.authorization.nonce = B256::repeat_byte(7));
    assert_eq!(full_check(&tampered, &requirements(), NOW), Err(ErrorReason::ExactEvmSignature));
}

#[test]
fn malleable_short_and_odd_v_signatures_are_refused() {
    let payment = paid();
    let signature = |p: &PaymentPayload| -> [u8; 65] {
        let exact: ExactEvmPayload = serde_json::from_value(p.payload.clone()).expect("payload");
        exact.signature.as_ref().try_into().expect("65 bytes")
    };
    let original = signature(&payment);

    // The same signature with s' = n - s and v flipped recovers the same key, but is refused on chain.
    let n = U256::from_be_bytes(b256!("0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141").0);
    let s = U256::from_be_bytes::<32>(original[32..64].try_into().expect("32 bytes"));
    let mut high_s = original;
    high_s[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    high_s[64] = if original[64] == 27 { 28 } else { 27 };
    let malleable = with_payload(&payment, |p| p.signature = Bytes::copy_from_slice(&high_s));
    assert_eq!(full_check(&malleable, &requirements(), NOW), Err(ErrorReason::ExactEvmSignature));

    let mut zero_one_v = original;
    zero_one_v[64] -= 27;
    let odd_v = with_payload(&payment, |p| p.signature = Bytes::copy_from_slice(&zero_one_v));
    assert_eq!(full_check(&odd_v, &requirements(), NOW), Err(ErrorReason::ExactEvmSignature));

    let short = with_payload(&payment, |p| p.signature = Bytes::copy_from_slice(&original[..64]));
    assert_eq!(full_check(&short, &requirements(), NOW), Err(ErrorReason::ExactEvmFailedToParseSignature));
}

#[test]
fn clients_refuse_requirements_they_cannot_pay() {
    let signer = payer();
    let mut bad_amount = requirements();
    bad_amount.amount = "ten".into();
    assert!(exact::pay(&bad_amount, None, &signer, signer.address(), NOW, NONCE).is_err());
    let mut no_domain = requirements();
    no_domain.extra.clear();
    let err = exact::pay(&no_domain, None, &signer, signer.address(), NOW, NONCE).expect_err("no domain");
    assert!(matches!(err, exact::SignError::Requirements(ErrorReason::ExactEvmMissingEip712Domain)));
}

#[test]
fn addresses_are_written_checksummed_and_read_in_any_case() {
    let payment = paid();
    let authorization = &payment.payload["authorization"];
    assert_eq!(authorization["from"], json!(payer().address().to_checksum(None)));
    assert_eq!(authorization["to"], json!(SELLER.to_checksum(None)));
    assert_ne!(authorization["from"], json!(format!("{:#x}", payer().address())), "not lower case");

    let mut lower = payment.payload.clone();
    lower["authorization"]["from"] = json!(format!("{:#x}", payer().address()));
    lower["authorization"]["to"] = json!(format!("{SELLER:#x}"));
    let read: ExactEvmPayload = serde_json::from_value(lower).expect("lower case is read");
    assert_eq!((read.authorization.from, read.authorization.to), (payer().address(), SELLER));
}
