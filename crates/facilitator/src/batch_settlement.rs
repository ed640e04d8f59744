//! The `batch-settlement` scheme on EVM, against x402's batch-settlement contract at its canonical address:
//! the payer deposits into a channel (an ERC-3009 `ReceiveWithAuthorization` collected by the ERC-3009
//! deposit collector) and pays each request with a voucher, the cumulative amount it owes, which the
//! receiver claims later in batches.
//!
//! `/verify` checks a `deposit` payload (a deposit and its first voucher) or a `voucher` payload as the
//! official facilitator does: the offline terms ([`quittance_x402::batch_settlement::check_terms`]: the
//! channel id is the config's hash, receiver, receiver authorizer, token and withdrawal delay as required),
//! the deposit's time window, the contract's code, the deposit's signature (ECDSA or ERC-1271), the
//! voucher's (by the channel's payer authorizer, or the payer's by ECDSA or ERC-1271), the channel's state
//! on chain (the voucher at most what the channel holds with the deposit, above what was claimed), the
//! payer's balance, then a simulation of the deposit.
//!
//! `/settle` of a `deposit` sends the contract's `deposit` through the engine. Its ledger key is the
//! deposit's EIP-3009 nonce in the token (the payer's, bound to the channel and the deposit's salt): a
//! retried or replayed deposit is answered from the ledger, never sent twice, and after a crash the
//! transaction is concluded from the chain (its calldata read again, see the engine). A voucher is never
//! settled on its own: the server keeps it and claims it later. A cooperative `refund` (the server's enriched
//! payload: the amount, the channel's refund nonce, claims to make first) is sent as `refundWithSignature`,
//! in one `multicall` after the claims when there are any, keyed by the call: the receiver authorizer's
//! signatures are the server's, or this facilitator's when it is the channel's receiver authorizer.

use crate::{
    Facilitator,
    engine::{Expected, Settlement},
    scheme::SchemeRules,
    verify::{Refusal, Simulation, unexpected},
};
use alloy::primitives::{Bytes, keccak256};
use alloy::sol_types::SolValue;
use alloy::{
    primitives::{Address, B256, U256},
    sol,
    sol_types::SolCall,
};
use quittance_bindings::IBatchSettlement;
use quittance_chain::{Chain, ChainError};
use quittance_x402::{
    ErrorReason, VerifyRequest,
    batch_settlement::{
        self, BATCH_SETTLEMENT_ADDRESS, BatchSettlementPayload, ChannelConfig, ChannelState, Checked, ClaimPayload,
        DepositAuthorization, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, SettleAction, SettlePayload,
    },
};

sol! {
    /// What the facilitator reads of a payer's funds.
    interface IDepositFunds {
        function balanceOf(address account) external view returns (uint256);
    }
}

/// The `batch-settlement` scheme.
pub(crate) struct BatchSettlement;

/// The channel config as the contract's bindings type it.
pub(crate) fn contract_config(config: &ChannelConfig) -> IBatchSettlement::ChannelConfig {
    let c = config.to_eip712();
    IBatchSettlement::ChannelConfig {
        payer: c.payer,
        payerAuthorizer: c.payerAuthorizer,
        receiver: c.receiver,
        receiverAuthorizer: c.receiverAuthorizer,
        token: c.token,
        withdrawDelay: c.withdrawDelay,
        salt: c.salt,
    }
}

/// The contract's `deposit` call of a checked payment's ERC-3009 deposit (`None`: no deposit, or one over
/// Permit2, which this facilitator does not collect).
fn deposit_call(checked: &Checked) -> Option<IBatchSettlement::depositCall> {
    let deposit = checked.deposit()?;
    let DepositAuthorization::Erc3009Authorization(a) = &deposit.authorization else { return None };
    Some(IBatchSettlement::depositCall {
        config: contract_config(checked.config()),
        amount: deposit.amount,
        collector: ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
        collectorData: batch_settlement::erc3009_collector_data(a),
    })
}

