//! Paying x402's `batch-settlement`: one deposit into a channel of x402's batch-settlement contract, then a
//! voucher per request for everything charged so far, with no chain round trip.
//!
//! The channel is the official client's (the agent signs its own vouchers, salt zero), kept in the spend
//! record with what was deposited and the highest voucher signed; a voucher's amount is on disk before the
//! voucher is sent. The deposit is a spend like any payment (it leaves the wallet): it counts against the
//! budgets when made, is sized within the policy's deposit limit (`channel_requests` prices), and a deposit
//! in doubt is concluded from the chain (its EIP-3009 nonce in the token). When the server's count differs
//! from the record (a record lost, a voucher whose answer was lost), the server's corrective 402 names its
//! count and its latest voucher; the agent takes the count only when that voucher is one it signed.

use crate::{Agent, AgentError, PolicyRefusal, channels::Decline, record::BatchChannel};
use alloy::primitives::{B256, U256};
use quittance_x402::{
    PAYMENT_REQUIRED, PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo,
    batch_settlement::{
        self, BatchSettlementExtra, BatchSettlementPayload, BatchTerms, ChannelConfig, MIN_WITHDRAW_DELAY,
        SignedVoucher,
    },
    decode_header,
};

/// The spend record's key of the agent's `batch-settlement` channel for `option`: one channel per network,
/// receiver, receiver authorizer, token and withdrawal delay (what the channel's config is made of).
pub(crate) fn batch_key(option: &PaymentRequirements) -> Option<String> {
    let terms = BatchTerms::from_requirements(option).ok()?;
    Some(format!(
        "{} {} {} {} {}",
        option.network,
        terms.pay_to,
        terms.receiver_authorizer,
        terms.asset,
        terms.withdraw_delay.unwrap_or(MIN_WITHDRAW_DELAY)
    ))
}

