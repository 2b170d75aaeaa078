//! Topic-level configs: the ones Fjord supports, with Kafka's names, types, defaults
//! and validation, and the broker configs they fall back to.
//!
//! - [`TOPIC_CONFIGS`] is the table: one [`ConfigDef`] per config, in name order.
//! - [`validate_topic_configs`] checks overrides for CreateTopics and AlterConfigs,
//!   reporting every problem as Kafka's `INVALID_CONFIG`.
//! - [`TopicConfig`] is the typed, effective config of one topic: its overrides over
//!   the broker's defaults ([`BrokerDefaults`], whose `Default` holds Kafka's).
//! - [`describe_topic_configs`] answers DescribeConfigs for a topic.
//!
//! Some configs are stored and reported but not acted on yet (compaction settings,
//! `preallocate`, `unclean.leader.election.enable` on one node, throttled replicas):
//! clients and tools set them, and refusing them would break those tools. Configs that
//! Kafka 4 removed (`message.format.version`, `message.downconversion.enable`) or that
//! belong to tiered storage (`remote.storage.enable`, `local.retention.*`) are unknown,
//! because accepting them would promise behaviour Fjord does not have.

mod describe;
mod effective;
mod table;
mod value;

pub use describe::{ConfigEntry, ConfigSynonym, describe_topic_config, describe_topic_configs};
pub use effective::{
    BrokerDefaults, CleanupPolicy, CompressionType, MessageTimestampType, TopicConfig,
};
pub use table::{TOPIC_CONFIGS, config_def};
pub use value::{ConfigError, validate_topic_configs, validate_topic_configs_with};

/// The type of a config's value, numbered as Kafka numbers it in DescribeConfigs
/// responses (`ConfigType`, v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigType {
    /// `true` or `false`, any case.
    Boolean,
    /// Text.
    String,
    /// A 32-bit integer.
    Int,
    /// A 16-bit integer.
    Short,
    /// A 64-bit integer.
    Long,
    /// A 64-bit float.
    Double,
    /// Comma-separated text items.
    List,
    /// A Java class name.
    Class,
    /// A secret: never returned by DescribeConfigs.
    Password,
}

impl ConfigType {
    /// Kafka's number for the type: BOOLEAN 1, STRING 2, INT 3, SHORT 4, LONG 5,
    /// DOUBLE 6, LIST 7, CLASS 8, PASSWORD 9 (0 is UNKNOWN).
    pub const fn id(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }

    /// Kafka's name for the type, as `kafka-configs --describe` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }
}

/// Where a config's value comes from, numbered as Kafka numbers it in DescribeConfigs
/// responses (`ConfigSource`, KIP-226 and later KIPs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigSource {
    /// UNKNOWN (0).
    Unknown,
    /// DYNAMIC_TOPIC_CONFIG (1; `TOPIC_CONFIG` in Kafka's Java client): a topic's
    /// own override.
    DynamicTopicConfig,
    /// DYNAMIC_BROKER_CONFIG (2): set at run time for one broker.
    DynamicBrokerConfig,
    /// DYNAMIC_DEFAULT_BROKER_CONFIG (3): set at run time for all brokers.
    DynamicDefaultBrokerConfig,
    /// STATIC_BROKER_CONFIG (4): the broker's configuration file.
    StaticBrokerConfig,
    /// DEFAULT_CONFIG (5): nobody set it; Kafka's default.
    DefaultConfig,
    /// DYNAMIC_BROKER_LOGGER_CONFIG (6): a broker's log level.
    DynamicBrokerLoggerConfig,
    /// CLIENT_METRICS_CONFIG (7): a client metrics subscription (KIP-714).
    ClientMetricsConfig,
    /// GROUP_CONFIG (8): a consumer or share group's config (KIP-848, KIP-932).
    GroupConfig,
}

impl ConfigSource {
    /// Kafka's number for the source.
    pub const fn id(self) -> i8 {
        match self {
            ConfigSource::Unknown => 0,
            ConfigSource::DynamicTopicConfig => 1,
            ConfigSource::DynamicBrokerConfig => 2,
            ConfigSource::DynamicDefaultBrokerConfig => 3,
            ConfigSource::StaticBrokerConfig => 4,
            ConfigSource::DefaultConfig => 5,
            ConfigSource::DynamicBrokerLoggerConfig => 6,
            ConfigSource::ClientMetricsConfig => 7,
            ConfigSource::GroupConfig => 8,
        }
    }
}

/// What values a config accepts, beyond parsing as its type.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Validator {
    /// Any value of the type.
    Any,
    /// An integer at least this.
    AtLeast(i64),
    /// An integer in this inclusive range.
    Between(i64, i64),
    /// An integer in the inclusive range, or the one extra value (gzip's -1, "the
    /// codec's default level").
    BetweenOr {
        /// Smallest value in the range.
        min: i64,
        /// Largest value in the range.
        max: i64,
        /// The extra value allowed outside the range.
        or: i64,
    },
    /// A number in this inclusive range.
    DoubleBetween(f64, f64),
    /// One of these strings, case-sensitive.
    OneOf(&'static [&'static str]),
    /// A list (possibly empty) whose items are each one of these, case-sensitive.
    ListOf(&'static [&'static str]),
    /// `*` or a list of `partition:broker` pairs (replication throttling).
    ThrottledReplicas,
}

/// One topic config: everything Kafka's `ConfigDef` says about it, plus the broker
/// configs it falls back to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfigDef {
    /// The config's name, as clients send it.
    pub name: &'static str,
    /// The type of its value.
    pub config_type: ConfigType,
    /// Kafka's default value, as text.
    pub default: &'static str,
    /// What it does, briefly; sent in DescribeConfigs v3+.
    pub doc: &'static str,
    /// What values it accepts.
    pub validator: Validator,
    /// Whether it cannot be changed. Kafka has no read-only topic configs; the field
    /// is here because DescribeConfigs reports it.
    pub read_only: bool,
    /// Whether its value is secret and never returned. No topic config is.
    pub sensitive: bool,
    /// The broker configs that supply the default when a topic does not override it,
    /// highest priority first (Kafka's `ServerTopicConfigSynonyms`). Empty when the
    /// broker has none.
    pub broker_synonyms: &'static [&'static str],
}
