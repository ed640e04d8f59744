//! `exact` over Permit2 on the in-process chain, with Permit2 and x402's exact proxy installed at their
//! canonical addresses and a plain EIP-2612 token (no EIP-3009): exact balance changes, a replay refused
//! with Permit2's used nonce and answered again the same, wrong spenders and witnesses refused with the
//! SDK's codes and nothing moved, and a payer without an allowance paying through `eip2612GasSponsoring`.

use crate::{fast, request};
use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    signers::{SignerSync, local::PrivateKeySigner},
    sol_types::{SolCall, SolConstructor},
};
use quittance_bindings::TestPermitToken;
use quittance_chain::{Chain, DevChain, Sender, revm::RevmChain};
use quittance_facilitator::{Facilitator, SqliteLedger};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, eip2612_gas_sponsoring as sponsoring,
    exact_permit2::{self, ExactPermit2Payload, Permit2Authorization, PermitWitnessTransferFrom},
    permit2::{PERMIT2_ADDRESS, permit2_domain},
    upto::UPTO_PROXY_ADDRESS,
};
use std::sync::Arc;

const AMOUNT: u64 = 10_000;

struct Bench {
    chain: RevmChain,
    token: Address,
    payee: Address,
    /// Approved Permit2 once.
    payer: PrivateKeySigner,
    /// Holds tokens, has no ether and approved nothing.
    newcomer: PrivateKeySigner,
    facilitator: Facilitator<RevmChain>,
    option: PaymentRequirements,
}

