//! Property tests shared by the assignors, and the helpers their unit tests use.

use std::collections::{BTreeMap, BTreeSet};

use fjord_protocol::Uuid;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::uniform::assign_general;
use super::{
    Assignment, MemberSubscription, RangeAssignor, ServerAssignor, TopicInfo, UniformAssignor,
};

pub(super) fn member(
    id: &str,
    subscribed: &[&str],
    current: BTreeMap<Uuid, BTreeSet<i32>>,
) -> MemberSubscription {
    MemberSubscription {
        member_id: id.to_owned(),
        rack: None,
        subscribed_topics: subscribed.iter().map(|name| (*name).to_owned()).collect(),
        current,
    }
}

/// Topic `n` has id `[n; 16]`.
pub(super) fn topic(n: u8, name: &str, partitions: i32) -> TopicInfo {
    TopicInfo {
        id: Uuid([n; 16]),
        name: name.to_owned(),
        partitions,
    }
}

pub(super) fn topics(list: Vec<TopicInfo>) -> BTreeMap<Uuid, TopicInfo> {
    list.into_iter().map(|topic| (topic.id, topic)).collect()
}

const TOPIC_NAMES_MAX: usize = 5;

/// Topic `i` is named `t{i}` and has id `[i + 1; 16]`.
fn topic_set(counts: &[i32]) -> BTreeMap<Uuid, TopicInfo> {
    let list = counts.iter().enumerate().map(|(i, count)| {
        let n = u8::try_from(i + 1).unwrap_or(u8::MAX);
        topic(n, &format!("t{i}"), *count)
    });
    topics(list.collect())
}

/// The names in `mask` (bit i: `t{i}`); some may name no topic.
fn names(mask: u8) -> Vec<String> {
    (0..TOPIC_NAMES_MAX)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| format!("t{i}"))
        .collect()
}

fn subscription(
    id: String,
    mask: u8,
    current: BTreeMap<Uuid, BTreeSet<i32>>,
) -> MemberSubscription {
    MemberSubscription {
        member_id: id,
        rack: None,
        subscribed_topics: names(mask).into_iter().collect(),
        current,
    }
}

/// Arbitrary current assignments: overlapping, out of range, unknown topics.
fn garbage_current() -> impl Strategy<Value = BTreeMap<Uuid, BTreeSet<i32>>> {
    prop::collection::vec((1u8..=6, -1i32..10), 0..8).prop_map(|pairs| {
        let mut current: BTreeMap<Uuid, BTreeSet<i32>> = BTreeMap::new();
        for (n, partition) in pairs {
            current.entry(Uuid([n; 16])).or_default().insert(partition);
        }
        current
    })
}

fn heterogeneous_group()
-> impl Strategy<Value = (BTreeMap<Uuid, TopicInfo>, Vec<MemberSubscription>)> {
    (
        prop::collection::vec(0i32..9, 1..=4),
        prop::collection::vec((0u8..32, garbage_current()), 1..8),
    )
        .prop_map(|(counts, members)| {
            let members = members
                .into_iter()
                .enumerate()
                .map(|(i, (mask, current))| subscription(format!("m{i}"), mask, current))
                .collect();
            (topic_set(&counts), members)
        })
}

fn homogeneous_group() -> impl Strategy<Value = (BTreeMap<Uuid, TopicInfo>, Vec<MemberSubscription>)>
{
    (
        prop::collection::vec(0i32..9, 1..=4),
        0u8..32,
        prop::collection::vec(garbage_current(), 1..8),
    )
        .prop_map(|(counts, mask, currents)| {
            let members = currents
                .into_iter()
                .enumerate()
                .map(|(i, current)| subscription(format!("m{i}"), mask, current))
                .collect();
            (topic_set(&counts), members)
        })
}

/// The existing topic ids a member subscribes to.
fn subscribed_ids(
    member: &MemberSubscription,
    topics: &BTreeMap<Uuid, TopicInfo>,
) -> BTreeSet<Uuid> {
    topics
        .values()
        .filter(|topic| member.subscribed_topics.contains(&topic.name))
        .map(|topic| topic.id)
        .collect()
}

fn load(target: &BTreeMap<Uuid, BTreeSet<i32>>) -> usize {
    target.values().map(BTreeSet::len).sum()
}

