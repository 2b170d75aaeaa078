//! Fjord's transaction coordinator: Kafka's transactional ids, producer epochs, fencing,
//! and the two-phase end of a transaction (prepare, markers, complete), as a pure state
//! machine (see ADR 0008).
//!
//! # How the runtime drives it
//!
//! [`TransactionCoordinator`] does no I/O and never reads a clock: the runtime passes the
//! time in (`now_ms`) and executes what comes back.
//!
//! - [`TransactionCoordinator::handle`] takes one request of the APIs in [`TxnRequest`]
//!   (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, DescribeTransactions,
//!   ListTransactions) and answers it in the returned [`Output`]: every [`RequestId`] is
//!   answered exactly once, in the same call.
//! - [`TransactionCoordinator::markers_written`] reports that the markers one
//!   [`TxnMarkers`] asked for are all written: the transaction completes.
//! - [`TransactionCoordinator::tick`] fires the timers (transaction timeouts,
//!   transactional id expiration). Call it once
//!   [`TransactionCoordinator::next_deadline_ms`] has passed.
//! - [`TransactionCoordinator::grant_producer_ids`] hands the coordinator a block of
//!   producer ids, allocated durably by the runtime.
//! - [`TransactionCoordinator::replay`] and [`TransactionCoordinator::finish_replay`]
//!   rebuild the state from `__transaction_state` at startup.
//!
//! Every [`Output`] must be executed in order:
//!
//! 1. append its `records` durably to `__transaction_state` (partition
//!    [`partition_for`]`(transactional_id, partitions)`), in order;
//! 2. start writing its `markers`: for each [`TxnMarkers`], one control record (COMMIT or
//!    ABORT, with the producer id and epoch given) in every partition it names, as
//!    WriteTxnMarkers does. When all are written (a partition whose topic was deleted
//!    counts as written, as in Kafka), call `markers_written` with that `TxnMarkers`.
//!    The same markers may be asked for again after a restart, so the partitions must
//!    take a marker for a transaction they no longer hold open without harm;
//! 3. deliver its `responses`. They need not wait for the markers: Kafka answers EndTxn
//!    once PrepareCommit or PrepareAbort is durable, and requests for the transactional
//!    id get CONCURRENT_TRANSACTIONS until the markers are written.
//!
//! The state is already updated when a call returns; if an append fails, the in-memory
//! state is ahead of the log, and the runtime must stop serving transactions (a restart
//! replays the log and completes or aborts what was in flight).
//!
//! # Producer ids
//!
//! Producer ids must never be handed out twice in the cluster's life, so they come from a
//! durable allocator that the runtime owns (Kafka: blocks of 1000 from the controller's
//! `ProducerIdsRecord`). The runtime grants blocks with
//! [`TransactionCoordinator::grant_producer_ids`]; every [`Output`] says with
//! `producer_ids_wanted` when fewer than `producer_ids_low_water_count` ids are left, so
//! that the next block arrives before the last one runs out. A request that needs an id
//! while none is left (InitProducerId of a new transactional id, of an idempotent
//! producer, or at epoch exhaustion) is answered COORDINATOR_LOAD_IN_PROGRESS, which every
//! client retries, and changes nothing. That is what Kafka answers when its producer id
//! block has not arrived yet; parking the request instead would need a queue with its own
//! limit and timeout, for a case that only lasts one allocation.
//!
//! # Persistence
//!
//! Records use Kafka's own `__transaction_state` formats: `TransactionLogKey` v0 with
//! `TransactionLogValue` v0 (v1, the flexible version newer Kafkas write, is read too).
//! Their JSON specs are not in Fjord's spec set (it holds the wire protocol only), so the
//! codec in `records.rs` is written by hand from Kafka's documented layout. One record is
//! written per state change:
//!
//! | when | state written |
//! | --- | --- |
//! | InitProducerId succeeded (new id, epoch bump, new producer id) | Empty |
//! | AddPartitionsToTxn or AddOffsetsToTxn added partitions | Ongoing, with all partitions |
//! | EndTxn | PrepareCommit or PrepareAbort, with the partitions |
//! | InitProducerId of a new producer while a transaction runs, or its timeout | PrepareAbort, epoch bumped |
//! | markers written (or none to write) | CompleteCommit or CompleteAbort, no partitions |
//! | the id expired | tombstone |
//!
//! Replay keeps the last record of each id. At `finish_replay`, a transaction found in
//! PrepareCommit or PrepareAbort has its markers asked for again in that first
//! [`Output`], so a crash in any state completes or aborts: Ongoing ones are aborted at
//! their timeout unless their producer ends them, idle ones serve their producer as
//! before.
//!
//! # States and errors
//!
//! States and transitions are Kafka's `TransactionState` and `TransactionMetadata`;
//! answers are those of Kafka's `TransactionCoordinator`: INVALID_REQUEST (empty
//! transactional id), INVALID_TRANSACTION_TIMEOUT, INVALID_PRODUCER_ID_MAPPING (unknown
//! id or another producer id), PRODUCER_FENCED (another epoch; INVALID_PRODUCER_EPOCH to
//! InitProducerId before v4 and to AddPartitionsToTxn, AddOffsetsToTxn and EndTxn before
//! v2), CONCURRENT_TRANSACTIONS (markers being written; and to the InitProducerId that
//! fences an ongoing transaction, which the client retries), INVALID_TXN_STATE (EndTxn that
//! does not fit the state), TRANSACTIONAL_ID_NOT_FOUND (DescribeTransactions) and
//! TRANSACTION_ABORTABLE (verify-only AddPartitionsToTxn, for a partition outside the
//! transaction).
//!
//! # Where Fjord differs from Kafka's transaction coordinator
//!
//! - Dead and PrepareEpochFence are never held. Kafka needs them as pending states while
//!   an append is in flight; here a call applies a transition at once (the runtime
//!   appends before it answers), so an expiring id is removed in one step (tombstone) and
//!   a fence goes straight from Ongoing to PrepareAbort with the bumped epoch, which is
//!   also what Kafka writes. Kafka's "failed epoch fence" case (the append of the fence
//!   failed) cannot happen: a failed append stops the coordinator.
//! - Timeouts are per-transaction timers, not a scan every
//!   `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10 s): a transaction
//!   is aborted at the first millisecond past `start + transaction.timeout.ms` (Kafka's
//!   condition), not up to 10 s later. Likewise, an id expires exactly
//!   `transactional.id.expiration.ms` after its last update, not at the next hourly scan.
//! - An Ongoing transaction at epoch 32767 (Fjord never makes one: InitProducerId
//!   rotates to a new producer id from 32766, but a replayed record could hold one) is
//!   aborted by a fence or its timeout without a bump, where Kafka fails; the next
//!   InitProducerId rotates to a new producer id.
//! - A marker report names its request ([`TxnMarkers::markers_id`]): consecutive
//!   transactions of one producer share producer id and epoch, and a repeated or late
//!   report of an earlier transaction's markers must not complete the next one. Kafka
//!   gets the same protection from its marker channel's bookkeeping.
//! - The last producer id and epoch (for KIP-360 retries) are kept in memory only, as
//!   Kafka 3.x does: after a restart, a producer retrying a bump whose answer it lost is
//!   fenced and must start again.
//! - ListTransactions' duration filter (v1) lists transactions that started more than the
//!   given time ago; ids without a transaction since their InitProducerId (start -1) are
//!   not listed by it.
//! - A transaction whose record would exceed `transaction_state_record_bytes_max` gets
//!   UNKNOWN_SERVER_ERROR for the AddPartitionsToTxn or AddOffsetsToTxn that would grow
//!   it (Kafka answers the same once its append fails); topic names too long for a record
//!   (only flexible versions can send them) get INVALID_REQUEST.
//! - No transactions v2 (KIP-890 part 2: epoch bump per transaction, partitions added
//!   implicitly): clients use it only when the broker advertises the
//!   `transaction.version` feature and EndTxn v5, which Fjord's spec set does not have
//!   (EndTxn stops at v4), so the runtime must not advertise it. The server-side defense
//!   of KIP-890 part 1 (the verify-only AddPartitionsToTxn that partition leaders send)
//!   is here.
//! - The coordinator owns every transactional id (single node) and serves only after the
//!   replay, so it never answers NOT_COORDINATOR; COORDINATOR_LOAD_IN_PROGRESS means "no
//!   producer id yet". Coordinator epochs (WriteTxnMarkers' `coordinator_epoch`) do not
//!   exist: the runtime may send 0.

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
