//! What the answer to a paid request says of the payment: the one place where answers are classified.
//!
//! | answer to a payment sent | first time it was sent | sent before (or maybe sent: a restart) |
//! |---|---|---|
//! | 2xx; 3xx with a `PAYMENT-RESPONSE` that settled | settled | settled |
//! | 402 `settlement_pending` (or a `PAYMENT-RESPONSE` saying so) | in doubt, wait `Retry-After` | same |
//! | 402 with a `PAYMENT-RESPONSE` saying it was settled before (`settledBefore`, with its transaction) | charged, by the server's word | same |
//! | 402 with a `PAYMENT-RESPONSE` that settled | in doubt (taken, not served) | same |
//! | 402 `invalid_transaction_state`, `unexpected_settle_error`, `unexpected_verify_error` (the server could not tell) | in doubt, sent again | same |
//! | 402 `invalid_exact_evm_nonce_already_used`, `invalid_invoice_already_paid`, `invalid_exact_evm_transfer_event_mismatch`, a code not known | in doubt | in doubt |
//! | 402 `invalid_cross_chain_payment_refundable` | refused (its tokens are refunded) | refused |
//! | 402 with any other reason, or the offer again with no reason (`payment_required`) | refused | in doubt |
//! | 409 Conflict (another payment under this payment id) | in doubt, an error | same |
//! | 5xx, a transport error, a timeout | in doubt, sent again | same |
//! | other statuses (3xx without a receipt, 4xx) | in doubt | in doubt |
//!
//! A refusal proves that nothing was taken only when the payment had never been sent before: the same
//! refusal for a payment sent before (its answer lost) may come from the chain or the server having moved on
//! since (a used nonce, an expiry, new prices), so it leaves the payment in doubt, for the chain to resolve.
//!
//! A v1 server's answers are read as their v2 equivalents: its 402 (the offer and the error in the JSON body)
//! as a `PAYMENT-REQUIRED` header ([`from_v1`]), its `X-PAYMENT-RESPONSE` as the receipt.

use quittance_x402::{
    ErrorReason, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PaymentRequired, PaymentRequirementsResponseV1, SettleResponse,
    SettlementResponseV1, X_PAYMENT_RESPONSE, X402_V1, decode_header, encode_header,
};
use std::time::Duration;

/// The most of a v1 402's body read for its offer.
const V1_BODY_LIMIT: usize = 256 * 1024;

/// What the answer to a paid request says of the payment.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Served: the payment is settled (with the server's receipt, when it sent one).
    Settled(Option<SettleResponse>),
    /// In flight: ask again after this long.
    Pending(Duration),
    /// Nothing was taken, and nothing can be.
    Refused(ErrorReason),
    /// Taken and not served: the server says it settled this payment before (`why` names the transaction).
    Charged(String),
    /// The outcome is unknown (`why`); `resend` when sending the same payment again soon may tell.
    InDoubt {
        /// Why.
        why: String,
        /// Whether to send it again at once (the answer was lost or the server failed).
        resend: bool,
    },
    /// 409 Conflict: the server holds another payment under this payment's identifier.
    Conflict,
}

/// What a 402's reason proves of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Nothing was taken, and nothing can be.
    NothingTaken,
    /// The payment may have been taken.
    InDoubt,
}

/// What a 402 with `reason` proves of a payment; `first` when it was the payment's first sending.
pub(crate) fn refusal(reason: &ErrorReason, first: bool) -> Refusal {
    use ErrorReason::*;
    match reason {
        // Our own payment may have landed, or the server could not tell.
        ExactEvmNonceAlreadyUsed
        | InvoiceAlreadyPaid
        | InvalidTransactionState
        | UnexpectedSettleError
        | UnexpectedVerifyError
        | ExactEvmTransferEventMismatch
        | SettlementPending
        | Other(_) => Refusal::InDoubt,
        // It reached the destination and could not settle the invoice there: its tokens go back to the payer.
        CrossChainRefundable => Refusal::NothingTaken,
        // A verification failure: nothing was taken by this sending, and, if it was the first, by any.
        _ if first => Refusal::NothingTaken,
        _ => Refusal::InDoubt,
    }
}