/// Every partition of a topic some member subscribes to is assigned exactly once, to a
/// subscriber; nothing else is assigned; every member has an entry.
fn check_valid(
    members: &[MemberSubscription],
    topics: &BTreeMap<Uuid, TopicInfo>,
    assignment: &Assignment,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(assignment.len(), members.len());
    let mut owners: BTreeMap<(Uuid, i32), usize> = BTreeMap::new();
    let mut wanted: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    for member in members {
        let subscribed = subscribed_ids(member, topics);
        for topic_id in &subscribed {
            wanted.extend((0..topics[topic_id].partitions).map(|p| (*topic_id, p)));
        }
        let target = &assignment[&member.member_id];
        for (topic_id, partitions) in target {
            prop_assert!(
                subscribed.contains(topic_id),
                "{} got unsubscribed {topic_id}",
                member.member_id
            );
            prop_assert!(!partitions.is_empty(), "empty topic entries are left out");
            for partition in partitions {
                *owners.entry((*topic_id, *partition)).or_default() += 1;
            }
        }
    }
    prop_assert!(
        owners.values().all(|n| *n == 1),
        "a partition assigned twice: {owners:?}"
    );
    let assigned: BTreeSet<(Uuid, i32)> = owners.into_keys().collect();
    prop_assert_eq!(assigned, wanted);
    Ok(())
}

fn check_balanced(assignment: &Assignment) -> Result<(), TestCaseError> {
    let loads: Vec<usize> = assignment.values().map(load).collect();
    let max = loads.iter().max().copied().unwrap_or(0);
    let min = loads.iter().min().copied().unwrap_or(0);
    prop_assert!(max - min <= 1, "unbalanced: {loads:?}");
    Ok(())
}

/// No single partition can move to a subscriber of its topic with two fewer partitions.
fn check_no_improving_move(
    members: &[MemberSubscription],
    topics: &BTreeMap<Uuid, TopicInfo>,
    assignment: &Assignment,
) -> Result<(), TestCaseError> {
    for giver in members {
        let giver_load = load(&assignment[&giver.member_id]);
        for topic_id in assignment[&giver.member_id].keys() {
            for taker in members {
                if subscribed_ids(taker, topics).contains(topic_id) {
                    let taker_load = load(&assignment[&taker.member_id]);
                    prop_assert!(
                        giver_load < taker_load + 2,
                        "{} ({giver_load}) could give {topic_id} to {} ({taker_load})",
                        giver.member_id,
                        taker.member_id
                    );
                }
            }
        }
    }
    Ok(())
}

/// Partitions owned before by a member still in the group and now owned by another.
fn moved(previous: &Assignment, next: &Assignment) -> usize {
    let mut count = 0;
    for (member_id, target) in next {
        let Some(before) = previous.get(member_id) else {
            continue;
        };
        for (topic_id, partitions) in before {
            let now = target.get(topic_id);
            count += partitions
                .iter()
                .filter(|p| !now.is_some_and(|set| set.contains(p)))
                .count();
        }
    }
    count
}

/// `members` with their current assignment taken from `previous`.
fn with_current(members: &[MemberSubscription], previous: &Assignment) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|member| MemberSubscription {
            current: previous.get(&member.member_id).cloned().unwrap_or_default(),
            ..member.clone()
        })
        .collect()
}

/// A group change: `before` members `m0..`, then some removed (bit i of `removed`
/// removes `m{i}`, but one member always stays), `added` new members, and every topic
/// grown by `grown` partitions.
#[derive(Debug, Clone)]
struct Change {
    counts: Vec<i32>,
    mask: u8,
    before: usize,
    removed: u8,
    added: usize,
    grown: i32,
}

fn change() -> impl Strategy<Value = Change> {
    (
        prop::collection::vec(0i32..9, 1..=4),
        1u8..32,
        1usize..7,
        any::<u8>(),
        0usize..4,
        0i32..3,
    )
        .prop_map(|(counts, mask, before, removed, added, grown)| Change {
            counts,
            mask,
            before,
            removed,
            added,
            grown,
        })
}

