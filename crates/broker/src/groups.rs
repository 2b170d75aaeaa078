//! The group coordinator's runtime: one task owns the `fjord_group` state machine, feeds
//! it requests and clock ticks, writes what it asks to `__consumer_offsets`, and
//! delivers its responses once those records are durable.
//!
//! The state machine does no I/O, so everything about time, disk and networking is here.
//! Requests reach the task through a bounded queue in the order each connection sent
//! them; a request's answer may come much later (JoinGroup waits for the rebalance).
//! The internal topic is created on first use, as Kafka does, and replayed at startup.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use fjord_group::assignor::TopicInfo;
use fjord_group::{
    GroupConfig, GroupCoordinator, GroupRecord, GroupRequest, Output, RequestId,
    TransactionalGroupRecord,
};
use fjord_protocol::ResponseKind;
use fjord_records::{BatchBuilder, ControlRecordType, DecompressionLimits, EndTransactionMarker};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::Broker;
use crate::error_code::ErrorCode;
use crate::handlers::{Outcome, RequestContext};
use crate::internal_topics::{self, now_ms};
use crate::partition::Partition;

/// Kafka's internal topic of committed offsets and group metadata.
pub(crate) const CONSUMER_OFFSETS: &str = "__consumer_offsets";

/// Partitions of `__consumer_offsets` (Kafka: offsets.topic.num.partitions).
const OFFSETS_TOPIC_PARTITIONS: i32 = 50;

/// Requests waiting for the coordinator task; more wait in their connections.
const COMMANDS_QUEUED_MAX: usize = 1024;

// Requests are by far the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// A client's request and where to send its answer.
    Request {
        request: GroupRequest,
        version: i16,
        client_id: String,
        client_host: String,
        reply: oneshot::Sender<ResponseKind>,
    },
    /// Topics were deleted: their committed offsets go too, as in Kafka.
    TopicsDeleted(Vec<String>),
    /// A transaction marker is durable in this `__consumer_offsets` partition: the
    /// producer's pending transactional offsets are committed or dropped.
    TransactionMarker {
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        done: oneshot::Sender<()>,
    },
}

/// The next sequence number of each producer's transactional offset commits in each
/// `__consumer_offsets` partition: the log checks them as it checks a client's, so the
/// coordinator numbers its batches as a producer would (rebuilt by the replay).
#[derive(Default)]
struct Sequences {
    /// (partition, producer id) to (epoch, next sequence).
    next: HashMap<(i32, i64), (i16, i32)>,
}

impl Sequences {
    /// The sequence of a batch of `count` records, now counted as written.
    fn take(&mut self, partition: i32, producer_id: i64, epoch: i16, count: i32) -> i32 {
        let entry = self
            .next
            .entry((partition, producer_id))
            .or_insert((epoch, 0));
        if epoch > entry.0 {
            // A new epoch starts at 0, as the log expects.
            *entry = (epoch, 0);
        }
        let base = entry.1;
        entry.1 = base.wrapping_add(count) & i32::MAX;
        base
    }

    /// A batch read back (or a marker): the log's producer state moves the same way.
    fn saw(&mut self, partition: i32, producer_id: i64, epoch: i16, next: Option<i32>) {
        let entry = self
            .next
            .entry((partition, producer_id))
            .or_insert((epoch, 0));
        if epoch > entry.0 {
            // A marker or batch of a newer epoch forgets the old epoch's batches.
            *entry = (epoch, 0);
        }
        if let Some(next) = next {
            entry.1 = next & i32::MAX;
        }
    }
}

/// A handle on the running coordinator.
pub(crate) struct Groups {
    commands: mpsc::Sender<Command>,
}

/// Kafka's choice of partition for a group: `abs(groupId.hashCode()) % partitions`, with
/// Java's String hash, so a group lives where Kafka tools expect it.
pub(crate) fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    (hash & 0x7fff_ffff) % partitions.max(1)
}

