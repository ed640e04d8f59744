//! Serving a route priced in `batch-settlement`, and claiming what its channels owe (see [`crate::batch`]).

use super::{Guard, Paywall, Run, keep, replay, serve};
use crate::{
    BatchOffer, FacilitatorClient,
    batch::{self, BatchClaimError, BatchClaims, BatchStore, ChannelRecord, ClaimRecord, ClaimStage},
    store::StoredResponse,
};
use alloy::primitives::Address;
use axum::{extract::Request, response::Response};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, SettleResponse, VerifyRequest, X402_V2,
    batch_settlement::{
        self, BatchSettlementPayload, ChannelState, ChannelStateExtra, Checked, ClaimPayload, EnrichedRefundPayload,
        PaymentResponseExtra, SettleAction, SettlePayload, VoucherClaim, VoucherStateExtra,
    },
};
use std::convert::Infallible;
use tower::Service;

impl<F: FacilitatorClient> Guard<F> {
    /// The offered option a client's `accepted` stands for: the route's `batch-settlement` option, matched as
    /// the official server matches (a corrective 402's `channelState` echoed back is ignored).
    pub(super) fn batch_match(&self, accepted: &PaymentRequirements) -> Result<PaymentRequirements, ErrorReason> {
        let offer = self.batch.as_ref().ok_or(ErrorReason::UnsupportedScheme)?;
        let option = self.price.batch_settlement_option(offer);
        quittance_x402::find_matching(std::slice::from_ref(&option), accepted)
            .cloned()
            .ok_or(ErrorReason::InvalidPaymentRequirements)
    }

