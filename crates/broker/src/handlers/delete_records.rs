//! DeleteRecords: move a partition's log start offset forward.

use fjord_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use fjord_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;

/// Answers a DeleteRecords request; every deletion is durable before the answer.
pub(crate) async fn handle(
    context: &RequestContext,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let broker = context.broker.clone();
    // Deleting whole segments and writing the checkpoint block on the disk.
    let topics = tokio::task::spawn_blocking(move || {
        request
            .topics
            .into_iter()
            .map(|topic| {
                let found = broker.topic(&topic.name);
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|wanted| {
                        let partition = found
                            .as_ref()
                            .and_then(|t| t.partition(wanted.partition_index));
                        let outcome = match partition {
                            Some(partition) => partition.delete_records_before(wanted.offset),
                            None => Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                        };
                        let (low_watermark, code) = match outcome {
                            Ok(low_watermark) => (low_watermark, ErrorCode::NONE),
                            Err(code) => (-1, code),
                        };
                        DeleteRecordsPartitionResult {
                            partition_index: wanted.partition_index,
                            low_watermark,
                            error_code: code.code(),
                            ..Default::default()
                        }
                    })
                    .collect();
                DeleteRecordsTopicResult {
                    name: topic.name,
                    partitions,
                    ..Default::default()
                }
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    DeleteRecordsResponse {
        topics,
        ..Default::default()
    }
}
