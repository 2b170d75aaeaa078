//! Static membership (KIP-345): members with a `group.instance.id` survive restarts
//! without rebalances, fence their former selves, and leave by session timeout or by an
//! administrator's LeaveGroup.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn join_static(h: &mut Harness, member_id: &str, instance: &str, version: i16) -> u64 {
    h.join_with(
        "g",
        member_id,
        Some(instance),
        &[("range", subscription(&["t"]))],
        10_000,
        30_000,
        version,
    )
}

/// A stable group of the static member `i-a` (the leader) and a dynamic member;
/// returns (a, b, generation).
fn stable_group(h: &mut Harness) -> (String, String, i32) {
    let join_a = join_static(h, "", "i-a", JOIN_V);
    let (b, join_b) = h.join_new("g", &["t"]);
    h.advance(0);
    let a = h.join_response(join_a).member_id;
    assert!(
        a.starts_with("i-a-"),
        "static member ids start with the instance id: {a}"
    );
    let generation = h.complete_rebalance("g", &[join_a, join_b]);
    (a, b, generation)
}

#[test]
fn a_restarted_static_member_takes_over_without_a_rebalance_and_its_old_id_is_fenced() {
    let mut h = Harness::new(config());
    let (old_a, b, generation) = stable_group(&mut h);
    let records = h.log.len();

    // The member restarts: no member id, same instance id. It is answered at once.
    let rejoin = join_static(&mut h, "", "i-a", 8);
    let response = h.join_response(rejoin);
    assert_eq!(response.error_code, code::NONE);
    let new_a = response.member_id.clone();
    assert_ne!(new_a, old_a);
    assert_eq!(response.generation_id, generation);
    // Before version 9 the old leader id is returned, so that the returning leader does
    // not run an assignment the stable group would ignore.
    assert_eq!(response.leader, old_a);
    assert!(response.members.is_empty());
    assert_eq!(h.state("g"), "Stable");
    assert_eq!(h.log.len(), records + 1, "the new member id is persisted");

    // The old incarnation is fenced; the new one has the old assignment.
    assert_eq!(
        h.heartbeat_static("g", &old_a, Some("i-a"), generation),
        code::FENCED_INSTANCE_ID
    );
    assert_eq!(
        h.heartbeat("g", &old_a, generation),
        code::UNKNOWN_MEMBER_ID
    );
    let stale = join_static(&mut h, &old_a, "i-a", JOIN_V);
    assert_eq!(h.join_response(stale).error_code, code::FENCED_INSTANCE_ID);
    let sync = h.sync_static("g", &new_a, "i-a", generation);
    assert_eq!(h.sync_response(sync).assignment, assignment_of(&old_a));
    assert_eq!(
        h.heartbeat_static("g", &new_a, Some("i-a"), generation),
        code::NONE
    );
    assert_eq!(h.heartbeat("g", &b, generation), code::NONE, "no rebalance");
}

#[test]
fn from_version_9_a_returning_static_leader_is_told_to_skip_the_assignment() {
    let mut h = Harness::new(config());
    let (_, _, generation) = stable_group(&mut h);
    let rejoin = join_static(&mut h, "", "i-a", 9);
    let response = h.join_response(rejoin);
    assert_eq!(response.generation_id, generation);
    assert_eq!(response.leader, response.member_id, "it leads");
    assert!(response.skip_assignment);
    assert_eq!(response.members.len(), 2);
}

#[test]
fn a_static_member_rejoining_while_the_leader_assigns_restarts_the_rebalance() {
    let mut h = Harness::new(config());
    // b leads; a is a static follower waiting for its assignment.
    let (b, join_b) = h.join_new("g", &["t"]);
    let join_a = join_static(&mut h, "", "i-a", JOIN_V);
    h.advance(0);
    let generation = h.join_response(join_b).generation_id;
    let old_a = h.join_response(join_a).member_id;
    let waiting = h.sync_static("g", &old_a, "i-a", generation);

    let rejoin = join_static(&mut h, "", "i-a", JOIN_V);
    assert_eq!(
        h.sync_response(waiting).error_code,
        code::FENCED_INSTANCE_ID
    );
    assert_eq!(h.state("g"), "PreparingRebalance");
    assert!(!h.is_answered(rejoin));
    let rejoin_b = h.join("g", &b, &[("range", subscription(&["t"]))]);
    assert_eq!(
        h.complete_rebalance("g", &[rejoin_b, rejoin]),
        generation + 1
    );
}

#[test]
fn static_members_leave_by_session_timeout_not_by_missing_a_rebalance() {
    let mut h = Harness::new(config());
    let (a, b, generation) = stable_group(&mut h);
    // b's subscription changes; the static a keeps heartbeating but does not rejoin.
    let rejoin_b = h.join("g", &b, &[("range", subscription(&["t", "u"]))]);
    for _ in 0..10 {
        h.advance(3_000);
        h.heartbeat_static("g", &a, Some("i-a"), generation);
    }
    // The join phase ended at the rebalance timeout; the static member is kept.
    let response = h.join_response(rejoin_b);
    assert_eq!(response.generation_id, generation + 1);
    assert_eq!(response.leader, b, "the leader that rejoined takes over");
    assert_eq!(response.members.len(), 2);
    // Then it goes silent: its session ends it, and the group rebalances without it.
    for _ in 0..3 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("g", &b, generation + 1), code::NONE);
    }
    h.advance(1_000); // 10 s after the end of the join phase restarted every session
    assert_eq!(
        h.heartbeat("g", &b, generation + 1),
        code::REBALANCE_IN_PROGRESS
    );
    assert_eq!(
        h.heartbeat_static("g", &a, Some("i-a"), generation + 1),
        code::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn an_administrator_removes_static_members_by_instance_id() {
    let mut h = Harness::new(config());
    let (a, b, generation) = stable_group(&mut h);
    let response = h.leave("g", &[("", Some("i-a")), ("", Some("i-unknown"))]);
    let codes: Vec<_> = response.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![code::NONE, code::UNKNOWN_MEMBER_ID]);
    assert_eq!(
        h.heartbeat_static("g", &a, Some("i-a"), generation),
        code::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        h.heartbeat("g", &b, generation),
        code::REBALANCE_IN_PROGRESS
    );
    // A member id that does not hold the instance id is fenced, not removed.
    let rejoin = join_static(&mut h, "", "i-a", JOIN_V);
    let rejoin_b = h.join("g", &b, &[("range", subscription(&["t"]))]);
    h.complete_rebalance("g", &[rejoin_b, rejoin]);
    let response = h.leave("g", &[(&b, Some("i-a"))]);
    assert_eq!(response.members[0].error_code, code::FENCED_INSTANCE_ID);
}
