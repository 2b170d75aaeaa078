//! The metadata log: where metadata records are made durable, in order.
//!
//! [`MetadataLog`] is the seam that clustering replaces: on one node the log is a
//! local file ([`LocalMetadataLog`]); in a cluster it will be a replicated log
//! (openraft), and the broker code that appends records and replays them into a
//! [`MetadataImage`](crate::MetadataImage) stays the same.

mod frame;
mod local;

pub use frame::{ENTRY_BYTES_MAX, ENTRY_HEADER_BYTES, ENTRY_VERSION};
pub use local::{LocalMetadataLog, METADATA_LOG_FILE_NAME, Recovery};

use crate::error::Result;
use crate::record::MetadataRecord;

/// An append-only, durable sequence of metadata records.
///
/// Every record has an offset: its 0-based position in the log. Offsets are dense and
/// never reused.
pub trait MetadataLog {
    /// Appends `records`, in order and all or nothing, and returns the offset of the
    /// last one. The records are durable when this returns: a crash afterwards cannot
    /// lose them. A crash during the call may keep all of them or none, never some.
    fn append(&mut self, records: &[MetadataRecord]) -> Result<u64>;

    /// Every record in the log, from offset 0, in order.
    fn replay(&mut self) -> Result<Vec<MetadataRecord>>;

    /// The offset the next appended record will get, which is also how many records
    /// the log holds.
    fn next_offset(&self) -> u64;
}
