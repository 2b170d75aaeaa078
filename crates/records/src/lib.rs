//! Kafka record batches, magic v2.
//!
//! A record batch is the unit Kafka producers send, brokers store and consumers
//! fetch. This crate reads, checks, rewrites and writes them without doing any I/O:
//!
//! - [`RecordBatch`] is a validated, cheaply cloned view over one batch's bytes;
//!   [`RecordBatches`] walks a concatenation of batches (a Produce `records` field,
//!   a fetch response, a log segment).
//! - [`RecordBatchMut`] and [`RecordBatchesMut`] rewrite the header fields the broker
//!   owns (base offset, partition leader epoch, max timestamp) in place and keep the
//!   CRC right.
//! - [`RecordBatch::records`] iterates over the records, decompressing the batch
//!   once and within [`DecompressionLimits`].
//! - [`BatchBuilder`] writes batches the broker produces itself, such as
//!   transaction markers ([`EndTransactionMarker`]).
//!
//! Everything that reads bytes treats them as hostile: malformed input is an
//! [`Error`], never a panic, and no length read from the input is trusted before
//! it is checked against the bytes actually present.
//!
//! ```
//! use fjord_records::{BatchBuilder, Compression, DecompressionLimits, RecordBatch};
//!
//! let mut builder = BatchBuilder::new(0).compression(Compression::Zstd);
//! builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[(b"trace", None)])?;
//! let batch = RecordBatch::new(builder.build()?)?;
//! batch.verify_crc()?;
//! for record in batch.records(DecompressionLimits::default()) {
//!     let record = record?;
//!     assert_eq!(record.offset(&batch), 0);
//!     assert_eq!(record.value.as_deref(), Some(&b"value"[..]));
//! }
//! # Ok::<(), fjord_records::Error>(())
//! ```

#![warn(missing_docs)]

mod attributes;
mod batch;
mod batch_mut;
mod builder;
mod compression;
mod control;
mod error;
mod layout;
mod record;
pub mod varint;

pub use attributes::{Attributes, TimestampType};
pub use batch::{RecordBatch, RecordBatches};
pub use batch_mut::{RecordBatchMut, RecordBatchesMut};
pub use builder::BatchBuilder;
pub use compression::{Compression, DecompressionLimits};
pub use control::{ControlRecordType, EndTransactionMarker};
pub use error::{Error, Result};
pub use layout::{BATCH_HEADER_LEN, MAGIC};
pub use record::{Header, Record, Records};
