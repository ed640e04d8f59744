use crate::{PRICE, World, fast, request};
use alloy::{
    primitives::U256,
    providers::{Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use quittance_facilitator::{Entry, Ledger, SettleConfig, SqliteLedger};
use quittance_x402::{ErrorReason, SettleResponse};
use std::{sync::Arc, time::Duration};

fn settled(response: &SettleResponse) -> &str {
    assert!(response.success, "expected a settlement: {response:?}");
    assert!(response.error_reason.is_none());
    &response.transaction
}

/// The answer to a payment settled before: not a success (no server may serve it again), the scheme's
/// "already used" reason, and the transaction that settled it.
pub(crate) fn settled_before(response: &SettleResponse, reason: ErrorReason, tx: &str) {
    assert!(!response.success, "a replay is not a success: {response:?}");
    assert_eq!(response.error_reason, Some(reason));
    assert_eq!(response.transaction, tx);
    assert_eq!(
        response.extra.as_ref().and_then(|e| e.get(quittance_x402::SETTLED_BEFORE)),
        Some(&serde_json::json!(true))
    );
}

#[tokio::test]
async fn an_exact_payment_settles_once_and_a_replay_is_told_it_was_settled_before() -> eyre::Result<()> {
    let world = World::new().await?;
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let payment = world.pay_exact(&option, &world.agent).await?;
    let agent_before = world.token.balanceOf(world.agent.address()).call().await?;

    let first = world.facilitator.settle(&request(payment.clone(), option.clone())).await;
    let tx = settled(&first).to_owned();
    assert_eq!(first.payer, Some(world.agent.address().to_checksum(None)));
    assert_eq!(first.network, "eip155:31337");
    let receipt = world.rpc.get_transaction_receipt(tx.parse()?).await?.expect("mined");
    assert!(receipt.status());
    assert_eq!(receipt.from, world.facilitator.address(), "the facilitator pays the gas");

    // The signed receipt says what was settled, and checks out offline.
    let signed = quittance_x402::receipt::SignedReceipt::from_response(&first)?;
    signed.verify(Some(world.facilitator.address()))?;
    assert_eq!(signed.receipt.transaction, receipt.transaction_hash);
    assert_eq!((signed.receipt.payer, signed.receipt.payee), (world.agent.address(), world.payee));
    assert_eq!(signed.receipt.amount, U256::from(PRICE));
    assert_eq!(signed.receipt.token, *world.token.address());

    let again = world.facilitator.settle(&request(payment, option)).await;
    settled_before(&again, ErrorReason::ExactEvmNonceAlreadyUsed, &tx);
    assert_eq!(
        again.extra.as_ref().and_then(|e| e.get("receipt")),
        first.extra.as_ref().and_then(|e| e.get("receipt"))
    );
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE), "paid once");
    assert_eq!(world.token.balanceOf(world.agent.address()).call().await?, agent_before - U256::from(PRICE));
    Ok(())
}

#[tokio::test]
async fn an_invoice_payment_settles_through_the_registry_with_the_invoice_id_in_the_response() -> eyre::Result<()> {
    let world = World::new().await?;
    let (the_invoice, option) = world.invoice_option("order 10").await?;
    let payment = world.pay_invoice(&option, &world.agent).await?;
    let response = world.facilitator.settle(&request(payment.clone(), option.clone())).await;
    settled(&response);
    let id = the_invoice.id(31337, *world.registry.address());
    assert_eq!(response.extra.as_ref().and_then(|e| e.get("invoiceId")), Some(&serde_json::json!(id)));
    let signed = quittance_x402::receipt::SignedReceipt::from_response(&response)?;
    signed.verify(Some(world.facilitator.address()))?;
    assert_eq!(signed.receipt.invoiceId, id);
    assert!(world.registry.isPaid(id).call().await?);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));

    let again = world.facilitator.settle(&request(payment, option)).await;
    settled_before(&again, ErrorReason::InvoiceAlreadyPaid, &response.transaction);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));
    Ok(())
}

