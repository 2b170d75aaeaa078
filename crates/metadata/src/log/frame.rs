//! The framing of metadata log entries, without I/O policy.
//!
//! ```text
//! entry   = length crc payload
//! length  = u32, big-endian: the payload's size in bytes, 1 ..= ENTRY_BYTES_MAX
//! crc     = u32, big-endian: CRC-32C of the 4 length bytes followed by the payload
//! payload = UTF-8 JSON: {"version":1,"records":[<MetadataRecord>, ...]}
//! ```
//!
//! The checksum covers the length too, so that a corrupted length is caught by the
//! checksum rather than only by the bound. One entry holds the records of one append,
//! which makes an append atomic: a torn entry fails its checksum and is dropped whole.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use crate::record::MetadataRecord;

/// Bytes before the payload: the length and the checksum.
pub const ENTRY_HEADER_BYTES: usize = 8;

/// The largest payload an entry may have. A length field above it is corruption (or a
/// torn write), never a real entry, so reading never allocates more than this for one
/// entry whatever the file says.
pub const ENTRY_BYTES_MAX: usize = 1024 * 1024;

/// The payload format version this code writes and reads.
pub const ENTRY_VERSION: u32 = 1;

#[derive(Serialize)]
struct EntryOut<'a> {
    version: u32,
    records: &'a [MetadataRecord],
}

/// Only the version, read first so that a future format is refused by its version
/// rather than by whatever part of it this code cannot parse.
#[derive(Deserialize)]
struct EntryVersion {
    version: u32,
}

#[derive(Deserialize)]
struct EntryIn {
    records: Vec<MetadataRecord>,
}

/// The whole entry (header and payload) holding `records`, or the size the payload
/// would have had if it is over [`ENTRY_BYTES_MAX`].
pub(crate) fn encode(records: &[MetadataRecord]) -> Result<Vec<u8>, usize> {
    let mut entry = vec![0u8; ENTRY_HEADER_BYTES];
    let out = EntryOut {
        version: ENTRY_VERSION,
        records,
    };
    // Serializing these types into memory cannot fail: every map key is a string and
    // no Serialize impl here returns an error.
    if serde_json::to_writer(&mut entry, &out).is_err() {
        unreachable!("metadata records always serialize to JSON");
    }
    let payload_bytes = entry.len() - ENTRY_HEADER_BYTES;
    if payload_bytes > ENTRY_BYTES_MAX {
        return Err(payload_bytes);
    }
    let length = (payload_bytes as u32).to_be_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&length), &entry[ENTRY_HEADER_BYTES..]);
    entry[..4].copy_from_slice(&length);
    entry[4..ENTRY_HEADER_BYTES].copy_from_slice(&crc.to_be_bytes());
    Ok(entry)
}

/// Decodes a payload whose checksum has been verified.
pub(crate) fn decode(payload: &[u8]) -> Result<Vec<MetadataRecord>, String> {
    let version: EntryVersion =
        serde_json::from_slice(payload).map_err(|e| format!("bad entry envelope: {e}"))?;
    if version.version != ENTRY_VERSION {
        return Err(format!(
            "entry format version {} is not supported (this build reads version {ENTRY_VERSION})",
            version.version
        ));
    }
    let entry: EntryIn =
        serde_json::from_slice(payload).map_err(|e| format!("bad records: {e}"))?;
    if entry.records.is_empty() {
        // An append always writes at least one record.
        return Err("entry holds no records".to_owned());
    }
    Ok(entry.records)
}

/// What reading the next entry found.
#[derive(Debug)]
pub(crate) enum Next {
    /// A complete entry with a valid checksum; the payload is not decoded yet.
    Entry {
        /// Its payload.
        payload: Vec<u8>,
        /// Its size including the header.
        entry_bytes: u64,
    },
    /// The input ended exactly at an entry boundary.
    End,
    /// The bytes from here on are not a complete, intact entry.
    Invalid(String),
}

/// Reads the next entry from `input`, which is positioned at an entry boundary.
pub(crate) fn read_next(input: &mut impl Read) -> io::Result<Next> {
    let mut header = [0u8; ENTRY_HEADER_BYTES];
    let got = read_up_to(input, &mut header)?;
    if got == 0 {
        return Ok(Next::End);
    }
    if got < ENTRY_HEADER_BYTES {
        return Ok(Next::Invalid(format!(
            "{got} of {ENTRY_HEADER_BYTES} header bytes present"
        )));
    }
    let length_bytes = [header[0], header[1], header[2], header[3]];
    let length = u32::from_be_bytes(length_bytes) as usize;
    let stored_crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if length == 0 || length > ENTRY_BYTES_MAX {
        return Ok(Next::Invalid(format!(
            "length {length} outside 1..={ENTRY_BYTES_MAX}"
        )));
    }
    let mut payload = vec![0u8; length];
    let got = read_up_to(input, &mut payload)?;
    if got < length {
        return Ok(Next::Invalid(format!(
            "{got} of {length} payload bytes present"
        )));
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&length_bytes), &payload);
    if crc != stored_crc {
        return Ok(Next::Invalid(format!(
            "checksum mismatch: stored {stored_crc:#010x}, computed {crc:#010x}"
        )));
    }
    Ok(Next::Entry {
        payload,
        entry_bytes: (ENTRY_HEADER_BYTES + length) as u64,
    })
}

/// Fills as much of `buf` as the input has, retrying short reads; returns how much.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ClusterId;

    fn records() -> Vec<MetadataRecord> {
        vec![MetadataRecord::ClusterCreated {
            cluster_id: ClusterId::new("abc"),
        }]
    }

    #[test]
    fn round_trip() -> io::Result<()> {
        let entry = encode(&records()).map_err(|_| io::Error::other("too large"))?;
        let mut input = &entry[..];
        match read_next(&mut input)? {
            Next::Entry {
                payload,
                entry_bytes,
            } => {
                assert_eq!(entry_bytes as usize, entry.len());
                assert_eq!(decode(&payload), Ok(records()));
            }
            other => panic!("expected an entry, got {other:?}"),
        }
        assert!(matches!(read_next(&mut input)?, Next::End));
        Ok(())
    }

    #[test]
    fn payload_is_readable_json() -> io::Result<()> {
        let entry = encode(&records()).map_err(|_| io::Error::other("too large"))?;
        assert_eq!(
            &entry[ENTRY_HEADER_BYTES..],
            br#"{"version":1,"records":[{"type":"ClusterCreated","cluster_id":"abc"}]}"#
        );
        Ok(())
    }

    #[test]
    fn oversized_entries_are_refused() {
        let record = MetadataRecord::ClusterCreated {
            cluster_id: ClusterId::new("x".repeat(ENTRY_BYTES_MAX)),
        };
        assert!(matches!(encode(&[record]), Err(size) if size > ENTRY_BYTES_MAX));
    }

    #[test]
    fn other_versions_are_refused() {
        let err = decode(br#"{"version":2,"records":[]}"#);
        assert!(matches!(err, Err(m) if m.contains("version 2")));
        assert!(decode(br#"{"version":1,"records":[]}"#).is_err());
        assert!(decode(b"not json").is_err());
    }
}
