//! [`PartitionLog`]: the state of one partition's log and its append path.
//! Opening lives in `recovery.rs`, reads in `read.rs`, durability in
//! `flush.rs`, deletion of old data in `retention.rs`.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use fjord_records::{
    BatchBuilder, ControlRecordType, EndTransactionMarker, RecordBatchMut, TimestampType,
};

use crate::checkpoint::{self, Checkpoint};
use crate::config::LogConfig;
use crate::error::{AppendError, ConfigError, Error, Result, io_error};
use crate::files::{self, CLEAN_SHUTDOWN_MARKER};
use crate::producer_snapshot;
use crate::producer_state::{
    BatchMetadata, ProducerBatch, ProducerStateManager, SequenceCheck, last_sequence,
};
use crate::segment::{AppendedBatch, Segment};
use crate::txn_index::AbortedTxn;
use crate::validate;

/// The log of one partition: a directory of segments.
///
/// Not internally synchronised: the broker holds it behind a lock. Reads take
/// `&self` and use positional reads, so a read-write lock lets fetches run in
/// parallel with each other.
#[derive(Debug)]
pub struct PartitionLog {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    /// Sorted by base offset and never empty; the last one is active.
    pub(crate) segments: Vec<Segment>,
    pub(crate) log_start_offset: i64,
    /// Every batch below this offset is fsynced.
    pub(crate) recovery_point: i64,
    /// The recovery point in the checkpoint file.
    pub(crate) checkpointed_recovery_point: i64,
    /// Segment files were created or deleted since the directory was fsynced.
    pub(crate) dir_dirty: bool,
    pub(crate) producers: ProducerStateManager,
    /// Offsets of the producer state snapshot files present.
    pub(crate) snapshots: Vec<i64>,
    /// The first write or fsync failure, after which writes are refused.
    pub(crate) poisoned: Option<String>,
    /// A split flush has begun and not finished.
    pub(crate) flush_in_progress: bool,
}

/// What the broker knows about an append besides the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendContext {
    /// The broker's clock: LogAppendTime, timestamp bounds, segment.ms.
    pub now_ms: i64,
    /// The partition leader epoch stamped on the batch.
    pub leader_epoch: i32,
}

/// Where an append landed, for the produce response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    /// The offset of the batch's first record.
    pub base_offset: i64,
    /// The offset of the batch's last record.
    pub last_offset: i64,
    /// The timestamp the broker stamped under LogAppendTime, else -1.
    pub log_append_time_ms: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
}

/// The result of a successful append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The batch was written (to the page cache: see [`PartitionLog::flush`]).
    Appended(AppendInfo),
    /// An idempotent producer retried a batch that is already in the log;
    /// nothing was written and the info holds the original offsets. Kafka
    /// answers such a retry with success and these offsets.
    Duplicate(AppendInfo),
}

impl AppendOutcome {
    /// The offsets, whichever the outcome.
    pub fn info(&self) -> &AppendInfo {
        match self {
            AppendOutcome::Appended(info) | AppendOutcome::Duplicate(info) => info,
        }
    }

    /// Whether the batch was a retried duplicate.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, AppendOutcome::Duplicate(_))
    }
}

impl PartitionLog {
    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration in force.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the configuration (a topic config change); it applies from the
    /// next append, roll or retention pass.
    pub fn set_config(&mut self, config: LogConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// The first offset that can be read (Kafka's log start offset).
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record gets (Kafka's log end offset).
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    /// Every record below this offset is on disk (fsynced): the recovery point.
    /// Advanced by [`flush`](Self::flush).
    pub fn durable_offset(&self) -> i64 {
        self.recovery_point
    }

    /// Bytes in all segment files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size_bytes).sum()
    }

    /// How many segments the log has, the active one included.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// How many idempotent or transactional producers the log tracks.
    pub fn producer_count(&self) -> usize {
        self.producers.len()
    }

    /// Whether an earlier storage failure made the log refuse writes.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    pub(crate) fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a partition log always has an active segment")
    }

