//! Fjord's partition log: one [`PartitionLog`] per partition, stored in one
//! directory as segments, offset and time indexes, a checkpoint and producer
//! state snapshots. No networking, no async: the broker calls it from its
//! request handlers behind a lock, and a flusher calls [`PartitionLog::flush`]
//! for group commit.
//!
//! ```
//! use bytes::BytesMut;
//! use fjord_log::{AppendContext, LogConfig, PartitionLog};
//! use fjord_records::BatchBuilder;
//!
//! let dir = tempfile::tempdir()?;
//! let now_ms = 1_700_000_000_000;
//! let (mut log, _report) = PartitionLog::open(dir.path(), LogConfig::default(), now_ms)?;
//!
//! let mut batch = BatchBuilder::new(0);
//! batch.append(now_ms, Some(b"key"), Some(b"value"), &[])?;
//! let records = BytesMut::from(&batch.build()?[..]);
//! let outcome = log.append(records, AppendContext { now_ms, leader_epoch: 0 })?;
//! assert_eq!(outcome.info().base_offset, 0);
//!
//! let durable_offset = log.flush()?; // acks=all may be answered below this
//! let read = log.read(0, 1024 * 1024, durable_offset, true)?;
//! assert_eq!(read.next_offset, 1);
//! log.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # On-disk format
//!
//! A partition directory holds (all integers big-endian):
//!
//! | file | contents |
//! | --- | --- |
//! | `<base>.log` | record batches (magic 2) exactly as produced, with the base offset and partition leader epoch the broker assigned; `<base>` is the first offset, zero-padded to 20 digits as in Kafka |
//! | `<base>.index` | sparse offset index, 8-byte entries: u32 (last offset of a batch − base), u32 byte position of that batch; one entry per `index.interval.bytes` of log (Kafka's layout, not preallocated) |
//! | `<base>.timeindex` | sparse time index, 12-byte entries: i64 largest timestamp so far, u32 (last offset of the batch that first reached it − base); added with offset index entries when the largest timestamp grew, and once more when the segment is sealed (Kafka's layout) |
//! | `<base>.txnindex` | aborted transactions whose ABORT marker is in the segment, Kafka's 34-byte entries (version, producer id, first offset, last offset, last stable offset); created on the first abort; see `txn_index.rs` |
//! | `<offset>.snapshot` | producer state as of `offset`: magic `FJPS`, version, per producer id its epoch, open transaction's first offset and last 5 batches, CRC-32C; see `producer_snapshot.rs` |
//! | `partition.checkpoint` | magic `FJCP`, version, recovery point i64, log start offset i64, CRC-32C |
//! | `clean_shutdown` | empty; present only between a clean [`PartitionLog::close`] and the next open |
//!
//! A segment's batches are contiguous: each starts at the offset after the
//! previous one's last, and a segment starts where the previous one ends.
//! Recovery relies on this to detect a corrupt base offset, which the batch CRC
//! does not cover.
//!
//! # What is fsynced when
//!
//! - [`append`](PartitionLog::append): nothing. The batch is written with
//!   `pwrite` to the active segment (page cache), as are any index entries it
//!   earns. A roll creates the new segment's three files and writes a producer
//!   state snapshot (tmp file + rename), none of it fsynced, except the sealed
//!   segment's `.txnindex` when it has unsynced entries (fsynced before the
//!   snapshot, because recovery rebuilds entries only from the snapshot on).
//! - [`append_end_txn_marker`](PartitionLog::append_end_txn_marker): like
//!   `append`; an ABORT's `.txnindex` entry is written (page cache) too.
//! - [`flush`](PartitionLog::flush), for transactions: the `.txnindex` of every
//!   segment whose `.log` it fsyncs, active segment included, is fsynced with it.
//! - [`flush`](PartitionLog::flush): `fdatasync` of the `.log` of every segment
//!   written since its last flush; `fdatasync` of the `.index` and `.timeindex`
//!   of segments that stopped being active since their last flush (the active
//!   segment's indexes are rebuilt by recovery, so they are not synced); then
//!   `fsync` of the directory if segments were created or deleted since the
//!   last flush. The returned offset is durable: every record below it is on
//!   disk. Then, only if the durable offset moved into a later segment than the
//!   checkpointed recovery point, the checkpoint is rewritten: tmp file,
//!   `fsync`, `rename`, `fsync` of the directory. So a steady-state flush costs
//!   one `fdatasync`; the first flush after a roll, up to seven fsyncs.
//!   [`begin_flush`](PartitionLog::begin_flush),
//!   [`FlushTicket::sync`] and [`finish_flush`](PartitionLog::finish_flush) do
//!   the same with the fsyncs outside the caller's lock.
//! - [`delete_records_before`](PartitionLog::delete_records_before) and
//!   [`enforce_retention`](PartitionLog::enforce_retention), when they move the
//!   log start: the checkpoint (as above), before any segment file is removed.
//!   The removals themselves reach the disk with the next flush's directory
//!   fsync; if they do not, open removes the segments again.
//! - [`close`](PartitionLog::close): every file with unsynced writes, the
//!   directory, the checkpoint (recovery point = log end), the producer state
//!   snapshot (tmp, `fsync`, rename, directory `fsync`), and last the
//!   `clean_shutdown` marker (`fsync` of it and of the directory).
//! - [`open`](PartitionLog::open): removes the marker and `fsync`s the
//!   directory before returning, so that a crash after it is recovered; after
//!   a truncation, `fdatasync` of the truncated segment and `fsync` of the
//!   directory (deleted later segments), so nothing is appended after a cut
//!   that could come back.
//!
//! Any write or fsync error poisons the log: every later append and flush
//! returns [`Error::Poisoned`]. Reads keep working.
//!
//! Segments wholly below the recovery point are not re-read at open (only
//! their indexes get cheap checks), so damage to fsynced data there is found
//! by whoever reads it: reads check batch framing, consumers check CRCs, as
//! with Kafka.
//!
//! # Recovery
//!
//! See [`PartitionLog::open`] and [`RecoveryReport`]. In short: after a clean
//! shutdown, indexes are trusted after cheap checks; otherwise every segment
//! from the one holding the checkpointed recovery point is scanned (length,
//! magic, CRC-32C, contiguous offsets), indexes are rebuilt, and the log ends
//! at the first torn or corrupt batch. The producer state replay also reopens
//! transactions without a marker and rewrites each `.txnindex` from the replay
//! start on (entries past the end dropped, missing ones rebuilt).
//!
//! # Transactions
//!
//! A transactional batch opens a transaction for its producer at its first
//! offset; [`PartitionLog::append_end_txn_marker`] closes it. The
//! [`last stable offset`](PartitionLog::last_stable_offset) is the oldest open
//! transaction's first offset, else the log end; `read_committed` reads below
//! it with [`PartitionLog::aborted_transactions`] telling the client what to
//! drop. See ADR 0009.

