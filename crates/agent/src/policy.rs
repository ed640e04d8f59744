//! The spending policy: what an agent may pay, checked before any signature is made.

use alloy::primitives::{Address, U256};
use std::{collections::BTreeMap, time::Duration};

/// Limits for one token. A token without a budget is never paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The most one request may cost.
    pub per_request: U256,
    /// The most one host may be paid within `period`.
    pub per_host: U256,
    /// The window of `per_host`.
    pub period: Duration,
    /// The most the agent may ever spend (over its whole spend record).
    pub total: U256,
}

/// What the agent may pay: per token budgets, networks, and optionally hosts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Budgets by token address; only these tokens are paid.
    pub budgets: BTreeMap<Address, Budget>,
    /// CAIP-2 networks the agent pays on.
    pub networks: Vec<String>,
    /// Hosts the agent pays; `None` pays any host.
    pub hosts: Option<Vec<String>>,
    /// Pay through voucher channels where offered (Quittance's `channel`, x402's `batch-settlement`),
    /// depositing enough for this many requests at a time, at most (the deposit counts against the budgets
    /// when made); 0 never opens a channel.
    pub channel_requests: u64,
}

/// Why the policy refused an option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefusal {
    /// The network is not allowed.
    #[error("network {0} is not allowed")]
    Network(String),
    /// The token has no budget.
    #[error("token {0} has no budget")]
    Asset(String),
    /// The host is not allowed.
    #[error("host {0} is not allowed")]
    Host(String),
    /// The scheme is not one the agent pays.
    #[error("scheme {0} is not supported")]
    Scheme(String),
    /// The amount is not a decimal integer.
    #[error("the amount {0:?} is not a number")]
    Amount(String),
    /// One request costs more than allowed.
    #[error("the price {price} exceeds the per-request limit {limit}")]
    PerRequest {
        /// The price.
        price: U256,
        /// The limit.
        limit: U256,
    },
    /// The host's period budget would be exceeded.
    #[error("paying {price} would bring {host}'s spending this period to {would_be}, over {limit}")]
    PerHost {
        /// The host.
        host: String,
        /// The price.
        price: U256,
        /// What the period's spending would become.
        would_be: U256,
        /// The limit.
        limit: U256,
    },
    /// The agent holds too little of the token on the option's network.
    #[error("the agent holds {balance} of {asset} on {network}, less than the price {price}")]
    Funds {
        /// The option's network.
        network: String,
        /// The token.
        asset: String,
        /// What the agent holds there.
        balance: U256,
        /// The price.
        price: U256,
    },
    /// A `batch-settlement` channel needs a deposit over what the policy allows for one.
    #[error(
        "the channel needs a deposit of at least {needed}, over the policy's deposit limit {limit} \
         (`channel_requests` prices, within what the budgets still allow)"
    )]
    Deposit {
        /// The smallest deposit that pays the request.
        needed: U256,
        /// The most the policy lets the agent deposit now.
        limit: U256,
    },
    /// The total budget would be exceeded.
    #[error("paying {price} would bring total spending to {would_be}, over the budget {limit}")]
    Total {
        /// The price.
        price: U256,
        /// What the total would become.
        would_be: U256,
        /// The limit.
        limit: U256,
    },
}

impl Policy {
    /// Checks one payment against the policy, given what was already spent on this token in total and with
    /// this host within the budget's period.
    pub fn check(
        &self,
        network: &str,
        asset: Address,
        host: &str,
        price: U256,
        spent_total: U256,
        spent_host: U256,
    ) -> Result<(), PolicyRefusal> {
        if !self.networks.iter().any(|n| n == network) {
            return Err(PolicyRefusal::Network(network.into()));
        }
        let budget = self.budgets.get(&asset).ok_or_else(|| PolicyRefusal::Asset(asset.to_checksum(None)))?;
        if let Some(hosts) = &self.hosts
            && !hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
        {
            return Err(PolicyRefusal::Host(host.into()));
        }
        if price > budget.per_request {
            return Err(PolicyRefusal::PerRequest { price, limit: budget.per_request });
        }
        let would_be = spent_host.saturating_add(price);
        if would_be > budget.per_host {
            return Err(PolicyRefusal::PerHost { host: host.into(), price, would_be, limit: budget.per_host });
        }
        let would_be = spent_total.saturating_add(price);
        if would_be > budget.total {
            return Err(PolicyRefusal::Total { price, would_be, limit: budget.total });
        }
        Ok(())
    }
}
