//! Appends assign offsets and stamp the batch; reads return whole batches
//! within their limits; offsets outside the log are out of range.

#![allow(clippy::unwrap_used)]

mod support;

use bytes::BytesMut;
use fjord_log::{AppendError, LogConfig, ReadError, TimestampType};
use fjord_records::{BatchBuilder, RecordBatch};
use support::*;

#[test]
fn appends_get_consecutive_offsets_and_read_back_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, report) = open(dir.path(), LogConfig::default());
    assert_eq!((report.log_start_offset, report.log_end_offset), (0, 0));

    let mut expected = Vec::new();
    for tag in 0..20u64 {
        let count = 1 + (tag as usize % 4);
        let info = appended(
            log.append(batch(tag, count, NOW_MS, 30), context(NOW_MS))
                .unwrap(),
        );
        assert_eq!(info.base_offset, expected.len() as i64);
        assert_eq!(info.last_offset, info.base_offset + count as i64 - 1);
        assert_eq!(info.log_append_time_ms, -1);
        assert_eq!(info.log_start_offset, 0);
        for index in 0..count {
            expected.push(value(tag, index, 30));
        }
    }
    assert_eq!(log.log_end_offset(), expected.len() as i64);

    let read = read_all(&log, 0, 1 << 20);
    let values: Vec<_> = read.iter().map(|record| record.value.to_vec()).collect();
    assert_eq!(values, expected);
    for (offset, record) in read.iter().enumerate() {
        assert_eq!(record.offset, offset as i64);
    }
}

#[test]
fn the_stored_batch_carries_the_assigned_offset_and_leader_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    log.append(batch(0, 3, NOW_MS, 5), context(NOW_MS)).unwrap();
    log.append(batch(1, 2, NOW_MS, 5), context(NOW_MS)).unwrap();
    let read = log.read(3, 1 << 20, 5, false).unwrap();
    let stored = batches(&read.records);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].base_offset(), 3);
    assert_eq!(stored[0].partition_leader_epoch(), 7);
    assert_eq!(
        stored[0].attributes().timestamp_type(),
        TimestampType::CreateTime
    );
    assert_eq!(stored[0].max_timestamp(), NOW_MS + 1);
}

#[test]
fn log_append_time_stamps_the_batch_with_the_broker_clock() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let (mut log, _) = open(dir.path(), config);
    let append_ms = NOW_MS + 5000;
    // Producer timestamps far in the past are fine: they are replaced.
    let info = appended(
        log.append(batch(0, 3, 12345, 5), context(append_ms))
            .unwrap(),
    );
    assert_eq!(info.log_append_time_ms, append_ms);
    let read = log.read(0, 1 << 20, 3, false).unwrap();
    let stored = batches(&read.records);
    assert_eq!(
        stored[0].attributes().timestamp_type(),
        TimestampType::LogAppendTime
    );
    assert_eq!(stored[0].max_timestamp(), append_ms);
    assert!(
        records(&read.records)
            .iter()
            .all(|record| record.timestamp_ms == append_ms)
    );
}

#[test]
fn reads_stop_at_max_bytes_on_batch_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    let mut sizes = Vec::new();
    for tag in 0..10 {
        let records = batch(tag, 2, NOW_MS, 100);
        sizes.push(records.len());
        log.append(records, context(NOW_MS)).unwrap();
    }
    let end = log.log_end_offset();
    // Room for exactly three batches, then for three and a half.
    let three = sizes[..3].iter().sum::<usize>();
    for max_bytes in [three, three + sizes[3] / 2] {
        let read = log.read(0, max_bytes, end, false).unwrap();
        assert_eq!(read.records.len(), three);
        assert_eq!(batches(&read.records).len(), 3);
        assert_eq!(read.next_offset, 6);
    }
    // Less than one batch: nothing, unless KIP-74's min-one-batch applies.
    let read = log.read(0, 10, end, false).unwrap();
    assert!(read.records.is_empty());
    assert_eq!(read.next_offset, 0);
    let read = log.read(0, 10, end, true).unwrap();
    assert_eq!(read.records.len(), sizes[0]);
    assert_eq!(read.next_offset, 2);
    // Starting in the middle of a batch returns the whole batch.
    let read = log.read(5, sizes[2], end, false).unwrap();
    assert_eq!(batches(&read.records)[0].base_offset(), 4);
}

#[test]
fn reads_stop_before_the_upper_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    for tag in 0..5 {
        log.append(batch(tag, 2, NOW_MS, 10), context(NOW_MS))
            .unwrap();
    }
    // The high watermark at 6: batches [0,1] [2,3] [4,5] are visible.
    let read = log.read(0, 1 << 20, 6, true).unwrap();
    assert_eq!(batches(&read.records).len(), 3);
    assert_eq!(read.next_offset, 6);
    // At the high watermark: empty, not an error.
    let read = log.read(6, 1 << 20, 6, true).unwrap();
    assert!(read.records.is_empty());
    // An upper offset inside a batch hides that batch.
    let read = log.read(0, 1 << 20, 5, true).unwrap();
    assert_eq!(read.next_offset, 4);
}

