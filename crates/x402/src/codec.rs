//! The x402 HTTP headers: standard base64 (with padding) of the UTF-8 JSON of a message.

use crate::ErrorReason;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Serialize, de::DeserializeOwned};

/// v2: the server's 402 answer, a base64 [`PaymentRequired`](crate::PaymentRequired).
pub const PAYMENT_REQUIRED: &str = "PAYMENT-REQUIRED";
/// v2: the client's proof, a base64 [`PaymentPayload`](crate::PaymentPayload).
pub const PAYMENT_SIGNATURE: &str = "PAYMENT-SIGNATURE";
/// v2: the server's receipt, a base64 [`SettleResponse`](crate::SettleResponse).
pub const PAYMENT_RESPONSE: &str = "PAYMENT-RESPONSE";
/// v1: the client's proof, a base64 [`PaymentPayloadV1`](crate::PaymentPayloadV1).
pub const X_PAYMENT: &str = "X-PAYMENT";
/// v1: the server's receipt, a base64 [`SettlementResponseV1`](crate::SettlementResponseV1).
pub const X_PAYMENT_RESPONSE: &str = "X-PAYMENT-RESPONSE";

/// The largest header value this crate decodes, in bytes. A payment payload with an ERC-1271 signature
/// and extensions is a few kilobytes; anything far larger is refused before any work is done.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Why a header could not be decoded. Every variant maps to [`ErrorReason::InvalidPayload`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The header is larger than [`MAX_HEADER_BYTES`].
    #[error("header of {len} bytes is larger than the {max} allowed")]
    TooLarge {
        /// The header's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header is not standard, padded base64.
    #[error("header is not standard padded base64: {0}")]
    Base64(String),
    /// The decoded bytes are not UTF-8.
    #[error("header is not UTF-8 once decoded")]
    Utf8,
    /// The JSON does not have the expected shape.
    #[error("header is not the expected JSON: {0}")]
    Json(String),
}

impl DecodeError {
    /// The reason code to answer with.
    pub const fn reason(&self) -> ErrorReason {
        ErrorReason::InvalidPayload
    }
}

/// Encodes `value` as an x402 header value.
pub fn encode_header<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("x402 messages always serialize to JSON");
    STANDARD.encode(json)
}

/// Decodes an x402 header value into `T`, refusing oversized input, base64url, whitespace and missing
/// padding as the official SDK does.
pub fn decode_header<T: DeserializeOwned>(header: &str) -> Result<T, DecodeError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(DecodeError::TooLarge { len: header.len(), max: MAX_HEADER_BYTES });
    }
    let bytes = STANDARD.decode(header).map_err(|e| DecodeError::Base64(e.to_string()))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| DecodeError::Utf8)?;
    serde_json::from_str(text).map_err(|e| DecodeError::Json(e.to_string()))
}
