//! OffsetCommit: a group's progress, written to `__consumer_offsets` before the answer.
//!
//! Partitions of topics that do not exist (or beyond a topic's partition count) are
//! answered UNKNOWN_TOPIC_OR_PARTITION here, before the coordinator, as Kafka's request
//! layer does: otherwise a typo in a topic name would store an offset nobody can use.

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use fjord_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{Outcome, RequestContext};
use crate::error_code::ErrorCode;
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, mut request: OffsetCommitRequest) -> Outcome {
    let mut unknown: Vec<(String, i32)> = Vec::new();
    for topic in &mut request.topics {
        let count = context
            .broker
            .topic(&topic.name)
            .filter(|t| !t.internal)
            .map(|t| t.partitions.len());
        topic.partitions.retain(|p| {
            let exists = count.is_some_and(|count| {
                usize::try_from(p.partition_index).is_ok_and(|index| index < count)
            });
            if !exists {
                unknown.push((topic.name.clone(), p.partition_index));
            }
            exists
        });
    }
    request.topics.retain(|t| !t.partitions.is_empty());
    if request.topics.is_empty() {
        return Outcome::Respond(ResponseKind::OffsetCommit(with_unknown(
            OffsetCommitResponse::default(),
            &unknown,
        )));
    }

    // The failure answer names every partition of the request with the error.
    let partitions: Vec<(String, Vec<i32>)> = request
        .topics
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let outcome = submit(context, GroupRequest::OffsetCommit(request), move |code| {
        let topics = partitions
            .into_iter()
            .map(|(name, indexes)| OffsetCommitResponseTopic {
                name,
                partitions: indexes
                    .into_iter()
                    .map(|partition_index| OffsetCommitResponsePartition {
                        partition_index,
                        error_code: code.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        ResponseKind::OffsetCommit(OffsetCommitResponse {
            topics,
            ..Default::default()
        })
    })
    .await;
    if unknown.is_empty() {
        return outcome;
    }
    let add = move |response: ResponseKind| match response {
        ResponseKind::OffsetCommit(response) => {
            ResponseKind::OffsetCommit(with_unknown(response, &unknown))
        }
        other => other,
    };
    match outcome {
        Outcome::Respond(response) => Outcome::Respond(add(response)),
        Outcome::Later(deferred) => Outcome::Later(Box::pin(async move { add(deferred.await) })),
        other => other,
    }
}

/// Adds UNKNOWN_TOPIC_OR_PARTITION answers for `unknown` partitions.
fn with_unknown(
    mut response: OffsetCommitResponse,
    unknown: &[(String, i32)],
) -> OffsetCommitResponse {
    for (name, partition_index) in unknown {
        let partition = OffsetCommitResponsePartition {
            partition_index: *partition_index,
            error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code(),
            ..Default::default()
        };
        match response.topics.iter_mut().find(|t| t.name == *name) {
            Some(topic) => topic.partitions.push(partition),
            None => response.topics.push(OffsetCommitResponseTopic {
                name: name.clone(),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    response
}
