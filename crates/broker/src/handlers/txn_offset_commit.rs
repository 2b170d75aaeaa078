//! TxnOffsetCommit: offsets committed as part of a transaction
//! (`send_offsets_to_transaction`). The group coordinator checks them as it checks
//! OffsetCommit, writes them as transactional records of the producer, and keeps them
//! pending until the transaction's marker reaches `__consumer_offsets` (ADR 0010).

use fjord_group::GroupRequest;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use fjord_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{Outcome, RequestContext};
use crate::groups::submit;

/// Hands the request to the group coordinator.
pub(crate) async fn handle(context: &RequestContext, request: TxnOffsetCommitRequest) -> Outcome {
    let topics: Vec<(String, Vec<i32>)> = request
        .topics
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    submit(
        context,
        GroupRequest::TxnOffsetCommit(request),
        move |code| {
            ResponseKind::TxnOffsetCommit(TxnOffsetCommitResponse {
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| TxnOffsetCommitResponseTopic {
                        name,
                        partitions: partitions
                            .into_iter()
                            .map(|partition_index| TxnOffsetCommitResponsePartition {
                                partition_index,
                                error_code: code.code(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        },
    )
    .await
}
