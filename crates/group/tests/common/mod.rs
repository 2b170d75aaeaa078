//! A fake runtime for the scenario tests: it drives a coordinator with a fake clock,
//! keeps the `__consumer_offsets` records it asks for, and checks what every runtime
//! relies on: each request is answered once, and each response encodes at its version.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use fjord_group::{GroupConfig, GroupCoordinator, GroupRecord, GroupRequest, Output, RequestId};
use fjord_protocol::Message as _;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use fjord_protocol::messages::leave_group_request::MemberIdentity;
use fjord_protocol::messages::list_groups_response::ListedGroup;
use fjord_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use fjord_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use fjord_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use fjord_protocol::messages::*;

/// The latest version of each API that tests use by default.
pub const JOIN_V: i16 = 9;
pub const SYNC_V: i16 = 5;
pub const HEARTBEAT_V: i16 = 4;
pub const LEAVE_V: i16 = 5;
pub const COMMIT_V: i16 = 9;
pub const FETCH_V: i16 = 9;

/// Settings for tests: Kafka's, with short timeouts and no initial delay unless a test
/// is about them.
pub fn config() -> GroupConfig {
    GroupConfig {
        group_min_session_timeout_ms: 1_000,
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

/// A coordinator and everything it has asked the runtime to do.
pub struct Harness {
    pub coordinator: GroupCoordinator,
    pub now_ms: i64,
    next_id: RequestId,
    /// Every response, by request; a second one for an id fails the test.
    pub responses: BTreeMap<RequestId, ResponseKind>,
    /// The version each request was sent at.
    versions: BTreeMap<RequestId, (i16, &'static str)>,
    /// Every record, in append order: the `__consumer_offsets` log.
    pub log: Vec<GroupRecord>,
}

impl Harness {
    pub fn new(config: GroupConfig) -> Harness {
        Harness::with_coordinator(GroupCoordinator::new(config), 1_000_000)
    }

    pub fn with_coordinator(coordinator: GroupCoordinator, now_ms: i64) -> Harness {
        Harness {
            coordinator,
            now_ms,
            next_id: 0,
            responses: BTreeMap::new(),
            versions: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// Sends a request; returns its id.
    pub fn send(&mut self, request: GroupRequest, version: i16) -> RequestId {
        self.send_from(request, version, "client", "/127.0.0.1")
    }

    pub fn send_from(
        &mut self,
        request: GroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> RequestId {
        self.next_id += 1;
        let id = self.next_id;
        let api = api_name(&request);
        self.versions.insert(id, (version, api));
        let out =
            self.coordinator
                .handle(self.now_ms, id, request, version, client_id, client_host);
        self.apply(out);
        id
    }

    /// Moves the clock forward and fires the timers.
    pub fn advance(&mut self, ms: i64) {
        self.now_ms += ms;
        let out = self.coordinator.tick(self.now_ms);
        self.apply(out);
    }

    /// Moves the clock in steps of `step_ms`, ticking at each, `steps` times.
    pub fn advance_in_steps(&mut self, step_ms: i64, steps: usize) {
        for _ in 0..steps {
            self.advance(step_ms);
        }
    }

    pub fn apply(&mut self, out: Output) {
        self.log.extend(out.records);
        for (id, response) in out.responses {
            let (version, api) = *self
                .versions
                .get(&id)
                .unwrap_or_else(|| panic!("response to unknown request {id}"));
            let mut buf = BytesMut::new();
            if let Err(error) = response.encode(&mut buf, version) {
                panic!("{api} v{version} response does not encode: {error}: {response:?}");
            }
            let decoded = ResponseKind::decode(response.api_key(), &mut buf.freeze(), version)
                .expect("decodes");
            let _ = decoded;
            assert!(
                self.responses.insert(id, response).is_none(),
                "request {id} ({api}) answered twice"
            );
        }
    }

    pub fn is_answered(&self, id: RequestId) -> bool {
        self.responses.contains_key(&id)
    }

    /// Every request sent so far has its answer.
    pub fn assert_all_answered(&self) {
        let unanswered: Vec<_> = self
            .versions
            .iter()
            .filter(|(id, _)| !self.responses.contains_key(id))
            .collect();
        assert!(unanswered.is_empty(), "unanswered: {unanswered:?}");
    }

    // ----- requests -----

    pub fn join(&mut self, group: &str, member_id: &str, protocols: &[(&str, Bytes)]) -> RequestId {
        self.join_with(group, member_id, None, protocols, 10_000, 30_000, JOIN_V)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn join_with(
        &mut self,
        group: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        protocols: &[(&str, Bytes)],
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
        version: i16,
    ) -> RequestId {
        let request = JoinGroupRequest {
            group_id: group.into(),
            session_timeout_ms,
            rebalance_timeout_ms,
            member_id: member_id.into(),
            group_instance_id: group_instance_id.map(Into::into),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|(name, metadata)| JoinGroupRequestProtocol {
                    name: (*name).into(),
                    metadata: metadata.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        self.send(GroupRequest::JoinGroup(request), version)
    }

    /// Joins a new dynamic member the KIP-394 way (MEMBER_ID_REQUIRED, then again with the
    /// id); returns the member id and the second JoinGroup's request id.
    pub fn join_new(&mut self, group: &str, topics: &[&str]) -> (String, RequestId) {
        let first = self.join(group, "", &[("range", subscription(topics))]);
        let response = self.join_response(first);
        assert_eq!(response.error_code, 79, "MEMBER_ID_REQUIRED");
        let member_id = response.member_id;
        let second = self.join(group, &member_id, &[("range", subscription(topics))]);
        (member_id, second)
    }

    pub fn sync(
        &mut self,
        group: &str,
        member_id: &str,
        generation_id: i32,
        assignments: &[(&str, Bytes)],
    ) -> RequestId {
        let request = SyncGroupRequest {
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            protocol_type: Some("consumer".into()),
            assignments: assignments
                .iter()
                .map(|(member, assignment)| SyncGroupRequestAssignment {
                    member_id: (*member).into(),
                    assignment: assignment.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        self.send(GroupRequest::SyncGroup(request), SYNC_V)
    }

    pub fn sync_static(
        &mut self,
        group: &str,
        member_id: &str,
        instance: &str,
        generation_id: i32,
    ) -> RequestId {
        let request = SyncGroupRequest {
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: Some(instance.into()),
            ..Default::default()
        };
        self.send(GroupRequest::SyncGroup(request), SYNC_V)
    }

    /// Sends a heartbeat and returns its error code.
    pub fn heartbeat(&mut self, group: &str, member_id: &str, generation_id: i32) -> i16 {
        self.heartbeat_static(group, member_id, None, generation_id)
    }

    pub fn heartbeat_static(
        &mut self,
        group: &str,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
    ) -> i16 {
        let request = HeartbeatRequest {
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: instance.map(Into::into),
            ..Default::default()
        };
        let id = self.send(GroupRequest::Heartbeat(request), HEARTBEAT_V);
        match self.response(id) {
            ResponseKind::Heartbeat(response) => response.error_code,
            other => panic!("{other:?}"),
        }
    }

    /// Sends LeaveGroup v3+ for these (member id, instance id) pairs.
    pub fn leave(&mut self, group: &str, members: &[(&str, Option<&str>)]) -> LeaveGroupResponse {
        let request = LeaveGroupRequest {
            group_id: group.into(),
            members: members
                .iter()
                .map(|(member_id, instance)| MemberIdentity {
                    member_id: (*member_id).into(),
                    group_instance_id: instance.map(Into::into),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let id = self.send(GroupRequest::LeaveGroup(request), LEAVE_V);
        match self.response(id) {
            ResponseKind::LeaveGroup(response) => response.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// Commits `offsets` (topic, partition, offset) and returns the error code of each.
    pub fn commit(
        &mut self,
        group: &str,
        member_id: &str,
        generation_id: i32,
        offsets: &[(&str, i32, i64)],
    ) -> Vec<i16> {
        self.commit_with(group, member_id, generation_id, offsets, None, COMMIT_V)
    }

    pub fn commit_with(
        &mut self,
        group: &str,
        member_id: &str,
        generation_id: i32,
        offsets: &[(&str, i32, i64)],
        metadata: Option<&str>,
        version: i16,
    ) -> Vec<i16> {
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (topic, partition, offset) in offsets {
            let partition = OffsetCommitRequestPartition {
                partition_index: *partition,
                committed_offset: *offset,
                committed_leader_epoch: if version >= 6 { 3 } else { -1 },
                committed_metadata: metadata.map(Into::into),
                ..Default::default()
            };
            match topics.iter_mut().find(|t| t.name == *topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(OffsetCommitRequestTopic {
                    name: (*topic).into(),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let request = OffsetCommitRequest {
            group_id: group.into(),
            generation_id_or_member_epoch: generation_id,
            member_id: member_id.into(),
            topics,
            ..Default::default()
        };
        let id = self.send(GroupRequest::OffsetCommit(request), version);
        match self.response(id) {
            ResponseKind::OffsetCommit(response) => response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    /// The committed offset of each partition (-1 when none), with OffsetFetch v7.
    pub fn fetch(&mut self, group: &str, partitions: &[(&str, i32)]) -> Vec<i64> {
        let mut topics: Vec<OffsetFetchRequestTopic> = Vec::new();
        for (topic, partition) in partitions {
            match topics.iter_mut().find(|t| t.name == *topic) {
                Some(t) => t.partition_indexes.push(*partition),
                None => topics.push(OffsetFetchRequestTopic {
                    name: (*topic).into(),
                    partition_indexes: vec![*partition],
                    ..Default::default()
                }),
            }
        }
        let request = OffsetFetchRequest {
            group_id: group.into(),
            topics: Some(topics),
            ..Default::default()
        };
        let id = self.send(GroupRequest::OffsetFetch(request), 7);
        match self.response(id) {
            ResponseKind::OffsetFetch(response) => response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.committed_offset))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    /// Every committed offset of a group, as (topic, partition, offset, leader epoch,
    /// metadata), with OffsetFetch v8 and no topic list.
    pub fn fetch_all(&mut self, group: &str) -> Vec<(String, i32, i64, i32, String)> {
        let request = OffsetFetchRequest {
            groups: vec![offset_fetch_request::OffsetFetchRequestGroup {
                group_id: group.into(),
                topics: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        let id = self.send(GroupRequest::OffsetFetch(request), 8);
        match self.response(id) {
            ResponseKind::OffsetFetch(response) => {
                assert_eq!(response.groups.len(), 1);
                response.groups[0]
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(|p| {
                            (
                                t.name.clone(),
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata.clone().unwrap_or_default(),
                            )
                        })
                    })
                    .collect()
            }
            other => panic!("{other:?}"),
        }
    }

    pub fn describe(&mut self, groups: &[&str], version: i16) -> DescribeGroupsResponse {
        let request = DescribeGroupsRequest {
            groups: groups.iter().map(|g| (*g).into()).collect(),
            include_authorized_operations: version >= 3,
            ..Default::default()
        };
        let id = self.send(GroupRequest::DescribeGroups(request), version);
        match self.response(id) {
            ResponseKind::DescribeGroups(response) => response.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// The state DescribeGroups shows for a group.
    pub fn state(&mut self, group: &str) -> String {
        self.describe(&[group], 5).groups[0].group_state.clone()
    }

    pub fn list(&mut self, states: &[&str], types: &[&str], version: i16) -> Vec<ListedGroup> {
        let request = ListGroupsRequest {
            states_filter: states.iter().map(|s| (*s).into()).collect(),
            types_filter: types.iter().map(|t| (*t).into()).collect(),
            ..Default::default()
        };
        let id = self.send(GroupRequest::ListGroups(request), version);
        match self.response(id) {
            ResponseKind::ListGroups(response) => response.groups.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// Deletes groups; returns each one's error code.
    pub fn delete_groups(&mut self, groups: &[&str]) -> Vec<(String, i16)> {
        let request = DeleteGroupsRequest {
            groups_names: groups.iter().map(|g| (*g).into()).collect(),
            ..Default::default()
        };
        let id = self.send(GroupRequest::DeleteGroups(request), 2);
        match self.response(id) {
            ResponseKind::DeleteGroups(response) => response
                .results
                .iter()
                .map(|r| (r.group_id.clone(), r.error_code))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    // ----- responses -----

    pub fn response(&self, id: RequestId) -> &ResponseKind {
        self.responses
            .get(&id)
            .unwrap_or_else(|| panic!("request {id} has no response yet"))
    }

    pub fn join_response(&self, id: RequestId) -> JoinGroupResponse {
        match self.response(id) {
            ResponseKind::JoinGroup(response) => response.clone(),
            other => panic!("{other:?}"),
        }
    }

    pub fn sync_response(&self, id: RequestId) -> SyncGroupResponse {
        match self.response(id) {
            ResponseKind::SyncGroup(response) => response.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// Runs a whole rebalance for members that have each sent a JoinGroup (`joins`): the
    /// join phase must be over; the leader assigns `assignment(member)` and every member
    /// syncs. Returns the generation.
    pub fn complete_rebalance(&mut self, group: &str, joins: &[RequestId]) -> i32 {
        let responses: Vec<JoinGroupResponse> =
            joins.iter().map(|id| self.join_response(*id)).collect();
        for response in &responses {
            assert_eq!(response.error_code, 0, "{response:?}");
        }
        let generation = responses[0].generation_id;
        let leader = responses[0].leader.clone();
        let leader_response = responses
            .iter()
            .find(|r| r.member_id == leader)
            .expect("the leader is among the joins");
        let assignments: Vec<(String, Bytes)> = leader_response
            .members
            .iter()
            .map(|m| (m.member_id.clone(), assignment_of(&m.member_id)))
            .collect();
        let assignments: Vec<(&str, Bytes)> = assignments
            .iter()
            .map(|(m, a)| (m.as_str(), a.clone()))
            .collect();
        let mut syncs = Vec::new();
        for response in &responses {
            if response.member_id != leader {
                syncs.push(self.sync(group, &response.member_id, generation, &[]));
            }
        }
        syncs.push(self.sync(group, &leader, generation, &assignments));
        for (sync, response) in syncs.iter().zip(
            responses
                .iter()
                .filter(|r| r.member_id != leader)
                .chain(std::iter::once(leader_response)),
        ) {
            let sync = self.sync_response(*sync);
            assert_eq!(sync.error_code, 0);
            assert_eq!(sync.assignment, assignment_of(&response.member_id));
        }
        generation
    }
}

/// A consumer subscription (ConsumerProtocolSubscription v0, with its version prefix)
/// to `topics`.
pub fn subscription(topics: &[&str]) -> Bytes {
    let subscription = ConsumerProtocolSubscription {
        topics: topics.iter().map(|t| (*t).into()).collect(),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&0i16.to_be_bytes());
    subscription.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

/// The assignment `complete_rebalance` gives a member: its id, so tests can tell them apart.
pub fn assignment_of(member_id: &str) -> Bytes {
    Bytes::copy_from_slice(member_id.as_bytes())
}

fn api_name(request: &GroupRequest) -> &'static str {
    match request {
        GroupRequest::JoinGroup(_) => "JoinGroup",
        GroupRequest::SyncGroup(_) => "SyncGroup",
        GroupRequest::Heartbeat(_) => "Heartbeat",
        GroupRequest::LeaveGroup(_) => "LeaveGroup",
        GroupRequest::OffsetCommit(_) => "OffsetCommit",
        GroupRequest::TxnOffsetCommit(_) => "TxnOffsetCommit",
        GroupRequest::OffsetFetch(_) => "OffsetFetch",
        GroupRequest::ListGroups(_) => "ListGroups",
        GroupRequest::DescribeGroups(_) => "DescribeGroups",
        GroupRequest::DeleteGroups(_) => "DeleteGroups",
        GroupRequest::OffsetDelete(_) => "OffsetDelete",
        GroupRequest::ConsumerGroupHeartbeat(_) => "ConsumerGroupHeartbeat",
        GroupRequest::ConsumerGroupDescribe(_) => "ConsumerGroupDescribe",
    }
}

/// Error codes, spelled out so that assertions read like Kafka's documentation.
pub mod code {
    pub const NONE: i16 = 0;
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    pub const ILLEGAL_GENERATION: i16 = 22;
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    pub const INVALID_GROUP_ID: i16 = 24;
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    pub const INVALID_SESSION_TIMEOUT: i16 = 26;
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    pub const NON_EMPTY_GROUP: i16 = 68;
    pub const GROUP_ID_NOT_FOUND: i16 = 69;
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
    pub const FENCED_INSTANCE_ID: i16 = 82;
    pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
}