impl Agent {
    /// Signs the voucher that pays `option` once more through the agent's channel with its receiver, with a
    /// deposit first when the channel's deposit does not cover the voucher: the server's announced minimum
    /// (or `channel_requests` prices), never less than the voucher lacks, within the policy's deposit limit
    /// (`channel_requests` prices, and what the budgets still allow; refused beyond it). The deposit is
    /// recorded as a spend; the voucher's amount is on disk before the payment is returned.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pay_batch(
        &self,
        offer: &PaymentRequired,
        option: &PaymentRequirements,
        resource: &ResourceInfo,
        host: &str,
        request: &str,
        price: U256,
        (spent_total, spent_host): (U256, U256),
        now: u64,
    ) -> Result<(Option<i64>, PaymentPayload), Decline> {
        let unpayable = || Decline::Policy(PolicyRefusal::Scheme(option.scheme.clone()));
        let terms = BatchTerms::from_requirements(option).map_err(|_| unpayable())?;
        let key = batch_key(option).ok_or_else(unpayable)?;
        let price: u128 =
            price.try_into().map_err(|_| Decline::Policy(PolicyRefusal::Amount(option.amount.clone())))?;
        let open = self.record.batch_channel(&key)?.unwrap_or_else(|| BatchChannel {
            config: ChannelConfig::for_terms(&terms, self.address(), self.address(), B256::ZERO),
            deposited: 0,
            paid: 0,
        });
        let amount = open.paid.saturating_add(price);
        let sign = |e: batch_settlement::SignError| Decline::Failed(AgentError::Sign(e.to_string()));
        if amount <= open.deposited {
            let mut payment =
                batch_settlement::pay_voucher(option, Some(resource.clone()), &open.config, amount, &self.signer)
                    .map_err(sign)?;
            self.identify(offer, &mut payment)?;
            self.record.save_batch_channel(&key, &BatchChannel { paid: amount, ..open })?;
            return Ok((None, payment));
        }
        let budget = self
            .policy
            .budgets
            .get(&terms.asset)
            .ok_or_else(|| Decline::Policy(PolicyRefusal::Asset(option.asset.clone())))?;
        let room = budget.total.saturating_sub(spent_total).min(budget.per_host.saturating_sub(spent_host));
        let room: u128 = room.try_into().unwrap_or(u128::MAX);
        let requests = u128::from(self.policy.channel_requests);
        let limit = price.saturating_mul(requests).min(room);
        let needed = amount - open.deposited;
        let Some(deposit) =
            batch_settlement::deposit_for_request(terms.min_deposit, price, needed, requests, Some(limit))
        else {
            return Err(Decline::Policy(PolicyRefusal::Deposit {
                needed: U256::from(needed),
                limit: U256::from(limit),
            }));
        };
        let valid_before = now.saturating_add(option.max_timeout_seconds);
        let mut payment = batch_settlement::pay_deposit(
            option,
            Some(resource.clone()),
            &open.config,
            deposit,
            amount,
            &self.signer,
            &self.signer,
            now,
            self.ambient.random(),
        )
        .map_err(sign)?;
        self.identify(offer, &mut payment)?;
        let spend = self.record.signed(request, host, terms.asset, U256::from(deposit), &payment, valid_before, now)?;
        let channel =
            BatchChannel { config: open.config, deposited: open.deposited.saturating_add(deposit), paid: amount };
        self.record.save_batch_channel(&key, &channel)?;
        Ok((Some(spend), payment))
    }

    /// What a refused `batch-settlement` payment changes in its channel: its voucher was not accepted, so the
    /// count goes back to before it, and its deposit (if any) did not arrive.
    pub(crate) fn refused_batch(&self, payment: &PaymentPayload) -> Result<(), AgentError> {
        let Some(key) = batch_key(&payment.accepted) else { return Ok(()) };
        let Some(open) = self.record.batch_channel(&key)? else { return Ok(()) };
        let Ok(payload) = serde_json::from_value::<BatchSettlementPayload>(payment.payload.clone()) else {
            return Ok(());
        };
        let price: u128 = payment.accepted.amount.parse().unwrap_or_default();
        let voucher = payload.voucher().max_claimable_amount;
        let paid = if open.paid == voucher { voucher.saturating_sub(price) } else { open.paid };
        let deposited = open.deposited.saturating_sub(payload.deposit().map_or(0, |d| d.amount));
        Ok(self.record.save_batch_channel(&key, &BatchChannel { paid, deposited, ..open })?)
    }

    /// After the server's corrective 402 for `payment`: takes the server's count of the channel (and its
    /// balance) when the latest voucher it holds is one the agent signed for this channel and covers that
    /// count. Returns whether the record now follows the server.
    pub(crate) fn resync_batch(
        &self,
        payment: &PaymentPayload,
        headers: &reqwest::header::HeaderMap,
    ) -> Result<bool, AgentError> {
        let (Some(key), Ok(terms)) = (batch_key(&payment.accepted), BatchTerms::from_requirements(&payment.accepted))
        else {
            return Ok(false);
        };
        let Some(open) = self.record.batch_channel(&key)? else { return Ok(false) };
        let offer = headers
            .get(PAYMENT_REQUIRED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| decode_header::<PaymentRequired>(v).ok());
        let Some(extra) = offer.as_ref().and_then(|offer| {
            let option = offer.accepts.iter().find(|o| o.scheme == batch_settlement::SCHEME)?;
            serde_json::from_value::<BatchSettlementExtra>(serde_json::Value::Object(option.extra.clone())).ok()
        }) else {
            return Ok(false);
        };
        let (Some(state), Some(held)) = (extra.channel_state, extra.voucher_state) else { return Ok(false) };
        let channel_id = open.config.id(terms.chain_id);
        let (Some(charged), Some(signed), Some(signature)) =
            (state.charged_cumulative_amount, held.signed_max_claimable, held.signature)
        else {
            return Ok(false);
        };
        let voucher = SignedVoucher { channel_id, max_claimable_amount: signed, signature };
        if state.channel_id != channel_id
            || charged > signed
            || voucher.check_signature(open.config.voucher_signer(), terms.chain_id).is_err()
        {
            tracing::warn!("a corrective 402 names a count the agent did not sign; not following it");
            return Ok(false);
        }
        tracing::info!(charged, "following the server's count of the batch-settlement channel");
        let channel = BatchChannel { paid: charged, deposited: state.state.balance, ..open };
        self.record.save_batch_channel(&key, &channel)?;
        Ok(true)
    }
}