    /// Serves one `batch-settlement` payment this paywall holds: the voucher checked against the channel's
    /// record (else the corrective 402), verified by the facilitator, the deposit (if any) settled, the
    /// channel recorded with the voucher, and only then the handler run. `resumed`: an earlier attempt was
    /// settling this payment and stopped without an answer.
    pub(super) async fn batch_serve<S>(
        &self,
        offer: &BatchOffer,
        run: &Run<'_>,
        request: Request,
        next: S,
        resumed: bool,
    ) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
        S::Future: Send,
    {
        let paywall = &self.paywall;
        let Some(store) = paywall.batches.clone() else {
            tracing::error!("no batch-settlement store; nothing is served");
            self.release(run.key);
            return self.pending(run.resource, None, run.receipt);
        };
        let verify = run.verify;
        let checked =
            match batch_settlement::check(&verify.payment_payload, &verify.payment_requirements, paywall.ambient.now())
            {
                Ok(checked) => checked,
                // A resumed deposit may be past its window: its settlement was asked for already.
                Err(ErrorReason::BatchValidBeforeExpired) if resumed => {
                    match batch_settlement::check_terms(&verify.payment_payload, &verify.payment_requirements) {
                        Ok(checked) => checked,
                        Err(reason) => return self.batch_refuse(run, reason),
                    }
                }
                Err(reason) => return self.batch_refuse(run, reason),
            };
        let channel_id = checked.channel_id();
        // One request of a channel at a time: each voucher builds on the one before.
        let Some(_channel) = paywall.turns.take(channel_id).await else {
            self.release(run.key);
            return self.pending(run.resource, None, run.receipt);
        };
        let previous = match store.channel(channel_id) {
            Ok(previous) => previous,
            Err(err) => {
                tracing::error!(%err, "batch store failed; nothing is served");
                self.release(run.key);
                return self.pending(run.resource, None, run.receipt);
            }
        };
        if let BatchSettlementPayload::Refund(refund) = &checked.payload {
            return self.batch_refund(offer, run, &store, &checked, refund.amount, previous, resumed).await;
        }
        let voucher = checked.voucher().clone();
        let price = checked.terms.price;
        // An earlier attempt recorded this voucher and stopped before answering: the charge stands.
        if let Some(record) = previous.as_ref().filter(|r| resumed && r.voucher == voucher) {
            let receipt = self.batch_receipt(&checked, record.state, record.charged, String::new());
            return match keep(serve(next, request).await).await {
                Ok(answer) => self.complete(run, answer, receipt),
                Err(response) => *response,
            };
        }
        // What was charged so far; for a channel this paywall has not seen, what the voucher implies (as the
        // official server infers it).
        let charged = previous.as_ref().map_or_else(
            || match checked.payload {
                BatchSettlementPayload::Deposit(_) => 0,
                _ => voucher.max_claimable_amount.saturating_sub(price),
            },
            |r| r.charged,
        );
        if let Err(reason) = checked.check_charge(charged) {
            self.release(run.key);
            let shown = previous.clone().unwrap_or_else(|| provisional(&checked, charged, verify));
            return self.corrective(run, offer, reason, &shown);
        }
        if offer.enforce_min_deposit
            && let Err(reason) = checked.check_min_deposit(batch_settlement::min_deposit_hint(price, offer.min_deposit))
        {
            return self.batch_refuse(run, reason);
        }
        let deposit = checked.deposit().map(|d| d.amount);
        let resumed_deposit = resumed && deposit.is_some();
        // The channel on chain before this request, as the facilitator reads it while verifying.
        let before = if resumed_deposit {
            previous.as_ref().map(|r| r.state).unwrap_or_default()
        } else {
            match self.batch_verify(run, &previous).await {
                Ok(state) => state,
                Err(response) => return *response,
            }
        };
        let claimed = previous.as_ref().map_or(before.total_claimed, |r| r.claimed);
        let mut record = ChannelRecord {
            network: verify.payment_requirements.network.clone(),
            config: *checked.config(),
            charged: voucher.max_claimable_amount,
            voucher,
            state: before,
            claimed,
        };
        let now = paywall.ambient.now();
        if let Some(amount) = deposit {
            if !resumed_deposit && let Err(response) = self.mark_settling(run, None) {
                return *response;
            }
            let settled = match self.settle(run, resumed).await {
                Ok(settled) => settled,
                Err(response) => return *response,
            };
            record.state.balance = before.balance.saturating_add(amount);
            if let Err(err) = store.put(&record, now) {
                // The deposit is settled; the retry of this payment records it (the facilitator answers it
                // from its ledger).
                tracing::error!(%err, "batch store failed after a deposit; the retry records it");
                return self.pending(run.resource, None, run.receipt);
            }
            let mut receipt = self.batch_receipt(&checked, record.state, record.charged, settled.transaction.clone());
            receipt.extra = Some(merged(settled.extra, receipt.extra.take()));
            let response = match keep(serve(next, request).await).await {
                Ok(answer) => self.complete(run, answer, receipt),
                Err(response) => *response,
            };
            self.claim_past_threshold(offer, &store);
            return response;
        }
        if let Err(response) = self.mark_settling(run, None) {
            return *response;
        }
        // Recorded before the handler runs: from here on the payee is owed this voucher, crash or not.
        if let Err(err) = store.put(&record, now) {
            tracing::error!(%err, "batch store failed; nothing is served");
            self.release(run.key);
            return self.pending(run.resource, None, run.receipt);
        }
        let answer = match keep(serve(next, request).await).await {
            Ok(answer) if answer.status < 400 => answer,
            // The handler failed: nothing is charged, and the voucher may be sent again.
            failed => {
                if let Err(err) = store.restore(channel_id, previous.as_ref(), now) {
                    tracing::error!(%err, "could not take back a voucher whose request failed; it stays charged");
                }
                self.release(run.key);
                return match failed {
                    Ok(failed) => replay(&failed),
                    Err(response) => *response,
                };
            }
        };
        let receipt = self.batch_receipt(&checked, before, record.charged, String::new());
        let response = self.complete(run, answer, receipt);
        self.claim_past_threshold(offer, &store);
        response
    }

