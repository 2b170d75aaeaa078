//! CreatePartitions: grow a topic's partition count.

use fjord_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use fjord_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;

/// Answers a CreatePartitions request.
pub(crate) async fn handle(
    context: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let broker = &context.broker;
    let node_id = broker.config.node_id;
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        // Assignments may only name this broker, the only one there is.
        let bad_assignment = topic.assignments.as_ref().is_some_and(|assignments| {
            assignments
                .iter()
                .any(|a| a.broker_ids.as_slice() != [node_id])
        });
        let outcome = if bad_assignment {
            Err(crate::topics::TopicError::new(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Replica assignments must place every partition on broker {node_id}, the only broker"
                ),
            ))
        } else {
            broker
                .add_partitions(&topic.name, topic.count, request.validate_only)
                .await
        };
        results.push(match outcome {
            Ok(()) => CreatePartitionsTopicResult {
                name: topic.name,
                error_code: ErrorCode::NONE.code(),
                ..Default::default()
            },
            Err(error) => CreatePartitionsTopicResult {
                name: topic.name,
                error_code: error.code.code(),
                error_message: Some(error.message),
                ..Default::default()
            },
        });
    }
    CreatePartitionsResponse {
        results,
        ..Default::default()
    }
}
