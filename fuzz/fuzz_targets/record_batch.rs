//! Record batches against hostile bytes: the input is a concatenation of batches,
//! as in a Produce request's `records` field or a log segment.
//!
//! Every batch that parses is read the way the broker reads one: CRC checked, every
//! record iterated with a small decompression limit, control records interpreted.
//! Beyond "never panics" it checks what must hold for any input:
//!
//! - the batches iterator accounts for every byte it consumed;
//! - `verify_crc` agrees with the stored and computed CRCs;
//! - a batch whose records all read has exactly `record_count` of them, and writing
//!   those records again with `BatchBuilder` (same codec) reads back the same keys,
//!   values, headers and timestamps;
//! - the mutable views find the same batches as the read-only ones; rewriting the
//!   fields the broker owns keeps a valid CRC valid, refuses to re-stamp a batch
//!   whose CRC is already wrong, and leaves the records untouched.

#![no_main]

use bytes::Bytes;
use fjord_records::{
    BatchBuilder, DecompressionLimits, EndTransactionMarker, Record, RecordBatch, RecordBatches,
    RecordBatchesMut, TimestampType,
};
use libfuzzer_sys::fuzz_target;

/// Small, so that a compression bomb costs the fuzzer little; enough for every
/// batch a fuzzer can build from inputs of a few KiB.
const DECOMPRESSED_BYTES_MAX: usize = 1024 * 1024;

fuzz_target!(|data: &[u8]| {
    let limits = DecompressionLimits::new(DECOMPRESSED_BYTES_MAX);
    let mut batches = RecordBatches::new(Bytes::copy_from_slice(data));
    let mut read = Vec::new();
    let mut consumed_bytes = 0;
    let mut failed = false;
    for batch in &mut batches {
        match batch {
            Ok(batch) => {
                consumed_bytes += batch.size_bytes();
                let records = read_batch(&batch, limits);
                read.push((batch, records));
            }
            Err(_) => failed = true,
        }
    }
    assert_eq!(batches.position(), consumed_bytes);
    if !failed {
        assert_eq!(batches.position(), data.len());
    }

    rewrite(data, &read, failed);
});

/// Reads a batch as the broker would; returns its records if all of them read.
fn read_batch(batch: &RecordBatch, limits: DecompressionLimits) -> Option<Vec<Record>> {
    assert_eq!(batch.magic(), 2);
    assert_eq!(
        batch.verify_crc().is_ok(),
        batch.crc() == batch.computed_crc()
    );
    // Header accessors must not panic on any values.
    let _ = (
        batch.last_offset(),
        batch.next_offset(),
        batch.records_bytes(),
    );

    let mut records = Vec::new();
    for record in batch.records(limits) {
        let record = record.ok()?;
        let _ = (record.offset(batch), record.timestamp(batch));
        for header in &record.headers {
            let _ = header.key_str();
        }
        if batch.attributes().is_control() {
            check_control_record(&record);
        }
        records.push(record);
    }
    assert_eq!(
        i32::try_from(records.len()).ok(),
        Some(batch.record_count()),
        "records iterated without error but their number differs from recordsCount"
    );
    rebuild(batch, &records);
    Some(records)
}

fn check_control_record(record: &Record) {
    let Ok(marker) = EndTransactionMarker::from_record(record) else {
        return;
    };
    let written = Record {
        key: Some(Bytes::copy_from_slice(&marker.key())),
        value: Some(Bytes::copy_from_slice(&marker.value())),
        ..record.clone()
    };
    let read_back = EndTransactionMarker::from_record(&written)
        .unwrap_or_else(|error| panic!("a marker we wrote does not read: {error}"));
    assert_eq!(marker, read_back);
}

