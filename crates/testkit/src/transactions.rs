//! Transactions as real clients see them: a librdkafka transactional producer, and
//! consumers of either isolation level that read a partition to its end, where "end" is
//! what ListOffsets latest says for that isolation level (the high watermark for
//! read_uncommitted, the last stable offset for read_committed).

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use crate::clients::{REQUEST_TIMEOUT, consumer_config, producer_config};

/// A librdkafka producer with a `transactional.id`.
pub type TxnProducer = ThreadedProducer<DefaultProducerContext>;

/// Longest a read to the end of a partition may take before the test fails.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The two isolation levels of a consumer (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Sees every record below the high watermark, aborted ones included.
    ReadUncommitted,
    /// Sees records below the last stable offset, aborted ones dropped.
    ReadCommitted,
}

impl Isolation {
    /// The value of `isolation.level`.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "read_uncommitted",
            Isolation::ReadCommitted => "read_committed",
        }
    }

    /// A consumer for `assign()` (see [`consumer_config`]) at this isolation level.
    pub fn consumer_config(self, bootstrap: &str) -> ClientConfig {
        let mut config = consumer_config(bootstrap);
        config.set("isolation.level", self.name());
        config
    }
}

/// A transactional producer for `transactional_id`, with `transaction.timeout.ms` =
/// `timeout_ms`, after `init_transactions`.
pub fn transactional_producer(
    bootstrap: &str,
    transactional_id: &str,
    timeout_ms: u32,
) -> TxnProducer {
    let mut config: ClientConfig = producer_config(bootstrap);
    // librdkafka wants both at most the transaction's timeout.
    let socket_timeout_ms = timeout_ms.min(30_000).to_string();
    config
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", timeout_ms.to_string())
        .set("socket.timeout.ms", &socket_timeout_ms)
        .set("message.timeout.ms", &socket_timeout_ms);
    let producer: TxnProducer = config.create().expect("create a transactional producer");
    producer
        .init_transactions(REQUEST_TIMEOUT)
        .expect("init_transactions");
    producer
}

/// Sends `value` (also the key) to `topic`-`partition`; fails the test if the producer
/// refuses it at once.
pub fn send_value(producer: &TxnProducer, topic: &str, partition: i32, value: &str) {
    if let Err((error, _)) = producer.send(
        BaseRecord::to(topic)
            .partition(partition)
            .key(value)
            .payload(value),
    ) {
        panic!("sending {value:?} to {topic}-{partition}: {error}");
    }
}

/// The offset ListOffsets latest gives for `isolation`: the high watermark, or the last
/// stable offset. librdkafka sends its consumer's `isolation.level` with ListOffsets.
pub fn end_offset(
    bootstrap: &str,
    isolation: Isolation,
    topic: &str,
    partition: i32,
) -> KafkaResult<i64> {
    let consumer: BaseConsumer = isolation
        .consumer_config(bootstrap)
        .create()
        .expect("create a consumer");
    consumer
        .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
        .map(|(_, high)| high)
}

/// Every record of `topic`-`partition` that a consumer at `isolation` sees, from the
/// beginning up to [`end_offset`] as it was when the read began, as (offset, value).
///
/// The consumer's position passes control records and aborted records without
/// delivering them, so "the end" is reached when the position is there, not when the
/// last delivered record is.
pub fn read_partition(
    bootstrap: &str,
    isolation: Isolation,
    topic: &str,
    partition: i32,
) -> Vec<(i64, String)> {
    let consumer: BaseConsumer = isolation
        .consumer_config(bootstrap)
        .create()
        .expect("create a consumer");
    let (start, end) = consumer
        .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
        .expect("ListOffsets earliest and latest");
    // Nothing to read: a consumer would wait for records beyond the end, and deliver
    // the first one to come.
    if end <= start {
        return Vec::new();
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .expect("a valid offset");
    consumer.assign(&assignment).expect("assign");
    let mut records = Vec::new();
    let started = Instant::now();
    while position(&consumer, topic, partition).is_none_or(|position| position < end) {
        assert!(
            started.elapsed() < DRAIN_TIMEOUT,
            "{topic}-{partition} ({}): the position stays {:?}, short of {end}, with {} \
             records read",
            isolation.name(),
            position(&consumer, topic, partition),
            records.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                let value = message
                    .payload()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .unwrap_or_default();
                records.push((message.offset(), value));
            }
            Some(Err(KafkaError::MessageConsumption(
                code @ (RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut),
            ))) => eprintln!("consumer: {code} (retrying)"),
            Some(Err(error)) => panic!("{topic}-{partition}: consumer error: {error}"),
        }
    }
    records
}

/// The values of [`read_partition`], without offsets.
pub fn read_values(
    bootstrap: &str,
    isolation: Isolation,
    topic: &str,
    partition: i32,
) -> Vec<String> {
    read_partition(bootstrap, isolation, topic, partition)
        .into_iter()
        .map(|(_, value)| value)
        .collect()
}

/// The consumer's position in `topic`-`partition`, once it has one.
pub fn position(consumer: &BaseConsumer, topic: &str, partition: i32) -> Option<i64> {
    consumer
        .position()
        .ok()?
        .find_partition(topic, partition)
        .and_then(|p| p.offset().to_raw())
        .filter(|offset| *offset >= 0)
}
