//! Writing batches the broker produces itself: transaction markers, records of
//! internal topics, test data.

use bytes::{BufMut, Bytes};

use crate::attributes::{Attributes, TimestampType};
use crate::compression::{self, Compression};
use crate::control::EndTransactionMarker;
use crate::error::{Error, Result};
use crate::layout::{self, BATCH_HEADER_LEN, MAGIC};
use crate::varint::{put_varint, put_varlong};

/// Kafka's value for "no timestamp", used for an empty batch's timestamps.
const NO_TIMESTAMP: i64 = -1;

/// Builds one magic v2 record batch.
///
/// Configure it with the chained setters, [`append`](Self::append) records,
/// then [`build`](Self::build). Producer fields and the leader epoch default to
/// -1 (none), the timestamp type to CreateTime and compression to none.
#[derive(Clone, Debug)]
pub struct BatchBuilder {
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    attributes: Attributes,
    // Records are encoded as they are appended and compressed as one stream at
    // build time, as Kafka requires.
    records: Vec<u8>,
    record_scratch: Vec<u8>,
    record_count: i32,
    base_timestamp_ms: Option<i64>,
    max_timestamp_ms: i64,
}

impl BatchBuilder {
    /// A builder for a batch whose first record gets `base_offset`.
    pub fn new(base_offset: i64) -> Self {
        BatchBuilder {
            base_offset,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            attributes: Attributes::new(Compression::None),
            records: Vec::new(),
            record_scratch: Vec::new(),
            record_count: 0,
            base_timestamp_ms: None,
            max_timestamp_ms: NO_TIMESTAMP,
        }
    }

    /// Sets the partition leader epoch.
    pub fn partition_leader_epoch(mut self, partition_leader_epoch: i32) -> Self {
        self.partition_leader_epoch = partition_leader_epoch;
        self
    }

    /// Sets the producer id, epoch and the sequence number of the first record.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction, or not.
    pub fn transactional(mut self, transactional: bool) -> Self {
        self.attributes = self.attributes.with_transactional(transactional);
        self
    }

    /// Marks the batch as holding control records, or not.
    pub fn control(mut self, control: bool) -> Self {
        self.attributes = self.attributes.with_control(control);
        self
    }

    /// Sets the timestamp type.
    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.attributes = self.attributes.with_timestamp_type(timestamp_type);
        self
    }

    /// Sets the codec for the records section.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.attributes = self.attributes.with_compression(compression);
        self
    }

    /// How many records have been appended.
    pub fn record_count(&self) -> i32 {
        self.record_count
    }

    /// Whether no record has been appended.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Appends a record with the next offset. The first record's timestamp becomes
    /// the batch's base timestamp, as in the Java client.
    pub fn append(
        &mut self,
        timestamp_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> Result<()> {
        let offset_delta = self.record_count;
        if offset_delta == i32::MAX {
            return Err(Error::BatchTooLarge {
                reason: "more than i32::MAX records",
            });
        }
        // Only recorded once the append succeeds, so a rejected first record
        // leaves no trace.
        let base_timestamp_ms = self.base_timestamp_ms.unwrap_or(timestamp_ms);
        let timestamp_delta =
            timestamp_ms
                .checked_sub(base_timestamp_ms)
                .ok_or(Error::TimestampOutOfRange {
                    timestamp_ms,
                    base_timestamp_ms,
                })?;

        let body = &mut self.record_scratch;
        body.clear();
        body.put_i8(0);
        put_varlong(body, timestamp_delta);
        put_varint(body, offset_delta);
        put_nullable_bytes(body, key)?;
        put_nullable_bytes(body, value)?;
        put_varint(body, len_i32(headers.len(), "too many headers")?);
        for (header_key, header_value) in headers {
            put_varint(body, len_i32(header_key.len(), "header key too long")?);
            body.put_slice(header_key);
            put_nullable_bytes(body, *header_value)?;
        }

        let body_len = len_i32(body.len(), "record too long")?;
        put_varint(&mut self.records, body_len);
        self.records.extend_from_slice(body);
        self.record_count += 1;
        self.base_timestamp_ms = Some(base_timestamp_ms);
        self.max_timestamp_ms = if offset_delta == 0 {
            timestamp_ms
        } else {
            self.max_timestamp_ms.max(timestamp_ms)
        };
        Ok(())
    }

    /// Appends a transaction marker as a record. The builder should be configured
    /// with [`control`](Self::control), [`transactional`](Self::transactional) and
    /// [`producer`](Self::producer), as Kafka expects of marker batches.
    pub fn append_end_transaction_marker(
        &mut self,
        timestamp_ms: i64,
        marker: &EndTransactionMarker,
    ) -> Result<()> {
        self.append(
            timestamp_ms,
            Some(&marker.key()),
            Some(&marker.value()),
            &[],
        )
    }

    /// Writes the batch: compresses the records and fills in lastOffsetDelta,
    /// the timestamps, recordsCount, batchLength and the CRC.
    ///
    /// An empty batch gets lastOffsetDelta 0 and timestamps of -1.
    pub fn build(self) -> Result<Bytes> {
        let section = match self.attributes.compression() {
            Compression::None => self.records,
            codec => compression::compress(codec, &self.records)?,
        };
        let total_len = BATCH_HEADER_LEN + section.len();
        let batch_length = len_i32(total_len - layout::LOG_OVERHEAD, "batch too long")?;

        let mut batch = Vec::with_capacity(total_len);
        batch.put_i64(self.base_offset);
        batch.put_i32(batch_length);
        batch.put_i32(self.partition_leader_epoch);
        batch.put_i8(MAGIC);
        batch.put_u32(0); // CRC, filled in once the covered bytes are written.
        batch.put_i16(self.attributes.bits());
        batch.put_i32((self.record_count - 1).max(0));
        batch.put_i64(self.base_timestamp_ms.unwrap_or(NO_TIMESTAMP));
        batch.put_i64(self.max_timestamp_ms);
        batch.put_i64(self.producer_id);
        batch.put_i16(self.producer_epoch);
        batch.put_i32(self.base_sequence);
        batch.put_i32(self.record_count);
        debug_assert_eq!(batch.len(), BATCH_HEADER_LEN);
        batch.extend_from_slice(&section);

        let crc = layout::compute_crc(&batch);
        layout::write_bytes(&mut batch, layout::CRC, &crc.to_be_bytes());
        Ok(Bytes::from(batch))
    }
}

