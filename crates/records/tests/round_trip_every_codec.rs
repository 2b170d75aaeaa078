//! Batches written by the builder read back identically through the view and
//! the records iterator, for every codec.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use fjord_records::{
    BatchBuilder, Compression, ControlRecordType, DecompressionLimits, EndTransactionMarker, Error,
    Record, RecordBatch, RecordBatches, TimestampType,
};
use support::{CODECS, varied_batch};

fn records(batch: &RecordBatch) -> Vec<Record> {
    batch
        .records(DecompressionLimits::default())
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn varied_records_round_trip_for_every_codec() {
    for codec in CODECS {
        let bytes = varied_batch(codec).build().unwrap();
        let batch = RecordBatch::new(bytes).unwrap();
        batch.verify_crc().unwrap();

        assert_eq!(batch.compression(), codec);
        assert_eq!(batch.magic(), 2);
        assert_eq!(batch.base_offset(), 1_000);
        assert_eq!(batch.partition_leader_epoch(), 7);
        assert_eq!(batch.producer_id(), 42);
        assert_eq!(batch.producer_epoch(), 3);
        assert_eq!(batch.base_sequence(), 100);
        assert_eq!(batch.record_count(), 6);
        assert_eq!(batch.last_offset_delta(), 5);
        assert_eq!(batch.last_offset(), 1_005);
        assert_eq!(batch.next_offset(), 1_006);
        assert_eq!(batch.base_timestamp(), 1_700_000_000_000);
        assert_eq!(batch.max_timestamp(), 1_700_000_000_005);
        assert_eq!(batch.batch_length() as usize + 12, batch.size_bytes());
        let attributes = batch.attributes();
        assert_eq!(attributes.timestamp_type(), TimestampType::CreateTime);
        assert!(!attributes.is_transactional() && !attributes.is_control());

        let records = records(&batch);
        assert_eq!(records.len(), 6, "{codec}");
        for (index, record) in records.iter().enumerate() {
            assert_eq!(record.offset_delta, index as i32);
            assert_eq!(record.offset(&batch), 1_000 + index as i64);
            assert_eq!(record.attributes, 0);
        }
        let timestamps: Vec<i64> = records.iter().map(|r| r.timestamp(&batch)).collect();
        assert_eq!(
            timestamps,
            [
                1_700_000_000_000,
                1_700_000_000_005,
                1_699_999_999_990,
                1_700_000_000_001,
                1_700_000_000_002,
                1_700_000_000_003
            ]
        );
        assert_eq!(records[2].timestamp_delta, -10);

        assert_eq!(records[0].key.as_deref(), Some(&b"key-0"[..]));
        assert_eq!(records[0].value.as_deref(), Some(&b"value-0"[..]));
        assert!(records[0].headers.is_empty());

        assert_eq!(records[1].key, None);
        assert_eq!(records[1].headers.len(), 1);
        assert_eq!(records[1].headers[0].key_str().unwrap(), "trace");
        assert_eq!(records[1].headers[0].value.as_deref(), Some(&b"abc"[..]));

        assert_eq!(records[2].value, None);
        assert_eq!(records[2].headers[0].value, None);
        assert_eq!(records[2].headers[1].value.as_deref(), Some(&b""[..]));

        assert_eq!(records[3].key.as_deref(), Some(&b""[..]));
        assert_eq!(records[3].value.as_deref(), Some(&b""[..]));

        assert_eq!(
            (records[4].key.as_ref(), records[4].value.as_ref()),
            (None, None)
        );
        assert!(records[4].headers[0].key.is_empty());

        let large = records[5].value.as_ref().unwrap();
        assert_eq!(large.len(), 70_000);
        assert!(large.iter().all(|&b| b == b'x'));
    }
}

#[test]
fn uncompressed_records_are_slices_of_the_batch() {
    let bytes = varied_batch(Compression::None).build().unwrap();
    let batch = RecordBatch::new(bytes.clone()).unwrap();
    let records = records(&batch);
    let value = records[5].value.as_ref().unwrap();
    let batch_range = bytes.as_ptr_range();
    assert!(batch_range.contains(&value.as_ptr()), "value was copied");
}

#[test]
fn compressed_batches_are_smaller() {
    let plain = varied_batch(Compression::None).build().unwrap().len();
    for codec in &CODECS[1..] {
        let compressed = varied_batch(*codec).build().unwrap().len();
        assert!(compressed < plain / 10, "{codec}: {compressed} vs {plain}");
    }
}

#[test]
fn empty_batches_round_trip_for_every_codec() {
    for codec in CODECS {
        let bytes = BatchBuilder::new(5).compression(codec).build().unwrap();
        let batch = RecordBatch::new(bytes).unwrap();
        batch.verify_crc().unwrap();
        assert_eq!(batch.record_count(), 0);
        assert_eq!(batch.last_offset_delta(), 0);
        assert_eq!(batch.base_timestamp(), -1);
        assert_eq!(batch.max_timestamp(), -1);
        assert!(records(&batch).is_empty(), "{codec}");
        if codec == Compression::None {
            assert_eq!(batch.size_bytes(), 61);
        }
    }
}

#[test]
fn single_record_with_only_nulls() {
    for codec in CODECS {
        let mut builder = BatchBuilder::new(0).compression(codec);
        builder.append(0, None, None, &[]).unwrap();
        let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
        let records = records(&batch);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].key, None);
        assert_eq!(records[0].value, None);
        assert_eq!(records[0].timestamp_delta, 0);
    }
}

