//! DescribeCluster: the cluster id, the controller and the brokers.

use fjord_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use fjord_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};

use super::{AUTHORIZED_OPERATIONS_OMITTED, RequestContext};
use crate::error_code::ErrorCode;

/// Answers a DescribeCluster request. This node is broker and controller at once, so it
/// is the answer whichever endpoint type the client asks for.
pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let broker = &context.broker;
    let (host, port) = broker.advertised.clone();
    DescribeClusterResponse {
        error_code: ErrorCode::NONE.code(),
        endpoint_type: request.endpoint_type,
        cluster_id: broker.cluster_id().to_owned(),
        controller_id: broker.config.node_id,
        brokers: vec![DescribeClusterBroker {
            broker_id: broker.config.node_id,
            host,
            port: i32::from(port),
            rack: None,
            ..Default::default()
        }],
        cluster_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    }
}