fn len_i32(len: usize, reason: &'static str) -> Result<i32> {
    i32::try_from(len).map_err(|_| Error::BatchTooLarge { reason })
}

fn put_nullable_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) -> Result<()> {
    match bytes {
        Some(bytes) => {
            put_varint(out, len_i32(bytes.len(), "key or value too long")?);
            out.put_slice(bytes);
        }
        None => put_varint(out, -1),
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::batch::RecordBatch;
    use crate::compression::DecompressionLimits;

    #[test]
    fn a_rejected_append_leaves_the_builder_unchanged() {
        let mut builder = BatchBuilder::new(0);
        builder.append(i64::MAX, None, None, &[]).unwrap();
        let error = builder.append(i64::MIN, None, None, &[]).unwrap_err();
        assert!(matches!(
            error,
            Error::TimestampOutOfRange {
                timestamp_ms: i64::MIN,
                base_timestamp_ms: i64::MAX
            }
        ));
        assert_eq!(builder.record_count(), 1);

        let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
        assert_eq!(batch.record_count(), 1);
        assert_eq!(batch.base_timestamp(), i64::MAX);
        assert_eq!(batch.max_timestamp(), i64::MAX);
        let records: Vec<_> = batch.records(DecompressionLimits::default()).collect();
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn max_timestamp_is_the_largest_not_the_last() {
        let mut builder = BatchBuilder::new(0);
        for timestamp_ms in [50, 10, 70, 20] {
            builder.append(timestamp_ms, None, None, &[]).unwrap();
        }
        let batch = RecordBatch::new(builder.build().unwrap()).unwrap();
        assert_eq!(batch.base_timestamp(), 50);
        assert_eq!(batch.max_timestamp(), 70);
        assert_eq!(batch.last_offset_delta(), 3);
    }

    #[test]
    fn defaults_match_kafka_for_non_idempotent_batches() {
        let batch = RecordBatch::new(BatchBuilder::new(3).build().unwrap()).unwrap();
        assert_eq!(batch.partition_leader_epoch(), -1);
        assert_eq!(batch.producer_id(), -1);
        assert_eq!(batch.producer_epoch(), -1);
        assert_eq!(batch.base_sequence(), -1);
        assert_eq!(batch.attributes().bits(), 0);
    }
}
