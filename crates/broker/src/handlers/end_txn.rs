//! EndTxn: the producer commits or aborts its transaction. Answered once the
//! PrepareCommit or PrepareAbort record is durable; the markers follow (ADR 0008).

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{EndTxnRequest, EndTxnResponse};
use fjord_txn::TxnRequest;

use super::{Outcome, RequestContext};
use crate::transactions::submit;

/// Hands the request to the transaction coordinator.
pub(crate) async fn handle(context: &RequestContext, request: EndTxnRequest) -> Outcome {
    submit(context, TxnRequest::EndTxn(request), |code| {
        ResponseKind::EndTxn(EndTxnResponse {
            error_code: code.code(),
            ..Default::default()
        })
    })
    .await
}
