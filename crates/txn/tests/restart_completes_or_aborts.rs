//! A crash in any transaction state: the coordinator rebuilt from `__transaction_state`
//! holds the same state, reissues the markers of transactions that were being
//! completed, aborts abandoned ones at their timeout, and reads records Kafka wrote.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fjord_txn::{TransactionCoordinator, TransactionResult, TransactionState, TxnConfig};

/// Drives "tx" into `state` and returns its producer.
fn into_state(h: &mut Harness, state: TransactionState) -> (i64, i16) {
    let producer = h.init_ok("tx");
    match state {
        TransactionState::Empty => {}
        TransactionState::Ongoing => {
            h.add_partitions("tx", producer, &[("a", &[0, 1])]);
        }
        TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
            h.add_partitions("tx", producer, &[("a", &[0, 1])]);
            h.end("tx", producer, state == TransactionState::PrepareCommit);
        }
        TransactionState::CompleteCommit | TransactionState::CompleteAbort => {
            h.add_partitions("tx", producer, &[("a", &[0, 1])]);
            h.end("tx", producer, state == TransactionState::CompleteCommit);
            h.write_markers();
        }
        TransactionState::Dead | TransactionState::PrepareEpochFence => unreachable!(),
    }
    assert_eq!(h.state("tx"), state);
    producer
}

const STORED: [TransactionState; 6] = [
    TransactionState::Empty,
    TransactionState::Ongoing,
    TransactionState::PrepareCommit,
    TransactionState::PrepareAbort,
    TransactionState::CompleteCommit,
    TransactionState::CompleteAbort,
];

#[test]
fn replay_rebuilds_the_same_state_in_every_state() {
    for state in STORED {
        let mut h = Harness::new();
        into_state(&mut h, state);
        let restarted = h.restart(TxnConfig::default());
        assert_eq!(
            restarted.coordinator.transactions(),
            h.coordinator.transactions(),
            "after a crash in {state:?}"
        );
    }
}

#[test]
fn a_crash_while_preparing_reissues_the_markers_and_completes() {
    for (state, result, end) in [
        (
            TransactionState::PrepareCommit,
            TransactionResult::Commit,
            TransactionState::CompleteCommit,
        ),
        (
            TransactionState::PrepareAbort,
            TransactionResult::Abort,
            TransactionState::CompleteAbort,
        ),
    ] {
        let mut h = Harness::new();
        let producer = into_state(&mut h, state);
        let mut restarted = h.restart(TxnConfig::default());
        assert_eq!(restarted.pending_markers.len(), 1, "{state:?}");
        let markers = restarted.pending_markers[0].clone();
        assert_eq!(markers.result, result);
        assert_eq!((markers.producer_id, markers.producer_epoch), producer);
        assert_eq!(markers.partitions, vec![("a".to_owned(), vec![0, 1])]);
        restarted.write_markers();
        assert_eq!(restarted.state("tx"), end);
        // The report repeated changes nothing.
        let out = restarted
            .coordinator
            .markers_written(restarted.now_ms, &markers);
        assert!(out.records.is_empty());
    }
}

#[test]
fn a_crash_in_an_ongoing_transaction_aborts_it_at_its_timeout() {
    let mut h = Harness::new();
    let producer = into_state(&mut h, TransactionState::Ongoing);
    let mut restarted = h.restart(TxnConfig::default());
    assert!(restarted.pending_markers.is_empty());
    restarted.advance(60_001);
    assert_eq!(restarted.state("tx"), TransactionState::PrepareAbort);
    assert_eq!(restarted.pending_markers[0].producer_epoch, producer.1 + 1);
    restarted.write_markers();
    assert_eq!(restarted.state("tx"), TransactionState::CompleteAbort);
}

#[test]
fn a_crash_in_an_ongoing_transaction_lets_the_producer_finish_it() {
    let mut h = Harness::new();
    let producer = into_state(&mut h, TransactionState::Ongoing);
    let mut restarted = h.restart(TxnConfig::default());
    assert_eq!(restarted.end("tx", producer, true), NONE);
    restarted.write_markers();
    assert_eq!(restarted.state("tx"), TransactionState::CompleteCommit);
}

