//! At-most-once versus at-least-once, as tests that document the difference.
//!
//! A consumer's committed offset is where the next owner of the partition starts. What
//! decides the delivery guarantee is *when* the commit happens relative to processing:
//!
//! - commit, then process (what auto-commit amounts to): a member that dies between the
//!   two has committed messages it never processed, and its successor starts after them:
//!   they are lost, nothing is processed twice (at-most-once);
//! - process, then commit: a member that dies between the two has processed messages it
//!   never committed, and its successor processes them again: duplicates, never a loss
//!   (at-least-once).
//!
//! Everything is driven deterministically: one partition (so offsets are ids and order is
//! total), `enable.auto.commit=false` with explicit commits where the scenario commits, and
//! a "crash" that is the consumer dropped at a chosen point without a further commit. The
//! successor is a second member of the same group. The auto-commit case waits for the
//! timer's commit to land before the crash, so it is deterministic too.
//!
//! Every scenario runs with both group protocols (`group.protocol=classic` and
//! `consumer`): the guarantees depend on when the application commits, not on how the
//! group hands out partitions.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fjord_testkit::TestBroker;
use fjord_testkit::both_protocols;
use fjord_testkit::clients::{
    GroupProtocol, REQUEST_TIMEOUT, client_config, create_topic, producer_config,
};
use fjord_testkit::groups::assert_group_type;
use fjord_testkit::messages::{Numbered, Received, produce_numbered};
use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::TopicPartitionList;

const TOPIC: &str = "invoices";
const GROUP: &str = "billing";
/// Messages 0..COUNT, all in partition 0: message `id` is at offset `id`.
const COUNT: u64 = 40;
/// How many messages the application takes per batch.
const BATCH: usize = 10;
/// How far into its second batch the first member gets before it crashes.
const PROCESSED_BEFORE_CRASH: usize = 5;
const NUMBERED: Numbered = Numbered {
    keys: 7,
    value_bytes: 48,
};
const DEADLINE: Duration = Duration::from_secs(60);

/// A broker with `invoices` (one partition) holding messages 0..COUNT.
fn broker_with_invoices() -> TestBroker {
    let broker = TestBroker::start_with(GroupProtocol::configure_broker);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, 1, &[]);
    let delivered = produce_numbered(&producer_config(&bootstrap), TOPIC, &NUMBERED, 0..COUNT);
    for d in &delivered {
        assert_eq!((d.partition, d.offset), (0, d.id as i64), "ids are offsets");
    }
    broker
}

/// A member of `GROUP` subscribed to `invoices`, speaking `protocol`. With
/// `auto_commit`, librdkafka commits the offsets of the messages it has handed to the
/// application every 100 ms.
fn member(protocol: GroupProtocol, bootstrap: &str, auto_commit: bool) -> BaseConsumer {
    let mut config = protocol.member_config(bootstrap, GROUP);
    config
        .set(
            "enable.auto.commit",
            if auto_commit { "true" } else { "false" },
        )
        .set("auto.commit.interval.ms", "100");
    let consumer: BaseConsumer = config.create().unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

/// The next `count` messages the consumer hands over, as ids.
fn take(consumer: &BaseConsumer, count: usize) -> Vec<u64> {
    let started = Instant::now();
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        assert!(
            started.elapsed() < DEADLINE,
            "only {} of {count} messages within {DEADLINE:?}: {ids:?}",
            ids.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let id = NUMBERED.check(&Received::from_message(&message.unwrap()));
            ids.push(id);
        }
    }
    ids
}

/// Commits `next` (the offset of the next message to process) for partition 0, and
/// waits for the broker's answer.
fn commit(consumer: &BaseConsumer, next: u64) {
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(TOPIC, 0, Offset::Offset(next as i64))
        .unwrap();
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
}

/// The group's committed offset for partition 0, asked by a client outside the group.
fn committed(bootstrap: &str) -> Option<i64> {
    let mut config = client_config(bootstrap);
    config.set("group.id", GROUP);
    let outsider: BaseConsumer = config.create().unwrap();
    let mut query = TopicPartitionList::new();
    query.add_partition(TOPIC, 0);
    let answer = outsider.committed_offsets(query, REQUEST_TIMEOUT).unwrap();
    match answer.find_partition(TOPIC, 0).unwrap().offset() {
        Offset::Offset(offset) => Some(offset),
        _ => None,
    }
}

/// The "crash": the member goes away at this exact point and commits nothing more.
/// (librdkafka's close still leaves the group, with LeaveGroup or a heartbeat with epoch
/// -1, so the successor need not wait for the session timeout; with
/// `enable.auto.commit=false` it commits nothing on the way out.)
fn crash(consumer: BaseConsumer) {
    drop(consumer);
}

/// Ids the successor processes: from wherever the group's committed offset sends it to
/// the end of the partition.
fn successor_processes_the_rest(protocol: GroupProtocol, bootstrap: &str) -> Vec<u64> {
    let successor = member(protocol, bootstrap, false);
    let mut ids = Vec::new();
    let started = Instant::now();
    while ids.last() != Some(&(COUNT - 1)) {
        assert!(
            started.elapsed() < DEADLINE,
            "the successor did not reach the end within {DEADLINE:?}: {ids:?}"
        );
        if let Some(message) = successor.poll(Duration::from_millis(50)) {
            ids.push(NUMBERED.check(&Received::from_message(&message.unwrap())));
        }
    }
    ids
}

