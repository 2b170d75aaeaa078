//! A producer's transactions from InitProducerId to the markers: partitions and offsets
//! added, committed or aborted, EndTxn retried, and what the coordinator answers to
//! requests that do not fit the transaction's state.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fjord_txn::{TransactionResult, TransactionState, partition_for};

#[test]
fn a_committed_transaction_writes_commit_markers_to_its_partitions_then_completes() {
    let mut h = Harness::new();
    let (producer_id, epoch) = h.init_ok("tx");
    assert_eq!((producer_id, epoch), (FIRST_PRODUCER_ID, 0));
    assert_eq!(h.state("tx"), TransactionState::Empty);

    let errors = h.add_partitions("tx", (producer_id, epoch), &[("a", &[0, 1]), ("b", &[2])]);
    assert_eq!(errors, [NONE, NONE, NONE]);
    assert_eq!(h.state("tx"), TransactionState::Ongoing);
    assert_eq!(h.add_offsets("tx", (producer_id, epoch), "group"), NONE);

    let records_before = h.log.len();
    assert_eq!(h.end("tx", (producer_id, epoch), true), NONE);
    assert_eq!(h.state("tx"), TransactionState::PrepareCommit);
    assert_eq!(h.log.len(), records_before + 1, "PrepareCommit is written");
    assert_eq!(h.pending_markers.len(), 1);
    let markers = h.pending_markers[0].clone();
    assert_eq!(markers.result, TransactionResult::Commit);
    assert_eq!(
        (markers.producer_id, markers.producer_epoch),
        (producer_id, epoch)
    );
    let offsets_partition = partition_for("group", 50);
    assert_eq!(
        markers.partitions,
        vec![
            ("__consumer_offsets".to_owned(), vec![offsets_partition]),
            ("a".to_owned(), vec![0, 1]),
            ("b".to_owned(), vec![2]),
        ]
    );

    h.write_markers();
    assert_eq!(h.state("tx"), TransactionState::CompleteCommit);
    let snapshot = h.coordinator.transaction("tx").unwrap();
    assert!(snapshot.partitions.is_empty());
    assert_eq!(h.log.len(), records_before + 2, "CompleteCommit is written");

    // The next transaction starts from CompleteCommit with the same producer.
    assert_eq!(
        h.add_partitions("tx", (producer_id, epoch), &[("a", &[0])]),
        [NONE]
    );
    assert_eq!(h.state("tx"), TransactionState::Ongoing);
}

#[test]
fn an_aborted_transaction_writes_abort_markers() {
    let mut h = Harness::new();
    let producer = h.init_ok("tx");
    h.add_partitions("tx", producer, &[("a", &[0])]);
    assert_eq!(h.end("tx", producer, false), NONE);
    assert_eq!(h.state("tx"), TransactionState::PrepareAbort);
    assert_eq!(h.pending_markers[0].result, TransactionResult::Abort);
    h.write_markers();
    assert_eq!(h.state("tx"), TransactionState::CompleteAbort);
}

#[test]
fn end_txn_retries_are_answered_as_kafka_does() {
    let mut h = Harness::new();
    let producer = h.init_ok("tx");
    assert_eq!(
        h.end("tx", producer, true),
        INVALID_TXN_STATE,
        "nothing began"
    );
    h.add_partitions("tx", producer, &[("a", &[0])]);
    assert_eq!(h.end("tx", producer, true), NONE);
    // While the markers are written: the same end is retriable, the other is invalid.
    assert_eq!(h.end("tx", producer, true), CONCURRENT_TRANSACTIONS);
    assert_eq!(h.end("tx", producer, false), INVALID_TXN_STATE);
    h.write_markers();
    assert_eq!(
        h.end("tx", producer, true),
        NONE,
        "a retry after completion"
    );
    assert_eq!(h.end("tx", producer, false), INVALID_TXN_STATE);
    assert!(h.pending_markers.is_empty(), "retries write nothing");
}

#[test]
fn requests_while_markers_are_pending_get_concurrent_transactions() {
    let mut h = Harness::new();
    let producer = h.init_ok("tx");
    h.add_partitions("tx", producer, &[("a", &[0])]);
    h.end("tx", producer, true);
    assert_eq!(
        h.add_partitions("tx", producer, &[("a", &[0])]),
        [CONCURRENT_TRANSACTIONS]
    );
    assert_eq!(h.add_offsets("tx", producer, "g"), CONCURRENT_TRANSACTIONS);
    let (error, _, _) = h.init("tx", 60_000);
    assert_eq!(error, CONCURRENT_TRANSACTIONS);
    assert_eq!(
        h.add_partitions_v5("tx", producer, &[("a", &[0])], true),
        [CONCURRENT_TRANSACTIONS]
    );
    h.write_markers();
    assert_eq!(h.add_partitions("tx", producer, &[("a", &[0])]), [NONE]);
}

