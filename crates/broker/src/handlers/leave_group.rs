//! LeaveGroup: members leave a classic group (several at once from version 3).

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: LeaveGroupRequest) -> Outcome {
    submit(context, GroupRequest::LeaveGroup(request), |code| {
        ResponseKind::LeaveGroup(LeaveGroupResponse {
            error_code: code.code(),
            ..Default::default()
        })
    })
    .await
}
