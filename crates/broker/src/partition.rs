//! One partition as the broker serves it: the log behind a lock, the high watermark, and
//! a flusher that makes appends durable with group commit.
//!
//! Appends and reads take the lock briefly: an append writes to the page cache, a read
//! preads. fsync never runs under the lock: the flusher takes a flush ticket under the
//! lock, syncs the files outside it, and records the result under it again, so appends
//! go on while the disk syncs. Every acks=all append that arrives while one fsync runs
//! is covered by the next one: that is the group commit.
//!
//! On a single node the in-sync replica set is this broker alone, so the high watermark
//! is the log end offset, as in Kafka: a consumer may read an acks=1 write before it is
//! fsynced. The last stable offset (LSO) is the high watermark or, while a transaction
//! is open, its first offset: `read_committed` fetches stop there. Both are stored
//! under the log lock after every append and marker, so they only move forward
//! together with the log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use fjord_log::{AppendContext, AppendError, LogConfig, PartitionLog, ReadError};
use fjord_metadata::topic_config::{CompressionType, MessageTimestampType, TopicConfig};
use fjord_protocol::Uuid;
use fjord_records::{Compression, DecompressionLimits, TimestampType};
use fjord_records::{ControlRecordType, EndTransactionMarker};
use tokio::sync::{Notify, watch};
use tracing::{error, info, warn};

use crate::error_code::ErrorCode;

/// What an append reports back to Produce.
pub(crate) struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

/// An append refused for one partition.
pub(crate) struct AppendRefused {
    pub code: ErrorCode,
    pub message: String,
}

/// Records read for Fetch, with the offsets the response reports.
pub(crate) struct Read {
    pub records: Bytes,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// For `read_committed`: (producer id, first offset) of every aborted
    /// transaction overlapping the records returned, oldest first.
    pub aborted_transactions: Option<Vec<(i64, i64)>>,
}

/// How far the log is known to be on disk.
#[derive(Debug, Clone, Copy)]
struct Durability {
    /// Every offset below this is fsynced.
    offset: i64,
    /// A sync failed: nothing more will become durable until a restart.
    failed: bool,
}

/// A partition led by this broker.
pub(crate) struct Partition {
    pub topic: String,
    pub index: i32,
    pub leader_id: i32,
    pub leader_epoch: i32,
    /// `None` once closed.
    log: Mutex<Option<PartitionLog>>,
    high_watermark: AtomicI64,
    last_stable_offset: AtomicI64,
    log_start_offset: AtomicI64,
    durable: watch::Sender<Durability>,
    flush_wanted: Notify,
    appended: Arc<Notify>,
}

/// The file that ties a partition directory to its topic id, as Kafka's
/// `partition.metadata` does: a directory left from a deleted topic of the same name is
/// recognised and removed instead of being served as the new topic's data.
const PARTITION_METADATA: &str = "partition.metadata";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The log settings of a topic's effective config.
pub(crate) fn log_config(config: &TopicConfig) -> LogConfig {
    LogConfig {
        segment_bytes: config.segment_bytes,
        segment_ms: config.segment_ms,
        segment_index_bytes: config.segment_index_bytes,
        // Only `delete` deletes by age or size; a compact-only topic (such as
        // __consumer_offsets) keeps every segment, as in Kafka.
        retention_ms: config.retention_ms.filter(|_| config.cleanup_policy.delete),
        retention_bytes: config
            .retention_bytes
            .filter(|_| config.cleanup_policy.delete)
            .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
        index_interval_bytes: u64::from(config.index_interval_bytes),
        max_message_bytes: u64::from(config.max_message_bytes),
        message_timestamp_type: match config.message_timestamp_type {
            MessageTimestampType::CreateTime => TimestampType::CreateTime,
            MessageTimestampType::LogAppendTime => TimestampType::LogAppendTime,
        },
        message_timestamp_before_max_ms: config.message_timestamp_before_max_ms,
        message_timestamp_after_max_ms: config.message_timestamp_after_max_ms,
        // A batch cannot decompress to more than the largest fetch could carry.
        decompression_limits: DecompressionLimits::default(),
        producer_id_expiration_ms: LogConfig::PRODUCER_ID_EXPIRATION_MS_DEFAULT,
        compression: match config.compression_type {
            CompressionType::Producer => None,
            CompressionType::Uncompressed => Some(Compression::None),
            CompressionType::Gzip => Some(Compression::Gzip),
            CompressionType::Snappy => Some(Compression::Snappy),
            CompressionType::Lz4 => Some(Compression::Lz4),
            CompressionType::Zstd => Some(Compression::Zstd),
        },
    }
}