/// The deposit's EIP-3009 nonce in the token (`None`: no ERC-3009 deposit).
fn deposit_nonce(checked: &Checked) -> Option<B256> {
    match &checked.deposit()?.authorization {
        DepositAuthorization::Erc3009Authorization(a) => {
            Some(batch_settlement::deposit_nonce(checked.channel_id(), a.salt))
        }
        DepositAuthorization::Permit2Authorization(_) => None,
    }
}

/// What the receipt of a deposit must show: the collector passing the deposit on to the contract.
pub(crate) fn expected_deposit(token: Address, amount: u128) -> Expected {
    Expected::Transfer {
        token,
        from: ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
        to: BATCH_SETTLEMENT_ADDRESS,
        value: U256::from(amount),
    }
}

/// The payer of a deposit transaction and what its receipt must show, from its calldata (after a restart).
pub(crate) fn expected_of_call(input: &[u8]) -> Option<(Address, Expected)> {
    let call = IBatchSettlement::depositCall::abi_decode(input).ok()?;
    (call.collector == ERC3009_DEPOSIT_COLLECTOR_ADDRESS)
        .then(|| (call.config.payer, expected_deposit(call.config.token, call.amount)))
}

/// The checks that hold whatever the time: the terms and both signatures.
async fn check_signatures<C: Chain + 'static>(facilitator: &Facilitator<C>, checked: &Checked) -> Result<(), Refusal> {
    let payer = checked.payer();
    let with_payer = |reason: ErrorReason| Refusal { reason, payer: Some(payer) };
    if let Some(deposit) = checked.deposit() {
        let (signature, reason) = match &deposit.authorization {
            DepositAuthorization::Erc3009Authorization(a) => {
                (&a.signature, ErrorReason::BatchInvalidReceiveAuthorizationSignature)
            }
            DepositAuthorization::Permit2Authorization(a) => (&a.signature, ErrorReason::BatchPermit2InvalidSignature),
        };
        let digest = checked.deposit_signing_hash().ok_or_else(|| with_payer(ErrorReason::BatchMissingEip712Domain))?;
        facilitator
            .check_signature(payer, digest, signature, || checked.check_deposit_signature())
            .await
            .map_err(|r| with_payer(if r.reason == ErrorReason::ExactEvmSignature { reason } else { r.reason }))?;
    }
    let voucher = checked.voucher();
    if checked.config().payer_authorizer != Address::ZERO {
        // The contract checks a voucher of a channel with a payer authorizer by ECDSA only.
        return checked.check_voucher_signature().map_err(with_payer);
    }
    facilitator
        .check_signature(payer, voucher.digest(checked.terms.chain_id), &voucher.signature, || {
            checked.check_voucher_signature()
        })
        .await
        .map_err(|r| {
            with_payer(if r.reason == ErrorReason::ExactEvmSignature {
                ErrorReason::BatchInvalidVoucherSignature
            } else {
                r.reason
            })
        })
}

/// A valid payment's `/verify` answer's `extra`: the channel's id and state on chain (before the deposit, if
/// any), as the official facilitator answers (the SDK's `BatchSettlementChannelStateExtra`, flat).
pub(crate) async fn verify_extra<C: Chain + 'static>(
    facilitator: &Facilitator<C>,
    request: &VerifyRequest,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let checked = batch_settlement::check_terms(&request.payment_payload, &request.payment_requirements).ok()?;
    let state = channel_state(facilitator, checked.channel_id()).await.ok()?;
    let extra = batch_settlement::ChannelStateExtra {
        channel_id: checked.channel_id(),
        state,
        charged_cumulative_amount: None,
    };
    Some(extra.to_map())
}