/// Ids never processed, and ids processed more than once.
fn lost_and_duplicated(processed: &[u64]) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let mut seen = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    for &id in processed {
        if !seen.insert(id) {
            duplicated.insert(id);
        }
    }
    let lost = (0..COUNT).filter(|id| !seen.contains(id)).collect();
    (lost, duplicated)
}

both_protocols!(
    commit_before_processing_loses_what_a_crash_interrupts_at_most_once,
    commit_after_processing_repeats_what_a_crash_interrupts_at_least_once,
    auto_commit_commits_what_was_handed_over_not_what_was_processed,
);

fn commit_before_processing_loses_what_a_crash_interrupts_at_most_once(protocol: GroupProtocol) {
    let broker = broker_with_invoices();
    let bootstrap = broker.bootstrap();
    let mut processed = Vec::new();

    let first = member(protocol, &bootstrap, false);
    // Batch 0..10: commit, then process.
    let batch = take(&first, BATCH);
    assert_eq!(batch, (0..10).collect::<Vec<_>>());
    assert_group_type(broker.addr(), GROUP, protocol);
    commit(&first, 10);
    processed.extend(&batch);
    // Batch 10..20: commit, then crash halfway through processing it.
    let batch = take(&first, BATCH);
    assert_eq!(batch, (10..20).collect::<Vec<_>>());
    commit(&first, 20);
    processed.extend(&batch[..PROCESSED_BEFORE_CRASH]);
    crash(first);
    assert_eq!(
        committed(&bootstrap),
        Some(20),
        "the unfinished batch is committed"
    );

    let rest = successor_processes_the_rest(protocol, &bootstrap);
    assert_eq!(
        rest.first(),
        Some(&20),
        "the successor starts after the committed batch"
    );
    processed.extend(&rest);

    let (lost, duplicated) = lost_and_duplicated(&processed);
    assert_eq!(
        lost,
        (15..20).collect(),
        "lost: what the crash kept from being processed"
    );
    assert_eq!(duplicated, BTreeSet::new(), "nothing is processed twice");
}

fn commit_after_processing_repeats_what_a_crash_interrupts_at_least_once(protocol: GroupProtocol) {
    let broker = broker_with_invoices();
    let bootstrap = broker.bootstrap();
    let mut processed = Vec::new();

    let first = member(protocol, &bootstrap, false);
    // Batch 0..10: process, then commit.
    let batch = take(&first, BATCH);
    assert_eq!(batch, (0..10).collect::<Vec<_>>());
    assert_group_type(broker.addr(), GROUP, protocol);
    processed.extend(&batch);
    commit(&first, 10);
    // Batch 10..20: crash halfway through processing it, before its commit.
    let batch = take(&first, BATCH);
    assert_eq!(batch, (10..20).collect::<Vec<_>>());
    processed.extend(&batch[..PROCESSED_BEFORE_CRASH]);
    crash(first);
    assert_eq!(
        committed(&bootstrap),
        Some(10),
        "only the finished batch is committed"
    );

    let rest = successor_processes_the_rest(protocol, &bootstrap);
    assert_eq!(
        rest.first(),
        Some(&10),
        "the successor starts at the unfinished batch"
    );
    processed.extend(&rest);

    let (lost, duplicated) = lost_and_duplicated(&processed);
    assert_eq!(lost, BTreeSet::new(), "nothing is lost");
    assert_eq!(
        duplicated,
        (10..15).collect(),
        "processed twice: what the crash kept from being committed"
    );
}

fn auto_commit_commits_what_was_handed_over_not_what_was_processed(protocol: GroupProtocol) {
    let broker = broker_with_invoices();
    let bootstrap = broker.bootstrap();
    let mut processed = Vec::new();

    // librdkafka stores a message's offset when `poll` returns it and commits stored
    // offsets on a timer, whatever the application has done with the message since.
    let first = member(protocol, &bootstrap, true);
    let batch = take(&first, 2 * BATCH);
    assert_eq!(batch, (0..20).collect::<Vec<_>>());
    assert_group_type(broker.addr(), GROUP, protocol);
    processed.extend(&batch[..BATCH + PROCESSED_BEFORE_CRASH]);
    // Before the crash, the timer has already committed the whole of what `poll`
    // returned, the unprocessed tail included.
    let started = Instant::now();
    while committed(&bootstrap) != Some(20) {
        assert!(
            started.elapsed() < DEADLINE,
            "auto-commit did not commit offset 20 within {DEADLINE:?}: {:?}",
            committed(&bootstrap)
        );
        // No `poll` here: it would hand over (and so store) message 20 too. The timer
        // runs on librdkafka's own thread.
        std::thread::sleep(Duration::from_millis(50));
    }
    // The rdkafka crate's `Drop` polls until the consumer has closed, which would hand
    // over (and so store and commit) the messages librdkafka had fetched beyond 20:
    // pausing the partition first makes librdkafka discard them, as a crash would.
    first.pause(&first.assignment().unwrap()).unwrap();
    crash(first);
    assert_eq!(committed(&bootstrap), Some(20));

    let rest = successor_processes_the_rest(protocol, &bootstrap);
    assert_eq!(rest.first(), Some(&20));
    processed.extend(&rest);

    let (lost, duplicated) = lost_and_duplicated(&processed);
    assert_eq!(
        lost,
        (15..20).collect(),
        "auto-commit is at-most-once for what a crash interrupts"
    );
    assert_eq!(duplicated, BTreeSet::new());
}
