//! Rebalances from JoinGroup to a stable group: one and three members, protocol
//! selection, KIP-394's MEMBER_ID_REQUIRED, the initial rebalance delay, and the errors
//! of JoinGroup and SyncGroup.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;

#[test]
fn one_member_joins_syncs_and_is_stable() {
    let mut h = Harness::new(config());
    let first = h.join("g", "", &[("range", subscription(&["orders"]))]);
    let response = h.join_response(first);
    assert_eq!(response.error_code, code::MEMBER_ID_REQUIRED);
    assert_eq!(response.generation_id, -1);
    assert_eq!(response.protocol_name, None, "nullable from version 7");
    assert!(
        response.member_id.starts_with("client-"),
        "{}",
        response.member_id
    );
    let member_id = response.member_id;

    let second = h.join("g", &member_id, &[("range", subscription(&["orders"]))]);
    // The first rebalance of an empty group waits for the initial delay (0 here) to pass.
    assert!(!h.is_answered(second));
    assert_eq!(h.state("g"), "PreparingRebalance");
    h.advance(0);
    let joined = h.join_response(second);
    assert_eq!(joined.error_code, code::NONE);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, member_id);
    assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, subscription(&["orders"]));
    assert_eq!(h.state("g"), "CompletingRebalance");

    let records_before = h.log.len();
    let sync = h.sync(
        "g",
        &member_id,
        1,
        &[(&member_id, Bytes::from_static(b"all"))],
    );
    let synced = h.sync_response(sync);
    assert_eq!(synced.error_code, code::NONE);
    assert_eq!(synced.assignment, Bytes::from_static(b"all"));
    assert_eq!(synced.protocol_name.as_deref(), Some("range"));
    assert_eq!(h.state("g"), "Stable");
    // The completed rebalance is persisted before anybody learns of it.
    assert_eq!(h.log.len(), records_before + 1);
    assert_eq!(h.heartbeat("g", &member_id, 1), code::NONE);
    h.assert_all_answered();
}

#[test]
fn three_members_join_one_rebalance_and_each_gets_its_assignment() {
    let mut h = Harness::new(config());
    let (a, join_a) = h.join_new("g", &["orders"]);
    let (b, join_b) = h.join_new("g", &["orders"]);
    let (c, join_c) = h.join_new("g", &["orders"]);
    assert!(![join_a, join_b, join_c].iter().any(|id| h.is_answered(*id)));
    h.advance(0);

    let responses: Vec<_> = [join_a, join_b, join_c]
        .iter()
        .map(|id| h.join_response(*id))
        .collect();
    for response in &responses {
        assert_eq!(response.error_code, code::NONE);
        assert_eq!(response.generation_id, 1);
        assert_eq!(response.leader, a, "the first joiner leads");
    }
    let leader_members: Vec<_> = responses[0]
        .members
        .iter()
        .map(|m| m.member_id.clone())
        .collect();
    assert_eq!(leader_members, vec![a.clone(), b.clone(), c.clone()]);
    assert!(
        responses[1].members.is_empty(),
        "only the leader gets the members"
    );

    // Followers wait in SyncGroup until the leader brings the assignments.
    let sync_b = h.sync("g", &b, 1, &[]);
    let sync_c = h.sync("g", &c, 1, &[]);
    assert!(!h.is_answered(sync_b) && !h.is_answered(sync_c));
    let sync_a = h.sync(
        "g",
        &a,
        1,
        &[
            (&a, assignment_of(&a)),
            (&b, assignment_of(&b)),
            (&c, assignment_of(&c)),
        ],
    );
    for (sync, member) in [(sync_a, &a), (sync_b, &b), (sync_c, &c)] {
        let response = h.sync_response(sync);
        assert_eq!(response.error_code, code::NONE);
        assert_eq!(response.assignment, assignment_of(member));
    }
    assert_eq!(h.state("g"), "Stable");
    h.assert_all_answered();
}

