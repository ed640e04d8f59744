//! The `exact` scheme on EVM networks over Permit2 (`extra.assetTransferMethod: "permit2"`): any ERC-20,
//! not only EIP-3009 tokens.
//!
//! The payer, who approved Permit2 for the token once, signs a Permit2 `PermitWitnessTransferFrom` of
//! exactly the required amount of `asset`, spendable only by x402's `x402ExactPermit2Proxy`, with the
//! witness `Witness(address to,uint256 validAfter)`: the proxy moves the whole permitted amount to `to`,
//! from `validAfter` on, whoever calls it. A payer without the allowance may sign an EIP-2612 permit to
//! Permit2 as well ([`crate::eip2612_gas_sponsoring`]).
//!
//! This module builds the payload for clients and runs every check a verifier can run without a chain,
//! with the official SDK's reason codes; the facilitator adds the chain's (code, signature of contract
//! wallets, allowance, balance, nonce, simulation).

use crate::{
    ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo, X402_V2,
    eip2612_gas_sponsoring::{self, SponsoredPermit},
    exact::{self, decimal},
    permit2::{DEADLINE_MARGIN, Permitted, TokenPermissions, permit2_domain},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256, address},
    signers::SignerSync,
    sol,
    sol_types::SolStruct,
};
use serde::{Deserialize, Serialize};

sol! {
    /// The `exact` witness: who is paid, and from when.
    #[derive(Debug, PartialEq, Eq)]
    struct Witness {
        address to;
        uint256 validAfter;
    }

    /// The message the payer signs, in Permit2's EIP-712 domain.
    #[derive(Debug, PartialEq, Eq)]
    struct PermitWitnessTransferFrom {
        TokenPermissions permitted;
        address spender;
        uint256 nonce;
        uint256 deadline;
        Witness witness;
    }
}

/// The key of `extra` naming how `exact` moves the token.
pub const ASSET_TRANSFER_METHOD: &str = "assetTransferMethod";

/// The value of [`ASSET_TRANSFER_METHOD`] for Permit2 (the default, `eip3009`, is [`crate::exact`]).
pub const PERMIT2: &str = "permit2";

/// x402's `x402ExactPermit2Proxy`, at its canonical address on every chain: the permit's spender.
pub const EXACT_PROXY_ADDRESS: Address = address!("0x402085c248EeA27D92E8b30b2C58ed07f9E20001");

/// Whether `exact` requirements are paid over Permit2 (`extra.assetTransferMethod` is `permit2`).
pub fn applies(requirements: &PaymentRequirements) -> bool {
    requirements.scheme == exact::SCHEME && requirements.extra_str(ASSET_TRANSFER_METHOD) == Some(PERMIT2)
}

/// The payload of an `exact` payment over Permit2, as it travels in `PaymentPayload.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExactPermit2Payload {
    /// The payer's signature: 65 bytes for an EOA, or an ERC-1271 blob for a contract wallet.
    pub signature: Bytes,
    /// The signed permit.
    pub permit2_authorization: Permit2Authorization,
}

/// The permit's fields, with numbers as decimal strings as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permit2Authorization {
    /// The payer (Permit2's owner).
    #[serde(with = "crate::exact::checksummed")]
    pub from: Address,
    /// The token and the exact amount.
    pub permitted: Permitted,
    /// Who may spend it: [`EXACT_PROXY_ADDRESS`].
    #[serde(with = "crate::exact::checksummed")]
    pub spender: Address,
    /// Permit2's unordered nonce (random, 256 bits).
    #[serde(with = "decimal")]
    pub nonce: U256,
    /// Valid until this unix time.
    #[serde(with = "decimal")]
    pub deadline: U256,
    /// The witness.
    pub witness: WitnessFields,
}

/// The witness's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WitnessFields {
    /// The payee.
    #[serde(with = "crate::exact::checksummed")]
    pub to: Address,
    /// Valid from this unix time.
    #[serde(with = "decimal")]
    pub valid_after: U256,
}

