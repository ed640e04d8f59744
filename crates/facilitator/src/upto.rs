//! The `upto` scheme on EVM: the payer's Permit2 permit of a maximum, spendable only by x402's
//! `x402UptoPermit2Proxy` and only when this facilitator (the witness's `facilitator`) calls it; the server
//! says at `/settle` what to take (the requirements' `amount`, at most the maximum).
//!
//! `/verify` checks the payment against the maximum, as the official facilitator does: offline terms, the
//! witness naming this facilitator, the time window, Permit2's and the proxy's code, the payer's signature
//! (ECDSA, or ERC-1271 for a payer with code), the payer's balance and allowance to Permit2, then a
//! simulation of the proxy's `settle`. `/settle` checks the same again at the maximum and calls the proxy's
//! `settle` for the amount to take.
//!
//! A payment is identified by its Permit2 owner and nonce (Permit2's nonces are the owner's across every
//! spender, so one nonce is one payment whichever proxy spends it). Settling for 0 sends nothing, as the
//! official facilitator does: the permit's nonce stays unused on chain, so the ledger alone remembers that
//! the payment was settled, and a later `/settle` of it for any amount is refused as a replay. (A ledger
//! lost with its disk would let that payment be settled once more, by this facilitator only, until its
//! deadline.)

use crate::{
    Facilitator,
    engine::{Expected, Recheck, Settlement},
    scheme::SchemeRules,
    verify::{Refusal, Simulation, unexpected},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    sol,
    sol_types::SolCall,
};
use quittance_bindings::{ISignatureTransfer, X402UptoPermit2Proxy, x402_upto_permit2_proxy};
use quittance_chain::{Chain, ChainError};
use quittance_x402::{
    ErrorReason, PaymentRequirements, SettleResponse, VerifyRequest,
    upto::{self, PERMIT2_ADDRESS, UPTO_PROXY_ADDRESS, UptoTerms},
};

sol! {
    /// What the facilitator reads of the payer's funds in an ERC-20 token.
    interface IFunds {
        function balanceOf(address account) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
    }
}

/// The `upto` scheme.
pub(crate) struct Upto;

/// The proxy's call that settles `amount` of an `upto` payment: `settle`, or `settleWithPermit` when the
/// payment carries an EIP-2612 permit to Permit2 (`eip2612GasSponsoring`).
pub(crate) fn settlement_data(checked: &upto::Checked, amount: U256) -> Bytes {
    use x402_upto_permit2_proxy::{ISignatureTransfer as Permit2Types, IX402UptoPermit2Proxy::Witness};
    let a = &checked.authorization;
    let permit = Permit2Types::PermitTransferFrom {
        permitted: Permit2Types::TokenPermissions { token: a.permitted.token, amount: a.permitted.amount },
        nonce: a.nonce,
        deadline: a.deadline,
    };
    let witness = Witness { to: a.witness.to, facilitator: a.witness.facilitator, validAfter: a.witness.valid_after };
    let signature = checked.signature.clone();
    match &checked.sponsored {
        None => {
            X402UptoPermit2Proxy::settleCall { permit, amount, owner: a.from, witness, signature }.abi_encode().into()
        }
        Some(p) => X402UptoPermit2Proxy::settleWithPermitCall {
            permit2612: x402_upto_permit2_proxy::IX402Permit2Proxy::EIP2612Permit {
                value: p.amount,
                deadline: p.deadline,
                r: p.r,
                s: p.s,
                v: p.v,
            },
            permit,
            amount,
            owner: a.from,
            witness,
            signature,
        }
        .abi_encode()
        .into(),
    }
}

