//! `auth-capture` on the in-memory chain, with Quittance's `AuthCaptureCollector` installed at the canonical
//! EIP-3009 token collector in front of Quittance's `PaymentEscrow`, and this facilitator the operator: an
//! authorization of a maximum lands in the escrow once; a partial capture pays the receiver and the fee, the
//! rest is voided back, part of the capture refunded from the operator's refund liquidity; each retried
//! operation is answered from the ledger and sent once; each bad input gets the spec's code with nothing
//! moved; a crash between recording and broadcasting is concluded on restart.

use crate::{fast, faults::Faulty, request};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use quittance_bindings::{IPaymentEscrow, TestStablecoin};
use quittance_chain::{Chain, DevChain, Sender, revm::RevmChain};
use quittance_facilitator::{Facilitator, Ledger, SqliteLedger};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, SettleResponse, VerifyRequest,
    auth_capture::{self, Lifecycle, PaymentInfo},
};
use std::sync::{Arc, atomic::Ordering};

/// The maximum authorized: a cent of a 6-decimal token.
const MAXIMUM: u64 = 10_000;
/// The refund liquidity the operator approved to the escrow.
const REFUND_ALLOWANCE: u64 = 1_000;

struct Setup {
    chain: Faulty,
    key: PrivateKeySigner,
    payer: PrivateKeySigner,
    authorizer: PrivateKeySigner,
    token: Address,
    escrow: Address,
    payee: Address,
    fees: Address,
    facilitator: Facilitator<Faulty>,
}

async fn setup() -> eyre::Result<Setup> {
    let chain = RevmChain::new(31337, 1_750_000_000);
    let key_of = |name: &str| PrivateKeySigner::from_bytes(&keccak256(name));
    let (owner, key, payer) = (key_of("ac owner")?, key_of("ac facilitator")?, key_of("ac payer")?);
    let authorizer = key_of("ac receiver authorizer")?;
    let (payee, fees) = (key_of("ac payee")?.address(), key_of("ac fees")?.address());
    for account in [owner.address(), key.address(), payer.address()] {
        chain.set_balance(account, U256::from(10u64).pow(U256::from(20))).await?;
    }
    let manifest =
        quittance_deploy::deploy(&chain, &owner, owner.address(), &[payer.address(), key.address()], |_| {}).await?;
    let token = manifest.address("TestStablecoin").ok_or_else(|| eyre::eyre!("no token"))?;
    let escrow = manifest.address("PaymentEscrow").ok_or_else(|| eyre::eyre!("no escrow"))?;
    quittance_deploy::install_auth_capture(&chain, escrow).await?;
    // The operator's refund liquidity, provided out of band before the facilitator starts.
    let approve = TestStablecoin::approveCall { spender: escrow, value: U256::from(REFUND_ALLOWANCE) };
    Sender::new(&chain, &key).await?.send(token, approve.abi_encode().into()).await?;
    let chain = Faulty::new(chain);
    let ledger = Arc::new(SqliteLedger::in_memory()?);
    let facilitator = Facilitator::new(chain.clone(), key.clone(), ledger, fast()).await?;
    Ok(Setup { chain, key, payer, authorizer, token, escrow, payee, fees, facilitator })
}

impl Setup {
    /// The seller's `auth-capture` option: [`MAXIMUM`] held in escrow, `operator` the capture authorizer.
    async fn option(&self, operator: Address) -> eyre::Result<PaymentRequirements> {
        let now = self.chain.timestamp().await?;
        Ok(serde_json::from_value(serde_json::json!({
            "scheme": "auth-capture", "network": "eip155:31337", "amount": MAXIMUM.to_string(),
            "asset": self.token, "payTo": self.payee, "maxTimeoutSeconds": 120,
            "extra": {"name": "USD Coin", "version": "2", "captureAuthorizer": operator,
                      "receiverAuthorizer": self.authorizer.address(), "feeRecipient": self.fees,
                      "captureDeadline": now + 3_600, "refundDeadline": now + 86_400,
                      "minFeeBps": 0, "maxFeeBps": 100, "paymentFlow": "escrow",
                      "authCaptureEscrow": auth_capture::AUTH_CAPTURE_ESCROW}
        }))?)
    }

