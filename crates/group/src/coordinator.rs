//! The coordinator: dispatch of requests, timers, and the rebuild from
//! `__consumer_offsets`. What each API does lives in `membership.rs`, `offsets.rs` and
//! `admin.rs`.

use std::collections::BTreeMap;

use fjord_protocol::ResponseKind;

use crate::assignor::TopicInfo;
use crate::config::GroupConfig;
use crate::consumer::{self, ConsumerGroup};
use crate::error::ReplayError;
use crate::group::Group;
use crate::member::MemberIds;
use crate::membership;
use crate::offsets::Offsets;
use crate::records::{self, GroupMetadataValue, RecordKey};
use crate::timers::{Timer, Timers};
use crate::{GroupRecord, GroupRequest, Output, RequestId};

/// Kafka's classic group coordinator as a state machine: it owns every group (Fjord's
/// single node coordinates all of them) and is driven by plain calls with the time passed
/// in, so that tests drive it with a fake clock.
///
/// See the [crate documentation](crate) for the contract with the runtime.
#[derive(Debug)]
pub struct GroupCoordinator {
    pub(crate) config: GroupConfig,
    pub(crate) groups: BTreeMap<String, Group>,
    pub(crate) timers: Timers,
    pub(crate) member_ids: MemberIds,
    /// What `replay` has read so far, made into groups by `finish_replay`.
    pub(crate) loading: BTreeMap<String, LoadingGroup>,
    /// Whether the replay is over and requests are served.
    pub(crate) started: bool,
    /// Offsets of transactions not ended yet (TxnOffsetCommit), by producer id.
    pub(crate) transactions: crate::transactions::PendingTransactions,
    /// The topics that exist, for the server-side assignors of consumer groups.
    pub(crate) topics: BTreeMap<fjord_protocol::Uuid, TopicInfo>,
}

/// A group as the replay has seen it so far.
#[derive(Debug, Default)]
pub(crate) struct LoadingGroup {
    metadata: Option<GroupMetadataValue>,
    pub(crate) offsets: Offsets,
    consumer: Option<ConsumerGroup>,
}

/// What the operations of one call share: the time, the settings, the timers and the
/// output being built.
pub(crate) struct Ctx<'a> {
    pub now_ms: i64,
    pub config: &'a GroupConfig,
    pub timers: &'a mut Timers,
    pub out: &'a mut Output,
}

impl Ctx<'_> {
    /// Queues the response to request `id`.
    pub(crate) fn respond(&mut self, id: RequestId, response: ResponseKind) {
        self.out.responses.push((id, response));
    }
}

impl GroupCoordinator {
    /// A coordinator without groups. Check `config` with [`GroupConfig::validate`] first.
    pub fn new(config: GroupConfig) -> Self {
        GroupCoordinator {
            config,
            groups: BTreeMap::new(),
            timers: Timers::default(),
            member_ids: MemberIds::default(),
            loading: BTreeMap::new(),
            started: false,
            transactions: Default::default(),
            topics: BTreeMap::new(),
        }
    }

