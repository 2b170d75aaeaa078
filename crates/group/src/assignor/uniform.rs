//! The `uniform` assignor: balanced by partition count, sticky.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use fjord_protocol::Uuid;

use super::{
    Assignment, GroupView, MemberSubscription, ServerAssignor, TopicInfo, TopicPartition,
    add_partition, partition_count,
};

/// Kafka's server-side `uniform` assignor, the default.
///
/// Balance comes first, then stickiness (members keep what they can).
///
/// - Homogeneous subscriptions (every member subscribes to the same existing topics):
///   with `p` partitions and `n` members every member gets `p / n` partitions and
///   `p % n` members one more; those extra places go first to members that already hold
///   more than `p / n`. Each member keeps its current partitions up to its quota and the
///   rest are handed out round-robin. Only partitions over a member's quota move, which
///   is the fewest moves any balanced assignment allows.
/// - Heterogeneous subscriptions: every member keeps all its current partitions that are
///   still valid, each free partition goes to the least loaded subscriber of its topic
///   (topics with the fewest subscribers first), then partitions are shifted along the
///   shortest chains "member A gives a partition of topic t to member B that subscribes
///   to t" as long as one ends at a member with at least two partitions fewer than where
///   it starts. When no such chain exists the loads are optimal: the largest load and
///   the spread are as small as the subscriptions allow (an optimal semi-matching).
#[derive(Debug, Clone, Copy, Default)]
pub struct UniformAssignor;

impl UniformAssignor {
    /// The name members ask for.
    pub const NAME: &'static str = "uniform";
}

impl ServerAssignor for UniformAssignor {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        topics: &BTreeMap<Uuid, TopicInfo>,
    ) -> Assignment {
        let view = GroupView::new(members, topics);
        match view.subscribed.split_first() {
            None => Assignment::new(),
            Some((first, rest)) if rest.iter().all(|topics| topics == first) => {
                assign_homogeneous(&view, topics, first)
            }
            Some(_) => assign_heterogeneous(&view, topics),
        }
    }
}

/// Every member subscribes to `topic_ids`.
fn assign_homogeneous(
    view: &GroupView<'_>,
    topics: &BTreeMap<Uuid, TopicInfo>,
    topic_ids: &BTreeSet<Uuid>,
) -> Assignment {
    let member_count = view.members.len();
    let all: Vec<TopicPartition> = topic_ids
        .iter()
        .flat_map(|topic_id| {
            (0..partition_count(topics, *topic_id)).map(move |partition| (*topic_id, partition))
        })
        .collect();
    let quota_min = all.len() / member_count;
    let extra = all.len() % member_count;

    // Extra places go to the members that would otherwise give up a partition first.
    let mut by_need: Vec<usize> = (0..member_count).collect();
    by_need.sort_by_key(|&index| {
        let holds_over_min = view.keepable[index].len() > quota_min;
        (!holds_over_min, Reverse(view.keepable[index].len()), index)
    });
    let mut quota = vec![quota_min; member_count];
    for &index in by_need.iter().take(extra) {
        quota[index] += 1;
    }

    let mut owned: Vec<Vec<TopicPartition>> = view
        .keepable
        .iter()
        .zip(&quota)
        .map(|(keepable, quota)| keepable.iter().take(*quota).copied().collect())
        .collect();
    let kept: BTreeSet<TopicPartition> = owned.iter().flatten().copied().collect();

    let mut cursor = 0;
    for partition in all.iter().filter(|partition| !kept.contains(partition)) {
        // The quotas add up to the partition count, so some member has room.
        let mut tries = 0;
        while owned[cursor].len() >= quota[cursor] {
            cursor = (cursor + 1) % member_count;
            tries += 1;
            assert!(
                tries <= member_count,
                "uniform quotas add up to the partition count"
            );
        }
        owned[cursor].push(*partition);
        cursor = (cursor + 1) % member_count;
    }

    view.members
        .iter()
        .zip(owned)
        .map(|(member, owned)| {
            let mut target = BTreeMap::new();
            for partition in owned {
                add_partition(&mut target, partition);
            }
            (member.member_id.clone(), target)
        })
        .collect()
}

