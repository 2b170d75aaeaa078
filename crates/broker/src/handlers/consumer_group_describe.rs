//! ConsumerGroupDescribe: the state, epochs, members and assignments of consumer groups
//! (KIP-848 protocol).

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::consumer_group_describe_response::DescribedGroup;
use fjord_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};

use super::{AUTHORIZED_OPERATIONS_OMITTED, Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(
    context: &RequestContext,
    request: ConsumerGroupDescribeRequest,
) -> Outcome {
    let names = request.group_ids.clone();
    submit(
        context,
        GroupRequest::ConsumerGroupDescribe(request),
        move |code| {
            let groups = names
                .into_iter()
                .map(|group_id| DescribedGroup {
                    error_code: code.code(),
                    group_id,
                    authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                    ..Default::default()
                })
                .collect();
            ResponseKind::ConsumerGroupDescribe(ConsumerGroupDescribeResponse {
                groups,
                ..Default::default()
            })
        },
    )
    .await
}
