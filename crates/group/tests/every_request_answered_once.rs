//! Random sequences of requests and clock moves, from well-behaved and confused clients
//! alike. Whatever happens: every request is answered exactly once (eventually, for
//! JoinGroup and SyncGroup), every response encodes at its request's version, the
//! coordinator's own invariants hold after every call (checked in debug builds), and the
//! records it wrote rebuild the same offsets and stable groups in a fresh coordinator.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use fjord_group::{GroupConfig, GroupCoordinator, GroupRequest};
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use fjord_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use fjord_protocol::messages::leave_group_request::MemberIdentity;
use fjord_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use fjord_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use fjord_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use fjord_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use fjord_protocol::messages::*;
use proptest::prelude::*;

/// The topics consumer groups may be assigned.
fn topic_infos() -> Vec<fjord_group::assignor::TopicInfo> {
    TOPICS
        .iter()
        .enumerate()
        .map(|(i, name)| fjord_group::assignor::TopicInfo {
            id: fjord_protocol::Uuid([i as u8 + 1; 16]),
            name: (*name).to_owned(),
            partitions: 3,
        })
        .collect()
}

fn consumer_describe(h: &mut Harness) -> ConsumerGroupDescribeResponse {
    let request = ConsumerGroupDescribeRequest {
        group_ids: GROUPS.iter().map(|g| (*g).to_owned()).collect(),
        ..Default::default()
    };
    let id = h.send(GroupRequest::ConsumerGroupDescribe(request), 0);
    match h.response(id) {
        ResponseKind::ConsumerGroupDescribe(response) => response.clone(),
        other => panic!("{other:?}"),
    }
}

const GROUPS: [&str; 2] = ["g0", "g1"];
const INSTANCES: [&str; 2] = ["i0", "i1"];
const TOPICS: [&str; 2] = ["t0", "t1"];

/// Which member id a request names.
#[derive(Debug, Clone)]
enum Who {
    /// No member id.
    Nobody,
    /// One handed out earlier (by index, modulo how many there are).
    Known(usize),
    /// One never handed out.
    Stranger,
}

/// Which generation a request names.
#[derive(Debug, Clone)]
enum Generation {
    /// The latest one handed to a member of the group.
    Latest,
    /// One before it.
    Stale,
    /// -1: not a member.
    None,
}

#[derive(Debug, Clone)]
enum Action {
    Join {
        group: usize,
        who: Who,
        instance: Option<usize>,
        protocols: usize,
        session_ms: i32,
        rebalance_ms: i32,
        version: i16,
    },
    Sync {
        group: usize,
        who: Who,
        instance: Option<usize>,
        generation: Generation,
        assign: bool,
        version: i16,
    },
    Heartbeat {
        group: usize,
        who: Who,
        instance: Option<usize>,
        generation: Generation,
    },
    Leave {
        group: usize,
        members: Vec<(Who, Option<usize>)>,
        version: i16,
    },
    Commit {
        group: usize,
        who: Who,
        generation: Generation,
        partitions: Vec<(usize, i32)>,
        version: i16,
    },
    Fetch {
        group: usize,
        all: bool,
        version: i16,
    },
    List {
        version: i16,
        stable_only: bool,
    },
    Describe {
        version: i16,
    },
    DeleteGroups {
        group: usize,
    },
    OffsetDelete {
        group: usize,
        topic: usize,
    },
    Advance {
        ms: i64,
    },
    /// A consumer group member (KIP-848 protocol): joins, heartbeats in its epoch (or a
    /// wrong one), acknowledges what it was given, or leaves.
    ConsumerHeartbeat {
        group: usize,
        member: usize,
        epoch: ConsumerEpoch,
        instance: Option<usize>,
        topics: usize,
    },
    /// ConsumerGroupDescribe of both groups.
    ConsumerDescribe,
    /// What a well-behaved client of a member would do next: rejoin, or sync (with the
    /// assignments if it leads) once its JoinGroup is answered.
    Behave {
        group: usize,
        who: Who,
    },
}

/// Which member epoch a consumer heartbeat sends.
#[derive(Debug, Clone)]
enum ConsumerEpoch {
    /// The latest the member was given (0 if none: a join).
    Latest,
    /// 0: (re)join.
    Join,
    /// -1: leave; -2: leave for a while (static members).
    Leave,
    StaticLeave,
    /// One the member was never given.
    Wrong,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        1 => Just(Who::Nobody),
        4 => (0usize..8).prop_map(Who::Known),
        1 => Just(Who::Stranger),
    ]
}

