//! Heartbeat: a member of a classic group is alive, and learns of rebalances.

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: HeartbeatRequest) -> Outcome {
    submit(context, GroupRequest::Heartbeat(request), |code| {
        ResponseKind::Heartbeat(HeartbeatResponse {
            error_code: code.code(),
            ..Default::default()
        })
    })
    .await
}
