//! Committed offsets: who may commit when, what OffsetFetch returns, their expiry
//! (KIP-211, KIP-496), and their deletion with OffsetDelete and DeleteGroups.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::OffsetDeleteRequest;
use fjord_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};

/// A stable group of one member subscribed to `topics`; returns (member, generation).
fn stable_member(h: &mut Harness, group: &str, topics: &[&str]) -> (String, i32) {
    let (member, join) = h.join_new(group, topics);
    h.advance(0);
    let generation = h.complete_rebalance(group, &[join]);
    (member, generation)
}

fn offset_delete(h: &mut Harness, group: &str, partitions: &[(&str, i32)]) -> (i16, Vec<i16>) {
    let mut topics: Vec<OffsetDeleteRequestTopic> = Vec::new();
    for (topic, partition) in partitions {
        let partition = OffsetDeleteRequestPartition {
            partition_index: *partition,
        };
        match topics.iter_mut().find(|t| t.name == *topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(OffsetDeleteRequestTopic {
                name: (*topic).into(),
                partitions: vec![partition],
            }),
        }
    }
    let request = OffsetDeleteRequest {
        group_id: group.into(),
        topics,
    };
    let id = h.send(GroupRequest::OffsetDelete(request), 0);
    match h.response(id) {
        ResponseKind::OffsetDelete(response) => (
            response.error_code,
            response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                .collect(),
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_member_commits_and_fetches_offsets_with_leader_epoch_and_metadata() {
    let mut h = Harness::new(config());
    let (member, generation) = stable_member(&mut h, "g", &["t"]);
    let records = h.log.len();
    let codes = h.commit_with(
        "g",
        &member,
        generation,
        &[("t", 0, 10), ("t", 1, 20)],
        Some("m"),
        COMMIT_V,
    );
    assert_eq!(codes, vec![code::NONE, code::NONE]);
    // One OffsetCommitKey (key version 1) record per partition.
    assert_eq!(h.log.len(), records + 2);
    assert!(
        h.log[records..]
            .iter()
            .all(|r| r.key[..2] == [0, 1] && r.value.is_some())
    );

    assert_eq!(
        h.fetch("g", &[("t", 0), ("t", 1), ("t", 2), ("u", 0)]),
        vec![10, 20, -1, -1]
    );
    assert_eq!(
        h.fetch_all("g"),
        vec![
            ("t".to_owned(), 0, 10, 3, "m".to_owned()),
            ("t".to_owned(), 1, 20, 3, "m".to_owned())
        ]
    );
    // A later commit replaces the offset.
    h.commit("g", &member, generation, &[("t", 0, 11)]);
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![11]);
}

#[test]
fn offset_fetch_from_version_8_answers_several_groups_at_once() {
    let mut h = Harness::new(config());
    h.commit("a", "", -1, &[("t", 0, 1)]);
    h.commit("b", "", -1, &[("t", 0, 2)]);
    let request = fjord_protocol::messages::OffsetFetchRequest {
        groups: ["a", "b", "missing"]
            .iter()
            .map(
                |g| fjord_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup {
                    group_id: (*g).into(),
                    topics: Some(vec![
                        fjord_protocol::messages::offset_fetch_request::OffsetFetchRequestTopics {
                            name: "t".into(),
                            partition_indexes: vec![0],
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                },
            )
            .collect(),
        ..Default::default()
    };
    let id = h.send(GroupRequest::OffsetFetch(request), FETCH_V);
    let ResponseKind::OffsetFetch(response) = h.response(id) else {
        panic!()
    };
    let offsets: Vec<_> = response
        .groups
        .iter()
        .map(|g| {
            (
                g.group_id.as_str(),
                g.error_code,
                g.topics[0].partitions[0].committed_offset,
            )
        })
        .collect();
    assert_eq!(offsets, vec![("a", 0, 1), ("b", 0, 2), ("missing", 0, -1)]);
}

#[test]
fn a_simple_consumer_commits_to_a_group_without_members_but_not_to_one_with_members() {
    let mut h = Harness::new(config());
    assert_eq!(h.commit("simple", "", -1, &[("t", 0, 5)]), vec![code::NONE]);
    assert_eq!(h.fetch("simple", &[("t", 0)]), vec![5]);
    let listed = h.list(&[], &[], 5);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0].group_id.as_str(),
            listed[0].protocol_type.as_str()
        ),
        ("simple", "")
    );
    assert_eq!(listed[0].group_state, "Empty");

    stable_member(&mut h, "g", &["t"]);
    assert_eq!(
        h.commit("g", "", -1, &[("t", 0, 5)]),
        vec![code::UNKNOWN_MEMBER_ID]
    );
    // Version 0 has no generation: it is a simple commit.
    assert_eq!(
        h.commit_with("simple", "", 7, &[("t", 1, 6)], None, 0),
        vec![code::NONE]
    );
}

#[test]
fn stale_generations_unknown_members_and_rebalances_refuse_commits() {
    let mut h = Harness::new(config());
    let (a, join_a) = h.join_new("g", &["t"]);
    let (b, join_b) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.complete_rebalance("g", &[join_a, join_b]);
    assert_eq!(
        h.commit("g", &a, generation - 1, &[("t", 0, 1)]),
        vec![code::ILLEGAL_GENERATION]
    );
    assert_eq!(
        h.commit("g", "stranger", generation, &[("t", 0, 1)]),
        vec![code::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(
        h.commit_with("gone", "m", 3, &[("t", 0, 1)], None, 8),
        vec![code::ILLEGAL_GENERATION]
    );
    assert_eq!(
        h.commit_with("gone", "m", 3, &[("t", 0, 1)], None, 9),
        vec![code::GROUP_ID_NOT_FOUND]
    );

    // PreparingRebalance: members of the current generation still commit their progress.
    let rejoin_a = h.join("g", &a, &[("range", subscription(&["t", "u"]))]);
    assert_eq!(
        h.commit("g", &b, generation, &[("t", 0, 2)]),
        vec![code::NONE]
    );
    // CompletingRebalance: the new generation has no assignment yet.
    let rejoin_b = h.join("g", &b, &[("range", subscription(&["t"]))]);
    let new_generation = h.join_response(rejoin_a).generation_id;
    let _ = h.join_response(rejoin_b);
    assert_eq!(
        h.commit("g", &b, new_generation, &[("t", 0, 3)]),
        vec![code::REBALANCE_IN_PROGRESS]
    );
    assert_eq!(
        h.commit("g", &b, generation, &[("t", 0, 3)]),
        vec![code::ILLEGAL_GENERATION]
    );
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![2]);
}

#[test]
fn metadata_longer_than_offset_metadata_max_bytes_is_refused_per_partition() {
    let mut h = Harness::new(fjord_group::GroupConfig {
        offset_metadata_max_bytes: 10,
        ..config()
    });
    let long = "x".repeat(11);
    assert_eq!(
        h.commit_with(
            "g",
            "",
            -1,
            &[("t", 0, 1), ("t", 1, 1)],
            Some(&long),
            COMMIT_V
        ),
        vec![
            code::OFFSET_METADATA_TOO_LARGE,
            code::OFFSET_METADATA_TOO_LARGE
        ]
    );
    assert_eq!(
        h.commit_with("g", "", -1, &[("t", 0, 1)], Some(&long[..10]), COMMIT_V),
        vec![code::NONE]
    );
    // Kafka counts UTF-16 units, not bytes: ten 'é' are 20 bytes but 10 units.
    assert_eq!(
        h.commit_with("g", "", -1, &[("t", 0, 1)], Some(&"é".repeat(10)), COMMIT_V),
        vec![code::NONE]
    );
}

fn short_retention() -> fjord_group::GroupConfig {
    fjord_group::GroupConfig {
        offsets_retention_minutes: 1,
        offsets_retention_check_interval_ms: 1_000,
        ..config()
    }
}

#[test]
fn offsets_of_an_empty_group_expire_a_retention_period_after_it_became_empty() {
    let mut h = Harness::new(short_retention());
    let (member, generation) = stable_member(&mut h, "g", &["t"]);
    h.commit("g", &member, generation, &[("t", 0, 7)]);
    // Members keep their offsets however old the commit.
    for _ in 0..40 {
        h.advance(3_000);
        h.heartbeat("g", &member, generation);
    }
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![7]);

    h.leave("g", &[(&member, None)]);
    assert_eq!(h.state("g"), "Empty");
    h.advance(59_000);
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![7]);
    let records = h.log.len();
    h.advance(1_000);
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![-1]);
    // A tombstone for the offset, then one for the group, which is gone.
    let tombstones: Vec<_> = h.log[records..]
        .iter()
        .map(|r| (r.key[1], r.value.is_none()))
        .collect();
    assert_eq!(tombstones, vec![(1, true), (2, true)]);
    assert_eq!(h.state("g"), "Dead");
    assert!(h.list(&[], &[], 5).is_empty());
}

