//! The `range` assignor: per topic, ranges of partitions by member id, sticky.

use std::collections::{BTreeMap, BTreeSet};

use fjord_protocol::Uuid;

use super::{Assignment, GroupView, MemberSubscription, ServerAssignor, TopicInfo};

/// Kafka's server-side `range` assignor.
///
/// Each topic is assigned on its own to the members that subscribe to it, taken in
/// member id order. With `n` partitions and `k` members, every member gets `n / k`
/// partitions and the first `n % k` members one more (a member can only go without a
/// partition of a topic when `k > n`).
///
/// Stickiness: a member keeps its lowest-numbered current partitions of the topic up to
/// its quota; a member holding more than the minimum keeps one more while the extra
/// partitions last. The partitions nobody keeps are handed out in ascending order, in
/// member order, as contiguous runs. A fresh assignment is therefore contiguous ranges,
/// and since every topic is handled the same way, members with the same subscriptions
/// get the same partition numbers of topics with the same partition count
/// (co-partitioning), which stays true across later reassignments.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl RangeAssignor {
    /// The name members ask for.
    pub const NAME: &'static str = "range";
}

impl ServerAssignor for RangeAssignor {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        topics: &BTreeMap<Uuid, TopicInfo>,
    ) -> Assignment {
        let view = GroupView::new(members, topics);
        let mut assignment = view.empty_assignment();

        // Members (indexes into `view.members`, so in member id order) per topic.
        let mut members_by_topic: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
        for (index, subscribed) in view.subscribed.iter().enumerate() {
            for topic_id in subscribed {
                members_by_topic.entry(*topic_id).or_default().push(index);
            }
        }

        for (topic_id, subscribers) in members_by_topic {
            let partitions = super::partition_count(topics, topic_id);
            let per_member = assign_topic(&view, topic_id, partitions, &subscribers);
            for (index, owned) in subscribers.iter().zip(per_member) {
                if !owned.is_empty() {
                    let member_id = &view.members[*index].member_id;
                    if let Some(target) = assignment.get_mut(member_id) {
                        target.insert(topic_id, owned);
                    }
                }
            }
        }
        assignment
    }
}

