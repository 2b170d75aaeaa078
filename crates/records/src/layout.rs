//! Where each header field sits, and the header checks shared by the read-only
//! and the mutable views.
//!
//! ```text
//! offset  size  field
//!      0     8  baseOffset
//!      8     4  batchLength (bytes after this field)
//!     12     4  partitionLeaderEpoch
//!     16     1  magic
//!     17     4  crc (CRC-32C of bytes 21..end)
//!     21     2  attributes
//!     23     4  lastOffsetDelta
//!     27     8  baseTimestamp
//!     35     8  maxTimestamp
//!     43     8  producerId
//!     51     2  producerEpoch
//!     53     4  baseSequence
//!     57     4  recordsCount
//!     61        records...
//! ```

use crate::attributes::Attributes;
use crate::error::{Error, Result};

/// The size of a magic v2 batch header; the records start right after it.
pub const BATCH_HEADER_LEN: usize = 61;

/// The only magic (format version) this crate reads and writes.
pub const MAGIC: i8 = 2;

pub(crate) const BASE_OFFSET: usize = 0;
pub(crate) const BATCH_LENGTH: usize = 8;
pub(crate) const PARTITION_LEADER_EPOCH: usize = 12;
pub(crate) const MAGIC_OFFSET: usize = 16;
pub(crate) const CRC: usize = 17;
pub(crate) const ATTRIBUTES: usize = 21;
pub(crate) const LAST_OFFSET_DELTA: usize = 23;
pub(crate) const BASE_TIMESTAMP: usize = 27;
pub(crate) const MAX_TIMESTAMP: usize = 35;
pub(crate) const PRODUCER_ID: usize = 43;
pub(crate) const PRODUCER_EPOCH: usize = 51;
pub(crate) const BASE_SEQUENCE: usize = 53;
pub(crate) const RECORDS_COUNT: usize = 57;

/// batchLength counts everything after itself; these are the bytes before that.
pub(crate) const LOG_OVERHEAD: usize = BATCH_LENGTH + 4;

/// The first byte the CRC covers.
pub(crate) const CRC_START: usize = ATTRIBUTES;

// Header reads index a slice known (checked at construction) to hold a header;
// an out-of-range index here is a bug in this crate, not bad input.
fn array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut bytes = [0; N];
    bytes.copy_from_slice(&buf[at..at + N]);
    bytes
}

pub(crate) fn read_i8(buf: &[u8], at: usize) -> i8 {
    i8::from_be_bytes(array(buf, at))
}

pub(crate) fn read_i16(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(array(buf, at))
}

pub(crate) fn read_i32(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(array(buf, at))
}

pub(crate) fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(buf, at))
}

pub(crate) fn read_i64(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(array(buf, at))
}

pub(crate) fn write_bytes(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

/// CRC-32C of the CRC-covered part of a batch.
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[CRC_START..])
}

/// Checks that `batch` is exactly one magic v2 batch with a valid header, and
/// returns its attributes.
pub(crate) fn validate(batch: &[u8]) -> Result<Attributes> {
    if batch.len() < BATCH_HEADER_LEN {
        return Err(Error::Truncated {
            needed: BATCH_HEADER_LEN,
            available: batch.len(),
        });
    }
    // Magic before length: an old-format message has a different layout, and
    // "unsupported magic" is the more useful thing to say about it.
    let magic = read_i8(batch, MAGIC_OFFSET);
    if magic != MAGIC {
        return Err(Error::UnsupportedMagic { magic });
    }
    let batch_length = read_i32(batch, BATCH_LENGTH);
    if total_len(batch_length) != Some(batch.len()) {
        return Err(Error::InvalidBatchLength {
            batch_length,
            available: batch.len(),
        });
    }
    Attributes::from_bits(read_i16(batch, ATTRIBUTES))
}

/// The total size of a batch with this batchLength, if the length is plausible.
fn total_len(batch_length: i32) -> Option<usize> {
    let total = usize::try_from(batch_length)
        .ok()?
        .checked_add(LOG_OVERHEAD)?;
    (total >= BATCH_HEADER_LEN).then_some(total)
}

/// Finds how long the batch at the start of `buf` is, using only its length and
/// magic fields, so a concatenation can be split without trusting anything else.
/// `buf` must not be empty.
pub(crate) fn next_batch_len(buf: &[u8]) -> Result<usize> {
    if buf.len() < LOG_OVERHEAD {
        return Err(Error::Truncated {
            needed: LOG_OVERHEAD,
            available: buf.len(),
        });
    }
    if buf.len() > MAGIC_OFFSET {
        let magic = read_i8(buf, MAGIC_OFFSET);
        if magic != MAGIC {
            return Err(Error::UnsupportedMagic { magic });
        }
    }
    let batch_length = read_i32(buf, BATCH_LENGTH);
    let total = total_len(batch_length).ok_or(Error::InvalidBatchLength {
        batch_length,
        available: buf.len(),
    })?;
    if total > buf.len() {
        return Err(Error::Truncated {
            needed: total,
            available: buf.len(),
        });
    }
    Ok(total)
}
