//! Rewinding a consumer group: while the group is empty, its committed offsets are reset
//! (to the earliest offsets, to chosen offsets, to the first offsets at or after a
//! timestamp) and the next member to join reprocesses from exactly there.
//!
//! The reset speaks the protocol the way Kafka's admin tools do, with no client library:
//! ListOffsets finds the offsets, and OffsetCommit with generation -1 and an empty member
//! id (the form Kafka accepts only for an empty group) writes them. The member that then
//! reprocesses uses `auto.offset.reset=latest`, so any message it reads proves that it
//! started from the committed offsets.
//!
//! Every scenario runs with both group protocols (`group.protocol=classic` and
//! `consumer`): an empty group's offsets can be reset whichever protocol its members
//! speak, and a reset is refused while either kind has a member.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fjord_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use fjord_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use fjord_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use fjord_protocol::messages::{ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest};
use fjord_testkit::TestBroker;
use fjord_testkit::both_protocols;
use fjord_testkit::clients::{GroupProtocol, create_topic, producer_config};
use fjord_testkit::groups::{assert_group_type, wait_until_empty};
use fjord_testkit::messages::{Numbered, Received, flush, recording_producer};
use fjord_testkit::raw::RawConnection;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;

const TOPIC: &str = "audit-log";
const GROUP: &str = "auditors";
const PARTITIONS: i32 = 3;
/// Per partition: messages from 2020 at offsets 0..5, from 2023 at 5..10.
const OLD_PER_PARTITION: i64 = 5;
const NEW_PER_PARTITION: i64 = 5;
const LOG_END: i64 = OLD_PER_PARTITION + NEW_PER_PARTITION;
const OLD_MS: i64 = 1_577_836_800_000; // 2020-01-01T00:00:00Z
const NEW_MS: i64 = 1_672_531_200_000; // 2023-01-01T00:00:00Z
const NUMBERED: Numbered = Numbered {
    keys: 10,
    value_bytes: 40,
};
const DEADLINE: Duration = Duration::from_secs(60);

/// Kafka's error codes that these tests expect.
const NONE: i16 = 0;
const UNKNOWN_MEMBER_ID: i16 = 25;

/// A message by where it is: (partition, offset).
type At = (i32, i64);

/// A broker with `audit-log`, whose group `auditors` has read and committed everything
/// and then left: the group is empty, every committed offset at the log end. Its members
/// spoke `protocol`.
fn broker_with_a_caught_up_group(protocol: GroupProtocol) -> TestBroker {
    let broker = TestBroker::start_with(GroupProtocol::configure_broker);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]);
    let producer = recording_producer(&producer_config(&bootstrap));
    let mut id = 0;
    for (count, base_ms) in [(OLD_PER_PARTITION, OLD_MS), (NEW_PER_PARTITION, NEW_MS)] {
        for partition in 0..PARTITIONS {
            for _ in 0..count {
                NUMBERED.send(
                    &producer,
                    TOPIC,
                    Some(partition),
                    id,
                    Some(base_ms + id as i64),
                );
                id += 1;
            }
        }
        // The old messages first in every partition.
        flush(&producer);
    }
    let everything = messages_from(&BTreeMap::from_iter((0..PARTITIONS).map(|p| (p, 0))));
    let read = consume(protocol, &bootstrap, "earliest", everything.len());
    assert_eq!(read, everything, "the first pass reads everything");
    wait_until_empty(broker.addr(), GROUP, DEADLINE);
    assert_group_type(broker.addr(), GROUP, protocol);
    assert_eq!(committed(broker.addr()), all_at(LOG_END));
    broker
}

/// Every partition at `offset`.
fn all_at(offset: i64) -> BTreeMap<i32, i64> {
    (0..PARTITIONS).map(|p| (p, offset)).collect()
}

/// The messages from `start` (by partition) to the log end.
fn messages_from(start: &BTreeMap<i32, i64>) -> BTreeSet<At> {
    start
        .iter()
        .flat_map(|(&p, &from)| (from..LOG_END).map(move |o| (p, o)))
        .collect()
}

/// A new member of the group reads `count` messages, committing after processing each,
/// then leaves. Returns where they were.
fn consume(
    protocol: GroupProtocol,
    bootstrap: &str,
    auto_offset_reset: &str,
    count: usize,
) -> BTreeSet<At> {
    let mut config = protocol.member_config(bootstrap, GROUP);
    config.set("auto.offset.reset", auto_offset_reset);
    let consumer: BaseConsumer = config.create().unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let mut read = Vec::new();
    let started = Instant::now();
    while read.len() < count {
        assert!(
            started.elapsed() < DEADLINE,
            "read {} of {count} messages within {DEADLINE:?}: {read:?}",
            read.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let message = message.unwrap();
            NUMBERED.check(&Received::from_message(&message));
            read.push((message.partition(), message.offset()));
            consumer.commit_message(&message, CommitMode::Sync).unwrap();
        }
    }
    let unique: BTreeSet<At> = read.iter().copied().collect();
    assert_eq!(unique.len(), read.len(), "no message twice: {read:?}");
    unique
}

