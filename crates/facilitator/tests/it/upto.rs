//! `upto` on the in-memory chain, with Permit2 and x402's upto proxy installed at their canonical addresses:
//! a permit of a maximum, settled for what was used, once; above the maximum, for another facilitator or
//! tampered, refused with the SDK's codes and nothing moved; settled for 0 without a transaction and never
//! again; a crash between recording and broadcasting concluded on restart.

use crate::{fast, faults::Faulty, request, settle::settled_before};
use alloy::{
    primitives::{Address, U256, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use quittance_bindings::{ISignatureTransfer, TestStablecoin};
use quittance_chain::{Chain, DevChain, Sender, revm::RevmChain};
use quittance_facilitator::{Facilitator, Ledger, SqliteLedger};
use quittance_x402::{ErrorReason, PaymentPayload, PaymentRequirements, SettleResponse, VerifyRequest, upto};
use std::sync::{Arc, atomic::Ordering};

/// The most a request may cost: a cent of a 6-decimal token.
const MAXIMUM: u64 = 10_000;

struct Setup {
    chain: Faulty,
    key: PrivateKeySigner,
    payer: PrivateKeySigner,
    token: Address,
    payee: Address,
    facilitator: Facilitator<Faulty>,
    ledger: Arc<SqliteLedger>,
}

async fn setup() -> eyre::Result<Setup> {
    let chain = RevmChain::new(31337, 1_750_000_000);
    let owner = PrivateKeySigner::from_bytes(&keccak256("upto owner"))?;
    let key = PrivateKeySigner::from_bytes(&keccak256("upto facilitator"))?;
    let payer = PrivateKeySigner::from_bytes(&keccak256("upto payer"))?;
    let payee = PrivateKeySigner::from_bytes(&keccak256("upto payee"))?.address();
    for account in [owner.address(), key.address(), payer.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    quittance_deploy::install_permit2(&chain).await?;
    let manifest = quittance_deploy::deploy(&chain, &owner, owner.address(), &[payer.address()], |_| {}).await?;
    let token = manifest.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?;
    // The payer approves Permit2 once, as the SDK's client asks.
    let approve = TestStablecoin::approveCall { spender: upto::PERMIT2_ADDRESS, value: U256::MAX };
    Sender::new(&chain, &payer).await?.send(token, approve.abi_encode().into()).await?;
    let chain = Faulty::new(chain);
    let ledger = Arc::new(SqliteLedger::in_memory()?);
    let facilitator = Facilitator::new(chain.clone(), key.clone(), ledger.clone(), fast()).await?;
    Ok(Setup { chain, key, payer, token, payee, facilitator, ledger })
}

impl Setup {
    /// The seller's `upto` option: at most [`MAXIMUM`], settled by `facilitator`.
    fn option(&self, facilitator: Address) -> PaymentRequirements {
        serde_json::from_value(serde_json::json!({
            "scheme": "upto", "network": "eip155:31337", "amount": MAXIMUM.to_string(), "asset": self.token,
            "payTo": self.payee, "maxTimeoutSeconds": 120,
            "extra": {"assetTransferMethod": "permit2", "facilitatorAddress": facilitator,
                      "name": "USD Coin", "version": "2"}
        }))
        .expect("valid option")
    }

    /// `payer` signs a permit of the maximum of `option`.
    async fn pay(&self, option: &PaymentRequirements, payer: &PrivateKeySigner) -> eyre::Result<PaymentPayload> {
        let now = self.chain.timestamp().await?;
        let nonce = U256::from_be_bytes(alloy::primitives::B256::random().0);
        Ok(upto::pay(option, None, payer, payer.address(), now, nonce)?)
    }

    /// The `/settle` request for `amount` of a payment: the server's requirements with `amount` set to it.
    fn settle_request(&self, payment: &PaymentPayload, amount: u64) -> VerifyRequest {
        let mut requirements = payment.accepted.clone();
        requirements.amount = amount.to_string();
        request(payment.clone(), requirements)
    }

    async fn balance(&self, account: Address) -> eyre::Result<U256> {
        Ok(quittance_chain::read(&self.chain.chain, self.token, TestStablecoin::balanceOfCall { account }).await?)
    }

    /// The payer's and the payee's balances.
    async fn balances(&self) -> eyre::Result<(U256, U256)> {
        Ok((self.balance(self.payer.address()).await?, self.balance(self.payee).await?))
    }

    /// Whether Permit2 holds the payment's nonce as used.
    async fn nonce_used(&self, payment: &PaymentPayload) -> eyre::Result<bool> {
        let permit: upto::UptoPayload = serde_json::from_value(payment.payload.clone())?;
        let nonce = permit.permit2_authorization.nonce;
        let call = ISignatureTransfer::nonceBitmapCall { owner: self.payer.address(), wordPosition: nonce >> 8 };
        let word = quittance_chain::read(&self.chain.chain, upto::PERMIT2_ADDRESS, call).await?;
        Ok(word.bit((nonce & U256::from(0xff)).to::<usize>()))
    }
}

/// The payer paid exactly `amount` to the payee since `before`.
async fn moved(setup: &Setup, before: (U256, U256), amount: u64) -> eyre::Result<()> {
    let after = setup.balances().await?;
    assert_eq!(before.0 - after.0, U256::from(amount), "the payer paid exactly the amount");
    assert_eq!(after.1 - before.1, U256::from(amount), "the payee received exactly the amount");
    Ok(())
}

fn refused(response: &SettleResponse, reason: ErrorReason) {
    assert!(!response.success, "expected a refusal: {response:?}");
    assert_eq!(response.error_reason, Some(reason), "{response:?}");
    assert_eq!(response.transaction, "", "nothing was sent: {response:?}");
}

#[tokio::test]
async fn an_upto_payment_settles_the_amount_used_once_and_a_replay_is_refused() -> eyre::Result<()> {
    let setup = setup().await?;
    let option = setup.option(setup.facilitator.address());
    let payment = setup.pay(&option, &setup.payer).await?;
    let verified = setup.facilitator.verify(&request(payment.clone(), option.clone())).await;
    assert!(verified.is_valid, "{verified:?}");
    assert_eq!(verified.payer, Some(setup.payer.address().to_checksum(None)));

    let before = setup.balances().await?;
    let used = 3_456;
    let settled = setup.facilitator.settle(&setup.settle_request(&payment, used)).await;
    assert!(settled.success, "{settled:?}");
    assert_eq!(settled.amount.as_deref(), Some("3456"), "answered with the amount taken, as the SDK does");
    let receipt: quittance_x402::receipt::SignedReceipt =
        serde_json::from_value(settled.extra.as_ref().and_then(|e| e.get("receipt")).cloned().unwrap_or_default())?;
    assert_eq!(receipt.receipt.amount, U256::from(used));
    moved(&setup, before, used).await?;
    assert!(setup.nonce_used(&payment).await?, "settling spends the permit's nonce");

    // The same settlement asked again: the same transaction, told it was settled before; nothing moves.
    let again = setup.facilitator.settle(&setup.settle_request(&payment, used)).await;
    settled_before(&again, ErrorReason::Permit2InvalidNonce, &settled.transaction);
    // The rest of the maximum cannot be taken later.
    let more = setup.facilitator.settle(&setup.settle_request(&payment, MAXIMUM)).await;
    settled_before(&more, ErrorReason::Permit2InvalidNonce, &settled.transaction);
    let replay = setup.facilitator.verify(&request(payment.clone(), option.clone())).await;
    assert_eq!(replay.invalid_reason, Some(ErrorReason::Permit2InvalidNonce));
    // A facilitator that lost its ledger concludes from Permit2's nonce bitmap that the permit was used.
    let forgetful =
        Facilitator::new(setup.chain.clone(), setup.key.clone(), Arc::new(SqliteLedger::in_memory()?), fast()).await?;
    let verdict = forgetful.verify(&request(payment.clone(), option)).await;
    assert_eq!(verdict.invalid_reason, Some(ErrorReason::Permit2InvalidNonce), "{verdict:?}");
    refused(&forgetful.settle(&setup.settle_request(&payment, used)).await, ErrorReason::Permit2InvalidNonce);
    moved(&setup, before, used).await
}

#[tokio::test]
async fn settling_above_the_maximum_is_refused_and_moves_nothing() -> eyre::Result<()> {
    let setup = setup().await?;
    let payment = setup.pay(&setup.option(setup.facilitator.address()), &setup.payer).await?;
    let before = setup.balances().await?;
    let over = setup.facilitator.settle(&setup.settle_request(&payment, MAXIMUM + 1)).await;
    refused(&over, ErrorReason::UptoEvmSettlementExceedsAmount);
    assert!(setup.ledger.unfinished()?.is_empty(), "nothing claimed");
    moved(&setup, before, 0).await?;
    assert!(!setup.nonce_used(&payment).await?);
    // The payment itself is still good for the maximum.
    assert!(setup.facilitator.settle(&setup.settle_request(&payment, MAXIMUM)).await.success);
    moved(&setup, before, MAXIMUM).await
}

#[tokio::test]
async fn zero_settles_without_a_transaction_and_the_payment_is_never_settled_again() -> eyre::Result<()> {
    let setup = setup().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.sqlite");
    let facilitator =
        Facilitator::new(setup.chain.clone(), setup.key.clone(), Arc::new(SqliteLedger::open(&path)?), fast()).await?;
    let option = setup.option(facilitator.address());
    let payment = setup.pay(&option, &setup.payer).await?;
    let before = setup.balances().await?;

    let free = facilitator.settle(&setup.settle_request(&payment, 0)).await;
    assert!(free.success, "{free:?}");
    assert_eq!((free.transaction.as_str(), free.amount.as_deref()), ("", Some("0")), "as the SDK answers");
    let (reached, _) = setup.chain.mined().await?;
    assert_eq!(reached, 0, "no transaction");
    assert!(!setup.nonce_used(&payment).await?, "the nonce stays unused on chain: the ledger remembers");

    // Later, for more: refused, even by a restarted facilitator on the same ledger.
    let later = facilitator.settle(&setup.settle_request(&payment, 5_000)).await;
    settled_before(&later, ErrorReason::Permit2InvalidNonce, "");
    drop(facilitator);
    let restarted =
        Facilitator::new(setup.chain.clone(), setup.key.clone(), Arc::new(SqliteLedger::open(&path)?), fast()).await?;
    assert_eq!(
        restarted.settle(&setup.settle_request(&payment, MAXIMUM)).await.error_reason,
        Some(ErrorReason::Permit2InvalidNonce)
    );
    let verdict = restarted.verify(&request(payment, option)).await;
    assert_eq!(verdict.invalid_reason, Some(ErrorReason::Permit2InvalidNonce));
    moved(&setup, before, 0).await
}

#[tokio::test]
async fn another_facilitators_tampered_or_unfunded_payments_are_refused_and_move_nothing() -> eyre::Result<()> {
    let setup = setup().await?;
    let ours = setup.option(setup.facilitator.address());
    let before = setup.balances().await?;
    let verify = |req: VerifyRequest| {
        let facilitator = setup.facilitator.clone();
        async move { facilitator.verify(&req).await.invalid_reason }
    };

    // A permit whose witness names another facilitator: only that one could call the proxy.
    let elsewhere = setup.option(Address::repeat_byte(0x77));
    let theirs = setup.pay(&elsewhere, &setup.payer).await?;
    assert_eq!(verify(request(theirs.clone(), elsewhere.clone())).await, Some(ErrorReason::UptoFacilitatorMismatch));
    refused(&setup.facilitator.settle(&setup.settle_request(&theirs, 1)).await, ErrorReason::UptoFacilitatorMismatch);
    // Requirements naming another facilitator than the witness (and this one).
    let payment = setup.pay(&ours, &setup.payer).await?;
    let mut misnamed = ours.clone();
    misnamed.extra.insert(upto::FACILITATOR_ADDRESS.into(), serde_json::json!(Address::repeat_byte(0x77)));
    assert_eq!(verify(request(payment.clone(), misnamed)).await, Some(ErrorReason::UptoFacilitatorMismatch));

    // The witness's recipient changed, with the requirements to match: the signature no longer holds.
    let thief = Address::repeat_byte(0x66);
    let mut tampered = payment.clone();
    tampered.payload["permit2Authorization"]["witness"]["to"] = serde_json::json!(thief);
    assert_eq!(verify(request(tampered.clone(), ours.clone())).await, Some(ErrorReason::Permit2RecipientMismatch));
    let mut to_thief = ours.clone();
    to_thief.pay_to = thief.to_string();
    tampered.accepted = to_thief.clone();
    assert_eq!(verify(request(tampered.clone(), to_thief.clone())).await, Some(ErrorReason::Permit2InvalidSignature));
    let mut settle_thief = to_thief;
    settle_thief.amount = "1".into();
    refused(&setup.facilitator.settle(&request(tampered, settle_thief)).await, ErrorReason::Permit2InvalidSignature);
    // A larger maximum than signed.
    let mut raised = payment.clone();
    raised.payload["permit2Authorization"]["permitted"]["amount"] = serde_json::json!((2 * MAXIMUM).to_string());
    let mut raised_option = ours.clone();
    raised_option.amount = (2 * MAXIMUM).to_string();
    raised.accepted = raised_option.clone();
    assert_eq!(verify(request(raised, raised_option)).await, Some(ErrorReason::Permit2InvalidSignature));
    // A maximum other than the requirements'.
    let mut lower = ours.clone();
    lower.amount = (MAXIMUM - 1).to_string();
    assert_eq!(verify(request(payment.clone(), lower)).await, Some(ErrorReason::Permit2AmountMismatch));

    // A payer who never approved Permit2, and one with less than the maximum.
    let stranger = PrivateKeySigner::from_bytes(&keccak256("upto stranger"))?;
    let unfunded = setup.pay(&ours, &stranger).await?;
    assert_eq!(verify(request(unfunded, ours.clone())).await, Some(ErrorReason::Permit2InsufficientBalance));
    let mint = TestStablecoin::mintCall { to: stranger.address(), amount: U256::from(MAXIMUM) };
    let owner = PrivateKeySigner::from_bytes(&keccak256("upto owner"))?;
    Sender::new(&setup.chain.chain, &owner).await?.send(setup.token, mint.abi_encode().into()).await?;
    let unapproved = setup.pay(&ours, &stranger).await?;
    assert_eq!(verify(request(unapproved.clone(), ours.clone())).await, Some(ErrorReason::Permit2AllowanceRequired));
    refused(
        &setup.facilitator.settle(&setup.settle_request(&unapproved, 1)).await,
        ErrorReason::Permit2AllowanceRequired,
    );

    assert!(setup.ledger.unfinished()?.is_empty(), "nothing was left claimed");
    let (reached, _) = setup.chain.mined().await?;
    assert_eq!(reached, 0, "the facilitator sent nothing");
    moved(&setup, before, 0).await?;
    // The untampered payment is still good.
    assert!(setup.facilitator.settle(&setup.settle_request(&payment, 1)).await.success);
    moved(&setup, before, 1).await
}

#[tokio::test]
async fn a_crash_between_recording_and_broadcasting_is_concluded_on_restart_once() -> eyre::Result<()> {
    let setup = setup().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.sqlite");
    let option = setup.option(setup.facilitator.address());
    let (unsent, lost) = (setup.pay(&option, &setup.payer).await?, setup.pay(&option, &setup.payer).await?);
    let before = setup.balances().await?;
    {
        let facilitator =
            Facilitator::new(setup.chain.clone(), setup.key.clone(), Arc::new(SqliteLedger::open(&path)?), fast())
                .await?;
        // The node takes one settlement but its answer is lost; it never sees the other (recorded, unsent).
        setup.chain.lose_answers.store(1, Ordering::SeqCst);
        let pending = facilitator.settle(&setup.settle_request(&lost, 2_000)).await;
        assert_eq!(pending.error_reason, Some(ErrorReason::SettlementPending), "{pending:?}");
        setup.chain.unreachable.store(true, Ordering::SeqCst);
        let pending = facilitator.settle(&setup.settle_request(&unsent, 3_000)).await;
        assert_eq!(pending.error_reason, Some(ErrorReason::SettlementPending), "{pending:?}");
        // The process stops here.
    }
    setup.chain.unreachable.store(false, Ordering::SeqCst);
    let ledger = Arc::new(SqliteLedger::open(&path)?);
    assert_eq!(ledger.unfinished()?.len(), 2, "both recorded before the crash");
    // On start, the lost answer is concluded from its receipt and the unsent one is sent again as signed.
    let restarted = Facilitator::new(setup.chain.clone(), setup.key.clone(), ledger.clone(), fast()).await?;
    // Asked again (for another amount even), each is answered with its one recorded settlement.
    let first = restarted.settle(&setup.settle_request(&lost, 2_000)).await;
    assert!(first.success, "{first:?}");
    let second = restarted.settle(&setup.settle_request(&unsent, 9_000)).await;
    assert!(second.success, "{second:?}");
    assert_eq!(second.amount.as_deref(), Some("3000"), "the amount that was recorded and sent");
    assert!(matches!(ledger.unfinished()?.as_slice(), []));
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (2, 0), "two settlements, none twice, none reverted");
    moved(&setup, before, 5_000).await
}

/// A payer who never approved Permit2, holding `amount` of the token (sent by the setup's payer).
async fn newcomer(setup: &Setup, name: &str, amount: u64) -> eyre::Result<PrivateKeySigner> {
    let newcomer = PrivateKeySigner::from_bytes(&keccak256(name))?;
    let transfer = TestStablecoin::transferCall { to: newcomer.address(), value: U256::from(amount) };
    Sender::new(&setup.chain.chain, &setup.payer).await?.send(setup.token, transfer.abi_encode().into()).await?;
    Ok(newcomer)
}

/// `payer` adds an EIP-2612 permit of `value` of `token` to Permit2 (`eip2612GasSponsoring`).
async fn sponsor(
    setup: &Setup,
    payment: &mut PaymentPayload,
    payer: &PrivateKeySigner,
    token: Address,
    value: u64,
) -> eyre::Result<()> {
    use quittance_x402::eip2612_gas_sponsoring as sponsoring;
    let deadline = U256::from(setup.chain.timestamp().await? + 120);
    let info = sponsoring::sign(
        payer,
        payer.address(),
        token,
        "USD Coin",
        "2",
        31337,
        U256::ZERO,
        deadline,
        U256::from(value),
    )?;
    sponsoring::attach(payment, &info);
    Ok(())
}

#[tokio::test]
async fn a_payer_who_never_approved_permit2_pays_with_an_eip2612_permit_once() -> eyre::Result<()> {
    let setup = setup().await?;
    let payer = newcomer(&setup, "upto newcomer", 100_000).await?;
    let option = setup.option(setup.facilitator.address());
    let mut payment = setup.pay(&option, &payer).await?;
    let unsponsored = setup.facilitator.verify(&request(payment.clone(), option.clone())).await;
    assert_eq!(unsponsored.invalid_reason, Some(ErrorReason::Permit2AllowanceRequired), "{unsponsored:?}");

    // A permit of another token, or of less than the maximum, is refused with nothing moved.
    let mut other = payment.clone();
    sponsor(&setup, &mut other, &payer, setup.payee, MAXIMUM).await?;
    let refusal = setup.facilitator.verify(&request(other, option.clone())).await;
    assert_eq!(refusal.invalid_reason, Some(ErrorReason::Eip2612AssetMismatch), "{refusal:?}");
    let mut short = payment.clone();
    sponsor(&setup, &mut short, &payer, setup.token, MAXIMUM - 1).await?;
    let refusal = setup.facilitator.verify(&request(short, option.clone())).await;
    assert_eq!(refusal.invalid_reason, Some(ErrorReason::Permit2612AmountMismatch), "{refusal:?}");

    sponsor(&setup, &mut payment, &payer, setup.token, MAXIMUM).await?;
    let verified = setup.facilitator.verify(&request(payment.clone(), option.clone())).await;
    assert!(verified.is_valid, "{verified:?}");
    let (payer_before, payee_before) = (setup.balance(payer.address()).await?, setup.balance(setup.payee).await?);
    let settled = setup.facilitator.settle(&setup.settle_request(&payment, 4_000)).await;
    assert!(settled.success, "{settled:?}");
    assert_eq!(settled.amount.as_deref(), Some("4000"));
    assert_eq!(payer_before - setup.balance(payer.address()).await?, U256::from(4_000u64));
    assert_eq!(setup.balance(setup.payee).await? - payee_before, U256::from(4_000u64));
    let allowance = TestStablecoin::allowanceCall { owner: payer.address(), spender: upto::PERMIT2_ADDRESS };
    let allowance = quittance_chain::read(&setup.chain.chain, setup.token, allowance).await?;
    assert_eq!(allowance, U256::from(MAXIMUM - 4_000), "the permit approved Permit2 for the maximum");

    let again = setup.facilitator.settle(&setup.settle_request(&payment, 4_000)).await;
    settled_before(&again, ErrorReason::Permit2InvalidNonce, &settled.transaction);
    assert_eq!(payer_before - setup.balance(payer.address()).await?, U256::from(4_000u64), "paid once");
    Ok(())
}

#[tokio::test]
async fn a_sponsored_payment_in_doubt_at_a_crash_is_concluded_from_its_calldata() -> eyre::Result<()> {
    let setup = setup().await?;
    let payer = newcomer(&setup, "upto crash newcomer", 100_000).await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.sqlite");
    let option = setup.option(setup.facilitator.address());
    let mut payment = setup.pay(&option, &payer).await?;
    sponsor(&setup, &mut payment, &payer, setup.token, MAXIMUM).await?;
    let before = setup.balance(setup.payee).await?;
    {
        let facilitator =
            Facilitator::new(setup.chain.clone(), setup.key.clone(), Arc::new(SqliteLedger::open(&path)?), fast())
                .await?;
        setup.chain.lose_answers.store(1, Ordering::SeqCst);
        let pending = facilitator.settle(&setup.settle_request(&payment, 2_500)).await;
        assert_eq!(pending.error_reason, Some(ErrorReason::SettlementPending), "{pending:?}");
    }
    let ledger = Arc::new(SqliteLedger::open(&path)?);
    let restarted = Facilitator::new(setup.chain.clone(), setup.key.clone(), ledger.clone(), fast()).await?;
    let settled = restarted.settle(&setup.settle_request(&payment, 2_500)).await;
    assert!(settled.success, "{settled:?}");
    assert_eq!(settled.amount.as_deref(), Some("2500"));
    assert!(matches!(ledger.unfinished()?.as_slice(), []));
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (1, 0), "one settlement, sent once");
    assert_eq!(setup.balance(setup.payee).await? - before, U256::from(2_500u64));
    Ok(())
}
