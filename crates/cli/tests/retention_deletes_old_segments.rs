//! Retention by time and by size deletes whole old segments and advances the log start
//! offset; readers from the beginning, or from an offset that is gone, start there.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{create_topic, producer_config, watermarks};
use fjord_testkit::disk::{log_bytes, segment_files};
use fjord_testkit::messages::{Numbered, flush, read_to_end, recording_producer};
use rdkafka::Offset;

const TOPIC: &str = "retained";
const SEGMENT_BYTES: u64 = 1024;
/// Messages per batch: the producer flushes after each group, so that one segment holds
/// only a few batches.
const BATCH: u64 = 5;

const NUMBERED: Numbered = Numbered {
    keys: 1,
    value_bytes: 100,
};

fn broker() -> TestBroker {
    TestBroker::start_with(|config| config.retention_check_interval_ms = 100)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Sends `ids` to partition 0 in batches of [`BATCH`], stamped `timestamp_ms`.
fn produce(bootstrap: &str, ids: std::ops::Range<u64>, timestamp_ms: i64) {
    let producer = recording_producer(&producer_config(bootstrap));
    for id in ids {
        NUMBERED.send(&producer, TOPIC, Some(0), id, Some(timestamp_ms));
        if (id + 1) % BATCH == 0 {
            flush(&producer);
        }
    }
    flush(&producer);
}

/// Polls the log start offset until `done` accepts it; fails after 30 s.
fn wait_for_log_start(bootstrap: &str, done: impl Fn(i64) -> bool) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (low, _) = watermarks(bootstrap, TOPIC, 0).unwrap();
        if done(low) {
            return low;
        }
        assert!(
            Instant::now() < deadline,
            "log start offset still {low} after 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reading from the beginning, and from offset 0 (deleted, so OFFSET_OUT_OF_RANGE and
/// librdkafka's reset to the earliest offset), both start at `low` and read every
/// message from there to `high` intact.
fn assert_readable_from(bootstrap: &str, low: i64, high: i64) {
    for from in [Offset::Beginning, Offset::Offset(0)] {
        let messages = read_to_end(bootstrap, TOPIC, 1, from).remove(&0).unwrap();
        assert_eq!(
            messages.len() as i64,
            high - low,
            "messages left from {from:?}"
        );
        for (i, message) in messages.iter().enumerate() {
            assert_eq!(message.offset, low + i as i64, "read from {from:?}");
            assert_eq!(NUMBERED.check(message) as i64, message.offset);
        }
    }
}

#[test]
fn retention_ms_deletes_segments_of_old_messages() {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let segment_bytes = SEGMENT_BYTES.to_string();
    create_topic(
        &bootstrap,
        TOPIC,
        1,
        &[
            ("segment.bytes", &segment_bytes),
            ("retention.ms", "600000"),
        ],
    );
    // 100 messages from an hour ago, past the 10 minutes of retention, then 100 new ones.
    produce(&bootstrap, 0..100, now_ms() - 3_600_000);
    produce(&bootstrap, 100..200, now_ms());
    let segments = segment_files(broker.data_dir(), TOPIC, 0).len();
    assert!(segments > 10, "{segments} segments of at most 1 KiB");

    // Every segment holding only old messages goes, and nothing newer: retention removes
    // a segment by its newest timestamp. (Batches of 5 fill one segment each, so the log
    // should start at 100; a little slack allows for batches the producer split.)
    let low = wait_for_log_start(&bootstrap, |low| low >= 90);
    assert!(
        low <= 100,
        "log start {low}: a segment with new messages was deleted"
    );
    // Several more checks later, nothing else has gone.
    std::thread::sleep(Duration::from_millis(500));
    let (low_later, high) = watermarks(&bootstrap, TOPIC, 0).unwrap();
    assert_eq!(low_later, low, "only expired segments are deleted");
    assert_eq!(high, 200, "retention does not move the high watermark");

    let segments = segment_files(broker.data_dir(), TOPIC, 0);
    let first_base: i64 = segments[0]
        .file_stem()
        .and_then(|stem| stem.to_str())
        .and_then(|stem| stem.parse().ok())
        .unwrap();
    assert_eq!(
        first_base, low,
        "the first segment file left starts at the log start offset"
    );
    eprintln!("log start {low}, {} segments left", segments.len());
    assert_readable_from(&bootstrap, low, high);
}

#[test]
fn retention_bytes_keeps_the_newest_segments() {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let segment_bytes = SEGMENT_BYTES.to_string();
    let retention_bytes = 4 * SEGMENT_BYTES;
    create_topic(
        &bootstrap,
        TOPIC,
        1,
        &[
            ("segment.bytes", &segment_bytes),
            ("retention.bytes", &retention_bytes.to_string()),
        ],
    );
    produce(&bootstrap, 0..200, now_ms());

    let low = wait_for_log_start(&bootstrap, |low| low > 100);
    // Retention stops once what is left fits, leaving at most one segment beyond the
    // limit (the one whose deletion would take the size below it) plus the active one.
    std::thread::sleep(Duration::from_millis(500));
    let (low_later, high) = watermarks(&bootstrap, TOPIC, 0).unwrap();
    assert_eq!(high, 200);
    let stored = log_bytes(broker.data_dir(), TOPIC, 1);
    assert!(
        stored <= retention_bytes + 2 * SEGMENT_BYTES,
        "{stored} bytes left with retention.bytes={retention_bytes}"
    );
    assert!(
        stored >= retention_bytes - SEGMENT_BYTES,
        "{stored} bytes left: more deleted than retention.bytes={retention_bytes} asks"
    );
    assert!(low_later >= low);
    eprintln!("log start {low_later}, {stored} bytes left");
    assert_readable_from(&bootstrap, low_later, high);
}
