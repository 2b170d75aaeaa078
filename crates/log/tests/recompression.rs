//! A topic's `compression.type` other than `producer`: batches in another codec are
//! stored recompressed, with their records, timestamps and producer state intact.

#![allow(clippy::unwrap_used)]

mod support;

use fjord_log::{AppendOutcome, LogConfig};
use fjord_records::{BatchBuilder, Compression};
use support::*;

fn config(compression: Option<Compression>) -> LogConfig {
    LogConfig {
        compression,
        ..LogConfig::default()
    }
}

#[test]
fn batches_are_stored_in_the_topics_codec() {
    for (produced, target) in [
        (Compression::None, Compression::Zstd),
        (Compression::Gzip, Compression::Lz4),
        (Compression::Snappy, Compression::None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = open(dir.path(), config(Some(target)));
        let sent = batch_from(
            BatchBuilder::new(0).compression(produced),
            7,
            50,
            NOW_MS,
            100,
        );
        appended(log.append(sent, context(NOW_MS)).unwrap());
        let read = log.read(0, 1 << 20, log.log_end_offset(), true).unwrap();
        let stored = batches(&read.records);
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0].compression(),
            target,
            "{produced:?} -> {target:?}"
        );
        let records = records(&read.records);
        let expected: Vec<_> = (0..50).map(|i| value(7, i, 100)).collect();
        assert_eq!(
            records.iter().map(|r| r.value.to_vec()).collect::<Vec<_>>(),
            expected
        );
        assert_eq!(
            records.iter().map(|r| r.timestamp_ms).collect::<Vec<_>>(),
            (0..50).map(|i| NOW_MS + i).collect::<Vec<_>>()
        );
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            (0..50).collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_producers_codec_is_kept_when_the_topic_says_producer() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config(None));
    let sent = batch_from(
        BatchBuilder::new(0).compression(Compression::Snappy),
        1,
        10,
        NOW_MS,
        10,
    );
    appended(log.append(sent, context(NOW_MS)).unwrap());
    let read = log.read(0, 1 << 20, log.log_end_offset(), true).unwrap();
    assert_eq!(batches(&read.records)[0].compression(), Compression::Snappy);
}

#[test]
fn recompressed_idempotent_batches_keep_their_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config(Some(Compression::Gzip)));
    let first = appended(
        log.append(idempotent_batch(42, 0, 0, 5), context(NOW_MS))
            .unwrap(),
    );
    appended(
        log.append(idempotent_batch(42, 0, 5, 5), context(NOW_MS))
            .unwrap(),
    );
    // A retry of the first batch is recognised as a duplicate with its original offsets.
    match log
        .append(idempotent_batch(42, 0, 0, 5), context(NOW_MS))
        .unwrap()
    {
        AppendOutcome::Duplicate(info) => assert_eq!(info.base_offset, first.base_offset),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let read = log.read(0, 1 << 20, log.log_end_offset(), true).unwrap();
    let stored = batches(&read.records);
    assert_eq!(stored.len(), 2);
    for (batch, sequence) in stored.iter().zip([0, 5]) {
        assert_eq!(batch.compression(), Compression::Gzip);
        assert_eq!(
            (
                batch.producer_id(),
                batch.producer_epoch(),
                batch.base_sequence()
            ),
            (42, 0, sequence)
        );
    }
}
