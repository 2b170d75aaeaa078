//! Retention deletes whole old segments by time and by size, never the active
//! one; DeleteRecords moves the log start, durably.

#![allow(clippy::unwrap_used)]

mod support;

use fjord_log::{LogConfig, ReadError};
use support::*;

const HOUR_MS: i64 = 60 * 60 * 1000;

/// Appends 10 batches per hour for `hours` hours, rolling every 1500 bytes.
fn aged_log(dir: &std::path::Path, config: LogConfig, hours: i64) -> fjord_log::PartitionLog {
    let (mut log, _) = open(dir, config);
    for hour in 0..hours {
        let timestamp = NOW_MS + hour * HOUR_MS;
        for tag in 0..10 {
            log.append(batch(tag, 2, timestamp, 50), context(timestamp))
                .unwrap();
        }
    }
    log
}

#[test]
fn segments_older_than_retention_ms_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_ms: Some(3 * HOUR_MS),
        ..small_config(1500)
    };
    let mut log = aged_log(dir.path(), config, 10);
    let all = read_all(&log, 0, 1 << 20);
    let segments_before = log.segment_count();
    let end = log.log_end_offset();
    let now = NOW_MS + 10 * HOUR_MS;
    let report = log.enforce_retention(now).unwrap();
    assert!(report.segments_deleted > 0);
    assert_eq!(
        log.segment_count(),
        segments_before - report.segments_deleted
    );
    assert_eq!(segment_files(dir.path()).len(), log.segment_count());
    let start = log.log_start_offset();
    assert_eq!(report.log_start_offset, start);
    // Everything deleted was older than retention.ms...
    assert!(
        all[..start as usize]
            .iter()
            .all(|r| now - r.timestamp_ms > 3 * HOUR_MS)
    );
    // ...and the oldest segment kept has a record that is not.
    let second_base: i64 = segment_files(dir.path())[1]
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        all[start as usize..second_base as usize]
            .iter()
            .any(|r| now - r.timestamp_ms <= 3 * HOUR_MS)
    );
    assert!(matches!(
        log.read(0, 100, end, true),
        Err(ReadError::OffsetOutOfRange { .. })
    ));
    assert_eq!(read_all(&log, start, 1 << 20), all[start as usize..]);

    // Much later the idle active segment is rolled (segment.ms) and then
    // deleted too; the new active segment stays, empty.
    let report = log.enforce_retention(now + 1000 * HOUR_MS).unwrap();
    assert!(report.rolled);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), end);
    assert_eq!(log.log_end_offset(), end);
    log.close().unwrap();
    let (log, _) = open(dir.path(), small_config(1500));
    assert_eq!(log.log_start_offset(), end);
    assert_eq!(log.log_end_offset(), end);
}

#[test]
fn the_oldest_segments_go_while_the_log_stays_above_retention_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: Some(5000),
        ..small_config(1500)
    };
    let mut log = aged_log(dir.path(), config, 10);
    let size_before = log.size_bytes();
    let report = log.enforce_retention(NOW_MS).unwrap();
    assert!(report.segments_deleted > 0);
    assert_eq!(log.size_bytes(), size_before - report.bytes_deleted);
    assert!(log.size_bytes() >= 5000);
    // One more segment gone would have taken it below the limit.
    let oldest = std::fs::metadata(&segment_files(dir.path())[0])
        .unwrap()
        .len();
    assert!(log.size_bytes() - oldest < 5000);
    assert_eq!(log.enforce_retention(NOW_MS).unwrap().segments_deleted, 0);
}

#[test]
fn delete_records_moves_the_log_start_and_drops_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = aged_log(dir.path(), small_config(1500), 3);
    let end = log.log_end_offset();
    let segments = log.segment_count();

    assert_eq!(log.delete_records_before(0).unwrap(), 0);
    assert_eq!(log.delete_records_before(5).unwrap(), 5);
    assert_eq!(log.segment_count(), segments);
    // Below the current start: unchanged.
    assert_eq!(log.delete_records_before(3).unwrap(), 5);
    assert!(log.read(4, 100, end, true).is_err());
    let read = log.read(5, 1 << 20, end, true).unwrap();
    assert!(!read.records.is_empty());

    let middle = end / 2;
    assert_eq!(log.delete_records_before(middle).unwrap(), middle);
    assert!(log.segment_count() < segments);
    let remaining = read_all(&log, middle, 1 << 20);
    assert_eq!(remaining.len() as i64, end - middle);
    assert!(log.delete_records_before(end + 1).is_err());

    // Durable at once: an unclean stop keeps it.
    drop(log);
    let (log, _) = open(dir.path(), small_config(1500));
    assert_eq!(log.log_start_offset(), middle);
    assert!(log.read(middle - 1, 100, end, true).is_err());

    // Everything deleted: the log is empty but keeps its offsets.
    let mut log = log;
    assert_eq!(log.delete_records_before(end).unwrap(), end);
    assert_eq!(log.segment_count(), 1);
    let info = appended(log.append(batch(0, 1, NOW_MS, 5), context(NOW_MS)).unwrap());
    assert_eq!(info.base_offset, end);
    assert_eq!(info.log_start_offset, end);
}

#[test]
fn idle_producer_ids_expire() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        producer_id_expiration_ms: HOUR_MS,
        ..small_config(1 << 20)
    };
    let (mut log, _) = open(dir.path(), config);
    log.append(idempotent_batch(1, 0, 0, 1), context(NOW_MS))
        .unwrap();
    log.append(idempotent_batch(2, 0, 0, 1), context(NOW_MS + HOUR_MS / 2))
        .unwrap();
    assert_eq!(log.producer_count(), 2);
    let report = log.enforce_retention(NOW_MS + HOUR_MS).unwrap();
    assert_eq!(report.producers_expired, 1);
    assert_eq!(log.producer_count(), 1);
}
