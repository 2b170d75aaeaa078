//! The transaction coordinator's runtime: one task owns the `fjord_txn` state machine,
//! feeds it requests, clock ticks, marker reports and producer id blocks, writes its
//! records to `__transaction_state`, has the partitions write its markers, and answers
//! once the records are durable (ADR 0010).
//!
//! The order of every output is the crate's contract (`fjord_txn` docs): records appended
//! and fsynced, then marker writes started, then responses. The records are awaited on
//! the task itself, so the next request sees a state that is already on disk; markers are
//! written by tasks of their own, which report back through the same queue. The internal
//! topic is created on first use, as Kafka does, and replayed at startup.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Weak};
use std::time::Duration;

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::AddPartitionsToTxnRequest;
use fjord_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use fjord_records::{BatchBuilder, ControlRecordType, DecompressionLimits};
use fjord_txn::{
    Output, RequestId, TRANSACTION_STATE_TOPIC, TransactionCoordinator, TransactionResult,
    TxnConfig, TxnMarkers, TxnRecord, TxnRequest,
};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::Broker;
use crate::error_code::ErrorCode;
use crate::handlers::{Outcome, RequestContext};
use crate::internal_topics::{self, now_ms};
use crate::partition::Partition;

/// Partitions of `__transaction_state` (Kafka: transaction.state.log.num.partitions).
const TRANSACTION_STATE_PARTITIONS: i32 = 50;

/// Commands waiting for the coordinator task; more requests wait in their connections.
const COMMANDS_QUEUED_MAX: usize = 1024;

/// Producer ids reserved per block (Kafka's controller hands out blocks of 1000 too).
const PRODUCER_ID_BLOCK_COUNT: i64 = 1000;

/// The first wait before a failed marker write is tried again; it doubles up to
/// [`MARKER_RETRY_BACKOFF_MS_MAX`].
const MARKER_RETRY_BACKOFF_MS_MIN: u64 = 50;

/// The longest wait between two tries of a marker write. Markers are retried until they
/// are written (a transaction cannot complete otherwise), but never more often than this
/// once a partition keeps failing.
const MARKER_RETRY_BACKOFF_MS_MAX: u64 = 5_000;

/// Fjord has one transaction coordinator, never replaced, so its markers carry epoch 0
/// (ADR 0008).
const COORDINATOR_EPOCH: i32 = 0;

// Requests are by far the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// A client's request and where to send its answer.
    Request {
        request: TxnRequest,
        version: i16,
        reply: oneshot::Sender<ResponseKind>,
    },
    /// Every marker of this request is written and durable.
    MarkersWritten(TxnMarkers),
    /// A block of producer ids was reserved durably (or could not be).
    ProducerIds(Result<Range<i64>, String>),
}

/// A handle on the running coordinator.
pub(crate) struct Transactions {
    commands: mpsc::Sender<Command>,
}

