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

use crate::{
    ErrorReason, PaymentPayload, PaymentRequirements,
    channel::ReceiveWithAuthorization,
    escrow::PaymentTerms,
    exact::{VALID_BEFORE_MARGIN, decimal},
    signature::contract_domain,
};
use alloy::{
    primitives::{
        Address, B256, Bytes, U256, address,
        aliases::{U48, U120},
        keccak256,
    },
    signers::SignerSync,
    sol,
    sol_types::{Eip712Domain, SolStruct, SolValue},
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

sol! {
    /// The receiver authorizer's consent to a capture (v1.1: an absolute fee).
    #[derive(Debug, PartialEq, Eq)]
    struct Capture {
        bytes32 paymentInfoHash;
        uint256 amount;
        uint256 feeAmount;
        address feeReceiver;
        uint256 expectedCapturableAmount;
        uint256 expectedRefundableAmount;
    }

    /// The receiver authorizer's consent to a void.
    #[derive(Debug, PartialEq, Eq)]
    struct Void {
        bytes32 paymentInfoHash;
    }

    /// The receiver authorizer's consent to a refund (through the operator refund collector).
    #[derive(Debug, PartialEq, Eq)]
    struct Refund {
        bytes32 paymentInfoHash;
        uint256 amount;
        address tokenCollector;
        uint256 expectedCapturableAmount;
        uint256 expectedRefundableAmount;
    }
}

/// The EIP-712 domain name of the receiver authorizer's signatures.
pub const AUTHORIZER_DOMAIN_NAME: &str = "x402 Auth Capture Operator";
/// The EIP-712 domain version of the receiver authorizer's signatures.
pub const AUTHORIZER_DOMAIN_VERSION: &str = "1";
/// The type string of the salt binding's commitment.
pub const SALT_BINDING_TYPE: &str =
    "x402AuthCaptureSaltBinding(address receiverAuthorizer,address policy,uint256 saltNonce)";

/// The receiver authorizer's EIP-712 domain: the capture authorizer (the operator) is its verifying contract.
pub fn authorizer_domain(chain_id: u64, capture_authorizer: Address) -> Eip712Domain {
    contract_domain(AUTHORIZER_DOMAIN_NAME, AUTHORIZER_DOMAIN_VERSION, chain_id, capture_authorizer)
}

/// The salt bound to `receiver_authorizer` and `policy` by the client's `salt_nonce`:
/// `keccak256(abi.encode(keccak256(SALT_BINDING_TYPE), receiverAuthorizer, policy, saltNonce))`.
pub fn bound_salt(receiver_authorizer: Address, policy: Address, salt_nonce: B256) -> B256 {
    keccak256(
        (keccak256(SALT_BINDING_TYPE), receiver_authorizer, policy, U256::from_be_bytes(salt_nonce.0)).abi_encode(),
    )
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

    /// The payment's `paymentInfoHash` (`AuthCaptureEscrow.getHash`): as [`PaymentInfo::nonce`] but over the
    /// real payer. The receiver authorizer's signatures name it.
    pub fn hash(&self, chain_id: u64, escrow: Address) -> B256 {
        keccak256((U256::from(chain_id), escrow, self.hash_with_payer(self.payer)).abi_encode())
    }

    /// The terms Quittance's `PaymentEscrow` holds the payment under (what `AuthCaptureCollector.terms`
    /// returns): the same fields, the salt as bytes, no invoice.
    pub fn terms(&self) -> PaymentTerms {
        PaymentTerms {
            operator: self.operator,
            payer: self.payer,
            payee: self.receiver,
            token: self.token,
            maxAmount: U256::from(self.maxAmount),
            preApprovalExpiry: self.preApprovalExpiry,
            authorizationExpiry: self.authorizationExpiry,
            refundExpiry: self.refundExpiry,
            maxFeeBps: self.maxFeeBps,
            feeReceiver: self.feeReceiver,
            salt: B256::from(self.salt),
            invoiceId: B256::ZERO,
        }
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
    #[serde(with = "crate::exact::checksummed")]
    pub capture_authorizer: Address,
    /// Who receives the fee (PaymentInfo's `feeReceiver`).
    #[serde(with = "crate::exact::checksummed")]
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
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_checksummed")]
    pub auth_capture_escrow: Option<Address>,
    /// `eip3009` (absent: the default) or `permit2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_transfer_method: Option<String>,
    /// The flow (absent: [`PaymentFlow::Escrow`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_flow: Option<PaymentFlow>,
    /// Who consents to capture, void and refund (absent or zero: nobody, and those are not relayed). A
    /// non-zero one turns the salt binding on.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_checksummed")]
    pub receiver_authorizer: Option<Address>,
    /// `delegated` (absent: the default) or `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_type: Option<String>,
    /// The policy contract (reserved; absent or zero for `delegated`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_checksummed")]
    pub policy: Option<Address>,
    /// `sync` (absent: the default) or `deferred`: when the server finalizes an escrowed payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_mode: Option<String>,
}

impl Extra {
    /// The receiver authorizer, zero when absent.
    pub fn receiver_authorizer(&self) -> Address {
        self.receiver_authorizer.unwrap_or_default()
    }

    /// The policy, zero when absent.
    pub fn policy(&self) -> Address {
        self.policy.unwrap_or_default()
    }

    /// Whether the salt binding is on (a receiver authorizer or a policy).
    pub fn is_bound(&self) -> bool {
        !self.receiver_authorizer().is_zero() || !self.policy().is_zero()
    }

    /// The checks of the route's terms that hold for every operation: the canonical v1.1 escrow, a
    /// `delegated` operator that is `facilitator`, no policy, the escrow flow over EIP-3009, fee bounds
    /// Quittance's collector accepts (`minFeeBps` 0, `maxFeeBps` at most 10,000, a fee receiver when a fee
    /// may be taken), and deadlines in order.
    pub fn check(&self, facilitator: Address) -> Result<(), ErrorReason> {
        if self.auth_capture_escrow.is_some_and(|escrow| escrow != AUTH_CAPTURE_ESCROW) {
            return Err(ErrorReason::AuthCaptureExtra);
        }
        if self.operator_type.as_deref().is_some_and(|kind| kind != "delegated") {
            return Err(ErrorReason::AuthCaptureUnsupportedOperatorType);
        }
        if !self.policy().is_zero() {
            return Err(ErrorReason::AuthCapturePolicy);
        }
        if self.capture_authorizer != facilitator {
            return Err(ErrorReason::AuthCaptureOperatorNotAdmitted);
        }
        if self.payment_flow.unwrap_or_default() != PaymentFlow::Escrow {
            // Quittance's collector has no `charge` (authorize and capture in one call).
            return Err(ErrorReason::AuthCaptureUnsupportedPaymentFlow);
        }
        if self.asset_transfer_method.as_deref().is_some_and(|method| method != "eip3009") {
            return Err(ErrorReason::AuthCaptureUnsupportedAssetTransferMethod);
        }
        if self.min_fee_bps != 0 || self.max_fee_bps > 10_000 || (self.max_fee_bps != 0 && self.fee_recipient.is_zero())
        {
            return Err(ErrorReason::AuthCaptureExtra);
        }
        if self.refund_deadline < self.capture_deadline {
            return Err(ErrorReason::AuthCaptureDeadlineOrdering);
        }
        Ok(())
    }
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
    pub salt_nonce: Option<B256>,
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
    /// against the escrow state the receiver authorizer expected (`expected`: capturable and refundable;
    /// zeros for authorize and void): a retry of the same operation finds the same row and never sends
    /// twice, while a second capture (of another amount, or of the same amount later, against the state the
    /// first one left) is another operation.
    pub fn idempotency_key(self, nonce: B256, amount: U256, expected: (U256, U256)) -> B256 {
        keccak256((SCHEME.to_string(), self.as_str().to_string(), nonce, amount, expected.0, expected.1).abi_encode())
    }
}

/// An `auth-capture` collect payload (an authorization to redeem), checked against the route's terms.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The route's terms.
    pub extra: Extra,
    /// The payload.
    pub payload: Payload,
    /// The PaymentInfo it signs for.
    pub info: PaymentInfo,
    /// The token's EIP-712 domain.
    pub domain: Eip712Domain,
    /// The route's `maxTimeoutSeconds`.
    pub max_timeout_seconds: u64,
    /// The payment's authorization nonce (the client's `signatureNonce`).
    pub nonce: B256,
}

impl Checked {
    /// The payer.
    pub fn payer(&self) -> Address {
        self.payload.authorization.from
    }

    /// The amount authorized: the requirements' `amount`.
    pub fn amount(&self) -> U256 {
        self.payload.authorization.value
    }

    /// The EIP-712 digest of the `ReceiveWithAuthorization` the payer signed.
    pub fn signing_hash(&self) -> B256 {
        let a = &self.payload.authorization;
        ReceiveWithAuthorization {
            from: a.from,
            to: a.to,
            value: a.value,
            validAfter: a.valid_after,
            validBefore: a.valid_before,
            nonce: a.nonce,
        }
        .eip712_signing_hash(&self.domain)
    }

    /// Checks the payer's signature as an EOA's.
    pub fn check_eoa_signature(&self) -> Result<(), ErrorReason> {
        crate::signature::recover_eoa(&self.payload.signature, self.signing_hash(), self.payer())
            .map_err(|_| ErrorReason::AuthCaptureSignature)
    }

    /// The checks that depend on the time `now`: the route's window fits before the capture deadline, which
    /// is not too close, and the authorization is valid now and [`VALID_BEFORE_MARGIN`] seconds more.
    pub fn check_time(&self, now: u64) -> Result<(), ErrorReason> {
        if now.saturating_add(self.max_timeout_seconds) > self.extra.capture_deadline {
            return Err(ErrorReason::AuthCaptureDeadlineOrdering);
        }
        if self.extra.capture_deadline <= now.saturating_add(VALID_BEFORE_MARGIN) {
            return Err(ErrorReason::AuthCaptureCaptureDeadlineExpired);
        }
        let a = &self.payload.authorization;
        if a.valid_before <= U256::from(now.saturating_add(VALID_BEFORE_MARGIN)) {
            return Err(ErrorReason::AuthCaptureAuthorizationExpired);
        }
        if a.valid_after > U256::from(now) {
            return Err(ErrorReason::AuthCaptureAuthorizationNotYetValid);
        }
        Ok(())
    }
}

/// The route's parsed terms: chain id, token, receiver, maximum, `extra`.
struct Route {
    chain_id: u64,
    token: Address,
    receiver: Address,
    amount: U256,
    extra: Extra,
}

fn route(requirements: &PaymentRequirements) -> Result<Route, ErrorReason> {
    if requirements.scheme != SCHEME {
        return Err(ErrorReason::AuthCaptureScheme);
    }
    let chain_id = requirements.network().and_then(|n| n.chain_id()).map_err(|_| ErrorReason::InvalidNetwork)?;
    let token = requirements.asset.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
    let receiver = requirements.pay_to.parse().map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
    let amount = decimal::parse(&requirements.amount).ok_or(ErrorReason::InvalidPaymentRequirements)?;
    if amount.is_zero() || amount > U256::from(U120::MAX) {
        return Err(ErrorReason::InvalidPaymentRequirements);
    }
    let extra: Extra =
        serde_json::from_value(requirements.extra.clone().into()).map_err(|_| ErrorReason::AuthCaptureExtra)?;
    if requirements.extra.get("autoCapture").is_some() {
        return Err(ErrorReason::AuthCaptureUnsupportedPaymentFlow);
    }
    Ok(Route { chain_id, token, receiver, amount, extra })
}

/// The checks common to every `auth-capture` request: the scheme on both sides, the network, the route's
/// terms (see [`Extra::check`]).
fn check_request(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    facilitator: Address,
) -> Result<Route, ErrorReason> {
    if payment.accepted.scheme != SCHEME {
        return Err(ErrorReason::AuthCaptureScheme);
    }
    let route = route(requirements)?;
    if payment.accepted.network != requirements.network {
        return Err(ErrorReason::AuthCaptureNetworkMismatch);
    }
    route.extra.check(facilitator)?;
    Ok(route)
}

/// What a `/settle` (or `/verify`) of an `auth-capture` payment asks: the collect (the client's payload,
/// `authorize`), or a lifecycle operation (`payload.type`).
pub fn operation(payment: &PaymentPayload) -> Result<Operation, ErrorReason> {
    match payment.payload.get("type") {
        None => Ok(Operation::Authorize),
        Some(kind) => serde_json::from_value(kind.clone()).map_err(|_| ErrorReason::AuthCapturePayloadType),
    }
}

/// The checks of a collect payload that need neither the chain nor the time: the request's (see
/// [`Extra::check`], with `facilitator` the operator), the payload's shape and salt binding, the
/// collector, the amount, the deadline order and the nonce (which binds every PaymentInfo field).
pub fn check_terms(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    facilitator: Address,
) -> Result<Checked, ErrorReason> {
    let route = check_request(payment, requirements, facilitator)?;
    let payload: Payload =
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::AuthCapturePayloadFormat)?;
    let extra = route.extra;
    match (extra.is_bound(), payload.salt_nonce) {
        (true, Some(salt_nonce)) => {
            if bound_salt(extra.receiver_authorizer(), extra.policy(), salt_nonce) != payload.salt {
                return Err(ErrorReason::AuthCaptureSaltBindingMismatch);
            }
        }
        (false, None) => {}
        _ => return Err(ErrorReason::AuthCapturePayloadFormat),
    }
    let a = &payload.authorization;
    if a.to != EIP3009_TOKEN_COLLECTOR {
        return Err(ErrorReason::AuthCaptureTokenCollectorMismatch);
    }
    if a.value != route.amount {
        return Err(ErrorReason::AuthCaptureAmountMismatch);
    }
    if a.valid_before > U256::from(extra.capture_deadline) {
        return Err(ErrorReason::AuthCaptureDeadlineOrdering);
    }
    let info = payload.payment_info(&extra, route.receiver, route.token, route.amount);
    let nonce = info.nonce(route.chain_id, AUTH_CAPTURE_ESCROW);
    if a.nonce != nonce {
        return Err(ErrorReason::AuthCaptureNonceMismatch);
    }
    let domain = contract_domain(&extra.name, &extra.version, route.chain_id, route.token);
    Ok(Checked { extra, payload, info, domain, max_timeout_seconds: requirements.max_timeout_seconds, nonce })
}

