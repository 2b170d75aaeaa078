//! One segment: a `.log` file of batches stored exactly as they arrived (with
//! the base offset and leader epoch the broker assigned), its offset and time
//! indexes, and what the log keeps in memory about it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use fjord_records::{BATCH_HEADER_LEN, RecordBatch};

use crate::batch_header::BatchHeader;
use crate::config::LogConfig;
use crate::error::{Error, Result, io_error};
use crate::files::{self, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::index::{OffsetEntry, OffsetIndex};
use crate::reader::{FileCursor, LOOKUP_CHUNK_BYTES};
use crate::time_index::{TimeEntry, TimeIndex};
use crate::txn_index::{AbortedTxn, TxnIndex};

mod lookup;
mod scan;

/// Kafka's "no timestamp".
pub(crate) const NO_TIMESTAMP: i64 = -1;

/// What the log tells a segment about a batch it appends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AppendedBatch {
    pub last_offset: i64,
    pub max_timestamp_ms: i64,
}

/// Where a recovery scan stopped short of the file's end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Truncation {
    /// The first byte removed.
    pub position: u64,
    /// The offset the removed batch should have started at.
    pub offset: i64,
    pub bytes: u64,
    pub reason: String,
}

/// What a recovery scan of one segment found.
#[derive(Clone, Debug, Default)]
pub(crate) struct ScanOutcome {
    pub batches: u64,
    pub bytes: u64,
    pub truncation: Option<Truncation>,
}

/// What the log knows about a segment's batches without reading them, kept
/// up to date by appends and rebuilt by recovery scans.
#[derive(Clone, Copy, Debug)]
struct Summary {
    next_offset: i64,
    max_timestamp_ms: i64,
    /// The last offset of the first batch that reached `max_timestamp_ms`.
    offset_of_max_timestamp: i64,
    /// The timestamp of the newest time index entry, written or pending.
    time_index_last_ms: i64,
    bytes_since_index_entry: u64,
}

impl Summary {
    fn empty(base_offset: i64) -> Self {
        Summary {
            next_offset: base_offset,
            max_timestamp_ms: NO_TIMESTAMP,
            offset_of_max_timestamp: -1,
            time_index_last_ms: NO_TIMESTAMP,
            bytes_since_index_entry: 0,
        }
    }

    /// Updates the summary for a batch at `position` and says which index
    /// entries it earns. Appends and recovery scans share this, so a rebuilt
    /// index is the one appends would have written. As in Kafka, a batch gets an
    /// offset index entry once more than `index.interval.bytes` were appended
    /// since the last entry, and a time index entry at the same moment if the
    /// largest timestamp grew.
    fn observe(
        &mut self,
        position: u64,
        size: u64,
        info: AppendedBatch,
        index_interval_bytes: u64,
    ) -> (Option<OffsetEntry>, Option<TimeEntry>) {
        if info.max_timestamp_ms > self.max_timestamp_ms {
            self.max_timestamp_ms = info.max_timestamp_ms;
            self.offset_of_max_timestamp = info.last_offset;
        }
        let mut entries = (None, None);
        if self.bytes_since_index_entry > index_interval_bytes {
            let position = u32::try_from(position).expect("segments stay below i32::MAX bytes");
            entries.0 = Some(OffsetEntry {
                offset: info.last_offset,
                position,
            });
            if self.max_timestamp_ms > self.time_index_last_ms {
                entries.1 = Some(TimeEntry {
                    timestamp_ms: self.max_timestamp_ms,
                    offset: self.offset_of_max_timestamp,
                });
                self.time_index_last_ms = self.max_timestamp_ms;
            }
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += size;
        self.next_offset = info.last_offset + 1;
        entries
    }
}

#[derive(Debug)]
pub(crate) struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    log: File,
    /// Bytes of whole, appended batches. Reads never go past it.
    size_bytes: u64,
    summary: Summary,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Aborted transactions whose ABORT marker is in this segment.
    txn_index: TxnIndex,
    /// When the segment's first batch arrived; `segment.ms` counts from here.
    roll_clock_ms: Option<i64>,
    /// Written since the last fsync of the `.log` file.
    log_dirty: bool,
    /// Written since the last fsync of the index files.
    indexes_dirty: bool,
}