#[test]
fn the_protocol_most_members_rank_highest_among_common_ones_is_selected() {
    let mut h = Harness::new(config());
    let range = subscription(&["orders"]);
    let roundrobin = Bytes::from_static(b"rr");
    let joins = [
        h.join_with(
            "g",
            "",
            None,
            &[("roundrobin", roundrobin.clone()), ("range", range.clone())],
            10_000,
            30_000,
            3,
        ),
        h.join_with(
            "g",
            "",
            None,
            &[("range", range.clone()), ("roundrobin", roundrobin.clone())],
            10_000,
            30_000,
            3,
        ),
        h.join_with(
            "g",
            "",
            None,
            &[
                ("range", range.clone()),
                ("sticky", Bytes::new()),
                ("roundrobin", roundrobin.clone()),
            ],
            10_000,
            30_000,
            3,
        ),
    ];
    h.advance(0);
    let leader = h.join_response(joins[0]);
    assert_eq!(
        leader.protocol_name.as_deref(),
        Some("range"),
        "two votes to one"
    );
    // The leader gets every member's metadata for the selected protocol.
    assert!(leader.members.iter().all(|m| m.metadata == range));
    for id in joins {
        assert_eq!(h.join_response(id).protocol_name.as_deref(), Some("range"));
    }
}

#[test]
fn a_member_without_a_common_protocol_or_type_is_refused() {
    let mut h = Harness::new(config());
    let (a, join) = h.join_new("g", &["t"]);
    h.advance(0);
    h.complete_rebalance("g", &[join]);

    let other = h.join("g", "", &[("roundrobin", Bytes::new())]);
    assert_eq!(
        h.join_response(other).error_code,
        code::INCONSISTENT_GROUP_PROTOCOL
    );

    let mut request = fjord_protocol::messages::JoinGroupRequest {
        group_id: "g".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "connect".into(),
        ..Default::default()
    };
    request.protocols.push(
        fjord_protocol::messages::join_group_request::JoinGroupRequestProtocol {
            name: "range".into(),
            ..Default::default()
        },
    );
    let id = h.send(fjord_group::GroupRequest::JoinGroup(request), JOIN_V);
    assert_eq!(
        h.join_response(id).error_code,
        code::INCONSISTENT_GROUP_PROTOCOL
    );
    assert_eq!(
        h.heartbeat("g", &a, 1),
        code::NONE,
        "the group is untouched"
    );
}

#[test]
fn member_id_required_hands_out_an_id_that_must_be_used_to_join() {
    let mut h = Harness::new(config());
    let first = h.join("g", "", &[("range", subscription(&["t"]))]);
    let member_id = h.join_response(first).member_id;
    // Until it rejoins, the member is pending: not a member, so it cannot heartbeat.
    assert_eq!(h.heartbeat("g", &member_id, 0), code::UNKNOWN_MEMBER_ID);
    assert_eq!(h.describe(&["g"], 5).groups[0].members.len(), 0);

    let second = h.join("g", &member_id, &[("range", subscription(&["t"]))]);
    h.advance(0);
    assert_eq!(h.join_response(second).member_id, member_id);

    // A pending id that is never used expires with the session timeout.
    let third = h.join("g", "", &[("range", subscription(&["t"]))]);
    let unused = h.join_response(third).member_id;
    h.advance(10_000);
    let late = h.join("g", &unused, &[("range", subscription(&["t"]))]);
    assert_eq!(h.join_response(late).error_code, code::UNKNOWN_MEMBER_ID);
}

#[test]
fn versions_before_4_join_without_a_member_id_round_trip() {
    let mut h = Harness::new(config());
    for version in 0..4 {
        let group = format!("g{version}");
        let id = h.join_with(
            &group,
            "",
            None,
            &[("range", subscription(&["t"]))],
            10_000,
            30_000,
            version,
        );
        h.advance(0);
        let response = h.join_response(id);
        assert_eq!(response.error_code, code::NONE, "version {version}");
        assert_eq!(
            response.protocol_type, None,
            "no protocol type before version 7"
        );
        assert_eq!(response.generation_id, 1);
    }
}

#[test]
fn the_initial_rebalance_delay_waits_for_more_members_and_extends_up_to_the_rebalance_timeout() {
    let mut h = Harness::new(fjord_group::GroupConfig {
        group_initial_rebalance_delay_ms: 3_000,
        ..config()
    });
    let join = |h: &mut Harness| {
        h.join_with(
            "g",
            "",
            None,
            &[("range", subscription(&["t"]))],
            10_000,
            10_000,
            3,
        )
    };
    let a = join(&mut h); // t = 0: waits 3 s
    h.advance(2_000);
    let b = join(&mut h); // t = 2 s: a new member extends the wait by 3 s, to 6 s
    h.advance(999);
    assert!(!h.is_answered(a));
    h.advance(1); // t = 3 s
    assert!(!h.is_answered(a) && !h.is_answered(b));
    h.advance(2_000);
    let c = join(&mut h); // t = 5 s: extends again, to 9 s
    h.advance(1_000); // t = 6 s
    assert!(!h.is_answered(a));
    h.advance(2_000);
    let d = join(&mut h); // t = 8 s: only 1 s of the 10 s rebalance timeout is left
    h.advance(1_000); // t = 9 s
    assert!(!h.is_answered(a));
    h.advance(500);
    let e = join(&mut h); // t = 9.5 s
    h.advance(499);
    assert!(!h.is_answered(a));
    h.advance(1); // t = 10 s: the rebalance timeout caps the delay
    for id in [a, b, c, d, e] {
        let response = h.join_response(id);
        assert_eq!(response.error_code, code::NONE);
        assert_eq!(response.generation_id, 1);
    }
    assert_eq!(h.join_response(a).members.len(), 5);
}

