//! What a payment takes from its surroundings: the time, and fresh random nonces and salts.

use alloy::primitives::B256;
use std::{
    fmt,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

/// The time (unix seconds) and fresh random 32-byte values a paywall or an agent uses: the system's by
/// default; a simulation gives them the chain's clock and a seeded sequence, so a run is repeatable.
#[derive(Clone)]
pub struct Ambient {
    now: Arc<dyn Fn() -> u64 + Send + Sync>,
    random: Arc<dyn Fn() -> B256 + Send + Sync>,
}

impl Ambient {
    /// The system clock and the operating system's randomness.
    pub fn system() -> Self {
        Self::new(
            || SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default(),
            B256::random,
        )
    }

    /// The time from `now`, random values from `random`.
    pub fn new(
        now: impl Fn() -> u64 + Send + Sync + 'static,
        random: impl Fn() -> B256 + Send + Sync + 'static,
    ) -> Self {
        Self { now: Arc::new(now), random: Arc::new(random) }
    }

    /// The current time, in unix seconds.
    pub fn now(&self) -> u64 {
        (self.now)()
    }

    /// A fresh random value (a nonce or salt).
    pub fn random(&self) -> B256 {
        (self.random)()
    }
}

impl Default for Ambient {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Ambient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ambient").field("now", &self.now()).finish_non_exhaustive()
    }
}
