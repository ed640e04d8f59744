//! Paying through voucher channels: one deposit, then a voucher per request with no chain round trip.

use crate::{Agent, AgentError, PolicyRefusal, record::OpenChannel};
use alloy::primitives::{Address, U256, aliases::U40};
use quittance_x402::{PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo, channel};

/// Why a channel option was not paid.
pub(crate) enum Decline {
    /// The policy does not allow it; another option may do.
    Policy(PolicyRefusal),
    /// Paying failed.
    Failed(AgentError),
}

impl From<AgentError> for Decline {
    fn from(err: AgentError) -> Self {
        Self::Failed(err)
    }
}

impl From<crate::RecordError> for Decline {
    fn from(err: crate::RecordError) -> Self {
        Self::Failed(err.into())
    }
}

/// The spend record's key of the agent's channel for `option`: one channel per network, contract, receiver
/// and token.
pub(crate) fn channel_key(option: &PaymentRequirements) -> Option<String> {
    let terms = channel::ChannelTerms::from_requirements(option).ok()?;
    Some(format!("{} {} {} {}", option.network, terms.contract, terms.token.pay_to, terms.token.asset))
}

/// Where the channel recorded under `key` lives: its network and its channels contract (the first two parts
/// of the key [`channel_key`] writes).
pub fn channel_place(key: &str) -> Option<(String, Address)> {
    let mut parts = key.split(' ');
    let network = parts.next()?.to_owned();
    let contract = parts.next()?.parse().ok()?;
    Some((network, contract))
}

impl Agent {
    /// Signs the voucher that pays `option` once more through the agent's channel with its receiver, opening
    /// or topping up the channel first when its deposit does not cover the voucher. The deposit is sized for
    /// `channel_requests` requests, cut down to what the budgets still allow, and recorded as a spend (it
    /// leaves the wallet); the voucher's amount is on disk before the payment is returned. Returns the spend
    /// id of a deposit made now. The payment carries an identifier when `offer` declares the extension.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pay_channel(
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
        let terms = channel::ChannelTerms::from_requirements(option)
            .map_err(|_| Decline::Policy(PolicyRefusal::Scheme(option.scheme.clone())))?;
        let key = channel_key(option).ok_or_else(|| Decline::Policy(PolicyRefusal::Scheme(option.scheme.clone())))?;
        let price: u128 =
            price.try_into().map_err(|_| Decline::Policy(PolicyRefusal::Amount(option.amount.clone())))?;
        let open = self.record.channel(&key)?.unwrap_or_else(|| OpenChannel {
            config: channel::ChannelConfig {
                payer: self.address(),
                payerAuthorizer: Default::default(),
                receiver: terms.token.pay_to,
                token: terms.token.asset,
                withdrawDelay: U40::from(terms.min_withdraw_delay),
                salt: self.ambient.random(),
            },
            deposited: 0,
            paid: 0,
        });
        let amount = open.paid.saturating_add(price);
        let mut deposit = None;
        let mut deposited = open.deposited;
        if amount > open.deposited {
            let budget = self
                .policy
                .budgets
                .get(&terms.token.asset)
                .ok_or_else(|| Decline::Policy(PolicyRefusal::Asset(option.asset.clone())))?;
            let room = budget.total.saturating_sub(spent_total).min(budget.per_host.saturating_sub(spent_host));
            let room: u128 = room.try_into().unwrap_or(u128::MAX);
            let wanted = price.saturating_mul(u128::from(self.policy.channel_requests));
            let size = wanted.min(room) / price * price;
            if size < amount - open.deposited {
                return Err(Decline::Policy(PolicyRefusal::Total {
                    price: U256::from(amount - open.deposited),
                    would_be: spent_total.saturating_add(U256::from(amount - open.deposited)),
                    limit: budget.total,
                }));
            }
            let valid_before = now.saturating_add(option.max_timeout_seconds);
            let signed = channel::sign_deposit(
                option,
                &open.config,
                U256::from(size),
                valid_before,
                self.ambient.random(),
                &self.signer,
            )
            .map_err(|e| AgentError::Sign(e.to_string()))?;
            deposit = Some((size, signed, valid_before));
            deposited += size;
        }
        let mut payment = channel::pay(
            option,
            Some(resource.clone()),
            &open.config,
            amount,
            &self.signer,
            deposit.as_ref().map(|(_, signed, _)| signed.clone()),
        )
        .map_err(|e| AgentError::Sign(e.to_string()))?;
        self.identify(offer, &mut payment)?;
        let spend = match &deposit {
            Some((size, _, valid_before)) => Some(self.record.signed(
                request,
                host,
                terms.token.asset,
                U256::from(*size),
                &payment,
                *valid_before,
                now,
            )?),
            None => None,
        };
        self.record.save_channel(&key, &OpenChannel { config: open.config, deposited, paid: amount })?;
        Ok((spend, payment))
    }
}
