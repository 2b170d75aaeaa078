//! A member subscribing to a regular expression instead of topic names: it gets the
//! partitions of every matching topic, a matching topic created later is assigned to it
//! too, and a topic that does not match never is. librdkafka takes a subscription that
//! starts with `^` as a regex.
//!
//! The scenario runs with both group protocols, which match in different places:
//!
//! - classic: librdkafka matches the regex against the topic names in its metadata and
//!   joins the group with the names it found; it sees a new topic at its next metadata
//!   refresh, so the test shortens that refresh to [`CLASSIC_METADATA_REFRESH_MS`].
//! - consumer (KIP-848): librdkafka sends the regex in its ConsumerGroupHeartbeat and the
//!   broker matches it, against the topics it knows, and again when topics are created;
//!   a new matching topic reaches the member within a few heartbeat intervals. The test
//!   checks with ConsumerGroupDescribe that the broker holds the regex, so a client that
//!   expanded it to names itself cannot pass.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::{Duration, Instant};

use fjord_testkit::TestBroker;
use fjord_testkit::both_protocols;
use fjord_testkit::clients::{GroupProtocol, create_topic, producer_config};
use fjord_testkit::groups::{assert_group_type, describe_consumer_group};
use fjord_testkit::messages::{Numbered, Received, produce_numbered};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};

const GROUP: &str = "dashboards";
const REGEX: &str = "^metrics-.*";
/// Topics that exist before the member subscribes: name, partitions, and the ids of the
/// messages produced to it (disjoint ranges, so an id says which topic it came from).
const BEFORE: [(&str, i32, Range<u64>); 3] = [
    ("metrics-cpu", 3, 0..100),
    ("metrics-memory", 2, 100..200),
    ("logs-app", 2, 200..300),
];
/// Topics created once the member has its assignment.
const LATER: [(&str, i32, Range<u64>); 2] =
    [("metrics-disk", 2, 300..400), ("logs-audit", 2, 400..500)];
const NUMBERED: Numbered = Numbered {
    keys: 10,
    value_bytes: 32,
};
/// librdkafka's metadata refresh for the classic member: its default, 5 minutes, is how
/// long a classic regex subscription may take to see a new topic.
const CLASSIC_METADATA_REFRESH_MS: &str = "1000";
/// How soon a matching topic created later must be assigned: with classic, a metadata
/// refresh and a rebalance; with consumer, a few of the broker's 500 ms heartbeat
/// intervals (six, as the member may need a second heartbeat to learn the new topic's
/// name from a metadata request).
const CLASSIC_NEW_TOPIC_WITHIN: Duration = Duration::from_secs(10);
const CONSUMER_NEW_TOPIC_WITHIN: Duration = Duration::from_secs(3);
/// How long the member is watched, after it has the new topic, for a non-matching topic
/// that should never be assigned: several heartbeat intervals and metadata refreshes.
const QUIET_PERIOD: Duration = Duration::from_secs(3);
const DEADLINE: Duration = Duration::from_secs(60);

both_protocols!(a_regex_subscription_gets_the_matching_topics_and_those_created_later);

/// (topic, partition) pairs.
type Partitions = BTreeSet<(String, i32)>;

/// Every partition of the topics in `topics` whose name matches [`REGEX`].
fn matching(topics: &[(&str, i32, Range<u64>)]) -> Partitions {
    topics
        .iter()
        .filter(|(name, _, _)| name.starts_with("metrics-"))
        .flat_map(|(name, partitions, _)| (0..*partitions).map(|p| (name.to_string(), p)))
        .collect()
}

/// The ids produced to the topics in `topics` whose name matches [`REGEX`].
fn matching_ids(topics: &[(&str, i32, Range<u64>)]) -> BTreeSet<u64> {
    topics
        .iter()
        .filter(|(name, _, _)| name.starts_with("metrics-"))
        .flat_map(|(_, _, ids)| ids.clone())
        .collect()
}

fn assigned(consumer: &BaseConsumer) -> Partitions {
    consumer
        .assignment()
        .map(|list| {
            list.elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect()
        })
        .unwrap_or_default()
}

/// Creates the topics and produces their messages.
fn create_with_messages(bootstrap: &str, topics: &[(&str, i32, Range<u64>)]) {
    for (name, partitions, ids) in topics {
        create_topic(bootstrap, name, *partitions, &[]);
        produce_numbered(&producer_config(bootstrap), name, &NUMBERED, ids.clone());
    }
}

