//! Property test: random transactional batches, plain batches, COMMIT and ABORT
//! markers, flushes, segment rolls, clean and unclean reopens (with or without
//! the txnindex files) give the last stable offset, the open transactions and
//! the aborted transactions an in-memory model computes.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;

use fjord_log::{AbortedTxn, LogConfig, PartitionLog};
use fjord_records::{BatchBuilder, ControlRecordType, EndTransactionMarker};
use proptest::prelude::*;
use support::*;

const PRODUCERS: i64 = 3;

#[derive(Clone, Debug)]
enum Op {
    Transactional {
        producer: i64,
        count: usize,
    },
    Plain {
        count: usize,
    },
    Marker {
        producer: i64,
        abort: bool,
    },
    Flush,
    Reopen {
        clean: bool,
    },
    /// An unclean reopen after every txnindex file was lost.
    ReopenWithoutTxnIndexes,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..PRODUCERS, 1..4usize)
            .prop_map(|(producer, count)| Op::Transactional { producer, count }),
        2 => (1..4usize).prop_map(|count| Op::Plain { count }),
        4 => (0..PRODUCERS, any::<bool>())
            .prop_map(|(producer, abort)| Op::Marker { producer, abort }),
        1 => Just(Op::Flush),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => Just(Op::ReopenWithoutTxnIndexes),
    ]
}

#[derive(Default)]
struct Model {
    end: i64,
    /// producer -> first offset of its open transaction.
    open: BTreeMap<i64, i64>,
    aborted: Vec<AbortedTxn>,
    /// Next sequence per producer.
    sequences: BTreeMap<i64, i32>,
}

impl Model {
    fn lso(&self) -> i64 {
        self.open.values().min().copied().unwrap_or(self.end)
    }
}

fn config() -> LogConfig {
    // Small segments: transactions and markers straddle rolls.
    small_config(700)
}

fn reopen(dir: &std::path::Path, log: PartitionLog, clean: bool) -> PartitionLog {
    if clean {
        log.close().unwrap();
    } else {
        drop(log);
    }
    open(dir, config()).0
}

fn check(log: &PartitionLog, model: &Model, step: usize, ranges: &[(i64, i64)]) {
    for &(start, upper) in ranges {
        let (start, upper) = (start % (model.end + 1), upper % (model.end + 1));
        let expected: Vec<AbortedTxn> = model
            .aborted
            .iter()
            .filter(|txn| txn.last_offset >= start && txn.first_offset < upper)
            .copied()
            .collect();
        assert_eq!(
            log.aborted_transactions(start, upper),
            expected,
            "step {step}: aborted transactions in [{start}, {upper})"
        );
    }
    assert_eq!(log.log_end_offset(), model.end, "step {step}: log end");
    assert_eq!(log.last_stable_offset(), model.lso(), "step {step}: LSO");
    assert_eq!(
        log.ongoing_txn_count(),
        model.open.len(),
        "step {step}: open transactions"
    );
    assert_eq!(
        log.aborted_transactions(0, model.end),
        model.aborted,
        "step {step}: aborted transactions"
    );
}

fn run(ops: Vec<Op>, ranges: Vec<(i64, i64)>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    let mut model = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Transactional { producer, count } => {
                let sequence = model.sequences.entry(producer).or_insert(0);
                let builder = BatchBuilder::new(0)
                    .producer(producer, 0, *sequence)
                    .transactional(true);
                let batch = batch_from(builder, step as u64, count, NOW_MS, 20);
                let info = appended(log.append(batch, context(NOW_MS)).unwrap());
                assert_eq!(info.base_offset, model.end);
                *sequence += count as i32;
                model.open.entry(producer).or_insert(model.end);
                model.end += count as i64;
            }
            Op::Plain { count } => {
                let info = appended(
                    log.append(batch(step as u64, count, NOW_MS, 20), context(NOW_MS))
                        .unwrap(),
                );
                assert_eq!(info.base_offset, model.end);
                model.end += count as i64;
            }
            Op::Marker { producer, abort } => {
                let control_type = if abort {
                    ControlRecordType::Abort
                } else {
                    ControlRecordType::Commit
                };
                let marker = EndTransactionMarker {
                    control_type,
                    coordinator_epoch: 0,
                };
                let info = log
                    .append_end_txn_marker(producer, 0, marker, context(NOW_MS))
                    .unwrap();
                assert_eq!(info.base_offset, model.end);
                let first_offset = model.open.remove(&producer).unwrap_or(model.end);
                model.end += 1;
                if abort {
                    model.aborted.push(AbortedTxn {
                        producer_id: producer,
                        first_offset,
                        last_offset: model.end - 1,
                        last_stable_offset: model.lso(),
                    });
                }
            }
            Op::Flush => {
                log.flush().unwrap();
            }
            Op::Reopen { clean } => {
                log = reopen(dir.path(), log, clean);
            }
            Op::ReopenWithoutTxnIndexes => {
                drop(log);
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    let path = entry.unwrap().path();
                    if path.extension().is_some_and(|ext| ext == "txnindex") {
                        std::fs::remove_file(path).unwrap();
                    }
                }
                // Without a snapshot either, every marker is replayed and every
                // entry rebuilt; with one, the entries before it are gone for good
                // (a roll fsyncs them first, so only this deliberate loss does it).
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    let path = entry.unwrap().path();
                    if path.extension().is_some_and(|ext| ext == "snapshot") {
                        std::fs::remove_file(path).unwrap();
                    }
                }
                log = open(dir.path(), config()).0;
            }
        }
        check(&log, &model, step, &ranges);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn transactions_match_the_model(
        ops in proptest::collection::vec(op(), 1..60),
        ranges in proptest::collection::vec((0..200i64, 0..200i64), 3),
    ) {
        run(ops, ranges);
    }
}
