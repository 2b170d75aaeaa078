//! ListOffsets by timestamp and MAX_TIMESTAMP agree with a brute-force search
//! of every record, with producer timestamps out of order, across segments,
//! after a reopen and after the log start moves.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::BytesMut;
use fjord_log::{LogConfig, PartitionLog};
use fjord_records::BatchBuilder;
use support::*;

/// Batches of 1-4 records with timestamps wandering around an upward trend.
fn write_wandering(log: &mut PartitionLog, rng: &mut Rng, batches: usize) {
    for tag in 0..batches {
        let mut builder = BatchBuilder::new(0);
        for index in 0..1 + rng.below(4) {
            let trend = NOW_MS - 100_000 + tag as i64 * 100;
            let timestamp = trend + rng.below(2000) as i64 - 1000;
            let value = value(tag as u64, index as usize, rng.below(80) as usize);
            builder.append(timestamp, None, Some(&value), &[]).unwrap();
        }
        let records = BytesMut::from(&builder.build().unwrap()[..]);
        log.append(records, context(NOW_MS)).unwrap();
    }
}

fn brute_force(records: &[ReadRecord], log_start: i64, target: i64) -> Option<(i64, i64)> {
    records
        .iter()
        .find(|record| record.offset >= log_start && record.timestamp_ms >= target)
        .map(|record| (record.offset, record.timestamp_ms))
}

fn brute_force_max(records: &[ReadRecord]) -> Option<(i64, i64)> {
    let max = records.iter().map(|record| record.timestamp_ms).max()?;
    records
        .iter()
        .find(|record| record.timestamp_ms == max)
        .map(|record| (record.offset, record.timestamp_ms))
}

fn check_all_targets(log: &PartitionLog, records: &[ReadRecord], rng: &mut Rng) {
    let start = log.log_start_offset();
    let low = records.iter().map(|r| r.timestamp_ms).min().unwrap() - 10;
    let high = records.iter().map(|r| r.timestamp_ms).max().unwrap() + 10;
    // Every record's own timestamp, its neighbours, and random points.
    let mut targets: Vec<i64> = records
        .iter()
        .flat_map(|r| [r.timestamp_ms - 1, r.timestamp_ms, r.timestamp_ms + 1])
        .collect();
    targets.extend((0..200).map(|_| low + rng.below((high - low) as u64) as i64));
    targets.extend([i64::MIN, -1, 0, low, high, i64::MAX]);
    for target in targets {
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            brute_force(records, start, target),
            "target {target}"
        );
    }
}

#[test]
fn offset_for_timestamp_matches_a_scan_of_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), small_config(3000));
    let mut rng = Rng::new(11);
    write_wandering(&mut log, &mut rng, 300);
    assert!(log.segment_count() > 5);
    let records = read_all(&log, 0, 1 << 20);
    check_all_targets(&log, &records, &mut rng);
    assert_eq!(log.max_timestamp().unwrap(), brute_force_max(&records));

    // After a clean reopen the trusted time indexes give the same answers.
    log.close().unwrap();
    let (log, report) = open(dir.path(), small_config(3000));
    assert!(report.clean_shutdown);
    check_all_targets(&log, &records, &mut rng);
    assert_eq!(log.max_timestamp().unwrap(), brute_force_max(&records));
    drop(log);

    // After an unclean one they are rebuilt and still agree.
    std::fs::remove_file(dir.path().join("partition.checkpoint")).unwrap();
    let (mut log, report) = open(dir.path(), small_config(3000));
    assert_eq!(report.segments_scanned, log.segment_count());
    check_all_targets(&log, &records, &mut rng);

    // Records below the log start are never the answer.
    let middle = log.log_end_offset() / 2 + 1;
    log.delete_records_before(middle).unwrap();
    check_all_targets(&log, &records, &mut rng);
}

#[test]
fn log_append_time_answers_with_append_times() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        message_timestamp_type: fjord_log::TimestampType::LogAppendTime,
        ..small_config(2000)
    };
    let (mut log, _) = open(dir.path(), config);
    for tag in 0..60 {
        log.append(batch(tag, 3, 5, 30), context(NOW_MS + tag as i64 * 10))
            .unwrap();
    }
    // Batch `tag` holds offsets 3*tag.. and was appended at NOW + 10*tag.
    assert_eq!(log.offset_for_timestamp(NOW_MS).unwrap(), Some((0, NOW_MS)));
    assert_eq!(
        log.offset_for_timestamp(NOW_MS + 101).unwrap(),
        Some((33, NOW_MS + 110))
    );
    assert_eq!(log.offset_for_timestamp(NOW_MS + 591).unwrap(), None);
    // Every record of the newest batch shares its timestamp: the first wins.
    assert_eq!(log.max_timestamp().unwrap(), Some((177, NOW_MS + 590)));
}

#[test]
fn an_empty_log_has_no_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), LogConfig::default());
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), None);
}
