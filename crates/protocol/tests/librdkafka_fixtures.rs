//! Requests that a real librdkafka 2.0.2 (Debian's `kcat`) sent, captured off the wire by
//! `examples/capture_fixtures.rs` and kept in `tests/fixtures/librdkafka-2.0.2/` (its
//! README says how). Each must decode to what kcat meant and re-encode to the same bytes.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use fjord_protocol::header::{decode_request, encode_request};
use fjord_protocol::messages::produce_request::PartitionProduceData;
use fjord_protocol::{ApiKey, RequestHeader, RequestKind};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/librdkafka-2.0.2")
}

fn read_fixture(name: &str) -> Bytes {
    let path = fixtures_dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Bytes::from(bytes)
}

/// Decodes a fixture, checks the header fields every librdkafka request shares, and checks
/// that encoding the decoded request gives back the captured bytes.
fn decode_fixture(name: &str, api_key: ApiKey, version: i16) -> (RequestHeader, RequestKind) {
    let frame = read_fixture(name);
    let (header, body) = decode_request(frame.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(header.request_api_key, api_key.key(), "{name}");
    assert_eq!(header.request_api_version, version, "{name}");
    assert_eq!(body.api_key(), api_key, "{name}");
    assert_eq!(header.client_id.as_deref(), Some("rdkafka"), "{name}");
    assert!(header.unknown_tagged_fields.is_empty(), "{name}");
    assert_reencodes(name, &frame, &header, &body);
    (header, body)
}

fn assert_reencodes(name: &str, frame: &Bytes, header: &RequestHeader, body: &RequestKind) {
    let mut buf = BytesMut::new();
    encode_request(&mut buf, header, body).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        &buf[..],
        &frame[..],
        "{name}: re-encoding changed the bytes"
    );
}

/// The one partition of topic `fixtures` that a produce request carries.
fn produced_partition(body: RequestKind) -> (i16, i32, PartitionProduceData) {
    let RequestKind::Produce(request) = body else {
        panic!("not a produce request: {body:?}");
    };
    assert_eq!(request.transactional_id, None);
    let [topic] = <[_; 1]>::try_from(request.topic_data).unwrap();
    assert_eq!(topic.name, "fixtures");
    let [partition] = <[_; 1]>::try_from(topic.partition_data).unwrap();
    (request.acks, request.timeout_ms, partition)
}

// Offsets into a v2 record batch (Kafka's `DefaultRecordBatch`).
const BATCH_LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const PRODUCER_ID_AT: usize = 43;
const RECORD_COUNT_AT: usize = 57;
const RECORDS_AT: usize = 61;

fn i16_at(bytes: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(bytes[at..at + 2].try_into().unwrap())
}

fn i32_at(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Checks the batch header librdkafka writes for two records from a non-idempotent
/// producer, and returns the records section.
fn assert_two_record_batch(records: &Bytes, compression: i16) -> Bytes {
    assert!(records.len() > RECORDS_AT, "{} bytes", records.len());
    assert_eq!(i64_at(records, 0), 0, "a producer sends base offset 0");
    assert_eq!(
        usize::try_from(i32_at(records, BATCH_LENGTH_AT)).unwrap() + 12,
        records.len(),
        "one batch fills the records field"
    );
    assert_eq!(records[MAGIC_AT], 2, "magic");
    assert_eq!(i16_at(records, ATTRIBUTES_AT) & 0x7, compression);
    assert_eq!(i32_at(records, LAST_OFFSET_DELTA_AT), 1);
    assert_eq!(i64_at(records, PRODUCER_ID_AT), -1, "not idempotent");
    assert_eq!(i32_at(records, RECORD_COUNT_AT), 2);
    records.slice(RECORDS_AT..)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn every_fixture_decodes_and_reencodes_to_the_same_bytes() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".bin"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 9, "{names:?}");
    for name in &names {
        let frame = read_fixture(name);
        let (header, body) =
            decode_request(frame.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_reencodes(name, &frame, &header, &body);
    }
}

#[test]
fn api_versions_v3_names_the_client_in_compact_strings() {
    let (header, body) = decode_fixture("api_versions_v3.bin", ApiKey::ApiVersions, 3);
    // The first request on a connection.
    assert_eq!(header.correlation_id, 1);
    let RequestKind::ApiVersions(request) = body else {
        panic!("{body:?}");
    };
    assert_eq!(request.client_software_name, "librdkafka");
    assert_eq!(request.client_software_version, "2.0.2");
    assert!(request.unknown_tagged_fields.is_empty());
}

#[test]
fn metadata_v4_from_the_producer_asks_for_the_topic_and_auto_creation() {
    let (_, body) = decode_fixture("metadata_v4_producer.bin", ApiKey::Metadata, 4);
    let RequestKind::Metadata(request) = body else {
        panic!("{body:?}");
    };
    let topics = request.topics.unwrap();
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].name.as_deref(), Some("fixtures"));
    assert!(request.allow_auto_topic_creation);
}

