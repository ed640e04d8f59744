//! Payments a paywall settled before serving, so that each serves one request.
//!
//! Settling is idempotent at the facilitator: asking again for a payment it settled returns the first
//! outcome (that is how a retry after `settlement_pending` finds it). A route that settles before serving
//! must therefore remember which payments it has served, or the same `PAYMENT-SIGNATURE` sent again would
//! be served again. (A route that verifies first needs no memory: the chain refuses a used authorization.)

use alloy::primitives::{B256, keccak256};
use quittance_x402::PaymentPayload;
use std::{collections::HashMap, sync::Mutex};

/// How long a served payment is remembered, in seconds: a day.
pub(crate) const RETENTION: u64 = 24 * 3600;
/// The most payments remembered; past it the oldest are forgotten first.
const CAPACITY: usize = 100_000;

/// A payment's state here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A request is settling it now.
    Settling,
    /// It served a request, at this time.
    Served(u64),
}

/// The payments settled before serving, by the digest of their signed payload.
#[derive(Debug, Default)]
pub(crate) struct Served {
    payments: Mutex<HashMap<B256, State>>,
}

/// Why a payment cannot serve this request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// It served a request already.
    Served,
    /// Another request is settling it now.
    Settling,
}

impl Served {
    /// The digest that identifies a payment: its scheme, network and signed payload.
    pub(crate) fn digest(payment: &PaymentPayload) -> B256 {
        let signed = (&payment.accepted.scheme, &payment.accepted.network, &payment.payload);
        keccak256(serde_json::to_vec(&signed).unwrap_or_default())
    }

    /// Claims `digest` for a request at `now`, unless it served one already or is being settled.
    pub(crate) fn claim(&self, digest: B256, now: u64) -> Result<(), Taken> {
        let Ok(mut payments) = self.payments.lock() else { return Err(Taken::Settling) };
        match payments.get(&digest) {
            Some(State::Served(at)) if now < at.saturating_add(RETENTION) => return Err(Taken::Served),
            Some(State::Settling) => return Err(Taken::Settling),
            _ => {}
        }
        if payments.len() >= CAPACITY {
            payments.retain(|_, state| matches!(state, State::Served(at) if now < at.saturating_add(RETENTION)));
            if payments.len() >= CAPACITY
                && let Some(oldest) = payments
                    .iter()
                    .filter_map(|(d, s)| if let State::Served(at) = s { Some((*at, *d)) } else { None })
                    .min()
                    .map(|(_, d)| d)
            {
                payments.remove(&oldest);
            }
        }
        payments.insert(digest, State::Settling);
        Ok(())
    }

    /// The claimed payment settled and serves the request.
    pub(crate) fn served(&self, digest: B256, now: u64) {
        if let Ok(mut payments) = self.payments.lock() {
            payments.insert(digest, State::Served(now));
        }
    }

    /// The claimed payment did not settle (refused, or still pending): the same payment may come again.
    pub(crate) fn release(&self, digest: B256) {
        if let Ok(mut payments) = self.payments.lock()
            && payments.get(&digest) == Some(&State::Settling)
        {
            payments.remove(&digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_serves_once_may_be_retried_until_it_settles_and_is_remembered_for_a_day() {
        let served = Served::default();
        let digest = B256::repeat_byte(1);
        served.claim(digest, 100).expect("first");
        assert_eq!(served.claim(digest, 100), Err(Taken::Settling), "one settlement at a time");
        served.release(digest);
        served.claim(digest, 101).expect("a retry after pending");
        served.served(digest, 102);
        assert_eq!(served.claim(digest, 103), Err(Taken::Served));
        assert_eq!(served.claim(digest, 102 + RETENTION - 1), Err(Taken::Served));
        served.claim(digest, 102 + RETENTION).expect("forgotten after a day");
        served.release(B256::repeat_byte(2));
    }
}
