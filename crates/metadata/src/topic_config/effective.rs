//! A topic's effective config: typed values, overrides over broker defaults.

use std::collections::BTreeMap;

use super::value::{self, ConfigError, Value, render_double};

/// How a topic's old data is removed (`cleanup.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CleanupPolicy {
    /// Segments past `retention.ms` or `retention.bytes` are deleted.
    pub delete: bool,
    /// Only the latest record per key is kept. Stored and reported; compaction itself
    /// is not implemented yet.
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}

/// How the broker stores batches (`compression.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionType {
    /// As the producer compressed them.
    #[default]
    Producer,
    /// Decompressed.
    Uncompressed,
    /// Recompressed with gzip.
    Gzip,
    /// Recompressed with snappy.
    Snappy,
    /// Recompressed with lz4.
    Lz4,
    /// Recompressed with zstd.
    Zstd,
}

impl CompressionType {
    /// Kafka's name for it, the config's value.
    pub const fn name(self) -> &'static str {
        match self {
            CompressionType::Producer => "producer",
            CompressionType::Uncompressed => "uncompressed",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "producer" => CompressionType::Producer,
            "uncompressed" => CompressionType::Uncompressed,
            "gzip" => CompressionType::Gzip,
            "snappy" => CompressionType::Snappy,
            "lz4" => CompressionType::Lz4,
            "zstd" => CompressionType::Zstd,
            _ => return None,
        })
    }
}

/// Which timestamp records carry (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageTimestampType {
    /// The producer's timestamp, checked against
    /// `message.timestamp.{before,after}.max.ms`.
    #[default]
    CreateTime,
    /// The broker's clock when it appends the batch.
    LogAppendTime,
}

impl MessageTimestampType {
    /// Kafka's name for it, the config's value.
    pub const fn name(self) -> &'static str {
        match self {
            MessageTimestampType::CreateTime => "CreateTime",
            MessageTimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// The broker-level defaults for topic configs, which the broker fills from its own
/// configuration (`log.retention.ms` and so on). Every topic config with a broker
/// synonym has one, so the defaults are a complete [`TopicConfig`]; its `Default` is
/// Kafka's.
pub type BrokerDefaults = TopicConfig;

/// The effective config of one topic, typed: each value is the topic's override if it
/// has one, else the broker's default.
///
/// Field names are the configs' names with `_` for `.`; sentinel values Kafka uses
/// for "no limit" are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `compression.type`.
    pub compression_type: CompressionType,
    /// `compression.gzip.level`: 1 to 9, or -1 for gzip's default.
    pub compression_gzip_level: i32,
    /// `compression.lz4.level`: 1 to 17.
    pub compression_lz4_level: i32,
    /// `compression.zstd.level`.
    pub compression_zstd_level: i32,
    /// `delete.retention.ms`.
    pub delete_retention_ms: i64,
    /// `file.delete.delay.ms`.
    pub file_delete_delay_ms: i64,
    /// `flush.messages`: fsync after this many messages.
    pub flush_messages: u64,
    /// `flush.ms`: fsync when data has been unflushed this long.
    pub flush_ms: i64,
    /// `index.interval.bytes`.
    pub index_interval_bytes: u32,
    /// `max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: u32,
    /// `message.timestamp.after.max.ms`.
    pub message_timestamp_after_max_ms: i64,
    /// `message.timestamp.before.max.ms`.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.type`.
    pub message_timestamp_type: MessageTimestampType,
    /// `min.cleanable.dirty.ratio`: 0 to 1.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `min.insync.replicas`.
    pub min_insync_replicas: u32,
    /// `preallocate`.
    pub preallocate: bool,
    /// `retention.bytes`: `None` when negative (no size limit).
    pub retention_bytes: Option<u64>,
    /// `retention.ms`: `None` when -1 (kept forever).
    pub retention_ms: Option<i64>,
    /// `segment.bytes`.
    pub segment_bytes: u64,
    /// `segment.index.bytes`.
    pub segment_index_bytes: u64,
    /// `segment.jitter.ms`.
    pub segment_jitter_ms: i64,
    /// `segment.ms`.
    pub segment_ms: i64,
    /// `unclean.leader.election.enable`.
    pub unclean_leader_election_enable: bool,
}

/// Kafka's defaults. The text defaults in [`TOPIC_CONFIGS`](super::TOPIC_CONFIGS) are
/// the same values, which a test checks.
impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            cleanup_policy: CleanupPolicy::default(),
            compression_type: CompressionType::Producer,
            compression_gzip_level: -1,
            compression_lz4_level: 9,
            compression_zstd_level: 3,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            file_delete_delay_ms: 60_000,
            flush_messages: i64::MAX as u64,
            flush_ms: i64::MAX,
            index_interval_bytes: 4096,
            max_compaction_lag_ms: i64::MAX,
            // 1 MiB plus the 12-byte log overhead of the old message format.
            max_message_bytes: 1024 * 1024 + 12,
            message_timestamp_after_max_ms: 60 * 60 * 1000,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_type: MessageTimestampType::CreateTime,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            min_insync_replicas: 1,
            preallocate: false,
            retention_bytes: None,
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            segment_bytes: 1024 * 1024 * 1024,
            segment_index_bytes: 10 * 1024 * 1024,
            segment_jitter_ms: 0,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            unclean_leader_election_enable: false,
        }
    }
}

