//! The `exact` scheme on EVM over Permit2 (`extra.assetTransferMethod: "permit2"`): x402's
//! `x402ExactPermit2Proxy` moves exactly the permitted amount to the witness's payee through Permit2,
//! called by the facilitator; with an EIP-2612 permit carried along (`eip2612GasSponsoring`), through the
//! proxy's `settleWithPermit`, which approves Permit2 first.
//!
//! A payment's ledger key is its payer and Permit2 nonce, in Permit2's nonce space (unordered nonces are
//! the owner's across tokens): a payment settled once, with or without the EIP-2612 permit, is refused the
//! second time with `permit2_invalid_nonce`.

use crate::{
    Facilitator,
    engine::{Expected, Settlement},
    scheme::SchemeRules,
    verify::{Refusal, Simulation, unexpected},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    sol,
    sol_types::SolCall,
};
use quittance_bindings::{
    ISignatureTransfer,
    ix402_exact_permit2_proxy::{
        ISignatureTransfer as Permit2Types, IX402ExactPermit2Proxy, IX402ExactPermit2Proxy::Witness,
        IX402Permit2Proxy::EIP2612Permit,
    },
};
use quittance_chain::{Chain, ChainError};
use quittance_x402::{
    ErrorReason, VerifyRequest,
    exact_permit2::{self, EXACT_PROXY_ADDRESS},
    permit2::{self, PERMIT2_ADDRESS},
};

sol! {
    /// What the facilitator reads from an ERC-20 paid over Permit2 to explain a failed simulation.
    interface IPermit2Token {
        function balanceOf(address account) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
    }
}

/// The `exact` scheme over Permit2.
pub(crate) struct ExactPermit2;

/// The proxy call that settles a payment: `settle`, or `settleWithPermit` when it carries an EIP-2612 permit.
pub(crate) fn settlement_data(checked: &exact_permit2::Checked) -> Bytes {
    let a = &checked.authorization;
    let permit = Permit2Types::PermitTransferFrom {
        permitted: Permit2Types::TokenPermissions { token: a.permitted.token, amount: a.permitted.amount },
        nonce: a.nonce,
        deadline: a.deadline,
    };
    let witness = Witness { to: a.witness.to, validAfter: a.witness.valid_after };
    let signature = checked.signature.clone();
    match &checked.sponsored {
        None => IX402ExactPermit2Proxy::settleCall { permit, owner: a.from, witness, signature }.abi_encode().into(),
        Some(p) => IX402ExactPermit2Proxy::settleWithPermitCall {
            permit2612: EIP2612Permit { value: p.amount, deadline: p.deadline, r: p.r, s: p.s, v: p.v },
            permit,
            owner: a.from,
            witness,
            signature,
        }
        .abi_encode()
        .into(),
    }
}

/// What a settlement transaction of the proxy must show, read back from its calldata (after a restart).
pub(crate) fn expected_of_call(input: &[u8]) -> Option<(Address, Expected)> {
    let (permit, owner, witness) = if let Ok(call) = IX402ExactPermit2Proxy::settleCall::abi_decode(input) {
        (call.permit, call.owner, call.witness)
    } else {
        let call = IX402ExactPermit2Proxy::settleWithPermitCall::abi_decode(input).ok()?;
        (call.permit, call.owner, call.witness)
    };
    let expected = Expected::Transfer {
        token: permit.permitted.token,
        from: owner,
        to: witness.to,
        value: permit.permitted.amount,
    };
    Some((owner, expected))
}

