//! The transaction coordinator as librdkafka's transactional producer meets it: commit
//! and abort over several partitions (markers take an offset each), fencing of an older
//! producer with the same `transactional.id`, the abort of an abandoned transaction at
//! its timeout, and the coordinator's state across a restart (seen with
//! DescribeTransactions and ListTransactions through the raw protocol client).
//!
//! read_committed visibility belongs to the partitions' side of transactions and is
//! tested there; a read_uncommitted consumer here sees every record, and the offsets the
//! markers take show as gaps.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use fjord_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use fjord_protocol::messages::describe_transactions_response::TransactionState;
use fjord_protocol::messages::{
    AddPartitionsToTxnRequest, DescribeTransactionsRequest, EndTxnRequest, FindCoordinatorRequest,
    InitProducerIdRequest, ListTransactionsRequest,
};
use fjord_testkit::TestBroker;
use fjord_testkit::clients::{
    REQUEST_TIMEOUT, consumer_config, create_topic, producer_config, watermarks,
};
use fjord_testkit::raw::RawConnection;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::{ClientConfig, Offset};

type TxnProducer = ThreadedProducer<DefaultProducerContext>;

const DEADLINE: Duration = Duration::from_secs(60);

fn transactional_producer(bootstrap: &str, transactional_id: &str, timeout_ms: u32) -> TxnProducer {
    let mut config: ClientConfig = producer_config(bootstrap);
    // librdkafka wants both at most the transaction's timeout.
    let socket_timeout_ms = timeout_ms.min(30_000).to_string();
    config
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", timeout_ms.to_string())
        .set("socket.timeout.ms", &socket_timeout_ms)
        .set("message.timeout.ms", &socket_timeout_ms);
    let producer: TxnProducer = config.create().unwrap();
    producer.init_transactions(REQUEST_TIMEOUT).unwrap();
    producer
}

