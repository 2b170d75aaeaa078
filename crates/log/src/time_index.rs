//! The sparse time index of a segment (`.timeindex`).
//!
//! An entry (big-endian i64 timestamp, big-endian u32 offset relative to the
//! segment's base offset; Kafka's layout) says: the largest timestamp among the
//! segment's batches up to some point is `timestamp`, first reached by the
//! batch whose last offset is `offset`. Entries are added at the same interval
//! as offset index entries, only when the largest timestamp grew, and once more
//! when the segment is sealed, so timestamps and offsets both strictly increase
//! and a sealed segment's last entry is its largest timestamp.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::index::IndexFile;

/// One time index entry, with the offset made absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp_ms: i64,
    /// The last offset of the batch that first reached `timestamp_ms`.
    pub offset: i64,
}

#[derive(Debug)]
pub(crate) struct TimeIndex {
    file: IndexFile<12>,
    base_offset: i64,
    last: Option<TimeEntry>,
}

impl TimeIndex {
    pub fn open(path: PathBuf, base_offset: i64, truncate: bool) -> Result<Self> {
        let file = IndexFile::open(path, truncate)?;
        let mut index = TimeIndex {
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

    pub fn last(&self) -> Option<TimeEntry> {
        self.last
    }

    fn decode(&self, bytes: &[u8; 12]) -> TimeEntry {
        let mut timestamp = [0; 8];
        timestamp.copy_from_slice(&bytes[..8]);
        let relative = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        TimeEntry {
            timestamp_ms: i64::from_be_bytes(timestamp),
            offset: self.base_offset + i64::from(relative),
        }
    }

    fn encode(base_offset: i64, entry: TimeEntry) -> [u8; 12] {
        let relative = u32::try_from(entry.offset - base_offset)
            .expect("relative offsets are bounded by segment rolls");
        let mut bytes = [0; 12];
        bytes[..8].copy_from_slice(&entry.timestamp_ms.to_be_bytes());
        bytes[8..].copy_from_slice(&relative.to_be_bytes());
        bytes
    }

    pub fn entry(&self, index: u64) -> Result<TimeEntry> {
        Ok(self.decode(&self.file.read(index)?))
    }

    pub fn append(&mut self, entry: TimeEntry) -> Result<()> {
        debug_assert!(self.last.is_none_or(
            |last| last.timestamp_ms < entry.timestamp_ms && last.offset < entry.offset
        ));
        self.file.append(Self::encode(self.base_offset, entry))?;
        self.last = Some(entry);
        Ok(())
    }

    pub fn replace_all(&mut self, entries: &[TimeEntry]) -> Result<()> {
        let bytes: Vec<u8> = entries
            .iter()
            .flat_map(|entry| Self::encode(self.base_offset, *entry))
            .collect();
        self.file.replace_all(&bytes)?;
        self.last = entries.last().copied();
        Ok(())
    }

    /// The entry with the largest timestamp strictly below `target_ms`. Every
    /// batch up to and including that entry's batch has only smaller
    /// timestamps, so a search for the first timestamp at or after `target_ms`
    /// may start from the entry's batch.
    pub fn lookup_before(&self, target_ms: i64) -> Result<Option<TimeEntry>> {
        match self.last {
            None => return Ok(None),
            Some(last) if last.timestamp_ms < target_ms => return Ok(Some(last)),
            Some(_) => {}
        }
        let found = self
            .file
            .last_matching(|bytes| self.decode(bytes).timestamp_ms < target_ms)?;
        found.map(|index| self.entry(index)).transpose()
    }

    /// Cheap checks before a time index written by an earlier run is trusted.
    pub fn sanity_check(&self, next_offset: i64) -> std::result::Result<(), String> {
        if self.file.has_partial_entry() {
            return Err("time index ends with a partial entry".into());
        }
        if let Some(last) = self.last {
            if last.offset >= next_offset {
                return Err(format!(
                    "last entry offset {} is past the segment's end {next_offset}",
                    last.offset
                ));
            }
            let first = self.entry(0).map_err(|error| error.to_string())?;
            if first.offset > last.offset || first.timestamp_ms > last.timestamp_ms {
                return Err("first entry is after the last".into());
            }
        }
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync()
    }

    pub fn sync_handle(&self) -> Result<(std::fs::File, PathBuf)> {
        self.file.sync_handle()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lookup_before_is_strict() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = TimeIndex::open(dir.path().join("a.timeindex"), 50, false).unwrap();
        for i in 0..20 {
            index
                .append(TimeEntry {
                    timestamp_ms: 1000 + i * 100,
                    offset: 50 + i * 3,
                })
                .unwrap();
        }
        assert_eq!(index.lookup_before(1000).unwrap(), None);
        assert_eq!(index.lookup_before(1001).unwrap().unwrap().offset, 50);
        assert_eq!(index.lookup_before(1100).unwrap().unwrap().offset, 50);
        assert_eq!(index.lookup_before(1101).unwrap().unwrap().offset, 53);
        assert_eq!(
            index.lookup_before(i64::MAX).unwrap().unwrap().offset,
            50 + 19 * 3
        );
        index.sanity_check(50 + 19 * 3 + 1).unwrap();
        assert!(index.sanity_check(50 + 19 * 3).is_err());
    }
}