fn generation() -> impl Strategy<Value = Generation> {
    prop_oneof![
        4 => Just(Generation::Latest),
        1 => Just(Generation::Stale),
        1 => Just(Generation::None),
    ]
}

fn instance() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![3 => Just(None), 1 => (0usize..2).prop_map(Some)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0usize..2, who(), instance(), 0usize..4,
              prop_oneof![1 => prop::sample::select(vec![0, 1, 1_000]), 6 => Just(10_000)],
              prop_oneof![1 => prop::sample::select(vec![-1, 0, 1, 1_000]), 6 => Just(30_000)],
              prop_oneof![1 => 0i16..=8, 3 => Just(9)])
            .prop_map(|(group, who, instance, protocols, session_ms, rebalance_ms, version)| {
                Action::Join { group, who, instance, protocols, session_ms, rebalance_ms, version }
            }),
        4 => (0usize..2, who(), instance(), generation(), any::<bool>(), 0i16..=5)
            .prop_map(|(group, who, instance, generation, assign, version)| {
                Action::Sync { group, who, instance, generation, assign, version }
            }),
        4 => (0usize..2, who(), instance(), generation())
            .prop_map(|(group, who, instance, generation)| {
                Action::Heartbeat { group, who, instance, generation }
            }),
        1 => (0usize..2, prop::collection::vec((who(), instance()), 0..3), 0i16..=5)
            .prop_map(|(group, members, version)| Action::Leave { group, members, version }),
        3 => (0usize..2, who(), generation(), prop::collection::vec((0usize..2, 0i32..3), 0..4), 0i16..=9)
            .prop_map(|(group, who, generation, partitions, version)| {
                Action::Commit { group, who, generation, partitions, version }
            }),
        1 => (0usize..2, any::<bool>(), 0i16..=9)
            .prop_map(|(group, all, version)| Action::Fetch { group, all, version }),
        1 => (0i16..=5, any::<bool>()).prop_map(|(version, stable_only)| Action::List { version, stable_only }),
        1 => (0i16..=5).prop_map(|version| Action::Describe { version }),
        1 => (0usize..2).prop_map(|group| Action::DeleteGroups { group }),
        8 => (0usize..2, who()).prop_map(|(group, who)| Action::Behave { group, who }),
        6 => (0usize..2, 0usize..4,
              prop_oneof![6 => Just(ConsumerEpoch::Latest), 1 => Just(ConsumerEpoch::Join),
                          1 => Just(ConsumerEpoch::Leave), 1 => Just(ConsumerEpoch::StaticLeave),
                          1 => Just(ConsumerEpoch::Wrong)],
              instance(), 0usize..3)
            .prop_map(|(group, member, epoch, instance, topics)| {
                Action::ConsumerHeartbeat { group, member, epoch, instance, topics }
            }),
        1 => Just(Action::ConsumerDescribe),
        1 => (0usize..2, 0usize..2).prop_map(|(group, topic)| Action::OffsetDelete { group, topic }),
        5 => prop_oneof![
            4 => prop::sample::select(vec![0i64, 1, 500, 3_000]),
            1 => prop::sample::select(vec![10_000i64, 40_000]),
        ]
        .prop_map(|ms| Action::Advance { ms }),
    ]
}

/// What the clients have learned so far.
#[derive(Default)]
struct Clients {
    /// Member ids handed out, with the group they were handed out for.
    member_ids: Vec<(String, usize)>,
    /// The latest generation a JoinGroup answer gave, per group.
    generations: [i32; 2],
    /// Every JoinGroup sent, with its group.
    joins: Vec<(u64, usize)>,
    /// Consumer group members: (group, member) to their epoch and owned partitions.
    consumers: std::collections::BTreeMap<(usize, usize), (i32, Vec<TopicPartitions>)>,
}

impl Clients {
    /// A member id for a request to `group`: mostly one handed out for that group.
    fn member(&self, who: &Who, group: usize) -> String {
        let of_group: Vec<&String> = self
            .member_ids
            .iter()
            .filter(|(_, g)| *g == group)
            .map(|(m, _)| m)
            .collect();
        match who {
            Who::Nobody => String::new(),
            Who::Known(index) if index % 4 == 3 && !self.member_ids.is_empty() => {
                self.member_ids[index % self.member_ids.len()].0.clone()
            }
            Who::Known(_) if of_group.is_empty() => String::new(),
            Who::Known(index) => of_group[index % of_group.len()].clone(),
            Who::Stranger => "stranger".to_owned(),
        }
    }

