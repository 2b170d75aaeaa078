//! OffsetFetch: a group's committed offsets (several groups per request from version 8).

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use fjord_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: OffsetFetchRequest) -> Outcome {
    let version = context.version();
    let groups: Vec<String> = request.groups.iter().map(|g| g.group_id.clone()).collect();
    let topics: Vec<(String, Vec<i32>)> = request
        .topics
        .iter()
        .flatten()
        .map(|t| (t.name.clone(), t.partition_indexes.clone()))
        .collect();
    submit(context, GroupRequest::OffsetFetch(request), move |code| {
        let mut response = OffsetFetchResponse::default();
        if version >= 8 {
            response.groups = groups
                .into_iter()
                .map(|group_id| OffsetFetchResponseGroup {
                    group_id,
                    error_code: code.code(),
                    ..Default::default()
                })
                .collect();
        } else if version >= 2 {
            response.error_code = code.code();
        } else {
            // Version 1 has errors per partition only.
            response.topics = topics
                .into_iter()
                .map(|(name, indexes)| OffsetFetchResponseTopic {
                    name,
                    partitions: indexes
                        .into_iter()
                        .map(|partition_index| OffsetFetchResponsePartition {
                            partition_index,
                            committed_offset: -1,
                            error_code: code.code(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect();
        }
        ResponseKind::OffsetFetch(response)
    })
    .await
}
