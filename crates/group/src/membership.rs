//! The classic rebalance protocol: JoinGroup, SyncGroup, Heartbeat and LeaveGroup, and
//! the timers that end its phases. This follows Kafka's GroupCoordinator (3.x, the last
//! classic one) decision by decision; comments say where and why Fjord differs.
//!
//! A rebalance goes Stable (or Empty) -> PreparingRebalance: members rejoin, JoinGroups
//! wait -> CompletingRebalance: everybody has their JoinGroup answer, the leader with the
//! members' metadata; SyncGroups wait for the leader's -> Stable: the leader's SyncGroup
//! brought the assignments, which are persisted and handed out.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use fjord_protocol::messages::leave_group_request::MemberIdentity;
use fjord_protocol::messages::leave_group_response::MemberResponse;
use fjord_protocol::messages::{
    HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};

use crate::coordinator::{Ctx, GroupCoordinator};
use crate::error::ErrorCode;
use crate::group::{Group, GroupState, JoinPhase};
use crate::member::{Member, MemberIds, PendingRequest};
use crate::records::{self, RECORD_STRING_BYTES_MAX};
use crate::responses::{self, JoinResult};
use crate::timers::Timer;
use crate::{GroupRecord, Output, RequestId};

/// How long a new member may wait in its first JoinGroup (Kafka's
/// NewMemberJoinTimeoutMs). It has no session yet: it cannot heartbeat before its
/// JoinGroup returns. If its client gave up and retried, the retry is another member,
/// and this timeout removes the abandoned one even if the rebalance drags on.
pub(crate) const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 5 * 60 * 1000;

/// A JoinGroup, with what the runtime knows about its client.
struct JoinArgs {
    id: RequestId,
    version: i16,
    member_id: String,
    group_instance_id: Option<String>,
    client_id: String,
    client_host: String,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
}

impl JoinArgs {
    fn pending(&self) -> PendingRequest {
        PendingRequest {
            id: self.id,
            version: self.version,
        }
    }
}