/// ListOffsets for every partition at `timestamp` (-2: the earliest offset).
fn list_offsets(addr: SocketAddr, timestamp: i64) -> BTreeMap<i32, i64> {
    let mut connection = RawConnection::connect(addr).unwrap();
    let request = ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: TOPIC.to_owned(),
            partitions: (0..PARTITIONS)
                .map(|p| ListOffsetsPartition {
                    partition_index: p,
                    timestamp,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = connection.request(&request, 7).unwrap();
    response.topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, NONE, "ListOffsets: {p:?}");
            (p.partition_index, p.offset)
        })
        .collect()
}

/// Commits `offsets` for the group as an admin tool does: generation -1, no member id,
/// no instance id. Returns each partition's error code.
fn reset(addr: SocketAddr, offsets: &BTreeMap<i32, i64>) -> BTreeMap<i32, i16> {
    let mut connection = RawConnection::connect(addr).unwrap();
    let request = OffsetCommitRequest {
        group_id: GROUP.to_owned(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        group_instance_id: None,
        topics: vec![OffsetCommitRequestTopic {
            name: TOPIC.to_owned(),
            partitions: offsets
                .iter()
                .map(|(&p, &offset)| OffsetCommitRequestPartition {
                    partition_index: p,
                    committed_offset: offset,
                    committed_metadata: Some("rewound".to_owned()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = connection.request(&request, 8).unwrap();
    assert_eq!(response.topics.len(), 1, "{response:?}");
    response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code))
        .collect()
}

/// The group's committed offsets (OffsetFetch v8).
fn committed(addr: SocketAddr) -> BTreeMap<i32, i64> {
    let mut connection = RawConnection::connect(addr).unwrap();
    let request = OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup {
            group_id: GROUP.to_owned(),
            topics: Some(vec![OffsetFetchRequestTopics {
                name: TOPIC.to_owned(),
                partition_indexes: (0..PARTITIONS).collect(),
                ..Default::default()
            }]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = connection.request(&request, 8).unwrap();
    let group = &response.groups[0];
    assert_eq!(group.error_code, NONE, "OffsetFetch: {group:?}");
    group.topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, NONE, "OffsetFetch: {p:?}");
            (p.partition_index, p.committed_offset)
        })
        .collect()
}

/// Resets the empty group to `offsets`, checks what OffsetFetch then says, and returns
/// what a new member reprocesses.
fn rewind_and_reprocess(
    protocol: GroupProtocol,
    broker: &TestBroker,
    offsets: &BTreeMap<i32, i64>,
) -> BTreeSet<At> {
    let errors = reset(broker.addr(), offsets);
    assert_eq!(errors, offsets.keys().map(|&p| (p, NONE)).collect());
    assert_eq!(&committed(broker.addr()), offsets, "the committed offsets");
    // Without a committed offset, `latest` would read nothing: what the member reads
    // comes from the group's committed offsets.
    consume(
        protocol,
        &broker.bootstrap(),
        "latest",
        messages_from(offsets).len(),
    )
}

both_protocols!(
    rewind_to_earliest_reprocesses_everything,
    rewind_to_chosen_offsets_reprocesses_from_each,
    rewind_to_a_timestamp_reprocesses_what_came_at_or_after_it,
    a_reset_is_refused_while_the_group_has_a_member,
);

fn rewind_to_earliest_reprocesses_everything(protocol: GroupProtocol) {
    let broker = broker_with_a_caught_up_group(protocol);
    let earliest = list_offsets(broker.addr(), -2);
    assert_eq!(earliest, all_at(0));
    let read = rewind_and_reprocess(protocol, &broker, &earliest);
    assert_eq!(read, messages_from(&all_at(0)));
}

fn rewind_to_chosen_offsets_reprocesses_from_each(protocol: GroupProtocol) {
    let broker = broker_with_a_caught_up_group(protocol);
    let chosen = BTreeMap::from([(0, 3), (1, 7), (2, 0)]);
    let read = rewind_and_reprocess(protocol, &broker, &chosen);
    assert_eq!(read, messages_from(&chosen));
}

fn rewind_to_a_timestamp_reprocesses_what_came_at_or_after_it(protocol: GroupProtocol) {
    let broker = broker_with_a_caught_up_group(protocol);
    // The first message of 2023 in every partition: the one after the five from 2020.
    let from_2023 = list_offsets(broker.addr(), NEW_MS);
    assert_eq!(from_2023, all_at(OLD_PER_PARTITION));
    let read = rewind_and_reprocess(protocol, &broker, &from_2023);
    assert_eq!(read, messages_from(&all_at(OLD_PER_PARTITION)));
}

fn a_reset_is_refused_while_the_group_has_a_member(protocol: GroupProtocol) {
    let broker = broker_with_a_caught_up_group(protocol);
    let bootstrap = broker.bootstrap();
    let member: BaseConsumer = protocol.member_config(&bootstrap, GROUP).create().unwrap();
    member.subscribe(&[TOPIC]).unwrap();
    let started = Instant::now();
    while member.assignment().unwrap().count() < PARTITIONS as usize {
        assert!(started.elapsed() < DEADLINE, "the member got no assignment");
        member.poll(Duration::from_millis(50));
    }
    // Kafka accepts a commit without generation and member only from an empty group.
    let errors = reset(broker.addr(), &all_at(0));
    assert_eq!(
        errors,
        (0..PARTITIONS).map(|p| (p, UNKNOWN_MEMBER_ID)).collect()
    );
    assert_eq!(
        committed(broker.addr()),
        all_at(LOG_END),
        "nothing was reset"
    );
}
