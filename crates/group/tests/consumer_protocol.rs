//! KIP-848 consumer groups driven with a fake clock: joining, the server-side assignment,
//! revocation before reassignment, epochs and fencing, leaving (dynamic and static),
//! session and revocation timeouts, topics that appear, offsets checked against member
//! epochs, the two protocols not mixing, and the state surviving a replay.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Harness, code, config};
use fjord_group::assignor::TopicInfo;
use fjord_group::{GroupCoordinator, GroupRequest};
use fjord_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use fjord_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use fjord_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
    OffsetCommitRequest,
};
use fjord_protocol::{ResponseKind, Uuid};

const GROUP: &str = "billing";
const HEARTBEAT_V: i16 = 1;
const FENCED_MEMBER_EPOCH: i16 = 110;
const UNRELEASED_INSTANCE_ID: i16 = 111;
const UNSUPPORTED_ASSIGNOR: i16 = 112;
const STALE_MEMBER_EPOCH: i16 = 113;
const INVALID_REQUEST: i16 = 42;
const INVALID_REGULAR_EXPRESSION: i16 = 127;
const FENCED_INSTANCE_ID: i16 = 82;

const ORDERS: Uuid = Uuid([1; 16]);
const REFUNDS: Uuid = Uuid([2; 16]);

fn topic(id: Uuid, name: &str, partitions: i32) -> TopicInfo {
    TopicInfo {
        id,
        name: name.to_owned(),
        partitions,
    }
}

/// A coordinator that knows "orders" with 6 partitions.
fn harness() -> Harness {
    let mut h = Harness::new(config());
    let out = h
        .coordinator
        .set_topics(h.now_ms, [topic(ORDERS, "orders", 6)]);
    h.apply(out);
    h
}

type Owned = BTreeMap<Uuid, BTreeSet<i32>>;

/// A member as a client keeps it: id, epoch and what it owns.
struct Member {
    id: String,
    epoch: i32,
    owned: Owned,
}

impl Member {
    fn partitions(&self) -> BTreeSet<i32> {
        self.owned.values().flatten().copied().collect()
    }
}

fn heartbeat(
    h: &mut Harness,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let id = h.send(GroupRequest::ConsumerGroupHeartbeat(request), HEARTBEAT_V);
    match h.response(id) {
        ResponseKind::ConsumerGroupHeartbeat(response) => response.clone(),
        other => panic!("{other:?}"),
    }
}

fn join_request(member_id: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest {
        group_id: GROUP.to_owned(),
        member_id: member_id.to_owned(),
        member_epoch: 0,
        rebalance_timeout_ms: 10_000,
        subscribed_topic_names: Some(topics.iter().map(|t| (*t).to_owned()).collect()),
        topic_partitions: Some(Vec::new()),
        ..Default::default()
    }
}

fn join(h: &mut Harness, member_id: &str, topics: &[&str]) -> Member {
    join_with(h, join_request(member_id, topics))
}

/// Joins with a prepared first heartbeat; the member takes what the answer gives.
fn join_with(h: &mut Harness, request: ConsumerGroupHeartbeatRequest) -> Member {
    let mut member = Member {
        id: request.member_id.clone(),
        epoch: 0,
        owned: Owned::new(),
    };
    let response = heartbeat(h, request);
    take(&mut member, &response);
    member
}

/// What a client does with a response: it takes the new epoch and assignment.
fn take(member: &mut Member, response: &ConsumerGroupHeartbeatResponse) {
    assert_eq!(response.error_code, code::NONE, "{response:?}");
    member.epoch = response.member_epoch;
    if let Some(assignment) = &response.assignment {
        member.owned = assignment
            .topic_partitions
            .iter()
            .map(|t| (t.topic_id, t.partitions.iter().copied().collect()))
            .collect();
    }
}