/// Members subscribe to different topics.
fn assign_heterogeneous(view: &GroupView<'_>, topics: &BTreeMap<Uuid, TopicInfo>) -> Assignment {
    let mut state = Heterogeneous::new(view);

    // Topics with fewer subscribers have fewer places to go: place them first.
    let mut topic_order: Vec<(&Uuid, &Vec<usize>)> = state.subscribers.iter().collect();
    topic_order.sort_by_key(|(topic_id, subscribers)| (subscribers.len(), **topic_id));
    let mut free = Vec::new();
    for (topic_id, _) in topic_order {
        for partition in 0..partition_count(topics, *topic_id) {
            if !state.owner.contains_key(&(*topic_id, partition)) {
                free.push((*topic_id, partition));
            }
        }
    }
    for partition in free {
        let least_loaded = state.subscribers[&partition.0]
            .iter()
            .copied()
            .min_by_key(|&index| (state.load[index], index));
        if let Some(index) = least_loaded {
            state.give(index, partition);
        }
    }

    while state.shift_along_a_chain() {}

    view.members
        .iter()
        .zip(state.owned)
        .map(|(member, owned)| {
            let owned = owned
                .into_iter()
                .filter(|(_, partitions)| !partitions.is_empty());
            (member.member_id.clone(), owned.collect())
        })
        .collect()
}

/// The working state of a heterogeneous assignment. Members are indexes into
/// `view.members`.
struct Heterogeneous<'v, 'a> {
    view: &'v GroupView<'a>,
    /// The members subscribing to each existing subscribed topic, in member order.
    subscribers: BTreeMap<Uuid, Vec<usize>>,
    /// Each member's partitions so far.
    owned: Vec<BTreeMap<Uuid, BTreeSet<i32>>>,
    /// Each member's partition count, `owned[i]` summed.
    load: Vec<usize>,
    /// The member of each assigned partition.
    owner: BTreeMap<TopicPartition, usize>,
}

impl<'v, 'a> Heterogeneous<'v, 'a> {
    /// Starts from every member's keepable partitions.
    fn new(view: &'v GroupView<'a>) -> Self {
        let member_count = view.members.len();
        let mut state = Heterogeneous {
            view,
            subscribers: BTreeMap::new(),
            owned: vec![BTreeMap::new(); member_count],
            load: vec![0; member_count],
            owner: BTreeMap::new(),
        };
        for (index, subscribed) in view.subscribed.iter().enumerate() {
            for topic_id in subscribed {
                state.subscribers.entry(*topic_id).or_default().push(index);
            }
        }
        for (index, keepable) in view.keepable.iter().enumerate() {
            for partition in keepable {
                state.give(index, *partition);
            }
        }
        state
    }

    fn give(&mut self, index: usize, partition: TopicPartition) {
        let previous = self.owner.insert(partition, index);
        assert!(
            previous.is_none(),
            "a partition is given to one member at a time"
        );
        add_partition(&mut self.owned[index], partition);
        self.load[index] += 1;
    }

    fn take(&mut self, index: usize, (topic_id, partition): TopicPartition) {
        let removed = self.owned[index]
            .get_mut(&topic_id)
            .is_some_and(|set| set.remove(&partition));
        assert!(removed, "a member gives away only partitions it owns");
        self.owner.remove(&(topic_id, partition));
        self.load[index] -= 1;
    }

    /// Whether the member owned the partition before this assignment.
    fn owned_before(&self, index: usize, (topic_id, partition): TopicPartition) -> bool {
        self.view.members[index]
            .current
            .get(&topic_id)
            .is_some_and(|set| set.contains(&partition))
    }

