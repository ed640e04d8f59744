use alloy::{
    primitives::{Address, U256, address, b256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo,
    crosschain::{self, CrossChainPayload, CrossChainTerms, Lane},
    invoice::{self, Invoice, PayError},
};
use serde_json::json;

const NOW: u64 = 1_750_000_000;
const URL: &str = "https://b.example/report";
const SOURCE: &str = "eip155:31337";
const SOURCE_TOKEN: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
const DESTINATION_TOKEN: Address = address!("0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0");
const REGISTRY: Address = address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
const PAYEE: Address = address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906");
const LANE: Lane = Lane {
    sender: address!("0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"),
    destination_chain_selector: 16_015_286_601_757_825_753,
    receiver: address!("0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9"),
    gas_limit: 500_000,
};

fn seller() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256("seller")).expect("valid key")
}

fn agent() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256("agent")).expect("valid key")
}

fn resource() -> ResourceInfo {
    ResourceInfo { url: URL.into(), description: None, mime_type: None }
}

/// An invoice on chain 1337 (the destination), in the destination's token.
fn the_invoice() -> Invoice {
    Invoice {
        issuer: seller().address(),
        payee: PAYEE,
        token: DESTINATION_TOKEN,
        amount: U256::from(2_500_000u64),
        deadline: U256::from(NOW + 600),
        resource: invoice::resource_hash(URL),
        network: "eip155:1337".into(),
        salt: b256!("0x0000000000000000000000000000000000000000000000000000000000000007"),
    }
}

fn offered(invoice: Invoice) -> PaymentRequirements {
    crosschain::offer(invoice, REGISTRY, SOURCE, SOURCE_TOKEN, "Quittance USD", "1", LANE, 120, &seller())
        .expect("seller signs")
}

fn paid(requirements: &PaymentRequirements) -> PaymentPayload {
    let agent = agent();
    crosschain::pay(requirements, &resource(), &agent, agent.address(), NOW).expect("agent pays")
}

/// Rewrites the payload's JSON.
fn tampered(payment: &PaymentPayload, edit: impl FnOnce(&mut serde_json::Value)) -> PaymentPayload {
    let mut payment = payment.clone();
    edit(&mut payment.payload);
    payment
}

#[test]
fn the_option_is_of_the_source_network_and_carries_the_destination_invoice_and_lane() {
    let requirements = offered(the_invoice());
    assert_eq!(requirements.scheme, "cross-chain-invoice");
    assert_eq!(requirements.network, SOURCE);
    assert_eq!(requirements.asset, SOURCE_TOKEN.to_checksum(None));
    assert_eq!(requirements.pay_to, PAYEE.to_checksum(None));
    assert_eq!(requirements.amount, "2500000");
    assert_eq!(
        requirements.extra["destinationChainSelector"],
        json!("16015286601757825753"),
        "a string: JSON numbers lose it"
    );
    let terms = CrossChainTerms::from_requirements(&requirements).expect("well formed");
    assert_eq!(terms.destination_chain_id, 1337);
    assert_eq!(terms.lane, LANE);
    assert_eq!(
        terms.invoice.invoice_id,
        the_invoice().id(1337, REGISTRY),
        "the id in the destination registry's domain"
    );
    terms.invoice.check_issuer().expect("signed by the seller");
}

#[test]
fn the_agent_authorizes_the_sender_with_a_nonce_binding_lane_invoice_payer_and_refund_address() {
    let requirements = offered(the_invoice());
    let payment = paid(&requirements);
    let checked = crosschain::check(&payment, &requirements, NOW).expect("valid");
    checked.check_eoa_signature().expect("signed by the agent");
    let a = &checked.authorization;
    assert_eq!((a.from, a.to, a.value), (agent().address(), LANE.sender, U256::from(2_500_000u64)));
    assert_eq!(checked.payment.refundTo, agent().address(), "refunds go back to the agent");
    assert_eq!(a.nonce, checked.terms.payment_nonce(&checked.payment));

    // Another lane, refund address or invoice is another nonce.
    let mut other = checked.terms.clone();
    other.lane.receiver = Address::repeat_byte(9);
    assert_ne!(other.payment_nonce(&checked.payment), a.nonce);
    other = checked.terms.clone();
    other.lane.destination_chain_selector += 1;
    assert_ne!(other.payment_nonce(&checked.payment), a.nonce);
    other = checked.terms.clone();
    other.lane.gas_limit -= 1;
    assert_ne!(other.payment_nonce(&checked.payment), a.nonce, "the gas limit is signed too");
    let redirected = checked.terms.payment(agent().address(), Address::repeat_byte(7));
    assert_ne!(checked.terms.payment_nonce(&redirected), a.nonce);
}

