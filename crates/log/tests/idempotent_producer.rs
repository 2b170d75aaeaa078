//! Idempotent producers: a retried batch is answered with its original offsets
//! and not written again; gaps and stale epochs are refused; the state
//! survives a clean close, an unclean stop, and a damaged snapshot.

#![allow(clippy::unwrap_used)]

mod support;

use fjord_log::{AppendError, AppendOutcome, LogConfig, PartitionLog};
use support::*;

fn config() -> LogConfig {
    small_config(1500)
}

/// Producer 1 writes batches of 3 records with sequences 0, 3, 6...; other
/// producers' batches are interleaved.
fn write(log: &mut PartitionLog, batches: i32) {
    for i in 0..batches {
        appended(
            log.append(idempotent_batch(1, 0, i * 3, 3), context(NOW_MS))
                .unwrap(),
        );
        appended(
            log.append(
                idempotent_batch(2 + i64::from(i % 3), 5, i / 3, 1),
                context(NOW_MS),
            )
            .unwrap(),
        );
        appended(log.append(batch(0, 1, NOW_MS, 5), context(NOW_MS)).unwrap());
    }
}

/// The offsets producer 1's batch `i` got from `write`.
fn offsets_of(i: i32) -> (i64, i64) {
    let base = i64::from(i) * 5;
    (base, base + 2)
}

fn assert_duplicate(log: &mut PartitionLog, i: i32) {
    let end = log.log_end_offset();
    let outcome = log
        .append(idempotent_batch(1, 0, i * 3, 3), context(NOW_MS))
        .unwrap();
    let AppendOutcome::Duplicate(info) = outcome else {
        panic!("batch {i} not recognised as a duplicate: {outcome:?}");
    };
    assert_eq!((info.base_offset, info.last_offset), offsets_of(i));
    assert_eq!(info.log_append_time_ms, -1);
    assert_eq!(log.log_end_offset(), end, "a duplicate writes nothing");
}

fn assert_state(log: &mut PartitionLog, batches: i32) {
    // The last five batches are recognised with their original offsets...
    for i in batches - 5..batches {
        assert_duplicate(log, i);
    }
    // ...older ones no longer are, and gaps are refused.
    assert!(matches!(
        log.append(
            idempotent_batch(1, 0, (batches - 6) * 3, 3),
            context(NOW_MS)
        ),
        Err(AppendError::OutOfOrderSequence { producer_id: 1, .. })
    ));
    assert!(matches!(
        log.append(idempotent_batch(1, 0, batches * 3 + 1, 3), context(NOW_MS)),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
}

#[test]
fn duplicates_get_their_original_offsets_and_gaps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    write(&mut log, 10);
    assert_state(&mut log, 10);
    // The next batch in sequence is accepted.
    let info = appended(
        log.append(idempotent_batch(1, 0, 30, 3), context(NOW_MS))
            .unwrap(),
    );
    assert_eq!(info.base_offset, 50);
}

#[test]
fn epochs_fence_older_producers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    log.append(idempotent_batch(7, 3, 0, 2), context(NOW_MS))
        .unwrap();
    assert!(matches!(
        log.append(idempotent_batch(7, 2, 2, 1), context(NOW_MS)),
        Err(AppendError::InvalidProducerEpoch {
            producer_id: 7,
            epoch: 2,
            current_epoch: 3
        })
    ));
    // A new epoch must start at sequence 0.
    assert!(matches!(
        log.append(idempotent_batch(7, 4, 2, 1), context(NOW_MS)),
        Err(AppendError::OutOfOrderSequence { .. })
    ));
    log.append(idempotent_batch(7, 4, 0, 1), context(NOW_MS))
        .unwrap();
    // Now the old epoch is fenced, retries of its batches included.
    assert!(matches!(
        log.append(idempotent_batch(7, 3, 0, 2), context(NOW_MS)),
        Err(AppendError::InvalidProducerEpoch { .. })
    ));
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn sequences_wrap_from_i32_max_to_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    // An unknown producer may start anywhere (Kafka 2.5+, KIP-360).
    log.append(idempotent_batch(3, 0, i32::MAX - 1, 3), context(NOW_MS))
        .unwrap();
    // That batch covered MAX-1, MAX, 0: the next starts at 1.
    assert!(
        log.append(idempotent_batch(3, 0, 0, 1), context(NOW_MS))
            .is_err()
    );
    log.append(idempotent_batch(3, 0, 1, 1), context(NOW_MS))
        .unwrap();
    assert!(
        log.append(idempotent_batch(3, 0, i32::MAX - 1, 3), context(NOW_MS))
            .unwrap()
            .is_duplicate()
    );
}

