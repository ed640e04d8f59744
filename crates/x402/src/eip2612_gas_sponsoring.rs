//! x402's `eip2612GasSponsoring` extension: a payer who has not approved Permit2 yet signs an EIP-2612
//! `permit` of the payment's amount to Permit2 as well, and the facilitator settles with the proxy's
//! `settleWithPermit`, which submits that permit first. The payer needs no gas and sends no approval.
//!
//! A server declares the extension in its 402 (`extensions.eip2612GasSponsoring`, [`declare`]) for tokens
//! with EIP-2612; a client that lacks the allowance puts the signed permit in its payload's
//! `extensions.eip2612GasSponsoring.info` ([`sign`]); a facilitator that can settle such payments lists
//! the extension in `/supported`. Field names, formats and reason codes are the official SDK's.

use crate::{ErrorReason, PaymentPayload, exact::decimal, permit2::PERMIT2_ADDRESS, signature::contract_domain};
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::SignerSync,
    sol_types::SolStruct,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub use crate::permit2::Permit;

/// The extension's key, in a 402's `extensions`, a payload's `extensions` and `/supported`.
pub const EIP2612_GAS_SPONSORING: &str = "eip2612GasSponsoring";

/// The version of the info's schema.
pub const VERSION: &str = "1";

/// The EIP-2612 permit as it travels in `extensions.eip2612GasSponsoring.info`: every field a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The payer (the permit's owner).
    pub from: String,
    /// The token.
    pub asset: String,
    /// The approved spender: Permit2.
    pub spender: String,
    /// The approved amount, a decimal string.
    pub amount: String,
    /// The owner's EIP-2612 nonce at the token, a decimal string.
    pub nonce: String,
    /// The permit's deadline (unix time), a decimal string.
    pub deadline: String,
    /// The 65-byte signature (r, s, v), hex.
    pub signature: String,
    /// The schema's version.
    pub version: String,
}

/// A parsed EIP-2612 permit to Permit2, carried by a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SponsoredPermit {
    /// The permit's owner.
    pub from: Address,
    /// The token.
    pub asset: Address,
    /// The approved spender.
    pub spender: Address,
    /// The approved amount.
    pub amount: U256,
    /// The owner's nonce at the token.
    pub nonce: U256,
    /// Its deadline.
    pub deadline: U256,
    /// `v`, `r` and `s` of the signature.
    pub v: u8,
    /// `r`.
    pub r: B256,
    /// `s`.
    pub s: B256,
}

/// The server's declaration of the extension in a 402's `extensions`, under [`EIP2612_GAS_SPONSORING`].
pub fn declare() -> Value {
    let address = json!({"type": "string", "pattern": "^0x[a-fA-F0-9]{40}$"});
    let number = json!({"type": "string", "pattern": "^[0-9]+$"});
    json!({
        "info": {
            "description": "The facilitator accepts EIP-2612 gasless Permit to `Permit2` canonical contract.",
            "version": VERSION,
        },
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "from": address, "asset": address, "spender": address,
                "amount": number, "nonce": number, "deadline": number,
                "signature": {"type": "string", "pattern": "^0x[a-fA-F0-9]+$"},
                "version": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)*$"},
            },
            "required": ["from", "asset", "spender", "amount", "nonce", "deadline", "signature", "version"],
        },
    })
}

/// Whether a 402's `extensions` declare the extension.
pub fn declared(extensions: Option<&Map<String, Value>>) -> bool {
    extensions.is_some_and(|e| e.contains_key(EIP2612_GAS_SPONSORING))
}

/// Signs an EIP-2612 permit approving Permit2 for `amount` of `asset` (a client's side): in the token's
/// domain (`name`, `version`, `chain_id`), with the owner's current token `nonce`, valid until `deadline`.
/// The info to put in the payload's extensions ([`attach`]).
#[allow(clippy::too_many_arguments)]
pub fn sign(
    signer: &impl SignerSync,
    owner: Address,
    asset: Address,
    name: &str,
    version: &str,
    chain_id: u64,
    nonce: U256,
    deadline: U256,
    amount: U256,
) -> Result<Info, alloy::signers::Error> {
    let permit = Permit { owner, spender: PERMIT2_ADDRESS, value: amount, nonce, deadline };
    let signature = signer.sign_typed_data_sync(&permit, &contract_domain(name, version, chain_id, asset))?;
    Ok(Info {
        from: owner.to_checksum(None),
        asset: asset.to_checksum(None),
        spender: PERMIT2_ADDRESS.to_checksum(None),
        amount: amount.to_string(),
        nonce: nonce.to_string(),
        deadline: deadline.to_string(),
        signature: Bytes::from(signature.as_bytes()).to_string(),
        version: VERSION.into(),
    })
}