#[test]
fn adding_partitions_already_in_the_transaction_writes_nothing() {
    let mut h = Harness::new();
    let producer = h.init_ok("tx");
    h.add_partitions("tx", producer, &[("a", &[0, 1])]);
    let records = h.log.len();
    assert_eq!(h.add_partitions("tx", producer, &[("a", &[1])]), [NONE]);
    assert_eq!(h.log.len(), records);
    assert_eq!(h.add_partitions("tx", producer, &[("a", &[2])]), [NONE]);
    assert_eq!(h.log.len(), records + 1);
}

#[test]
fn unknown_ids_and_producers_get_invalid_producer_id_mapping() {
    let mut h = Harness::new();
    let producer = h.init_ok("tx");
    assert_eq!(
        h.add_partitions("other", producer, &[("a", &[0])]),
        [INVALID_PRODUCER_ID_MAPPING]
    );
    assert_eq!(
        h.add_partitions("tx", (producer.0 + 1, producer.1), &[("a", &[0, 1])]),
        [INVALID_PRODUCER_ID_MAPPING, INVALID_PRODUCER_ID_MAPPING]
    );
    assert_eq!(h.end("other", producer, true), INVALID_PRODUCER_ID_MAPPING);
    assert_eq!(
        h.add_offsets("other", producer, "g"),
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        h.add_partitions("", producer, &[("a", &[0])]),
        [INVALID_REQUEST]
    );
    assert_eq!(h.end("", producer, true), INVALID_REQUEST);
}

#[test]
fn a_transaction_without_partitions_completes_without_markers() {
    let mut h = Harness::new();
    let producer = h.init_ok("tx");
    assert_eq!(h.add_partitions("tx", producer, &[]), Vec::<i16>::new());
    assert_eq!(h.state("tx"), TransactionState::Ongoing);
    assert_eq!(h.end("tx", producer, true), NONE);
    assert!(h.pending_markers.is_empty());
    assert_eq!(h.state("tx"), TransactionState::CompleteCommit);
}

#[test]
fn verify_only_checks_partitions_without_adding_them() {
    let mut h = Harness::new();
    let producer = h.init_ok("tx");
    assert_eq!(
        h.add_partitions_v5("tx", producer, &[("a", &[0])], true),
        [TRANSACTION_ABORTABLE],
        "not in the transaction"
    );
    assert_eq!(h.state("tx"), TransactionState::Empty);
    assert_eq!(
        h.add_partitions_v5("tx", producer, &[("a", &[0])], false),
        [NONE]
    );
    assert_eq!(
        h.add_partitions_v5("tx", producer, &[("a", &[0, 1])], true),
        [NONE, TRANSACTION_ABORTABLE]
    );
    assert_eq!(
        h.add_partitions_v5("tx", (producer.0, producer.1 + 1), &[("a", &[0])], true),
        [PRODUCER_FENCED]
    );
    assert_eq!(
        h.add_partitions_v5("nope", producer, &[("a", &[0])], true),
        [INVALID_PRODUCER_ID_MAPPING]
    );
}

#[test]
fn describe_and_list_show_state_partitions_and_filters() {
    let mut h = Harness::new();
    let a = h.init_ok("a");
    let b = h.init_ok("b");
    h.add_partitions("a", a, &[("t", &[3, 1])]);
    let started = h.now_ms;
    h.now_ms += 5_000;

    let described = h.describe(&["a", "b", "missing", ""]);
    let states = &described.transaction_states;
    assert_eq!(states[0].error_code, NONE);
    assert_eq!(states[0].transaction_state, "Ongoing");
    assert_eq!(states[0].producer_id, a.0);
    assert_eq!(states[0].transaction_start_time_ms, started);
    assert_eq!(states[0].transaction_timeout_ms, 60_000);
    assert_eq!(states[0].topics[0].topic, "t");
    assert_eq!(states[0].topics[0].partitions, [1, 3]);
    assert_eq!(states[1].transaction_state, "Empty");
    assert_eq!(states[1].transaction_start_time_ms, -1);
    assert_eq!(states[2].error_code, TRANSACTIONAL_ID_NOT_FOUND);
    assert_eq!(states[2].transactional_id, "missing");
    assert_eq!(states[3].error_code, INVALID_REQUEST);

    let ids = |r: &fjord_protocol::messages::ListTransactionsResponse| {
        r.transaction_states
            .iter()
            .map(|s| s.transactional_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&h.list(&[], &[], -1, 1)), ["a", "b"]);
    assert_eq!(ids(&h.list(&["Ongoing"], &[], -1, 1)), ["a"]);
    assert_eq!(ids(&h.list(&[], &[b.0], -1, 1)), ["b"]);
    assert_eq!(ids(&h.list(&[], &[], 4_999, 1)), ["a"]);
    assert!(
        ids(&h.list(&[], &[], 5_000, 1)).is_empty(),
        "not longer than"
    );
    assert_eq!(
        ids(&h.list(&[], &[], 5_000, 0)),
        ["a", "b"],
        "no filter in v0"
    );
    let unknown = h.list(&["Bogus"], &[], -1, 1);
    assert_eq!(unknown.unknown_state_filters, ["Bogus"]);
    assert!(unknown.transaction_states.is_empty());
}

