//! The `auth-capture` scheme (v1.1) on EVM, with this facilitator as the `delegated` operator: the client's
//! `ReceiveWithAuthorization` of a maximum is redeemed through Quittance's `AuthCaptureCollector` (at the
//! canonical EIP-3009 token collector's address) into Quittance's `PaymentEscrow`; the resource server then
//! asks for `capture`, `void` or `refund` as `/settle` calls with `payload.type`, each consented to by the
//! route's receiver authorizer (an EIP-712 signature, ECDSA or ERC-1271).
//!
//! `/verify` of a collect payload runs the protocol's offline checks (terms against `extra`, this facilitator
//! the operator, the collector, the nonce binding every PaymentInfo field, the salt binding), the time
//! windows, the payer's signature (ECDSA, or ERC-1271 for a payer with code), the payer's balance, whether
//! the authorization was used, and a simulation of the collector's `authorize`. A lifecycle payload is
//! checked against the route and the escrow's state: the authorizer's expected capturable and refundable
//! amounts must be what the escrow holds (each signature is single-use), a capture at most what is held, a
//! void only of something held, a refund at most what was captured and before the refund deadline.
//!
//! Every operation goes through the engine under its own ledger key ([`Operation::idempotency_key`]): the
//! authorization's nonce, the operation, its amount and the expected state. A retried operation is
//! answered from the ledger and never sent twice; the collect is answered as a success once (a replay is
//! told `invalid_auth_capture_evm_payment_already_collected`), a lifecycle operation with its one outcome.
//!
//! Refunds: `PaymentEscrow.refund` pulls the refunded tokens from its caller, here the operator (this
//! facilitator's account). The facilitator relays a refund only from liquidity its operator provided for
//! it, out of band: the account's balance of the token, approved to the escrow. Short of either it refuses
//! with `invalid_auth_capture_evm_refund_funding_unavailable` and sends nothing. (A seller may instead refund
//! from its own funds by calling `PaymentEscrow.refund` as the payee, which the escrow allows.)
//!
//! `paymentFlow: "authorization"` (a terminal `charge`) is refused with
//! `invalid_auth_capture_evm_unsupported_payment_flow`: Quittance's collector only authorizes; a seller
//! wanting a charge authorizes and captures at once.

use crate::{
    Facilitator,
    engine::{Expected, Recheck, Settlement},
    scheme::SchemeRules,
    verify::{Refusal, Simulation, unexpected},
};
use alloy::{
    primitives::{Address, B256, Bytes, Log, U256},
    sol,
    sol_types::{SolCall, SolEvent},
};
use quittance_bindings::{IAuthCaptureCollector, IERC3009, IPaymentEscrow, relayout};
use quittance_chain::{Chain, ChainError};
use quittance_x402::{
    ErrorReason, SettleResponse, VerifyRequest,
    auth_capture::{self, EIP3009_TOKEN_COLLECTOR, LifecycleChecked, Operation, PaymentInfo},
    escrow::PaymentTerms,
};

sol! {
    /// What the facilitator reads of an ERC-20 balance and allowance.
    interface IFunds {
        function balanceOf(address account) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
    }
}

/// The `auth-capture` scheme.
pub(crate) struct AuthCapture;

/// A request, checked offline: the collect, or a lifecycle operation.
enum Checked {
    Collect(Box<auth_capture::Checked>),
    Lifecycle(Box<LifecycleChecked>),
}

impl Checked {
    fn payer(&self) -> Address {
        match self {
            Self::Collect(c) => c.payer(),
            Self::Lifecycle(l) => l.info.payer,
        }
    }
}

/// The collector's `PaymentInfo` of the protocol's.
fn collector_info(info: &PaymentInfo) -> IAuthCaptureCollector::PaymentInfo {
    IAuthCaptureCollector::PaymentInfo {
        operator: info.operator,
        payer: info.payer,
        receiver: info.receiver,
        token: info.token,
        maxAmount: info.maxAmount,
        preApprovalExpiry: info.preApprovalExpiry,
        authorizationExpiry: info.authorizationExpiry,
        refundExpiry: info.refundExpiry,
        minFeeBps: info.minFeeBps,
        maxFeeBps: info.maxFeeBps,
        feeReceiver: info.feeReceiver,
        salt: info.salt,
    }
}