/// The channel's state in the contract.
async fn channel_state<C: Chain + 'static>(
    facilitator: &Facilitator<C>,
    channel_id: B256,
) -> Result<ChannelState, Refusal> {
    let (channel, pending, nonce) = tokio::join!(
        facilitator.read(BATCH_SETTLEMENT_ADDRESS, IBatchSettlement::channelsCall { channelId: channel_id }),
        facilitator.read(BATCH_SETTLEMENT_ADDRESS, IBatchSettlement::pendingWithdrawalsCall { channelId: channel_id }),
        facilitator.read(BATCH_SETTLEMENT_ADDRESS, IBatchSettlement::refundNonceCall { channelId: channel_id }),
    );
    let channel = channel?;
    Ok(ChannelState {
        balance: channel.balance,
        total_claimed: channel.totalClaimed,
        withdraw_requested_at: pending?.initiatedAt.to::<u64>(),
        refund_nonce: nonce?,
    })
}

impl SchemeRules for BatchSettlement {
    async fn check<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
        simulation: Simulation,
    ) -> Result<Address, Refusal> {
        let checked = batch_settlement::check_terms(&request.payment_payload, &request.payment_requirements)?;
        let payer = checked.payer();
        let with_payer = |reason: ErrorReason| Refusal { reason, payer: Some(payer) };
        if matches!(checked.payload, BatchSettlementPayload::Refund(_)) {
            // A refund is the server's to send (`/settle` with the receiver authorizer's signature).
            return Err(with_payer(ErrorReason::BatchRefundPayload));
        }
        let (now, contract_code, token_code) = tokio::join!(
            facilitator.core.chain.timestamp(),
            facilitator.require_code(BATCH_SETTLEMENT_ADDRESS),
            facilitator.require_code(checked.terms.asset),
        );
        checked.check_time(now.map_err(unexpected)?).map_err(with_payer)?;
        contract_code.map_err(|r| with_payer(r.reason))?;
        token_code.map_err(|r| with_payer(r.reason))?;
        check_signatures(facilitator, &checked).await?;
        let state = channel_state(facilitator, checked.channel_id()).await?;
        checked.check_channel(&state).map_err(with_payer)?;
        if checked.deposit().is_none() {
            return Ok(payer);
        }
        let balance = facilitator.read(checked.terms.asset, IDepositFunds::balanceOfCall { account: payer }).await?;
        checked.check_payer_balance(balance).map_err(with_payer)?;
        let Some(call) = deposit_call(&checked) else {
            return Err(with_payer(ErrorReason::BatchErc3009AuthorizationRequired));
        };
        if simulation == Simulation::LeaveToEstimate {
            return Ok(payer);
        }
        match facilitator.simulate(BATCH_SETTLEMENT_ADDRESS, call.abi_encode()).await {
            Ok(_) => Ok(payer),
            // A used or expired authorization, a token that will not collect: the deposit would revert.
            Err(ChainError::Reverted { .. }) => Err(with_payer(ErrorReason::BatchDepositSimulationFailed)),
            Err(err) => Err(unexpected(err)),
        }
    }

    /// A deposit's ledger key (its EIP-3009 nonce in the token) and its `deposit` transaction; `None` for a
    /// voucher, which is not settled on its own.
    async fn identify<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> Result<Option<(B256, Settlement)>, Refusal> {
        let checked = batch_settlement::check_terms(&request.payment_payload, &request.payment_requirements)?;
        let (Some(call), Some(nonce)) = (deposit_call(&checked), deposit_nonce(&checked)) else { return Ok(None) };
        check_signatures(facilitator, &checked).await?;
        let payer = checked.payer();
        let valid_before = match checked.deposit().map(|d| &d.authorization) {
            Some(DepositAuthorization::Erc3009Authorization(a)) => Some(a.valid_before.saturating_to::<u64>()),
            _ => None,
        };
        let settlement = Settlement {
            payer,
            to: BATCH_SETTLEMENT_ADDRESS,
            expected: expected_deposit(checked.terms.asset, call.amount),
            data: call.abi_encode().into(),
            value: U256::ZERO,
            valid_before,
        };
        Ok(Some((facilitator.payment_key(checked.terms.asset, payer, nonce), settlement)))
    }

    /// Settles a server's `/settle` action through the engine: a `deposit` once per deposit, a `claim` of
    /// many channels' vouchers once per claim, a `settle` sweep once per receiver's claimed total, a
    /// cooperative `refund` once per channel and refund nonce.
    async fn settle<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> quittance_x402::SettleResponse {
        match SettleAction::of(&request.payment_payload) {
            Ok(SettleAction::Deposit(_)) => {}
            Ok(SettleAction::Claim(claim)) => return settle_claim(facilitator, request, &claim).await,
            Ok(SettleAction::Settle(sweep)) => return settle_sweep(facilitator, request, sweep).await,
            Ok(SettleAction::Refund(refund)) => return settle_refund(facilitator, request, &refund).await,
            Err(reason) => return facilitator.failure(reason, None, None),
        }
        let (key, settlement) = match Self::identify(facilitator, request).await {
            Ok(Some(found)) => found,
            Ok(None) => return facilitator.failure(ErrorReason::BatchErc3009AuthorizationRequired, None, None),
            Err(refusal) => return facilitator.failure(refusal.reason, refusal.payer, None),
        };
        let recheck = crate::engine::Recheck::Payment(Box::new(request.clone()));
        let mut response = facilitator.execute(key, settlement, recheck).await;
        // The channel after the deposit, as the official facilitator answers: an official server keeps its
        // balance from here (and checks later vouchers against it).
        if response.success
            && let Ok(checked) = batch_settlement::check_terms(&request.payment_payload, &request.payment_requirements)
            && let Ok(state) = channel_state(facilitator, checked.channel_id()).await
        {
            let state = batch_settlement::ChannelStateExtra {
                channel_id: checked.channel_id(),
                state,
                charged_cumulative_amount: None,
            };
            let extra = response.extra.get_or_insert_with(Default::default);
            extra.insert("channelState".into(), serde_json::Value::Object(state.to_map()));
        }
        facilitator.answer_once(key, request, response)
    }
}