impl TopicConfig {
    /// The effective config of a topic with these overrides.
    ///
    /// Overrides were validated before they were written to the metadata log, so all
    /// of them normally apply. One that does not (a config a later version of Fjord
    /// no longer knows, or a value it no longer accepts) is skipped and the broker
    /// default used, so that the topic stays usable; [`validate_topic_configs_with`]
    /// names the skipped ones for a log line.
    ///
    /// [`validate_topic_configs_with`]: super::validate_topic_configs_with
    pub fn resolve(overrides: &BTreeMap<String, String>, defaults: &BrokerDefaults) -> Self {
        Self::resolve_reporting(overrides, defaults).0
    }

    /// Resolves, and also returns every override that did not apply and any conflict
    /// between the resulting values.
    pub(crate) fn resolve_reporting(
        overrides: &BTreeMap<String, String>,
        defaults: &BrokerDefaults,
    ) -> (Self, Vec<ConfigError>) {
        let mut config = defaults.clone();
        let mut errors = Vec::new();
        for (name, text) in overrides {
            match value::parse(name, text) {
                Ok((def, value)) => config.set(def.name, &value),
                Err(e) => errors.push(e),
            }
        }
        if config.min_compaction_lag_ms > config.max_compaction_lag_ms {
            errors.push(ConfigError::Conflict {
                name: "min.compaction.lag.ms".to_owned(),
                value: config.min_compaction_lag_ms.to_string(),
                other_name: "max.compaction.lag.ms".to_owned(),
                other_value: config.max_compaction_lag_ms.to_string(),
            });
        }
        (config, errors)
    }

    /// The value of the named config as Kafka would print it, or `None` for a config
    /// that has no typed value here (no broker default: the throttled replica lists).
    pub fn value_text(&self, name: &str) -> Option<String> {
        Some(match name {
            "cleanup.policy" => match (self.cleanup_policy.compact, self.cleanup_policy.delete) {
                (true, true) => "compact,delete".to_owned(),
                (true, false) => "compact".to_owned(),
                (false, true) => "delete".to_owned(),
                (false, false) => String::new(),
            },
            "compression.type" => self.compression_type.name().to_owned(),
            "compression.gzip.level" => self.compression_gzip_level.to_string(),
            "compression.lz4.level" => self.compression_lz4_level.to_string(),
            "compression.zstd.level" => self.compression_zstd_level.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "file.delete.delay.ms" => self.file_delete_delay_ms.to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "max.compaction.lag.ms" => self.max_compaction_lag_ms.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.after.max.ms" => self.message_timestamp_after_max_ms.to_string(),
            "message.timestamp.before.max.ms" => self.message_timestamp_before_max_ms.to_string(),
            "message.timestamp.type" => self.message_timestamp_type.name().to_owned(),
            "min.cleanable.dirty.ratio" => render_double(self.min_cleanable_dirty_ratio),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "preallocate" => self.preallocate.to_string(),
            "retention.bytes" => match self.retention_bytes {
                Some(bytes) => bytes.to_string(),
                None => "-1".to_owned(),
            },
            "retention.ms" => match self.retention_ms {
                Some(ms) => ms.to_string(),
                None => "-1".to_owned(),
            },
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "segment.jitter.ms" => self.segment_jitter_ms.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "unclean.leader.election.enable" => self.unclean_leader_election_enable.to_string(),
            _ => return None,
        })
    }

