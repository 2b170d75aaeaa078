//! The metadata log of a single node: one append-only file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::MetadataLog;
use super::frame::{self, ENTRY_BYTES_MAX, Next};
use crate::error::{Error, Result};
use crate::record::MetadataRecord;

/// The log's file name inside its directory.
pub const METADATA_LOG_FILE_NAME: &str = "metadata.log";

/// The metadata log as one local file, `metadata.log`, of framed entries, one per
/// append:
///
/// ```text
/// entry   = length crc payload
/// length  = u32, big-endian: the payload's size in bytes, 1 ..= ENTRY_BYTES_MAX (1 MiB)
/// crc     = u32, big-endian: CRC-32C of the 4 length bytes followed by the payload
/// payload = UTF-8 JSON: {"version":1,"records":[<MetadataRecord>, ...]}
/// ```
///
/// A record's offset is its position counted over all entries' records. The file has
/// no header: an empty file is an empty log.
///
/// Durability: [`append`](MetadataLog::append) writes one entry and fsyncs the file
/// before it returns; creating the file fsyncs its directory. A write that did not
/// complete was therefore never acknowledged, and [`open`](Self::open) truncates the
/// file at the first entry that is torn or fails its checksum.
///
/// After a failed write or fsync the log is poisoned: the state of the file (and of
/// the page cache) is unknown, so every later append fails until the log is reopened.
///
/// One process must own the directory: two writers would interleave entries. The
/// broker's data directory lock is what ensures that.
#[derive(Debug)]
pub struct LocalMetadataLog {
    path: PathBuf,
    file: File,
    /// Where the next entry goes: the end of the last complete entry.
    end_position: u64,
    next_offset: u64,
    poisoned: bool,
    recovery: Recovery,
}

/// What [`LocalMetadataLog::open`] found and repaired; worth a log line when
/// `truncated_bytes` is not zero.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Whether the file did not exist and was created.
    pub created: bool,
    /// Complete entries kept.
    pub entries: u64,
    /// Records in those entries.
    pub records: u64,
    /// Bytes cut from the end of the file: a torn or corrupt tail.
    pub truncated_bytes: u64,
    /// Why the tail was cut, when it was.
    pub truncated_reason: Option<String>,
}

impl LocalMetadataLog {
    /// Opens the log in `dir`, creating the directory and an empty log if needed, and
    /// recovers it: reads every entry, keeps the complete ones and truncates the file
    /// at the first torn or corrupt entry.
    ///
    /// Fails, without changing the file, on an intact entry that cannot be decoded
    /// (written by a newer version), because cutting it off could drop acknowledged
    /// changes.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
            // A relative path's parent may be empty: the current directory.
            match dir.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
                _ => sync_dir(Path::new("."))?,
            }
        }
        let path = dir.join(METADATA_LOG_FILE_NAME);
        let mut recovery = Recovery::default();
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(io_error("create", &path))?;
                // The new directory entry must be durable too, or the file (and every
                // record appended to it) could vanish in a power cut.
                sync_dir(dir)?;
                recovery.created = true;
                file
            }
            Err(e) => return Err(io_error("open", &path)(e)),
        };

        let file_bytes = file.metadata().map_err(io_error("stat", &path))?.len();
        let mut end_position = 0u64;
        let mut next_offset = 0u64;
        let mut reader = BufReader::new(&file);
        loop {
            match frame::read_next(&mut reader).map_err(io_error("read", &path))? {
                Next::Entry {
                    payload,
                    entry_bytes,
                } => {
                    let records = frame::decode(&payload).map_err(|reason| Error::Undecodable {
                        path: path.clone(),
                        position: end_position,
                        offset: next_offset,
                        reason,
                    })?;
                    end_position += entry_bytes;
                    next_offset += records.len() as u64;
                    recovery.entries += 1;
                }
                Next::End => break,
                Next::Invalid(reason) => {
                    recovery.truncated_reason = Some(format!("at byte {end_position}: {reason}"));
                    break;
                }
            }
        }
        drop(reader);
        recovery.records = next_offset;

        // The file's length comes from a stat: a file that is not a regular file (a
        // device in tests) reports 0 and is never truncated.
        if file_bytes > end_position {
            recovery.truncated_bytes = file_bytes - end_position;
            if recovery.truncated_reason.is_none() {
                recovery.truncated_reason = Some(format!(
                    "at byte {end_position}: bytes after the last entry"
                ));
            }
            file.set_len(end_position)
                .map_err(io_error("truncate", &path))?;
            file.sync_all().map_err(io_error("fsync", &path))?;
        }

        Ok(LocalMetadataLog {
            path,
            file,
            end_position,
            next_offset,
            poisoned: false,
            recovery,
        })
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opening the log found.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Whether an I/O error has made the log refuse appends.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    fn write_entry(&mut self, entry: &[u8]) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(self.end_position))?;
        self.file.write_all(entry)?;
        // fdatasync: the data and the file's new size, which is all a reader needs.
        self.file.sync_data()
    }
}

impl MetadataLog for LocalMetadataLog {
    fn append(&mut self, records: &[MetadataRecord]) -> Result<u64> {
        if self.poisoned {
            return Err(Error::Poisoned {
                path: self.path.clone(),
            });
        }
        if records.is_empty() {
            return Err(Error::EmptyAppend);
        }
        let entry = frame::encode(records).map_err(|entry_bytes| Error::EntryTooLarge {
            path: self.path.clone(),
            records: records.len(),
            entry_bytes,
            entry_bytes_max: ENTRY_BYTES_MAX,
        })?;
        if let Err(e) = self.write_entry(&entry) {
            // A failed fsync leaves the page cache in an unknown state; accepting more
            // writes would acknowledge records that may never reach the disk.
            self.poisoned = true;
            return Err(io_error("append", &self.path)(e));
        }
        self.end_position += entry.len() as u64;
        self.next_offset += records.len() as u64;
        Ok(self.next_offset - 1)
    }

    fn replay(&mut self) -> Result<Vec<MetadataRecord>> {
        let path = &self.path;
        (&self.file)
            .seek(SeekFrom::Start(0))
            .map_err(io_error("seek", path))?;
        // Only what open recovered and appends acknowledged: bytes past that are an
        // append that failed.
        let mut reader = BufReader::new((&self.file).take(self.end_position));
        let mut records = Vec::new();
        let mut position = 0u64;
        loop {
            match frame::read_next(&mut reader).map_err(io_error("read", path))? {
                Next::Entry {
                    payload,
                    entry_bytes,
                } => {
                    let decoded = frame::decode(&payload).map_err(|reason| Error::Undecodable {
                        path: path.clone(),
                        position,
                        offset: records.len() as u64,
                        reason,
                    })?;
                    records.extend(decoded);
                    position += entry_bytes;
                }
                Next::End => break,
                // Open checked these bytes; they changed under us (bit rot, or another
                // writer).
                Next::Invalid(reason) => {
                    return Err(Error::Undecodable {
                        path: path.clone(),
                        position,
                        offset: records.len() as u64,
                        reason: format!("entry changed since the log was opened: {reason}"),
                    });
                }
            }
        }
        Ok(records)
    }

    fn next_offset(&self) -> u64 {
        self.next_offset
    }
}

fn io_error(operation: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        operation,
        path,
        source,
    }
}

/// Makes a directory's entries (a created or renamed file) durable.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error("fsync directory", dir))?;
    }
    // Windows cannot open a directory as a file; NTFS journals directory changes.
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