/// The coordinator's settings from the broker's.
fn txn_config(broker: &Broker) -> Result<TxnConfig, String> {
    let config = TxnConfig {
        transaction_max_timeout_ms: i32::try_from(broker.config.transaction_max_timeout_ms)
            .map_err(|_| "transaction.max.timeout.ms does not fit an int32".to_owned())?,
        transactional_id_expiration_ms: i64::try_from(broker.config.transactional_id_expiration_ms)
            .unwrap_or(i64::MAX),
        ..TxnConfig::default()
    };
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

impl Transactions {
    /// Creates `__transaction_state` if needed, replays it into a fresh coordinator,
    /// grants it its first producer ids and starts the coordinator task, whose first act
    /// is to execute the output of `finish_replay` (markers of prepared transactions).
    pub async fn start(broker: &Arc<Broker>) -> Result<Transactions, String> {
        let topic = internal_topics::open_or_create(
            broker,
            TRANSACTION_STATE_TOPIC,
            TRANSACTION_STATE_PARTITIONS,
        )
        .await?;
        let mut coordinator = TransactionCoordinator::new(txn_config(broker)?);
        let partitions = topic.partitions.clone();
        let started = std::time::Instant::now();
        let (mut coordinator, replayed) = tokio::task::spawn_blocking(move || {
            let mut replayed = 0u64;
            for partition in &partitions {
                replayed += replay(&mut coordinator, partition)?;
            }
            Ok::<_, String>((coordinator, replayed))
        })
        .await
        .map_err(|e| e.to_string())??;
        // The first block, above every id the log names, before anything is served: a
        // replayed id must never be handed out again.
        let floor = coordinator.highest_producer_id().map_or(0, |id| id + 1);
        let block = broker
            .producer_ids
            .reserve_block(PRODUCER_ID_BLOCK_COUNT, floor)
            .await
            .map_err(|e| format!("cannot reserve producer ids: {e}"))?;
        coordinator.grant_producer_ids(block);
        let first = coordinator.finish_replay(now_ms());
        info!(
            records = replayed,
            transactional_ids = coordinator.transactions().len(),
            ms = started.elapsed().as_millis(),
            "transaction coordinator loaded {TRANSACTION_STATE_TOPIC}"
        );
        let (commands, receiver) = mpsc::channel(COMMANDS_QUEUED_MAX);
        let task = Task {
            coordinator,
            // Weak handles: the task must not keep a shut-down broker (or itself) alive.
            broker: Arc::downgrade(broker),
            partitions: topic.partitions.clone(),
            reports: commands.downgrade(),
            waiting: HashMap::new(),
            next_id: 0,
            allocating: false,
            failed: false,
        };
        tokio::spawn(task.run(receiver, first));
        Ok(Transactions { commands })
    }
}

/// Feeds every record of one `__transaction_state` partition to the coordinator.
///
/// A record that cannot be read stops the replay: skipping it could leave a transaction
/// whose PrepareCommit it was half-committed forever, which is worse than a coordinator
/// that does not start (every transactional request then gets COORDINATOR_NOT_AVAILABLE
/// and the log says which record).
fn replay(coordinator: &mut TransactionCoordinator, partition: &Partition) -> Result<u64, String> {
    let mut replayed = 0;
    internal_topics::for_each_batch(TRANSACTION_STATE_TOPIC, partition, |batch| {
        for record in batch.records(DecompressionLimits::default()) {
            let at_batch = batch.base_offset();
            let record = record.map_err(|e| {
                format!(
                    "{TRANSACTION_STATE_TOPIC}-{} batch at {at_batch}: {e}",
                    partition.index
                )
            })?;
            let at = record.offset(batch);
            if at < partition.log_start_offset() {
                continue;
            }
            let Some(key) = record.key else { continue };
            coordinator
                .replay(&key, record.value.as_deref())
                .map_err(|e| {
                    format!(
                        "{TRANSACTION_STATE_TOPIC}-{} offset {at}: {e}",
                        partition.index
                    )
                })?;
            replayed += 1;
        }
        Ok(())
    })?;
    Ok(replayed)
}

/// The coordinator task's state.
struct Task {
    coordinator: TransactionCoordinator,
    broker: Weak<Broker>,
    /// The partitions of `__transaction_state`.
    partitions: Vec<Arc<Partition>>,
    /// Where marker writers and the producer id allocator report back.
    reports: mpsc::WeakSender<Command>,
    waiting: HashMap<RequestId, oneshot::Sender<ResponseKind>>,
    next_id: RequestId,
    /// A producer id block is being reserved: one allocation at a time.
    allocating: bool,
    /// An append to `__transaction_state` failed: the in-memory state is ahead of the
    /// log, so nothing more is served until a restart replays the log.
    failed: bool,
}

impl Task {
    /// Requests, reports and timers in; records, markers and responses out.
    async fn run(mut self, mut commands: mpsc::Receiver<Command>, first: Output) {
        self.execute(first).await;
        loop {
            let deadline = self.coordinator.next_deadline_ms().filter(|_| !self.failed);
            let sleep = match deadline {
                Some(at) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)),
                None => Duration::from_secs(3600),
            };
            let output = tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(command) => self.command(command),
                },
                _ = tokio::time::sleep(sleep) => {
                    if self.failed { continue }
                    Some(self.coordinator.tick(now_ms()))
                }
            };
            if let Some(output) = output {
                self.execute(output).await;
            }
        }
    }

    /// Applies one command; the output to execute, if any.
    fn command(&mut self, command: Command) -> Option<Output> {
        match command {
            Command::Request {
                request,
                version,
                reply,
            } => {
                if self.failed {
                    // Dropping the reply answers COORDINATOR_NOT_AVAILABLE.
                    return None;
                }
                self.next_id += 1;
                self.waiting.insert(self.next_id, reply);
                Some(
                    self.coordinator
                        .handle(now_ms(), self.next_id, request, version),
                )
            }
            Command::MarkersWritten(markers) => {
                if self.failed {
                    return None;
                }
                Some(self.coordinator.markers_written(now_ms(), &markers))
            }
            Command::ProducerIds(block) => {
                self.allocating = false;
                match block {
                    Ok(block) if !self.failed => self.coordinator.grant_producer_ids(block),
                    Ok(_) => {}
                    // The next output that still wants ids tries again; meanwhile
                    // requests that need one get COORDINATOR_LOAD_IN_PROGRESS.
                    Err(message) => error!(%message, "cannot reserve producer ids"),
                }
                None
            }
        }
    }

    /// Executes an output in the crate's order: records durable, markers started,
    /// responses delivered.
    async fn execute(&mut self, output: Output) {
        let replies: Vec<(oneshot::Sender<ResponseKind>, ResponseKind)> = output
            .responses
            .into_iter()
            .filter_map(|(id, response)| self.waiting.remove(&id).map(|reply| (reply, response)))
            .collect();
        if !output.records.is_empty()
            && let Err(message) = self.append_durably(output.records).await
        {
            error!(
                %message,
                "cannot write {TRANSACTION_STATE_TOPIC}: the transaction coordinator stops serving until a restart"
            );
            self.failed = true;
            self.waiting.clear();
            // Dropping `replies` answers each waiting request COORDINATOR_NOT_AVAILABLE.
            return;
        }
        for markers in output.markers {
            tokio::spawn(write_markers(
                self.broker.clone(),
                markers,
                self.reports.clone(),
            ));
        }
        for (reply, response) in replies {
            let _ = reply.send(response);
        }
        if output.producer_ids_wanted && !self.allocating {
            self.allocate_producer_ids();
        }
    }

    /// Appends the records, one batch per partition in the order they came, and waits
    /// until every one is fsynced.
    async fn append_durably(&self, records: Vec<TxnRecord>) -> Result<(), String> {
        let mut by_partition: BTreeMap<i32, Vec<TxnRecord>> = BTreeMap::new();
        for record in records {
            let partition = fjord_txn::partition_for(
                &record.transactional_id,
                i32::try_from(self.partitions.len()).unwrap_or(i32::MAX),
            );
            by_partition.entry(partition).or_default().push(record);
        }
        let mut appended = Vec::new();
        for (index, records) in by_partition {
            let partition = usize::try_from(index)
                .ok()
                .and_then(|i| self.partitions.get(i))
                .ok_or_else(|| format!("{TRANSACTION_STATE_TOPIC} has no partition {index}"))?;
            let last_offset = append(partition, &records)
                .await
                .map_err(|message| format!("{TRANSACTION_STATE_TOPIC}-{index}: {message}"))?;
            appended.push((partition, last_offset));
        }
        for (partition, last_offset) in appended {
            partition.wait_durable(last_offset).await.map_err(|code| {
                format!(
                    "{TRANSACTION_STATE_TOPIC}-{}: fsync failed ({code:?})",
                    partition.index
                )
            })?;
        }
        Ok(())
    }

    /// Reserves the next block of producer ids off the task; the block comes back as a
    /// command.
    fn allocate_producer_ids(&mut self) {
        let (Some(broker), Some(reports)) = (self.broker.upgrade(), self.reports.upgrade()) else {
            return;
        };
        self.allocating = true;
        let floor = self
            .coordinator
            .highest_producer_id()
            .map_or(0, |id| id + 1);
        tokio::spawn(async move {
            let block = broker
                .producer_ids
                .reserve_block(PRODUCER_ID_BLOCK_COUNT, floor)
                .await
                .map_err(|e| e.to_string());
            drop(broker);
            let _ = reports.send(Command::ProducerIds(block)).await;
        });
    }
}

