//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, their expiry (KIP-211,
//! KIP-496) and their removal with deleted topics.

use std::collections::BTreeMap;

use fjord_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use fjord_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use fjord_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use fjord_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse,
};

use crate::coordinator::{Ctx, GroupCoordinator};
use crate::error::ErrorCode;
use crate::group::{Group, GroupState};
use crate::membership::reset_session;
use crate::records::{self, OffsetCommitValue, RECORD_STRING_BYTES_MAX};
use crate::{GroupRecord, Output};

/// A group's committed offsets, by topic and partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Offsets {
    topics: BTreeMap<String, BTreeMap<i32, OffsetCommitValue>>,
}

impl Offsets {
    pub(crate) fn get(&self, topic: &str, partition: i32) -> Option<&OffsetCommitValue> {
        self.topics.get(topic)?.get(&partition)
    }

    pub(crate) fn insert(&mut self, topic: String, partition: i32, value: OffsetCommitValue) {
        self.topics
            .entry(topic)
            .or_default()
            .insert(partition, value);
    }

    pub(crate) fn remove(&mut self, topic: &str, partition: i32) -> Option<OffsetCommitValue> {
        let partitions = self.topics.get_mut(topic)?;
        let removed = partitions.remove(&partition);
        if partitions.is_empty() {
            self.topics.remove(topic);
        }
        removed
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Every committed offset, by topic then partition.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, i32, &OffsetCommitValue)> {
        self.topics.iter().flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(partition, value)| (topic.as_str(), *partition, value))
        })
    }

    /// The partitions of `topic` with an offset.
    fn partitions_of(&self, topic: &str) -> Vec<i32> {
        self.topics
            .get(topic)
            .map(|partitions| partitions.keys().copied().collect())
            .unwrap_or_default()
    }
}

impl GroupCoordinator {
    /// Handles OffsetCommit. Accepted offsets are records to append before the response.
    pub(crate) fn offset_commit(
        &mut self,
        now_ms: i64,
        version: i16,
        request: OffsetCommitRequest,
        out: &mut Output,
    ) -> OffsetCommitResponse {
        // Version 0 committed outside any generation.
        let generation_id = if version >= 1 {
            request.generation_id_or_member_epoch
        } else {
            -1
        };
        let member_id = if version >= 1 {
            request.member_id.as_str()
        } else {
            ""
        };
        let group_instance_id = request.group_instance_id.as_deref();
        let all = |error: ErrorCode| commit_response(&request, |_, _| error);

        // The empty group id is valid here, for compatibility with old clients (as in Kafka).
        if request.group_id.len() > RECORD_STRING_BYTES_MAX {
            return all(ErrorCode::INVALID_GROUP_ID);
        }
        let created = !self.groups.contains_key(&request.group_id);
        if created {
            if generation_id < 0 {
                // A consumer that manages its partitions itself ("simple consumer"), or the
                // admin client: the group exists for its offsets only.
                let group = Group::new(request.group_id.clone(), now_ms);
                self.groups.insert(request.group_id.clone(), group);
            } else if version >= 9 {
                return all(ErrorCode::GROUP_ID_NOT_FOUND);
            } else {
                // Older versions had no better error for a group that is gone.
                return all(ErrorCode::ILLEGAL_GENERATION);
            }
        }
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return all(ErrorCode::UNKNOWN_SERVER_ERROR);
        };
        let validation = match group.consumer.as_deref() {
            Some(consumer) => GroupCoordinator::validate_consumer_member(
                consumer,
                member_id,
                generation_id,
                version >= 9,
            ),
            None => validate_offset_commit(group, generation_id, member_id, group_instance_id),
        };
        if let Some(error) = validation {
            return all(error);
        }
        match group.state {
            GroupState::Empty => {}
            // Commits go on during PreparingRebalance: the heartbeat tells the member to
            // rejoin, and its last offsets should not be lost meanwhile.
            GroupState::Stable | GroupState::PreparingRebalance => {
                let mut ctx = Ctx {
                    now_ms,
                    config: &self.config,
                    timers: &mut self.timers,
                    out,
                };
                reset_session(group, &mut ctx, member_id);
            }
            // The member has its new generation but not its assignment yet.
            GroupState::CompletingRebalance => return all(ErrorCode::REBALANCE_IN_PROGRESS),
            GroupState::Dead => return all(ErrorCode::UNKNOWN_MEMBER_ID),
        }

