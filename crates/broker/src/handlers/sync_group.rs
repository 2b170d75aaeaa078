//! SyncGroup: the leader hands out assignments; every member receives its own.

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: SyncGroupRequest) -> Outcome {
    submit(context, GroupRequest::SyncGroup(request), |code| {
        ResponseKind::SyncGroup(SyncGroupResponse {
            error_code: code.code(),
            ..Default::default()
        })
    })
    .await
}
