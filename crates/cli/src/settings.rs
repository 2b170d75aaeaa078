//! `fjord serve` settings: one typed struct read from a TOML file, `FJORD_*` environment
//! variables and flags, in that order of precedence (flags win).
//!
//! Every setting has one name in three spellings: `--num-partitions` on the command line,
//! `FJORD_NUM_PARTITIONS` in the environment, `num-partitions` in the file. Kafka's name
//! of the same setting is given in each help text. An unknown key in the file or an
//! invalid value anywhere stops startup with a message naming every problem.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::ArgAction;
use serde::Deserialize;

/// Broker settings. Each is optional here so that the three sources can be layered;
/// Kafka's defaults apply to whatever no source sets.
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Address the Kafka listener binds to [default: 127.0.0.1:9092].
    #[arg(long, env = "FJORD_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,

    /// Address clients are told to connect to [default: the listen address].
    #[arg(long, env = "FJORD_ADVERTISED_LISTENER", value_name = "HOST:PORT")]
    pub advertised_listener: Option<String>,

    /// Directory of partitions and the metadata log [default: ./fjord-data].
    #[arg(long, env = "FJORD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// This broker's id (Kafka: node.id) [default: 1].
    #[arg(long, env = "FJORD_NODE_ID")]
    pub node_id: Option<i32>,

    /// Create topics that clients ask for (Kafka: auto.create.topics.enable) [default: true].
    #[arg(long, env = "FJORD_AUTO_CREATE_TOPICS_ENABLE", action = ArgAction::Set, value_name = "BOOL")]
    pub auto_create_topics_enable: Option<bool>,

    /// Partitions of an auto-created topic (Kafka: num.partitions) [default: 1].
    #[arg(long, env = "FJORD_NUM_PARTITIONS")]
    pub num_partitions: Option<i32>,

    /// Largest request accepted, in bytes (Kafka: socket.request.max.bytes) [default: 104857600].
    #[arg(long, env = "FJORD_SOCKET_REQUEST_MAX_BYTES")]
    pub socket_request_max_bytes: Option<usize>,

    /// Connections served at once (Kafka: max.connections) [default: 10000].
    #[arg(long, env = "FJORD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Requests per connection being handled at once [default: 64].
    #[arg(long, env = "FJORD_CONNECTION_REQUESTS_IN_FLIGHT_MAX")]
    pub connection_requests_in_flight_max: Option<usize>,

    /// Longest a Fetch may wait for data, in ms, whatever the client asks [default: 30000].
    #[arg(long, env = "FJORD_FETCH_WAIT_MAX_MS")]
    pub fetch_wait_max_ms: Option<u64>,

    /// How often retention is enforced, in ms (Kafka: log.retention.check.interval.ms)
    /// [default: 300000].
    #[arg(long, env = "FJORD_LOG_RETENTION_CHECK_INTERVAL_MS")]
    pub log_retention_check_interval_ms: Option<u64>,

    /// Default retention by age in ms, -1 for none (Kafka: log.retention.ms) [default: 604800000].
    #[arg(long, env = "FJORD_LOG_RETENTION_MS", allow_negative_numbers = true)]
    pub log_retention_ms: Option<i64>,

    /// Default retention by size per partition in bytes, -1 for none (Kafka:
    /// log.retention.bytes) [default: -1].
    #[arg(long, env = "FJORD_LOG_RETENTION_BYTES", allow_negative_numbers = true)]
    pub log_retention_bytes: Option<i64>,

    /// Default segment size in bytes (Kafka: log.segment.bytes) [default: 1073741824].
    #[arg(long, env = "FJORD_LOG_SEGMENT_BYTES")]
    pub log_segment_bytes: Option<i64>,

    /// Default age at which a segment is rolled, in ms (Kafka: log.roll.ms) [default: 604800000].
    #[arg(long, env = "FJORD_LOG_ROLL_MS")]
    pub log_roll_ms: Option<i64>,

    /// Default largest record batch in bytes (Kafka: message.max.bytes) [default: 1048588].
    #[arg(long, env = "FJORD_MESSAGE_MAX_BYTES")]
    pub message_max_bytes: Option<i32>,

    /// Default timestamp type: CreateTime or LogAppendTime (Kafka:
    /// log.message.timestamp.type) [default: CreateTime].
    #[arg(long, env = "FJORD_LOG_MESSAGE_TIMESTAMP_TYPE")]
    pub log_message_timestamp_type: Option<String>,

    /// Default bound on how far in the past a CreateTime timestamp may be, in ms (Kafka:
    /// log.message.timestamp.before.max.ms) [default: 9223372036854775807].
    #[arg(long, env = "FJORD_LOG_MESSAGE_TIMESTAMP_BEFORE_MAX_MS")]
    pub log_message_timestamp_before_max_ms: Option<i64>,

    /// Default bound on how far in the future a CreateTime timestamp may be, in ms (Kafka:
    /// log.message.timestamp.after.max.ms) [default: 3600000].
    #[arg(long, env = "FJORD_LOG_MESSAGE_TIMESTAMP_AFTER_MAX_MS")]
    pub log_message_timestamp_after_max_ms: Option<i64>,

    /// How long a new group waits for more members before its first rebalance, in ms
    /// (Kafka: group.initial.rebalance.delay.ms) [default: 3000].
    #[arg(long, env = "FJORD_GROUP_INITIAL_REBALANCE_DELAY_MS")]
    pub group_initial_rebalance_delay_ms: Option<u64>,

    /// Shortest session timeout a group member may ask for, in ms (Kafka:
    /// group.min.session.timeout.ms) [default: 6000].
    #[arg(long, env = "FJORD_GROUP_MIN_SESSION_TIMEOUT_MS")]
    pub group_min_session_timeout_ms: Option<u64>,

    /// Longest session timeout a group member may ask for, in ms (Kafka:
    /// group.max.session.timeout.ms) [default: 1800000].
    #[arg(long, env = "FJORD_GROUP_MAX_SESSION_TIMEOUT_MS")]
    pub group_max_session_timeout_ms: Option<u64>,

    /// How long the committed offsets of an empty group are kept, in minutes (Kafka:
    /// offsets.retention.minutes) [default: 10080].
    #[arg(long, env = "FJORD_OFFSETS_RETENTION_MINUTES")]
    pub offsets_retention_minutes: Option<u64>,

    /// How long a member of a consumer group (group.protocol=consumer, KIP-848) may go
    /// without a heartbeat, in ms (Kafka: group.consumer.session.timeout.ms) [default:
    /// 45000].
    #[arg(long, env = "FJORD_GROUP_CONSUMER_SESSION_TIMEOUT_MS")]
    pub group_consumer_session_timeout_ms: Option<u64>,

    /// How often members of a consumer group (group.protocol=consumer) heartbeat, in ms;
    /// new assignments reach them at their next heartbeat (Kafka:
    /// group.consumer.heartbeat.interval.ms) [default: 5000].
    #[arg(long, env = "FJORD_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS")]
    pub group_consumer_heartbeat_interval_ms: Option<u64>,

    /// The longest transaction timeout a transactional producer may ask for, in ms
    /// (Kafka: transaction.max.timeout.ms) [default: 900000].
    #[arg(long, env = "FJORD_TRANSACTION_MAX_TIMEOUT_MS")]
    pub transaction_max_timeout_ms: Option<u64>,

    /// Default cleanup policy: delete or compact (Kafka: log.cleanup.policy) [default: delete].
    #[arg(long, env = "FJORD_LOG_CLEANUP_POLICY")]
    pub log_cleanup_policy: Option<String>,
}