/// The payer signs an `auth-capture` collect payload for `requirements` at time `now`, as the official
/// client does: a `ReceiveWithAuthorization` of the maximum to the EIP-3009 collector, valid until now +
/// `maxTimeoutSeconds`, its nonce binding the PaymentInfo with salt `salt_nonce` (bound to the receiver
/// authorizer when the route names one). Returns the payload's JSON.
pub fn pay(
    requirements: &PaymentRequirements,
    payer: &impl SignerSync,
    from: Address,
    now: u64,
    salt_nonce: B256,
) -> Result<serde_json::Value, ErrorReason> {
    let route = route(requirements)?;
    let extra = &route.extra;
    let (salt, salt_nonce) = if extra.is_bound() {
        (bound_salt(extra.receiver_authorizer(), extra.policy(), salt_nonce), Some(salt_nonce))
    } else {
        (salt_nonce, None)
    };
    let mut payload = Payload {
        authorization: Authorization {
            from,
            to: EIP3009_TOKEN_COLLECTOR,
            value: route.amount,
            valid_after: U256::ZERO,
            valid_before: U256::from(now.saturating_add(requirements.max_timeout_seconds)),
            nonce: B256::ZERO,
        },
        signature: Bytes::new(),
        salt,
        salt_nonce,
    };
    let info = payload.payment_info(extra, route.receiver, route.token, route.amount);
    payload.authorization.nonce = info.nonce(route.chain_id, AUTH_CAPTURE_ESCROW);
    let a = &payload.authorization;
    let message = ReceiveWithAuthorization {
        from: a.from,
        to: a.to,
        value: a.value,
        validAfter: a.valid_after,
        validBefore: a.valid_before,
        nonce: a.nonce,
    };
    let domain = contract_domain(&extra.name, &extra.version, route.chain_id, route.token);
    let signature =
        payer.sign_hash_sync(&message.eip712_signing_hash(&domain)).map_err(|_| ErrorReason::AuthCaptureSignature)?;
    payload.signature = signature.as_bytes().into();
    serde_json::to_value(payload).map_err(|_| ErrorReason::AuthCapturePayloadFormat)
}

