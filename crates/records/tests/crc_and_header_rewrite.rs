//! The CRC catches corruption anywhere it covers, and the broker's in-place
//! header rewrites keep it valid. Also checks batches byte for byte against
//! fixtures assembled from the protocol guide with independently computed CRCs.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use fjord_records::{
    BatchBuilder, Compression, DecompressionLimits, Error, RecordBatch, RecordBatchMut,
    RecordBatchesMut, TimestampType,
};
use support::{CODECS, FIXTURE_ONE_RECORD, crc32c_bitwise, varied_batch};

#[test]
fn fixture_crc_matches_an_independent_crc32c() {
    // The standard CRC-32C check value, to show the reference implementation is right.
    assert_eq!(crc32c_bitwise(b"123456789"), 0xe306_9283);
    assert_eq!(crc32c_bitwise(&FIXTURE_ONE_RECORD[21..]), 0x5479_61fd);

    let batch = RecordBatch::new(Bytes::from_static(&FIXTURE_ONE_RECORD)).unwrap();
    assert_eq!(batch.crc(), 0x5479_61fd);
    assert_eq!(batch.computed_crc(), 0x5479_61fd);
    batch.verify_crc().unwrap();
    assert_eq!(batch.base_timestamp(), 1_479_847_795_000);

    let records: Vec<_> = batch
        .records(DecompressionLimits::default())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.timestamp(&batch), 1_479_847_795_005);
    assert_eq!(record.key.as_deref(), Some(&[1, 2, 3, 4][..]));
    assert_eq!(record.value.as_deref(), Some(&[5, 6, 7][..]));
    assert_eq!(&record.headers[0].key[..], &[8, 9, 10]);
    assert_eq!(record.headers[0].value.as_deref(), Some(&[11, 12][..]));
}

#[test]
fn builder_output_matches_the_fixture_byte_for_byte() {
    let mut builder = BatchBuilder::new(0)
        .partition_leader_epoch(0)
        .producer(0, 0, 0);
    builder
        .append(
            1_479_847_795_005,
            Some(&[1, 2, 3, 4]),
            Some(&[5, 6, 7]),
            &[(&[8, 9, 10], Some(&[11, 12]))],
        )
        .unwrap();
    let mut bytes = builder.build().unwrap().to_vec();
    // The builder takes the first record's timestamp as the base (as the Java
    // client does); the fixture has delta 5 and max timestamp 0, so rewrite them.
    bytes[27..35].copy_from_slice(&1_479_847_795_000i64.to_be_bytes());
    bytes[63] = 10;
    support::fix_length_and_crc(&mut bytes);
    let mut batch = RecordBatchMut::new(&mut bytes).unwrap();
    batch
        .set_max_timestamp(TimestampType::CreateTime, 0)
        .unwrap();
    assert_eq!(bytes, FIXTURE_ONE_RECORD);
}

#[test]
fn builder_crc_matches_an_independent_crc32c_for_every_codec() {
    for codec in CODECS {
        let bytes = varied_batch(codec).build().unwrap();
        let stored = u32::from_be_bytes(bytes[17..21].try_into().unwrap());
        assert_eq!(stored, crc32c_bitwise(&bytes[21..]), "{codec}");
    }
}

#[test]
fn a_flipped_bit_anywhere_in_the_covered_region_fails_verification() {
    for codec in [Compression::None, Compression::Zstd] {
        let bytes = varied_batch(codec).build().unwrap().to_vec();
        // Every byte of the header's covered part, then a stride through the records.
        let positions = (21..61)
            .chain((61..bytes.len()).step_by(97))
            .chain([bytes.len() - 1]);
        for position in positions {
            let mut corrupt = bytes.clone();
            corrupt[position] ^= 0x10;
            let Ok(batch) = RecordBatch::new(Bytes::from(corrupt)) else {
                // Flipping a codec bit can name an unknown codec; that is rejected too.
                assert!((21..23).contains(&position));
                continue;
            };
            let error = batch.verify_crc().unwrap_err();
            assert!(
                matches!(error, Error::CrcMismatch { stored, computed } if stored == batch.crc() && computed != stored),
                "{codec} byte {position}: {error:?}"
            );
        }
    }
}

#[test]
fn a_corrupt_crc_field_fails_verification() {
    let mut bytes = varied_batch(Compression::None).build().unwrap().to_vec();
    bytes[19] ^= 1;
    let batch = RecordBatch::new(Bytes::from(bytes)).unwrap();
    assert!(batch.verify_crc().is_err());
}