/// Classifies the answer to a paid request.
pub(crate) fn classify(response: &reqwest::Response, first: bool) -> Verdict {
    let status = response.status();
    let receipt = receipt(response);
    if status == reqwest::StatusCode::CONFLICT {
        return Verdict::Conflict;
    }
    if status.is_success() {
        return Verdict::Settled(receipt);
    }
    if status.is_redirection() {
        return match receipt {
            Some(receipt) if receipt.success => Verdict::Settled(Some(receipt)),
            _ => Verdict::InDoubt { why: format!("http {} without a receipt", status.as_u16()), resend: false },
        };
    }
    if status == reqwest::StatusCode::PAYMENT_REQUIRED {
        let reason = refusal_reason(response);
        let pending = reason == ErrorReason::SettlementPending
            || receipt.as_ref().is_some_and(|r| r.error_reason == Some(ErrorReason::SettlementPending));
        if pending {
            return Verdict::Pending(retry_after(response));
        }
        if let Some(settled) = receipt.as_ref().filter(|r| r.settled_before()) {
            return Verdict::Charged(format!("the server says it was settled before, in {}", settled.transaction));
        }
        if receipt.as_ref().is_some_and(|r| r.success) {
            return Verdict::InDoubt { why: "the server settled it without serving".into(), resend: false };
        }
        // The server could not tell now (its facilitator or node failed): sending it again soon may tell.
        let passing = matches!(
            reason,
            ErrorReason::UnexpectedVerifyError
                | ErrorReason::UnexpectedSettleError
                | ErrorReason::InvalidTransactionState
        );
        return match refusal(&reason, first) {
            Refusal::NothingTaken => Verdict::Refused(reason),
            Refusal::InDoubt => Verdict::InDoubt { why: reason.to_string(), resend: passing },
        };
    }
    Verdict::InDoubt { why: format!("http {}", status.as_u16()), resend: status.is_server_error() }
}

/// Classifies a request that got no answer.
pub(crate) fn classify_error(err: &reqwest::Error) -> Verdict {
    let why = if err.is_timeout() {
        format!("timed out: {err}")
    } else if err.is_connect() {
        format!("could not connect: {err}")
    } else {
        format!("no answer: {err}")
    };
    Verdict::InDoubt { why, resend: true }
}

/// The server's receipt in `PAYMENT-RESPONSE` (or a v1 server's `X-PAYMENT-RESPONSE`), if it sent one.
pub(crate) fn receipt(response: &reqwest::Response) -> Option<SettleResponse> {
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    match header(PAYMENT_RESPONSE) {
        Some(v2) => decode_header::<SettleResponse>(v2).ok(),
        None => decode_header::<SettlementResponseV1>(header(X_PAYMENT_RESPONSE)?).ok().map(|v1| v1.to_v2()),
    }
}

/// A 402 of a server that speaks x402 v1 only (no `PAYMENT-REQUIRED` header, the offer and the error as
/// `{"x402Version":1,…}` in the body) with its offer in v2 form added as a `PAYMENT-REQUIRED` header (still
/// `x402Version` 1, see [`PaymentRequirementsResponseV1::to_v2`]), so that the rest of the agent reads one form;
/// the body is kept. Any other answer is returned as it came. Fails only if reading the body fails.
pub(crate) async fn from_v1(response: reqwest::Response) -> Result<reqwest::Response, reqwest::Error> {
    if response.status() != reqwest::StatusCode::PAYMENT_REQUIRED || response.headers().contains_key(PAYMENT_REQUIRED) {
        return Ok(response);
    }
    let (status, version, headers) = (response.status(), response.version(), response.headers().clone());
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > V1_BODY_LIMIT {
            break;
        }
    }
    let offer = serde_json::from_slice::<PaymentRequirementsResponseV1>(&body)
        .ok()
        .filter(|v1| v1.x402_version == X402_V1)
        .and_then(|v1| encode_header(&v1.to_v2()).parse::<reqwest::header::HeaderValue>().ok());
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    if let Some(offer) = offer {
        rebuilt.headers_mut().insert(PAYMENT_REQUIRED, offer);
    }
    Ok(reqwest::Response::from(rebuilt))
}

/// The reason a 402 gives in its `PAYMENT-REQUIRED` error (`payment_required` when it gives none).
pub(crate) fn refusal_reason(response: &reqwest::Response) -> ErrorReason {
    response
        .headers()
        .get(PAYMENT_REQUIRED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| decode_header::<PaymentRequired>(v).ok())
        .and_then(|r| r.error)
        .map(|e| ErrorReason::from_code(&e))
        .unwrap_or(ErrorReason::PaymentRequired)
}