impl Groups {
    /// Creates `__consumer_offsets` if needed, replays it into a fresh coordinator and
    /// starts the coordinator task.
    pub async fn start(broker: &Arc<Broker>) -> Result<Groups, String> {
        let topic =
            internal_topics::open_or_create(broker, CONSUMER_OFFSETS, OFFSETS_TOPIC_PARTITIONS)
                .await?;
        let config = &broker.config;
        let clamp = |value: u64| i32::try_from(value).unwrap_or(i32::MAX);
        let mut coordinator = GroupCoordinator::new(GroupConfig {
            group_min_session_timeout_ms: clamp(config.group_session_timeout_ms_min),
            group_max_session_timeout_ms: clamp(config.group_session_timeout_ms_max),
            group_initial_rebalance_delay_ms: clamp(config.group_initial_rebalance_delay_ms),
            offsets_retention_minutes: clamp(config.offsets_retention_minutes),
            group_consumer_session_timeout_ms: clamp(config.group_consumer_session_timeout_ms),
            group_consumer_heartbeat_interval_ms: clamp(
                config.group_consumer_heartbeat_interval_ms,
            ),
            ..GroupConfig::default()
        });
        let partitions = topic.partitions.clone();
        let started = std::time::Instant::now();
        let (coordinator, sequences, replayed) = tokio::task::spawn_blocking(move || {
            let mut replayed = 0u64;
            let mut sequences = Sequences::default();
            for partition in &partitions {
                replayed += replay(&mut coordinator, &mut sequences, partition)?;
            }
            coordinator.finish_replay(now_ms());
            Ok::<_, String>((coordinator, sequences, replayed))
        })
        .await
        .map_err(|e| e.to_string())??;
        info!(
            records = replayed,
            ms = started.elapsed().as_millis(),
            "group coordinator loaded {CONSUMER_OFFSETS}"
        );
        let (commands, receiver) = mpsc::channel(COMMANDS_QUEUED_MAX);
        // A weak handle: the task must not keep a shut-down broker alive.
        tokio::spawn(run(
            coordinator,
            sequences,
            Arc::downgrade(broker),
            topic.partitions.clone(),
            receiver,
        ));
        Ok(Groups { commands })
    }
}

/// Feeds every record of one `__consumer_offsets` partition to the coordinator.
fn replay(
    coordinator: &mut GroupCoordinator,
    sequences: &mut Sequences,
    partition: &Partition,
) -> Result<u64, String> {
    let mut replayed = 0;
    internal_topics::for_each_batch(CONSUMER_OFFSETS, partition, |batch| {
        let attributes = batch.attributes();
        let producer_id = batch.producer_id();
        let producer_epoch = batch.producer_epoch();
        if producer_id >= 0 {
            let next = (!attributes.is_control()).then(|| {
                batch
                    .base_sequence()
                    .wrapping_add(batch.last_offset_delta())
                    .wrapping_add(1)
            });
            sequences.saw(partition.index, producer_id, producer_epoch, next);
        }
        for record in batch.records(DecompressionLimits::default()) {
            let record =
                record.map_err(|e| format!("{CONSUMER_OFFSETS}-{}: {e}", partition.index))?;
            if record.offset(batch) < partition.log_start_offset() {
                continue;
            }
            let outcome = if attributes.is_control() {
                // A transaction's COMMIT or ABORT marker resolves its offsets.
                match EndTransactionMarker::from_record(&record) {
                    Ok(marker) => coordinator.replay_transaction_marker(
                        producer_id,
                        producer_epoch,
                        marker.control_type == ControlRecordType::Commit,
                    ),
                    Err(error) => {
                        warn!(partition = partition.index, %error, "skipped an unreadable transaction marker");
                        Ok(())
                    }
                }
            } else if attributes.is_transactional() {
                let Some(key) = record.key else { continue };
                coordinator.replay_transactional(producer_id, &key, record.value.as_deref())
            } else {
                let Some(key) = record.key else { continue };
                coordinator.replay(&key, record.value.as_deref())
            };
            if let Err(error) = outcome {
                // A record this version cannot read is skipped, not fatal: the rest
                // of the groups stay usable.
                warn!(partition = partition.index, %error, "skipped an unreadable group record");
            }
            replayed += 1;
        }
        Ok(())
    })?;
    Ok(replayed)
}

