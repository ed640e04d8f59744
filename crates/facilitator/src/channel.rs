//! The `channel` scheme on the facilitator's side: vouchers checked against the ledger without the chain,
//! deposits submitted once, and the latest voucher of every channel claimed in batches.

use crate::{
    Facilitator, FacilitatorError,
    engine::{Expected, Recheck, Settlement},
    ledger::ChannelRecord,
    scheme::SchemeRules,
    verify::{Refusal, Simulation},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256, keccak256},
    sol_types::{SolCall, SolValue},
};
use quittance_bindings::{
    VoucherChannels,
    voucher_channels::IVoucherChannels::{self, VoucherClaim},
};
use quittance_chain::{Chain, ChainError};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, SETTLED_BEFORE, SettleResponse, VerifyRequest,
    channel::{self, ChannelPayload, ChannelTerms, ChannelView},
};
use serde_json::{Map, json};
use std::collections::{BTreeMap, BTreeSet};

/// What one round of claims did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimReport {
    /// Channels whose latest voucher was claimed.
    pub channels: usize,
    /// The amount newly claimed, across channels.
    pub claimed: u128,
    /// The transactions sent: one claim per contract, one settlement per receiver and token.
    pub transactions: Vec<String>,
}

/// The x402 form of a contract's channel config.
pub(crate) fn x402_config(config: &IVoucherChannels::ChannelConfig) -> channel::ChannelConfig {
    channel::ChannelConfig {
        payer: config.payer,
        payerAuthorizer: config.payerAuthorizer,
        receiver: config.receiver,
        token: config.token,
        withdrawDelay: config.withdrawDelay,
        salt: config.salt,
    }
}

fn contract_config(config: &channel::ChannelConfig) -> IVoucherChannels::ChannelConfig {
    IVoucherChannels::ChannelConfig {
        payer: config.payer,
        payerAuthorizer: config.payerAuthorizer,
        receiver: config.receiver,
        token: config.token,
        withdrawDelay: config.withdrawDelay,
        salt: config.salt,
    }
}

fn unexpected(err: ChainError) -> Refusal {
    tracing::warn!(%err, "chain request failed while checking a voucher");
    ErrorReason::UnexpectedVerifyError.into()
}

/// The `channel` scheme: vouchers are accepted in the ledger, not settled one by one; their deposits and
/// claims go through the engine.
pub(crate) struct Channel;

impl SchemeRules for Channel {
    async fn check<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
        _simulation: Simulation,
    ) -> Result<Address, Refusal> {
        let (checked, ..) = facilitator.check_voucher(&request.payment_payload, &request.payment_requirements).await?;
        Ok(checked.config.payer)
    }

    async fn identify<C: Chain + 'static>(
        _facilitator: &Facilitator<C>,
        _request: &VerifyRequest,
    ) -> Result<Option<(B256, Settlement)>, Refusal> {
        Ok(None)
    }

    async fn settle<C: Chain + 'static>(facilitator: &Facilitator<C>, request: &VerifyRequest) -> SettleResponse {
        facilitator.settle_voucher(request).await
    }
}

