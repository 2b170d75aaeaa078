//! A transaction whose EndTxn was acknowledged survives SIGKILL of the broker right
//! after the acknowledgement: PrepareCommit or PrepareAbort is fsynced before the
//! answer, and after the restart the coordinator writes (again, if they were already
//! written) the markers and completes the transaction. A new producer with the same
//! `transactional.id` then starts its own, at the next epoch.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use fjord_protocol::messages::DescribeTransactionsRequest;
use fjord_protocol::messages::describe_transactions_response::TransactionState;
use fjord_testkit::BrokerProcess;
use fjord_testkit::clients::{
    REQUEST_TIMEOUT, consumer_config, create_topic, producer_config, watermarks,
};
use fjord_testkit::raw::RawConnection;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::{ClientConfig, Offset};

const DEADLINE: Duration = Duration::from_secs(60);
const TRANSACTIONAL_ID: &str = "survivor";

fn describe(broker: &BrokerProcess) -> TransactionState {
    let mut connection = RawConnection::connect(broker.bootstrap().parse().unwrap()).unwrap();
    let mut response = connection
        .request(
            &DescribeTransactionsRequest {
                transactional_ids: vec![TRANSACTIONAL_ID.to_owned()],
                ..Default::default()
            },
            0,
        )
        .unwrap();
    response.transaction_states.remove(0)
}

/// Values of `orders`-`partition` below the high watermark, as read_uncommitted sees
/// them (markers are not delivered).
fn values(bootstrap: &str, partition: i32) -> Vec<String> {
    let (_, high) = watermarks(bootstrap, "orders", partition).unwrap();
    // librdkafka's default is read_committed.
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .set("isolation.level", "read_uncommitted")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("orders", partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut values = Vec::new();
    let started = Instant::now();
    while consumer
        .position()
        .unwrap()
        .find_partition("orders", partition)
        .and_then(|p| p.offset().to_raw())
        .is_none_or(|position| position < high)
    {
        assert!(
            started.elapsed() < DEADLINE,
            "orders-{partition}: read stalled"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
    }
    values
}

#[test]
fn an_acknowledged_end_of_transaction_completes_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_fjord")),
        dir.path(),
        None,
    );
    create_topic(&broker.bootstrap(), "orders", 2, &[]);
    let mut expected: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let mut last_epoch = -1;
    for (round, commit) in [true, false, true].into_iter().enumerate() {
        let bootstrap = broker.bootstrap();
        let producer: ThreadedProducer<DefaultProducerContext> = {
            let mut config: ClientConfig = producer_config(&bootstrap);
            config.set("transactional.id", TRANSACTIONAL_ID);
            config.create().unwrap()
        };
        producer.init_transactions(REQUEST_TIMEOUT).unwrap();
        producer.begin_transaction().unwrap();
        for partition in 0..2 {
            for i in 0..3 {
                let value = format!("{round}-{partition}-{i}");
                producer
                    .send(
                        BaseRecord::to("orders")
                            .partition(partition)
                            .key("k")
                            .payload(&value),
                    )
                    .map_err(|(error, _)| error)
                    .unwrap();
                // read_uncommitted sees aborted records too.
                expected[partition as usize].push(value);
            }
        }
        if commit {
            producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
        } else {
            producer.flush(REQUEST_TIMEOUT).unwrap();
            producer.abort_transaction(REQUEST_TIMEOUT).unwrap();
        }
        // EndTxn is acknowledged: kill at once, markers written or not.
        broker.kill();
        drop(producer);
        broker.restart();

        let state = if commit {
            "CompleteCommit"
        } else {
            "CompleteAbort"
        };
        let started = Instant::now();
        let described = loop {
            let described = describe(&broker);
            if described.transaction_state == state {
                break described;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "round {round}: stays {described:?}, not {state}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(described.producer_epoch > last_epoch, "{described:?}");
        last_epoch = described.producer_epoch;
        for partition in 0..2 {
            assert_eq!(
                values(&broker.bootstrap(), partition),
                expected[partition as usize],
                "round {round}, orders-{partition}"
            );
        }
    }
}