    pub(crate) fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a partition log always has an active segment")
    }

    /// The index of the segment holding `offset` (the last one starting at or
    /// before it); the first segment for offsets below every segment.
    pub(crate) fn segment_index_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|segment| segment.base_offset() <= offset)
            .saturating_sub(1)
    }

    pub(crate) fn check_not_poisoned(&self) -> Result<()> {
        match &self.poisoned {
            // An fsync failure leaves the page cache in an unknown state (Linux
            // may drop the dirty pages and report the error once); accepting
            // more writes would acknowledge data that may never reach the disk.
            Some(cause) => Err(Error::Poisoned {
                dir: self.dir.clone(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Records the first storage failure and refuses writes from now on.
    pub(crate) fn poison(&mut self, error: Error) -> Error {
        if self.poisoned.is_none() {
            self.poisoned = Some(error.to_string());
        }
        error
    }

    /// Validates and appends the `records` field of one Produce partition
    /// (exactly one batch): assigns offsets from the log end, stamps the leader
    /// epoch (and the append time under LogAppendTime), and writes the batch
    /// to the active segment, rolling first if needed. No fsync happens here;
    /// call [`flush`](Self::flush) before acknowledging `acks=all`.
    ///
    /// The header is rewritten in `records`' own buffer; a buffer shared with
    /// other handles (a slice of a request frame still referenced elsewhere)
    /// is copied once first.
    ///
    /// A validation error leaves the log unchanged. A storage error poisons
    /// it: every later append and flush fails.
    pub fn append(
        &mut self,
        records: BytesMut,
        context: AppendContext,
    ) -> Result<AppendOutcome, AppendError> {
        self.check_not_poisoned()?;
        let records = records.freeze();
        let validated = validate::validate(&records, &self.config, context.now_ms)?;
        let base_offset = self.log_end_offset();
        let last_offset = base_offset + i64::from(validated.last_offset_delta);
        let log_append_time = validated.timestamp_type == TimestampType::LogAppendTime;

        let producer = validated
            .producer
            .map(|(producer_id, epoch, first_sequence)| ProducerBatch {
                producer_id,
                epoch,
                first_sequence,
                last_sequence: last_sequence(first_sequence, validated.last_offset_delta),
            });
        if let Some(producer) = &producer
            && let SequenceCheck::Duplicate(original) = self.producers.check(producer)?
        {
            return Ok(AppendOutcome::Duplicate(AppendInfo {
                base_offset: original.first_offset,
                last_offset: original.last_offset,
                log_append_time_ms: if log_append_time {
                    original.timestamp_ms
                } else {
                    -1
                },
                log_start_offset: self.log_start_offset,
            }));
        }
        if let Some(producer) = &producer {
            self.producers
                .check_transactional(producer.producer_id, validated.transactional)?;
        }

        // A topic with its own compression.type gets batches in that codec, as in Kafka.
        let recompress_to = self
            .config
            .compression
            .filter(|target| *target != validated.compression);
        let mut bytes = match recompress_to {
            Some(target) => {
                crate::recompress::recompress(&records, target, self.config.decompression_limits)?
            }
            // Validation dropped every other reference, so this takes the buffer
            // back without copying.
            None => records
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..])),
        };
        let mut batch =
            RecordBatchMut::new(&mut bytes).map_err(|error| AppendError::CorruptMessage {
                reason: error.to_string(),
            })?;
        batch.set_base_offset(base_offset);
        batch.set_partition_leader_epoch(context.leader_epoch);
        batch
            .set_max_timestamp(validated.timestamp_type, validated.max_timestamp_ms)
            .map_err(|error| AppendError::CorruptMessage {
                reason: error.to_string(),
            })?;

        let size_bytes = bytes.len() as u64;
        if self
            .active()
            .should_roll(&self.config, size_bytes, last_offset, context.now_ms)
        {
            self.roll()?;
        }
        let info = AppendedBatch {
            last_offset,
            max_timestamp_ms: validated.max_timestamp_ms,
        };
        let index_interval_bytes = self.config.index_interval_bytes;
        if let Err(error) =
            self.active_mut()
                .append(&bytes, info, index_interval_bytes, context.now_ms)
        {
            return Err(self.poison(error).into());
        }
        if let Some(producer) = producer {
            self.producers.record(
                producer.producer_id,
                producer.epoch,
                BatchMetadata {
                    first_sequence: producer.first_sequence,
                    last_sequence: producer.last_sequence,
                    first_offset: base_offset,
                    last_offset,
                    timestamp_ms: validated.max_timestamp_ms,
                },
                context.now_ms,
            );
            if validated.transactional {
                self.producers.begin_txn(producer.producer_id, base_offset);
            }
        }
        Ok(AppendOutcome::Appended(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: if log_append_time { context.now_ms } else { -1 },
            log_start_offset: self.log_start_offset,
        }))
    }

    /// Appends a transaction marker (a control batch with one COMMIT or ABORT
    /// record) for `producer_id` at `epoch`, as the transaction coordinator
    /// asks through WriteTxnMarkers. Closes the producer's open transaction;
    /// an ABORT also gets an entry in the active segment's aborted transaction
    /// index. A partition with no open transaction for the producer accepts
    /// the marker too (markers are asked for again after a coordinator
    /// restart). An epoch older than the producer's is INVALID_PRODUCER_EPOCH.
    ///
    /// Nothing is fsynced here: as with [`append`](Self::append), the caller
    /// flushes before it reports the marker written, and that flush fsyncs the
    /// txnindex with the `.log`.
    pub fn append_end_txn_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        marker: EndTransactionMarker,
        context: AppendContext,
    ) -> Result<AppendInfo, AppendError> {
        self.check_not_poisoned()?;
        if producer_id < 0 || epoch < 0 {
            return Err(AppendError::invalid_record(format!(
                "a transaction marker needs a producer id and epoch, not {producer_id}/{epoch}"
            )));
        }
        self.producers.check_marker(producer_id, epoch)?;
        let base_offset = self.log_end_offset();
        let mut builder = BatchBuilder::new(base_offset)
            .partition_leader_epoch(context.leader_epoch)
            .producer(producer_id, epoch, -1)
            .transactional(true)
            .control(true);
        let encoded = builder
            .append_end_transaction_marker(context.now_ms, &marker)
            .and_then(|()| builder.build())
            .map_err(|error| AppendError::invalid_record(error.to_string()))?;
        let size_bytes = encoded.len() as u64;
        if self
            .active()
            .should_roll(&self.config, size_bytes, base_offset, context.now_ms)
        {
            self.roll()?;
        }
        let info = AppendedBatch {
            last_offset: base_offset,
            max_timestamp_ms: context.now_ms,
        };
        let index_interval_bytes = self.config.index_interval_bytes;
        if let Err(error) =
            self.active_mut()
                .append(&encoded, info, index_interval_bytes, context.now_ms)
        {
            return Err(self.poison(error).into());
        }
        let completed =
            self.producers
                .complete_txn(producer_id, epoch, base_offset, context.now_ms);
        if marker.control_type == ControlRecordType::Abort {
            let entry = AbortedTxn {
                producer_id,
                first_offset: completed.first_offset,
                last_offset: base_offset,
                // Not clamped to the log start (unlike `last_stable_offset`):
                // readers stop searching at an entry whose value reaches their
                // upper bound, which is only right if no transaction still open
                // at the marker started below it.
                last_stable_offset: self
                    .producers
                    .first_unstable_offset()
                    .unwrap_or(base_offset + 1),
            };
            if let Err(error) = self.active_mut().append_aborted_txn(entry) {
                return Err(self.poison(error).into());
            }
        }
        Ok(AppendInfo {
            base_offset,
            last_offset: base_offset,
            log_append_time_ms: -1,
            log_start_offset: self.log_start_offset,
        })
    }

    /// The last stable offset: no open transaction starts below it, so a
    /// `read_committed` reader may read everything before it. The oldest open
    /// transaction's first offset, or the high watermark (the log end on this
    /// single-replica broker) when none is open; never below the log start
    /// (DeleteRecords or retention may have removed an open transaction's
    /// first batches; Kafka clamps the same way).
    pub fn last_stable_offset(&self) -> i64 {
        let log_end_offset = self.log_end_offset();
        self.producers
            .first_unstable_offset()
            .map_or(log_end_offset, |first| first.min(log_end_offset))
            .max(self.log_start_offset)
    }

    /// The producers this partition knows, for DescribeProducers.
    pub fn producer_states(&self) -> Vec<crate::ProducerState> {
        self.producers.describe()
    }

    /// How many transactions are open in this partition.
    pub fn ongoing_txn_count(&self) -> usize {
        self.producers.ongoing_count()
    }

    /// The aborted transactions a `read_committed` fetch of `[start_offset,
    /// upper_offset)` must report, oldest first: every one whose marker is at
    /// or after `start_offset` and whose first offset is below
    /// `upper_offset` (Kafka's `collectAbortedTransactions`). Markers are
    /// indexed in the segment that holds them, so the segments from the one
    /// holding `start_offset` on are searched, and the search stops at the
    /// first entry whose last stable offset reaches `upper_offset`: every
    /// transaction aborted after it started at or after that offset.
    pub fn aborted_transactions(&self, start_offset: i64, upper_offset: i64) -> Vec<AbortedTxn> {
        let mut found = Vec::new();
        for txn in self.segments[self.segment_index_for(start_offset)..]
            .iter()
            .flat_map(Segment::aborted_txns)
        {
            if txn.last_offset >= start_offset && txn.first_offset < upper_offset {
                found.push(*txn);
            }
            if txn.last_stable_offset >= upper_offset {
                break;
            }
        }
        found
    }

    /// Seals the active segment and starts a new one at the log end. Also
    /// snapshots the producer state there (without fsync: it carries a CRC),
    /// which bounds the replay after an unclean stop. The sealed segment's
    /// txnindex is fsynced first if it has unsynced entries (at most one fsync
    /// per roll, only after aborts): recovery rebuilds entries only from the
    /// snapshot on, so the snapshot must never reach the disk without the
    /// entries before it. Poisons on failure.
    pub(crate) fn roll(&mut self) -> Result<()> {
        let result = self.try_roll();
        result.map_err(|error| self.poison(error))
    }

    fn try_roll(&mut self) -> Result<()> {
        let base_offset = self.log_end_offset();
        self.active_mut().seal()?;
        self.active_mut().sync_txn_index()?;
        let segment = Segment::create(&self.dir, base_offset)?;
        self.segments.push(segment);
        self.dir_dirty = true;
        producer_snapshot::write(
            &self.dir,
            base_offset,
            &self.producers,
            &mut self.snapshots,
            false,
        )
    }

    /// Persists the log start offset (with the recovery point already in the
    /// checkpoint) before data below it is deleted, so that a crash in between
    /// never serves deleted records again.
    pub(crate) fn write_checkpoint(&mut self) -> Result<()> {
        let checkpoint = Checkpoint {
            recovery_point: self.checkpointed_recovery_point,
            log_start_offset: self.log_start_offset,
        };
        checkpoint::write(&self.dir, checkpoint).map_err(|error| self.poison(error))
    }

    /// Flushes everything and marks the shutdown clean, so the next open trusts
    /// the indexes and skips the recovery scan: seals the active segment's time
    /// index, fsyncs every file with unsynced writes and the directory, writes
    /// the checkpoint (recovery point = log end), an fsynced producer state
    /// snapshot, and last the clean-shutdown marker.
    ///
    /// A poisoned log is not marked clean and returns its error; the next open
    /// then recovers it.
    pub fn close(mut self) -> Result<()> {
        self.check_not_poisoned()?;
        self.active_mut().seal()?;
        for segment in &mut self.segments {
            segment.sync_log()?;
            segment.sync_indexes()?;
        }
        if self.dir_dirty {
            files::sync_dir(&self.dir)?;
        }
        let log_end_offset = self.log_end_offset();
        checkpoint::write(
            &self.dir,
            Checkpoint {
                recovery_point: log_end_offset,
                log_start_offset: self.log_start_offset,
            },
        )?;
        producer_snapshot::write(
            &self.dir,
            log_end_offset,
            &self.producers,
            &mut self.snapshots,
            true,
        )?;
        let marker = self.dir.join(CLEAN_SHUTDOWN_MARKER);
        File::create(&marker)
            .and_then(|file| file.sync_all())
            .map_err(io_error("create", &marker))?;
        files::sync_dir(&self.dir)
    }

    /// Deletes the partition: every file and the directory (partition
    /// reassignment or topic deletion).
    pub fn delete(self) -> Result<()> {
        let dir = self.dir.clone();
        drop(self);
        fs::remove_dir_all(&dir).map_err(io_error("remove directory", &dir))?;
        if let Some(parent) = dir.parent() {
            files::sync_dir(parent)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PartitionLog>();
        assert_send_sync::<crate::FlushTicket>();
    }
}
