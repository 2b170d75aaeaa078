//! Fetch: read record batches from many partitions, waiting for data when asked.
//!
//! A fetch returns at once when it has `min_bytes` of data, or an error to report;
//! otherwise it waits until an append wakes it or `max_wait_ms` passes (long polling,
//! never sleeping in a loop). Limits: `partition_max_bytes` per partition and `max_bytes`
//! for the whole response, except that the first batch found is returned whole even when
//! it is larger (KIP-74), so that a consumer can always make progress.
//!
//! `isolation_level = 1` (read_committed, version 4+) reads only below the last stable
//! offset and lists the aborted transactions overlapping what it returns, so the client
//! drops their records; `last_stable_offset` is reported at both levels. Long polls are
//! woken by markers as well as appends, so a read_committed fetcher sees a commit at
//! once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fjord_protocol::Uuid;
use fjord_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use fjord_protocol::messages::{FetchRequest, FetchResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::fetch_session::{SessionPartitions, SessionStart};
use crate::partition::Partition;

/// Kafka's isolation levels.
const READ_COMMITTED: i8 = 1;

/// One partition to read, resolved from the request or the session.
struct Wanted {
    topic: String,
    topic_id: Uuid,
    index: i32,
    fetch_offset: i64,
    partition_max_bytes: i32,
    current_leader_epoch: i32,
    /// Set when the partition cannot be read at all (unknown topic id, say).
    error: Option<ErrorCode>,
}

/// Answers a Fetch request.
pub(crate) async fn handle(context: &RequestContext, request: FetchRequest) -> FetchResponse {
    let broker = &context.broker;
    let version = context.version();
    let uses_topic_ids = version >= 13;

    // Fetch sessions exist from version 7.
    let session = if version >= 7 {
        broker
            .fetch_sessions
            .lock()
            .map(|mut s| s.start(request.session_id, request.session_epoch))
            .ok()
    } else {
        Some(SessionStart::Sessionless)
    };
    let session = session.unwrap_or(SessionStart::Sessionless);
    if let SessionStart::Error(code) = session {
        return FetchResponse {
            error_code: code.code(),
            session_id: request.session_id,
            ..Default::default()
        };
    }

    // Resolve what the request names; an incremental request names only changes.
    let mut requested = Vec::new();
    for topic in &request.topics {
        let (name, topic_id, error) = if uses_topic_ids {
            match broker.topic_by_id(topic.topic_id) {
                Some(t) => (t.name.clone(), topic.topic_id, None),
                None => (
                    String::new(),
                    topic.topic_id,
                    Some(ErrorCode::UNKNOWN_TOPIC_ID),
                ),
            }
        } else {
            let id = broker
                .topic(&topic.topic)
                .map(|t| t.id)
                .unwrap_or(Uuid::ZERO);
            (topic.topic.clone(), id, None)
        };
        for partition in &topic.partitions {
            requested.push(Wanted {
                topic: name.clone(),
                topic_id,
                index: partition.partition,
                fetch_offset: partition.fetch_offset,
                partition_max_bytes: partition.partition_max_bytes,
                current_leader_epoch: partition.current_leader_epoch,
                error,
            });
        }
    }

    let (session_id, mut session_partitions, incremental) = match session {
        SessionStart::Sessionless => (0, None, false),
        SessionStart::New(id) => (id, Some(SessionPartitions::default()), false),
        SessionStart::Incremental(id, partitions) => (id, Some(partitions), true),
        SessionStart::Error(_) => (0, None, false),
    };
    let wanted = match &mut session_partitions {
        Some(partitions) => {
            for forgotten in &request.forgotten_topics_data {
                let name = if uses_topic_ids {
                    broker
                        .topic_by_id(forgotten.topic_id)
                        .map(|t| t.name.clone())
                        .unwrap_or_default()
                } else {
                    forgotten.topic.clone()
                };
                for index in &forgotten.partitions {
                    partitions.forget(&name, *index);
                }
            }
            let mut epochs = HashMap::new();
            for w in requested.iter().filter(|w| w.error.is_none()) {
                partitions.upsert(&w.topic, w.index, w.fetch_offset, w.partition_max_bytes);
                epochs.insert((w.topic.clone(), w.index), w.current_leader_epoch);
            }
            let mut all: Vec<Wanted> = partitions
                .order
                .iter()
                .filter_map(|key| {
                    let p = partitions.by_key.get(key)?;
                    Some(Wanted {
                        topic: key.0.clone(),
                        topic_id: broker.topic(&key.0).map(|t| t.id).unwrap_or(Uuid::ZERO),
                        index: key.1,
                        fetch_offset: p.fetch_offset,
                        partition_max_bytes: p.partition_max_bytes,
                        current_leader_epoch: epochs.get(key).copied().unwrap_or(-1),
                        error: None,
                    })
                })
                .collect();
            // Partitions with an unresolvable topic id are answered once, not remembered.
            all.extend(requested.into_iter().filter(|w| w.error.is_some()));
            all
        }
        None => requested,
    };

    let max_wait = Duration::from_millis(
        u64::try_from(request.max_wait_ms)
            .unwrap_or(0)
            .min(broker.config.fetch_wait_ms_max),
    );
    let deadline = tokio::time::Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let max_bytes = usize::try_from(request.max_bytes).unwrap_or(0);
    let read_committed = version >= 4 && request.isolation_level == READ_COMMITTED;

    let partitions: Vec<Option<Arc<Partition>>> = wanted
        .iter()
        .map(|w| broker.topic(&w.topic).and_then(|t| t.partition(w.index)))
        .collect();
    let results = loop {
        // Register for wake-ups before reading, so an append between the read and the
        // wait is not missed.
        let appended = broker.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();

        let results = read_all(&wanted, &partitions, max_bytes, read_committed);
        let bytes: usize = results.iter().map(|r| r.records.len()).sum();
        let has_error = results
            .iter()
            .any(|r| r.error_code != ErrorCode::NONE.code());
        if bytes >= min_bytes || has_error || tokio::time::Instant::now() >= deadline {
            break results;
        }
        if tokio::time::timeout_at(deadline, appended).await.is_err() {
            // Timed out: answer with what there is now.
            break read_all(&wanted, &partitions, max_bytes, read_committed);
        }
    };

    // Build the response, keeping only partitions with news in an incremental session.
    let mut responses: Vec<FetchableTopicResponse> = Vec::new();
    for (w, result) in wanted.iter().zip(results) {
        let mut news = true;
        if let Some(partitions) = &mut session_partitions
            && let Some(state) = partitions.by_key.get_mut(&(w.topic.clone(), w.index))
        {
            news = !result.records.is_empty()
                || result.error_code != ErrorCode::NONE.code()
                || state.last_high_watermark != result.high_watermark
                || state.last_stable_offset != result.last_stable_offset
                || state.last_log_start_offset != result.log_start_offset;
            state.last_high_watermark = result.high_watermark;
            state.last_stable_offset = result.last_stable_offset;
            state.last_log_start_offset = result.log_start_offset;
        }
        if incremental && !news {
            continue;
        }
        let data = PartitionData {
            partition_index: w.index,
            error_code: result.error_code,
            high_watermark: result.high_watermark,
            last_stable_offset: result.last_stable_offset,
            log_start_offset: result.log_start_offset,
            aborted_transactions: if read_committed {
                Some(
                    result
                        .aborted_transactions
                        .iter()
                        .map(|&(producer_id, first_offset)| AbortedTransaction {
                            producer_id,
                            first_offset,
                            ..Default::default()
                        })
                        .collect(),
                )
            } else {
                None
            },
            preferred_read_replica: -1,
            records: Some(result.records),
            ..Default::default()
        };
        let same_topic = responses.last().is_some_and(|t| {
            if uses_topic_ids {
                t.topic_id == w.topic_id
            } else {
                t.topic == w.topic
            }
        });
        if same_topic {
            if let Some(last) = responses.last_mut() {
                last.partitions.push(data);
            }
        } else {
            responses.push(FetchableTopicResponse {
                topic: if uses_topic_ids {
                    String::new()
                } else {
                    w.topic.clone()
                },
                topic_id: if uses_topic_ids {
                    w.topic_id
                } else {
                    Uuid::ZERO
                },
                partitions: vec![data],
                ..Default::default()
            });
        }
    }
    if let Some(partitions) = session_partitions
        && let Ok(mut sessions) = broker.fetch_sessions.lock()
    {
        sessions.finish(session_id, partitions);
    }
    FetchResponse {
        error_code: ErrorCode::NONE.code(),
        session_id,
        responses,
        ..Default::default()
    }
}

struct PartitionResult {
    error_code: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    records: Bytes,
    /// (producer id, first offset), for read_committed.
    aborted_transactions: Vec<(i64, i64)>,
}

/// Reads every wanted partition once, within the byte limits.
fn read_all(
    wanted: &[Wanted],
    partitions: &[Option<Arc<Partition>>],
    max_bytes: usize,
    read_committed: bool,
) -> Vec<PartitionResult> {
    let mut remaining = max_bytes;
    let mut any_data = false;
    wanted
        .iter()
        .zip(partitions)
        .map(|(w, partition)| {
            let failed = |code: ErrorCode| PartitionResult {
                error_code: code.code(),
                high_watermark: -1,
                last_stable_offset: -1,
                log_start_offset: -1,
                records: Bytes::new(),
                aborted_transactions: Vec::new(),
            };
            if let Some(code) = w.error {
                return failed(code);
            }
            let Some(partition) = partition else {
                return failed(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
            };
            let epoch_error = partition.check_leader_epoch(w.current_leader_epoch);
            if epoch_error != ErrorCode::NONE {
                return failed(epoch_error);
            }
            let limit = usize::try_from(w.partition_max_bytes)
                .unwrap_or(0)
                .min(remaining);
            match partition.read_isolated(w.fetch_offset, limit, !any_data, read_committed) {
                Ok(read) => {
                    remaining = remaining.saturating_sub(read.records.len());
                    any_data |= !read.records.is_empty();
                    PartitionResult {
                        error_code: ErrorCode::NONE.code(),
                        high_watermark: read.high_watermark,
                        last_stable_offset: read.last_stable_offset,
                        log_start_offset: read.log_start_offset,
                        records: read.records,
                        aborted_transactions: read.aborted_transactions.unwrap_or_default(),
                    }
                }
                Err(code) => PartitionResult {
                    error_code: code.code(),
                    high_watermark: partition.high_watermark(),
                    last_stable_offset: partition.last_stable_offset(),
                    log_start_offset: partition.log_start_offset(),
                    records: Bytes::new(),
                    aborted_transactions: Vec::new(),
                },
            }
        })
        .collect()
}