fn send(producer: &TxnProducer, topic: &str, partition: i32, value: &str) {
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

/// Every record of `topic`-`partition` below the high watermark, as (offset, value), as
/// a read_uncommitted consumer sees them.
fn read_all(bootstrap: &str, topic: &str, partition: i32) -> Vec<(i64, String)> {
    let (_, high) = watermarks(bootstrap, topic, partition).unwrap();
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .set("isolation.level", "read_uncommitted")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let started = Instant::now();
    // Control records are not delivered, so the position passes the high watermark
    // without a message for the last marker.
    while consumer
        .position()
        .unwrap()
        .find_partition(topic, partition)
        .and_then(|p| p.offset().to_raw())
        .is_none_or(|position| position < high)
    {
        assert!(
            started.elapsed() < DEADLINE,
            "{topic}-{partition}: read stalled"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let value = String::from_utf8(message.payload().unwrap().to_vec()).unwrap();
            records.push((message.offset(), value));
        }
    }
    records
}

fn connect(broker: &TestBroker) -> RawConnection {
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    // The transaction coordinator is this broker.
    let found = connection
        .request(
            &FindCoordinatorRequest {
                key: "any".into(),
                key_type: 1,
                ..Default::default()
            },
            3,
        )
        .unwrap();
    assert_eq!(found.error_code, 0);
    assert_eq!(found.port, i32::from(broker.addr().port()));
    connection
}

fn describe(connection: &mut RawConnection, transactional_id: &str) -> TransactionState {
    let mut response = connection
        .request(
            &DescribeTransactionsRequest {
                transactional_ids: vec![transactional_id.to_owned()],
                ..Default::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(response.transaction_states.len(), 1);
    response.transaction_states.remove(0)
}

/// Describes `transactional_id` until its state is `state`.
fn await_state(broker: &TestBroker, transactional_id: &str, state: &str) -> TransactionState {
    let mut connection = connect(broker);
    let started = Instant::now();
    loop {
        let described = describe(&mut connection, transactional_id);
        if described.transaction_state == state {
            return described;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{transactional_id} stays {described:?}, not {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn partitions_of(state: &TransactionState) -> Vec<(String, Vec<i32>)> {
    let mut topics: Vec<(String, Vec<i32>)> = state
        .topics
        .iter()
        .map(|t| {
            let mut partitions = t.partitions.clone();
            partitions.sort();
            (t.topic.clone(), partitions)
        })
        .collect();
    topics.sort();
    topics
}

#[test]
fn a_transaction_over_three_partitions_of_two_topics_commits() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 2, &[]);
    create_topic(&bootstrap, "payments", 1, &[]);
    let producer = transactional_producer(&bootstrap, "checkout", 60_000);
    let partitions = [("orders", 0), ("orders", 1), ("payments", 0)];
    for round in 0..2 {
        producer.begin_transaction().unwrap();
        for (topic, partition) in partitions {
            for i in 0..3 {
                send(&producer, topic, partition, &format!("{round}-{i}"));
            }
        }
        producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
        let described = await_state(&broker, "checkout", "CompleteCommit");
        assert!(described.topics.is_empty(), "{described:?}");
    }
    // Each transaction wrote three records and a COMMIT marker into each partition: the
    // second transaction's records start after the first one's marker.
    for (topic, partition) in partitions {
        let expected: Vec<(i64, String)> = [(0, "0-0"), (1, "0-1"), (2, "0-2")]
            .into_iter()
            .chain([(4, "1-0"), (5, "1-1"), (6, "1-2")])
            .map(|(offset, value)| (offset, value.to_owned()))
            .collect();
        assert_eq!(
            read_all(&bootstrap, topic, partition),
            expected,
            "{topic}-{partition}"
        );
        assert_eq!(watermarks(&bootstrap, topic, partition).unwrap().1, 8);
    }
}

#[test]
fn an_aborted_transaction_ends_with_an_abort_marker_and_the_next_one_commits() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1, &[]);
    let producer = transactional_producer(&bootstrap, "refunds", 60_000);
    producer.begin_transaction().unwrap();
    send(&producer, "orders", 0, "aborted-0");
    send(&producer, "orders", 0, "aborted-1");
    producer.flush(REQUEST_TIMEOUT).unwrap();
    producer.abort_transaction(REQUEST_TIMEOUT).unwrap();
    await_state(&broker, "refunds", "CompleteAbort");
    producer.begin_transaction().unwrap();
    send(&producer, "orders", 0, "committed");
    producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
    await_state(&broker, "refunds", "CompleteCommit");
    // read_uncommitted sees aborted records too; the ABORT marker takes offset 2.
    assert_eq!(
        read_all(&bootstrap, "orders", 0),
        vec![
            (0, "aborted-0".to_owned()),
            (1, "aborted-1".to_owned()),
            (3, "committed".to_owned())
        ]
    );
    assert_eq!(watermarks(&bootstrap, "orders", 0).unwrap().1, 5);
}

#[test]
fn a_second_producer_with_the_same_transactional_id_fences_the_first() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1, &[]);
    let zombie = transactional_producer(&bootstrap, "fenced", 60_000);
    let mut connection = connect(&broker);
    let first = describe(&mut connection, "fenced");
    let successor = transactional_producer(&bootstrap, "fenced", 60_000);
    let second = describe(&mut connection, "fenced");
    assert_eq!(second.producer_id, first.producer_id);
    assert_eq!(second.producer_epoch, first.producer_epoch + 1);

    // The zombie's AddPartitionsToTxn carries the old epoch: PRODUCER_FENCED, which
    // librdkafka raises as a fatal error.
    zombie.begin_transaction().unwrap();
    send(&zombie, "orders", 0, "zombie");
    let error = zombie.commit_transaction(REQUEST_TIMEOUT).unwrap_err();
    let KafkaError::Transaction(error) = error else {
        panic!("not a transaction error: {error:?}");
    };
    assert!(error.is_fatal(), "{error:?}");
    assert_eq!(error.code(), RDKafkaErrorCode::Fenced, "{error:?}");

    // The successor is untouched: it still holds the id at its epoch.
    successor.begin_transaction().unwrap();
    successor.abort_transaction(REQUEST_TIMEOUT).unwrap();
    let after = describe(&mut connection, "fenced");
    assert_eq!(after.producer_epoch, second.producer_epoch);
    assert_eq!(after.transaction_state, "Empty");
}

#[test]
fn an_abandoned_transaction_is_aborted_at_its_timeout() {
    let broker = TestBroker::start_with(|config| config.transaction_max_timeout_ms = 5_000);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1, &[]);
    // Above transaction.max.timeout.ms: refused.
    let mut config: ClientConfig = producer_config(&bootstrap);
    config
        .set("transactional.id", "too-long")
        .set("transaction.timeout.ms", "6000")
        .set("socket.timeout.ms", "6000")
        .set("message.timeout.ms", "6000");
    let refused: TxnProducer = config.create().unwrap();
    let error = refused.init_transactions(REQUEST_TIMEOUT).unwrap_err();
    assert_eq!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::InvalidTransactionTimeout),
        "{error:?}"
    );

    let producer = transactional_producer(&bootstrap, "abandoned", 2_000);
    producer.begin_transaction().unwrap();
    send(&producer, "orders", 0, "never-committed");
    producer.flush(REQUEST_TIMEOUT).unwrap();
    let mut connection = connect(&broker);
    let ongoing = describe(&mut connection, "abandoned");
    assert_eq!(ongoing.transaction_state, "Ongoing");
    assert_eq!(ongoing.transaction_timeout_ms, 2_000);
    // The producer disappears without ending its transaction.
    drop(producer);
    let started = Instant::now();
    let aborted = await_state(&broker, "abandoned", "CompleteAbort");
    assert!(started.elapsed() < Duration::from_secs(10));
    // The coordinator fenced the producer while aborting: the epoch went up.
    assert_eq!(aborted.producer_epoch, ongoing.producer_epoch + 1);
    assert_eq!(
        read_all(&bootstrap, "orders", 0),
        vec![(0, "never-committed".to_owned())]
    );
    // The ABORT marker takes offset 1.
    assert_eq!(watermarks(&bootstrap, "orders", 0).unwrap().1, 2);
}

