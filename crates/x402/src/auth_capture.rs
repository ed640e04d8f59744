//! The `auth-capture` scheme (v1.1) on EVM networks: the payer authorizes a maximum into an escrow; the
//! operator (the requirements' `captureAuthorizer`) later captures part or all of it for the receiver, voids
//! it back to the payer, or refunds what was captured.
//!
//! The official client signs an EIP-3009 `ReceiveWithAuthorization` of the maximum (`amount` of the
//! requirements) to the canonical EIP-3009 token collector, valid before the pre-approval expiry (now +
//! `maxTimeoutSeconds`), whose nonce binds the whole [`PaymentInfo`]: `keccak256(abi.encode(chainId, escrow,
//! paymentInfoHash))`, with the PaymentInfo hashed payer-agnostically (payer zeroed) and `escrow` the canonical
//! `AuthCaptureEscrow`. Quittance's `AuthCaptureCollector` sits at that collector's address on local chains and
//! lands the funds in Quittance's `PaymentEscrow`.
//!
//! This module holds the wire types (the requirements' `extra`, the payload, the `/settle` operations), the
//! PaymentInfo as the client reconstructs it, the nonce, and the per-operation idempotency key.

use alloy::{
    primitives::{
        Address, B256, Bytes, U256, address,
        aliases::{U48, U120},
        keccak256,
    },
    sol,
    sol_types::SolValue,
};
use serde::{Deserialize, Serialize};

pub use crate::exact::Authorization;

/// The scheme's name on the wire.
pub const SCHEME: &str = "auth-capture";
/// The canonical v1.1 `AuthCaptureEscrow`: the escrow the client binds each nonce to (and the default of
/// `extra.authCaptureEscrow`).
pub const AUTH_CAPTURE_ESCROW: Address = address!("0xf96815976523E00e65Be8f34cA5e64b4f41EB19c");
/// The canonical v1.1 EIP-3009 token collector: the `to` of every authorization the client signs.
pub const EIP3009_TOKEN_COLLECTOR: Address = address!("0x8612dfdc421f80336cd14E8EF9cb1E765dB5ab88");
/// The canonical v1.1 Permit2 token collector: the spender of the client's Permit2 variant (not served yet).
pub const PERMIT2_TOKEN_COLLECTOR: Address = address!("0xD69831Aed5bfe262067ec4c751f4F830EcdD446e");
/// The canonical v1.1 operator refund collector.
pub const OPERATOR_REFUND_COLLECTOR: Address = address!("0x7a03443724d14798c4AB4622F1DAAcA761Fea486");

sol! {
    /// commerce-payments' `PaymentInfo`: the terms the nonce binds.
    #[derive(Debug, PartialEq, Eq)]
    struct PaymentInfo {
        address operator;
        address payer;
        address receiver;
        address token;
        uint120 maxAmount;
        uint48 preApprovalExpiry;
        uint48 authorizationExpiry;
        uint48 refundExpiry;
        uint16 minFeeBps;
        uint16 maxFeeBps;
        address feeReceiver;
        uint256 salt;
    }
}

/// The type string commerce-payments hashes `PaymentInfo` under.
pub const PAYMENT_INFO_TYPE: &str = "PaymentInfo(address operator,address payer,address receiver,address token,uint120 maxAmount,uint48 preApprovalExpiry,uint48 authorizationExpiry,uint48 refundExpiry,uint16 minFeeBps,uint16 maxFeeBps,address feeReceiver,uint256 salt)";

impl PaymentInfo {
    /// `keccak256(abi.encode(typehash, ...fields))` with `payer` in place of the PaymentInfo's own.
    fn hash_with_payer(&self, payer: Address) -> B256 {
        keccak256(
            (
                keccak256(PAYMENT_INFO_TYPE),
                self.operator,
                payer,
                self.receiver,
                self.token,
                U256::from(self.maxAmount),
                U256::from(self.preApprovalExpiry),
                U256::from(self.authorizationExpiry),
                U256::from(self.refundExpiry),
                U256::from(self.minFeeBps),
                U256::from(self.maxFeeBps),
                self.feeReceiver,
                self.salt,
            )
                .abi_encode(),
        )
    }

