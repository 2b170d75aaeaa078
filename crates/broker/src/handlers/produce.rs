//! Produce: validate, append, and acknowledge per `acks`.
//!
//! acks=0 gets no response; acks=1 is answered once the batch is written to the log
//! (the page cache: it survives a crash of the process); acks=all (-1) is answered once
//! the batch is fsynced, by the partition's group-commit flusher. On a single node the
//! in-sync replica set is this broker alone, so "all replicas have it" means "it is on
//! this broker's disk".
//!
//! A transactional batch is appended only once the transaction coordinator confirms,
//! with the verify-only AddPartitionsToTxn of KIP-890 part 1, that its partition is in
//! the producer's ongoing transaction at that producer id and epoch: a zombie or a
//! buggy client cannot start a transaction in a partition the coordinator will never
//! write a marker to (a hanging transaction holds the last stable offset back forever).
//! One coordinator round trip per request, for the partitions whose batch is
//! transactional; nothing else waits for it (docs/adr/0011).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use fjord_protocol::messages::produce_request::PartitionProduceData;
use fjord_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use fjord_protocol::messages::{ProduceRequest, ProduceResponse};

use fjord_protocol::ResponseKind;

use super::{Outcome, RequestContext};
use crate::error_code::ErrorCode;
use crate::partition::{Appended, Partition};
use crate::transactions::verify_partitions;
use std::sync::Arc;

/// Kafka's TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53).
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(53);

/// Kafka's codes that the verification of a transactional batch answers with or maps.
const NOT_ENOUGH_REPLICAS: ErrorCode = ErrorCode(19);
const INVALID_PRODUCER_ID_MAPPING: ErrorCode = ErrorCode(49);
const CONCURRENT_TRANSACTIONS: ErrorCode = ErrorCode(51);
const NETWORK_EXCEPTION: ErrorCode = ErrorCode(13);
const COORDINATOR_LOAD_IN_PROGRESS: ErrorCode = ErrorCode(14);
const NOT_COORDINATOR: ErrorCode = ErrorCode(16);
const PRODUCER_FENCED: ErrorCode = ErrorCode(90);
const TRANSACTION_ABORTABLE: ErrorCode = ErrorCode(120);

/// The attributes field of a batch (after baseOffset, batchLength,
/// partitionLeaderEpoch, magic and crc) and its transactional bit.
const ATTRIBUTES_AT: usize = 21;
const TRANSACTIONAL_FLAG: i16 = 0x10;
/// The producer id and epoch fields (after attributes, lastOffsetDelta, baseTimestamp
/// and maxTimestamp).
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;

/// The producer id and epoch of a batch whose header says it is transactional; `None`
/// for any other (or too short to tell: the log refuses it).
fn transactional_producer(records: &[u8]) -> Option<(i64, i16)> {
    let attributes = records.get(ATTRIBUTES_AT..ATTRIBUTES_AT + 2)?;
    if i16::from_be_bytes([attributes[0], attributes[1]]) & TRANSACTIONAL_FLAG == 0 {
        return None;
    }
    let id = records.get(PRODUCER_ID_AT..PRODUCER_ID_AT + 8)?;
    let epoch = records.get(PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2)?;
    Some((
        i64::from_be_bytes(id.try_into().ok()?),
        i16::from_be_bytes(epoch.try_into().ok()?),
    ))
}

/// The partitions whose batch is transactional, and the producer id and epoch they
/// were written by. The log refuses a request (v3+) whose partition holds more than one
/// batch, so the first batch's header speaks for the partition.
struct TransactionalBatches {
    partitions: BTreeMap<String, Vec<i32>>,
    producers: Vec<(i64, i16)>,
}

fn transactional_batches(request: &ProduceRequest) -> TransactionalBatches {
    let mut found = TransactionalBatches {
        partitions: BTreeMap::new(),
        producers: Vec::new(),
    };
    for topic in &request.topic_data {
        for partition in &topic.partition_data {
            let Some(producer) = partition
                .records
                .as_deref()
                .and_then(transactional_producer)
            else {
                continue;
            };
            found
                .partitions
                .entry(topic.name.clone())
                .or_default()
                .push(partition.index);
            if !found.producers.contains(&producer) {
                found.producers.push(producer);
            }
        }
    }
    found
}