#[test]
fn idempotent_producers_get_fresh_producer_ids() {
    let mut h = Harness::new();
    let first = h.init_with(None, 0, -1, -1, INIT_V);
    let second = h.init_with(None, 0, -1, -1, 0);
    assert_eq!(first, (NONE, FIRST_PRODUCER_ID, 0));
    assert_eq!(second, (NONE, FIRST_PRODUCER_ID + 1, 0));
    assert!(h.coordinator.transactions().is_empty());
    let (error, _, _) = h.init_with(None, 0, 5, -1, INIT_V);
    assert_eq!(error, INVALID_REQUEST, "a producer id without an epoch");
}

#[test]
fn a_late_report_of_the_previous_transactions_markers_does_not_complete_the_next() {
    let mut h = Harness::new();
    let producer = h.init_ok("tx");
    h.add_partitions("tx", producer, &[("a", &[0])]);
    h.end("tx", producer, false);
    let first = h.pending_markers[0].clone();
    h.write_markers();
    // The next transaction, same producer id and epoch.
    h.add_partitions("tx", producer, &[("a", &[0])]);
    h.end("tx", producer, false);
    let second = h.pending_markers[0].clone();
    assert_eq!(
        (first.producer_id, first.producer_epoch),
        (second.producer_id, second.producer_epoch)
    );
    assert_ne!(first.markers_id, second.markers_id);
    let out = h.coordinator.markers_written(h.now_ms, &first);
    assert!(out.records.is_empty());
    assert_eq!(h.state("tx"), TransactionState::PrepareAbort);
    h.write_markers();
    assert_eq!(h.state("tx"), TransactionState::CompleteAbort);
}

#[test]
fn a_transaction_whose_record_would_be_too_large_is_refused_and_unchanged() {
    let mut h = Harness::with_config(fjord_txn::TxnConfig {
        transaction_state_record_bytes_max: 1_024,
        ..fjord_txn::TxnConfig::default()
    });
    let producer = h.init_ok("tx");
    let partitions: Vec<i32> = (0..300).collect();
    assert_eq!(
        h.add_partitions("tx", producer, &[("a", &partitions[..100])]),
        vec![NONE; 100]
    );
    let records = h.log.len();
    assert_eq!(
        h.add_partitions("tx", producer, &[("a", &partitions[100..])]),
        vec![-1; 200],
        "UNKNOWN_SERVER_ERROR"
    );
    assert_eq!(h.log.len(), records);
    assert_eq!(
        h.coordinator.transaction("tx").unwrap().partitions[0]
            .1
            .len(),
        100
    );
}

#[test]
fn a_batched_add_partitions_answers_each_transaction_on_its_own() {
    use fjord_protocol::ResponseKind;
    use fjord_protocol::messages::AddPartitionsToTxnRequest;
    use fjord_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
    use fjord_txn::TxnRequest;

    let mut h = Harness::new();
    let a = h.init_ok("a");
    let b = h.init_ok("b");
    let transaction = |id: &str, producer: (i64, i16), verify_only| AddPartitionsToTxnTransaction {
        transactional_id: id.into(),
        producer_id: producer.0,
        producer_epoch: producer.1,
        verify_only,
        topics: topics(&[("t", &[0, 1])]),
        ..Default::default()
    };
    let request = AddPartitionsToTxnRequest {
        transactions: vec![
            transaction("a", a, false),
            transaction("b", (b.0, b.1 + 1), false),
            transaction("c", a, true),
        ],
        ..Default::default()
    };
    let id = h.send(TxnRequest::AddPartitionsToTxn(request), 4);
    let ResponseKind::AddPartitionsToTxn(response) = h.response(id) else {
        panic!("not an AddPartitionsToTxn response");
    };
    let errors: Vec<(String, Vec<i16>)> = response
        .results_by_transaction
        .iter()
        .map(|r| {
            let codes = r.topic_results[0]
                .results_by_partition
                .iter()
                .map(|p| p.partition_error_code)
                .collect();
            (r.transactional_id.clone(), codes)
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            ("a".to_owned(), vec![NONE, NONE]),
            ("b".to_owned(), vec![PRODUCER_FENCED, PRODUCER_FENCED]),
            (
                "c".to_owned(),
                vec![INVALID_PRODUCER_ID_MAPPING, INVALID_PRODUCER_ID_MAPPING]
            ),
        ]
    );
    assert_eq!(h.state("a"), TransactionState::Ongoing);
    assert_eq!(h.state("b"), TransactionState::Empty);
}
