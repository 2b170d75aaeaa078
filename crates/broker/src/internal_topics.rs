//! What the coordinators' runtimes share about their internal topics
//! (`__consumer_offsets`, `__transaction_state`): creating one on first use, reading
//! every batch back at startup, and appending a coordinator's records as one batch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fjord_records::{BatchBuilder, RecordBatch, RecordBatches};

use crate::Broker;
use crate::error_code::ErrorCode;
use crate::partition::Partition;
use crate::topics::{NewTopic, Topic};

/// Bytes read per step while replaying an internal topic.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// Wall-clock milliseconds, the coordinators' time.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The internal topic `name`, created with `partitions` partitions and
/// `cleanup.policy=compact` if it does not exist yet, as Kafka does on first use.
pub(crate) async fn open_or_create(
    broker: &Broker,
    name: &str,
    partitions: i32,
) -> Result<Arc<Topic>, String> {
    if let Some(topic) = broker.topic(name) {
        return Ok(topic);
    }
    let mut configs = BTreeMap::new();
    // Compaction is stored, not yet acted on (docs/adr/0003).
    configs.insert("cleanup.policy".to_owned(), "compact".to_owned());
    configs.insert("segment.bytes".to_owned(), "104857600".to_owned());
    let new_topic = NewTopic {
        name: name.to_owned(),
        partitions,
        configs,
    };
    match broker.create_topic(new_topic, false).await {
        Ok(topic) => Ok(topic),
        // Created by a concurrent first request.
        Err(error) if error.code == ErrorCode::TOPIC_ALREADY_EXISTS => {
            broker.topic(name).ok_or(error.message)
        }
        Err(error) => Err(error.message),
    }
}

/// Hands every batch of `partition`, from its log start to its high watermark, to
/// `apply` in log order. Errors name the partition (`topic`-index) and are final.
pub(crate) fn for_each_batch(
    topic: &str,
    partition: &Partition,
    mut apply: impl FnMut(&RecordBatch) -> Result<(), String>,
) -> Result<(), String> {
    let mut offset = partition.log_start_offset();
    let end = partition.high_watermark();
    while offset < end {
        let read = partition
            .read(offset, REPLAY_READ_BYTES, true)
            .map_err(|code| {
                format!(
                    "{topic}-{} offset {offset}: read failed ({code:?})",
                    partition.index
                )
            })?;
        if read.records.is_empty() {
            break;
        }
        for batch in RecordBatches::new(read.records) {
            let batch =
                batch.map_err(|e| format!("{topic}-{} offset {offset}: {e}", partition.index))?;
            offset = batch.last_offset() + 1;
            apply(&batch)?;
        }
    }
    Ok(())
}

/// Writes (key, value) records as one batch built by `builder` (a plain one, or a
/// producer's transactional one), a `None` value being a tombstone; returns the batch's
/// last offset. Durability is the caller's to wait for.
pub(crate) async fn append<'r>(
    partition: &Partition,
    mut builder: BatchBuilder,
    records: impl IntoIterator<Item = (&'r Bytes, Option<&'r Bytes>)>,
) -> Result<i64, String> {
    let timestamp = now_ms();
    for (key, value) in records {
        builder
            .append(timestamp, Some(&key[..]), value.map(|v| &v[..]), &[])
            .map_err(|e| e.to_string())?;
    }
    let batch: Bytes = builder.build().map_err(|e| e.to_string())?;
    partition
        .append(batch)
        .await
        .map(|appended| appended.last_offset)
        .map_err(|refused| refused.message)
}
