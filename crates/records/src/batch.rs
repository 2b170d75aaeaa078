//! Read-only views over record batches.

use std::iter::FusedIterator;

use bytes::Bytes;

use crate::attributes::Attributes;
use crate::compression::{self, Compression, DecompressionLimits};
use crate::error::{Error, Result};
use crate::layout::{self, BATCH_HEADER_LEN};
use crate::record::Records;

/// A validated view over the bytes of one magic v2 record batch.
///
/// Construction checks the header's shape (size, batchLength, magic, codec) but
/// not the CRC, because a broker wants to decide when to pay for that:
/// call [`verify_crc`](Self::verify_crc). Cloning shares the underlying bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBatch {
    bytes: Bytes,
    attributes: Attributes,
}

impl RecordBatch {
    /// Wraps `bytes`, which must hold exactly one batch.
    pub fn new(bytes: Bytes) -> Result<Self> {
        let attributes = layout::validate(&bytes)?;
        Ok(RecordBatch { bytes, attributes })
    }

    /// The whole batch, header included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Unwraps the batch's bytes.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The batch's size in bytes (batchLength plus the 12 bytes before it).
    pub fn size_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The offset of the first record.
    pub fn base_offset(&self) -> i64 {
        layout::read_i64(&self.bytes, layout::BASE_OFFSET)
    }

    /// The batchLength field: the size of everything after it.
    pub fn batch_length(&self) -> i32 {
        layout::read_i32(&self.bytes, layout::BATCH_LENGTH)
    }

    /// The leader epoch of the partition leader that appended the batch.
    pub fn partition_leader_epoch(&self) -> i32 {
        layout::read_i32(&self.bytes, layout::PARTITION_LEADER_EPOCH)
    }

    /// The format version; always 2 for a constructed view.
    pub fn magic(&self) -> i8 {
        layout::read_i8(&self.bytes, layout::MAGIC_OFFSET)
    }

    /// The stored CRC.
    pub fn crc(&self) -> u32 {
        layout::read_u32(&self.bytes, layout::CRC)
    }

    /// The attributes: codec, timestamp type, transactional and control flags.
    pub fn attributes(&self) -> Attributes {
        self.attributes
    }

    /// The codec of the records section.
    pub fn compression(&self) -> Compression {
        self.attributes.compression()
    }

    /// The offset of the last record, relative to the base offset.
    pub fn last_offset_delta(&self) -> i32 {
        layout::read_i32(&self.bytes, layout::LAST_OFFSET_DELTA)
    }

    /// The timestamp the records' deltas are relative to.
    pub fn base_timestamp(&self) -> i64 {
        layout::read_i64(&self.bytes, layout::BASE_TIMESTAMP)
    }

    /// The largest record timestamp, or the append time for LogAppendTime.
    pub fn max_timestamp(&self) -> i64 {
        layout::read_i64(&self.bytes, layout::MAX_TIMESTAMP)
    }

    /// The idempotent/transactional producer's id, or -1.
    pub fn producer_id(&self) -> i64 {
        layout::read_i64(&self.bytes, layout::PRODUCER_ID)
    }

    /// The producer's epoch, or -1.
    pub fn producer_epoch(&self) -> i16 {
        layout::read_i16(&self.bytes, layout::PRODUCER_EPOCH)
    }

    /// The sequence number of the first record, or -1.
    pub fn base_sequence(&self) -> i32 {
        layout::read_i32(&self.bytes, layout::BASE_SEQUENCE)
    }

    /// The recordsCount field, as claimed; iteration checks it.
    pub fn record_count(&self) -> i32 {
        layout::read_i32(&self.bytes, layout::RECORDS_COUNT)
    }

    /// The offset of the last record. Wraps rather than panics on a hostile
    /// base offset near `i64::MAX`; callers validating offsets see the wrap.
    pub fn last_offset(&self) -> i64 {
        self.base_offset()
            .wrapping_add(i64::from(self.last_offset_delta()))
    }

    /// The offset after the last record: where the next batch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// CRC-32C of the bytes the crc field covers (attributes to the end).
    pub fn computed_crc(&self) -> u32 {
        layout::compute_crc(&self.bytes)
    }

    /// Checks the stored CRC against the bytes it covers.
    pub fn verify_crc(&self) -> Result<()> {
        let stored = self.crc();
        let computed = self.computed_crc();
        if stored == computed {
            Ok(())
        } else {
            Err(Error::CrcMismatch { stored, computed })
        }
    }

    /// The records section as stored (compressed if the batch is).
    pub fn records_bytes(&self) -> Bytes {
        self.bytes.slice(BATCH_HEADER_LEN..)
    }

    /// Iterates over the batch's records, checking them as it goes.
    ///
    /// An uncompressed batch yields slices of its own bytes. A compressed one is
    /// decompressed once, here, within `limits`; if that fails the iterator yields
    /// that error and nothing else.
    pub fn records(&self, limits: DecompressionLimits) -> Records {
        let records_count = self.record_count();
        if records_count < 0 {
            // Not worth decompressing anything for a batch that is already invalid.
            return Records::failed(Error::InvalidRecordCount {
                count: records_count,
            });
        }
        let section = self.records_bytes();
        match self.compression() {
            Compression::None => Records::new(section, records_count),
            codec => match compression::decompress(codec, &section, limits) {
                Ok(decompressed) => Records::new(Bytes::from(decompressed), records_count),
                Err(error) => Records::failed(error),
            },
        }
    }
}

/// An iterator over the batches in a concatenation of batches, such as a Produce
/// request's `records` field, a fetch response's records or a log segment.
///
/// After the first error it stops, because the position of the batch after a
/// malformed one cannot be known. A partial trailing batch, which fetch responses
/// may legitimately end with, is reported as [`Error::Truncated`].
#[derive(Clone, Debug)]
pub struct RecordBatches {
    remaining: Bytes,
    position: usize,
    done: bool,
}

impl RecordBatches {
    /// Iterates over the batches in `bytes`.
    pub fn new(bytes: Bytes) -> Self {
        RecordBatches {
            remaining: bytes,
            position: 0,
            done: false,
        }
    }

    /// How far into the input the next batch starts; after iteration ends
    /// without error, the input's length.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.remaining.is_empty() {
            return None;
        }
        let batch = layout::next_batch_len(&self.remaining)
            .and_then(|len| RecordBatch::new(self.remaining.split_to(len)));
        match &batch {
            Ok(batch) => self.position += batch.size_bytes(),
            Err(_) => self.done = true,
        }
        Some(batch)
    }
}

impl FusedIterator for RecordBatches {}
