//! A crash can leave the metadata log's last entry partly written, or the disk can
//! hand back damaged bytes. Reopening must keep every complete entry before the
//! damage, drop the rest, and accept appends again.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use fjord_metadata::log::{ENTRY_BYTES_MAX, ENTRY_HEADER_BYTES, METADATA_LOG_FILE_NAME};
use fjord_metadata::{ClusterId, Error, LocalMetadataLog, MetadataLog, MetadataRecord, TopicId};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn topic(n: u8) -> MetadataRecord {
    MetadataRecord::TopicCreated {
        topic_id: TopicId::from_bytes([n; 16]),
        name: format!("topic-{n}"),
        partitions: i32::from(n) + 1,
        configs: BTreeMap::from([("retention.ms".to_owned(), format!("{n}000"))]),
    }
}

/// Writes a log of three appends (the last holding two records) and returns the
/// records, the file, and the file's size before the last append.
fn write_log(dir: &Path) -> Result<(Vec<MetadataRecord>, PathBuf, u64), Error> {
    let mut log = LocalMetadataLog::open(dir)?;
    let first = vec![MetadataRecord::ClusterCreated {
        cluster_id: ClusterId::new("cluster-1"),
    }];
    let second = vec![topic(1)];
    let last = vec![topic(2), topic(3)];
    log.append(&first)?;
    log.append(&second)?;
    let path = log.path().to_path_buf();
    let size_before_last = fs::metadata(&path).map_err(io)?.len();
    assert_eq!(log.append(&last)?, 3);
    let records = [first, second, last].concat();
    Ok((records, path, size_before_last))
}

fn io(e: std::io::Error) -> Error {
    Error::Io {
        operation: "test",
        path: PathBuf::new(),
        source: e,
    }
}

/// Reopens and checks that exactly the first `kept` records remain and that appends
/// go on from there.
fn assert_recovers_to(
    dir: &Path,
    records: &[MetadataRecord],
    kept: usize,
    size: u64,
) -> TestResult {
    let mut log = LocalMetadataLog::open(dir)?;
    assert_eq!(log.replay()?, &records[..kept]);
    assert_eq!(log.next_offset(), kept as u64);
    assert_eq!(
        fs::metadata(log.path())?.len(),
        size,
        "file truncated to the last good entry"
    );
    assert_eq!(log.append(&[topic(9)])?, kept as u64);
    drop(log);

    let mut log = LocalMetadataLog::open(dir)?;
    assert_eq!(log.recovery().truncated_bytes, 0);
    let mut expected = records[..kept].to_vec();
    expected.push(topic(9));
    assert_eq!(log.replay()?, expected);
    Ok(())
}

#[test]
fn every_torn_length_of_the_last_entry_is_dropped() -> TestResult {
    let template = tempfile::tempdir()?;
    let (records, path, size_before_last) = write_log(template.path())?;
    let full = fs::read(&path)?;
    assert!(full.len() as u64 > size_before_last);

    for cut in size_before_last..full.len() as u64 {
        let dir = tempfile::tempdir()?;
        fs::write(
            dir.path().join(METADATA_LOG_FILE_NAME),
            &full[..cut as usize],
        )?;
        let log = LocalMetadataLog::open(dir.path())?;
        let recovery = log.recovery().clone();
        assert_eq!(
            recovery.truncated_bytes,
            cut - size_before_last,
            "cut at {cut}"
        );
        assert_eq!(recovery.entries, 2, "cut at {cut}");
        assert_eq!(recovery.truncated_reason.is_some(), cut > size_before_last);
        drop(log);
        assert_recovers_to(dir.path(), &records, 2, size_before_last)?;
    }
    Ok(())
}

#[test]
fn the_complete_log_reopens_unchanged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (records, path, _) = write_log(dir.path())?;
    let size = fs::metadata(&path)?.len();
    let log = LocalMetadataLog::open(dir.path())?;
    assert_eq!(log.recovery().entries, 3);
    assert_eq!(log.recovery().records, 4);
    assert_eq!(log.recovery().truncated_bytes, 0);
    assert!(!log.recovery().created);
    drop(log);
    assert_recovers_to(dir.path(), &records, 4, size)
}

/// Flips one byte at `position` of a copy of the log and reopens it.
fn corrupt_at(full: &[u8], position: usize) -> Result<tempfile::TempDir, std::io::Error> {
    let dir = tempfile::tempdir()?;
    let mut bytes = full.to_vec();
    bytes[position] ^= 0x5a;
    fs::write(dir.path().join(METADATA_LOG_FILE_NAME), bytes)?;
    Ok(dir)
}

#[test]
fn a_corrupted_last_entry_is_dropped() -> TestResult {
    let template = tempfile::tempdir()?;
    let (records, path, size_before_last) = write_log(template.path())?;
    let full = fs::read(&path)?;
    let last = size_before_last as usize;
    // The length field, the checksum, and bytes of the payload.
    for position in [last, last + 3, last + 4, last + 7, last + 8, full.len() - 1] {
        let dir = corrupt_at(&full, position)?;
        let log = LocalMetadataLog::open(dir.path())?;
        assert_eq!(
            log.recovery().truncated_bytes,
            full.len() as u64 - size_before_last,
            "byte {position}"
        );
        drop(log);
        assert_recovers_to(dir.path(), &records, 2, size_before_last)?;
    }
    Ok(())
}

