//! The broker's own checks around transactions: DescribeProducers as the partitions see
//! their producers (after real librdkafka idempotent and transactional producers wrote),
//! and the verification of KIP-890 part 1: a transactional batch for a partition that is
//! not in the producer's ongoing transaction, or from a fenced epoch, or from another
//! producer id than the transactional id's, is refused and writes nothing, while
//! librdkafka's transactional producer (which adds its partitions before it produces)
//! still commits.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fjord_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use fjord_protocol::messages::describe_producers_request::TopicRequest;
use fjord_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState};
use fjord_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use fjord_protocol::messages::{
    AddPartitionsToTxnRequest, DescribeProducersRequest, DescribeTransactionsRequest,
    InitProducerIdRequest, ProduceRequest,
};
use fjord_records::BatchBuilder;
use fjord_testkit::TestBroker;
use fjord_testkit::clients::{
    REQUEST_TIMEOUT, consumer_config, create_topic, producer_config, watermarks,
};
use fjord_testkit::raw::RawConnection;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::{ClientConfig, Offset};

type KafkaProducer = ThreadedProducer<DefaultProducerContext>;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const CONCURRENT_TRANSACTIONS: i16 = 51;

const PRODUCE_VERSION: i16 = 9;
const READ_TIMEOUT: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .try_into()
        .unwrap()
}

fn transactional_producer(bootstrap: &str, transactional_id: &str) -> KafkaProducer {
    let mut config: ClientConfig = producer_config(bootstrap);
    config
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", "60000")
        .set("message.timeout.ms", "30000");
    let producer: KafkaProducer = config.create().unwrap();
    producer.init_transactions(REQUEST_TIMEOUT).unwrap();
    producer
}

fn send(producer: &KafkaProducer, topic: &str, partition: i32, value: &str) {
    producer
        .send(
            BaseRecord::to(topic)
                .partition(partition)
                .key(value)
                .payload(value),
        )
        .map_err(|(error, _)| error)
        .unwrap();
}

