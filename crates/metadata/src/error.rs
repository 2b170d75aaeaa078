//! The errors of the metadata log.
//!
//! Positions are byte offsets into the log file; offsets are record offsets (the
//! 0-based index of a record in the log).

use std::path::PathBuf;

/// The metadata log could not be opened, read or appended to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating system call failed.
    #[error("metadata log {path}: {operation} failed: {source}")]
    Io {
        /// What was being done: "open", "read", "write", "fsync", ...
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// An earlier write or fsync failed, so the log refuses further appends until it
    /// is reopened (which recovers the file to its last complete entry).
    #[error("metadata log {path} is poisoned by an earlier I/O error; reopen it to recover")]
    Poisoned {
        /// The log file.
        path: PathBuf,
    },

    /// An entry with an intact checksum could not be decoded: the file was written by
    /// a newer Fjord, or by a bug. Opening stops rather than truncating, because the
    /// entry is not a torn write and the records after it may be acknowledged changes.
    #[error(
        "metadata log {path}: entry at byte {position} (record offset {offset}) cannot be decoded: {reason}"
    )]
    Undecodable {
        /// The log file.
        path: PathBuf,
        /// Byte position of the entry's length field.
        position: u64,
        /// Record offset of the entry's first record.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },

    /// The records given to one append encode to more than one entry may hold.
    #[error(
        "metadata log {path}: {records} records encode to {entry_bytes} bytes, more than the entry limit of {entry_bytes_max}"
    )]
    EntryTooLarge {
        /// The log file.
        path: PathBuf,
        /// How many records were given.
        records: usize,
        /// Their encoded size.
        entry_bytes: usize,
        /// The limit, [`ENTRY_BYTES_MAX`](crate::log::ENTRY_BYTES_MAX).
        entry_bytes_max: usize,
    },

    /// `append` was given no records; there is no offset to return for nothing.
    #[error("metadata log append needs at least one record")]
    EmptyAppend,
}

/// A `Result` whose error is the metadata log's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
