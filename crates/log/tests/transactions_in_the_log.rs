//! Transactions in a partition log: transactional batches open a transaction
//! per producer, COMMIT and ABORT markers close it, the last stable offset
//! stops at the oldest open transaction, aborts are indexed in the segment's
//! `.txnindex`, and all of it survives a clean close, an unclean stop (the
//! process killed: the log dropped without close) and a damaged txnindex.

#![allow(clippy::unwrap_used)]

mod support;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use fjord_log::{AbortedTxn, AppendError, LogConfig, PartitionLog};
use fjord_records::{BatchBuilder, ControlRecordType, EndTransactionMarker};
use support::*;

fn config() -> LogConfig {
    small_config(64 * 1024)
}

fn txn_batch(producer_id: i64, epoch: i16, sequence: i32, count: usize) -> BytesMut {
    let builder = BatchBuilder::new(0)
        .producer(producer_id, epoch, sequence)
        .transactional(true);
    batch_from(builder, sequence as u64, count, NOW_MS, 10)
}

fn marker(control_type: ControlRecordType) -> EndTransactionMarker {
    EndTransactionMarker {
        control_type,
        coordinator_epoch: 0,
    }
}

fn commit(log: &mut PartitionLog, producer_id: i64, epoch: i16) -> i64 {
    log.append_end_txn_marker(
        producer_id,
        epoch,
        marker(ControlRecordType::Commit),
        context(NOW_MS),
    )
    .unwrap()
    .base_offset
}

fn abort(log: &mut PartitionLog, producer_id: i64, epoch: i16) -> i64 {
    log.append_end_txn_marker(
        producer_id,
        epoch,
        marker(ControlRecordType::Abort),
        context(NOW_MS),
    )
    .unwrap()
    .base_offset
}

fn append(log: &mut PartitionLog, batch: BytesMut) -> (i64, i64) {
    let info = appended(log.append(batch, context(NOW_MS)).unwrap());
    (info.base_offset, info.last_offset)
}

fn txn_index_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txnindex"))
        .collect();
    files.sort();
    files
}

#[test]
fn an_open_transaction_holds_the_last_stable_offset_until_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    append(&mut log, batch(0, 2, NOW_MS, 5)); // 0..=1, not transactional
    assert_eq!(
        log.last_stable_offset(),
        2,
        "nothing open: the high watermark"
    );

    let (first, _) = append(&mut log, txn_batch(10, 0, 0, 3)); // 2..=4
    assert_eq!(first, 2);
    append(&mut log, batch(0, 1, NOW_MS, 5)); // 5
    append(&mut log, txn_batch(10, 0, 3, 2)); // 6..=7, same transaction
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(log.ongoing_txn_count(), 1);
    assert_eq!(
        log.producer_states(),
        vec![fjord_log::ProducerState {
            producer_id: 10,
            producer_epoch: 0,
            last_sequence: 4,
            last_timestamp_ms: NOW_MS + 1,
            current_txn_start_offset: 2,
        }]
    );

    let marker_offset = commit(&mut log, 10, 0);
    assert_eq!(marker_offset, 8);
    assert_eq!(log.last_stable_offset(), 9);
    assert_eq!(log.ongoing_txn_count(), 0);
    assert!(
        log.aborted_transactions(0, 9).is_empty(),
        "a commit is not indexed"
    );
    assert!(txn_index_files(dir.path()).is_empty());

    // The marker is a control batch at offset 8 with the producer's id and epoch.
    let read = log.read(8, 1 << 20, 9, true).unwrap();
    let batches = batches(&read.records);
    assert_eq!(batches.len(), 1);
    assert!(batches[0].attributes().is_control());
    assert!(batches[0].attributes().is_transactional());
    assert_eq!(batches[0].producer_id(), 10);
    assert_eq!(batches[0].producer_epoch(), 0);
}

#[test]
fn the_last_stable_offset_is_the_oldest_open_transactions_first_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    append(&mut log, txn_batch(1, 0, 0, 2)); // 0..=1
    append(&mut log, txn_batch(2, 0, 0, 2)); // 2..=3
    assert_eq!(log.last_stable_offset(), 0);
    commit(&mut log, 2, 0); // 4
    assert_eq!(log.last_stable_offset(), 0, "producer 1 is still open");
    commit(&mut log, 1, 0); // 5
    assert_eq!(log.last_stable_offset(), 6);
}