/// The coordinator task: requests and timers in, records and responses out.
async fn run(
    mut coordinator: GroupCoordinator,
    mut sequences: Sequences,
    broker: Weak<Broker>,
    partitions: Vec<Arc<Partition>>,
    mut commands: mpsc::Receiver<Command>,
) {
    let mut waiting: HashMap<RequestId, oneshot::Sender<ResponseKind>> = HashMap::new();
    let mut next_id: RequestId = 0;
    let mut topics_seen: Vec<TopicInfo> = Vec::new();
    loop {
        let deadline = coordinator.next_deadline_ms();
        let sleep = match deadline {
            Some(at) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)),
            None => Duration::from_secs(3600),
        };
        let output = tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(Command::Request { request, version, client_id, client_host, reply }) => {
                    // Consumer groups assign partitions of the topics that exist now.
                    if matches!(
                        request,
                        GroupRequest::ConsumerGroupHeartbeat(_) | GroupRequest::ConsumerGroupDescribe(_)
                    ) && let Some(broker) = broker.upgrade()
                    {
                        let topics = topic_infos(&broker);
                        if topics != topics_seen {
                            let output = coordinator.set_topics(now_ms(), topics.clone());
                            topics_seen = topics;
                            let refused = deliver(output, &partitions, &mut sequences, &mut waiting).await;
                            coordinator.transactional_records_failed(&refused);
                        }
                    }
                    next_id += 1;
                    waiting.insert(next_id, reply);
                    coordinator.handle(now_ms(), next_id, request, version, &client_id, &client_host)
                }
                Some(Command::TopicsDeleted(topics)) => coordinator.delete_offsets_of_topics(now_ms(), &topics),
                Some(Command::TransactionMarker { partition, producer_id, producer_epoch, commit, done }) => {
                    sequences.saw(partition, producer_id, producer_epoch, None);
                    let output = coordinator.complete_transaction(now_ms(), producer_id, producer_epoch, commit);
                    let _ = done.send(());
                    output
                }
            },
            _ = tokio::time::sleep(sleep) => coordinator.tick(now_ms()),
        };
        let refused = deliver(output, &partitions, &mut sequences, &mut waiting).await;
        // Offsets the log refused are not pending: a COMMIT must not show them.
        coordinator.transactional_records_failed(&refused);
    }
}

/// The topics clients may consume, as the assignors see them.
fn topic_infos(broker: &Broker) -> Vec<TopicInfo> {
    broker
        .topics()
        .iter()
        .filter(|topic| !topic.internal)
        .map(|topic| TopicInfo {
            id: topic.id,
            name: topic.name.clone(),
            partitions: i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
        })
        .collect()
}

/// Appends the output's records in order, then answers once they are durable. Returns
/// the transactional records the log refused.
async fn deliver(
    output: Output,
    partitions: &[Arc<Partition>],
    sequences: &mut Sequences,
    waiting: &mut HashMap<RequestId, oneshot::Sender<ResponseKind>>,
) -> Vec<TransactionalGroupRecord> {
    let mut refused = Vec::new();
    let replies: Vec<(oneshot::Sender<ResponseKind>, ResponseKind)> = output
        .responses
        .into_iter()
        .filter_map(|(id, response)| waiting.remove(&id).map(|reply| (reply, response)))
        .collect();
    if output.records.is_empty() && output.transactional_records.is_empty() {
        for (reply, response) in replies {
            let _ = reply.send(response);
        }
        return refused;
    }
    let mut durable_waits = Vec::new();
    let mut failed = false;
    for (partition, records) in by_partition(output.records, partitions.len() as i32) {
        let Some(partition) = partitions.get(partition as usize).cloned() else {
            failed = true;
            continue;
        };
        match append(&partition, &records).await {
            Ok(last_offset) => durable_waits.push((partition, last_offset)),
            Err(message) => {
                error!(partition = partition.index, %message, "cannot write group records");
                failed = true;
            }
        }
    }
    for ((partition, producer_id, producer_epoch), records) in
        by_transaction(output.transactional_records, partitions.len() as i32)
    {
        let Some(partition) = partitions.get(partition as usize).cloned() else {
            failed = true;
            refused.extend(records);
            continue;
        };
        let count = i32::try_from(records.len()).unwrap_or(i32::MAX);
        let sequence = sequences.take(partition.index, producer_id, producer_epoch, count);
        let batch: Vec<GroupRecord> = records.iter().map(|r| r.record.clone()).collect();
        match append_transactional(&partition, producer_id, producer_epoch, sequence, &batch).await
        {
            Ok(last_offset) => durable_waits.push((partition, last_offset)),
            Err(message) => {
                // Nothing was written: the next batch takes this sequence again.
                sequences.saw(partition.index, producer_id, producer_epoch, Some(sequence));
                // A fenced producer's epoch is refused by the log: its commit fails.
                warn!(partition = partition.index, producer_id, %message, "cannot write transactional offsets");
                failed = true;
                refused.extend(records);
            }
        }
    }
    // The answers wait for the fsync off the coordinator task, so that it can go on.
    tokio::spawn(async move {
        for (partition, last_offset) in durable_waits {
            failed |= partition.wait_durable(last_offset).await.is_err();
        }
        if failed {
            // Dropping the replies makes each waiting handler answer with its error:
            // the client retries against a coordinator that may recover.
            return;
        }
        for (reply, response) in replies {
            let _ = reply.send(response);
        }
    });
    refused
}

