//! AddPartitionsToTxn: the producer adds partitions to its transaction before it writes
//! to them (v0-3: one transaction; v4+: several per request, and the verify-only form
//! that partition leaders send, KIP-890).

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use fjord_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use fjord_txn::TxnRequest;

use super::{Outcome, RequestContext};
use crate::transactions::submit;

/// The first version that batches transactions and has a top-level error code.
const BATCHED_VERSION: i16 = 4;

/// Hands the request to the transaction coordinator.
pub(crate) async fn handle(
    context: &RequestContext,
    request: AddPartitionsToTxnRequest,
) -> Outcome {
    let batched = context.version() >= BATCHED_VERSION;
    // Before v4 a response has no top-level error: every partition carries it.
    let topics: Vec<(String, Vec<i32>)> = if batched {
        Vec::new()
    } else {
        request
            .v3_and_below_topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions.clone()))
            .collect()
    };
    submit(
        context,
        TxnRequest::AddPartitionsToTxn(request),
        move |code| {
            let mut response = AddPartitionsToTxnResponse::default();
            if batched {
                response.error_code = code.code();
            } else {
                response.results_by_topic_v3_and_below = topics
                    .into_iter()
                    .map(|(name, partitions)| AddPartitionsToTxnTopicResult {
                        name,
                        results_by_partition: partitions
                            .into_iter()
                            .map(|partition_index| AddPartitionsToTxnPartitionResult {
                                partition_index,
                                partition_error_code: code.code(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect();
            }
            ResponseKind::AddPartitionsToTxn(response)
        },
    )
    .await
}
