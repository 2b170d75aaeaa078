//! The coordinator: dispatch of requests, the transitions of Kafka's
//! `TransactionMetadata`, markers, timers, and the rebuild from `__transaction_state`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use fjord_protocol::ResponseKind;
use fjord_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use fjord_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use fjord_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, DescribeTransactionsRequest, DescribeTransactionsResponse,
    EndTxnRequest, EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListTransactionsRequest, ListTransactionsResponse, describe_transactions_response,
    list_transactions_response,
};

use crate::config::TxnConfig;
use crate::error::{ErrorCode, ReplayError};
use crate::producer_ids::ProducerIds;
use crate::records::{self, RECORD_STRING_BYTES_MAX};
use crate::state::{
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, Partitions, TransactionMetadata, TransactionState,
    is_epoch_exhausted,
};
use crate::timers::{Timer, Timers};
use crate::{
    CONSUMER_OFFSETS_TOPIC, Output, RequestId, TransactionResult, TxnMarkers, TxnRecord,
    TxnRequest, partition_for,
};

/// Kafka's transaction coordinator as a state machine: it owns every transactional id
/// (Fjord's single node coordinates all of them) and is driven by plain calls with the
/// time passed in, so that tests drive it with a fake clock.
///
/// See the [crate documentation](crate) for the contract with the runtime.
#[derive(Debug)]
pub struct TransactionCoordinator {
    config: TxnConfig,
    transactions: BTreeMap<String, TransactionMetadata>,
    timers: Timers,
    producer_ids: ProducerIds,
    /// Whether the replay is over and requests are served.
    started: bool,
    /// The marker request outstanding for each transaction in PrepareCommit or
    /// PrepareAbort, by [`TxnMarkers::markers_id`].
    pending_markers: BTreeMap<String, u64>,
    /// The next [`TxnMarkers::markers_id`].
    next_markers_id: u64,
}

/// A transactional id's durable state, as a reader (tests, admin tools) sees it. Two
/// coordinators with the same snapshots hold the same durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionSnapshot {
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The state.
    pub state: TransactionState,
    /// `transaction.timeout.ms` of the producer.
    pub timeout_ms: i32,
    /// The transaction's partitions, by topic.
    pub partitions: Vec<(String, Vec<i32>)>,
    /// When the current (or last) transaction started; -1 if none has.
    pub start_timestamp_ms: i64,
    /// When the state last changed.
    pub last_update_timestamp_ms: i64,
}

impl From<&TransactionMetadata> for TransactionSnapshot {
    fn from(metadata: &TransactionMetadata) -> Self {
        TransactionSnapshot {
            producer_id: metadata.producer_id,
            producer_epoch: metadata.producer_epoch,
            state: metadata.state,
            timeout_ms: metadata.timeout_ms,
            partitions: metadata.partition_list(),
            start_timestamp_ms: metadata.start_timestamp_ms,
            last_update_timestamp_ms: metadata.last_update_timestamp_ms,
        }
    }
}

/// A producer id and epoch, or the error that answers instead.
type InitResult = Result<(i64, i16), ErrorCode>;

impl TransactionCoordinator {
    /// A coordinator without transactional ids or producer ids. Check `config` with
    /// [`TxnConfig::validate`] first.
    pub fn new(config: TxnConfig) -> Self {
        TransactionCoordinator {
            config,
            transactions: BTreeMap::new(),
            timers: Timers::default(),
            producer_ids: ProducerIds::default(),
            started: false,
            pending_markers: BTreeMap::new(),
            next_markers_id: 0,
        }
    }

    /// Gives the coordinator a block of producer ids to hand out, allocated durably by
    /// the runtime. Blocks must be non-empty, non-negative, and each above every id
    /// granted before and every id in `__transaction_state` (see
    /// [`highest_producer_id`](Self::highest_producer_id)); anything else is a bug in the
    /// runtime, and panics.
    pub fn grant_producer_ids(&mut self, block: Range<i64>) {
        self.producer_ids.grant(block);
    }

    /// How many granted producer ids are left.
    pub fn producer_ids_remaining(&self) -> i64 {
        self.producer_ids.remaining()
    }

