//! A second producer with the same transactional id fences the first; epochs bump,
//! run out, and roll over to a new producer id; KIP-360 bumps by a producer that names
//! its id and epoch; producer ids run out until the runtime grants more.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fjord_txn::{TransactionCoordinator, TransactionResult, TransactionState, TxnConfig};

#[test]
fn a_new_producer_bumps_the_epoch_and_fences_the_old_one() {
    let mut h = Harness::new();
    let old = h.init_ok("tx");
    let new = h.init_ok("tx");
    assert_eq!(new, (old.0, old.1 + 1));
    assert_eq!(
        h.add_partitions("tx", old, &[("a", &[0])]),
        [PRODUCER_FENCED]
    );
    assert_eq!(h.end("tx", old, true), PRODUCER_FENCED);
    assert_eq!(h.add_offsets("tx", old, "g"), PRODUCER_FENCED);
    // Clients from before PRODUCER_FENCED get INVALID_PRODUCER_EPOCH.
    assert_eq!(
        h.add_partitions_v("tx", old, &[("a", &[0])], 1),
        [INVALID_PRODUCER_EPOCH]
    );
    assert_eq!(h.end_v("tx", old, true, 1), INVALID_PRODUCER_EPOCH);
    assert_eq!(h.add_partitions("tx", new, &[("a", &[0])]), [NONE]);
}

#[test]
fn a_new_producer_aborts_the_ongoing_transaction_of_the_old_one_first() {
    let mut h = Harness::new();
    let old = h.init_ok("tx");
    h.add_partitions("tx", old, &[("a", &[0])]);

    let (error, _, _) = h.init("tx", 60_000);
    assert_eq!(
        error, CONCURRENT_TRANSACTIONS,
        "retry once the abort is done"
    );
    assert_eq!(h.state("tx"), TransactionState::PrepareAbort);
    let markers = h.pending_markers[0].clone();
    assert_eq!(markers.result, TransactionResult::Abort);
    assert_eq!(
        markers.producer_epoch,
        old.1 + 1,
        "the markers fence the old producer"
    );
    assert_eq!(h.end("tx", old, true), PRODUCER_FENCED);

    let (error, _, _) = h.init("tx", 60_000);
    assert_eq!(error, CONCURRENT_TRANSACTIONS, "still writing markers");
    h.write_markers();
    assert_eq!(h.state("tx"), TransactionState::CompleteAbort);
    let (error, producer_id, epoch) = h.init("tx", 60_000);
    assert_eq!((error, producer_id, epoch), (NONE, old.0, old.1 + 2));
}

#[test]
fn a_producer_that_names_its_epoch_gets_a_bump_and_its_retry_the_same_answer() {
    let mut h = Harness::new();
    let (producer_id, epoch) = h.init_ok("tx");
    let bumped = h.init_with(Some("tx"), 60_000, producer_id, epoch, INIT_V);
    assert_eq!(bumped, (NONE, producer_id, epoch + 1));
    // The response was lost; the producer asks again with its old epoch.
    let retried = h.init_with(Some("tx"), 60_000, producer_id, epoch, INIT_V);
    assert_eq!(retried, (NONE, producer_id, epoch + 1));
    // An epoch that is neither the current nor the last is fenced.
    let stale = h.init_with(Some("tx"), 60_000, producer_id, 7, INIT_V);
    assert_eq!(stale.0, PRODUCER_FENCED);
    let old_version = h.init_with(Some("tx"), 60_000, producer_id, 7, 3);
    assert_eq!(old_version.0, INVALID_PRODUCER_EPOCH);
    // Another producer id is fenced.
    let other = h.init_with(Some("tx"), 60_000, producer_id + 50, 0, INIT_V);
    assert_eq!(other.0, PRODUCER_FENCED);
}

