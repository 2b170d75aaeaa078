//! Rebalancing a group when a member joins and when one leaves gracefully, with both of
//! librdkafka's group protocols.
//!
//! Classic (`group.protocol=classic`) with librdkafka's client-side assignors: the eager
//! ones (`range`, `roundrobin`), where every member gives up everything and gets a new
//! share, and `cooperative-sticky`, where only the partitions that move are revoked.
//!
//! Consumer (`group.protocol=consumer`, KIP-848) with the broker's assignors (`uniform`
//! and `range`, chosen with `group.remote.assignor`): rebalances are always incremental,
//! so a member keeps the partitions it does not lose, as with `cooperative-sticky`.
//!
//! Each scenario: one member owns all six partitions; a second joins and they split them
//! (disjoint shares that add up to all six); the second closes (LeaveGroup, or a
//! ConsumerGroupHeartbeat with epoch -1) and the first owns all six again, well before a
//! session timeout could have expired. Messages flow throughout and are committed after
//! processing, so none is lost across either rebalance.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{GroupProtocol, assigned_partitions, create_topic, producer_config};
use fjord_testkit::groups::{assert_group_type, describe_consumer_group};
use fjord_testkit::messages::{Numbered, Received, produce_numbered};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

const TOPIC: &str = "orders";
const GROUP: &str = "fulfilment";
const PARTITIONS: i32 = 6;
/// Messages produced before the join, between join and leave, and after the leave.
const BATCH: u64 = 400;
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
const NUMBERED: Numbered = Numbered {
    keys: 100,
    value_bytes: 48,
};
const DEADLINE: Duration = Duration::from_secs(60);

/// What librdkafka's rebalance callback told a member, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Assigned(BTreeSet<i32>),
    Revoked(BTreeSet<i32>),
}

/// Records every rebalance callback before librdkafka's default handling runs.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }
}

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, _: &BaseConsumer<Recorder>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &rdkafka::TopicPartitionList| {
            list.elements().iter().map(|e| e.partition()).collect()
        };
        let event = match rebalance {
            Rebalance::Assign(list) => Event::Assigned(partitions(list)),
            Rebalance::Revoke(list) => Event::Revoked(partitions(list)),
            Rebalance::Error(error) => panic!("rebalance error: {error}"),
        };
        self.events.lock().unwrap().push(event);
    }
}

type Member = BaseConsumer<Recorder>;

/// A member that commits after processing, with the given assignor: a client-side one
/// (`partition.assignment.strategy`) with the classic protocol, the broker's with the
/// consumer protocol (`group.remote.assignor`; librdkafka refuses the classic setting
/// then). Session timing is [`GroupProtocol::member_config`]'s: 6 s and 500 ms, set by the
/// client with classic and by the broker with consumer.
fn member(protocol: GroupProtocol, bootstrap: &str, assignor: &str) -> Member {
    let mut config = protocol.member_config(bootstrap, GROUP);
    match protocol {
        GroupProtocol::Classic => config.set("partition.assignment.strategy", assignor),
        GroupProtocol::Consumer => config.set("group.remote.assignor", assignor),
    };
    let consumer: Member = config.create_with_context(Recorder::default()).unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

fn assignment(consumer: &Member) -> BTreeSet<i32> {
    assigned_partitions(consumer)
}

/// What the group has processed: ids by member, and by partition.
#[derive(Default)]
struct Processed {
    ids: BTreeSet<u64>,
    partitions_by_member: BTreeMap<usize, BTreeSet<i32>>,
}

/// One round over `members`: each polls once; a message is processed (checked and
/// recorded, with the partitions it came from) and then committed. A commit that a
/// rebalance overtakes fails, which at-least-once tolerates: the message is read again.
fn poll_round(members: &[&Member], processed: &mut Processed) {
    for (i, consumer) in members.iter().enumerate() {
        let Some(message) = consumer.poll(Duration::from_millis(10)) else {
            continue;
        };
        let message = message.unwrap();
        let received = Received::from_message(&message);
        processed.ids.insert(NUMBERED.check(&received));
        processed
            .partitions_by_member
            .entry(i)
            .or_default()
            .insert(received.partition);
        match consumer.commit_message(&message, CommitMode::Async) {
            Ok(())
            | Err(KafkaError::ConsumerCommit(
                RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId,
            )) => {}
            Err(error) => panic!("commit: {error}"),
        }
    }
}

/// Waits until everything `consumer` has processed is committed.
fn commit_processed(consumer: &Member) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        // Nothing left that the per-message commits have not covered.
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => panic!("commit: {error}"),
    }
}

/// Polls `members` until `done` holds; fails the test after [`DEADLINE`] with `what`.
fn poll_until(
    members: &[&Member],
    processed: &mut Processed,
    what: &str,
    mut done: impl FnMut(&Processed) -> bool,
) {
    let started = Instant::now();
    while !done(processed) {
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}; assignments {:?}",
            members.iter().map(|m| assignment(m)).collect::<Vec<_>>()
        );
        poll_round(members, processed);
    }
}

/// Whether the shares are a partition of the topic among `members`: disjoint, none
/// empty, and together every partition.
fn split_among(members: &[&Member]) -> bool {
    let shares: Vec<BTreeSet<i32>> = members.iter().map(|m| assignment(m)).collect();
    let total: usize = shares.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<i32> = shares.iter().flatten().copied().collect();
    shares.iter().all(|s| !s.is_empty()) && total == PARTITIONS as usize && union.len() == total
}

fn all_partitions() -> BTreeSet<i32> {
    (0..PARTITIONS).collect()
}