impl Partition {
    /// Opens (or creates) the partition's directory and log, recovering after an unclean
    /// stop, and starts its flusher.
    pub async fn open(
        dir: PathBuf,
        topic: String,
        topic_id: Uuid,
        index: i32,
        node_id: i32,
        config: &TopicConfig,
        appended: Arc<Notify>,
    ) -> Result<Arc<Partition>, String> {
        let log_config = log_config(config);
        let (log, report) = tokio::task::spawn_blocking(move || {
            write_partition_metadata(&dir, topic_id)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            PartitionLog::open(&dir, log_config, now_ms()).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        if let Some(truncation) = &report.truncation {
            warn!(topic = %topic, partition = index, ?truncation, "recovery truncated a torn or corrupt tail");
        } else if !report.clean_shutdown {
            info!(topic = %topic, partition = index, batches = report.batches_scanned, "recovered after an unclean stop");
        }
        let log_end_offset = log.log_end_offset();
        let partition = Arc::new(Partition {
            topic,
            index,
            leader_id: node_id,
            leader_epoch: 0,
            high_watermark: AtomicI64::new(log_end_offset),
            last_stable_offset: AtomicI64::new(log.last_stable_offset()),
            log_start_offset: AtomicI64::new(log.log_start_offset()),
            durable: watch::Sender::new(Durability {
                offset: log.durable_offset(),
                failed: false,
            }),
            log: Mutex::new(Some(log)),
            flush_wanted: Notify::new(),
            appended,
        });
        tokio::spawn(flusher(partition.clone()));
        Ok(partition)
    }

    /// Whether `dir` holds a partition of the topic with `topic_id`.
    pub fn belongs_to(dir: &Path, topic_id: Option<Uuid>) -> bool {
        let Some(topic_id) = topic_id else {
            return false;
        };
        read_partition_metadata(dir).is_some_and(|id| id == topic_id)
    }

    /// The high watermark: the offset after the last record consumers may read.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The last stable offset: `read_committed` consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        self.last_stable_offset.load(Ordering::Acquire)
    }

    /// Stores the offsets consumers see; called under the log lock after a write.
    fn publish_offsets(&self, log: &PartitionLog) {
        self.high_watermark
            .store(log.log_end_offset(), Ordering::Release);
        self.last_stable_offset
            .store(log.last_stable_offset(), Ordering::Release);
        self.log_start_offset
            .store(log.log_start_offset(), Ordering::Release);
    }

    /// The first offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Kafka's check of a client's `current_leader_epoch`: -1 skips it, an older epoch is
    /// fenced, a newer one is unknown to this broker.
    pub fn check_leader_epoch(&self, requested: i32) -> ErrorCode {
        if requested == -1 || requested == self.leader_epoch {
            ErrorCode::NONE
        } else if requested < self.leader_epoch {
            ErrorCode::FENCED_LEADER_EPOCH
        } else {
            ErrorCode::UNKNOWN_LEADER_EPOCH
        }
    }

    /// Validates and appends the `records` of one Produce partition.
    pub async fn append(&self, records: Bytes) -> Result<Appended, AppendRefused> {
        // The log rewrites offsets in place, so it needs its own copy of the batch.
        let records = BytesMut::from(&records[..]);
        let outcome = {
            let mut guard = self
                .log
                .lock()
                .map_err(|_| storage_refusal("partition lock poisoned"))?;
            let Some(log) = guard.as_mut() else {
                return Err(storage_refusal("partition is closed"));
            };
            let outcome = log.append(
                records,
                AppendContext {
                    now_ms: now_ms(),
                    leader_epoch: self.leader_epoch,
                },
            );
            // Stored under the lock so that the high watermark only ever moves forward.
            self.publish_offsets(log);
            outcome
        };
        match outcome {
            Ok(outcome) => {
                let info = outcome.info();
                if !outcome.is_duplicate() {
                    self.appended.notify_waiters();
                }
                Ok(Appended {
                    base_offset: info.base_offset,
                    last_offset: info.last_offset,
                    log_append_time_ms: info.log_append_time_ms,
                    log_start_offset: info.log_start_offset,
                })
            }
            Err(error) => Err(refusal(&self.topic, self.index, error)),
        }
    }

    /// Appends a COMMIT or ABORT marker for the transaction of `producer_id` at
    /// `producer_epoch` (WriteTxnMarkers) and returns its offset. The marker is in the
    /// page cache only: the caller waits for [`Self::wait_durable`] on the returned
    /// offset before it reports the marker written, which also fsyncs the segment's
    /// aborted transaction index.
    pub async fn append_end_txn_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        control_type: ControlRecordType,
        coordinator_epoch: i32,
    ) -> Result<i64, AppendRefused> {
        let marker = EndTransactionMarker {
            control_type,
            coordinator_epoch,
        };
        let outcome = {
            let mut guard = self
                .log
                .lock()
                .map_err(|_| storage_refusal("partition lock poisoned"))?;
            let Some(log) = guard.as_mut() else {
                return Err(storage_refusal("partition is closed"));
            };
            let outcome = log.append_end_txn_marker(
                producer_id,
                producer_epoch,
                marker,
                AppendContext {
                    now_ms: now_ms(),
                    leader_epoch: self.leader_epoch,
                },
            );
            self.publish_offsets(log);
            outcome
        };
        match outcome {
            Ok(info) => {
                // Wakes long polls: a read_committed fetch may now see more.
                self.appended.notify_waiters();
                Ok(info.base_offset)
            }
            Err(error) => Err(refusal(&self.topic, self.index, error)),
        }
    }