    /// Handles one request. `version` is the request's API version (responses depend on
    /// it); `client_id` and `client_host` are recorded for members (DescribeGroups shows
    /// them; Kafka shows hosts as `/address`).
    ///
    /// The response comes in this [`Output`] or, for JoinGroup and SyncGroup that wait for
    /// a rebalance, in a later one; always exactly once per [`RequestId`].
    pub fn handle(
        &mut self,
        now_ms: i64,
        id: RequestId,
        request: GroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> Output {
        self.start(now_ms);
        let mut out = Output::default();
        match request {
            GroupRequest::JoinGroup(request) => {
                self.join_group(
                    now_ms,
                    id,
                    version,
                    request,
                    client_id,
                    client_host,
                    &mut out,
                );
            }
            GroupRequest::SyncGroup(request) => {
                self.sync_group(now_ms, id, version, request, &mut out);
            }
            GroupRequest::Heartbeat(request) => self.heartbeat(now_ms, id, request, &mut out),
            GroupRequest::LeaveGroup(request) => {
                self.leave_group(now_ms, id, version, request, &mut out);
            }
            GroupRequest::OffsetCommit(request) => {
                let response = self.offset_commit(now_ms, version, request, &mut out);
                out.responses
                    .push((id, ResponseKind::OffsetCommit(response)));
            }
            GroupRequest::TxnOffsetCommit(request) => {
                let response = self.txn_offset_commit(now_ms, version, request, &mut out);
                out.responses
                    .push((id, ResponseKind::TxnOffsetCommit(response)));
            }
            GroupRequest::OffsetFetch(request) => {
                let response = self.offset_fetch(version, request);
                out.responses
                    .push((id, ResponseKind::OffsetFetch(response)));
            }
            GroupRequest::ListGroups(request) => {
                let response = self.list_groups(version, &request);
                out.responses.push((id, ResponseKind::ListGroups(response)));
            }
            GroupRequest::DescribeGroups(request) => {
                let response = self.describe_groups(version, &request);
                out.responses
                    .push((id, ResponseKind::DescribeGroups(response)));
            }
            GroupRequest::DeleteGroups(request) => {
                let response = self.delete_groups(request, &mut out);
                out.responses
                    .push((id, ResponseKind::DeleteGroups(response)));
            }
            GroupRequest::OffsetDelete(request) => {
                let response = self.offset_delete(request, &mut out);
                out.responses
                    .push((id, ResponseKind::OffsetDelete(response)));
            }
            GroupRequest::ConsumerGroupHeartbeat(request) => {
                self.consumer_group_heartbeat(
                    now_ms,
                    id,
                    version,
                    request,
                    client_id,
                    client_host,
                    &mut out,
                );
            }
            GroupRequest::ConsumerGroupDescribe(request) => {
                let response = self.consumer_group_describe(&request);
                out.responses
                    .push((id, ResponseKind::ConsumerGroupDescribe(response)));
            }
        }
        #[cfg(debug_assertions)]
        self.check_invariants();
        out
    }

    /// Fires every timer due at `now_ms`: session timeouts, the ends of join and sync
    /// phases, the initial rebalance delay and offset expiry.
    pub fn tick(&mut self, now_ms: i64) -> Output {
        self.start(now_ms);
        let mut out = Output::default();
        // Timers fired here may arm others due now (a zero timeout); each of those moves a
        // group forward (or is at least a millisecond away), so this loop ends.
        while let Some(timer) = self.timers.pop_due(now_ms) {
            self.fire(now_ms, timer, &mut out);
        }
        #[cfg(debug_assertions)]
        self.check_invariants();
        out
    }

    /// Tells the coordinator which topics exist (id, name, partition count), at startup
    /// and whenever topics are created, deleted or get partitions. Consumer groups that
    /// subscribe to a changed topic move to a new group epoch, which may need records.
    pub fn set_topics(
        &mut self,
        now_ms: i64,
        topics: impl IntoIterator<Item = TopicInfo>,
    ) -> Output {
        self.start(now_ms);
        self.topics = topics.into_iter().map(|t| (t.id, t)).collect();
        let mut out = Output::default();
        self.consumer_groups_on_topics(&mut out);
        out
    }

    /// When [`tick`](Self::tick) next has something to do, if ever.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.timers.first()
    }

    /// Removes the committed offsets of deleted topics, as Kafka does when topics are
    /// deleted: otherwise a topic created again under the same name would start from the
    /// old topic's offsets.
    pub fn delete_offsets_of_topics(&mut self, now_ms: i64, topics: &[String]) -> Output {
        self.start(now_ms);
        let mut out = Output::default();
        self.delete_topic_offsets(topics, &mut out);
        out
    }