/// The scenario with `protocol` and `strategy`. `cooperative` says whether a rebalance
/// takes from a member only the partitions that move (incremental) or everything (eager).
fn rebalance_on_join_and_leave(protocol: GroupProtocol, strategy: &str, cooperative: bool) {
    // The broker's consumer-group session (6 s) is the one SESSION_TIMEOUT names.
    let broker = TestBroker::start_with(GroupProtocol::configure_broker);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]);
    let produce = |ids| produce_numbered(&producer_config(&bootstrap), TOPIC, &NUMBERED, ids);
    let mut processed = Processed::default();

    produce(0..BATCH);
    let first = member(protocol, &bootstrap, strategy);
    poll_until(&[&first], &mut processed, "first member alone", |p| {
        p.ids.len() as u64 == BATCH
    });
    assert_eq!(assignment(&first), all_partitions());
    commit_processed(&first);
    let before_join = first.context().events().len();

    // Join: the two split the partitions.
    let second = member(protocol, &bootstrap, strategy);
    let both = [&first, &second];
    poll_until(&both, &mut processed, "split on join", |_| {
        split_among(&both)
    });
    let first_share = assignment(&first);
    let second_share = assignment(&second);
    assert_group_type(broker.addr(), GROUP, protocol);
    if protocol == GroupProtocol::Consumer {
        assert_eq!(
            describe_consumer_group(broker.addr(), GROUP).assignor_name,
            strategy,
            "the broker assigns with the assignor the members asked for"
        );
    }
    assert_eq!(
        (first_share.len(), second_share.len()),
        (3, 3),
        "{strategy} gives each of two members three of six partitions"
    );
    let revoked_on_join: BTreeSet<i32> = first.context().events()[before_join..]
        .iter()
        .filter_map(|e| match e {
            Event::Revoked(partitions) => Some(partitions.clone()),
            Event::Assigned(_) => None,
        })
        .flatten()
        .collect();
    if cooperative {
        assert_eq!(
            revoked_on_join, second_share,
            "{strategy}: the first member gives up only what moves to the second"
        );
    } else {
        assert_eq!(
            revoked_on_join,
            all_partitions(),
            "{strategy}: eager, the first member gives up everything"
        );
    }

    // Each member now reads only its own share.
    processed.partitions_by_member.clear();
    produce(BATCH..2 * BATCH);
    poll_until(&both, &mut processed, "reading after the join", |p| {
        (BATCH..2 * BATCH).all(|id| p.ids.contains(&id))
    });
    assert_eq!(assignment(&first), first_share, "no further rebalance");
    assert_eq!(assignment(&second), second_share, "no further rebalance");
    let read_from = |i| {
        processed
            .partitions_by_member
            .get(&i)
            .cloned()
            .unwrap_or_default()
    };
    assert!(
        read_from(0).is_subset(&first_share),
        "the first member read {:?}, owns {first_share:?}",
        read_from(0)
    );
    assert!(
        read_from(1).is_subset(&second_share),
        "the second member read {:?}, owns {second_share:?}",
        read_from(1)
    );
    assert!(!read_from(1).is_empty(), "the second member did read");

    // Graceful leave: the first member gets everything back, without waiting for a
    // session timeout.
    commit_processed(&first);
    commit_processed(&second);
    let before_leave = first.context().events().len();
    let leaving = Instant::now();
    drop(second);
    poll_until(&[&first], &mut processed, "take-over on leave", |_| {
        assignment(&first) == all_partitions()
    });
    let took_over = leaving.elapsed();
    assert!(
        took_over < SESSION_TIMEOUT,
        "the leave took {took_over:?}: as long as a session timeout"
    );
    let leave_events = first.context().events()[before_leave..].to_vec();
    if cooperative {
        assert_eq!(
            leave_events,
            vec![Event::Assigned(second_share.clone())],
            "{strategy}: the first member only gains the second's partitions"
        );
    } else {
        assert_eq!(
            leave_events,
            vec![
                Event::Revoked(first_share.clone()),
                Event::Assigned(all_partitions())
            ],
            "{strategy}: eager, the first member gives up its share and gets everything"
        );
    }

    produce(2 * BATCH..3 * BATCH);
    poll_until(&[&first], &mut processed, "reading after the leave", |p| {
        p.ids.len() as u64 == 3 * BATCH
    });
    assert_eq!(
        processed.ids,
        (0..3 * BATCH).collect(),
        "no message lost across the two rebalances"
    );
    eprintln!("{protocol:?} {strategy}: took over on leave in {took_over:?}");
}

/// The classic protocol, with librdkafka's client-side assignors.
mod classic {
    use super::{GroupProtocol, rebalance_on_join_and_leave};

    #[test]
    fn range_assignor_rebalances_on_join_and_on_leave() {
        rebalance_on_join_and_leave(GroupProtocol::Classic, "range", false);
    }

    #[test]
    fn roundrobin_assignor_rebalances_on_join_and_on_leave() {
        rebalance_on_join_and_leave(GroupProtocol::Classic, "roundrobin", false);
    }

    #[test]
    fn cooperative_sticky_assignor_rebalances_incrementally_on_join_and_on_leave() {
        rebalance_on_join_and_leave(GroupProtocol::Classic, "cooperative-sticky", true);
    }
}

/// The consumer protocol (KIP-848), with the broker's assignors: every rebalance is
/// incremental.
mod consumer {
    use super::{GroupProtocol, rebalance_on_join_and_leave};

    #[test]
    fn uniform_assignor_rebalances_incrementally_on_join_and_on_leave() {
        rebalance_on_join_and_leave(GroupProtocol::Consumer, "uniform", true);
    }

    #[test]
    fn range_assignor_rebalances_incrementally_on_join_and_on_leave() {
        rebalance_on_join_and_leave(GroupProtocol::Consumer, "range", true);
    }
}