/// What an `upto` settlement transaction must show, read back from its calldata (after a restart): the
/// payer, and the transfer of the amount it settles.
pub(crate) fn expected_of_call(input: &[u8]) -> Option<(Address, Expected)> {
    let (permit, amount, owner, witness) = match X402UptoPermit2Proxy::settleCall::abi_decode(input) {
        Ok(call) => (call.permit, call.amount, call.owner, call.witness),
        Err(_) => {
            let call = X402UptoPermit2Proxy::settleWithPermitCall::abi_decode(input).ok()?;
            (call.permit, call.amount, call.owner, call.witness)
        }
    };
    Some((owner, Expected::Transfer { token: permit.permitted.token, from: owner, to: witness.to, value: amount }))
}

/// Checks that the payment is this facilitator's to settle: the witness names it (only its account can call
/// the proxy for this permit), and so does `extra.facilitatorAddress` when the requirements carry one.
fn check_facilitator(
    facilitator: Address,
    checked: &upto::Checked,
    requirements: &PaymentRequirements,
) -> Result<(), ErrorReason> {
    checked.check_facilitator(facilitator)?;
    match UptoTerms::from_requirements(requirements)?.facilitator {
        Some(named) if named != facilitator => Err(ErrorReason::UptoFacilitatorMismatch),
        _ => Ok(()),
    }
}

/// The request checked again before a settlement is sent: the official facilitator checks a settlement
/// against the permitted maximum (balance, allowance and simulation included), whatever amount it takes.
fn at_maximum(request: &VerifyRequest, checked: &upto::Checked) -> VerifyRequest {
    let mut request = request.clone();
    request.payment_requirements.amount = checked.maximum().to_string();
    request
}

impl Upto {
    /// The payment's ledger key, its settlement for the requirements' amount, and the payment: every check
    /// that holds whatever the time (its terms with the amount at most the maximum, this facilitator named,
    /// the payer's signature).
    async fn identified<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> Result<(B256, Settlement, upto::Checked), Refusal> {
        let (checked, amount) = upto::check_settlement(&request.payment_payload, &request.payment_requirements)?;
        let payer = checked.payer();
        let with_payer = |reason: ErrorReason| Refusal { reason, payer: Some(payer) };
        check_facilitator(facilitator.address(), &checked, &request.payment_requirements).map_err(with_payer)?;
        check_payer_signature(facilitator, &checked).await?;
        let a = &checked.authorization;
        let expected = if amount.is_zero() {
            Expected::Nothing
        } else {
            Expected::Transfer { token: a.permitted.token, from: a.from, to: a.witness.to, value: amount }
        };
        let settlement = Settlement {
            payer,
            to: UPTO_PROXY_ADDRESS,
            data: settlement_data(&checked, amount),
            value: U256::ZERO,
            expected,
            // Permit2 takes the permit up to and including its deadline.
            valid_before: Some(a.deadline.saturating_to::<u64>().saturating_add(1)),
        };
        let key = facilitator.payment_key(PERMIT2_ADDRESS, a.from, B256::from(a.nonce));
        Ok((key, settlement, checked))
    }
}

/// Checks the payer's signature of the permit: ECDSA for a payer without code, ERC-1271 otherwise.
async fn check_payer_signature<C: Chain + 'static>(
    facilitator: &Facilitator<C>,
    checked: &upto::Checked,
) -> Result<(), Refusal> {
    let payer = checked.payer();
    facilitator
        .check_signature(payer, checked.signing_hash(), &checked.signature, || checked.check_eoa_signature())
        .await
        .map_err(|refusal| Refusal {
            reason: match refusal.reason {
                ErrorReason::ExactEvmSignature => ErrorReason::Permit2InvalidSignature,
                other => other,
            },
            payer: Some(payer),
        })
}

/// Whether Permit2 holds `owner`'s unordered `nonce` as used (its bit in `nonceBitmap(owner, nonce >> 8)`).
pub(crate) async fn nonce_used<C: Chain + 'static>(
    facilitator: &Facilitator<C>,
    owner: Address,
    nonce: U256,
) -> Result<bool, Refusal> {
    let word = facilitator
        .read(PERMIT2_ADDRESS, ISignatureTransfer::nonceBitmapCall { owner, wordPosition: nonce >> 8 })
        .await?;
    Ok(word.bit((nonce & U256::from(0xff)).to::<usize>()))
}

