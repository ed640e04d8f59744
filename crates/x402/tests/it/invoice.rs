use alloy::{
    primitives::{Address, B256, U256, address, b256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo,
    exact::ExactEvmPayload,
    invoice::{self, Invoice, InvoiceTerms, PayError},
};

const NOW: u64 = 1_750_000_000;
const URL: &str = "https://api.example/report";
const TOKEN: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
const REGISTRY: Address = address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
const PAYEE: Address = address!("0x90F79bf6EB2c4f870365E785982E1f101E93b906");

fn seller() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256("seller")).expect("valid key")
}

fn agent() -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&keccak256("agent")).expect("valid key")
}

fn resource() -> ResourceInfo {
    ResourceInfo { url: URL.into(), description: Some("a report".into()), mime_type: None }
}

fn the_invoice() -> Invoice {
    Invoice {
        issuer: seller().address(),
        payee: PAYEE,
        token: TOKEN,
        amount: U256::from(10_000u64),
        deadline: U256::from(NOW + 600),
        resource: invoice::resource_hash(URL),
        network: "eip155:31337".into(),
        salt: b256!("0x0000000000000000000000000000000000000000000000000000000000000001"),
    }
}

fn offered(invoice: Invoice) -> PaymentRequirements {
    invoice::offer(invoice, REGISTRY, "USD Coin", "2", 120, &seller()).expect("seller signs")
}

fn paid(requirements: &PaymentRequirements) -> PaymentPayload {
    let agent = agent();
    invoice::pay(requirements, &resource(), &agent, agent.address(), NOW).expect("agent pays")
}

fn full_check(payment: &PaymentPayload, requirements: &PaymentRequirements, now: u64) -> Result<(), ErrorReason> {
    invoice::check(payment, requirements, now)?.check_eoa_signature()
}

#[test]
fn an_offered_invoice_is_paid_with_an_authorization_to_the_registry_bound_to_the_invoice_id() {
    let requirements = offered(the_invoice());
    assert_eq!(requirements.scheme, "invoice");
    assert_eq!(requirements.amount, "10000");
    assert_eq!(requirements.pay_to, PAYEE.to_checksum(None));
    let terms = InvoiceTerms::from_requirements(&requirements).expect("well formed");
    terms.check_issuer().expect("signed by the seller");
    assert_eq!(terms.invoice_id, the_invoice().id(31337, REGISTRY));

    let payment = paid(&requirements);
    let checked = invoice::check(&payment, &requirements, NOW).expect("valid");
    checked.check_eoa_signature().expect("signed by the agent");
    assert_eq!(checked.authorization.to, REGISTRY);
    assert_eq!(checked.authorization.nonce, terms.invoice_id);
    assert_eq!(checked.authorization.value, U256::from(10_000u64));
    assert_eq!(checked.payer(), agent().address());
}

#[test]
fn the_invoice_id_is_bound_to_chain_registry_and_every_field() {
    let base = the_invoice().id(31337, REGISTRY);
    assert_ne!(base, the_invoice().id(1, REGISTRY));
    assert_ne!(base, the_invoice().id(31337, Address::repeat_byte(1)));
    let mut other = the_invoice();
    other.salt = B256::repeat_byte(2);
    assert_ne!(base, other.id(31337, REGISTRY));
}

