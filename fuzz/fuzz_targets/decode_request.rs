//! Request decoding against hostile bytes, and the round trip of whatever decodes.
//!
//! Two modes, chosen by the first byte:
//!
//! - `0x00`: the input is a request frame (without its length prefix), decoded with
//!   `decode_request` as the broker does. Every API key is below 256, so every real
//!   frame starts with `0x00` and captured frames work as seeds unchanged.
//! - anything else: `[selector, api, version, body...]`. `api` picks an entry of
//!   `ApiKey::ALL` and `version` a version of it, and the body goes straight to
//!   `RequestKind::decode`, so every API and version is explored even where a fuzzed
//!   header would rarely parse. With the selector's top bit set, `version` is taken
//!   as a raw `i8`, which reaches the versions outside the specs too.
//!
//! Beyond "never panics", whatever decodes must survive a round trip: it encodes at
//! the same version, the encoding decodes to an equal value with no bytes left, and
//! encoding that again gives the same bytes. The input itself is not expected to come
//! back byte for byte: trailing bytes, overlong varints and explicitly written
//! default tagged fields are all accepted but not reproduced.

#![no_main]

use bytes::{Bytes, BytesMut};
use fjord_protocol::header::{decode_request, decode_request_header, encode_request};
use fjord_protocol::{ApiKey, RequestHeader, RequestKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match data {
        [] => {}
        [0, ..] => frame(data),
        [selector, api, version, body @ ..] => direct(*selector, *api, *version, body),
        _ => {}
    }
});

fn frame(data: &[u8]) {
    let Ok((header, body)) = decode_request(Bytes::copy_from_slice(data)) else {
        return;
    };
    assert_eq!(header.request_api_key, body.api_key().key());

    let first = encode_frame(&header, &body);
    let (header_again, body_again) = decode_frame_whole(&first);
    assert_eq!(
        header, header_again,
        "request header changed in a round trip"
    );
    assert_same(&body, &body_again);
    assert_eq!(
        first,
        encode_frame(&header_again, &body_again),
        "re-encoding a decoded frame changed its bytes"
    );
}

fn direct(selector: u8, api: u8, version: u8, body: &[u8]) {
    let api_key = ApiKey::ALL[usize::from(api) % ApiKey::ALL.len()];
    let versions = api_key.valid_versions();
    let version = if selector & 0x80 != 0 {
        i16::from(version as i8)
    } else {
        versions.min + i16::from(version) % (versions.max - versions.min + 1)
    };

    let mut buf = Bytes::copy_from_slice(body);
    let result = RequestKind::decode(api_key, &mut buf, version);
    if !versions.contains(version) {
        assert!(
            result.is_err(),
            "{api_key:?} decoded at version {version}, outside {versions:?}"
        );
        return;
    }
    let Ok(value) = result else {
        return;
    };

    let first = encode_body(&value, version);
    let mut buf = first.clone();
    let again = RequestKind::decode(api_key, &mut buf, version).unwrap_or_else(|error| {
        panic!("{api_key:?} v{version}: our own encoding does not decode: {error}")
    });
    assert!(
        buf.is_empty(),
        "{api_key:?} v{version}: {} bytes left after decoding our own encoding",
        buf.len()
    );
    assert_same(&value, &again);
    assert_eq!(
        first,
        encode_body(&again, version),
        "{api_key:?} v{version}: re-encoding changed the bytes"
    );
}

fn encode_frame(header: &RequestHeader, body: &RequestKind) -> Bytes {
    let mut buf = BytesMut::new();
    encode_request(&mut buf, header, body).unwrap_or_else(|error| {
        panic!(
            "{:?} v{}: a decoded request does not encode: {error}",
            body.api_key(),
            header.request_api_version
        )
    });
    buf.freeze()
}

fn encode_body(body: &RequestKind, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    body.encode(&mut buf, version).unwrap_or_else(|error| {
        panic!(
            "{:?} v{version}: a decoded request does not encode: {error}",
            body.api_key()
        )
    });
    buf.freeze()
}

/// Decodes a frame we encoded: it must decode, through `decode_request` and step by
/// step, and the body must end exactly where the frame does.
fn decode_frame_whole(frame: &Bytes) -> (RequestHeader, RequestKind) {
    let decoded = decode_request(frame.clone())
        .unwrap_or_else(|error| panic!("our own frame encoding does not decode: {error}"));

    let mut buf = frame.clone();
    let header = decode_request_header(&mut buf).unwrap_or_else(|error| panic!("{error}"));
    let api_key = decoded.1.api_key();
    RequestKind::decode(api_key, &mut buf, header.request_api_version)
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(
        buf.is_empty(),
        "{api_key:?} v{}: {} bytes left after decoding our own frame",
        header.request_api_version,
        buf.len()
    );
    decoded
}

/// Asserts that a round trip kept the value. A float64 field holding NaN (AlterClientQuotas
/// has one) makes a value unequal to itself; such values are compared by their encodings,
/// which the callers check anyway.
fn assert_same(before: &RequestKind, after: &RequestKind) {
    #[allow(clippy::eq_op)]
    let comparable = before == before;
    if comparable {
        assert_eq!(before, after, "request changed in a round trip");
    }
}
