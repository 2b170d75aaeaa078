//! FindCoordinator: this broker coordinates every group and every transactional id
//! (single node); batched keys (KIP-699) from version 4.

use fjord_protocol::messages::find_coordinator_response::Coordinator;
use fjord_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;

/// Kafka's coordinator key types.
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Answers a FindCoordinator request.
pub(crate) async fn handle(
    context: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let broker = &context.broker;
    let (host, port) = broker.advertised.clone();
    let node_id = broker.config.node_id;
    // Share groups (key type 2) have no coordinator yet; a non-retriable error fails
    // such a client at once instead of letting it retry forever.
    let (code, message) =
        if request.key_type == KEY_TYPE_GROUP || request.key_type == KEY_TYPE_TRANSACTION {
            (ErrorCode::NONE, None)
        } else {
            (
                ErrorCode::INVALID_REQUEST,
                Some(format!(
                    "Fjord has no coordinator of key type {}",
                    request.key_type
                )),
            )
        };
    let found = code == ErrorCode::NONE;
    if context.version() >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| Coordinator {
                key,
                node_id: if found { node_id } else { -1 },
                host: if found { host.clone() } else { String::new() },
                port: if found { i32::from(port) } else { -1 },
                error_code: code.code(),
                error_message: message.clone(),
                ..Default::default()
            })
            .collect();
        return FindCoordinatorResponse {
            coordinators,
            ..Default::default()
        };
    }
    FindCoordinatorResponse {
        error_code: code.code(),
        error_message: if context.version() >= 1 {
            message
        } else {
            None
        },
        node_id: if found { node_id } else { -1 },
        host: if found { host } else { String::new() },
        port: if found { i32::from(port) } else { -1 },
        ..Default::default()
    }
}
