//! Real Kafka clients (librdkafka, through the `rdkafka` crate) set up for tests against a
//! local broker: config builders with short timeouts, an admin client and the few admin
//! calls every test needs, and a way to wait for rdkafka's futures without an async test.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigEntry, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

/// How long one client request may take before the test fails: generous, because the
/// broker under test is a debug build sharing two cores with the client.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings every test client shares: the broker, IPv4 only (the listener is on
/// 127.0.0.1), and quick reconnects so that a restarted broker is found again at once.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("reconnect.backoff.ms", "10")
        .set("reconnect.backoff.max.ms", "200")
        .set("socket.timeout.ms", "30000")
        // librdkafka's own log lines go to stderr, where a failing test shows them.
        .set("log_level", "4");
    config
}

/// A producer as modern clients default to: acks=all with idempotence, so that retries
/// neither duplicate nor reorder.
pub fn producer_config(bootstrap: &str) -> ClientConfig {
    let mut config = client_config(bootstrap);
    config
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        .set("queue.buffering.max.messages", "200000")
        .set("queue.buffering.max.kbytes", "262144");
    config
}

/// A consumer for `assign()` with explicit offsets. librdkafka refuses `assign()`
/// without a `group.id`, but nothing is committed and no group is joined.
pub fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", "fjord-testkit-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100");
    config
}

/// An admin client for the broker at `bootstrap`.
pub fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    client_config(bootstrap)
        .create()
        .expect("create the admin client")
}

/// Admin options with the test timeout.
pub fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT))
}

/// Waits for `future`, which is one of rdkafka's: rdkafka completes them from its own
/// threads, so a small runtime that only parks this thread is enough.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("build a runtime to wait on")
        .block_on(future)
}

/// Creates `name` with `partitions` partitions and the given topic configs, and fails
/// the test if the broker refuses.
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let result = try_create_topic(bootstrap, name, partitions, configs);
    if let Err(code) = result {
        panic!("creating topic {name}: {code:?}");
    }
}

/// Creates `name` and returns the broker's per-topic error code, if any.
pub fn try_create_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), RDKafkaErrorCode> {
    let admin = admin(bootstrap);
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results =
        block_on(admin.create_topics([&topic], &admin_options())).expect("CreateTopics request");
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(()),
        Some(Err((_, code))) => Err(code),
        None => panic!("CreateTopics answered without a result for {name}"),
    }
}

/// The partition count of `topic` as Metadata reports it, or `None` if the broker does
/// not know the topic. Asks a fresh client, so no client-side cache is involved.
pub fn partition_count(bootstrap: &str, topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create a consumer");
    // Asking for every topic, rather than this one, keeps the request from auto-creating it.
    let metadata = consumer
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .expect("Metadata request");
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len())
}

/// Low and high watermarks (log start offset and high watermark) of one partition, from
/// ListOffsets earliest and latest.
pub fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> KafkaResult<(i64, i64)> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create a consumer");
    consumer.fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
}

/// The offset ListOffsets returns for `timestamp_ms` in one partition: the first message
/// whose timestamp is at least `timestamp_ms`, or [`Offset::End`] if there is none.
pub fn offset_for_time(bootstrap: &str, topic: &str, partition: i32, timestamp_ms: i64) -> Offset {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create a consumer");
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset(topic, partition, Offset::Offset(timestamp_ms))
        .expect("a valid timestamp");
    let answer = consumer
        .offsets_for_times(query, REQUEST_TIMEOUT)
        .expect("ListOffsets by timestamp");
    let element = answer
        .find_partition(topic, partition)
        .expect("the partition asked for");
    element.error().expect("no partition error");
    element.offset()
}

/// Deletes topic `name` and returns the broker's per-topic error code, if any.
pub fn delete_topic(bootstrap: &str, name: &str) -> Result<(), RDKafkaErrorCode> {
    let admin = admin(bootstrap);
    let results =
        block_on(admin.delete_topics(&[name], &admin_options())).expect("DeleteTopics request");
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(()),
        Some(Err((_, code))) => Err(code),
        None => panic!("DeleteTopics answered without a result for {name}"),
    }
}

/// The configs of one resource (a topic, or a broker) by name, from DescribeConfigs.
pub fn describe_configs(
    bootstrap: &str,
    resource: ResourceSpecifier<'_>,
) -> Result<BTreeMap<String, ConfigEntry>, RDKafkaErrorCode> {
    let admin = admin(bootstrap);
    let results = block_on(admin.describe_configs([&resource], &admin_options()))
        .expect("DescribeConfigs request");
    let result = results
        .into_iter()
        .next()
        .expect("DescribeConfigs answered without a result");
    result.map(|resource| {
        resource
            .entries
            .into_iter()
            .map(|entry| (entry.name.clone(), entry))
            .collect()
    })
}

/// The partitions currently assigned to a consumer (of any topic).
pub fn assigned_partitions<C: rdkafka::consumer::ConsumerContext>(
    consumer: &rdkafka::consumer::BaseConsumer<C>,
) -> std::collections::BTreeSet<i32> {
    use rdkafka::consumer::Consumer;
    consumer
        .assignment()
        .map(|list| list.elements().iter().map(|e| e.partition()).collect())
        .unwrap_or_default()
}

/// The two consumer group protocols librdkafka speaks (`group.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupProtocol {
    /// JoinGroup/SyncGroup/Heartbeat, with client-side assignors.
    Classic,
    /// ConsumerGroupHeartbeat (KIP-848), with server-side assignors.
    Consumer,
}

impl GroupProtocol {
    /// Both, for tests that run every scenario with each.
    pub const ALL: [GroupProtocol; 2] = [GroupProtocol::Classic, GroupProtocol::Consumer];

    /// A group member's config: `group.id`, the protocol, and the session settings that
    /// protocol takes. With `consumer`, session and heartbeat timing are the broker's
    /// (`group.consumer.*`); librdkafka refuses the classic settings then.
    pub fn member_config(self, bootstrap: &str, group: &str) -> ClientConfig {
        let mut config = client_config(bootstrap);
        config
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "100");
        match self {
            GroupProtocol::Classic => {
                config
                    .set("session.timeout.ms", "6000")
                    .set("heartbeat.interval.ms", "500");
            }
            GroupProtocol::Consumer => {
                config.set("group.protocol", "consumer");
            }
        }
        config
    }

    /// The group type a group of such members has, as ListGroups v5 names it.
    pub fn group_type(self) -> &'static str {
        match self {
            GroupProtocol::Classic => "classic",
            GroupProtocol::Consumer => "consumer",
        }
    }

    /// Sets a broker's group timing to what [`member_config`](Self::member_config)'s
    /// classic members ask for: a 6 s session and a 500 ms heartbeat, and no initial
    /// rebalance delay.
    pub fn configure_broker(config: &mut fjord_broker::BrokerConfig) {
        config.group_initial_rebalance_delay_ms = 0;
        config.group_consumer_session_timeout_ms = 6_000;
        config.group_consumer_heartbeat_interval_ms = 500;
    }
}
