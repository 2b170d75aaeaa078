//! Consumer groups with both of librdkafka's protocols (`group.protocol=classic` and
//! `consumer`, KIP-848): fan-out (every group reads every message), queues (members of
//! one group share the partitions), a stand-by member that takes over, committed offsets
//! that survive a restart, and kcat's balanced consumer.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use fjord_testkit::TestBroker;
use fjord_testkit::both_protocols;
use fjord_testkit::clients::{GroupProtocol, create_topic, producer_config};
use fjord_testkit::groups::assert_group_type;
use fjord_testkit::messages::{Numbered, Received, produce_numbered};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};

const PARTITIONS: i32 = 6;
const NUMBERED: Numbered = Numbered {
    keys: 500,
    value_bytes: 64,
};
const DEADLINE: Duration = Duration::from_secs(120);

/// A broker whose new groups rebalance at once instead of after Kafka's 3 s delay, and
/// whose consumer group members heartbeat every 500 ms.
fn broker() -> TestBroker {
    TestBroker::start_with(GroupProtocol::configure_broker)
}

fn member(protocol: GroupProtocol, bootstrap: &str, group: &str) -> BaseConsumer {
    protocol.member_config(bootstrap, group).create().unwrap()
}

both_protocols!(
    fan_out_every_group_reads_every_message,
    queue_members_share_the_partitions_and_read_each_message_once,
    a_seventh_member_stands_by_and_takes_over_when_another_leaves,
    a_group_resumes_from_its_committed_offsets_after_a_restart,
    deleting_a_topic_deletes_its_committed_offsets,
);

/// Polls every consumer in turn until `done` says so; returns the ids each one read.
fn poll_until(
    consumers: &[&BaseConsumer],
    mut done: impl FnMut(&[Vec<u64>]) -> bool,
) -> Vec<Vec<u64>> {
    let mut ids = vec![Vec::new(); consumers.len()];
    let started = Instant::now();
    while !done(&ids) {
        assert!(
            started.elapsed() < DEADLINE,
            "not done within {DEADLINE:?}: read {:?}",
            ids.iter().map(Vec::len).collect::<Vec<_>>()
        );
        for (i, consumer) in consumers.iter().enumerate() {
            // Drain what is ready, then wait briefly, so idle members cost little.
            let mut timeout = Duration::from_millis(10);
            while let Some(message) = consumer.poll(timeout) {
                ids[i].push(NUMBERED.check(&Received::from_message(&message.unwrap())));
                timeout = Duration::ZERO;
            }
        }
    }
    ids
}

fn topic_with(bootstrap: &str, topic: &str, count: u64) {
    create_topic(bootstrap, topic, PARTITIONS, &[]);
    produce_numbered(&producer_config(bootstrap), topic, &NUMBERED, 0..count);
}

fn fan_out_every_group_reads_every_message(protocol: GroupProtocol) {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let count = 50_000;
    topic_with(&bootstrap, "orders", count);
    let groups = ["billing", "stock", "logistics"];
    let consumers: Vec<BaseConsumer> = groups
        .iter()
        .map(|g| member(protocol, &bootstrap, g))
        .collect();
    for consumer in &consumers {
        consumer.subscribe(&["orders"]).unwrap();
    }
    let refs: Vec<&BaseConsumer> = consumers.iter().collect();
    let ids = poll_until(&refs, |ids| {
        ids.iter().all(|read| read.len() as u64 >= count)
    });
    for group in groups {
        assert_group_type(broker.addr(), group, protocol);
    }
    for (group, read) in groups.iter().zip(ids) {
        let unique: BTreeSet<u64> = read.iter().copied().collect();
        assert_eq!(read.len() as u64, count, "{group} read each message once");
        assert_eq!(unique, (0..count).collect(), "{group} read every message");
    }
}

fn queue_members_share_the_partitions_and_read_each_message_once(protocol: GroupProtocol) {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let count = 50_000;
    create_topic(&bootstrap, "jobs", PARTITIONS, &[]);
    let members: Vec<BaseConsumer> = (0..3)
        .map(|_| member(protocol, &bootstrap, "workers"))
        .collect();
    for consumer in &members {
        consumer.subscribe(&["jobs"]).unwrap();
    }
    // Steady state first: two partitions each, before any message exists.
    let started = Instant::now();
    loop {
        for consumer in &members {
            consumer.poll(Duration::from_millis(20));
        }
        let counts: Vec<usize> = members
            .iter()
            .map(|c| c.assignment().map(|a| a.count()).unwrap_or(0))
            .collect();
        if counts == [2, 2, 2] {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the group never settled: {counts:?}"
        );
    }
    produce_numbered(&producer_config(&bootstrap), "jobs", &NUMBERED, 0..count);
    let refs: Vec<&BaseConsumer> = members.iter().collect();
    let ids = poll_until(&refs, |ids| {
        ids.iter().map(Vec::len).sum::<usize>() as u64 >= count
    });
    let all: Vec<u64> = ids.iter().flatten().copied().collect();
    let unique: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(
        all.len() as u64,
        count,
        "each message read once across the group"
    );
    assert_eq!(unique, (0..count).collect());
    for (i, read) in ids.iter().enumerate() {
        assert!(!read.is_empty(), "member {i} shared the work");
    }
    for (i, consumer) in members.iter().enumerate() {
        let assigned = consumer.assignment().unwrap().count();
        assert_eq!(assigned, 2, "member {i} still has two partitions");
    }
    assert_group_type(broker.addr(), "workers", protocol);
}