/// A PaymentInfo as a lifecycle payload carries it: amounts as decimal strings, expiries as numbers, the
/// salt as a 32-byte hex string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WirePaymentInfo {
    /// The operator.
    #[serde(with = "crate::exact::checksummed")]
    pub operator: Address,
    /// The payer.
    #[serde(with = "crate::exact::checksummed")]
    pub payer: Address,
    /// The receiver.
    #[serde(with = "crate::exact::checksummed")]
    pub receiver: Address,
    /// The token.
    #[serde(with = "crate::exact::checksummed")]
    pub token: Address,
    /// The maximum.
    #[serde(with = "decimal")]
    pub max_amount: U256,
    /// Until when it may be authorized.
    pub pre_approval_expiry: u64,
    /// Until when it may be captured.
    pub authorization_expiry: u64,
    /// Until when it may be refunded.
    pub refund_expiry: u64,
    /// The smallest fee, in basis points.
    pub min_fee_bps: u16,
    /// The largest fee, in basis points.
    pub max_fee_bps: u16,
    /// The fee receiver.
    #[serde(with = "crate::exact::checksummed")]
    pub fee_receiver: Address,
    /// The salt.
    pub salt: B256,
}

impl From<&PaymentInfo> for WirePaymentInfo {
    fn from(info: &PaymentInfo) -> Self {
        Self {
            operator: info.operator,
            payer: info.payer,
            receiver: info.receiver,
            token: info.token,
            max_amount: U256::from(info.maxAmount),
            pre_approval_expiry: info.preApprovalExpiry.to(),
            authorization_expiry: info.authorizationExpiry.to(),
            refund_expiry: info.refundExpiry.to(),
            min_fee_bps: info.minFeeBps,
            max_fee_bps: info.maxFeeBps,
            fee_receiver: info.feeReceiver,
            salt: info.salt.into(),
        }
    }
}