#[test]
fn an_exhausted_epoch_rolls_over_to_a_new_producer_id() {
    let mut h = Harness::new();
    let (first_id, _) = h.init_ok("tx");
    let mut epoch = 0;
    while epoch < i16::MAX - 1 {
        let (error, producer_id, next) = h.init("tx", 60_000);
        assert_eq!((error, producer_id), (NONE, first_id));
        assert_eq!(next, epoch + 1);
        epoch = next;
    }
    // Epoch 32766 is exhausted: the next InitProducerId gets a new producer id.
    let (error, producer_id, epoch) = h.init("tx", 60_000);
    assert_eq!(error, NONE);
    assert_ne!(producer_id, first_id);
    assert_eq!(epoch, 0);
}

#[test]
fn a_producer_that_names_its_exhausted_epoch_can_retry_the_rollover() {
    let mut h = Harness::new();
    let (first_id, _) = h.init_ok("tx");
    for _ in 0..(i16::MAX - 1) {
        h.init_ok("tx");
    }
    let exhausted = (first_id, i16::MAX - 1);
    assert_eq!(
        h.coordinator.transaction("tx").unwrap().producer_epoch,
        exhausted.1
    );
    let rolled = h.init_with(Some("tx"), 60_000, exhausted.0, exhausted.1, INIT_V);
    assert_eq!(rolled.0, NONE);
    assert_ne!(rolled.1, first_id);
    assert_eq!(rolled.2, 0);
    let retried = h.init_with(Some("tx"), 60_000, exhausted.0, exhausted.1, INIT_V);
    assert_eq!(retried, rolled, "the same new producer id and epoch");
}

#[test]
fn fencing_a_transaction_at_the_last_epoch_rolls_over_on_the_retry() {
    let mut h = Harness::new();
    let (first_id, _) = h.init_ok("tx");
    for _ in 0..(i16::MAX - 1) {
        h.init_ok("tx");
    }
    let producer = (first_id, i16::MAX - 1);
    h.add_partitions("tx", producer, &[("a", &[0])]);
    let (error, _, _) = h.init("tx", 60_000);
    assert_eq!(error, CONCURRENT_TRANSACTIONS);
    assert_eq!(h.pending_markers[0].producer_epoch, i16::MAX);
    h.write_markers();
    let (error, producer_id, epoch) = h.init("tx", 60_000);
    assert_eq!(error, NONE);
    assert_ne!(producer_id, first_id);
    assert_eq!(epoch, 0);
}

#[test]
fn without_producer_ids_init_producer_id_is_retriable_and_asks_for_a_block() {
    let coordinator = TransactionCoordinator::new(TxnConfig::default());
    let mut h = Harness::bare(coordinator, 0);
    let out = h.coordinator.finish_replay(0);
    assert!(out.producer_ids_wanted, "no ids at all");
    h.apply(out);
    let (error, producer_id, epoch) = h.init("tx", 60_000);
    assert_eq!(
        (error, producer_id, epoch),
        (COORDINATOR_LOAD_IN_PROGRESS, -1, -1)
    );
    let (error, _, _) = h.init_with(None, 0, -1, -1, INIT_V);
    assert_eq!(error, COORDINATOR_LOAD_IN_PROGRESS);
    assert!(h.coordinator.transaction("tx").is_none());

    h.grant(2);
    assert_eq!(h.init_ok("tx"), (FIRST_PRODUCER_ID, 0));
    assert_eq!(h.coordinator.producer_ids_remaining(), 1);
    h.grant(500);
    let out = h.coordinator.tick(h.now_ms);
    assert!(
        !out.producer_ids_wanted,
        "501 left, above the low water mark of 100"
    );
}

#[test]
#[should_panic(expected = "overlaps")]
fn granting_ids_twice_is_a_bug_in_the_runtime() {
    let mut coordinator = TransactionCoordinator::new(TxnConfig::default());
    coordinator.grant_producer_ids(0..100);
    coordinator.grant_producer_ids(50..150);
}
