//! The `upto` scheme on EVM networks: the payer authorizes a maximum, the server settles what the request
//! actually cost.
//!
//! The payer signs a Permit2 `PermitWitnessTransferFrom` of the maximum (`amount` of the requirements) of
//! `asset`, spendable only by x402's `x402UptoPermit2Proxy`, with the witness
//! `Witness(address to,address facilitator,uint256 validAfter)`: the proxy pays only `to`, only when called
//! by `facilitator`, and any amount up to the permitted one. The server tells its facilitator the amount
//! to settle by sending `/settle` the requirements with `amount` set to it (the official server reads it
//! from the handler's [`SETTLEMENT_OVERRIDES`] response header); zero settles nothing.
//!
//! This module builds the payload for clients and runs every check a verifier can run without a chain,
//! with the official SDK's reason codes; the facilitator adds the chain's (code, allowance, balance,
//! nonce, simulation). A payer who never approved Permit2 may send an EIP-2612 permit of the maximum along
//! when the server declares `eip2612GasSponsoring` ([`crate::eip2612_gas_sponsoring`]), as with `exact`
//! over Permit2: the proxy's `settleWithPermit` then approves Permit2 first.

pub use crate::permit2::{DEADLINE_MARGIN, PERMIT2_ADDRESS, Permitted, permit2_domain};
use crate::{
    ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo, X402_V2,
    eip2612_gas_sponsoring::{self, SponsoredPermit},
    exact::decimal,
    permit2::TokenPermissions,
};
use alloy::{
    primitives::{Address, B256, Bytes, U256, address},
    signers::SignerSync,
    sol,
    sol_types::SolStruct,
};
use serde::{Deserialize, Serialize};

sol! {
    /// The `upto` witness: who is paid, who may settle, and from when.
    #[derive(Debug, PartialEq, Eq)]
    struct Witness {
        address to;
        address facilitator;
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

/// The scheme's name on the wire.
pub const SCHEME: &str = "upto";

/// x402's `x402UptoPermit2Proxy`, at its canonical address on every chain: the permit's spender.
pub const UPTO_PROXY_ADDRESS: Address = address!("0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002");

/// The key of `extra` naming the facilitator that may settle (the witness's `facilitator`).
pub const FACILITATOR_ADDRESS: &str = "facilitatorAddress";

/// The response header in which a handler reports what its request cost (`{"amount":"1234"}` in the
/// token's smallest unit, or `{"amount":"50%"}` of the maximum), as the official server reads it. A server
/// removes it from the answer it gives.
pub const SETTLEMENT_OVERRIDES: &str = "settlement-overrides";

/// The payload of an `upto` payment, as it travels in `PaymentPayload.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UptoPayload {
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
    /// The token and the maximum.
    pub permitted: Permitted,
    /// Who may spend it: [`UPTO_PROXY_ADDRESS`].
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
    /// The only account that may settle.
    #[serde(with = "crate::exact::checksummed")]
    pub facilitator: Address,
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
            witness: Witness {
                to: a.witness.to,
                facilitator: a.witness.facilitator,
                validAfter: a.witness.valid_after,
            },
        }
    }
}

/// What `upto` requirements say, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UptoTerms {
    /// The chain id.
    pub chain_id: u64,
    /// The token.
    pub asset: Address,
    /// The payee.
    pub pay_to: Address,
    /// The amount: the maximum in a 402 and at `/verify`, the amount to settle at `/settle`.
    pub amount: U256,
    /// The facilitator named in `extra.facilitatorAddress`, if any.
    pub facilitator: Option<Address>,
}

impl UptoTerms {
    /// Parses `upto` requirements; every problem maps to the reason code the official SDK uses.
    pub fn from_requirements(requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        if requirements.scheme != SCHEME {
            return Err(ErrorReason::UptoEvmScheme);
        }
        let chain_id = requirements.network().and_then(|n| n.chain_id()).map_err(|_| ErrorReason::InvalidNetwork)?;
        let asset: Address = requirements.asset.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let pay_to: Address = requirements.pay_to.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let amount = decimal::parse(&requirements.amount).ok_or(ErrorReason::InvalidPaymentRequirements)?;
        let facilitator = match requirements.extra.get(FACILITATOR_ADDRESS) {
            None => None,
            Some(value) => {
                Some(value.as_str().and_then(|s| s.parse().ok()).ok_or(ErrorReason::InvalidPaymentRequirements)?)
            }
        };
        Ok(Self { chain_id, asset, pay_to, amount, facilitator })
    }
}

