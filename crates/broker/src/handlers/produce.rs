//! Produce: validate, append, and acknowledge per `acks`.
//!
//! acks=0 gets no response; acks=1 is answered once the batch is written to the log
//! (the page cache: it survives a crash of the process); acks=all (-1) is answered once
//! the batch is fsynced, by the partition's group-commit flusher. On a single node the
//! in-sync replica set is this broker alone, so "all replicas have it" means "it is on
//! this broker's disk".

use std::time::Duration;

use fjord_protocol::messages::produce_request::PartitionProduceData;
use fjord_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use fjord_protocol::messages::{ProduceRequest, ProduceResponse};

use fjord_protocol::ResponseKind;

use super::{Outcome, RequestContext};
use crate::error_code::ErrorCode;
use crate::partition::{Appended, Partition};
use std::sync::Arc;

/// Kafka's TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53).
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(53);

/// The attributes field of a batch (after baseOffset, batchLength,
/// partitionLeaderEpoch, magic and crc) and its transactional bit.
const ATTRIBUTES_AT: usize = 21;
const TRANSACTIONAL_FLAG: i16 = 0x10;

/// Whether any partition's first batch claims to be transactional. Only the header is
/// looked at; the log validates the batch itself.
fn has_transactional_batch(request: &ProduceRequest) -> bool {
    request
        .topic_data
        .iter()
        .flat_map(|topic| &topic.partition_data)
        .filter_map(|partition| partition.records.as_ref())
        .filter_map(|records| records.get(ATTRIBUTES_AT..ATTRIBUTES_AT + 2))
        .any(|attributes| {
            i16::from_be_bytes([attributes[0], attributes[1]]) & TRANSACTIONAL_FLAG != 0
        })
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
    } else if request.transactional_id.is_none() && has_transactional_batch(&request) {
        // Kafka's answer (KafkaApis.handleProduceRequest): transactional records need a
        // transactional id to authorize the write against.
        Some(TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else {
        None
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
