//! Static membership: members with a `group.instance.id` keep their place in the group
//! while they are away, up to the session timeout. Every scenario runs with both group
//! protocols.
//!
//! Classic (KIP-345): librdkafka does not send LeaveGroup when a static member closes, so
//! a restart is a close followed by a new consumer with the same instance id. If it comes
//! back within the session timeout it gets exactly its old partitions, and the other
//! member's assignment never changes: no rebalance at all, whether the one restarting led
//! the group or followed. If it stays away longer, the broker removes it when its session
//! expires and the other member takes its partitions over.
//!
//! Consumer (KIP-848): a static member's close is a ConsumerGroupHeartbeat with epoch -2,
//! a temporary leave: the broker keeps the member's partitions reserved for it until the
//! session timeout, and gives them back to a member rejoining with the same instance id
//! within it, without touching the other member; after the timeout they move. The
//! protocol has no group leader (the broker assigns), so the leader/follower distinction
//! of the classic scenarios does not exist: its counterpart restarts either member.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{GroupProtocol, assigned_partitions, create_topic};
use fjord_testkit::groups::{assert_group_type, describe_consumer_group};
use rdkafka::ClientContext;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};

const TOPIC: &str = "sensors";
const GROUP: &str = "dashboards";
const PARTITIONS: i32 = 6;
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// Time allowed beyond the session timeout for the broker to notice an expired session
/// and for the remaining member to rejoin.
const EXPIRY_MARGIN: Duration = Duration::from_secs(4);
/// How long a member is watched for a rebalance that should not come: several heartbeat
/// intervals, in which a rebalance would reach it as REBALANCE_IN_PROGRESS.
const QUIET_PERIOD: Duration = Duration::from_secs(3);
const DEADLINE: Duration = Duration::from_secs(60);

/// Records librdkafka's rebalance callbacks (assignments and revocations), in order.
#[derive(Default)]
struct Recorder {
    rebalances: Mutex<Vec<String>>,
}

impl Recorder {
    fn rebalances(&self) -> Vec<String> {
        self.rebalances.lock().unwrap().clone()
    }
}

impl ClientContext for Recorder {}

impl ConsumerContext for Recorder {
    fn pre_rebalance(&self, _: &BaseConsumer<Recorder>, rebalance: &Rebalance<'_>) {
        let partitions = |list: &TopicPartitionList| -> Vec<i32> {
            list.elements().iter().map(|e| e.partition()).collect()
        };
        let event = match rebalance {
            Rebalance::Assign(list) => format!("assign {:?}", partitions(list)),
            Rebalance::Revoke(list) => format!("revoke {:?}", partitions(list)),
            Rebalance::Error(error) => format!("error {error}"),
        };
        self.rebalances.lock().unwrap().push(event);
    }
}

type Member = BaseConsumer<Recorder>;

/// A static member `instance` of the group, speaking `protocol`, with range assignment
/// (client-side with classic, the broker's with consumer). Its session timeout is
/// [`SESSION_TIMEOUT`]: set by the client with classic, by the broker with consumer.
fn member(protocol: GroupProtocol, bootstrap: &str, instance: &str) -> Member {
    let mut config = protocol.member_config(bootstrap, GROUP);
    config.set("group.instance.id", instance);
    match protocol {
        GroupProtocol::Classic => config.set("partition.assignment.strategy", "range"),
        GroupProtocol::Consumer => config.set("group.remote.assignor", "range"),
    };
    let consumer: Member = config.create_with_context(Recorder::default()).unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

fn assignment(consumer: &Member) -> BTreeSet<i32> {
    assigned_partitions(consumer)
}

/// Polls `members` (serving their callbacks; the topic is empty) until `done` holds.
fn poll_until(members: &[&Member], what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}; assignments {:?}",
            members.iter().map(|m| assignment(m)).collect::<Vec<_>>()
        );
        for consumer in members {
            if let Some(Err(error)) = consumer.poll(Duration::from_millis(20)) {
                panic!("{what}: consumer error {error}");
            }
        }
    }
}

/// Polls `members` for `period`.
fn poll_for(members: &[&Member], period: Duration) {
    let started = Instant::now();
    poll_until(members, "polling", || started.elapsed() >= period);
}

/// Two static members, `leader` joined first (and, with classic, leads the group),
/// `follower` joined second; polled until they have split the six partitions three and
/// three.
fn stable_pair(protocol: GroupProtocol, bootstrap: &str) -> (Member, Member) {
    let leader = member(protocol, bootstrap, "dashboard-a");
    // Alone first, so that it is the leader when the second one joins.
    poll_until(&[&leader], "the first member alone", || {
        assignment(&leader).len() == PARTITIONS as usize
    });
    let follower = member(protocol, bootstrap, "dashboard-b");
    poll_until(&[&leader, &follower], "a three-three split", || {
        let a = assignment(&leader);
        let b = assignment(&follower);
        a.len() == 3 && b.len() == 3 && a.is_disjoint(&b)
    });
    // Let any straggling callbacks arrive before the counting starts.
    poll_for(&[&leader, &follower], Duration::from_millis(500));
    (leader, follower)
}

/// A broker whose consumer-group session timeout is [`SESSION_TIMEOUT`], with the topic.
fn broker_with_topic() -> TestBroker {
    let broker = TestBroker::start_with(GroupProtocol::configure_broker);
    create_topic(&broker.bootstrap(), TOPIC, PARTITIONS, &[]);
    broker
}

