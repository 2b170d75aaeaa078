//! ConsumerGroupHeartbeat: a member of a consumer group (KIP-848 protocol) joins,
//! heartbeats, acknowledges revocations and gets its assignment, or leaves.

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(
    context: &RequestContext,
    request: ConsumerGroupHeartbeatRequest,
) -> Outcome {
    submit(
        context,
        GroupRequest::ConsumerGroupHeartbeat(request),
        move |code| {
            ResponseKind::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
                error_code: code.code(),
                member_epoch: -1,
                ..Default::default()
            })
        },
    )
    .await
}