        let metadata_max = usize::try_from(self.config.offset_metadata_max_bytes).unwrap_or(0);
        let response = commit_response(&request, |topic, partition| {
            let metadata = partition.committed_metadata.clone().unwrap_or_default();
            // Kafka counts Java chars (UTF-16 units); the record holds at most i16::MAX bytes.
            if metadata.encode_utf16().count() > metadata_max
                || metadata.len() > RECORD_STRING_BYTES_MAX
            {
                return ErrorCode::OFFSET_METADATA_TOO_LARGE;
            }
            // No topic has a name this long: it could not be stored either.
            if topic.len() > RECORD_STRING_BYTES_MAX {
                return ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
            }
            let value = OffsetCommitValue {
                offset: partition.committed_offset,
                leader_epoch: if version >= 6 {
                    partition.committed_leader_epoch
                } else {
                    -1
                },
                metadata,
                // Only version 1 lets the client set the commit time.
                commit_timestamp_ms: if version == 1 && partition.commit_timestamp != -1 {
                    partition.commit_timestamp
                } else {
                    now_ms
                },
                // Retention times of versions 2-4 are ignored, as in Kafka 4 (KIP-211 made
                // retention a broker matter).
                expire_timestamp_ms: None,
            };
            let key = records::offset_commit_key(&group.id, topic, partition.partition_index);
            let Ok((key, bytes)) =
                key.and_then(|key| Ok((key, records::offset_commit_value(&value)?)))
            else {
                return ErrorCode::UNKNOWN_SERVER_ERROR;
            };
            out.records.push(GroupRecord {
                group_id: group.id.clone(),
                key,
                value: Some(bytes),
            });
            group
                .offsets
                .insert(topic.to_owned(), partition.partition_index, value);
            ErrorCode::NONE
        });
        if created
            && self
                .groups
                .get(&request.group_id)
                .is_some_and(Group::is_unused)
        {
            self.groups.remove(&request.group_id);
        }
        response
    }

    /// Handles OffsetFetch: one group before version 8, several from version 8.
    pub(crate) fn offset_fetch(
        &self,
        version: i16,
        request: OffsetFetchRequest,
    ) -> OffsetFetchResponse {
        // KIP-447: with require_stable (v7+), a partition whose offset an open
        // transaction holds pending answers UNSTABLE_OFFSET_COMMIT, which the consumer
        // retries, instead of an offset about to be replaced.
        let require_stable = version >= 7 && request.require_stable;
        let unstable = |group: &str, topic: &str, partition: i32| {
            require_stable && self.has_pending_offset(group, topic, partition)
        };
        if version >= 8 {
            let groups = request
                .groups
                .into_iter()
                .map(|requested| {
                    let wanted = requested.topics.map(|topics| {
                        topics
                            .into_iter()
                            .map(|t| (t.name, t.partition_indexes))
                            .collect()
                    });
                    // Version 9 names the member (KIP-848): a stale one gets an error
                    // instead of offsets it might act on.
                    let stale = requested.member_id.as_deref().and_then(|member_id| {
                        let consumer = self.groups.get(&requested.group_id)?.consumer.as_deref()?;
                        GroupCoordinator::validate_consumer_member(
                            consumer,
                            member_id,
                            requested.member_epoch,
                            true,
                        )
                    });
                    if let Some(error) = stale {
                        return OffsetFetchResponseGroup {
                            group_id: requested.group_id,
                            error_code: error.code(),
                            ..Default::default()
                        };
                    }
                    let topics = self
                        .fetch_offsets(&requested.group_id, wanted)
                        .into_iter()
                        .map(|(name, partitions)| OffsetFetchResponseTopics {
                            name: name.clone(),
                            partitions: partitions
                                .into_iter()
                                .map(|(partition_index, value)| {
                                    let value = FetchedOffset::from(value);
                                    if unstable(&requested.group_id, &name, partition_index) {
                                        return OffsetFetchResponsePartitions {
                                            partition_index,
                                            committed_offset: -1,
                                            committed_leader_epoch: -1,
                                            metadata: Some(String::new()),
                                            error_code: ErrorCode::UNSTABLE_OFFSET_COMMIT.code(),
                                            ..Default::default()
                                        };
                                    }
                                    OffsetFetchResponsePartitions {
                                        partition_index,
                                        committed_offset: value.offset,
                                        committed_leader_epoch: value.leader_epoch,
                                        metadata: Some(value.metadata),
                                        error_code: ErrorCode::NONE.code(),
                                        ..Default::default()
                                    }
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect();
                    OffsetFetchResponseGroup {
                        group_id: requested.group_id,
                        topics,
                        error_code: ErrorCode::NONE.code(),
                        ..Default::default()
                    }
                })
                .collect();
            OffsetFetchResponse {
                groups,
                ..Default::default()
            }
        } else {
            let wanted = request.topics.map(|topics| {
                topics
                    .into_iter()
                    .map(|t| (t.name, t.partition_indexes))
                    .collect()
            });
            let topics = self
                .fetch_offsets(&request.group_id, wanted)
                .into_iter()
                .map(|(name, partitions)| OffsetFetchResponseTopic {
                    name: name.clone(),
                    partitions: partitions
                        .into_iter()
                        .map(|(partition_index, value)| {
                            let value = FetchedOffset::from(value);
                            if unstable(&request.group_id, &name, partition_index) {
                                return OffsetFetchResponsePartition {
                                    partition_index,
                                    committed_offset: -1,
                                    committed_leader_epoch: -1,
                                    metadata: Some(String::new()),
                                    error_code: ErrorCode::UNSTABLE_OFFSET_COMMIT.code(),
                                    ..Default::default()
                                };
                            }
                            OffsetFetchResponsePartition {
                                partition_index,
                                committed_offset: value.offset,
                                // The leader epoch exists from version 5.
                                committed_leader_epoch: if version >= 5 {
                                    value.leader_epoch
                                } else {
                                    -1
                                },
                                metadata: Some(value.metadata),
                                error_code: ErrorCode::NONE.code(),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect();
            OffsetFetchResponse {
                topics,
                ..Default::default()
            }
        }
    }

    /// The offsets of `wanted` partitions (all committed ones for `None`) of a group, with
    /// `None` for partitions without one. Offsets are returned whatever the group's state:
    /// consumers that manage partitions themselves commit without being members.
    #[allow(clippy::type_complexity)]
    fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<(i32, Option<&OffsetCommitValue>)>)> {
        let group = self.groups.get(group_id);
        match wanted {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let values = partitions
                        .into_iter()
                        .map(|p| (p, group.and_then(|g| g.offsets.get(&topic, p))))
                        .collect();
                    (topic, values)
                })
                .collect(),
            None => {
                let mut topics: Vec<(String, Vec<(i32, Option<&OffsetCommitValue>)>)> = Vec::new();
                for (topic, partition, value) in group.into_iter().flat_map(|g| g.offsets.iter()) {
                    match topics.last_mut() {
                        Some((last, values)) if last == topic => {
                            values.push((partition, Some(value)))
                        }
                        _ => topics.push((topic.to_owned(), vec![(partition, Some(value))])),
                    }
                }
                topics
            }
        }
    }

    /// Handles OffsetDelete. A group with members may only lose offsets of topics none of
    /// its members subscribe to.
    pub(crate) fn offset_delete(
        &mut self,
        request: OffsetDeleteRequest,
        out: &mut Output,
    ) -> OffsetDeleteResponse {
        let fail = |error: ErrorCode| OffsetDeleteResponse {
            error_code: error.code(),
            ..Default::default()
        };
        if request.group_id.is_empty() {
            return fail(ErrorCode::INVALID_GROUP_ID);
        }
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            return fail(ErrorCode::GROUP_ID_NOT_FOUND);
        };
        let check_subscriptions = match group.state {
            GroupState::Empty if group.consumer.is_some() => group.has_members(),
            GroupState::Empty => false,
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable
                if group.is_consumer_group() =>
            {
                true
            }
            GroupState::Dead => return fail(ErrorCode::GROUP_ID_NOT_FOUND),
            _ => return fail(ErrorCode::NON_EMPTY_GROUP),
        };
        let topics = request
            .topics
            .into_iter()
            .map(|topic| {
                let subscribed = check_subscriptions
                    && match group.consumer.as_deref() {
                        Some(consumer) => consumer.is_subscribed_to_topic(&topic.name),
                        None => group.is_subscribed_to_topic(&topic.name),
                    };
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|partition| {
                        let error = if subscribed {
                            ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC
                        } else {
                            delete_offset(group, &topic.name, partition.partition_index, out);
                            ErrorCode::NONE
                        };
                        OffsetDeleteResponsePartition {
                            partition_index: partition.partition_index,
                            error_code: error.code(),
                        }
                    })
                    .collect();
                OffsetDeleteResponseTopic {
                    name: topic.name,
                    partitions,
                }
            })
            .collect();
        OffsetDeleteResponse {
            error_code: ErrorCode::NONE.code(),
            topics,
            ..Default::default()
        }
    }

    /// Removes expired offsets, and then the groups left empty without offsets (Kafka's
    /// cleanupGroupMetadata).
    pub(crate) fn expire_offsets(&mut self, now_ms: i64, out: &mut Output) {
        let retention_ms = self.config.offsets_retention_ms();
        let mut dead = Vec::new();
        for group in self.groups.values_mut() {
            for (topic, partition) in expired_offsets(group, now_ms, retention_ms) {
                delete_offset(group, &topic, partition, out);
            }
            if !group.has_members() && group.offsets.is_empty() {
                dead.push(group.id.clone());
            }
        }
        for group_id in dead {
            self.remove_group(&group_id, out);
        }
    }

    /// Removes every offset of deleted topics.
    pub(crate) fn delete_topic_offsets(&mut self, topics: &[String], out: &mut Output) {
        for group in self.groups.values_mut() {
            for topic in topics {
                for partition in group.offsets.partitions_of(topic) {
                    delete_offset(group, topic, partition, out);
                }
            }
        }
    }
}

/// Checks who may commit (Kafka's validateOffsetCommit).
fn validate_offset_commit(
    group: &Group,
    generation_id: i32,
    member_id: &str,
    group_instance_id: Option<&str>,
) -> Option<ErrorCode> {
    if generation_id < 0 && group.state == GroupState::Empty {
        // The admin client, or a consumer outside group management: allowed while the
        // group has no members whose progress it could overwrite.
        return None;
    }
    if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
        return group
            .validate_current_member(member_id, group_instance_id)
            .or_else(|| {
                (generation_id != group.generation_id).then_some(ErrorCode::ILLEGAL_GENERATION)
            });
    }
    // Outsiders cannot commit for a group with members.
    (group.state != GroupState::Empty).then_some(ErrorCode::UNKNOWN_MEMBER_ID)
}

/// A response for every partition of the request, in its order, with `error_for`'s code.
fn commit_response(
    request: &OffsetCommitRequest,
    mut error_for: impl FnMut(
        &str,
        &fjord_protocol::messages::offset_commit_request::OffsetCommitRequestPartition,
    ) -> ErrorCode,
) -> OffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| OffsetCommitResponseTopic {
            name: topic.name.clone(),
            partitions: topic
                .partitions
                .iter()
                .map(|partition| OffsetCommitResponsePartition {
                    partition_index: partition.partition_index,
                    error_code: error_for(&topic.name, partition).code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    OffsetCommitResponse {
        topics,
        ..Default::default()
    }
}

/// An offset as OffsetFetch reports it; -1 and "" for a partition without one.
struct FetchedOffset {
    offset: i64,
    leader_epoch: i32,
    metadata: String,
}

impl From<Option<&OffsetCommitValue>> for FetchedOffset {
    fn from(value: Option<&OffsetCommitValue>) -> Self {
        match value {
            Some(value) => FetchedOffset {
                offset: value.offset,
                leader_epoch: value.leader_epoch,
                metadata: value.metadata.clone(),
            },
            None => FetchedOffset {
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
            },
        }
    }
}

/// Removes one offset, with a tombstone if there was one.
fn delete_offset(group: &mut Group, topic: &str, partition: i32, out: &mut Output) {
    if group.offsets.remove(topic, partition).is_none() {
        return;
    }
    if let Ok(key) = records::offset_commit_key(&group.id, topic, partition) {
        out.records.push(GroupRecord {
            group_id: group.id.clone(),
            key,
            value: None,
        });
    }
}

/// The offsets that have expired (Kafka's removeExpiredOffsets).
fn expired_offsets(group: &Group, now_ms: i64, retention_ms: i64) -> Vec<(String, i32)> {
    let expired = |value: &OffsetCommitValue, base_ms: i64| match value.expire_timestamp_ms {
        // Written by old clients that chose a retention time per commit.
        Some(expire_ms) => now_ms >= expire_ms,
        None => now_ms.saturating_sub(base_ms) >= retention_ms,
    };
    let select = |keep: &dyn Fn(&str, &OffsetCommitValue) -> bool| {
        group
            .offsets
            .iter()
            .filter(|(topic, _, value)| keep(topic, value))
            .map(|(topic, partition, _)| (topic.to_owned(), partition))
            .collect()
    };
    if let Some(consumer) = group.consumer.as_deref() {
        // A consumer group's offsets expire once it is empty, a retention period after
        // that (KIP-211), or, while it has members, for topics no member subscribes to
        // (KIP-496).
        return if consumer.members.is_empty() {
            select(&|_, value| {
                expired(
                    value,
                    group
                        .state_timestamp_ms
                        .unwrap_or(value.commit_timestamp_ms),
                )
            })
        } else {
            select(&|topic, value| {
                !consumer.is_subscribed_to_topic(topic) && expired(value, value.commit_timestamp_ms)
            })
        };
    }
    match (&group.protocol_type, group.state) {
        // KIP-211: an empty group's offsets expire a retention period after it became
        // empty (or after their commit, for groups loaded without that time).
        (Some(_), GroupState::Empty) => select(&|_, value| {
            expired(
                value,
                group
                    .state_timestamp_ms
                    .unwrap_or(value.commit_timestamp_ms),
            )
        }),
        // KIP-496: a stable consumer group loses the offsets of topics it no longer
        // subscribes to, a retention period after their last commit.
        (Some(_), GroupState::Stable) if group.is_consumer_group() => {
            match &group.subscribed_topics {
                Some(subscribed) => select(&|topic, value| {
                    !subscribed.contains(topic) && expired(value, value.commit_timestamp_ms)
                }),
                None => Vec::new(),
            }
        }
        // A group used for offsets only: each offset a retention period after its commit.
        (None, _) => select(&|_, value| expired(value, value.commit_timestamp_ms)),
        _ => Vec::new(),
    }
}