/// Why a client could not build a payment.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The requirements are not valid `upto` requirements.
    #[error("the payment requirements cannot be paid with upto: {0}")]
    Requirements(ErrorReason),
    /// The requirements name no facilitator (`extra.facilitatorAddress`).
    #[error("the upto requirements name no facilitator (extra.facilitatorAddress)")]
    NoFacilitator,
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signer(#[from] alloy::signers::Error),
}

/// Builds and signs the payment for `requirements` (a client's side): a permit of the maximum to the upto
/// proxy, valid from now until `now + maxTimeoutSeconds`, with the random Permit2 `nonce`, wrapped in a v2
/// payload that echoes `requirements` unchanged as `accepted`.
pub fn pay(
    requirements: &PaymentRequirements,
    resource: Option<ResourceInfo>,
    signer: &impl SignerSync,
    from: Address,
    now: u64,
    nonce: U256,
) -> Result<PaymentPayload, SignError> {
    let terms = UptoTerms::from_requirements(requirements).map_err(SignError::Requirements)?;
    let facilitator = terms.facilitator.ok_or(SignError::NoFacilitator)?;
    if requirements.max_timeout_seconds == 0 {
        return Err(SignError::Requirements(ErrorReason::InvalidPaymentRequirements));
    }
    let authorization = Permit2Authorization {
        from,
        permitted: Permitted { token: terms.asset, amount: terms.amount },
        spender: UPTO_PROXY_ADDRESS,
        nonce,
        deadline: U256::from(now.saturating_add(requirements.max_timeout_seconds)),
        witness: WitnessFields { to: terms.pay_to, facilitator, valid_after: U256::ZERO },
    };
    let signature = signer
        .sign_typed_data_sync(&PermitWitnessTransferFrom::from(&authorization), &permit2_domain(terms.chain_id))?;
    let upto = UptoPayload { signature: signature.as_bytes().into(), permit2_authorization: authorization };
    Ok(PaymentPayload {
        x402_version: X402_V2,
        resource,
        accepted: requirements.clone(),
        payload: serde_json::to_value(upto).expect("the upto payload always serializes"),
        extensions: None,
    })
}

/// A payment that passed every check that needs no chain. What remains for a facilitator: the witness
/// names it ([`Checked::check_facilitator`]), the asset has code, the signature is the payer's (ECDSA with
/// [`Checked::check_eoa_signature`] if the payer has no code, ERC-1271 otherwise), the nonce is unused,
/// the allowance to Permit2 and the balance suffice, and a simulation passes.
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

    /// The permitted maximum.
    pub fn maximum(&self) -> U256 {
        self.authorization.permitted.amount
    }

    /// The EIP-712 digest the payer signed.
    pub fn signing_hash(&self) -> B256 {
        PermitWitnessTransferFrom::from(&self.authorization).eip712_signing_hash(&permit2_domain(self.chain_id))
    }

    /// Checks the time window at `now`: valid from `validAfter`, and still valid [`DEADLINE_MARGIN`]
    /// seconds from now.
    pub fn check_time(&self, now: u64) -> Result<(), ErrorReason> {
        let a = &self.authorization;
        if a.deadline < U256::from(now.saturating_add(DEADLINE_MARGIN)) {
            return Err(ErrorReason::Permit2DeadlineExpired);
        }
        if a.witness.valid_after > U256::from(now) {
            return Err(ErrorReason::Permit2NotYetValid);
        }
        if let Some(permit) = &self.sponsored {
            permit.check(self.payer(), a.permitted.token, now)?;
        }
        Ok(())
    }

    /// Checks that the witness names `facilitator`: only it can settle through the proxy.
    pub fn check_facilitator(&self, facilitator: Address) -> Result<(), ErrorReason> {
        if self.authorization.witness.facilitator == facilitator {
            Ok(())
        } else {
            Err(ErrorReason::UptoFacilitatorMismatch)
        }
    }

    /// Checks the signature as an EOA's: 65 bytes, `v` of 27 or 28, low `s`, recovering to the payer.
    pub fn check_eoa_signature(&self) -> Result<(), ErrorReason> {
        crate::signature::recover_eoa(&self.signature, self.signing_hash(), self.payer())
            .map_err(|_| ErrorReason::Permit2InvalidSignature)
    }
}