/// Restarts one of a stable pair (`restart_leader` picks which) and checks that it gets
/// its partitions back while the other sees no rebalance.
fn restart_within_the_session_timeout(protocol: GroupProtocol, restart_leader: bool) {
    let broker = broker_with_topic();
    let bootstrap = broker.bootstrap();
    let (leader, follower) = stable_pair(protocol, &bootstrap);
    assert_group_type(broker.addr(), GROUP, protocol);
    let (restarting, staying, instance) = if restart_leader {
        (leader, follower, "dashboard-a")
    } else {
        (follower, leader, "dashboard-b")
    };
    let share = assignment(&restarting);
    let staying_share = assignment(&staying);
    let staying_rebalances = staying.context().rebalances();

    let restarted_at = Instant::now();
    // A static member's close sends no LeaveGroup (classic) or a temporary leave, epoch
    // -2 (consumer): the broker keeps its place.
    drop(restarting);
    let restarted = member(protocol, &bootstrap, instance);
    poll_until(
        &[&restarted, &staying],
        "the restarted member's share",
        || !assignment(&restarted).is_empty(),
    );
    let back_after = restarted_at.elapsed();
    assert!(
        back_after < SESSION_TIMEOUT,
        "the restarted member waited {back_after:?} for its partitions"
    );
    assert_eq!(
        assignment(&restarted),
        share,
        "the restarted member gets its old partitions back"
    );
    poll_for(&[&restarted, &staying], QUIET_PERIOD);
    assert_eq!(assignment(&restarted), share);
    assert_eq!(
        assignment(&staying),
        staying_share,
        "the other member keeps its partitions"
    );
    assert_eq!(
        staying.context().rebalances(),
        staying_rebalances,
        "the other member saw no rebalance"
    );
    assert_eq!(
        restarted.context().rebalances().len(),
        1,
        "the restarted member was assigned once: {:?}",
        restarted.context().rebalances()
    );
    eprintln!("back after {back_after:?}");
}

/// With classic, the member that joined first leads the group (it runs the assignor), so
/// restarting the leader and restarting a follower are different cases.
mod classic {
    use super::{GroupProtocol, restart_within_the_session_timeout};

    #[test]
    fn a_static_follower_restarting_within_the_session_timeout_gets_its_partitions_back() {
        restart_within_the_session_timeout(GroupProtocol::Classic, false);
    }

    #[test]
    fn a_static_leader_restarting_within_the_session_timeout_gets_its_partitions_back() {
        restart_within_the_session_timeout(GroupProtocol::Classic, true);
    }

    #[test]
    fn a_static_member_away_longer_than_the_session_timeout_loses_its_partitions() {
        super::a_static_member_away_longer_than_the_session_timeout_loses_its_partitions(
            GroupProtocol::Classic,
        );
    }
}

/// With consumer, the broker assigns and no member leads: the counterpart of the two
/// classic restart scenarios restarts the member that joined second, then the one that
/// joined first (whose partitions the broker assigned before the other existed).
mod consumer {
    use super::{GroupProtocol, restart_within_the_session_timeout};

    #[test]
    fn a_static_member_restarting_within_the_session_timeout_gets_its_partitions_back() {
        restart_within_the_session_timeout(GroupProtocol::Consumer, false);
    }

    #[test]
    fn the_first_static_member_restarting_within_the_session_timeout_gets_its_partitions_back() {
        restart_within_the_session_timeout(GroupProtocol::Consumer, true);
    }

    #[test]
    fn a_static_member_away_longer_than_the_session_timeout_loses_its_partitions() {
        super::a_static_member_away_longer_than_the_session_timeout_loses_its_partitions(
            GroupProtocol::Consumer,
        );
    }
}

/// Closes the member that joined second and checks that its partitions move to the other
/// once its session has expired, and not before.
fn a_static_member_away_longer_than_the_session_timeout_loses_its_partitions(
    protocol: GroupProtocol,
) {
    let broker = broker_with_topic();
    let bootstrap = broker.bootstrap();
    let (leader, follower) = stable_pair(protocol, &bootstrap);
    assert_group_type(broker.addr(), GROUP, protocol);
    let follower_share = assignment(&follower);
    let closed_at = Instant::now();
    drop(follower);
    if protocol == GroupProtocol::Consumer {
        // The close was a temporary leave (epoch -2): the broker still holds the member,
        // with its partitions, under its instance id.
        let described = describe_consumer_group(broker.addr(), GROUP);
        let reserved: Option<BTreeSet<i32>> = described
            .members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some("dashboard-b"))
            .map(|m| {
                m.assignment
                    .topic_partitions
                    .iter()
                    .flat_map(|t| t.partitions.iter().copied())
                    .collect()
            });
        assert_eq!(
            reserved,
            Some(follower_share),
            "the closed static member keeps its partitions: {:?}",
            described.members
        );
    }
    // Its partitions wait for it for the session timeout, then move.
    poll_until(&[&leader], "the take-over", || {
        assignment(&leader).len() == PARTITIONS as usize
    });
    let moved_after = closed_at.elapsed();
    // The last heartbeat may precede the close by up to a heartbeat interval (500 ms).
    let heartbeat_interval = Duration::from_millis(500);
    assert!(
        moved_after >= SESSION_TIMEOUT - heartbeat_interval - Duration::from_millis(500),
        "the partitions moved after {moved_after:?}, before the session timeout"
    );
    assert!(
        moved_after <= SESSION_TIMEOUT + EXPIRY_MARGIN,
        "the partitions moved after {moved_after:?}"
    );
    eprintln!("moved after {moved_after:?}");
}
