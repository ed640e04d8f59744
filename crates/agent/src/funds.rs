//! Where the agent's funds are: its token balances per network, read from the chains it can reach.

use alloy::{
    primitives::{Address, U256},
    sol,
};
use quittance_chain::{Chain, read};
use std::{collections::BTreeMap, fmt, future::Future, pin::Pin};

sol! {
    interface IBalance {
        function balanceOf(address account) external view returns (uint256);
    }
}

/// A source of the agent's balances.
pub trait Funds: Send + Sync + fmt::Debug {
    /// `owner`'s balance of `asset` on `network` (CAIP-2), or `None` when this source cannot tell (a network
    /// it does not reach, a failed read): the agent then tries the option anyway.
    fn balance<'a>(
        &'a self,
        network: &'a str,
        asset: Address,
        owner: Address,
    ) -> Pin<Box<dyn Future<Output = Option<U256>> + Send + 'a>>;
}

/// Balances read from chains, one per network.
#[derive(Debug, Clone)]
pub struct ChainFunds<C> {
    chains: BTreeMap<String, C>,
}

impl<C: Chain> ChainFunds<C> {
    /// No chain yet.
    pub fn new() -> Self {
        Self { chains: BTreeMap::new() }
    }

    /// The same, reading `network`'s (CAIP-2) balances from `chain`.
    pub fn with(mut self, network: impl Into<String>, chain: C) -> Self {
        self.chains.insert(network.into(), chain);
        self
    }
}

impl<C: Chain> Default for ChainFunds<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Chain + fmt::Debug> Funds for ChainFunds<C> {
    fn balance<'a>(
        &'a self,
        network: &'a str,
        asset: Address,
        owner: Address,
    ) -> Pin<Box<dyn Future<Output = Option<U256>> + Send + 'a>> {
        Box::pin(async move {
            let chain = self.chains.get(network)?;
            match read(chain, asset, IBalance::balanceOfCall { account: owner }).await {
                Ok(balance) => Some(balance),
                Err(err) => {
                    tracing::warn!(%err, network, "could not read a balance");
                    None
                }
            }
        })
    }
}