/// InitProducerId, then AddPartitionsToTxn of `orders` 0 and 1, with the raw client:
/// the coordinator's state without any data written.
fn begin_raw(connection: &mut RawConnection, transactional_id: &str) -> (i64, i16) {
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
    assert_eq!(init.error_code, 0);
    let added = connection
        .request(
            &AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: transactional_id.to_owned(),
                v3_and_below_producer_id: init.producer_id,
                v3_and_below_producer_epoch: init.producer_epoch,
                v3_and_below_topics: vec![AddPartitionsToTxnTopic {
                    name: "orders".into(),
                    partitions: vec![0, 1],
                    ..Default::default()
                }],
                ..Default::default()
            },
            3,
        )
        .unwrap();
    for topic in &added.results_by_topic_v3_and_below {
        for partition in &topic.results_by_partition {
            assert_eq!(partition.partition_error_code, 0, "{added:?}");
        }
    }
    (init.producer_id, init.producer_epoch)
}

#[test]
fn an_ongoing_transaction_survives_a_restart() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), "orders", 2, &[]);
    let mut connection = connect(&broker);
    let (producer_id, producer_epoch) = begin_raw(&mut connection, "ongoing");
    let before = describe(&mut connection, "ongoing");
    assert_eq!(before.transaction_state, "Ongoing");
    drop(connection);

    let broker = broker.restart();
    let mut connection = connect(&broker);
    let after = describe(&mut connection, "ongoing");
    assert_eq!(after.error_code, 0);
    assert_eq!(after.transaction_state, "Ongoing");
    assert_eq!(
        (after.producer_id, after.producer_epoch),
        (producer_id, producer_epoch)
    );
    assert_eq!(after.transaction_timeout_ms, 60_000);
    assert_eq!(
        after.transaction_start_time_ms,
        before.transaction_start_time_ms
    );
    assert_eq!(
        partitions_of(&after),
        vec![("orders".to_owned(), vec![0, 1])]
    );
    let listed = connection
        .request(
            &ListTransactionsRequest {
                state_filters: vec!["Ongoing".into()],
                duration_filter: -1,
                ..Default::default()
            },
            1,
        )
        .unwrap();
    assert_eq!(listed.error_code, 0);
    let ids: Vec<(&str, i64, &str)> = listed
        .transaction_states
        .iter()
        .map(|t| {
            (
                t.transactional_id.as_str(),
                t.producer_id,
                t.transaction_state.as_str(),
            )
        })
        .collect();
    assert_eq!(ids, vec![("ongoing", producer_id, "Ongoing")]);

    // New producer ids come from above the replayed ones.
    let (other_id, _) = begin_raw(&mut connection, "another");
    assert!(other_id > producer_id, "{other_id} after {producer_id}");
}

