use alloy::{
    primitives::{Address, U256, address, b256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, Scheme, eip2612_gas_sponsoring as sponsoring, exact,
    exact_permit2::{self, ExactPermit2Payload, PermitWitnessTransferFrom},
    permit2,
};
use serde_json::json;

const NOW: u64 = 1_750_000_000;
const TOKEN: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
const SELLER: Address = address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906");
const OTHER: Address = address!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
const NONCE: U256 = U256::from_limbs([123_456_789, 0, 0, 0]);

fn requirements() -> PaymentRequirements {
    serde_json::from_value(json!({
        "scheme": "exact", "network": "eip155:31337", "amount": "10000", "asset": TOKEN.to_checksum(None),
        "payTo": SELLER.to_checksum(None), "maxTimeoutSeconds": 120,
        "extra": {"assetTransferMethod": "permit2", "name": "Dollar", "version": "1"}
    }))
    .expect("valid requirements")
}

fn payer() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&b256!("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"))
        .expect("valid key")
}

fn paid() -> PaymentPayload {
    let signer = payer();
    exact_permit2::pay(&requirements(), None, &signer, signer.address(), NOW, NONCE).expect("signs")
}

fn sponsored(payment: &PaymentPayload, edit: impl FnOnce(&mut sponsoring::Info)) -> PaymentPayload {
    let signer = payer();
    let mut info = sponsoring::sign(
        &signer,
        signer.address(),
        TOKEN,
        "Dollar",
        "1",
        31337,
        U256::ZERO,
        U256::from(NOW + 120),
        U256::from(10_000),
    )
    .expect("signs");
    edit(&mut info);
    let mut payment = payment.clone();
    sponsoring::attach(&mut payment, &info);
    payment
}

fn with_payload(payment: &PaymentPayload, edit: impl FnOnce(&mut ExactPermit2Payload)) -> PaymentPayload {
    let mut payload: ExactPermit2Payload = serde_json::from_value(payment.payload.clone()).expect("permit2 payload");
    edit(&mut payload);
    PaymentPayload { payload: serde_json::to_value(payload).expect("serializes"), ..payment.clone() }
}

/// Edits the permit and signs it again, so that only the edit is wrong.
fn resigned(payment: &PaymentPayload, edit: impl FnOnce(&mut exact_permit2::Permit2Authorization)) -> PaymentPayload {
    with_payload(payment, |p| {
        edit(&mut p.permit2_authorization);
        let message = PermitWitnessTransferFrom::from(&p.permit2_authorization);
        p.signature =
            payer().sign_typed_data_sync(&message, &permit2::permit2_domain(31337)).expect("signs").as_bytes().into();
    })
}

fn full_check(payment: &PaymentPayload, offered: &PaymentRequirements) -> Result<(), ErrorReason> {
    exact_permit2::check(payment, offered, NOW)?.check_eoa_signature()
}

#[test]
fn the_signing_hash_and_the_eip2612_signature_are_the_official_sdks() {
    // viem's hashTypedData of the same message with the SDK's `permit2WitnessTypes`.
    let checked = exact_permit2::check(&paid(), &requirements(), NOW).expect("valid");
    assert_eq!(checked.signing_hash(), b256!("0xead6fae6aad0a162c740b7ae1be7cba1cd233cd298813a2806b3b9cecbd8a10e"));
    // viem's signTypedData of the same EIP-2612 permit (RFC 6979 signatures are deterministic).
    let info =
        sponsored(&paid(), |_| {}).extensions.expect("extensions")[sponsoring::EIP2612_GAS_SPONSORING]["info"].clone();
    assert_eq!(
        info["signature"],
        "0x460ab326622d3e51289ef8f5a274523572ef212fbf9f338bccd0d732478717f001c42e2ede49489552b482b064f0feccf4a114c74d0708ba177dfe5e5eb00a4d1c"
    );
}

#[test]
fn a_signed_payment_has_the_sdks_wire_form_and_passes_every_offline_check() {
    let payment = paid();
    assert_eq!(payment.accepted, requirements(), "the chosen option is echoed unchanged");
    let hex = |address: Address| json!(address.to_checksum(None));
    let a = &payment.payload["permit2Authorization"];
    assert_eq!(a["from"], hex(payer().address()));
    assert_eq!(a["permitted"], json!({"token": hex(TOKEN), "amount": "10000"}));
    assert_eq!(a["spender"], hex(exact_permit2::EXACT_PROXY_ADDRESS));
    assert_eq!(a["nonce"], json!("123456789"));
    assert_eq!(a["deadline"], json!((NOW + 120).to_string()));
    assert_eq!(a["witness"], json!({"to": hex(SELLER), "validAfter": "0"}));
    let checked = exact_permit2::check(&payment, &requirements(), NOW).expect("valid");
    checked.check_eoa_signature().expect("signed by the payer");
    assert_eq!(checked.sponsored, None);
    // Not an EIP-3009 payment: `exact::pay` and `exact::check` leave it to this module.
    assert!(exact::pay(&requirements(), None, &payer(), payer().address(), NOW, Default::default()).is_err());
    assert_eq!(Scheme::Exact.used_reason_for(&requirements()), ErrorReason::Permit2InvalidNonce);
    let mut eip3009 = requirements();
    eip3009.extra.remove(exact_permit2::ASSET_TRANSFER_METHOD);
    assert_eq!(Scheme::Exact.used_reason_for(&eip3009), ErrorReason::ExactEvmNonceAlreadyUsed);
}

