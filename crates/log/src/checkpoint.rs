//! The partition checkpoint file (`partition.checkpoint`): the recovery point
//! and the log start offset, replaced atomically and durably.
//!
//! ```text
//! magic "FJCP" | version u16 = 1 | recovery point i64 | log start offset i64 | crc32c u32
//! ```
//! Big-endian; the CRC covers every byte before it. A missing or invalid file
//! means "unknown": open then scans the whole log and takes the log start from
//! the first segment.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::error::{Result, io_error};
use crate::files;

pub(crate) const CHECKPOINT_FILE: &str = "partition.checkpoint";

const MAGIC: &[u8; 4] = b"FJCP";
const VERSION: u16 = 1;
const LEN: usize = 4 + 2 + 8 + 8 + 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// Every batch below this offset was fsynced, with the indexes of every
    /// segment wholly below it.
    pub recovery_point: i64,
    pub log_start_offset: i64,
}

impl Checkpoint {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&self.recovery_point.to_be_bytes());
        out.extend_from_slice(&self.log_start_offset.to_be_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Checkpoint> {
        if bytes.len() != LEN || &bytes[..4] != MAGIC {
            return None;
        }
        let crc = u32::from_be_bytes(bytes[LEN - 4..].try_into().ok()?);
        if crc32c::crc32c(&bytes[..LEN - 4]) != crc {
            return None;
        }
        if u16::from_be_bytes(bytes[4..6].try_into().ok()?) != VERSION {
            return None;
        }
        let checkpoint = Checkpoint {
            recovery_point: i64::from_be_bytes(bytes[6..14].try_into().ok()?),
            log_start_offset: i64::from_be_bytes(bytes[14..22].try_into().ok()?),
        };
        (checkpoint.recovery_point >= 0 && checkpoint.log_start_offset >= 0).then_some(checkpoint)
    }
}

/// The checkpoint in `dir`: `Ok(None)` if there is none, `Ok(Some(None))`
/// if there is one that fails its checks.
pub(crate) fn read(dir: &Path) -> Result<Option<Option<Checkpoint>>> {
    let path = dir.join(CHECKPOINT_FILE);
    match fs::read(&path) {
        Ok(bytes) => Ok(Some(Checkpoint::decode(&bytes))),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_error("read", path)(error)),
    }
}

/// Replaces the checkpoint durably (tmp file, fsync, rename, fsync directory).
pub(crate) fn write(dir: &Path, checkpoint: Checkpoint) -> Result<()> {
    files::write_atomically(dir, CHECKPOINT_FILE, &checkpoint.encode(), true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let checkpoint = Checkpoint {
            recovery_point: 1234,
            log_start_offset: 56,
        };
        write(dir.path(), checkpoint).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(Some(checkpoint)));
        let bytes = checkpoint.encode();
        for position in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[position] ^= 1;
            assert_eq!(Checkpoint::decode(&damaged), None);
        }
        assert_eq!(Checkpoint::decode(&bytes[..LEN - 1]), None);
    }
}
