//! InitProducerId for idempotent producers: a fresh producer id with epoch 0.
//!
//! Without a transactional id Kafka always hands out a new producer id, whatever id and
//! epoch the request carries (KIP-360 epoch bumps apply to transactional producers). Ids
//! come from blocks reserved durably, so an id is never handed out twice, even across a
//! crash.

use fjord_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;

/// Answers an InitProducerId request.
pub(crate) async fn handle(
    context: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let failed = |code: ErrorCode| InitProducerIdResponse {
        error_code: code.code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    if request.transactional_id.is_some() {
        // Transactions arrive with the transaction coordinator. A non-retriable error
        // makes a transactional producer fail at once instead of retrying forever.
        return failed(ErrorCode::INVALID_REQUEST);
    }
    match context.broker.producer_ids.next().await {
        Ok(producer_id) => InitProducerIdResponse {
            error_code: ErrorCode::NONE.code(),
            producer_id,
            producer_epoch: 0,
            ..Default::default()
        },
        Err(error) => {
            tracing::error!(%error, "cannot reserve producer ids");
            failed(ErrorCode::UNKNOWN_SERVER_ERROR)
        }
    }
}