impl WirePaymentInfo {
    /// The PaymentInfo, or `payload_format` for a value out of its field's range.
    pub fn info(&self) -> Result<PaymentInfo, ErrorReason> {
        let fits48 = |t: u64| U48::try_from(t).map_err(|_| ErrorReason::AuthCapturePayloadFormat);
        Ok(PaymentInfo {
            operator: self.operator,
            payer: self.payer,
            receiver: self.receiver,
            token: self.token,
            maxAmount: (self.max_amount <= U256::from(U120::MAX))
                .then(|| U120::saturating_from(self.max_amount))
                .ok_or(ErrorReason::AuthCapturePayloadFormat)?,
            preApprovalExpiry: fits48(self.pre_approval_expiry)?,
            authorizationExpiry: fits48(self.authorization_expiry)?,
            refundExpiry: fits48(self.refund_expiry)?,
            minFeeBps: self.min_fee_bps,
            maxFeeBps: self.max_fee_bps,
            feeReceiver: self.fee_receiver,
            salt: U256::from_be_bytes(self.salt.0),
        })
    }
}

/// A lifecycle payload (`capture`, `void`, `refund`), as the resource server authors it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecyclePayload {
    /// The operation.
    #[serde(rename = "type")]
    pub kind: Operation,
    /// The payment, as the escrow call takes it.
    pub payment_info: WirePaymentInfo,
    /// The client's salt nonce (lifecycle payloads are bind-on).
    pub salt_nonce: B256,
    /// The amount to capture or refund (absent for void).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_decimal")]
    pub amount: Option<U256>,
    /// The fee submitted with a capture.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_decimal")]
    pub fee_amount: Option<U256>,
    /// The fee receiver submitted with a capture.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_checksummed")]
    pub fee_receiver: Option<Address>,
    /// The capturable amount the authorizer expects (capture, refund).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_decimal")]
    pub expected_capturable_amount: Option<U256>,
    /// The refundable amount the authorizer expects (capture, refund).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_decimal")]
    pub expected_refundable_amount: Option<U256>,
    /// The receiver authorizer's EIP-712 signature of the operation.
    pub authorizer_signature: Bytes,
    /// A capture-and-void's `Void` signature: the capture, then a void of what it leaves held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub void_authorizer_signature: Option<Bytes>,
}

