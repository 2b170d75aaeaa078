//! DeleteGroups: remove empty groups and their committed offsets.

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::delete_groups_response::DeletableGroupResult;
use fjord_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: DeleteGroupsRequest) -> Outcome {
    let names = request.groups_names.clone();
    submit(context, GroupRequest::DeleteGroups(request), move |code| {
        let results = names
            .into_iter()
            .map(|group_id| DeletableGroupResult {
                group_id,
                error_code: code.code(),
                ..Default::default()
            })
            .collect();
        ResponseKind::DeleteGroups(DeleteGroupsResponse {
            results,
            ..Default::default()
        })
    })
    .await
}
