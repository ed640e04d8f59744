#![doc = include_str!("../README.md")]

mod ambient;
pub mod auth_capture;
pub mod batch_settlement;
pub mod channel;
mod codec;
pub mod crosschain;
pub mod eip2612_gas_sponsoring;
pub mod escrow;
pub mod exact;
pub mod exact_permit2;
pub mod invoice;
mod network;
pub mod payment_identifier;
pub mod permit2;
mod reason;
pub mod receipt;
mod scheme;
mod signature;
mod types;
pub mod upto;

pub use ambient::Ambient;
pub use codec::{
    DecodeError, MAX_HEADER_BYTES, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, X_PAYMENT,
    X_PAYMENT_RESPONSE, decode_header, encode_header,
};
pub use network::{Network, NetworkError};
pub use reason::ErrorReason;
pub use scheme::Scheme;
pub use types::{
    PaymentPayload, PaymentPayloadV1, PaymentRequired, PaymentRequirements, PaymentRequirementsResponseV1,
    PaymentRequirementsV1, ResourceInfo, SETTLED_BEFORE, SettleResponse, SettlementResponseV1, SupportedKind,
    SupportedResponse, VerifyRequest, VerifyResponse, X402_V1, X402_V2, find_matching,
};