    /// A client's cooperative refund (`type: "refund"`, its voucher for exactly what was charged): the
    /// charged vouchers claimed and the rest of the deposit (or the amount asked) refunded in one
    /// transaction through the facilitator's `refund` action (the facilitator signs as the receiver
    /// authorizer), as the official server does; the handler does not run. The claim is recorded as this
    /// paywall's, so that the next [`Paywall::claim_batches`] sweeps it.
    #[allow(clippy::too_many_arguments)]
    async fn batch_refund(
        &self,
        offer: &BatchOffer,
        run: &Run<'_>,
        store: &BatchStore,
        checked: &Checked,
        asked: Option<u128>,
        previous: Option<ChannelRecord>,
        resumed: bool,
    ) -> Response {
        let Some(mut record) = previous else { return self.batch_refuse(run, ErrorReason::BatchMissingChannel) };
        if let Err(reason) = checked.check_charge(record.charged) {
            self.release(run.key);
            return self.corrective(run, offer, reason, &record);
        }
        if let Err(reason) = checked.check_voucher_signature() {
            return self.batch_refuse(run, reason);
        }
        let remainder = record.state.balance.saturating_sub(record.charged);
        if remainder == 0 {
            return self.batch_refuse(run, ErrorReason::BatchRefundNoBalance);
        }
        let amount = asked.unwrap_or(remainder);
        if amount == 0 {
            return self.batch_refuse(run, ErrorReason::BatchRefundAmountInvalid);
        }
        let claims = if record.charged > record.state.total_claimed {
            vec![VoucherClaim::new(record.config, &record.voucher, record.charged)]
        } else {
            Vec::new()
        };
        let action = SettleAction::Refund(EnrichedRefundPayload {
            channel_config: record.config,
            voucher: record.voucher.clone(),
            amount,
            refund_nonce: record.state.refund_nonce,
            claims: claims.clone(),
            refund_authorizer_signature: None,
            claim_authorizer_signature: None,
        });
        let enriched = VerifyRequest {
            payment_payload: PaymentPayload {
                payload: serde_json::to_value(&action).unwrap_or_default(),
                ..run.verify.payment_payload.clone()
            },
            ..run.verify.clone()
        };
        if !resumed && let Err(response) = self.mark_settling(run, None) {
            return *response;
        }
        let refunding = Run { key: run.key, verify: &enriched, resource: run.resource, receipt: run.receipt };
        let mut settled = match self.settle(&refunding, resumed).await {
            Ok(settled) => settled,
            Err(response) => return *response,
        };
        let now = self.paywall.ambient.now();
        let after = settled
            .extra
            .as_ref()
            .and_then(|extra| extra.get("channelState"))
            .and_then(|state| serde_json::from_value::<ChannelStateExtra>(state.clone()).ok());
        match after {
            Some(after) => record.state = after.state,
            None => {
                record.state.balance = record.state.balance.saturating_sub(amount.min(remainder));
                record.state.total_claimed = record.state.total_claimed.max(record.charged);
                record.state.refund_nonce = record.state.refund_nonce.saturating_add(alloy::primitives::U256::ONE);
            }
        }
        record.claimed = record.claimed.max(record.charged);
        let network = record.network.clone();
        let kept = store.put(&record, now).and_then(|()| {
            if claims.is_empty() {
                return Ok(());
            }
            let payload = ClaimPayload { claims, claim_authorizer_signature: None };
            let claim = store.begin_claim(&network, record.config.receiver, record.config.token, &payload, now)?;
            store.claimed(&claim, &settled.transaction, now)
        });
        if let Err(err) = kept {
            tracing::error!(%err, "batch store failed after a refund; the retry records it");
            return self.pending(run.resource, None, run.receipt);
        }
        let extra = settled.extra.get_or_insert_with(Default::default);
        let state = ChannelStateExtra {
            channel_id: record.channel_id(),
            state: record.state,
            charged_cumulative_amount: Some(record.charged),
        };
        extra.insert("channelState".into(), serde_json::Value::Object(state.to_map()));
        let body = serde_json::json!({"message": "Refund acknowledged", "channelId": record.channel_id()});
        let answer = StoredResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap_or_default(),
        };
        self.complete(run, answer, settled)
    }

    /// Asks the facilitator to verify against the chain: the channel's state it read, or the answer to give.
    async fn batch_verify(
        &self,
        run: &Run<'_>,
        previous: &Option<ChannelRecord>,
    ) -> Result<ChannelState, Box<Response>> {
        let verified = match self.paywall.facilitator.verify(run.verify).await {
            Ok(verified) => verified,
            Err(err) => {
                tracing::warn!(%err, "facilitator unavailable for verify");
                self.release(run.key);
                return Err(Box::new(self.pending(run.resource, None, run.receipt)));
            }
        };
        if !verified.is_valid {
            self.release(run.key);
            let reason = verified.invalid_reason.unwrap_or(ErrorReason::UnexpectedVerifyError);
            if matches!(reason, ErrorReason::SettlementPending | ErrorReason::UnexpectedVerifyError) {
                return Err(Box::new(self.pending(run.resource, None, run.receipt)));
            }
            return Err(Box::new(self.payment_required(run.resource, Some(reason))));
        }
        let read = verified
            .extra
            .and_then(|extra| serde_json::from_value::<ChannelStateExtra>(serde_json::Value::Object(extra)).ok());
        Ok(read.map(|r| r.state).or(previous.as_ref().map(|r| r.state)).unwrap_or_default())
    }

    /// A 402 refusing the payment with `reason`; it may be sent again.
    fn batch_refuse(&self, run: &Run<'_>, reason: ErrorReason) -> Response {
        self.release(run.key);
        self.payment_required(run.resource, Some(reason))
    }

    /// The official server's corrective 402: the option with the channel's state (and what was charged) and
    /// the latest voucher held, from which the official client resyncs.
    fn corrective(&self, run: &Run<'_>, offer: &BatchOffer, reason: ErrorReason, record: &ChannelRecord) -> Response {
        let mut option = self.price.batch_settlement_option(offer);
        let price = u128::try_from(self.price.amount).unwrap_or(u128::MAX);
        let mut extra = offer.extra(price, &self.price.asset_name, &self.price.asset_version);
        extra.channel_state = Some(ChannelStateExtra {
            channel_id: record.channel_id(),
            state: record.state,
            charged_cumulative_amount: Some(record.charged),
        });
        extra.voucher_state = Some(VoucherStateExtra {
            signed_max_claimable: Some(record.voucher.max_claimable_amount),
            signature: Some(record.voucher.signature.clone()),
        });
        option.extra = extra.to_map();
        self.payment_required_offering(run.resource, Some(reason), vec![option])
    }

    /// The receipt of a voucher accepted (`transaction`: the deposit's, or empty): what it charged and the
    /// channel after it, as the official server answers (the client advances its channel from these).
    fn batch_receipt(
        &self,
        checked: &Checked,
        state: ChannelState,
        charged: u128,
        transaction: String,
    ) -> SettleResponse {
        let extra = PaymentResponseExtra {
            charged_amount: Some(checked.terms.price),
            channel_state: Some(ChannelStateExtra {
                channel_id: checked.channel_id(),
                state,
                charged_cumulative_amount: Some(charged),
            }),
            voucher_state: None,
        };
        SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: Some(checked.payer().to_checksum(None)),
            transaction,
            network: self.price.network.clone(),
            amount: Some(checked.terms.price.to_string()),
            extra: Some(extra.to_map()),
        }
    }

    /// Starts a claim in the background once the unclaimed total reaches the offer's threshold.
    fn claim_past_threshold(&self, offer: &BatchOffer, store: &BatchStore) {
        let Some(threshold) = offer.claim_threshold else { return };
        match store.unclaimed() {
            Ok(unclaimed) if unclaimed >= threshold => {
                let paywall = self.paywall.clone();
                tokio::spawn(async move {
                    match paywall.claim_batches().await {
                        Ok(done) => tracing::info!(claims = done.claims.len(), claimed = done.claimed, "batch claim"),
                        Err(err) => tracing::warn!(%err, "batch claim stopped; the next one resumes it"),
                    }
                });
            }
            Ok(_) => {}
            Err(err) => tracing::error!(%err, "batch store failed; no claim started"),
        }
    }
}