impl GroupCoordinator {
    /// Handles JoinGroup. The answer comes when the join phase ends, except for errors
    /// and members that need no rebalance.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn join_group(
        &mut self,
        now_ms: i64,
        id: RequestId,
        version: i16,
        request: JoinGroupRequest,
        client_id: &str,
        client_host: &str,
        out: &mut Output,
    ) {
        let fail = |out: &mut Output, member_id: &str, error: ErrorCode| {
            let response = responses::join(version, JoinResult::error(member_id, error));
            out.responses.push((id, response));
        };
        let group_id = request.group_id;
        if group_id.is_empty() || group_id.len() > RECORD_STRING_BYTES_MAX {
            return fail(out, &request.member_id, ErrorCode::INVALID_GROUP_ID);
        }
        let session_timeout_ms = request.session_timeout_ms;
        if session_timeout_ms < self.config.group_min_session_timeout_ms
            || session_timeout_ms > self.config.group_max_session_timeout_ms
        {
            return fail(out, &request.member_id, ErrorCode::INVALID_SESSION_TIMEOUT);
        }
        // Everything kept about a member goes into a record whose strings are at most
        // i16::MAX bytes; flexible requests could carry longer ones.
        let too_long = |text: &str| text.len() > RECORD_STRING_BYTES_MAX;
        if too_long(&request.member_id)
            || request.group_instance_id.as_deref().is_some_and(too_long)
            || too_long(&request.protocol_type)
            || request.protocols.iter().any(|p| too_long(&p.name))
        {
            return fail(out, &request.member_id, ErrorCode::INVALID_REQUEST);
        }
        // The spec keys protocols by name: of duplicates, the first (most preferred) counts.
        let mut names = BTreeSet::new();
        let protocols: Vec<(String, Bytes)> = request
            .protocols
            .into_iter()
            .filter(|p| names.insert(p.name.clone()))
            .map(|p| (p.name, p.metadata))
            .collect();
        let args = JoinArgs {
            id,
            version,
            member_id: request.member_id,
            group_instance_id: request.group_instance_id,
            client_id: crate::member::truncate(client_id, RECORD_STRING_BYTES_MAX).to_owned(),
            client_host: crate::member::truncate(client_host, RECORD_STRING_BYTES_MAX).to_owned(),
            // Version 0 has no rebalance timeout: Kafka uses the session timeout.
            rebalance_timeout_ms: if version == 0 {
                session_timeout_ms
            } else {
                request.rebalance_timeout_ms
            },
            session_timeout_ms,
            protocol_type: request.protocol_type,
            protocols,
        };

        // A consumer group (KIP-848 protocol) with members cannot take classic members
        // (Kafka's migration between the protocols is not implemented); an empty one
        // becomes a classic group and keeps its offsets.
        if let Some(group) = self.groups.get_mut(&group_id)
            && let Some(consumer) = &group.consumer
        {
            if !consumer.members.is_empty() {
                return fail(out, &args.member_id, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
            }
            group.consumer = None;
            if let Ok(key) = crate::consumer::snapshot_key(&group_id) {
                out.records.push(crate::GroupRecord {
                    group_id: group_id.clone(),
                    key,
                    value: None,
                });
            }
        }
        // Only a member without a member id may create a group.
        let created = !self.groups.contains_key(&group_id);
        if created {
            if !args.member_id.is_empty() {
                return fail(out, &args.member_id, ErrorCode::UNKNOWN_MEMBER_ID);
            }
            self.groups
                .insert(group_id.clone(), Group::new(group_id.clone(), now_ms));
        }
        let GroupCoordinator {
            groups,
            timers,
            config,
            member_ids,
            ..
        } = self;
        let Some(group) = groups.get_mut(&group_id) else {
            return;
        };
        let mut ctx = Ctx {
            now_ms,
            config,
            timers,
            out,
        };
        join(group, &mut ctx, member_ids, args);
        // A group made for a join that failed holds nothing; Kafka keeps it until the
        // next expiry check, Fjord does not let failed joins accumulate groups.
        if created && group.is_unused() {
            groups.remove(&group_id);
        }
    }

    /// Handles SyncGroup. Followers wait for the leader's assignment.
    pub(crate) fn sync_group(
        &mut self,
        now_ms: i64,
        id: RequestId,
        version: i16,
        request: SyncGroupRequest,
        out: &mut Output,
    ) {
        if request.group_id.is_empty() {
            let response = responses::sync_error(version, ErrorCode::INVALID_GROUP_ID);
            return out.responses.push((id, response));
        }
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            let response = responses::sync_error(version, ErrorCode::UNKNOWN_MEMBER_ID);
            return out.responses.push((id, response));
        };
        let mut ctx = Ctx {
            now_ms,
            config: &self.config,
            timers: &mut self.timers,
            out,
        };
        sync(group, &mut ctx, PendingRequest { id, version }, request);
    }

    /// Handles Heartbeat.
    pub(crate) fn heartbeat(
        &mut self,
        now_ms: i64,
        id: RequestId,
        request: HeartbeatRequest,
        out: &mut Output,
    ) {
        let error = if request.group_id.is_empty() {
            ErrorCode::INVALID_GROUP_ID
        } else if let Some(group) = self.groups.get_mut(&request.group_id) {
            let mut ctx = Ctx {
                now_ms,
                config: &self.config,
                timers: &mut self.timers,
                out,
            };
            heartbeat(group, &mut ctx, &request)
        } else {
            ErrorCode::UNKNOWN_MEMBER_ID
        };
        out.responses.push((id, responses::heartbeat(error)));
    }

    /// Handles LeaveGroup: one member before version 3, a batch by member id or group
    /// instance id from version 3 (KIP-345's admin removal).
    pub(crate) fn leave_group(
        &mut self,
        now_ms: i64,
        id: RequestId,
        version: i16,
        request: LeaveGroupRequest,
        out: &mut Output,
    ) {
        if request.group_id.is_empty() {
            let response = responses::leave(version, ErrorCode::INVALID_GROUP_ID, Vec::new());
            return out.responses.push((id, response));
        }
        let leaving = if version < 3 {
            vec![MemberIdentity {
                member_id: request.member_id,
                ..Default::default()
            }]
        } else {
            request.members
        };
        let mut results = Vec::with_capacity(leaving.len());
        let group = self.groups.get_mut(&request.group_id);
        let mut ctx = Ctx {
            now_ms,
            config: &self.config,
            timers: &mut self.timers,
            out,
        };
        let mut group = group;
        for identity in leaving {
            let error = match group.as_deref_mut() {
                Some(group) => leave(group, &mut ctx, &identity),
                None => ErrorCode::UNKNOWN_MEMBER_ID,
            };
            results.push(MemberResponse {
                member_id: identity.member_id,
                group_instance_id: identity.group_instance_id,
                error_code: error.code(),
                ..Default::default()
            });
        }
        let response = responses::leave(version, ErrorCode::NONE, results);
        out.responses.push((id, response));
    }
}

// ----- JoinGroup -----

