//! OffsetDelete: remove a group's committed offsets of some partitions.

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: OffsetDeleteRequest) -> Outcome {
    submit(context, GroupRequest::OffsetDelete(request), |code| {
        ResponseKind::OffsetDelete(OffsetDeleteResponse {
            error_code: code.code(),
            ..Default::default()
        })
    })
    .await
}