impl Settings {
    /// Fills every setting this one lacks from `file`.
    pub fn or(self, file: Settings) -> Settings {
        Settings {
            listen: self.listen.or(file.listen),
            advertised_listener: self.advertised_listener.or(file.advertised_listener),
            data_dir: self.data_dir.or(file.data_dir),
            node_id: self.node_id.or(file.node_id),
            auto_create_topics_enable: self
                .auto_create_topics_enable
                .or(file.auto_create_topics_enable),
            num_partitions: self.num_partitions.or(file.num_partitions),
            socket_request_max_bytes: self
                .socket_request_max_bytes
                .or(file.socket_request_max_bytes),
            max_connections: self.max_connections.or(file.max_connections),
            connection_requests_in_flight_max: self
                .connection_requests_in_flight_max
                .or(file.connection_requests_in_flight_max),
            fetch_wait_max_ms: self.fetch_wait_max_ms.or(file.fetch_wait_max_ms),
            log_retention_check_interval_ms: self
                .log_retention_check_interval_ms
                .or(file.log_retention_check_interval_ms),
            log_retention_ms: self.log_retention_ms.or(file.log_retention_ms),
            log_retention_bytes: self.log_retention_bytes.or(file.log_retention_bytes),
            log_segment_bytes: self.log_segment_bytes.or(file.log_segment_bytes),
            log_roll_ms: self.log_roll_ms.or(file.log_roll_ms),
            message_max_bytes: self.message_max_bytes.or(file.message_max_bytes),
            log_message_timestamp_type: self
                .log_message_timestamp_type
                .or(file.log_message_timestamp_type),
            log_message_timestamp_before_max_ms: self
                .log_message_timestamp_before_max_ms
                .or(file.log_message_timestamp_before_max_ms),
            log_message_timestamp_after_max_ms: self
                .log_message_timestamp_after_max_ms
                .or(file.log_message_timestamp_after_max_ms),
            log_cleanup_policy: self.log_cleanup_policy.or(file.log_cleanup_policy),
            group_initial_rebalance_delay_ms: self
                .group_initial_rebalance_delay_ms
                .or(file.group_initial_rebalance_delay_ms),
            group_min_session_timeout_ms: self
                .group_min_session_timeout_ms
                .or(file.group_min_session_timeout_ms),
            group_max_session_timeout_ms: self
                .group_max_session_timeout_ms
                .or(file.group_max_session_timeout_ms),
            offsets_retention_minutes: self
                .offsets_retention_minutes
                .or(file.offsets_retention_minutes),
            group_consumer_session_timeout_ms: self
                .group_consumer_session_timeout_ms
                .or(file.group_consumer_session_timeout_ms),
            group_consumer_heartbeat_interval_ms: self
                .group_consumer_heartbeat_interval_ms
                .or(file.group_consumer_heartbeat_interval_ms),
            transaction_max_timeout_ms: self
                .transaction_max_timeout_ms
                .or(file.transaction_max_timeout_ms),
        }
    }

