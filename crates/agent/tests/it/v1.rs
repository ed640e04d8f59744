//! The agent pays a server that speaks x402 v1 only (its offer in the 402's JSON body, the payment in
//! `X-PAYMENT`, the receipt in `X-PAYMENT-RESPONSE`): our paywall on Base Sepolia's chain id (v1 names
//! networks; the in-process chain takes any id) behind a proxy that takes the v2 headers out.

use super::local::{Fate, Local, PRICE, Proxy};
use alloy::primitives::U256;
use quittance_agent::{AgentError, SpendRecord, SpendState};
use quittance_x402::{ErrorReason, PAYMENT_SIGNATURE, PaymentPayloadV1, X_PAYMENT, decode_header};
use std::sync::{Arc, atomic::Ordering};

/// Base Sepolia's chain id; its v1 name is `base-sepolia`.
const BASE_SEPOLIA: u64 = 84_532;

#[tokio::test]
async fn a_v1_server_is_paid_in_v1_form_once_and_a_lost_answer_gets_the_same_payment() -> eyre::Result<()> {
    let local = Local::on_chain(BASE_SEPOLIA).await?;
    let proxy = Proxy::v1_only([Fate::LoseAnswer]);
    let (base, served) = local.serve(proxy.clone()).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_without_chain(&local.agent_key(), &record, local.policy(10 * PRICE));
    let before = local.balance(local.agent.address()).await?;

    let paid = agent.get(&format!("{base}/exact")).await?;
    assert_eq!(paid.response.status(), 200);
    // Sent in v1 form, the network under its v1 name; no v2 header.
    assert!(!paid.sent.contains_key(PAYMENT_SIGNATURE));
    let header = paid.sent.get(X_PAYMENT).expect("an X-PAYMENT header").to_str()?;
    let v1: PaymentPayloadV1 = decode_header(header)?;
    assert_eq!((v1.x402_version, v1.scheme.as_str(), v1.network.as_str()), (1, "exact", "base-sepolia"));
    // The receipt came in X-PAYMENT-RESPONSE, read in v2 form.
    let receipt = paid.receipt.expect("the receipt");
    assert!(receipt.success);
    assert_eq!(receipt.network, format!("eip155:{BASE_SEPOLIA}"));
    assert_eq!(paid.state, Some(SpendState::Settled));

    // The first answer was lost: the same payment went again, and the handler ran once.
    assert_eq!(proxy.payments.lock().expect("the lock").len(), 2);
    assert_eq!(proxy.distinct(), 1);
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert_eq!(local.balance(local.agent.address()).await?, before - U256::from(PRICE));
    assert_eq!(local.balance(local.payee).await?, U256::from(PRICE));
    assert_eq!(local.transfers_from(local.agent.address()).await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_v1_refusal_is_read_from_the_body_and_a_used_nonce_leaves_the_payment_in_doubt() -> eyre::Result<()> {
    let local = Local::on_chain(BASE_SEPOLIA).await?;
    let record = Arc::new(SpendRecord::in_memory()?);
    let agent = local.agent_without_chain(&local.agent_key(), &record, local.policy(10 * PRICE));

    // A verification failure in the body proves nothing was taken: refused with the server's reason.
    let proxy = Proxy::v1_only([Fate::Refuse("invalid_exact_evm_signature")]);
    let (base, served) = local.serve(proxy).await?;
    let err = agent.get(&format!("{base}/exact")).await.expect_err("refused");
    assert!(matches!(err, AgentError::Refused(ErrorReason::ExactEvmSignature)), "{err:?}");

    // "Nonce already used" may mean our own payment landed: in doubt, never a second payment.
    let proxy = Proxy::v1_only([Fate::Refuse("invalid_exact_evm_nonce_already_used")]);
    let (base, _) = local.serve(proxy.clone()).await?;
    let err = agent.get(&format!("{base}/exact")).await.expect_err("in doubt");
    assert!(matches!(err, AgentError::InDoubt { .. }), "{err:?}");
    assert_eq!(served.load(Ordering::SeqCst), 0);
    assert_eq!(local.balance(local.payee).await?, U256::ZERO, "nothing was moved yet");

    // The next request sends the payment in doubt again (nothing new is signed), and it buys the answer.
    let paid = agent.get(&format!("{base}/exact")).await?;
    assert_eq!(paid.response.status(), 200);
    assert_eq!(proxy.distinct(), 1, "one payment, sent twice");
    assert_eq!(local.balance(local.payee).await?, U256::from(PRICE), "paid once");
    Ok(())
}
