//! Numbered test messages: produced with every acknowledgement recorded, read back from
//! any offset, and checked field by field.
//!
//! Message `id` has a key, a value and headers computed from `id` alone, so a reader can
//! tell from any received message which one it is and whether it arrived intact.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use crate::clients::{REQUEST_TIMEOUT, consumer_config};

/// How the messages of one test look: how many distinct keys, how long the values.
#[derive(Debug, Clone, Copy)]
pub struct Numbered {
    /// Message `id` has key `key-{id % keys}`.
    pub keys: u64,
    /// Length of every value in bytes (at least the length of the id prefix).
    pub value_bytes: usize,
}

impl Numbered {
    /// The key of message `id`.
    pub fn key(&self, id: u64) -> String {
        format!("key-{}", id % self.keys)
    }

    /// The value of message `id`: its id, then filler that compresses like text.
    pub fn value(&self, id: u64) -> Vec<u8> {
        let mut value = format!("value-{id:010}-").into_bytes();
        let filler = b"the quick brown fjord jumps over the lazy broker ";
        let mut i = (id % filler.len() as u64) as usize;
        while value.len() < self.value_bytes {
            value.push(filler[i % filler.len()]);
            i += 1;
        }
        value
    }

    /// The headers of message `id`, in order: its id, a header with a null value, and a
    /// binary one.
    pub fn headers(&self, id: u64) -> Vec<(String, Option<Vec<u8>>)> {
        vec![
            ("id".to_owned(), Some(id.to_string().into_bytes())),
            ("null-value".to_owned(), None),
            ("binary".to_owned(), Some(id.to_le_bytes().to_vec())),
        ]
    }

    /// Checks every field of `received` against what message `id` was sent with, and
    /// returns `id`, read from the value.
    pub fn check(&self, received: &Received) -> u64 {
        let id = self.id_of(received);
        let at = format!(
            "partition {} offset {}",
            received.partition, received.offset
        );
        assert_eq!(
            received.key.as_deref(),
            Some(self.key(id).as_bytes()),
            "key of message {id} at {at}"
        );
        assert!(
            received.value.as_deref() == Some(self.value(id).as_slice()),
            "value of message {id} at {at} differs from what was sent"
        );
        assert_eq!(
            received.headers,
            self.headers(id),
            "headers of message {id} at {at}"
        );
        id
    }

    /// The id a received message carries in its value.
    pub fn id_of(&self, received: &Received) -> u64 {
        let value = received.value.as_deref().unwrap_or_else(|| {
            panic!(
                "message at partition {} offset {} has no value",
                received.partition, received.offset
            )
        });
        std::str::from_utf8(value.get(6..16).unwrap_or_default())
            .ok()
            .and_then(|digits| digits.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "message at partition {} offset {} is not a numbered message: {:?}",
                    received.partition,
                    received.offset,
                    String::from_utf8_lossy(value)
                )
            })
    }

    /// Sends message `id` to `topic` (the partitioner picks the partition from the key
    /// unless `partition` is given), waiting while the producer's queue is full.
    pub fn send(
        &self,
        producer: &RecordingProducer,
        topic: &str,
        partition: Option<i32>,
        id: u64,
        timestamp_ms: Option<i64>,
    ) {
        let key = self.key(id);
        let value = self.value(id);
        let mut headers = OwnedHeaders::new_with_capacity(3);
        for (name, value) in self.headers(id) {
            headers = headers.insert(Header {
                key: &name,
                value: value.as_ref(),
            });
        }
        let mut record = BaseRecord::with_opaque_to(topic, id as usize)
            .key(&key)
            .payload(&value)
            .headers(headers);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(timestamp_ms) = timestamp_ms {
            record = record.timestamp(timestamp_ms);
        }
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            match producer.send(record) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    record = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((error, _)) => panic!("cannot queue message {id}: {error}"),
            }
        }
    }
}

/// An acknowledged message: where the broker says it wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The message's id.
    pub id: u64,
    /// The partition it went to.
    pub partition: i32,
    /// The offset the broker assigned.
    pub offset: i64,
}

/// A producer context that records every delivery report: acknowledgements with their
/// partition and offset, and failures with their error.
#[derive(Default)]
pub struct DeliveryRecorder {
    acked: Mutex<Vec<Delivered>>,
    failed: Mutex<Vec<(u64, KafkaError)>>,
}

impl DeliveryRecorder {
    /// The acknowledgements so far, in the order they arrived.
    pub fn acked(&self) -> Vec<Delivered> {
        self.acked.lock().unwrap().clone()
    }

    /// The failed deliveries so far.
    pub fn failed(&self) -> Vec<(u64, KafkaError)> {
        self.failed.lock().unwrap().clone()
    }
}

/// librdkafka's warnings and errors go to stderr, which a failing test shows: without a
/// `log` logger installed, rdkafka would drop them.
impl ClientContext for DeliveryRecorder {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // What arrives is what `log_level` (warnings, in `client_config`) or `debug` let
        // through.
        eprintln!("librdkafka producer {level:?} {facility}: {message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        eprintln!("librdkafka producer error: {error}: {reason}");
    }
}

impl ProducerContext for DeliveryRecorder {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, id: usize) {
        let id = id as u64;
        match result {
            Ok(message) => self.acked.lock().unwrap().push(Delivered {
                id,
                partition: message.partition(),
                offset: message.offset(),
            }),
            Err((error, _)) => self.failed.lock().unwrap().push((id, error.clone())),
        }
    }
}

/// A producer with its own polling thread that records delivery reports.
pub type RecordingProducer = ThreadedProducer<DeliveryRecorder>;

