//! ListTransactions: transactional ids, filtered by state, producer id and (v1) duration.

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse};
use fjord_txn::TxnRequest;

use super::{Outcome, RequestContext};
use crate::transactions::submit;

/// Hands the request to the transaction coordinator.
pub(crate) async fn handle(context: &RequestContext, request: ListTransactionsRequest) -> Outcome {
    submit(context, TxnRequest::ListTransactions(request), |code| {
        ResponseKind::ListTransactions(ListTransactionsResponse {
            error_code: code.code(),
            ..Default::default()
        })
    })
    .await
}
