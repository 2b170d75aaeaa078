//! Per-topic log settings, built by the broker from topic configs.

use fjord_records::{BATCH_HEADER_LEN, Compression, DecompressionLimits, TimestampType};

use crate::error::ConfigError;

/// Size of one offset index entry; `segment_index_bytes` is counted in these.
pub(crate) const OFFSET_INDEX_ENTRY_BYTES: u64 = 8;
/// Size of one time index entry.
pub(crate) const TIME_INDEX_ENTRY_BYTES: u64 = 12;

/// The settings of one partition log. Field names follow Kafka's topic configs
/// (`segment.bytes` is `segment_bytes`); [`LogConfig::default`] holds Kafka's
/// defaults, in one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: a segment is rolled before a batch would take it past
    /// this size. At most `i32::MAX`, because index entries store 32-bit
    /// positions.
    pub segment_bytes: u64,
    /// `segment.ms`: a segment is rolled once this long has passed since its
    /// first batch was appended.
    pub segment_ms: i64,
    /// `segment.index.bytes`: a segment is rolled when its offset or time index
    /// would grow past this size, which bounds the index files.
    pub segment_index_bytes: u64,
    /// `retention.ms`: sealed segments whose newest timestamp is older than this
    /// are deleted. `None` is Kafka's -1, keep forever.
    pub retention_ms: Option<i64>,
    /// `retention.bytes`: the oldest sealed segments are deleted while the log
    /// would stay at least this large without them. `None` is Kafka's -1.
    pub retention_bytes: Option<i64>,
    /// `index.interval.bytes`: roughly how many log bytes lie between two offset
    /// index entries.
    pub index_interval_bytes: u64,
    /// `max.message.bytes`: the largest batch accepted, header included.
    pub max_message_bytes: u64,
    /// `message.timestamp.type`: keep the producer's timestamps, or stamp each
    /// batch with the broker's clock when it is appended.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms` (KIP-937): with CreateTime, a record
    /// timestamp more than this far behind the broker's clock is rejected.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms` (KIP-937): with CreateTime, a record
    /// timestamp more than this far ahead of the broker's clock is rejected.
    pub message_timestamp_after_max_ms: i64,
    /// How far a compressed batch may expand while it is validated.
    pub decompression_limits: DecompressionLimits,
    /// The topic's `compression.type`: `None` keeps the producer's codec (`producer`);
    /// otherwise batches in another codec are recompressed into this one on append.
    pub compression: Option<Compression>,
    /// `producer.id.expiration.ms` (a broker config in Kafka): idempotent
    /// producer state not used for this long is dropped by
    /// [`PartitionLog::enforce_retention`](crate::PartitionLog::enforce_retention),
    /// which bounds the memory producer ids take.
    pub producer_id_expiration_ms: i64,
}

impl LogConfig {
    /// Kafka's `segment.bytes` default, 1 GiB.
    pub const SEGMENT_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;
    /// Kafka's `segment.ms` default, 7 days.
    pub const SEGMENT_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;
    /// Kafka's `segment.index.bytes` default, 10 MiB.
    pub const SEGMENT_INDEX_BYTES_DEFAULT: u64 = 10 * 1024 * 1024;
    /// Kafka's `retention.ms` default, 7 days.
    pub const RETENTION_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;
    /// Kafka's `index.interval.bytes` default.
    pub const INDEX_INTERVAL_BYTES_DEFAULT: u64 = 4096;
    /// Kafka's `max.message.bytes` default: 1 MiB plus record batch overhead.
    pub const MAX_MESSAGE_BYTES_DEFAULT: u64 = 1_048_588;
    /// Kafka's `message.timestamp.after.max.ms` default, one hour.
    pub const MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT: i64 = 60 * 60 * 1000;
    /// Kafka's `producer.id.expiration.ms` default, one day.
    pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: i64 = 24 * 60 * 60 * 1000;

