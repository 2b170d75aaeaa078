//! Members leave a group by timing out, by LeaveGroup, by not rejoining or not syncing in
//! time; the others rebalance into a new generation.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// Two members in a stable group; returns (a, b, generation).
fn stable_pair(h: &mut Harness) -> (String, String, i32) {
    let (a, join_a) = h.join_new("g", &["t"]);
    let (b, join_b) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.complete_rebalance("g", &[join_a, join_b]);
    (a, b, generation)
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_and_the_others_rebalance_into_a_new_generation() {
    let mut h = Harness::new(config());
    let (a, b, generation) = stable_pair(&mut h);
    // Session timeout 10 s; `a` heartbeats every 3 s, `b` has gone silent.
    for _ in 0..3 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("g", &a, generation), code::NONE);
    }
    h.advance(1_000); // 10 s after b's last sign of life
    assert_eq!(h.state("g"), "PreparingRebalance");
    assert_eq!(
        h.heartbeat("g", &a, generation),
        code::REBALANCE_IN_PROGRESS
    );
    assert_eq!(h.heartbeat("g", &b, generation), code::UNKNOWN_MEMBER_ID);

    // The only member left rejoins: the join phase ends at once.
    let rejoin = h.join("g", &a, &[("range", subscription(&["t"]))]);
    let response = h.join_response(rejoin);
    assert_eq!(response.generation_id, generation + 1);
    assert_eq!(response.leader, a);
    assert_eq!(response.members.len(), 1);
}

#[test]
fn leave_group_rebalances_the_remaining_members() {
    let mut h = Harness::new(config());
    let (a, join_a) = h.join_new("g", &["t"]);
    let (b, join_b) = h.join_new("g", &["t"]);
    let (c, join_c) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.complete_rebalance("g", &[join_a, join_b, join_c]);

    let response = h.leave("g", &[(&b, None), ("stranger", None)]);
    assert_eq!(response.error_code, code::NONE);
    let codes: Vec<_> = response.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![code::NONE, code::UNKNOWN_MEMBER_ID]);
    assert_eq!(
        h.heartbeat("g", &a, generation),
        code::REBALANCE_IN_PROGRESS
    );
    assert_eq!(
        h.heartbeat("g", &c, generation),
        code::REBALANCE_IN_PROGRESS
    );

    let rejoin_a = h.join("g", &a, &[("range", subscription(&["t"]))]);
    assert!(!h.is_answered(rejoin_a), "c has not rejoined yet");
    let rejoin_c = h.join("g", &c, &[("range", subscription(&["t"]))]);
    assert_eq!(
        h.complete_rebalance("g", &[rejoin_a, rejoin_c]),
        generation + 1
    );
    assert_eq!(h.join_response(rejoin_a).members.len(), 2);
}

#[test]
fn leave_group_before_version_3_reports_the_members_error_at_the_top() {
    let mut h = Harness::new(config());
    let (a, _, _) = stable_pair(&mut h);
    for (member, expected) in [
        ("stranger", code::UNKNOWN_MEMBER_ID),
        (a.as_str(), code::NONE),
    ] {
        let request = fjord_protocol::messages::LeaveGroupRequest {
            group_id: "g".into(),
            member_id: member.into(),
            ..Default::default()
        };
        let id = h.send(fjord_group::GroupRequest::LeaveGroup(request), 1);
        match h.response(id) {
            fjord_protocol::ResponseKind::LeaveGroup(response) => {
                assert_eq!(response.error_code, expected);
                assert!(response.members.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn the_last_member_leaving_empties_the_group_and_persists_that() {
    let mut h = Harness::new(config());
    let (a, join) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.complete_rebalance("g", &[join]);
    let records = h.log.len();
    h.leave("g", &[(&a, None)]);
    assert_eq!(h.state("g"), "Empty");
    // One group metadata record (key version 2), without members.
    assert_eq!(h.log.len(), records + 1);
    let record = h.log.last().unwrap();
    assert_eq!(&record.key[..2], &[0, 2]);
    assert!(record.value.is_some());
    // A new member starts the next generation.
    let (_, join) = h.join_new("g", &["t"]);
    h.advance(0);
    assert_eq!(h.join_response(join).generation_id, generation + 2);
}

#[test]
fn members_that_do_not_rejoin_within_the_rebalance_timeout_are_removed() {
    let mut h = Harness::new(config());
    let (a, b, generation) = stable_pair(&mut h);
    // a changes its subscription: a rebalance; b keeps heartbeating but never rejoins.
    let rejoin = h.join("g", &a, &[("range", subscription(&["t", "u"]))]);
    for _ in 0..9 {
        h.advance(3_000);
        assert_eq!(
            h.heartbeat("g", &b, generation),
            code::REBALANCE_IN_PROGRESS
        );
        assert!(
            !h.is_answered(rejoin),
            "a waits, and does not expire while it waits"
        );
    }
    h.advance(3_000); // 30 s: the rebalance timeout
    let response = h.join_response(rejoin);
    assert_eq!(response.error_code, code::NONE);
    assert_eq!(response.generation_id, generation + 1);
    assert_eq!(response.members.len(), 1);
    assert_eq!(h.heartbeat("g", &b, generation), code::UNKNOWN_MEMBER_ID);
}

#[test]
fn a_member_that_never_sends_sync_group_is_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new(config());
    let (a, join_a) = h.join_new("g", &["t"]);
    let (b, join_b) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.join_response(join_a).generation_id;
    let _ = h.join_response(join_b);
    let sync = h.sync(
        "g",
        &a,
        generation,
        &[(&a, assignment_of(&a)), (&b, assignment_of(&b))],
    );
    assert_eq!(h.sync_response(sync).error_code, code::NONE);
    // b heartbeats (so its session lives) but never asks for its assignment.
    for _ in 0..9 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("g", &a, generation), code::NONE);
        assert_eq!(h.heartbeat("g", &b, generation), code::NONE);
    }
    h.advance(3_000);
    assert_eq!(h.heartbeat("g", &b, generation), code::UNKNOWN_MEMBER_ID);
    assert_eq!(
        h.heartbeat("g", &a, generation),
        code::REBALANCE_IN_PROGRESS
    );
}

#[test]
fn a_follower_waiting_for_its_assignment_does_not_expire() {
    let mut h = Harness::new(config());
    let (a, join_a) = h.join_new("g", &["t"]);
    let (b, join_b) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.join_response(join_a).generation_id;
    let _ = h.join_response(join_b);
    let waiting = h.sync("g", &b, generation, &[]);
    // The leader takes 20 s to assign (longer than b's 10 s session), heartbeating.
    for _ in 0..4 {
        h.advance(5_000);
        assert_eq!(h.heartbeat("g", &a, generation), code::NONE);
    }
    h.sync("g", &a, generation, &[(&b, assignment_of(&b))]);
    assert_eq!(h.sync_response(waiting).assignment, assignment_of(&b));
    // From the answer on, b's session runs again.
    h.advance(10_000);
    assert_eq!(h.heartbeat("g", &b, generation), code::UNKNOWN_MEMBER_ID);
}