#[test]
fn only_the_payers_signature_for_the_source_chain_and_token_is_accepted() {
    let requirements = offered(the_invoice());
    let payment = paid(&requirements);
    let check = |payment: &PaymentPayload, requirements: &PaymentRequirements| {
        crosschain::check(payment, requirements, NOW)?.check_eoa_signature()
    };
    check(&payment, &requirements).expect("the payer's own signature");

    // Someone else's signature of the same authorization.
    let impostor = PrivateKeySigner::from_bytes(&keccak256("impostor")).expect("valid key");
    let forged = crosschain::pay(&requirements, &resource(), &impostor, agent().address(), NOW).expect("signs");
    assert_eq!(check(&forged, &requirements).expect_err("refused"), ErrorReason::ExactEvmSignature);

    // The same signature presented for another source chain or another token's domain.
    for (network, asset, name) in [
        ("eip155:8453", SOURCE_TOKEN, "Quittance USD"),
        (SOURCE, Address::repeat_byte(4), "Quittance USD"),
        (SOURCE, SOURCE_TOKEN, "USD Coin"),
    ] {
        let mut elsewhere = requirements.clone();
        elsewhere.network = network.into();
        elsewhere.asset = asset.to_checksum(None);
        elsewhere.extra.insert("name".into(), json!(name));
        let mut moved = payment.clone();
        moved.accepted = elsewhere.clone();
        assert_eq!(check(&moved, &elsewhere).expect_err("refused"), ErrorReason::ExactEvmSignature, "{network}");
    }
}

#[test]
fn a_relayer_cannot_redirect_the_refund_or_the_money() {
    let requirements = offered(the_invoice());
    let payment = paid(&requirements);
    let refund_elsewhere = tampered(&payment, |p| p["refundTo"] = json!(Address::repeat_byte(7)));
    assert_eq!(
        crosschain::check(&refund_elsewhere, &requirements, NOW).expect_err("refused"),
        ErrorReason::InvoiceNonceMismatch
    );
    let to_elsewhere = tampered(&payment, |p| p["authorization"]["to"] = json!(Address::repeat_byte(7)));
    assert_eq!(
        crosschain::check(&to_elsewhere, &requirements, NOW).expect_err("refused"),
        ErrorReason::ExactEvmRecipientMismatch
    );
    let less = tampered(&payment, |p| p["authorization"]["value"] = json!("1"));
    assert_eq!(crosschain::check(&less, &requirements, NOW).expect_err("refused"), ErrorReason::ExactEvmValueMismatch);
    let no_refund = tampered(&payment, |p| p["refundTo"] = json!(Address::ZERO));
    assert_eq!(crosschain::check(&no_refund, &requirements, NOW).expect_err("refused"), ErrorReason::InvalidPayload);
    let garbage = tampered(&payment, |p| *p = json!({"signature": "0x00"}));
    assert_eq!(crosschain::check(&garbage, &requirements, NOW).expect_err("refused"), ErrorReason::InvalidPayload);
    // A payer other than the signer: the nonce names the signer, so the signature no longer matches.
    let other_payer = tampered(&payment, |p| p["authorization"]["from"] = json!(Address::repeat_byte(5)));
    assert!(crosschain::check(&other_payer, &requirements, NOW).is_err_and(|e| e == ErrorReason::InvoiceNonceMismatch));
}

