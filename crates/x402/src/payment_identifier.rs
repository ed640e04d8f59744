//! x402's `payment-identifier` extension: an idempotency key a client sends with its payment.
//!
//! The server declares the extension in its 402 (`extensions["payment-identifier"]`, with `info.required`
//! and a JSON schema); a client that understands it echoes the declaration in its `PaymentPayload` with
//! `info.id` set. The server looks the id up **before** verifying: the same id with the same payload gets
//! the stored response again (a lost answer recovered, nothing charged twice), the same id with another
//! payload gets `409 Conflict`, and a missing id when the server requires one gets `400`.

use crate::PaymentPayload;
use serde_json::{Map, Value, json};

/// The extension's key in `extensions`.
pub const PAYMENT_IDENTIFIER: &str = "payment-identifier";
/// The shortest id allowed.
pub const MIN_ID_LENGTH: usize = 16;
/// The longest id allowed.
pub const MAX_ID_LENGTH: usize = 128;

/// Why a payment's identifier cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentIdError {
    /// The extension is there but not shaped as the specification says.
    #[error("the payment-identifier extension is malformed: {0}")]
    Malformed(&'static str),
    /// The id is not 16–128 characters of `[A-Za-z0-9_-]`.
    #[error("a payment id must be 16-128 characters of letters, digits, '-' and '_'")]
    InvalidId,
    /// The server requires an id and the payment has none.
    #[error("this server requires a payment identifier and the payment has none")]
    Missing,
}

/// The declaration a server puts in its 402's `extensions` under [`PAYMENT_IDENTIFIER`].
pub fn declare(required: bool) -> Value {
    json!({
        "info": { "required": required },
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "required": { "type": "boolean" },
                "id": {
                    "type": "string",
                    "minLength": MIN_ID_LENGTH,
                    "maxLength": MAX_ID_LENGTH,
                    "pattern": "^[a-zA-Z0-9_-]+$"
                }
            },
            "required": ["required"]
        }
    })
}

/// Whether `id` is a valid payment id.
pub fn is_valid_id(id: &str) -> bool {
    (MIN_ID_LENGTH..=MAX_ID_LENGTH).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh random id (`pay_` and 32 hex digits).
pub fn generate() -> String {
    format!("pay_{}", alloy::hex::encode(alloy::primitives::B128::random()))
}

/// Whether the server's 402 `extensions` declare the extension.
pub fn declared(extensions: Option<&Map<String, Value>>) -> bool {
    extensions.and_then(|e| e.get(PAYMENT_IDENTIFIER)).and_then(|e| e.get("info")).is_some_and(Value::is_object)
}

/// Echoes the server's declaration into a payment's `extensions` with `id` set, if the server declared the
/// extension (as the official client does; nothing is added otherwise).
pub fn append(
    offered: Option<&Map<String, Value>>,
    extensions: &mut Option<Map<String, Value>>,
    id: &str,
) -> Result<(), PaymentIdError> {
    if !is_valid_id(id) {
        return Err(PaymentIdError::InvalidId);
    }
    let Some(declaration) = offered.and_then(|e| e.get(PAYMENT_IDENTIFIER)).filter(|_| declared(offered)) else {
        return Ok(());
    };
    let mut echoed = declaration.clone();
    if let Some(info) = echoed.get_mut("info").and_then(Value::as_object_mut) {
        info.insert("id".into(), Value::String(id.into()));
    }
    extensions.get_or_insert_with(Map::new).insert(PAYMENT_IDENTIFIER.into(), echoed);
    Ok(())
}

/// The id a payment carries: `None` without the extension (or without an id in it), an error when the
/// extension is malformed or the id invalid, and [`PaymentIdError::Missing`] when `required` and absent.
pub fn payment_id(payment: &PaymentPayload, required: bool) -> Result<Option<String>, PaymentIdError> {
    let extension = payment.extensions.as_ref().and_then(|e| e.get(PAYMENT_IDENTIFIER));
    let id = match extension {
        None => None,
        Some(extension) => {
            let info =
                extension.get("info").and_then(Value::as_object).ok_or(PaymentIdError::Malformed("no info object"))?;
            match info.get("id") {
                None => None,
                Some(Value::String(id)) if is_valid_id(id) => Some(id.clone()),
                Some(Value::String(_)) => return Err(PaymentIdError::InvalidId),
                Some(_) => return Err(PaymentIdError::Malformed("info.id is not a string")),
            }
        }
    };
    match id {
        None if required => Err(PaymentIdError::Missing),
        id => Ok(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(extensions: Option<Value>) -> PaymentPayload {
        serde_json::from_value(json!({
            "x402Version": 2,
            "accepted": {"scheme": "exact", "network": "eip155:31337", "amount": "5", "asset": "0x01",
                         "payTo": "0x02", "maxTimeoutSeconds": 60, "extra": {}},
            "payload": {},
            "extensions": extensions,
        }))
        .expect("a payment")
    }

    #[test]
    fn ids_follow_the_specification() {
        assert!(is_valid_id("pay_0123456789abcdef"));
        assert!(is_valid_id(&generate()));
        assert!(!is_valid_id("short"));
        assert!(!is_valid_id("pay_0123456789abcdef!"));
        assert!(!is_valid_id(&"a".repeat(129)));
    }

    #[test]
    fn a_client_echoes_the_declaration_with_its_id_and_the_server_reads_it() {
        let offered = Map::from_iter([(PAYMENT_IDENTIFIER.to_owned(), declare(false))]);
        let mut extensions = None;
        append(Some(&offered), &mut extensions, "pay_0123456789abcdef").expect("valid");
        let sent = payment(Some(Value::Object(extensions.expect("appended"))));
        assert_eq!(payment_id(&sent, true), Ok(Some("pay_0123456789abcdef".into())));

        let mut none = None;
        append(None, &mut none, "pay_0123456789abcdef").expect("nothing to append");
        assert_eq!(none, None, "not declared: nothing added");
        assert_eq!(payment_id(&payment(None), false), Ok(None));
        assert_eq!(payment_id(&payment(None), true), Err(PaymentIdError::Missing));
        let bad = payment(Some(json!({PAYMENT_IDENTIFIER: {"info": {"required": false, "id": "x"}}})));
        assert_eq!(payment_id(&bad, false), Err(PaymentIdError::InvalidId));
        let malformed = payment(Some(json!({PAYMENT_IDENTIFIER: {"id": "pay_0123456789abcdef"}})));
        assert!(matches!(payment_id(&malformed, false), Err(PaymentIdError::Malformed(_))));
    }
}