/// Writes the records again with the builder and the batch's codec, and reads them
/// back. Offsets and timestamp deltas are the builder's own, so only what a record
/// carries is compared: key, value, headers and its absolute timestamp.
fn rebuild(batch: &RecordBatch, records: &[Record]) {
    let mut builder = BatchBuilder::new(batch.base_offset()).compression(batch.compression());
    for record in records {
        let headers: Vec<(&[u8], Option<&[u8]>)> = record
            .headers
            .iter()
            .map(|header| (&header.key[..], header.value.as_deref()))
            .collect();
        let appended = builder.append(
            record.timestamp(batch),
            record.key.as_deref(),
            record.value.as_deref(),
            &headers,
        );
        // Timestamps more than i64::MAX apart cannot share a batch; hostile deltas
        // that wrapped can produce them.
        if appended.is_err() {
            return;
        }
    }
    let built = builder
        .build()
        .unwrap_or_else(|error| panic!("building a batch of valid records failed: {error}"));
    let rebuilt = RecordBatch::new(built)
        .unwrap_or_else(|error| panic!("a batch we built does not parse: {error}"));
    rebuilt
        .verify_crc()
        .unwrap_or_else(|error| panic!("a batch we built has a wrong CRC: {error}"));
    assert_eq!(rebuilt.compression(), batch.compression());

    // Our own encoding may be a little larger than the input's (the builder's offset
    // and timestamp deltas can need longer varints), so the default limit applies.
    let mut read_back = 0;
    for (index, record) in rebuilt.records(DecompressionLimits::default()).enumerate() {
        let record =
            record.unwrap_or_else(|error| panic!("a record we wrote does not read: {error}"));
        let original = &records[index];
        assert_eq!(i32::try_from(index).ok(), Some(record.offset_delta));
        assert_eq!(record.key, original.key);
        assert_eq!(record.value, original.value);
        assert_eq!(record.headers, original.headers);
        assert_eq!(record.timestamp(&rebuilt), original.timestamp(batch));
        read_back += 1;
    }
    assert_eq!(read_back, records.len());
}

/// Rewrites the broker-owned fields of every batch in a copy of the input, then
/// checks the batches against what was read before.
fn rewrite(data: &[u8], read: &[(RecordBatch, Option<Vec<Record>>)], read_failed: bool) {
    let mut copy = data.to_vec();
    let mut found = 0;
    let mut failed = false;
    for (index, batch) in RecordBatchesMut::new(&mut copy).enumerate() {
        let Ok(mut batch) = batch else {
            failed = true;
            continue;
        };
        found += 1;
        let (original, records) = &read[index];
        assert_eq!(batch.as_bytes(), &original.as_bytes()[..]);
        let crc_valid = batch.verify_crc().is_ok();
        assert_eq!(crc_valid, original.verify_crc().is_ok());

        // Neither field is covered by the CRC.
        batch.set_base_offset(original.base_offset().wrapping_add(1));
        batch.set_partition_leader_epoch(original.partition_leader_epoch().wrapping_add(1));
        assert_eq!(batch.verify_crc().is_ok(), crc_valid);
        assert_eq!(batch.base_offset(), original.base_offset().wrapping_add(1));

        // Alternate between a real re-stamp and one that changes nothing.
        let (timestamp_type, max_timestamp_ms) = if original.crc() & 1 == 0 {
            (
                TimestampType::LogAppendTime,
                original.max_timestamp() ^ 0x5a5a,
            )
        } else {
            (
                original.attributes().timestamp_type(),
                original.max_timestamp(),
            )
        };
        let unchanged = timestamp_type == original.attributes().timestamp_type()
            && max_timestamp_ms == original.max_timestamp();
        let before = batch.as_bytes().to_vec();
        let stamped = batch.set_max_timestamp(timestamp_type, max_timestamp_ms);
        if unchanged {
            assert!(stamped.is_ok());
            assert_eq!(batch.as_bytes(), &before[..]);
        } else if crc_valid {
            stamped.unwrap_or_else(|error| panic!("re-stamping a valid batch failed: {error}"));
            batch
                .verify_crc()
                .unwrap_or_else(|error| panic!("re-stamping broke the CRC: {error}"));
            assert_eq!(batch.max_timestamp(), max_timestamp_ms);
            assert_eq!(batch.attributes().timestamp_type(), timestamp_type);
        } else {
            assert!(stamped.is_err(), "re-stamped a batch whose CRC was wrong");
            assert_eq!(batch.as_bytes(), &before[..]);
        }

        // Only header fields changed: the batch still parses and its records are
        // the same.
        let stamped_batch = RecordBatch::new(Bytes::copy_from_slice(batch.as_bytes()))
            .unwrap_or_else(|error| panic!("a rewritten batch does not parse: {error}"));
        if let Some(records) = records {
            let limits = DecompressionLimits::new(DECOMPRESSED_BYTES_MAX);
            let again: Vec<Record> = stamped_batch
                .records(limits)
                .collect::<Result<_, _>>()
                .unwrap_or_else(|error| panic!("a rewritten batch's records fail: {error}"));
            assert_eq!(&again, records);
        }
    }
    assert_eq!(found, read.len());
    assert_eq!(failed, read_failed);
}
