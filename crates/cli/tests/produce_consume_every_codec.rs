//! Keyed messages over six partitions with each compression codec librdkafka has, read
//! back with every key, value and header intact, in order per partition.
//!
//! LZ4: librdkafka compresses with LZ4 only when the broker advertises FindCoordinator,
//! its proxy for "Kafka 0.8.2 or newer" (librdkafka src/rdkafka_feature.c); the segment
//! files show that it does.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{create_topic, producer_config};
use fjord_testkit::disk::log_bytes;
use fjord_testkit::messages::{Numbered, produce_numbered, read_to_end};
use rdkafka::Offset;

const PARTITIONS: i32 = 6;

const NUMBERED: Numbered = Numbered {
    keys: 1000,
    value_bytes: 100,
};

const COUNT: u64 = 100_000;

#[test]
fn uncompressed() {
    round_trip("none", COUNT, Stored::Uncompressed);
}

#[test]
fn gzip() {
    round_trip("gzip", COUNT, Stored::Compressed);
}

#[test]
fn snappy() {
    round_trip("snappy", COUNT, Stored::Compressed);
}

#[test]
fn lz4() {
    round_trip("lz4", COUNT, Stored::Compressed);
}

#[test]
fn zstd() {
    round_trip("zstd", COUNT, Stored::Compressed);
}

#[test]
fn the_topics_compression_type_recompresses_what_producers_send() {
    // The producer sends uncompressed batches; the topic stores zstd, as Kafka does.
    round_trip_with(
        "none",
        &[("compression.type", "zstd")],
        20_000,
        Stored::Compressed,
    );
}

#[test]
fn lz4_topics_store_lz4_whatever_the_producer_sends() {
    round_trip_with(
        "none",
        &[("compression.type", "lz4")],
        20_000,
        Stored::Compressed,
    );
}

#[test]
fn an_uncompressed_topic_decompresses_what_producers_send() {
    round_trip_with(
        "zstd",
        &[("compression.type", "uncompressed")],
        20_000,
        Stored::Uncompressed,
    );
}

/// What the segment files should show about compression.
#[derive(PartialEq)]
enum Stored {
    Uncompressed,
    Compressed,
}

fn round_trip(codec: &str, count: u64, stored_as: Stored) {
    round_trip_with(codec, &[], count, stored_as);
}

/// Produces with `codec` to a topic created with `topic_configs`, and checks what was read
/// back and how it was stored.
fn round_trip_with(codec: &str, topic_configs: &[(&str, &str)], count: u64, stored_as: Stored) {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = format!("codec-{codec}");
    create_topic(&bootstrap, &topic, PARTITIONS, topic_configs);

    let mut config = producer_config(&bootstrap);
    config.set("compression.type", codec);
    let acked = produce_numbered(&config, &topic, &NUMBERED, 0..count);
    let by_partition = read_to_end(&bootstrap, &topic, PARTITIONS, Offset::Beginning);

    let mut seen: HashMap<u64, (i32, i64)> = HashMap::new();
    let mut key_partition: HashMap<String, i32> = HashMap::new();
    let mut key_last_id: HashMap<String, u64> = HashMap::new();
    for (&partition, messages) in &by_partition {
        assert!(
            !messages.is_empty(),
            "1000 keys leave no partition empty, but partition {partition} is"
        );
        for (position, message) in messages.iter().enumerate() {
            assert_eq!(
                message.offset, position as i64,
                "offsets of partition {partition} are dense from 0"
            );
            let id = NUMBERED.check(message);
            if let Some(earlier) = seen.insert(id, (partition, message.offset)) {
                panic!(
                    "message {id} read twice: at {earlier:?} and at ({partition}, {})",
                    message.offset
                );
            }
            let key = NUMBERED.key(id);
            let home = *key_partition.entry(key.clone()).or_insert(partition);
            assert_eq!(home, partition, "all messages with {key} on one partition");
            if let Some(&last) = key_last_id.get(&key) {
                assert!(
                    last < id,
                    "{key}: message {id} follows message {last} in partition {partition}"
                );
            }
            key_last_id.insert(key, id);
        }
    }
    assert_eq!(seen.len() as u64, count, "every message read back");
    for delivered in &acked {
        assert_eq!(
            seen.get(&delivered.id),
            Some(&(delivered.partition, delivered.offset)),
            "message {} is where its acknowledgement said",
            delivered.id
        );
    }

    // The codec was really used: librdkafka silently sends uncompressed batches to a
    // broker whose ApiVersions it believes cannot take compression (docs/adr/0002).
    let stored = log_bytes(broker.data_dir(), &topic, PARTITIONS);
    let values = count * NUMBERED.value_bytes as u64;
    match stored_as {
        Stored::Uncompressed => assert!(
            stored > values,
            "uncompressed: {stored} bytes stored for {values} bytes of values"
        ),
        Stored::Compressed => assert!(
            stored < values / 2,
            "{codec}: {stored} bytes stored for {values} bytes of values; not compressed?"
        ),
    }
    let per_partition: BTreeMap<_, _> = by_partition.iter().map(|(p, m)| (*p, m.len())).collect();
    eprintln!("{codec}: {count} messages, {stored} bytes on disk, per partition {per_partition:?}");
}
