//! Segments roll by size and by time, are named by base offset, and the sparse
//! offset index finds every offset the way a linear scan does.

#![allow(clippy::unwrap_used)]

mod support;

use fjord_log::LogConfig;
use support::*;

#[test]
fn segments_roll_before_exceeding_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), small_config(1000));
    let mut bases = vec![0];
    let mut segment_bytes = 0;
    for tag in 0..40 {
        let records = batch(tag, 2, NOW_MS, 60);
        let size = records.len();
        if segment_bytes > 0 && segment_bytes + size > 1000 {
            bases.push(log.log_end_offset());
            segment_bytes = 0;
        }
        segment_bytes += size;
        log.append(records, context(NOW_MS)).unwrap();
    }
    assert_eq!(log.segment_count(), bases.len());
    let names: Vec<_> = segment_files(dir.path())
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected: Vec<_> = bases.iter().map(|base| format!("{base:020}.log")).collect();
    assert_eq!(names, expected);
    for path in segment_files(dir.path()) {
        assert!(std::fs::metadata(&path).unwrap().len() <= 1000);
        assert!(path.with_extension("index").exists());
        assert!(path.with_extension("timeindex").exists());
    }
    assert_eq!(read_all(&log, 0, 1 << 20).len(), 80);
    assert_eq!(read_all(&log, 0, 1).len(), 80);
}

#[test]
fn segments_roll_after_segment_ms() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1000,
        ..small_config(1 << 20)
    };
    let (mut log, _) = open(dir.path(), config);
    log.append(batch(0, 1, NOW_MS, 10), context(NOW_MS))
        .unwrap();
    log.append(batch(1, 1, NOW_MS, 10), context(NOW_MS + 1000))
        .unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append(batch(2, 1, NOW_MS, 10), context(NOW_MS + 1001))
        .unwrap();
    assert_eq!(log.segment_count(), 2);
    // The new segment's clock starts at its first batch.
    log.append(batch(3, 1, NOW_MS, 10), context(NOW_MS + 2001))
        .unwrap();
    assert_eq!(log.segment_count(), 2);
    log.append(batch(4, 1, NOW_MS, 10), context(NOW_MS + 2002))
        .unwrap();
    assert_eq!(log.segment_count(), 3);

    // An idle partition's active segment is rolled by the retention pass.
    let report = log.enforce_retention(NOW_MS + 5000).unwrap();
    assert!(report.rolled);
    assert_eq!(log.segment_count(), 4);
    // An empty active segment never rolls.
    assert!(!log.enforce_retention(NOW_MS + 50_000).unwrap().rolled);
    assert_eq!(read_all(&log, 0, 1 << 20).len(), 5);
}

#[test]
fn every_offset_is_found_as_a_linear_scan_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), small_config(20_000));
    let mut rng = Rng::new(7);
    // Batches of varied sizes: index entries land at irregular offsets.
    for tag in 0..400 {
        let count = 1 + rng.below(5) as usize;
        let value_len = rng.below(120) as usize;
        log.append(batch(tag, count, NOW_MS, value_len), context(NOW_MS))
            .unwrap();
    }
    assert!(log.segment_count() > 3);
    let end = log.log_end_offset();
    let all = read_all(&log, 0, usize::MAX);
    assert_eq!(all.len() as i64, end);
    for offset in 0..end {
        // The smallest read returns exactly the batch holding `offset`.
        let read = log.read(offset, 0, end, true).unwrap();
        let found = batches(&read.records);
        assert_eq!(found.len(), 1, "offset {offset}");
        assert!(found[0].base_offset() <= offset && offset <= found[0].last_offset());
        let first = records(&read.records)
            .into_iter()
            .find(|record| record.offset == offset)
            .unwrap();
        assert_eq!(first, all[offset as usize]);
    }
}

#[test]
fn index_lookups_survive_a_clean_reopen_and_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), small_config(5000));
    for tag in 0..100 {
        log.append(batch(tag, 3, NOW_MS, 40), context(NOW_MS))
            .unwrap();
    }
    let before = read_all(&log, 0, 700);
    log.close().unwrap();

    let (log, report) = open(dir.path(), small_config(5000));
    assert!(report.clean_shutdown);
    assert_eq!(report.segments_scanned, 0);
    assert_eq!(read_all(&log, 0, 700), before);
    drop(log);

    // After that unclean stop, sealed segments below the recovery point are
    // trusted, but one whose index fails its checks is rebuilt; lookups
    // still work.
    let index = segment_files(dir.path())[1].with_extension("index");
    std::fs::write(&index, [0xff; 13]).unwrap();
    let (log, report) = open(dir.path(), small_config(5000));
    assert!(!report.clean_shutdown);
    // The damaged segment, and the last one (it holds the recovery point).
    assert_eq!(report.segments_scanned, 2, "{report:?}");
    assert_eq!(report.truncation, None);
    assert_eq!(read_all(&log, 0, 700), before);
    for offset in (0..300).step_by(7) {
        let read = log.read(offset, 0, 300, true).unwrap();
        assert!(batches(&read.records)[0].last_offset() >= offset);
    }
}