    /// Sets the named config from a value that passed its validator, which is what
    /// makes the conversions below lossless.
    fn set(&mut self, name: &str, value: &Value) {
        let integer = match value {
            Value::Int(v) => i64::from(*v),
            Value::Long(v) => *v,
            _ => 0,
        };
        let non_negative = u64::try_from(integer).unwrap_or(0);
        let boolean = matches!(value, Value::Boolean(true));
        let text = match value {
            Value::String(s) => s.as_str(),
            _ => "",
        };
        match name {
            "cleanup.policy" => {
                if let Value::List(items) = value {
                    self.cleanup_policy = CleanupPolicy {
                        delete: items.iter().any(|i| i == "delete"),
                        compact: items.iter().any(|i| i == "compact"),
                    };
                }
            }
            "compression.type" => {
                if let Some(compression) = CompressionType::from_name(text) {
                    self.compression_type = compression;
                }
            }
            "compression.gzip.level" => self.compression_gzip_level = integer as i32,
            "compression.lz4.level" => self.compression_lz4_level = integer as i32,
            "compression.zstd.level" => self.compression_zstd_level = integer as i32,
            "delete.retention.ms" => self.delete_retention_ms = integer,
            "file.delete.delay.ms" => self.file_delete_delay_ms = integer,
            "flush.messages" => self.flush_messages = non_negative,
            "flush.ms" => self.flush_ms = integer,
            "index.interval.bytes" => self.index_interval_bytes = non_negative as u32,
            "max.compaction.lag.ms" => self.max_compaction_lag_ms = integer,
            "max.message.bytes" => self.max_message_bytes = non_negative as u32,
            "message.timestamp.after.max.ms" => self.message_timestamp_after_max_ms = integer,
            "message.timestamp.before.max.ms" => self.message_timestamp_before_max_ms = integer,
            "message.timestamp.type" => {
                self.message_timestamp_type = if text == "LogAppendTime" {
                    MessageTimestampType::LogAppendTime
                } else {
                    MessageTimestampType::CreateTime
                }
            }
            "min.cleanable.dirty.ratio" => {
                if let Value::Double(v) = value {
                    self.min_cleanable_dirty_ratio = *v;
                }
            }
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = integer,
            "min.insync.replicas" => self.min_insync_replicas = non_negative as u32,
            "preallocate" => self.preallocate = boolean,
            "retention.bytes" => self.retention_bytes = u64::try_from(integer).ok(),
            "retention.ms" => self.retention_ms = (integer >= 0).then_some(integer),
            "segment.bytes" => self.segment_bytes = non_negative,
            "segment.index.bytes" => self.segment_index_bytes = non_negative,
            "segment.jitter.ms" => self.segment_jitter_ms = integer,
            "segment.ms" => self.segment_ms = integer,
            "unclean.leader.election.enable" => self.unclean_leader_election_enable = boolean,
            // Stored-only configs (throttled replicas) have no typed value.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_config::TOPIC_CONFIGS;

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_match_the_table() {
        let defaults = TopicConfig::default();
        for def in TOPIC_CONFIGS {
            match defaults.value_text(def.name) {
                Some(text) => assert_eq!(text, def.default, "{}", def.name),
                None => assert!(
                    def.broker_synonyms.is_empty(),
                    "{} has no typed value",
                    def.name
                ),
            }
        }
    }

    #[test]
    fn every_config_with_a_broker_default_round_trips() {
        // Setting each config to its default text over a config with every field
        // changed must restore that field: proves set() and value_text() agree for
        // every name.
        let changed = TopicConfig::resolve(
            &overrides(&[
                ("cleanup.policy", "compact"),
                ("compression.type", "zstd"),
                ("compression.gzip.level", "5"),
                ("compression.lz4.level", "3"),
                ("compression.zstd.level", "-5"),
                ("delete.retention.ms", "1"),
                ("file.delete.delay.ms", "2"),
                ("flush.messages", "3"),
                ("flush.ms", "4"),
                ("index.interval.bytes", "5"),
                ("max.compaction.lag.ms", "600"),
                ("max.message.bytes", "7"),
                ("message.timestamp.after.max.ms", "8"),
                ("message.timestamp.before.max.ms", "9"),
                ("message.timestamp.type", "LogAppendTime"),
                ("min.cleanable.dirty.ratio", "0.25"),
                ("min.compaction.lag.ms", "10"),
                ("min.insync.replicas", "2"),
                ("preallocate", "true"),
                ("retention.bytes", "11"),
                ("retention.ms", "-1"),
                ("segment.bytes", "4096"),
                ("segment.index.bytes", "12"),
                ("segment.jitter.ms", "13"),
                ("segment.ms", "14"),
                ("unclean.leader.election.enable", "true"),
            ]),
            &BrokerDefaults::default(),
        );
        let defaults = TopicConfig::default();
        for def in TOPIC_CONFIGS {
            let Some(default_text) = defaults.value_text(def.name) else {
                continue;
            };
            assert_ne!(
                changed.value_text(def.name),
                Some(default_text.clone()),
                "{} was not changed",
                def.name
            );
            let restored = TopicConfig::resolve(&overrides(&[(def.name, def.default)]), &changed);
            assert_eq!(
                restored.value_text(def.name),
                Some(default_text),
                "{}",
                def.name
            );
        }
    }

    #[test]
    fn overrides_win_over_defaults() {
        let defaults = BrokerDefaults {
            retention_ms: Some(1000),
            segment_bytes: 2048,
            ..BrokerDefaults::default()
        };
        let config = TopicConfig::resolve(
            &overrides(&[
                ("retention.ms", "-1"),
                ("retention.bytes", "-7"),
                ("cleanup.policy", "compact, delete"),
            ]),
            &defaults,
        );
        assert_eq!(config.retention_ms, None);
        assert_eq!(config.retention_bytes, None);
        assert_eq!(config.segment_bytes, 2048);
        assert_eq!(
            config.cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: true
            }
        );
        assert_eq!(
            config.value_text("cleanup.policy").as_deref(),
            Some("compact,delete")
        );
    }

    #[test]
    fn invalid_overrides_fall_back_to_defaults() {
        let config = TopicConfig::resolve(
            &overrides(&[
                ("retention.ms", "forever"),
                ("no.such.config", "1"),
                ("segment.ms", "5"),
            ]),
            &BrokerDefaults::default(),
        );
        assert_eq!(config.retention_ms, TopicConfig::default().retention_ms);
        assert_eq!(config.segment_ms, 5);
    }
}