/// The transaction data of a checked operation.
fn call_data(checked: &Checked) -> Bytes {
    match checked {
        Checked::Collect(c) => IAuthCaptureCollector::authorizeCall {
            info: collector_info(&c.info),
            signature: c.payload.signature.clone(),
        }
        .abi_encode()
        .into(),
        Checked::Lifecycle(l) => {
            let terms = relayout::<IPaymentEscrow::PaymentTerms>(&l.info.terms());
            match l.kind {
                Operation::Capture => IPaymentEscrow::captureCall {
                    terms,
                    amount: l.amount,
                    fee: l.fee_amount,
                    feeReceiver: l.fee_receiver,
                }
                .abi_encode()
                .into(),
                Operation::Refund => IPaymentEscrow::refundCall { terms, amount: l.amount }.abi_encode().into(),
                Operation::Void | Operation::Authorize => IPaymentEscrow::voidCall { terms }.abi_encode().into(),
            }
        }
    }
}

/// Whether a receipt's logs show the operation: the collector's `PaymentCollected` of the authorization's
/// nonce and amount, or the escrow's `PaymentCaptured` / `PaymentVoided` / `PaymentRefunded` of the payment
/// (with the amount, but for a void, which returns whatever was held).
pub(crate) fn shown(contract: Address, operation: Operation, id: B256, amount: U256, logs: &[Log]) -> bool {
    logs.iter().filter(|log| log.address == contract).any(|log| match operation {
        Operation::Authorize => IAuthCaptureCollector::PaymentCollected::decode_log_data(&log.data)
            .is_ok_and(|e| e.signatureNonce == id && e.amount == amount),
        Operation::Capture => IPaymentEscrow::PaymentCaptured::decode_log_data(&log.data)
            .is_ok_and(|e| e.paymentId == id && e.amount == amount),
        Operation::Void => IPaymentEscrow::PaymentVoided::decode_log_data(&log.data).is_ok_and(|e| e.paymentId == id),
        Operation::Refund => IPaymentEscrow::PaymentRefunded::decode_log_data(&log.data)
            .is_ok_and(|e| e.paymentId == id && e.amount == amount),
    })
}

/// What a recorded `auth-capture` transaction to `to` must show (after a restart): its payer and expectation.
pub(crate) fn expected_of_call(to: Address, input: &[u8], chain_id: u64) -> Option<(Address, Expected)> {
    let expected = |operation, id, amount| Expected::AuthCapture { contract: to, operation, id, amount };
    if let Ok(call) = IAuthCaptureCollector::authorizeCall::abi_decode(input) {
        let i = call.info;
        let info = PaymentInfo {
            operator: i.operator,
            payer: i.payer,
            receiver: i.receiver,
            token: i.token,
            maxAmount: i.maxAmount,
            preApprovalExpiry: i.preApprovalExpiry,
            authorizationExpiry: i.authorizationExpiry,
            refundExpiry: i.refundExpiry,
            minFeeBps: i.minFeeBps,
            maxFeeBps: i.maxFeeBps,
            feeReceiver: i.feeReceiver,
            salt: i.salt,
        };
        let nonce = info.nonce(chain_id, auth_capture::AUTH_CAPTURE_ESCROW);
        return Some((info.payer, expected(Operation::Authorize, nonce, U256::from(info.maxAmount))));
    }
    if let Ok(call) = IPaymentEscrow::captureCall::abi_decode(input) {
        let id = relayout::<PaymentTerms>(&call.terms).id(chain_id, to);
        return Some((call.terms.payer, expected(Operation::Capture, id, call.amount)));
    }
    if let Ok(call) = IPaymentEscrow::refundCall::abi_decode(input) {
        let id = relayout::<PaymentTerms>(&call.terms).id(chain_id, to);
        return Some((call.terms.payer, expected(Operation::Refund, id, call.amount)));
    }
    if let Ok(call) = IPaymentEscrow::voidCall::abi_decode(input) {
        let id = relayout::<PaymentTerms>(&call.terms).id(chain_id, to);
        return Some((call.terms.payer, expected(Operation::Void, id, U256::ZERO)));
    }
    None
}