impl Segment {
    /// Creates the files of a new, empty segment. The `.log` file must not exist:
    /// a leftover would hold data at offsets the log is about to reuse.
    pub fn create(dir: &Path, base_offset: i64) -> Result<Segment> {
        let log_path = files::offset_file_path(dir, base_offset, LOG_SUFFIX);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .map_err(io_error("create", &log_path))?;
        let (offset_index, time_index) = Self::open_indexes(dir, base_offset, true)?;
        // A leftover txnindex of a segment deleted at this base would describe
        // markers that are gone.
        let txn_index_path = files::offset_file_path(dir, base_offset, files::TXN_INDEX_SUFFIX);
        files::remove_if_exists(&txn_index_path)?;
        let txn_index = TxnIndex::open(dir, base_offset)?;
        Ok(Self::assemble(
            base_offset,
            log_path,
            log,
            0,
            offset_index,
            time_index,
            txn_index,
        ))
    }

    /// Opens an existing segment. Nothing about its batches is known until the
    /// caller either trusts its indexes ([`Self::load_trusted`]) or scans it
    /// ([`Self::recover`]). Returns whether both index files were present.
    pub fn open(dir: &Path, base_offset: i64) -> Result<(Segment, bool)> {
        let log_path = files::offset_file_path(dir, base_offset, LOG_SUFFIX);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io_error("open", &log_path))?;
        let size_bytes = log.metadata().map_err(io_error("stat", &log_path))?.len();
        let indexes_present = files::offset_file_path(dir, base_offset, INDEX_SUFFIX).exists()
            && files::offset_file_path(dir, base_offset, TIME_INDEX_SUFFIX).exists();
        let (offset_index, time_index) = Self::open_indexes(dir, base_offset, false)?;
        let txn_index = TxnIndex::open(dir, base_offset)?;
        let segment = Self::assemble(
            base_offset,
            log_path,
            log,
            size_bytes,
            offset_index,
            time_index,
            txn_index,
        );
        Ok((segment, indexes_present))
    }

    fn open_indexes(
        dir: &Path,
        base_offset: i64,
        truncate: bool,
    ) -> Result<(OffsetIndex, TimeIndex)> {
        let offset_index = OffsetIndex::open(
            files::offset_file_path(dir, base_offset, INDEX_SUFFIX),
            base_offset,
            truncate,
        )?;
        let time_index = TimeIndex::open(
            files::offset_file_path(dir, base_offset, TIME_INDEX_SUFFIX),
            base_offset,
            truncate,
        )?;
        Ok((offset_index, time_index))
    }

    fn assemble(
        base_offset: i64,
        log_path: PathBuf,
        log: File,
        size_bytes: u64,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
        txn_index: TxnIndex,
    ) -> Segment {
        let mut summary = Summary::empty(base_offset);
        summary.time_index_last_ms = time_index
            .last()
            .map_or(NO_TIMESTAMP, |entry| entry.timestamp_ms);
        Segment {
            base_offset,
            log_path,
            log,
            size_bytes,
            summary,
            offset_index,
            time_index,
            txn_index,
            roll_clock_ms: None,
            log_dirty: false,
            indexes_dirty: false,
        }
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn next_offset(&self) -> i64 {
        self.summary.next_offset
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    pub fn max_timestamp_ms(&self) -> i64 {
        self.summary.max_timestamp_ms
    }

    pub fn set_roll_clock(&mut self, roll_clock_ms: Option<i64>) {
        self.roll_clock_ms = roll_clock_ms;
    }

    /// The newest timestamp retention compares against `retention.ms`: the
    /// largest batch timestamp or, for a segment without any (producers sent
    /// -1), the file's modification time, as Kafka does.
    pub fn largest_timestamp_ms(&self) -> i64 {
        if self.summary.max_timestamp_ms >= 0 {
            return self.summary.max_timestamp_ms;
        }
        self.log
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.duration_since(UNIX_EPOCH).ok())
            .and_then(|age| i64::try_from(age.as_millis()).ok())
            .unwrap_or(NO_TIMESTAMP)
    }

    /// Whether `segment.ms` has passed since the first batch arrived.
    pub fn roll_time_reached(&self, config: &LogConfig, now_ms: i64) -> bool {
        !self.is_empty()
            && self
                .roll_clock_ms
                .is_some_and(|clock_ms| now_ms.saturating_sub(clock_ms) > config.segment_ms)
    }

    /// Whether a batch of `batch_bytes` ending at `last_offset` must go to a new
    /// segment. An empty segment takes any batch, so this never rolls twice.
    pub fn should_roll(
        &self,
        config: &LogConfig,
        batch_bytes: u64,
        last_offset: i64,
        now_ms: i64,
    ) -> bool {
        if self.is_empty() {
            return false;
        }
        self.size_bytes + batch_bytes > config.segment_bytes
            || self.roll_time_reached(config, now_ms)
            || self.offset_index.entries() >= config.offset_index_entries_max()
            || self.time_index.entries() >= config.time_index_entries_max()
            // Index entries store offsets relative to the base as 32 bits.
            || last_offset - self.base_offset > i64::from(i32::MAX)
    }

    /// Appends one batch whose offsets were assigned by the log. A plain write
    /// to the page cache; [`Self::sync_log`] makes it durable.
    pub fn append(
        &mut self,
        batch: &[u8],
        info: AppendedBatch,
        index_interval_bytes: u64,
        now_ms: i64,
    ) -> Result<()> {
        let position = self.size_bytes;
        self.log_dirty = true;
        self.log
            .write_all_at(batch, position)
            .map_err(io_error("write", &self.log_path))?;
        let (offset_entry, time_entry) =
            self.summary
                .observe(position, batch.len() as u64, info, index_interval_bytes);
        self.size_bytes += batch.len() as u64;
        if self.roll_clock_ms.is_none() {
            self.roll_clock_ms = Some(now_ms);
        }
        if let Some(entry) = offset_entry {
            self.indexes_dirty = true;
            self.offset_index.append(entry)?;
        }
        if let Some(entry) = time_entry {
            self.indexes_dirty = true;
            self.time_index.append(entry)?;
        }
        Ok(())
    }

    /// Writes the final time index entry, so that the index's last entry is the
    /// segment's largest timestamp. Called when the segment stops being active
    /// and at close.
    pub fn seal(&mut self) -> Result<()> {
        let summary = &mut self.summary;
        if summary.max_timestamp_ms > summary.time_index_last_ms {
            self.indexes_dirty = true;
            self.time_index.append(TimeEntry {
                timestamp_ms: summary.max_timestamp_ms,
                offset: summary.offset_of_max_timestamp,
            })?;
            summary.time_index_last_ms = summary.max_timestamp_ms;
        }
        Ok(())
    }

    /// fsyncs the `.log` file and the txnindex if they have unsynced writes.
    pub fn sync_log(&mut self) -> Result<()> {
        if self.log_dirty {
            self.log
                .sync_data()
                .map_err(io_error("fsync", &self.log_path))?;
            self.log_dirty = false;
        }
        self.txn_index.sync()
    }

    /// fsyncs the txnindex if it has unsynced entries.
    pub fn sync_txn_index(&mut self) -> Result<()> {
        self.txn_index.sync()
    }

    /// The aborted transactions whose marker is in this segment.
    pub fn aborted_txns(&self) -> &[AbortedTxn] {
        self.txn_index.entries()
    }

    /// Records an aborted transaction whose marker was just appended here.
    pub fn append_aborted_txn(&mut self, entry: AbortedTxn) -> Result<()> {
        self.txn_index.append(entry)
    }

    /// Replaces the aborted transactions (recovery), durably.
    pub fn rewrite_aborted_txns(&mut self, entries: Vec<AbortedTxn>) -> Result<()> {
        self.txn_index.rewrite(entries)
    }

    /// fsyncs the index files if they have unsynced writes.
    pub fn sync_indexes(&mut self) -> Result<()> {
        if self.indexes_dirty {
            self.offset_index.sync()?;
            self.time_index.sync()?;
            self.indexes_dirty = false;
        }
        Ok(())
    }

    /// Handles that fsync this segment's files with unsynced writes (the
    /// indexes only if `include_indexes`) without borrowing the log, for
    /// flushes that run outside the broker's lock. Clears the dirty flags: the
    /// caller poisons the log if an fsync then fails.
    pub fn take_sync_handles(&mut self, include_indexes: bool) -> Result<Vec<(File, PathBuf)>> {
        let mut handles = Vec::new();
        if self.log_dirty {
            let handle = self
                .log
                .try_clone()
                .map_err(io_error("dup", &self.log_path))?;
            handles.push((handle, self.log_path.clone()));
            self.log_dirty = false;
        }
        // The txnindex goes with the `.log`, active segment included: an
        // acknowledged ABORT marker has its entry on disk.
        handles.extend(self.txn_index.take_sync_handle()?);
        if include_indexes && self.indexes_dirty {
            handles.push(self.offset_index.sync_handle()?);
            handles.push(self.time_index.sync_handle()?);
            self.indexes_dirty = false;
        }
        Ok(handles)
    }

    /// Removes the segment's files.
    pub fn delete(self) -> Result<()> {
        files::remove_if_exists(self.offset_index.path())?;
        files::remove_if_exists(self.time_index.path())?;
        files::remove_if_exists(self.txn_index.path())?;
        files::remove_if_exists(&self.log_path)
    }

    fn corrupt(&self, position: u64, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            path: self.log_path.clone(),
            position,
            reason: reason.into(),
        }
    }

    /// The header of the segment's first batch, if it has one.
    pub fn first_batch_header(&self) -> Result<Option<BatchHeader>> {
        FileCursor::new(&self.log, self.size_bytes, BATCH_HEADER_LEN)
            .header(0)
            .map_err(io_error("read", &self.log_path))
    }

    /// The position and header of the first batch whose last offset is at or
    /// after `offset`, or `None` if every batch ends before it.
    pub fn locate(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>> {
        let mut cursor = FileCursor::new(&self.log, self.size_bytes, LOOKUP_CHUNK_BYTES);
        let mut position = 0;
        if let Some(entry) = self.offset_index.lookup(offset)? {
            position = u64::from(entry.position);
            let header = self.header_at(&mut cursor, position)?;
            // A cheap guard against a stale index: serving from a wrong position
            // would silently skip or repeat data.
            if header.last_offset() != entry.offset {
                return Err(Error::Corrupt {
                    path: self.offset_index.path().to_path_buf(),
                    position,
                    reason: format!(
                        "index entry for offset {} points at a batch ending at {}",
                        entry.offset,
                        header.last_offset()
                    ),
                });
            }
        }
        while position < self.size_bytes {
            let header = self.header_at(&mut cursor, position)?;
            if header.last_offset() >= offset {
                return Ok(Some((position, header)));
            }
            position += self.batch_size(&header, position)?;
        }
        Ok(None)
    }

    /// The header at `position`, which must start a batch below the end.
    pub fn header_at(&self, cursor: &mut FileCursor<'_>, position: u64) -> Result<BatchHeader> {
        match cursor
            .header(position)
            .map_err(io_error("read", &self.log_path))?
        {
            Some(header) => Ok(header),
            None => Err(self.corrupt(position, "batch header runs past the segment end")),
        }
    }

    /// The size of the batch `header` starts, checked against the segment end.
    pub fn batch_size(&self, header: &BatchHeader, position: u64) -> Result<u64> {
        header
            .check_shape(self.size_bytes - position)
            .map_err(|reason| self.corrupt(position, reason))
    }

    /// A cursor for walking this segment's batches.
    pub fn cursor(&self, chunk_bytes: usize) -> FileCursor<'_> {
        FileCursor::new(&self.log, self.size_bytes, chunk_bytes)
    }

    /// Reads `buf.len()` bytes at `position`; the caller keeps them below the
    /// segment's size.
    pub fn read_exact_at(&self, buf: &mut [u8], position: u64) -> Result<()> {
        debug_assert!(position + buf.len() as u64 <= self.size_bytes);
        self.log
            .read_exact_at(buf, position)
            .map_err(io_error("read", &self.log_path))
    }

    /// The whole batch at `position`, checked.
    pub fn batch_at(&self, position: u64, header: &BatchHeader) -> Result<RecordBatch> {
        let size = self.batch_size(header, position)?;
        let mut bytes = vec![0; size as usize];
        self.read_exact_at(&mut bytes, position)?;
        let batch = RecordBatch::new(Bytes::from(bytes))
            .map_err(|error| self.corrupt(position, error.to_string()))?;
        batch
            .verify_crc()
            .map_err(|error| self.corrupt(position, error.to_string()))?;
        Ok(batch)
    }
}