#[tokio::test]
async fn concurrent_requests_for_one_payment_send_one_transaction() -> eyre::Result<()> {
    let world = World::new().await?;
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let payment = world.pay_exact(&option, &world.agent).await?;
    let nonce_before = world.rpc.get_transaction_count(world.facilitator.address()).await?;
    let req = request(payment, option);
    let responses = futures_join(&world, &req, 8).await;
    let (successes, replays): (Vec<_>, Vec<_>) = responses.iter().partition(|r| r.success);
    assert_eq!(successes.len(), 1, "one success for one payment: {responses:?}");
    let tx = settled(successes[0]).to_owned();
    for response in replays {
        settled_before(response, ErrorReason::ExactEvmNonceAlreadyUsed, &tx);
    }
    assert_eq!(world.rpc.get_transaction_count(world.facilitator.address()).await?, nonce_before + 1);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));
    Ok(())
}

async fn futures_join(world: &World, req: &quittance_x402::VerifyRequest, n: usize) -> Vec<SettleResponse> {
    futures::future::join_all((0..n).map(|_| world.facilitator.settle(req))).await
}

#[tokio::test]
async fn concurrent_payments_from_many_payers_settle_without_nonce_collisions() -> eyre::Result<()> {
    let world = World::new().await?;
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let mut requests = Vec::new();
    for _ in 0..12 {
        let payer = PrivateKeySigner::random();
        world
            .token
            .mint(payer.address(), U256::from(PRICE))
            .send()
            .await?
            .with_timeout(crate::TIMEOUT)
            .get_receipt()
            .await?;
        requests.push(request(world.pay_exact(&option, &payer).await?, option.clone()));
    }
    let nonce_before = world.rpc.get_transaction_count(world.facilitator.address()).await?;
    let facilitator = &world.facilitator;
    let responses = tokio::join!(async { futures(facilitator, &requests[..6]).await }, async {
        futures(facilitator, &requests[6..]).await
    });
    let all: Vec<_> = responses.0.into_iter().chain(responses.1).collect();
    let mut hashes: Vec<_> = all.iter().map(|r| settled(r).to_owned()).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 12, "one transaction per payment");
    assert_eq!(world.rpc.get_transaction_count(world.facilitator.address()).await?, nonce_before + 12);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(12 * PRICE));
    Ok(())
}

async fn futures(
    facilitator: &quittance_facilitator::Facilitator<quittance_chain::RpcChain>,
    requests: &[quittance_x402::VerifyRequest],
) -> Vec<SettleResponse> {
    futures::future::join_all(requests.iter().map(|r| facilitator.settle(r))).await
}

#[tokio::test]
async fn a_refused_settlement_moves_nothing_and_can_be_retried_once_the_payer_can_pay() -> eyre::Result<()> {
    let world = World::new().await?;
    let pauper = PrivateKeySigner::random();
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let payment = world.pay_exact(&option, &pauper).await?;
    let req = request(payment, option);

    let refused = world.facilitator.settle(&req).await;
    assert!(!refused.success);
    assert_eq!(refused.error_reason, Some(ErrorReason::ExactEvmInsufficientBalance));
    assert_eq!(refused.transaction, "");

    world
        .token
        .mint(pauper.address(), U256::from(PRICE))
        .send()
        .await?
        .with_timeout(crate::TIMEOUT)
        .get_receipt()
        .await?;
    settled(&world.facilitator.settle(&req).await);
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE));
    Ok(())
}

#[tokio::test]
async fn a_forged_request_never_gets_a_stored_outcome() -> eyre::Result<()> {
    let world = World::new().await?;
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let payment = world.pay_exact(&option, &world.agent).await?;
    settled(&world.facilitator.settle(&request(payment.clone(), option.clone())).await);

    // Same payer and nonce, but a payee of the attacker's choosing and a signature that is not the payer's.
    let mut forged = payment;
    forged.payload["authorization"]["to"] = serde_json::json!(world.seller.address());
    let mut other_option = option;
    other_option.pay_to = world.seller.address().to_checksum(None);
    forged.accepted = other_option.clone();
    let response = world.facilitator.settle(&request(forged, other_option)).await;
    assert!(!response.success);
    assert_eq!(response.error_reason, Some(ErrorReason::ExactEvmSignature));
    Ok(())
}

