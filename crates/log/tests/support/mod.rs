//! Helpers shared by this crate's integration tests: batches built with
//! `fjord_records::BatchBuilder`, a decoder for what reads return, and a small
//! deterministic RNG so failures reproduce.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use bytes::{Bytes, BytesMut};
use fjord_log::{
    AppendContext, AppendInfo, AppendOutcome, LogConfig, PartitionLog, RecoveryReport,
};
use fjord_records::{BatchBuilder, DecompressionLimits, RecordBatch, RecordBatches};

/// A fixed "now" for tests that do not care about time.
pub const NOW_MS: i64 = 1_700_000_000_000;

pub fn context(now_ms: i64) -> AppendContext {
    AppendContext {
        now_ms,
        leader_epoch: 7,
    }
}

/// A config with small segments and a dense index, so a few kilobytes of data
/// exercise rolls and index lookups.
pub fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 256,
        retention_ms: None,
        ..LogConfig::default()
    }
}

/// The value of record `index` of a batch tagged `tag`: recognisable in reads.
pub fn value(tag: u64, index: usize, len: usize) -> Vec<u8> {
    let mut value = format!("{tag}-{index}-").into_bytes();
    value.resize(len.max(value.len()), b'x');
    value
}

/// A batch of `count` records tagged `tag`, timestamps `timestamp_ms`,
/// `timestamp_ms + 1`...
pub fn batch(tag: u64, count: usize, timestamp_ms: i64, value_len: usize) -> BytesMut {
    batch_from(BatchBuilder::new(0), tag, count, timestamp_ms, value_len)
}

/// A batch from an idempotent producer.
pub fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, count: usize) -> BytesMut {
    let builder = BatchBuilder::new(0).producer(producer_id, epoch, sequence);
    batch_from(builder, sequence as u64, count, NOW_MS, 10)
}

pub fn batch_from(
    mut builder: BatchBuilder,
    tag: u64,
    count: usize,
    timestamp_ms: i64,
    value_len: usize,
) -> BytesMut {
    for index in 0..count {
        let value = value(tag, index, value_len);
        builder
            .append(timestamp_ms + index as i64, Some(b"key"), Some(&value), &[])
            .unwrap();
    }
    BytesMut::from(&builder.build().unwrap()[..])
}

pub fn appended(outcome: AppendOutcome) -> AppendInfo {
    match outcome {
        AppendOutcome::Appended(info) => info,
        AppendOutcome::Duplicate(info) => panic!("unexpected duplicate: {info:?}"),
    }
}

/// One record as a read returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadRecord {
    pub offset: i64,
    pub timestamp_ms: i64,
    pub value: Bytes,
}

/// Every batch in `bytes`, CRC-checked.
pub fn batches(bytes: &Bytes) -> Vec<RecordBatch> {
    RecordBatches::new(bytes.clone())
        .map(|batch| {
            let batch = batch.unwrap();
            batch.verify_crc().unwrap();
            batch
        })
        .collect()
}

/// Every record in `bytes`, in order.
pub fn records(bytes: &Bytes) -> Vec<ReadRecord> {
    let mut out = Vec::new();
    for batch in batches(bytes) {
        for record in batch.records(DecompressionLimits::default()) {
            let record = record.unwrap();
            out.push(ReadRecord {
                offset: record.offset(&batch),
                timestamp_ms: record.timestamp(&batch),
                value: record.value.clone().unwrap(),
            });
        }
    }
    out
}

/// Reads the whole log from `from` in fetches of `max_bytes`, as a consumer
/// would, and returns every record at or after `from`.
pub fn read_all(log: &PartitionLog, from: i64, max_bytes: usize) -> Vec<ReadRecord> {
    let mut out = Vec::new();
    let mut offset = from;
    let end = log.log_end_offset();
    while offset < end {
        let read = log.read(offset, max_bytes, end, true).unwrap();
        assert!(!read.records.is_empty(), "no progress at offset {offset}");
        out.extend(
            records(&read.records)
                .into_iter()
                .filter(|r| r.offset >= from),
        );
        offset = read.next_offset;
    }
    out
}

pub fn open(dir: &Path, config: LogConfig) -> (PartitionLog, RecoveryReport) {
    PartitionLog::open(dir, config, NOW_MS).unwrap()
}

/// The `.log` files of a partition directory, sorted.
pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    files.sort();
    files
}

/// SplitMix64: a tiny deterministic RNG, so a failing seed can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}