/// EIP-55 serde for an optional `Address` (see `crate::exact::checksummed`).
mod opt_checksummed {
    use alloy::primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &Option<Address>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(address) => serializer.serialize_str(&address.to_checksum(None)),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Address>, D::Error> {
        Option::<Address>::deserialize(deserializer)
    }
}

mod opt_decimal {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &Option<U256>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.collect_str(v),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<U256>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) => super::decimal::parse(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a decimal integer"))),
        }
    }
}

/// A lifecycle operation, checked offline against the route's terms.
#[derive(Debug, Clone)]
pub struct LifecycleChecked {
    /// The operation.
    pub kind: Operation,
    /// The route's terms.
    pub extra: Extra,
    /// The payment.
    pub info: PaymentInfo,
    /// The amount to capture or refund (zero for void).
    pub amount: U256,
    /// The fee submitted with a capture (zero otherwise).
    pub fee_amount: U256,
    /// The fee receiver submitted with a capture.
    pub fee_receiver: Address,
    /// The escrow state the authorizer expects: capturable, refundable (zeros for void).
    pub expected: (U256, U256),
    /// The authorizer's signature.
    pub authorizer_signature: Bytes,
    /// The digest it signs.
    pub digest: B256,
    /// The payment's authorization nonce.
    pub nonce: B256,
    /// A capture-and-void's `Void` signature and the digest it signs.
    pub void: Option<(Bytes, B256)>,
}

impl LifecycleChecked {
    /// The void that follows a capture-and-void's capture: the same payment, its own signature and key.
    pub fn void_remainder(&self) -> Option<Self> {
        let (signature, digest) = self.void.clone()?;
        Some(Self {
            kind: Operation::Void,
            amount: U256::ZERO,
            fee_amount: U256::ZERO,
            fee_receiver: Address::ZERO,
            expected: (U256::ZERO, U256::ZERO),
            authorizer_signature: signature,
            digest,
            void: None,
            ..self.clone()
        })
    }

    /// The operation's ledger key (see [`Operation::idempotency_key`]).
    pub fn idempotency_key(&self) -> B256 {
        self.kind.idempotency_key(self.nonce, self.amount, self.expected)
    }