    fn generation(&self, group: usize, generation: &Generation) -> i32 {
        match generation {
            Generation::Latest => self.generations[group],
            Generation::Stale => self.generations[group] - 1,
            Generation::None => -1,
        }
    }

    /// Reads the member ids and generations of every JoinGroup answered so far.
    fn learn(&mut self, h: &Harness) {
        for (id, group) in &self.joins {
            if let Some(ResponseKind::JoinGroup(response)) = h.responses.get(id) {
                let member = (response.member_id.clone(), *group);
                if !member.0.is_empty() && !self.member_ids.contains(&member) {
                    self.member_ids.push(member);
                }
                if response.error_code == 0 {
                    self.generations[*group] = self.generations[*group].max(response.generation_id);
                }
            }
        }
    }
}

fn protocols(choice: usize) -> Vec<JoinGroupRequestProtocol> {
    let protocol = |name: &str, topics: &[&str]| JoinGroupRequestProtocol {
        name: name.into(),
        metadata: subscription(topics),
        ..Default::default()
    };
    match choice {
        0 | 3 => vec![protocol("range", &["t0"])],
        1 => vec![
            protocol("cooperative-sticky", &["t0", "t1"]),
            protocol("range", &["t0", "t1"]),
        ],
        _ => vec![protocol("roundrobin", &["t1"])],
    }
}

