//! Property test: random sequences of appends (plain, compressed, idempotent
//! and retried), reads, flushes, DeleteRecords and clean or unclean reopens
//! give the same answers as an in-memory model of the log.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;

use fjord_log::{AppendOutcome, LogConfig, PartitionLog};
use fjord_records::{BatchBuilder, Compression};
use proptest::prelude::*;
use support::*;

#[derive(Clone, Debug)]
enum Op {
    Append {
        count: usize,
        value_len: usize,
        compressed: bool,
    },
    /// An idempotent producer's next batch, or (`retry`) its last one again.
    Produce {
        producer: i64,
        count: usize,
        retry: bool,
    },
    Read {
        start: u64,
        max_bytes: usize,
        upper: u64,
        min_one_batch: bool,
    },
    Flush,
    DeleteRecords {
        offset: u64,
    },
    Reopen {
        clean: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..6usize, 0..120usize, any::<bool>()).prop_map(|(count, value_len, compressed)| {
            Op::Append { count, value_len, compressed }
        }),
        3 => (0..3i64, 1..4usize, any::<bool>())
            .prop_map(|(producer, count, retry)| Op::Produce { producer, count, retry }),
        6 => (any::<u64>(), 0..2500usize, any::<u64>(), any::<bool>()).prop_map(
            |(start, max_bytes, upper, min_one_batch)| Op::Read { start, max_bytes, upper, min_one_batch }
        ),
        1 => Just(Op::Flush),
        1 => any::<u64>().prop_map(|offset| Op::DeleteRecords { offset }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

#[derive(Clone, Debug)]
struct ModelBatch {
    base_offset: i64,
    size: usize,
    values: Vec<Vec<u8>>,
}

impl ModelBatch {
    fn last_offset(&self) -> i64 {
        self.base_offset + self.values.len() as i64 - 1
    }
}

#[derive(Default)]
struct Model {
    batches: Vec<ModelBatch>,
    log_start: i64,
    producers: HashMap<i64, ProducerModel>,
}

/// What a producer sends next, and the last batch it sent, for retries.
#[derive(Clone, Copy, Default)]
struct ProducerModel {
    next_sequence: i32,
    last: Option<SentBatch>,
}

#[derive(Clone, Copy)]
struct SentBatch {
    sequence: i32,
    count: usize,
    base_offset: i64,
    last_offset: i64,
}

impl Model {
    fn end(&self) -> i64 {
        self.batches
            .last()
            .map_or(0, |batch| batch.last_offset() + 1)
    }

    /// What a read must return: (offset, value) of each record, and the next
    /// offset.
    fn read(
        &self,
        start: i64,
        max_bytes: usize,
        upper: i64,
        min_one_batch: bool,
    ) -> (Vec<(i64, Vec<u8>)>, i64) {
        let mut out = Vec::new();
        let mut next = start;
        let mut bytes = 0;
        for batch in self
            .batches
            .iter()
            .filter(|batch| batch.last_offset() >= start)
        {
            if batch.last_offset() >= upper {
                break;
            }
            let first = bytes == 0;
            if bytes + batch.size > max_bytes && !(first && min_one_batch) {
                break;
            }
            bytes += batch.size;
            for (index, value) in batch.values.iter().enumerate() {
                out.push((batch.base_offset + index as i64, value.clone()));
            }
            next = batch.last_offset() + 1;
        }
        (out, next)
    }
}

fn config() -> LogConfig {
    LogConfig {
        index_interval_bytes: 100,
        ..small_config(1200)
    }
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), config());
    let mut model = Model::default();
    for (step, op) in ops.into_iter().enumerate() {
        if let Op::Reopen { clean } = op {
            if clean {
                log.close().unwrap();
            } else {
                drop(log);
            }
            let (reopened, report) = PartitionLog::open(dir.path(), config(), NOW_MS).unwrap();
            assert_eq!(report.truncation, None, "step {step}");
            assert_eq!(report.clean_shutdown, clean, "step {step}");
            log = reopened;
        } else {
            apply(&mut log, &mut model, op.clone(), step);
        }
        assert_eq!(log.log_end_offset(), model.end(), "step {step}: {op:?}");
        assert_eq!(
            log.log_start_offset(),
            model.log_start,
            "step {step}: {op:?}"
        );
    }
    // Finally every record reads back, from the log start, in small fetches.
    let expected: Vec<_> = model
        .read(model.log_start, usize::MAX, i64::MAX, true)
        .0
        .into_iter()
        .filter(|(offset, _)| *offset >= model.log_start)
        .collect();
    let actual: Vec<_> = read_all(&log, model.log_start, 300)
        .into_iter()
        .map(|record| (record.offset, record.value.to_vec()))
        .collect();
    assert_eq!(actual, expected);
}