    /// The producers this partition knows (DescribeProducers).
    pub fn producer_states(&self) -> Result<Vec<fjord_log::ProducerState>, ErrorCode> {
        self.with_log(|log| Ok(log.producer_states()))
    }

    /// Waits until every offset up to `last_offset` is fsynced.
    pub async fn wait_durable(&self, last_offset: i64) -> Result<(), ErrorCode> {
        let mut durable = self.durable.subscribe();
        self.flush_wanted.notify_one();
        let state = durable
            .wait_for(|d| d.failed || d.offset > last_offset)
            .await
            .map_err(|_| ErrorCode::KAFKA_STORAGE_ERROR)?;
        if state.offset > last_offset {
            Ok(())
        } else {
            Err(ErrorCode::KAFKA_STORAGE_ERROR)
        }
    }

    /// Reads whole batches from `offset`, below the high watermark (read_uncommitted).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<Read, ErrorCode> {
        self.read_isolated(offset, max_bytes, min_one_batch, false)
    }

    /// Reads whole batches from `offset`, below the high watermark or, with
    /// `read_committed`, below the last stable offset, with the aborted transactions
    /// the client needs to drop what it must not see.
    pub fn read_isolated(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        read_committed: bool,
    ) -> Result<Read, ErrorCode> {
        let guard = self
            .log
            .lock()
            .map_err(|_| ErrorCode::KAFKA_STORAGE_ERROR)?;
        let log = guard.as_ref().ok_or(ErrorCode::KAFKA_STORAGE_ERROR)?;
        let high_watermark = self.high_watermark();
        let last_stable_offset = self.last_stable_offset();
        let upper_offset = if read_committed {
            last_stable_offset
        } else {
            high_watermark
        };
        match log.read(offset, max_bytes, upper_offset, min_one_batch) {
            Ok(read) => Ok(Read {
                aborted_transactions: read_committed.then(|| {
                    // The transactions overlapping what was returned: the records
                    // from `offset` (the first batch may start before it, but its
                    // transaction's marker is after it) to the next offset.
                    if read.records.is_empty() {
                        return Vec::new();
                    }
                    log.aborted_transactions(offset, read.next_offset)
                        .iter()
                        .map(|txn| (txn.producer_id, txn.first_offset))
                        .collect()
                }),
                records: read.records,
                high_watermark,
                last_stable_offset,
                log_start_offset: read.log_start_offset,
            }),
            Err(ReadError::OffsetOutOfRange { .. }) => Err(ErrorCode::OFFSET_OUT_OF_RANGE),
            Err(error) => {
                error!(topic = %self.topic, partition = self.index, %error, "read failed");
                Err(ErrorCode::KAFKA_STORAGE_ERROR)
            }
        }
    }

    /// The earliest offset with a timestamp at or after `timestamp`, and that timestamp.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, ErrorCode> {
        self.with_log(|log| log.offset_for_timestamp(timestamp))
    }

    /// The offset and timestamp of the record with the largest timestamp.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, ErrorCode> {
        self.with_log(|log| log.max_timestamp())
    }

    fn with_log<T>(
        &self,
        f: impl FnOnce(&PartitionLog) -> Result<T, fjord_log::Error>,
    ) -> Result<T, ErrorCode> {
        let guard = self
            .log
            .lock()
            .map_err(|_| ErrorCode::KAFKA_STORAGE_ERROR)?;
        let log = guard.as_ref().ok_or(ErrorCode::KAFKA_STORAGE_ERROR)?;
        f(log).map_err(|error| {
            error!(topic = %self.topic, partition = self.index, %error, "log lookup failed");
            ErrorCode::KAFKA_STORAGE_ERROR
        })
    }

    /// Deletes segments past retention and rolls an old active segment.
    pub fn enforce_retention(&self) {
        let Ok(mut guard) = self.log.lock() else {
            return;
        };
        let Some(log) = guard.as_mut() else { return };
        match log.enforce_retention(now_ms()) {
            Ok(report) => {
                self.log_start_offset
                    .store(log.log_start_offset(), Ordering::Release);
                if report.segments_deleted > 0 {
                    info!(
                        topic = %self.topic,
                        partition = self.index,
                        segments = report.segments_deleted,
                        bytes = report.bytes_deleted,
                        log_start_offset = report.log_start_offset,
                        "retention deleted old segments"
                    );
                }
            }
            Err(error) => {
                warn!(topic = %self.topic, partition = self.index, %error, "retention failed")
            }
        }
    }

    /// Applies a changed topic config to the log.
    pub fn set_config(&self, config: &TopicConfig) {
        let Ok(mut guard) = self.log.lock() else {
            return;
        };
        let Some(log) = guard.as_mut() else { return };
        if let Err(error) = log.set_config(log_config(config)) {
            warn!(topic = %self.topic, partition = self.index, %error, "config not applied");
        }
    }

    /// Deletes every record below `offset` (DeleteRecords); -1 means the high watermark.
    /// Returns the new log start offset.
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, ErrorCode> {
        let mut guard = self
            .log
            .lock()
            .map_err(|_| ErrorCode::KAFKA_STORAGE_ERROR)?;
        let log = guard.as_mut().ok_or(ErrorCode::KAFKA_STORAGE_ERROR)?;
        let high_watermark = self.high_watermark();
        let offset = if offset == -1 { high_watermark } else { offset };
        if offset < 0 || offset > high_watermark {
            return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
        }
        let log_start_offset = log.delete_records_before(offset).map_err(|error| {
            error!(topic = %self.topic, partition = self.index, %error, "delete records failed");
            ErrorCode::KAFKA_STORAGE_ERROR
        })?;
        self.log_start_offset
            .store(log_start_offset, Ordering::Release);
        Ok(log_start_offset)
    }

    /// Closes the log and removes its directory (the topic was deleted).
    pub fn delete(&self) {
        let Ok(mut guard) = self.log.lock() else {
            return;
        };
        if let Some(log) = guard.take()
            && let Err(error) = log.delete()
        {
            error!(topic = %self.topic, partition = self.index, %error, "cannot remove partition directory");
        }
        self.flush_wanted.notify_one();
    }

    /// Flushes and closes the log; later appends and reads fail with a storage error.
    pub fn close(&self) {
        let Ok(mut guard) = self.log.lock() else {
            return;
        };
        if let Some(log) = guard.take()
            && let Err(error) = log.close()
        {
            error!(topic = %self.topic, partition = self.index, %error, "close failed");
        }
        // Wake the flusher so that it sees the log is gone and ends.
        self.flush_wanted.notify_one();
    }
}

