//! In-place rewriting of the header fields a broker owns.
//!
//! When a leader appends a produced batch it assigns the base offset, stamps its
//! own leader epoch and, for topics with `message.timestamp.type=LogAppendTime`,
//! sets the max timestamp. The base offset and leader epoch lie before the
//! CRC-covered region (so that exactly this rewrite is cheap); the timestamp and
//! attributes do not, so changing them recomputes the CRC.

use std::iter::FusedIterator;

use crate::attributes::{Attributes, TimestampType};
use crate::error::{Error, Result};
use crate::layout;

/// A mutable view over the bytes of one magic v2 record batch.
#[derive(Debug)]
pub struct RecordBatchMut<'a> {
    bytes: &'a mut [u8],
    attributes: Attributes,
}

impl<'a> RecordBatchMut<'a> {
    /// Wraps `bytes`, which must hold exactly one batch; checks the header as
    /// [`RecordBatch::new`](crate::RecordBatch::new) does.
    pub fn new(bytes: &'a mut [u8]) -> Result<Self> {
        let attributes = layout::validate(bytes)?;
        Ok(RecordBatchMut { bytes, attributes })
    }

    /// The batch's bytes as they are now.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
    }

    /// The offset of the first record.
    pub fn base_offset(&self) -> i64 {
        layout::read_i64(self.bytes, layout::BASE_OFFSET)
    }

    /// The leader epoch stamped on the batch.
    pub fn partition_leader_epoch(&self) -> i32 {
        layout::read_i32(self.bytes, layout::PARTITION_LEADER_EPOCH)
    }

    /// The attributes as they are now.
    pub fn attributes(&self) -> Attributes {
        self.attributes
    }

    /// The offset of the last record, relative to the base offset.
    pub fn last_offset_delta(&self) -> i32 {
        layout::read_i32(self.bytes, layout::LAST_OFFSET_DELTA)
    }

    /// The max timestamp as it is now.
    pub fn max_timestamp(&self) -> i64 {
        layout::read_i64(self.bytes, layout::MAX_TIMESTAMP)
    }

    /// The stored CRC.
    pub fn crc(&self) -> u32 {
        layout::read_u32(self.bytes, layout::CRC)
    }

    /// Checks the stored CRC against the bytes it covers.
    pub fn verify_crc(&self) -> Result<()> {
        let stored = self.crc();
        let computed = layout::compute_crc(self.bytes);
        if stored == computed {
            Ok(())
        } else {
            Err(Error::CrcMismatch { stored, computed })
        }
    }

    /// Sets the base offset. It is not covered by the CRC, which stays valid.
    pub fn set_base_offset(&mut self, base_offset: i64) {
        layout::write_bytes(self.bytes, layout::BASE_OFFSET, &base_offset.to_be_bytes());
    }

    /// Sets the partition leader epoch. It is not covered by the CRC, which stays
    /// valid.
    pub fn set_partition_leader_epoch(&mut self, partition_leader_epoch: i32) {
        layout::write_bytes(
            self.bytes,
            layout::PARTITION_LEADER_EPOCH,
            &partition_leader_epoch.to_be_bytes(),
        );
    }

    /// Sets the timestamp type and max timestamp, as the broker does for
    /// LogAppendTime topics, and recomputes the CRC.
    ///
    /// The existing CRC is verified first and a mismatch is returned unchanged:
    /// recomputing over corrupt bytes would turn a detectable corruption into a
    /// batch that checks out. Nothing is written if the fields already hold
    /// these values.
    pub fn set_max_timestamp(
        &mut self,
        timestamp_type: TimestampType,
        max_timestamp_ms: i64,
    ) -> Result<()> {
        let attributes = self.attributes.with_timestamp_type(timestamp_type);
        if attributes == self.attributes && max_timestamp_ms == self.max_timestamp() {
            return Ok(());
        }
        self.verify_crc()?;
        layout::write_bytes(
            self.bytes,
            layout::ATTRIBUTES,
            &attributes.bits().to_be_bytes(),
        );
        layout::write_bytes(
            self.bytes,
            layout::MAX_TIMESTAMP,
            &max_timestamp_ms.to_be_bytes(),
        );
        self.attributes = attributes;
        let crc = layout::compute_crc(self.bytes);
        layout::write_bytes(self.bytes, layout::CRC, &crc.to_be_bytes());
        Ok(())
    }
}

/// An iterator over mutable views of the batches in a concatenation, such as a
/// Produce request's `records` field the broker is about to append.
///
/// Like [`RecordBatches`](crate::RecordBatches) it stops after the first error.
#[derive(Debug)]
pub struct RecordBatchesMut<'a> {
    remaining: &'a mut [u8],
    done: bool,
}

impl<'a> RecordBatchesMut<'a> {
    /// Iterates over the batches in `bytes`.
    pub fn new(bytes: &'a mut [u8]) -> Self {
        RecordBatchesMut {
            remaining: bytes,
            done: false,
        }
    }
}

impl<'a> Iterator for RecordBatchesMut<'a> {
    type Item = Result<RecordBatchMut<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.remaining.is_empty() {
            return None;
        }
        let batch = match layout::next_batch_len(self.remaining) {
            Ok(len) => {
                // Move the slice out so its halves can outlive this borrow of self.
                let remaining = std::mem::take(&mut self.remaining);
                let (batch, rest) = remaining.split_at_mut(len);
                self.remaining = rest;
                RecordBatchMut::new(batch)
            }
            Err(error) => Err(error),
        };
        if batch.is_err() {
            self.done = true;
        }
        Some(batch)
    }
}

impl FusedIterator for RecordBatchesMut<'_> {}
