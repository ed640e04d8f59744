//! The `exact` scheme on EVM networks, with EIP-3009 `transferWithAuthorization`.
//!
//! The payer signs a `TransferWithAuthorization` for exactly the required amount to exactly `payTo`, in the
//! token's own EIP-712 domain (`extra.name`, `extra.version`, the network's chain id, the asset). A
//! facilitator submits it and pays the gas. This module builds the payload for clients and runs every check
//! a verifier can run without a chain; the facilitator adds the chain's (code, balance, nonce, simulation).
//! Requirements with `extra.assetTransferMethod: "permit2"` are paid over Permit2 instead
//! ([`crate::exact_permit2`]).

use crate::{ErrorReason, PaymentPayload, PaymentRequirements, ResourceInfo, X402_V2};
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::SignerSync,
    sol,
    sol_types::{Eip712Domain, SolStruct},
};
use serde::{Deserialize, Serialize};

sol! {
    /// EIP-3009's `TransferWithAuthorization`, the message the payer signs.
    #[derive(Debug, PartialEq, Eq)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// The scheme's name on the wire.
pub const SCHEME: &str = "exact";

/// An authorization must stay valid at least this many seconds past now, so that a settlement sent now is
/// still valid when it is mined (the official facilitator uses the same margin).
pub const VALID_BEFORE_MARGIN: u64 = 6;

/// The payload of an `exact` EVM payment, as it travels in `PaymentPayload.payload`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExactEvmPayload {
    /// The payer's signature: 65 bytes (r, s, v) for an EOA, or an ERC-1271 blob for a contract wallet.
    pub signature: Bytes,
    /// The signed authorization.
    pub authorization: Authorization,
}

/// The authorization's fields, with numbers as decimal strings as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorization {
    /// The payer.
    #[serde(with = "crate::exact::checksummed")]
    pub from: Address,
    /// The payee.
    #[serde(with = "crate::exact::checksummed")]
    pub to: Address,
    /// The amount.
    #[serde(with = "decimal")]
    pub value: U256,
    /// Valid strictly after this unix time.
    #[serde(with = "decimal")]
    pub valid_after: U256,
    /// Valid strictly before this unix time.
    #[serde(with = "decimal")]
    pub valid_before: U256,
    /// A random 32-byte nonce.
    pub nonce: B256,
}

impl Authorization {
    /// Checks the time window at `now`: valid after `validAfter`, and still valid [`VALID_BEFORE_MARGIN`]
    /// seconds from now, so that a settlement sent now is mined in time.
    pub fn check_time(&self, now: u64) -> Result<(), ErrorReason> {
        if self.valid_before < U256::from(now.saturating_add(VALID_BEFORE_MARGIN)) {
            return Err(ErrorReason::ExactEvmValidBefore);
        }
        if self.valid_after > U256::from(now) {
            return Err(ErrorReason::ExactEvmValidAfter);
        }
        Ok(())
    }
}

impl From<&Authorization> for TransferWithAuthorization {
    fn from(a: &Authorization) -> Self {
        Self {
            from: a.from,
            to: a.to,
            value: a.value,
            validAfter: a.valid_after,
            validBefore: a.valid_before,
            nonce: a.nonce,
        }
    }
}

/// EIP-55 serde for an `Address`: written checksummed, as the official clients write addresses (some
/// facilitators, web3.py's among them, refuse lower-case ones); read in any case.
pub(crate) mod checksummed {
    use alloy::primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &Address, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_checksum(None))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        Address::deserialize(deserializer)
    }
}

/// Decimal-string serde for `U256` (x402 writes amounts and times as decimal strings).
pub(crate) mod decimal {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a decimal integer")))
    }

    pub(crate) fn parse(text: &str) -> Option<U256> {
        if text.is_empty() || text.len() > 78 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        U256::from_str_radix(text, 10).ok()
    }
}

/// What the requirements say, parsed: the token's EIP-712 domain, the payee and the amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactTerms {
    /// The token's EIP-712 domain.
    pub domain: Eip712Domain,
    /// The token.
    pub asset: Address,
    /// The payee.
    pub pay_to: Address,
    /// The exact amount.
    pub amount: U256,
    /// The chain id.
    pub chain_id: u64,
}

impl ExactTerms {
    /// Parses `exact` requirements; every problem maps to the reason code the official SDK uses.
    pub fn from_requirements(requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        if requirements.scheme != SCHEME {
            return Err(ErrorReason::ExactEvmScheme);
        }
        // Paid over Permit2 instead: `crate::exact_permit2`.
        if crate::exact_permit2::applies(requirements) {
            return Err(ErrorReason::UnsupportedPayloadType);
        }
        Self::of_token(requirements)
    }

    /// Parses what any EIP-3009 option says of its token, payee and amount, whatever its scheme (the
    /// `invoice` and `cross-chain-invoice` options are paid with the same authorization).
    pub fn of_token(requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        let (Some(name), Some(version)) = (requirements.extra_str("name"), requirements.extra_str("version")) else {
            return Err(ErrorReason::ExactEvmMissingEip712Domain);
        };
        let chain_id = requirements.network().and_then(|n| n.chain_id()).map_err(|_| ErrorReason::InvalidNetwork)?;
        let asset: Address = requirements.asset.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let pay_to: Address = requirements.pay_to.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let amount = decimal::parse(&requirements.amount).ok_or(ErrorReason::InvalidPaymentRequirements)?;
        let domain = crate::signature::contract_domain(name, version, chain_id, asset);
        Ok(Self { domain, asset, pay_to, amount, chain_id })
    }
}