#[test]
fn options_that_disagree_with_their_invoice_are_refused() {
    let base = offered(the_invoice());
    let mut cheaper = base.clone();
    cheaper.amount = "1".into();
    assert_eq!(CrossChainTerms::from_requirements(&cheaper).expect_err("refused"), ErrorReason::InvoiceTerms);
    let mut elsewhere = base.clone();
    elsewhere.pay_to = Address::repeat_byte(3).to_checksum(None);
    assert_eq!(CrossChainTerms::from_requirements(&elsewhere).expect_err("refused"), ErrorReason::InvoiceTerms);
    // An invoice on the source network itself is the `invoice` scheme, not this one.
    let same_chain = offered(Invoice { network: SOURCE.into(), ..the_invoice() });
    assert_eq!(CrossChainTerms::from_requirements(&same_chain).expect_err("refused"), ErrorReason::InvoiceTerms);
    let mut bad_selector = base.clone();
    bad_selector.extra.insert("destinationChainSelector".into(), json!("minus one"));
    assert_eq!(CrossChainTerms::from_requirements(&bad_selector).expect_err("refused"), ErrorReason::InvoiceTerms);
    // The facilitator pays the CCIP fee, which grows with the receiver's gas: an option cannot ask for more
    // than CCIP's ceiling, nor for none.
    for gas in [crosschain::MAX_GAS_LIMIT + 1, 0] {
        let mut greedy = base.clone();
        greedy.extra.insert("gasLimit".into(), json!(gas));
        assert_eq!(CrossChainTerms::from_requirements(&greedy).expect_err("refused"), ErrorReason::InvoiceTerms);
    }
    let mut no_lane = base.clone();
    no_lane.extra.remove("receiver");
    assert_eq!(CrossChainTerms::from_requirements(&no_lane).expect_err("refused"), ErrorReason::InvoiceTerms);
    let mut wrong_scheme = base;
    wrong_scheme.scheme = "invoice".into();
    assert_eq!(CrossChainTerms::from_requirements(&wrong_scheme).expect_err("refused"), ErrorReason::UnsupportedScheme);
}

#[test]
fn the_agent_refuses_forged_foreign_or_stale_invoices() {
    let mut forged = offered(the_invoice());
    let impostor = PrivateKeySigner::from_bytes(&keccak256("impostor")).expect("valid key");
    let signature = impostor.sign_hash_sync(&the_invoice().id(1337, REGISTRY)).expect("signs");
    forged.extra.insert("signature".into(), json!(alloy::primitives::Bytes::from(signature.as_bytes().to_vec())));
    let refused = |requirements: &PaymentRequirements, now: u64| match crosschain::pay(
        requirements,
        &resource(),
        &agent(),
        agent().address(),
        now,
    ) {
        Err(PayError::Refused(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refused(&forged, NOW), ErrorReason::InvoiceIssuerSignature);
    let other_resource =
        offered(Invoice { resource: invoice::resource_hash("https://b.example/other"), ..the_invoice() });
    assert_eq!(refused(&other_resource, NOW), ErrorReason::InvoiceResourceMismatch);
    assert_eq!(refused(&offered(the_invoice()), NOW + 600), ErrorReason::InvoiceExpired);
    // And a facilitator refuses a forged invoice before any chain is asked.
    let payment = paid(&offered(the_invoice()));
    assert_eq!(crosschain::check(&payment, &forged, NOW).expect_err("refused"), ErrorReason::InvoiceIssuerSignature);
    // An authorization that outlived the invoice is refused as expired.
    assert_eq!(
        crosschain::check(&payment, &offered(the_invoice()), NOW + 598).expect_err("refused"),
        ErrorReason::InvoiceExpired
    );
}

#[test]
fn the_payload_round_trips_with_the_refund_address() {
    let payment = paid(&offered(the_invoice()));
    let payload: CrossChainPayload = serde_json::from_value(payment.payload.clone()).expect("a cross-chain payload");
    assert_eq!(payload.refund_to, agent().address());
    assert_eq!(serde_json::to_value(&payload).expect("serializes"), payment.payload);
}

/// The vector `test/CrossChainInvoicePayer/paymentNonce.t.sol` checks `CrossChainInvoicePayer.paymentNonce`
/// against: the same payment through the same lane gives the same nonce in Rust and in Solidity.
#[test]
fn the_payment_nonce_is_the_contracts() {
    let payment = crosschain::CrossChainPayment {
        invoice: Invoice { issuer: address!("0x1111111111111111111111111111111111111111"), ..the_invoice() },
        issuerSignature: vec![0xab; 65].into(),
        payer: address!("0x2222222222222222222222222222222222222222"),
        refundTo: address!("0x3333333333333333333333333333333333333333"),
    };
    assert_eq!(
        LANE.payment_nonce(&payment),
        b256!("0xebdbcf29ace00d4ae072a92926d40d4618e6b8541fcc3e2e3ea84bcfffaec6b4")
    );
}