/// The record a corrective 402 shows for a channel this paywall has not seen: nothing on chain, what the
/// voucher implies was charged.
fn provisional(checked: &Checked, charged: u128, verify: &VerifyRequest) -> ChannelRecord {
    ChannelRecord {
        network: verify.payment_requirements.network.clone(),
        config: *checked.config(),
        charged,
        voucher: checked.voucher().clone(),
        state: ChannelState::default(),
        claimed: 0,
    }
}

fn merged(
    first: Option<serde_json::Map<String, serde_json::Value>>,
    second: Option<serde_json::Map<String, serde_json::Value>>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut map = first.unwrap_or_default();
    map.extend(second.unwrap_or_default());
    map
}

impl<F: FacilitatorClient> Paywall<F> {
    /// Claims every `batch-settlement` voucher not claimed yet, up to [`batch::MAX_CLAIMS_PER_BATCH`]
    /// channels a claim (one `claimWithSignature` each, through the facilitator's `claim` action; the
    /// facilitator signs the claim batch as the channels' receiver authorizer), then sweeps each receiver's
    /// claims to it (`settle`). Call it when the seller wants its money (on shutdown, on a timer), or let a
    /// route's `claim_threshold` call it. Each claim is recorded before it is sent; a claim an earlier call
    /// left unfinished is sent again exactly as recorded (the facilitator answers a claim it sent from its
    /// ledger), so no voucher is claimed twice.
    pub async fn claim_batches(&self) -> Result<BatchClaims, BatchClaimError> {
        let store = self.batches.clone().ok_or(BatchClaimError::NoStore)?;
        let _one = self.claiming.lock().await;
        let before = store.unclaimed()?;
        let mut done = BatchClaims::default();
        for claim in store.claims(ClaimStage::Claiming)? {
            self.send_claim(&store, &claim, &mut done).await?;
        }
        for ((network, receiver, token), rows) in batch::claim_batches(&store.channels()?, batch::MAX_CLAIMS_PER_BATCH)
        {
            let payload = ClaimPayload { claims: rows, claim_authorizer_signature: None };
            let claim = store.begin_claim(&network, receiver, token, &payload, self.ambient.now())?;
            self.send_claim(&store, &claim, &mut done).await?;
        }
        done.claimed = before.saturating_sub(store.unclaimed()?);
        let mut sweeps: Vec<(String, Address, Address)> = Vec::new();
        for claim in store.claims(ClaimStage::Claimed)? {
            let group = (claim.network, claim.receiver, claim.token);
            if !sweeps.contains(&group) {
                sweeps.push(group);
            }
        }
        for (network, receiver, token) in sweeps {
            let action = SettleAction::Settle(SettlePayload { receiver, token });
            let answer = self.facilitator.settle(&action_request(&network, receiver, token, &action)).await?;
            match answer {
                answer if answer.success || answer.settled_before() => done.settlements.push(answer.transaction),
                answer if answer.error_reason == Some(ErrorReason::BatchNothingToSettle) => {}
                answer => return Err(refused(answer)),
            }
            store.swept(&network, receiver, token)?;
        }
        Ok(done)
    }

