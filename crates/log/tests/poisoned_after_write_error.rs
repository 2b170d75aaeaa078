//! After a write fails, the log refuses every later write and flush rather
//! than acknowledge data that may never reach the disk. The failures are real
//! ones, provoked through the file system rather than mocked.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use fjord_log::{AppendError, Error, LogConfig, PartitionLog};
use support::*;

fn assert_poisoned(log: &mut PartitionLog) {
    assert!(log.is_poisoned());
    assert!(matches!(
        log.append(batch(1, 1, NOW_MS, 5), context(NOW_MS)),
        Err(AppendError::Storage(Error::Poisoned { .. }))
    ));
    assert!(matches!(log.flush(), Err(Error::Poisoned { .. })));
    assert!(matches!(
        log.enforce_retention(NOW_MS),
        Err(Error::Poisoned { .. })
    ));
}

/// The active segment's `.log` is `/dev/full`, where every write fails with
/// ENOSPC: the first append fails, and poisons the log.
#[test]
fn a_failed_segment_write_poisons_the_log() {
    let dev_full = Path::new("/dev/full");
    if !dev_full.exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(dev_full, dir.path().join(format!("{:020}.log", 0))).unwrap();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    let error = log
        .append(batch(0, 1, NOW_MS, 5), context(NOW_MS))
        .unwrap_err();
    assert!(
        matches!(
            &error,
            AppendError::Storage(Error::Io {
                operation: "write",
                ..
            })
        ),
        "{error:?}"
    );
    assert_poisoned(&mut log);
    // Reads of what was appended before still work (here: nothing).
    assert_eq!(log.log_end_offset(), 0);
    // A poisoned log is not marked clean.
    assert!(log.close().is_err());
    assert!(!dir.path().join("clean_shutdown").exists());
}

/// The file a roll must create already exists (a leftover the log refuses to
/// overwrite): the roll fails, and poisons the log. Data appended before stays
/// readable, and a reopen recovers it.
#[test]
fn a_failed_roll_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), small_config(500));
    log.append(batch(0, 2, NOW_MS, 50), context(NOW_MS))
        .unwrap();
    // Leftovers at every offset the next roll could start at.
    let end = log.log_end_offset();
    for offset in end + 1..end + 200 {
        std::fs::write(dir.path().join(format!("{offset:020}.log")), b"").unwrap();
    }
    let error = loop {
        match log.append(batch(1, 2, NOW_MS, 50), context(NOW_MS)) {
            Ok(_) => assert_eq!(log.segment_count(), 1, "rolled over a leftover"),
            Err(error) => break error,
        }
    };
    assert!(
        matches!(
            &error,
            AppendError::Storage(Error::Io {
                operation: "create",
                ..
            })
        ),
        "{error:?}"
    );
    assert_poisoned(&mut log);
    let appended = log.log_end_offset();
    assert_eq!(read_all(&log, 0, 1 << 20).len() as i64, appended);
    drop(log);

    // A reopen keeps what was appended. The first leftover (offset end + 1)
    // does not continue the log, so it and every later segment are deleted.
    let (log, report) = open(dir.path(), small_config(500));
    assert!(!log.is_poisoned());
    assert_eq!(log.log_end_offset(), appended);
    assert_eq!(report.segments_deleted, 199);
    assert_eq!(segment_files(dir.path()).len(), 1);
}