/// Puts a signed permit in a payment's `extensions.eip2612GasSponsoring.info`.
pub fn attach(payment: &mut PaymentPayload, info: &Info) {
    let info = serde_json::to_value(info).expect("the info always serializes");
    payment.extensions.get_or_insert_with(Map::new).insert(EIP2612_GAS_SPONSORING.into(), json!({ "info": info }));
}

/// The EIP-2612 permit a payment carries: `None` when it carries none, or one missing a field (the
/// official facilitator then settles without it); `invalid_eip2612_extension_format` when a field is
/// malformed (the SDK's formats: addresses `0x` and 40 hex digits, decimal numbers, a hex signature — here
/// of 65 bytes — and a dotted version).
pub fn carried(payment: &PaymentPayload) -> Result<Option<SponsoredPermit>, ErrorReason> {
    let Some(info) =
        payment.extensions.as_ref().and_then(|e| e.get(EIP2612_GAS_SPONSORING)).and_then(|e| e.get("info"))
    else {
        return Ok(None);
    };
    let field = |name: &str| info.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());
    let names = ["from", "asset", "spender", "amount", "nonce", "deadline", "signature", "version"];
    let Some(fields) = names.iter().map(|n| field(n)).collect::<Option<Vec<&str>>>() else { return Ok(None) };
    let bad = ErrorReason::InvalidEip2612ExtensionFormat;
    let address = |s: &str| -> Result<Address, ErrorReason> {
        let hex = s.strip_prefix("0x").filter(|h| h.len() == 40).ok_or(bad.clone())?;
        alloy::hex::decode(hex).ok().map(|b| Address::from_slice(&b)).ok_or(bad.clone())
    };
    let number = |s: &str| decimal::parse(s).ok_or(bad.clone());
    let version_ok = fields[7].split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    let signature = fields[6]
        .strip_prefix("0x")
        .and_then(|h| alloy::hex::decode(h).ok())
        .filter(|b| b.len() == 65)
        .ok_or(bad.clone())?;
    if !version_ok {
        return Err(bad);
    }
    Ok(Some(SponsoredPermit {
        from: address(fields[0])?,
        asset: address(fields[1])?,
        spender: address(fields[2])?,
        amount: number(fields[3])?,
        nonce: number(fields[4])?,
        deadline: number(fields[5])?,
        v: signature[64],
        r: B256::from_slice(&signature[..32]),
        s: B256::from_slice(&signature[32..64]),
    }))
}

impl SponsoredPermit {
    /// The official facilitator's checks of the permit against the payment, at `now`: its owner is the
    /// payer, its token the payment's, its spender Permit2, and it stays valid
    /// [`crate::permit2::DEADLINE_MARGIN`] seconds more. (That it approves the permitted amount, and its
    /// signature, are left to the proxy: a simulation tells.)
    pub fn check(&self, payer: Address, token: Address, now: u64) -> Result<(), ErrorReason> {
        if self.from != payer {
            return Err(ErrorReason::Eip2612FromMismatch);
        }
        if self.asset != token {
            return Err(ErrorReason::Eip2612AssetMismatch);
        }
        if self.spender != PERMIT2_ADDRESS {
            return Err(ErrorReason::Eip2612SpenderNotPermit2);
        }
        if self.deadline < U256::from(now.saturating_add(crate::permit2::DEADLINE_MARGIN)) {
            return Err(ErrorReason::Eip2612DeadlineExpired);
        }
        Ok(())
    }

    /// The EIP-712 digest of the permit in the token's domain (`name`, `version`, `chain_id`).
    pub fn signing_hash(&self, name: &str, version: &str, chain_id: u64) -> B256 {
        let permit = Permit {
            owner: self.from,
            spender: self.spender,
            value: self.amount,
            nonce: self.nonce,
            deadline: self.deadline,
        };
        permit.eip712_signing_hash(&contract_domain(name, version, chain_id, self.asset))
    }
}