#[test]
fn an_eip2612_permit_travels_in_the_sdks_extension_and_is_checked() {
    let payment = sponsored(&paid(), |_| {});
    let info = &payment.extensions.as_ref().expect("extensions")["eip2612GasSponsoring"]["info"];
    assert_eq!(info["from"], json!(payer().address().to_checksum(None)));
    assert_eq!(info["spender"], json!("0x000000000022D473030F116dDEE9F6B43aC78BA3"));
    assert_eq!(
        (info["amount"].clone(), info["nonce"].clone(), info["version"].clone()),
        (json!("10000"), json!("0"), json!("1"))
    );
    let checked = exact_permit2::check(&payment, &requirements(), NOW).expect("valid");
    let permit = checked.sponsored.expect("carried");
    assert_eq!((permit.from, permit.asset, permit.amount), (payer().address(), TOKEN, U256::from(10_000)));
    let digest = permit.signing_hash("Dollar", "1", 31337);
    let signature = alloy::primitives::Signature::new(permit.r.into(), permit.s.into(), permit.v == 28);
    assert_eq!(signature.recover_address_from_prehash(&digest).expect("recovers"), payer().address());
    // A permit missing a field is no permit (the SDK settles without it).
    let incomplete = sponsored(&paid(), |i| i.nonce.clear());
    assert_eq!(exact_permit2::check(&incomplete, &requirements(), NOW).expect("valid").sponsored, None);
    assert!(sponsoring::declared(Some(&serde_json::Map::from_iter([(
        sponsoring::EIP2612_GAS_SPONSORING.to_owned(),
        sponsoring::declare()
    )]))));
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
        (
            "upto requirements",
            payment.clone(),
            other(|r| r.scheme = "upto".into()),
            ErrorReason::UnsupportedPayloadType,
        ),
        (
            "EIP-3009 requirements",
            payment.clone(),
            other(|r| {
                r.extra.remove("assetTransferMethod");
            }),
            ErrorReason::UnsupportedPayloadType,
        ),
        (
            "another network",
            payment.clone(),
            other(|r| r.network = "eip155:1".into()),
            ErrorReason::ExactEvmNetworkMismatch,
        ),
        (
            "an EIP-3009 payload",
            PaymentPayload { payload: json!({"signature": "0x", "authorization": {}}), ..payment.clone() },
            offered.clone(),
            ErrorReason::UnsupportedPayloadType,
        ),
        (
            "the upto proxy as spender",
            resigned(&payment, |a| a.spender = quittance_x402::upto::UPTO_PROXY_ADDRESS),
            offered.clone(),
            ErrorReason::Permit2InvalidSpender,
        ),
        (
            "another payee in the witness",
            resigned(&payment, |a| a.witness.to = OTHER),
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
            "less than the amount",
            resigned(&payment, |a| a.permitted.amount = U256::from(9_999)),
            offered.clone(),
            ErrorReason::Permit2AmountMismatch,
        ),
        (
            "more than the amount",
            resigned(&payment, |a| a.permitted.amount = U256::from(10_001)),
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
            "signed by someone else",
            with_payload(&payment, |p| p.permit2_authorization.from = OTHER),
            offered.clone(),
            ErrorReason::Permit2InvalidSignature,
        ),
        (
            "a signature of the wrong length",
            with_payload(&payment, |p| p.signature = vec![0x1b; 64].into()),
            offered.clone(),
            ErrorReason::Permit2InvalidSignature,
        ),
        (
            "an EIP-2612 permit of someone else",
            sponsored(&payment, |i| i.from = OTHER.to_checksum(None)),
            offered.clone(),
            ErrorReason::Eip2612FromMismatch,
        ),
        (
            "an EIP-2612 permit of another token",
            sponsored(&payment, |i| i.asset = SELLER.to_checksum(None)),
            offered.clone(),
            ErrorReason::Eip2612AssetMismatch,
        ),
        (
            "an EIP-2612 permit to another spender",
            sponsored(&payment, |i| i.spender = exact_permit2::EXACT_PROXY_ADDRESS.to_checksum(None)),
            offered.clone(),
            ErrorReason::Eip2612SpenderNotPermit2,
        ),
        (
            "an expired EIP-2612 permit",
            sponsored(&payment, |i| i.deadline = (NOW + 5).to_string()),
            offered.clone(),
            ErrorReason::Eip2612DeadlineExpired,
        ),
        (
            "an EIP-2612 amount that is not a number",
            sponsored(&payment, |i| i.amount = "-1".into()),
            offered.clone(),
            ErrorReason::InvalidEip2612ExtensionFormat,
        ),
        (
            "an EIP-2612 address that is not one",
            sponsored(&payment, |i| i.from = "0x1234".into()),
            offered.clone(),
            ErrorReason::InvalidEip2612ExtensionFormat,
        ),
        (
            "an EIP-2612 signature that is not hex",
            sponsored(&payment, |i| i.signature = "0xzz".into()),
            offered.clone(),
            ErrorReason::InvalidEip2612ExtensionFormat,
        ),
        (
            "an EIP-2612 version that is not one",
            sponsored(&payment, |i| i.version = "v1".into()),
            offered.clone(),
            ErrorReason::InvalidEip2612ExtensionFormat,
        ),
    ];
    for (what, payment, offered, reason) in cases {
        assert_eq!(full_check(&payment, &offered), Err(reason), "{what}");
    }
}

#[test]
fn permit2_nonces_sit_in_words_of_256() {
    let (word, bit) = permit2::nonce_position(NONCE);
    assert_eq!(word, NONCE >> 8);
    assert_eq!(bit, U256::from(1) << (123_456_789 % 256));
}