/// How long the server asks to wait (`Retry-After` in seconds; one second when it does not say).
fn retry_after(response: &reqwest::Response) -> Duration {
    let seconds = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quittance_x402::{ResourceInfo, encode_header};

    fn answer(status: u16, error: Option<&str>, receipt: Option<serde_json::Value>) -> reqwest::Response {
        let mut builder = http::Response::builder().status(status);
        if let Some(error) = error {
            let required = PaymentRequired {
                x402_version: 2,
                error: Some(error.into()),
                resource: ResourceInfo { url: "http://a/b".into(), description: None, mime_type: None },
                accepts: Vec::new(),
                extensions: None,
            };
            builder = builder.header(PAYMENT_REQUIRED, encode_header(&required));
        }
        if let Some(receipt) = receipt {
            let receipt: SettleResponse = serde_json::from_value(receipt).expect("a receipt");
            builder = builder.header(PAYMENT_RESPONSE, encode_header(&receipt));
        }
        reqwest::Response::from(builder.body(Vec::<u8>::new()).expect("a response"))
    }

    fn kind(verdict: Verdict) -> &'static str {
        match verdict {
            Verdict::Settled(_) => "settled",
            Verdict::Pending(_) => "pending",
            Verdict::Refused(_) => "refused",
            Verdict::Charged(_) => "charged",
            Verdict::InDoubt { resend: true, .. } => "in doubt, send again",
            Verdict::InDoubt { resend: false, .. } => "in doubt",
            Verdict::Conflict => "conflict",
        }
    }

    #[test]
    fn answers_after_sending_are_classified_as_the_table_says() {
        let settled = serde_json::json!({"success": true, "transaction": "0x01", "network": "eip155:1"});
        let pending = serde_json::json!({"success": false, "errorReason": "settlement_pending", "network": "eip155:1"});
        let before = serde_json::json!({"success": false, "errorReason": "invalid_invoice_already_paid",
                                        "transaction": "0x01", "network": "eip155:1", "extra": {"settledBefore": true}});
        // Status, reason, receipt; what it says the first time, and sent again.
        type Case<'a> = (u16, Option<&'a str>, Option<serde_json::Value>, &'a str, &'a str);
        let cases: &[Case<'_>] = &[
            (200, None, None, "settled", "settled"),
            (200, None, Some(settled.clone()), "settled", "settled"),
            (302, None, Some(settled.clone()), "settled", "settled"),
            (302, None, None, "in doubt", "in doubt"),
            (402, Some("settlement_pending"), None, "pending", "pending"),
            (402, Some("unexpected_settle_error"), Some(pending), "pending", "pending"),
            (402, Some("payment_required"), Some(settled), "in doubt", "in doubt"),
            (402, Some("invalid_invoice_already_paid"), Some(before.clone()), "charged", "charged"),
            (402, Some("invalid_exact_evm_nonce_already_used"), Some(before), "charged", "charged"),
            (402, Some("invalid_exact_evm_nonce_already_used"), None, "in doubt", "in doubt"),
            (402, Some("invalid_invoice_already_paid"), None, "in doubt", "in doubt"),
            (402, Some("invalid_transaction_state"), None, "in doubt, send again", "in doubt, send again"),
            (402, Some("unexpected_settle_error"), None, "in doubt, send again", "in doubt, send again"),
            (402, Some("unexpected_verify_error"), None, "in doubt, send again", "in doubt, send again"),
            (402, Some("a_code_from_the_future"), None, "in doubt", "in doubt"),
            (402, Some("invalid_cross_chain_payment_refundable"), None, "refused", "refused"),
            (402, Some("invalid_exact_evm_signature"), None, "refused", "in doubt"),
            (402, Some("invalid_exact_evm_insufficient_balance"), None, "refused", "in doubt"),
            (402, Some("invalid_exact_evm_payload_authorization_valid_before"), None, "refused", "in doubt"),
            (402, Some("invalid_payment_requirements"), None, "refused", "in doubt"),
            (402, Some("invalid_channel_voucher_not_increasing"), None, "refused", "in doubt"),
            (402, None, None, "refused", "in doubt"),
            (409, None, None, "conflict", "conflict"),
            (500, None, None, "in doubt, send again", "in doubt, send again"),
            (502, None, None, "in doubt, send again", "in doubt, send again"),
            (404, None, None, "in doubt", "in doubt"),
        ];
        for (status, error, receipt, first, again) in cases {
            let case = format!("{status} {error:?} {receipt:?}");
            assert_eq!(kind(classify(&answer(*status, *error, receipt.clone()), true)), *first, "first: {case}");
            assert_eq!(kind(classify(&answer(*status, *error, receipt.clone()), false)), *again, "again: {case}");
        }
    }
}