#[test]
fn corruption_in_the_middle_drops_everything_after_it() -> TestResult {
    // Appends fsync in order, so only the last entry can be torn; a bad entry before
    // others is damage, and nothing after it can be trusted either.
    let template = tempfile::tempdir()?;
    let (records, path, _) = write_log(template.path())?;
    let full = fs::read(&path)?;
    let first_entry_bytes = {
        let length = u32::from_be_bytes([full[0], full[1], full[2], full[3]]) as usize;
        (ENTRY_HEADER_BYTES + length) as u64
    };
    let dir = corrupt_at(&full, first_entry_bytes as usize + ENTRY_HEADER_BYTES + 2)?;
    let log = LocalMetadataLog::open(dir.path())?;
    assert!(
        log.recovery()
            .truncated_reason
            .as_deref()
            .is_some_and(|r| r.contains("checksum mismatch")),
        "{:?}",
        log.recovery()
    );
    drop(log);
    assert_recovers_to(dir.path(), &records, 1, first_entry_bytes)
}

#[test]
fn a_zero_filled_tail_is_dropped() -> TestResult {
    // Some file systems extend a file with zeros when a crash loses the data of an
    // append but not the new size.
    let dir = tempfile::tempdir()?;
    let (records, path, _) = write_log(dir.path())?;
    let size = fs::metadata(&path)?.len();
    OpenOptions::new()
        .append(true)
        .open(&path)?
        .write_all(&[0u8; 300])?;
    let log = LocalMetadataLog::open(dir.path())?;
    assert_eq!(log.recovery().truncated_bytes, 300);
    drop(log);
    assert_recovers_to(dir.path(), &records, 4, size)
}

#[test]
fn an_oversized_length_is_corruption_not_an_allocation() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (records, path, _) = write_log(dir.path())?;
    let size = fs::metadata(&path)?.len();
    let mut tail = ((ENTRY_BYTES_MAX + 1) as u32).to_be_bytes().to_vec();
    tail.extend_from_slice(&[0u8; 12]);
    OpenOptions::new()
        .append(true)
        .open(&path)?
        .write_all(&tail)?;
    let log = LocalMetadataLog::open(dir.path())?;
    assert!(
        log.recovery()
            .truncated_reason
            .as_deref()
            .is_some_and(|r| r.contains("length")),
        "{:?}",
        log.recovery()
    );
    drop(log);
    assert_recovers_to(dir.path(), &records, 4, size)
}

#[test]
fn an_intact_entry_from_a_newer_version_stops_the_open_and_is_kept() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (_, path, _) = write_log(dir.path())?;
    let payload = br#"{"version":2,"records":[]}"#;
    let length = (payload.len() as u32).to_be_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&length), payload);
    let mut entry = length.to_vec();
    entry.extend_from_slice(&crc.to_be_bytes());
    entry.extend_from_slice(payload);
    OpenOptions::new()
        .append(true)
        .open(&path)?
        .write_all(&entry)?;
    let size = fs::metadata(&path)?.len();

    match LocalMetadataLog::open(dir.path()) {
        Err(Error::Undecodable { offset, reason, .. }) => {
            assert_eq!(offset, 4);
            assert!(reason.contains("version 2"), "{reason}");
        }
        other => panic!("expected Undecodable, got {other:?}"),
    }
    assert_eq!(fs::metadata(&path)?.len(), size, "nothing truncated");
    Ok(())
}

#[test]
fn a_new_log_is_created_with_its_directory() -> TestResult {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("nested").join("metadata");
    let mut log = LocalMetadataLog::open(&dir)?;
    assert!(log.recovery().created);
    assert_eq!(log.next_offset(), 0);
    assert_eq!(log.replay()?, []);
    assert!(matches!(log.append(&[]), Err(Error::EmptyAppend)));
    assert_eq!(log.append(&[topic(1)])?, 0);
    assert!(dir.join(METADATA_LOG_FILE_NAME).is_file());
    Ok(())
}

#[test]
fn an_append_too_large_for_one_entry_is_refused_without_poisoning() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut log = LocalMetadataLog::open(dir.path())?;
    let huge = MetadataRecord::TopicCreated {
        topic_id: TopicId::ONE,
        name: "huge".into(),
        partitions: 1,
        configs: BTreeMap::from([("x".to_owned(), "y".repeat(ENTRY_BYTES_MAX))]),
    };
    assert!(matches!(
        log.append(&[huge]),
        Err(Error::EntryTooLarge { records: 1, .. })
    ));
    assert!(!log.is_poisoned());
    assert_eq!(log.append(&[topic(1)])?, 0);
    Ok(())
}