/// Runs every check of an `upto` payment at `/verify` that needs no chain: [`check_terms`], then the time
/// window against `now`. `requirements` are the server's own, whose `amount` is the maximum.
pub fn check(payment: &PaymentPayload, requirements: &PaymentRequirements, now: u64) -> Result<Checked, ErrorReason> {
    let checked = check_terms(payment, requirements)?;
    checked.check_time(now)?;
    Ok(checked)
}

/// The checks of an `upto` payment that depend neither on the chain nor on the time: scheme, network,
/// payload shape, spender, recipient, token, and the permitted amount equal to the requirements' maximum.
/// (The official facilitator checks the facilitator and the time window before the amount and the token
/// last, so a payment wrong in two ways may be refused there with its other reason.)
pub fn check_terms(payment: &PaymentPayload, requirements: &PaymentRequirements) -> Result<Checked, ErrorReason> {
    let (checked, amount) = check_permit(payment, requirements)?;
    if checked.maximum() != amount {
        return Err(ErrorReason::Permit2AmountMismatch);
    }
    Ok(checked)
}

/// The checks of an `upto` payment at `/settle`, where the requirements' `amount` is what to settle: every
/// check of [`check_terms`] but the amount's, then the amount to settle, which must not exceed the permitted
/// maximum. The payment and that amount.
pub fn check_settlement(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
) -> Result<(Checked, U256), ErrorReason> {
    let (checked, amount) = check_permit(payment, requirements)?;
    if amount > checked.maximum() {
        return Err(ErrorReason::UptoEvmSettlementExceedsAmount);
    }
    Ok((checked, amount))
}

/// Every offline, timeless check but the amount's: the permit and the requirements' amount.
fn check_permit(payment: &PaymentPayload, requirements: &PaymentRequirements) -> Result<(Checked, U256), ErrorReason> {
    if payment.accepted.scheme != SCHEME || requirements.scheme != SCHEME {
        return Err(ErrorReason::UptoEvmScheme);
    }
    if payment.accepted.network != requirements.network {
        return Err(ErrorReason::UptoEvmNetworkMismatch);
    }
    let terms = UptoTerms::from_requirements(requirements)?;
    let upto: UptoPayload =
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::UnsupportedPayloadType)?;
    let authorization = upto.permit2_authorization;
    if authorization.spender != UPTO_PROXY_ADDRESS {
        return Err(ErrorReason::Permit2InvalidSpender);
    }
    if authorization.witness.to != terms.pay_to {
        return Err(ErrorReason::Permit2RecipientMismatch);
    }
    if authorization.permitted.token != terms.asset {
        return Err(ErrorReason::Permit2TokenMismatch);
    }
    let sponsored = eip2612_gas_sponsoring::carried(payment)?;
    Ok((Checked { chain_id: terms.chain_id, authorization, signature: upto.signature, sponsored }, terms.amount))
}

/// Why a handler's usage report cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a settlement override such as {{\"amount\":\"1234\"}} or {{\"amount\":\"50%\"}}")]
pub struct OverrideError(pub String);

/// Reads a handler's [`SETTLEMENT_OVERRIDES`] report against the `maximum`: an amount in the token's
/// smallest unit, or a percentage of the maximum with at most two decimals (floored), as the official
/// server reads it. Dollar amounts are refused (they need the token's decimals; report smallest units).
/// The amount may exceed the maximum: the caller caps it.
pub fn settlement_override(report: &str, maximum: U256) -> Result<U256, OverrideError> {
    #[derive(Deserialize)]
    struct Overrides {
        amount: String,
    }
    let bad = || OverrideError(report.to_owned());
    let overrides: Overrides = serde_json::from_str(report).map_err(|_| bad())?;
    let amount = overrides.amount.trim();
    let Some(percent) = amount.strip_suffix('%') else { return decimal::parse(amount).ok_or_else(bad) };
    let (whole, fraction) = percent.split_once('.').unwrap_or((percent, ""));
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let hundredths = decimal::parse(&format!("{whole}{fraction:0<2}")).ok_or_else(bad)?;
    maximum.checked_mul(hundredths).map(|scaled| scaled / U256::from(10_000)).ok_or_else(bad)
}