/// A heartbeat that reports what the member owns, as clients do after a change.
fn beat(h: &mut Harness, member: &mut Member) -> ConsumerGroupHeartbeatResponse {
    let request = ConsumerGroupHeartbeatRequest {
        group_id: GROUP.to_owned(),
        member_id: member.id.clone(),
        member_epoch: member.epoch,
        topic_partitions: Some(
            member
                .owned
                .iter()
                .map(|(id, ps)| TopicPartitions {
                    topic_id: *id,
                    partitions: ps.iter().copied().collect(),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    };
    let response = heartbeat(h, request);
    if response.error_code == code::NONE {
        take(member, &response);
    }
    response
}

/// Heartbeats every member in turn until nothing changes.
fn settle(h: &mut Harness, members: &mut [&mut Member]) {
    for _ in 0..10 {
        let before: Vec<(i32, Owned)> =
            members.iter().map(|m| (m.epoch, m.owned.clone())).collect();
        for member in members.iter_mut() {
            beat(h, member);
        }
        let after: Vec<(i32, Owned)> = members.iter().map(|m| (m.epoch, m.owned.clone())).collect();
        if before == after {
            return;
        }
    }
    panic!("the group did not settle");
}

fn describe_state(h: &mut Harness) -> (String, i32, i32) {
    let id = h.send(
        GroupRequest::ConsumerGroupDescribe(ConsumerGroupDescribeRequest {
            group_ids: vec![GROUP.to_owned()],
            ..Default::default()
        }),
        0,
    );
    match h.response(id) {
        ResponseKind::ConsumerGroupDescribe(response) => {
            let group = &response.groups[0];
            assert_eq!(group.error_code, code::NONE, "{group:?}");
            (
                group.group_state.clone(),
                group.group_epoch,
                group.assignment_epoch,
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_first_member_gets_every_partition_at_epoch_one() {
    let mut h = harness();
    let a = join(&mut h, "a", &["orders"]);
    assert_eq!(a.epoch, 1);
    assert_eq!(a.partitions(), (0..6).collect());
    assert_eq!(describe_state(&mut h), ("Stable".to_owned(), 1, 1));
    assert!(!h.log.is_empty(), "the new group is written down");
}

#[test]
fn a_second_member_gets_half_only_after_the_first_revokes() {
    let mut h = harness();
    let mut a = join(&mut h, "a", &["orders"]);
    let mut b = join(&mut h, "b", &["orders"]);
    // The target gives b three partitions, but a still owns them: b waits.
    assert_eq!(b.epoch, 2);
    assert!(b.partitions().is_empty(), "{:?}", b.owned);
    assert_eq!(describe_state(&mut h).0, "Reconciling");

    // a is asked to revoke three partitions, staying at epoch 1.
    let response = beat(&mut h, &mut a);
    assert_eq!(response.member_epoch, 1);
    assert_eq!(a.partitions().len(), 3);
    // a reports it no longer owns them: it moves to epoch 2.
    beat(&mut h, &mut a);
    assert_eq!(a.epoch, 2);
    // b gets the released partitions at its next heartbeat.
    beat(&mut h, &mut b);
    assert_eq!(b.partitions().len(), 3);
    assert!(a.partitions().is_disjoint(&b.partitions()));
    assert_eq!(describe_state(&mut h), ("Stable".to_owned(), 2, 2));
}

#[test]
fn members_beyond_the_partition_count_stand_by_and_take_over_on_leave() {
    let mut h = harness();
    let mut members: Vec<Member> = (0..7)
        .map(|i| join(&mut h, &format!("m{i}"), &["orders"]))
        .collect();
    {
        let mut refs: Vec<&mut Member> = members.iter_mut().collect();
        settle(&mut h, &mut refs);
    }
    let counts: Vec<usize> = members.iter().map(|m| m.partitions().len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 6);
    assert_eq!(counts.iter().filter(|&&c| c == 0).count(), 1, "{counts:?}");
    let idle = counts.iter().position(|&c| c == 0).unwrap();
    let leaving = (0..7).find(|&i| i != idle).unwrap();
    let gone = members.remove(leaving);
    let response = heartbeat(
        &mut h,
        ConsumerGroupHeartbeatRequest {
            group_id: GROUP.to_owned(),
            member_id: gone.id.clone(),
            member_epoch: -1,
            ..Default::default()
        },
    );
    assert_eq!(
        (response.error_code, response.member_epoch),
        (code::NONE, -1)
    );
    let idle = if idle > leaving { idle - 1 } else { idle };
    let mut refs: Vec<&mut Member> = members.iter_mut().collect();
    settle(&mut h, &mut refs);
    assert_eq!(
        members[idle].partitions().len(),
        1,
        "the stand-by member took over"
    );
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_after_the_session_timeout() {
    let mut h = harness();
    let mut a = join(&mut h, "a", &["orders"]);
    let mut b = join(&mut h, "b", &["orders"]);
    settle(&mut h, &mut [&mut a, &mut b]);
    let session_ms = i64::from(config().group_consumer_session_timeout_ms);
    // a keeps heartbeating; b goes silent.
    for _ in 0..((session_ms / 5_000) + 1) {
        h.advance(5_000);
        beat(&mut h, &mut a);
    }
    let response = beat(&mut h, &mut b);
    assert_eq!(response.error_code, code::UNKNOWN_MEMBER_ID);
    assert_eq!(
        a.partitions(),
        (0..6).collect(),
        "a took over b's partitions"
    );
}

#[test]
fn a_member_that_does_not_revoke_in_time_is_removed() {
    let mut h = harness();
    let mut a = join(&mut h, "a", &["orders"]);
    let mut b = join(&mut h, "b", &["orders"]);
    // a learns it must revoke, then never confirms.
    beat(&mut h, &mut a);
    assert_eq!(a.partitions().len(), 3);
    h.advance(10_001); // a's rebalance timeout
    let response = heartbeat(
        &mut h,
        ConsumerGroupHeartbeatRequest {
            group_id: GROUP.to_owned(),
            member_id: "a".to_owned(),
            member_epoch: a.epoch,
            ..Default::default()
        },
    );
    assert_eq!(response.error_code, code::UNKNOWN_MEMBER_ID);
    beat(&mut h, &mut b);
    assert_eq!(b.partitions(), (0..6).collect());
}

#[test]
fn a_wrong_epoch_is_fenced_and_a_lost_response_is_forgiven() {
    let mut h = harness();
    let mut a = join(&mut h, "a", &["orders"]);
    let mut too_new = heartbeat(
        &mut h,
        ConsumerGroupHeartbeatRequest {
            group_id: GROUP.to_owned(),
            member_id: "a".to_owned(),
            member_epoch: 7,
            ..Default::default()
        },
    );
    assert_eq!(too_new.error_code, FENCED_MEMBER_EPOCH);
    // b joins; a revokes and moves to epoch 2, but "loses" that response.
    let mut b = join(&mut h, "b", &["orders"]);
    beat(&mut h, &mut a);
    let kept = a.owned.clone();
    let old_epoch = a.epoch;
    beat(&mut h, &mut a);
    assert_eq!(a.epoch, 2);
    let mut lost = Member {
        id: "a".to_owned(),
        epoch: old_epoch,
        owned: kept,
    };
    too_new = beat(&mut h, &mut lost);
    assert_eq!(
        too_new.error_code,
        code::NONE,
        "the previous epoch with owned partitions is let in"
    );
    assert_eq!(lost.epoch, 2);
    beat(&mut h, &mut b);
}

#[test]
fn invalid_requests_get_kafkas_errors() {
    let mut h = harness();
    let mut request = join_request("a", &["orders"]);
    request.group_id = String::new();
    assert_eq!(heartbeat(&mut h, request).error_code, INVALID_REQUEST);
    let mut request = join_request("", &["orders"]);
    request.member_id = String::new();
    assert_eq!(
        heartbeat(&mut h, request).error_code,
        INVALID_REQUEST,
        "v1 needs a member id"
    );
    let mut request = join_request("a", &["orders"]);
    request.rebalance_timeout_ms = -1;
    assert_eq!(heartbeat(&mut h, request).error_code, INVALID_REQUEST);
    let mut request = join_request("a", &["orders"]);
    request.subscribed_topic_names = None;
    assert_eq!(heartbeat(&mut h, request).error_code, INVALID_REQUEST);
    let mut request = join_request("a", &[]);
    request.subscribed_topic_regex = Some("orders(".to_owned());
    assert_eq!(
        heartbeat(&mut h, request).error_code,
        INVALID_REGULAR_EXPRESSION
    );
    let mut request = join_request("a", &["orders"]);
    request.server_assignor = Some("sticky".to_owned());
    assert_eq!(heartbeat(&mut h, request).error_code, UNSUPPORTED_ASSIGNOR);
    let mut request = join_request("a", &["orders"]);
    request.member_epoch = 3;
    request.topic_partitions = None;
    assert_eq!(
        heartbeat(&mut h, request).error_code,
        code::GROUP_ID_NOT_FOUND
    );
    // None of these created the group.
    let listed = h.list(&[], &[], 5);
    assert!(listed.is_empty(), "{listed:?}");
}

#[test]
fn version_zero_members_get_their_id_from_the_coordinator() {
    let mut h = harness();
    let id = h.send(
        GroupRequest::ConsumerGroupHeartbeat(join_request("", &["orders"])),
        0,
    );
    match h.response(id) {
        ResponseKind::ConsumerGroupHeartbeat(response) => {
            assert_eq!(response.error_code, code::NONE);
            assert!(
                response
                    .member_id
                    .as_deref()
                    .is_some_and(|id| !id.is_empty())
            );
            assert_eq!(response.member_epoch, 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_regex_subscription_follows_the_topics_that_appear() {
    let mut h = harness();
    let mut request = join_request("a", &[]);
    request.subscribed_topic_names = None;
    request.subscribed_topic_regex = Some("ref.*".to_owned());
    let mut a = join_with(&mut h, request);
    assert!(a.owned.is_empty(), "orders does not match");
    let out = h.coordinator.set_topics(
        h.now_ms,
        [topic(ORDERS, "orders", 6), topic(REFUNDS, "refunds", 2)],
    );
    h.apply(out);
    beat(&mut h, &mut a);
    assert_eq!(a.owned.keys().copied().collect::<Vec<_>>(), vec![REFUNDS]);
    assert_eq!(a.partitions(), (0..2).collect());
}

#[test]
fn new_partitions_of_a_subscribed_topic_are_assigned() {
    let mut h = harness();
    let mut a = join(&mut h, "a", &["orders"]);
    let out = h
        .coordinator
        .set_topics(h.now_ms, [topic(ORDERS, "orders", 8)]);
    h.apply(out);
    beat(&mut h, &mut a);
    assert_eq!(a.partitions(), (0..8).collect());
}

#[test]
fn range_gives_members_the_same_numbers_of_co_partitioned_topics() {
    let mut h = harness();
    let out = h.coordinator.set_topics(
        h.now_ms,
        [topic(ORDERS, "orders", 4), topic(REFUNDS, "refunds", 4)],
    );
    h.apply(out);
    let mut request = join_request("a", &["orders", "refunds"]);
    request.server_assignor = Some("range".to_owned());
    let mut a = join_with(&mut h, request);
    let mut request = join_request("b", &["orders", "refunds"]);
    request.server_assignor = Some("range".to_owned());
    let mut b = join_with(&mut h, request);
    settle(&mut h, &mut [&mut a, &mut b]);
    for member in [&a, &b] {
        assert_eq!(
            member.owned[&ORDERS], member.owned[&REFUNDS],
            "co-partitioned"
        );
        assert_eq!(member.owned[&ORDERS].len(), 2);
    }
}

#[test]
fn a_static_member_keeps_its_partitions_while_away_and_gets_them_back() {
    let mut h = harness();
    let mut request = join_request("a1", &["orders"]);
    request.instance_id = Some("host-a".to_owned());
    let mut a = join_with(&mut h, request);
    let mut request = join_request("b", &["orders"]);
    request.instance_id = Some("host-b".to_owned());
    let mut b = join_with(&mut h, request);
    settle(&mut h, &mut [&mut a, &mut b]);
    let a_partitions = a.partitions();
    let b_partitions = b.partitions();

    // a leaves for a while (epoch -2): nothing moves.
    let response = heartbeat(
        &mut h,
        ConsumerGroupHeartbeatRequest {
            group_id: GROUP.to_owned(),
            member_id: "a1".to_owned(),
            member_epoch: -2,
            instance_id: Some("host-a".to_owned()),
            ..Default::default()
        },
    );
    assert_eq!(
        (response.error_code, response.member_epoch),
        (code::NONE, -2)
    );
    beat(&mut h, &mut b);
    assert_eq!(b.partitions(), b_partitions);

    // Another member cannot take an instance id an active member holds.
    let mut c2 = join_request("c2", &["orders"]);
    c2.instance_id = Some("host-b".to_owned());
    assert_eq!(heartbeat(&mut h, c2).error_code, UNRELEASED_INSTANCE_ID);

    // a comes back under a new member id and gets its partitions back.
    let mut request = join_request("a2", &["orders"]);
    request.instance_id = Some("host-a".to_owned());
    let response = heartbeat(&mut h, request);
    assert_eq!(response.error_code, code::NONE);
    let back: BTreeSet<i32> = response
        .assignment
        .unwrap()
        .topic_partitions
        .iter()
        .flat_map(|t| t.partitions.clone())
        .collect();
    assert_eq!(back, a_partitions);
    // The old member id is fenced.
    let stale = heartbeat(
        &mut h,
        ConsumerGroupHeartbeatRequest {
            group_id: GROUP.to_owned(),
            member_id: "a1".to_owned(),
            member_epoch: a.epoch,
            ..Default::default()
        },
    );
    assert_eq!(stale.error_code, code::UNKNOWN_MEMBER_ID);
    let fenced = heartbeat(
        &mut h,
        ConsumerGroupHeartbeatRequest {
            group_id: GROUP.to_owned(),
            member_id: "b".to_owned(),
            member_epoch: b.epoch,
            instance_id: Some("host-a".to_owned()),
            ..Default::default()
        },
    );
    assert_eq!(fenced.error_code, FENCED_INSTANCE_ID);
}

fn commit(h: &mut Harness, member_id: &str, epoch: i32) -> i16 {
    let id = h.send(
        GroupRequest::OffsetCommit(OffsetCommitRequest {
            group_id: GROUP.to_owned(),
            generation_id_or_member_epoch: epoch,
            member_id: member_id.to_owned(),
            topics: vec![OffsetCommitRequestTopic {
                name: "orders".to_owned(),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: 42,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        9,
    );
    match h.response(id) {
        ResponseKind::OffsetCommit(response) => response.topics[0].partitions[0].error_code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn offset_commits_are_checked_against_the_member_epoch() {
    let mut h = harness();
    let a = join(&mut h, "a", &["orders"]);
    assert_eq!(commit(&mut h, "a", a.epoch), code::NONE);
    assert_eq!(commit(&mut h, "a", a.epoch + 1), STALE_MEMBER_EPOCH);
    assert_eq!(commit(&mut h, "nobody", 1), code::UNKNOWN_MEMBER_ID);
    assert_eq!(
        commit(&mut h, "", -1),
        code::UNKNOWN_MEMBER_ID,
        "not while it has members"
    );
    assert_eq!(h.fetch(GROUP, &[("orders", 0)]), vec![42]);
}

#[test]
fn the_protocols_do_not_mix_but_an_empty_group_changes_sides() {
    let mut h = harness();
    let a = join(&mut h, "a", &["orders"]);
    // A classic member cannot join a consumer group with members.
    let id = h.join(GROUP, "", &[("range", common::subscription(&["orders"]))]);
    assert_eq!(
        h.join_response(id).error_code,
        code::INCONSISTENT_GROUP_PROTOCOL
    );
    let listed = h.list(&[], &["consumer"], 5);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].group_state, "Stable");
    // DescribeGroups describes classic groups only.
    let described = h.describe(&[GROUP], 5);
    assert_eq!(described.groups[0].error_code, code::GROUP_ID_NOT_FOUND);
    // Deleting is refused while it has members.
    assert_eq!(
        h.delete_groups(&[GROUP]),
        vec![(GROUP.to_owned(), code::NON_EMPTY_GROUP)]
    );
    heartbeat(
        &mut h,
        ConsumerGroupHeartbeatRequest {
            group_id: GROUP.to_owned(),
            member_id: a.id.clone(),
            member_epoch: -1,
            ..Default::default()
        },
    );
    assert_eq!(h.list(&["Empty"], &["consumer"], 5).len(), 1);
    // Empty, it can become a classic group.
    let (_member, join_id) = h.join_new(GROUP, &["orders"]);
    h.advance(1);
    assert_eq!(h.join_response(join_id).error_code, code::NONE);
    assert_eq!(h.list(&[], &["classic"], 5).len(), 1);
    // And a consumer member cannot join the classic group with members.
    let response = heartbeat(&mut h, join_request("z", &["orders"]));
    assert_eq!(response.error_code, code::GROUP_ID_NOT_FOUND);
}

#[test]
fn a_replayed_coordinator_knows_the_members_and_their_epochs() {
    let mut h = harness();
    let mut a = join(&mut h, "a", &["orders"]);
    let mut b = join(&mut h, "b", &["orders"]);
    settle(&mut h, &mut [&mut a, &mut b]);
    assert_eq!(commit(&mut h, "a", a.epoch), code::NONE);

    let mut restarted = GroupCoordinator::new(config());
    for record in &h.log {
        restarted
            .replay(&record.key, record.value.as_deref())
            .unwrap();
    }
    restarted.finish_replay(h.now_ms);
    let mut h2 = Harness::with_coordinator(restarted, h.now_ms);
    let out = h2
        .coordinator
        .set_topics(h2.now_ms, [topic(ORDERS, "orders", 6)]);
    h2.apply(out);
    let (a_owned, b_owned) = (a.partitions(), b.partitions());
    let response = beat(&mut h2, &mut a);
    assert_eq!(response.error_code, code::NONE, "a goes on in its epoch");
    beat(&mut h2, &mut b);
    assert_eq!(
        (a.partitions(), b.partitions()),
        (a_owned, b_owned),
        "nothing moved"
    );
    assert_eq!(describe_state(&mut h2).0, "Stable");
    assert_eq!(h2.fetch(GROUP, &[("orders", 0)]), vec![42]);
}

#[test]
fn a_subscription_too_large_to_store_is_refused_and_changes_nothing() {
    let mut h = Harness::new(fjord_group::GroupConfig {
        group_metadata_record_bytes_max: 4_096,
        ..config()
    });
    let out = h
        .coordinator
        .set_topics(h.now_ms, [topic(ORDERS, "orders", 6)]);
    h.apply(out);
    let a = join(&mut h, "a", &["orders"]);
    let records = h.log.len();
    let names: Vec<String> = (0..500).map(|i| format!("topic-{i:04}")).collect();
    let mut request = join_request("b", &[]);
    request.subscribed_topic_names = Some(names);
    let response = heartbeat(&mut h, request);
    assert_eq!(
        response.error_code, -1,
        "UNKNOWN_SERVER_ERROR: {response:?}"
    );
    assert_eq!(h.log.len(), records, "nothing written");
    let (state, group_epoch, _) = describe_state(&mut h);
    assert_eq!(
        (state.as_str(), group_epoch),
        ("Stable", a.epoch),
        "nothing changed"
    );
}
