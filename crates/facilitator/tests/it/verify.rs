use crate::{PRICE, TIMEOUT, World, request};
use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use quittance_facilitator::registry_invoice;
use quittance_x402::{ErrorReason, VerifyResponse, exact::ExactEvmPayload, invoice::InvoiceTerms};

fn refused(response: &VerifyResponse) -> &ErrorReason {
    assert!(!response.is_valid, "expected a refusal: {response:?}");
    response.invalid_reason.as_ref().expect("a reason")
}

#[tokio::test]
async fn valid_exact_and_invoice_payments_verify_and_the_facilitator_says_what_it_serves() -> eyre::Result<()> {
    let world = World::new().await?;
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let payment = world.pay_exact(&option, &world.agent).await?;
    let response = world.facilitator.verify(&request(payment, option)).await;
    assert!(response.is_valid, "{response:?}");
    assert_eq!(response.payer, Some(world.agent.address().to_checksum(None)));

    let (_, option) = world.invoice_option("order 1").await?;
    let payment = world.pay_invoice(&option, &world.agent).await?;
    let response = world.facilitator.verify(&request(payment, option)).await;
    assert!(response.is_valid, "{response:?}");

    let supported = world.facilitator.supported();
    let kinds: Vec<_> = supported.kinds.iter().map(|k| (k.scheme.as_str(), k.network.as_str())).collect();
    assert_eq!(
        kinds,
        [("exact", "eip155:31337"), ("invoice", "eip155:31337"), ("channel", "eip155:31337"), ("upto", "eip155:31337")]
    );
    // `upto` names the account that may settle, as the official facilitator does.
    let upto = &supported.kinds[3].extra.as_ref().expect("upto's extra")["facilitatorAddress"];
    assert_eq!(upto, &serde_json::json!(world.facilitator.address().to_checksum(None)));
    assert_eq!(supported.signers["eip155:*"], [world.facilitator.address().to_checksum(None)]);
    Ok(())
}

#[tokio::test]
async fn requests_the_facilitator_does_not_serve_are_refused() -> eyre::Result<()> {
    let world = World::new().await?;
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let payment = world.pay_exact(&option, &world.agent).await?;

    let mut v1 = request(payment.clone(), option.clone());
    v1.x402_version = 1;
    assert_eq!(refused(&world.facilitator.verify(&v1).await), &ErrorReason::InvalidX402Version);

    let mut other_network = option.clone();
    other_network.network = "eip155:1".into();
    let response = world.facilitator.verify(&request(payment.clone(), other_network)).await;
    assert_eq!(refused(&response), &ErrorReason::InvalidNetwork);

    let mut unknown = option;
    unknown.scheme = "stream".into();
    assert_eq!(refused(&world.facilitator.verify(&request(payment, unknown)).await), &ErrorReason::UnsupportedScheme);
    Ok(())
}

#[tokio::test]
async fn an_asset_without_code_is_refused() -> eyre::Result<()> {
    let world = World::new().await?;
    let option = world.exact_option(Address::repeat_byte(0x42), "USD Coin");
    let payment = world.pay_exact(&option, &world.agent).await?;
    let response = world.facilitator.verify(&request(payment, option)).await;
    assert_eq!(refused(&response), &ErrorReason::AssetNotDeployedContract);
    assert_eq!(response.payer, Some(world.agent.address().to_checksum(None)));
    Ok(())
}

#[tokio::test]
async fn a_payer_without_funds_is_refused_for_both_schemes() -> eyre::Result<()> {
    let world = World::new().await?;
    let pauper = PrivateKeySigner::random();
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let payment = world.pay_exact(&option, &pauper).await?;
    let response = world.facilitator.verify(&request(payment, option)).await;
    assert_eq!(refused(&response), &ErrorReason::ExactEvmInsufficientBalance);

    let (_, option) = world.invoice_option("order 2").await?;
    let payment = world.pay_invoice(&option, &pauper).await?;
    let response = world.facilitator.verify(&request(payment, option)).await;
    assert_eq!(refused(&response), &ErrorReason::ExactEvmInsufficientBalance);
    Ok(())
}

#[tokio::test]
async fn a_settled_authorization_is_refused_as_nonce_already_used() -> eyre::Result<()> {
    let world = World::new().await?;
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let payment = world.pay_exact(&option, &world.agent).await?;
    let exact: ExactEvmPayload = serde_json::from_value(payment.payload.clone())?;
    let a = &exact.authorization;
    world
        .token
        .transferWithAuthorization_0(
            a.from,
            a.to,
            a.value,
            a.valid_after,
            a.valid_before,
            a.nonce,
            exact.signature.clone(),
        )
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));

    let response = world.facilitator.verify(&request(payment, option)).await;
    assert_eq!(refused(&response), &ErrorReason::ExactEvmNonceAlreadyUsed);
    Ok(())
}

#[tokio::test]
async fn an_offer_with_the_wrong_token_domain_is_explained() -> eyre::Result<()> {
    let world = World::new().await?;
    // The seller advertises the token under another EIP-712 name; the agent signs for it; the token refuses.
    let option = world.exact_option(*world.token.address(), "USDC");
    let payment = world.pay_exact(&option, &world.agent).await?;
    let response = world.facilitator.verify(&request(payment, option)).await;
    assert_eq!(refused(&response), &ErrorReason::ExactEvmTokenNameMismatch);
    Ok(())
}

#[tokio::test]
async fn paid_and_cancelled_invoices_are_refused() -> eyre::Result<()> {
    let world = World::new().await?;

    // Paid: a first payment settles through the registry; the same invoice cannot be verified again.
    let (_, option) = world.invoice_option("order 3").await?;
    let payment = world.pay_invoice(&option, &world.agent).await?;
    let terms = InvoiceTerms::from_requirements(&option).map_err(|r| eyre::eyre!("{r}"))?;
    let exact: ExactEvmPayload = serde_json::from_value(payment.payload.clone())?;
    let a = &exact.authorization;
    world
        .registry
        .payWithAuthorization(
            registry_invoice(&terms.invoice),
            terms.issuer_signature.clone(),
            a.from,
            a.valid_after,
            a.valid_before,
            exact.signature.clone(),
        )
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    let response = world.facilitator.verify(&request(payment, option)).await;
    assert_eq!(refused(&response), &ErrorReason::InvoiceAlreadyPaid);

    // Cancelled by its issuer before anyone paid.
    let (the_invoice, option) = world.invoice_option("order 4").await?;
    let payment = world.pay_invoice(&option, &world.agent).await?;
    quittance_bindings::InvoiceRegistry::new(*world.registry.address(), world.seller_rpc.clone())
        .cancel(registry_invoice(&the_invoice))
        .send()
        .await?
        .with_timeout(TIMEOUT)
        .get_receipt()
        .await?;
    let response = world.facilitator.verify(&request(payment, option)).await;
    assert_eq!(refused(&response), &ErrorReason::InvoiceCancelled);
    Ok(())
}

#[tokio::test]
async fn an_invoice_the_payer_would_pay_to_itself_is_refused() -> eyre::Result<()> {
    let world = World::new().await?;
    let (mut the_invoice, _) = world.invoice_option("self").await?;
    the_invoice.payee = world.agent.address();
    let option =
        quittance_x402::invoice::offer(the_invoice, *world.registry.address(), "USD Coin", "2", 120, &world.seller)?;
    let payment = world.pay_invoice(&option, &world.agent).await?;
    let response = world.facilitator.verify(&request(payment, option)).await;
    assert_eq!(refused(&response), &ErrorReason::InvoiceTerms);
    Ok(())
}
