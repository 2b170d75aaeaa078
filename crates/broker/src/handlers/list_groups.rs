//! ListGroups: every group, filtered by state (v4+) and type (v5+).

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: ListGroupsRequest) -> Outcome {
    submit(context, GroupRequest::ListGroups(request), |code| {
        ResponseKind::ListGroups(ListGroupsResponse {
            error_code: code.code(),
            ..Default::default()
        })
    })
    .await
}
