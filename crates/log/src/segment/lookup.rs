//! Timestamp lookups within a segment, for ListOffsets.

use fjord_records::{DecompressionLimits, RecordBatch};

use super::Segment;
use crate::error::Result;
use crate::reader::LOOKUP_CHUNK_BYTES;

impl Segment {
    /// The first record at or after `log_start_offset` whose timestamp is at
    /// least `target_ms`, as (offset, timestamp).
    pub fn find_offset_by_timestamp(
        &self,
        target_ms: i64,
        log_start_offset: i64,
        limits: DecompressionLimits,
    ) -> Result<Option<(i64, i64)>> {
        let from = self
            .time_index
            .lookup_before(target_ms)?
            .map_or(self.base_offset, |entry| entry.offset)
            .max(log_start_offset);
        let Some((mut position, _)) = self.locate(from)? else {
            return Ok(None);
        };
        let mut cursor = self.cursor(LOOKUP_CHUNK_BYTES);
        while position < self.size_bytes {
            let header = self.header_at(&mut cursor, position)?;
            let size = self.batch_size(&header, position)?;
            if header.max_timestamp >= target_ms {
                let batch = self.batch_at(position, &header)?;
                if let Some(found) = first_record(&batch, limits, |offset, timestamp| {
                    offset >= log_start_offset && timestamp >= target_ms
                })
                .map_err(|reason| self.corrupt(position, reason))?
                {
                    return Ok(Some(found));
                }
            }
            position += size;
        }
        Ok(None)
    }

    /// The first record holding the segment's largest timestamp, as (offset,
    /// timestamp), for ListOffsets MAX_TIMESTAMP.
    pub fn max_timestamp_record(&self, limits: DecompressionLimits) -> Result<Option<(i64, i64)>> {
        let max = self.summary.max_timestamp_ms;
        if max < 0 {
            return Ok(None);
        }
        let Some((position, header)) = self.locate(self.summary.offset_of_max_timestamp)? else {
            return Ok(None);
        };
        let batch = self.batch_at(position, &header)?;
        let found = first_record(&batch, limits, |_, timestamp| timestamp == max)
            .map_err(|reason| self.corrupt(position, reason))?;
        // The header promised this timestamp; fall back to it if the records
        // disagree rather than report nothing.
        Ok(Some(found.unwrap_or((header.last_offset(), max))))
    }
}

/// The first record of `batch` matching `wanted(offset, timestamp)`.
fn first_record(
    batch: &RecordBatch,
    limits: DecompressionLimits,
    wanted: impl Fn(i64, i64) -> bool,
) -> std::result::Result<Option<(i64, i64)>, String> {
    for record in batch.records(limits) {
        let record = record.map_err(|error| error.to_string())?;
        let (offset, timestamp) = (record.offset(batch), record.timestamp(batch));
        if wanted(offset, timestamp) {
            return Ok(Some((offset, timestamp)));
        }
    }
    Ok(None)
}
