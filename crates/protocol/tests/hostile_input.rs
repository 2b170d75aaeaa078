//! Hostile bytes: decoding never panics, fails fast on lengths larger than the frame,
//! and never allocates more than a small multiple of the frame's size.
//!
//! An instrumented global allocator counts the bytes each decode allocates; the tests in
//! this file take a lock so that they measure one decode at a time.

use std::alloc::System;
use std::sync::Mutex;

use bytes::{BufMut, Bytes, BytesMut};
use fjord_protocol::testing::{Random, Rng};
use fjord_protocol::{ApiKey, DecodeError, Message, RequestKind, ResponseKind, header};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

static SERIAL: Mutex<()> = Mutex::new(());

/// The most a decode may allocate for a frame of `length` bytes. Decoded messages hold
/// each field in a Rust value that can be several times larger than its wire form (an
/// empty string is one byte on the wire and 24 in memory), so the bound is a multiple,
/// plus a constant for the small fixed allocations of any decode.
fn allocation_bound(length: usize) -> usize {
    ALLOCATION_FACTOR * length + 4096
}

/// The worst ratio these tests have measured on frames of 256 bytes or more is about 15
/// (`mutated_messages_never_panic_and_stay_bounded` prints it); large arrays come to about 4.
const ALLOCATION_FACTOR: usize = 32;

/// Runs `decode` and returns how many bytes it allocated.
fn allocated_by<T>(decode: impl FnOnce() -> T) -> usize {
    let region = Region::new(GLOBAL);
    let result = decode();
    let allocated = region.change().bytes_allocated;
    drop(result);
    allocated
}

fn request_frame(api_key: i16, api_version: i16, body: &[u8]) -> Bytes {
    let mut frame = BytesMut::new();
    frame.put_i16(api_key);
    frame.put_i16(api_version);
    frame.put_i32(7); // correlation id
    frame.put_i16(1); // client id "x", non-compact in every header version
    frame.put_u8(b'x');
    if api_version >= 9 {
        frame.put_u8(0); // no tagged fields in a v2 header
    }
    frame.put_slice(body);
    frame.freeze()
}

#[test]
fn metadata_v0_claiming_54_million_topics_fails_at_once() {
    let _serial = SERIAL.lock();
    let mut body = BytesMut::new();
    body.put_i32(54_000_000);
    body.put_slice(b"ab");
    let frame = request_frame(3, 0, &body);
    let mut result = None;
    let allocated = allocated_by(|| result = Some(header::decode_request(frame)));
    assert_eq!(
        result.and_then(Result::err),
        Some(DecodeError::LengthTooLarge {
            what: "topics",
            length: 54_000_000,
            available: 2
        })
    );
    // The client id string is the only allocation before the error.
    assert!(allocated < 1024, "allocated {allocated} bytes");
}

#[test]
fn every_length_kind_larger_than_the_frame_is_rejected() {
    let _serial = SERIAL.lock();
    use fjord_protocol::messages::{ProduceRequest, SaslAuthenticateRequest};
    // A string (transactional id, i16 length) that claims 32767 bytes.
    let mut body = BytesMut::new();
    body.put_i16(i16::MAX);
    assert!(matches!(
        ProduceRequest::decode(&mut body.freeze(), 3),
        Err(DecodeError::LengthTooLarge {
            what: "transactional_id",
            ..
        })
    ));
    // Bytes (i32 length) that claim 2 GiB.
    let mut body = BytesMut::new();
    body.put_i32(i32::MAX);
    assert!(matches!(
        SaslAuthenticateRequest::decode(&mut body.freeze(), 0),
        Err(DecodeError::LengthTooLarge {
            what: "auth_bytes",
            ..
        })
    ));
    // Records inside a produce request that claim more than is left.
    let mut body = BytesMut::new();
    body.put_i16(-1); // no transactional id
    body.put_i16(1); // acks
    body.put_i32(1000); // timeout
    body.put_i32(1); // one topic
    body.put_i16(1);
    body.put_u8(b't');
    body.put_i32(1); // one partition
    body.put_i32(0);
    body.put_i32(1 << 30); // records length
    body.put_slice(&[0; 10]);
    assert!(matches!(
        ProduceRequest::decode(&mut body.freeze(), 3),
        Err(DecodeError::LengthTooLarge {
            what: "records",
            length: 1_073_741_824,
            available: 10
        })
    ));
    // A negative length that is not the null marker.
    let mut body = BytesMut::new();
    body.put_i16(-2);
    assert!(matches!(
        ProduceRequest::decode(&mut body.freeze(), 3),
        Err(DecodeError::NegativeLength { length: -2, .. })
    ));
    // A compact array (flexible Metadata v12) whose count is a 5-byte varint near u32::MAX.
    let body = Bytes::from_static(&[0xfe, 0xff, 0xff, 0xff, 0x0f, 0, 0]);
    assert!(matches!(
        fjord_protocol::messages::MetadataRequest::decode(&mut body.clone(), 12),
        Err(DecodeError::LengthTooLarge { .. })
    ));
}

