//! Reading back a segment written by an earlier run: the full recovery scan,
//! and the cheaper takeover of a segment whose indexes can be trusted.

use fjord_records::BATCH_HEADER_LEN;

use super::{AppendedBatch, ScanOutcome, Segment, Summary, Truncation};
use crate::batch_header::{BatchHeader, CRC_START};
use crate::error::{Result, io_error};
use crate::reader::{FileCursor, SCAN_CHUNK_BYTES};

impl Segment {
    /// Reads, checks and rebuilds the indexes of a segment written by an earlier
    /// run, and truncates the file at the first batch that fails a check: a
    /// partial header or batch (a torn write), bad magic or length, a CRC
    /// mismatch, or a base offset other than the one expected (offsets are
    /// dense; compaction will have to relax this to "increasing").
    pub fn recover(&mut self, index_interval_bytes: u64) -> Result<ScanOutcome> {
        let file_len = self.size_bytes;
        let base_offset = self.base_offset;
        let summary = &mut self.summary;
        *summary = Summary::empty(base_offset);
        let mut offset_entries = Vec::new();
        let mut time_entries = Vec::new();
        let mut outcome = ScanOutcome::default();
        let mut position = 0;
        let mut failure = None;
        {
            let log = &self.log;
            let mut cursor = FileCursor::new(log, file_len, SCAN_CHUNK_BYTES);
            while position < file_len {
                let header = match cursor
                    .header(position)
                    .map_err(io_error("read", &self.log_path))?
                {
                    Some(header) => header,
                    None => {
                        failure = Some("partial batch header".to_string());
                        break;
                    }
                };
                let size = match check_recovered_header(
                    &header,
                    base_offset,
                    summary.next_offset,
                    position,
                    file_len,
                ) {
                    Ok(size) => size,
                    Err(reason) => {
                        failure = Some(reason);
                        break;
                    }
                };
                let crc = cursor
                    .crc32c(position + CRC_START as u64, size - CRC_START as u64)
                    .map_err(io_error("read", &self.log_path))?
                    .expect("check_shape bounded the batch by the file length");
                if let Err(reason) = header.check_crc(crc) {
                    failure = Some(reason);
                    break;
                }
                let info = AppendedBatch {
                    last_offset: header.last_offset(),
                    max_timestamp_ms: header.max_timestamp,
                };
                let (offset_entry, time_entry) =
                    summary.observe(position, size, info, index_interval_bytes);
                offset_entries.extend(offset_entry);
                time_entries.extend(time_entry);
                position += size;
                outcome.batches += 1;
            }
        }
        outcome.bytes = position;
        if let Some(reason) = failure {
            self.log
                .set_len(position)
                .map_err(io_error("truncate", &self.log_path))?;
            outcome.truncation = Some(Truncation {
                position,
                offset: self.summary.next_offset,
                bytes: file_len - position,
                reason,
            });
        }
        self.size_bytes = position;
        self.offset_index.replace_all(&offset_entries)?;
        self.time_index.replace_all(&time_entries)?;
        // What was scanned may exist only in the page cache of the run that
        // wrote it; the next flush must fsync it before calling it durable.
        self.log_dirty = true;
        self.indexes_dirty = true;
        Ok(outcome)
    }

    /// Takes over what an earlier run left without reading every batch: the
    /// indexes, if they pass cheap checks, and the batches after the last
    /// offset index entry, which are read and checked in full. `next_offset` is
    /// the next segment's base offset, or `None` for the last segment.
    /// Returns why the segment cannot be trusted, if it cannot.
    pub fn load_trusted(
        &mut self,
        next_offset: Option<i64>,
    ) -> Result<std::result::Result<(), String>> {
        if let Err(reason) = self.offset_index.sanity_check(self.size_bytes) {
            return Ok(Err(reason));
        }
        let mut position = 0;
        if let Some(last) = self.offset_index.last() {
            position = u64::from(last.position);
            let header = FileCursor::new(&self.log, self.size_bytes, BATCH_HEADER_LEN)
                .header(position)
                .map_err(io_error("read", &self.log_path))?;
            match header {
                Some(header) if header.last_offset() == last.offset => {}
                _ => {
                    return Ok(Err(
                        "last offset index entry does not match its batch".into()
                    ));
                }
            }
        }
        self.summary = Summary::empty(self.base_offset);
        if let Some(last) = self.time_index.last() {
            self.summary.max_timestamp_ms = last.timestamp_ms;
            self.summary.offset_of_max_timestamp = last.offset;
            self.summary.time_index_last_ms = last.timestamp_ms;
        }
        match next_offset {
            Some(next_offset) => self.summary.next_offset = next_offset,
            None => {
                // Walk (and check) the tail after the last entry to find the end.
                let mut cursor = FileCursor::new(&self.log, self.size_bytes, SCAN_CHUNK_BYTES);
                let mut expected = None;
                while position < self.size_bytes {
                    let Some(header) = cursor
                        .header(position)
                        .map_err(io_error("read", &self.log_path))?
                    else {
                        return Ok(Err("partial batch header".into()));
                    };
                    let size = match header.check_shape(self.size_bytes - position) {
                        Ok(size) => size,
                        Err(reason) => return Ok(Err(reason)),
                    };
                    if expected.is_some_and(|expected| expected != header.base_offset)
                        || (position == 0 && header.base_offset != self.base_offset)
                    {
                        return Ok(Err("offsets are not contiguous".into()));
                    }
                    let crc = cursor
                        .crc32c(position + CRC_START as u64, size - CRC_START as u64)
                        .map_err(io_error("read", &self.log_path))?
                        .expect("check_shape bounded the batch by the file length");
                    if let Err(reason) = header.check_crc(crc) {
                        return Ok(Err(reason));
                    }
                    if header.max_timestamp > self.summary.max_timestamp_ms {
                        self.summary.max_timestamp_ms = header.max_timestamp;
                        self.summary.offset_of_max_timestamp = header.last_offset();
                    }
                    expected = Some(header.next_offset());
                    position += size;
                }
                self.summary.next_offset = expected.unwrap_or(self.base_offset);
            }
        }
        if self.summary.next_offset < self.base_offset {
            return Ok(Err("segment ends before it starts".into()));
        }
        if let Err(reason) = self.time_index.sanity_check(self.summary.next_offset) {
            return Ok(Err(reason));
        }
        Ok(Ok(()))
    }
}

/// The checks recovery makes of a header beyond its shape: dense offsets,
/// offsets and positions an index can express. Returns the batch's size.
fn check_recovered_header(
    header: &BatchHeader,
    base_offset: i64,
    next_offset: i64,
    position: u64,
    file_len: u64,
) -> std::result::Result<u64, String> {
    let size = header.check_shape(file_len - position)?;
    if header.base_offset != next_offset {
        return Err(format!(
            "base offset {} where {next_offset} was expected",
            header.base_offset
        ));
    }
    if header.last_offset() - base_offset > i64::from(i32::MAX) {
        return Err("offset too far from the segment's base offset".into());
    }
    if position > u64::from(u32::MAX) {
        return Err("segment larger than an index can address".into());
    }
    Ok(size)
}
