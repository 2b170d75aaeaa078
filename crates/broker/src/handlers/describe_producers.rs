//! DescribeProducers: the producers a partition knows, with their last sequence and
//! open transaction (what `kafka-transactions.sh describe-producers` shows, and what an
//! operator looks at to find a hanging transaction).
//!
//! Answered from the partition's producer state, which the log keeps for idempotence
//! and transactions; nothing is read from disk. The coordinator epoch of the last
//! marker is not kept by the log (docs/adr/0009), so it is always -1.

use fjord_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use fjord_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;

/// Answers for every requested partition; a missing topic or partition gets
/// UNKNOWN_TOPIC_OR_PARTITION, as in Kafka's `ReplicaManager.activeProducerState`.
pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let broker = &context.broker;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = broker.topic(&topic.name);
            let partitions = topic
                .partition_indexes
                .into_iter()
                .map(|partition_index| {
                    let mut response = PartitionResponse {
                        partition_index,
                        ..Default::default()
                    };
                    let Some(partition) = found.as_ref().and_then(|t| t.partition(partition_index))
                    else {
                        response.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code();
                        return response;
                    };
                    match partition.producer_states() {
                        Ok(states) => {
                            response.active_producers = states
                                .into_iter()
                                .map(|state| ProducerState {
                                    producer_id: state.producer_id,
                                    producer_epoch: i32::from(state.producer_epoch),
                                    last_sequence: state.last_sequence,
                                    last_timestamp: state.last_timestamp_ms,
                                    coordinator_epoch: -1,
                                    current_txn_start_offset: state.current_txn_start_offset,
                                    ..Default::default()
                                })
                                .collect();
                        }
                        Err(code) => response.error_code = code.code(),
                    }
                    response
                })
                .collect();
            TopicResponse {
                name: topic.name,
                partitions,
                ..Default::default()
            }
        })
        .collect();
    DescribeProducersResponse {
        topics,
        ..Default::default()
    }
}
