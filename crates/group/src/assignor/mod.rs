//! Server-side partition assignors for KIP-848 consumer groups, as pure functions.
//!
//! With the consumer group protocol (ConsumerGroupHeartbeat) the coordinator, not a
//! client leader, computes the target assignment. An assignor takes every member's
//! subscription and current assignment plus the topics that exist, and returns the
//! target assignment of every member. It does no I/O, reads no clock and is
//! deterministic: the same input gives the same output, whatever the order of `members`.
//!
//! - [`UniformAssignor`] (`uniform`, Kafka's default): balanced by partition count and
//!   sticky.
//! - [`RangeAssignor`] (`range`): per topic, ranges of partitions by member id, so that
//!   members with the same subscriptions get the same partition numbers of topics with
//!   the same partition count (co-partitioning), and sticky.
//! - [`SubscriptionPattern`]: a regular-expression subscription (KIP-848's
//!   `SubscribedTopicRegex`), resolved to topic names before assigning.
//!
//! # Conventions shared by both assignors
//!
//! - Subscriptions are topic names (what members send); assignments are topic ids (what
//!   KIP-848 sends back). A subscribed name that names no topic in `topics` is ignored:
//!   the member may subscribe before the topic is created.
//! - A member's `current` partitions are kept only if they still make sense: the topic
//!   exists, the member still subscribes to it, the partition is below the topic's
//!   partition count, and no member before it (by member id) claims the same partition.
//! - The result has an entry for every member, possibly empty; topics with no partition
//!   for a member are left out of its map.
//! - Member ids must be unique; two members with the same id is a programmer error and
//!   panics.
//!
//! # Where Fjord differs from Kafka's assignors
//!
//! - Rack awareness is not implemented yet: `rack` is carried but not used.
//! - `uniform` hands newly free partitions out round-robin over the members below their
//!   quota (Kafka fills one member after the other), which spreads a fresh assignment over
//!   the topics; balance and stickiness are the same.
//! - `uniform` gives the members that may get one partition over the minimum to those
//!   that already hold more than the minimum, so that fewer partitions move.
//! - For heterogeneous subscriptions `uniform` balances to the optimum reachable by
//!   moving partitions between members that subscribe to their topics (shortest
//!   augmenting paths), rather than Kafka's heuristic.

mod pattern;
mod range;
mod uniform;

#[cfg(test)]
mod proptests;

pub use pattern::{PatternError, SubscriptionPattern};
pub use range::RangeAssignor;
pub use uniform::UniformAssignor;

use std::collections::{BTreeMap, BTreeSet};

use fjord_protocol::Uuid;

/// One member as an assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscription {
    /// The member id, unique in the group.
    pub member_id: String,
    /// The member's rack (`client.rack`), if it sent one. Not used yet.
    pub rack: Option<String>,
    /// The names of the topics the member subscribes to, regular expressions already
    /// resolved (see [`SubscriptionPattern::matching_topics`]).
    pub subscribed_topics: BTreeSet<String>,
    /// The member's current assignment, partitions by topic id.
    pub current: BTreeMap<Uuid, BTreeSet<i32>>,
}

/// A topic that exists, as the metadata image describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic id.
    pub id: Uuid,
    /// The topic name.
    pub name: String,
    /// The number of partitions, numbered `0..partitions`.
    pub partitions: i32,
}

/// The target assignment: for each member id, partitions by topic id.
pub type Assignment = BTreeMap<String, BTreeMap<Uuid, BTreeSet<i32>>>;

/// A server-side assignor, chosen by name (`group.consumer.assignors`, or the member's
/// `ServerAssignor` field in ConsumerGroupHeartbeat).
pub trait ServerAssignor {
    /// The name members ask for: `uniform` or `range`.
    fn name(&self) -> &'static str;

    /// Computes the target assignment of every member of `members`. `topics` maps each
    /// topic id to its description.
    fn assign(
        &self,
        members: &[MemberSubscription],
        topics: &BTreeMap<Uuid, TopicInfo>,
    ) -> Assignment;
}

/// A partition of a topic.
type TopicPartition = (Uuid, i32);

/// The input in the form both assignors work on: members sorted by id, each with the
/// topic ids it subscribes to (existing topics only) and the current partitions it may
/// keep.
struct GroupView<'a> {
    /// Members sorted by member id.
    members: Vec<&'a MemberSubscription>,
    /// For each member (same index), the ids of the existing topics it subscribes to.
    subscribed: Vec<BTreeSet<Uuid>>,
    /// For each member (same index), its current partitions that it may keep, sorted.
    keepable: Vec<Vec<TopicPartition>>,
}

impl<'a> GroupView<'a> {
    fn new(members: &'a [MemberSubscription], topics: &BTreeMap<Uuid, TopicInfo>) -> Self {
        let mut members: Vec<&MemberSubscription> = members.iter().collect();
        members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        for pair in members.windows(2) {
            assert!(
                pair[0].member_id != pair[1].member_id,
                "member id {:?} appears twice in the assignor's input",
                pair[0].member_id
            );
        }

        let id_by_name: BTreeMap<&str, Uuid> = topics
            .values()
            .map(|topic| (topic.name.as_str(), topic.id))
            .collect();
        let subscribed: Vec<BTreeSet<Uuid>> = members
            .iter()
            .map(|member| {
                member
                    .subscribed_topics
                    .iter()
                    .filter_map(|name| id_by_name.get(name.as_str()).copied())
                    .collect()
            })
            .collect();

        let mut claimed: BTreeSet<TopicPartition> = BTreeSet::new();
        let keepable = members
            .iter()
            .zip(&subscribed)
            .map(|(member, subscribed)| {
                let mut keep = Vec::new();
                for (topic_id, partitions) in &member.current {
                    if !subscribed.contains(topic_id) {
                        continue;
                    }
                    let count = partition_count(topics, *topic_id);
                    for &partition in partitions.range(0..count) {
                        if claimed.insert((*topic_id, partition)) {
                            keep.push((*topic_id, partition));
                        }
                    }
                }
                keep
            })
            .collect();

        GroupView {
            members,
            subscribed,
            keepable,
        }
    }

    /// An assignment with an empty entry for every member.
    fn empty_assignment(&self) -> Assignment {
        self.members
            .iter()
            .map(|member| (member.member_id.clone(), BTreeMap::new()))
            .collect()
    }
}

/// The partition count of an existing topic; a negative count (never valid) counts as 0.
fn partition_count(topics: &BTreeMap<Uuid, TopicInfo>, topic_id: Uuid) -> i32 {
    topics
        .get(&topic_id)
        .map_or(0, |topic| topic.partitions.max(0))
}

/// Adds a partition to one member's assignment.
fn add_partition(
    assignment: &mut BTreeMap<Uuid, BTreeSet<i32>>,
    (topic_id, partition): TopicPartition,
) {
    assignment.entry(topic_id).or_default().insert(partition);
}