#[test]
fn state_survives_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    write(&mut log, 12);
    log.close().unwrap();
    let (mut log, report) = open(dir.path(), config());
    assert!(report.clean_shutdown);
    assert_eq!(report.producer_snapshot_offset, Some(60));
    assert_eq!(report.producer_batches_replayed, 0);
    assert_eq!(log.producer_count(), 4);
    assert_state(&mut log, 12);
}

#[test]
fn state_survives_an_unclean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    write(&mut log, 12);
    assert!(log.segment_count() > 2, "rolls wrote snapshots");
    drop(log);
    let (mut log, report) = open(dir.path(), config());
    assert!(!report.clean_shutdown);
    // Started from the snapshot of the last roll, then replayed the rest.
    assert!(report.producer_snapshot_offset.is_some());
    assert!(report.producer_batches_replayed > 0);
    assert_state(&mut log, 12);
}

#[test]
fn a_damaged_snapshot_is_ignored_and_the_log_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    write(&mut log, 12);
    log.close().unwrap();
    let snapshot = dir.path().join(format!("{:020}.snapshot", 60));
    let mut bytes = std::fs::read(&snapshot).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&snapshot, bytes).unwrap();
    let (mut log, report) = open(dir.path(), config());
    assert_eq!(report.producer_snapshot_offset, None);
    assert!(report.notes.iter().any(|note| note.contains("snapshot")));
    assert_eq!(report.producer_batches_replayed, 36);
    assert_state(&mut log, 12);
}

#[test]
fn a_snapshot_past_a_truncation_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    write(&mut log, 12);
    log.close().unwrap();
    // Lose the last producer-1 batch (offsets 55..57) and what follows it.
    let last = segment_files(dir.path()).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let base: i64 = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let batches = fjord_records::RecordBatches::new(bytes::Bytes::from(bytes));
    let mut cut = 0;
    for batch in batches {
        let batch = batch.unwrap();
        if batch.base_offset() >= 55 {
            break;
        }
        cut += batch.size_bytes() as u64;
    }
    assert!(base < 55);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(cut)
        .unwrap();
    std::fs::remove_file(dir.path().join("clean_shutdown")).unwrap();
    let (mut log, report) = open(dir.path(), config());
    assert_eq!(log.log_end_offset(), 55);
    assert!(
        report
            .producer_snapshot_offset
            .is_none_or(|offset| offset <= 55)
    );
    // Producer 1's batch 11 is gone, so it is not a duplicate: it is next.
    assert_state(&mut log, 11);
    let info = appended(
        log.append(idempotent_batch(1, 0, 33, 3), context(NOW_MS))
            .unwrap(),
    );
    assert_eq!(info.base_offset, 55);
}

/// Found by the model test: DeleteRecords moved the log start past a
/// producer's only batch, then an unclean stop. The batch is still on disk, so
/// the rebuilt state must still know it and a retry must stay a duplicate.
#[test]
fn a_retry_after_delete_records_and_an_unclean_stop_is_still_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    log.append(idempotent_batch(1, 0, 0, 2), context(NOW_MS))
        .unwrap();
    log.append(batch(0, 2, NOW_MS, 5), context(NOW_MS)).unwrap();
    log.delete_records_before(2).unwrap();
    drop(log);
    let (mut log, _) = open(dir.path(), config());
    let outcome = log
        .append(idempotent_batch(1, 0, 0, 2), context(NOW_MS))
        .unwrap();
    assert!(outcome.is_duplicate(), "{outcome:?}");
    assert_eq!(outcome.info().base_offset, 0);
    assert_eq!(log.log_end_offset(), 4);
}
