//! Consumer groups of KIP-848's protocol (ConsumerGroupHeartbeat, ConsumerGroupDescribe):
//! the coordinator computes the target assignment with a server-side assignor, and each
//! member reconciles towards it one heartbeat at a time, revoking before others may take
//! its partitions.
//!
//! # The model, as in Kafka
//!
//! - The *group epoch* goes up whenever something that changes the assignment changes: a
//!   member joins or leaves, a subscription changes, a subscribed topic is created,
//!   deleted or grows.
//! - The *target assignment* is computed for the group epoch by the assignor; its epoch is
//!   the *assignment epoch*.
//! - Each member has a *member epoch* and the partitions it may use (*assigned*). A member
//!   behind the assignment epoch first gives up (revokes) the partitions the target takes
//!   away, keeping its epoch, then moves to the assignment epoch and gets the partitions
//!   the target gives it, but only those no other member still holds (*unreleased*
//!   partitions come at a later heartbeat, once released).
//! - A member that does not revoke within its rebalance timeout, or does not heartbeat
//!   within the session timeout, is removed.
//!
//! Every change is written to `__consumer_offsets` as one snapshot record of the group
//! (see [`SNAPSHOT_KEY_VERSION`]), before the response that reveals it is sent.

use std::collections::{BTreeMap, BTreeSet};

use fjord_protocol::Uuid;
use fjord_protocol::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member as DescribedMember,
    TopicPartitions as DescribedTopicPartitions,
};
use fjord_protocol::messages::consumer_group_heartbeat_request::TopicPartitions as OwnedTopicPartitions;
use fjord_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as HeartbeatAssignment, TopicPartitions as HeartbeatTopicPartitions,
};
use fjord_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
};
use serde::{Deserialize, Serialize};

use crate::assignor::{
    MemberSubscription, RangeAssignor, ServerAssignor, SubscriptionPattern, TopicInfo,
    UniformAssignor,
};
use crate::coordinator::GroupCoordinator;
use crate::error::ErrorCode;
use crate::group::Group;
use crate::records::{self, RECORD_STRING_BYTES_MAX};
use crate::timers::Timer;
use crate::{GroupRecord, Output, RequestId};

/// The key version of Fjord's consumer group snapshot record in `__consumer_offsets`.
/// Kafka writes a consumer group as several record types (key versions 3 to 8); Fjord
/// writes the whole group as one JSON value under this key, which Kafka does not use
/// (ADR 0005).
pub(crate) const SNAPSHOT_KEY_VERSION: i16 = 1000;

/// The member epoch that asks to join (or rejoin from scratch).
const JOIN_EPOCH: i32 = 0;
/// The member epoch that asks to leave the group.
const LEAVE_EPOCH: i32 = -1;
/// The member epoch of a static member that leaves and will come back (KIP-848): its
/// partitions stay reserved until its session times out.
const STATIC_LEAVE_EPOCH: i32 = -2;

/// The protocol type and group type of these groups.
pub(crate) const CONSUMER_GROUP_TYPE: &str = "consumer";

/// Internal topics that regular expressions never match, as in Kafka.
const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

/// Partitions by topic id.
pub(crate) type Partitions = BTreeMap<Uuid, BTreeSet<i32>>;

/// Where a member is in its reconciliation, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MemberState {
    /// The member has its whole target assignment for its epoch.
    Stable,
    /// The member must revoke partitions before it moves to the next epoch.
    UnrevokedPartitions,
    /// The member is at the assignment epoch but waits for partitions other members
    /// still hold.
    UnreleasedPartitions,
}

/// A member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    /// Sorted and without duplicates.
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    #[serde(with = "partitions_serde")]
    pub assigned: Partitions,
    #[serde(with = "partitions_serde")]
    pub pending_revocation: Partitions,
}

/// The state of a consumer group, kept in [`Group::consumer`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConsumerGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    /// The assignor that computed the target assignment.
    pub assignor_name: String,
    /// The target assignment of every member, by member id.
    #[serde(with = "target_serde")]
    pub target: BTreeMap<String, Partitions>,
    pub members: BTreeMap<String, ConsumerMember>,
    /// The subscribed topics (id, name and partition count, sorted) the group epoch was
    /// last bumped for: when they differ, the assignment must be computed again.
    pub subscribed_topics: Vec<(String, i32)>,
}

/// A consumer group's state, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

impl ConsumerGroup {
    pub(crate) fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch != self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self.members.values().any(|m| {
            m.member_epoch != STATIC_LEAVE_EPOCH
                && (m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        }) {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The member holding `instance_id`, if any.
    fn static_member(&self, instance_id: &str) -> Option<&ConsumerMember> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
    }

    /// Whether a member subscribes to `topic` by name or by regular expression.
    pub(crate) fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.members.values().any(|m| {
            m.subscribed_topic_names.iter().any(|t| t == topic)
                || m.subscribed_topic_regex.as_deref().is_some_and(|regex| {
                    SubscriptionPattern::new(regex).is_ok_and(|p| p.matches(topic))
                })
        })
    }