#[test]
fn offsets_of_a_simple_group_expire_a_retention_period_after_their_commit() {
    let mut h = Harness::new(short_retention());
    h.commit("simple", "", -1, &[("t", 0, 1)]);
    h.advance(30_000);
    h.commit("simple", "", -1, &[("t", 1, 1)]);
    h.advance(30_000);
    assert_eq!(h.fetch("simple", &[("t", 0), ("t", 1)]), vec![-1, 1]);
    h.advance(30_000);
    assert_eq!(h.fetch("simple", &[("t", 0), ("t", 1)]), vec![-1, -1]);
}

#[test]
fn a_stable_consumer_group_loses_offsets_of_topics_it_no_longer_subscribes_to() {
    let mut h = Harness::new(short_retention());
    let (member, generation) = stable_member(&mut h, "g", &["t"]);
    h.commit("g", &member, generation, &[("t", 0, 1), ("old", 0, 1)]);
    for _ in 0..21 {
        h.advance(3_000);
        h.heartbeat("g", &member, generation);
    }
    assert_eq!(h.fetch("g", &[("t", 0), ("old", 0)]), vec![1, -1]);
}

#[test]
fn offset_delete_refuses_topics_a_member_subscribes_to() {
    let mut h = Harness::new(config());
    let (member, generation) = stable_member(&mut h, "g", &["t"]);
    h.commit(
        "g",
        &member,
        generation,
        &[("t", 0, 1), ("u", 0, 1), ("u", 1, 1)],
    );
    let (error, partitions) = offset_delete(&mut h, "g", &[("t", 0), ("u", 0), ("u", 5)]);
    assert_eq!(error, code::NONE);
    assert_eq!(
        partitions,
        vec![code::GROUP_SUBSCRIBED_TO_TOPIC, code::NONE, code::NONE]
    );
    assert_eq!(
        h.fetch("g", &[("t", 0), ("u", 0), ("u", 1)]),
        vec![1, -1, 1]
    );

    // Once the group is empty, any offset may go.
    h.leave("g", &[(&member, None)]);
    let (error, partitions) = offset_delete(&mut h, "g", &[("t", 0)]);
    assert_eq!((error, partitions), (code::NONE, vec![code::NONE]));
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![-1]);

    assert_eq!(
        offset_delete(&mut h, "missing", &[("t", 0)]).0,
        code::GROUP_ID_NOT_FOUND
    );
    assert_eq!(
        offset_delete(&mut h, "", &[("t", 0)]).0,
        code::INVALID_GROUP_ID
    );
}