fn storage_refusal(message: &str) -> AppendRefused {
    AppendRefused {
        code: ErrorCode::KAFKA_STORAGE_ERROR,
        message: message.to_owned(),
    }
}

/// Maps a refused append to its Kafka error code.
fn refusal(topic: &str, partition: i32, error: AppendError) -> AppendRefused {
    let code = match &error {
        AppendError::CorruptMessage { .. } => ErrorCode::CORRUPT_MESSAGE,
        AppendError::InvalidRecord { .. } => ErrorCode::INVALID_RECORD,
        AppendError::MessageTooLarge { .. } => ErrorCode::MESSAGE_TOO_LARGE,
        AppendError::RecordListTooLarge { .. } => ErrorCode::RECORD_LIST_TOO_LARGE,
        AppendError::InvalidTimestamp { .. } => ErrorCode::INVALID_TIMESTAMP,
        AppendError::OutOfOrderSequence { .. } => ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
        AppendError::InvalidProducerEpoch { .. } => ErrorCode::INVALID_PRODUCER_EPOCH,
        AppendError::InvalidTxnState { .. } => ErrorCode::INVALID_TXN_STATE,
        AppendError::Storage(storage) => {
            error!(%topic, partition, error = %storage, "append failed: partition refuses writes");
            ErrorCode::KAFKA_STORAGE_ERROR
        }
        _ => ErrorCode::UNKNOWN_SERVER_ERROR,
    };
    AppendRefused {
        code,
        message: error.to_string(),
    }
}

