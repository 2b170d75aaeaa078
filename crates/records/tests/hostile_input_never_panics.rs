//! Mutated, truncated and random input is reported as errors, never a panic,
//! through every entry point: the views, the batch and record iterators, the
//! in-place rewrites and the marker parser.
//!
//! A deterministic generator drives it, so a failure names its seed and
//! iteration and reproduces exactly.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use fjord_records::{
    BatchBuilder, Compression, ControlRecordType, DecompressionLimits, EndTransactionMarker, Error,
    RecordBatch, RecordBatches, RecordBatchesMut, TimestampType,
};
use support::{CODECS, Rng, fix_length_and_crc, rewrap};

const ITERATIONS_PER_SEED: usize = 2_000;
const LIMITS: DecompressionLimits = DecompressionLimits::new(64 * 1024);

/// A small valid batch and its records section before compression.
struct Seed {
    batch: Vec<u8>,
    plain_section: Vec<u8>,
    codec: Compression,
}

fn data_batch(codec: Compression) -> BatchBuilder {
    let mut builder = BatchBuilder::new(10).producer(5, 1, 0).compression(codec);
    builder
        .append(100, Some(b"k"), Some(b"value"), &[])
        .unwrap();
    let headers: &[(&[u8], Option<&[u8]>)] = &[(b"h", Some(b"x")), (b"n", None)];
    builder.append(90, None, Some(&[7; 40]), headers).unwrap();
    builder.append(110, Some(b""), None, &[]).unwrap();
    builder
}

fn marker_batch(codec: Compression) -> BatchBuilder {
    let mut builder = BatchBuilder::new(0)
        .control(true)
        .transactional(true)
        .compression(codec);
    let commit = EndTransactionMarker {
        control_type: ControlRecordType::Commit,
        coordinator_epoch: 3,
    };
    builder.append_end_transaction_marker(1, &commit).unwrap();
    builder
}

fn empty_batch(codec: Compression) -> BatchBuilder {
    BatchBuilder::new(0).compression(codec)
}

/// Small valid batches covering every codec and record shape.
fn seeds() -> Vec<Seed> {
    let shapes: [fn(Compression) -> BatchBuilder; 3] = [data_batch, marker_batch, empty_batch];
    let mut seeds = Vec::new();
    for shape in shapes {
        let plain_section = shape(Compression::None).build().unwrap()[61..].to_vec();
        for codec in CODECS {
            seeds.push(Seed {
                batch: shape(codec).build().unwrap().to_vec(),
                plain_section: plain_section.clone(),
                codec,
            });
        }
    }
    seeds
}

/// The error variants and outcomes seen, to check the mutations reach deep.
type Seen = BTreeSet<String>;

fn note(seen: &mut Seen, error: &Error) {
    // Rendering must not panic either.
    let _ = error.to_string();
    let debug = format!("{error:?}");
    let variant = debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("");
    seen.insert(variant.to_string());
}

/// Runs `bytes` through everything that reads or rewrites batches.
fn exercise(bytes: &[u8], rng: &mut Rng, seen: &mut Seen) {
    let shared = Bytes::copy_from_slice(bytes);
    for batch in RecordBatches::new(shared.clone()) {
        match batch {
            Ok(batch) => exercise_batch(&batch, seen),
            Err(error) => note(seen, &error),
        }
    }
    if let Ok(batch) = RecordBatch::new(shared) {
        exercise_batch(&batch, seen);
    }

    let mut copy = bytes.to_vec();
    for batch in RecordBatchesMut::new(&mut copy) {
        let Ok(mut batch) = batch else { break };
        batch.set_base_offset(rng.next_u64() as i64);
        batch.set_partition_leader_epoch(rng.next_u64() as i32);
        let timestamp_type = if rng.chance(2) {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        };
        if batch
            .set_max_timestamp(timestamp_type, rng.next_u64() as i64)
            .is_ok()
        {
            assert!(
                batch.verify_crc().is_ok(),
                "a successful rewrite leaves a valid CRC"
            );
        }
    }
}

fn exercise_batch(batch: &RecordBatch, seen: &mut Seen) {
    let _ = (
        batch.base_offset(),
        batch.batch_length(),
        batch.partition_leader_epoch(),
        batch.magic(),
        batch.attributes().timestamp_type(),
        batch.attributes().is_transactional(),
        batch.attributes().is_control(),
        batch.base_sequence(),
        batch.producer_id(),
        batch.producer_epoch(),
        batch.record_count(),
        batch.last_offset(),
        batch.next_offset(),
        batch.base_timestamp(),
        batch.max_timestamp(),
    );
    if let Err(error) = batch.verify_crc() {
        note(seen, &error);
    }
    let mut yielded = 0usize;
    for record in batch.records(LIMITS) {
        yielded += 1;
        // Never more records than the header claims, plus the one closing error.
        assert!(yielded <= batch.record_count().max(0) as usize + 1);
        match record {
            Ok(record) => {
                let _ = (record.offset(batch), record.timestamp(batch));
                for header in &record.headers {
                    let _ = header.key_str();
                }
                if let Err(error) = EndTransactionMarker::from_record(&record) {
                    note(seen, &error);
                }
                seen.insert("record".to_string());
            }
            Err(error) => note(seen, &error),
        }
    }
}