#![warn(missing_docs)]

mod batch_header;
mod checkpoint;
mod config;
mod error;
mod files;
mod flush;
mod index;
mod log;
mod producer_snapshot;
mod producer_state;
mod read;
mod reader;
mod recompress;
mod recovery;
mod retention;
mod segment;
mod time_index;
mod txn_index;
mod validate;

pub use config::LogConfig;
pub use error::{AppendError, ConfigError, Error, ReadError, Result};
pub use flush::{FlushDone, FlushTicket};
pub use log::{AppendContext, AppendInfo, AppendOutcome, PartitionLog};
pub use read::ReadResult;
pub use recovery::{RecoveryReport, TruncationReport};
pub use retention::RetentionReport;
pub use txn_index::AbortedTxn;

/// What a partition knows about one producer, as DescribeProducers reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerState {
    /// The producer id.
    pub producer_id: i64,
    /// Its newest epoch.
    pub producer_epoch: i16,
    /// The last sequence of its newest retained batch, -1 if none.
    pub last_sequence: i32,
    /// The max timestamp of that batch, -1 if none.
    pub last_timestamp_ms: i64,
    /// The first offset of its open transaction, -1 if none. (Kafka also reports the
    /// coordinator epoch of the last marker; this log does not keep it: answer -1.)
    pub current_txn_start_offset: i64,
}

/// Re-exported so the broker can build a [`LogConfig`] without depending on
/// `fjord-records` for these two types.
pub use fjord_records::{DecompressionLimits, TimestampType};