impl<C: Chain + 'static> Facilitator<C> {
    /// Explains why the proxy's settlement would fail by reading the chain, as the official facilitator
    /// does (balance, then allowance to Permit2), after the nonce (used already: a replay) and an EIP-2612
    /// permit for another amount than the payment's.
    async fn explain_permit2_failure(&self, checked: &exact_permit2::Checked) -> ErrorReason {
        let (payer, token, amount) = (checked.payer(), checked.token(), checked.amount());
        let (word, bit) = permit2::nonce_position(checked.authorization.nonce);
        if let Ok(bitmap) =
            self.read(PERMIT2_ADDRESS, ISignatureTransfer::nonceBitmapCall { owner: payer, wordPosition: word }).await
            && bitmap & bit != U256::ZERO
        {
            return ErrorReason::Permit2InvalidNonce;
        }
        if checked.sponsored.as_ref().is_some_and(|p| p.amount != amount) {
            return ErrorReason::Permit2612AmountMismatch;
        }
        if let Ok(balance) = self.read(token, IPermit2Token::balanceOfCall { account: payer }).await
            && balance < amount
        {
            return ErrorReason::Permit2InsufficientBalance;
        }
        if let Ok(allowance) =
            self.read(token, IPermit2Token::allowanceCall { owner: payer, spender: PERMIT2_ADDRESS }).await
            && allowance < amount
        {
            return ErrorReason::Permit2AllowanceRequired;
        }
        ErrorReason::Permit2SimulationFailed
    }

    /// The payer's signature of the permit: ECDSA, or ERC-1271 for a contract wallet, in Permit2's words.
    async fn check_permit2_signature(&self, checked: &exact_permit2::Checked) -> Result<(), Refusal> {
        self.check_signature(checked.payer(), checked.signing_hash(), &checked.signature, || {
            checked.check_eoa_signature()
        })
        .await
        .map_err(|refusal| match refusal.reason {
            ErrorReason::ExactEvmSignature => ErrorReason::Permit2InvalidSignature.into(),
            _ => refusal,
        })
    }
}

impl SchemeRules for ExactPermit2 {
    async fn check<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
        simulation: Simulation,
    ) -> Result<Address, Refusal> {
        let checked = exact_permit2::check_terms(&request.payment_payload, &request.payment_requirements)?;
        let payer = checked.payer();
        let with_payer = |reason: ErrorReason| Refusal { reason, payer: Some(payer) };
        let (now, code, proxy) = tokio::join!(
            facilitator.core.chain.timestamp(),
            facilitator.require_code(checked.token()),
            facilitator.require_code(EXACT_PROXY_ADDRESS),
        );
        checked.check_time(now.map_err(unexpected)?).map_err(with_payer)?;
        code.map_err(|r| with_payer(r.reason))?;
        proxy.map_err(|r| {
            with_payer(match r.reason {
                ErrorReason::AssetNotDeployedContract => ErrorReason::Permit2ProxyNotDeployed,
                other => other,
            })
        })?;
        facilitator.check_permit2_signature(&checked).await.map_err(|r| with_payer(r.reason))?;
        if simulation == Simulation::LeaveToEstimate {
            return Ok(payer);
        }
        match facilitator.simulate(EXACT_PROXY_ADDRESS, settlement_data(&checked).to_vec()).await {
            Ok(_) => Ok(payer),
            Err(ChainError::Reverted { .. }) => Err(with_payer(facilitator.explain_permit2_failure(&checked).await)),
            Err(err) => Err(unexpected(err)),
        }
    }

    async fn identify<C: Chain + 'static>(
        facilitator: &Facilitator<C>,
        request: &VerifyRequest,
    ) -> Result<Option<(B256, Settlement)>, Refusal> {
        let checked = exact_permit2::check_terms(&request.payment_payload, &request.payment_requirements)?;
        facilitator.check_permit2_signature(&checked).await?;
        let a = &checked.authorization;
        let settlement = Settlement {
            payer: a.from,
            to: EXACT_PROXY_ADDRESS,
            data: settlement_data(&checked),
            value: U256::ZERO,
            expected: Expected::Transfer {
                token: a.permitted.token,
                from: a.from,
                to: a.witness.to,
                value: a.permitted.amount,
            },
            // Permit2 takes a permit up to its deadline, inclusive.
            valid_before: Some(a.deadline.saturating_to::<u64>().saturating_add(1)),
        };
        let key = facilitator.payment_key(PERMIT2_ADDRESS, a.from, B256::from(a.nonce));
        Ok(Some((key, settlement)))
    }
}