impl<C: Chain + 'static> Facilitator<C> {
    /// The `PaymentEscrow` behind the collector, or `unsupported_scheme` on a chain without the collector.
    fn auth_capture_escrow(&self) -> Result<Address, Refusal> {
        self.core.auth_capture.ok_or_else(|| ErrorReason::UnsupportedScheme.into())
    }
}

impl AuthCapture {
    /// The request checked offline, with the signature of the payer (collect) or of the receiver authorizer
    /// (lifecycle): every check that holds whatever the time and the chain's state.
    async fn checked<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> Result<Checked, Refusal> {
        facilitator.auth_capture_escrow()?;
        let (payment, requirements) = (&request.payment_payload, &request.payment_requirements);
        let me = facilitator.address();
        let checked = match auth_capture::operation(payment)? {
            Operation::Authorize => Checked::Collect(Box::new(auth_capture::check_terms(payment, requirements, me)?)),
            _ => Checked::Lifecycle(Box::new(auth_capture::check_lifecycle(payment, requirements, me)?)),
        };
        let payer = checked.payer();
        let (signer, digest, signature, eoa, reason) = match &checked {
            Checked::Collect(c) => (
                payer,
                c.signing_hash(),
                &c.payload.signature,
                c.check_eoa_signature(),
                ErrorReason::AuthCaptureSignature,
            ),
            Checked::Lifecycle(l) => (
                l.extra.receiver_authorizer(),
                l.digest,
                &l.authorizer_signature,
                l.check_eoa_signature(),
                ErrorReason::AuthCaptureAuthorizerSignature,
            ),
        };
        facilitator.check_signature(signer, digest, signature, || eoa).await.map_err(|refusal| Refusal {
            reason: match refusal.reason {
                ErrorReason::UnexpectedVerifyError => ErrorReason::UnexpectedVerifyError,
                _ => reason,
            },
            payer: Some(payer),
        })?;
        if let Checked::Lifecycle(l) = &checked
            && let Some((signature, digest)) = &l.void
        {
            let void = l.void_remainder().map(|v| v.check_eoa_signature()).unwrap_or(Ok(()));
            let authorizer = l.extra.receiver_authorizer();
            facilitator.check_signature(authorizer, *digest, signature, || void).await.map_err(|refusal| Refusal {
                reason: match refusal.reason {
                    ErrorReason::UnexpectedVerifyError => ErrorReason::UnexpectedVerifyError,
                    _ => ErrorReason::AuthCaptureVoidAuthorizerSignature,
                },
                payer: Some(payer),
            })?;
        }
        Ok(checked)
    }

