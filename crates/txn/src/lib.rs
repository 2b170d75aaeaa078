//! Fjord's transaction coordinator: Kafka's transactional ids, producer epochs, fencing,
//! and the two-phase end of a transaction (prepare, markers, complete), as a pure state
//! machine. DOCS-PLACEHOLDER

mod config;
mod coordinator;
mod error;
mod producer_ids;
mod records;
mod state;
mod timers;

pub use config::{ConfigError, TxnConfig};
pub use coordinator::{TransactionCoordinator, TransactionSnapshot};
pub use error::{ErrorCode, ReplayError};
pub use state::TransactionState;

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, DescribeTransactionsRequest, EndTxnRequest,
    InitProducerIdRequest, ListTransactionsRequest,
};

/// The runtime's handle on one request, echoed with its response.
pub type RequestId = u64;

/// The internal topic that holds the coordinator's state.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The internal topic of committed offsets, whose partition AddOffsetsToTxn adds.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A request for the transaction coordinator, decoded by the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum TxnRequest {
    /// Get a producer id and epoch: for a transactional id (fencing its previous
    /// producer), or a bare one for an idempotent producer (no transactional id).
    InitProducerId(InitProducerIdRequest),
    /// Add partitions to a transaction (v0-3: one transaction from a producer; v4+:
    /// several, and the verify-only form brokers send).
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    /// Add the `__consumer_offsets` partition of a group to a transaction.
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    /// Commit or abort a transaction.
    EndTxn(EndTxnRequest),
    /// Describe transactional ids.
    DescribeTransactions(DescribeTransactionsRequest),
    /// List transactional ids, filtered by state, producer id and duration.
    ListTransactions(ListTransactionsRequest),
}

/// One record of the internal topic `__transaction_state`, a compacted topic: a `None`
/// value is a tombstone that deletes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The transactional id the record belongs to; the runtime picks the partition from
    /// it with [`partition_for`].
    pub transactional_id: String,
    /// The record key, in Kafka's format (`TransactionLogKey` v0).
    pub key: bytes::Bytes,
    /// The record value in Kafka's format (`TransactionLogValue` v0), or `None` for a
    /// tombstone.
    pub value: Option<bytes::Bytes>,
}

/// How a transaction ends, as its markers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionResult {
    /// COMMIT markers: the transaction's records become visible to read_committed.
    Commit,
    /// ABORT markers: the transaction's records are skipped by read_committed.
    Abort,
}

impl TransactionResult {
    /// `WritableTxnMarker.transaction_result`: true for commit.
    pub fn is_commit(self) -> bool {
        self == TransactionResult::Commit
    }
}

/// Control records to write (Kafka's WriteTxnMarkers): one marker per partition, with
/// this producer id and epoch. Once every partition has its marker, the runtime calls
/// [`TransactionCoordinator::markers_written`] with this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMarkers {
    /// The coordinator's handle on this request for markers, unique for the
    /// coordinator's life. A transactional id may run several transactions with the same
    /// producer id and epoch, so only this tells a late or repeated report of an earlier
    /// transaction's markers from the report of the current one.
    pub markers_id: u64,
    /// The transaction's id.
    pub transactional_id: String,
    /// The producer id the marker is written for.
    pub producer_id: i64,
    /// The epoch the marker carries (bumped when the coordinator fenced the producer).
    pub producer_epoch: i16,
    /// Commit or abort.
    pub result: TransactionResult,
    /// The partitions, by topic, in order; never empty.
    pub partitions: Vec<(String, Vec<i32>)>,
}

/// What the runtime must do after a call, in this order: append `records` durably to
/// `__transaction_state` (in order), then start writing the `markers`, then deliver
/// `responses` to the requests they answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Records to append, in order, before anything else.
    pub records: Vec<TxnRecord>,
    /// Markers to write once the records are durable.
    pub markers: Vec<TxnMarkers>,
    /// Responses, each for the request with that id, to be encoded at its version.
    pub responses: Vec<(RequestId, ResponseKind)>,
    /// Fewer producer ids than `producer_ids_low_water_count` are left: the runtime
    /// should allocate a block and call
    /// [`TransactionCoordinator::grant_producer_ids`]. Raised by every output while ids
    /// are low; the runtime keeps one allocation in flight.
    pub producer_ids_wanted: bool,
}

impl Output {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.markers.is_empty()
            && self.responses.is_empty()
            && !self.producer_ids_wanted
    }
}

/// Kafka's choice of partition of an internal topic for a group or transactional id:
/// `abs(key.hashCode()) % partitions`, with Java's String hash (UTF-16 units) and
/// Kafka's `Utils.abs` (the sign bit masked off), so that keys live where Kafka's tools
/// expect them.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let hash = key.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    (hash & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_for_is_javas_string_hash() {
        // "a".hashCode() == 97; "polygenelubricants".hashCode() == i32::MIN.
        assert_eq!(partition_for("a", 50), 97 % 50);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("", 50), 0);
        // Non-BMP characters count as two UTF-16 units.
        let hash = (0xD83Di32 * 31 + 0xDE00) & 0x7fff_ffff;
        assert_eq!(partition_for("\u{1F600}", 50), hash % 50);
    }
}
