//! The seller's side of x402's `auth-capture` (escrow flow): the route's option, the payment a handler may
//! keep for later, and the lifecycle requests (capture, void, refund) the seller's receiver authorizer signs.
//!
//! A route priced with [`crate::Paywall::price_auth_capture`] holds the payment before serving (the client's
//! authorization is redeemed into the escrow through the facilitator), runs the handler once, then
//! finalizes at once (`captureMode: "sync"`): a successful answer (status below 400) captures the whole
//! price for the seller; a failed one voids it back to the payer. The answer and the finalize's receipt are
//! kept, so a copy of the payment gets the same answer and nothing is captured twice. The handler finds the
//! payment in its request's extensions ([`EscrowedPayment`]); kept, it lets the seller refund later
//! ([`EscrowedPayment::request`] with [`Lifecycle::Refund`], sent to the facilitator's `/settle`).

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use quittance_x402::{
    ErrorReason, PaymentPayload, PaymentRequirements, Scheme, VerifyRequest, X402_V2,
    auth_capture::{self, AUTH_CAPTURE_ESCROW, Extra, PaymentFlow, PaymentInfo},
};
use serde_json::Value;

pub use quittance_x402::auth_capture::Lifecycle;

/// The seller's side of an `auth-capture` route: who operates the escrow, who consents to its operations,
/// and how long the payment stays capturable and refundable.
#[derive(Debug, Clone)]
pub struct AuthCaptureOffer {
    /// The operator (`extra.captureAuthorizer`): the facilitator's account, from its `/supported` kind.
    pub operator: Address,
    /// The seller's receiver authorizer: signs every capture, void and refund (`extra.receiverAuthorizer`).
    pub authorizer: PrivateKeySigner,
    /// How long after the offer the payment may be captured, in seconds (`extra.captureDeadline` = now + this).
    pub capture_seconds: u64,
    /// How long after the capture deadline a capture may be refunded, in seconds.
    pub refund_seconds: u64,
}

impl AuthCaptureOffer {
    /// The route's `extra` offered at `now`: no fee (both bounds 0, no fee recipient).
    fn extra(&self, price: &crate::Price, now: u64) -> Extra {
        let capture_deadline = now.saturating_add(self.capture_seconds);
        Extra {
            name: price.asset_name.clone(),
            version: price.asset_version.clone(),
            capture_authorizer: self.operator,
            fee_recipient: Address::ZERO,
            capture_deadline,
            refund_deadline: capture_deadline.saturating_add(self.refund_seconds),
            min_fee_bps: 0,
            max_fee_bps: 0,
            auth_capture_escrow: Some(AUTH_CAPTURE_ESCROW),
            asset_transfer_method: Some("eip3009".into()),
            payment_flow: Some(PaymentFlow::Escrow),
            receiver_authorizer: Some(self.authorizer.address()),
            operator_type: Some("delegated".into()),
            policy: None,
            capture_mode: Some("sync".into()),
        }
    }

    /// The `auth-capture` option for `price` offered at `now`.
    pub fn option(&self, price: &crate::Price, now: u64) -> PaymentRequirements {
        let extra = match serde_json::to_value(self.extra(price, now)) {
            Ok(Value::Object(extra)) => extra,
            _ => Default::default(),
        };
        PaymentRequirements { scheme: Scheme::AuthCapture.name().into(), extra, ..price.exact_option() }
    }

    /// The option a client's `accepted` stands for: this route's terms, with deadlines this paywall could
    /// have offered by `now` (a capture deadline no later than now + [`AuthCaptureOffer::capture_seconds`],
    /// the refund deadline [`AuthCaptureOffer::refund_seconds`] after it).
    pub fn match_option(
        &self,
        price: &crate::Price,
        accepted: &PaymentRequirements,
        now: u64,
    ) -> Result<PaymentRequirements, ErrorReason> {
        let extra: Extra = serde_json::from_value(Value::Object(accepted.extra.clone()))
            .map_err(|_| ErrorReason::InvalidPaymentRequirements)?;
        let ours = self.extra(price, extra.capture_deadline.saturating_sub(self.capture_seconds));
        let offered = self.option(price, extra.capture_deadline.saturating_sub(self.capture_seconds));
        let in_window = extra.capture_deadline <= now.saturating_add(self.capture_seconds);
        if extra != ours || !in_window || quittance_x402::find_matching(&[offered], accepted).is_none() {
            return Err(ErrorReason::InvalidPaymentRequirements);
        }
        Ok(accepted.clone())
    }
}

/// An escrowed payment, as the handler of an `auth-capture` route finds it in its request's extensions: what
/// the seller keeps to capture, void or refund it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowedPayment {
    /// The route's requirements the payment was made for.
    pub requirements: PaymentRequirements,
    /// The payment's terms, as the escrow holds them.
    pub info: PaymentInfo,
    /// The client's salt nonce (the salt is bound to the receiver authorizer).
    pub salt_nonce: B256,
}

impl EscrowedPayment {
    /// The escrowed payment of a collect payload the route accepted.
    pub fn of(payment: &PaymentPayload, requirements: &PaymentRequirements) -> Result<Self, ErrorReason> {
        let (info, salt_nonce) = auth_capture::payment_of(payment, requirements)?;
        let salt_nonce = salt_nonce.ok_or(ErrorReason::AuthCapturePayloadFormat)?;
        Ok(Self { requirements: requirements.clone(), info, salt_nonce })
    }

    /// The `/settle` request of `operation` on this payment, signed by the receiver `authorizer`.
    pub fn request(&self, operation: Lifecycle, authorizer: &PrivateKeySigner) -> Result<VerifyRequest, ErrorReason> {
        let chain_id =
            self.requirements.network().and_then(|n| n.chain_id()).map_err(|_| ErrorReason::InvalidNetwork)?;
        let payload = auth_capture::sign_lifecycle(operation, &self.info, self.salt_nonce, chain_id, authorizer)?;
        Ok(VerifyRequest {
            x402_version: X402_V2,
            payment_payload: PaymentPayload {
                x402_version: X402_V2,
                resource: None,
                accepted: self.requirements.clone(),
                payload,
                extensions: None,
            },
            payment_requirements: self.requirements.clone(),
        })
    }

    /// The capture of the whole authorization, with nothing captured or refunded before.
    pub fn capture_all(&self) -> Lifecycle {
        let held = U256::from(self.info.maxAmount);
        Lifecycle::Capture { amount: held, fee: U256::ZERO, fee_receiver: Address::ZERO, expected: (held, U256::ZERO) }
    }
}