    /// `payer` authorizes the maximum of `option`, as the official client does.
    async fn pay(&self, option: &PaymentRequirements, payer: &PrivateKeySigner) -> eyre::Result<PaymentPayload> {
        let now = self.chain.timestamp().await?;
        let payload = auth_capture::pay(option, payer, payer.address(), now, B256::random())?;
        Ok(PaymentPayload { x402_version: 2, resource: None, accepted: option.clone(), payload, extensions: None })
    }

    /// The `/settle` request of a lifecycle operation on `payment`, signed by `authorizer`.
    fn operation(
        &self,
        payment: &PaymentPayload,
        operation: Lifecycle,
        authorizer: &PrivateKeySigner,
    ) -> eyre::Result<VerifyRequest> {
        let (info, salt_nonce) = auth_capture::payment_of(payment, &payment.accepted)?;
        let salt_nonce = salt_nonce.ok_or_else(|| eyre::eyre!("a bound payment"))?;
        let payload = auth_capture::sign_lifecycle(operation, &info, salt_nonce, 31337, authorizer)?;
        Ok(request(PaymentPayload { payload, ..payment.clone() }, payment.accepted.clone()))
    }

    fn capture(&self, payment: &PaymentPayload, amount: u64, fee: u64, expected: (u64, u64)) -> VerifyRequest {
        let operation = Lifecycle::Capture {
            amount: U256::from(amount),
            fee: U256::from(fee),
            fee_receiver: self.fees,
            expected: (U256::from(expected.0), U256::from(expected.1)),
        };
        self.operation(payment, operation, &self.authorizer).expect("signed")
    }

    fn refund(&self, payment: &PaymentPayload, amount: u64, expected: (u64, u64)) -> VerifyRequest {
        let operation = Lifecycle::Refund {
            amount: U256::from(amount),
            expected: (U256::from(expected.0), U256::from(expected.1)),
        };
        self.operation(payment, operation, &self.authorizer).expect("signed")
    }

    async fn balance(&self, account: Address) -> eyre::Result<U256> {
        Ok(quittance_chain::read(&self.chain.chain, self.token, TestStablecoin::balanceOfCall { account }).await?)
    }

    /// The payer's, the escrow's, the payee's, the fee receiver's and the operator's balances.
    async fn balances(&self) -> eyre::Result<[U256; 5]> {
        Ok([
            self.balance(self.payer.address()).await?,
            self.balance(self.escrow).await?,
            self.balance(self.payee).await?,
            self.balance(self.fees).await?,
            self.balance(self.key.address()).await?,
        ])
    }

    /// The escrow's capturable and refundable amounts of `payment`.
    async fn state(&self, payment: &PaymentPayload) -> eyre::Result<(u64, u64)> {
        let (info, _): (PaymentInfo, _) = auth_capture::payment_of(payment, &payment.accepted)?;
        let id = info.terms().id(31337, self.escrow);
        let state =
            quittance_chain::read(&self.chain.chain, self.escrow, IPaymentEscrow::paymentStateCall { paymentId: id })
                .await?;
        Ok((state.capturable.to(), state.refundable.to()))
    }
}

/// Balances moved by exactly `delta` (payer, escrow, payee, fees, operator) since `before`.
async fn moved(setup: &Setup, before: [U256; 5], delta: [i64; 5]) -> eyre::Result<()> {
    let after = setup.balances().await?;
    for (i, name) in ["payer", "escrow", "payee", "fee receiver", "operator"].iter().enumerate() {
        let change = i128::try_from(after[i].to::<u128>())? - i128::try_from(before[i].to::<u128>())?;
        assert_eq!(change, i128::from(delta[i]), "the {name}'s balance changed by exactly {}", delta[i]);
    }
    Ok(())
}

fn refused(response: &SettleResponse, reason: ErrorReason) {
    assert!(!response.success, "expected a refusal: {response:?}");
    assert_eq!(response.error_reason, Some(reason), "{response:?}");
    assert_eq!(response.transaction, "", "nothing was sent: {response:?}");
}

