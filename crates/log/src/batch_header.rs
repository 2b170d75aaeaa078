//! The 61-byte record batch header, read from segment files without touching
//! the records.
//!
//! Recovery, index lookups and the producer state rebuild walk a segment batch
//! by batch and need only these fields, so they read headers rather than whole
//! batches. The layout is Kafka's (see `fjord_records`' layout module):
//! baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32,
//! attributes i16, lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64,
//! producerId i64, producerEpoch i16, baseSequence i32, recordsCount i32.

use fjord_records::{BATCH_HEADER_LEN, MAGIC};

/// batchLength counts the bytes after itself; these are the bytes before it.
pub(crate) const LOG_OVERHEAD: u64 = 12;
/// The first byte the CRC covers (the attributes).
pub(crate) const CRC_START: usize = 21;

const CONTROL_FLAG: i16 = 0x20;
const TRANSACTIONAL_FLAG: i16 = 0x10;

/// The fixed fields of a batch, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

fn be<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

impl BatchHeader {
    /// Reads the header fields from the first [`BATCH_HEADER_LEN`] bytes.
    /// Panics if `bytes` is shorter: callers read exactly that many first.
    pub fn parse(bytes: &[u8]) -> Self {
        assert!(
            bytes.len() >= BATCH_HEADER_LEN,
            "batch header needs 61 bytes"
        );
        BatchHeader {
            base_offset: i64::from_be_bytes(be(bytes, 0)),
            batch_length: i32::from_be_bytes(be(bytes, 8)),
            magic: i8::from_be_bytes(be(bytes, 16)),
            crc: u32::from_be_bytes(be(bytes, 17)),
            attributes: i16::from_be_bytes(be(bytes, 21)),
            last_offset_delta: i32::from_be_bytes(be(bytes, 23)),
            max_timestamp: i64::from_be_bytes(be(bytes, 35)),
            producer_id: i64::from_be_bytes(be(bytes, 43)),
            producer_epoch: i16::from_be_bytes(be(bytes, 51)),
            base_sequence: i32::from_be_bytes(be(bytes, 53)),
        }
    }

    /// The whole batch's size in bytes, if batchLength is large enough to hold
    /// a header.
    pub fn size_bytes(&self) -> Option<u64> {
        let size = u64::try_from(self.batch_length).ok()? + LOG_OVERHEAD;
        (size >= BATCH_HEADER_LEN as u64).then_some(size)
    }

    /// The offset of the last record. Wraps on hostile values; shape checks
    /// reject a negative delta first.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset after the last record.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// Whether the batch holds control records (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// Whether the batch belongs to a transaction (data or marker).
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    /// Checks what can be checked without the batch's body: magic, a plausible
    /// length that fits in the `available` bytes from the batch's start, and a
    /// non-negative lastOffsetDelta. Returns the batch's size.
    pub fn check_shape(&self, available: u64) -> Result<u64, String> {
        if self.magic != MAGIC {
            return Err(format!("magic {} is not {MAGIC}", self.magic));
        }
        let size = self
            .size_bytes()
            .ok_or_else(|| format!("batchLength {} is too small", self.batch_length))?;
        if size > available {
            return Err(format!(
                "batch of {size} bytes runs past the {available} bytes left in the segment"
            ));
        }
        if self.last_offset_delta < 0 {
            return Err(format!(
                "negative lastOffsetDelta {}",
                self.last_offset_delta
            ));
        }
        Ok(size)
    }

    /// Checks the stored CRC against `computed`, the CRC-32C of the batch's
    /// bytes from [`CRC_START`] on.
    pub fn check_crc(&self, computed: u32) -> Result<(), String> {
        if computed == self.crc {
            Ok(())
        } else {
            Err(format!(
                "CRC mismatch: stored {:#010x}, computed {computed:#010x}",
                self.crc
            ))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use fjord_records::{BatchBuilder, RecordBatch};

    use super::*;

    #[test]
    fn parses_what_the_records_crate_writes() {
        let mut builder = BatchBuilder::new(40).producer(7, 3, 11);
        for timestamp in [5, 9, 2] {
            builder.append(timestamp, None, Some(b"v"), &[]).unwrap();
        }
        let bytes = builder.build().unwrap();
        let batch = RecordBatch::new(bytes.clone()).unwrap();
        let header = BatchHeader::parse(&bytes);
        assert_eq!(header.base_offset, 40);
        assert_eq!(header.last_offset(), batch.last_offset());
        assert_eq!(header.size_bytes(), Some(bytes.len() as u64));
        assert_eq!(header.max_timestamp, 9);
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (7, 3, 11)
        );
        assert_eq!(header.crc, batch.crc());
        assert_eq!(
            header.check_shape(bytes.len() as u64),
            Ok(bytes.len() as u64)
        );
        header
            .check_crc(crc32c::crc32c(&bytes[CRC_START..]))
            .unwrap();
        assert!(header.check_shape(bytes.len() as u64 - 1).is_err());
        assert!(!header.is_control());
    }
}