impl SchemeRules for Upto {
    async fn check<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
        simulation: Simulation,
    ) -> Result<Address, Refusal> {
        let requirements = &request.payment_requirements;
        let checked = upto::check_terms(&request.payment_payload, requirements)?;
        let payer = checked.payer();
        let with_payer = |reason: ErrorReason| Refusal { reason, payer: Some(payer) };
        check_facilitator(facilitator.address(), &checked, requirements).map_err(with_payer)?;
        let asset = checked.authorization.permitted.token;
        let (now, asset_code, proxy_code, permit2_code) = tokio::join!(
            facilitator.core.chain.timestamp(),
            facilitator.require_code(asset),
            facilitator.require_code(UPTO_PROXY_ADDRESS),
            facilitator.require_code(PERMIT2_ADDRESS),
        );
        checked.check_time(now.map_err(unexpected)?).map_err(with_payer)?;
        asset_code.map_err(|r| with_payer(r.reason))?;
        for code in [proxy_code, permit2_code] {
            code.map_err(|r| {
                with_payer(match r.reason {
                    ErrorReason::AssetNotDeployedContract => ErrorReason::Permit2ProxyNotDeployed,
                    other => other,
                })
            })?;
        }
        check_payer_signature(facilitator, &checked).await?;

        let maximum = checked.maximum();
        let (balance, allowance) = tokio::join!(
            facilitator.read(asset, IFunds::balanceOfCall { account: payer }),
            facilitator.read(asset, IFunds::allowanceCall { owner: payer, spender: PERMIT2_ADDRESS }),
        );
        if balance.map_err(|r| with_payer(r.reason))? < maximum {
            return Err(with_payer(ErrorReason::Permit2InsufficientBalance));
        }
        // An EIP-2612 permit carried along approves Permit2 in the same transaction (the simulation tells
        // whether it does); without one, the allowance must already be there.
        let allowance = allowance.map_err(|r| with_payer(r.reason))?;
        if checked.sponsored.is_none() && allowance < maximum {
            return Err(with_payer(ErrorReason::Permit2AllowanceRequired));
        }
        if simulation == Simulation::LeaveToEstimate {
            return Ok(payer);
        }

        match facilitator.simulate(UPTO_PROXY_ADDRESS, settlement_data(&checked, maximum).to_vec()).await {
            Ok(_) => Ok(payer),
            Err(ChainError::Reverted { .. }) => {
                let used = nonce_used(facilitator, payer, checked.authorization.nonce).await?;
                Err(with_payer(if used {
                    ErrorReason::Permit2InvalidNonce
                } else if checked.sponsored.as_ref().is_some_and(|p| p.amount < maximum) {
                    ErrorReason::Permit2612AmountMismatch
                } else if allowance < maximum {
                    ErrorReason::Permit2AllowanceRequired
                } else {
                    ErrorReason::Permit2SimulationFailed
                }))
            }
            Err(err) => Err(unexpected(err)),
        }
    }

    async fn identify<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> Result<Option<(B256, Settlement)>, Refusal> {
        let (key, settlement, _) = Self::identified(facilitator, request).await?;
        Ok(Some((key, settlement)))
    }

    /// Settles the requirements' amount once per payment, through the engine: refused above the maximum,
    /// checked again at the maximum before anything is sent, and for 0 concluded without a transaction.
    async fn settle<C: Chain + 'static>(facilitator: &Facilitator<C>, request: &VerifyRequest) -> SettleResponse {
        let (key, settlement, checked) = match Self::identified(facilitator, request).await {
            Ok(found) => found,
            Err(refusal) => return facilitator.failure(refusal.reason, refusal.payer, None),
        };
        let recheck = Recheck::Payment(Box::new(at_maximum(request, &checked)));
        let response = facilitator.execute(key, settlement, recheck).await;
        facilitator.answer_once(key, request, response)
    }
}