#[tokio::test]
async fn a_crash_between_sending_and_the_receipt_is_resumed_from_the_ledger_without_paying_twice() -> eyre::Result<()> {
    let world = World::new().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.sqlite");
    let option = world.exact_option(*world.token.address(), "USD Coin");
    let payment = world.pay_exact(&option, &world.agent).await?;
    let req = request(payment, option);
    let node = ProviderBuilder::new().connect_http(world.endpoint.clone());

    // The chain stops mining; the first facilitator sends, times out waiting, and "crashes".
    node.raw_request::<_, ()>("evm_setAutomine".into(), (false,)).await?;
    let impatient = SettleConfig { receipt_timeout: Duration::from_millis(200), ..fast() };
    let first = world.facilitator_with(Arc::new(SqliteLedger::open(&path)?), impatient).await?;
    let pending = first.settle(&req).await;
    assert_eq!(pending.error_reason, Some(ErrorReason::SettlementPending));
    let tx = pending.transaction.clone();
    assert!(!tx.is_empty(), "the pending answer names the transaction");
    drop(first);

    // The node loses its pool (a restart); the transaction exists only in the ledger now.
    node.raw_request::<_, ()>("anvil_dropAllTransactions".into(), ()).await?;
    assert!(node.get_transaction_by_hash(tx.parse()?).await?.is_none());
    let ledger = SqliteLedger::open(&path)?;
    assert!(matches!(ledger.unfinished()?.as_slice(), [(_, Entry::Submitted { .. })]));

    // A new facilitator on the same ledger re-broadcasts it, byte for byte, on start.
    let second = world.facilitator_with(Arc::new(ledger), fast()).await?;
    assert!(node.get_transaction_by_hash(tx.parse()?).await?.is_some(), "re-broadcast on start");
    node.raw_request::<_, ()>("evm_setAutomine".into(), (true,)).await?;
    node.raw_request::<_, String>("evm_mine".into(), ()).await?;

    let outcome = second.settle(&req).await;
    assert_eq!(settled(&outcome), tx, "the same transaction, not a second one");
    assert_eq!(world.token.balanceOf(world.payee).call().await?, U256::from(PRICE), "paid exactly once");
    Ok(())
}

#[tokio::test]
async fn receipts_are_confirmed_against_the_chain_and_tampered_ones_are_not() -> eyre::Result<()> {
    use quittance_facilitator::{ConfirmError, confirm_on_chain};
    use quittance_x402::receipt::SignedReceipt;
    let world = World::new().await?;
    let chain = world.facilitator.chain();

    let option = world.exact_option(*world.token.address(), "USD Coin");
    let exact = world.facilitator.settle(&request(world.pay_exact(&option, &world.agent).await?, option)).await;
    let exact = SignedReceipt::from_response(&exact)?.receipt;
    confirm_on_chain(chain, &exact).await?;

    let (_, option) = world.invoice_option("order 20").await?;
    let paid = world.facilitator.settle(&request(world.pay_invoice(&option, &world.agent).await?, option)).await;
    let invoice = SignedReceipt::from_response(&paid)?.receipt;
    confirm_on_chain(chain, &invoice).await?;

    let mut more = exact.clone();
    more.amount = U256::from(PRICE + 1);
    assert!(matches!(confirm_on_chain(chain, &more).await, Err(ConfirmError::Logs(_))));
    let mut other_payer = invoice.clone();
    other_payer.payer = world.seller.address();
    assert!(matches!(confirm_on_chain(chain, &other_payer).await, Err(ConfirmError::Logs(_))));
    let mut other_block = exact.clone();
    other_block.blockNumber += 1;
    assert!(matches!(confirm_on_chain(chain, &other_block).await, Err(ConfirmError::Block { .. })));
    let mut unknown = exact;
    unknown.transaction = alloy::primitives::B256::repeat_byte(5);
    assert!(matches!(confirm_on_chain(chain, &unknown).await, Err(ConfirmError::NotMined(_))));
    Ok(())
}