#[test]
fn metadata_v4_from_the_consumer_does_not_create_topics() {
    let (_, body) = decode_fixture("metadata_v4_consumer.bin", ApiKey::Metadata, 4);
    let RequestKind::Metadata(request) = body else {
        panic!("{body:?}");
    };
    let topics = request.topics.unwrap();
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].name.as_deref(), Some("fixtures"));
    assert!(!request.allow_auto_topic_creation);
}

#[test]
fn metadata_v4_from_kcat_list_asks_for_brokers_only_then_every_topic() {
    // An empty array: brokers only.
    let (_, body) = decode_fixture("metadata_v4_brokers_only.bin", ApiKey::Metadata, 4);
    let RequestKind::Metadata(request) = body else {
        panic!("{body:?}");
    };
    assert_eq!(request.topics, Some(Vec::new()));
    assert!(!request.allow_auto_topic_creation);

    // A null array: every topic.
    let (_, body) = decode_fixture("metadata_v4_all_topics.bin", ApiKey::Metadata, 4);
    let RequestKind::Metadata(request) = body else {
        panic!("{body:?}");
    };
    assert_eq!(request.topics, None);
    assert!(request.allow_auto_topic_creation);
}

#[test]
fn produce_v7_carries_one_uncompressed_magic_2_batch_with_acks_all() {
    let (_, body) = decode_fixture("produce_v7.bin", ApiKey::Produce, 7);
    let (acks, timeout_ms, partition) = produced_partition(body);
    assert_eq!(acks, -1, "librdkafka's default acks=all");
    assert_eq!(
        timeout_ms, 30_000,
        "librdkafka's default request.timeout.ms"
    );
    assert_eq!(partition.index, 0);
    let records = partition.records.unwrap();
    let body = assert_two_record_batch(&records, 0);
    for needle in [&b"k1"[..], b"v1", b"k2", b"v2", b"h", b"x"] {
        assert!(contains(&body, needle), "{needle:?} not in {body:?}");
    }
}

#[test]
fn produce_v7_gzip_carries_one_gzip_compressed_magic_2_batch() {
    let (_, body) = decode_fixture("produce_v7_gzip.bin", ApiKey::Produce, 7);
    let (acks, _, partition) = produced_partition(body);
    assert_eq!(acks, -1);
    let records = partition.records.unwrap();
    let body = assert_two_record_batch(&records, 1);
    // The records section is one gzip member.
    assert_eq!(&body[..2], &[0x1f, 0x8b]);
}

#[test]
fn list_offsets_v2_asks_for_the_earliest_offset_read_committed() {
    let (_, body) = decode_fixture("list_offsets_v2.bin", ApiKey::ListOffsets, 2);
    let RequestKind::ListOffsets(request) = body else {
        panic!("{body:?}");
    };
    assert_eq!(request.replica_id, -1, "a consumer, not a follower");
    assert_eq!(
        request.isolation_level, 1,
        "librdkafka defaults to read_committed"
    );
    let [topic] = <[_; 1]>::try_from(request.topics).unwrap();
    assert_eq!(topic.name, "fixtures");
    let [partition] = <[_; 1]>::try_from(topic.partitions).unwrap();
    assert_eq!(partition.partition_index, 0);
    assert_eq!(
        partition.timestamp, -2,
        "-o beginning asks for the earliest offset"
    );
}

#[test]
fn fetch_v11_starts_at_offset_0_without_a_fetch_session() {
    let (_, body) = decode_fixture("fetch_v11.bin", ApiKey::Fetch, 11);
    let RequestKind::Fetch(request) = body else {
        panic!("{body:?}");
    };
    assert_eq!(request.replica_id, -1);
    assert_eq!(request.max_wait_ms, 500, "librdkafka's fetch.wait.max.ms");
    assert_eq!(request.min_bytes, 1, "librdkafka's fetch.min.bytes");
    assert_eq!(
        request.max_bytes, 52_428_800,
        "librdkafka's fetch.max.bytes"
    );
    assert_eq!(request.isolation_level, 1);
    // librdkafka 2.0.2 does not use KIP-227 fetch sessions: session 0, epoch -1 (final).
    assert_eq!(request.session_id, 0);
    assert_eq!(request.session_epoch, -1);
    assert!(request.forgotten_topics_data.is_empty());
    assert_eq!(request.rack_id, "");
    let [topic] = <[_; 1]>::try_from(request.topics).unwrap();
    assert_eq!(topic.topic, "fixtures");
    let [partition] = <[_; 1]>::try_from(topic.partitions).unwrap();
    assert_eq!(partition.partition, 0);
    assert_eq!(partition.fetch_offset, 0);
    // Metadata v4 carries no leader epoch, so the consumer has none to send.
    assert_eq!(partition.current_leader_epoch, -1);
    assert_eq!(partition.log_start_offset, -1);
    assert_eq!(
        partition.partition_max_bytes, 1_048_576,
        "librdkafka's fetch.message.max.bytes"
    );
}
