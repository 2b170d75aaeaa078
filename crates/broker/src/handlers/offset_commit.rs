//! OffsetCommit: a group's progress, written to `__consumer_offsets` before the answer.

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use fjord_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: OffsetCommitRequest) -> Outcome {
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
    submit(context, GroupRequest::OffsetCommit(request), move |code| {
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
    .await
}
