//! Checks a produced batch before it is appended, as Kafka's LogValidator does
//! for batches from clients.
//!
//! Order matters for which error a client sees and mirrors Kafka: size first
//! (before paying for a CRC), then framing and CRC, then the header's claims,
//! then every record (decompressing once, within the configured limit).

use bytes::Bytes;
use fjord_records::{Compression, RecordBatch, RecordBatches, TimestampType};

use crate::config::LogConfig;
use crate::error::AppendError;

/// What validation learned about a batch that passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ValidatedBatch {
    pub last_offset_delta: i32,
    /// The max timestamp the stored batch must carry: the append time under
    /// LogAppendTime, else the largest record timestamp (Kafka rewrites it too,
    /// so the time index never trusts a producer's header).
    pub max_timestamp_ms: i64,
    pub timestamp_type: TimestampType,
    /// The producer id, epoch and first sequence, for an idempotent batch.
    pub producer: Option<(i64, i16, i32)>,
    /// The codec the producer used.
    pub compression: Compression,
    /// The batch belongs to a transaction (attribute bit 4).
    pub transactional: bool,
}

/// Validates `records`, the records field of one partition of a Produce
/// request (v3+), which must hold exactly one batch.
pub(crate) fn validate(
    records: &Bytes,
    config: &LogConfig,
    now_ms: i64,
) -> Result<ValidatedBatch, AppendError> {
    let size_bytes = records.len();
    if size_bytes as u64 > config.max_message_bytes {
        return Err(AppendError::MessageTooLarge {
            size_bytes,
            max_message_bytes: config.max_message_bytes,
        });
    }
    if size_bytes as u64 > config.segment_bytes {
        return Err(AppendError::RecordListTooLarge {
            size_bytes,
            segment_bytes: config.segment_bytes,
        });
    }

    let mut batches = RecordBatches::new(records.clone());
    let batch = match batches.next() {
        None => return Err(AppendError::invalid_record("no record batch")),
        Some(Err(error)) => {
            return Err(AppendError::CorruptMessage {
                reason: error.to_string(),
            });
        }
        Some(Ok(batch)) => batch,
    };
    if batches.next().is_some() {
        return Err(AppendError::invalid_record(
            "a produce request (v3+) must hold exactly one record batch per partition",
        ));
    }
    batch
        .verify_crc()
        .map_err(|error| AppendError::CorruptMessage {
            reason: error.to_string(),
        })?;

    check_header(&batch)?;
    let max_timestamp_ms = check_records(&batch, config, now_ms)?;
    let timestamp_type = config.message_timestamp_type;
    Ok(ValidatedBatch {
        compression: batch.compression(),
        transactional: batch.attributes().is_transactional(),
        last_offset_delta: batch.last_offset_delta(),
        max_timestamp_ms: match timestamp_type {
            TimestampType::LogAppendTime => now_ms,
            TimestampType::CreateTime => max_timestamp_ms,
        },
        timestamp_type,
        producer: (batch.producer_id() >= 0).then(|| {
            (
                batch.producer_id(),
                batch.producer_epoch(),
                batch.base_sequence(),
            )
        }),
    })
}

fn check_header(batch: &RecordBatch) -> Result<(), AppendError> {
    let count = batch.record_count();
    if count <= 0 {
        return Err(AppendError::invalid_record(format!(
            "invalid record count {count}: a batch holds at least one record"
        )));
    }
    if i64::from(batch.last_offset_delta()) != i64::from(count) - 1 {
        return Err(AppendError::invalid_record(format!(
            "lastOffsetDelta {} does not match record count {count}",
            batch.last_offset_delta()
        )));
    }
    if batch.attributes().is_control() {
        return Err(AppendError::invalid_record(
            "clients are not allowed to write control records",
        ));
    }
    if batch.producer_id() >= 0 {
        if batch.base_sequence() < 0 {
            return Err(AppendError::invalid_record(format!(
                "invalid sequence number {} for producer {}",
                batch.base_sequence(),
                batch.producer_id()
            )));
        }
        if batch.producer_epoch() < 0 {
            return Err(AppendError::invalid_record(format!(
                "invalid epoch {} for producer {}",
                batch.producer_epoch(),
                batch.producer_id()
            )));
        }
    } else if batch.attributes().is_transactional() {
        return Err(AppendError::invalid_record(
            "a transactional batch needs a producer id",
        ));
    }
    if batch.attributes().timestamp_type() == TimestampType::LogAppendTime {
        return Err(AppendError::InvalidTimestamp {
            reason: "producers must not set the LogAppendTime timestamp type".into(),
            record_index: None,
        });
    }
    Ok(())
}