/// A claim's rows as the contract types them.
fn claim_rows(claims: &[batch_settlement::VoucherClaim]) -> Vec<IBatchSettlement::VoucherClaim> {
    claims
        .iter()
        .map(|row| IBatchSettlement::VoucherClaim {
            voucher: IBatchSettlement::Voucher {
                channel: contract_config(&row.voucher.channel),
                maxClaimableAmount: row.voucher.max_claimable_amount,
            },
            signature: row.signature.clone(),
            totalClaimed: row.total_claimed,
        })
        .collect()
}

/// A settlement the facilitator sends on its own account (claims and sweeps), checked by its receipt.
fn own_call<C: Chain>(facilitator: &Facilitator<C>, data: Bytes, expected: Expected) -> Settlement {
    Settlement {
        payer: facilitator.address(),
        to: BATCH_SETTLEMENT_ADDRESS,
        data,
        value: U256::ZERO,
        expected,
        valid_before: None,
    }
}

/// Sends a `claim`: every row checked offline (the total within its voucher, the voucher signed by its
/// channel's voucher signer), the receiver authorizer's `ClaimBatch` signature (signed by this facilitator
/// when it is the channels' receiver authorizer and the server sent none), then simulated. Keyed by the
/// call itself: the same claim asked again is answered from the ledger.
async fn settle_claim<C: Chain + 'static>(
    facilitator: &Facilitator<C>,
    request: &VerifyRequest,
    claim: &ClaimPayload,
) -> quittance_x402::SettleResponse {
    let chain_id = facilitator.core.chain_id;
    let Some(first) = claim.claims.first() else {
        return facilitator.failure(ErrorReason::BatchInvalidPayloadType, None, None);
    };
    let receiver = first.voucher.channel.receiver;
    if let Some(reason) = claim.claims.iter().find_map(|row| row.check(chain_id).err()) {
        return facilitator.failure(reason, Some(receiver), None);
    }
    let signature = match &claim.claim_authorizer_signature {
        Some(signature) => signature.clone(),
        None if first.voucher.channel.receiver_authorizer == facilitator.address() => {
            match batch_settlement::sign_claim_batch(&facilitator.core.signer, &claim.claims, chain_id) {
                Ok(signature) => signature,
                Err(_) => return facilitator.failure(ErrorReason::UnexpectedSettleError, Some(receiver), None),
            }
        }
        None => return facilitator.failure(ErrorReason::BatchAuthorizerNotConfigured, Some(receiver), None),
    };
    let call = IBatchSettlement::claimWithSignatureCall {
        voucherClaims: claim_rows(&claim.claims),
        authorizerSignature: signature,
    };
    let data: Bytes = call.abi_encode().into();
    let key = keccak256((U256::from(chain_id), BATCH_SETTLEMENT_ADDRESS, data.clone()).abi_encode());
    if facilitator.core.ledger.get(key).ok().flatten().is_none() {
        match facilitator.simulate(BATCH_SETTLEMENT_ADDRESS, data.to_vec()).await {
            Ok(_) => {}
            Err(ChainError::Reverted { .. }) => {
                return facilitator.failure(ErrorReason::BatchClaimSimulationFailed, Some(receiver), None);
            }
            Err(_) => return facilitator.failure(ErrorReason::UnexpectedSettleError, Some(receiver), None),
        }
    }
    let response =
        facilitator.execute(key, own_call(facilitator, data, Expected::Call), crate::engine::Recheck::Nothing).await;
    facilitator.answer_once(key, request, response)
}