    /// Checks the authorizer's signature as an EOA's.
    pub fn check_eoa_signature(&self) -> Result<(), ErrorReason> {
        crate::signature::recover_eoa(&self.authorizer_signature, self.digest, self.extra.receiver_authorizer())
            .map_err(|_| ErrorReason::AuthCaptureAuthorizerSignature)
    }
}

/// The EIP-712 digest the receiver authorizer signs for an operation on `info` (chain `chain_id`).
pub fn lifecycle_digest(
    kind: Operation,
    info: &PaymentInfo,
    chain_id: u64,
    amount: U256,
    fee: (U256, Address),
    expected: (U256, U256),
) -> B256 {
    let hash = info.hash(chain_id, AUTH_CAPTURE_ESCROW);
    let domain = authorizer_domain(chain_id, info.operator);
    match kind {
        Operation::Capture => Capture {
            paymentInfoHash: hash,
            amount,
            feeAmount: fee.0,
            feeReceiver: fee.1,
            expectedCapturableAmount: expected.0,
            expectedRefundableAmount: expected.1,
        }
        .eip712_signing_hash(&domain),
        Operation::Void | Operation::Authorize => Void { paymentInfoHash: hash }.eip712_signing_hash(&domain),
        Operation::Refund => Refund {
            paymentInfoHash: hash,
            amount,
            tokenCollector: OPERATOR_REFUND_COLLECTOR,
            expectedCapturableAmount: expected.0,
            expectedRefundableAmount: expected.1,
        }
        .eip712_signing_hash(&domain),
    }
}

/// The checks of a lifecycle payload that need neither the chain nor the time: the request's (see
/// [`Extra::check`]), a receiver authorizer, the payload's shape, the operator, the salt binding, every
/// PaymentInfo field against the route, the amount and the fee. The authorizer's signature and the escrow's
/// state are the chain's part.
pub fn check_lifecycle(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
    facilitator: Address,
) -> Result<LifecycleChecked, ErrorReason> {
    let route = check_request(payment, requirements, facilitator)?;
    let extra = route.extra;
    if extra.receiver_authorizer().is_zero() {
        return Err(ErrorReason::AuthCaptureLifecycleNotRelayed);
    }
    let payload: LifecyclePayload = serde_json::from_value(payment.payload.clone()).map_err(|_| {
        if operation(payment).is_err() {
            ErrorReason::AuthCapturePayloadType
        } else {
            ErrorReason::AuthCapturePayloadFormat
        }
    })?;
    if payload.kind == Operation::Authorize {
        return Err(ErrorReason::AuthCapturePayloadType);
    }
    if payload.void_authorizer_signature.is_some() && payload.kind != Operation::Capture {
        return Err(ErrorReason::AuthCaptureVoidAuthorizerSignature);
    }
    let info = payload.payment_info.info()?;
    if info.operator != extra.capture_authorizer {
        return Err(ErrorReason::AuthCaptureOperatorMismatch);
    }
    if B256::from(info.salt) != bound_salt(extra.receiver_authorizer(), extra.policy(), payload.salt_nonce) {
        return Err(ErrorReason::AuthCaptureSaltBindingMismatch);
    }
    let matches_route = info.receiver == route.receiver
        && info.token == route.token
        && U256::from(info.maxAmount) == route.amount
        && info.authorizationExpiry == U48::saturating_from(extra.capture_deadline)
        && info.refundExpiry == U48::saturating_from(extra.refund_deadline)
        && info.minFeeBps == extra.min_fee_bps
        && info.maxFeeBps == extra.max_fee_bps
        && info.feeReceiver == extra.fee_recipient
        && !info.payer.is_zero();
    if !matches_route {
        return Err(ErrorReason::AuthCapturePayloadFormat);
    }
    let (amount, fee_amount, fee_receiver, expected) = match payload.kind {
        Operation::Void => {
            if payload.amount.is_some() || payload.fee_amount.is_some() || payload.expected_capturable_amount.is_some()
            {
                return Err(ErrorReason::AuthCapturePayloadFormat);
            }
            (U256::ZERO, U256::ZERO, Address::ZERO, (U256::ZERO, U256::ZERO))
        }
        kind => {
            let (Some(amount), Some(capturable), Some(refundable)) =
                (payload.amount, payload.expected_capturable_amount, payload.expected_refundable_amount)
            else {
                return Err(ErrorReason::AuthCapturePayloadFormat);
            };
            if amount.is_zero() {
                return Err(ErrorReason::AuthCaptureAmountMismatch);
            }
            let (fee, fee_receiver) = if kind == Operation::Capture {
                let (Some(fee), Some(fee_receiver)) = (payload.fee_amount, payload.fee_receiver) else {
                    return Err(ErrorReason::AuthCapturePayloadFormat);
                };
                check_fee(&info, amount, fee, fee_receiver)?;
                (fee, fee_receiver)
            } else {
                if payload.fee_amount.is_some() || payload.fee_receiver.is_some() {
                    return Err(ErrorReason::AuthCapturePayloadFormat);
                }
                (U256::ZERO, Address::ZERO)
            };
            (amount, fee, fee_receiver, (capturable, refundable))
        }
    };
    let digest = lifecycle_digest(payload.kind, &info, route.chain_id, amount, (fee_amount, fee_receiver), expected);
    let nonce = info.nonce(route.chain_id, AUTH_CAPTURE_ESCROW);
    let void = payload.void_authorizer_signature.map(|signature| {
        let zero = (U256::ZERO, Address::ZERO);
        (
            signature,
            lifecycle_digest(Operation::Void, &info, route.chain_id, U256::ZERO, zero, (U256::ZERO, U256::ZERO)),
        )
    });
    Ok(LifecycleChecked {
        void,
        kind: payload.kind,
        extra,
        info,
        amount,
        fee_amount,
        fee_receiver,
        expected,
        authorizer_signature: payload.authorizer_signature,
        digest,
        nonce,
    })
}

