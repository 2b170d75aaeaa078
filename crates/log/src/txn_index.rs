//! The aborted transaction index (`<base>.txnindex`), Kafka's layout: one
//! 34-byte entry per aborted transaction whose ABORT marker is in the segment:
//!
//! ```text
//! version i16 (0) | producer id i64 | first offset i64 | last offset i64 |
//! last stable offset i64
//! ```
//!
//! `last offset` is the marker's offset; `last stable offset` is the log's LSO
//! just after the marker (Kafka stores it so a reader can stop early). A
//! `read_committed` fetch gets the (producer id, first offset) of every entry
//! overlapping the fetched range and the client drops those producers' records
//! from the first offset until their marker.
//!
//! The file is created on the segment's first abort. Entries are written with
//! `pwrite` (page cache) and fsynced by the same flush that fsyncs the
//! segment's `.log` (see `flush.rs`), so an acknowledged abort has its entry
//! on disk. Recovery rebuilds every entry whose marker it replays (see
//! `recovery.rs`), so a lost or torn entry of an unflushed marker comes back,
//! and an entry past the recovered log end is dropped. A torn tail (fewer than
//! 34 bytes, or an unknown version) is ignored when the file is read.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, io_error};
use crate::files;

/// Bytes per entry, as in Kafka's `AbortedTxn`.
pub(crate) const ENTRY_BYTES: usize = 34;
const VERSION: i16 = 0;
/// A txnindex larger than this is not read whole: a segment would need over
/// 30 million aborted transactions. Beyond it the entries are rebuilt from the
/// log by recovery only if the segment is scanned; otherwise they are ignored.
const FILE_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// One aborted transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer whose transaction was aborted.
    pub producer_id: i64,
    /// The offset of the transaction's first batch in this partition.
    pub first_offset: i64,
    /// The offset of the ABORT marker.
    pub last_offset: i64,
    /// The last stable offset right after the marker.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    pub(crate) fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut out = [0; ENTRY_BYTES];
        out[0..2].copy_from_slice(&VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8; ENTRY_BYTES]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| {
            let mut field = [0; 8];
            field.copy_from_slice(&bytes[at..at + 8]);
            i64::from_be_bytes(field)
        };
        if i16::from_be_bytes([bytes[0], bytes[1]]) != VERSION {
            return None;
        }
        Some(AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

/// The aborted transaction index of one segment, entries kept in memory.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    path: PathBuf,
    /// Opened on the first write; `None` while the file does not exist.
    file: Option<File>,
    entries: Vec<AbortedTxn>,
    /// Written since the last fsync.
    dirty: bool,
}

impl TxnIndex {
    /// Reads the index of the segment at `base_offset`, if the file exists.
    /// Entries from the first torn or unknown one on are ignored (recovery
    /// rebuilds what the log still justifies).
    pub fn open(dir: &Path, base_offset: i64) -> Result<TxnIndex> {
        let path = files::offset_file_path(dir, base_offset, files::TXN_INDEX_SUFFIX);
        let mut index = TxnIndex {
            path,
            file: None,
            entries: Vec::new(),
            dirty: false,
        };
        if !index.path.exists() {
            return Ok(index);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&index.path)
            .map_err(io_error("open", &index.path))?;
        let len = file
            .metadata()
            .map_err(io_error("stat", &index.path))?
            .len();
        let mut bytes = vec![0; len.min(FILE_BYTES_MAX) as usize];
        file.read_exact_at(&mut bytes, 0)
            .map_err(io_error("read", &index.path))?;
        for chunk in bytes.chunks_exact(ENTRY_BYTES) {
            let mut entry = [0; ENTRY_BYTES];
            entry.copy_from_slice(chunk);
            match AbortedTxn::decode(&entry) {
                Some(entry) => index.entries.push(entry),
                None => break,
            }
        }
        index.file = Some(file);
        Ok(index)
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    fn file(&mut self) -> Result<&File> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&self.path)
                .map_err(io_error("create", &self.path))?;
            self.file = Some(file);
        }
        Ok(self.file.as_ref().expect("opened above"))
    }

    /// Appends an entry (page cache only).
    pub fn append(&mut self, entry: AbortedTxn) -> Result<()> {
        let position = (self.entries.len() * ENTRY_BYTES) as u64;
        self.dirty = true;
        let path = self.path.clone();
        self.file()?
            .write_all_at(&entry.encode(), position)
            .map_err(io_error("write", &path))?;
        self.entries.push(entry);
        Ok(())
    }

    /// Replaces the entries (recovery), and fsyncs the file: recovery's result
    /// must not depend on a later flush.
    pub fn rewrite(&mut self, entries: Vec<AbortedTxn>) -> Result<()> {
        if entries == self.entries && self.file_len_matches()? {
            return Ok(());
        }
        if entries.is_empty() && self.file.is_none() {
            self.entries = entries;
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(entries.len() * ENTRY_BYTES);
        for entry in &entries {
            bytes.extend_from_slice(&entry.encode());
        }
        let path = self.path.clone();
        let file = self.file()?;
        file.set_len(0).map_err(io_error("truncate", &path))?;
        file.write_all_at(&bytes, 0)
            .map_err(io_error("write", &path))?;
        file.sync_data().map_err(io_error("fsync", &path))?;
        self.entries = entries;
        self.dirty = false;
        Ok(())
    }

    fn file_len_matches(&self) -> Result<bool> {
        match &self.file {
            None => Ok(true),
            Some(file) => {
                let len = file.metadata().map_err(io_error("stat", &self.path))?.len();
                Ok(len == (self.entries.len() * ENTRY_BYTES) as u64)
            }
        }
    }

    /// A handle that fsyncs the file, if it has unsynced writes; clears the
    /// flag (the caller poisons the log if the fsync fails).
    pub fn take_sync_handle(&mut self) -> Result<Option<(File, PathBuf)>> {
        if !self.dirty {
            return Ok(None);
        }
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let handle = file.try_clone().map_err(io_error("dup", &self.path))?;
        self.dirty = false;
        Ok(Some((handle, self.path.clone())))
    }

    /// fsyncs the file if it has unsynced writes.
    pub fn sync(&mut self) -> Result<()> {
        if let Some((file, path)) = self.take_sync_handle()? {
            file.sync_data().map_err(io_error("fsync", &path))?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_kafkas_34_bytes() {
        let entry = AbortedTxn {
            producer_id: 7,
            first_offset: 10,
            last_offset: 20,
            last_stable_offset: 21,
        };
        let bytes = entry.encode();
        assert_eq!(
            bytes.to_vec(),
            [
                vec![0, 0],
                7i64.to_be_bytes().to_vec(),
                10i64.to_be_bytes().to_vec(),
                20i64.to_be_bytes().to_vec(),
                21i64.to_be_bytes().to_vec(),
            ]
            .concat()
        );
        assert_eq!(AbortedTxn::decode(&bytes), Some(entry));
    }

    #[test]
    fn a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TxnIndex::open(dir.path(), 0).unwrap();
        for i in 0..3 {
            index
                .append(AbortedTxn {
                    producer_id: i,
                    first_offset: i,
                    last_offset: i + 1,
                    last_stable_offset: i + 2,
                })
                .unwrap();
        }
        index.sync().unwrap();
        let path = index.path().to_path_buf();
        drop(index);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len((2 * ENTRY_BYTES + 5) as u64).unwrap();
        let index = TxnIndex::open(dir.path(), 0).unwrap();
        assert_eq!(index.entries().len(), 2);
    }
}