#[test]
fn rewriting_broker_owned_fields_keeps_the_crc_valid() {
    for codec in CODECS {
        let original = varied_batch(codec).build().unwrap();
        let mut bytes = original.to_vec();
        let mut batch = RecordBatchMut::new(&mut bytes).unwrap();
        let crc_before = batch.crc();

        batch.set_base_offset(5_000_000);
        batch.set_partition_leader_epoch(31);
        // Neither field is covered, so the CRC is untouched.
        assert_eq!(batch.crc(), crc_before);
        batch.verify_crc().unwrap();

        batch
            .set_max_timestamp(TimestampType::LogAppendTime, 1_800_000_000_000)
            .unwrap();
        assert_ne!(batch.crc(), crc_before);
        batch.verify_crc().unwrap();
        assert_eq!(batch.base_offset(), 5_000_000);
        assert_eq!(batch.partition_leader_epoch(), 31);
        assert_eq!(batch.max_timestamp(), 1_800_000_000_000);

        let view = RecordBatch::new(Bytes::from(bytes)).unwrap();
        view.verify_crc().unwrap();
        assert_eq!(view.base_offset(), 5_000_000);
        assert_eq!(view.last_offset(), 5_000_005);
        assert_eq!(view.partition_leader_epoch(), 31);
        assert_eq!(view.max_timestamp(), 1_800_000_000_000);
        assert_eq!(
            view.attributes().timestamp_type(),
            TimestampType::LogAppendTime
        );
        assert_eq!(view.compression(), codec);
        // Everything else is as it was.
        assert_eq!(view.base_timestamp(), 1_700_000_000_000);
        assert_eq!(view.producer_id(), 42);
        assert_eq!(&view.as_bytes()[61..], &original[61..]);
        let records: Vec<_> = view
            .records(DecompressionLimits::default())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(records.len(), 6);
        assert_eq!(records[3].offset(&view), 5_000_003);
        assert_eq!(records[3].timestamp(&view), 1_800_000_000_000);
    }
}

#[test]
fn setting_the_same_max_timestamp_writes_nothing() {
    let original = varied_batch(Compression::None).build().unwrap();
    let mut bytes = original.to_vec();
    let mut batch = RecordBatchMut::new(&mut bytes).unwrap();
    batch
        .set_max_timestamp(TimestampType::CreateTime, 1_700_000_000_005)
        .unwrap();
    assert_eq!(bytes, original);
}

#[test]
fn rewriting_the_timestamp_of_a_corrupt_batch_does_not_hide_the_corruption() {
    let mut bytes = varied_batch(Compression::None).build().unwrap().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let mut batch = RecordBatchMut::new(&mut bytes).unwrap();
    let error = batch
        .set_max_timestamp(TimestampType::LogAppendTime, 1)
        .unwrap_err();
    assert!(matches!(error, Error::CrcMismatch { .. }));
    assert!(batch.verify_crc().is_err());
    assert_eq!(
        batch.max_timestamp(),
        1_700_000_000_005,
        "nothing was written"
    );
}

#[test]
fn every_batch_of_a_produce_payload_can_be_rewritten_in_place() {
    let mut payload = Vec::new();
    for codec in CODECS {
        payload.extend_from_slice(&varied_batch(codec).build().unwrap());
    }
    let mut next_offset = 100;
    for batch in RecordBatchesMut::new(&mut payload) {
        let mut batch = batch.unwrap();
        batch.set_base_offset(next_offset);
        batch.set_partition_leader_epoch(2);
        batch
            .set_max_timestamp(TimestampType::LogAppendTime, 99)
            .unwrap();
        next_offset += i64::from(batch.last_offset_delta()) + 1;
    }
    let batches: Vec<_> = fjord_records::RecordBatches::new(Bytes::from(payload))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), CODECS.len());
    for (index, batch) in batches.iter().enumerate() {
        batch.verify_crc().unwrap();
        assert_eq!(batch.base_offset(), 100 + 6 * index as i64);
        assert_eq!(batch.max_timestamp(), 99);
    }

    let mut truncated = varied_batch(Compression::None).build().unwrap().to_vec();
    truncated.truncate(truncated.len() - 1);
    let results: Vec<_> = RecordBatchesMut::new(&mut truncated).collect();
    assert_eq!(results.len(), 1);
    assert!(matches!(results[0], Err(Error::Truncated { .. })));
}