    /// Who holds each partition (assigned or still to be revoked), except `except`.
    fn owners(&self, except: &str) -> BTreeSet<(Uuid, i32)> {
        let mut owned = BTreeSet::new();
        for member in self.members.values().filter(|m| m.member_id != except) {
            for partitions in [&member.assigned, &member.pending_revocation] {
                for (topic, ids) in partitions {
                    owned.extend(ids.iter().map(|p| (*topic, *p)));
                }
            }
        }
        owned
    }
}

/// The topics a member subscribes to, by name, among the topics that exist.
fn member_topics(member: &ConsumerMember, topics: &BTreeMap<Uuid, TopicInfo>) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = member.subscribed_topic_names.iter().cloned().collect();
    if let Some(pattern) = member
        .subscribed_topic_regex
        .as_deref()
        .and_then(|regex| SubscriptionPattern::new(regex).ok())
    {
        names.extend(
            pattern.matching_topics(
                topics
                    .values()
                    .map(|t| t.name.as_str())
                    .filter(|name| !INTERNAL_TOPICS.contains(name)),
            ),
        );
    }
    names
}

/// The subscribed topics of the whole group that exist, with their partition counts.
fn subscribed_topics(
    group: &ConsumerGroup,
    topics: &BTreeMap<Uuid, TopicInfo>,
) -> Vec<(String, i32)> {
    let mut names = BTreeSet::new();
    for member in group.members.values() {
        names.extend(member_topics(member, topics));
    }
    let mut subscribed: Vec<(String, i32)> = topics
        .values()
        .filter(|t| names.contains(&t.name))
        .map(|t| (format!("{}:{}", t.id, t.name), t.partitions))
        .collect();
    subscribed.sort();
    subscribed
}

/// Which assignor computes the target: the one most members ask for, else the default
/// (`uniform`, as in Kafka); ties go to the name first in alphabetical order.
fn choose_assignor(group: &ConsumerGroup) -> &'static str {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for member in group.members.values() {
        if let Some(name) = member.server_assignor.as_deref() {
            *votes.entry(name).or_default() += 1;
        }
    }
    let best = votes
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(name, _)| *name);
    match best {
        Some(RangeAssignor::NAME) => RangeAssignor::NAME,
        _ => UniformAssignor::NAME,
    }
}