/// Writes records as one batch; returns the batch's last offset.
async fn append(partition: &Partition, records: &[TxnRecord]) -> Result<i64, String> {
    let key_values = records.iter().map(|r| (&r.key, r.value.as_ref()));
    internal_topics::append(partition, BatchBuilder::new(0), key_values).await
}

/// Writes the markers of one request in all its partitions at once, each retried with
/// backoff until it is written and durable, then reports them written.
async fn write_markers(
    broker: Weak<Broker>,
    markers: TxnMarkers,
    reports: mpsc::WeakSender<Command>,
) {
    let mut writes = Vec::new();
    for (topic, indexes) in &markers.partitions {
        for &index in indexes {
            let broker = broker.clone();
            let topic = topic.clone();
            let markers = markers.clone();
            writes.push(tokio::spawn(async move {
                let mut backoff_ms = MARKER_RETRY_BACKOFF_MS_MIN;
                loop {
                    // A broker that shut down writes nothing more; the markers are asked
                    // for again after the restart.
                    let Some(broker) = broker.upgrade() else {
                        return false;
                    };
                    match write_marker(&broker, &topic, index, &markers).await {
                        Ok(()) => return true,
                        Err(message) => warn!(
                            transactional_id = %markers.transactional_id,
                            partition = %format!("{topic}-{index}"),
                            %message,
                            retry_ms = backoff_ms,
                            "cannot write a transaction marker"
                        ),
                    }
                    drop(broker);
                    tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                    backoff_ms = (backoff_ms * 2).min(MARKER_RETRY_BACKOFF_MS_MAX);
                }
            }));
        }
    }
    for write in writes {
        if !matches!(write.await, Ok(true)) {
            return;
        }
    }
    if let Some(reports) = reports.upgrade() {
        let _ = reports.send(Command::MarkersWritten(markers)).await;
    }
}