fn apply(log: &mut PartitionLog, model: &mut Model, op: Op, step: usize) {
    match op {
        Op::Append {
            count,
            value_len,
            compressed,
        } => {
            let compression = if compressed {
                Compression::Lz4
            } else {
                Compression::None
            };
            let builder = BatchBuilder::new(0).compression(compression);
            let records = batch_from(builder, step as u64, count, NOW_MS, value_len);
            let size = records.len();
            let info = appended(log.append(records, context(NOW_MS)).unwrap());
            assert_eq!(info.base_offset, model.end());
            model.batches.push(ModelBatch {
                base_offset: info.base_offset,
                size,
                values: (0..count)
                    .map(|index| value(step as u64, index, value_len))
                    .collect(),
            });
        }
        Op::Produce {
            producer,
            count,
            retry,
        } => {
            let state = model.producers.get(&producer).copied().unwrap_or_default();
            let next_sequence = state.next_sequence;
            match (retry, state.last) {
                (true, Some(sent)) => {
                    let outcome = log
                        .append(
                            idempotent_batch(producer, 0, sent.sequence, sent.count),
                            context(NOW_MS),
                        )
                        .unwrap();
                    let AppendOutcome::Duplicate(info) = outcome else {
                        panic!("step {step}: retry not recognised: {outcome:?}");
                    };
                    assert_eq!(
                        (info.base_offset, info.last_offset),
                        (sent.base_offset, sent.last_offset)
                    );
                }
                _ => {
                    let records = idempotent_batch(producer, 0, next_sequence, count);
                    let size = records.len();
                    let info = appended(log.append(records, context(NOW_MS)).unwrap());
                    model.batches.push(ModelBatch {
                        base_offset: info.base_offset,
                        size,
                        values: (0..count)
                            .map(|index| value(next_sequence as u64, index, 10))
                            .collect(),
                    });
                    let sent = SentBatch {
                        sequence: next_sequence,
                        count,
                        base_offset: info.base_offset,
                        last_offset: info.last_offset,
                    };
                    model.producers.insert(
                        producer,
                        ProducerModel {
                            next_sequence: next_sequence + count as i32,
                            last: Some(sent),
                        },
                    );
                }
            }
        }
        Op::Read {
            start,
            max_bytes,
            upper,
            min_one_batch,
        } => {
            // Offsets from just below the log start to just past the end.
            let span = (model.end() - model.log_start + 3) as u64;
            let start = model.log_start - 1 + (start % span) as i64;
            let upper = model.log_start + (upper % span) as i64;
            let result = log.read(start, max_bytes, upper, min_one_batch);
            if start < model.log_start || start > model.end() {
                assert!(
                    result.is_err(),
                    "step {step}: read at {start} should be out of range"
                );
                return;
            }
            let result = result.unwrap();
            let (expected, next) = model.read(start, max_bytes, upper, min_one_batch);
            let actual: Vec<_> = records(&result.records)
                .into_iter()
                .map(|record| (record.offset, record.value.to_vec()))
                .collect();
            assert_eq!(
                actual, expected,
                "step {step}: read({start}, {max_bytes}, {upper}, {min_one_batch})"
            );
            assert_eq!(result.next_offset, next);
        }
        Op::Flush => {
            assert_eq!(log.flush().unwrap(), model.end());
        }
        Op::DeleteRecords { offset } => {
            let span = (model.end() - model.log_start + 1) as u64;
            let offset = model.log_start + (offset % span) as i64;
            assert_eq!(log.delete_records_before(offset).unwrap(), offset);
            model.log_start = offset;
        }
        Op::Reopen { .. } => unreachable!("handled by run"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_log_behaves_like_its_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}