#[tokio::test]
async fn an_authorization_is_held_captured_in_part_voided_and_refunded_each_once() -> eyre::Result<()> {
    let setup = setup().await?;
    let f = &setup.facilitator;
    assert!(
        f.supported().kinds.iter().any(|k| k.scheme == "auth-capture"
            && k.extra.as_ref().and_then(|e| e.get("captureAuthorizer")).and_then(|a| a.as_str())
                == Some(&f.address().to_checksum(None))),
        "offered where the collector has code, naming the facilitator as the operator"
    );
    let option = setup.option(f.address()).await?;
    let payment = setup.pay(&option, &setup.payer).await?;
    let start = setup.balances().await?;

    // Authorize: the maximum moves from the payer into the escrow, once.
    let verdict = f.verify(&request(payment.clone(), option.clone())).await;
    assert!(verdict.is_valid, "{verdict:?}");
    let authorized = f.settle(&request(payment.clone(), option.clone())).await;
    assert!(authorized.success, "{authorized:?}");
    assert_eq!(authorized.amount.as_deref(), Some("10000"));
    moved(&setup, start, [-10_000, 10_000, 0, 0, 0]).await?;
    assert_eq!(setup.state(&payment).await?, (10_000, 0));
    let replay = f.settle(&request(payment.clone(), option.clone())).await;
    assert_eq!(replay.error_reason, Some(ErrorReason::AuthCapturePaymentAlreadyCollected), "{replay:?}");
    let verdict = f.verify(&request(payment.clone(), option.clone())).await;
    assert_eq!(verdict.invalid_reason, Some(ErrorReason::AuthCapturePaymentAlreadyCollected));
    moved(&setup, start, [-10_000, 10_000, 0, 0, 0]).await?;

    // Capture 6000 with a 1% fee: 5940 to the payee, 60 to the fee receiver; asked again, the same answer.
    let capture = setup.capture(&payment, 6_000, 60, (10_000, 0));
    assert!(f.verify(&capture).await.is_valid);
    let captured = f.settle(&capture).await;
    assert!(captured.success, "{captured:?}");
    assert_eq!(captured.amount.as_deref(), Some("6000"));
    let again = f.settle(&capture).await;
    assert_eq!((again.success, &again.transaction), (true, &captured.transaction), "answered from the ledger");
    let after_capture = setup.balances().await?;
    moved(&setup, start, [-10_000, 4_000, 5_940, 60, 0]).await?;
    assert_eq!(setup.state(&payment).await?, (4_000, 6_000));

    // Above what is held, against a stale expectation, or a fee above the bound: refused, nothing moved.
    refused(
        &f.settle(&setup.capture(&payment, 5_000, 0, (4_000, 6_000))).await,
        ErrorReason::AuthCaptureInsufficientAuthorization,
    );
    refused(
        &f.settle(&setup.capture(&payment, 1_000, 0, (10_000, 0))).await,
        ErrorReason::AuthCaptureUnexpectedPaymentState,
    );
    refused(
        &f.settle(&setup.capture(&payment, 1_000, 11, (4_000, 6_000))).await,
        ErrorReason::AuthCaptureFeeBpsOutOfRange,
    );
    let stranger = PrivateKeySigner::random();
    let forged = setup.operation(
        &payment,
        Lifecycle::Capture {
            amount: U256::from(4_000u64),
            fee: U256::ZERO,
            fee_receiver: setup.fees,
            expected: (U256::from(4_000u64), U256::from(6_000u64)),
        },
        &stranger,
    )?;
    refused(&f.settle(&forged).await, ErrorReason::AuthCaptureAuthorizerSignature);
    moved(&setup, after_capture, [0; 5]).await?;

    // Void the rest: 4000 back to the payer; a second void has nothing to return.
    let void = setup.operation(&payment, Lifecycle::Void, &setup.authorizer)?;
    let voided = f.settle(&void).await;
    assert!(voided.success, "{voided:?}");
    assert_eq!(f.settle(&void).await.transaction, voided.transaction, "answered from the ledger, sent once");
    moved(&setup, start, [-6_000, 0, 5_940, 60, 0]).await?;
    assert_eq!(setup.state(&payment).await?, (0, 6_000));
    refused(
        &f.settle(&setup.capture(&payment, 1, 0, (0, 6_000))).await,
        ErrorReason::AuthCaptureInsufficientAuthorization,
    );

    // Refund 1000 of the capture from the operator's liquidity; more than it approved is refused.
    let after_void = setup.balances().await?;
    refused(
        &f.settle(&setup.refund(&payment, 2_000, (0, 6_000))).await,
        ErrorReason::AuthCaptureRefundFundingUnavailable,
    );
    refused(&f.settle(&setup.refund(&payment, 7_000, (0, 6_000))).await, ErrorReason::AuthCaptureRefundExceedsCapture);
    moved(&setup, after_void, [0; 5]).await?;
    let refund = setup.refund(&payment, 1_000, (0, 6_000));
    let refunded = f.settle(&refund).await;
    assert!(refunded.success, "{refunded:?}");
    assert_eq!(refunded.amount.as_deref(), Some("1000"));
    assert_eq!(f.settle(&refund).await.transaction, refunded.transaction, "answered from the ledger, sent once");
    moved(&setup, after_void, [1_000, 0, 0, 0, -1_000]).await?;
    assert_eq!(setup.state(&payment).await?, (0, 5_000));
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (4, 0), "authorize, capture, void, refund: each sent once, none reverted");
    Ok(())
}