/// Polls `consumer` until `done` holds, recording the id of every message by topic;
/// fails the test after [`DEADLINE`] with `what`.
fn poll_until(
    consumer: &BaseConsumer,
    read: &mut BTreeMap<String, BTreeSet<u64>>,
    what: &str,
    mut done: impl FnMut(&BaseConsumer, &BTreeMap<String, BTreeSet<u64>>) -> bool,
) {
    let started = Instant::now();
    while !done(consumer, read) {
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}; assigned {:?}, read {:?}",
            assigned(consumer),
            read.iter()
                .map(|(t, ids)| (t, ids.len()))
                .collect::<Vec<_>>()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(20)) {
            let message = message.unwrap();
            let id = NUMBERED.check(&Received::from_message(&message));
            read.entry(message.topic().to_owned())
                .or_default()
                .insert(id);
        }
    }
}

fn all_read(read: &BTreeMap<String, BTreeSet<u64>>) -> BTreeSet<u64> {
    read.values().flatten().copied().collect()
}

fn a_regex_subscription_gets_the_matching_topics_and_those_created_later(protocol: GroupProtocol) {
    let broker = TestBroker::start_with(GroupProtocol::configure_broker);
    let bootstrap = broker.bootstrap();
    create_with_messages(&bootstrap, &BEFORE);

    let mut config = protocol.member_config(&bootstrap, GROUP);
    if protocol == GroupProtocol::Classic {
        config.set(
            "topic.metadata.refresh.interval.ms",
            CLASSIC_METADATA_REFRESH_MS,
        );
    }
    let consumer: BaseConsumer = config.create().unwrap();
    consumer.subscribe(&[REGEX]).unwrap();

    // The matching topics that exist, and their messages; nothing of the other.
    let mut read = BTreeMap::new();
    let expected = matching_ids(&BEFORE);
    poll_until(&consumer, &mut read, "the matching topics", |c, read| {
        assigned(c) == matching(&BEFORE) && all_read(read) == expected
    });
    assert_group_type(broker.addr(), GROUP, protocol);
    if protocol == GroupProtocol::Consumer {
        let described = describe_consumer_group(broker.addr(), GROUP);
        let regexes: Vec<Option<String>> = described
            .members
            .iter()
            .map(|m| m.subscribed_topic_regex.clone())
            .collect();
        assert!(
            matches!(regexes.as_slice(), [Some(regex)] if regex.contains("metrics-")),
            "the broker holds the member's regex: {:?}",
            described.members
        );
    }

    // A matching topic and a non-matching one are created: the first is assigned. Their
    // messages come once it is, so that the time measured is the assignment's alone.
    let [
        (matching_name, matching_partitions, _),
        (other_name, other_partitions, _),
    ] = &LATER;
    create_topic(&bootstrap, matching_name, *matching_partitions, &[]);
    let created_at = Instant::now();
    create_topic(&bootstrap, other_name, *other_partitions, &[]);
    let expected_partitions = matching(&[BEFORE.as_slice(), LATER.as_slice()].concat());
    poll_until(&consumer, &mut read, "the new matching topic", |c, _| {
        assigned(c) == expected_partitions
    });
    let assigned_after = created_at.elapsed();
    let within = match protocol {
        GroupProtocol::Classic => CLASSIC_NEW_TOPIC_WITHIN,
        GroupProtocol::Consumer => CONSUMER_NEW_TOPIC_WITHIN,
    };
    assert!(
        assigned_after <= within,
        "the new matching topic was assigned {assigned_after:?} after it was created"
    );

    // Its messages arrive; the non-matching topic is never assigned nor read.
    for (name, _, ids) in &LATER {
        produce_numbered(&producer_config(&bootstrap), name, &NUMBERED, ids.clone());
    }
    let expected = matching_ids(&[BEFORE.as_slice(), LATER.as_slice()].concat());
    poll_until(
        &consumer,
        &mut read,
        "the new topic's messages",
        |_, read| all_read(read) == expected,
    );
    let quiet_until = Instant::now() + QUIET_PERIOD;
    poll_until(&consumer, &mut read, "the quiet period", |c, _| {
        assert_eq!(
            assigned(c),
            expected_partitions,
            "only matching topics are assigned"
        );
        Instant::now() >= quiet_until
    });
    assert_eq!(
        read.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from(["metrics-cpu", "metrics-disk", "metrics-memory"].map(String::from)),
        "only matching topics are read"
    );
    assert_eq!(all_read(&read), expected);
    eprintln!("{protocol:?}: the new matching topic was assigned after {assigned_after:?}");
}
