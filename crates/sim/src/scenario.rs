//! What a simulation runs: agents, endpoints, time and the failures to inject, all drawn from one seed.

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};

/// A simulation's scenario. Every field has a default; a TOML file may set any of them.
///
/// Each step the chain's clock moves forward by up to `max_seconds_between` seconds, then a random agent
/// either requests a random paid endpoint through x402 (the paywall offers `exact`, and a seller-signed
/// invoice on even-numbered endpoints), or, with probability `job_permille`, orders a job from an
/// endpoint's seller paid through the escrow: the agent authorizes `job_price_multiple` times the
/// endpoint's price, and the seller's operator captures it (70 %), voids it (15 %), or captures it and
/// the payee refunds half (15 %).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// The seed of every choice, key, nonce and salt: the same scenario gives the same report.
    pub seed: u64,
    /// How many agents pay.
    pub agents: u32,
    /// How many paid endpoints there are, each with its own price and payee.
    pub endpoints: u32,
    /// How many steps (requests or jobs) to run.
    pub steps: u32,
    /// The cheapest endpoint price, in token units (6 decimals: 1,000 is 0.1 cent).
    pub min_price: u64,
    /// The dearest endpoint price, in token units.
    pub max_price: u64,
    /// What each agent holds at the start, in token units.
    pub agent_funds: u64,
    /// How many of the agents start with only three times the dearest price (they run out of funds).
    pub poor_agents: u32,
    /// Each agent's total budget for x402 payments, in token units (half of it per host and hour).
    pub budget: u64,
    /// The most seconds the clock moves between two steps.
    pub max_seconds_between: u64,
    /// Per mille of paid requests whose payment arrives after its authorization and invoice expired.
    pub late_permille: u32,
    /// Per mille of requests whose handler fails (the paywall then settles nothing).
    pub handler_error_permille: u32,
    /// Per mille of steps that are escrowed jobs instead of x402 requests.
    pub job_permille: u32,
    /// A job's price as a multiple of its endpoint's price.
    pub job_price_multiple: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            seed: 1,
            agents: 8,
            endpoints: 4,
            steps: 400,
            min_price: 1_000,
            max_price: 20_000,
            agent_funds: 2_000_000,
            poor_agents: 1,
            budget: 1_000_000,
            max_seconds_between: 30,
            late_permille: 30,
            handler_error_permille: 50,
            job_permille: 100,
            job_price_multiple: 5,
        }
    }
}

impl Scenario {
    /// Why the scenario cannot run, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let problems = [
            (self.agents == 0, "at least one agent"),
            (self.endpoints == 0, "at least one endpoint"),
            (self.min_price == 0 || self.min_price > self.max_price, "0 < min_price <= max_price"),
            (self.poor_agents > self.agents, "poor_agents <= agents"),
            (self.late_permille > 1000, "late_permille <= 1000"),
            (self.handler_error_permille > 1000, "handler_error_permille <= 1000"),
            (self.job_permille > 1000, "job_permille <= 1000"),
            (self.job_price_multiple == 0, "job_price_multiple >= 1"),
            (self.max_price.checked_mul(self.job_price_multiple).is_none(), "a job price that fits 64 bits"),
        ];
        match problems.iter().find(|(bad, _)| *bad) {
            Some((_, wanted)) => Err(format!("the scenario needs {wanted}")),
            None => Ok(()),
        }
    }
}

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or_default()
    }

    /// True with probability `permille` / 1000.
    pub(crate) fn chance(&mut self, permille: u32) -> bool {
        self.below(1000) < u64::from(permille)
    }

    /// A random 32-byte value.
    pub(crate) fn b256(&mut self) -> B256 {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_be_bytes());
        }
        B256::from(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_depends_on_the_seed_only() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let first: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(first, (0..4).map(|_| c.next_u64()).collect::<Vec<_>>());
        assert!((0..1000).all(|_| a.below(3) < 3));
    }

    #[test]
    fn bad_scenarios_are_refused_with_the_reason() {
        assert_eq!(Scenario::default().check(), Ok(()));
        let none = Scenario { agents: 0, ..Scenario::default() };
        assert_eq!(none.check(), Err("the scenario needs at least one agent".into()));
        let inverted = Scenario { min_price: 10, max_price: 5, ..Scenario::default() };
        assert!(inverted.check().is_err());
        let certain = Scenario { late_permille: 1001, ..Scenario::default() };
        assert!(certain.check().is_err());
    }
}