#[test]
fn offsets_outside_the_log_are_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    for tag in 0..3 {
        log.append(batch(tag, 2, NOW_MS, 10), context(NOW_MS))
            .unwrap();
    }
    // The log end itself is in range (empty), one past it is not.
    assert!(log.read(6, 100, 6, true).unwrap().records.is_empty());
    let error = log.read(7, 100, 6, true).unwrap_err();
    assert!(matches!(
        error,
        ReadError::OffsetOutOfRange {
            offset: 7,
            log_start_offset: 0,
            log_end_offset: 6
        }
    ));
    log.delete_records_before(4).unwrap();
    assert!(matches!(
        log.read(3, 100, 6, true),
        Err(ReadError::OffsetOutOfRange {
            log_start_offset: 4,
            ..
        })
    ));
    assert_eq!(
        records(&log.read(4, 1000, 6, true).unwrap().records)[0].offset,
        4
    );
}

#[test]
fn invalid_batches_are_rejected_and_leave_the_log_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    log.append(batch(0, 2, NOW_MS, 10), context(NOW_MS))
        .unwrap();

    // A flipped bit in the records: CORRUPT_MESSAGE.
    let mut corrupt = batch(1, 2, NOW_MS, 10);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert!(matches!(
        log.append(corrupt, context(NOW_MS)),
        Err(AppendError::CorruptMessage { .. })
    ));

    // lastOffsetDelta disagreeing with the record count: INVALID_RECORD.
    let mut miscounted = batch(1, 2, NOW_MS, 10);
    miscounted[23..27].copy_from_slice(&5i32.to_be_bytes());
    fix_crc(&mut miscounted);
    assert!(matches!(
        log.append(miscounted, context(NOW_MS)),
        Err(AppendError::InvalidRecord { .. })
    ));

    // recordsCount claiming more records than present: INVALID_RECORD.
    let mut short = batch(1, 2, NOW_MS, 10);
    short[23..27].copy_from_slice(&2i32.to_be_bytes());
    short[57..61].copy_from_slice(&3i32.to_be_bytes());
    fix_crc(&mut short);
    assert!(matches!(
        log.append(short, context(NOW_MS)),
        Err(AppendError::InvalidRecord { .. })
    ));

    // A record whose offset delta is not its index: INVALID_RECORD.
    let mut builder = BatchBuilder::new(0);
    builder.append(NOW_MS, None, Some(b"v"), &[]).unwrap();
    let mut gap = BytesMut::from(&builder.build().unwrap()[..]);
    // Record layout: length, attributes, timestampDelta (0), offsetDelta.
    assert_eq!(gap[64], 0);
    gap[64] = 2; // zigzag varint 1
    fix_crc(&mut gap);
    assert!(matches!(
        log.append(gap, context(NOW_MS)),
        Err(AppendError::InvalidRecord {
            record_index: Some(0),
            ..
        })
    ));

    // Too large for max.message.bytes: MESSAGE_TOO_LARGE.
    log.set_config(LogConfig {
        max_message_bytes: 100,
        ..LogConfig::default()
    })
    .unwrap();
    assert!(matches!(
        log.append(batch(1, 10, NOW_MS, 50), context(NOW_MS)),
        Err(AppendError::MessageTooLarge { .. })
    ));

    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(read_all(&log, 0, 1 << 20).len(), 2);
    assert!(!log.is_poisoned());
}

#[test]
fn compressed_batches_are_validated_and_stored_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), LogConfig::default());
    let builder = BatchBuilder::new(0).compression(fjord_records::Compression::Zstd);
    let records = batch_from(builder, 9, 50, NOW_MS, 200);
    let sent = RecordBatch::new(records.clone().freeze()).unwrap();
    log.append(records, context(NOW_MS)).unwrap();
    let read = log.read(0, 1 << 20, 50, true).unwrap();
    assert_eq!(read.records.len(), sent.size_bytes());
    let stored = records_of(&read);
    assert_eq!(stored.len(), 50);
    assert_eq!(stored[49].value.to_vec(), value(9, 49, 200));

    // A tiny decompression limit turns the same batch away.
    log.set_config(LogConfig {
        decompression_limits: fjord_log::DecompressionLimits::new(1000),
        ..LogConfig::default()
    })
    .unwrap();
    let builder = BatchBuilder::new(0).compression(fjord_records::Compression::Zstd);
    assert!(matches!(
        log.append(batch_from(builder, 9, 50, NOW_MS, 200), context(NOW_MS)),
        Err(AppendError::InvalidRecord { .. })
    ));
}

fn records_of(read: &fjord_log::ReadResult) -> Vec<ReadRecord> {
    records(&read.records)
}

/// Recomputes a hand-edited batch's CRC, so only the edit is wrong.
fn fix_crc(batch: &mut BytesMut) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}
