//! Kafka error codes the coordinator answers with, and the errors of replaying
//! `__transaction_state`.

use fjord_protocol::DecodeError;

/// A Kafka error code, as it goes on the wire. These are response data, not Rust errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

impl ErrorCode {
    /// UNKNOWN_SERVER_ERROR: the transaction's record would be larger than
    /// `transaction_state_record_bytes_max`.
    pub const UNKNOWN_SERVER_ERROR: ErrorCode = ErrorCode(-1);
    /// NONE: success.
    pub const NONE: ErrorCode = ErrorCode(0);
    /// COORDINATOR_LOAD_IN_PROGRESS: retriable; here, no producer id is left to hand out
    /// until the runtime grants another block (Kafka answers the same when its producer
    /// id block has not arrived yet).
    pub const COORDINATOR_LOAD_IN_PROGRESS: ErrorCode = ErrorCode(14);
    /// INVALID_REQUEST: the request cannot be served as given (an empty transactional
    /// id, a string too long to be stored, only one of producer id and epoch).
    pub const INVALID_REQUEST: ErrorCode = ErrorCode(42);
    /// INVALID_PRODUCER_EPOCH: what clients before PRODUCER_FENCED existed get instead.
    pub const INVALID_PRODUCER_EPOCH: ErrorCode = ErrorCode(47);
    /// INVALID_TXN_STATE: the request does not fit the transaction's state (committing
    /// an aborted transaction, ending one that never began).
    pub const INVALID_TXN_STATE: ErrorCode = ErrorCode(48);
    /// INVALID_PRODUCER_ID_MAPPING: the transactional id is unknown or has another
    /// producer id.
    pub const INVALID_PRODUCER_ID_MAPPING: ErrorCode = ErrorCode(49);
    /// INVALID_TRANSACTION_TIMEOUT: not positive, or above `transaction.max.timeout.ms`.
    pub const INVALID_TRANSACTION_TIMEOUT: ErrorCode = ErrorCode(50);
    /// CONCURRENT_TRANSACTIONS: retriable; the previous transaction's markers are being
    /// written.
    pub const CONCURRENT_TRANSACTIONS: ErrorCode = ErrorCode(51);
    /// PRODUCER_FENCED: a newer producer (a higher epoch) holds the transactional id.
    pub const PRODUCER_FENCED: ErrorCode = ErrorCode(90);
    /// TRANSACTIONAL_ID_NOT_FOUND: DescribeTransactions of an unknown id.
    pub const TRANSACTIONAL_ID_NOT_FOUND: ErrorCode = ErrorCode(105);
    /// TRANSACTION_ABORTABLE: a verify-only AddPartitionsToTxn found a partition outside
    /// the transaction; the producer must abort (KIP-890).
    pub const TRANSACTION_ABORTABLE: ErrorCode = ErrorCode(120);

    /// The code as it is written into a response.
    pub fn code(self) -> i16 {
        self.0
    }
}

/// Why a record of `__transaction_state` could not be replayed. The record was not
/// applied; the state is as before the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The key is not a `TransactionLogKey`.
    #[error("__transaction_state key: {0}")]
    Key(#[source] DecodeError),
    /// The key's version is not 0, the only `TransactionLogKey` version.
    #[error("__transaction_state key version {version} is not supported")]
    UnsupportedKeyVersion {
        /// The version read.
        version: i16,
    },
    /// The value's version is newer than this coordinator knows.
    #[error("TransactionLogValue version {version} is not supported")]
    UnsupportedValueVersion {
        /// The version read.
        version: i16,
    },
    /// The value could not be decoded.
    #[error("TransactionLogValue of {transactional_id:?}: {source}")]
    Value {
        /// The transactional id of the key.
        transactional_id: String,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
    /// The value holds a transaction status that is never written (Dead,
    /// PrepareEpochFence) or unknown.
    #[error("TransactionLogValue of {transactional_id:?}: status {status} is not a stored state")]
    InvalidStatus {
        /// The transactional id of the key.
        transactional_id: String,
        /// The status read.
        status: i8,
    },
    /// The coordinator already serves requests; replay happens before, at startup.
    #[error("replay after the coordinator started serving requests")]
    AfterStart,
}
