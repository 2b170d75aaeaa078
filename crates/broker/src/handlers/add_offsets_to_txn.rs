//! AddOffsetsToTxn: the producer adds its group's `__consumer_offsets` partition to the
//! transaction, before TxnOffsetCommit.

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use fjord_txn::TxnRequest;

use super::{Outcome, RequestContext};
use crate::transactions::submit;

/// Hands the request to the transaction coordinator.
pub(crate) async fn handle(context: &RequestContext, request: AddOffsetsToTxnRequest) -> Outcome {
    submit(context, TxnRequest::AddOffsetsToTxn(request), |code| {
        ResponseKind::AddOffsetsToTxn(AddOffsetsToTxnResponse {
            error_code: code.code(),
            ..Default::default()
        })
    })
    .await
}