fn join(group: &mut Group, ctx: &mut Ctx, ids: &mut MemberIds, args: JoinArgs) {
    if !accept_joining_member(group, &args.member_id, ctx.config.group_max_size) {
        // An existing member that has not rejoined a full group loses its place.
        evict(group, ctx, &args.member_id);
        let result = JoinResult::error("", ErrorCode::GROUP_MAX_SIZE_REACHED);
        ctx.respond(args.id, responses::join(args.version, result));
    } else if args.member_id.is_empty() {
        join_new_member(group, ctx, ids, args);
    } else {
        join_current_member(group, ctx, args);
    }
    if group.state == GroupState::PreparingRebalance {
        try_complete_join(group, ctx);
    }
}

/// Whether the group has room for this member (Kafka's acceptJoiningMember).
fn accept_joining_member(group: &Group, member_id: &str, group_max_size: i32) -> bool {
    let max = usize::try_from(group_max_size).unwrap_or(0);
    match group.state {
        GroupState::Empty | GroupState::Dead => true,
        // Counting the members that have rejoined, rather than all members, lets a
        // lowered group.max.size shed the members that rejoin last.
        GroupState::PreparingRebalance => {
            group
                .member(member_id)
                .is_some_and(Member::is_awaiting_join)
                || group.awaiting_join_count() < max
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            group.has_member(member_id) || group.size() < max
        }
    }
}

