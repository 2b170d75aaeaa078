//! Reads: fetches (whole batches from an offset) and the ListOffsets lookups.

use bytes::Bytes;
use fjord_records::BATCH_HEADER_LEN;

use crate::batch_header::BatchHeader;
use crate::error::{Error, ReadError, Result};
use crate::log::PartitionLog;

/// The batches a read returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches, concatenated as stored; empty if none qualified.
    pub records: Bytes,
    /// The offset after the last returned batch (the start offset if none).
    pub next_offset: i64,
    /// The log start offset at the time of the read.
    pub log_start_offset: i64,
    /// The log end offset at the time of the read.
    pub log_end_offset: i64,
}

impl PartitionLog {
    /// Reads whole batches for a fetch, starting with the batch that holds
    /// `start_offset` (which may begin before it, as in Kafka).
    ///
    /// Batches whose last offset is at or past `upper_offset` (exclusive; the
    /// high watermark) are not returned, nor is anything past the log end. At
    /// most `max_bytes` are returned, except that with `min_one_batch` (KIP-74:
    /// the first partition of a fetch) the first batch is returned whole even
    /// if it is larger. Reads may cross segment boundaries.
    ///
    /// `start_offset` below the log start or past the log end is
    /// [`ReadError::OffsetOutOfRange`]; at the log end (or at or past
    /// `upper_offset`) the result is empty.
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        upper_offset: i64,
        min_one_batch: bool,
    ) -> Result<ReadResult, ReadError> {
        let log_end_offset = self.log_end_offset();
        if start_offset < self.log_start_offset || start_offset > log_end_offset {
            return Err(ReadError::OffsetOutOfRange {
                offset: start_offset,
                log_start_offset: self.log_start_offset,
                log_end_offset,
            });
        }
        let upper_offset = upper_offset.min(log_end_offset);
        let mut out = Vec::new();
        let mut next_offset = start_offset;
        if start_offset < upper_offset {
            self.read_batches(
                &mut out,
                &mut next_offset,
                max_bytes,
                upper_offset,
                min_one_batch,
            )?;
        }
        Ok(ReadResult {
            records: Bytes::from(out),
            next_offset,
            log_start_offset: self.log_start_offset,
            log_end_offset,
        })
    }

    fn read_batches(
        &self,
        out: &mut Vec<u8>,
        next_offset: &mut i64,
        max_bytes: usize,
        upper_offset: i64,
        min_one_batch: bool,
    ) -> Result<()> {
        for segment in &self.segments[self.segment_index_for(*next_offset)..] {
            if segment.base_offset() >= upper_offset {
                break;
            }
            let Some((position, header)) = segment.locate(*next_offset)? else {
                continue;
            };
            if header.last_offset() >= upper_offset {
                break;
            }
            let first_size = segment.batch_size(&header, position)?;
            let budget = max_bytes.saturating_sub(out.len()) as u64;
            let chunk_bytes = if first_size > budget {
                if !(out.is_empty() && min_one_batch) {
                    break;
                }
                first_size
            } else {
                budget.min(segment.size_bytes() - position)
            };
            // One read for the whole chunk, then whole batches are kept from it.
            let chunk_start = out.len();
            out.resize(chunk_start + chunk_bytes as usize, 0);
            segment.read_exact_at(&mut out[chunk_start..], position)?;
            let mut kept = 0u64;
            let mut full = false;
            while kept < chunk_bytes {
                let rest = &out[chunk_start + kept as usize..];
                if rest.len() < BATCH_HEADER_LEN {
                    full = true;
                    break;
                }
                let header = BatchHeader::parse(rest);
                let batch_position = position + kept;
                let size = header
                    .check_shape(segment.size_bytes() - batch_position)
                    .map_err(|reason| Error::Corrupt {
                        path: segment.log_path().to_path_buf(),
                        position: batch_position,
                        reason,
                    })?;
                if size > rest.len() as u64 || header.last_offset() >= upper_offset {
                    full = true;
                    break;
                }
                kept += size;
                *next_offset = header.next_offset();
            }
            out.truncate(chunk_start + kept as usize);
            // Stop unless this segment was read to its end with room to spare.
            if full || position + kept < segment.size_bytes() || out.len() >= max_bytes {
                break;
            }
        }
        Ok(())
    }

    /// The earliest record at or after the log start whose timestamp is at or
    /// after `timestamp_ms`, as (offset, timestamp): ListOffsets by timestamp.
    /// The segment is chosen by its largest timestamp and the position by its
    /// time index; then batches, and the records of the first batch that can
    /// match, are read. The broker filters out answers at or past the high
    /// watermark, as Kafka does.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>> {
        for segment in &self.segments {
            if segment.next_offset() <= self.log_start_offset
                || segment.max_timestamp_ms() < timestamp_ms
            {
                continue;
            }
            if let Some(found) = segment.find_offset_by_timestamp(
                timestamp_ms,
                self.log_start_offset,
                self.config.decompression_limits,
            )? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (the first such record if several
    /// share it), as (offset, timestamp): ListOffsets MAX_TIMESTAMP (-3,
    /// KIP-734). `None` if no record has a timestamp.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>> {
        let mut best: Option<&crate::segment::Segment> = None;
        for segment in &self.segments {
            if segment.next_offset() <= self.log_start_offset || segment.max_timestamp_ms() < 0 {
                continue;
            }
            if best.is_none_or(|best| segment.max_timestamp_ms() > best.max_timestamp_ms()) {
                best = Some(segment);
            }
        }
        match best {
            Some(segment) => segment.max_timestamp_record(self.config.decompression_limits),
            None => Ok(None),
        }
    }
}
