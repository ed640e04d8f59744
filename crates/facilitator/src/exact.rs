//! The `exact` scheme on EVM: an EIP-3009 `transferWithAuthorization` of the exact amount to the payee,
//! sent by the facilitator.

use crate::{
    Facilitator,
    engine::{Expected, Settlement},
    scheme::SchemeRules,
    verify::{Refusal, Simulation, unexpected},
};
use alloy::{
    primitives::{Address, B256, U256},
    sol_types::SolCall,
};
use quittance_bindings::IERC3009;
use quittance_chain::{Chain, ChainError};
use quittance_x402::{ErrorReason, VerifyRequest, exact};

/// The `exact` scheme.
pub(crate) struct Exact;

/// The token call that settles an `exact` payment (the `bytes signature` overload, valid for EOAs and
/// ERC-1271 wallets alike).
pub(crate) fn settlement_call(checked: &exact::Checked) -> IERC3009::transferWithAuthorization_0Call {
    let a = &checked.authorization;
    IERC3009::transferWithAuthorization_0Call {
        from: a.from,
        to: a.to,
        value: a.value,
        validAfter: a.valid_after,
        validBefore: a.valid_before,
        nonce: a.nonce,
        signature: checked.signature.clone(),
    }
}

impl SchemeRules for Exact {
    async fn check<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
        simulation: Simulation,
    ) -> Result<Address, Refusal> {
        let requirements = &request.payment_requirements;
        let checked = exact::check_terms(&request.payment_payload, requirements)?;
        let payer = checked.payer();
        let with_payer = |reason: ErrorReason| Refusal { reason, payer: Some(payer) };
        let (now, code) =
            tokio::join!(facilitator.core.chain.timestamp(), facilitator.require_code(checked.terms.asset));
        checked.check_time(now.map_err(unexpected)?)?;
        code.map_err(|r| with_payer(r.reason))?;
        facilitator
            .check_signature(payer, checked.signing_hash(), &checked.signature, || checked.check_eoa_signature())
            .await
            .map_err(|r| with_payer(r.reason))?;
        if simulation == Simulation::LeaveToEstimate {
            return Ok(payer);
        }

        let a = &checked.authorization;
        match facilitator.simulate(checked.terms.asset, settlement_call(&checked).abi_encode()).await {
            Ok(_) => Ok(payer),
            Err(ChainError::Reverted { .. }) => Err(with_payer(
                facilitator.explain_token_failure(checked.terms.asset, payer, a.nonce, a.value, requirements).await,
            )),
            Err(err) => Err(unexpected(err)),
        }
    }

    async fn identify<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> Result<Option<(B256, Settlement)>, Refusal> {
        let checked = exact::check_terms(&request.payment_payload, &request.payment_requirements)?;
        facilitator
            .check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
                checked.check_eoa_signature()
            })
            .await?;
        let a = &checked.authorization;
        let token = checked.terms.asset;
        let settlement = Settlement {
            payer: a.from,
            to: token,
            data: settlement_call(&checked).abi_encode().into(),
            value: U256::ZERO,
            expected: Expected::Transfer { token, from: a.from, to: a.to, value: a.value },
            valid_before: Some(a.valid_before.saturating_to()),
        };
        Ok(Some((facilitator.payment_key(token, a.from, a.nonce), settlement)))
    }
}
