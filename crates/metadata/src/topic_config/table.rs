//! The table of topic configs.

use super::{ConfigDef, ConfigType, Validator};

/// `Long.MAX_VALUE`, Kafka's "never" for flush and timestamp limits.
const LONG_MAX: &str = "9223372036854775807";

const fn def(
    name: &'static str,
    config_type: ConfigType,
    default: &'static str,
    validator: Validator,
    broker_synonyms: &'static [&'static str],
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        config_type,
        default,
        doc,
        validator,
        read_only: false,
        sensitive: false,
        broker_synonyms,
    }
}

/// Every topic config Fjord knows, in name order (so lookups can binary search).
///
/// Defaults are Kafka 4's. One deliberate difference: `segment.bytes` accepts values
/// down to 1 KiB, where Kafka 4.1 requires 1 MiB, so tests can roll segments cheaply;
/// every value Kafka accepts is accepted.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    def(
        "cleanup.policy",
        ConfigType::List,
        "delete",
        Validator::ListOf(&["compact", "delete"]),
        &["log.cleanup.policy"],
        "How old segments are removed: \"delete\" drops them past retention, \"compact\" keeps the latest record per key, both may be listed. An empty list removes nothing. Compaction is stored but not yet performed.",
    ),
    def(
        "compression.gzip.level",
        ConfigType::Int,
        "-1",
        Validator::BetweenOr {
            min: 1,
            max: 9,
            or: -1,
        },
        &["compression.gzip.level"],
        "The gzip level used when compression.type is gzip; -1 means gzip's default.",
    ),
    def(
        "compression.lz4.level",
        ConfigType::Int,
        "9",
        Validator::Between(1, 17),
        &["compression.lz4.level"],
        "The lz4 level used when compression.type is lz4.",
    ),
    def(
        "compression.type",
        ConfigType::String,
        "producer",
        Validator::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        &["compression.type"],
        "The codec batches are stored with: \"producer\" keeps the producer's, any other value recompresses with that codec.",
    ),
    def(
        "compression.zstd.level",
        ConfigType::Int,
        "3",
        Validator::Between(-131072, 22),
        &["compression.zstd.level"],
        "The zstd level used when compression.type is zstd.",
    ),
    def(
        "delete.retention.ms",
        ConfigType::Long,
        "86400000",
        Validator::AtLeast(0),
        &["log.cleaner.delete.retention.ms"],
        "How long tombstones stay readable in a compacted topic, so consumers see deletions.",
    ),
    def(
        "file.delete.delay.ms",
        ConfigType::Long,
        "60000",
        Validator::AtLeast(0),
        &["log.segment.delete.delay.ms"],
        "How long a deleted segment's files linger before removal, for readers still using them.",
    ),
    def(
        "flush.messages",
        ConfigType::Long,
        LONG_MAX,
        Validator::AtLeast(1),
        &["log.flush.interval.messages"],
        "Force an fsync after this many messages. acks=all writes are fsynced anyway.",
    ),
    def(
        "flush.ms",
        ConfigType::Long,
        LONG_MAX,
        Validator::AtLeast(0),
        &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        "Force an fsync when data has been unflushed this long. acks=all writes are fsynced anyway.",
    ),
    def(
        "follower.replication.throttled.replicas",
        ConfigType::List,
        "",
        Validator::ThrottledReplicas,
        &[],
        "Replicas whose follower-side replication is throttled: \"*\" or partition:broker pairs. Stored only.",
    ),
    def(
        "index.interval.bytes",
        ConfigType::Int,
        "4096",
        Validator::AtLeast(0),
        &["log.index.interval.bytes"],
        "Bytes of log between offset index entries; smaller means denser index, faster seeks.",
    ),
    def(
        "leader.replication.throttled.replicas",
        ConfigType::List,
        "",
        Validator::ThrottledReplicas,
        &[],
        "Replicas whose leader-side replication is throttled: \"*\" or partition:broker pairs. Stored only.",
    ),
    def(
        "max.compaction.lag.ms",
        ConfigType::Long,
        LONG_MAX,
        Validator::AtLeast(1),
        &["log.cleaner.max.compaction.lag.ms"],
        "Longest a record may stay uncompacted in a compacted topic.",
    ),
    def(
        "max.message.bytes",
        ConfigType::Int,
        "1048588",
        Validator::AtLeast(0),
        &["message.max.bytes"],
        "Largest record batch the topic accepts, after compression.",
    ),
    def(
        "message.timestamp.after.max.ms",
        ConfigType::Long,
        "3600000",
        Validator::AtLeast(0),
        &["log.message.timestamp.after.max.ms"],
        "How far in the future a CreateTime timestamp may be before the batch is rejected.",
    ),
    def(
        "message.timestamp.before.max.ms",
        ConfigType::Long,
        LONG_MAX,
        Validator::AtLeast(0),
        &["log.message.timestamp.before.max.ms"],
        "How far in the past a CreateTime timestamp may be before the batch is rejected.",
    ),
    def(
        "message.timestamp.type",
        ConfigType::String,
        "CreateTime",
        Validator::OneOf(&["CreateTime", "LogAppendTime"]),
        &["log.message.timestamp.type"],
        "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime).",
    ),
    def(
        "min.cleanable.dirty.ratio",
        ConfigType::Double,
        "0.5",
        Validator::DoubleBetween(0.0, 1.0),
        &["log.cleaner.min.cleanable.ratio"],
        "Fraction of a compacted log that must be uncompacted before it is compacted again.",
    ),
    def(
        "min.compaction.lag.ms",
        ConfigType::Long,
        "0",
        Validator::AtLeast(0),
        &["log.cleaner.min.compaction.lag.ms"],
        "Shortest time a record stays uncompacted in a compacted topic.",
    ),
    def(
        "min.insync.replicas",
        ConfigType::Int,
        "1",
        Validator::AtLeast(1),
        &["min.insync.replicas"],
        "Fewest in-sync replicas that must have an acks=all write before it is acknowledged.",
    ),
    def(
        "preallocate",
        ConfigType::Boolean,
        "false",
        Validator::Any,
        &["log.preallocate"],
        "Whether new segment files are allocated at full size up front. Stored only.",
    ),
    def(
        "retention.bytes",
        ConfigType::Long,
        "-1",
        Validator::Any,
        &["log.retention.bytes"],
        "Largest size a partition may grow to before old segments are deleted; negative means no limit.",
    ),
    def(
        "retention.ms",
        ConfigType::Long,
        "604800000",
        Validator::AtLeast(-1),
        &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        "How long records are kept before their segment may be deleted; -1 means forever.",
    ),
    def(
        "segment.bytes",
        ConfigType::Int,
        "1073741824",
        Validator::AtLeast(1024),
        &["log.segment.bytes"],
        "Size at which the active segment is closed and a new one started.",
    ),
    def(
        "segment.index.bytes",
        ConfigType::Int,
        "10485760",
        Validator::AtLeast(4),
        &["log.index.size.max.bytes"],
        "Largest size of a segment's offset index; a full index also rolls the segment.",
    ),
    def(
        "segment.jitter.ms",
        ConfigType::Long,
        "0",
        Validator::AtLeast(0),
        &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        "Random time subtracted from segment.ms per segment, so partitions do not all roll at once.",
    ),
    def(
        "segment.ms",
        ConfigType::Long,
        "604800000",
        Validator::AtLeast(1),
        &["log.roll.ms", "log.roll.hours"],
        "Age at which the active segment is closed even if not full, so retention can delete it.",
    ),
    def(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        "false",
        Validator::Any,
        &["unclean.leader.election.enable"],
        "Whether an out-of-sync replica may become leader, trading lost records for availability.",
    ),
];

/// The definition of the topic config with this name.
pub fn config_def(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS
        .binary_search_by(|def| def.name.cmp(name))
        .ok()
        .map(|i| &TOPIC_CONFIGS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in TOPIC_CONFIGS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} !< {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn lookup() {
        assert_eq!(
            config_def("retention.ms").map(|d| d.default),
            Some("604800000")
        );
        assert!(config_def("retention").is_none());
        assert!(config_def("message.downconversion.enable").is_none());
        for def in TOPIC_CONFIGS {
            assert_eq!(config_def(def.name), Some(def));
        }
    }
}
