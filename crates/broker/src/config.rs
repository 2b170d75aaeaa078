//! The broker's settings, with Kafka's defaults in one place.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the broker needs to know at startup. The `fjord` binary fills it from its
/// config file, `FJORD_*` variables and flags; tests build it directly.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// This broker's id (`node.id`).
    pub node_id: i32,
    /// The host and port clients are told to connect to. `None` means the address the
    /// listener is bound to, which is right for a single node on one machine.
    pub advertised_listener: Option<(String, u16)>,
    /// Where partitions and the metadata log live.
    pub data_dir: PathBuf,
    /// Largest request frame accepted (`socket.request.max.bytes`).
    pub request_bytes_max: usize,
    /// Requests read from one connection but not yet answered; more wait in the socket.
    pub connection_requests_in_flight_max: usize,
    /// Connections served at once; further connections wait in the accept queue.
    pub connections_max: usize,
    /// Create a topic when a client asks for it by Metadata or Produce
    /// (`auto.create.topics.enable`).
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic (`num.partitions`).
    pub num_partitions: i32,
    /// Broker-wide defaults of topic configs (`log.retention.ms` and friends).
    pub topic_defaults: fjord_metadata::topic_config::BrokerDefaults,
    /// Longest a Fetch may wait for data, whatever the client asks (`fetch.max.wait.ms` is
    /// the client's; this bounds it).
    pub fetch_wait_ms_max: u64,
    /// How often retention and segment rolling by time are checked
    /// (`log.retention.check.interval.ms`).
    pub retention_check_interval_ms: u64,
    /// How long a new group waits for more members before its first rebalance
    /// (`group.initial.rebalance.delay.ms`).
    pub group_initial_rebalance_delay_ms: u64,
    /// The shortest session timeout a group member may ask for
    /// (`group.min.session.timeout.ms`).
    pub group_session_timeout_ms_min: u64,
    /// The longest session timeout a group member may ask for
    /// (`group.max.session.timeout.ms`).
    pub group_session_timeout_ms_max: u64,
    /// How long the offsets of an empty group are kept (`offsets.retention.minutes`).
    pub offsets_retention_minutes: u64,
    /// How long a consumer group member (KIP-848 protocol) may go without a heartbeat
    /// (`group.consumer.session.timeout.ms`).
    pub group_consumer_session_timeout_ms: u64,
    /// How often consumer group members heartbeat, which is how soon they learn of a
    /// new assignment (`group.consumer.heartbeat.interval.ms`).
    pub group_consumer_heartbeat_interval_ms: u64,
    /// The longest `transaction.timeout.ms` a transactional producer may ask for
    /// (`transaction.max.timeout.ms`); longer ones get INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout_ms: u64,
    /// How long a transactional id is kept after its last transaction ended
    /// (`transactional.id.expiration.ms`).
    pub transactional_id_expiration_ms: u64,
}

impl BrokerConfig {
    /// The embedded default: node 1, data under `./fjord-data`.
    pub fn new(data_dir: PathBuf) -> BrokerConfig {
        BrokerConfig {
            node_id: 1,
            advertised_listener: None,
            data_dir,
            request_bytes_max: 100 * 1024 * 1024,
            connection_requests_in_flight_max: 64,
            connections_max: 10_000,
            auto_create_topics: true,
            num_partitions: 1,
            topic_defaults: fjord_metadata::topic_config::BrokerDefaults::default(),
            fetch_wait_ms_max: 30_000,
            retention_check_interval_ms: 300_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_session_timeout_ms_min: 6_000,
            group_session_timeout_ms_max: 1_800_000,
            offsets_retention_minutes: 10_080,
            group_consumer_session_timeout_ms: 45_000,
            group_consumer_heartbeat_interval_ms: 5_000,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
        }
    }

    /// Sets broker-wide defaults of topic configs from settings named as Kafka names them
    /// at broker level (`log.retention.ms`, `message.max.bytes`...). Reports every
    /// unknown name and invalid value.
    pub fn set_topic_defaults(&mut self, settings: &[(String, String)]) -> Result<(), Vec<String>> {
        use fjord_metadata::topic_config::{
            TOPIC_CONFIGS, TopicConfig, validate_topic_configs_with,
        };
        let mut problems = Vec::new();
        let mut overrides = std::collections::BTreeMap::new();
        for (broker_name, value) in settings {
            match TOPIC_CONFIGS
                .iter()
                .find(|def| def.broker_synonyms.contains(&broker_name.as_str()))
            {
                Some(def) => {
                    overrides.insert(def.name.to_owned(), value.clone());
                }
                None => problems.push(format!(
                    "{broker_name}: not a broker default of any topic config"
                )),
            }
        }
        if let Err(errors) = validate_topic_configs_with(&overrides, &self.topic_defaults) {
            problems.extend(errors.iter().map(|error| error.to_string()));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        self.topic_defaults = TopicConfig::resolve(&overrides, &self.topic_defaults);
        Ok(())
    }

    /// The address advertised to clients, given the address the listener is bound to.
    pub fn advertised(&self, bound: SocketAddr) -> (String, u16) {
        self.advertised_listener
            .clone()
            .unwrap_or_else(|| (bound.ip().to_string(), bound.port()))
    }
}
