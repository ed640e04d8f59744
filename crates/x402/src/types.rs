//! The x402 messages, v2 and v1, with the exact field names of the specification and the SDK.
//!
//! Amounts, assets and addresses are kept as the strings they were on the wire: a client must echo the
//! option it chose unchanged (servers compare it field by field), and each scheme parses what it needs
//! with its own error codes.

use crate::Network;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `x402Version` of the first protocol version.
pub const X402_V1: u8 = 1;
/// `x402Version` of the current protocol version.
pub const X402_V2: u8 = 2;

/// `null` and absence both become the default (the official server accepts `null` optional fields).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The resource being paid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    /// The resource's URL.
    pub url: String,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// One way to pay that a server accepts (v2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    /// The scheme: `exact`, `invoice`, …
    pub scheme: String,
    /// The CAIP-2 network.
    pub network: String,
    /// The amount in the asset's smallest unit, as a decimal string.
    pub amount: String,
    /// The token address.
    pub asset: String,
    /// The payee.
    pub pay_to: String,
    /// How long the payment may take, in seconds.
    pub max_timeout_seconds: u64,
    /// Scheme-specific data (for `exact` on EVM: the token's EIP-712 `name` and `version`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub extra: Map<String, Value>,
}

impl PaymentRequirements {
    /// The network, parsed.
    pub fn network(&self) -> Result<Network, crate::NetworkError> {
        self.network.parse()
    }

    /// A string field of `extra`.
    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(Value::as_str)
    }
}

/// The server's 402 answer (v2), sent base64 in `PAYMENT-REQUIRED`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    /// Always 2.
    pub x402_version: u8,
    /// Why the previous attempt failed, as a reason code or message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What is being sold.
    pub resource: ResourceInfo,
    /// The ways to pay, in the server's order of preference.
    pub accepts: Vec<PaymentRequirements>,
    /// Extensions offered by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// The client's proof of payment (v2), sent base64 in `PAYMENT-SIGNATURE`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    /// Always 2.
    pub x402_version: u8,
    /// The resource, as the server described it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    /// The option the client chose, copied unchanged from `accepts`.
    pub accepted: PaymentRequirements,
    /// The scheme's signed payload.
    pub payload: Value,
    /// Extensions echoed by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Map<String, Value>>,
}

/// The body of a facilitator's `/verify` and `/settle` requests (v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyRequest {
    /// The protocol version of the payload.
    pub x402_version: u8,
    /// The client's payload.
    pub payment_payload: PaymentPayload,
    /// The requirements the server matched it to.
    pub payment_requirements: PaymentRequirements,
}

/// A facilitator's `/verify` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Whether the payment would settle.
    pub is_valid: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<crate::ErrorReason>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    /// Who pays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// What the scheme adds to a valid payment's answer (`batch-settlement`: the channel's state on chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A facilitator's `/settle` answer, and the server's receipt in `PAYMENT-RESPONSE` (v2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    /// Whether the payment settled.
    pub success: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<crate::ErrorReason>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Who paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// The settlement transaction hash (empty when nothing was sent).
    #[serde(default, deserialize_with = "null_as_default")]
    pub transaction: String,
    /// The CAIP-2 network it settled on.
    pub network: String,
    /// The amount settled, when the scheme settles a variable amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// Scheme-specific data (for Quittance's invoice scheme: the invoice id and the signed receipt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
}

/// The key of a [`SettleResponse`]'s `extra` that marks the answer to a payment settled before (Quittance's
/// facilitator answers a payment's success once; a replay is refused with the scheme's "already used"
/// reason and this flag, naming the transaction that settled it).
pub const SETTLED_BEFORE: &str = "settledBefore";

impl SettleResponse {
    /// Whether this answers a payment that was settled before (see [`SETTLED_BEFORE`]).
    pub fn settled_before(&self) -> bool {
        !self.success && self.extra.as_ref().and_then(|e| e.get(SETTLED_BEFORE)).and_then(Value::as_bool) == Some(true)
    }
}

/// One scheme and network a facilitator serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    /// The protocol version.
    pub x402_version: u8,
    /// The scheme.
    pub scheme: String,
    /// The CAIP-2 network.
    pub network: String,
    /// Scheme-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
}

/// A facilitator's `/supported` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedResponse {
    /// What it serves.
    pub kinds: Vec<SupportedKind>,
    /// The extensions it understands.
    #[serde(default, deserialize_with = "null_as_default")]
    pub extensions: Vec<String>,
    /// Its signing addresses per network pattern (`eip155:*`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub signers: BTreeMap<String, Vec<String>>,
}

/// One way to pay that a server accepts (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirementsV1 {
    /// The scheme.
    pub scheme: String,
    /// The v1 network name (`base`, `base-sepolia`, …).
    pub network: String,
    /// The amount in the asset's smallest unit, as a decimal string.
    pub max_amount_required: String,
    /// The token address.
    pub asset: String,
    /// The payee.
    pub pay_to: String,
    /// The resource's URL.
    pub resource: String,
    /// What it is.
    pub description: String,
    /// Its MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The schema of the resource's output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// How long the payment may take, in seconds.
    pub max_timeout_seconds: u64,
    /// Scheme-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Map<String, Value>>,
}