fn a_seventh_member_stands_by_and_takes_over_when_another_leaves(protocol: GroupProtocol) {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    topic_with(&bootstrap, "tasks", 600);
    let mut members: Vec<BaseConsumer> = (0..7)
        .map(|_| member(protocol, &bootstrap, "crew"))
        .collect();
    for consumer in &members {
        consumer.subscribe(&["tasks"]).unwrap();
    }
    let assignments = |members: &[BaseConsumer]| -> Vec<usize> {
        members
            .iter()
            .map(|c| c.assignment().map(|a| a.count()).unwrap_or(0))
            .collect()
    };
    let started = Instant::now();
    loop {
        for consumer in &members {
            consumer.poll(Duration::from_millis(20));
        }
        let counts = assignments(&members);
        if counts.iter().sum::<usize>() == PARTITIONS as usize
            && counts.iter().filter(|&&c| c == 0).count() == 1
        {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no stable assignment: {counts:?}"
        );
    }
    let counts = assignments(&members);
    let idle = counts.iter().position(|&c| c == 0).unwrap();
    // A member with a partition leaves; the stand-by one takes a partition over.
    let leaving = (0..7).find(|&i| i != idle && counts[i] > 0).unwrap();
    let gone = members.remove(leaving);
    gone.unsubscribe();
    drop(gone);
    let idle = if idle > leaving { idle - 1 } else { idle };
    let started = Instant::now();
    loop {
        for consumer in &members {
            consumer.poll(Duration::from_millis(20));
        }
        let counts = assignments(&members);
        if counts[idle] > 0 && counts.iter().sum::<usize>() == PARTITIONS as usize {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the stand-by member never took over: {counts:?}"
        );
    }
}

fn a_group_resumes_from_its_committed_offsets_after_a_restart(protocol: GroupProtocol) {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    let count = 6_000;
    topic_with(&bootstrap, "ledger", count);
    let first_half: BTreeSet<u64>;
    {
        let consumer = member(protocol, &bootstrap, "accounts");
        consumer.subscribe(&["ledger"]).unwrap();
        let ids = poll_until(&[&consumer], |ids| ids[0].len() as u64 >= count / 2);
        consumer.commit_consumer_state(CommitMode::Sync).unwrap();
        first_half = ids[0].iter().copied().collect();
        consumer.unsubscribe();
    }
    let broker = broker.restart_with(GroupProtocol::configure_broker);
    let bootstrap = broker.bootstrap();
    let consumer = member(protocol, &bootstrap, "accounts");
    consumer.subscribe(&["ledger"]).unwrap();
    let remaining = count - first_half.len() as u64;
    let ids = poll_until(&[&consumer], |ids| ids[0].len() as u64 >= remaining);
    let second: BTreeSet<u64> = ids[0].iter().copied().collect();
    assert!(
        first_half.is_disjoint(&second),
        "nothing committed is read again"
    );
    let all: BTreeSet<u64> = first_half.union(&second).copied().collect();
    assert_eq!(
        all,
        (0..count).collect(),
        "the two halves make up the topic"
    );
}

#[test]
fn kcat_balanced_consumer_reads_a_topic() {
    let broker = broker();
    let bootstrap = broker.bootstrap();
    topic_with(&bootstrap, "kcat-group", 300);
    let output = std::process::Command::new("timeout")
        .args([
            "60",
            "kcat",
            "-b",
            &bootstrap,
            "-G",
            "kcat-readers",
            "kcat-group",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%k\n",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut keys: HashMap<String, usize> = HashMap::new();
    for line in stdout.lines().filter(|l| !l.is_empty()) {
        *keys.entry(line.to_owned()).or_default() += 1;
    }
    assert_eq!(
        keys.values().sum::<usize>(),
        300,
        "kcat -G read every message: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn deleting_a_topic_deletes_its_committed_offsets(protocol: GroupProtocol) {
    use rdkafka::{Offset, TopicPartitionList};
    let broker = broker();
    let bootstrap = broker.bootstrap();
    topic_with(&bootstrap, "short-lived", 100);
    let consumer = member(protocol, &bootstrap, "auditors");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset("short-lived", 0, Offset::Offset(7))
        .unwrap();
    consumer.commit(&offsets, CommitMode::Sync).unwrap();
    let committed = consumer
        .committed_offsets(offsets.clone(), Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        committed.find_partition("short-lived", 0).unwrap().offset(),
        Offset::Offset(7)
    );

    fjord_testkit::clients::delete_topic(&bootstrap, "short-lived").unwrap();
    let started = Instant::now();
    loop {
        let committed = consumer
            .committed_offsets(offsets.clone(), Duration::from_secs(30))
            .unwrap();
        if committed.find_partition("short-lived", 0).unwrap().offset() == Offset::Invalid {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the committed offset outlived its topic"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
