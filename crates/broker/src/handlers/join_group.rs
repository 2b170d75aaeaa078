//! JoinGroup: a member joins (or rejoins) a classic group; answered when the rebalance
//! completes.

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: JoinGroupRequest) -> Outcome {
    let member_id = request.member_id.clone();
    submit(context, GroupRequest::JoinGroup(request), move |code| {
        ResponseKind::JoinGroup(JoinGroupResponse {
            error_code: code.code(),
            generation_id: -1,
            member_id,
            ..Default::default()
        })
    })
    .await
}