/// Checks every record: well-formed, offset deltas 0..n-1, timestamps within
/// the KIP-937 window under CreateTime. Returns the largest record timestamp
/// (-1 if every record has none). Reports the first bad record only, where
/// Kafka lists them all.
fn check_records(batch: &RecordBatch, config: &LogConfig, now_ms: i64) -> Result<i64, AppendError> {
    let check_timestamps = config.message_timestamp_type == TimestampType::CreateTime;
    let earliest_ms = now_ms.saturating_sub(config.message_timestamp_before_max_ms);
    let latest_ms = now_ms.saturating_add(config.message_timestamp_after_max_ms);
    let mut max_timestamp_ms = -1;
    for (index, record) in batch.records(config.decompression_limits).enumerate() {
        let record = record.map_err(|error| AppendError::invalid_record(error.to_string()))?;
        if i64::from(record.offset_delta) != index as i64 {
            return Err(AppendError::InvalidRecord {
                reason: format!(
                    "record {index} has offset delta {}: deltas must run 0, 1, 2...",
                    record.offset_delta
                ),
                record_index: Some(index),
            });
        }
        let timestamp_ms = record.timestamp(batch);
        if check_timestamps
            && timestamp_ms != -1
            && (timestamp_ms < earliest_ms || timestamp_ms > latest_ms)
        {
            return Err(AppendError::InvalidTimestamp {
                reason: format!(
                    "timestamp {timestamp_ms} of record {index} is out of range: \
                     it must be within [{earliest_ms}, {latest_ms}]"
                ),
                record_index: Some(index),
            });
        }
        max_timestamp_ms = max_timestamp_ms.max(timestamp_ms);
    }
    Ok(max_timestamp_ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use fjord_records::{BatchBuilder, Compression};

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn batch(count: usize) -> BatchBuilder {
        let mut builder = BatchBuilder::new(0);
        for i in 0..count {
            builder
                .append(NOW - 10 + i as i64, Some(b"k"), Some(b"v"), &[])
                .unwrap();
        }
        builder
    }

    #[test]
    fn accepts_a_good_batch_and_computes_its_max_timestamp() {
        for compression in [Compression::None, Compression::Zstd] {
            let mut builder = BatchBuilder::new(0).compression(compression);
            for timestamp in [NOW - 5, NOW - 1, NOW - 9] {
                builder.append(timestamp, None, Some(b"v"), &[]).unwrap();
            }
            let records = builder.build().unwrap();
            let validated = validate(&records, &LogConfig::default(), NOW).unwrap();
            assert_eq!(validated.max_timestamp_ms, NOW - 1);
            assert_eq!(validated.last_offset_delta, 2);
            assert_eq!(validated.producer, None);
        }
    }

    #[test]
    fn rejects_zero_or_two_batches() {
        let config = LogConfig::default();
        assert!(matches!(
            validate(&Bytes::new(), &config, NOW),
            Err(AppendError::InvalidRecord { .. })
        ));
        let one = batch(1).build().unwrap();
        let two = Bytes::from([one.as_ref(), one.as_ref()].concat());
        assert!(matches!(
            validate(&two, &config, NOW),
            Err(AppendError::InvalidRecord { .. })
        ));
    }

    #[test]
    fn rejects_empty_batches_and_control_batches() {
        let config = LogConfig::default();
        let empty = BatchBuilder::new(0).build().unwrap();
        assert!(matches!(
            validate(&empty, &config, NOW),
            Err(AppendError::InvalidRecord { .. })
        ));
        let mut control = BatchBuilder::new(0).control(true);
        control.append(NOW, None, None, &[]).unwrap();
        assert!(matches!(
            validate(&control.build().unwrap(), &config, NOW),
            Err(AppendError::InvalidRecord { .. })
        ));
    }

    #[test]
    fn size_is_checked_before_the_crc() {
        let mut bytes = batch(3).build().unwrap().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let config = LogConfig {
            max_message_bytes: bytes.len() as u64 - 1,
            ..LogConfig::default()
        };
        let bytes = Bytes::from(bytes);
        assert!(matches!(
            validate(&bytes, &config, NOW),
            Err(AppendError::MessageTooLarge { .. })
        ));
        assert!(matches!(
            validate(&bytes, &LogConfig::default(), NOW),
            Err(AppendError::CorruptMessage { .. })
        ));
    }

    #[test]
    fn timestamps_outside_the_window_are_rejected_under_create_time_only() {
        let config = LogConfig {
            message_timestamp_before_max_ms: 1000,
            message_timestamp_after_max_ms: 1000,
            ..LogConfig::default()
        };
        let mut builder = BatchBuilder::new(0);
        builder.append(NOW, None, None, &[]).unwrap();
        builder.append(NOW + 1001, None, None, &[]).unwrap();
        let records = builder.build().unwrap();
        assert!(matches!(
            validate(&records, &config, NOW),
            Err(AppendError::InvalidTimestamp {
                record_index: Some(1),
                ..
            })
        ));
        let log_append = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..config
        };
        let validated = validate(&records, &log_append, NOW).unwrap();
        assert_eq!(validated.max_timestamp_ms, NOW);

        let mut producer_set = BatchBuilder::new(0).timestamp_type(TimestampType::LogAppendTime);
        producer_set.append(NOW, None, None, &[]).unwrap();
        assert!(matches!(
            validate(&producer_set.build().unwrap(), &LogConfig::default(), NOW),
            Err(AppendError::InvalidTimestamp { .. })
        ));
    }

    #[test]
    fn idempotent_batches_need_a_sequence() {
        let mut builder = BatchBuilder::new(0).producer(4, 0, -1);
        builder.append(NOW, None, None, &[]).unwrap();
        assert!(matches!(
            validate(&builder.build().unwrap(), &LogConfig::default(), NOW),
            Err(AppendError::InvalidRecord { .. })
        ));
    }
}
