//! Heartbeat answers in each group state, with Kafka's error codes.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[test]
fn heartbeats_report_rebalances_generations_and_unknown_members_as_kafka_does() {
    let mut h = Harness::new(config());
    let (a, join_a) = h.join_new("g", &["t"]);
    let (b, join_b) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.join_response(join_a).generation_id;
    let _ = h.join_response(join_b);

    // CompletingRebalance: members may heartbeat while the leader assigns.
    assert_eq!(h.state("g"), "CompletingRebalance");
    assert_eq!(h.heartbeat("g", &b, generation), code::NONE);
    h.complete_rebalance("g", &[join_a, join_b]);

    // Stable.
    assert_eq!(h.heartbeat("g", &a, generation), code::NONE);
    assert_eq!(
        h.heartbeat("g", &a, generation - 1),
        code::ILLEGAL_GENERATION
    );
    assert_eq!(
        h.heartbeat("g", &a, generation + 1),
        code::ILLEGAL_GENERATION
    );
    assert_eq!(
        h.heartbeat("g", "stranger", generation),
        code::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        h.heartbeat("no-such-group", &a, generation),
        code::UNKNOWN_MEMBER_ID
    );
    assert_eq!(h.heartbeat("", &a, generation), code::INVALID_GROUP_ID);

    // PreparingRebalance: the generation is still the old one, and members learn they
    // must rejoin.
    let rejoin = h.join("g", &b, &[("range", subscription(&["t", "u"]))]);
    assert_eq!(
        h.heartbeat("g", &a, generation),
        code::REBALANCE_IN_PROGRESS
    );
    // The unknown member check comes before the state.
    assert_eq!(
        h.heartbeat("g", "stranger", generation),
        code::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        h.heartbeat("g", &a, generation + 1),
        code::ILLEGAL_GENERATION
    );
    assert!(!h.is_answered(rejoin));

    // a leaves: b is the only member and has rejoined, so the join phase ends.
    h.leave("g", &[(&a, None)]);
    assert_eq!(h.join_response(rejoin).generation_id, generation + 1);
    // Empty: nobody is a member any more.
    h.leave("g", &[(&b, None)]);
    assert_eq!(h.state("g"), "Empty");
    assert_eq!(
        h.heartbeat("g", &b, generation + 1),
        code::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn heartbeats_keep_a_member_alive_across_many_session_timeouts() {
    let mut h = Harness::new(config());
    let (a, join) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.complete_rebalance("g", &[join]);
    for _ in 0..100 {
        h.advance(9_999);
        assert_eq!(h.heartbeat("g", &a, generation), code::NONE);
    }
    h.advance(10_000);
    assert_eq!(h.heartbeat("g", &a, generation), code::UNKNOWN_MEMBER_ID);
}