/// Computes the target assignment for the group epoch.
fn compute_target(group: &mut ConsumerGroup, topics: &BTreeMap<Uuid, TopicInfo>) {
    let members: Vec<MemberSubscription> = group
        .members
        .values()
        .map(|member| MemberSubscription {
            member_id: member.member_id.clone(),
            rack: member.rack_id.clone(),
            subscribed_topics: member_topics(member, topics),
            // Starting from the previous target keeps the assignment sticky.
            current: group
                .target
                .get(&member.member_id)
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    let name = choose_assignor(group);
    let target = if name == RangeAssignor::NAME {
        RangeAssignor.assign(&members, topics)
    } else {
        UniformAssignor.assign(&members, topics)
    };
    group.target = target;
    group.assignment_epoch = group.group_epoch;
    group.assignor_name = name.to_owned();
}

/// Moves a member towards its target assignment (Kafka's CurrentAssignmentBuilder).
/// `owned` is what the member reported owning in this heartbeat, `None` if it did not
/// say.
fn reconcile(group: &mut ConsumerGroup, member_id: &str, owned: Option<&Partitions>) {
    let Some(member) = group.members.get(member_id) else {
        return;
    };
    if member.member_epoch == STATIC_LEAVE_EPOCH {
        return;
    }
    let proceed = match member.state {
        MemberState::Stable => member.member_epoch != group.assignment_epoch,
        // Only once the member says it no longer owns the revoked partitions.
        MemberState::UnrevokedPartitions => {
            owned.is_some_and(|owned| !owns_any(owned, &member.pending_revocation))
        }
        MemberState::UnreleasedPartitions => true,
    };
    if !proceed {
        return;
    }
    let owners = group.owners(member_id);
    let target = group.target.get(member_id).cloned().unwrap_or_default();
    let Some(member) = group.members.get_mut(member_id) else {
        return;
    };
    let mut kept = Partitions::new();
    let mut revoke = Partitions::new();
    let mut add = Partitions::new();
    let mut unreleased = false;
    let topic_ids: BTreeSet<Uuid> = target
        .keys()
        .chain(member.assigned.keys())
        .copied()
        .collect();
    let none = BTreeSet::new();
    for topic in topic_ids {
        let want = target.get(&topic).unwrap_or(&none);
        let have = member.assigned.get(&topic).unwrap_or(&none);
        for &p in have {
            if want.contains(&p) {
                kept.entry(topic).or_default().insert(p);
            } else {
                revoke.entry(topic).or_default().insert(p);
            }
        }
        for &p in want.difference(have) {
            if owners.contains(&(topic, p)) {
                unreleased = true;
            } else {
                add.entry(topic).or_default().insert(p);
            }
        }
    }
    // A member that has already dropped the partitions (it says so) need not be asked.
    if !revoke.is_empty() && owned.is_none_or(|owned| owns_any(owned, &revoke)) {
        member.state = MemberState::UnrevokedPartitions;
        member.assigned = kept;
        member.pending_revocation = revoke;
        return;
    }
    for (topic, partitions) in add {
        kept.entry(topic).or_default().extend(partitions);
    }
    member.assigned = kept;
    member.pending_revocation = Partitions::new();
    if member.member_epoch != group.assignment_epoch {
        member.previous_member_epoch = member.member_epoch;
        member.member_epoch = group.assignment_epoch;
    }
    member.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
}

fn owns_any(owned: &Partitions, partitions: &Partitions) -> bool {
    partitions.iter().any(|(topic, ids)| {
        owned
            .get(topic)
            .is_some_and(|owned| !owned.is_disjoint(ids))
    })
}

fn is_subset(small: &Partitions, big: &Partitions) -> bool {
    small
        .iter()
        .all(|(topic, ids)| ids.is_empty() || big.get(topic).is_some_and(|big| ids.is_subset(big)))
}

fn from_owned(owned: &[OwnedTopicPartitions]) -> Partitions {
    let mut partitions = Partitions::new();
    for topic in owned {
        if !topic.partitions.is_empty() {
            partitions
                .entry(topic.topic_id)
                .or_default()
                .extend(topic.partitions.iter().copied());
        }
    }
    partitions
}

/// A heartbeat answered with an error.
fn heartbeat_error(error: ErrorCode, message: impl Into<String>) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse {
        error_code: error.code(),
        error_message: Some(message.into()),
        member_epoch: -1,
        ..Default::default()
    }
}

impl GroupCoordinator {
    /// Handles ConsumerGroupHeartbeat.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn consumer_group_heartbeat(
        &mut self,
        now_ms: i64,
        id: RequestId,
        version: i16,
        request: ConsumerGroupHeartbeatRequest,
        client_id: &str,
        client_host: &str,
        out: &mut Output,
    ) {
        let response =
            match self.heartbeat_inner(now_ms, version, request, client_id, client_host, out) {
                Ok(response) => response,
                Err((error, message)) => heartbeat_error(error, message),
            };
        out.responses.push((
            id,
            fjord_protocol::ResponseKind::ConsumerGroupHeartbeat(response),
        ));
    }

    fn heartbeat_inner(
        &mut self,
        now_ms: i64,
        version: i16,
        request: ConsumerGroupHeartbeatRequest,
        client_id: &str,
        client_host: &str,
        out: &mut Output,
    ) -> Result<ConsumerGroupHeartbeatResponse, (ErrorCode, String)> {
        let invalid = |message: &str| Err((ErrorCode::INVALID_REQUEST, message.to_owned()));
        let epoch = request.member_epoch;
        if request.group_id.is_empty() {
            return invalid("GroupId can't be empty.");
        }
        if request.group_id.len() > RECORD_STRING_BYTES_MAX {
            return Err((
                ErrorCode::INVALID_GROUP_ID,
                "GroupId is too long.".to_owned(),
            ));
        }
        if request.instance_id.as_deref() == Some("") {
            return invalid("InstanceId can't be empty.");
        }
        if request.rack_id.as_deref() == Some("") {
            return invalid("RackId can't be empty.");
        }
        if (version >= 1 || epoch != JOIN_EPOCH) && request.member_id.is_empty() {
            return invalid("MemberId can't be empty.");
        }
        if request.member_id.len() > RECORD_STRING_BYTES_MAX {
            return invalid("MemberId is too long.");
        }
        if epoch == JOIN_EPOCH {
            if request.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if request
                .topic_partitions
                .as_ref()
                .is_none_or(|t| !t.is_empty())
            {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            if request.subscribed_topic_names.is_none() && request.subscribed_topic_regex.is_none()
            {
                return invalid(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        } else if epoch == STATIC_LEAVE_EPOCH {
            if request.instance_id.is_none() {
                return invalid("InstanceId can't be null.");
            }
        } else if epoch < STATIC_LEAVE_EPOCH {
            return invalid(&format!("MemberEpoch is invalid: {epoch}."));
        }
        if request.rebalance_timeout_ms < -1 {
            return invalid("RebalanceTimeoutMs can't be negative.");
        }
        let regex = match request.subscribed_topic_regex.as_deref() {
            Some(regex) if !regex.is_empty() => match SubscriptionPattern::new(regex) {
                Ok(_) => Some(Some(regex.to_owned())),
                Err(error) => return Err((error.error_code(), error.to_string())),
            },
            Some(_) => Some(None),
            None => None,
        };
        if let Some(name) = request.server_assignor.as_deref()
            && name != UniformAssignor::NAME
            && name != RangeAssignor::NAME
        {
            return Err((
                ErrorCode::UNSUPPORTED_ASSIGNOR,
                format!(
                    "ServerAssignor {name} is not supported. Supported assignors: uniform, range."
                ),
            ));
        }
        if let Some(names) = &request.subscribed_topic_names
            && names.iter().any(|n| n.len() > RECORD_STRING_BYTES_MAX)
        {
            return invalid("A subscribed topic name is too long.");
        }

        if epoch == LEAVE_EPOCH || epoch == STATIC_LEAVE_EPOCH {
            return self.consumer_group_leave(now_ms, &request, out);
        }

        // The group: a new one, a consumer group, or an empty classic group converted.
        let group_id = request.group_id.clone();
        let created = !self.groups.contains_key(&group_id);
        match self.groups.get_mut(&group_id) {
            None if epoch != JOIN_EPOCH => {
                return Err((
                    ErrorCode::GROUP_ID_NOT_FOUND,
                    format!("Group {group_id} not found."),
                ));
            }
            None => {
                let mut group = Group::new(group_id.clone(), now_ms);
                group.consumer = Some(Box::default());
                self.groups.insert(group_id.clone(), group);
            }
            Some(group) if group.consumer.is_none() => {
                if !group.is_empty_classic() {
                    return Err((
                        ErrorCode::GROUP_ID_NOT_FOUND,
                        format!("Group {group_id} is not a consumer group."),
                    ));
                }
                if epoch != JOIN_EPOCH {
                    return Err((
                        ErrorCode::UNKNOWN_MEMBER_ID,
                        format!(
                            "Member {} is not a member of group {group_id}.",
                            request.member_id
                        ),
                    ));
                }
                // An empty classic group (offsets only) becomes a consumer group and
                // keeps its offsets; its classic metadata record goes.
                group.consumer = Some(Box::default());
                group.protocol_type = None;
                group.protocol_name = None;
                if let Ok(key) = records::group_metadata_key(&group_id) {
                    out.records.push(GroupRecord {
                        group_id: group_id.clone(),
                        key,
                        value: None,
                    });
                }
            }
            Some(_) => {}
        }
        let result = self.heartbeat_member(now_ms, request, regex, client_id, client_host, out);
        if result.is_err()
            && created
            && self.groups.get(&group_id).is_some_and(|g| {
                g.consumer.as_ref().is_some_and(|c| c.members.is_empty()) && g.offsets.is_empty()
            })
        {
            self.groups.remove(&group_id);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn heartbeat_member(
        &mut self,
        now_ms: i64,
        request: ConsumerGroupHeartbeatRequest,
        regex: Option<Option<String>>,
        client_id: &str,
        client_host: &str,
        out: &mut Output,
    ) -> Result<ConsumerGroupHeartbeatResponse, (ErrorCode, String)> {
        let epoch = request.member_epoch;
        let group_id = request.group_id.clone();
        let max_size = usize::try_from(self.config.group_consumer_max_size).unwrap_or(0);
        let session_timeout_ms = i64::from(self.config.group_consumer_session_timeout_ms);
        let heartbeat_interval_ms = self.config.group_consumer_heartbeat_interval_ms;
        let record_bytes_max = self.config.group_metadata_record_bytes_max;
        let member_id = if request.member_id.is_empty() {
            // Version 0: the coordinator names new members.
            self.member_ids.next(client_id)
        } else {
            request.member_id.clone()
        };
        let topics = &self.topics;
        let Some(group) = self.groups.get_mut(&group_id) else {
            return Err((ErrorCode::UNKNOWN_SERVER_ERROR, "group vanished".to_owned()));
        };
        let Some(consumer) = group.consumer.as_deref_mut() else {
            return Err((
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "not a consumer group".to_owned(),
            ));
        };
        let before = consumer.clone();
        let owned = request.topic_partitions.as_deref().map(from_owned);
        let mut timers_to_clear = Vec::new();

        let mut bump = false;
        if epoch == JOIN_EPOCH {
            let replaced = match request.instance_id.as_deref() {
                Some(instance) => match consumer.static_member(instance) {
                    Some(old) if old.member_id == member_id => None,
                    Some(old) if old.member_epoch != STATIC_LEAVE_EPOCH => {
                        return Err((
                            ErrorCode::UNRELEASED_INSTANCE_ID,
                            format!(
                                "Static member {} with instance id {instance} cannot join the group because the instance id is owned by member {}.",
                                member_id, old.member_id
                            ),
                        ));
                    }
                    Some(old) => Some(old.member_id.clone()),
                    None => None,
                },
                None => None,
            };
            if let Some(old_id) = replaced {
                // A static member comes back: the new member id takes over the old one's
                // epoch and partitions, without a rebalance.
                if let Some(mut old) = consumer.members.remove(&old_id) {
                    timers_to_clear.push(old_id.clone());
                    old.member_id = member_id.clone();
                    old.member_epoch = old.previous_member_epoch.max(0);
                    consumer.members.insert(member_id.clone(), old);
                }
                if let Some(target) = consumer.target.remove(&old_id) {
                    consumer.target.insert(member_id.clone(), target);
                }
            } else if let Some(member) = consumer.members.get_mut(&member_id) {
                // The member lost its state and starts over: it owns nothing now.
                member.assigned.clear();
                member.pending_revocation.clear();
                member.previous_member_epoch = member.member_epoch;
                member.member_epoch = JOIN_EPOCH;
                member.state = MemberState::Stable;
            } else {
                if consumer.members.len() >= max_size {
                    return Err((
                        ErrorCode::GROUP_MAX_SIZE_REACHED,
                        format!(
                            "The consumer group has reached its maximum capacity of {max_size} members."
                        ),
                    ));
                }
                consumer.members.insert(
                    member_id.clone(),
                    ConsumerMember {
                        member_id: member_id.clone(),
                        instance_id: request.instance_id.clone(),
                        rack_id: None,
                        client_id: client_id.to_owned(),
                        client_host: client_host.to_owned(),
                        rebalance_timeout_ms: request.rebalance_timeout_ms,
                        subscribed_topic_names: Vec::new(),
                        subscribed_topic_regex: None,
                        server_assignor: None,
                        member_epoch: JOIN_EPOCH,
                        previous_member_epoch: -1,
                        state: MemberState::Stable,
                        assigned: Partitions::new(),
                        pending_revocation: Partitions::new(),
                    },
                );
                bump = true;
            }
        } else {
            let Some(member) = consumer.members.get(&member_id) else {
                return Err((
                    ErrorCode::UNKNOWN_MEMBER_ID,
                    format!("Member {member_id} is not a member of group {group_id}."),
                ));
            };
            if let Some(instance) = request.instance_id.as_deref()
                && member.instance_id.as_deref() != Some(instance)
            {
                return Err((
                    ErrorCode::FENCED_INSTANCE_ID,
                    format!(
                        "Static member {member_id} with instance id {instance} was fenced by another member."
                    ),
                ));
            }
            // A member one epoch behind may have lost the response that moved it on; it
            // is let in if what it owns is still its own.
            let lost_response = epoch == member.previous_member_epoch
                && owned
                    .as_ref()
                    .is_some_and(|owned| is_subset(owned, &member.assigned));
            if epoch != member.member_epoch && !lost_response {
                return Err((
                    ErrorCode::FENCED_MEMBER_EPOCH,
                    format!(
                        "The consumer group member has a member epoch ({epoch}) different from the one known by the group coordinator ({}).",
                        member.member_epoch
                    ),
                ));
            }
        }

        // The member's settings; subscription changes move the group to a new epoch.
        let Some(member) = consumer.members.get_mut(&member_id) else {
            return Err((
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "member vanished".to_owned(),
            ));
        };
        member.client_id = client_id.to_owned();
        member.client_host = client_host.to_owned();
        if request.rebalance_timeout_ms != -1 {
            member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        }
        if let Some(rack) = &request.rack_id {
            member.rack_id = Some(rack.clone());
        }
        if let Some(names) = &request.subscribed_topic_names {
            let names: Vec<String> = names
                .iter()
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if names != member.subscribed_topic_names {
                member.subscribed_topic_names = names;
                bump = true;
            }
        }
        if let Some(regex) = regex
            && regex != member.subscribed_topic_regex
        {
            member.subscribed_topic_regex = regex;
            bump = true;
        }
        if let Some(assignor) = &request.server_assignor
            && member.server_assignor.as_deref() != Some(assignor)
        {
            member.server_assignor = Some(assignor.clone());
            bump = true;
        }
        let subscribed = subscribed_topics(consumer, topics);
        if subscribed != consumer.subscribed_topics {
            consumer.subscribed_topics = subscribed;
            bump = true;
        }
        if bump {
            consumer.group_epoch += 1;
        }
        if consumer.group_epoch > consumer.assignment_epoch {
            compute_target(consumer, topics);
        }
        let assigned_before = consumer.members.get(&member_id).map(|m| m.assigned.clone());
        reconcile(consumer, &member_id, owned.as_ref());
        // The group must fit one record of `__consumer_offsets`; a change that would
        // not is undone and refused, as Kafka refuses a rebalance whose record is too
        // large for the log. A heartbeat that changed nothing serializes nothing.
        let snapshot = if *consumer == before {
            None
        } else {
            match serde_json::to_vec(&*consumer) {
                Ok(value) if value.len() <= record_bytes_max => Some(value),
                Ok(value) => {
                    *consumer = before;
                    return Err((
                        ErrorCode::UNKNOWN_SERVER_ERROR,
                        format!(
                            "The group's state would take {} bytes, over the {record_bytes_max}-byte record limit.",
                            value.len()
                        ),
                    ));
                }
                Err(error) => {
                    *consumer = before;
                    return Err((ErrorCode::UNKNOWN_SERVER_ERROR, error.to_string()));
                }
            }
        };
        let Some(member) = consumer.members.get(&member_id) else {
            return Err((
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "member vanished".to_owned(),
            ));
        };

        let full_request = request.rebalance_timeout_ms != -1
            && (request.subscribed_topic_names.is_some()
                || request.subscribed_topic_regex.is_some())
            && request.topic_partitions.is_some();
        let send_assignment = epoch == JOIN_EPOCH
            || full_request
            || assigned_before.as_ref() != Some(&member.assigned)
            || owned
                .as_ref()
                .is_some_and(|owned| *owned != member.assigned);
        let response = ConsumerGroupHeartbeatResponse {
            error_code: ErrorCode::NONE.code(),
            member_id: Some(member_id.clone()),
            member_epoch: member.member_epoch,
            heartbeat_interval_ms,
            assignment: send_assignment.then(|| HeartbeatAssignment {
                topic_partitions: member
                    .assigned
                    .iter()
                    .map(|(topic, partitions)| HeartbeatTopicPartitions {
                        topic_id: *topic,
                        partitions: partitions.iter().copied().collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let revoking = member.state == MemberState::UnrevokedPartitions;
        let revocation_deadline =
            now_ms.saturating_add(i64::from(member.rebalance_timeout_ms.max(0)));

        // Timers: the session restarts; a member that must revoke has until its
        // rebalance timeout.
        for old_id in timers_to_clear {
            self.timers.clear(&Timer::ConsumerSession {
                group: group_id.clone(),
                member: old_id.clone(),
            });
            self.timers.clear(&Timer::ConsumerRevocation {
                group: group_id.clone(),
                member: old_id,
            });
        }
        self.timers.set(
            Timer::ConsumerSession {
                group: group_id.clone(),
                member: member_id.clone(),
            },
            now_ms.saturating_add(session_timeout_ms),
        );
        let revocation = Timer::ConsumerRevocation {
            group: group_id.clone(),
            member: member_id.clone(),
        };
        if revoking {
            if self.timers.get_deadline(&revocation).is_none() {
                self.timers.set(revocation, revocation_deadline);
            }
        } else {
            self.timers.clear(&revocation);
        }
        if let Some(value) = snapshot {
            push_snapshot(&group_id, value, out);
        }
        Ok(response)
    }

    /// A member leaves (epoch -1), or a static member leaves for a while (epoch -2).
    fn consumer_group_leave(
        &mut self,
        now_ms: i64,
        request: &ConsumerGroupHeartbeatRequest,
        out: &mut Output,
    ) -> Result<ConsumerGroupHeartbeatResponse, (ErrorCode, String)> {
        let group_id = &request.group_id;
        let unknown = || {
            Err((
                ErrorCode::UNKNOWN_MEMBER_ID,
                format!(
                    "Member {} is not a member of group {group_id}.",
                    request.member_id
                ),
            ))
        };
        let Some(consumer) = self
            .groups
            .get_mut(group_id)
            .and_then(|g| g.consumer.as_deref_mut())
        else {
            return Err((
                ErrorCode::GROUP_ID_NOT_FOUND,
                format!("Group {group_id} not found."),
            ));
        };
        let member_id = match request.instance_id.as_deref() {
            Some(instance) => match consumer.static_member(instance) {
                Some(member) if member.member_id == request.member_id => member.member_id.clone(),
                Some(_) => {
                    return Err((
                        ErrorCode::FENCED_INSTANCE_ID,
                        format!(
                            "Static member {} with instance id {instance} was fenced.",
                            request.member_id
                        ),
                    ));
                }
                None => return unknown(),
            },
            None if consumer.members.contains_key(&request.member_id) => request.member_id.clone(),
            None => return unknown(),
        };
        let before = consumer.clone();
        if request.member_epoch == STATIC_LEAVE_EPOCH {
            // The member keeps its partitions until it comes back or its session ends.
            if let Some(member) = consumer.members.get_mut(&member_id) {
                if member.member_epoch != STATIC_LEAVE_EPOCH {
                    member.previous_member_epoch = member.member_epoch;
                }
                member.member_epoch = STATIC_LEAVE_EPOCH;
            }
            self.timers.clear(&Timer::ConsumerRevocation {
                group: group_id.clone(),
                member: member_id.clone(),
            });
            // It has a session's time from now to come back, as in Kafka.
            let session_timeout_ms = i64::from(self.config.group_consumer_session_timeout_ms);
            self.timers.set(
                Timer::ConsumerSession {
                    group: group_id.clone(),
                    member: member_id.clone(),
                },
                now_ms.saturating_add(session_timeout_ms),
            );
        } else {
            self.remove_consumer_member(now_ms, group_id, &member_id);
        }
        self.write_consumer_snapshot(group_id, Some(&before), out);
        Ok(ConsumerGroupHeartbeatResponse {
            error_code: ErrorCode::NONE.code(),
            member_id: Some(member_id),
            member_epoch: request.member_epoch,
            heartbeat_interval_ms: 0,
            ..Default::default()
        })
    }

    /// Removes a member: the group moves to a new epoch so that its partitions go to
    /// the others.
    fn remove_consumer_member(&mut self, now_ms: i64, group_id: &str, member_id: &str) {
        for timer in [
            Timer::ConsumerSession {
                group: group_id.to_owned(),
                member: member_id.to_owned(),
            },
            Timer::ConsumerRevocation {
                group: group_id.to_owned(),
                member: member_id.to_owned(),
            },
        ] {
            self.timers.clear(&timer);
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let Some(consumer) = group.consumer.as_deref_mut() else {
            return;
        };
        if consumer.members.remove(member_id).is_none() {
            return;
        }
        consumer.target.remove(member_id);
        consumer.group_epoch += 1;
        consumer.subscribed_topics = subscribed_topics(consumer, &self.topics);
        if consumer.members.is_empty() {
            // The group is empty from now on: its offsets expire relative to this.
            group.state_timestamp_ms = Some(now_ms);
        }
    }

    /// A member's session or revocation deadline passed: it is removed.
    pub(crate) fn on_consumer_member_expired(
        &mut self,
        now_ms: i64,
        group_id: &str,
        member_id: &str,
        revocation: bool,
        out: &mut Output,
    ) {
        let Some(consumer) = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_deref())
        else {
            return;
        };
        let Some(member) = consumer.members.get(member_id) else {
            return;
        };
        if revocation && member.state != MemberState::UnrevokedPartitions {
            return;
        }
        let before = consumer.clone();
        self.remove_consumer_member(now_ms, group_id, member_id);
        self.write_consumer_snapshot(group_id, Some(&before), out);
    }

    /// Topics were created, deleted or grew: the groups that subscribe to them move to a
    /// new epoch, so that their members get the new assignment at their next heartbeat.
    pub(crate) fn consumer_groups_on_topics(&mut self, out: &mut Output) {
        let ids: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.consumer.as_ref().is_some_and(|c| !c.members.is_empty()))
            .map(|(id, _)| id.clone())
            .collect();
        for group_id in ids {
            let Some(consumer) = self
                .groups
                .get_mut(&group_id)
                .and_then(|g| g.consumer.as_deref_mut())
            else {
                continue;
            };
            let subscribed = subscribed_topics(consumer, &self.topics);
            if subscribed != consumer.subscribed_topics {
                let before = consumer.clone();
                consumer.subscribed_topics = subscribed;
                consumer.group_epoch += 1;
                self.write_consumer_snapshot(&group_id, Some(&before), out);
            }
        }
    }

    /// Appends the group's snapshot if it differs from `before`.
    pub(crate) fn write_consumer_snapshot(
        &self,
        group_id: &str,
        before: Option<&ConsumerGroup>,
        out: &mut Output,
    ) {
        let Some(consumer) = self
            .groups
            .get(group_id)
            .and_then(|g| g.consumer.as_deref())
        else {
            return;
        };
        if before == Some(consumer) {
            return;
        }
        if let Ok(value) = serde_json::to_vec(consumer) {
            push_snapshot(group_id, value, out);
        }
    }

    /// Handles ConsumerGroupDescribe.
    pub(crate) fn consumer_group_describe(
        &self,
        request: &ConsumerGroupDescribeRequest,
    ) -> ConsumerGroupDescribeResponse {
        let topic_name = |id: &Uuid| {
            self.topics
                .get(id)
                .map(|t| t.name.clone())
                .unwrap_or_default()
        };
        let described = |partitions: &Partitions| DescribedAssignment {
            topic_partitions: partitions
                .iter()
                .map(|(id, ps)| DescribedTopicPartitions {
                    topic_id: *id,
                    topic_name: topic_name(id),
                    partitions: ps.iter().copied().collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let groups = request
            .group_ids
            .iter()
            .map(|group_id| {
                let group = self.groups.get(group_id);
                let Some(consumer) = group.and_then(|g| g.consumer.as_deref()) else {
                    let message = if group.is_some() {
                        format!("Group {group_id} is not a consumer group.")
                    } else {
                        format!("Group {group_id} not found.")
                    };
                    return DescribedGroup {
                        error_code: ErrorCode::GROUP_ID_NOT_FOUND.code(),
                        error_message: Some(message),
                        group_id: group_id.clone(),
                        group_state: "Dead".to_owned(),
                        authorized_operations: crate::admin::AUTHORIZED_OPERATIONS_OMITTED,
                        ..Default::default()
                    };
                };
                DescribedGroup {
                    error_code: ErrorCode::NONE.code(),
                    group_id: group_id.clone(),
                    group_state: consumer.state().name().to_owned(),
                    group_epoch: consumer.group_epoch,
                    assignment_epoch: consumer.assignment_epoch,
                    assignor_name: if consumer.assignor_name.is_empty() {
                        UniformAssignor::NAME.to_owned()
                    } else {
                        consumer.assignor_name.clone()
                    },
                    members: consumer
                        .members
                        .values()
                        .map(|m| DescribedMember {
                            member_id: m.member_id.clone(),
                            instance_id: m.instance_id.clone(),
                            rack_id: m.rack_id.clone(),
                            member_epoch: m.member_epoch,
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            subscribed_topic_names: m.subscribed_topic_names.clone(),
                            subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                            assignment: described(&m.assigned),
                            target_assignment: described(
                                consumer
                                    .target
                                    .get(&m.member_id)
                                    .unwrap_or(&Partitions::new()),
                            ),
                            ..Default::default()
                        })
                        .collect(),
                    authorized_operations: if request.include_authorized_operations {
                        crate::admin::GROUP_OPERATIONS_ALL
                    } else {
                        crate::admin::AUTHORIZED_OPERATIONS_OMITTED
                    },
                    ..Default::default()
                }
            })
            .collect();
        ConsumerGroupDescribeResponse {
            groups,
            ..Default::default()
        }
    }

    /// Checks an OffsetCommit (version >= 9 carries the member epoch) or OffsetFetch
    /// against a consumer group's members (Kafka's ConsumerGroup.validateOffsetCommit).
    pub(crate) fn validate_consumer_member(
        consumer: &ConsumerGroup,
        member_id: &str,
        member_epoch: i32,
        version_has_epoch: bool,
    ) -> Option<ErrorCode> {
        if member_epoch < 0 && member_id.is_empty() {
            // The admin client or a consumer outside group management: only while no
            // member's progress could be overwritten.
            return (!consumer.members.is_empty()).then_some(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        let Some(member) = consumer.members.get(member_id) else {
            return Some(ErrorCode::UNKNOWN_MEMBER_ID);
        };
        if !version_has_epoch {
            // Classic clients cannot be members of a consumer group here.
            return Some(ErrorCode::UNSUPPORTED_VERSION);
        }
        (member.member_epoch != member_epoch).then_some(ErrorCode::STALE_MEMBER_EPOCH)
    }
}

/// Queues a group's serialized snapshot as a record.
fn push_snapshot(group_id: &str, value: Vec<u8>, out: &mut Output) {
    if let Ok(key) = snapshot_key(group_id) {
        out.records.push(GroupRecord {
            group_id: group_id.to_owned(),
            key,
            value: Some(bytes::Bytes::from(value)),
        });
    }
}

/// The key of a consumer group's snapshot record.
pub(crate) fn snapshot_key(group_id: &str) -> Result<bytes::Bytes, fjord_protocol::EncodeError> {
    records::key_with_group(SNAPSHOT_KEY_VERSION, group_id)
}

/// Reads a snapshot value.
pub(crate) fn parse_snapshot(value: &[u8]) -> Result<ConsumerGroup, String> {
    serde_json::from_slice(value).map_err(|e| e.to_string())
}

/// Arms the session timers of a replayed group's members (and revocation timers of
/// those that must revoke): they have a session's time to come back.
pub(crate) fn arm_replayed_timers(
    coordinator_timers: &mut crate::timers::Timers,
    group_id: &str,
    consumer: &ConsumerGroup,
    now_ms: i64,
    session_timeout_ms: i64,
) {
    for member in consumer.members.values() {
        coordinator_timers.set(
            Timer::ConsumerSession {
                group: group_id.to_owned(),
                member: member.member_id.clone(),
            },
            now_ms.saturating_add(session_timeout_ms),
        );
        if member.state == MemberState::UnrevokedPartitions {
            coordinator_timers.set(
                Timer::ConsumerRevocation {
                    group: group_id.to_owned(),
                    member: member.member_id.clone(),
                },
                now_ms.saturating_add(i64::from(member.rebalance_timeout_ms.max(0))),
            );
        }
    }
}

/// Topic ids as 16-byte arrays in JSON.
mod partitions_serde {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(p: &Partitions, s: S) -> Result<S::Ok, S::Error> {
        let list: Vec<([u8; 16], &BTreeSet<i32>)> = p.iter().map(|(id, ps)| (id.0, ps)).collect();
        list.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Partitions, D::Error> {
        let list: Vec<([u8; 16], BTreeSet<i32>)> = Vec::deserialize(d)?;
        Ok(list.into_iter().map(|(id, ps)| (Uuid(id), ps)).collect())
    }
}

/// Target assignments, topic ids as 16-byte arrays in JSON.
mod target_serde {
    use super::*;
    use serde::{Deserializer, Serializer};

    type Wire = BTreeMap<String, Vec<([u8; 16], BTreeSet<i32>)>>;

    pub(super) fn serialize<S: Serializer>(
        t: &BTreeMap<String, Partitions>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let wire: Wire = t
            .iter()
            .map(|(m, p)| {
                (
                    m.clone(),
                    p.iter().map(|(id, ps)| (id.0, ps.clone())).collect(),
                )
            })
            .collect();
        wire.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Partitions>, D::Error> {
        let wire = Wire::deserialize(d)?;
        Ok(wire
            .into_iter()
            .map(|(m, p)| (m, p.into_iter().map(|(id, ps)| (Uuid(id), ps)).collect()))
            .collect())
    }
}
