//! A restarted coordinator rebuilds its groups and offsets from the records the previous
//! one wrote to `__consumer_offsets`.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fjord_group::{GroupCoordinator, ReplayError};

/// Builds some history: a stable group with a static and a dynamic member and offsets, a
/// simple group, a group that emptied, a deleted group and deleted offsets.
fn history(h: &mut Harness) -> (String, String, i32) {
    let static_join = h.join_with(
        "g",
        "",
        Some("i-1"),
        &[("range", subscription(&["t", "u"]))],
        10_000,
        30_000,
        JOIN_V,
    );
    let (dynamic, dynamic_join) = h.join_new("g", &["t"]);
    h.advance(0);
    let static_member = h.join_response(static_join).member_id;
    let generation = h.complete_rebalance("g", &[static_join, dynamic_join]);
    h.commit("g", &dynamic, generation, &[("t", 0, 100), ("t", 1, 200)]);
    h.commit_with(
        "g",
        &static_member,
        generation,
        &[("u", 0, 5)],
        Some("meta"),
        COMMIT_V,
    );
    h.commit("g", &dynamic, generation, &[("t", 0, 101)]);

    h.commit("simple", "", -1, &[("t", 0, 1), ("t", 1, 2), ("x", 0, 3)]);
    let request = fjord_protocol::messages::OffsetDeleteRequest {
        group_id: "simple".into(),
        topics: vec![
            fjord_protocol::messages::offset_delete_request::OffsetDeleteRequestTopic {
                name: "x".into(),
                partitions: vec![
                    fjord_protocol::messages::offset_delete_request::OffsetDeleteRequestPartition {
                        partition_index: 0,
                    },
                ],
            },
        ],
    };
    h.send(fjord_group::GroupRequest::OffsetDelete(request), 0);

    let (left, join) = h.join_new("emptied", &["t"]);
    h.advance(0);
    let left_generation = h.complete_rebalance("emptied", &[join]);
    h.commit("emptied", &left, left_generation, &[("t", 0, 9)]);
    h.leave("emptied", &[(&left, None)]);

    h.commit("deleted", "", -1, &[("t", 0, 1)]);
    assert_eq!(h.delete_groups(&["deleted"])[0].1, code::NONE);
    h.assert_all_answered();
    (static_member, dynamic, generation)
}

fn restart(h: &Harness, now_ms: i64) -> Harness {
    let mut coordinator = GroupCoordinator::new(config());
    for record in &h.log {
        coordinator
            .replay(&record.key, record.value.as_deref())
            .unwrap();
    }
    coordinator.finish_replay(now_ms);
    Harness::with_coordinator(coordinator, now_ms)
}

#[test]
fn records_replayed_into_a_fresh_coordinator_give_the_same_offsets_and_groups() {
    let mut before = Harness::new(config());
    history(&mut before);
    let mut after = restart(&before, before.now_ms + 1_000);

    let listed = |h: &mut Harness| {
        h.list(&[], &[], 5)
            .into_iter()
            .map(|g| (g.group_id, g.protocol_type, g.group_state))
            .collect::<Vec<_>>()
    };
    let groups = listed(&mut before);
    assert_eq!(
        groups.iter().map(|g| g.0.as_str()).collect::<Vec<_>>(),
        vec!["emptied", "g", "simple"]
    );
    assert_eq!(listed(&mut after), groups);
    for group in ["g", "simple", "emptied"] {
        assert_eq!(
            after.fetch_all(group),
            before.fetch_all(group),
            "offsets of {group}"
        );
        assert_eq!(
            after.describe(&[group], 5),
            before.describe(&[group], 5),
            "group {group}"
        );
    }
    assert_eq!(
        after.fetch_all("g"),
        vec![
            ("t".to_owned(), 0, 101, 3, String::new()),
            ("t".to_owned(), 1, 200, 3, String::new()),
            ("u".to_owned(), 0, 5, 3, "meta".to_owned()),
        ]
    );
    assert!(after.fetch_all("deleted").is_empty());
    assert_eq!(after.fetch("simple", &[("x", 0)]), vec![-1]);
}

#[test]
fn reloaded_members_carry_on_in_their_generation_or_time_out() {
    let mut before = Harness::new(config());
    let (static_member, dynamic, generation) = history(&mut before);
    let mut after = restart(&before, before.now_ms + 60_000);

    // Sessions start at the restart: members that are still there just heartbeat on.
    after.advance(9_000);
    assert_eq!(
        after.heartbeat_static("g", &static_member, Some("i-1"), generation),
        code::NONE
    );
    assert_eq!(
        after.commit("g", &dynamic, generation, &[("t", 0, 102)]),
        vec![code::NONE]
    );
    // The dynamic member committed (which counts as a sign of life) but then fell silent.
    after.advance(9_000);
    assert_eq!(
        after.heartbeat_static("g", &static_member, Some("i-1"), generation),
        code::NONE
    );
    after.advance(1_000);
    assert_eq!(
        after.heartbeat_static("g", &static_member, Some("i-1"), generation),
        code::REBALANCE_IN_PROGRESS
    );
    assert_eq!(
        after.heartbeat("g", &dynamic, generation),
        code::UNKNOWN_MEMBER_ID
    );
    let rejoin = after.join_with(
        "g",
        &static_member,
        Some("i-1"),
        &[("range", subscription(&["t", "u"]))],
        10_000,
        30_000,
        JOIN_V,
    );
    assert_eq!(after.join_response(rejoin).generation_id, generation + 1);
}

#[test]
fn a_restarted_coordinator_does_not_hand_out_the_previous_runs_member_ids() {
    let mut before = Harness::new(config());
    let (_, dynamic, _) = history(&mut before);
    let mut after = restart(&before, before.now_ms + 1);
    let first = after.join("fresh", "", &[("range", subscription(&["t"]))]);
    let new_id = after.join_response(first).member_id;
    let old_ids: Vec<String> = before
        .responses
        .values()
        .filter_map(|r| match r {
            fjord_protocol::ResponseKind::JoinGroup(j) => Some(j.member_id.clone()),
            _ => None,
        })
        .collect();
    assert!(old_ids.contains(&dynamic));
    assert!(
        !old_ids.contains(&new_id),
        "{new_id} was handed out before the restart"
    );
}

#[test]
fn replay_refuses_foreign_records_and_comes_before_serving() {
    let mut coordinator = GroupCoordinator::new(config());
    assert_eq!(
        coordinator.replay(&[0, 3, 0, 1, b'g'], Some(&[0, 0])),
        Err(ReplayError::UnknownRecordType { version: 3 })
    );
    assert!(matches!(
        coordinator.replay(&[0, 1, 0, 1, b'g'], None),
        Err(ReplayError::Key(_))
    ));
    // A tombstone for something never seen is fine.
    assert_eq!(coordinator.replay(&[0, 2, 0, 1, b'g'], None), Ok(()));
    coordinator.finish_replay(0);
    assert_eq!(
        coordinator.replay(&[0, 2, 0, 1, b'g'], None),
        Err(ReplayError::AfterStart)
    );
    assert!(
        coordinator.next_deadline_ms().is_some(),
        "offset expiry is scheduled"
    );
}
