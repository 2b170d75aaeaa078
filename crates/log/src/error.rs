//! The errors this crate reports.
//!
//! [`Error`] is a storage failure (I/O, corruption found while serving, a
//! poisoned log). [`AppendError`] and [`ReadError`] add the outcomes a client
//! caused, one variant per Kafka error code the broker answers with.

use std::io;
use std::path::PathBuf;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done ("write", "fsync", "open"...).
        operation: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: io::Error,
    },

    /// Bytes below the log end, which were valid when written or recovered,
    /// no longer are (the disk or something else changed them).
    #[error("corrupt log data in {path} at byte {position}: {reason}")]
    Corrupt {
        /// The segment or index file.
        path: PathBuf,
        /// Where in that file.
        position: u64,
        /// What is wrong.
        reason: String,
    },

    /// An earlier write or fsync failed, so the log refuses further writes.
    #[error("partition log {dir} refuses writes after an earlier storage failure: {cause}")]
    Poisoned {
        /// The partition directory.
        dir: PathBuf,
        /// The first failure.
        cause: String,
    },

    /// A split flush was begun while another was still in progress.
    #[error("partition log {dir}: a flush is already in progress")]
    FlushInProgress {
        /// The partition directory.
        dir: PathBuf,
    },

    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// An offset argument lies outside the log (DeleteRecords past the end).
    #[error("offset {offset} is outside the log [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The first offset still in the log.
        log_start_offset: i64,
        /// The offset the next record will get.
        log_end_offset: i64,
    },
}

/// Results in this crate default to its [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every problem found in a [`LogConfig`](crate::LogConfig).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid log config: {}", problems.join("; "))]
pub struct ConfigError {
    /// One sentence per problem.
    pub problems: Vec<String>,
}

/// Why a produced batch was not appended. Each variant names the Kafka error
/// code the broker should answer with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// CORRUPT_MESSAGE (2): the bytes are not a well-formed batch (framing,
    /// magic, codec id) or its CRC does not match.
    #[error("corrupt record batch: {reason}")]
    CorruptMessage {
        /// What is wrong.
        reason: String,
    },

    /// INVALID_RECORD (87): the batch is well-formed but not acceptable, such as
    /// zero or several batches, miscounted records or a control batch.
    #[error("invalid record batch: {reason}")]
    InvalidRecord {
        /// What is wrong, for the produce response's error message.
        reason: String,
        /// The record at fault, for the produce response's record errors.
        record_index: Option<usize>,
    },

    /// MESSAGE_TOO_LARGE (10): the batch is larger than `max.message.bytes`.
    #[error("record batch of {size_bytes} bytes exceeds max.message.bytes {max_message_bytes}")]
    MessageTooLarge {
        /// The batch's size.
        size_bytes: usize,
        /// The limit.
        max_message_bytes: u64,
    },

    /// RECORD_LIST_TOO_LARGE (18): the batch would not fit in an empty segment.
    #[error("record batch of {size_bytes} bytes exceeds segment.bytes {segment_bytes}")]
    RecordListTooLarge {
        /// The batch's size.
        size_bytes: usize,
        /// The segment size limit.
        segment_bytes: u64,
    },

    /// INVALID_TIMESTAMP (32): a record's timestamp is outside the window
    /// `message.timestamp.before/after.max.ms` allow, or the producer set
    /// LogAppendTime.
    #[error("invalid timestamp: {reason}")]
    InvalidTimestamp {
        /// What is wrong.
        reason: String,
        /// The record at fault, for the produce response's record errors.
        record_index: Option<usize>,
    },

    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45): the batch's sequence does not follow
    /// the producer's last one.
    #[error("out of order sequence from producer {producer_id}: {reason}")]
    OutOfOrderSequence {
        /// The producer.
        producer_id: i64,
        /// The sequences involved.
        reason: String,
    },

    /// INVALID_PRODUCER_EPOCH (47): the producer's epoch is older than one
    /// already seen (a zombie producer instance).
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current_epoch}")]
    InvalidProducerEpoch {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The newest epoch seen.
        current_epoch: i16,
    },

    /// INVALID_TXN_STATE (48): the batch does not fit the producer's
    /// transaction state (a non-transactional batch while its transaction is
    /// open).
    #[error("producer {producer_id}: {reason}")]
    InvalidTxnState {
        /// The producer.
        producer_id: i64,
        /// What is wrong.
        reason: String,
    },

    /// KAFKA_STORAGE_ERROR (56): the log could not store the batch.
    #[error(transparent)]
    Storage(#[from] Error),
}

impl AppendError {
    pub(crate) fn invalid_record(reason: impl Into<String>) -> Self {
        AppendError::InvalidRecord {
            reason: reason.into(),
            record_index: None,
        }
    }
}

/// Why a read returned nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// OFFSET_OUT_OF_RANGE (1): the offset is below the log start or past the
    /// log end.
    #[error("offset {offset} is outside the log [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The first offset still in the log.
        log_start_offset: i64,
        /// The offset the next record will get.
        log_end_offset: i64,
    },

    /// KAFKA_STORAGE_ERROR (56): the log could not be read.
    #[error(transparent)]
    Storage(#[from] Error),
}

/// Wraps an I/O error with what was being done to which path.
pub(crate) fn io_error(
    operation: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        operation,
        path,
        source,
    }
}
