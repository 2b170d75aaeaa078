//! Fjord's group coordinator: Kafka's classic group protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup), the consumer group protocol of KIP-848
//! (ConsumerGroupHeartbeat, ConsumerGroupDescribe; see `consumer.rs` and ADR 0005),
//! committed offsets and the group admin APIs, as a pure state machine.
//!
//! # How the runtime drives it
//!
//! [`GroupCoordinator`] does no I/O and never reads a clock: the runtime passes the time
//! in (`now_ms`) and executes what comes back.
//!
//! - [`GroupCoordinator::handle`] takes one request. Its response comes back in the
//!   returned [`Output`] or, for JoinGroup and SyncGroup that wait for a rebalance, in a
//!   later one; every [`RequestId`] is answered exactly once.
//! - [`GroupCoordinator::tick`] fires the timers (session timeouts, rebalance timeouts,
//!   the initial rebalance delay, offset expiry). Call it once
//!   [`GroupCoordinator::next_deadline_ms`] has passed.
//! - [`GroupCoordinator::replay`] and [`GroupCoordinator::finish_replay`] rebuild the
//!   state from `__consumer_offsets` at startup.
//!
//! Every [`Output`] must be executed in order: append its `records` durably to
//! `__consumer_offsets` first (and its `transactional_records`, as transactional batches
//! of their producer), then deliver its `responses`. That order is what makes an
//! acknowledged offset commit or a completed rebalance survive a restart. The state is
//! already updated when the call returns; if an append fails, the in-memory state is
//! ahead of the log, and the runtime must stop serving groups (a restart replays the log).
//!
//! # Persistence
//!
//! Records use Kafka's own `__consumer_offsets` formats (see [`records`](crate#records)):
//! `OffsetCommitKey` (key version 1) with `OffsetCommitValue` v3, and `GroupMetadataKey`
//! (key version 2) with `GroupMetadataValue` v3, so Kafka's tools can read Fjord's topic
//! and Fjord can read Kafka's (values v0 to v4 are understood).
//!
//! # Records
//!
//! | when | key | value |
//! | --- | --- | --- |
//! | OffsetCommit accepted a partition | OffsetCommitKey | OffsetCommitValue v3 |
//! | TxnOffsetCommit accepted a partition (in a transactional batch of the producer; pending until the marker, see [`GroupCoordinator::complete_transaction`]) | OffsetCommitKey | OffsetCommitValue v3 |
//! | offset deleted (OffsetDelete, DeleteGroups, expiry, deleted topic) | OffsetCommitKey | tombstone |
//! | the leader's SyncGroup completed a rebalance | GroupMetadataKey | GroupMetadataValue v3 with members and assignments |
//! | a static member replaced its member id in a stable group | GroupMetadataKey | GroupMetadataValue v3 |
//! | the group became Empty | GroupMetadataKey | GroupMetadataValue v3 without members |
//! | the group was deleted (DeleteGroups, or empty without offsets at expiry) | GroupMetadataKey | tombstone |
//! | a consumer group (KIP-848) changed: members, epochs, assignments | key version 1000 (Fjord's) | JSON snapshot of the group |
//! | a consumer group was deleted or became a classic group | key version 1000 | tombstone |
//!
//! Replay keeps members, as Kafka does: a group whose last record has members comes back
//! Stable with them, in their generation, and their sessions start at `finish_replay`.
//!
//! # Where Fjord differs from Kafka's classic coordinator
//!
//! - Every request is answered. Kafka drops a JoinGroup or SyncGroup that the same member
//!   replaces with a retry while it waits; here the replaced one gets
//!   REBALANCE_IN_PROGRESS. A member removed while its SyncGroup waits gets
//!   UNKNOWN_MEMBER_ID.
//! - Protocol selection breaks ties (Kafka: hash order) in favour of the first member's
//!   preference, so that the choice is reproducible.
//! - A group created by a JoinGroup or OffsetCommit that then failed is not kept.
//! - Member ids handed out with MEMBER_ID_REQUIRED and not used yet count up to
//!   `group.max.size` per group, so that they are bounded too.
//! - A member that rejoins and gets its current generation back at once (no rebalance)
//!   has its session restarted, as a heartbeat would.
//! - OffsetCommit v2-v4 retention times are ignored (as in Kafka 4): offsets expire by
//!   `offsets.retention.minutes` only.
//! - Strings that could not be stored in a record (over 32767 bytes, which only flexible
//!   versions can send) are refused: INVALID_GROUP_ID for group ids, INVALID_REQUEST for
//!   JoinGroup's other strings, UNKNOWN_TOPIC_OR_PARTITION for topic names and
//!   OFFSET_METADATA_TOO_LARGE for metadata.
//! - A group metadata record larger than `group_metadata_record_bytes_max` fails the
//!   rebalance with UNKNOWN_SERVER_ERROR, which is what Kafka answers when its record is
//!   too large for the log.
//! - This coordinator owns every group and serves only after the replay, so it never
//!   answers NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS. It does not know topics:
//!   answering UNKNOWN_TOPIC_OR_PARTITION for OffsetCommit partitions of topics that do
//!   not exist is for the broker, as Kafka's request layer does before its coordinator;
//!   [`GroupCoordinator::delete_offsets_of_topics`] drops the offsets of deleted topics.