#[test]
fn an_abort_is_indexed_with_kafkas_34_byte_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    append(&mut log, txn_batch(1, 0, 0, 2)); // 0..=1
    append(&mut log, txn_batch(2, 3, 0, 2)); // 2..=3
    let marker_offset = abort(&mut log, 2, 3); // 4
    assert_eq!(marker_offset, 4);
    let expected = AbortedTxn {
        producer_id: 2,
        first_offset: 2,
        last_offset: 4,
        last_stable_offset: 0, // producer 1 is still open
    };
    assert_eq!(log.aborted_transactions(0, 5), vec![expected]);
    // Overlap rules: the marker must be at or after the start, the first
    // offset below the upper bound.
    assert!(log.aborted_transactions(5, 10).is_empty());
    assert!(log.aborted_transactions(0, 2).is_empty());
    assert_eq!(log.aborted_transactions(3, 3), vec![expected]);

    log.flush().unwrap();
    let files = txn_index_files(dir.path());
    assert_eq!(files.len(), 1);
    let bytes = std::fs::read(&files[0]).unwrap();
    let mut want = vec![0u8, 0];
    for field in [2i64, 2, 4, 0] {
        want.extend_from_slice(&field.to_be_bytes());
    }
    assert_eq!(bytes, want);
    assert_eq!(bytes.len(), 34);
}

#[test]
fn fenced_epochs_are_refused_for_markers_and_transactional_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    append(&mut log, txn_batch(1, 5, 0, 1));
    let error = log
        .append_end_txn_marker(1, 4, marker(ControlRecordType::Abort), context(NOW_MS))
        .unwrap_err();
    assert!(
        matches!(
            error,
            AppendError::InvalidProducerEpoch {
                epoch: 4,
                current_epoch: 5,
                ..
            }
        ),
        "{error:?}"
    );
    // The coordinator fences the producer by aborting with a bumped epoch...
    abort(&mut log, 1, 6);
    // ...after which the zombie's transactional batch is refused.
    let error = log
        .append(txn_batch(1, 5, 1, 1), context(NOW_MS))
        .unwrap_err();
    assert!(
        matches!(error, AppendError::InvalidProducerEpoch { .. }),
        "{error:?}"
    );
    // The new epoch starts at sequence 0.
    append(&mut log, txn_batch(1, 6, 0, 1));
}

#[test]
fn a_plain_batch_from_a_producer_with_an_open_transaction_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    append(&mut log, txn_batch(1, 0, 0, 1));
    let error = log
        .append(idempotent_batch(1, 0, 1, 1), context(NOW_MS))
        .unwrap_err();
    assert!(
        matches!(error, AppendError::InvalidTxnState { .. }),
        "{error:?}"
    );
}

#[test]
fn a_marker_without_an_open_transaction_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    // As after a coordinator restart that writes its markers again.
    let offset = commit(&mut log, 7, 0);
    assert_eq!(offset, 0);
    let offset = commit(&mut log, 7, 0);
    assert_eq!(offset, 1);
    assert_eq!(log.last_stable_offset(), 2);
}

/// Producer 1 aborted 0..=2 (marker 3), producer 2 committed 4..=5 (marker
/// 6), producer 3 is open from 7.
fn write_mixed(log: &mut PartitionLog) {
    append(log, txn_batch(1, 0, 0, 3));
    abort(log, 1, 0);
    append(log, txn_batch(2, 0, 0, 2));
    commit(log, 2, 0);
    append(log, txn_batch(3, 0, 0, 2));
    append(log, batch(0, 1, NOW_MS, 5)); // 9
}

fn assert_mixed(log: &PartitionLog) {
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(log.last_stable_offset(), 7);
    assert_eq!(log.ongoing_txn_count(), 1);
    assert_eq!(
        log.aborted_transactions(0, 10),
        vec![AbortedTxn {
            producer_id: 1,
            first_offset: 0,
            last_offset: 3,
            last_stable_offset: 4,
        }]
    );
}

#[test]
fn a_clean_close_keeps_transactions_and_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    write_mixed(&mut log);
    assert_mixed(&log);
    log.close().unwrap();
    let (mut log, report) = open(dir.path(), config());
    assert!(report.clean_shutdown);
    assert_mixed(&log);
    // The open transaction is still producer 3's: its commit moves the LSO.
    commit(&mut log, 3, 0);
    assert_eq!(log.last_stable_offset(), 11);
}

#[test]
fn a_crash_with_an_open_and_an_aborted_transaction_recovers_both() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    write_mixed(&mut log);
    log.flush().unwrap();
    drop(log); // kill -9: no close, no snapshot
    let (log, report) = open(dir.path(), config());
    assert!(!report.clean_shutdown);
    assert_mixed(&log);
}

