//! Flush makes appends durable and reports how far; the split flush lets
//! appends continue while the disk works, one flush at a time.

#![allow(clippy::unwrap_used)]

mod support;

use fjord_log::Error;
use support::*;

#[test]
fn flush_reports_the_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), small_config(1 << 20));
    assert_eq!(log.durable_offset(), 0);
    assert_eq!(log.flush().unwrap(), 0);
    log.append(batch(0, 3, NOW_MS, 10), context(NOW_MS))
        .unwrap();
    assert_eq!(log.durable_offset(), 0, "appends do not fsync");
    assert_eq!(log.flush().unwrap(), 3);
    assert_eq!(log.durable_offset(), 3);
    // Nothing new: the same answer.
    assert_eq!(log.flush().unwrap(), 3);
}

#[test]
fn appends_continue_during_a_split_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), small_config(1 << 20));
    log.append(batch(0, 3, NOW_MS, 10), context(NOW_MS))
        .unwrap();
    let ticket = log.begin_flush().unwrap();
    assert_eq!(ticket.target_offset(), 3);
    // One flush at a time: a second would report unsynced data as durable.
    assert!(matches!(
        log.begin_flush(),
        Err(Error::FlushInProgress { .. })
    ));
    log.append(batch(1, 2, NOW_MS, 10), context(NOW_MS))
        .unwrap();
    let done = ticket.sync();
    assert_eq!(log.finish_flush(done).unwrap(), 3);
    // The batch appended meanwhile is picked up by the next flush.
    assert_eq!(log.flush().unwrap(), 5);
}

#[test]
fn the_checkpoint_moves_when_the_durable_offset_enters_a_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("partition.checkpoint");
    let (mut log, _) = open(dir.path(), small_config(1000));
    log.append(batch(0, 2, NOW_MS, 100), context(NOW_MS))
        .unwrap();
    log.flush().unwrap();
    // Recovery would scan this segment from its start anyway.
    assert!(!checkpoint.exists());
    while log.segment_count() < 3 {
        log.append(batch(1, 2, NOW_MS, 100), context(NOW_MS))
            .unwrap();
    }
    let durable = log.flush().unwrap();
    assert!(checkpoint.exists());
    drop(log);
    let (log, report) = open(dir.path(), small_config(1000));
    assert_eq!(report.checkpoint_recovery_point, durable);
    assert_eq!(report.segments_scanned, 1, "only the segment holding it");
    assert_eq!(log.log_end_offset(), durable);
}
