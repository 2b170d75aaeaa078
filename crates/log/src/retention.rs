//! Deleting old data: retention by time and size, and DeleteRecords.
//!
//! Only whole segments are deleted, oldest first, never the active one. The new
//! log start offset is persisted (checkpoint, fsynced) before any file is
//! removed, so a crash in between leaves segments that open then deletes,
//! never records served again after they were reported deleted.

use crate::error::{Error, Result};
use crate::log::PartitionLog;

/// What a retention pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// Whether the active segment was rolled because `segment.ms` passed.
    pub rolled: bool,
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes in those segments.
    pub bytes_deleted: u64,
    /// The log start offset after the pass.
    pub log_start_offset: i64,
    /// Idle producer ids forgotten (`producer.id.expiration.ms`).
    pub producers_expired: usize,
}

impl PartitionLog {
    /// One retention pass, run periodically by the broker
    /// (`log.retention.check.interval.ms`):
    /// - rolls the active segment if `segment.ms` has passed since its first
    ///   batch, so an idle partition's data can age out too;
    /// - deletes the oldest sealed segments whose largest timestamp is more than
    ///   `retention.ms` before `now_ms`;
    /// - then the oldest sealed segments while the log would still be at least
    ///   `retention.bytes` without them (Kafka's rule);
    /// - forgets producer ids idle for `producer.id.expiration.ms`.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<RetentionReport> {
        self.check_not_poisoned()?;
        let mut report = RetentionReport::default();
        if self.active().roll_time_reached(&self.config, now_ms) {
            self.roll()?;
            report.rolled = true;
        }
        let sealed = self.segments.len() - 1;
        let mut count = 0;
        if let Some(retention_ms) = self.config.retention_ms {
            while count < sealed
                && now_ms.saturating_sub(self.segments[count].largest_timestamp_ms()) > retention_ms
            {
                count += 1;
            }
        }
        if let Some(retention_bytes) = self.config.retention_bytes {
            let retention_bytes = retention_bytes as u64;
            let mut remaining: u64 = self.segments[count..]
                .iter()
                .map(|segment| segment.size_bytes())
                .sum();
            while count < sealed && remaining - self.segments[count].size_bytes() >= retention_bytes
            {
                remaining -= self.segments[count].size_bytes();
                count += 1;
            }
        }
        if count > 0 {
            let new_start = self.segments[count].base_offset();
            let (segments, bytes) = self.delete_segments(count, new_start)?;
            report.segments_deleted = segments;
            report.bytes_deleted = bytes;
        }
        report.producers_expired = self
            .producers
            .expire(now_ms, self.config.producer_id_expiration_ms);
        report.log_start_offset = self.log_start_offset;
        Ok(report)
    }

    /// DeleteRecords: makes `offset` the log start offset, so every record
    /// below it is out of range from now on, persists it, and deletes the
    /// segments wholly below it (never the active one). Returns the log start
    /// offset (Kafka's low watermark), unchanged if `offset` is not above it.
    /// An offset past the log end is [`Error::OffsetOutOfRange`]; the broker
    /// checks it against the high watermark first.
    pub fn delete_records_before(&mut self, offset: i64) -> Result<i64> {
        self.check_not_poisoned()?;
        let log_end_offset = self.log_end_offset();
        if offset > log_end_offset || offset < 0 {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        let sealed = self.segments.len() - 1;
        let count = (0..sealed)
            .take_while(|&index| self.segments[index + 1].base_offset() <= offset)
            .count();
        self.delete_segments(count, offset)?;
        Ok(self.log_start_offset)
    }

    /// Advances the log start to `new_start`, persists it, then deletes the
    /// first `count` segments. Returns how many segments and bytes went.
    fn delete_segments(&mut self, count: usize, new_start: i64) -> Result<(usize, u64)> {
        self.log_start_offset = self.log_start_offset.max(new_start);
        self.write_checkpoint()?;
        let mut bytes = 0;
        for segment in self.segments.drain(..count).collect::<Vec<_>>() {
            bytes += segment.size_bytes();
            self.dir_dirty = true;
            if let Err(error) = segment.delete() {
                return Err(self.poison(error));
            }
        }
        Ok((count, bytes))
    }
}