fn describe_producers(
    connection: &mut RawConnection,
    topic: &str,
    partitions: Vec<i32>,
) -> Vec<PartitionResponse> {
    let response = connection
        .request(
            &DescribeProducersRequest {
                topics: vec![TopicRequest {
                    name: topic.to_owned(),
                    partition_indexes: partitions,
                    ..Default::default()
                }],
                ..Default::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(response.topics.len(), 1);
    assert_eq!(response.topics[0].name, topic);
    response.topics[0].partitions.clone()
}

/// The producer id the coordinator gave `transactional_id`.
fn producer_id_of(connection: &mut RawConnection, transactional_id: &str) -> i64 {
    let response = connection
        .request(
            &DescribeTransactionsRequest {
                transactional_ids: vec![transactional_id.to_owned()],
                ..Default::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(response.transaction_states[0].error_code, 0);
    response.transaction_states[0].producer_id
}

fn state_of(partition: &PartitionResponse, producer_id: i64) -> ProducerState {
    partition
        .active_producers
        .iter()
        .find(|p| p.producer_id == producer_id)
        .cloned()
        .unwrap_or_else(|| panic!("producer {producer_id} not in {partition:?}"))
}

#[test]
fn describe_producers_shows_idempotent_and_transactional_producers() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "described", 1, &[]);

    // Offsets 0..=2 from an idempotent producer (sequences 0..=2).
    let idempotent: KafkaProducer = producer_config(&bootstrap).create().unwrap();
    for value in ["i-0", "i-1", "i-2"] {
        send(&idempotent, "described", 0, value);
    }
    idempotent.flush(REQUEST_TIMEOUT).unwrap();

    // Offsets 3..=4 in an open transaction.
    let transactional = transactional_producer(&bootstrap, "described-txn");
    transactional.begin_transaction().unwrap();
    send(&transactional, "described", 0, "t-0");
    send(&transactional, "described", 0, "t-1");
    transactional.flush(REQUEST_TIMEOUT).unwrap();

    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let txn_producer = producer_id_of(&mut connection, "described-txn");
    let partitions = describe_producers(&mut connection, "described", vec![0]);
    assert_eq!(partitions.len(), 1);
    let partition = &partitions[0];
    assert_eq!((partition.partition_index, partition.error_code), (0, 0));
    assert_eq!(partition.active_producers.len(), 2, "{partition:?}");
    let idempotent_state = partition
        .active_producers
        .iter()
        .find(|p| p.producer_id != txn_producer)
        .cloned()
        .unwrap();
    assert_eq!(idempotent_state.producer_epoch, 0);
    assert_eq!(idempotent_state.last_sequence, 2);
    assert_eq!(idempotent_state.coordinator_epoch, -1);
    assert_eq!(idempotent_state.current_txn_start_offset, -1);
    assert!(idempotent_state.last_timestamp > 0);
    let open = state_of(partition, txn_producer);
    assert_eq!(open.last_sequence, 1);
    assert_eq!(open.coordinator_epoch, -1);
    assert_eq!(
        open.current_txn_start_offset, 3,
        "the open transaction starts at its first record"
    );
    assert!(open.last_timestamp > 0);

    // The COMMIT marker closes it: no start offset any more.
    transactional.commit_transaction(REQUEST_TIMEOUT).unwrap();
    let partitions = describe_producers(&mut connection, "described", vec![0]);
    let committed = state_of(&partitions[0], txn_producer);
    assert_eq!(committed.current_txn_start_offset, -1);
    assert_eq!(committed.producer_epoch, open.producer_epoch);
    assert_eq!(
        state_of(&partitions[0], idempotent_state.producer_id),
        idempotent_state
    );

    // A partition or topic that does not exist.
    let partitions = describe_producers(&mut connection, "described", vec![7]);
    assert_eq!(
        (partitions[0].partition_index, partitions[0].error_code),
        (7, UNKNOWN_TOPIC_OR_PARTITION)
    );
    assert!(partitions[0].active_producers.is_empty());
    let partitions = describe_producers(&mut connection, "no-such-topic", vec![0]);
    assert_eq!(partitions[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
}

/// InitProducerId for `transactional_id`: (producer id, epoch). One that fences an
/// ongoing transaction gets CONCURRENT_TRANSACTIONS until the abort is written, and
/// retries as clients do.
fn init(connection: &mut RawConnection, transactional_id: &str) -> (i64, i16) {
    let started = Instant::now();
    loop {
        let init = connection
            .request(
                &InitProducerIdRequest {
                    transactional_id: Some(transactional_id.to_owned()),
                    transaction_timeout_ms: 60_000,
                    producer_id: -1,
                    producer_epoch: -1,
                    ..Default::default()
                },
                4,
            )
            .unwrap();
        if init.error_code == CONCURRENT_TRANSACTIONS && started.elapsed() < READ_TIMEOUT {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        assert_eq!(init.error_code, 0);
        return (init.producer_id, init.producer_epoch);
    }
}

fn add_partition(
    connection: &mut RawConnection,
    transactional_id: &str,
    (producer_id, producer_epoch): (i64, i16),
    topic: &str,
    partition: i32,
) {
    let added = connection
        .request(
            &AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: transactional_id.to_owned(),
                v3_and_below_producer_id: producer_id,
                v3_and_below_producer_epoch: producer_epoch,
                v3_and_below_topics: vec![AddPartitionsToTxnTopic {
                    name: topic.to_owned(),
                    partitions: vec![partition],
                    ..Default::default()
                }],
                ..Default::default()
            },
            3,
        )
        .unwrap();
    let code = added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, 0, "{added:?}");
}

fn transactional_batch((producer_id, producer_epoch): (i64, i16), sequence: i32) -> Bytes {
    let mut builder = BatchBuilder::new(0)
        .producer(producer_id, producer_epoch, sequence)
        .transactional(true);
    builder
        .append(now_ms(), None, Some(b"raw".as_slice()), &[])
        .unwrap();
    builder.build().unwrap()
}

/// A Produce (acks=all) of one batch into `topic`-`partition`: its error code.
fn produce(
    connection: &mut RawConnection,
    transactional_id: &str,
    topic: &str,
    partition: i32,
    records: Bytes,
) -> i16 {
    let response = connection
        .request(
            &ProduceRequest {
                transactional_id: Some(transactional_id.to_owned()),
                acks: -1,
                timeout_ms: 30_000,
                topic_data: vec![TopicProduceData {
                    name: topic.to_owned(),
                    partition_data: vec![PartitionProduceData {
                        index: partition,
                        records: Some(records),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            PRODUCE_VERSION,
        )
        .unwrap();
    response.responses[0].partition_responses[0].error_code
}

fn high_watermark(bootstrap: &str, topic: &str, partition: i32) -> i64 {
    watermarks(bootstrap, topic, partition).unwrap().1
}

#[test]
fn a_transactional_batch_outside_the_transaction_is_refused_and_writes_nothing() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "guarded", 2, &[]);
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let producer = init(&mut connection, "guard");
    add_partition(&mut connection, "guard", producer, "guarded", 0);

    // Partition 1 was never added: Kafka's answer to Produce below v12.
    assert_eq!(
        produce(
            &mut connection,
            "guard",
            "guarded",
            1,
            transactional_batch(producer, 0)
        ),
        INVALID_TXN_STATE
    );
    // Another producer id than the transactional id's.
    assert_eq!(
        produce(
            &mut connection,
            "guard",
            "guarded",
            0,
            transactional_batch((producer.0 + 1000, 0), 0)
        ),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(high_watermark(&bootstrap, "guarded", 1), 0);
    assert_eq!(high_watermark(&bootstrap, "guarded", 0), 0);
    let partitions = describe_producers(&mut connection, "guarded", vec![0, 1]);
    assert!(
        partitions.iter().all(|p| p.active_producers.is_empty()),
        "a refused batch leaves no producer state: {partitions:?}"
    );

    // The partition that was added takes the batch.
    assert_eq!(
        produce(
            &mut connection,
            "guard",
            "guarded",
            0,
            transactional_batch(producer, 0)
        ),
        0
    );

    // A new InitProducerId fences the old epoch (aborting its transaction); a zombie
    // with the old epoch is refused even for the partition it had added.
    let bumped = init(&mut connection, "guard");
    assert_eq!(bumped.0, producer.0);
    assert!(bumped.1 > producer.1);
    let before = watermarks(&bootstrap, "guarded", 0).unwrap();
    assert_eq!(
        produce(
            &mut connection,
            "guard",
            "guarded",
            0,
            transactional_batch(producer, 1)
        ),
        INVALID_PRODUCER_EPOCH
    );
    // Nor may the new epoch write before it adds the partition.
    assert_eq!(
        produce(
            &mut connection,
            "guard",
            "guarded",
            0,
            transactional_batch(bumped, 0)
        ),
        INVALID_TXN_STATE
    );
    assert_eq!(watermarks(&bootstrap, "guarded", 0).unwrap(), before);
    assert_eq!(high_watermark(&bootstrap, "guarded", 1), 0);
}

/// Every record value of `topic`-`partition` a read_committed consumer gets, until
/// `count` have come.
fn read_committed(bootstrap: &str, topic: &str, partition: i32, count: usize) -> Vec<String> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut values = Vec::new();
    let started = Instant::now();
    while values.len() < count {
        assert!(
            started.elapsed() < READ_TIMEOUT,
            "only {values:?} of {count}"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
    }
    values
}

#[test]
fn librdkafka_transactions_still_commit_with_verification() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "verified", 2, &[]);
    let producer = transactional_producer(&bootstrap, "verified-txn");
    // Two transactions over both partitions: each Produce of each is verified.
    for round in 0..2 {
        producer.begin_transaction().unwrap();
        for i in 0..5 {
            send(&producer, "verified", i % 2, &format!("r{round}-{i}"));
        }
        producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
    }
    // Partition 0: 3 records and a COMMIT marker per transaction; partition 1: 2 and one.
    assert_eq!(high_watermark(&bootstrap, "verified", 0), 8);
    assert_eq!(high_watermark(&bootstrap, "verified", 1), 6);
    assert_eq!(
        read_committed(&bootstrap, "verified", 0, 6),
        ["r0-0", "r0-2", "r0-4", "r1-0", "r1-2", "r1-4"]
    );
    assert_eq!(
        read_committed(&bootstrap, "verified", 1, 4),
        ["r0-1", "r0-3", "r1-1", "r1-3"]
    );
}