/// Writes one COMMIT or ABORT marker into one partition and waits until it is durable.
/// The partition builds Kafka's control batch (control and transactional, the
/// producer's id and epoch, no sequence) and closes the producer's transaction there.
/// A partition that no longer exists (its topic deleted) counts as written, as in
/// Kafka.
async fn write_marker(
    broker: &Arc<Broker>,
    topic: &str,
    index: i32,
    markers: &TxnMarkers,
) -> Result<(), String> {
    let Some(partition) = broker.topic(topic).and_then(|t| {
        usize::try_from(index)
            .ok()
            .and_then(|i| t.partitions.get(i).cloned())
    }) else {
        return Ok(());
    };
    let control_type = match markers.result {
        TransactionResult::Commit => ControlRecordType::Commit,
        TransactionResult::Abort => ControlRecordType::Abort,
    };
    let offset = partition
        .append_end_txn_marker(
            markers.producer_id,
            markers.producer_epoch,
            control_type,
            COORDINATOR_EPOCH,
        )
        .await
        .map_err(|refused| format!("{:?}: {}", refused.code, refused.message))?;
    partition
        .wait_durable(offset)
        .await
        .map_err(|code| format!("fsync failed ({code:?})"))?;
    if topic == crate::groups::CONSUMER_OFFSETS {
        // The transaction's offsets (TxnOffsetCommit) become committed offsets, or are
        // dropped, before the transaction completes.
        broker
            .complete_group_transaction(
                index,
                markers.producer_id,
                markers.producer_epoch,
                markers.result.is_commit(),
            )
            .await?;
    }
    Ok(())
}