    /// Sends one recorded claim and records its outcome.
    async fn send_claim(
        &self,
        store: &BatchStore,
        claim: &ClaimRecord,
        done: &mut BatchClaims,
    ) -> Result<(), BatchClaimError> {
        let action = SettleAction::Claim(claim.payload.clone());
        let answer =
            self.facilitator.settle(&action_request(&claim.network, claim.receiver, claim.token, &action)).await?;
        // Recorded before it was sent: a claim "settled before" is this one.
        if answer.success || answer.settled_before() {
            store.claimed(claim, &answer.transaction, self.ambient.now())?;
            done.claims.push(answer.transaction);
            done.vouchers += claim.payload.claims.len();
            return Ok(());
        }
        match answer.error_reason {
            Some(
                ErrorReason::SettlementPending
                | ErrorReason::UnexpectedSettleError
                | ErrorReason::InvalidTransactionState,
            ) => Err(BatchClaimError::Pending),
            _ => {
                store.drop_claim(claim)?;
                Err(refused(answer))
            }
        }
    }
}

fn refused(answer: SettleResponse) -> BatchClaimError {
    match answer.error_reason {
        Some(ErrorReason::SettlementPending | ErrorReason::UnexpectedSettleError) => BatchClaimError::Pending,
        reason => BatchClaimError::Refused(reason.unwrap_or(ErrorReason::UnexpectedSettleError)),
    }
}

/// A `/settle` request of a server's action, in the envelope the official server uses (requirements naming
/// the scheme, network, token and receiver, for nothing).
fn action_request(network: &str, receiver: Address, token: Address, action: &SettleAction) -> VerifyRequest {
    let requirements = PaymentRequirements {
        scheme: batch_settlement::SCHEME.into(),
        network: network.to_owned(),
        amount: "0".into(),
        asset: token.to_checksum(None),
        pay_to: receiver.to_checksum(None),
        max_timeout_seconds: 0,
        extra: serde_json::Map::new(),
    };
    VerifyRequest {
        x402_version: X402_V2,
        payment_payload: PaymentPayload {
            x402_version: X402_V2,
            resource: None,
            accepted: requirements.clone(),
            payload: serde_json::to_value(action).unwrap_or_default(),
            extensions: None,
        },
        payment_requirements: requirements,
    }
}
