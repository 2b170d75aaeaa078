//! The sparse offset index of a segment (`.index`), and the fixed-size-entry
//! file both indexes are stored in.
//!
//! An entry is written every `index.interval.bytes` of log: the last offset of
//! the batch appended there (as a big-endian u32 relative to the segment's base
//! offset) and the batch's byte position in the segment (big-endian u32), the
//! layout Kafka uses. Lookups binary-search the file with `pread` rather than
//! keep the index in memory, so a partition's memory does not grow with its
//! data; the page cache holds the hot parts. The last entry is also kept in
//! memory, which answers reads at the tail of the log without any I/O.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, io_error};

/// A file of fixed-size entries, appended to and binary-searched in place.
#[derive(Debug)]
pub(crate) struct IndexFile<const N: usize> {
    path: PathBuf,
    file: File,
    entries: u64,
    /// Bytes past the last whole entry (a torn append); never written by us.
    partial_bytes: u64,
}

impl<const N: usize> IndexFile<N> {
    /// Opens (creating it if needed) the index at `path`; `truncate` empties it.
    pub fn open(path: PathBuf, truncate: bool) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(&path)
            .map_err(io_error("open", &path))?;
        let len = file.metadata().map_err(io_error("stat", &path))?.len();
        Ok(IndexFile {
            path,
            file,
            entries: len / N as u64,
            partial_bytes: len % N as u64,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Whether the file ends with part of an entry.
    pub fn has_partial_entry(&self) -> bool {
        self.partial_bytes != 0
    }

    pub fn read(&self, index: u64) -> Result<[u8; N]> {
        let mut entry = [0; N];
        self.file
            .read_exact_at(&mut entry, index * N as u64)
            .map_err(io_error("read", &self.path))?;
        Ok(entry)
    }

    pub fn append(&mut self, entry: [u8; N]) -> Result<()> {
        self.file
            .write_all_at(&entry, self.entries * N as u64)
            .map_err(io_error("write", &self.path))?;
        self.entries += 1;
        Ok(())
    }

    /// Replaces the whole file with `entries` (already encoded).
    pub fn replace_all(&mut self, entries: &[u8]) -> Result<()> {
        debug_assert_eq!(entries.len() % N, 0);
        self.file
            .set_len(0)
            .map_err(io_error("truncate", &self.path))?;
        self.file
            .write_all_at(entries, 0)
            .map_err(io_error("write", &self.path))?;
        self.entries = (entries.len() / N) as u64;
        self.partial_bytes = 0;
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(io_error("fsync", &self.path))
    }

    /// A second handle on the file, to fsync it without borrowing the index.
    pub fn sync_handle(&self) -> Result<(File, PathBuf)> {
        let handle = self.file.try_clone().map_err(io_error("dup", &self.path))?;
        Ok((handle, self.path.clone()))
    }

    /// The index of the last entry for which `is_at_or_before` holds, given
    /// that it holds for a prefix of the entries (the index is sorted).
    pub fn last_matching(&self, is_at_or_before: impl Fn(&[u8; N]) -> bool) -> Result<Option<u64>> {
        let (mut low, mut high) = (0, self.entries);
        while low < high {
            let middle = low + (high - low) / 2;
            if is_at_or_before(&self.read(middle)?) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        Ok(low.checked_sub(1))
    }
}

/// One offset index entry, with the offset made absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    /// The last offset of the batch at `position`.
    pub offset: i64,
    /// Where that batch starts in the segment.
    pub position: u32,
}

/// A segment's sparse offset-to-position index.
#[derive(Debug)]
pub(crate) struct OffsetIndex {
    file: IndexFile<8>,
    base_offset: i64,
    last: Option<OffsetEntry>,
}

impl OffsetIndex {
    pub fn open(path: PathBuf, base_offset: i64, truncate: bool) -> Result<Self> {
        let file = IndexFile::open(path, truncate)?;
        let mut index = OffsetIndex {
            file,
            base_offset,
            last: None,
        };
        if let Some(last) = index.file.entries().checked_sub(1) {
            index.last = Some(index.entry(last)?);
        }
        Ok(index)
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn entries(&self) -> u64 {
        self.file.entries()
    }

    pub fn last(&self) -> Option<OffsetEntry> {
        self.last
    }

    fn decode(&self, bytes: &[u8; 8]) -> OffsetEntry {
        let relative = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let position = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        OffsetEntry {
            offset: self.base_offset + i64::from(relative),
            position,
        }
    }

    /// Encodes an entry. The caller guarantees `offset - base_offset` fits a u32
    /// (segments roll before relative offsets pass `i32::MAX`).
    pub fn encode(base_offset: i64, entry: OffsetEntry) -> [u8; 8] {
        let relative = u32::try_from(entry.offset - base_offset)
            .expect("relative offsets are bounded by segment rolls");
        let mut bytes = [0; 8];
        bytes[..4].copy_from_slice(&relative.to_be_bytes());
        bytes[4..].copy_from_slice(&entry.position.to_be_bytes());
        bytes
    }

    pub fn entry(&self, index: u64) -> Result<OffsetEntry> {
        Ok(self.decode(&self.file.read(index)?))
    }

    pub fn append(&mut self, entry: OffsetEntry) -> Result<()> {
        debug_assert!(self.last.is_none_or(|last| last.offset < entry.offset));
        self.file.append(Self::encode(self.base_offset, entry))?;
        self.last = Some(entry);
        Ok(())
    }

    pub fn replace_all(&mut self, entries: &[OffsetEntry]) -> Result<()> {
        let bytes: Vec<u8> = entries
            .iter()
            .flat_map(|entry| Self::encode(self.base_offset, *entry))
            .collect();
        self.file.replace_all(&bytes)?;
        self.last = entries.last().copied();
        Ok(())
    }

    /// The entry with the largest offset at or below `target`: the batch at its
    /// position ends at or before `target`, so a scan for `target` starts there.
    pub fn lookup(&self, target: i64) -> Result<Option<OffsetEntry>> {
        match self.last {
            None => return Ok(None),
            // Reads at the log's tail need no I/O.
            Some(last) if last.offset <= target => return Ok(Some(last)),
            Some(_) => {}
        }
        let found = self
            .file
            .last_matching(|bytes| self.decode(bytes).offset <= target)?;
        found.map(|index| self.entry(index)).transpose()
    }

    /// Cheap checks before an index written by an earlier run is trusted: whole
    /// entries only, and a last entry that lies inside the segment. The entry
    /// itself is checked against the batch it points at by the caller.
    pub fn sanity_check(&self, log_size_bytes: u64) -> std::result::Result<(), String> {
        if self.file.has_partial_entry() {
            return Err("index ends with a partial entry".into());
        }
        if let Some(last) = self.last
            && u64::from(last.position) >= log_size_bytes
        {
            return Err(format!(
                "last entry position {} is past the segment's {log_size_bytes} bytes",
                last.position
            ));
        }
        if let Some(last) = self.last {
            let first = self.entry(0).map_err(|error| error.to_string())?;
            if first.offset > last.offset || first.position > last.position {
                return Err("first entry is after the last".into());
            }
        }
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync()
    }

    pub fn sync_handle(&self) -> Result<(File, PathBuf)> {
        self.file.sync_handle()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_floor_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = OffsetIndex::open(dir.path().join("a.index"), 100, false).unwrap();
        assert_eq!(index.lookup(500).unwrap(), None);
        for i in 0..100u32 {
            index
                .append(OffsetEntry {
                    offset: 100 + i64::from(i) * 10 + 9,
                    position: i * 1000,
                })
                .unwrap();
        }
        assert_eq!(index.lookup(100).unwrap(), None);
        assert_eq!(index.lookup(108).unwrap(), None);
        for target in 109..1200 {
            let found = index.lookup(target).unwrap().unwrap();
            let expected = (target - 109) / 10;
            assert_eq!(found.offset, 109 + expected.min(99) * 10, "target {target}");
        }
        let reopened = OffsetIndex::open(dir.path().join("a.index"), 100, false).unwrap();
        assert_eq!(reopened.entries(), 100);
        assert_eq!(reopened.last(), index.last());
        reopened.sanity_check(100_000).unwrap();
        assert!(reopened.sanity_check(99_000).is_err());
    }
}
