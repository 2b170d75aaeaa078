//! Transactions end to end, as real clients see them: a librdkafka transactional producer
//! writes, the broker's transaction coordinator commits or aborts (writing the markers
//! to its own partitions), and librdkafka consumers read with `isolation.level`
//! read_committed or read_uncommitted.
//!
//! Checked: a committed transaction over three partitions of two topics is seen whole;
//! an aborted one is seen by read_uncommitted only; an open transaction holds the last
//! stable offset (LSO) back, so read_committed sees neither it nor anything written
//! after it, until the commit wakes the consumer's long poll; a transaction whose
//! producer disappears is aborted at its timeout and the LSO moves on; and a broker
//! killed with SIGKILL, with a transaction just committed or still open, comes back
//! with every transaction whole or absent for read_committed: the open one is aborted at
//! its timeout if its producer is gone, and commits whole if its producer lived through
//! the kill and commits.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fjord_testkit::clients::{REQUEST_TIMEOUT, create_topic, producer_config};
use fjord_testkit::transactions::{
    Isolation, TxnProducer, end_offset, read_values, send_value, transactional_producer,
};
use fjord_testkit::{BrokerProcess, TestBroker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

const DEADLINE: Duration = Duration::from_secs(60);
/// How long a consumer is watched to show that it receives nothing more.
const QUIET: Duration = Duration::from_secs(3);

/// The three partitions of two topics most scenarios write to.
const PARTITIONS: [(&str, i32); 3] = [("orders", 0), ("orders", 1), ("payments", 0)];

fn create_topics(bootstrap: &str) {
    create_topic(bootstrap, "orders", 2, &[]);
    create_topic(bootstrap, "payments", 1, &[]);
}

/// Sends `{prefix}-{topic}-{partition}-{i}` for i in 0..3 to each of [`PARTITIONS`], and
/// returns what each partition was sent.
fn send_three_each(
    producer: &TxnProducer,
    prefix: &str,
) -> BTreeMap<(&'static str, i32), Vec<String>> {
    let mut sent = BTreeMap::new();
    for (topic, partition) in PARTITIONS {
        let values: Vec<String> = (0..3)
            .map(|i| format!("{prefix}-{topic}-{partition}-{i}"))
            .collect();
        for value in &values {
            send_value(producer, topic, partition, value);
        }
        sent.insert((topic, partition), values);
    }
    sent
}

/// Waits until the LSO of every one of [`PARTITIONS`] is its high watermark: no
/// transaction is open in them.
fn await_stable(bootstrap: &str) {
    let started = Instant::now();
    loop {
        let lagging: Vec<_> = PARTITIONS
            .iter()
            .filter_map(|&(topic, partition)| {
                let stable = end_offset(bootstrap, Isolation::ReadCommitted, topic, partition);
                let high = end_offset(bootstrap, Isolation::ReadUncommitted, topic, partition);
                match (stable, high) {
                    (Ok(stable), Ok(high)) if stable == high => None,
                    other => Some((topic, partition, other)),
                }
            })
            .collect();
        if lagging.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the LSO stays behind (LSO, high watermark): {lagging:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What a read_committed consumer of `topic`-`partition`, from the beginning, receives
/// within `quiet`.
fn watch(bootstrap: &str, topic: &str, partition: i32, quiet: Duration) -> Vec<String> {
    let consumer: BaseConsumer = Isolation::ReadCommitted
        .consumer_config(bootstrap)
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut seen = Vec::new();
    let started = Instant::now();
    while started.elapsed() < quiet {
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let message = message.unwrap();
            seen.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
    }
    seen
}

#[test]
fn a_committed_transaction_over_three_partitions_of_two_topics_is_seen_whole() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topics(&bootstrap);
    let producer = transactional_producer(&bootstrap, "checkout", 60_000);
    producer.begin_transaction().unwrap();
    let sent = send_three_each(&producer, "committed");
    producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
    await_stable(&bootstrap);
    for ((topic, partition), values) in &sent {
        for isolation in [Isolation::ReadCommitted, Isolation::ReadUncommitted] {
            assert_eq!(
                &read_values(&bootstrap, isolation, topic, *partition),
                values,
                "{topic}-{partition}, {}",
                isolation.name()
            );
        }
    }
}

#[test]
fn an_aborted_transaction_is_seen_by_read_uncommitted_only() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topics(&bootstrap);
    let producer = transactional_producer(&bootstrap, "refunds", 60_000);
    producer.begin_transaction().unwrap();
    let aborted = send_three_each(&producer, "aborted");
    // The records are in the logs before the abort: what read_committed skips is there.
    producer.flush(REQUEST_TIMEOUT).unwrap();
    producer.abort_transaction(REQUEST_TIMEOUT).unwrap();
    // The next transaction of the same producer commits: read_committed reads past the
    // aborted records and the ABORT marker to it.
    producer.begin_transaction().unwrap();
    let committed = send_three_each(&producer, "committed");
    producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
    await_stable(&bootstrap);
    for (topic, partition) in PARTITIONS {
        let key = (topic, partition);
        assert_eq!(
            read_values(&bootstrap, Isolation::ReadCommitted, topic, partition),
            committed[&key],
            "{topic}-{partition}, read_committed"
        );
        let everything: Vec<String> = aborted[&key]
            .iter()
            .chain(&committed[&key])
            .cloned()
            .collect();
        assert_eq!(
            read_values(&bootstrap, Isolation::ReadUncommitted, topic, partition),
            everything,
            "{topic}-{partition}, read_uncommitted"
        );
    }
}

#[test]
fn an_open_transaction_holds_back_read_committed_until_its_commit() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "events", 2, &[]);
    // Non-transactional writes before and after the transaction's records.
    let plain: ThreadedProducer<_> = producer_config(&bootstrap).create().unwrap();
    let send_plain = |value: &str| {
        for partition in 0..2 {
            plain
                .send(
                    BaseRecord::to("events")
                        .partition(partition)
                        .key(value)
                        .payload(value),
                )
                .map_err(|(error, _)| error)
                .unwrap();
        }
        plain.flush(REQUEST_TIMEOUT).unwrap();
    };
    send_plain("before");
    let producer = transactional_producer(&bootstrap, "slow", 60_000);
    producer.begin_transaction().unwrap();
    for partition in 0..2 {
        for i in 0..3 {
            send_value(&producer, "events", partition, &format!("txn-{i}"));
        }
    }
    producer.flush(REQUEST_TIMEOUT).unwrap();
    send_plain("after");

    // The LSO is the transaction's first offset; the high watermark is past "after".
    for partition in 0..2 {
        assert_eq!(
            end_offset(&bootstrap, Isolation::ReadCommitted, "events", partition).unwrap(),
            1,
            "events-{partition}: the LSO"
        );
        assert_eq!(
            end_offset(&bootstrap, Isolation::ReadUncommitted, "events", partition).unwrap(),
            5,
            "events-{partition}: the high watermark"
        );
    }

    // A long poll: without a wake-up at the commit, the records would wait for the
    // fetch's maximum wait (20 s), far beyond the bound asserted below.
    let consumer: BaseConsumer = Isolation::ReadCommitted
        .consumer_config(&bootstrap)
        .set("fetch.wait.max.ms", "20000")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..2 {
        assignment
            .add_partition_offset("events", partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut seen: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let poll = |seen: &mut BTreeMap<i32, Vec<String>>| {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let value = String::from_utf8(message.payload().unwrap().to_vec()).unwrap();
            seen.entry(message.partition()).or_default().push(value);
        }
    };
    let before_only: BTreeMap<i32, Vec<String>> =
        (0..2).map(|p| (p, vec!["before".to_owned()])).collect();
    // librdkafka may start fetching one partition before the other: the first one's long
    // poll then delays the second one's first records (a client's choice, not the
    // broker's), so "before" is awaited before the quiet watch starts.
    let started = Instant::now();
    while seen.len() < 2 {
        assert!(
            started.elapsed() < DEADLINE,
            "read_committed sees only {seen:?}"
        );
        poll(&mut seen);
    }
    let watching = Instant::now();
    while watching.elapsed() < QUIET {
        poll(&mut seen);
    }
    assert_eq!(
        seen, before_only,
        "while the transaction is open, read_committed sees only what precedes it"
    );

    let all: BTreeMap<i32, Vec<String>> = (0..2)
        .map(|p| {
            let values = ["before", "txn-0", "txn-1", "txn-2", "after"];
            (p, values.iter().map(|v| (*v).to_owned()).collect())
        })
        .collect();
    let committed_at = std::thread::scope(|scope| {
        let committer = scope.spawn(|| {
            producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
            Instant::now()
        });
        let started = Instant::now();
        while seen != all {
            assert!(
                started.elapsed() < DEADLINE,
                "after the commit read_committed sees {seen:?}"
            );
            poll(&mut seen);
        }
        committer.join().unwrap()
    });
    let delay = committed_at.elapsed();
    eprintln!("read_committed saw the commit {delay:?} after commit_transaction returned");
    // Generous: the commit's answer may even come after the records (the markers are
    // written before EndTxn is answered, or just after).
    assert!(
        delay < Duration::from_secs(10),
        "read_committed saw the committed records {delay:?} after commit_transaction returned"
    );
}

#[test]
fn an_abandoned_transaction_is_aborted_at_its_timeout_and_the_lso_moves_on() {
    let broker = TestBroker::start_with(|config| config.transaction_max_timeout_ms = 10_000);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1, &[]);
    // Ready before the abandoned transaction starts, so that its commit comes well within
    // the abandoned one's timeout.
    let later = transactional_producer(&bootstrap, "later", 10_000);
    let abandoned = transactional_producer(&bootstrap, "abandoned", 6_000);
    // Before the transaction starts: its timeout runs from a later moment.
    let abandoned_at = Instant::now();
    abandoned.begin_transaction().unwrap();
    for i in 0..3 {
        send_value(&abandoned, "orders", 0, &format!("abandoned-{i}"));
    }
    abandoned.flush(REQUEST_TIMEOUT).unwrap();
    // The checks below take about a second, well within the 6 s timeout; the elapsed
    // time in their messages tells a slow machine from a broker that aborted too soon.
    let assert_held_back = |what: &str| {
        assert_eq!(
            end_offset(&bootstrap, Isolation::ReadCommitted, "orders", 0).unwrap(),
            0,
            "the LSO while the abandoned transaction is open, {what} ({:?} after it began)",
            abandoned_at.elapsed()
        );
        assert_eq!(
            watch(&bootstrap, "orders", 0, Duration::from_millis(300)),
            Vec::<String>::new(),
            "read_committed while the abandoned transaction is open, {what} ({:?} after it \
             began)",
            abandoned_at.elapsed()
        );
    };
    assert_held_back("alone");
    later.begin_transaction().unwrap();
    send_value(&later, "orders", 0, "later-0");
    send_value(&later, "orders", 0, "later-1");
    later.commit_transaction(REQUEST_TIMEOUT).unwrap();
    // Committed, but behind the open transaction: the LSO stays at its first offset.
    assert_held_back("with a committed transaction after it");
    // The producer disappears without ending its transaction.
    drop(abandoned);

    // abandoned-0..2, later-0..1, later's COMMIT marker, and the coordinator's ABORT.
    let started = Instant::now();
    loop {
        let stable = end_offset(&bootstrap, Isolation::ReadCommitted, "orders", 0).unwrap();
        if stable == 7 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the LSO stays at {stable}, the high watermark is {:?}",
            end_offset(&bootstrap, Isolation::ReadUncommitted, "orders", 0)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = abandoned_at.elapsed();
    assert!(
        took >= Duration::from_millis(6_000),
        "the abandoned transaction was aborted after {took:?}, before its 6 s timeout"
    );
    assert_eq!(
        end_offset(&bootstrap, Isolation::ReadUncommitted, "orders", 0).unwrap(),
        7
    );
    assert_eq!(
        read_values(&bootstrap, Isolation::ReadCommitted, "orders", 0),
        vec!["later-0", "later-1"]
    );
    assert_eq!(
        read_values(&bootstrap, Isolation::ReadUncommitted, "orders", 0),
        vec![
            "abandoned-0",
            "abandoned-1",
            "abandoned-2",
            "later-0",
            "later-1"
        ]
    );
}

#[test]
fn after_sigkill_every_transaction_is_whole_or_absent_for_read_committed() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_fjord")),
        dir.path(),
        None,
    );
    create_topics(&broker.bootstrap());

    // 1. Killed right after commit_transaction returned: the markers may or may not be
    // written; the coordinator finishes the commit after the restart.
    let producer = transactional_producer(&broker.bootstrap(), "just-committed", 60_000);
    producer.begin_transaction().unwrap();
    let committed = send_three_each(&producer, "committed");
    producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
    broker.kill();
    drop(producer);
    broker.restart();
    let bootstrap = broker.bootstrap();
    await_stable(&bootstrap);
    for (topic, partition) in PARTITIONS {
        assert_eq!(
            read_values(&bootstrap, Isolation::ReadCommitted, topic, partition),
            committed[&(topic, partition)],
            "{topic}-{partition}: the transaction committed before the kill"
        );
    }

    // 2. Killed while a transaction is Ongoing, its records in the logs: after the
    // restart it is still open (read_committed sees none of it) until the coordinator
    // aborts it at its timeout.
    let producer = transactional_producer(&bootstrap, "ongoing", 5_000);
    producer.begin_transaction().unwrap();
    let ongoing = send_three_each(&producer, "ongoing");
    producer.flush(REQUEST_TIMEOUT).unwrap();
    broker.kill();
    drop(producer);
    broker.restart();
    let bootstrap = broker.bootstrap();
    for (topic, partition) in PARTITIONS {
        let seen = read_values(&bootstrap, Isolation::ReadCommitted, topic, partition);
        assert_eq!(
            seen,
            committed[&(topic, partition)],
            "{topic}-{partition}: right after the restart"
        );
    }
    await_stable(&bootstrap);

    // 3. A transaction after the restart commits and is seen after the first.
    let producer = transactional_producer(&bootstrap, "after-restart", 60_000);
    producer.begin_transaction().unwrap();
    let after = send_three_each(&producer, "after");
    producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
    await_stable(&bootstrap);
    for (topic, partition) in PARTITIONS {
        let key = (topic, partition);
        let visible: Vec<String> = committed[&key]
            .iter()
            .chain(&after[&key])
            .cloned()
            .collect();
        assert_eq!(
            read_values(&bootstrap, Isolation::ReadCommitted, topic, partition),
            visible,
            "{topic}-{partition}: read_committed sees none of the transaction open at the kill"
        );
        let written: Vec<String> = committed[&key]
            .iter()
            .chain(&ongoing[&key])
            .chain(&after[&key])
            .cloned()
            .collect();
        assert_eq!(
            read_values(&bootstrap, Isolation::ReadUncommitted, topic, partition),
            written,
            "{topic}-{partition}: read_uncommitted sees the aborted records"
        );
    }
}

