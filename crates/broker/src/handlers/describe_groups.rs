//! DescribeGroups: state, protocol, members and their assignments.

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::describe_groups_response::DescribedGroup;
use fjord_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::{AUTHORIZED_OPERATIONS_OMITTED, Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: DescribeGroupsRequest) -> Outcome {
    let names = request.groups.clone();
    submit(
        context,
        GroupRequest::DescribeGroups(request),
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
            ResponseKind::DescribeGroups(DescribeGroupsResponse {
                groups,
                ..Default::default()
            })
        },
    )
    .await
}