/// The server's 402 answer (v1), sent as the JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirementsResponseV1 {
    /// Always 1.
    pub x402_version: u8,
    /// Why payment is required, or why the last attempt failed.
    pub error: String,
    /// The ways to pay.
    pub accepts: Vec<PaymentRequirementsV1>,
}

/// The client's proof of payment (v1), sent base64 in `X-PAYMENT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV1 {
    /// Always 1.
    pub x402_version: u8,
    /// The chosen scheme.
    pub scheme: String,
    /// The chosen v1 network name.
    pub network: String,
    /// The scheme's signed payload.
    pub payload: Value,
}

/// The server's receipt (v1), sent base64 in `X-PAYMENT-RESPONSE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementResponseV1 {
    /// Whether the payment settled.
    pub success: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<crate::ErrorReason>,
    /// The settlement transaction hash.
    #[serde(default, deserialize_with = "null_as_default")]
    pub transaction: String,
    /// The v1 network name.
    pub network: String,
    /// Who paid.
    #[serde(default, deserialize_with = "null_as_default")]
    pub payer: String,
}

impl PaymentRequirementsResponseV1 {
    /// The v2 form of a v1 402, for a client that pays as it pays v2 servers: each option whose network has
    /// a v1 name becomes a v2 option on its CAIP-2 network (`maxAmountRequired` as the `amount`); the others
    /// are left out. `x402Version` stays 1, so that the payment is sent back in v1 form.
    pub fn to_v2(&self) -> PaymentRequired {
        let accepts: Vec<PaymentRequirements> = self.accepts.iter().filter_map(|o| o.to_v2().ok()).collect();
        let first = self.accepts.first();
        PaymentRequired {
            x402_version: X402_V1,
            error: Some(self.error.clone()).filter(|e| !e.is_empty()),
            resource: ResourceInfo {
                url: first.map(|o| o.resource.clone()).unwrap_or_default(),
                description: first.map(|o| o.description.clone()),
                mime_type: first.and_then(|o| o.mime_type.clone()),
            },
            accepts,
            extensions: None,
        }
    }
}

impl PaymentRequirementsV1 {
    /// This option in v2 form; fails for a network name v1 does not define.
    pub fn to_v2(&self) -> Result<PaymentRequirements, crate::NetworkError> {
        Ok(PaymentRequirements {
            scheme: self.scheme.clone(),
            network: Network::from_v1_name(&self.network)?.to_string(),
            amount: self.max_amount_required.clone(),
            asset: self.asset.clone(),
            pay_to: self.pay_to.clone(),
            max_timeout_seconds: self.max_timeout_seconds,
            extra: self.extra.clone().unwrap_or_default(),
        })
    }
}

impl PaymentPayloadV1 {
    /// The v1 form of a payment signed for an option of a v1 402 ([`PaymentRequirementsResponseV1::to_v2`]):
    /// its scheme, its network's v1 name and the signed payload. Fails for a network v1 does not name.
    pub fn from_v2(payment: &PaymentPayload) -> Result<Self, crate::NetworkError> {
        let network = payment.accepted.network()?;
        let name = network.v1_name().ok_or_else(|| crate::NetworkError::NoV1Name(network.to_string()))?;
        Ok(Self {
            x402_version: X402_V1,
            scheme: payment.accepted.scheme.clone(),
            network: name.to_owned(),
            payload: payment.payload.clone(),
        })
    }
}

impl SettlementResponseV1 {
    /// This receipt in v2 form: the network's CAIP-2 name (the v1 name kept when it is unknown).
    pub fn to_v2(&self) -> SettleResponse {
        SettleResponse {
            success: self.success,
            error_reason: self.error_reason.clone(),
            error_message: None,
            payer: Some(self.payer.clone()).filter(|p| !p.is_empty()),
            transaction: self.transaction.clone(),
            network: Network::from_v1_name(&self.network).map_or_else(|_| self.network.clone(), |n| n.to_string()),
            amount: None,
            extra: None,
        }
    }
}

/// Finds the offered option a client chose: the one whose core fields (`scheme`, `network`, `amount`,
/// `asset`, `payTo`, `maxTimeoutSeconds`) equal the echoed `accepted` and whose `extra` entries all appear,
/// unchanged, in `accepted.extra`. This is how the official server matches.
pub fn find_matching<'a>(
    offered: &'a [PaymentRequirements],
    accepted: &PaymentRequirements,
) -> Option<&'a PaymentRequirements> {
    offered.iter().find(|o| {
        o.scheme == accepted.scheme
            && o.network == accepted.network
            && o.amount == accepted.amount
            && o.asset == accepted.asset
            && o.pay_to == accepted.pay_to
            && o.max_timeout_seconds == accepted.max_timeout_seconds
            && o.extra.iter().all(|(k, v)| accepted.extra.get(k) == Some(v))
    })
}
