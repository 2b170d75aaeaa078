//! `transaction.timeout.ms`: bounded by `transaction.max.timeout.ms`, and enforced by
//! aborting the abandoned transaction; `transactional.id.expiration.ms` removes idle ids.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fjord_txn::{TransactionResult, TransactionState, TxnConfig};

#[test]
fn timeouts_outside_the_bounds_are_refused() {
    let mut h = Harness::new();
    assert_eq!(h.init("tx", 0).0, INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(h.init("tx", -5).0, INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(h.init("tx", 900_001).0, INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(h.init("tx", 900_000).0, NONE);
    let mut h = Harness::with_config(TxnConfig {
        transaction_max_timeout_ms: 1_000,
        ..TxnConfig::default()
    });
    assert_eq!(h.init("tx", 1_001).0, INVALID_TRANSACTION_TIMEOUT);
    assert_eq!(h.init("", 1_000).0, INVALID_REQUEST);
}

#[test]
fn an_abandoned_transaction_is_aborted_with_a_bumped_epoch_after_its_timeout() {
    let mut h = Harness::new();
    let (error, producer_id, epoch) = h.init("tx", 10_000);
    assert_eq!(error, NONE);
    h.add_partitions("tx", (producer_id, epoch), &[("a", &[0])]);
    let started = h.now_ms;
    assert_eq!(h.coordinator.next_deadline_ms(), Some(started + 10_001));

    h.advance(10_000);
    assert_eq!(
        h.state("tx"),
        TransactionState::Ongoing,
        "not past the timeout yet"
    );
    h.advance(1);
    assert_eq!(h.state("tx"), TransactionState::PrepareAbort);
    let markers = h.pending_markers[0].clone();
    assert_eq!(markers.result, TransactionResult::Abort);
    assert_eq!(markers.producer_epoch, epoch + 1);
    assert_eq!(markers.partitions, vec![("a".to_owned(), vec![0])]);

    // The producer comes back too late: fenced.
    assert_eq!(h.end("tx", (producer_id, epoch), true), PRODUCER_FENCED);
    h.write_markers();
    assert_eq!(h.state("tx"), TransactionState::CompleteAbort);
    assert_eq!(h.init_ok("tx"), (producer_id, epoch + 2));
}

#[test]
fn a_transaction_that_ends_in_time_is_not_aborted() {
    let mut h = Harness::new();
    let producer = h.init_ok("tx");
    h.add_partitions("tx", producer, &[("a", &[0])]);
    h.advance(59_000);
    assert_eq!(h.end("tx", producer, true), NONE);
    h.advance(10_000);
    assert_eq!(h.state("tx"), TransactionState::PrepareCommit);
    h.write_markers();
    assert_eq!(h.state("tx"), TransactionState::CompleteCommit);
}

#[test]
fn an_idle_transactional_id_expires_and_a_tombstone_removes_it() {
    let mut h = Harness::with_config(TxnConfig {
        transactional_id_expiration_ms: 100_000,
        ..TxnConfig::default()
    });
    h.run_transaction("done", true);
    let idle = h.init_ok("idle");
    let busy = h.init_ok("busy");
    h.add_partitions("busy", busy, &[("a", &[0])]);
    h.advance(50_000);
    h.init_ok("idle");
    let _ = idle;
    h.advance(50_000);
    assert!(h.coordinator.transaction("done").is_none(), "expired");
    assert!(h.coordinator.transaction("idle").is_some(), "used 50 s ago");
    assert_eq!(
        h.state("busy"),
        TransactionState::PrepareAbort,
        "timed out, not expired"
    );
    let tombstone = h
        .log
        .iter()
        .rev()
        .find(|r| r.transactional_id == "done")
        .unwrap();
    assert_eq!(tombstone.value, None);

    // After a restart the tombstone keeps it gone.
    let restarted = h.restart(TxnConfig::default());
    assert!(restarted.coordinator.transaction("done").is_none());

    // A new producer with the expired id starts from a new producer id.
    let (error, producer_id, epoch) = h.init("done", 60_000);
    assert_eq!(error, NONE);
    assert_eq!(epoch, 0);
    assert!(producer_id > busy.0);
}
