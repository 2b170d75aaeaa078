//! A clean restart keeps every topic, partition, config and message, offsets continue
//! where they stopped, and an idempotent producer that lives through the restart goes on
//! without errors or duplicates.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{create_topic, partition_count, producer_config, watermarks};
use fjord_testkit::disk::segment_files;
use fjord_testkit::messages::{
    Delivered, Numbered, flush, produce_numbered, read_to_end, recording_producer,
};
use rdkafka::Offset;
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;

const TOPIC: &str = "kept";
const PARTITIONS: i32 = 3;
const AUTO_CREATED: &str = "kept-auto-created";
/// The topic's `max.message.bytes`, which bounds whole batches: producers here keep
/// their batches below it with `batch.size`.
const MESSAGE_BYTES_MAX: usize = 65536;
const BATCH_BYTES: &str = "16384";

const NUMBERED: Numbered = Numbered {
    keys: 100,
    value_bytes: 200,
};

#[test]
fn restart_keeps_everything() {
    let mut broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let max_message_bytes = MESSAGE_BYTES_MAX.to_string();
    create_topic(
        &bootstrap,
        TOPIC,
        PARTITIONS,
        &[
            ("segment.bytes", "16384"),
            ("max.message.bytes", &max_message_bytes),
            ("retention.ms", "604800000"),
        ],
    );
    let mut config = producer_config(&bootstrap);
    config.set("batch.size", BATCH_BYTES);
    let mut acked = produce_numbered(&config, TOPIC, &NUMBERED, 0..5000);
    // Metadata (here through Produce) creates an unknown topic with num.partitions.
    let auto_acked = produce_numbered(&config, AUTO_CREATED, &NUMBERED, 0..10);
    assert_too_large_refused(&bootstrap);
    assert!(
        segment_files(broker.data_dir(), TOPIC, 0).len() > 5,
        "segment.bytes=16384 rolls many segments"
    );
    let before = all_watermarks(&bootstrap);

    for restart in 1..=2 {
        broker = broker.restart();
        let after = all_watermarks(&bootstrap);
        assert_eq!(
            after,
            before_or_grown(&before, &acked),
            "watermarks after restart {restart}"
        );
        assert_eq!(
            partition_count(&bootstrap, TOPIC),
            Some(PARTITIONS as usize)
        );
        assert_eq!(partition_count(&bootstrap, AUTO_CREATED), Some(1));
        // max.message.bytes is still the topic's.
        assert_too_large_refused(&bootstrap);
        assert_all_present(&bootstrap, TOPIC, PARTITIONS, &acked);
        assert_all_present(&bootstrap, AUTO_CREATED, 1, &auto_acked);

        // New messages continue each partition's offsets.
        let first_new = acked.len() as u64;
        let new = produce_numbered(&config, TOPIC, &NUMBERED, first_new..first_new + 1000);
        let highs: BTreeMap<i32, i64> = after.into_iter().map(|(p, (_, high))| (p, high)).collect();
        for partition in 0..PARTITIONS {
            let lowest_new = new
                .iter()
                .filter(|d| d.partition == partition)
                .map(|d| d.offset)
                .min();
            assert_eq!(
                lowest_new,
                Some(highs[&partition]),
                "the first offset written to partition {partition} after restart {restart}"
            );
        }
        acked.extend(new);
    }
}

#[test]
fn idempotent_producer_lives_through_a_restart() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]);
    let producer = recording_producer(&producer_config(&bootstrap));
    for id in 0..1000 {
        NUMBERED.send(&producer, TOPIC, None, id, None);
    }
    flush(&producer);

    // The producer keeps its id, epoch and sequence numbers: the broker must know them
    // from the log after the restart, or it answers OUT_OF_ORDER_SEQUENCE_NUMBER or
    // UNKNOWN_PRODUCER_ID.
    let _broker = broker.restart();
    for id in 1000..2000 {
        NUMBERED.send(&producer, TOPIC, None, id, None);
    }
    flush(&producer);
    let mut acked = producer.context().acked();
    acked.sort_by_key(|d| d.id);
    assert_eq!(acked.len(), 2000);
    assert_all_present(&bootstrap, TOPIC, PARTITIONS, &acked);
}

/// A message larger than the topic's max.message.bytes is refused with
/// MESSAGE_TOO_LARGE.
fn assert_too_large_refused(bootstrap: &str) {
    let large = Numbered {
        keys: 1,
        value_bytes: MESSAGE_BYTES_MAX + 1,
    };
    let producer = recording_producer(&producer_config(bootstrap));
    large.send(&producer, TOPIC, Some(0), 9_999_999, None);
    producer.flush(std::time::Duration::from_secs(60)).unwrap();
    let failed = producer.context().failed();
    assert!(
        matches!(
            failed.as_slice(),
            [(
                _,
                KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)
            )]
        ),
        "a {} byte message in a topic with max.message.bytes={MESSAGE_BYTES_MAX}: {failed:?}",
        large.value_bytes
    );
}

fn all_watermarks(bootstrap: &str) -> BTreeMap<i32, (i64, i64)> {
    (0..PARTITIONS)
        .map(|p| (p, watermarks(bootstrap, TOPIC, p).unwrap()))
        .collect()
}

/// The watermarks expected now: the first restart sees `before`, later ones also the
/// messages acknowledged since.
fn before_or_grown(
    before: &BTreeMap<i32, (i64, i64)>,
    acked: &[Delivered],
) -> BTreeMap<i32, (i64, i64)> {
    before
        .keys()
        .map(|&p| {
            let count = acked.iter().filter(|d| d.partition == p).count() as i64;
            (p, (0, count))
        })
        .collect()
}

/// Every acknowledged message is where its acknowledgement said, intact, and nothing
/// else is in the topic.
fn assert_all_present(bootstrap: &str, topic: &str, partitions: i32, acked: &[Delivered]) {
    let by_partition = read_to_end(bootstrap, topic, partitions, Offset::Beginning);
    let mut found = BTreeMap::new();
    for (partition, messages) in &by_partition {
        for (position, message) in messages.iter().enumerate() {
            assert_eq!(
                message.offset, position as i64,
                "dense offsets in {topic}-{partition}"
            );
            found.insert(NUMBERED.check(message), (*partition, message.offset));
        }
    }
    assert_eq!(
        found.len(),
        acked.len(),
        "{topic} holds exactly the acknowledged messages"
    );
    for delivered in acked {
        assert_eq!(
            found.get(&delivered.id),
            Some(&(delivered.partition, delivered.offset)),
            "message {} of {topic}",
            delivered.id
        );
    }
}