/// The fee rules of a capture: `amount * minFeeBps / 10000 <= fee <= amount * maxFeeBps / 10000`, a fee
/// receiver for a fee, and the payment's own fee receiver when it names one.
fn check_fee(info: &PaymentInfo, amount: U256, fee: U256, fee_receiver: Address) -> Result<(), ErrorReason> {
    let bps = |b: u16| amount.saturating_mul(U256::from(b)) / U256::from(10_000u64);
    if fee < bps(info.minFeeBps) || fee > bps(info.maxFeeBps) || fee > amount {
        return Err(ErrorReason::AuthCaptureFeeBpsOutOfRange);
    }
    if !fee.is_zero() && fee_receiver.is_zero() {
        return Err(ErrorReason::AuthCaptureZeroFeeReceiver);
    }
    if !info.feeReceiver.is_zero() && fee_receiver != info.feeReceiver {
        return Err(ErrorReason::AuthCaptureFeeReceiver);
    }
    Ok(())
}

/// What a resource server asks of an escrowed payment: capture `amount` (with `fee` to `fee_receiver`),
/// void what is left, or refund `amount`, against the escrow state it last saw (`expected`: capturable,
/// refundable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Capture part or all of what is held.
    Capture {
        /// The amount.
        amount: U256,
        /// The fee taken from it.
        fee: U256,
        /// Who receives the fee.
        fee_receiver: Address,
        /// The escrow's capturable and refundable amounts before it.
        expected: (U256, U256),
    },
    /// Return what is held to the payer.
    Void,
    /// Return part or all of what was captured.
    Refund {
        /// The amount.
        amount: U256,
        /// The escrow's capturable and refundable amounts before it.
        expected: (U256, U256),
    },
}

/// The receiver authorizer signs a lifecycle payload for the payment `info` (salt nonce `salt_nonce`) on
/// `chain_id`; returns the payload's JSON, to send to `/settle` with the route's requirements.
pub fn sign_lifecycle(
    operation: Lifecycle,
    info: &PaymentInfo,
    salt_nonce: B256,
    chain_id: u64,
    authorizer: &impl SignerSync,
) -> Result<serde_json::Value, ErrorReason> {
    let (kind, amount, fee, expected) = match operation {
        Lifecycle::Capture { amount, fee, fee_receiver, expected } => {
            (Operation::Capture, amount, (fee, fee_receiver), expected)
        }
        Lifecycle::Void => (Operation::Void, U256::ZERO, (U256::ZERO, Address::ZERO), (U256::ZERO, U256::ZERO)),
        Lifecycle::Refund { amount, expected } => (Operation::Refund, amount, (U256::ZERO, Address::ZERO), expected),
    };
    let digest = lifecycle_digest(kind, info, chain_id, amount, fee, expected);
    let signature =
        authorizer.sign_hash_sync(&digest).map_err(|_| ErrorReason::AuthCaptureAuthorizerSignature)?.as_bytes();
    let some = |v: U256| (kind != Operation::Void).then_some(v);
    let payload = LifecyclePayload {
        kind,
        payment_info: info.into(),
        salt_nonce,
        amount: some(amount),
        fee_amount: (kind == Operation::Capture).then_some(fee.0),
        fee_receiver: (kind == Operation::Capture).then_some(fee.1),
        expected_capturable_amount: some(expected.0),
        expected_refundable_amount: some(expected.1),
        authorizer_signature: signature.into(),
        void_authorizer_signature: None,
    };
    serde_json::to_value(payload).map_err(|_| ErrorReason::AuthCapturePayloadFormat)
}