/// Why a client could not build a payment.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The requirements are not valid `exact` EVM requirements.
    #[error("the payment requirements cannot be paid with exact/EIP-3009: {0}")]
    Requirements(ErrorReason),
    /// The signer failed.
    #[error("signing failed: {0}")]
    Signer(#[from] alloy::signers::Error),
}

/// Builds and signs the payment for `requirements` (a client's side of the scheme): an authorization valid
/// from now until `now + maxTimeoutSeconds`, with the given random `nonce`, wrapped in a v2 payload that
/// echoes `requirements` unchanged as `accepted`.
pub fn pay(
    requirements: &PaymentRequirements,
    resource: Option<ResourceInfo>,
    signer: &impl SignerSync,
    from: Address,
    now: u64,
    nonce: B256,
) -> Result<PaymentPayload, SignError> {
    let terms = ExactTerms::from_requirements(requirements).map_err(SignError::Requirements)?;
    let authorization = Authorization {
        from,
        to: terms.pay_to,
        value: terms.amount,
        valid_after: U256::ZERO,
        valid_before: U256::from(now.saturating_add(requirements.max_timeout_seconds)),
        nonce,
    };
    let signature = signer.sign_typed_data_sync(&TransferWithAuthorization::from(&authorization), &terms.domain)?;
    let exact = ExactEvmPayload { signature: signature.as_bytes().into(), authorization };
    Ok(PaymentPayload {
        x402_version: X402_V2,
        resource,
        accepted: requirements.clone(),
        payload: serde_json::to_value(exact).expect("the exact payload always serializes"),
        extensions: None,
    })
}

/// A payment that passed every check that needs no chain. What remains for a facilitator: the asset has
/// code, the signature is valid for the payer (ECDSA with [`Checked::check_eoa_signature`] if the payer
/// has no code, ERC-1271 otherwise), the nonce is unused, the balance suffices, and a simulation passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The parsed requirements.
    pub terms: ExactTerms,
    /// The signed authorization.
    pub authorization: Authorization,
    /// The payer's signature.
    pub signature: Bytes,
}

impl Checked {
    /// The payer.
    pub fn payer(&self) -> Address {
        self.authorization.from
    }

    /// The EIP-712 digest the payer signed.
    pub fn signing_hash(&self) -> B256 {
        TransferWithAuthorization::from(&self.authorization).eip712_signing_hash(&self.terms.domain)
    }

    /// Checks the authorization's time window at `now`: valid after `validAfter`, and still valid
    /// [`VALID_BEFORE_MARGIN`] seconds from now.
    pub fn check_time(&self, now: u64) -> Result<(), ErrorReason> {
        self.authorization.check_time(now)
    }

    /// Checks the signature as an EOA's: 65 bytes, `v` of 27 or 28, low `s` (as the token's ECDSA check
    /// requires), recovering to the payer.
    pub fn check_eoa_signature(&self) -> Result<(), ErrorReason> {
        crate::signature::recover_eoa(&self.signature, self.signing_hash(), self.payer())
    }
}

/// Runs every check of an `exact` payment that needs no chain: [`check_terms`], then the time window
/// against `now` (with [`VALID_BEFORE_MARGIN`]). `requirements` are the server's own (matched with
/// [`crate::find_matching`]), not the client's echo.
pub fn check(payment: &PaymentPayload, requirements: &PaymentRequirements, now: u64) -> Result<Checked, ErrorReason> {
    let checked = check_terms(payment, requirements)?;
    checked.check_time(now)?;
    Ok(checked)
}

/// The checks of an `exact` payment that depend neither on the chain nor on the time: scheme, EIP-712
/// domain, network, payload shape, recipient and amount. What identifies a payment whatever the hour.
pub fn check_terms(payment: &PaymentPayload, requirements: &PaymentRequirements) -> Result<Checked, ErrorReason> {
    if payment.accepted.scheme != SCHEME || requirements.scheme != SCHEME {
        return Err(ErrorReason::ExactEvmScheme);
    }
    if requirements.extra_str("name").is_none() || requirements.extra_str("version").is_none() {
        return Err(ErrorReason::ExactEvmMissingEip712Domain);
    }
    if payment.accepted.network != requirements.network {
        return Err(ErrorReason::ExactEvmNetworkMismatch);
    }
    let terms = ExactTerms::from_requirements(requirements)?;
    let exact: ExactEvmPayload =
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::InvalidPayload)?;
    let authorization = exact.authorization;
    if authorization.to != terms.pay_to {
        return Err(ErrorReason::ExactEvmRecipientMismatch);
    }
    if authorization.value != terms.amount {
        return Err(ErrorReason::ExactEvmValueMismatch);
    }
    Ok(Checked { terms, authorization, signature: exact.signature })
}
