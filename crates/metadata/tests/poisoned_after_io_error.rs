//! After a failed write the metadata log refuses further appends: the file's state is
//! unknown, and acknowledging more records on top of it would be a lie. Reopening
//! recovers it.
//!
//! The failure is real, not mocked: on Linux, `/dev/full` fails every write with
//! ENOSPC, and the log file is made a symbolic link to it.

#![cfg(target_os = "linux")]

use std::path::Path;

use fjord_metadata::log::METADATA_LOG_FILE_NAME;
use fjord_metadata::{ClusterId, Error, LocalMetadataLog, MetadataLog, MetadataRecord};

fn record() -> MetadataRecord {
    MetadataRecord::ClusterCreated {
        cluster_id: ClusterId::new("c"),
    }
}

#[test]
fn a_failed_write_poisons_the_log() -> Result<(), Box<dyn std::error::Error>> {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this machine");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    std::os::unix::fs::symlink("/dev/full", dir.path().join(METADATA_LOG_FILE_NAME))?;

    let mut log = LocalMetadataLog::open(dir.path())?;
    assert_eq!(log.next_offset(), 0);

    match log.append(&[record()]) {
        Err(Error::Io { source, .. }) => {
            assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {source}");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(log.is_poisoned());
    assert!(matches!(
        log.append(&[record()]),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(
        log.append(&[record()]),
        Err(Error::Poisoned { .. })
    ));
    assert_eq!(log.next_offset(), 0, "no record was acknowledged");

    // Reopening clears the poison (and recovers the file, here still /dev/full).
    drop(log);
    let log = LocalMetadataLog::open(dir.path())?;
    assert!(!log.is_poisoned());
    Ok(())
}