/// Kafka's answer to a transactional batch the coordinator did not verify
/// (`AddPartitionsToTxnManager` and `ReplicaManager.appendRecords`): a fenced epoch is
/// INVALID_PRODUCER_EPOCH, which producers handle on Produce; a partition outside the
/// transaction is INVALID_TXN_STATE (Produce below v12 has no TRANSACTION_ABORTABLE);
/// a coordinator that cannot answer now is NOT_ENOUGH_REPLICAS, which every client
/// retries without a metadata refresh.
fn produce_error(verification: ErrorCode) -> ErrorCode {
    match verification {
        PRODUCER_FENCED => ErrorCode::INVALID_PRODUCER_EPOCH,
        TRANSACTION_ABORTABLE => ErrorCode::INVALID_TXN_STATE,
        CONCURRENT_TRANSACTIONS
        | NETWORK_EXCEPTION
        | COORDINATOR_LOAD_IN_PROGRESS
        | ErrorCode::COORDINATOR_NOT_AVAILABLE
        | NOT_COORDINATOR => NOT_ENOUGH_REPLICAS,
        other => other,
    }
}

/// Asks the coordinator about every transactional batch of the request at once; the
/// error each refused partition gets (partitions without an entry may be appended).
async fn verify(
    context: &RequestContext,
    transactional_id: &str,
    batches: TransactionalBatches,
) -> Result<HashMap<(String, i32), ErrorCode>, ErrorCode> {
    let [(producer_id, producer_epoch)] = batches.producers[..] else {
        // Kafka's "transactional records contained more than one producer ID".
        return Err(INVALID_PRODUCER_ID_MAPPING);
    };
    let codes = verify_partitions(
        &context.broker,
        transactional_id,
        producer_id,
        producer_epoch,
        &batches.partitions,
    )
    .await
    .map_err(produce_error)?;
    let mut refused = HashMap::new();
    for (topic, indexes) in batches.partitions {
        for index in indexes {
            // A partition the coordinator did not answer for is not verified either.
            let code = codes
                .get(&(topic.clone(), index))
                .copied()
                .unwrap_or(TRANSACTION_ABORTABLE);
            if code != ErrorCode::NONE {
                refused.insert((topic.clone(), index), produce_error(code));
            }
        }
    }
    Ok(refused)
}