/// Groups records by their `__consumer_offsets` partition, keeping their order.
fn by_partition(records: Vec<GroupRecord>, partitions: i32) -> BTreeMap<i32, Vec<GroupRecord>> {
    let mut out: BTreeMap<i32, Vec<GroupRecord>> = BTreeMap::new();
    for record in records {
        out.entry(partition_for(&record.group_id, partitions))
            .or_default()
            .push(record);
    }
    out
}

/// Groups transactional records by partition and producer, keeping their order.
fn by_transaction(
    records: Vec<TransactionalGroupRecord>,
    partitions: i32,
) -> BTreeMap<(i32, i64, i16), Vec<TransactionalGroupRecord>> {
    let mut out: BTreeMap<(i32, i64, i16), Vec<TransactionalGroupRecord>> = BTreeMap::new();
    for record in records {
        let partition = partition_for(&record.record.group_id, partitions);
        out.entry((partition, record.producer_id, record.producer_epoch))
            .or_default()
            .push(record);
    }
    out
}

/// Writes a transaction's offset commits as one transactional batch of its producer;
/// returns the batch's last offset.
async fn append_transactional(
    partition: &Partition,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    records: &[GroupRecord],
) -> Result<i64, String> {
    let builder = BatchBuilder::new(0)
        .producer(producer_id, producer_epoch, base_sequence)
        .transactional(true);
    internal_topics::append(partition, builder, key_values(records)).await
}

/// Writes records as one batch; returns the batch's last offset.
async fn append(partition: &Partition, records: &[GroupRecord]) -> Result<i64, String> {
    internal_topics::append(partition, BatchBuilder::new(0), key_values(records)).await
}

fn key_values(records: &[GroupRecord]) -> impl Iterator<Item = (&Bytes, Option<&Bytes>)> {
    records.iter().map(|r| (&r.key, r.value.as_ref()))
}

impl Broker {
    /// Tells a running coordinator that topics are gone, so their offsets go too.
    pub(crate) async fn forget_topics_in_groups(&self, topics: Vec<String>) {
        if let Some(groups) = self.groups.get() {
            let _ = groups.commands.send(Command::TopicsDeleted(topics)).await;
        }
    }

    /// Tells the group coordinator that a transaction marker is durable in
    /// `__consumer_offsets` partition `partition`, and waits until it has committed or
    /// dropped the transaction's offsets.
    pub(crate) async fn complete_group_transaction(
        self: &Arc<Self>,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), String> {
        let groups = self.groups().await?;
        let (done, finished) = oneshot::channel();
        groups
            .commands
            .send(Command::TransactionMarker {
                partition,
                producer_id,
                producer_epoch,
                commit,
                done,
            })
            .await
            .map_err(|_| "the group coordinator stopped".to_owned())?;
        finished
            .await
            .map_err(|_| "the group coordinator stopped".to_owned())
    }

    /// The group coordinator, started on first use.
    pub(crate) async fn groups(self: &Arc<Self>) -> Result<&Groups, String> {
        self.groups.get_or_try_init(|| Groups::start(self)).await
    }
}

/// Hands a group request to the coordinator in the connection's order and answers when
/// the coordinator does; `failed` builds the answer for a coordinator that cannot serve.
pub(crate) async fn submit(
    context: &RequestContext,
    request: GroupRequest,
    failed: impl FnOnce(ErrorCode) -> ResponseKind + Send + 'static,
) -> Outcome {
    let groups = match context.broker.groups().await {
        Ok(groups) => groups,
        Err(message) => {
            error!(%message, "group coordinator unavailable");
            return Outcome::Respond(failed(ErrorCode::COORDINATOR_NOT_AVAILABLE));
        }
    };
    let (reply, answer) = oneshot::channel();
    let command = Command::Request {
        request,
        version: context.version(),
        client_id: context.header.client_id.clone().unwrap_or_default(),
        client_host: format!("/{}", context.peer.ip()),
        reply,
    };
    if groups.commands.send(command).await.is_err() {
        return Outcome::Respond(failed(ErrorCode::COORDINATOR_NOT_AVAILABLE));
    }
    Outcome::Later(Box::pin(async move {
        match answer.await {
            Ok(response) => response,
            Err(_) => failed(ErrorCode::COORDINATOR_NOT_AVAILABLE),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_land_on_the_partitions_kafka_picks() {
        // From Java 17: (s.hashCode() & 0x7fffffff) % 50, as Kafka's Utils.abs does.
        for (group, partition) in [
            ("my-group", 36),
            ("billing", 39),
            ("consumer-group-é", 4),
            ("a", 47),
        ] {
            assert_eq!(partition_for(group, 50), partition, "{group}");
        }
    }
}
