//! A partition directory written by this crate's first on-disk format, kept
//! in `tests/fixtures/partition-v1/`, still opens and reads the same. A change
//! that breaks this breaks existing data directories.
//!
//! Regenerate (only for a deliberate, documented format change) with
//! `FJORD_WRITE_FIXTURES=1 cargo test -p fjord-log --test format_fixture -- --ignored`.

#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use fjord_log::{LogConfig, PartitionLog};
use support::*;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/partition-v1")
}

fn config() -> LogConfig {
    small_config(600)
}

/// The contents: 8 plain batches of 2 records, then 3 batches from idempotent
/// producer 42 (epoch 1, sequences 0, 2, 4), over five segments.
fn write(dir: &Path) {
    let (mut log, _) = PartitionLog::open(dir, config(), NOW_MS).unwrap();
    for tag in 0..8 {
        log.append(batch(tag, 2, NOW_MS + tag as i64, 60), context(NOW_MS))
            .unwrap();
    }
    for sequence in [0, 2, 4] {
        log.append(idempotent_batch(42, 1, sequence, 2), context(NOW_MS))
            .unwrap();
    }
    log.close().unwrap();
}

#[test]
#[ignore = "writes the fixture; run explicitly with FJORD_WRITE_FIXTURES=1"]
fn write_fixture() {
    if std::env::var_os("FJORD_WRITE_FIXTURES").is_none() {
        return;
    }
    let dir = fixture_dir();
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    write(&dir);
}

#[test]
fn the_v1_fixture_opens_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(fixture_dir()).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let (mut log, report) = PartitionLog::open(dir.path(), config(), NOW_MS).unwrap();
    assert!(report.clean_shutdown, "{report:?}");
    assert_eq!(report.segments_scanned, 0);
    assert_eq!(report.producer_snapshot_offset, Some(22));
    assert_eq!(log.segment_count(), 5);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 22));

    // The same log written now reads back identically.
    let fresh = tempfile::tempdir().unwrap();
    write(fresh.path());
    let (fresh_log, _) = PartitionLog::open(fresh.path(), config(), NOW_MS).unwrap();
    assert_eq!(read_all(&log, 0, 1 << 20), read_all(&fresh_log, 0, 1 << 20));
    assert_eq!(
        log.offset_for_timestamp(NOW_MS + 5).unwrap(),
        Some((9, NOW_MS + 5))
    );

    // The producer state came from the snapshot: a retry is a duplicate.
    let outcome = log
        .append(idempotent_batch(42, 1, 2, 2), context(NOW_MS))
        .unwrap();
    assert!(outcome.is_duplicate());
    assert_eq!(outcome.info().base_offset, 18);
}
