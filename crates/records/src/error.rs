//! The errors this crate reports.
//!
//! Every variant describes input that cannot be accepted (or, for the builder, a
//! batch that cannot be written), with enough context to log the offending value.
//! Positions inside a batch's records are byte offsets into the records section,
//! which for a compressed batch means the decompressed bytes.

use crate::compression::Compression;

/// A record batch could not be read, checked or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before the batch it starts does; at a fetch response's end
    /// this is the normal partial trailing batch rather than corruption.
    #[error("truncated record batch: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the batch needs, counted from its first byte.
        needed: usize,
        /// Bytes actually present from the batch's first byte.
        available: usize,
    },

    /// The batchLength field is too small to hold a batch header, or disagrees
    /// with the size of the slice the batch was given as.
    #[error("invalid batchLength {batch_length} for {available} available bytes")]
    InvalidBatchLength {
        /// The batchLength field as read.
        batch_length: i32,
        /// Bytes present from the batch's first byte.
        available: usize,
    },

    /// The magic byte is not 2; older message formats are not supported.
    #[error("unsupported magic {magic}: only magic 2 record batches are supported")]
    UnsupportedMagic {
        /// The magic byte as read.
        magic: i8,
    },

    /// The attributes name a compression codec Kafka does not define.
    #[error("unknown compression codec {codec} in batch attributes")]
    UnknownCompression {
        /// The codec bits (0-2) of the attributes.
        codec: u8,
    },

    /// The stored CRC does not match the bytes it covers.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The crc field as read.
        stored: u32,
        /// CRC-32C of the bytes from attributes to the end of the batch.
        computed: u32,
    },

    /// The records decompress to more bytes than the caller allowed.
    #[error("{compression} records decompress to more than {decompressed_bytes_max} bytes")]
    DecompressedTooLarge {
        /// The batch's codec.
        compression: Compression,
        /// The limit that was exceeded.
        decompressed_bytes_max: usize,
    },

    /// The compressed records are not a valid stream for their codec.
    #[error("{compression} decompression failed")]
    Decompress {
        /// The batch's codec.
        compression: Compression,
        /// What the codec reported.
        #[source]
        source: std::io::Error,
    },

    /// Compressing records for a new batch failed.
    #[error("{compression} compression failed")]
    Compress {
        /// The requested codec.
        compression: Compression,
        /// What the codec reported.
        #[source]
        source: std::io::Error,
    },

    /// recordsCount in the batch header is negative.
    #[error("invalid recordsCount {count}")]
    InvalidRecordCount {
        /// The recordsCount field as read.
        count: i32,
    },

    /// The records section holds fewer records than recordsCount claims.
    #[error("batch claims {expected} records but its records section holds {actual}")]
    RecordCountMismatch {
        /// The recordsCount field.
        expected: i32,
        /// Records found before the section ended.
        actual: i32,
    },

    /// A varint runs past its maximum width (5 bytes, or 10 for a varlong) or past
    /// the end of its record.
    #[error("malformed varint at byte {position} of the records")]
    InvalidVarint {
        /// Where the varint starts.
        position: usize,
    },

    /// A length or count is negative where that is not allowed (only -1, meaning
    /// null, is allowed, and only for keys and values).
    #[error("invalid {field} length {length} at byte {position} of the records")]
    InvalidLength {
        /// Which field the length belongs to.
        field: &'static str,
        /// The length as read.
        length: i64,
        /// Where the length starts.
        position: usize,
    },

    /// A length or count claims more bytes than its record has left.
    #[error(
        "{field} length {length} at byte {position} of the records exceeds the {available} bytes left"
    )]
    LengthOutOfBounds {
        /// Which field the length belongs to.
        field: &'static str,
        /// The length (or count) as read.
        length: i64,
        /// Bytes left where the field's data would start.
        available: usize,
        /// Where the length starts.
        position: usize,
    },

    /// Bytes are left over after a record's fields, or after the last record.
    #[error("{count} trailing bytes at byte {position} of the records, after the {context}")]
    TrailingBytes {
        /// What the bytes follow: `"record"` or `"last record"`.
        context: &'static str,
        /// How many bytes are left over.
        count: usize,
        /// Where the left-over bytes start.
        position: usize,
    },

    /// A control record is not a well-formed end transaction marker.
    #[error("invalid end transaction marker: {reason}")]
    InvalidControlRecord {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A record's timestamp is too far from the batch's base timestamp for the
    /// delta to fit an int64.
    #[error(
        "timestamp {timestamp_ms} cannot be expressed relative to base timestamp {base_timestamp_ms}"
    )]
    TimestampOutOfRange {
        /// The record's timestamp.
        timestamp_ms: i64,
        /// The batch's base timestamp.
        base_timestamp_ms: i64,
    },

    /// The batch being built would not fit the format's int32 lengths and counts.
    #[error("record batch too large: {reason}")]
    BatchTooLarge {
        /// Which limit was hit.
        reason: &'static str,
    },
}

/// Results in this crate default to its [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