/// Assigns the partitions of one topic to its subscribers (member indexes in member id
/// order); returns each subscriber's partitions, in the same order.
fn assign_topic(
    view: &GroupView<'_>,
    topic_id: Uuid,
    partitions: i32,
    subscribers: &[usize],
) -> Vec<BTreeSet<i32>> {
    assert!(
        !subscribers.is_empty(),
        "a topic in members_by_topic has a subscriber"
    );
    let subscriber_count = i32::try_from(subscribers.len()).unwrap_or(i32::MAX);
    let quota_min = partitions / subscriber_count;
    let mut extra_left = partitions % subscriber_count;

    let mut owned: Vec<BTreeSet<i32>> = vec![BTreeSet::new(); subscribers.len()];
    // Subscribers that may take more partitions, with how many they still need to reach
    // the minimum quota (zero or less: they may still get an extra one).
    let mut unfilled: Vec<(usize, i32)> = Vec::new();
    for (position, index) in subscribers.iter().enumerate() {
        // Sorted, so ascending partitions of this topic.
        let current: Vec<i32> = view.keepable[*index]
            .iter()
            .filter(|(topic, _)| *topic == topic_id)
            .map(|(_, partition)| *partition)
            .collect();
        let current_count = i32::try_from(current.len()).unwrap_or(i32::MAX);
        let keep = current_count.min(quota_min);
        owned[position].extend(current.iter().take(usize::try_from(keep).unwrap_or(0)));

        let missing = quota_min - current_count;
        if missing < 0 && extra_left > 0 {
            // It holds more than the minimum: keep the next one as its extra partition.
            extra_left -= 1;
            if let Some(next) = current.get(usize::try_from(quota_min).unwrap_or(usize::MAX)) {
                owned[position].insert(*next);
            }
        } else {
            unfilled.push((position, missing));
        }
    }

    let kept: BTreeSet<i32> = owned.iter().flatten().copied().collect();
    let mut free = (0..partitions).filter(|partition| !kept.contains(partition));
    for (position, missing) in unfilled {
        let mut wanted = missing;
        if extra_left > 0 {
            extra_left -= 1;
            wanted += 1;
        }
        for _ in 0..wanted.max(0) {
            let partition = free.next();
            assert!(
                partition.is_some(),
                "range quotas add up to the partition count"
            );
            owned[position].extend(partition);
        }
    }
    assert!(
        free.next().is_none(),
        "range assigned every partition of the topic"
    );
    owned
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

    // The examples below are Kafka's RangeAssignorTest cases (group coordinator).

    #[test]
    fn first_assignment_three_members_two_topics() {
        let topics = topics(vec![topic(1, "topic1", 3), topic(3, "topic3", 2)]);
        let members = ["A", "B", "C"]
            .map(|id| member(id, &["topic1", "topic3"], BTreeMap::new()))
            .to_vec();
        let assignment = RangeAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(1, &[0]), (3, &[0])]));
        assert_eq!(assignment["B"], parts(&[(1, &[1]), (3, &[1])]));
        assert_eq!(assignment["C"], parts(&[(1, &[2])]));
    }

    #[test]
    fn member_added_keeps_lowest_partitions_up_to_quota() {
        let topics = topics(vec![topic(1, "topic1", 3), topic(2, "topic2", 3)]);
        let subscribed = ["topic1", "topic2"];
        let members = vec![
            member("A", &subscribed, parts(&[(1, &[0, 1]), (2, &[0, 1])])),
            member("B", &subscribed, parts(&[(1, &[2]), (2, &[2])])),
            member("C", &subscribed, BTreeMap::new()),
        ];
        let assignment = RangeAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(1, &[0]), (2, &[0])]));
        assert_eq!(assignment["B"], parts(&[(1, &[2]), (2, &[2])]));
        assert_eq!(assignment["C"], parts(&[(1, &[1]), (2, &[1])]));
    }

    #[test]
    fn partition_added_goes_to_the_member_with_room() {
        let topics = topics(vec![topic(1, "topic1", 4), topic(2, "topic2", 4)]);
        let subscribed = ["topic1", "topic2"];
        let members = vec![
            member("A", &subscribed, parts(&[(1, &[0, 1]), (2, &[0, 1])])),
            member("B", &subscribed, parts(&[(1, &[2]), (2, &[2])])),
        ];
        let assignment = RangeAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(1, &[0, 1]), (2, &[0, 1])]));
        assert_eq!(assignment["B"], parts(&[(1, &[2, 3]), (2, &[2, 3])]));
    }

    #[test]
    fn more_members_than_partitions_keeps_current_owners() {
        let topics = topics(vec![topic(1, "topic1", 2), topic(2, "topic2", 2)]);
        let subscribed = ["topic1", "topic2"];
        let members = vec![
            member("A", &subscribed, parts(&[(1, &[0]), (2, &[0])])),
            member("B", &subscribed, parts(&[(1, &[1]), (2, &[1])])),
            member("C", &subscribed, BTreeMap::new()),
        ];
        let assignment = RangeAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(1, &[0]), (2, &[0])]));
        assert_eq!(assignment["B"], parts(&[(1, &[1]), (2, &[1])]));
        assert_eq!(assignment["C"], BTreeMap::new());
    }

    #[test]
    fn heterogeneous_new_member_and_new_partition() {
        let topics = topics(vec![topic(1, "topic1", 4), topic(2, "topic2", 3)]);
        let members = vec![
            member(
                "A",
                &["topic1", "topic2"],
                parts(&[(1, &[0, 1]), (2, &[0, 1])]),
            ),
            member("B", &["topic1", "topic2"], parts(&[(1, &[2]), (2, &[2])])),
            member("C", &["topic1"], BTreeMap::new()),
        ];
        let assignment = RangeAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(1, &[0, 1]), (2, &[0, 1])]));
        assert_eq!(assignment["B"], parts(&[(1, &[2]), (2, &[2])]));
        assert_eq!(assignment["C"], parts(&[(1, &[3])]));
    }

    #[test]
    fn subscriptions_changed() {
        let topics = topics(vec![
            topic(1, "topic1", 3),
            topic(2, "topic2", 3),
            topic(3, "topic3", 2),
        ]);
        let members = vec![
            member("A", &["topic1"], parts(&[(1, &[0, 1, 2]), (2, &[0])])),
            member("B", &["topic1", "topic2", "topic3"], parts(&[(2, &[1])])),
            member("C", &["topic2"], parts(&[(2, &[2]), (3, &[0, 1])])),
        ];
        let assignment = RangeAssignor.assign(&members, &topics);
        assert_eq!(assignment["A"], parts(&[(1, &[0, 1])]));
        assert_eq!(
            assignment["B"],
            parts(&[(1, &[2]), (2, &[0, 1]), (3, &[0, 1])])
        );
        assert_eq!(assignment["C"], parts(&[(2, &[2])]));
    }
}