/// Makes appends durable: waits to be asked, syncs outside the lock, publishes the
/// durable offset, repeats. Ends when the partition is closed.
async fn flusher(partition: Arc<Partition>) {
    loop {
        partition.flush_wanted.notified().await;
        let ticket = {
            let Ok(mut guard) = partition.log.lock() else {
                return;
            };
            let Some(log) = guard.as_mut() else { return };
            log.begin_flush()
        };
        let ticket = match ticket {
            Ok(ticket) => ticket,
            Err(error) => {
                error!(topic = %partition.topic, partition = partition.index, %error, "flush failed");
                partition.durable.send_modify(|d| d.failed = true);
                return;
            }
        };
        let synced = tokio::task::spawn_blocking(move || ticket.sync()).await;
        let Ok(mut guard) = partition.log.lock() else {
            return;
        };
        let Some(log) = guard.as_mut() else { return };
        let outcome = match synced {
            Ok(result) => log.finish_flush(result),
            Err(join_error) => {
                error!(%join_error, "flush task failed");
                partition.durable.send_modify(|d| d.failed = true);
                return;
            }
        };
        match outcome {
            Ok(durable_offset) => partition.durable.send_modify(|d| d.offset = durable_offset),
            Err(error) => {
                error!(topic = %partition.topic, partition = partition.index, %error, "fsync failed: partition refuses writes");
                partition.durable.send_modify(|d| d.failed = true);
                return;
            }
        }
    }
}