    /// The operation's ledger key and settlement.
    fn settlement<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        checked: &Checked,
    ) -> Result<(B256, Settlement), Refusal> {
        let escrow = facilitator.auth_capture_escrow()?;
        let data = call_data(checked);
        Ok(match checked {
            Checked::Collect(c) => {
                let key = Operation::Authorize.idempotency_key(c.nonce, U256::ZERO, (U256::ZERO, U256::ZERO));
                let settlement = Settlement {
                    payer: c.payer(),
                    to: EIP3009_TOKEN_COLLECTOR,
                    data,
                    value: U256::ZERO,
                    expected: Expected::AuthCapture {
                        contract: EIP3009_TOKEN_COLLECTOR,
                        operation: Operation::Authorize,
                        id: c.nonce,
                        amount: c.amount(),
                    },
                    // The token takes it strictly before `validBefore`, the escrow strictly before the
                    // pre-approval expiry (the same time).
                    valid_before: Some(c.payload.authorization.valid_before.saturating_to()),
                };
                (key, settlement)
            }
            Checked::Lifecycle(l) => {
                let id = l.info.terms().id(facilitator.core.chain_id, escrow);
                let valid_before = match l.kind {
                    Operation::Capture => Some(l.info.authorizationExpiry.to::<u64>()),
                    Operation::Refund => Some(l.info.refundExpiry.to::<u64>()),
                    Operation::Void | Operation::Authorize => None,
                };
                let settlement = Settlement {
                    payer: l.info.payer,
                    to: escrow,
                    data,
                    value: U256::ZERO,
                    expected: Expected::AuthCapture { contract: escrow, operation: l.kind, id, amount: l.amount },
                    valid_before,
                };
                (l.idempotency_key(), settlement)
            }
        })
    }

    /// The chain's checks of a collect: its time window, the token's code, the payer's balance and unused
    /// authorization, then a simulation of the collector's `authorize`.
    async fn check_collect<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        c: &auth_capture::Checked,
        simulation: Simulation,
    ) -> Result<(), ErrorReason> {
        let token = c.info.token;
        let refusal = |r: Refusal| r.reason;
        let now = facilitator.core.chain.timestamp().await.map_err(|e| unexpected(e).reason)?;
        c.check_time(now)?;
        facilitator.require_code(token).await.map_err(refusal)?;
        let (balance, used) = tokio::join!(
            facilitator.read(token, IFunds::balanceOfCall { account: c.payer() }),
            facilitator.read(token, IERC3009::authorizationStateCall { authorizer: c.payer(), nonce: c.nonce }),
        );
        if used.map_err(|_| ErrorReason::AuthCaptureSimulationFailed)? {
            return Err(ErrorReason::AuthCapturePaymentAlreadyCollected);
        }
        if balance.map_err(refusal)? < c.amount() {
            return Err(ErrorReason::AuthCaptureInsufficientBalance);
        }
        if simulation == Simulation::LeaveToEstimate {
            return Ok(());
        }
        let call = IAuthCaptureCollector::authorizeCall {
            info: collector_info(&c.info),
            signature: c.payload.signature.clone(),
        };
        match facilitator.simulate(EIP3009_TOKEN_COLLECTOR, call.abi_encode()).await {
            Ok(_) => Ok(()),
            Err(ChainError::Reverted { .. }) => Err(ErrorReason::AuthCaptureSimulationFailed),
            Err(err) => Err(unexpected(err).reason),
        }
    }

    /// The chain's checks of a lifecycle operation against the escrow's state and the time, then a
    /// simulation of the escrow call.
    async fn check_lifecycle<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        l: &LifecycleChecked,
        data: Bytes,
        simulation: Simulation,
    ) -> Result<(), ErrorReason> {
        let escrow = facilitator.auth_capture_escrow().map_err(|r| r.reason)?;
        let id = l.info.terms().id(facilitator.core.chain_id, escrow);
        let (now, state) = tokio::join!(
            facilitator.core.chain.timestamp(),
            facilitator.read(escrow, IPaymentEscrow::paymentStateCall { paymentId: id }),
        );
        let now = now.map_err(|e| unexpected(e).reason)?;
        let state = state.map_err(|r| r.reason)?;
        let (capturable, refundable) = (U256::from(state.capturable), U256::from(state.refundable));
        let expected_state = || {
            if (capturable, refundable) == l.expected {
                Ok(())
            } else {
                Err(ErrorReason::AuthCaptureUnexpectedPaymentState)
            }
        };
        match l.kind {
            Operation::Capture => {
                if now >= l.info.authorizationExpiry.to::<u64>() {
                    return Err(ErrorReason::AuthCaptureCaptureDeadlineExpired);
                }
                expected_state()?;
                if l.amount > capturable {
                    return Err(ErrorReason::AuthCaptureInsufficientAuthorization);
                }
                if l.void.is_some() && l.amount == capturable {
                    return Err(ErrorReason::AuthCaptureVoidRemainderFullCapture);
                }
            }
            Operation::Void | Operation::Authorize => {
                if capturable.is_zero() {
                    return Err(ErrorReason::AuthCaptureZeroAuthorization);
                }
            }
            Operation::Refund => {
                if now >= l.info.refundExpiry.to::<u64>() {
                    return Err(ErrorReason::AuthCaptureRefundDeadlineExpired);
                }
                expected_state()?;
                if l.amount > refundable {
                    return Err(ErrorReason::AuthCaptureRefundExceedsCapture);
                }
                let me = facilitator.address();
                let (balance, allowance) = tokio::join!(
                    facilitator.read(l.info.token, IFunds::balanceOfCall { account: me }),
                    facilitator.read(l.info.token, IFunds::allowanceCall { owner: me, spender: escrow }),
                );
                if balance.map_err(|r| r.reason)? < l.amount || allowance.map_err(|r| r.reason)? < l.amount {
                    return Err(ErrorReason::AuthCaptureRefundFundingUnavailable);
                }
            }
        }
        if simulation == Simulation::LeaveToEstimate {
            return Ok(());
        }
        match facilitator.simulate(escrow, data.to_vec()).await {
            Ok(_) => Ok(()),
            Err(ChainError::Reverted { .. }) => Err(ErrorReason::AuthCaptureSimulationFailed),
            Err(err) => Err(unexpected(err).reason),
        }
    }
}

