//! File names in a partition directory, and the few file system moves that
//! must happen in a crash-safe order.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, io_error};

/// Suffix of segment data files.
pub(crate) const LOG_SUFFIX: &str = "log";
/// Suffix of offset index files.
pub(crate) const INDEX_SUFFIX: &str = "index";
/// Suffix of time index files.
pub(crate) const TIME_INDEX_SUFFIX: &str = "timeindex";
/// Suffix of aborted transaction indexes.
pub(crate) const TXN_INDEX_SUFFIX: &str = "txnindex";
/// Suffix of producer state snapshots.
pub(crate) const SNAPSHOT_SUFFIX: &str = "snapshot";
/// Suffix of files being written before an atomic rename.
pub(crate) const TMP_SUFFIX: &str = "tmp";
/// Written last by a clean close, removed (durably) first by open.
pub(crate) const CLEAN_SHUTDOWN_MARKER: &str = "clean_shutdown";

/// Digits in an offset-named file, as in Kafka: enough for any i64.
const OFFSET_DIGITS: usize = 20;

/// `00000000000000000042.log` for offset 42 and suffix `log`.
pub(crate) fn offset_file_name(offset: i64, suffix: &str) -> String {
    format!("{offset:0OFFSET_DIGITS$}.{suffix}")
}

pub(crate) fn offset_file_path(dir: &Path, offset: i64, suffix: &str) -> PathBuf {
    dir.join(offset_file_name(offset, suffix))
}

/// The offset and suffix of an offset-named file, or `None` for any other name.
pub(crate) fn parse_offset_file_name(name: &str) -> Option<(i64, &str)> {
    let (digits, suffix) = name.split_once('.')?;
    if digits.len() != OFFSET_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, suffix))
}

/// Makes the directory's entries (files created, renamed or deleted in it)
/// durable. Without this a new segment can vanish after a power cut even though
/// its own data was fsynced.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error("fsync directory", dir))
}

/// Replaces `dir/name` with `bytes` so that a crash leaves either the old or the
/// new contents: write `name.tmp`, optionally fsync it, rename it over `name`,
/// and (when `durable`) fsync the directory.
///
/// Without `durable` the rename may reach the disk before the data does, so
/// after a power cut `name` can be empty or partial; only use that for files
/// that carry their own checksum and may be ignored when it fails.
pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8], durable: bool) -> Result<()> {
    let tmp_path = dir.join(format!("{name}.{TMP_SUFFIX}"));
    let path = dir.join(name);
    let mut file = File::create(&tmp_path).map_err(io_error("create", &tmp_path))?;
    file.write_all(bytes)
        .map_err(io_error("write", &tmp_path))?;
    if durable {
        file.sync_all().map_err(io_error("fsync", &tmp_path))?;
    }
    drop(file);
    fs::rename(&tmp_path, &path).map_err(io_error("rename", &tmp_path))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Removes a file that may already be gone.
pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error("remove", path)(error)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_twenty_digit_offsets_like_kafka() {
        assert_eq!(offset_file_name(0, LOG_SUFFIX), "00000000000000000000.log");
        assert_eq!(
            offset_file_name(i64::MAX, INDEX_SUFFIX),
            "09223372036854775807.index"
        );
        assert_eq!(
            parse_offset_file_name("00000000000000000042.timeindex"),
            Some((42, "timeindex"))
        );
        assert_eq!(parse_offset_file_name("42.log"), None);
        assert_eq!(parse_offset_file_name("0000000000000000004x.log"), None);
        assert_eq!(parse_offset_file_name("99999999999999999999.log"), None);
        assert_eq!(
            parse_offset_file_name("00000000000000000042.snapshot.tmp"),
            Some((42, "snapshot.tmp"))
        );
    }
}