async fn bench() -> eyre::Result<Bench> {
    let chain = RevmChain::new(31337, 1_750_000_000);
    let key = |name: &str| PrivateKeySigner::from_bytes(&keccak256(name));
    let (owner, facilitator_key, payer, newcomer) =
        (key("permit2 owner")?, key("permit2 facilitator")?, key("permit2 payer")?, key("permit2 newcomer")?);
    let payee = key("permit2 payee")?.address();
    for account in [owner.address(), facilitator_key.address(), payer.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    quittance_deploy::install_permit2(&chain).await?;
    let init = [
        TestPermitToken::BYTECODE.as_ref(),
        &TestPermitToken::constructorCall { name_: "Dollar".into(), symbol_: "USD".into(), owner_: owner.address() }
            .abi_encode(),
    ]
    .concat();
    let mut sender = Sender::new(&chain, &owner).await?;
    let (token, _) = sender.create(init.into(), 5_000_000).await?;
    for holder in [payer.address(), newcomer.address()] {
        sender.send(token, call(TestPermitToken::mintCall { to: holder, amount: U256::from(10 * AMOUNT) })).await?;
    }
    Sender::new(&chain, &payer)
        .await?
        .send(token, call(TestPermitToken::approveCall { spender: PERMIT2_ADDRESS, value: U256::MAX }))
        .await?;
    let facilitator =
        Facilitator::new(chain.clone(), facilitator_key, Arc::new(SqliteLedger::in_memory()?), fast()).await?;
    let option: PaymentRequirements = serde_json::from_value(serde_json::json!({
        "scheme": "exact", "network": "eip155:31337", "amount": AMOUNT.to_string(), "asset": token,
        "payTo": payee, "maxTimeoutSeconds": 120,
        "extra": {"assetTransferMethod": "permit2", "name": "Dollar", "version": "1"}
    }))?;
    Ok(Bench { chain, token, payee, payer, newcomer, facilitator, option })
}

fn call(call: impl SolCall) -> Bytes {
    call.abi_encode().into()
}

impl Bench {
    async fn balance(&self, account: Address) -> eyre::Result<U256> {
        Ok(quittance_chain::read(&self.chain, self.token, TestPermitToken::balanceOfCall { account }).await?)
    }

    async fn balances(&self, payer: &PrivateKeySigner) -> eyre::Result<(U256, U256)> {
        Ok((self.balance(payer.address()).await?, self.balance(self.payee).await?))
    }

    async fn pay(&self, payer: &PrivateKeySigner) -> eyre::Result<PaymentPayload> {
        let now = self.chain.timestamp().await?;
        Ok(exact_permit2::pay(&self.option, None, payer, payer.address(), now, U256::from_be_bytes(B256::random().0))?)
    }

    /// The payer's EIP-2612 permit of `value` to Permit2, in the payment's extensions.
    async fn sponsored(&self, payer: &PrivateKeySigner, value: u64) -> eyre::Result<PaymentPayload> {
        let mut payment = self.pay(payer).await?;
        let nonce =
            quittance_chain::read(&self.chain, self.token, TestPermitToken::noncesCall { owner: payer.address() })
                .await?;
        let deadline = U256::from(self.chain.timestamp().await? + 120);
        let info = sponsoring::sign(
            payer,
            payer.address(),
            self.token,
            "Dollar",
            "1",
            31337,
            nonce,
            deadline,
            U256::from(value),
        )?;
        sponsoring::attach(&mut payment, &info);
        Ok(payment)
    }
}

/// Edits the permit and signs it again, so that only the edit is wrong.
fn resigned(
    payment: &PaymentPayload,
    signer: &PrivateKeySigner,
    edit: impl FnOnce(&mut Permit2Authorization),
) -> PaymentPayload {
    let mut payload: ExactPermit2Payload = serde_json::from_value(payment.payload.clone()).expect("a permit2 payload");
    edit(&mut payload.permit2_authorization);
    let message = PermitWitnessTransferFrom::from(&payload.permit2_authorization);
    payload.signature = signer.sign_typed_data_sync(&message, &permit2_domain(31337)).expect("signs").as_bytes().into();
    PaymentPayload { payload: serde_json::to_value(payload).expect("serializes"), ..payment.clone() }
}

#[tokio::test]
async fn a_permit2_payment_settles_once_with_exact_balance_changes() -> eyre::Result<()> {
    let b = bench().await?;
    let payment = b.pay(&b.payer).await?;
    let before = b.balances(&b.payer).await?;
    let verified = b.facilitator.verify(&request(payment.clone(), b.option.clone())).await;
    assert!(verified.is_valid, "{verified:?}");
    assert_eq!(verified.payer, Some(b.payer.address().to_checksum(None)));
    let settled = b.facilitator.settle(&request(payment.clone(), b.option.clone())).await;
    assert!(settled.success, "{settled:?}");
    let amount = U256::from(AMOUNT);
    assert_eq!(b.balances(&b.payer).await?, (before.0 - amount, before.1 + amount));
    let receipt = b.chain.receipt(settled.transaction.parse()?).await?.expect("mined");
    assert!(receipt.logs.iter().any(|log| log.address == exact_permit2::EXACT_PROXY_ADDRESS), "settled by the proxy");

    // The same payment again: the same transaction, refused as a replay, nothing moves.
    let again = b.facilitator.settle(&request(payment.clone(), b.option.clone())).await;
    assert!(again.settled_before(), "{again:?}");
    assert_eq!(again.error_reason, Some(ErrorReason::Permit2InvalidNonce));
    assert_eq!(again.transaction, settled.transaction);
    let verified = b.facilitator.verify(&request(payment.clone(), b.option.clone())).await;
    assert_eq!(verified.invalid_reason, Some(ErrorReason::Permit2InvalidNonce));
    assert_eq!(b.balances(&b.payer).await?, (before.0 - amount, before.1 + amount));

    // A facilitator that never saw it reads the used nonce from Permit2.
    let other_key = PrivateKeySigner::random();
    b.chain.set_balance(other_key.address(), U256::from(10u64).pow(U256::from(20))).await?;
    let other = Facilitator::new(b.chain.clone(), other_key, Arc::new(SqliteLedger::in_memory()?), fast()).await?;
    assert_eq!(
        other.verify(&request(payment.clone(), b.option.clone())).await.invalid_reason,
        Some(ErrorReason::Permit2InvalidNonce)
    );
    let replayed = other.settle(&request(payment, b.option.clone())).await;
    assert_eq!(replayed.error_reason, Some(ErrorReason::Permit2InvalidNonce), "{replayed:?}");
    assert_eq!(b.balances(&b.payer).await?, (before.0 - amount, before.1 + amount));
    assert!(b.facilitator.supported().extensions.contains(&sponsoring::EIP2612_GAS_SPONSORING.to_owned()));
    Ok(())
}

#[tokio::test]
async fn wrong_spenders_witnesses_and_funds_are_refused_and_nothing_moves() -> eyre::Result<()> {
    let b = bench().await?;
    let payment = b.pay(&b.payer).await?;
    let stranger = PrivateKeySigner::random().address();
    let mut too_much = b.option.clone();
    too_much.amount = (100 * AMOUNT).to_string();
    let now = b.chain.timestamp().await?;
    let overdraft =
        exact_permit2::pay(&too_much, None, &b.payer, b.payer.address(), now, U256::from_be_bytes(B256::random().0))?;
    let cases = [
        (
            "the upto proxy as spender",
            resigned(&payment, &b.payer, |a| a.spender = UPTO_PROXY_ADDRESS),
            b.option.clone(),
            ErrorReason::Permit2InvalidSpender,
        ),
        (
            "another payee in the witness",
            resigned(&payment, &b.payer, |a| a.witness.to = stranger),
            b.option.clone(),
            ErrorReason::Permit2RecipientMismatch,
        ),
        (
            "signed by someone else",
            resigned(&payment, &b.newcomer, |_| {}),
            b.option.clone(),
            ErrorReason::Permit2InvalidSignature,
        ),
        ("more than the payer holds", overdraft, too_much, ErrorReason::Permit2InsufficientBalance),
        (
            "a payer without an allowance",
            b.pay(&b.newcomer).await?,
            b.option.clone(),
            ErrorReason::Permit2AllowanceRequired,
        ),
        (
            "an EIP-2612 permit of another amount",
            b.sponsored(&b.newcomer, AMOUNT + 1).await?,
            b.option.clone(),
            ErrorReason::Permit2612AmountMismatch,
        ),
    ];
    for (what, payment, option, reason) in cases {
        let before =
            (b.balance(b.payer.address()).await?, b.balance(b.newcomer.address()).await?, b.balance(b.payee).await?);
        let verified = b.facilitator.verify(&request(payment.clone(), option.clone())).await;
        assert_eq!(verified.invalid_reason, Some(reason.clone()), "verify: {what}");
        let settled = b.facilitator.settle(&request(payment, option)).await;
        assert!(!settled.success, "{what}");
        assert_eq!(settled.error_reason, Some(reason), "settle: {what}");
        let after =
            (b.balance(b.payer.address()).await?, b.balance(b.newcomer.address()).await?, b.balance(b.payee).await?);
        assert_eq!(before, after, "nothing moved: {what}");
    }
    Ok(())
}

#[tokio::test]
async fn a_payer_without_an_allowance_pays_with_an_eip2612_permit() -> eyre::Result<()> {
    let b = bench().await?;
    // The newcomer was given no ether: it sends nothing.
    let payment = b.sponsored(&b.newcomer, AMOUNT).await?;
    let before = b.balances(&b.newcomer).await?;
    let verified = b.facilitator.verify(&request(payment.clone(), b.option.clone())).await;
    assert!(verified.is_valid, "{verified:?}");
    let settled = b.facilitator.settle(&request(payment.clone(), b.option.clone())).await;
    assert!(settled.success, "{settled:?}");
    let amount = U256::from(AMOUNT);
    assert_eq!(b.balances(&b.newcomer).await?, (before.0 - amount, before.1 + amount));
    // Permit2 was approved for the payment's amount only, and spent it.
    let allowance = quittance_chain::read(
        &b.chain,
        b.token,
        TestPermitToken::allowanceCall { owner: b.newcomer.address(), spender: PERMIT2_ADDRESS },
    )
    .await?;
    assert_eq!(allowance, U256::ZERO);
    let again = b.facilitator.settle(&request(payment, b.option.clone())).await;
    assert_eq!(again.error_reason, Some(ErrorReason::Permit2InvalidNonce));
    assert_eq!(b.balances(&b.newcomer).await?, (before.0 - amount, before.1 + amount));
    Ok(())
}