#[test]
fn a_follower_rejoining_unchanged_gets_the_current_generation_and_a_leader_rejoining_rebalances() {
    let mut h = Harness::new(config());
    let (a, join_a) = h.join_new("g", &["t"]);
    let (b, join_b) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.complete_rebalance("g", &[join_a, join_b]);

    let rejoin_b = h.join("g", &b, &[("range", subscription(&["t"]))]);
    let response = h.join_response(rejoin_b);
    assert_eq!(
        (response.error_code, response.generation_id),
        (code::NONE, generation)
    );
    assert_eq!(h.state("g"), "Stable");

    // A follower whose subscription changed forces a rebalance.
    let rejoin_b = h.join("g", &b, &[("range", subscription(&["t", "u"]))]);
    assert!(!h.is_answered(rejoin_b));
    assert_eq!(
        h.heartbeat("g", &a, generation),
        code::REBALANCE_IN_PROGRESS
    );
    let rejoin_a = h.join("g", &a, &[("range", subscription(&["t"]))]);
    let generation = h.complete_rebalance("g", &[rejoin_a, rejoin_b]);
    assert_eq!(generation, 2);

    // The leader rejoining, even unchanged, rebalances (it reacts to metadata changes so).
    let rejoin_a = h.join("g", &a, &[("range", subscription(&["t"]))]);
    assert!(!h.is_answered(rejoin_a));
    let rejoin_b = h.join("g", &b, &[("range", subscription(&["t", "u"]))]);
    assert_eq!(h.complete_rebalance("g", &[rejoin_a, rejoin_b]), 3);
    h.assert_all_answered();
}

#[test]
fn join_errors_have_kafkas_codes() {
    let mut h = Harness::new(fjord_group::GroupConfig {
        group_max_size: 2,
        ..config()
    });
    let metadata = [("range", subscription(&["t"]))];
    let id = h.join_with("g", "", None, &metadata, 999, 30_000, JOIN_V);
    assert_eq!(
        h.join_response(id).error_code,
        code::INVALID_SESSION_TIMEOUT
    );
    let id = h.join_with("g", "", None, &metadata, 1_800_001, 30_000, JOIN_V);
    assert_eq!(
        h.join_response(id).error_code,
        code::INVALID_SESSION_TIMEOUT
    );
    let id = h.join("", "", &metadata);
    assert_eq!(h.join_response(id).error_code, code::INVALID_GROUP_ID);
    let id = h.join("nobody-here", "some-member", &metadata);
    assert_eq!(h.join_response(id).error_code, code::UNKNOWN_MEMBER_ID);
    assert!(
        h.list(&[], &[], 5).is_empty(),
        "failed joins leave no group behind"
    );

    let (_, a) = h.join_new("g", &["t"]);
    let (_, b) = h.join_new("g", &["t"]);
    h.advance(0);
    h.complete_rebalance("g", &[a, b]);
    let id = h.join("g", "", &metadata);
    let response = h.join_response(id);
    assert_eq!(response.error_code, code::GROUP_MAX_SIZE_REACHED);
    assert_eq!(response.member_id, "");
}

