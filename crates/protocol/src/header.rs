//! Request and response headers, and which header version goes with which API version.
//!
//! Kafka's header version is not on the wire: it follows from the API key and version
//! at the front of the request. Requests use header v2 in flexible versions and v1
//! otherwise (v0 only for ControlledShutdown v0); responses use v1 in flexible versions
//! and v0 otherwise, except ApiVersions responses, which always use v0 so that a client
//! can read the error of a version it guessed wrong.

use bytes::{Buf, Bytes, BytesMut};

pub use crate::messages::{RequestHeader, ResponseHeader};
use crate::{ApiKey, DecodeError, EncodeError, Message, RequestKind, ResponseKind};

/// The request header version for a request of `api_key` at `api_version`.
pub fn request_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if api_key == ApiKey::ControlledShutdown && api_version == 0 {
        0
    } else if api_key.is_flexible_request(api_version) {
        2
    } else {
        1
    }
}

/// The response header version for a response of `api_key` at `api_version`.
pub fn response_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if api_key != ApiKey::ApiVersions && api_key.is_flexible_response(api_version) {
        1
    } else {
        0
    }
}

/// Decodes the request header at the front of `buf`, a frame without its length prefix.
///
/// An unknown API key is read with header v1, whose layout every Kafka request shares,
/// so that the caller still learns the correlation id and can answer or log it.
pub fn decode_request_header(buf: &mut Bytes) -> Result<RequestHeader, DecodeError> {
    if buf.remaining() < 4 {
        return Err(DecodeError::Truncated {
            what: "request header",
            needed: 4,
            available: buf.remaining(),
        });
    }
    let api_key = i16::from_be_bytes([buf[0], buf[1]]);
    let api_version = i16::from_be_bytes([buf[2], buf[3]]);
    let header_version = match ApiKey::from_i16(api_key) {
        Some(key) => request_header_version(key, api_version),
        None => 1,
    };
    RequestHeader::decode(buf, header_version)
}

/// Decodes a whole request frame (without its length prefix): header, then body.
pub fn decode_request(mut frame: Bytes) -> Result<(RequestHeader, RequestKind), DecodeError> {
    let header = decode_request_header(&mut frame)?;
    let api_key = ApiKey::from_i16(header.request_api_key)
        .ok_or(DecodeError::UnknownApiKey(header.request_api_key))?;
    let body = RequestKind::decode(api_key, &mut frame, header.request_api_version)?;
    Ok((header, body))
}

/// Encodes a request frame body: header for its API and version, then the body.
pub fn encode_request(
    buf: &mut BytesMut,
    header: &RequestHeader,
    body: &RequestKind,
) -> Result<(), EncodeError> {
    let version = header.request_api_version;
    header.encode(buf, request_header_version(body.api_key(), version))?;
    body.encode(buf, version)
}

/// Encodes a response frame body: the header version that goes with the API and version,
/// then the body.
pub fn encode_response(
    buf: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    body: &ResponseKind,
) -> Result<(), EncodeError> {
    let header = ResponseHeader {
        correlation_id,
        ..Default::default()
    };
    header.encode(buf, response_header_version(body.api_key(), version))?;
    body.encode(buf, version)
}

/// Decodes a response frame body for a request of `api_key` at `version`.
pub fn decode_response(
    mut frame: Bytes,
    api_key: ApiKey,
    version: i16,
) -> Result<(ResponseHeader, ResponseKind), DecodeError> {
    let header = ResponseHeader::decode(&mut frame, response_header_version(api_key, version))?;
    let body = ResponseKind::decode(api_key, &mut frame, version)?;
    Ok((header, body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::BufMut;

    use super::*;

    #[test]
    fn header_versions_follow_kafka_rules() {
        assert_eq!(request_header_version(ApiKey::ControlledShutdown, 0), 0);
        assert_eq!(request_header_version(ApiKey::ControlledShutdown, 1), 1);
        assert_eq!(request_header_version(ApiKey::Produce, 8), 1);
        assert_eq!(request_header_version(ApiKey::Produce, 9), 2);
        assert_eq!(response_header_version(ApiKey::Metadata, 8), 0);
        assert_eq!(response_header_version(ApiKey::Metadata, 9), 1);
        // ApiVersions responses always use header v0, even in flexible versions.
        assert_eq!(response_header_version(ApiKey::ApiVersions, 3), 0);
        assert_eq!(request_header_version(ApiKey::ApiVersions, 3), 2);
    }

    #[test]
    fn a_too_new_api_versions_request_still_has_a_readable_header() {
        // Clients probe with their newest ApiVersions version; the broker must read the
        // header to answer UNSUPPORTED_VERSION with the right correlation id.
        let mut frame = BytesMut::new();
        frame.put_i16(ApiKey::ApiVersions.key());
        frame.put_i16(99);
        frame.put_i32(42);
        frame.put_i16(3);
        frame.put_slice(b"cli");
        frame.put_u8(0); // header v2: empty tagged fields
        frame.put_slice(&[0xde, 0xad]);
        let mut buf = frame.freeze();
        let header = decode_request_header(&mut buf).unwrap();
        assert_eq!(header.correlation_id, 42);
        assert_eq!(header.client_id.as_deref(), Some("cli"));
        assert_eq!(&buf[..], &[0xde, 0xad]);
        assert!(decode_request(frame_of(&header, &buf)).is_err());
    }

    fn frame_of(header: &RequestHeader, body: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        header.encode(&mut buf, 2).unwrap();
        buf.put_slice(body);
        buf.freeze()
    }

    #[test]
    fn an_unknown_api_key_reports_its_correlation_id() {
        let mut frame = BytesMut::new();
        frame.put_i16(31_000);
        frame.put_i16(0);
        frame.put_i32(5);
        frame.put_i16(-1);
        let header = decode_request_header(&mut frame.clone().freeze()).unwrap();
        assert_eq!(header.correlation_id, 5);
        assert_eq!(
            decode_request(frame.freeze()).unwrap_err(),
            DecodeError::UnknownApiKey(31_000)
        );
    }

    #[test]
    fn responses_round_trip_through_their_header() {
        use crate::messages::ApiVersionsResponse;
        let body = ResponseKind::ApiVersions(ApiVersionsResponse {
            error_code: 35,
            ..Default::default()
        });
        let mut buf = BytesMut::new();
        encode_response(&mut buf, 9, 3, &body).unwrap();
        // Header v0: just the correlation id, no tagged fields.
        assert_eq!(&buf[..4], &9i32.to_be_bytes());
        let (header, decoded) = decode_response(buf.freeze(), ApiKey::ApiVersions, 3).unwrap();
        assert_eq!(header.correlation_id, 9);
        assert_eq!(decoded, body);
    }
}