#[test]
fn offset_delete_refuses_groups_of_other_protocols_with_members() {
    let mut h = Harness::new(config());
    let mut request = fjord_protocol::messages::JoinGroupRequest {
        group_id: "connect".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocol_type: "connect".into(),
        ..Default::default()
    };
    request.protocols.push(
        fjord_protocol::messages::join_group_request::JoinGroupRequestProtocol {
            name: "default".into(),
            ..Default::default()
        },
    );
    h.send(GroupRequest::JoinGroup(request), 3);
    h.advance(0);
    assert_eq!(
        offset_delete(&mut h, "connect", &[("t", 0)]).0,
        code::NON_EMPTY_GROUP
    );
}

#[test]
fn delete_groups_removes_empty_groups_with_their_offsets_and_refuses_others() {
    let mut h = Harness::new(config());
    h.commit("simple", "", -1, &[("t", 0, 1), ("t", 1, 1)]);
    stable_member(&mut h, "busy", &["t"]);
    let records = h.log.len();
    let results = h.delete_groups(&["simple", "busy", "missing", "simple"]);
    assert_eq!(
        results,
        vec![
            ("simple".to_owned(), code::NONE),
            ("busy".to_owned(), code::NON_EMPTY_GROUP),
            ("missing".to_owned(), code::GROUP_ID_NOT_FOUND),
        ]
    );
    let tombstones: Vec<_> = h.log[records..]
        .iter()
        .map(|r| (r.key[1], r.value.is_none()))
        .collect();
    assert_eq!(tombstones, vec![(1, true), (1, true), (2, true)]);
    assert_eq!(h.fetch("simple", &[("t", 0)]), vec![-1]);
    assert_eq!(h.state("simple"), "Dead");
}

#[test]
fn offsets_of_deleted_topics_are_removed() {
    let mut h = Harness::new(config());
    h.commit("a", "", -1, &[("t", 0, 1), ("u", 0, 1)]);
    h.commit("b", "", -1, &[("t", 3, 1)]);
    let out = h
        .coordinator
        .delete_offsets_of_topics(h.now_ms, &["t".to_owned()]);
    assert_eq!(out.records.len(), 2);
    assert!(out.records.iter().all(|r| r.value.is_none()));
    h.apply(out);
    assert_eq!(h.fetch("a", &[("t", 0), ("u", 0)]), vec![-1, 1]);
    assert_eq!(h.fetch("b", &[("t", 3)]), vec![-1]);
}