#[test]
fn agents_refuse_invoices_that_are_forged_inconsistent_for_another_resource_or_too_late() {
    let agent = agent();
    let refused = |requirements: &PaymentRequirements, url: &str, now: u64| {
        let resource = ResourceInfo { url: url.into(), ..resource() };
        match invoice::pay(requirements, &resource, &agent, agent.address(), now) {
            Err(PayError::Refused(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    };

    // A forged seller signature: signed by someone else.
    let stranger = PrivateKeySigner::random();
    let forged = invoice::offer(the_invoice(), REGISTRY, "USD Coin", "2", 120, &stranger).expect("signs");
    assert_eq!(refused(&forged, URL, NOW), ErrorReason::InvoiceIssuerSignature);

    // The option asks for more than the invoice says (a tampered option).
    let mut greedy = offered(the_invoice());
    greedy.amount = "20000".into();
    assert_eq!(refused(&greedy, URL, NOW), ErrorReason::InvoiceTerms);

    // A tampered invoice inside the option: the signature no longer matches.
    let mut tampered = offered(the_invoice());
    tampered.extra["invoice"]["payee"] = serde_json::json!(Address::repeat_byte(9));
    tampered.pay_to = Address::repeat_byte(9).to_checksum(None);
    assert_eq!(refused(&tampered, URL, NOW), ErrorReason::InvoiceIssuerSignature);

    // For another resource, or past its deadline.
    let requirements = offered(the_invoice());
    assert_eq!(refused(&requirements, "https://api.example/other", NOW), ErrorReason::InvoiceResourceMismatch);
    assert_eq!(refused(&requirements, URL, NOW + 600), ErrorReason::InvoiceExpired);

    // Not an invoice option at all.
    let mut exact = requirements;
    exact.scheme = "exact".into();
    assert_eq!(refused(&exact, URL, NOW), ErrorReason::UnsupportedScheme);
}

fn with_payload(payment: &PaymentPayload, edit: impl FnOnce(&mut ExactEvmPayload)) -> PaymentPayload {
    let mut payload: ExactEvmPayload = serde_json::from_value(payment.payload.clone()).expect("payload");
    edit(&mut payload);
    PaymentPayload { payload: serde_json::to_value(payload).expect("serializes"), ..payment.clone() }
}

#[test]
fn facilitators_refuse_payments_that_do_not_pay_the_invoice() {
    let requirements = offered(the_invoice());
    let payment = paid(&requirements);

    let elsewhere = with_payload(&payment, |p| p.authorization.to = PAYEE);
    assert_eq!(full_check(&elsewhere, &requirements, NOW), Err(ErrorReason::ExactEvmRecipientMismatch));
    let other_nonce = with_payload(&payment, |p| p.authorization.nonce = B256::repeat_byte(3));
    assert_eq!(full_check(&other_nonce, &requirements, NOW), Err(ErrorReason::InvoiceNonceMismatch));
    let less = with_payload(&payment, |p| p.authorization.value = U256::from(1u64));
    assert_eq!(full_check(&less, &requirements, NOW), Err(ErrorReason::ExactEvmValueMismatch));
    let late = with_payload(&payment, |p| p.authorization.valid_before = U256::from(NOW + 1));
    assert_eq!(full_check(&late, &requirements, NOW), Err(ErrorReason::ExactEvmValidBefore));

    // Signed by someone other than the payer it names.
    let stranger = PrivateKeySigner::random();
    let forged = with_payload(&payment, |p| {
        let terms = InvoiceTerms::from_requirements(&requirements).expect("terms");
        let message = invoice::ReceiveWithAuthorization {
            from: p.authorization.from,
            to: p.authorization.to,
            value: p.authorization.value,
            validAfter: p.authorization.valid_after,
            validBefore: p.authorization.valid_before,
            nonce: p.authorization.nonce,
        };
        p.signature = stranger.sign_typed_data_sync(&message, &terms.token.domain).expect("signs").as_bytes().into();
    });
    assert_eq!(full_check(&forged, &requirements, NOW), Err(ErrorReason::ExactEvmSignature));

    // A payment for this invoice does not fit another invoice's option.
    let mut second = the_invoice();
    second.salt = B256::repeat_byte(4);
    assert_eq!(full_check(&payment, &offered(second), NOW), Err(ErrorReason::InvoiceNonceMismatch));

    // Past the invoice's deadline.
    assert_eq!(full_check(&payment, &requirements, NOW + 601), Err(ErrorReason::InvoiceExpired));
}
