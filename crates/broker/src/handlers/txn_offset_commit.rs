//! TxnOffsetCommit: offsets committed as part of a transaction
//! (`send_offsets_to_transaction`).
//!
//! Not served yet: the offsets must stay invisible until the transaction's COMMIT
//! marker reaches `__consumer_offsets` and be dropped on ABORT, which needs pending
//! transactional offsets in the group coordinator (ADR 0010). Until then every partition
//! is answered INVALID_REQUEST, which librdkafka treats as an abortable error: the
//! producer aborts the transaction and stays usable, and no offset is ever committed
//! outside the transaction. The request is routed (not left out of ApiVersions) so that
//! the client reports this error, not a missing API.

use fjord_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use fjord_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;

/// Answers every partition INVALID_REQUEST.
pub(crate) async fn handle(
    _context: &RequestContext,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    tracing::warn!(
        transactional_id = %request.transactional_id,
        group_id = %request.group_id,
        "TxnOffsetCommit refused: transactional offset commits are not supported yet"
    );
    TxnOffsetCommitResponse {
        topics: request
            .topics
            .into_iter()
            .map(|topic| TxnOffsetCommitResponseTopic {
                name: topic.name,
                partitions: topic
                    .partitions
                    .into_iter()
                    .map(|partition| TxnOffsetCommitResponsePartition {
                        partition_index: partition.partition_index,
                        error_code: ErrorCode::INVALID_REQUEST.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