#[test]
fn sync_errors_have_kafkas_codes() {
    let mut h = Harness::new(config());
    let (a, join_a) = h.join_new("g", &["t"]);
    let (b, join_b) = h.join_new("g", &["t"]);
    h.advance(0);
    assert_eq!(h.join_response(join_a).generation_id, 1);
    let _ = join_b;

    let wrong_generation = h.sync("g", &b, 7, &[]);
    assert_eq!(
        h.sync_response(wrong_generation).error_code,
        code::ILLEGAL_GENERATION
    );
    let stranger = h.sync("g", "stranger", 1, &[]);
    assert_eq!(
        h.sync_response(stranger).error_code,
        code::UNKNOWN_MEMBER_ID
    );
    let no_group = h.sync("nope", &a, 1, &[]);
    assert_eq!(
        h.sync_response(no_group).error_code,
        code::UNKNOWN_MEMBER_ID
    );
    let mut request = fjord_protocol::messages::SyncGroupRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: b.clone(),
        protocol_name: Some("roundrobin".into()),
        ..Default::default()
    };
    let id = h.send(
        fjord_group::GroupRequest::SyncGroup(request.clone()),
        SYNC_V,
    );
    assert_eq!(
        h.sync_response(id).error_code,
        code::INCONSISTENT_GROUP_PROTOCOL
    );

    // A waiting follower's SyncGroup is answered with REBALANCE_IN_PROGRESS when another
    // member's rejoin starts a new rebalance.
    request.protocol_name = None;
    let waiting = h.send(fjord_group::GroupRequest::SyncGroup(request), SYNC_V);
    assert!(!h.is_answered(waiting));
    let rejoin = h.join("g", &a, &[("range", subscription(&["t", "new"]))]);
    assert_eq!(
        h.sync_response(waiting).error_code,
        code::REBALANCE_IN_PROGRESS
    );
    let during = h.sync("g", &b, 1, &[]);
    assert_eq!(
        h.sync_response(during).error_code,
        code::REBALANCE_IN_PROGRESS
    );
    assert!(!h.is_answered(rejoin));
}

#[test]
fn cooperative_sticky_rebalances_in_two_rounds_through_plain_generations() {
    // Cooperative rebalancing lives in the clients: the coordinator only has to run one
    // rebalance after another as members rejoin with their owned partitions.
    let mut h = Harness::new(config());
    let protocols = |owned: &str| {
        [
            ("cooperative-sticky", Bytes::from(format!("owned:{owned}"))),
            ("range", subscription(&["t"])),
        ]
    };
    let a_first = h.join("g", "", &protocols(""));
    let a = h.join_response(a_first).member_id;
    let join_a = h.join("g", &a, &protocols(""));
    h.advance(0);
    assert_eq!(h.complete_rebalance("g", &[join_a]), 1);
    assert_eq!(
        h.join_response(join_a).protocol_name.as_deref(),
        Some("cooperative-sticky")
    );

    // b arrives; a learns of the rebalance from its heartbeat and rejoins owning all.
    let b_first = h.join("g", "", &protocols(""));
    let b = h.join_response(b_first).member_id;
    let join_b = h.join("g", &b, &protocols(""));
    assert_eq!(h.heartbeat("g", &a, 1), code::REBALANCE_IN_PROGRESS);
    let join_a = h.join("g", &a, &protocols("t-0,t-1"));
    assert_eq!(h.complete_rebalance("g", &[join_a, join_b]), 2);

    // a gave up t-1 in generation 2 and rejoins at once for the second round.
    let join_a = h.join("g", &a, &protocols("t-0"));
    assert_eq!(h.heartbeat("g", &b, 2), code::REBALANCE_IN_PROGRESS);
    let join_b = h.join("g", &b, &protocols(""));
    assert_eq!(h.complete_rebalance("g", &[join_a, join_b]), 3);
    let leader = h.join_response(join_a);
    assert!(leader.members.iter().any(|m| m.metadata == "owned:t-0"));
}

#[test]
fn an_assignment_too_large_to_persist_fails_the_round_like_kafka() {
    let mut h = Harness::new(fjord_group::GroupConfig {
        group_metadata_record_bytes_max: 1_024,
        ..config()
    });
    let (a, join_a) = h.join_new("g", &["t"]);
    let (b, join_b) = h.join_new("g", &["t"]);
    h.advance(0);
    let _ = (h.join_response(join_a), h.join_response(join_b));
    let waiting = h.sync("g", &b, 1, &[]);
    let records = h.log.len();
    let huge = Bytes::from(vec![0u8; 2_000]);
    let leader = h.sync("g", &a, 1, &[(&a, huge.clone()), (&b, huge)]);
    for id in [leader, waiting] {
        assert_eq!(h.sync_response(id).error_code, -1, "UNKNOWN_SERVER_ERROR");
    }
    assert_eq!(h.log.len(), records, "nothing was persisted");
    assert_eq!(h.state("g"), "PreparingRebalance");
}
