//! One classic group: its state, generation, members and the bookkeeping Kafka's
//! GroupMetadata keeps about them. The rebalance protocol that drives these lives in
//! `membership.rs`; this file only keeps the group consistent.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use fjord_protocol::messages::join_group_response::JoinGroupResponseMember;

use crate::error::ErrorCode;
use crate::member::{Member, PendingRequest};
use crate::offsets::Offsets;
use crate::protocol::{CONSUMER_PROTOCOL_TYPE, select_protocol, union_of_subscriptions};
use crate::records::{GroupMetadataValue, MemberMetadataValue};

/// The states of a classic group, with Kafka's names (DescribeGroups and ListGroups
/// show them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum GroupState {
    /// No members; the group may still hold offsets.
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Members have their assignments.
    Stable,
    /// Removed. Groups leave the coordinator as they enter this state, so requests only
    /// see it as the state of a group that does not exist.
    Dead,
}

impl GroupState {
    /// Kafka's name of the state.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Whether Kafka allows a transition from `self` to `to`.
    fn can_become(self, to: GroupState) -> bool {
        use GroupState::*;
        match to {
            PreparingRebalance => matches!(self, Stable | CompletingRebalance | Empty),
            CompletingRebalance => self == PreparingRebalance,
            Stable => self == CompletingRebalance,
            Empty => self == PreparingRebalance,
            Dead => true,
        }
    }
}

/// How the current join phase ends (Kafka's two delayed join operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinPhase {
    /// The first rebalance of an empty group: it waits `delay_ms`, and again (up to
    /// `remaining_ms` in total) while new members keep arriving, so that a group whose
    /// members start together does not rebalance once per member.
    Initial { delay_ms: i32, remaining_ms: i32 },
    /// Ends when every member has rejoined, or at the rebalance timeout.
    Normal,
}

/// A classic group.
#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    /// When the group entered its state; the offsets of an empty group expire relative to
    /// it. `None` for groups loaded from records that did not keep it.
    pub state_timestamp_ms: Option<i64>,
    /// `None` until the first member joins; a group used only for offsets has none.
    pub protocol_type: Option<String>,
    /// The protocol selected for the current generation.
    pub protocol_name: Option<String>,
    pub generation_id: i32,
    pub leader_id: Option<String>,
    members: BTreeMap<String, Member>,
    /// group.instance.id to member id, for static members.
    static_members: BTreeMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED that have not joined yet.
    pending_members: BTreeSet<String>,
    /// Members that have not sent SyncGroup since the join phase ended.
    pub pending_sync_members: BTreeSet<String>,
    /// How many members support each protocol, to find the common ones in O(1).
    supported_protocols: BTreeMap<String, usize>,
    /// How many members have a JoinGroup waiting (kept, not counted, because joins check
    /// it on every request).
    awaiting_join_count: usize,
    /// Set while the group is PreparingRebalance.
    pub join_phase: Option<JoinPhase>,
    /// A member joined during the initial delay, which then waits again.
    pub new_member_added: bool,
    /// For consumer groups, the topics the members subscribe to; `None` when unknown,
    /// which counts as subscribed to everything.
    pub subscribed_topics: Option<BTreeSet<String>>,
    pub offsets: Offsets,
    next_join_sequence: u64,
    /// `Some` for a consumer group of KIP-848's protocol; its classic fields then stay
    /// those of an empty group.
    pub consumer: Option<Box<crate::consumer::ConsumerGroup>>,
}

impl Group {
    /// A new, empty group.
    pub(crate) fn new(id: String, now_ms: i64) -> Group {
        Group {
            id,
            state: GroupState::Empty,
            state_timestamp_ms: Some(now_ms),
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeSet::new(),
            pending_sync_members: BTreeSet::new(),
            supported_protocols: BTreeMap::new(),
            awaiting_join_count: 0,
            join_phase: None,
            new_member_added: false,
            subscribed_topics: None,
            offsets: Offsets::default(),
            next_join_sequence: 0,
            consumer: None,
        }
    }