impl From<&Permit2Authorization> for PermitWitnessTransferFrom {
    fn from(a: &Permit2Authorization) -> Self {
        Self {
            permitted: (&a.permitted).into(),
            spender: a.spender,
            nonce: a.nonce,
            deadline: a.deadline,
            witness: Witness { to: a.witness.to, validAfter: a.witness.valid_after },
        }
    }
}

/// What `exact` requirements over Permit2 say, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactPermit2Terms {
    /// The chain id.
    pub chain_id: u64,
    /// The token.
    pub asset: Address,
    /// The payee.
    pub pay_to: Address,
    /// The exact amount.
    pub amount: U256,
}

impl ExactPermit2Terms {
    /// Parses `exact` requirements over Permit2; every problem maps to the reason code the official SDK
    /// uses. The token's EIP-712 `extra.name` and `extra.version` are not needed (only for
    /// [`crate::eip2612_gas_sponsoring`]).
    pub fn from_requirements(requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        if !applies(requirements) {
            return Err(ErrorReason::UnsupportedPayloadType);
        }
        let chain_id = requirements.network().and_then(|n| n.chain_id()).map_err(|_| ErrorReason::InvalidNetwork)?;
        let asset: Address = requirements.asset.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let pay_to: Address = requirements.pay_to.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let amount = decimal::parse(&requirements.amount).ok_or(ErrorReason::InvalidPaymentRequirements)?;
        Ok(Self { chain_id, asset, pay_to, amount })
    }
}

/// Why a client could not build a payment.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The requirements are not valid `exact` requirements over Permit2.
    #[error("the payment requirements cannot be paid with exact over Permit2: {0}")]
    Requirements(ErrorReason),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signer(#[from] alloy::signers::Error),
}

/// Builds and signs the payment for `requirements` (a client's side): a permit of the exact amount to the
/// exact proxy, valid from now until `now + maxTimeoutSeconds`, with the random Permit2 `nonce`, wrapped in
/// a v2 payload that echoes `requirements` unchanged as `accepted`. A payer without an allowance to Permit2
/// adds an EIP-2612 permit with [`eip2612_gas_sponsoring::sign`] and [`eip2612_gas_sponsoring::attach`].
pub fn pay(
    requirements: &PaymentRequirements,
    resource: Option<ResourceInfo>,
    signer: &impl SignerSync,
    from: Address,
    now: u64,
    nonce: U256,
) -> Result<PaymentPayload, SignError> {
    let terms = ExactPermit2Terms::from_requirements(requirements).map_err(SignError::Requirements)?;
    if requirements.max_timeout_seconds == 0 {
        return Err(SignError::Requirements(ErrorReason::InvalidPaymentRequirements));
    }
    let authorization = Permit2Authorization {
        from,
        permitted: Permitted { token: terms.asset, amount: terms.amount },
        spender: EXACT_PROXY_ADDRESS,
        nonce,
        deadline: U256::from(now.saturating_add(requirements.max_timeout_seconds)),
        witness: WitnessFields { to: terms.pay_to, valid_after: U256::ZERO },
    };
    let signature = signer
        .sign_typed_data_sync(&PermitWitnessTransferFrom::from(&authorization), &permit2_domain(terms.chain_id))?;
    let payload = ExactPermit2Payload { signature: signature.as_bytes().into(), permit2_authorization: authorization };
    Ok(PaymentPayload {
        x402_version: X402_V2,
        resource,
        accepted: requirements.clone(),
        payload: serde_json::to_value(payload).expect("the exact Permit2 payload always serializes"),
        extensions: None,
    })
}

/// A payment that passed every check that needs no chain. What remains for a facilitator: the asset has
/// code, the signature is the payer's (ECDSA with [`Checked::check_eoa_signature`] if the payer has no
/// code, ERC-1271 otherwise), the nonce is unused, the allowance to Permit2 (or the EIP-2612 permit) and
/// the balance suffice, and a simulation passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The chain id.
    pub chain_id: u64,
    /// The signed permit.
    pub authorization: Permit2Authorization,
    /// The payer's signature.
    pub signature: Bytes,
    /// The EIP-2612 permit to Permit2 the payment carries (`eip2612GasSponsoring`), if any.
    pub sponsored: Option<SponsoredPermit>,
}