#[tokio::test]
async fn a_capture_and_void_captures_part_and_returns_the_rest_in_one_settle() -> eyre::Result<()> {
    let setup = setup().await?;
    let f = &setup.facilitator;
    let option = setup.option(f.address()).await?;
    let payment = setup.pay(&option, &setup.payer).await?;
    let start = setup.balances().await?;
    assert!(f.settle(&request(payment.clone(), option.clone())).await.success);
    let (info, _) = auth_capture::payment_of(&payment, &option)?;
    let with_void = |mut capture: VerifyRequest, authorizer: &PrivateKeySigner| -> eyre::Result<VerifyRequest> {
        auth_capture::with_void_remainder(&mut capture.payment_payload.payload, &info, 31337, authorizer)?;
        Ok(capture)
    };
    // The void's signature by someone else, or a capture of the whole hold: refused, nothing moved.
    let forged = with_void(setup.capture(&payment, 7_000, 0, (10_000, 0)), &PrivateKeySigner::random())?;
    refused(&f.settle(&forged).await, ErrorReason::AuthCaptureVoidAuthorizerSignature);
    let whole = with_void(setup.capture(&payment, 10_000, 0, (10_000, 0)), &setup.authorizer)?;
    refused(&f.settle(&whole).await, ErrorReason::AuthCaptureVoidRemainderFullCapture);
    let mut on_a_void = setup.operation(&payment, Lifecycle::Void, &setup.authorizer)?;
    auth_capture::with_void_remainder(&mut on_a_void.payment_payload.payload, &info, 31337, &setup.authorizer)?;
    refused(&f.settle(&on_a_void).await, ErrorReason::AuthCaptureVoidAuthorizerSignature);
    moved(&setup, start, [-10_000, 10_000, 0, 0, 0]).await?;

    // Capture 7000, void the 3000 left: one /settle, two transactions, each once however often asked.
    let both = with_void(setup.capture(&payment, 7_000, 0, (10_000, 0)), &setup.authorizer)?;
    let captured = f.settle(&both).await;
    assert!(captured.success, "{captured:?}");
    assert_eq!(captured.amount.as_deref(), Some("7000"), "the amount captured");
    moved(&setup, start, [-7_000, 0, 7_000, 0, 0]).await?;
    assert_eq!(setup.state(&payment).await?, (0, 7_000));
    assert_eq!(f.settle(&both).await.transaction, captured.transaction, "answered from the ledger");
    moved(&setup, start, [-7_000, 0, 7_000, 0, 0]).await?;
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (3, 0), "authorize, capture, void: each once");
    Ok(())
}

