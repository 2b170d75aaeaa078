//! Producer state snapshots (`<offset>.snapshot`): the producer state as of
//! `offset` (every batch below it applied), so that opening a log replays batch
//! headers from there instead of from the log start.
//!
//! ```text
//! magic "FJPS" | version u16 = 2 | offset i64 | producer count u32
//! per producer: producer id i64 | epoch i16 | last append ms i64 |
//!   current transaction's first offset i64 (-1: none; absent in version 1) |
//!   batch count u8
//!   per batch: first sequence i32 | last sequence i32 | first offset i64 |
//!              last offset i64 | timestamp ms i64
//! crc32c u32 of every byte before it
//! ```
//! All integers big-endian. A snapshot whose CRC, version or lengths are wrong is
//! ignored (the state is rebuilt from the log instead), so snapshots written at
//! segment roll need no fsync.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Result, io_error};
use crate::files::{self, SNAPSHOT_SUFFIX};
use crate::producer_state::{BATCHES_RETAINED, BatchMetadata, ProducerEntry, ProducerStateManager};

const MAGIC: &[u8; 4] = b"FJPS";
/// Version 2 added the open transaction's first offset; version 1 (written
/// before transactions) is still read.
const VERSION: u16 = 2;
const VERSION_WITHOUT_TXN: u16 = 1;
const HEADER_BYTES: usize = 4 + 2 + 8 + 4;
const PRODUCER_BYTES: usize = 8 + 2 + 8 + 1;
const TXN_BYTES: usize = 8;
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;
const CRC_BYTES: usize = 4;
/// A snapshot larger than this is not read: even a million producers take
/// less than 200 MiB, and a file this size is more likely damage.
const SNAPSHOT_BYTES_MAX: u64 = 256 * 1024 * 1024;

pub(crate) fn encode(offset: i64, state: &ProducerStateManager) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        HEADER_BYTES
            + state.len() * (PRODUCER_BYTES + TXN_BYTES + BATCHES_RETAINED * BATCH_BYTES)
            + CRC_BYTES,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
    let count = u32::try_from(state.len()).expect("fewer than 2^32 producers");
    out.extend_from_slice(&count.to_be_bytes());
    let mut producers: Vec<_> = state.entries().collect();
    // A deterministic order makes equal states encode to equal files.
    producers.sort_by_key(|(producer_id, _)| **producer_id);
    for (producer_id, entry) in producers {
        out.extend_from_slice(&producer_id.to_be_bytes());
        out.extend_from_slice(&entry.epoch.to_be_bytes());
        out.extend_from_slice(&entry.last_append_ms.to_be_bytes());
        let txn_first_offset = entry.current_txn_first_offset.unwrap_or(-1);
        out.extend_from_slice(&txn_first_offset.to_be_bytes());
        out.push(entry.batches.len() as u8);
        for batch in &entry.batches {
            out.extend_from_slice(&batch.first_sequence.to_be_bytes());
            out.extend_from_slice(&batch.last_sequence.to_be_bytes());
            out.extend_from_slice(&batch.first_offset.to_be_bytes());
            out.extend_from_slice(&batch.last_offset.to_be_bytes());
            out.extend_from_slice(&batch.timestamp_ms.to_be_bytes());
        }
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Reads big-endian integers, failing instead of running past the end.
struct Input<'a> {
    bytes: &'a [u8],
}

impl Input<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_at_checked(N)?;
        self.bytes = rest;
        head.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_be_bytes)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
}

/// Decodes a snapshot, or `None` if anything about it is wrong.
pub(crate) fn decode(bytes: &[u8]) -> Option<(i64, ProducerStateManager)> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(CRC_BYTES)?)?;
    if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut input = Input { bytes: body };
    if &input.take::<4>()? != MAGIC {
        return None;
    }
    let with_txn = match input.u16()? {
        VERSION => true,
        VERSION_WITHOUT_TXN => false,
        _ => return None,
    };
    let offset = input.i64()?;
    let count = input.u32()? as usize;
    // Every producer takes at least PRODUCER_BYTES: a count the file cannot
    // hold is rejected before anything is allocated for it.
    if count > input.bytes.len() / PRODUCER_BYTES {
        return None;
    }
    let mut state = ProducerStateManager::new();
    for _ in 0..count {
        let producer_id = input.i64()?;
        let epoch = input.i16()?;
        let last_append_ms = input.i64()?;
        let current_txn_first_offset = if with_txn {
            Some(input.i64()?).filter(|offset| *offset >= 0)
        } else {
            None
        };
        let batch_count = usize::from(input.u8()?);
        if batch_count > BATCHES_RETAINED {
            return None;
        }
        let mut batches = VecDeque::with_capacity(batch_count);
        for _ in 0..batch_count {
            batches.push_back(BatchMetadata {
                first_sequence: input.i32()?,
                last_sequence: input.i32()?,
                first_offset: input.i64()?,
                last_offset: input.i64()?,
                timestamp_ms: input.i64()?,
            });
        }
        state.insert(
            producer_id,
            ProducerEntry {
                epoch,
                batches,
                last_append_ms,
                current_txn_first_offset,
            },
        );
    }
    input.bytes.is_empty().then_some((offset, state))
}

/// Writes the snapshot for `offset` and removes every other snapshot.
/// `durable` fsyncs it (at close); at a segment roll it is left to the page
/// cache, the CRC catching a snapshot torn by a crash.
pub(crate) fn write(
    dir: &Path,
    offset: i64,
    state: &ProducerStateManager,
    existing: &mut Vec<i64>,
    durable: bool,
) -> Result<()> {
    let name = files::offset_file_name(offset, SNAPSHOT_SUFFIX);
    files::write_atomically(dir, &name, &encode(offset, state), durable)?;
    for old in existing.drain(..).filter(|old| *old != offset) {
        files::remove_if_exists(&files::offset_file_path(dir, old, SNAPSHOT_SUFFIX))?;
    }
    existing.push(offset);
    Ok(())
}

/// Reads the snapshot at `path`; `Ok(None)` if it is invalid or too large.
pub(crate) fn read(path: &Path) -> Result<Option<(i64, ProducerStateManager)>> {
    let file = File::open(path).map_err(io_error("open", path))?;
    let len = file.metadata().map_err(io_error("stat", path))?.len();
    if len > SNAPSHOT_BYTES_MAX {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(SNAPSHOT_BYTES_MAX)
        .read_to_end(&mut bytes)
        .map_err(io_error("read", path))?;
    Ok(decode(&bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> ProducerStateManager {
        let mut state = ProducerStateManager::new();
        for producer_id in 0..3i64 {
            for i in 0..(producer_id as i32 * 3) {
                state.record(
                    producer_id,
                    producer_id as i16,
                    BatchMetadata {
                        first_sequence: i * 2,
                        last_sequence: i * 2 + 1,
                        first_offset: i64::from(i) * 10,
                        last_offset: i64::from(i) * 10 + 1,
                        timestamp_ms: 1_700_000_000_000 + i64::from(i),
                    },
                    99,
                );
            }
        }
        state.begin_txn(2, 55);
        state
    }

    #[test]
    fn round_trips() {
        let state = sample();
        let bytes = encode(1234, &state);
        let (offset, decoded) = decode(&bytes).unwrap();
        assert_eq!((offset, &decoded), (1234, &state));
        assert_eq!(decoded.first_unstable_offset(), Some(55));
    }

    #[test]
    fn any_damage_is_rejected() {
        let bytes = encode(7, &sample());
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 0x40;
            assert_eq!(decode(&damaged), None, "flip at {position}");
        }
    }
}
