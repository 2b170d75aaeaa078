//! DescribeTransactions: the state, producer, timeout and partitions of transactional ids.

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::describe_transactions_response::TransactionState;
use fjord_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse};
use fjord_txn::TxnRequest;

use super::{Outcome, RequestContext};
use crate::transactions::submit;

/// Hands the request to the transaction coordinator.
pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeTransactionsRequest,
) -> Outcome {
    let ids = request.transactional_ids.clone();
    submit(
        context,
        TxnRequest::DescribeTransactions(request),
        move |code| {
            ResponseKind::DescribeTransactions(DescribeTransactionsResponse {
                transaction_states: ids
                    .into_iter()
                    .map(|transactional_id| TransactionState {
                        error_code: code.code(),
                        transactional_id,
                        producer_id: -1,
                        producer_epoch: -1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        },
    )
    .await
}