mod admin;
pub mod assignor;
mod config;
mod consumer;
mod coordinator;
mod error;
mod group;
mod member;
mod membership;
mod offsets;
mod protocol;
mod records;
mod responses;
mod timers;
mod transactions;

pub use config::{ConfigError, GroupConfig};
pub use coordinator::GroupCoordinator;
pub use error::{ErrorCode, ReplayError};

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, DeleteGroupsRequest,
    DescribeGroupsRequest, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    ListGroupsRequest, OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
    SyncGroupRequest, TxnOffsetCommitRequest,
};

/// The runtime's handle on one request, echoed with its response.
pub type RequestId = u64;

/// A request for the group coordinator, decoded by the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupRequest {
    /// Join (or rejoin) a group; answered when the rebalance completes.
    JoinGroup(JoinGroupRequest),
    /// Get this member's assignment; followers wait for the leader's.
    SyncGroup(SyncGroupRequest),
    /// Keep a member's session alive and learn about rebalances.
    Heartbeat(HeartbeatRequest),
    /// Leave a group (several members at once from version 3).
    LeaveGroup(LeaveGroupRequest),
    /// Commit offsets.
    OffsetCommit(OffsetCommitRequest),
    /// Commit offsets as part of a transaction: they stay pending until the
    /// transaction's marker ([`GroupCoordinator::complete_transaction`]).
    TxnOffsetCommit(TxnOffsetCommitRequest),
    /// Fetch committed offsets (of several groups from version 8).
    OffsetFetch(OffsetFetchRequest),
    /// List groups, optionally filtered by state and type.
    ListGroups(ListGroupsRequest),
    /// Describe groups and their members.
    DescribeGroups(DescribeGroupsRequest),
    /// Delete empty groups and their offsets.
    DeleteGroups(DeleteGroupsRequest),
    /// Delete some committed offsets of a group.
    OffsetDelete(OffsetDeleteRequest),
    /// Join, heartbeat in, or leave a consumer group (KIP-848 protocol).
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest),
    /// Describe consumer groups (KIP-848 protocol).
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest),
}

/// One record of the internal topic `__consumer_offsets`, a compacted topic: a `None`
/// value is a tombstone that deletes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// The group the record belongs to; the runtime picks the partition from it.
    pub group_id: String,
    /// The record key, in Kafka's format.
    pub key: bytes::Bytes,
    /// The record value in Kafka's format, or `None` for a tombstone.
    pub value: Option<bytes::Bytes>,
}

/// A record of a transactional offset commit and the producer that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionalGroupRecord {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// The transaction's producer epoch.
    pub producer_epoch: i16,
    /// The offset commit record.
    pub record: GroupRecord,
}

/// What the runtime must do after a call: first append `records` durably to
/// `__consumer_offsets` (in order), then deliver `responses` to the requests they answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Records to append, in order, before any response is sent.
    pub records: Vec<GroupRecord>,
    /// Records of transactional offset commits, to append as transactional batches of
    /// that producer id and epoch (after `records`), before any response is sent. The
    /// transaction's COMMIT or ABORT marker in the same partition resolves them.
    pub transactional_records: Vec<TransactionalGroupRecord>,
    /// Responses, each for the request with that id, to be encoded at its version.
    pub responses: Vec<(RequestId, ResponseKind)>,
}

impl Output {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
            && self.transactional_records.is_empty()
            && self.responses.is_empty()
    }
}
