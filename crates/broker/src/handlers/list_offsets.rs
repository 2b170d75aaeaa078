//! ListOffsets: the offset for a timestamp, or for the earliest, latest or maximum
//! timestamp.
//!
//! With `isolation_level = 1` (read_committed, version 2+) the answers stop at the last
//! stable offset instead of the high watermark, as in Kafka's
//! `Partition.fetchOffsetForTimestamp`: latest is the LSO, and a timestamp lookup that
//! lands at or past it finds nothing.

use fjord_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use fjord_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;

/// Kafka's special timestamps (ListOffsetsRequest constants).
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// The earliest offset still on local disk (KIP-405); without tiered storage, the log start.
const EARLIEST_LOCAL: i64 = -4;
/// Kafka's isolation levels.
const READ_COMMITTED: i8 = 1;

/// Answers a ListOffsets request.
pub(crate) async fn handle(
    context: &RequestContext,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let broker = &context.broker;
    let version = context.version();
    let read_committed = version >= 2 && request.isolation_level == READ_COMMITTED;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = broker.topic(&topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|wanted| {
                    let mut response = ListOffsetsPartitionResponse {
                        partition_index: wanted.partition_index,
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: -1,
                        ..Default::default()
                    };
                    let Some(partition) = found
                        .as_ref()
                        .and_then(|t| t.partition(wanted.partition_index))
                    else {
                        response.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code();
                        return response;
                    };
                    let epoch_error = partition.check_leader_epoch(wanted.current_leader_epoch);
                    if epoch_error != ErrorCode::NONE {
                        response.error_code = epoch_error.code();
                        return response;
                    }
                    // Read before the lookups: an offset found below it stays readable.
                    let last_fetchable_offset = if read_committed {
                        partition.last_stable_offset()
                    } else {
                        partition.high_watermark()
                    };
                    let below_fetchable = |found: Result<Option<(i64, i64)>, ErrorCode>| {
                        found.map(|found| {
                            found.filter(|(offset, _)| *offset < last_fetchable_offset)
                        })
                    };
                    let result = match wanted.timestamp {
                        LATEST => Ok(Some((last_fetchable_offset, -1))),
                        EARLIEST | EARLIEST_LOCAL => Ok(Some((partition.log_start_offset(), -1))),
                        MAX_TIMESTAMP => below_fetchable(partition.max_timestamp()),
                        timestamp if timestamp >= 0 => {
                            below_fetchable(partition.offset_for_timestamp(timestamp))
                        }
                        _ => Err(ErrorCode::INVALID_REQUEST),
                    };
                    match result {
                        Ok(Some((offset, timestamp))) => {
                            response.offset = offset;
                            response.timestamp = timestamp;
                            // The leader epoch is part of the answer from version 4.
                            if version >= 4 {
                                response.leader_epoch = partition.leader_epoch;
                            }
                        }
                        // No record at or after the timestamp: Kafka answers -1, -1.
                        Ok(None) => {}
                        Err(code) => response.error_code = code.code(),
                    }
                    response
                })
                .collect();
            ListOffsetsTopicResponse {
                name: topic.name,
                partitions,
                ..Default::default()
            }
        })
        .collect();
    ListOffsetsResponse {
        topics,
        ..Default::default()
    }
}
