//! DescribeTopicPartitions (KIP-966): topics and partitions in pages, with a cursor.

use fjord_protocol::Uuid;
use fjord_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use fjord_protocol::messages::{DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse};

use super::{AUTHORIZED_OPERATIONS_OMITTED, RequestContext};
use crate::error_code::ErrorCode;

/// Partitions per response at most, whatever the client asks (Kafka:
/// max.request.partition.size.limit).
const RESPONSE_PARTITIONS_MAX: i32 = 2000;

/// Answers a DescribeTopicPartitions request.
pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let broker = &context.broker;
    let limit = request
        .response_partition_limit
        .clamp(1, RESPONSE_PARTITIONS_MAX) as usize;
    // Topics in name order: every topic when none are named, as in Kafka.
    let mut names: Vec<String> = if request.topics.is_empty() {
        broker.topics().iter().map(|t| t.name.clone()).collect()
    } else {
        request.topics.into_iter().map(|t| t.name).collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = match &request.cursor {
        Some(cursor) => (
            Some(cursor.topic_name.clone()),
            cursor.partition_index.max(0),
        ),
        None => (None, 0),
    };

    let mut topics = Vec::new();
    let mut emitted = 0usize;
    let mut next_cursor = None;
    for name in names {
        if start_topic.as_ref().is_some_and(|start| name < *start) {
            continue;
        }
        let first = if start_topic.as_deref() == Some(name.as_str()) {
            start_partition
        } else {
            0
        };
        let Some(topic) = broker.topic(&name) else {
            topics.push(DescribeTopicPartitionsResponseTopic {
                error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code(),
                name: Some(name),
                topic_id: Uuid::ZERO,
                topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                ..Default::default()
            });
            continue;
        };
        let mut partitions = Vec::new();
        for partition in topic
            .partitions
            .iter()
            .skip(usize::try_from(first).unwrap_or(0))
        {
            if emitted == limit {
                next_cursor = Some(Cursor {
                    topic_name: name.clone(),
                    partition_index: partition.index,
                    ..Default::default()
                });
                break;
            }
            emitted += 1;
            partitions.push(DescribeTopicPartitionsResponsePartition {
                error_code: ErrorCode::NONE.code(),
                partition_index: partition.index,
                leader_id: partition.leader_id,
                leader_epoch: partition.leader_epoch,
                replica_nodes: vec![partition.leader_id],
                isr_nodes: vec![partition.leader_id],
                eligible_leader_replicas: Some(Vec::new()),
                last_known_elr: Some(Vec::new()),
                offline_replicas: Vec::new(),
                ..Default::default()
            });
        }
        topics.push(DescribeTopicPartitionsResponseTopic {
            error_code: ErrorCode::NONE.code(),
            name: Some(name),
            topic_id: topic.id,
            is_internal: topic.internal,
            partitions,
            topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
            ..Default::default()
        });
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse {
        topics,
        next_cursor,
        ..Default::default()
    }
}
