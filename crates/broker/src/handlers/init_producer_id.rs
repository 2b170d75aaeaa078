//! InitProducerId: a producer id and epoch.
//!
//! With a transactional id the transaction coordinator answers: it bumps the epoch of
//! the id's producer id (fencing the previous producer, aborting its open transaction)
//! or hands out a new one. Without one Kafka always hands out a new producer id with
//! epoch 0, whatever id and epoch the request carries (KIP-360 epoch bumps apply to
//! transactional producers); that is answered here, without starting the transaction
//! coordinator (ADR 0010). Both take ids from the same durable allocator, so an id is
//! never handed out twice, even across a crash.

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use fjord_txn::TxnRequest;

use super::{Outcome, RequestContext};
use crate::error_code::ErrorCode;
use crate::transactions::submit;

fn failed(code: ErrorCode) -> InitProducerIdResponse {
    InitProducerIdResponse {
        error_code: code.code(),
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    }
}

/// Answers an InitProducerId request.
pub(crate) async fn handle(context: &RequestContext, request: InitProducerIdRequest) -> Outcome {
    if request.transactional_id.is_some() {
        return submit(context, TxnRequest::InitProducerId(request), |code| {
            ResponseKind::InitProducerId(failed(code))
        })
        .await;
    }
    let response = match context.broker.producer_ids.next().await {
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
    };
    Outcome::Respond(ResponseKind::InitProducerId(response))
}