#[test]
fn a_committed_transaction_stays_committed_across_a_restart() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), "orders", 2, &[]);
    let mut connection = connect(&broker);
    let (producer_id, producer_epoch) = begin_raw(&mut connection, "committed");
    let ended = connection
        .request(
            &EndTxnRequest {
                transactional_id: "committed".into(),
                producer_id,
                producer_epoch,
                committed: true,
                ..Default::default()
            },
            3,
        )
        .unwrap();
    assert_eq!(ended.error_code, 0);
    await_state(&broker, "committed", "CompleteCommit");
    let high: Vec<i64> = (0..2)
        .map(|p| watermarks(&broker.bootstrap(), "orders", p).unwrap().1)
        .collect();
    assert_eq!(high, vec![1, 1], "one COMMIT marker per partition");
    drop(connection);

    let broker = broker.restart();
    let mut connection = connect(&broker);
    let after = describe(&mut connection, "committed");
    assert_eq!(after.transaction_state, "CompleteCommit");
    assert_eq!(
        (after.producer_id, after.producer_epoch),
        (producer_id, producer_epoch)
    );
    assert!(after.topics.is_empty());
    // The markers are not written again.
    let high: Vec<i64> = (0..2)
        .map(|p| watermarks(&broker.bootstrap(), "orders", p).unwrap().1)
        .collect();
    assert_eq!(high, vec![1, 1]);
}

/// The group's committed offset of `input` 0, as a fresh consumer of the group sees it.
/// read_uncommitted, so that librdkafka does not ask for stable offsets (KIP-447) and
/// an offset a transaction holds pending reads as the last committed one instead of
/// being retried until it is resolved.
fn committed(bootstrap: &str, group: &str) -> Offset {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .set("group.id", group)
        .set("isolation.level", "read_uncommitted")
        .create()
        .unwrap();
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition("input", 0);
    let committed = consumer.committed_offsets(wanted, REQUEST_TIMEOUT).unwrap();
    committed.find_partition("input", 0).unwrap().offset()
}

#[test]
fn consume_transform_produce_commits_the_offsets_with_the_transaction() {
    let broker = TestBroker::start_with(|config| config.group_initial_rebalance_delay_ms = 0);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "input", 1, &[]);
    create_topic(&bootstrap, "output", 1, &[]);
    let plain: ThreadedProducer<DefaultProducerContext> =
        producer_config(&bootstrap).create().unwrap();
    for i in 0..10 {
        plain
            .send(
                BaseRecord::to("input")
                    .partition(0)
                    .key("k")
                    .payload(&format!("in-{i}")),
            )
            .map_err(|(error, _)| error)
            .unwrap();
    }
    plain.flush(REQUEST_TIMEOUT).unwrap();

    let consumer: BaseConsumer = consumer_config(&bootstrap)
        .set("group.id", "pipeline")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    consumer.subscribe(&["input"]).unwrap();
    let mut consumed = Vec::new();
    let started = Instant::now();
    while consumed.len() < 10 {
        assert!(started.elapsed() < DEADLINE, "consumed only {consumed:?}");
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            consumed.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
    }
    let producer = transactional_producer(&bootstrap, "pipeline-tx", 60_000);
    producer.begin_transaction().unwrap();
    for value in &consumed {
        send(&producer, "output", 0, &value.replace("in", "out"));
    }
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("input", 0, Offset::Offset(10))
        .unwrap();
    producer
        .send_offsets_to_transaction(
            &offsets,
            &consumer.group_metadata().unwrap(),
            REQUEST_TIMEOUT,
        )
        .unwrap();
    // Pending until the transaction commits.
    assert_eq!(committed(&bootstrap, "pipeline"), Offset::Invalid);
    producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
    await_state(&broker, "pipeline-tx", "CompleteCommit");
    assert_eq!(committed(&bootstrap, "pipeline"), Offset::Offset(10));

    // An aborted transaction's offsets are dropped.
    producer.begin_transaction().unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("input", 0, Offset::Offset(4))
        .unwrap();
    producer
        .send_offsets_to_transaction(
            &offsets,
            &consumer.group_metadata().unwrap(),
            REQUEST_TIMEOUT,
        )
        .unwrap();
    producer.abort_transaction(REQUEST_TIMEOUT).unwrap();
    await_state(&broker, "pipeline-tx", "CompleteAbort");
    assert_eq!(committed(&bootstrap, "pipeline"), Offset::Offset(10));

    // One more committed transaction (a second transactional batch of the producer in
    // the same __consumer_offsets partition), then a restart replays both.
    producer.begin_transaction().unwrap();
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("input", 0, Offset::Offset(12))
        .unwrap();
    producer
        .send_offsets_to_transaction(
            &offsets,
            &consumer.group_metadata().unwrap(),
            REQUEST_TIMEOUT,
        )
        .unwrap();
    producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
    await_state(&broker, "pipeline-tx", "CompleteCommit");
    assert_eq!(committed(&bootstrap, "pipeline"), Offset::Offset(12));
    drop(consumer);
    drop(producer);
    let broker = broker.restart();
    assert_eq!(
        committed(&broker.bootstrap(), "pipeline"),
        Offset::Offset(12)
    );
}