    /// The highest producer id in the replayed (or current) state, if any: the runtime's
    /// allocator must grant ids above it.
    pub fn highest_producer_id(&self) -> Option<i64> {
        self.transactions
            .values()
            .flat_map(|m| [m.producer_id, m.last_producer_id])
            .max()
            .filter(|id| *id >= 0)
    }

    /// Handles one request. `version` is the request's API version (responses and some
    /// error codes depend on it). The response comes in the returned [`Output`], always
    /// exactly once per [`RequestId`].
    pub fn handle(
        &mut self,
        now_ms: i64,
        id: RequestId,
        request: TxnRequest,
        version: i16,
    ) -> Output {
        let mut out = Output::default();
        self.start(now_ms, &mut out);
        let response = match request {
            TxnRequest::InitProducerId(request) => {
                let (error, producer_id, producer_epoch) =
                    match self.init_producer_id(now_ms, &request, &mut out) {
                        Ok((producer_id, epoch)) => (ErrorCode::NONE, producer_id, epoch),
                        Err(error) => (error, NO_PRODUCER_ID, NO_PRODUCER_EPOCH),
                    };
                ResponseKind::InitProducerId(InitProducerIdResponse {
                    error_code: fenced_for_version(error, version, 4).code(),
                    producer_id,
                    producer_epoch,
                    ..Default::default()
                })
            }
            TxnRequest::AddPartitionsToTxn(request) => ResponseKind::AddPartitionsToTxn(
                self.add_partitions_to_txn(now_ms, request, version, &mut out),
            ),
            TxnRequest::AddOffsetsToTxn(request) => {
                let error = self.add_offsets_to_txn(now_ms, &request, &mut out);
                ResponseKind::AddOffsetsToTxn(AddOffsetsToTxnResponse {
                    error_code: fenced_for_version(error, version, 2).code(),
                    ..Default::default()
                })
            }
            TxnRequest::EndTxn(request) => {
                let error = self.end_txn(now_ms, &request, &mut out);
                ResponseKind::EndTxn(EndTxnResponse {
                    error_code: fenced_for_version(error, version, 2).code(),
                    ..Default::default()
                })
            }
            TxnRequest::DescribeTransactions(request) => {
                ResponseKind::DescribeTransactions(self.describe_transactions(&request))
            }
            TxnRequest::ListTransactions(request) => {
                ResponseKind::ListTransactions(self.list_transactions(now_ms, &request, version))
            }
        };
        out.responses.push((id, response));
        self.finish(&mut out);
        out
    }

    /// The runtime wrote every marker that `markers` asked for: the PrepareCommit or
    /// PrepareAbort it was for completes (CompleteCommit or CompleteAbort, with a
    /// record). A report that is not for the outstanding request of the current
    /// transaction (a repeated or late one, or one from before a restart) changes
    /// nothing.
    pub fn markers_written(&mut self, now_ms: i64, markers: &TxnMarkers) -> Output {
        let mut out = Output::default();
        self.start(now_ms, &mut out);
        let id = &markers.transactional_id;
        let outstanding = self.pending_markers.get(id) == Some(&markers.markers_id)
            && self.transactions.get(id).is_some_and(|m| {
                m.state.is_prepare()
                    && m.producer_id == markers.producer_id
                    && m.producer_epoch == markers.producer_epoch
            });
        if outstanding {
            self.complete(now_ms, id, &mut out);
        }
        self.finish(&mut out);
        out
    }

    /// Fires every timer due at `now_ms`: aborts transactions past their
    /// `transaction.timeout.ms` and removes transactional ids idle for
    /// `transactional.id.expiration.ms`.
    pub fn tick(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        self.start(now_ms, &mut out);
        while let Some(timer) = self.timers.pop_due(now_ms) {
            match timer {
                Timer::TransactionTimeout { transactional_id } => {
                    // The timer is armed only while Ongoing (see `rearm`).
                    self.abort_with_fence(now_ms, &transactional_id, &mut out);
                }
                Timer::Expiration { transactional_id } => {
                    self.transactions.remove(&transactional_id);
                    let key = records::key(&transactional_id)
                        .expect("a stored transactional id fits a key");
                    out.records.push(TxnRecord {
                        transactional_id,
                        key,
                        value: None,
                    });
                }
            }
        }
        self.finish(&mut out);
        out
    }

