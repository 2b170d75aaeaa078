//! Recompression of a produced batch into the topic's `compression.type`, as Kafka's
//! LogValidator does when the topic names a codec other than `producer`.

use bytes::{Bytes, BytesMut};
use fjord_records::{BatchBuilder, Compression, DecompressionLimits, RecordBatch};

use crate::error::AppendError;

/// Rebuilds `records` (one validated batch) with `target` compression, keeping its
/// producer id, epoch and sequence, flags, timestamps, keys, values and headers. Offsets
/// stay relative; the caller assigns the base offset afterwards as for any batch.
pub(crate) fn recompress(
    records: &Bytes,
    target: Compression,
    limits: DecompressionLimits,
) -> Result<BytesMut, AppendError> {
    let corrupt = |error: fjord_records::Error| AppendError::CorruptMessage {
        reason: error.to_string(),
    };
    let batch = RecordBatch::new(records.clone()).map_err(corrupt)?;
    let attributes = batch.attributes();
    let mut builder = BatchBuilder::new(0)
        .producer(
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
        )
        .transactional(attributes.is_transactional())
        .timestamp_type(attributes.timestamp_type())
        .compression(target);
    for record in batch.records(limits) {
        let record = record.map_err(corrupt)?;
        let headers: Vec<(&[u8], Option<&[u8]>)> = record
            .headers
            .iter()
            .map(|h| (&h.key[..], h.value.as_deref()))
            .collect();
        builder
            .append(
                batch.base_timestamp() + record.timestamp_delta,
                record.key.as_deref(),
                record.value.as_deref(),
                &headers,
            )
            .map_err(corrupt)?;
    }
    let rebuilt = builder.build().map_err(corrupt)?;
    Ok(BytesMut::from(&rebuilt[..]))
}
