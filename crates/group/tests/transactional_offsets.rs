//! Transactional offset commits (TxnOffsetCommit): pending until the transaction's
//! marker, committed by COMMIT, dropped by ABORT, refused to a fenced producer, and
//! rebuilt the same way by the replay of `__consumer_offsets`.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fjord_group::{GroupCoordinator, GroupRequest, TransactionalGroupRecord};
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use fjord_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use fjord_protocol::messages::{OffsetFetchRequest, TxnOffsetCommitRequest};

const PRODUCER_ID: i64 = 7;

/// Sends a TxnOffsetCommit v3 of `t`-0 at `offset`; the error code and the
/// transactional records it asks for.
fn txn_commit(
    h: &mut Harness,
    member: &str,
    generation: i32,
    epoch: i16,
    offset: i64,
) -> (i16, Vec<TransactionalGroupRecord>) {
    let request = TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        group_id: "g".into(),
        producer_id: PRODUCER_ID,
        producer_epoch: epoch,
        generation_id: generation,
        member_id: member.into(),
        topics: vec![TxnOffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![TxnOffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let out = h.coordinator.handle(
        h.now_ms,
        10_000 + offset as u64,
        GroupRequest::TxnOffsetCommit(request),
        3,
        "client",
        "/127.0.0.1",
    );
    let code = match &out.responses[..] {
        [(_, ResponseKind::TxnOffsetCommit(response))] => {
            response.topics[0].partitions[0].error_code
        }
        other => panic!("{other:?}"),
    };
    (code, out.transactional_records)
}

/// OffsetFetch v7 of `t`-0 with `require_stable`: (offset, error code).
fn fetch_stable(h: &mut Harness) -> (i64, i16) {
    let request = OffsetFetchRequest {
        group_id: "g".into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: "t".into(),
            partition_indexes: vec![0],
            ..Default::default()
        }]),
        require_stable: true,
        ..Default::default()
    };
    let id = h.send(GroupRequest::OffsetFetch(request), 7);
    match h.response(id) {
        ResponseKind::OffsetFetch(response) => {
            let partition = &response.topics[0].partitions[0];
            (partition.committed_offset, partition.error_code)
        }
        other => panic!("{other:?}"),
    }
}

fn stable_member(h: &mut Harness) -> (String, i32) {
    let (member, join) = h.join_new("g", &["t"]);
    h.advance(0);
    let generation = h.complete_rebalance("g", &[join]);
    (member, generation)
}

#[test]
fn offsets_wait_for_the_commit_marker_and_vanish_with_an_abort() {
    let mut h = Harness::new(config());
    let (member, generation) = stable_member(&mut h);
    h.commit("g", &member, generation, &[("t", 0, 3)]);

    let (code, records) = txn_commit(&mut h, &member, generation, 0, 10);
    assert_eq!(code, code::NONE);
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].producer_id, records[0].producer_epoch),
        (PRODUCER_ID, 0)
    );
    // Pending: the committed offset is still the one before the transaction, and a
    // consumer that asks for stable offsets is told to retry (KIP-447).
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![3]);
    assert_eq!(fetch_stable(&mut h), (-1, 88), "UNSTABLE_OFFSET_COMMIT");
    h.coordinator
        .complete_transaction(h.now_ms, PRODUCER_ID, 0, true);
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![10]);
    assert_eq!(fetch_stable(&mut h), (10, code::NONE));

    let (code, _) = txn_commit(&mut h, &member, generation, 0, 20);
    assert_eq!(code, code::NONE);
    h.coordinator
        .complete_transaction(h.now_ms, PRODUCER_ID, 0, false);
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![10]);

    // Offsets whose records the log refused are not pending any more: a COMMIT does
    // not show what is not on disk.
    let (code, records) = txn_commit(&mut h, &member, generation, 0, 25);
    assert_eq!(code, code::NONE);
    h.coordinator.transactional_records_failed(&records);
    h.coordinator
        .complete_transaction(h.now_ms, PRODUCER_ID, 0, true);
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![10]);

    // A marker of epoch 1 (the coordinator fenced epoch 0): epoch 0 is refused.
    h.coordinator
        .complete_transaction(h.now_ms, PRODUCER_ID, 1, false);
    let (code, records) = txn_commit(&mut h, &member, generation, 0, 30);
    assert_eq!(code, 47, "INVALID_PRODUCER_EPOCH");
    assert!(records.is_empty());
    // A stale generation is refused as OffsetCommit refuses it.
    let (code, records) = txn_commit(&mut h, &member, generation + 1, 1, 40);
    assert_eq!(code, code::ILLEGAL_GENERATION);
    assert!(records.is_empty());
}

#[test]
fn the_replay_resolves_transactional_offsets_by_their_markers() {
    let mut h = Harness::new(config());
    let (member, generation) = stable_member(&mut h);
    let (_, committed) = txn_commit(&mut h, &member, generation, 0, 10);
    let (_, open) = txn_commit(&mut h, &member, generation, 0, 11);

    let mut replayed = GroupCoordinator::new(config());
    for record in &h.log {
        replayed
            .replay(&record.key, record.value.as_deref())
            .unwrap();
    }
    let record = &committed[0].record;
    replayed
        .replay_transactional(PRODUCER_ID, &record.key, record.value.as_deref())
        .unwrap();
    replayed
        .replay_transaction_marker(PRODUCER_ID, 0, true)
        .unwrap();
    // The next transaction's offsets, without a marker yet (a crash before it).
    let record = &open[0].record;
    replayed
        .replay_transactional(PRODUCER_ID, &record.key, record.value.as_deref())
        .unwrap();
    replayed.finish_replay(h.now_ms);
    let mut h = Harness::with_coordinator(replayed, h.now_ms);
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![10]);
    // The marker asked for again after the restart resolves the open one.
    h.coordinator
        .complete_transaction(h.now_ms, PRODUCER_ID, 0, true);
    assert_eq!(h.fetch("g", &[("t", 0)]), vec![11]);
}