    /// Rebuilds a group from its last metadata record. Like Kafka, a group with members
    /// comes back Stable with them, and they keep their generation and assignments: they
    /// go on heartbeating as if nothing happened, or time out.
    pub(crate) fn from_record(
        id: String,
        value: Option<GroupMetadataValue>,
        offsets: Offsets,
    ) -> Group {
        let mut group = Group::new(id, 0);
        group.offsets = offsets;
        group.state_timestamp_ms = None;
        let Some(value) = value else {
            return group;
        };
        group.generation_id = value.generation;
        group.protocol_type = Some(value.protocol_type).filter(|t| !t.is_empty());
        group.state_timestamp_ms = Some(value.current_state_timestamp_ms).filter(|&t| t >= 0);
        // Members are only usable with the protocol their subscriptions were stored for.
        if let (Some(protocol), Some(protocol_type)) =
            (value.protocol.clone(), group.protocol_type.clone())
        {
            for stored in value.members {
                if group.members.contains_key(&stored.member_id)
                    || stored
                        .group_instance_id
                        .as_ref()
                        .is_some_and(|instance| group.static_members.contains_key(instance))
                {
                    continue;
                }
                let member = Member {
                    member_id: stored.member_id,
                    group_instance_id: stored.group_instance_id,
                    client_id: stored.client_id,
                    client_host: stored.client_host,
                    rebalance_timeout_ms: stored.rebalance_timeout_ms,
                    session_timeout_ms: stored.session_timeout_ms,
                    protocol_type: protocol_type.clone(),
                    protocols: vec![(protocol.clone(), stored.subscription)],
                    assignment: stored.assignment,
                    awaiting_join: None,
                    awaiting_sync: None,
                    is_new: false,
                    join_sequence: 0,
                };
                group.add_member(member, None);
            }
        }
        if group.members.is_empty() {
            group.leader_id = None;
        } else {
            group.protocol_name = value.protocol;
            if let Some(leader) = value.leader.filter(|l| group.members.contains_key(l)) {
                group.leader_id = Some(leader);
            }
            group.state = GroupState::Stable;
        }
        group.subscribed_topics = group.compute_subscribed_topics();
        group
    }

    // ----- members -----