    /// The authorization nonce the client signs: `keccak256(abi.encode(chainId, escrow, hash))` of the
    /// payer-agnostic hash (payer zeroed), bound to `escrow` (the canonical one: [`AUTH_CAPTURE_ESCROW`]).
    pub fn nonce(&self, chain_id: u64, escrow: Address) -> B256 {
        keccak256((U256::from(chain_id), escrow, self.hash_with_payer(Address::ZERO)).abi_encode())
    }
}

/// Which flow a route offers (`extra.paymentFlow`): funds held in escrow until captured (`escrow`, the
/// default), or the authorization itself held and redeemed at capture (`authorization`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentFlow {
    /// The authorization is redeemed at once; the funds wait in the escrow.
    #[default]
    Escrow,
    /// The authorization is held; capture redeems it.
    Authorization,
}

/// The requirements' `extra` of `auth-capture`, as the official client reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extra {
    /// The token's EIP-712 name.
    pub name: String,
    /// The token's EIP-712 version.
    pub version: String,
    /// The operator: the only one who may authorize, capture, void and refund (PaymentInfo's `operator`).
    pub capture_authorizer: Address,
    /// Who receives the fee (PaymentInfo's `feeReceiver`).
    pub fee_recipient: Address,
    /// Until when the authorization may be captured (PaymentInfo's `authorizationExpiry`), unix seconds.
    pub capture_deadline: u64,
    /// Until when a capture may be refunded (PaymentInfo's `refundExpiry`), unix seconds.
    pub refund_deadline: u64,
    /// The smallest fee, in basis points.
    pub min_fee_bps: u16,
    /// The largest fee, in basis points.
    pub max_fee_bps: u16,
    /// The escrow the nonce binds (absent: [`AUTH_CAPTURE_ESCROW`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_capture_escrow: Option<Address>,
    /// `eip3009` (absent: the default) or `permit2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_transfer_method: Option<String>,
    /// The flow (absent: [`PaymentFlow::Escrow`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_flow: Option<PaymentFlow>,
}

/// The payload of an `auth-capture` payment over EIP-3009 (the authorization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// The `ReceiveWithAuthorization` to [`EIP3009_TOKEN_COLLECTOR`].
    pub authorization: Authorization,
    /// The payer's signature of it.
    pub signature: Bytes,
    /// The PaymentInfo's salt (a 32-byte hex string).
    pub salt: B256,
    /// The random nonce the salt is derived from when salt binding is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt_nonce: Option<String>,
}

impl Payload {
    /// The PaymentInfo the client signed, rebuilt from the payload and the route's terms: `max_amount` (the
    /// requirements' `amount`), `receiver` (`payTo`), `token` (`asset`).
    pub fn payment_info(&self, extra: &Extra, receiver: Address, token: Address, max_amount: U256) -> PaymentInfo {
        PaymentInfo {
            operator: extra.capture_authorizer,
            payer: self.authorization.from,
            receiver,
            token,
            maxAmount: U120::saturating_from(max_amount),
            preApprovalExpiry: U48::saturating_from(self.authorization.valid_before),
            authorizationExpiry: U48::saturating_from(extra.capture_deadline),
            refundExpiry: U48::saturating_from(extra.refund_deadline),
            minFeeBps: extra.min_fee_bps,
            maxFeeBps: extra.max_fee_bps,
            feeReceiver: extra.fee_recipient,
            salt: U256::from_be_bytes(self.salt.0),
        }
    }
}

/// A `/settle` operation on an authorized payment (`payload.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// Redeem the authorization into the escrow.
    Authorize,
    /// Pay the receiver part or all of what is held.
    Capture,
    /// Return what is held to the payer.
    Void,
    /// Return part or all of what was captured to the payer.
    Refund,
}