impl Change {
    fn topics_before(&self) -> BTreeMap<Uuid, TopicInfo> {
        topic_set(&self.counts)
    }

    fn topics_after(&self) -> BTreeMap<Uuid, TopicInfo> {
        let grown: Vec<i32> = self.counts.iter().map(|count| count + self.grown).collect();
        topic_set(&grown)
    }

    fn members_before(&self) -> Vec<MemberSubscription> {
        (0..self.before)
            .map(|i| subscription(format!("m{i}"), self.mask, BTreeMap::new()))
            .collect()
    }

    fn members_after(&self) -> Vec<MemberSubscription> {
        let mut members: Vec<MemberSubscription> = self
            .members_before()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i == 0 || self.removed & (1 << i) == 0)
            .map(|(_, member)| member)
            .collect();
        members.extend(
            (0..self.added).map(|i| subscription(format!("n{i}"), self.mask, BTreeMap::new())),
        );
        members
    }
}

/// The fewest partitions any balanced assignment must take from members that keep
/// `held` partitions each, with `total` partitions in all.
fn fewest_moves(held: &[usize], total: usize) -> usize {
    let quota_min = total / held.len();
    let extra = total % held.len();
    let over: Vec<usize> = held.iter().filter(|h| **h > quota_min).copied().collect();
    over.iter().map(|h| h - quota_min).sum::<usize>() - extra.min(over.len())
}