    /// Reads a TOML settings file; unknown keys are errors.
    pub fn from_file(path: &Path) -> anyhow::Result<Settings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid settings in {}", path.display()))
    }

    /// Checks every setting and builds the listener address and broker config, reporting
    /// all problems at once.
    pub fn resolve(self) -> anyhow::Result<(SocketAddr, fjord_broker::BrokerConfig)> {
        let mut problems = Vec::new();
        let listen = self.listen.unwrap_or_else(|| "127.0.0.1:9092".into());
        let listen_addr = match listen.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push(format!(
                    "listen: '{listen}' is not HOST:PORT with an IP address"
                ));
                None
            }
        };
        let mut config = fjord_broker::BrokerConfig::new(
            self.data_dir
                .unwrap_or_else(|| PathBuf::from("./fjord-data")),
        );
        if let Some(advertised) = self.advertised_listener {
            match advertised
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()))
            {
                Some((host, Ok(port))) if !host.is_empty() => {
                    config.advertised_listener = Some((host.to_owned(), port))
                }
                _ => problems.push(format!(
                    "advertised-listener: '{advertised}' is not HOST:PORT"
                )),
            }
        }
        if let Some(node_id) = self.node_id {
            if node_id < 0 {
                problems.push(format!("node-id: {node_id} must not be negative"));
            }
            config.node_id = node_id;
        }
        if let Some(enabled) = self.auto_create_topics_enable {
            config.auto_create_topics = enabled;
        }
        if let Some(partitions) = self.num_partitions {
            if partitions < 1 {
                problems.push(format!("num-partitions: {partitions} must be at least 1"));
            }
            config.num_partitions = partitions;
        }
        if let Some(bytes) = self.socket_request_max_bytes {
            if !(1024..=i32::MAX as usize).contains(&bytes) {
                problems.push(format!(
                    "socket-request-max-bytes: {bytes} must be between 1024 and {}",
                    i32::MAX
                ));
            }
            config.request_bytes_max = bytes;
        }
        if let Some(connections) = self.max_connections {
            if connections == 0 {
                problems.push("max-connections: must be at least 1".into());
            }
            config.connections_max = connections;
        }
        if let Some(in_flight) = self.connection_requests_in_flight_max {
            if in_flight == 0 {
                problems.push("connection-requests-in-flight-max: must be at least 1".into());
            }
            config.connection_requests_in_flight_max = in_flight;
        }
        if let Some(ms) = self.fetch_wait_max_ms {
            config.fetch_wait_ms_max = ms;
        }
        if let Some(ms) = self.log_retention_check_interval_ms {
            if ms == 0 {
                problems.push("log-retention-check-interval-ms: must be at least 1".into());
            }
            config.retention_check_interval_ms = ms;
        }
        if let Some(ms) = self.group_initial_rebalance_delay_ms {
            config.group_initial_rebalance_delay_ms = ms;
        }
        if let Some(ms) = self.group_min_session_timeout_ms {
            config.group_session_timeout_ms_min = ms;
        }
        if let Some(ms) = self.group_max_session_timeout_ms {
            config.group_session_timeout_ms_max = ms;
        }
        if config.group_session_timeout_ms_min > config.group_session_timeout_ms_max {
            problems.push(format!(
                "group-min-session-timeout-ms ({}) is larger than group-max-session-timeout-ms ({})",
                config.group_session_timeout_ms_min, config.group_session_timeout_ms_max
            ));
        }
        if let Some(minutes) = self.offsets_retention_minutes {
            if minutes == 0 {
                problems.push("offsets-retention-minutes: must be at least 1".into());
            }
            config.offsets_retention_minutes = minutes;
        }
        if let Some(ms) = self.group_consumer_session_timeout_ms {
            config.group_consumer_session_timeout_ms = ms;
        }
        if let Some(ms) = self.group_consumer_heartbeat_interval_ms {
            if ms == 0 {
                problems.push("group-consumer-heartbeat-interval-ms: must be at least 1".into());
            }
            config.group_consumer_heartbeat_interval_ms = ms;
        }
        if let Some(ms) = self.transaction_max_timeout_ms {
            // Kafka's setting is an int: the coordinator compares it with the producer's
            // int32 transaction.timeout.ms.
            if ms == 0 || ms > i32::MAX as u64 {
                problems.push(format!(
                    "transaction-max-timeout-ms: must be between 1 and {}",
                    i32::MAX
                ));
            }
            config.transaction_max_timeout_ms = ms;
        }
        if config.group_consumer_session_timeout_ms <= config.group_consumer_heartbeat_interval_ms {
            problems.push(format!(
                "group-consumer-session-timeout-ms ({}) must be larger than group-consumer-heartbeat-interval-ms ({})",
                config.group_consumer_session_timeout_ms,
                config.group_consumer_heartbeat_interval_ms
            ));
        }
        let mut defaults = Vec::new();
        let mut broker_default = |kafka_name: &str, value: Option<String>| {
            if let Some(value) = value {
                defaults.push((kafka_name.to_owned(), value));
            }
        };
        broker_default(
            "log.retention.ms",
            self.log_retention_ms.map(|v| v.to_string()),
        );
        broker_default(
            "log.retention.bytes",
            self.log_retention_bytes.map(|v| v.to_string()),
        );
        broker_default(
            "log.segment.bytes",
            self.log_segment_bytes.map(|v| v.to_string()),
        );
        broker_default("log.roll.ms", self.log_roll_ms.map(|v| v.to_string()));
        broker_default(
            "message.max.bytes",
            self.message_max_bytes.map(|v| v.to_string()),
        );
        broker_default(
            "log.message.timestamp.type",
            self.log_message_timestamp_type,
        );
        broker_default(
            "log.message.timestamp.before.max.ms",
            self.log_message_timestamp_before_max_ms
                .map(|v| v.to_string()),
        );
        broker_default(
            "log.message.timestamp.after.max.ms",
            self.log_message_timestamp_after_max_ms
                .map(|v| v.to_string()),
        );
        broker_default("log.cleanup.policy", self.log_cleanup_policy);
        if let Err(errors) = config.set_topic_defaults(&defaults) {
            problems.extend(errors);
        }
        match (problems.is_empty(), listen_addr) {
            (true, Some(addr)) => Ok((addr, config)),
            _ => bail!("invalid settings:\n  {}", problems.join("\n  ")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn transaction_max_timeout_ms_is_a_positive_int32() {
        let (_, config) = Settings {
            transaction_max_timeout_ms: Some(5_000),
            ..Settings::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(config.transaction_max_timeout_ms, 5_000);
        let (_, config) = Settings::default().resolve().unwrap();
        assert_eq!(config.transaction_max_timeout_ms, 900_000);
        for invalid in [0, u64::from(u32::MAX)] {
            let error = Settings {
                transaction_max_timeout_ms: Some(invalid),
                ..Settings::default()
            }
            .resolve()
            .unwrap_err()
            .to_string();
            assert!(error.contains("transaction-max-timeout-ms"), "{error}");
        }
    }
}