/// A JoinGroup without a member id: a new member, or a static member coming back.
fn join_new_member(group: &mut Group, ctx: &mut Ctx, ids: &mut MemberIds, args: JoinArgs) {
    if !group.supports_protocols(&args.protocol_type, &args.protocols) {
        let result = JoinResult::error("", ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        return ctx.respond(args.id, responses::join(args.version, result));
    }
    let prefix = args
        .group_instance_id
        .clone()
        .unwrap_or_else(|| args.client_id.clone());
    // Ids are unique within a run; this only guards against ids loaded from the log.
    let new_member_id = loop {
        let candidate = ids.next(&prefix);
        if !group.knows_member_id(&candidate) {
            break candidate;
        }
    };
    match args.group_instance_id.clone() {
        Some(instance) => match group.static_member_id(&instance).map(str::to_owned) {
            Some(old_member_id) => update_static_member_and_rebalance(
                group,
                ctx,
                &old_member_id,
                new_member_id,
                &instance,
                args,
            ),
            None => add_member_and_rebalance(group, ctx, new_member_id, args),
        },
        // KIP-394: from version 4, a dynamic member first gets its id and must rejoin with
        // it, so that a client that times out and retries does not leave a ghost member
        // behind in the group.
        None if args.version >= 4 => {
            let max = usize::try_from(ctx.config.group_max_size).unwrap_or(0);
            if group.pending_members().len() >= max {
                let result = JoinResult::error("", ErrorCode::GROUP_MAX_SIZE_REACHED);
                return ctx.respond(args.id, responses::join(args.version, result));
            }
            group.add_pending_member(new_member_id.clone());
            let timer = Timer::PendingMember {
                group: group.id.clone(),
                member: new_member_id.clone(),
            };
            ctx.timers
                .set(timer, deadline(ctx.now_ms, args.session_timeout_ms));
            let result = JoinResult::error(&new_member_id, ErrorCode::MEMBER_ID_REQUIRED);
            ctx.respond(args.id, responses::join(args.version, result));
        }
        None => add_member_and_rebalance(group, ctx, new_member_id, args),
    }
}

/// A JoinGroup with a member id: a pending member joining, or a member rejoining.
fn join_current_member(group: &mut Group, ctx: &mut Ctx, args: JoinArgs) {
    let member_id = args.member_id.clone();
    let fail = |ctx: &mut Ctx, error: ErrorCode| {
        let result = JoinResult::error(&member_id, error);
        ctx.respond(args.id, responses::join(args.version, result));
    };
    if !group.supports_protocols(&args.protocol_type, &args.protocols) {
        return fail(ctx, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
    }
    if group.is_pending(&member_id) {
        if args.group_instance_id.is_some() {
            // Pending member ids are only handed to dynamic members; Kafka fails this as an
            // internal error too.
            return fail(ctx, ErrorCode::UNKNOWN_SERVER_ERROR);
        }
        return add_member_and_rebalance(group, ctx, member_id, args);
    }
    if let Some(error) =
        group.validate_current_member(&member_id, args.group_instance_id.as_deref())
    {
        return fail(ctx, error);
    }
    let Some(member) = group.member(&member_id) else {
        return fail(ctx, ErrorCode::UNKNOWN_MEMBER_ID);
    };
    let unchanged = member.matches(&args.protocols);
    match group.state {
        GroupState::PreparingRebalance => update_member_and_rebalance(group, ctx, args),
        // The member lost its JoinGroup response: the same answer again, no rebalance.
        GroupState::CompletingRebalance if unchanged => {
            let members = if group.is_leader(&member_id) {
                group.current_member_metadata(args.version)
            } else {
                Vec::new()
            };
            ctx.respond(
                args.id,
                responses::join(args.version, current_generation(group, &member_id, members)),
            );
            reset_session(group, ctx, &member_id);
        }
        GroupState::CompletingRebalance => update_member_and_rebalance(group, ctx, args),
        // A rejoining leader forces a rebalance: that is how a consumer leader reacts to
        // metadata changes (new partitions) that its members' subscriptions do not show.
        GroupState::Stable if group.is_leader(&member_id) || !unchanged => {
            update_member_and_rebalance(group, ctx, args);
        }
        GroupState::Stable => {
            ctx.respond(
                args.id,
                responses::join(
                    args.version,
                    current_generation(group, &member_id, Vec::new()),
                ),
            );
            reset_session(group, ctx, &member_id);
        }
        GroupState::Empty | GroupState::Dead => fail(ctx, ErrorCode::UNKNOWN_MEMBER_ID),
    }
}

/// The answer to a member of the current generation.
fn current_generation(
    group: &Group,
    member_id: &str,
    members: Vec<fjord_protocol::messages::join_group_response::JoinGroupResponseMember>,
) -> JoinResult {
    JoinResult {
        error: ErrorCode::NONE,
        member_id: member_id.to_owned(),
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader_id.clone().unwrap_or_default(),
        skip_assignment: false,
        members,
    }
}

fn add_member_and_rebalance(group: &mut Group, ctx: &mut Ctx, member_id: String, args: JoinArgs) {
    let pending = args.pending();
    let member = Member {
        member_id: member_id.clone(),
        group_instance_id: args.group_instance_id,
        client_id: args.client_id,
        client_host: args.client_host,
        rebalance_timeout_ms: args.rebalance_timeout_ms,
        session_timeout_ms: args.session_timeout_ms,
        protocol_type: args.protocol_type,
        protocols: args.protocols,
        assignment: Bytes::new(),
        awaiting_join: None,
        awaiting_sync: None,
        is_new: true,
        join_sequence: 0,
    };
    // Joins during the first rebalance extend the initial delay.
    if group.state == GroupState::PreparingRebalance && group.generation_id == 0 {
        group.new_member_added = true;
    }
    group.add_member(member, Some(pending));
    ctx.timers.clear(&Timer::PendingMember {
        group: group.id.clone(),
        member: member_id.clone(),
    });
    ctx.timers.set(
        Timer::Session {
            group: group.id.clone(),
            member: member_id,
        },
        ctx.now_ms.saturating_add(NEW_MEMBER_JOIN_TIMEOUT_MS),
    );
    maybe_prepare_rebalance(group, ctx);
}

fn update_member_and_rebalance(group: &mut Group, ctx: &mut Ctx, args: JoinArgs) {
    let pending = args.pending();
    let previous = group.update_member(
        &args.member_id,
        args.protocols,
        args.rebalance_timeout_ms,
        args.session_timeout_ms,
        Some(pending),
    );
    if let Some(previous) = previous {
        // Kafka drops a JoinGroup that a retry replaces; every request gets an answer here,
        // and the retriable error sends a client that still waits for it to rejoin.
        let result = JoinResult::error(&args.member_id, ErrorCode::REBALANCE_IN_PROGRESS);
        ctx.respond(previous.id, responses::join(previous.version, result));
    }
    maybe_prepare_rebalance(group, ctx);
}

/// A static member rejoined without its member id (it restarted): it takes over its old
/// membership under a new member id, and the old id is fenced. A stable group whose
/// protocol this does not change keeps its assignment without a rebalance (KIP-345).
fn update_static_member_and_rebalance(
    group: &mut Group,
    ctx: &mut Ctx,
    old_member_id: &str,
    new_member_id: String,
    instance: &str,
    args: JoinArgs,
) {
    let current_leader = group.leader_id.clone().unwrap_or_default();
    let (fenced_join, fenced_sync) =
        group.replace_static_member(instance, old_member_id, &new_member_id);
    if let Some(fenced) = fenced_join {
        let result = JoinResult::error(old_member_id, ErrorCode::FENCED_INSTANCE_ID);
        ctx.respond(fenced.id, responses::join(fenced.version, result));
    }
    if let Some(fenced) = fenced_sync {
        let response = responses::sync_error(fenced.version, ErrorCode::FENCED_INSTANCE_ID);
        ctx.respond(fenced.id, response);
    }
    ctx.timers.clear(&Timer::Session {
        group: group.id.clone(),
        member: old_member_id.to_owned(),
    });
    let Some(member) = group.member(&new_member_id) else {
        return;
    };
    let old = (
        member.protocols.clone(),
        member.rebalance_timeout_ms,
        member.session_timeout_ms,
    );
    group.update_member(
        &new_member_id,
        args.protocols.clone(),
        args.rebalance_timeout_ms,
        args.session_timeout_ms,
        Some(args.pending()),
    );
    reset_session(group, ctx, &new_member_id);

    match group.state {
        GroupState::Stable => {
            if group.select_protocol() != group.protocol_name {
                return maybe_prepare_rebalance(group, ctx);
            }
            // Persist the new member id, so that after a restart the member is still known.
            if !store_group(group, ctx) {
                // Could not be persisted: undo, so that memory and log agree.
                group.update_member(&new_member_id, old.0, old.1, old.2, None);
                group.replace_static_member(instance, &new_member_id, old_member_id);
                ctx.timers.clear(&Timer::Session {
                    group: group.id.clone(),
                    member: new_member_id,
                });
                reset_session(group, ctx, old_member_id);
                let result = JoinResult {
                    error: ErrorCode::UNKNOWN_SERVER_ERROR,
                    leader: current_leader,
                    ..current_generation(group, "", Vec::new())
                };
                return ctx.respond(args.id, responses::join(args.version, result));
            }
            group.take_awaiting_join(&new_member_id);
            let result = if args.version >= 9 {
                // KIP-814: a static leader learns it leads (to keep watching metadata)
                // but is told not to compute an assignment the stable group would ignore.
                let is_leader = group.is_leader(&new_member_id);
                let members = if is_leader {
                    group.current_member_metadata(args.version)
                } else {
                    Vec::new()
                };
                JoinResult {
                    skip_assignment: is_leader,
                    ..current_generation(group, &new_member_id, members)
                }
            } else {
                // Older clients would compute an assignment if they saw themselves as
                // leader; the old leader id keeps a returning static leader from doing so.
                JoinResult {
                    leader: current_leader,
                    ..current_generation(group, &new_member_id, Vec::new())
                }
            };
            ctx.respond(args.id, responses::join(args.version, result));
        }
        // The leader may be assigning with the old member id: start over.
        GroupState::CompletingRebalance => prepare_rebalance(group, ctx),
        GroupState::PreparingRebalance => {}
        // Static members only exist in groups with members.
        GroupState::Empty | GroupState::Dead => maybe_prepare_rebalance(group, ctx),
    }
}

fn maybe_prepare_rebalance(group: &mut Group, ctx: &mut Ctx) {
    if matches!(
        group.state,
        GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
    ) {
        prepare_rebalance(group, ctx);
    }
}

/// Starts a join phase: members must rejoin within the rebalance timeout.
pub(crate) fn prepare_rebalance(group: &mut Group, ctx: &mut Ctx) {
    if group.state == GroupState::CompletingRebalance {
        reset_and_propagate_assignment_error(group, ctx, ErrorCode::REBALANCE_IN_PROGRESS);
    }
    group.pending_sync_members.clear();
    ctx.timers.clear(&Timer::Sync {
        group: group.id.clone(),
    });
    let rebalance_timeout_ms = group.rebalance_timeout_ms();
    let from_empty = group.state == GroupState::Empty;
    let join_timer = Timer::Join {
        group: group.id.clone(),
    };
    if from_empty {
        let delay_ms = ctx.config.group_initial_rebalance_delay_ms;
        group.join_phase = Some(JoinPhase::Initial {
            delay_ms,
            remaining_ms: rebalance_timeout_ms.saturating_sub(delay_ms).max(0),
        });
        ctx.timers.set(join_timer, deadline(ctx.now_ms, delay_ms));
    } else {
        group.join_phase = Some(JoinPhase::Normal);
        ctx.timers
            .set(join_timer, deadline(ctx.now_ms, rebalance_timeout_ms));
    }
    group.transition_to(GroupState::PreparingRebalance, ctx.now_ms);
    if !from_empty {
        try_complete_join(group, ctx);
    }
}

/// Ends the join phase early once every member has rejoined. The initial delay always
/// runs its course: its point is to wait for members not known yet.
fn try_complete_join(group: &mut Group, ctx: &mut Ctx) {
    if group.state == GroupState::PreparingRebalance
        && group.join_phase == Some(JoinPhase::Normal)
        && group.has_all_members_joined()
    {
        complete_join(group, ctx);
    }
}

/// Ends the join phase: members that did not rejoin are out, the next generation starts,
/// and every waiting JoinGroup gets its answer.
fn complete_join(group: &mut Group, ctx: &mut Ctx) {
    ctx.timers.clear(&Timer::Join {
        group: group.id.clone(),
    });
    group.join_phase = None;
    for member_id in group.not_yet_rejoined_dynamic_members() {
        evict(group, ctx, &member_id);
    }
    if !group.maybe_elect_new_joined_leader() && group.size() > 0 {
        // Only static members are left and none rejoined: wait another rebalance timeout
        // for them to rejoin or for their sessions to expire. At least a millisecond, so
        // that a zero timeout cannot spin.
        group.join_phase = Some(JoinPhase::Normal);
        let timeout_ms = group.rebalance_timeout_ms().max(1);
        ctx.timers.set(
            Timer::Join {
                group: group.id.clone(),
            },
            deadline(ctx.now_ms, timeout_ms),
        );
        return;
    }
    group.init_next_generation(ctx.now_ms);
    if group.state == GroupState::Empty {
        // An empty group's record is small enough to always fit. If it did not, the
        // previous generation's record would stand, whose members time out on reload.
        store_group(group, ctx);
        return;
    }
    for member_id in group.member_ids() {
        if let Some(pending) = group.take_awaiting_join(&member_id) {
            let members = if group.is_leader(&member_id) {
                group.current_member_metadata(pending.version)
            } else {
                Vec::new()
            };
            let result = current_generation(group, &member_id, members);
            ctx.respond(pending.id, responses::join(pending.version, result));
        }
        reset_session(group, ctx, &member_id);
        if let Some(member) = group.member_mut(&member_id) {
            member.is_new = false;
        }
        group.pending_sync_members.insert(member_id);
    }
    // Members that never send SyncGroup are removed when the rebalance timeout passes.
    ctx.timers.set(
        Timer::Sync {
            group: group.id.clone(),
        },
        deadline(ctx.now_ms, group.rebalance_timeout_ms()),
    );
}

// ----- SyncGroup -----

fn sync(group: &mut Group, ctx: &mut Ctx, pending: PendingRequest, request: SyncGroupRequest) {
    let member_id = request.member_id;
    let error = group
        .validate_current_member(&member_id, request.group_instance_id.as_deref())
        .or_else(|| {
            let other = |ours: &Option<String>, theirs: &Option<String>| {
                theirs.is_some() && ours.as_deref() != theirs.as_deref()
            };
            if request.generation_id != group.generation_id {
                Some(ErrorCode::ILLEGAL_GENERATION)
            } else if other(&group.protocol_type, &request.protocol_type)
                || other(&group.protocol_name, &request.protocol_name)
            {
                Some(ErrorCode::INCONSISTENT_GROUP_PROTOCOL)
            } else {
                None
            }
        });
    if let Some(error) = error {
        return ctx.respond(pending.id, responses::sync_error(pending.version, error));
    }
    match group.state {
        GroupState::Empty | GroupState::Dead => {
            let response = responses::sync_error(pending.version, ErrorCode::UNKNOWN_MEMBER_ID);
            ctx.respond(pending.id, response);
        }
        GroupState::PreparingRebalance => {
            let response = responses::sync_error(pending.version, ErrorCode::REBALANCE_IN_PROGRESS);
            ctx.respond(pending.id, response);
        }
        GroupState::CompletingRebalance => {
            if let Some(member) = group.member_mut(&member_id)
                && let Some(previous) = member.awaiting_sync.replace(pending)
            {
                let response =
                    responses::sync_error(previous.version, ErrorCode::REBALANCE_IN_PROGRESS);
                ctx.respond(previous.id, response);
            }
            remove_pending_sync_member(group, ctx, &member_id);
            if group.is_leader(&member_id) {
                // Of duplicate entries the last counts; members the leader left out get an
                // empty assignment, entries for non-members are ignored.
                let mut assignments: BTreeMap<String, Bytes> = request
                    .assignments
                    .into_iter()
                    .map(|a| (a.member_id, a.assignment))
                    .collect();
                for id in group.member_ids() {
                    if let Some(member) = group.member_mut(&id) {
                        member.assignment = assignments.remove(&id).unwrap_or_default();
                    }
                }
                if store_group(group, ctx) {
                    propagate_assignment(group, ctx);
                    group.transition_to(GroupState::Stable, ctx.now_ms);
                } else {
                    // Kafka's answer when the group record is too large for the log.
                    reset_and_propagate_assignment_error(
                        group,
                        ctx,
                        ErrorCode::UNKNOWN_SERVER_ERROR,
                    );
                    maybe_prepare_rebalance(group, ctx);
                }
            }
        }
        GroupState::Stable => {
            remove_pending_sync_member(group, ctx, &member_id);
            let assignment = group
                .member(&member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default();
            let response = responses::sync(
                pending.version,
                ErrorCode::NONE,
                group.protocol_type.as_deref(),
                group.protocol_name.as_deref(),
                assignment,
            );
            ctx.respond(pending.id, response);
            reset_session(group, ctx, &member_id);
        }
    }
}

fn remove_pending_sync_member(group: &mut Group, ctx: &mut Ctx, member_id: &str) {
    group.pending_sync_members.remove(member_id);
    if group.pending_sync_members.is_empty() {
        ctx.timers.clear(&Timer::Sync {
            group: group.id.clone(),
        });
    }
}

/// Answers every waiting SyncGroup with its member's assignment.
fn propagate_assignment(group: &mut Group, ctx: &mut Ctx) {
    for member_id in group.member_ids() {
        let protocol_type = group.protocol_type.clone();
        let protocol_name = group.protocol_name.clone();
        let Some(member) = group.member_mut(&member_id) else {
            continue;
        };
        if let Some(pending) = member.awaiting_sync.take() {
            let response = responses::sync(
                pending.version,
                ErrorCode::NONE,
                protocol_type.as_deref(),
                protocol_name.as_deref(),
                member.assignment.clone(),
            );
            ctx.respond(pending.id, response);
            // Its session was on hold while it waited; it starts again now.
            reset_session(group, ctx, &member_id);
        }
    }
}

/// Clears the assignments and answers every waiting SyncGroup with `error`.
fn reset_and_propagate_assignment_error(group: &mut Group, ctx: &mut Ctx, error: ErrorCode) {
    for member_id in group.member_ids() {
        let Some(member) = group.member_mut(&member_id) else {
            continue;
        };
        member.assignment = Bytes::new();
        if let Some(pending) = member.awaiting_sync.take() {
            ctx.respond(pending.id, responses::sync_error(pending.version, error));
            reset_session(group, ctx, &member_id);
        }
    }
}

// ----- Heartbeat and LeaveGroup -----

fn heartbeat(group: &mut Group, ctx: &mut Ctx, request: &HeartbeatRequest) -> ErrorCode {
    if let Some(error) =
        group.validate_current_member(&request.member_id, request.group_instance_id.as_deref())
    {
        return error;
    }
    if request.generation_id != group.generation_id {
        return ErrorCode::ILLEGAL_GENERATION;
    }
    match group.state {
        GroupState::Empty | GroupState::Dead => ErrorCode::UNKNOWN_MEMBER_ID,
        GroupState::CompletingRebalance | GroupState::Stable => {
            reset_session(group, ctx, &request.member_id);
            ErrorCode::NONE
        }
        GroupState::PreparingRebalance => {
            reset_session(group, ctx, &request.member_id);
            ErrorCode::REBALANCE_IN_PROGRESS
        }
    }
}

fn leave(group: &mut Group, ctx: &mut Ctx, identity: &MemberIdentity) -> ErrorCode {
    if identity.member_id.is_empty() {
        // Removal by group instance id, as the admin client does (KIP-345).
        let member_id = identity
            .group_instance_id
            .as_deref()
            .and_then(|instance| group.static_member_id(instance))
            .map(str::to_owned);
        return match member_id {
            Some(member_id) => {
                remove_member_and_update_group(group, ctx, &member_id);
                ErrorCode::NONE
            }
            None => ErrorCode::UNKNOWN_MEMBER_ID,
        };
    }
    if group.remove_pending_member(&identity.member_id) {
        ctx.timers.clear(&Timer::PendingMember {
            group: group.id.clone(),
            member: identity.member_id.clone(),
        });
        try_complete_join(group, ctx);
        return ErrorCode::NONE;
    }
    if let Some(error) =
        group.validate_current_member(&identity.member_id, identity.group_instance_id.as_deref())
    {
        return error;
    }
    remove_member_and_update_group(group, ctx, &identity.member_id);
    ErrorCode::NONE
}

// ----- members leaving -----

/// Removes a member and answers its waiting requests, without rebalancing: the caller
/// decides what the group does next.
fn evict(group: &mut Group, ctx: &mut Ctx, member_id: &str) {
    if group.remove_pending_member(member_id) {
        ctx.timers.clear(&Timer::PendingMember {
            group: group.id.clone(),
            member: member_id.to_owned(),
        });
    }
    let Some(member) = group.remove_member(member_id) else {
        return;
    };
    ctx.timers.clear(&Timer::Session {
        group: group.id.clone(),
        member: member_id.to_owned(),
    });
    if let Some(pending) = member.awaiting_join {
        // Retriable: a client that is still there rejoins as a new member.
        let result = JoinResult::error("", ErrorCode::UNKNOWN_MEMBER_ID);
        ctx.respond(pending.id, responses::join(pending.version, result));
    }
    if let Some(pending) = member.awaiting_sync {
        // Kafka loses this request; it gets the same answer a late one would.
        let response = responses::sync_error(pending.version, ErrorCode::UNKNOWN_MEMBER_ID);
        ctx.respond(pending.id, response);
    }
}

/// Removes a member that left or expired, and rebalances the others.
fn remove_member_and_update_group(group: &mut Group, ctx: &mut Ctx, member_id: &str) {
    evict(group, ctx, member_id);
    match group.state {
        GroupState::Empty | GroupState::Dead => {}
        GroupState::Stable | GroupState::CompletingRebalance => maybe_prepare_rebalance(group, ctx),
        GroupState::PreparingRebalance => try_complete_join(group, ctx),
    }
}

// ----- timers -----

/// A member's session timed out. Members waiting in JoinGroup or SyncGroup are alive by
/// definition (their next heartbeat cannot come before the answer), except new members,
/// whose timer is their join timeout.
pub(crate) fn on_session_expired(group: &mut Group, ctx: &mut Ctx, member_id: &str) {
    let Some(member) = group.member(member_id) else {
        return;
    };
    let waiting = member.is_awaiting_join() || member.awaiting_sync.is_some();
    if member.is_new || !waiting {
        remove_member_and_update_group(group, ctx, member_id);
    }
}

/// A member id handed out with MEMBER_ID_REQUIRED was not used in time.
pub(crate) fn on_pending_member_expired(group: &mut Group, ctx: &mut Ctx, member_id: &str) {
    if group.remove_pending_member(member_id) {
        try_complete_join(group, ctx);
    }
}

/// The join phase's deadline passed: the initial delay, extended while members keep
/// arriving (up to the rebalance timeout), or the rebalance timeout.
pub(crate) fn on_join_deadline(group: &mut Group, ctx: &mut Ctx) {
    match group.join_phase {
        Some(JoinPhase::Initial {
            delay_ms,
            remaining_ms,
        }) if group.new_member_added && remaining_ms != 0 => {
            group.new_member_added = false;
            let next_delay_ms = ctx
                .config
                .group_initial_rebalance_delay_ms
                .min(remaining_ms);
            group.join_phase = Some(JoinPhase::Initial {
                delay_ms: next_delay_ms,
                remaining_ms: remaining_ms.saturating_sub(delay_ms).max(0),
            });
            ctx.timers.set(
                Timer::Join {
                    group: group.id.clone(),
                },
                deadline(ctx.now_ms, next_delay_ms),
            );
        }
        Some(_) => complete_join(group, ctx),
        None => {}
    }
}

/// The sync phase's deadline passed: members that never sent SyncGroup are out.
pub(crate) fn on_sync_deadline(group: &mut Group, ctx: &mut Ctx) {
    let syncing = matches!(
        group.state,
        GroupState::CompletingRebalance | GroupState::Stable
    );
    if !syncing || group.pending_sync_members.is_empty() {
        return;
    }
    let late: Vec<String> = group.pending_sync_members.iter().cloned().collect();
    for member_id in late {
        evict(group, ctx, &member_id);
    }
    prepare_rebalance(group, ctx);
}

// ----- helpers -----

/// Restarts a member's session timeout from now.
pub(crate) fn reset_session(group: &Group, ctx: &mut Ctx, member_id: &str) {
    let Some(member) = group.member(member_id) else {
        return;
    };
    ctx.timers.set(
        Timer::Session {
            group: group.id.clone(),
            member: member_id.to_owned(),
        },
        deadline(ctx.now_ms, member.session_timeout_ms),
    );
}

/// `now_ms` plus a timeout from a client or the configuration; negative ones count as
/// zero, as Kafka's delayed operations treat them.
fn deadline(now_ms: i64, timeout_ms: i32) -> i64 {
    now_ms.saturating_add(i64::from(timeout_ms.max(0)))
}

/// Appends the group's metadata record. False if it cannot be stored: too large for
/// `group_metadata_record_bytes_max`.
pub(crate) fn store_group(group: &Group, ctx: &mut Ctx) -> bool {
    let key = records::group_metadata_key(&group.id);
    let value = records::group_metadata_value(&group.metadata_value());
    match (key, value) {
        (Ok(key), Ok(value)) if value.len() <= ctx.config.group_metadata_record_bytes_max => {
            ctx.out.records.push(GroupRecord {
                group_id: group.id.clone(),
                key,
                value: Some(value),
            });
            true
        }
        _ => false,
    }
}