/// Flips, overwrites, inserts or deletes a few bytes.
fn mutate(data: &mut Vec<u8>, rng: &mut Rng) {
    let interesting: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x02, 0x81];
    for _ in 0..1 + rng.below(4) {
        if data.is_empty() {
            data.push(rng.next_u64() as u8);
            continue;
        }
        let at = rng.below(data.len());
        match rng.below(5) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = interesting[rng.below(interesting.len())],
            2 => data[at] = rng.next_u64() as u8,
            3 => {
                let insert_len = 1 + rng.below(8);
                let insert = rng.bytes(insert_len);
                data.splice(at..at, insert);
            }
            _ => {
                let end = (at + 1 + rng.below(8)).min(data.len());
                data.drain(at..end);
            }
        }
    }
}

/// Overwrites one header field with an extreme or random value.
fn mutate_header(batch: &mut [u8], rng: &mut Rng) {
    let extremes_i32 = [0, -1, 1, i32::MAX, i32::MIN, rng.next_u64() as i32];
    let extremes_i64 = [0, -1, i64::MAX, i64::MIN, rng.next_u64() as i64];
    let value_i32 = extremes_i32[rng.below(extremes_i32.len())].to_be_bytes();
    let value_i64 = extremes_i64[rng.below(extremes_i64.len())].to_be_bytes();
    match rng.below(6) {
        0 => batch[57..61].copy_from_slice(&value_i32), // recordsCount
        1 => batch[23..27].copy_from_slice(&value_i32), // lastOffsetDelta
        2 => batch[0..8].copy_from_slice(&value_i64),   // baseOffset
        3 => batch[27..35].copy_from_slice(&value_i64), // baseTimestamp
        4 => batch[8..12].copy_from_slice(&value_i32),  // batchLength
        _ => batch[21..23].copy_from_slice(&(rng.next_u64() as i16).to_be_bytes()),
    }
}

fn run(seed: u64) -> Seen {
    let seeds = seeds();
    let mut seen = Seen::new();
    let mut rng = Rng::new(seed);
    for iteration in 0..ITERATIONS_PER_SEED {
        let seed_batch = &seeds[rng.below(seeds.len())];
        let original = &seed_batch.batch;
        let input = match rng.below(7) {
            // Raw damage anywhere, CRC and lengths left stale.
            0 => {
                let mut data = original.clone();
                mutate(&mut data, &mut rng);
                data
            }
            // Damage to the records before compression, with the header made
            // consistent again, so the record parser sees it behind every codec.
            1 | 2 => {
                let mut section = seed_batch.plain_section.clone();
                mutate(&mut section, &mut rng);
                rewrap(original, seed_batch.codec, &section)
            }
            // Extreme header values with a valid CRC.
            3 => {
                let mut data = original.clone();
                mutate_header(&mut data, &mut rng);
                if rng.chance(2) {
                    let crc = support::crc32c_bitwise(&data[21..]);
                    data[17..21].copy_from_slice(&crc.to_be_bytes());
                }
                data
            }
            // Truncation, with or without batchLength following it.
            4 => {
                let mut data = original.clone();
                data.truncate(rng.below(data.len() + 1));
                if data.len() >= 61 && rng.chance(2) {
                    fix_length_and_crc(&mut data);
                }
                data
            }
            // Several batches, one of them damaged.
            5 => {
                let mut data = Vec::new();
                for _ in 0..2 + rng.below(3) {
                    data.extend_from_slice(&seeds[rng.below(seeds.len())].batch);
                }
                mutate(&mut data, &mut rng);
                data
            }
            // Random records behind a plausible header.
            _ => {
                let mut data = original[..61].to_vec();
                let random_len = rng.below(200);
                data.extend_from_slice(&rng.bytes(random_len));
                data[22] = (data[22] & !0x07) | rng.below(5) as u8;
                fix_length_and_crc(&mut data);
                data
            }
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            exercise(&input, &mut Rng::new(seed), &mut seen)
        }));
        assert!(
            outcome.is_ok(),
            "seed {seed} iteration {iteration}: input {input:02x?}"
        );
    }
    seen
}

#[test]
fn mutations_reach_every_layer() {
    let seen = run(4);
    let expected = [
        "record",
        "Truncated",
        "InvalidBatchLength",
        "UnsupportedMagic",
        "UnknownCompression",
        "CrcMismatch",
        "Decompress",
        "DecompressedTooLarge",
        "InvalidRecordCount",
        "RecordCountMismatch",
        "InvalidVarint",
        "InvalidLength",
        "LengthOutOfBounds",
        "TrailingBytes",
        "InvalidControlRecord",
    ];
    let missing: Vec<_> = expected
        .iter()
        .filter(|name| !seen.contains(**name))
        .collect();
    assert!(
        missing.is_empty(),
        "never produced {missing:?}; saw {seen:?}"
    );
}

#[test]
fn mutated_batches_seed_1() {
    run(1);
}

#[test]
fn mutated_batches_seed_2() {
    run(0x9e37_79b9_7f4a_7c15);
}

#[test]
fn mutated_batches_seed_3() {
    run(0xdead_beef);
}

#[test]
fn pure_random_bytes() {
    let mut rng = Rng::new(77);
    for iteration in 0..2_000 {
        let len = rng.below(160);
        let mut input = rng.bytes(len);
        // Half the time make it look like a magic 2 batch so parsing goes deeper.
        if input.len() >= 61 && rng.chance(2) {
            input[16] = 2;
            input[22] &= !0x07;
            fix_length_and_crc(&mut input);
        }
        let mut seen = Seen::new();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            exercise(&input, &mut Rng::new(iteration), &mut seen)
        }));
        assert!(outcome.is_ok(), "iteration {iteration}: input {input:02x?}");
    }
}