impl AuthCapture {
    /// The void of a capture-and-void, after its capture succeeded: through the engine under the void's own
    /// key, unless nothing is held any more (a race emptied it, or an earlier attempt voided it). Its
    /// outcome is the engine's to conclude; the answer is the capture's.
    async fn void_remainder<C: Chain + 'static>(facilitator: &Facilitator<C>, void: LifecycleChecked) {
        let Ok(escrow) = facilitator.auth_capture_escrow() else { return };
        let id = void.info.terms().id(facilitator.core.chain_id, escrow);
        match facilitator.read(escrow, IPaymentEscrow::paymentStateCall { paymentId: id }).await {
            Ok(state) if state.capturable != 0 => {}
            _ => return,
        }
        let checked = Checked::Lifecycle(Box::new(void));
        let Ok((key, settlement)) = Self::settlement(facilitator, &checked) else { return };
        let voided = facilitator.execute(key, settlement, Recheck::Nothing).await;
        if !voided.success {
            tracing::warn!(reason = ?voided.error_reason, "the void after a capture did not conclude yet");
        }
    }
}

impl SchemeRules for AuthCapture {
    async fn check<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
        simulation: Simulation,
    ) -> Result<Address, Refusal> {
        let checked = Self::checked(facilitator, request).await?;
        let payer = checked.payer();
        let outcome = match &checked {
            Checked::Collect(c) => Self::check_collect(facilitator, c, simulation).await,
            Checked::Lifecycle(l) => Self::check_lifecycle(facilitator, l, call_data(&checked), simulation).await,
        };
        outcome.map(|()| payer).map_err(|reason| Refusal { reason, payer: Some(payer) })
    }

    async fn identify<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> Result<Option<(B256, Settlement)>, Refusal> {
        let checked = Self::checked(facilitator, request).await?;
        Self::settlement(facilitator, &checked).map(Some)
    }

    /// Settles the operation once per ledger key, through the engine: the collect answered as a success
    /// once, a lifecycle operation with its one outcome however often it is asked.
    async fn settle<C: Chain + 'static>(facilitator: &Facilitator<C>, request: &VerifyRequest) -> SettleResponse {
        let checked = match Self::checked(facilitator, request).await {
            Ok(checked) => checked,
            Err(refusal) => return facilitator.failure(refusal.reason, refusal.payer, None),
        };
        let (key, settlement) = match Self::settlement(facilitator, &checked) {
            Ok(found) => found,
            Err(refusal) => return facilitator.failure(refusal.reason, refusal.payer, None),
        };
        let response = facilitator.execute(key, settlement, Recheck::Payment(Box::new(request.clone()))).await;
        match checked {
            Checked::Collect(_) => facilitator.answer_once(key, request, response),
            Checked::Lifecycle(l) => {
                if response.success
                    && let Some(void) = l.void_remainder()
                {
                    Self::void_remainder(facilitator, void).await;
                }
                response
            }
        }
    }
}