/// Sends a `settle` sweep of what claims credited `receiver` in `token` and was not settled yet. Keyed by the
/// receiver, the token and its claimed total: a sweep asked again before new claims is answered from the
/// ledger; one after new claims sends the new amount.
async fn settle_sweep<C: Chain + 'static>(
    facilitator: &Facilitator<C>,
    request: &VerifyRequest,
    sweep: SettlePayload,
) -> quittance_x402::SettleResponse {
    let SettlePayload { receiver, token } = sweep;
    let state =
        match facilitator.read(BATCH_SETTLEMENT_ADDRESS, IBatchSettlement::receiversCall { receiver, token }).await {
            Ok(state) => state,
            Err(refusal) => return facilitator.failure(refusal.reason, Some(receiver), None),
        };
    let key = facilitator.payment_key(token, receiver, B256::from(U256::from(state.totalClaimed)));
    let held = facilitator.core.ledger.get(key).ok().flatten().is_some();
    if !held && state.totalClaimed == state.totalSettled {
        return facilitator.failure(ErrorReason::BatchNothingToSettle, Some(receiver), None);
    }
    let expected = Expected::Transfer {
        token,
        from: BATCH_SETTLEMENT_ADDRESS,
        to: receiver,
        value: U256::from(state.totalClaimed - state.totalSettled),
    };
    let data: Bytes = IBatchSettlement::settleCall { receiver, token }.abi_encode().into();
    let response =
        facilitator.execute(key, own_call(facilitator, data, expected), crate::engine::Recheck::Nothing).await;
    facilitator.answer_once(key, request, response)
}