#[test]
fn random_bytes_never_panic_and_stay_bounded() {
    let _serial = SERIAL.lock();
    let mut rng = Rng::new(0x5eed);
    for round in 0..3000 {
        let length = (rng.next_u64() % 300) as usize;
        let data: Bytes = (0..length)
            .map(|_| rng.next_u64() as u8)
            .collect::<Vec<u8>>()
            .into();
        // As a whole frame, header included.
        let allocated = allocated_by(|| header::decode_request(data.clone()));
        assert!(
            allocated <= allocation_bound(length),
            "round {round}: {allocated} bytes for {length}"
        );
        // As the body of every API at every version, request and response.
        for &api_key in ApiKey::ALL {
            let versions = api_key.valid_versions();
            for version in versions.min..=versions.max {
                let allocated =
                    allocated_by(|| RequestKind::decode(api_key, &mut data.clone(), version));
                assert!(
                    allocated <= allocation_bound(length),
                    "{api_key:?} v{version}: {allocated} for {length}"
                );
                let allocated =
                    allocated_by(|| ResponseKind::decode(api_key, &mut data.clone(), version));
                assert!(
                    allocated <= allocation_bound(length),
                    "{api_key:?} v{version}: {allocated} for {length}"
                );
            }
        }
    }
}

/// Mutations that target what decoders trust: lengths and counts.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    for _ in 0..=(rng.next_u64() % 4) {
        let at = (rng.next_u64() as usize) % bytes.len();
        match rng.next_u64() % 5 {
            0 => bytes[at] ^= 1 << (rng.next_u64() % 8),
            1 => bytes[at] = 0xff,
            2 => {
                // A large big-endian or varint length where one might be.
                let large: &[u8] = if rng.bool() {
                    &[0x7f, 0xff, 0xff, 0xff]
                } else {
                    &[0xff, 0xff, 0xff, 0x7f]
                };
                for (i, b) in large.iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            3 => bytes.truncate(at),
            _ => bytes[at] = rng.next_u64() as u8,
        }
        if bytes.is_empty() {
            return;
        }
    }
}

fn mutated<T: Message + Random>(seed: u64, worst_ratio: &mut f64) {
    let mut rng = Rng::new(seed);
    for version in T::VERSIONS.min..=T::VERSIONS.max {
        for _ in 0..20 {
            let value = T::random(&mut rng, version);
            let mut buf = BytesMut::new();
            if value.encode(&mut buf, version).is_err() {
                continue;
            }
            let mut bytes = buf.to_vec();
            mutate(&mut rng, &mut bytes);
            let length = bytes.len();
            let frame = Bytes::from(bytes);
            let allocated = allocated_by(|| T::decode(&mut frame.clone(), version));
            assert!(
                allocated <= allocation_bound(length),
                "{} v{version}: {allocated} bytes for a {length}-byte frame",
                T::NAME
            );
            if length >= 256 {
                *worst_ratio = worst_ratio.max(allocated as f64 / length as f64);
            }
        }
    }
}

#[test]
fn mutated_messages_never_panic_and_stay_bounded() {
    let _serial = SERIAL.lock();
    let mut worst_ratio = 0.0f64;
    for seed in 1..=5 {
        macro_rules! visit {
            ($module:ident, $ty:ident) => {
                mutated::<fjord_protocol::messages::$module::$ty>(seed, &mut worst_ratio);
            };
        }
        fjord_protocol::for_each_message!(visit);
    }
    println!("worst allocation ratio for frames of 256 bytes or more: {worst_ratio:.1}");
}

#[test]
fn a_large_array_of_tiny_elements_allocates_in_proportion_to_the_frame() {
    let _serial = SERIAL.lock();
    // Flexible Metadata v12: a compact array of 100,000 topics, each the smallest topic a
    // v12 request can carry (null-free uuid, null name, no tagged fields: 18 bytes).
    let count = 100_000u32;
    let mut body = BytesMut::new();
    fjord_protocol::codec::write_unsigned_varint(&mut body, count + 1);
    for _ in 0..count {
        body.put_slice(&[0; 16]);
        body.put_u8(0); // null name
        body.put_u8(0); // no tagged fields
    }
    body.put_u8(0); // allow_auto_topic_creation
    body.put_u8(0); // include_topic_authorized_operations
    body.put_u8(0); // no tagged fields
    let length = body.len();
    let frame = body.freeze();
    let mut decoded = None;
    let allocated = allocated_by(|| {
        decoded = Some(fjord_protocol::messages::MetadataRequest::decode(
            &mut frame.clone(),
            12,
        ))
    });
    let request = decoded
        .and_then(Result::ok)
        .map(|r| r.topics.map(|t| t.len()));
    assert_eq!(request, Some(Some(count as usize)));
    assert!(
        allocated <= allocation_bound(length),
        "{allocated} bytes for {length}"
    );
    println!("100,000 topics: {allocated} bytes allocated for a {length}-byte frame");
}