    /// Rebuilds state from `__consumer_offsets` at startup, record by record in log order
    /// (a `None` value is a tombstone). An error means this record was not applied, and
    /// the replay can go on with the next one; it is for the runtime to decide whether
    /// a record it cannot read is worth refusing to start.
    ///
    /// Replay must come before the first [`handle`](Self::handle) or
    /// [`tick`](Self::tick), which end it as [`finish_replay`](Self::finish_replay) does.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), ReplayError> {
        if self.started {
            return Err(ReplayError::AfterStart);
        }
        match records::parse_key(key)? {
            RecordKey::OffsetCommit {
                group,
                topic,
                partition,
            } => match value {
                Some(value) => {
                    let value = records::parse_offset_commit_value(value)?;
                    let loading = self.loading.entry(group).or_default();
                    loading.offsets.insert(topic, partition, value);
                }
                None => {
                    if let Some(loading) = self.loading.get_mut(&group) {
                        loading.offsets.remove(&topic, partition);
                    }
                }
            },
            RecordKey::ConsumerGroupSnapshot { group } => match value {
                Some(value) => {
                    let snapshot = consumer::parse_snapshot(value).map_err(|reason| {
                        ReplayError::Snapshot {
                            group: group.clone(),
                            reason,
                        }
                    })?;
                    self.loading.entry(group).or_default().consumer = Some(snapshot);
                }
                None => {
                    if let Some(loading) = self.loading.get_mut(&group) {
                        loading.consumer = None;
                    }
                }
            },
            RecordKey::GroupMetadata { group } => match value {
                Some(value) => {
                    let value = records::parse_group_metadata_value(value)?;
                    self.loading.entry(group).or_default().metadata = Some(value);
                }
                None => {
                    if let Some(loading) = self.loading.get_mut(&group) {
                        loading.metadata = None;
                    }
                }
            },
        }
        Ok(())
    }

    /// Ends the replay. Groups with members in their last record come back Stable with
    /// them, as in Kafka: their sessions start now, so members that are still there go
    /// on heartbeating in the same generation, and the others time out and cause a
    /// rebalance. Groups with offsets only come back Empty. Calling it again does nothing.
    pub fn finish_replay(&mut self, now_ms: i64) {
        if self.started {
            return;
        }
        self.started = true;
        self.member_ids.seed(now_ms);
        self.timers.set(
            Timer::OffsetsExpiry,
            now_ms.saturating_add(self.config.offsets_retention_check_interval_ms.max(1)),
        );
        let mut out = Output::default();
        for (group_id, loading) in std::mem::take(&mut self.loading) {
            if loading.metadata.is_none()
                && loading.offsets.is_empty()
                && loading.consumer.is_none()
            {
                continue;
            }
            let mut group = Group::from_record(group_id.clone(), loading.metadata, loading.offsets);
            if let Some(snapshot) = loading.consumer {
                consumer::arm_replayed_timers(
                    &mut self.timers,
                    &group_id,
                    &snapshot,
                    now_ms,
                    i64::from(self.config.group_consumer_session_timeout_ms),
                );
                group.consumer = Some(Box::new(snapshot));
            }
            let mut ctx = Ctx {
                now_ms,
                config: &self.config,
                timers: &mut self.timers,
                out: &mut out,
            };
            for member_id in group.member_ids() {
                membership::reset_session(&group, &mut ctx, &member_id);
            }
            let max = usize::try_from(self.config.group_max_size).unwrap_or(0);
            if group.size() > max {
                // group.max.size was lowered: the members rejoin, and the last ones are shed.
                membership::prepare_rebalance(&mut group, &mut ctx);
            }
            self.groups.insert(group_id, group);
        }
        // Loaded members have no requests waiting, and nothing changed that needs a record.
        debug_assert!(out.is_empty(), "{out:?}");
        #[cfg(debug_assertions)]
        self.check_invariants();
    }

    /// Ends an unfinished replay on the first request or tick.
    fn start(&mut self, now_ms: i64) {
        if !self.started {
            self.finish_replay(now_ms);
        }
    }

    /// Runs what `timer` was armed for.
    fn fire(&mut self, now_ms: i64, timer: Timer, out: &mut Output) {
        match &timer {
            Timer::ConsumerSession { group, member } => {
                let (group, member) = (group.clone(), member.clone());
                self.on_consumer_member_expired(now_ms, &group, &member, false, out);
                return;
            }
            Timer::ConsumerRevocation { group, member } => {
                let (group, member) = (group.clone(), member.clone());
                self.on_consumer_member_expired(now_ms, &group, &member, true, out);
                return;
            }
            _ => {}
        }
        let group_id = match &timer {
            Timer::ConsumerSession { .. } | Timer::ConsumerRevocation { .. } => return,
            Timer::Session { group, .. }
            | Timer::PendingMember { group, .. }
            | Timer::Join { group }
            | Timer::Sync { group } => group.clone(),
            Timer::OffsetsExpiry => {
                self.expire_offsets(now_ms, out);
                let interval_ms = self.config.offsets_retention_check_interval_ms.max(1);
                self.timers
                    .set(Timer::OffsetsExpiry, now_ms.saturating_add(interval_ms));
                return;
            }
        };
        let Some(group) = self.groups.get_mut(&group_id) else {
            return;
        };
        let mut ctx = Ctx {
            now_ms,
            config: &self.config,
            timers: &mut self.timers,
            out,
        };
        match timer {
            Timer::Session { member, .. } => {
                membership::on_session_expired(group, &mut ctx, &member);
            }
            Timer::PendingMember { member, .. } => {
                membership::on_pending_member_expired(group, &mut ctx, &member);
            }
            Timer::Join { .. } => membership::on_join_deadline(group, &mut ctx),
            Timer::Sync { .. } => membership::on_sync_deadline(group, &mut ctx),
            Timer::OffsetsExpiry
            | Timer::ConsumerSession { .. }
            | Timer::ConsumerRevocation { .. } => {}
        }
    }

    /// Removes a group (it becomes Dead): tombstones for its offsets and its metadata.
    /// Only empty groups are removed, so no member or request is waiting.
    pub(crate) fn remove_group(&mut self, group_id: &str, out: &mut Output) {
        let Some(group) = self.groups.remove(group_id) else {
            return;
        };
        debug_assert_eq!(group.size(), 0);
        for member_id in group.pending_members() {
            self.timers.clear(&Timer::PendingMember {
                group: group.id.clone(),
                member: member_id.clone(),
            });
        }
        for (topic, partition, _) in group.offsets.iter() {
            if let Ok(key) = records::offset_commit_key(&group.id, topic, partition) {
                out.records.push(GroupRecord {
                    group_id: group.id.clone(),
                    key,
                    value: None,
                });
            }
        }
        if let Ok(key) = records::group_metadata_key(&group.id) {
            out.records.push(GroupRecord {
                group_id: group.id.clone(),
                key,
                value: None,
            });
        }
        if group.consumer.is_some()
            && let Ok(key) = consumer::snapshot_key(&group.id)
        {
            out.records.push(GroupRecord {
                group_id: group.id.clone(),
                key,
                value: None,
            });
        }
    }

    /// Panics if the groups and the timers disagree: a bug here would otherwise show up
    /// as a request that is never answered or a member that never expires.
    #[cfg(debug_assertions)]
    fn check_invariants(&self) {
        use crate::group::GroupState;
        for group in self.groups.values() {
            group.check_invariants();
            let join = Timer::Join {
                group: group.id.clone(),
            };
            assert_eq!(
                self.timers.get(&join).is_some(),
                group.state == GroupState::PreparingRebalance,
                "group {} in {:?}: join timer",
                group.id,
                group.state
            );
            for member_id in group.pending_members() {
                let timer = Timer::PendingMember {
                    group: group.id.clone(),
                    member: member_id.clone(),
                };
                assert!(self.timers.get(&timer).is_some(), "pending {member_id}");
            }
            for member_id in group.member_ids() {
                let timer = Timer::Session {
                    group: group.id.clone(),
                    member: member_id.clone(),
                };
                let member = group.member(&member_id).expect("listed member");
                // A member without a session timer must be waiting, or it would never go.
                let waiting = member.is_awaiting_join() || member.awaiting_sync.is_some();
                assert!(
                    self.timers.get(&timer).is_some() || (waiting && !member.is_new),
                    "member {member_id} of {} has no session",
                    group.id
                );
            }
        }
        for (timer, _) in self.timers.iter() {
            let group = |id: &str| self.groups.get(id).expect("timer of an existing group");
            match timer {
                Timer::Session { group: g, member } => assert!(group(g).has_member(member)),
                Timer::PendingMember { group: g, member } => assert!(group(g).is_pending(member)),
                Timer::Join { group: g } => {
                    assert!(group(g).state == GroupState::PreparingRebalance);
                }
                Timer::Sync { group: g } => {
                    let group = group(g);
                    assert!(!group.pending_sync_members.is_empty(), "sync timer of {g}");
                    assert!(matches!(
                        group.state,
                        GroupState::CompletingRebalance | GroupState::Stable
                    ));
                }
                Timer::OffsetsExpiry => {}
                Timer::ConsumerSession { group: g, member }
                | Timer::ConsumerRevocation { group: g, member } => {
                    let consumer = group(g).consumer.as_deref().expect("consumer group");
                    assert!(consumer.members.contains_key(member), "timer of {member}");
                }
            }
        }
        for group in self.groups.values() {
            if let Some(consumer) = group.consumer.as_deref() {
                for member_id in consumer.members.keys() {
                    let timer = Timer::ConsumerSession {
                        group: group.id.clone(),
                        member: member_id.clone(),
                    };
                    assert!(self.timers.get(&timer).is_some(), "session of {member_id}");
                }
            }
        }
        self.timers.check_invariants();
    }
}