    /// Finds the shortest chain of moves from a member to one with at least two
    /// partitions fewer and applies it; returns whether it found one. Each applied chain
    /// lowers the sum of squared loads by at least 2, so the loop calling this ends.
    fn shift_along_a_chain(&mut self) -> bool {
        let member_count = self.view.members.len();
        let mut sources: Vec<usize> = (0..member_count).collect();
        sources.sort_by_key(|&index| (Reverse(self.load[index]), index));
        for source in sources {
            if self.load[source] < 2 {
                // Sorted by load: no source left can give to a member two lower.
                return false;
            }
            // Breadth-first over "gives a partition of topic t to a subscriber of t".
            let mut parent: Vec<Option<(usize, Uuid)>> = vec![None; member_count];
            let mut depth = vec![usize::MAX; member_count];
            depth[source] = 0;
            let mut queue = VecDeque::from([source]);
            while let Some(giver) = queue.pop_front() {
                for (topic_id, partitions) in &self.owned[giver] {
                    if partitions.is_empty() {
                        continue;
                    }
                    for &taker in &self.subscribers[topic_id] {
                        if depth[taker] == usize::MAX {
                            depth[taker] = depth[giver] + 1;
                            parent[taker] = Some((giver, *topic_id));
                            queue.push_back(taker);
                        }
                    }
                }
            }
            let target = (0..member_count)
                .filter(|&index| depth[index] != usize::MAX)
                .filter(|&index| self.load[index] + 2 <= self.load[source])
                .min_by_key(|&index| (self.load[index], depth[index], index));
            let Some(target) = target else { continue };

            let mut taker = target;
            while let Some((giver, topic_id)) = parent[taker] {
                let partition = self.partition_to_move(giver, taker, topic_id);
                self.take(giver, partition);
                self.give(taker, partition);
                taker = giver;
            }
            assert!(taker == source, "a chain leads back to its source");
            return true;
        }
        false
    }

    /// The partition of `topic_id` that `giver` hands to `taker`: preferably one that
    /// `taker` owned before, else one `giver` did not own before, else the highest.
    fn partition_to_move(&self, giver: usize, taker: usize, topic_id: Uuid) -> TopicPartition {
        let partitions = &self.owned[giver][&topic_id];
        let pick = |wanted: &dyn Fn(TopicPartition) -> bool| {
            partitions
                .iter()
                .rev()
                .map(|&p| (topic_id, p))
                .find(|&tp| wanted(tp))
        };
        pick(&|tp| self.owned_before(taker, tp))
            .or_else(|| pick(&|tp| !self.owned_before(giver, tp)))
            .or_else(|| pick(&|_| true))
            .unwrap_or_else(|| unreachable!("the chain's giver owns a partition of the topic"))
    }
}

