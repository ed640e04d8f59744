//! What a payment scheme tells the facilitator, behind one trait: how to check a payment, and which
//! settlement (and ledger key) it is. The engine that settles is the same for every scheme; a scheme whose
//! payments are not settled one by one (vouchers) says how it settles instead.

use crate::{
    Facilitator,
    engine::{Recheck, Settlement},
    verify::{Refusal, Simulation},
};
use alloy::primitives::{Address, B256};
use quittance_chain::Chain;
use quittance_x402::{SettleResponse, VerifyRequest};
use std::future::Future;

/// One payment scheme on the facilitator's side: `exact`, `invoice`, `channel`, `cross-chain-invoice`,
/// each in a module of its own.
pub(crate) trait SchemeRules: Sized {
    /// Every check of a payment, offline first, then against the chain, ending with a simulation of its
    /// settlement (unless the gas estimate before sending stands in for it): the payer of a valid payment.
    fn check<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
        simulation: Simulation,
    ) -> impl Future<Output = Result<Address, Refusal>> + Send;

    /// The payment's ledger key and settlement transaction, from the checks that hold whatever the time
    /// (its terms, the payer's signature); `None` for a scheme whose payments are not settled one by one.
    fn identify<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> impl Future<Output = Result<Option<(B256, Settlement)>, Refusal>> + Send;

    /// Settles a payment: by default the engine, once per ledger key, its success answered once.
    fn settle<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> impl Future<Output = SettleResponse> + Send {
        async move {
            let (key, settlement) = match Self::identify(facilitator, request).await {
                Ok(Some(found)) => found,
                Ok(None) => return facilitator.failure(quittance_x402::ErrorReason::UnsupportedScheme, None, None),
                Err(refusal) => return facilitator.failure(refusal.reason, refusal.payer, None),
            };
            let response = facilitator.execute(key, settlement, Recheck::Payment(Box::new(request.clone()))).await;
            facilitator.answer_once(key, request, response)
        }
    }
}
