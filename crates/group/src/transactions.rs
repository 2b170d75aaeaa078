//! Transactional offset commits (TxnOffsetCommit, `send_offsets_to_transaction`).
//!
//! The offsets are validated as OffsetCommit's are, written to `__consumer_offsets` as
//! transactional records of the producer, and kept pending: OffsetFetch does not see
//! them. The transaction's marker in the group's partition resolves them: COMMIT makes
//! them committed offsets, ABORT drops them ([`GroupCoordinator::complete_transaction`]).
//! The replay does the same with the records and markers it reads, so a crash in any
//! state of the transaction ends as the transaction does.

use std::collections::BTreeMap;

use fjord_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use fjord_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use fjord_protocol::messages::{
    OffsetCommitRequest, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use crate::coordinator::GroupCoordinator;
use crate::error::{ErrorCode, ReplayError};
use crate::group::Group;
use crate::records::{self, OffsetCommitValue, RecordKey};
use crate::{Output, TransactionalGroupRecord};

/// The OffsetCommit version whose checks a TxnOffsetCommit gets: members and
/// generations (as TxnOffsetCommit v3 carries them), leader epochs, no GROUP_ID_NOT_FOUND
/// (v9), which TxnOffsetCommit does not know.
const OFFSET_COMMIT_VERSION: i16 = 8;

/// One pending offset: group, topic, partition, value.
type PendingOffset = (String, String, i32, OffsetCommitValue);

/// The offsets of transactions that have not ended, by producer id.
#[derive(Debug, Default)]
pub(crate) struct PendingTransactions {
    /// The pending offsets of each producer's open transaction, in commit order.
    pending: BTreeMap<i64, Vec<PendingOffset>>,
    /// The epoch of the last marker of each producer id: a TxnOffsetCommit with an
    /// older epoch comes from a fenced producer. One entry per producer id that ever
    /// committed offsets in a transaction.
    marker_epochs: BTreeMap<i64, i16>,
}

impl GroupCoordinator {
    /// Handles TxnOffsetCommit: the checks of OffsetCommit, but the offsets stay pending
    /// and their records are transactional.
    pub(crate) fn txn_offset_commit(
        &mut self,
        now_ms: i64,
        version: i16,
        request: TxnOffsetCommitRequest,
        out: &mut Output,
    ) -> TxnOffsetCommitResponse {
        let fenced = self
            .transactions
            .marker_epochs
            .get(&request.producer_id)
            .is_some_and(|epoch| request.producer_epoch < *epoch);
        if fenced || request.producer_id < 0 {
            let code = if fenced {
                ErrorCode::INVALID_PRODUCER_EPOCH
            } else {
                ErrorCode::INVALID_REQUEST
            };
            return response(&request, |_, _| code);
        }
        let group_id = request.group_id.clone();
        let existed = self.groups.contains_key(&group_id);
        // The offsets the commit replaces, put back afterwards: a transaction's offsets
        // are invisible until its COMMIT marker.
        let previous: Vec<(String, i32, Option<OffsetCommitValue>)> = request
            .topics
            .iter()
            .flat_map(|topic| {
                topic.partitions.iter().map(|partition| {
                    let old = self.groups.get(&group_id).and_then(|group| {
                        group
                            .offsets
                            .get(&topic.name, partition.partition_index)
                            .cloned()
                    });
                    (topic.name.clone(), partition.partition_index, old)
                })
            })
            .collect();
        let commit = OffsetCommitRequest {
            group_id: group_id.clone(),
            generation_id_or_member_epoch: if version >= 3 {
                request.generation_id
            } else {
                -1
            },
            member_id: if version >= 3 {
                request.member_id.clone()
            } else {
                String::new()
            },
            group_instance_id: if version >= 3 {
                request.group_instance_id.clone()
            } else {
                None
            },
            retention_time_ms: -1,
            topics: request
                .topics
                .iter()
                .map(|topic| OffsetCommitRequestTopic {
                    name: topic.name.clone(),
                    partitions: topic
                        .partitions
                        .iter()
                        .map(|partition| OffsetCommitRequestPartition {
                            partition_index: partition.partition_index,
                            committed_offset: partition.committed_offset,
                            committed_leader_epoch: if version >= 2 {
                                partition.committed_leader_epoch
                            } else {
                                -1
                            },
                            commit_timestamp: -1,
                            committed_metadata: partition.committed_metadata.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let mut scratch = Output::default();
        let committed = self.offset_commit(now_ms, OFFSET_COMMIT_VERSION, commit, &mut scratch);
        let accepted = |topic: &str, partition: i32| {
            committed.topics.iter().any(|t| {
                t.name == topic
                    && t.partitions
                        .iter()
                        .any(|p| p.partition_index == partition && p.error_code == 0)
            })
        };
        let pending = self
            .transactions
            .pending
            .entry(request.producer_id)
            .or_default();
        if let Some(group) = self.groups.get_mut(&group_id) {
            for (topic, partition, old) in previous {
                if !accepted(&topic, partition) {
                    continue;
                }
                if let Some(new) = group.offsets.remove(&topic, partition) {
                    pending.push((group_id.clone(), topic.clone(), partition, new));
                }
                if let Some(old) = old {
                    group.offsets.insert(topic, partition, old);
                }
            }
            if !existed && group.is_unused() {
                self.groups.remove(&group_id);
            }
        }
        if pending.is_empty() {
            self.transactions.pending.remove(&request.producer_id);
        }
        out.transactional_records
            .extend(
                scratch
                    .records
                    .into_iter()
                    .map(|record| TransactionalGroupRecord {
                        producer_id: request.producer_id,
                        producer_epoch: request.producer_epoch,
                        record,
                    }),
            );
        out.responses.extend(scratch.responses);
        let codes: Vec<(String, i32, i16)> = committed
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.clone(), p.partition_index, p.error_code))
            })
            .collect();
        response(&request, |topic, partition| {
            let code = codes
                .iter()
                .find(|(t, p, _)| t == topic && *p == partition)
                .map_or(ErrorCode::UNKNOWN_SERVER_ERROR.code(), |(_, _, code)| *code);
            ErrorCode(code)
        })
    }

    /// The marker of producer `producer_id`'s transaction (at `producer_epoch`) is
    /// written in `__consumer_offsets`: its pending offsets become committed offsets
    /// (`commit`) or are dropped. Nothing is written: the records and the marker are
    /// in the log already, and the replay resolves them the same way.
    pub fn complete_transaction(
        &mut self,
        now_ms: i64,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Output {
        self.note_marker_epoch(producer_id, producer_epoch);
        let pending = self
            .transactions
            .pending
            .remove(&producer_id)
            .unwrap_or_default();
        if commit {
            for (group_id, topic, partition, value) in pending {
                if self.started {
                    self.groups
                        .entry(group_id.clone())
                        .or_insert_with(|| Group::new(group_id, now_ms))
                        .offsets
                        .insert(topic, partition, value);
                } else {
                    self.loading
                        .entry(group_id)
                        .or_default()
                        .offsets
                        .insert(topic, partition, value);
                }
            }
        }
        Output::default()
    }

    /// Replays one record of a transactional batch of `__consumer_offsets`: an offset
    /// commit of producer `producer_id`'s transaction, pending until its marker.
    pub fn replay_transactional(
        &mut self,
        producer_id: i64,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), ReplayError> {
        if self.started {
            return Err(ReplayError::AfterStart);
        }
        let RecordKey::OffsetCommit {
            group,
            topic,
            partition,
        } = records::parse_key(key)?
        else {
            // Only offset commits are written in transactions.
            return Ok(());
        };
        if let Some(value) = value {
            let value = records::parse_offset_commit_value(value)?;
            self.transactions
                .pending
                .entry(producer_id)
                .or_default()
                .push((group, topic, partition, value));
        }
        Ok(())
    }

    /// Replays a transaction marker of `__consumer_offsets`.
    pub fn replay_transaction_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), ReplayError> {
        if self.started {
            return Err(ReplayError::AfterStart);
        }
        self.complete_transaction(0, producer_id, producer_epoch, commit);
        Ok(())
    }

    /// The runtime could not append these transactional records (the log refused
    /// them): their offsets are no longer pending, so that a later COMMIT cannot make
    /// visible what is not on disk. The client was not answered success and retries.
    pub fn transactional_records_failed(&mut self, records: &[TransactionalGroupRecord]) {
        for failed in records {
            let Ok(RecordKey::OffsetCommit {
                group,
                topic,
                partition,
            }) = records::parse_key(&failed.record.key)
            else {
                continue;
            };
            if let Some(pending) = self.transactions.pending.get_mut(&failed.producer_id)
                && let Some(at) = pending
                    .iter()
                    .rposition(|(g, t, p, _)| *g == group && *t == topic && *p == partition)
            {
                pending.remove(at);
                if pending.is_empty() {
                    self.transactions.pending.remove(&failed.producer_id);
                }
            }
        }
    }

    /// Whether an open transaction holds an offset of this partition pending.
    pub(crate) fn has_pending_offset(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.transactions.pending.values().any(|offsets| {
            offsets
                .iter()
                .any(|(g, t, p, _)| g == group && t == topic && *p == partition)
        })
    }

    fn note_marker_epoch(&mut self, producer_id: i64, producer_epoch: i16) {
        let epoch = self
            .transactions
            .marker_epochs
            .entry(producer_id)
            .or_insert(producer_epoch);
        *epoch = (*epoch).max(producer_epoch);
    }
}

/// A response with `code(topic, partition)` for every partition of the request.
fn response(
    request: &TxnOffsetCommitRequest,
    code: impl Fn(&str, i32) -> ErrorCode,
) -> TxnOffsetCommitResponse {
    TxnOffsetCommitResponse {
        topics: request
            .topics
            .iter()
            .map(|topic| TxnOffsetCommitResponseTopic {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|partition| TxnOffsetCommitResponsePartition {
                        partition_index: partition.partition_index,
                        error_code: code(&topic.name, partition.partition_index).code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