#[test]
fn idle_states_survive_a_crash_and_serve_the_same_producer() {
    for state in [
        TransactionState::Empty,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
    ] {
        let mut h = Harness::new();
        let producer = into_state(&mut h, state);
        let mut restarted = h.restart(TxnConfig::default());
        assert!(restarted.pending_markers.is_empty());
        assert_eq!(
            restarted.add_partitions("tx", producer, &[("b", &[0])]),
            [NONE]
        );
        assert_eq!(restarted.end("tx", producer, false), NONE);
        restarted.write_markers();
        assert_eq!(
            restarted.init_ok("tx"),
            (producer.0, producer.1 + 1),
            "{state:?}: a new producer bumps from the stored epoch"
        );
    }
}

#[test]
fn the_runtime_learns_the_highest_producer_id_in_the_log() {
    let mut h = Harness::new();
    h.init_ok("a");
    h.init_ok("b");
    let restarted = h.restart(TxnConfig::default());
    assert_eq!(
        restarted.coordinator.highest_producer_id(),
        Some(FIRST_PRODUCER_ID + 1)
    );
}

/// A `TransactionLogValue` v0 as Kafka writes it, built byte by byte.
fn kafka_value(status: i8, partitions: Option<&[(&str, &[i32])]>) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(0i16.to_be_bytes());
    v.extend(4242i64.to_be_bytes());
    v.extend(7i16.to_be_bytes());
    v.extend(30_000i32.to_be_bytes());
    v.push(status as u8);
    match partitions {
        None => v.extend((-1i32).to_be_bytes()),
        Some(topics) => {
            v.extend((topics.len() as i32).to_be_bytes());
            for (topic, partitions) in topics {
                v.extend((topic.len() as i16).to_be_bytes());
                v.extend(topic.as_bytes());
                v.extend((partitions.len() as i32).to_be_bytes());
                for p in *partitions {
                    v.extend(p.to_be_bytes());
                }
            }
        }
    }
    v.extend(2_000i64.to_be_bytes());
    v.extend(1_000i64.to_be_bytes());
    v
}

fn kafka_key(id: &str) -> Vec<u8> {
    let mut k = vec![0, 0];
    k.extend((id.len() as i16).to_be_bytes());
    k.extend(id.as_bytes());
    k
}

#[test]
fn records_written_by_kafka_replay() {
    let mut coordinator = TransactionCoordinator::new(TxnConfig::default());
    coordinator
        .replay(&kafka_key("k"), Some(&kafka_value(0, None)))
        .unwrap();
    coordinator
        .replay(
            &kafka_key("k"),
            Some(&kafka_value(1, Some(&[("t", &[2, 0])]))),
        )
        .unwrap();
    coordinator
        .replay(
            &kafka_key("k"),
            Some(&kafka_value(2, Some(&[("t", &[2, 0])]))),
        )
        .unwrap();
    coordinator
        .replay(&kafka_key("gone"), Some(&kafka_value(4, Some(&[]))))
        .unwrap();
    coordinator.replay(&kafka_key("gone"), None).unwrap();
    assert!(
        coordinator
            .replay(&kafka_key("bad"), Some(&kafka_value(7, None)))
            .is_err()
    );
    assert!(coordinator.replay(&[0, 5, 0, 0], None).is_err());

    let out = coordinator.finish_replay(3_000);
    assert_eq!(out.markers.len(), 1);
    assert_eq!(out.markers[0].producer_id, 4242);
    assert_eq!(out.markers[0].producer_epoch, 7);
    assert_eq!(out.markers[0].result, TransactionResult::Commit);
    assert_eq!(
        out.markers[0].partitions,
        vec![("t".to_owned(), vec![0, 2])]
    );
    assert_eq!(coordinator.transactions().len(), 1);
    let k = coordinator.transaction("k").unwrap();
    assert_eq!(
        (
            k.timeout_ms,
            k.start_timestamp_ms,
            k.last_update_timestamp_ms
        ),
        (30_000, 1_000, 2_000)
    );
    assert!(
        coordinator.replay(&kafka_key("late"), None).is_err(),
        "replay after start"
    );
}