/// For tests: the heterogeneous path on any input, homogeneous or not.
#[cfg(test)]
pub(super) fn assign_general(
    members: &[MemberSubscription],
    topics: &BTreeMap<Uuid, TopicInfo>,
) -> Assignment {
    let view = GroupView::new(members, topics);
    assign_heterogeneous(&view, topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::proptests::{member, topic, topics};

    fn uuid(n: u8) -> Uuid {
        Uuid([n; 16])
    }

    fn parts(list: &[(u8, &[i32])]) -> BTreeMap<Uuid, BTreeSet<i32>> {
        list.iter()
            .map(|(t, p)| (uuid(*t), p.iter().copied().collect()))
            .collect()
    }

    fn count(target: &BTreeMap<Uuid, BTreeSet<i32>>) -> usize {
        target.values().map(BTreeSet::len).sum()
    }

    // Kafka's UniformHomogeneousAssignmentBuilderTest: where balance and stickiness
    // leave one answer, Fjord gives Kafka's.

    #[test]
    fn more_members_than_partitions_leaves_one_member_without() {
        let topics = topics(vec![topic(3, "topic3", 2)]);
        let members = ["A", "B", "C"]
            .map(|id| member(id, &["topic3"], BTreeMap::new()))
            .to_vec();
        let assignment = UniformAssignor.assign(&members, &topics);
        let counts: Vec<usize> = assignment.values().map(count).collect();
        assert_eq!(counts.iter().sum::<usize>(), 2);
        assert!(counts.iter().all(|c| *c <= 1));
        assert_eq!(assignment.len(), 3);
    }

    #[test]
    fn unbalanced_previous_assignment_moves_one_partition() {
        let topics = topics(vec![topic(1, "topic1", 3), topic(2, "topic2", 3)]);
        let subscribed = ["topic1", "topic2"];
        let members = vec![
            member("A", &subscribed, parts(&[(1, &[0, 1]), (2, &[0, 1])])),
            member("B", &subscribed, parts(&[(1, &[2]), (2, &[2])])),
        ];
        let assignment = UniformAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(1, &[0, 1]), (2, &[0])]));
        assert_eq!(assignment["B"], parts(&[(1, &[2]), (2, &[1, 2])]));
    }

    #[test]
    fn member_added_takes_one_from_each() {
        let topics = topics(vec![topic(1, "topic1", 3), topic(2, "topic2", 3)]);
        let subscribed = ["topic1", "topic2"];
        let members = vec![
            member("A", &subscribed, parts(&[(1, &[0, 2]), (2, &[0])])),
            member("B", &subscribed, parts(&[(1, &[1]), (2, &[1, 2])])),
            member("C", &subscribed, BTreeMap::new()),
        ];
        let assignment = UniformAssignor.assign(&members, &topics);
        // A and B keep two each; C gets the two they give up.
        assert_eq!(assignment["A"], parts(&[(1, &[0, 2])]));
        assert_eq!(assignment["B"], parts(&[(1, &[1]), (2, &[1])]));
        assert_eq!(assignment["C"], parts(&[(2, &[0, 2])]));
    }

    #[test]
    fn member_removed_its_partitions_are_shared() {
        let topics = topics(vec![topic(1, "topic1", 3), topic(2, "topic2", 3)]);
        let subscribed = ["topic1", "topic2"];
        let members = vec![
            member("A", &subscribed, parts(&[(1, &[0]), (2, &[0])])),
            member("B", &subscribed, parts(&[(1, &[1]), (2, &[1])])),
        ];
        let assignment = UniformAssignor.assign(&members, &topics);
        // Round-robin: A gets topic1-2, B gets topic2-2 (Kafka's order may differ).
        assert_eq!(assignment["A"], parts(&[(1, &[0, 2]), (2, &[0])]));
        assert_eq!(assignment["B"], parts(&[(1, &[1]), (2, &[1, 2])]));
    }

    #[test]
    fn fresh_assignment_spreads_round_robin() {
        let topics = topics(vec![topic(1, "topic1", 3), topic(3, "topic3", 2)]);
        let subscribed = ["topic1", "topic3"];
        let members = ["A", "B"]
            .map(|id| member(id, &subscribed, BTreeMap::new()))
            .to_vec();
        let assignment = UniformAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(1, &[0, 2]), (3, &[1])]));
        assert_eq!(assignment["B"], parts(&[(1, &[1]), (3, &[0])]));
    }

    #[test]
    fn heterogeneous_chain_reaches_balance() {
        // A: t2; B: t2, t3; C: t3. A and B hold 3 each and C nothing. No single move
        // helps A, but B can pass t3 to C and take t2 from A: 2/2/2, with the 3 moves
        // that are unavoidable (C can only get its 2 from B, and A must give 1).
        let topics = topics(vec![topic(2, "t2", 4), topic(3, "t3", 2)]);
        let members = vec![
            member("A", &["t2"], parts(&[(2, &[0, 1, 2])])),
            member("B", &["t2", "t3"], parts(&[(2, &[3]), (3, &[0, 1])])),
            member("C", &["t3"], BTreeMap::new()),
        ];
        let assignment = UniformAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(2, &[0, 1])]));
        assert_eq!(assignment["B"], parts(&[(2, &[2, 3])]));
        assert_eq!(assignment["C"], parts(&[(3, &[0, 1])]));
    }

    #[test]
    fn unknown_topics_and_stale_partitions_are_dropped() {
        let topics = topics(vec![topic(1, "topic1", 2)]);
        let members = vec![member(
            "A",
            &["topic1", "not-yet-created"],
            parts(&[(1, &[0, 1, 7]), (9, &[0])]),
        )];
        let assignment = UniformAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(1, &[0, 1])]));
    }
}