#[test]
fn a_crash_before_any_flush_rebuilds_the_index_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    write_mixed(&mut log);
    drop(log);
    // The unflushed txnindex entry did not reach the disk.
    for file in txn_index_files(dir.path()) {
        std::fs::remove_file(file).unwrap();
    }
    let (log, report) = open(dir.path(), config());
    assert_eq!(report.txn_indexes_rebuilt, 1);
    assert_mixed(&log);
    assert_eq!(txn_index_files(dir.path()).len(), 1);
}

#[test]
fn a_truncated_txn_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    write_mixed(&mut log);
    log.flush().unwrap();
    drop(log);
    let file = txn_index_files(dir.path()).remove(0);
    OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(20)
        .unwrap();
    let (log, report) = open(dir.path(), config());
    assert_eq!(report.txn_indexes_rebuilt, 1);
    assert_mixed(&log);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 34);
}

#[test]
fn an_index_entry_past_the_recovered_end_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    append(&mut log, txn_batch(1, 0, 0, 3)); // 0..=2
    log.flush().unwrap();
    let log_file = log.dir().join(format!("{:020}.log", 0));
    let kept_len = std::fs::metadata(&log_file).unwrap().len();
    abort(&mut log, 1, 0); // 3
    log.flush().unwrap();
    drop(log);
    // The marker is torn off the log (as if its write never completed), but
    // its index entry reached the disk.
    OpenOptions::new()
        .write(true)
        .open(&log_file)
        .unwrap()
        .set_len(kept_len + 10)
        .unwrap();
    let (mut log, report) = open(dir.path(), config());
    assert!(report.truncation.is_some());
    assert_eq!(log.log_end_offset(), 3);
    assert!(log.aborted_transactions(0, 3).is_empty());
    assert_eq!(log.last_stable_offset(), 0, "the transaction is open again");
    assert_eq!(
        std::fs::metadata(&txn_index_files(dir.path())[0])
            .unwrap()
            .len(),
        0
    );
    // The coordinator asks for the marker again after its own restart.
    abort(&mut log, 1, 0);
    assert_eq!(log.aborted_transactions(0, 4).len(), 1);
    assert_eq!(log.last_stable_offset(), 4);
}

#[test]
fn transactions_span_segment_rolls_and_the_snapshot_carries_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(1200);
    let (mut log, _) = open(dir.path(), config.clone());
    let (first, _) = append(&mut log, txn_batch(1, 0, 0, 2));
    let mut sequence = 2;
    while log.segment_count() < 3 {
        append(&mut log, txn_batch(1, 0, sequence, 2));
        sequence += 2;
    }
    assert_eq!(log.last_stable_offset(), first);
    log.flush().unwrap();
    drop(log);
    // Recovery starts from the snapshot of the last roll, which must know the
    // transaction opened two segments earlier.
    let (mut log, report) = open(dir.path(), config.clone());
    assert!(
        report
            .producer_snapshot_offset
            .is_some_and(|offset| offset > 0)
    );
    assert_eq!(log.last_stable_offset(), first);
    let marker_offset = abort(&mut log, 1, 0);
    let aborted = log.aborted_transactions(first, marker_offset + 1);
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0].first_offset, first);
    // A fetch from the middle of the transaction still learns of the abort.
    assert_eq!(
        log.aborted_transactions(marker_offset - 1, marker_offset)
            .len(),
        1
    );
}

#[test]
fn the_last_stable_offset_never_falls_below_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    append(&mut log, txn_batch(1, 0, 0, 1)); // 0, open
    append(&mut log, txn_batch(2, 0, 0, 1)); // 1, open
    append(&mut log, batch(0, 3, NOW_MS, 5)); // 2..=4
    assert_eq!(log.last_stable_offset(), 0);
    log.delete_records_before(3).unwrap();
    assert_eq!(log.last_stable_offset(), 3);
    // The index entry keeps the unclamped value (producer 1 is still open from
    // 0): a search stops at an entry whose value reaches its upper bound.
    abort(&mut log, 2, 0); // 5
    abort(&mut log, 1, 0); // 6
    assert_eq!(
        log.aborted_transactions(3, 7),
        vec![
            AbortedTxn {
                producer_id: 2,
                first_offset: 1,
                last_offset: 5,
                last_stable_offset: 0,
            },
            AbortedTxn {
                producer_id: 1,
                first_offset: 0,
                last_offset: 6,
                last_stable_offset: 7,
            },
        ]
    );
}