#[test]
fn a_transaction_open_across_a_broker_sigkill_commits_whole_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = BrokerProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_fjord")),
        dir.path(),
        None,
    );
    create_topics(&broker.bootstrap());
    let producer = transactional_producer(&broker.bootstrap(), "survives", 60_000);
    producer.begin_transaction().unwrap();
    let sent = send_three_each(&producer, "open");
    // Acknowledged with acks=all: in the logs before the kill.
    producer.flush(REQUEST_TIMEOUT).unwrap();
    // SIGKILL, then the same binary on the same port and data directory.
    broker.restart();
    let bootstrap = broker.bootstrap();
    // The coordinator recovered the transaction as Ongoing: nothing of it is visible.
    for (topic, partition) in PARTITIONS {
        assert_eq!(
            end_offset(&bootstrap, Isolation::ReadCommitted, topic, partition).unwrap(),
            0,
            "{topic}-{partition}: the LSO after the restart"
        );
    }
    // The producer, which lived through the kill, commits it.
    producer.commit_transaction(REQUEST_TIMEOUT).unwrap();
    await_stable(&bootstrap);
    for (topic, partition) in PARTITIONS {
        assert_eq!(
            read_values(&bootstrap, Isolation::ReadCommitted, topic, partition),
            sent[&(topic, partition)],
            "{topic}-{partition}"
        );
    }
}