    /// The member with this id.
    pub(crate) fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.get(member_id)
    }

    /// The member with this id, to change. Its `awaiting_join` must only change through
    /// the group's methods.
    pub(crate) fn member_mut(&mut self, member_id: &str) -> Option<&mut Member> {
        self.members.get_mut(member_id)
    }

    /// Whether `member_id` is a member.
    pub(crate) fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// How many members the group has (pending ones not included).
    pub(crate) fn size(&self) -> usize {
        self.members.len()
    }

    /// The members, in join order.
    pub(crate) fn members_in_join_order(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|member| member.join_sequence);
        members
    }

    /// The member ids, in join order.
    pub(crate) fn member_ids(&self) -> Vec<String> {
        self.members_in_join_order()
            .into_iter()
            .map(|member| member.member_id.clone())
            .collect()
    }

    pub(crate) fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    /// The member id that holds a group instance id.
    pub(crate) fn static_member_id(&self, group_instance_id: &str) -> Option<&str> {
        self.static_members
            .get(group_instance_id)
            .map(String::as_str)
    }

    pub(crate) fn is_pending(&self, member_id: &str) -> bool {
        self.pending_members.contains(member_id)
    }

    pub(crate) fn pending_members(&self) -> &BTreeSet<String> {
        &self.pending_members
    }

    /// Registers a member id handed out with MEMBER_ID_REQUIRED.
    pub(crate) fn add_pending_member(&mut self, member_id: String) {
        debug_assert!(!self.members.contains_key(&member_id));
        self.pending_members.insert(member_id);
    }

    /// Forgets a pending member id; whether it was pending.
    pub(crate) fn remove_pending_member(&mut self, member_id: &str) -> bool {
        self.pending_members.remove(member_id)
    }

    /// Whether `member_id` is in use, as a member or a pending member.
    pub(crate) fn knows_member_id(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id) || self.pending_members.contains(member_id)
    }

    /// Adds a member, waiting in JoinGroup with `awaiting_join` if given. The first
    /// member sets the group's protocol type and becomes leader if there is none.
    pub(crate) fn add_member(&mut self, mut member: Member, awaiting_join: Option<PendingRequest>) {
        if let Some(instance) = &member.group_instance_id {
            debug_assert!(!self.static_members.contains_key(instance));
            self.static_members
                .insert(instance.clone(), member.member_id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.next_join_sequence += 1;
        member.join_sequence = self.next_join_sequence;
        member.awaiting_join = awaiting_join;
        if awaiting_join.is_some() {
            self.awaiting_join_count += 1;
        }
        self.count_protocols(&member, true);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Removes a member and returns it, with whatever requests it had waiting: the caller
    /// answers those. A leaving leader hands over to the earliest-joined member left.
    pub(crate) fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        self.pending_sync_members.remove(member_id);
        let member = self.members.remove(member_id)?;
        self.count_protocols(&member, false);
        if member.is_awaiting_join() {
            self.awaiting_join_count -= 1;
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members.remove(instance);
        }
        if self.is_leader(member_id) {
            self.leader_id = self
                .members
                .values()
                .min_by_key(|m| m.join_sequence)
                .map(|m| m.member_id.clone());
        }
        Some(member)
    }

    /// Gives a static member a new member id, keeping everything else. Returns the
    /// requests the old member id had waiting, to be fenced.
    pub(crate) fn replace_static_member(
        &mut self,
        group_instance_id: &str,
        old_member_id: &str,
        new_member_id: &str,
    ) -> (Option<PendingRequest>, Option<PendingRequest>) {
        let Some(mut member) = self.members.remove(old_member_id) else {
            debug_assert!(false, "replacing a member that is not there");
            return (None, None);
        };
        let join = member.awaiting_join.take();
        if join.is_some() {
            self.awaiting_join_count -= 1;
        }
        let sync = member.awaiting_sync.take();
        member.member_id = new_member_id.to_owned();
        self.members.insert(new_member_id.to_owned(), member);
        if self.is_leader(old_member_id) {
            self.leader_id = Some(new_member_id.to_owned());
        }
        if self.pending_sync_members.remove(old_member_id) {
            self.pending_sync_members.insert(new_member_id.to_owned());
        }
        self.static_members
            .insert(group_instance_id.to_owned(), new_member_id.to_owned());
        (join, sync)
    }

    /// Updates a member's protocols and timeouts and what it waits with in JoinGroup.
    /// Returns the JoinGroup it waited with before, which the caller answers.
    pub(crate) fn update_member(
        &mut self,
        member_id: &str,
        protocols: Vec<(String, Bytes)>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        awaiting_join: Option<PendingRequest>,
    ) -> Option<PendingRequest> {
        let mut member = self.members.remove(member_id)?;
        self.count_protocols(&member, false);
        member.protocols = protocols;
        member.rebalance_timeout_ms = rebalance_timeout_ms;
        member.session_timeout_ms = session_timeout_ms;
        self.count_protocols(&member, true);
        let previous = member.awaiting_join.take();
        match (previous.is_some(), awaiting_join.is_some()) {
            (false, true) => self.awaiting_join_count += 1,
            (true, false) => self.awaiting_join_count -= 1,
            _ => {}
        }
        member.awaiting_join = awaiting_join;
        self.members.insert(member_id.to_owned(), member);
        previous
    }

    /// Takes the JoinGroup a member waits with, to answer it.
    pub(crate) fn take_awaiting_join(&mut self, member_id: &str) -> Option<PendingRequest> {
        let pending = self.members.get_mut(member_id)?.awaiting_join.take();
        if pending.is_some() {
            self.awaiting_join_count -= 1;
        }
        pending
    }

    fn count_protocols(&mut self, member: &Member, add: bool) {
        for (name, _) in &member.protocols {
            if add {
                *self.supported_protocols.entry(name.clone()).or_default() += 1;
            } else if let Some(count) = self.supported_protocols.get_mut(name) {
                *count -= 1;
                if *count == 0 {
                    self.supported_protocols.remove(name);
                }
            }
        }
    }

    // ----- the join phase -----

    /// How many members wait in JoinGroup.
    pub(crate) fn awaiting_join_count(&self) -> usize {
        self.awaiting_join_count
    }

    /// Whether every member waits in JoinGroup and no pending member is still expected.
    pub(crate) fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.awaiting_join_count && self.pending_members.is_empty()
    }

    /// Dynamic members that have not rejoined: the end of the join phase removes them.
    /// Static members stay, and leave through their session timeout.
    pub(crate) fn not_yet_rejoined_dynamic_members(&self) -> Vec<String> {
        self.members
            .values()
            .filter(|m| !m.is_awaiting_join() && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect()
    }

    /// The group's rebalance timeout: the longest of its members'.
    pub(crate) fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Keeps the leader if it rejoined, or else makes the earliest-joined member that did
    /// the leader. False if no member rejoined (or there is no leader).
    pub(crate) fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.as_deref() else {
            return false;
        };
        if self
            .members
            .get(leader)
            .is_some_and(Member::is_awaiting_join)
        {
            return true;
        }
        let joined = self
            .members
            .values()
            .filter(|m| m.is_awaiting_join())
            .min_by_key(|m| m.join_sequence)
            .map(|m| m.member_id.clone());
        match joined {
            Some(new_leader) => {
                self.leader_id = Some(new_leader);
                true
            }
            None => false,
        }
    }

    /// Whether a member with this protocol type and these protocols can join: into an
    /// empty group any non-empty ones, otherwise the group's type and at least one
    /// protocol every member supports.
    pub(crate) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
        if self.state == GroupState::Empty {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|(name, _)| {
                    self.supported_protocols.get(name).copied().unwrap_or(0) == self.members.len()
                })
        }
    }

    /// The protocol the members would use now (see [`select_protocol`]).
    pub(crate) fn select_protocol(&self) -> Option<String> {
        select_protocol(&self.members_in_join_order(), &self.supported_protocols).map(str::to_owned)
    }

    /// Checks that `member_id` is a member and, for a static member, that it still holds
    /// its instance id (FENCED_INSTANCE_ID if another member id does).
    pub(crate) fn validate_current_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Option<ErrorCode> {
        if let Some(instance) = group_instance_id {
            match self.static_members.get(instance) {
                Some(current) if current != member_id => {
                    return Some(ErrorCode::FENCED_INSTANCE_ID);
                }
                Some(_) => {}
                None => return Some(ErrorCode::UNKNOWN_MEMBER_ID),
            }
        }
        if !self.members.contains_key(member_id) {
            return Some(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        None
    }

    // ----- states and generations -----

    pub(crate) fn transition_to(&mut self, state: GroupState, now_ms: i64) {
        debug_assert!(
            self.state.can_become(state),
            "group {}: {:?} -> {:?}",
            self.id,
            self.state,
            state
        );
        self.state = state;
        self.state_timestamp_ms = Some(now_ms);
    }

    /// Starts the next generation at the end of the join phase: CompletingRebalance with
    /// a newly selected protocol, or Empty if nobody is left.
    pub(crate) fn init_next_generation(&mut self, now_ms: i64) {
        self.generation_id = self.generation_id.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition_to(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.transition_to(GroupState::CompletingRebalance, now_ms);
        }
        self.subscribed_topics = self.compute_subscribed_topics();
        self.pending_sync_members.clear();
    }

    /// The members' metadata for the selected protocol, as the leader gets it in its
    /// JoinGroup response to compute the assignment.
    pub(crate) fn current_member_metadata(&self, version: i16) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members_in_join_order()
            .into_iter()
            .map(|member| JoinGroupResponseMember {
                member_id: member.member_id.clone(),
                group_instance_id: if version >= 5 {
                    member.group_instance_id.clone()
                } else {
                    None
                },
                metadata: member.metadata(protocol).cloned().unwrap_or_default(),
                ..Default::default()
            })
            .collect()
    }

    /// The group as its metadata record stores it.
    pub(crate) fn metadata_value(&self) -> GroupMetadataValue {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp_ms: self.state_timestamp_ms.unwrap_or(-1),
            members: self
                .members_in_join_order()
                .into_iter()
                .map(|member| MemberMetadataValue {
                    member_id: member.member_id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    rebalance_timeout_ms: member.rebalance_timeout_ms,
                    session_timeout_ms: member.session_timeout_ms,
                    subscription: member.metadata(protocol).cloned().unwrap_or_default(),
                    assignment: member.assignment.clone(),
                })
                .collect(),
        }
    }

    pub(crate) fn is_consumer_group(&self) -> bool {
        self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
    }

    /// The topics a consumer group subscribes to, as Kafka computes them: known only for
    /// consumer groups whose members' metadata parses.
    fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if !self.is_consumer_group() {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        union_of_subscriptions(self.members.values(), protocol)
    }

    /// Whether the group consumes `topic`; true when unknown, to be safe.
    pub(crate) fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.subscribed_topics
            .as_ref()
            .is_none_or(|topics| topics.contains(topic))
    }

    /// Whether this is a classic group without members (and none on the way), which a
    /// consumer group may take over.
    pub(crate) fn is_empty_classic(&self) -> bool {
        self.consumer.is_none()
            && self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending_members.is_empty()
    }

    /// Whether the group has members, of either protocol.
    pub(crate) fn has_members(&self) -> bool {
        match &self.consumer {
            Some(consumer) => !consumer.members.is_empty(),
            None => self.state != GroupState::Empty,
        }
    }

    /// The group's type and state as ListGroups shows them.
    pub(crate) fn type_and_state(&self) -> (&'static str, &'static str) {
        match &self.consumer {
            Some(consumer) => (
                crate::consumer::CONSUMER_GROUP_TYPE,
                consumer.state().name(),
            ),
            None => (crate::admin::CLASSIC_GROUP_TYPE, self.state.name()),
        }
    }

    /// Whether the group holds nothing worth keeping: it was just created by a request
    /// that then failed.
    pub(crate) fn is_unused(&self) -> bool {
        self.consumer.is_none()
            && self.state == GroupState::Empty
            && self.generation_id == 0
            && self.members.is_empty()
            && self.pending_members.is_empty()
            && self.offsets.is_empty()
    }

    /// Panics if the group's bookkeeping disagrees with its members.
    #[cfg(debug_assertions)]
    pub(crate) fn check_invariants(&self) {
        let awaiting = self
            .members
            .values()
            .filter(|m| m.is_awaiting_join())
            .count();
        assert_eq!(awaiting, self.awaiting_join_count, "group {}", self.id);
        let mut supported: BTreeMap<String, usize> = BTreeMap::new();
        for member in self.members.values() {
            for (name, _) in &member.protocols {
                *supported.entry(name.clone()).or_default() += 1;
            }
        }
        assert_eq!(supported, self.supported_protocols, "group {}", self.id);
        for (instance, member_id) in &self.static_members {
            let member = self.members.get(member_id).expect("static member exists");
            assert_eq!(member.group_instance_id.as_deref(), Some(instance.as_str()));
        }
        let statics = self
            .members
            .values()
            .filter(|m| m.group_instance_id.is_some())
            .count();
        assert_eq!(statics, self.static_members.len());
        assert_eq!(
            self.leader_id.is_some(),
            !self.members.is_empty(),
            "group {}",
            self.id
        );
        if let Some(leader) = &self.leader_id {
            assert!(self.members.contains_key(leader));
        }
        for member_id in &self.pending_sync_members {
            assert!(self.members.contains_key(member_id));
        }
        for member_id in &self.pending_members {
            assert!(!self.members.contains_key(member_id));
        }
        let rebalancing = self.state == GroupState::PreparingRebalance;
        assert_eq!(self.join_phase.is_some(), rebalancing, "group {}", self.id);
        for member in self.members.values() {
            if member.is_awaiting_join() {
                assert_eq!(self.state, GroupState::PreparingRebalance);
            }
            if member.awaiting_sync.is_some() {
                assert_eq!(self.state, GroupState::CompletingRebalance);
            }
        }
        match self.state {
            GroupState::Empty => assert!(self.members.is_empty()),
            GroupState::CompletingRebalance | GroupState::Stable => {
                assert!(!self.members.is_empty());
                assert!(self.protocol_name.is_some());
            }
            GroupState::PreparingRebalance => {}
            GroupState::Dead => panic!("dead group {} kept", self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::member;

    fn named(id: &str, instance: Option<&str>, protocols: &[&str]) -> Member {
        Member {
            member_id: id.to_owned(),
            group_instance_id: instance.map(str::to_owned),
            ..member(protocols)
        }
    }

    #[test]
    fn the_earliest_joined_member_takes_over_from_a_leaving_leader() {
        let mut group = Group::new("g".into(), 0);
        group.add_member(named("a", None, &["range"]), None);
        group.add_member(named("c", None, &["range"]), None);
        group.add_member(named("b", None, &["range"]), None);
        assert_eq!(group.leader_id.as_deref(), Some("a"));
        group.remove_member("a");
        assert_eq!(group.leader_id.as_deref(), Some("c"), "joined before b");
        group.remove_member("c");
        group.remove_member("b");
        assert_eq!(group.leader_id, None);
    }

    #[test]
    fn a_replaced_static_member_keeps_its_leadership_and_hands_back_its_waiting_requests() {
        let mut group = Group::new("g".into(), 0);
        let join = PendingRequest { id: 7, version: 9 };
        group.add_member(named("old", Some("i"), &["range"]), Some(join));
        assert_eq!(group.awaiting_join_count(), 1);
        let (fenced_join, fenced_sync) = group.replace_static_member("i", "old", "new");
        assert_eq!((fenced_join, fenced_sync), (Some(join), None));
        assert_eq!(group.awaiting_join_count(), 0);
        assert_eq!(group.leader_id.as_deref(), Some("new"));
        assert_eq!(group.static_member_id("i"), Some("new"));
        assert!(group.has_member("new") && !group.has_member("old"));
        assert_eq!(
            group.validate_current_member("old", Some("i")),
            Some(ErrorCode::FENCED_INSTANCE_ID)
        );
        assert_eq!(
            group.validate_current_member("old", None),
            Some(ErrorCode::UNKNOWN_MEMBER_ID)
        );
        assert_eq!(group.validate_current_member("new", Some("i")), None);
    }

    #[test]
    fn only_protocols_every_member_supports_let_a_member_in() {
        let mut group = Group::new("g".into(), 0);
        assert!(
            !group.supports_protocols("consumer", &[]),
            "an empty group needs some protocol"
        );
        assert!(!group.supports_protocols("", &[("range".into(), Bytes::new())]));
        group.add_member(named("a", None, &["range", "sticky"]), None);
        group.transition_to(GroupState::PreparingRebalance, 0);
        group.join_phase = Some(JoinPhase::Normal);
        group.add_member(named("b", None, &["sticky"]), None);
        let offer = |names: &[&str]| -> Vec<(String, Bytes)> {
            names
                .iter()
                .map(|n| (n.to_string(), Bytes::new()))
                .collect()
        };
        assert!(group.supports_protocols("consumer", &offer(&["sticky"])));
        assert!(!group.supports_protocols("consumer", &offer(&["range"])));
        assert!(!group.supports_protocols("connect", &offer(&["sticky"])));
        assert_eq!(group.select_protocol().as_deref(), Some("sticky"));
    }
}