fn run(h: &mut Harness, clients: &mut Clients, action: Action) {
    clients.learn(h);
    match action {
        Action::ConsumerHeartbeat {
            group,
            member,
            epoch,
            instance,
            topics,
        } => {
            let (latest, owned) = clients
                .consumers
                .get(&(group, member))
                .cloned()
                .unwrap_or((0, Vec::new()));
            let member_epoch = match epoch {
                ConsumerEpoch::Latest => latest,
                ConsumerEpoch::Join => 0,
                ConsumerEpoch::Leave => -1,
                ConsumerEpoch::StaticLeave => -2,
                ConsumerEpoch::Wrong => latest + 7,
            };
            let joining = member_epoch == 0;
            let request = ConsumerGroupHeartbeatRequest {
                group_id: GROUPS[group].into(),
                member_id: format!("c{member}"),
                member_epoch,
                instance_id: instance.map(|i| INSTANCES[i].to_owned()),
                rebalance_timeout_ms: if joining { 5_000 } else { -1 },
                subscribed_topic_names: joining.then(|| match topics {
                    0 => vec!["t0".to_owned()],
                    1 => vec!["t0".to_owned(), "t1".to_owned()],
                    _ => Vec::new(),
                }),
                subscribed_topic_regex: (joining && topics == 2).then(|| "t.*".to_owned()),
                topic_partitions: Some(if joining { Vec::new() } else { owned }),
                ..Default::default()
            };
            let id = h.send(GroupRequest::ConsumerGroupHeartbeat(request), 1);
            if let Some(ResponseKind::ConsumerGroupHeartbeat(response)) = h.responses.get(&id) {
                let entry = clients.consumers.entry((group, member)).or_default();
                if response.error_code == 0 && response.member_epoch >= 0 {
                    entry.0 = response.member_epoch;
                    if let Some(assignment) = &response.assignment {
                        entry.1 = assignment
                            .topic_partitions
                            .iter()
                            .map(|t| TopicPartitions {
                                topic_id: t.topic_id,
                                partitions: t.partitions.clone(),
                                ..Default::default()
                            })
                            .collect();
                    }
                } else {
                    // Fenced, unknown or gone: the client starts over.
                    *entry = (0, Vec::new());
                }
            }
        }
        Action::ConsumerDescribe => {
            let request = ConsumerGroupDescribeRequest {
                group_ids: GROUPS.iter().map(|g| (*g).to_owned()).collect(),
                ..Default::default()
            };
            h.send(GroupRequest::ConsumerGroupDescribe(request), 0);
        }
        Action::Join {
            group,
            who,
            instance,
            protocols: choice,
            session_ms,
            rebalance_ms,
            version,
        } => {
            let request = JoinGroupRequest {
                group_id: GROUPS[group].into(),
                session_timeout_ms: session_ms,
                rebalance_timeout_ms: rebalance_ms,
                member_id: clients.member(&who, group),
                group_instance_id: if version >= 5 {
                    instance.map(|i| INSTANCES[i].into())
                } else {
                    None
                },
                protocol_type: "consumer".into(),
                protocols: protocols(choice),
                ..Default::default()
            };
            let id = h.send(GroupRequest::JoinGroup(request), version);
            clients.joins.push((id, group));
        }
        Action::Sync {
            group,
            who,
            instance,
            generation,
            assign,
            version,
        } => {
            let member_id = clients.member(&who, group);
            let assignments = if assign {
                clients
                    .member_ids
                    .iter()
                    .map(|(m, _)| SyncGroupRequestAssignment {
                        member_id: m.clone(),
                        assignment: Bytes::from(m.clone().into_bytes()),
                        ..Default::default()
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let request = SyncGroupRequest {
                group_id: GROUPS[group].into(),
                generation_id: clients.generation(group, &generation),
                member_id,
                group_instance_id: if version >= 3 {
                    instance.map(|i| INSTANCES[i].into())
                } else {
                    None
                },
                assignments,
                ..Default::default()
            };
            h.send(GroupRequest::SyncGroup(request), version);
        }
        Action::Heartbeat {
            group,
            who,
            instance,
            generation,
        } => {
            let member_id = clients.member(&who, group);
            let generation = clients.generation(group, &generation);
            let instance = instance.map(|i| INSTANCES[i]);
            h.heartbeat_static(GROUPS[group], &member_id, instance, generation);
        }
        Action::Leave {
            group,
            members,
            version,
        } => {
            let members: Vec<MemberIdentity> = members
                .iter()
                .map(|(who, instance)| MemberIdentity {
                    member_id: clients.member(who, group),
                    group_instance_id: instance.map(|i| INSTANCES[i].into()),
                    ..Default::default()
                })
                .collect();
            let request = LeaveGroupRequest {
                group_id: GROUPS[group].into(),
                member_id: members
                    .first()
                    .map(|m| m.member_id.clone())
                    .unwrap_or_default(),
                members: if version >= 3 { members } else { Vec::new() },
                ..Default::default()
            };
            h.send(GroupRequest::LeaveGroup(request), version);
        }
        Action::Commit {
            group,
            who,
            generation,
            partitions,
            version,
        } => {
            let topics = partitions
                .iter()
                .map(|(topic, partition)| OffsetCommitRequestTopic {
                    name: TOPICS[*topic].into(),
                    partitions: vec![OffsetCommitRequestPartition {
                        partition_index: *partition,
                        committed_offset: h.now_ms,
                        committed_leader_epoch: if version >= 6 { 1 } else { -1 },
                        commit_timestamp: if version == 1 { h.now_ms } else { -1 },
                        committed_metadata: Some("m".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect();
            let request = OffsetCommitRequest {
                group_id: GROUPS[group].into(),
                generation_id_or_member_epoch: if version >= 1 {
                    clients.generation(group, &generation)
                } else {
                    -1
                },
                member_id: if version >= 1 {
                    clients.member(&who, group)
                } else {
                    String::new()
                },
                retention_time_ms: -1,
                topics,
                ..Default::default()
            };
            h.send(GroupRequest::OffsetCommit(request), version);
        }
        Action::Fetch {
            group,
            all,
            version,
        } => {
            let request = if version >= 8 {
                OffsetFetchRequest {
                    groups: vec![OffsetFetchRequestGroup {
                        group_id: GROUPS[group].into(),
                        topics: (!all).then(|| {
                            vec![OffsetFetchRequestTopics {
                                name: TOPICS[0].into(),
                                partition_indexes: vec![0, 1],
                                ..Default::default()
                            }]
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            } else {
                OffsetFetchRequest {
                    group_id: GROUPS[group].into(),
                    topics: (!all || version < 2).then(|| {
                        vec![OffsetFetchRequestTopic {
                            name: TOPICS[0].into(),
                            partition_indexes: vec![0, 1],
                            ..Default::default()
                        }]
                    }),
                    ..Default::default()
                }
            };
            h.send(GroupRequest::OffsetFetch(request), version);
        }
        Action::List {
            version,
            stable_only,
        } => {
            let states: &[&str] = if stable_only && version >= 4 {
                &["Stable"]
            } else {
                &[]
            };
            h.list(states, &[], version);
        }
        Action::Describe { version } => {
            h.describe(&GROUPS, version);
        }
        Action::DeleteGroups { group } => {
            h.delete_groups(&[GROUPS[group]]);
        }
        Action::OffsetDelete { group, topic } => {
            let request = OffsetDeleteRequest {
                group_id: GROUPS[group].into(),
                topics: vec![OffsetDeleteRequestTopic {
                    name: TOPICS[topic].into(),
                    partitions: vec![OffsetDeleteRequestPartition { partition_index: 0 }],
                }],
            };
            h.send(GroupRequest::OffsetDelete(request), 0);
        }
        Action::Advance { ms } => h.advance(ms),
        Action::Behave { group, who } => {
            let member_id = clients.member(&who, group);
            let answered = clients
                .joins
                .iter()
                .rev()
                .filter(|(_, g)| *g == group)
                .find_map(|(id, _)| match h.responses.get(id) {
                    Some(ResponseKind::JoinGroup(r))
                        if r.error_code == 0 && r.member_id == member_id =>
                    {
                        Some(r.clone())
                    }
                    _ => None,
                });
            match answered {
                Some(joined) if joined.generation_id == clients.generations[group] => {
                    let assignments = joined
                        .members
                        .iter()
                        .map(|m| SyncGroupRequestAssignment {
                            member_id: m.member_id.clone(),
                            assignment: Bytes::from(m.member_id.clone().into_bytes()),
                            ..Default::default()
                        })
                        .collect();
                    let request = SyncGroupRequest {
                        group_id: GROUPS[group].into(),
                        generation_id: joined.generation_id,
                        member_id,
                        assignments,
                        ..Default::default()
                    };
                    h.send(GroupRequest::SyncGroup(request), 5);
                }
                _ => {
                    let request = JoinGroupRequest {
                        group_id: GROUPS[group].into(),
                        session_timeout_ms: 10_000,
                        rebalance_timeout_ms: 30_000,
                        member_id,
                        protocol_type: "consumer".into(),
                        protocols: protocols(0),
                        ..Default::default()
                    };
                    let id = h.send(GroupRequest::JoinGroup(request), 9);
                    clients.joins.push((id, group));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn every_request_is_answered_exactly_once_and_records_rebuild_the_state(
        actions in prop::collection::vec(action(), 1..80),
        initial_delay_ms in prop::sample::select(vec![0, 100, 3_000]),
        group_max_size in prop::sample::select(vec![1, 2, 3, i32::MAX]),
    ) {
        let config = GroupConfig {
            group_min_session_timeout_ms: 0,
            group_max_session_timeout_ms: 30_000,
            group_initial_rebalance_delay_ms: initial_delay_ms,
            group_max_size,
            offsets_retention_minutes: 1,
            offsets_retention_check_interval_ms: 5_000,
            ..GroupConfig::default()
        };
        let mut h = Harness::new(config.clone());
        let out = h.coordinator.set_topics(h.now_ms, topic_infos());
        h.apply(out);
        let mut clients = Clients::default();
        for action in actions {
            run(&mut h, &mut clients, action);
        }

        // The log rebuilds the same offsets, and the same stable groups.
        let mut replayed = GroupCoordinator::new(config);
        for record in &h.log {
            replayed.replay(&record.key, record.value.as_deref()).unwrap();
        }
        replayed.finish_replay(h.now_ms);
        let mut replayed = Harness::with_coordinator(replayed, h.now_ms);
        let out = replayed.coordinator.set_topics(replayed.now_ms, topic_infos());
        replayed.apply(out);
        // Consumer groups come back as they were; classic groups are checked below.
        let (before, after) = (consumer_describe(&mut h), consumer_describe(&mut replayed));
        for (before, after) in before.groups.iter().zip(&after.groups) {
            if before.error_code == 0 {
                prop_assert_eq!(after, before);
            } else {
                prop_assert_ne!(after.error_code, 0, "{:?}", after);
            }
        }
        for group in GROUPS {
            prop_assert_eq!(replayed.fetch_all(group), h.fetch_all(group), "offsets of {}", group);
            let described = h.describe(&[group], 5);
            if described.groups[0].group_state == "Stable" {
                prop_assert_eq!(replayed.describe(&[group], 5), described, "group {}", group);
            }
        }

        // Every waiting JoinGroup and SyncGroup is answered once its rebalance ends.
        h.advance_in_steps(40_000, 20);
        h.assert_all_answered();
    }
}