    /// When [`tick`](Self::tick) next has something to do, if ever.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.timers.first()
    }

    /// Rebuilds state from `__transaction_state` at startup, record by record in log
    /// order (a `None` value is a tombstone). An error means this record was not applied,
    /// and the replay can go on with the next one; the runtime decides whether a record it
    /// cannot read is worth refusing to start.
    ///
    /// Replay must come before the first other call, which ends it as
    /// [`finish_replay`](Self::finish_replay) does.
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), ReplayError> {
        if self.started {
            return Err(ReplayError::AfterStart);
        }
        let transactional_id = records::parse_key(key)?;
        match value {
            Some(value) => {
                let metadata = records::parse_value(&transactional_id, value)?;
                self.transactions.insert(transactional_id, metadata);
            }
            None => {
                self.transactions.remove(&transactional_id);
            }
        }
        Ok(())
    }

    /// Ends the replay and starts serving: arms the timers of every transactional id and
    /// (re)issues the markers of every transaction found in PrepareCommit or PrepareAbort,
    /// so that a crash in any state completes or aborts. The runtime must execute this
    /// output like any other. A second call does nothing.
    pub fn finish_replay(&mut self, now_ms: i64) -> Output {
        let mut out = Output::default();
        self.start(now_ms, &mut out);
        self.finish(&mut out);
        out
    }

    /// The durable state of one transactional id.
    pub fn transaction(&self, transactional_id: &str) -> Option<TransactionSnapshot> {
        self.transactions.get(transactional_id).map(Into::into)
    }

    /// The durable state of every transactional id, in id order.
    pub fn transactions(&self) -> BTreeMap<String, TransactionSnapshot> {
        self.transactions
            .iter()
            .map(|(id, m)| (id.clone(), m.into()))
            .collect()
    }

    // ----- the lifecycle -----

    fn start(&mut self, now_ms: i64, out: &mut Output) {
        if self.started {
            return;
        }
        self.started = true;
        let ids: Vec<String> = self.transactions.keys().cloned().collect();
        for id in ids {
            self.rearm(&id);
            if self
                .transactions
                .get(&id)
                .is_some_and(|m| m.state.is_prepare())
            {
                self.send_markers(now_ms, &id, out);
            }
        }
    }

    /// What every output ends with: the producer id request, and the invariants.
    fn finish(&mut self, out: &mut Output) {
        out.producer_ids_wanted =
            self.producer_ids.remaining() < self.config.producer_ids_low_water_count;
        #[cfg(debug_assertions)]
        self.check_invariants();
    }

    /// Stores `metadata` as the state of `transactional_id`, appends its record, moves
    /// its timers, and starts writing markers if it is now a PrepareCommit or
    /// PrepareAbort.
    fn transition(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        metadata: TransactionMetadata,
        out: &mut Output,
    ) {
        let value = records::value(&metadata).expect("stored strings fit a record");
        let key = records::key(transactional_id).expect("a stored transactional id fits a key");
        out.records.push(TxnRecord {
            transactional_id: transactional_id.to_owned(),
            key,
            value: Some(value),
        });
        let prepare = metadata.state.is_prepare();
        self.transactions
            .insert(transactional_id.to_owned(), metadata);
        self.rearm(transactional_id);
        if prepare {
            self.send_markers(now_ms, transactional_id, out);
        }
    }

    /// Asks for the markers of a prepared transaction, or completes it at once when it
    /// has no partitions (Kafka does the same: there is nothing to write).
    fn send_markers(&mut self, now_ms: i64, transactional_id: &str, out: &mut Output) {
        let Some(metadata) = self.transactions.get(transactional_id) else {
            return;
        };
        if metadata.partitions.is_empty() {
            self.complete(now_ms, transactional_id, out);
            return;
        }
        let result = if metadata.state == TransactionState::PrepareCommit {
            TransactionResult::Commit
        } else {
            TransactionResult::Abort
        };
        let markers_id = self.next_markers_id;
        self.next_markers_id += 1;
        self.pending_markers
            .insert(transactional_id.to_owned(), markers_id);
        out.markers.push(TxnMarkers {
            markers_id,
            transactional_id: transactional_id.to_owned(),
            producer_id: metadata.producer_id,
            producer_epoch: metadata.producer_epoch,
            result,
            partitions: metadata.partition_list(),
        });
    }

    /// PrepareCommit → CompleteCommit, PrepareAbort → CompleteAbort (Kafka's
    /// `prepareComplete`): the partitions are cleared, the start time kept.
    fn complete(&mut self, now_ms: i64, transactional_id: &str, out: &mut Output) {
        let Some(mut metadata) = self.transactions.get(transactional_id).cloned() else {
            return;
        };
        metadata.state = match metadata.state {
            TransactionState::PrepareCommit => TransactionState::CompleteCommit,
            TransactionState::PrepareAbort => TransactionState::CompleteAbort,
            _ => return,
        };
        metadata.partitions.clear();
        metadata.last_update_timestamp_ms = now_ms;
        self.pending_markers.remove(transactional_id);
        self.transition(now_ms, transactional_id, metadata, out);
    }

    /// Ongoing → PrepareAbort with the epoch bumped, so that the markers fence the
    /// producer that ran the transaction (Kafka's `prepareFenceProducerEpoch` then
    /// `prepareAbortOrCommit`): for a timeout, or a new producer's InitProducerId.
    fn abort_with_fence(&mut self, now_ms: i64, transactional_id: &str, out: &mut Output) {
        let Some(mut metadata) = self.transactions.get(transactional_id).cloned() else {
            return;
        };
        if metadata.state != TransactionState::Ongoing {
            return;
        }
        // At the very last epoch there is nothing to bump to; the abort still fences the
        // producer from the next transaction, which must start with InitProducerId, and
        // that rotates to a new producer id (the epoch is exhausted).
        metadata.producer_epoch = metadata.producer_epoch.saturating_add(1);
        metadata.last_producer_epoch = NO_PRODUCER_EPOCH;
        metadata.state = TransactionState::PrepareAbort;
        metadata.last_update_timestamp_ms = now_ms;
        self.transition(now_ms, transactional_id, metadata, out);
    }

    /// Arms the one timer the state of `transactional_id` needs: the transaction timeout
    /// while Ongoing, the expiration while idle, none while markers are written.
    fn rearm(&mut self, transactional_id: &str) {
        let timeout = Timer::TransactionTimeout {
            transactional_id: transactional_id.to_owned(),
        };
        let expiration = Timer::Expiration {
            transactional_id: transactional_id.to_owned(),
        };
        let Some(metadata) = self.transactions.get(transactional_id) else {
            self.timers.clear(&timeout);
            self.timers.clear(&expiration);
            return;
        };
        match metadata.state {
            TransactionState::Ongoing => {
                // Kafka aborts once `start + timeout < now`: the first millisecond past.
                let deadline = metadata
                    .start_timestamp_ms
                    .saturating_add(i64::from(metadata.timeout_ms))
                    .saturating_add(1);
                self.timers.set(timeout, deadline);
                self.timers.clear(&expiration);
            }
            state if state.is_idle() => {
                let deadline = metadata
                    .last_update_timestamp_ms
                    .saturating_add(self.config.transactional_id_expiration_ms);
                self.timers.set(expiration, deadline);
                self.timers.clear(&timeout);
            }
            _ => {
                self.timers.clear(&timeout);
                self.timers.clear(&expiration);
            }
        }
    }

    // ----- InitProducerId -----

    /// Kafka's `handleInitProducerId`.
    fn init_producer_id(
        &mut self,
        now_ms: i64,
        request: &InitProducerIdRequest,
        out: &mut Output,
    ) -> InitResult {
        let expected = match (request.producer_id, request.producer_epoch) {
            (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
            (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => return Err(ErrorCode::INVALID_REQUEST),
            (producer_id, epoch) => Some((producer_id, epoch)),
        };
        let Some(transactional_id) = request.transactional_id.as_deref() else {
            // An idempotent producer: a fresh producer id, nothing to remember.
            let producer_id = self
                .producer_ids
                .take()
                .ok_or(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)?;
            return Ok((producer_id, 0));
        };
        if transactional_id.is_empty() || transactional_id.len() > RECORD_STRING_BYTES_MAX {
            return Err(ErrorCode::INVALID_REQUEST);
        }
        if request.transaction_timeout_ms <= 0
            || request.transaction_timeout_ms > self.config.transaction_max_timeout_ms
        {
            return Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT);
        }
        let mut metadata = match self.transactions.get(transactional_id) {
            Some(metadata) => metadata.clone(),
            None => {
                let producer_id = self
                    .producer_ids
                    .take()
                    .ok_or(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)?;
                TransactionMetadata {
                    producer_id,
                    last_producer_id: NO_PRODUCER_ID,
                    producer_epoch: NO_PRODUCER_EPOCH,
                    last_producer_epoch: NO_PRODUCER_EPOCH,
                    timeout_ms: request.transaction_timeout_ms,
                    state: TransactionState::Empty,
                    partitions: Partitions::new(),
                    start_timestamp_ms: -1,
                    last_update_timestamp_ms: now_ms,
                }
            }
        };
        if let Some((producer_id, epoch)) = expected
            && !metadata.is_valid_producer_id(producer_id, epoch)
        {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        match metadata.state {
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                Err(ErrorCode::CONCURRENT_TRANSACTIONS)
            }
            TransactionState::Ongoing => {
                // Abort the running transaction first, with a bumped epoch that fences
                // its producer. That epoch is never handed out: the client retries on
                // CONCURRENT_TRANSACTIONS and gets the next one (or a new producer id
                // if this fence exhausted the epochs).
                self.abort_with_fence(now_ms, transactional_id, out);
                Err(ErrorCode::CONCURRENT_TRANSACTIONS)
            }
            TransactionState::Dead | TransactionState::PrepareEpochFence => {
                unreachable!("the coordinator never holds {:?}", metadata.state)
            }
            TransactionState::Empty
            | TransactionState::CompleteCommit
            | TransactionState::CompleteAbort => {
                if is_epoch_exhausted(metadata.producer_epoch)
                    && expected.is_none_or(|(_, epoch)| epoch == metadata.producer_epoch)
                {
                    // Kafka's `prepareProducerIdRotation`.
                    let producer_id = self
                        .producer_ids
                        .take()
                        .ok_or(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)?;
                    if expected.is_some() {
                        metadata.last_producer_id = metadata.producer_id;
                        metadata.last_producer_epoch = metadata.producer_epoch;
                    } else {
                        metadata.last_producer_id = NO_PRODUCER_ID;
                        metadata.last_producer_epoch = NO_PRODUCER_EPOCH;
                    }
                    metadata.producer_id = producer_id;
                    metadata.producer_epoch = 0;
                } else {
                    // Kafka's `prepareIncrementProducerEpoch`. The epoch is not exhausted
                    // where it is bumped, so the bump cannot overflow.
                    match expected {
                        None => {
                            metadata.producer_epoch += 1;
                            metadata.last_producer_epoch = NO_PRODUCER_EPOCH;
                        }
                        Some((_, epoch))
                            if metadata.producer_epoch == NO_PRODUCER_EPOCH
                                || epoch == metadata.producer_epoch =>
                        {
                            metadata.last_producer_epoch = metadata.producer_epoch;
                            metadata.producer_epoch += 1;
                        }
                        Some((_, epoch)) if epoch == metadata.last_producer_epoch => {
                            // A retry of the bump this producer already got.
                        }
                        Some(_) => return Err(ErrorCode::PRODUCER_FENCED),
                    }
                }
                metadata.state = TransactionState::Empty;
                metadata.partitions.clear();
                metadata.timeout_ms = request.transaction_timeout_ms;
                metadata.start_timestamp_ms = -1;
                metadata.last_update_timestamp_ms = now_ms;
                let answer = (metadata.producer_id, metadata.producer_epoch);
                self.transition(now_ms, transactional_id, metadata, out);
                Ok(answer)
            }
        }
    }

    // ----- AddPartitionsToTxn, AddOffsetsToTxn -----

    fn add_partitions_to_txn(
        &mut self,
        now_ms: i64,
        request: AddPartitionsToTxnRequest,
        version: i16,
        out: &mut Output,
    ) -> AddPartitionsToTxnResponse {
        if version <= 3 {
            let partitions = partitions_of(&request.v3_and_below_topics);
            let error = self.add_partitions(
                now_ms,
                &request.v3_and_below_transactional_id,
                request.v3_and_below_producer_id,
                request.v3_and_below_producer_epoch,
                &partitions,
                out,
            );
            let error = fenced_for_version(error, version, 2);
            return AddPartitionsToTxnResponse {
                results_by_topic_v3_and_below: topic_results(
                    &request.v3_and_below_topics,
                    |_, _| error,
                ),
                ..Default::default()
            };
        }
        let mut results = Vec::with_capacity(request.transactions.len());
        for transaction in &request.transactions {
            let partitions = partitions_of(&transaction.topics);
            let topic_results = if transaction.verify_only {
                let verified = self.verify_partitions(
                    &transaction.transactional_id,
                    transaction.producer_id,
                    transaction.producer_epoch,
                );
                topic_results(&transaction.topics, |topic, partition| match &verified {
                    Err(error) => *error,
                    Ok(have) if have.get(topic).is_some_and(|p| p.contains(&partition)) => {
                        ErrorCode::NONE
                    }
                    Ok(_) => ErrorCode::TRANSACTION_ABORTABLE,
                })
            } else {
                let error = self.add_partitions(
                    now_ms,
                    &transaction.transactional_id,
                    transaction.producer_id,
                    transaction.producer_epoch,
                    &partitions,
                    out,
                );
                topic_results(&transaction.topics, |_, _| error)
            };
            results.push(AddPartitionsToTxnResult {
                transactional_id: transaction.transactional_id.clone(),
                topic_results,
                ..Default::default()
            });
        }
        AddPartitionsToTxnResponse {
            results_by_transaction: results,
            ..Default::default()
        }
    }

    fn add_offsets_to_txn(
        &mut self,
        now_ms: i64,
        request: &AddOffsetsToTxnRequest,
        out: &mut Output,
    ) -> ErrorCode {
        let partition = partition_for(&request.group_id, self.config.offsets_topic_num_partitions);
        let mut partitions = Partitions::new();
        partitions
            .entry(CONSUMER_OFFSETS_TOPIC.to_owned())
            .or_default()
            .insert(partition);
        self.add_partitions(
            now_ms,
            &request.transactional_id,
            request.producer_id,
            request.producer_epoch,
            &partitions,
            out,
        )
    }

    /// The checks every request of a running producer passes first: the id exists, has
    /// this producer id, and this epoch.
    fn producer_metadata(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&TransactionMetadata, ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::INVALID_REQUEST);
        }
        let metadata = self
            .transactions
            .get(transactional_id)
            .filter(|m| m.producer_id == producer_id)
            .ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
        if metadata.producer_epoch != producer_epoch {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        Ok(metadata)
    }

    /// Kafka's `handleAddPartitionsToTransaction`: one error for all the partitions.
    fn add_partitions(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &Partitions,
        out: &mut Output,
    ) -> ErrorCode {
        if partitions.keys().any(|t| t.len() > RECORD_STRING_BYTES_MAX) {
            return ErrorCode::INVALID_REQUEST;
        }
        let metadata = match self.producer_metadata(transactional_id, producer_id, producer_epoch) {
            Ok(metadata) => metadata,
            Err(error) => return error,
        };
        if metadata.state.is_prepare() {
            return ErrorCode::CONCURRENT_TRANSACTIONS;
        }
        if metadata.state == TransactionState::Ongoing && metadata.contains_all(partitions) {
            return ErrorCode::NONE;
        }
        let mut metadata = metadata.clone();
        if metadata.state != TransactionState::Ongoing {
            metadata.start_timestamp_ms = now_ms;
        }
        for (topic, added) in partitions {
            metadata
                .partitions
                .entry(topic.clone())
                .or_default()
                .extend(added);
        }
        metadata.state = TransactionState::Ongoing;
        metadata.last_update_timestamp_ms = now_ms;
        // The Prepare record that follows holds the same partitions, and the Complete
        // record none, so this is the largest record of the transaction.
        let too_large = records::value(&metadata).map_or(true, |v| {
            v.len() > self.config.transaction_state_record_bytes_max
        });
        if too_large {
            return ErrorCode::UNKNOWN_SERVER_ERROR;
        }
        self.transition(now_ms, transactional_id, metadata, out);
        ErrorCode::NONE
    }

    /// The verify-only form of AddPartitionsToTxn (v4+, sent by brokers before they
    /// append a transactional batch, KIP-890): the transaction's partitions, or the error
    /// that answers every partition.
    fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<Partitions, ErrorCode> {
        let metadata = self.producer_metadata(transactional_id, producer_id, producer_epoch)?;
        if metadata.state.is_prepare() {
            return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
        }
        Ok(metadata.partitions.clone())
    }

    // ----- EndTxn -----

    /// Kafka's `handleEndTransaction`, from a client.
    fn end_txn(&mut self, now_ms: i64, request: &EndTxnRequest, out: &mut Output) -> ErrorCode {
        let metadata = match self.producer_metadata(
            &request.transactional_id,
            request.producer_id,
            request.producer_epoch,
        ) {
            Ok(metadata) => metadata,
            Err(error) => return error,
        };
        match (metadata.state, request.committed) {
            (TransactionState::Ongoing, committed) => {
                let mut metadata = metadata.clone();
                metadata.state = if committed {
                    TransactionState::PrepareCommit
                } else {
                    TransactionState::PrepareAbort
                };
                metadata.last_update_timestamp_ms = now_ms;
                self.transition(now_ms, &request.transactional_id, metadata, out);
                ErrorCode::NONE
            }
            // A retry of an EndTxn that completed.
            (TransactionState::CompleteCommit, true) | (TransactionState::CompleteAbort, false) => {
                ErrorCode::NONE
            }
            // A retry while the markers are written.
            (TransactionState::PrepareCommit, true) | (TransactionState::PrepareAbort, false) => {
                ErrorCode::CONCURRENT_TRANSACTIONS
            }
            _ => ErrorCode::INVALID_TXN_STATE,
        }
    }

    // ----- DescribeTransactions, ListTransactions -----

    fn describe_transactions(
        &self,
        request: &DescribeTransactionsRequest,
    ) -> DescribeTransactionsResponse {
        let transaction_states = request
            .transactional_ids
            .iter()
            .map(|id| match self.transactions.get(id) {
                _ if id.is_empty() => describe_transactions_response::TransactionState {
                    error_code: ErrorCode::INVALID_REQUEST.code(),
                    ..Default::default()
                },
                None => describe_transactions_response::TransactionState {
                    error_code: ErrorCode::TRANSACTIONAL_ID_NOT_FOUND.code(),
                    transactional_id: id.clone(),
                    ..Default::default()
                },
                Some(metadata) => describe_transactions_response::TransactionState {
                    error_code: ErrorCode::NONE.code(),
                    transactional_id: id.clone(),
                    transaction_state: metadata.state.name().to_owned(),
                    transaction_timeout_ms: metadata.timeout_ms,
                    transaction_start_time_ms: metadata.start_timestamp_ms,
                    producer_id: metadata.producer_id,
                    producer_epoch: metadata.producer_epoch,
                    topics: metadata
                        .partition_list()
                        .into_iter()
                        .map(
                            |(topic, partitions)| describe_transactions_response::TopicData {
                                topic,
                                partitions,
                                ..Default::default()
                            },
                        )
                        .collect(),
                    ..Default::default()
                },
            })
            .collect();
        DescribeTransactionsResponse {
            transaction_states,
            ..Default::default()
        }
    }

    fn list_transactions(
        &self,
        now_ms: i64,
        request: &ListTransactionsRequest,
        version: i16,
    ) -> ListTransactionsResponse {
        let mut unknown_state_filters = Vec::new();
        let mut states = BTreeSet::new();
        for name in &request.state_filters {
            match TransactionState::from_name(name) {
                Some(state) => {
                    states.insert(state);
                }
                None => unknown_state_filters.push(name.clone()),
            }
        }
        let producer_ids: BTreeSet<i64> = request.producer_id_filters.iter().copied().collect();
        // The duration filter exists from version 1 (KIP-994): transactions running for
        // longer than this many milliseconds.
        let duration_ms = if version >= 1 {
            request.duration_filter
        } else {
            -1
        };
        let transaction_states = self
            .transactions
            .iter()
            .filter(|(_, m)| request.state_filters.is_empty() || states.contains(&m.state))
            .filter(|(_, m)| producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
            .filter(|(_, m)| {
                duration_ms < 0
                    || (m.start_timestamp_ms >= 0
                        && now_ms.saturating_sub(m.start_timestamp_ms) > duration_ms)
            })
            .map(|(id, m)| list_transactions_response::TransactionState {
                transactional_id: id.clone(),
                producer_id: m.producer_id,
                transaction_state: m.state.name().to_owned(),
                ..Default::default()
            })
            .collect();
        ListTransactionsResponse {
            error_code: ErrorCode::NONE.code(),
            unknown_state_filters,
            transaction_states,
            ..Default::default()
        }
    }

    // ----- invariants -----

    /// Panics if the state breaks a rule the coordinator relies on.
    #[cfg(debug_assertions)]
    fn check_invariants(&self) {
        let mut timers = 0;
        for (id, m) in &self.transactions {
            assert!(
                !matches!(
                    m.state,
                    TransactionState::Dead | TransactionState::PrepareEpochFence
                ),
                "{id}: {:?} is never held",
                m.state
            );
            if m.state.is_idle() {
                assert!(
                    m.partitions.is_empty(),
                    "{id}: {:?} with partitions",
                    m.state
                );
            }
            if !self.started {
                continue;
            }
            assert_eq!(
                self.pending_markers.contains_key(id),
                m.state.is_prepare(),
                "{id}: markers outstanding exactly while preparing"
            );
            let timeout = self.timers.get(&Timer::TransactionTimeout {
                transactional_id: id.clone(),
            });
            let expiration = self.timers.get(&Timer::Expiration {
                transactional_id: id.clone(),
            });
            match m.state {
                TransactionState::Ongoing => {
                    assert!(timeout.is_some() && expiration.is_none(), "{id}: timers");
                    timers += 1;
                }
                state if state.is_idle() => {
                    assert!(timeout.is_none() && expiration.is_some(), "{id}: timers");
                    timers += 1;
                }
                _ => assert!(timeout.is_none() && expiration.is_none(), "{id}: timers"),
            }
        }
        if self.started {
            assert_eq!(self.timers.len(), timers, "timers of removed ids");
            assert!(
                self.pending_markers
                    .keys()
                    .all(|id| self.transactions.contains_key(id)),
                "markers of removed ids"
            );
        }
    }
}

/// PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH to versions before
/// `first_version`, which came before the code existed (KIP-588).
fn fenced_for_version(error: ErrorCode, version: i16, first_version: i16) -> ErrorCode {
    if error == ErrorCode::PRODUCER_FENCED && version < first_version {
        ErrorCode::INVALID_PRODUCER_EPOCH
    } else {
        error
    }
}

fn partitions_of(topics: &[AddPartitionsToTxnTopic]) -> Partitions {
    let mut partitions = Partitions::new();
    for topic in topics {
        partitions
            .entry(topic.name.clone())
            .or_default()
            .extend(&topic.partitions);
    }
    partitions
}

/// One result per partition of the request, in its order.
fn topic_results(
    topics: &[AddPartitionsToTxnTopic],
    error: impl Fn(&str, i32) -> ErrorCode,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|topic| AddPartitionsToTxnTopicResult {
            name: topic.name.clone(),
            results_by_partition: topic
                .partitions
                .iter()
                .map(|&partition| AddPartitionsToTxnPartitionResult {
                    partition_index: partition,
                    partition_error_code: error(&topic.name, partition).code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}