impl Operation {
    /// The operation's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Authorize => "authorize",
            Operation::Capture => "capture",
            Operation::Void => "void",
            Operation::Refund => "refund",
        }
    }

    /// The ledger key of this operation on the payment whose authorization nonce is `nonce`, for `amount`
    /// (zero for authorize and void): a retry of the same operation finds the same row and never sends twice,
    /// while a second capture of another amount is another operation.
    pub fn idempotency_key(self, nonce: B256, amount: U256) -> B256 {
        keccak256((SCHEME.to_string(), self.as_str().to_string(), nonce, amount).abi_encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> PaymentInfo {
        PaymentInfo {
            operator: Address::repeat_byte(1),
            payer: Address::repeat_byte(9),
            receiver: Address::repeat_byte(2),
            token: Address::repeat_byte(3),
            maxAmount: U120::from(1_500_000u64),
            preApprovalExpiry: U48::from(1_750_000_300u64),
            authorizationExpiry: U48::from(1_750_003_600u64),
            refundExpiry: U48::from(1_750_086_400u64),
            minFeeBps: 0,
            maxFeeBps: 100,
            feeReceiver: Address::repeat_byte(4),
            salt: U256::from(7u64),
        }
    }

    #[test]
    fn the_nonce_ignores_the_payer_and_binds_everything_else() {
        let base = info().nonce(8453, AUTH_CAPTURE_ESCROW);
        assert_eq!(PaymentInfo { payer: Address::ZERO, ..info() }.nonce(8453, AUTH_CAPTURE_ESCROW), base);
        assert_ne!(info().nonce(84532, AUTH_CAPTURE_ESCROW), base);
        assert_ne!(info().nonce(8453, EIP3009_TOKEN_COLLECTOR), base);
        assert_ne!(PaymentInfo { maxAmount: U120::from(1u64), ..info() }.nonce(8453, AUTH_CAPTURE_ESCROW), base);
        assert_ne!(PaymentInfo { salt: U256::from(8u64), ..info() }.nonce(8453, AUTH_CAPTURE_ESCROW), base);
    }

    #[test]
    fn the_sdk_wire_shapes_parse() {
        let extra: Extra = serde_json::from_value(serde_json::json!({
            "name": "USD Coin", "version": "2",
            "captureAuthorizer": "0x0101010101010101010101010101010101010101",
            "feeRecipient": "0x0404040404040404040404040404040404040404",
            "captureDeadline": 1_750_003_600u64, "refundDeadline": 1_750_086_400u64,
            "minFeeBps": 0, "maxFeeBps": 100, "paymentFlow": "authorization"
        }))
        .expect("extra");
        assert_eq!(extra.payment_flow, Some(PaymentFlow::Authorization));
        let payload: Payload = serde_json::from_value(serde_json::json!({
            "authorization": {
                "from": "0x0909090909090909090909090909090909090909",
                "to": EIP3009_TOKEN_COLLECTOR.to_string(),
                "value": "1500000", "validAfter": "0", "validBefore": "1750000300",
                "nonce": format!("{:#x}", B256::repeat_byte(5))
            },
            "signature": "0x1234",
            "salt": format!("{:#x}", B256::left_padding_from(&[7]))
        }))
        .expect("payload");
        let rebuilt =
            payload.payment_info(&extra, Address::repeat_byte(2), Address::repeat_byte(3), U256::from(1_500_000u64));
        assert_eq!(rebuilt, info());
        assert!(serde_json::from_value::<Operation>(serde_json::json!("capture")).is_ok());
        assert!(serde_json::from_value::<Operation>(serde_json::json!("steal")).is_err());
    }

    #[test]
    fn each_operation_and_amount_has_its_own_key() {
        let nonce = B256::repeat_byte(5);
        let keys = [
            Operation::Authorize.idempotency_key(nonce, U256::ZERO),
            Operation::Capture.idempotency_key(nonce, U256::from(1u64)),
            Operation::Capture.idempotency_key(nonce, U256::from(2u64)),
            Operation::Void.idempotency_key(nonce, U256::ZERO),
            Operation::Refund.idempotency_key(nonce, U256::from(1u64)),
            Operation::Capture.idempotency_key(B256::repeat_byte(6), U256::from(1u64)),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(Operation::Capture.idempotency_key(nonce, U256::from(1u64)), keys[1], "a retry finds the same key");
    }
}
