//! The group admin APIs: ListGroups, DescribeGroups, DeleteGroups.

use std::collections::BTreeSet;

use fjord_protocol::messages::delete_groups_response::DeletableGroupResult;
use fjord_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use fjord_protocol::messages::list_groups_response::ListedGroup;
use fjord_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    ListGroupsRequest, ListGroupsResponse,
};

use crate::Output;
use crate::consumer::CONSUMER_GROUP_TYPE;
use crate::coordinator::GroupCoordinator;
use crate::error::ErrorCode;
use crate::group::{Group, GroupState};

/// The type of every group this coordinator keeps (KIP-848 names the classic protocol's
/// groups "classic").
pub(crate) const CLASSIC_GROUP_TYPE: &str = "classic";

/// Kafka's "not requested" value of the authorized-operations fields.
pub(crate) const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// What a client may do with a group, without an authorizer: everything Kafka defines for
/// groups (READ 3, DELETE 6, DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11).
pub(crate) const GROUP_OPERATIONS_ALL: i32 = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11);

impl GroupCoordinator {
    /// Handles ListGroups; filters (states from version 4, types from version 5) are
    /// case-insensitive, and an empty filter lets everything through.
    pub(crate) fn list_groups(
        &self,
        version: i16,
        request: &ListGroupsRequest,
    ) -> ListGroupsResponse {
        let states: BTreeSet<String> = request
            .states_filter
            .iter()
            .map(|state| state.to_ascii_lowercase())
            .collect();
        let type_matches = |group_type: &str| {
            request.types_filter.is_empty()
                || request
                    .types_filter
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(group_type))
        };
        let groups = self
            .groups
            .values()
            .filter(|group| {
                let (group_type, state) = group.type_and_state();
                type_matches(group_type)
                    && (states.is_empty() || states.contains(&state.to_ascii_lowercase()))
            })
            .map(|group| {
                let (group_type, state) = group.type_and_state();
                ListedGroup {
                    group_id: group.id.clone(),
                    protocol_type: if group.consumer.is_some() {
                        CONSUMER_GROUP_TYPE.to_owned()
                    } else {
                        group.protocol_type.clone().unwrap_or_default()
                    },
                    group_state: if version >= 4 {
                        state.to_owned()
                    } else {
                        String::new()
                    },
                    group_type: if version >= 5 {
                        group_type.to_owned()
                    } else {
                        String::new()
                    },
                    ..Default::default()
                }
            })
            .collect();
        ListGroupsResponse {
            error_code: ErrorCode::NONE.code(),
            groups,
            ..Default::default()
        }
    }

    /// Handles DescribeGroups. A group that does not exist is described as Dead, without
    /// an error, as Kafka does up to version 5.
    pub(crate) fn describe_groups(
        &self,
        version: i16,
        request: &DescribeGroupsRequest,
    ) -> DescribeGroupsResponse {
        let authorized_operations = if version >= 3 && request.include_authorized_operations {
            GROUP_OPERATIONS_ALL
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        };
        let groups = request
            .groups
            .iter()
            .map(|group_id| {
                let mut described = match self.groups.get(group_id) {
                    // As Kafka: DescribeGroups describes classic groups only; clients
                    // use ConsumerGroupDescribe for the others.
                    Some(group) if group.consumer.is_some() => DescribedGroup {
                        group_id: group_id.clone(),
                        error_code: ErrorCode::GROUP_ID_NOT_FOUND.code(),
                        group_state: GroupState::Dead.name().to_owned(),
                        ..Default::default()
                    },
                    Some(group) => describe(group, version),
                    None => DescribedGroup {
                        group_id: group_id.clone(),
                        group_state: GroupState::Dead.name().to_owned(),
                        ..Default::default()
                    },
                };
                if version >= 3 {
                    described.authorized_operations = authorized_operations;
                }
                described
            })
            .collect();
        DescribeGroupsResponse {
            groups,
            ..Default::default()
        }
    }

    /// Handles DeleteGroups: empty groups go, with their offsets (tombstones for each and
    /// for the group's metadata).
    pub(crate) fn delete_groups(
        &mut self,
        request: DeleteGroupsRequest,
        out: &mut Output,
    ) -> DeleteGroupsResponse {
        let mut seen = BTreeSet::new();
        let results = request
            .groups_names
            .into_iter()
            .filter(|group_id| seen.insert(group_id.clone()))
            .map(|group_id| {
                let state = self.groups.get(&group_id).map(|g| {
                    if g.has_members() {
                        GroupState::Stable
                    } else {
                        g.state
                    }
                });
                let error = match state {
                    None | Some(GroupState::Dead) => ErrorCode::GROUP_ID_NOT_FOUND,
                    Some(GroupState::Empty) => {
                        self.remove_group(&group_id, out);
                        ErrorCode::NONE
                    }
                    Some(_) => ErrorCode::NON_EMPTY_GROUP,
                };
                DeletableGroupResult {
                    group_id,
                    error_code: error.code(),
                    ..Default::default()
                }
            })
            .collect();
        DeleteGroupsResponse {
            results,
            ..Default::default()
        }
    }
}

/// A group as DescribeGroups shows it: members' metadata and assignments only once the
/// group is stable, as Kafka does (before, they are being replaced).
fn describe(group: &Group, version: i16) -> DescribedGroup {
    let stable = group.state == GroupState::Stable;
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let members = group
        .members_in_join_order()
        .into_iter()
        .map(|member| DescribedGroupMember {
            member_id: member.member_id.clone(),
            group_instance_id: if version >= 4 {
                member.group_instance_id.clone()
            } else {
                None
            },
            client_id: member.client_id.clone(),
            client_host: member.client_host.clone(),
            member_metadata: if stable {
                member.metadata(&protocol).cloned().unwrap_or_default()
            } else {
                Default::default()
            },
            member_assignment: if stable {
                member.assignment.clone()
            } else {
                Default::default()
            },
            ..Default::default()
        })
        .collect();
    DescribedGroup {
        error_code: ErrorCode::NONE.code(),
        group_id: group.id.clone(),
        group_state: group.state.name().to_owned(),
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        protocol_data: if stable { protocol } else { String::new() },
        members,
        ..Default::default()
    }
}