/// Creates a [`RecordingProducer`] from `config`.
pub fn recording_producer(config: &ClientConfig) -> RecordingProducer {
    config
        .create_with_context(DeliveryRecorder::default())
        .expect("create the producer")
}

/// Sends messages `ids` to `topic` with `config`, waits for every delivery report, fails
/// the test on any failed delivery, and returns the acknowledgements sorted by id.
pub fn produce_numbered(
    config: &ClientConfig,
    topic: &str,
    numbered: &Numbered,
    ids: std::ops::Range<u64>,
) -> Vec<Delivered> {
    let producer = recording_producer(config);
    for id in ids.clone() {
        numbered.send(&producer, topic, None, id, None);
    }
    flush(&producer);
    let mut acked = producer.context().acked();
    acked.sort_by_key(|d| d.id);
    assert_eq!(
        acked.len() as u64,
        ids.end - ids.start,
        "every message is acknowledged"
    );
    acked
}

/// Waits until every queued message has a delivery report, and fails the test on a
/// failed delivery.
pub fn flush(producer: &RecordingProducer) {
    producer
        .flush(Duration::from_secs(120))
        .expect("all messages delivered within 120 s");
    let failed = producer.context().failed();
    assert!(
        failed.is_empty(),
        "{} deliveries failed, the first: {:?}",
        failed.len(),
        failed.first()
    );
}

/// A message as a consumer received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
    /// Its headers, in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Its timestamp in milliseconds.
    pub timestamp_ms: Option<i64>,
}

impl Received {
    /// What a test needs of a message librdkafka handed over.
    pub fn from_message(message: &impl Message) -> Received {
        Received {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default(),
            timestamp_ms: message.timestamp().to_millis(),
        }
    }
}

/// Longest any read may take before the test fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads `topic` with a fresh consumer assigned the partitions and start offsets in
/// `assignment`, until `done` says so after a message; fails the test after
/// [`READ_TIMEOUT`]. Consumer errors other than lost connections fail the test too.
pub fn read(
    bootstrap: &str,
    topic: &str,
    assignment: &[(i32, Offset)],
    mut done: impl FnMut(&Received) -> bool,
) -> Vec<Received> {
    read_until(bootstrap, topic, assignment, |message| {
        message.is_some_and(&mut done)
    })
}

/// Like [`read`], but `done` is also asked after every poll that brought no message
/// (with `None`), so a reader can stop on a signal from elsewhere.
pub fn read_until(
    bootstrap: &str,
    topic: &str,
    assignment: &[(i32, Offset)],
    done: impl FnMut(Option<&Received>) -> bool,
) -> Vec<Received> {
    match read_inner(bootstrap, topic, assignment, done) {
        Ok(received) => received,
        Err(received) => panic!(
            "reading {topic} from {assignment:?} timed out after {} s with {} messages",
            READ_TIMEOUT.as_secs(),
            received.len()
        ),
    }
}

/// The consumer loop: `done` is asked after every message and after every poll that
/// brought none. `Err` holds what was read when [`READ_TIMEOUT`] ran out.
fn read_inner(
    bootstrap: &str,
    topic: &str,
    assignment: &[(i32, Offset)],
    mut done: impl FnMut(Option<&Received>) -> bool,
) -> Result<Vec<Received>, Vec<Received>> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create a consumer");
    let mut list = TopicPartitionList::new();
    for (partition, offset) in assignment {
        list.add_partition_offset(topic, *partition, *offset)
            .expect("a valid offset");
    }
    consumer.assign(&list).expect("assign partitions");
    let deadline = Instant::now() + READ_TIMEOUT;
    let mut received = Vec::new();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            None => {
                if done(None) {
                    return Ok(received);
                }
            }
            Some(Ok(message)) => {
                let message = Received::from_message(&message);
                let finished = done(Some(&message));
                received.push(message);
                if finished {
                    return Ok(received);
                }
            }
            Some(Err(KafkaError::MessageConsumption(
                code @ (RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::OperationTimedOut),
            ))) => eprintln!("consumer: {code} (retrying)"),
            Some(Err(error)) => panic!(
                "consumer error after {} messages of {topic}: {error}",
                received.len()
            ),
        }
    }
    Err(received)
}

/// Reads `count` messages of one partition from `from`.
pub fn read_count(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    from: Offset,
    count: usize,
) -> Vec<Received> {
    if count == 0 {
        return Vec::new();
    }
    let mut seen = 0;
    read(bootstrap, topic, &[(partition, from)], |_| {
        seen += 1;
        seen >= count
    })
}

/// Reads every partition of `topic` (which has `partitions` partitions) from `from` up
/// to the high watermarks they had when the read began, and returns the messages by
/// partition, in offset order.
pub fn read_to_end(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    from: Offset,
) -> BTreeMap<i32, Vec<Received>> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .create()
        .expect("create a consumer");
    let mut remaining = BTreeMap::new();
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, REQUEST_TIMEOUT)
            .expect("ListOffsets");
        let start = match from {
            Offset::Offset(offset) => offset.max(low),
            _ => low,
        };
        if start < high {
            remaining.insert(partition, high);
        }
    }
    let mut by_partition: BTreeMap<i32, Vec<Received>> =
        (0..partitions).map(|p| (p, Vec::new())).collect();
    if remaining.is_empty() {
        return by_partition;
    }
    let assignment: Vec<_> = (0..partitions).map(|p| (p, from)).collect();
    let messages = read(bootstrap, topic, &assignment, |message| {
        if let Some(&high) = remaining.get(&message.partition)
            && message.offset + 1 >= high
        {
            remaining.remove(&message.partition);
        }
        remaining.is_empty()
    });
    for message in messages {
        by_partition
            .entry(message.partition)
            .or_default()
            .push(message);
    }
    by_partition
}