impl Broker {
    /// The transaction coordinator, started on first use.
    pub(crate) async fn transactions(self: &Arc<Self>) -> Result<&Transactions, String> {
        self.transactions
            .get_or_try_init(|| Transactions::start(self))
            .await
    }
}

/// Hands a transaction request to the coordinator in the connection's order and answers
/// when the coordinator does; `failed` builds the answer for a coordinator that cannot
/// serve (COORDINATOR_NOT_AVAILABLE, which clients retry).
pub(crate) async fn submit(
    context: &RequestContext,
    request: TxnRequest,
    failed: impl FnOnce(ErrorCode) -> ResponseKind + Send + 'static,
) -> Outcome {
    let transactions = match context.broker.transactions().await {
        Ok(transactions) => transactions,
        Err(message) => {
            error!(%message, "transaction coordinator unavailable");
            return Outcome::Respond(failed(ErrorCode::COORDINATOR_NOT_AVAILABLE));
        }
    };
    let (reply, answer) = oneshot::channel();
    let command = Command::Request {
        request,
        version: context.version(),
        reply,
    };
    if transactions.commands.send(command).await.is_err() {
        return Outcome::Respond(failed(ErrorCode::COORDINATOR_NOT_AVAILABLE));
    }
    Outcome::Later(Box::pin(async move {
        match answer.await {
            Ok(response) => response,
            Err(_) => failed(ErrorCode::COORDINATOR_NOT_AVAILABLE),
        }
    }))
}

/// The AddPartitionsToTxn version the broker asks itself with: the newest, whose
/// verify-only form answers per partition (KIP-890).
const VERIFY_VERSION: i16 = 5;

/// The verify-only AddPartitionsToTxn that a partition leader sends before it appends a
/// transactional batch (KIP-890 part 1): whether each of `partitions` is in the ongoing
/// transaction of `transactional_id` at this producer id and epoch. One round trip
/// through the coordinator task, which writes nothing for it.
///
/// `Ok` holds the coordinator's code per partition (NONE, TRANSACTION_ABORTABLE for a
/// partition outside the transaction, or the error of the whole transaction:
/// INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED, CONCURRENT_TRANSACTIONS...); `Err` says
/// that the coordinator could not answer (COORDINATOR_NOT_AVAILABLE).
pub(crate) async fn verify_partitions(
    broker: &Arc<Broker>,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    partitions: &BTreeMap<String, Vec<i32>>,
) -> Result<HashMap<(String, i32), ErrorCode>, ErrorCode> {
    let transactions = broker.transactions().await.map_err(|message| {
        error!(%message, "transaction coordinator unavailable");
        ErrorCode::COORDINATOR_NOT_AVAILABLE
    })?;
    let request = AddPartitionsToTxnRequest {
        transactions: vec![AddPartitionsToTxnTransaction {
            transactional_id: transactional_id.to_owned(),
            producer_id,
            producer_epoch,
            verify_only: true,
            topics: partitions
                .iter()
                .map(|(name, indexes)| AddPartitionsToTxnTopic {
                    name: name.clone(),
                    partitions: indexes.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let (reply, answer) = oneshot::channel();
    let command = Command::Request {
        request: TxnRequest::AddPartitionsToTxn(request),
        version: VERIFY_VERSION,
        reply,
    };
    transactions
        .commands
        .send(command)
        .await
        .map_err(|_| ErrorCode::COORDINATOR_NOT_AVAILABLE)?;
    let Ok(ResponseKind::AddPartitionsToTxn(response)) = answer.await else {
        return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
    };
    if response.error_code != ErrorCode::NONE.code() {
        return Err(ErrorCode(response.error_code));
    }
    let mut codes = HashMap::new();
    for result in response.results_by_transaction {
        for topic in result.topic_results {
            for partition in topic.results_by_partition {
                codes.insert(
                    (topic.name.clone(), partition.partition_index),
                    ErrorCode(partition.partition_error_code),
                );
            }
        }
    }
    Ok(codes)
}