#[test]
fn flags_and_timestamp_type_round_trip() {
    let mut builder = BatchBuilder::new(0)
        .transactional(true)
        .timestamp_type(TimestampType::LogAppendTime)
        .compression(Compression::Lz4);
    builder.append(10, None, Some(b"v"), &[]).unwrap();
    builder.append(30, None, Some(b"v"), &[]).unwrap();
    let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
    let attributes = batch.attributes();
    assert!(attributes.is_transactional());
    assert!(!attributes.is_control());
    assert_eq!(attributes.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(attributes.compression(), Compression::Lz4);
    // Under LogAppendTime every record reports the batch's max timestamp.
    for record in records(&batch) {
        assert_eq!(record.timestamp(&batch), 30);
    }
}

#[test]
fn end_transaction_markers_round_trip() {
    for control_type in [ControlRecordType::Abort, ControlRecordType::Commit] {
        let marker = EndTransactionMarker {
            control_type,
            coordinator_epoch: 12,
        };
        let mut builder = BatchBuilder::new(77)
            .producer(9, 2, -1)
            .transactional(true)
            .control(true)
            .partition_leader_epoch(4);
        builder
            .append_end_transaction_marker(1_234, &marker)
            .unwrap();
        let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
        batch.verify_crc().unwrap();
        assert!(batch.attributes().is_control() && batch.attributes().is_transactional());

        let records = records(&batch);
        assert_eq!(records.len(), 1);
        let key: &[u8] = &[0, 0, 0, control_type.id() as u8];
        assert_eq!(records[0].key.as_deref(), Some(key));
        assert_eq!(records[0].value.as_deref(), Some(&[0, 0, 0, 0, 0, 12][..]));
        assert_eq!(
            EndTransactionMarker::from_record(&records[0]).unwrap(),
            marker
        );
    }
}

#[test]
fn malformed_markers_are_rejected() {
    let mut builder = BatchBuilder::new(0).control(true);
    builder
        .append(0, Some(&[0, 0, 0, 2]), Some(&[0, 0, 0, 0, 0, 1]), &[])
        .unwrap();
    builder
        .append(0, Some(&[0, 0, 0]), Some(&[0, 0, 0, 0, 0, 1]), &[])
        .unwrap();
    builder.append(0, Some(&[0, 0, 0, 1]), None, &[]).unwrap();
    builder
        .append(0, Some(&[0xff, 0xff, 0, 1]), Some(&[0, 0, 0, 0, 0, 1]), &[])
        .unwrap();
    // A newer version with extra trailing fields still reads.
    builder
        .append(
            0,
            Some(&[0, 1, 0, 1, 9]),
            Some(&[0, 1, 0, 0, 0, 3, 9, 9]),
            &[],
        )
        .unwrap();
    let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
    let results: Vec<_> = records(&batch)
        .iter()
        .map(EndTransactionMarker::from_record)
        .collect();
    for result in &results[..4] {
        assert!(
            matches!(result, Err(Error::InvalidControlRecord { .. })),
            "{result:?}"
        );
    }
    let newer = results[4].as_ref().unwrap();
    assert_eq!(newer.control_type, ControlRecordType::Commit);
    assert_eq!(newer.coordinator_epoch, 3);
}

#[test]
fn concatenated_batches_iterate_in_order() {
    let mut joined = Vec::new();
    for (index, codec) in CODECS.iter().enumerate() {
        let mut builder = BatchBuilder::new(index as i64 * 10).compression(*codec);
        builder
            .append(0, None, Some(codec.name().as_bytes()), &[])
            .unwrap();
        joined.extend_from_slice(&builder.build().unwrap());
    }
    let total = joined.len();
    let mut batches = RecordBatches::new(Bytes::from(joined));
    for (index, codec) in CODECS.iter().enumerate() {
        let batch = batches.next().unwrap().unwrap();
        assert_eq!(batch.base_offset(), index as i64 * 10);
        assert_eq!(batch.compression(), *codec);
        let value = records(&batch)[0].value.clone().unwrap();
        assert_eq!(value, codec.name().as_bytes());
    }
    assert!(batches.next().is_none());
    assert_eq!(batches.position(), total);
}

#[test]
fn partial_trailing_batch_is_reported_as_truncated() {
    let mut builder = BatchBuilder::new(0);
    builder.append(0, None, Some(b"value"), &[]).unwrap();
    let batch = builder.build().unwrap();
    let mut joined = batch.to_vec();
    joined.extend_from_slice(&batch[..batch.len() - 3]);

    let results: Vec<_> = RecordBatches::new(Bytes::from(joined)).collect();
    assert_eq!(results.len(), 2);
    assert!(results[0].is_ok());
    let needed = batch.len();
    assert!(
        matches!(results[1], Err(Error::Truncated { needed: n, available: a }) if n == needed && a == needed - 3),
        "{:?}",
        results[1]
    );

    // Fewer bytes than even the length field.
    let mut short = batch.to_vec();
    short.extend_from_slice(&[0; 5]);
    let last = RecordBatches::new(Bytes::from(short)).last().unwrap();
    assert!(matches!(
        last,
        Err(Error::Truncated {
            needed: 12,
            available: 5
        })
    ));
}

#[test]
fn header_validation_names_the_offending_value() {
    let mut builder = BatchBuilder::new(0);
    builder.append(0, None, Some(b"value"), &[]).unwrap();
    let batch = builder.build().unwrap().to_vec();

    let mut old_magic = batch.clone();
    old_magic[16] = 1;
    let error = RecordBatch::new(Bytes::from(old_magic.clone())).unwrap_err();
    assert!(matches!(error, Error::UnsupportedMagic { magic: 1 }));
    let error = RecordBatches::new(Bytes::from(old_magic))
        .next()
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, Error::UnsupportedMagic { magic: 1 }));

    let mut bad_codec = batch.clone();
    bad_codec[22] |= 0x07;
    let error = RecordBatch::new(Bytes::from(bad_codec)).unwrap_err();
    assert!(matches!(error, Error::UnknownCompression { codec: 7 }));

    let mut long = batch.clone();
    long.push(0);
    let error = RecordBatch::new(Bytes::from(long)).unwrap_err();
    assert!(
        matches!(error, Error::InvalidBatchLength { available, .. } if available == batch.len() + 1)
    );

    let mut tiny_length = batch.clone();
    tiny_length[8..12].copy_from_slice(&48i32.to_be_bytes());
    let error = RecordBatches::new(Bytes::from(tiny_length))
        .next()
        .unwrap()
        .unwrap_err();
    assert!(matches!(
        error,
        Error::InvalidBatchLength {
            batch_length: 48,
            ..
        }
    ));

    let error = RecordBatch::new(Bytes::from(batch[..60].to_vec())).unwrap_err();
    assert!(matches!(
        error,
        Error::Truncated {
            needed: 61,
            available: 60
        }
    ));
}