/// Whether each member gets the same partition numbers of every topic with the same
/// partition count among those it is assigned from.
fn check_co_partitioned(
    topics: &BTreeMap<Uuid, TopicInfo>,
    assignment: &Assignment,
    subscribed: &BTreeSet<Uuid>,
) -> Result<(), TestCaseError> {
    for target in assignment.values() {
        for a in subscribed {
            for b in subscribed {
                if topics[a].partitions == topics[b].partitions {
                    prop_assert_eq!(target.get(a), target.get(b));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn uniform_is_valid((topics, members) in heterogeneous_group()) {
        let assignment = UniformAssignor.assign(&members, &topics);
        check_valid(&members, &topics, &assignment)?;
        check_no_improving_move(&members, &topics, &assignment)?;
    }

    #[test]
    fn range_is_valid((topics, members) in heterogeneous_group()) {
        let assignment = RangeAssignor.assign(&members, &topics);
        check_valid(&members, &topics, &assignment)?;
        // Per topic, subscribers' counts differ by at most one.
        for topic in topics.values() {
            let counts: Vec<usize> = members
                .iter()
                .filter(|m| m.subscribed_topics.contains(&topic.name))
                .map(|m| assignment[&m.member_id].get(&topic.id).map_or(0, BTreeSet::len))
                .collect();
            let max = counts.iter().max().copied().unwrap_or(0);
            let min = counts.iter().min().copied().unwrap_or(0);
            prop_assert!(max - min <= 1, "range unbalanced on {}: {counts:?}", topic.name);
        }
    }

    #[test]
    fn uniform_homogeneous_is_balanced((topics, members) in homogeneous_group()) {
        let assignment = UniformAssignor.assign(&members, &topics);
        check_valid(&members, &topics, &assignment)?;
        check_balanced(&assignment)?;
        // The heterogeneous path reaches the same balance on the same input.
        let general = assign_general(&members, &topics);
        check_valid(&members, &topics, &general)?;
        check_balanced(&general)?;
    }

    #[test]
    fn assignors_are_deterministic((topics, members) in heterogeneous_group()) {
        let mut reversed = members.clone();
        reversed.reverse();
        for assignor in [&UniformAssignor as &dyn ServerAssignor, &RangeAssignor] {
            let assignment = assignor.assign(&members, &topics);
            prop_assert_eq!(&assignment, &assignor.assign(&members, &topics));
            prop_assert_eq!(&assignment, &assignor.assign(&reversed, &topics));
        }
    }

    #[test]
    fn uniform_homogeneous_moves_the_fewest(change in change()) {
        let previous = UniformAssignor.assign(&change.members_before(), &change.topics_before());
        let members = with_current(&change.members_after(), &previous);
        let topics = change.topics_after();
        let next = UniformAssignor.assign(&members, &topics);
        check_valid(&members, &topics, &next)?;
        check_balanced(&next)?;
        let held: Vec<usize> = members.iter().map(|m| load(&m.current)).collect();
        let total: usize = subscribed_ids(&members[0], &topics)
            .iter()
            .map(|id| usize::try_from(topics[id].partitions).unwrap_or(0))
            .sum();
        prop_assert_eq!(moved(&previous, &next), fewest_moves(&held, total));
        // A member keeps its current partitions up to the minimum quota.
        for member in &members {
            let now = &next[&member.member_id];
            let kept: usize = member
                .current
                .iter()
                .map(|(topic_id, partitions)| {
                    now.get(topic_id).map_or(0, |set| set.intersection(partitions).count())
                })
                .sum();
            prop_assert!(kept >= load(&member.current).min(total / members.len()));
        }
    }

    #[test]
    fn reassigning_the_result_changes_nothing((topics, members) in heterogeneous_group()) {
        // Reassigning with the result as the current assignment changes nothing.
        for assignor in [&UniformAssignor as &dyn ServerAssignor, &RangeAssignor] {
            let first = assignor.assign(&members, &topics);
            prop_assert_eq!(assignor.assign(&with_current(&members, &first), &topics), first);
        }
    }

    #[test]
    fn range_fresh_assignment_is_contiguous_and_co_partitioned((topics, members) in homogeneous_group()) {
        let fresh: Vec<MemberSubscription> = members
            .iter()
            .map(|m| MemberSubscription { current: BTreeMap::new(), ..m.clone() })
            .collect();
        let assignment = RangeAssignor.assign(&fresh, &topics);
        check_valid(&fresh, &topics, &assignment)?;
        for target in assignment.values() {
            for partitions in target.values() {
                let (first, last) = (partitions.first().copied(), partitions.last().copied());
                if let (Some(first), Some(last)) = (first, last) {
                    prop_assert_eq!(usize::try_from(last - first + 1).ok(), Some(partitions.len()));
                }
            }
        }
        check_co_partitioned(&topics, &assignment, &subscribed_ids(&fresh[0], &topics))?;
        // Member order: each member's range starts after the previous member's.
        for topic_id in subscribed_ids(&fresh[0], &topics) {
            let firsts: Vec<i32> = assignment
                .values()
                .filter_map(|t| t.get(&topic_id).and_then(|p| p.first().copied()))
                .collect();
            prop_assert!(firsts.windows(2).all(|w| w[0] < w[1]), "{firsts:?}");
        }
    }

    #[test]
    fn range_stays_co_partitioned_and_sticky(change in change()) {
        let previous = RangeAssignor.assign(&change.members_before(), &change.topics_before());
        let members = with_current(&change.members_after(), &previous);
        let topics = change.topics_after();
        let next = RangeAssignor.assign(&members, &topics);
        check_valid(&members, &topics, &next)?;
        let subscribed = subscribed_ids(&members[0], &topics);
        check_co_partitioned(&topics, &next, &subscribed)?;
        // Each member keeps its current partitions of a topic up to the minimum quota.
        for member in &members {
            for topic_id in &subscribed {
                let quota_min = usize::try_from(topics[topic_id].partitions).unwrap_or(0) / members.len();
                let current = member.current.get(topic_id).cloned().unwrap_or_default();
                let now = next[&member.member_id].get(topic_id).cloned().unwrap_or_default();
                prop_assert!(current.intersection(&now).count() >= current.len().min(quota_min));
            }
        }
    }
}

#[test]
fn empty_group_gets_an_empty_assignment() {
    let topics = topic_set(&[3]);
    assert!(UniformAssignor.assign(&[], &topics).is_empty());
    assert!(RangeAssignor.assign(&[], &topics).is_empty());
}

#[test]
#[should_panic(expected = "appears twice")]
fn duplicate_member_ids_are_a_programmer_error() {
    let topics = topic_set(&[3]);
    let twice = [
        member("a", &["t0"], BTreeMap::new()),
        member("a", &["t0"], BTreeMap::new()),
    ];
    UniformAssignor.assign(&twice, &topics);
}

#[test]
fn names_are_kafkas() {
    assert_eq!(UniformAssignor.name(), "uniform");
    assert_eq!(RangeAssignor.name(), "range");
}