impl Checked {
    /// The payer.
    pub fn payer(&self) -> Address {
        self.authorization.from
    }

    /// The token.
    pub fn token(&self) -> Address {
        self.authorization.permitted.token
    }

    /// The amount.
    pub fn amount(&self) -> U256 {
        self.authorization.permitted.amount
    }

    /// The EIP-712 digest the payer signed.
    pub fn signing_hash(&self) -> B256 {
        PermitWitnessTransferFrom::from(&self.authorization).eip712_signing_hash(&permit2_domain(self.chain_id))
    }

    /// Checks the time window at `now`: still valid [`DEADLINE_MARGIN`] seconds from now, valid from
    /// `validAfter`, and an EIP-2612 permit carried along valid as long, its owner the payer, its token the
    /// payment's and its spender Permit2 (the SDK's order).
    pub fn check_time(&self, now: u64) -> Result<(), ErrorReason> {
        let a = &self.authorization;
        if a.deadline < U256::from(now.saturating_add(DEADLINE_MARGIN)) {
            return Err(ErrorReason::Permit2DeadlineExpired);
        }
        if a.witness.valid_after > U256::from(now) {
            return Err(ErrorReason::Permit2NotYetValid);
        }
        if let Some(permit) = &self.sponsored {
            permit.check(self.payer(), self.token(), now)?;
        }
        Ok(())
    }

    /// Checks the signature as an EOA's: 65 bytes, `v` of 27 or 28, low `s`, recovering to the payer.
    pub fn check_eoa_signature(&self) -> Result<(), ErrorReason> {
        crate::signature::recover_eoa(&self.signature, self.signing_hash(), self.payer())
            .map_err(|_| ErrorReason::Permit2InvalidSignature)
    }
}

/// Runs every check of an `exact` payment over Permit2 that needs no chain: [`check_terms`], then the time
/// window against `now`. `requirements` are the server's own.
pub fn check(payment: &PaymentPayload, requirements: &PaymentRequirements, now: u64) -> Result<Checked, ErrorReason> {
    let checked = check_terms(payment, requirements)?;
    checked.check_time(now)?;
    Ok(checked)
}

/// The checks that depend neither on the chain nor on the time: scheme and transfer method, network,
/// payload shape, spender, recipient, amount, token, and the form of an EIP-2612 permit carried along. (The
/// official facilitator checks the time window before the amount and the token, so a payment wrong in two
/// ways may be refused there with its other reason.)
pub fn check_terms(payment: &PaymentPayload, requirements: &PaymentRequirements) -> Result<Checked, ErrorReason> {
    if payment.accepted.scheme != exact::SCHEME || !applies(requirements) {
        return Err(ErrorReason::UnsupportedPayloadType);
    }
    if payment.accepted.network != requirements.network {
        return Err(ErrorReason::ExactEvmNetworkMismatch);
    }
    let terms = ExactPermit2Terms::from_requirements(requirements)?;
    let payload: ExactPermit2Payload =
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::UnsupportedPayloadType)?;
    let authorization = payload.permit2_authorization;
    if authorization.spender != EXACT_PROXY_ADDRESS {
        return Err(ErrorReason::Permit2InvalidSpender);
    }
    if authorization.witness.to != terms.pay_to {
        return Err(ErrorReason::Permit2RecipientMismatch);
    }
    if authorization.permitted.amount != terms.amount {
        return Err(ErrorReason::Permit2AmountMismatch);
    }
    if authorization.permitted.token != terms.asset {
        return Err(ErrorReason::Permit2TokenMismatch);
    }
    let sponsored = eip2612_gas_sponsoring::carried(payment)?;
    Ok(Checked { chain_id: terms.chain_id, authorization, signature: payload.signature, sponsored })
}