/// Appends every partition's batch now, in the connection's request order, and answers:
/// not at all for acks=0, at once for acks=1, after the fsync for acks=all.
pub(crate) async fn handle(context: &RequestContext, request: ProduceRequest) -> Outcome {
    let broker = &context.broker;
    let version = context.version();
    let acks = request.acks;
    let request_error = if version < 3 {
        // Message formats 0 and 1 are gone, as in Kafka 4.0.
        Some(ErrorCode::UNSUPPORTED_VERSION)
    } else if !matches!(acks, -1..=1) {
        Some(ErrorCode::INVALID_REQUIRED_ACKS)
    } else {
        None
    };
    let batches = transactional_batches(&request);
    let (request_error, refused) = match (request_error, &request.transactional_id) {
        (Some(error), _) => (Some(error), HashMap::new()),
        (None, _) if batches.producers.is_empty() => (None, HashMap::new()),
        // Kafka's answer (KafkaApis.handleProduceRequest): transactional records need a
        // transactional id to authorize the write against.
        (None, None) => (Some(TRANSACTIONAL_ID_AUTHORIZATION_FAILED), HashMap::new()),
        (None, Some(transactional_id)) => match verify(context, transactional_id, batches).await {
            Ok(refused) => (None, refused),
            Err(error) => (Some(error), HashMap::new()),
        },
    };

    let mut responses = Vec::with_capacity(request.topic_data.len());
    // Appends that still wait for fsync before the response: (topic, partition slot).
    let mut durable_waits: Vec<(usize, usize, Arc<Partition>, i64)> = Vec::new();
    for topic_data in request.topic_data {
        let topic = match request_error {
            Some(_) => None,
            None => match broker.topic(&topic_data.name) {
                Some(topic) => Some(Ok(topic)),
                None if broker.config.auto_create_topics => {
                    Some(broker.auto_create_topic(&topic_data.name).await)
                }
                None => None,
            },
        };
        let mut partition_responses = Vec::with_capacity(topic_data.partition_data.len());
        for PartitionProduceData { index, records, .. } in topic_data.partition_data {
            let response = |code: ErrorCode, message: Option<String>| PartitionProduceResponse {
                index,
                error_code: code.code(),
                base_offset: -1,
                log_append_time_ms: -1,
                log_start_offset: -1,
                error_message: message,
                ..Default::default()
            };
            if let Some(code) = request_error {
                partition_responses.push(response(code, None));
                continue;
            }
            let partition = match &topic {
                Some(Ok(topic)) => topic.partition(index),
                Some(Err(error)) => {
                    partition_responses.push(response(error.code, Some(error.message.clone())));
                    continue;
                }
                None => None,
            };
            let Some(partition) = partition else {
                partition_responses.push(response(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, None));
                continue;
            };
            if let Some(&code) = refused.get(&(topic_data.name.clone(), index)) {
                partition_responses.push(response(
                    code,
                    Some(
                        "the transaction coordinator did not verify this transactional batch"
                            .into(),
                    ),
                ));
                continue;
            }
            let Some(records) = records else {
                partition_responses.push(response(
                    ErrorCode::INVALID_RECORD,
                    Some("records are null".into()),
                ));
                continue;
            };
            match partition.append(records).await {
                Ok(Appended {
                    base_offset,
                    last_offset,
                    log_append_time_ms,
                    log_start_offset,
                    ..
                }) => {
                    if acks == -1 {
                        durable_waits.push((
                            responses.len(),
                            partition_responses.len(),
                            partition.clone(),
                            last_offset,
                        ));
                    }
                    partition_responses.push(PartitionProduceResponse {
                        index,
                        error_code: ErrorCode::NONE.code(),
                        base_offset,
                        log_append_time_ms,
                        log_start_offset,
                        ..Default::default()
                    });
                }
                Err(error) => partition_responses.push(response(error.code, Some(error.message))),
            }
        }
        responses.push(TopicProduceResponse {
            name: topic_data.name,
            partition_responses,
            ..Default::default()
        });
    }

    if acks == 0 {
        return Outcome::NoResponse;
    }
    if durable_waits.is_empty() {
        return Outcome::Respond(ResponseKind::Produce(ProduceResponse {
            responses,
            ..Default::default()
        }));
    }
    // acks=all: every partition's batch must be on disk before the answer. The waits
    // overlap, and the flusher shares one fsync among all appends waiting on a partition.
    let timeout_ms = u64::try_from(request.timeout_ms).unwrap_or(0);
    Outcome::Later(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        for (topic_slot, partition_slot, partition, last_offset) in durable_waits {
            let outcome =
                tokio::time::timeout_at(deadline, partition.wait_durable(last_offset)).await;
            let code = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(code)) => Some(code),
                Err(_) => Some(ErrorCode::REQUEST_TIMED_OUT),
            };
            if let Some(code) = code
                && let Some(slot) = responses
                    .get_mut(topic_slot)
                    .and_then(|t| t.partition_responses.get_mut(partition_slot))
            {
                slot.error_code = code.code();
            }
        }
        ResponseKind::Produce(ProduceResponse {
            responses,
            ..Default::default()
        })
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use fjord_records::BatchBuilder;

    fn batch(transactional: bool) -> bytes::Bytes {
        let mut builder = BatchBuilder::new(0)
            .producer(4242, 7, 0)
            .transactional(transactional);
        builder.append(1, None, Some(b"v".as_slice()), &[]).unwrap();
        builder.build().unwrap()
    }

    #[test]
    fn the_header_names_the_producer_of_a_transactional_batch_only() {
        assert_eq!(transactional_producer(&batch(true)), Some((4242, 7)));
        assert_eq!(transactional_producer(&batch(false)), None);
        assert_eq!(transactional_producer(&batch(true)[..40]), None);
    }

    #[test]
    fn verification_errors_become_kafkas_produce_errors() {
        assert_eq!(
            produce_error(PRODUCER_FENCED),
            ErrorCode::INVALID_PRODUCER_EPOCH
        );
        assert_eq!(
            produce_error(TRANSACTION_ABORTABLE),
            ErrorCode::INVALID_TXN_STATE
        );
        assert_eq!(produce_error(CONCURRENT_TRANSACTIONS), NOT_ENOUGH_REPLICAS);
        assert_eq!(
            produce_error(ErrorCode::COORDINATOR_NOT_AVAILABLE),
            NOT_ENOUGH_REPLICAS
        );
        assert_eq!(
            produce_error(INVALID_PRODUCER_ID_MAPPING),
            INVALID_PRODUCER_ID_MAPPING
        );
    }
}