fn write_partition_metadata(dir: &Path, topic_id: Uuid) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(PARTITION_METADATA);
    if let Some(existing) = read_partition_metadata(dir) {
        if existing == topic_id {
            return Ok(());
        }
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} belongs to topic id {existing}, not {topic_id}",
                path.display()
            ),
        ));
    }
    let tmp = dir.join(format!("{PARTITION_METADATA}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(format!("version: 0\ntopic_id: {}\n", hex(&topic_id)).as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    if let Some(parent) = dir.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn read_partition_metadata(dir: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(dir.join(PARTITION_METADATA)).ok()?;
    let id = text
        .lines()
        .find_map(|line| line.strip_prefix("topic_id: "))?;
    let mut bytes = [0u8; 16];
    if id.len() != 32 {
        return None;
    }
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(id.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Uuid(bytes))
}

fn hex(id: &Uuid) -> String {
    id.0.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn resolved(configs: &[(&str, &str)]) -> LogConfig {
        let overrides: BTreeMap<String, String> = configs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        log_config(&TopicConfig::resolve(&overrides, &TopicConfig::default()))
    }

    #[test]
    fn only_the_delete_policy_deletes_by_age_or_size() {
        let retention = [("retention.ms", "1000"), ("retention.bytes", "4096")];
        let delete = resolved(&retention);
        assert_eq!(
            (delete.retention_ms, delete.retention_bytes),
            (Some(1000), Some(4096))
        );
        let compact = resolved(&[retention[0], retention[1], ("cleanup.policy", "compact")]);
        assert_eq!(
            (compact.retention_ms, compact.retention_bytes),
            (None, None)
        );
        let both = resolved(&[
            retention[0],
            retention[1],
            ("cleanup.policy", "compact,delete"),
        ]);
        assert_eq!(
            (both.retention_ms, both.retention_bytes),
            (Some(1000), Some(4096))
        );
    }

    fn transactional(producer_id: i64, sequence: i32, value: &str) -> Bytes {
        let mut builder = fjord_records::BatchBuilder::new(0)
            .producer(producer_id, 0, sequence)
            .transactional(true);
        builder
            .append(now_ms(), None, Some(value.as_bytes()), &[])
            .expect("one record fits");
        builder.build().expect("a valid batch")
    }

    #[tokio::test]
    #[allow(clippy::unwrap_used)]
    async fn a_marker_moves_the_last_stable_offset_and_wakes_long_polls() {
        let dir = tempfile::tempdir().unwrap();
        let appended = Arc::new(Notify::new());
        let partition = Partition::open(
            dir.path().join("t-0"),
            "t".into(),
            Uuid::ZERO,
            0,
            1,
            &TopicConfig::default(),
            appended.clone(),
        )
        .await
        .unwrap();
        partition
            .append(transactional(5, 0, "a"))
            .await
            .ok()
            .unwrap();
        partition
            .append(transactional(6, 0, "b"))
            .await
            .ok()
            .unwrap();
        assert_eq!(partition.high_watermark(), 2);
        assert_eq!(partition.last_stable_offset(), 0);
        let read = partition.read_isolated(0, 1 << 20, true, true).unwrap();
        assert!(read.records.is_empty());
        assert_eq!(read.aborted_transactions, Some(vec![]));
        let read = partition.read_isolated(0, 1 << 20, true, false).unwrap();
        assert!(!read.records.is_empty());
        assert_eq!(read.aborted_transactions, None);

        let woken = appended.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let offset = partition
            .append_end_txn_marker(5, 0, ControlRecordType::Abort, 0)
            .await
            .ok()
            .unwrap();
        assert_eq!(offset, 2);
        tokio::time::timeout(std::time::Duration::from_secs(5), woken)
            .await
            .unwrap();
        assert_eq!(
            partition.last_stable_offset(),
            1,
            "producer 6 is still open"
        );
        partition.wait_durable(offset).await.unwrap();

        partition
            .append_end_txn_marker(6, 0, ControlRecordType::Commit, 0)
            .await
            .ok()
            .unwrap();
        assert_eq!(partition.last_stable_offset(), 4);
        let read = partition.read_isolated(0, 1 << 20, true, true).unwrap();
        assert_eq!(read.aborted_transactions, Some(vec![(5, 0)]));
        assert_eq!(read.last_stable_offset, 4);
        // A marker needs a real producer epoch (older ones: see fjord-log's tests).
        let refused = partition
            .append_end_txn_marker(6, -1, ControlRecordType::Commit, 0)
            .await
            .err()
            .unwrap();
        assert_eq!(refused.code, ErrorCode::INVALID_RECORD);
        partition.close();
    }
}