/// Sends a cooperative `refund`: the channel's claims first (each row checked offline) and the refund of what
/// is left unclaimed, up to the amount asked, at the channel's refund nonce; the receiver authorizer's
/// signatures are the server's, or this facilitator's when it is the channel's receiver authorizer. Simulated
/// first; keyed by the call, so the same refund asked again is answered from the ledger (and a new one needs
/// the next nonce). A success names the amount refunded and the channel after it.
async fn settle_refund<C: Chain + 'static>(
    facilitator: &Facilitator<C>,
    request: &VerifyRequest,
    refund: &batch_settlement::EnrichedRefundPayload,
) -> quittance_x402::SettleResponse {
    let chain_id = facilitator.core.chain_id;
    let config = &refund.channel_config;
    let payer = Some(config.payer);
    let channel_id = config.id(chain_id);
    if refund.voucher.channel_id != channel_id {
        return facilitator.failure(ErrorReason::BatchChannelIdMismatch, payer, None);
    }
    if let Some(reason) = refund.claims.iter().find_map(|row| row.check(chain_id).err()) {
        return facilitator.failure(reason, payer, None);
    }
    if refund.amount == 0 {
        return facilitator.failure(ErrorReason::BatchRefundAmountInvalid, payer, None);
    }
    let before = match channel_state(facilitator, channel_id).await {
        Ok(state) => state,
        Err(refusal) => return facilitator.failure(refusal.reason, payer, None),
    };
    let claimed = refund
        .claims
        .iter()
        .filter(|row| row.voucher.channel.id(chain_id) == channel_id)
        .map(|row| row.total_claimed)
        .fold(before.total_claimed, u128::max);
    let ours = config.receiver_authorizer == facilitator.address();
    let sign = |signed: Option<&Bytes>, make: &dyn Fn() -> Result<Bytes, alloy::signers::Error>| match signed {
        Some(signature) => Ok(signature.clone()),
        None if ours => make().map_err(|_| ErrorReason::UnexpectedSettleError),
        None => Err(ErrorReason::BatchAuthorizerNotConfigured),
    };
    let refund_signature = match sign(refund.refund_authorizer_signature.as_ref(), &|| {
        batch_settlement::sign_refund(
            &facilitator.core.signer,
            channel_id,
            refund.amount,
            refund.refund_nonce,
            chain_id,
        )
    }) {
        Ok(signature) => signature,
        Err(reason) => return facilitator.failure(reason, payer, None),
    };
    let refund_call: Bytes = IBatchSettlement::refundWithSignatureCall {
        config: contract_config(config),
        amount: refund.amount,
        nonce: refund.refund_nonce,
        receiverAuthorizerSignature: refund_signature,
    }
    .abi_encode()
    .into();
    let data: Bytes = if refund.claims.is_empty() {
        refund_call
    } else {
        let claim_signature = match sign(refund.claim_authorizer_signature.as_ref(), &|| {
            batch_settlement::sign_claim_batch(&facilitator.core.signer, &refund.claims, chain_id)
        }) {
            Ok(signature) => signature,
            Err(reason) => return facilitator.failure(reason, payer, None),
        };
        let claim_call: Bytes = IBatchSettlement::claimWithSignatureCall {
            voucherClaims: claim_rows(&refund.claims),
            authorizerSignature: claim_signature,
        }
        .abi_encode()
        .into();
        IBatchSettlement::multicallCall { data: vec![claim_call, refund_call] }.abi_encode().into()
    };
    let key = keccak256((U256::from(chain_id), BATCH_SETTLEMENT_ADDRESS, data.clone()).abi_encode());
    let held = facilitator.core.ledger.get(key).ok().flatten().is_some();
    if !held {
        if claimed >= before.balance {
            return facilitator.failure(ErrorReason::BatchRefundNoBalance, payer, None);
        }
        match facilitator.simulate(BATCH_SETTLEMENT_ADDRESS, data.to_vec()).await {
            Ok(_) => {}
            Err(ChainError::Reverted { .. }) => {
                return facilitator.failure(ErrorReason::BatchRefundSimulationFailed, payer, None);
            }
            Err(_) => return facilitator.failure(ErrorReason::UnexpectedSettleError, payer, None),
        }
    }
    let settlement = Settlement { payer: config.payer, ..own_call(facilitator, data, Expected::Call) };
    let mut response = facilitator.execute(key, settlement, crate::engine::Recheck::Nothing).await;
    if response.success
        && let Ok(after) = channel_state(facilitator, channel_id).await
    {
        // What left the channel, when this call sent the refund (after a crash the state before is gone).
        if !held {
            response.amount = Some(before.balance.saturating_sub(after.balance).to_string());
        }
        let state = batch_settlement::ChannelStateExtra { channel_id, state: after, charged_cumulative_amount: None };
        let extra = response.extra.get_or_insert_with(Default::default);
        extra.insert("channelState".into(), serde_json::Value::Object(state.to_map()));
    }
    facilitator.answer_once(key, request, response)
}
