use proptest::prelude::*;
use quittance_x402::{
    DecodeError, ErrorReason, MAX_HEADER_BYTES, PaymentRequired, ResourceInfo, decode_header, encode_header,
};

fn sample() -> PaymentRequired {
    serde_json::from_str(
        r#"{"x402Version":2,"resource":{"url":"http://127.0.0.1/weather"},"accepts":[{"scheme":"exact",
        "network":"eip155:31337","amount":"10000","asset":"0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "payTo":"0x90F79bf6EB2c4f870365E785982E1f101E93b906","maxTimeoutSeconds":120,
        "extra":{"name":"USD Coin","version":"2"}}]}"#,
    )
    .expect("sample parses")
}

#[test]
fn header_round_trips_as_standard_padded_base64_of_json() {
    let value = sample();
    let header = encode_header(&value);
    assert!(header.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
    let json: serde_json::Value =
        serde_json::from_slice(&base64_decode(&header)).expect("the header is base64 of JSON");
    assert_eq!(json["x402Version"], 2);
    assert_eq!(decode_header::<PaymentRequired>(&header), Ok(value));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).expect("standard base64")
}

#[test]
fn refuses_base64url_whitespace_and_missing_padding() {
    // "{}" with a character that only base64url has, with whitespace, and without its padding.
    for bad in ["e30-", "e30= ", "e3 0=", "e30"] {
        let err = decode_header::<serde_json::Value>(bad).expect_err(bad);
        assert!(matches!(err, DecodeError::Base64(_)), "{bad}: {err:?}");
        assert_eq!(err.reason(), ErrorReason::InvalidPayload);
    }
}

#[test]
fn refuses_malformed_json_and_wrong_shapes() {
    let not_json = encode_header(&"just a string");
    assert!(matches!(decode_header::<PaymentRequired>(&not_json), Err(DecodeError::Json(_))));
    let resource = encode_header(&ResourceInfo { url: "u".into(), description: None, mime_type: None });
    assert!(matches!(decode_header::<PaymentRequired>(&resource), Err(DecodeError::Json(_))));
    use base64::Engine;
    let invalid_utf8 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, 0xfd]);
    assert_eq!(decode_header::<serde_json::Value>(&invalid_utf8), Err(DecodeError::Utf8));
}

#[test]
fn refuses_oversized_headers_before_decoding() {
    let huge = "A".repeat(MAX_HEADER_BYTES + 4);
    assert_eq!(
        decode_header::<serde_json::Value>(&huge),
        Err(DecodeError::TooLarge { len: MAX_HEADER_BYTES + 4, max: MAX_HEADER_BYTES })
    );
}

proptest! {
    #[test]
    fn decoding_arbitrary_input_never_panics(input in ".{0,512}") {
        let _ = decode_header::<PaymentRequired>(&input);
        let _ = decode_header::<quittance_x402::PaymentPayload>(&input);
    }

    #[test]
    fn decoding_arbitrary_base64_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        use base64::Engine;
        let header = base64::engine::general_purpose::STANDARD.encode(bytes);
        let _ = decode_header::<quittance_x402::PaymentPayload>(&header);
        let _ = decode_header::<quittance_x402::SettleResponse>(&header);
    }
}