#[tokio::test]
async fn bad_inputs_are_refused_with_the_specs_codes_and_move_nothing() -> eyre::Result<()> {
    let setup = setup().await?;
    let f = &setup.facilitator;
    let option = setup.option(f.address()).await?;
    let before = setup.balances().await?;
    let tweak = |edit: &dyn Fn(&mut serde_json::Value)| -> eyre::Result<PaymentRequirements> {
        let mut value = serde_json::to_value(&option)?;
        edit(&mut value);
        Ok(serde_json::from_value(value)?)
    };
    let settle_refused = |payment: PaymentPayload, requirements: PaymentRequirements, reason: ErrorReason| async move {
        let verdict = f.verify(&request(payment.clone(), requirements.clone())).await;
        assert_eq!(verdict.invalid_reason, Some(reason.clone()), "{verdict:?}");
        refused(&f.settle(&request(payment, requirements)).await, reason);
    };

    // Another operator: not this facilitator's to redeem.
    let other = tweak(&|v| v["extra"]["captureAuthorizer"] = serde_json::json!(Address::repeat_byte(7)))?;
    settle_refused(setup.pay(&other, &setup.payer).await?, other, ErrorReason::AuthCaptureOperatorNotAdmitted).await;
    // The charge flow, a fee floor, another escrow, another operator type.
    for (field, value, reason) in [
        ("paymentFlow", serde_json::json!("authorization"), ErrorReason::AuthCaptureUnsupportedPaymentFlow),
        ("minFeeBps", serde_json::json!(50), ErrorReason::AuthCaptureExtra),
        ("authCaptureEscrow", serde_json::json!(Address::repeat_byte(8)), ErrorReason::AuthCaptureExtra),
        ("operatorType", serde_json::json!("custom"), ErrorReason::AuthCaptureUnsupportedOperatorType),
    ] {
        let bad = tweak(&|v| v["extra"][field] = value.clone())?;
        settle_refused(setup.pay(&bad, &setup.payer).await?, bad, reason).await;
    }
    // Paid for less than the route asks; terms changed after signing (the nonce binds them); a forged
    // signature; a payer without the funds.
    let payment = setup.pay(&option, &setup.payer).await?;
    let cheaper = tweak(&|v| v["amount"] = serde_json::json!("9999"))?;
    settle_refused(payment.clone(), cheaper, ErrorReason::AuthCaptureAmountMismatch).await;
    let later = tweak(&|v| {
        v["extra"]["refundDeadline"] = serde_json::json!(v["extra"]["refundDeadline"].as_u64().unwrap_or(0) + 1)
    })?;
    settle_refused(
        PaymentPayload { accepted: later.clone(), ..payment.clone() },
        later,
        ErrorReason::AuthCaptureNonceMismatch,
    )
    .await;
    let mut forged = payment.clone();
    forged.payload["signature"] = serde_json::json!(format!("0x{}1b", "11".repeat(64)));
    settle_refused(forged, option.clone(), ErrorReason::AuthCaptureSignature).await;
    let mut unbound = payment.clone();
    unbound.payload["saltNonce"] = serde_json::json!(B256::repeat_byte(3));
    settle_refused(unbound, option.clone(), ErrorReason::AuthCaptureSaltBindingMismatch).await;
    let poor = PrivateKeySigner::random();
    settle_refused(setup.pay(&option, &poor).await?, option.clone(), ErrorReason::AuthCaptureInsufficientBalance).await;

    // Lifecycle: an unknown operation; a route without a receiver authorizer; a capture of a payment never
    // authorized; a refund after a void (nothing captured).
    let mut steal = setup.capture(&payment, 1, 0, (10_000, 0));
    steal.payment_payload.payload["type"] = serde_json::json!("steal");
    refused(&f.settle(&steal).await, ErrorReason::AuthCapturePayloadType);
    let unauthorized_route = tweak(&|v| {
        v["extra"].as_object_mut().map(|e| e.remove("receiverAuthorizer"));
    })?;
    let mut lifecycle = setup.capture(&payment, 1, 0, (10_000, 0));
    lifecycle.payment_requirements = unauthorized_route;
    refused(&f.settle(&lifecycle).await, ErrorReason::AuthCaptureLifecycleNotRelayed);
    refused(
        &f.settle(&setup.capture(&payment, 1, 0, (10_000, 0))).await,
        ErrorReason::AuthCaptureUnexpectedPaymentState,
    );
    refused(&f.settle(&setup.capture(&payment, 1, 0, (0, 0))).await, ErrorReason::AuthCaptureInsufficientAuthorization);
    moved(&setup, before, [0; 5]).await?;
    assert!(f.settle(&request(payment.clone(), option.clone())).await.success);
    assert!(f.settle(&setup.operation(&payment, Lifecycle::Void, &setup.authorizer)?).await.success);
    refused(&f.settle(&setup.refund(&payment, 1, (0, 0))).await, ErrorReason::AuthCaptureRefundExceedsCapture);
    refused(
        &f.settle(&setup.operation(&payment, Lifecycle::Void, &PrivateKeySigner::random())?).await,
        ErrorReason::AuthCaptureAuthorizerSignature,
    );
    moved(&setup, before, [0; 5]).await?;
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (2, 0), "only the authorize and the void were sent");
    Ok(())
}

