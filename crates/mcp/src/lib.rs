#![doc = include_str!("../README.md")]

pub mod client;
pub mod server;

pub use client::{McpPayError, McpPayer, PaidCall};
pub use server::{PaidTools, TOOL_BASE, paywall};

/// The request `_meta` key that carries the x402 `PaymentPayload` of a paid tool call.
pub const PAYMENT_META: &str = "x402/payment";

/// The result `_meta` key that carries the settlement (`SettleResponse`) of a paid tool call.
pub const PAYMENT_RESPONSE_META: &str = "x402/payment-response";