/// Adds to a signed capture payload the receiver authorizer's `Void` signature of what the capture leaves
/// held (`voidAuthorizerSignature`): one `/settle` then captures and voids the rest.
pub fn with_void_remainder(
    capture: &mut serde_json::Value,
    info: &PaymentInfo,
    chain_id: u64,
    authorizer: &impl SignerSync,
) -> Result<(), ErrorReason> {
    let zero = (U256::ZERO, Address::ZERO);
    let digest = lifecycle_digest(Operation::Void, info, chain_id, U256::ZERO, zero, (U256::ZERO, U256::ZERO));
    let signature = authorizer.sign_hash_sync(&digest).map_err(|_| ErrorReason::AuthCaptureAuthorizerSignature)?;
    let fields = capture.as_object_mut().ok_or(ErrorReason::AuthCapturePayloadFormat)?;
    fields.insert("voidAuthorizerSignature".into(), Bytes::from(signature.as_bytes()).to_string().into());
    Ok(())
}

/// The PaymentInfo (and salt nonce) of a collect payload the route accepted, as a resource server keeps it to
/// author lifecycle payloads later.
pub fn payment_of(
    payment: &PaymentPayload,
    requirements: &PaymentRequirements,
) -> Result<(PaymentInfo, Option<B256>), ErrorReason> {
    let route = route(requirements)?;
    let payload: Payload =
        serde_json::from_value(payment.payload.clone()).map_err(|_| ErrorReason::AuthCapturePayloadFormat)?;
    Ok((payload.payment_info(&route.extra, route.receiver, route.token, route.amount), payload.salt_nonce))
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
        let zero = (U256::ZERO, U256::ZERO);
        let keys = [
            Operation::Authorize.idempotency_key(nonce, U256::ZERO, zero),
            Operation::Capture.idempotency_key(nonce, U256::from(1u64), zero),
            Operation::Capture.idempotency_key(nonce, U256::from(2u64), zero),
            Operation::Void.idempotency_key(nonce, U256::ZERO, zero),
            Operation::Refund.idempotency_key(nonce, U256::from(1u64), zero),
            Operation::Capture.idempotency_key(B256::repeat_byte(6), U256::from(1u64), zero),
            Operation::Capture.idempotency_key(nonce, U256::from(1u64), (U256::from(9u64), U256::from(1u64))),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            Operation::Capture.idempotency_key(nonce, U256::from(1u64), zero),
            keys[1],
            "a retry finds the same key"
        );
    }

    #[test]
    fn a_lifecycle_payload_has_the_specs_wire_shape_and_binds_its_salt() {
        let authorizer = alloy::signers::local::PrivateKeySigner::random();
        let salt_nonce = B256::repeat_byte(0xab);
        let info = PaymentInfo {
            salt: U256::from_be_bytes(bound_salt(authorizer.address(), Address::ZERO, salt_nonce).0),
            ..info()
        };
        let expected = (U256::from(1_500_000u64), U256::ZERO);
        let capture = Lifecycle::Capture {
            amount: U256::from(750_000u64),
            fee: U256::from(7_500u64),
            fee_receiver: Address::repeat_byte(4),
            expected,
        };
        let wire = sign_lifecycle(capture, &info, salt_nonce, 8453, &authorizer).expect("signs");
        assert_eq!(wire["type"], "capture");
        assert_eq!(wire["amount"], "750000");
        assert_eq!(wire["feeAmount"], "7500");
        assert_eq!(wire["expectedCapturableAmount"], "1500000");
        assert_eq!(wire["expectedRefundableAmount"], "0");
        assert_eq!(wire["paymentInfo"]["maxAmount"], "1500000");
        assert_eq!(wire["paymentInfo"]["preApprovalExpiry"], 1_750_000_300u64);
        assert_eq!(wire["paymentInfo"]["operator"], Address::repeat_byte(1).to_checksum(None));
        let parsed: LifecyclePayload = serde_json::from_value(wire).expect("parses");
        assert_eq!(parsed.payment_info.info(), Ok(info.clone()));
        let digest = lifecycle_digest(
            Operation::Capture,
            &info,
            8453,
            U256::from(750_000u64),
            (U256::from(7_500u64), Address::repeat_byte(4)),
            expected,
        );
        assert!(crate::signature::recover_eoa(&parsed.authorizer_signature, digest, authorizer.address()).is_ok());
        let void = sign_lifecycle(Lifecycle::Void, &info, salt_nonce, 8453, &authorizer).expect("signs");
        assert!(void.get("amount").is_none() && void.get("expectedCapturableAmount").is_none(), "{void}");
    }
}