#[tokio::test]
async fn a_crash_between_recording_and_broadcasting_is_concluded_on_restart_once() -> eyre::Result<()> {
    let setup = setup().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.sqlite");
    let option = setup.option(setup.facilitator.address()).await?;
    let (unsent, lost) = (setup.pay(&option, &setup.payer).await?, setup.pay(&option, &setup.payer).await?);
    let start = setup.balances().await?;
    let open = || async {
        Facilitator::new(setup.chain.clone(), setup.key.clone(), Arc::new(SqliteLedger::open(&path)?), fast()).await
    };
    {
        let facilitator = open().await?;
        // The node takes one authorization but its answer is lost; it never sees the other (recorded, unsent).
        setup.chain.lose_answers.store(1, Ordering::SeqCst);
        let pending = facilitator.settle(&request(lost.clone(), option.clone())).await;
        assert_eq!(pending.error_reason, Some(ErrorReason::SettlementPending), "{pending:?}");
        setup.chain.unreachable.store(true, Ordering::SeqCst);
        let pending = facilitator.settle(&request(unsent.clone(), option.clone())).await;
        assert_eq!(pending.error_reason, Some(ErrorReason::SettlementPending), "{pending:?}");
        // The process stops here.
    }
    setup.chain.unreachable.store(false, Ordering::SeqCst);
    assert_eq!(SqliteLedger::open(&path)?.unfinished()?.len(), 2, "both recorded before the crash");
    {
        let restarted = open().await?;
        for payment in [&lost, &unsent] {
            let answer = restarted.settle(&request(payment.clone(), option.clone())).await;
            assert!(answer.success, "{answer:?}");
        }
        moved(&setup, start, [-20_000, 20_000, 0, 0, 0]).await?;
        // A capture recorded but never broadcast, then the process stops again.
        setup.chain.unreachable.store(true, Ordering::SeqCst);
        let pending = restarted.settle(&setup.capture(&lost, 3_000, 0, (10_000, 0))).await;
        assert_eq!(pending.error_reason, Some(ErrorReason::SettlementPending), "{pending:?}");
    }
    setup.chain.unreachable.store(false, Ordering::SeqCst);
    let restarted = open().await?;
    let captured = restarted.settle(&setup.capture(&lost, 3_000, 0, (10_000, 0))).await;
    assert!(captured.success, "{captured:?}");
    assert!(SqliteLedger::open(&path)?.unfinished()?.is_empty());
    let (reached, reverted) = setup.chain.mined().await?;
    assert_eq!((reached, reverted), (3, 0), "two authorizations and a capture, none twice, none reverted");
    moved(&setup, start, [-20_000, 17_000, 3_000, 0, 0]).await
}