impl<C: Chain + 'static> Facilitator<C> {
    /// Checks a voucher: against the ledger's record of its channel (the chain's, the first time), and the
    /// deposit that comes with it by simulation.
    pub(crate) async fn check_voucher(
        &self,
        payment: &PaymentPayload,
        requirements: &PaymentRequirements,
    ) -> Result<(channel::Checked, ChannelView, Option<ChannelRecord>), Refusal> {
        let terms = ChannelTerms::from_requirements(requirements)?;
        let payload: ChannelPayload =
            serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::InvalidPayload)?;
        let payer = payload.config.payer;
        let with_payer = |reason: ErrorReason| Refusal { reason, payer: Some(payer) };
        let id = payload.config.id(self.core.chain_id, terms.contract);
        let (view, known) = match self.core.ledger.channel(id) {
            // A channel the ledger saw closing is read again: a deposit cancels the payer's withdrawal request
            // (any later withdrawal needs a fresh request and a full delay), so it may be open again.
            Ok(Some(record)) if record.closing => {
                let (chain, _) = self.channel_on_chain(terms.contract, id).await.map_err(unexpected)?;
                (ChannelView { balance: chain.balance, closing: chain.closing, ..view_of(&record) }, Some(record))
            }
            Ok(Some(record)) => (view_of(&record), Some(record)),
            Ok(None) => {
                self.require_code(terms.contract).await.map_err(|r| with_payer(r.reason))?;
                let (view, _) = self.channel_on_chain(terms.contract, id).await.map_err(unexpected)?;
                (view, None)
            }
            Err(err) => {
                tracing::error!(%err, "ledger failed");
                return Err(with_payer(ErrorReason::UnexpectedVerifyError));
            }
        };
        let checked = channel::check(payment, requirements, &view).map_err(with_payer)?;
        if let Some((amount, deposit)) = &checked.deposit {
            let call = deposit_call(&checked, *amount, deposit).map_err(with_payer)?;
            if let Err(err) = self.simulate(terms.contract, call.abi_encode()).await {
                return Err(match err {
                    ChainError::Reverted { .. } => with_payer(
                        self.explain_token_failure(
                            terms.token.asset,
                            payer,
                            channel::deposit_nonce(id, deposit.deposit_salt),
                            U256::from(*amount),
                            requirements,
                        )
                        .await,
                    ),
                    err => unexpected(err),
                });
            }
        }
        Ok((checked, view, known))
    }

    /// Accepts a voucher: submits the deposit that comes with it (once), then records the voucher as the
    /// channel's latest, atomically, if it is still above the last one. Nothing else touches the chain.
    pub(crate) async fn settle_voucher(&self, request: &VerifyRequest) -> SettleResponse {
        if let Some(replay) = self.accepted_before(request) {
            return replay;
        }
        let (checked, view, known) =
            match self.check_voucher(&request.payment_payload, &request.payment_requirements).await {
                Ok(found) => found,
                Err(refusal) => return self.failure(refusal.reason, refusal.payer, None),
            };
        let payer = checked.config.payer;
        let contract = checked.terms.contract;
        let id = checked.channel_id;
        let mut transaction = None;
        let mut balance = view.balance;
        if let Some((amount, deposit)) = &checked.deposit {
            let data = match deposit_call(&checked, *amount, deposit) {
                Ok(call) => call.abi_encode().into(),
                Err(reason) => return self.failure(reason, Some(payer), None),
            };
            let key = keccak256((U256::from(self.core.chain_id), contract, id, deposit.deposit_salt).abi_encode());
            let settlement = Settlement {
                payer,
                to: contract,
                data,
                value: U256::ZERO,
                expected: Expected::Deposited { contract, channel_id: id },
                valid_before: deposit.valid_before.parse().ok(),
            };
            let outcome = self.execute(key, settlement, Recheck::Nothing).await;
            if !outcome.success {
                return outcome;
            }
            transaction = Some(outcome.transaction);
            match self.channel_on_chain(contract, id).await {
                Ok((chain_view, _)) => balance = chain_view.balance,
                Err(err) => {
                    tracing::warn!(%err, "could not read the channel after its deposit");
                    return self.failure(ErrorReason::UnexpectedSettleError, Some(payer), None);
                }
            }
        }
        let record = match known {
            // What the ledger knew, with the new balance if a deposit came, and whether it is closing as read.
            Some(record) => ChannelRecord { balance, closing: view.closing, ..record },
            // A channel seen for the first time: what the chain says (its claims count as accepted).
            None => ChannelRecord {
                id,
                contract,
                config: checked.config.clone(),
                balance,
                accepted: view.accepted,
                signature: Bytes::new(),
                claimed: view.accepted,
                closing: view.closing,
            },
        };
        if let Err(err) = self.refresh_record(&record) {
            tracing::error!(%err, "ledger failed");
            return self.failure(ErrorReason::UnexpectedSettleError, Some(payer), None);
        }
        if checked.max_claimable_amount > balance {
            return self.failure(ErrorReason::ChannelInsufficientDeposit, Some(payer), None);
        }
        let price: u128 = checked.terms.token.amount.try_into().unwrap_or(u128::MAX);
        match self.core.ledger.accept_voucher(id, checked.max_claimable_amount, price, &checked.signature) {
            Ok(true) => {
                let mut extra = Map::new();
                extra.insert("channelId".to_owned(), json!(id));
                extra.insert("maxClaimableAmount".to_owned(), json!(checked.max_claimable_amount.to_string()));
                SettleResponse {
                    success: true,
                    error_reason: None,
                    error_message: None,
                    payer: Some(payer.to_checksum(None)),
                    transaction: transaction.unwrap_or_default(),
                    network: self.core.network.clone(),
                    amount: Some(checked.increment(&view).to_string()),
                    extra: Some(extra),
                }
            }
            Ok(false) => self.failure(ErrorReason::ChannelVoucherNotIncreasing, Some(payer), None),
            Err(err) => {
                tracing::error!(%err, "ledger failed");
                self.failure(ErrorReason::UnexpectedSettleError, Some(payer), None)
            }
        }
    }

    /// The answer to the channel's accepted voucher sent again (a lost answer): it was accepted before, and
    /// is not accepted twice.
    fn accepted_before(&self, request: &VerifyRequest) -> Option<SettleResponse> {
        let terms = ChannelTerms::from_requirements(&request.payment_requirements).ok()?;
        let payload: ChannelPayload = serde_json::from_value(request.payment_payload.payload.clone()).ok()?;
        let id = payload.config.id(self.core.chain_id, terms.contract);
        let record = self.core.ledger.channel(id).ok()??;
        if record.accepted.to_string() != payload.max_claimable_amount || record.signature != payload.signature {
            return None;
        }
        let mut refused = self.failure(ErrorReason::ChannelVoucherNotIncreasing, Some(payload.config.payer), None);
        refused.error_message = Some("this voucher was accepted before; a voucher is accepted once".into());
        refused.extra = Some(Map::from_iter([
            ("channelId".to_owned(), json!(id)),
            ("maxClaimableAmount".to_owned(), json!(payload.max_claimable_amount)),
            (SETTLED_BEFORE.to_owned(), json!(true)),
        ]));
        Some(refused)
    }

    /// Claims the latest accepted voucher of every channel that has more to claim, one transaction per
    /// contract, then pays each receiver what was claimed for it, one transaction per receiver and token.
    /// Run it on a schedule shorter than the channels' withdrawal delay.
    pub async fn claim_channels(&self) -> Result<ClaimReport, FacilitatorError> {
        let mut report = ClaimReport::default();
        let mut by_contract: BTreeMap<Address, Vec<ChannelRecord>> = BTreeMap::new();
        for record in self.core.ledger.unclaimed_channels()? {
            by_contract.entry(record.contract).or_default().push(record);
        }
        for (contract, records) in by_contract {
            let claims: Vec<VoucherClaim> = records
                .iter()
                .map(|r| VoucherClaim {
                    config: contract_config(&r.config),
                    maxClaimableAmount: r.accepted,
                    signature: r.signature.clone(),
                })
                .collect();
            let data: Bytes = VoucherChannels::claimCall { claims }.abi_encode().into();
            let key = keccak256((U256::from(self.core.chain_id), contract, data.clone()).abi_encode());
            let outcome = self.execute(key, self.own_call(contract, data), Recheck::Nothing).await;
            if !outcome.success {
                tracing::warn!(reason = ?outcome.error_reason, %contract, "claiming vouchers failed");
                continue;
            }
            let claim_tx = outcome.transaction.clone();
            report.transactions.push(outcome.transaction);
            let mut receivers = BTreeSet::new();
            for record in &records {
                let (view, claimed) = self.channel_on_chain(contract, record.id).await?;
                report.claimed += claimed.saturating_sub(record.claimed);
                if claimed > record.claimed {
                    report.channels += 1;
                }
                self.refresh_record(&ChannelRecord {
                    balance: view.balance,
                    claimed,
                    closing: view.closing,
                    ..record.clone()
                })?;
                receivers.insert((record.config.receiver, record.config.token));
            }
            for (receiver, token) in receivers {
                let owed = self
                    .read(contract, VoucherChannels::claimedUnsettledCall { receiver, token })
                    .await
                    .map_err(|r| FacilitatorError::Chain(ChainError::Transport(r.reason.to_string())))?;
                if owed.is_zero() {
                    continue;
                }
                let data: Bytes = VoucherChannels::settleCall { receiver, token }.abi_encode().into();
                // One payment per claim round: keyed by the round's claim transaction.
                let key =
                    keccak256((U256::from(self.core.chain_id), contract, data.clone(), claim_tx.clone()).abi_encode());
                let outcome = self.execute(key, self.own_call(contract, data), Recheck::Nothing).await;
                if outcome.success {
                    report.transactions.push(outcome.transaction);
                } else {
                    tracing::warn!(reason = ?outcome.error_reason, %receiver, "paying claimed vouchers failed");
                }
            }
        }
        Ok(report)
    }

    /// A call of the facilitator's own (claims, and paying what they claimed), with no expiry.
    fn own_call(&self, contract: Address, data: Bytes) -> Settlement {
        Settlement {
            payer: self.core.address,
            to: contract,
            data,
            value: U256::ZERO,
            expected: Expected::Call,
            valid_before: None,
        }
    }

    /// What the contract says of a channel: the view a voucher is checked against (claimed as accepted),
    /// and what is claimed.
    async fn channel_on_chain(&self, contract: Address, id: B256) -> Result<(ChannelView, u128), ChainError> {
        let out = self.simulate(contract, VoucherChannels::channelCall { id }.abi_encode()).await?;
        let state = VoucherChannels::channelCall::abi_decode_returns(&out)
            .map_err(|e| ChainError::Transport(format!("unreadable channel state: {e}")))?;
        // A withdrawal request a later deposit did not cancel: the receiver's time to claim is running.
        let closing = state.closed || state.withdrawableAt.to::<u64>() != 0;
        Ok((ChannelView { balance: state.balance, accepted: state.totalClaimed, closing }, state.totalClaimed))
    }

    /// Records what the chain says of a channel, keeping the voucher the ledger accepted.
    fn refresh_record(&self, record: &ChannelRecord) -> Result<(), crate::LedgerError> {
        self.core.ledger.record_channel(record)
    }
}

fn view_of(record: &ChannelRecord) -> ChannelView {
    ChannelView { balance: record.balance, accepted: record.accepted, closing: record.closing }
}

/// The contract call that submits a voucher's deposit.
fn deposit_call(
    checked: &channel::Checked,
    amount: u128,
    deposit: &channel::Deposit,
) -> Result<VoucherChannels::depositCall, ErrorReason> {
    let valid_after: U256 = deposit.valid_after.parse().map_err(|_| ErrorReason::InvalidPayload)?;
    let valid_before: U256 = deposit.valid_before.parse().map_err(|_| ErrorReason::InvalidPayload)?;
    let data = (valid_after, valid_before, deposit.deposit_salt, deposit.signature.clone()).abi_encode_params();
    Ok(VoucherChannels::depositCall {
        config: contract_config(&checked.config),
        amount,
        // `IVoucherChannels.Method.Authorization`.
        method: 0,
        data: data.into(),
    })
}
