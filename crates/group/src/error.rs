//! Kafka error codes the coordinator answers with, and the errors of replaying
//! `__consumer_offsets`.

use fjord_protocol::DecodeError;

/// A Kafka error code, as it goes on the wire. These are response data, not Rust errors:
/// a request that meets a problem with one partition or member answers it with a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// UNKNOWN_SERVER_ERROR: the server failed in a way it cannot describe better.
    pub const UNKNOWN_SERVER_ERROR: ErrorCode = ErrorCode(-1);
    /// NONE: success.
    pub const NONE: ErrorCode = ErrorCode(0);
    /// UNKNOWN_TOPIC_OR_PARTITION: the topic cannot exist (its name cannot be stored).
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    /// OFFSET_METADATA_TOO_LARGE: the committed metadata string is too long.
    pub const OFFSET_METADATA_TOO_LARGE: ErrorCode = ErrorCode(12);
    /// ILLEGAL_GENERATION: the request names another generation than the group's.
    pub const ILLEGAL_GENERATION: ErrorCode = ErrorCode(22);
    /// INCONSISTENT_GROUP_PROTOCOL: the protocol type or protocols do not fit the group.
    pub const INCONSISTENT_GROUP_PROTOCOL: ErrorCode = ErrorCode(23);
    /// INVALID_GROUP_ID: the group id is empty (where that is not allowed) or too long.
    pub const INVALID_GROUP_ID: ErrorCode = ErrorCode(24);
    /// UNKNOWN_MEMBER_ID: the member is not (or no longer) in the group.
    pub const UNKNOWN_MEMBER_ID: ErrorCode = ErrorCode(25);
    /// INVALID_SESSION_TIMEOUT: outside the group.min/max.session.timeout.ms bounds.
    pub const INVALID_SESSION_TIMEOUT: ErrorCode = ErrorCode(26);
    /// REBALANCE_IN_PROGRESS: the group is rebalancing; rejoin.
    pub const REBALANCE_IN_PROGRESS: ErrorCode = ErrorCode(27);
    /// INVALID_REQUEST: the request cannot be stored as given (a string too long).
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(42);
    /// INVALID_PRODUCER_EPOCH: a TxnOffsetCommit from a producer whose epoch a
    /// transaction marker has since moved past (a fenced producer).
    pub const INVALID_PRODUCER_EPOCH: ErrorCode = ErrorCode(47);
    /// UNSTABLE_OFFSET_COMMIT: OffsetFetch with `require_stable` of a partition whose
    /// offset an open transaction holds pending; the consumer retries (KIP-447).
    pub const UNSTABLE_OFFSET_COMMIT: ErrorCode = ErrorCode(88);
    /// NON_EMPTY_GROUP: the group still has members.
    pub const NON_EMPTY_GROUP: ErrorCode = ErrorCode(68);
    /// GROUP_ID_NOT_FOUND: the group does not exist.
    pub const GROUP_ID_NOT_FOUND: ErrorCode = ErrorCode(69);
    /// MEMBER_ID_REQUIRED: rejoin with the member id given in the response (KIP-394).
    pub const MEMBER_ID_REQUIRED: ErrorCode = ErrorCode(79);
    /// GROUP_MAX_SIZE_REACHED: the group has `group.max.size` members.
    pub const GROUP_MAX_SIZE_REACHED: ErrorCode = ErrorCode(81);
    /// FENCED_INSTANCE_ID: another member id now holds this group instance id (KIP-345).
    pub const FENCED_INSTANCE_ID: ErrorCode = ErrorCode(82);
    /// GROUP_SUBSCRIBED_TO_TOPIC: a member of the group is subscribed to the topic.
    pub const GROUP_SUBSCRIBED_TO_TOPIC: ErrorCode = ErrorCode(86);
    /// UNSUPPORTED_VERSION: a classic client's request for a consumer group member.
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(35);
    /// FENCED_MEMBER_EPOCH: the member's epoch is not the coordinator's; rejoin.
    pub const FENCED_MEMBER_EPOCH: ErrorCode = ErrorCode(110);
    /// UNRELEASED_INSTANCE_ID: another active member holds this group instance id.
    pub const UNRELEASED_INSTANCE_ID: ErrorCode = ErrorCode(111);
    /// UNSUPPORTED_ASSIGNOR: the server-side assignor asked for does not exist.
    pub const UNSUPPORTED_ASSIGNOR: ErrorCode = ErrorCode(112);
    /// STALE_MEMBER_EPOCH: an offset commit or fetch from an older member epoch.
    pub const STALE_MEMBER_EPOCH: ErrorCode = ErrorCode(113);
    /// INVALID_REGULAR_EXPRESSION: the subscription's regular expression is invalid.
    pub const INVALID_REGULAR_EXPRESSION: ErrorCode = ErrorCode(127);

    /// The code as it is written into a response.
    pub fn code(self) -> i16 {
        self.0
    }
}

/// Why a record of `__consumer_offsets` could not be replayed. The record was not
/// applied; the state is as before the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A consumer group snapshot that does not parse.
    #[error("consumer group snapshot of {group:?}: {reason}")]
    Snapshot {
        /// The group.
        group: String,
        /// What is wrong.
        reason: String,
    },
    /// The key is not a Kafka record key.
    #[error("__consumer_offsets key: {0}")]
    Key(#[source] DecodeError),
    /// The key is of a record type this coordinator does not keep (Kafka's KIP-848,
    /// share or streams group records, for instance).
    #[error("__consumer_offsets key version {version} is not a classic group record")]
    UnknownRecordType {
        /// The key's version, which names the record type.
        version: i16,
    },
    /// The value is of a version newer than this coordinator knows.
    #[error("{record} value version {version} is not supported")]
    UnsupportedValueVersion {
        /// `OffsetCommitValue` or `GroupMetadataValue`.
        record: &'static str,
        /// The version read.
        version: i16,
    },
    /// The value could not be decoded.
    #[error("{record} value: {source}")]
    Value {
        /// `OffsetCommitValue` or `GroupMetadataValue`.
        record: &'static str,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
    /// The coordinator already serves requests; replay happens before, at startup.
    #[error("replay after the coordinator started serving requests")]
    AfterStart,
}