    /// Checks every setting and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let segment_bytes_min = BATCH_HEADER_LEN as u64;
        if self.segment_bytes < segment_bytes_min || self.segment_bytes > i32::MAX as u64 {
            problems.push(format!(
                "segment_bytes is {}, must be between {segment_bytes_min} and {}",
                self.segment_bytes,
                i32::MAX
            ));
        }
        if self.segment_ms < 1 {
            problems.push(format!(
                "segment_ms is {}, must be at least 1",
                self.segment_ms
            ));
        }
        let index_bytes_min = OFFSET_INDEX_ENTRY_BYTES.max(TIME_INDEX_ENTRY_BYTES);
        if self.segment_index_bytes < index_bytes_min || self.segment_index_bytes > i32::MAX as u64
        {
            problems.push(format!(
                "segment_index_bytes is {}, must be between {index_bytes_min} and {}",
                self.segment_index_bytes,
                i32::MAX
            ));
        }
        if let Some(retention_ms) = self.retention_ms
            && retention_ms < 0
        {
            problems.push(format!(
                "retention_ms is {retention_ms}: use None (Kafka's -1) for no limit"
            ));
        }
        if let Some(retention_bytes) = self.retention_bytes
            && retention_bytes < 0
        {
            problems.push(format!(
                "retention_bytes is {retention_bytes}: use None (Kafka's -1) for no limit"
            ));
        }
        if self.index_interval_bytes > i32::MAX as u64 {
            problems.push(format!(
                "index_interval_bytes is {}, must be at most {}",
                self.index_interval_bytes,
                i32::MAX
            ));
        }
        if self.max_message_bytes < BATCH_HEADER_LEN as u64
            || self.max_message_bytes > i32::MAX as u64
        {
            problems.push(format!(
                "max_message_bytes is {}, must be between {BATCH_HEADER_LEN} and {}",
                self.max_message_bytes,
                i32::MAX
            ));
        }
        if self.message_timestamp_before_max_ms < 0 {
            problems.push(format!(
                "message_timestamp_before_max_ms is {}, must not be negative",
                self.message_timestamp_before_max_ms
            ));
        }
        if self.message_timestamp_after_max_ms < 0 {
            problems.push(format!(
                "message_timestamp_after_max_ms is {}, must not be negative",
                self.message_timestamp_after_max_ms
            ));
        }
        if self.producer_id_expiration_ms < 1 {
            problems.push(format!(
                "producer_id_expiration_ms is {}, must be at least 1",
                self.producer_id_expiration_ms
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// How many offset index entries one segment may hold.
    pub(crate) fn offset_index_entries_max(&self) -> u64 {
        self.segment_index_bytes / OFFSET_INDEX_ENTRY_BYTES
    }

    /// How many time index entries one segment may hold.
    pub(crate) fn time_index_entries_max(&self) -> u64 {
        self.segment_index_bytes / TIME_INDEX_ENTRY_BYTES
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: Self::SEGMENT_BYTES_DEFAULT,
            segment_ms: Self::SEGMENT_MS_DEFAULT,
            segment_index_bytes: Self::SEGMENT_INDEX_BYTES_DEFAULT,
            retention_ms: Some(Self::RETENTION_MS_DEFAULT),
            retention_bytes: None,
            index_interval_bytes: Self::INDEX_INTERVAL_BYTES_DEFAULT,
            max_message_bytes: Self::MAX_MESSAGE_BYTES_DEFAULT,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: Self::MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT,
            decompression_limits: DecompressionLimits::default(),
            compression: None,
            producer_id_expiration_ms: Self::PRODUCER_ID_EXPIRATION_MS_DEFAULT,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        LogConfig::default().validate().unwrap();
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = LogConfig {
            segment_bytes: 10,
            segment_ms: 0,
            retention_ms: Some(-1),
            retention_bytes: Some(-1),
            max_message_bytes: u64::MAX,
            ..LogConfig::default()
        };
        let error = config.validate().unwrap_err();
        assert_eq!(error.problems.len(), 5, "{error}");
    }
}
