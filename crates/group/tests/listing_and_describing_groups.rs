//! ListGroups with state and type filters, and DescribeGroups.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fjord_group::GroupRequest;

#[test]
fn list_groups_filters_by_state_and_type_case_insensitively() {
    let mut h = Harness::new(config());
    h.commit("offsets-only", "", -1, &[("t", 0, 1)]);
    let (_, join) = h.join_new("stable", &["t"]);
    h.advance(0);
    h.complete_rebalance("stable", &[join]);
    h.join_new("joining", &["t"]);

    let ids = |groups: Vec<fjord_protocol::messages::list_groups_response::ListedGroup>| {
        groups.into_iter().map(|g| g.group_id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(h.list(&[], &[], 5)),
        vec!["joining", "offsets-only", "stable"]
    );
    assert_eq!(ids(h.list(&["stable"], &[], 4)), vec!["stable"]);
    assert_eq!(
        ids(h.list(&["Empty", "PREPARINGREBALANCE"], &[], 5)),
        vec!["joining", "offsets-only"]
    );
    assert_eq!(ids(h.list(&[], &["Classic"], 5)).len(), 3);
    assert!(
        h.list(&[], &["consumer"], 5).is_empty(),
        "no KIP-848 groups here"
    );
    assert!(h.list(&["Stable"], &["share"], 5).is_empty());

    let groups = h.list(&[], &[], 5);
    let stable = groups.iter().find(|g| g.group_id == "stable").unwrap();
    assert_eq!(
        (
            stable.protocol_type.as_str(),
            stable.group_state.as_str(),
            stable.group_type.as_str()
        ),
        ("consumer", "Stable", "classic")
    );
    // Before version 4 there is no state to report.
    let old = h.list(&[], &[], 3);
    assert!(
        old.iter()
            .all(|g| g.group_state.is_empty() && g.group_type.is_empty())
    );
}

#[test]
fn describe_groups_shows_members_with_their_clients_metadata_and_assignments() {
    let mut h = Harness::new(config());
    let metadata = subscription(&["orders"]);
    let first = h.send_from(
        GroupRequest::JoinGroup(join_request("", Some("instance-1"), metadata.clone())),
        JOIN_V,
        "billing",
        "/10.0.0.7",
    );
    h.advance(0);
    let member = h.join_response(first).member_id;

    // While the leader assigns, members are listed without metadata or assignment.
    let described = h.describe(&["g"], 5);
    let group = &described.groups[0];
    assert_eq!(group.group_state, "CompletingRebalance");
    assert_eq!(group.protocol_data, "");
    assert_eq!(group.members.len(), 1);
    assert!(group.members[0].member_metadata.is_empty());

    h.complete_rebalance("g", &[first]);
    let described = h.describe(&["g", "nobody"], 5);
    let group = &described.groups[0];
    assert_eq!(group.error_code, code::NONE);
    assert_eq!(
        (
            group.group_state.as_str(),
            group.protocol_type.as_str(),
            group.protocol_data.as_str()
        ),
        ("Stable", "consumer", "range")
    );
    assert_eq!(
        group.authorized_operations,
        (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)
    );
    let described_member = &group.members[0];
    assert_eq!(described_member.member_id, member);
    assert_eq!(
        described_member.group_instance_id.as_deref(),
        Some("instance-1")
    );
    assert_eq!(described_member.client_id, "billing");
    assert_eq!(described_member.client_host, "/10.0.0.7");
    assert_eq!(described_member.member_metadata, metadata);
    assert_eq!(described_member.member_assignment, assignment_of(&member));

    let missing = &described.groups[1];
    assert_eq!(
        (
            missing.error_code,
            missing.group_id.as_str(),
            missing.group_state.as_str()
        ),
        (code::NONE, "nobody", "Dead")
    );
    assert!(missing.members.is_empty());

    // Version 0 carries no authorized operations, version 3 only when asked.
    let old = h.describe(&["g"], 0);
    assert_eq!(old.groups[0].authorized_operations, i32::MIN);
    let request = fjord_protocol::messages::DescribeGroupsRequest {
        groups: vec!["g".into()],
        include_authorized_operations: false,
        ..Default::default()
    };
    let id = h.send(GroupRequest::DescribeGroups(request), 3);
    let fjord_protocol::ResponseKind::DescribeGroups(response) = h.response(id) else {
        panic!()
    };
    assert_eq!(response.groups[0].authorized_operations, i32::MIN);
}

fn join_request(
    member_id: &str,
    instance: Option<&str>,
    metadata: bytes::Bytes,
) -> fjord_protocol::messages::JoinGroupRequest {
    fjord_protocol::messages::JoinGroupRequest {
        group_id: "g".into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        member_id: member_id.into(),
        group_instance_id: instance.map(Into::into),
        protocol_type: "consumer".into(),
        protocols: vec![
            fjord_protocol::messages::join_group_request::JoinGroupRequestProtocol {
                name: "range".into(),
                metadata,
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}
