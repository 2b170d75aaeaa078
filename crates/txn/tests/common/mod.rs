//! A fake runtime for the scenario tests: it drives a coordinator with a fake clock,
//! keeps the `__transaction_state` records and the markers it asks for, and checks what
//! every runtime relies on: each request is answered once, and each response encodes at
//! its version.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;

use bytes::BytesMut;
use fjord_protocol::ResponseKind;
use fjord_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use fjord_protocol::messages::*;
use fjord_txn::{
    Output, RequestId, TransactionCoordinator, TransactionState, TxnConfig, TxnMarkers, TxnRecord,
    TxnRequest,
};

/// The latest version of each API, which tests use unless they are about versions.
pub const INIT_V: i16 = 5;
pub const ADD_PARTITIONS_V: i16 = 3;
pub const ADD_OFFSETS_V: i16 = 4;
pub const END_V: i16 = 4;

/// Error codes the tests look for.
pub const NONE: i16 = 0;
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
pub const INVALID_REQUEST: i16 = 42;
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
pub const INVALID_TXN_STATE: i16 = 48;
pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
pub const CONCURRENT_TRANSACTIONS: i16 = 51;
pub const PRODUCER_FENCED: i16 = 90;
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
pub const TRANSACTION_ABORTABLE: i16 = 120;

/// The first producer id the harness grants.
pub const FIRST_PRODUCER_ID: i64 = 1_000;

/// A coordinator and everything it has asked the runtime to do.
pub struct Harness {
    pub coordinator: TransactionCoordinator,
    pub now_ms: i64,
    next_id: RequestId,
    /// Every response, by request; a second one for an id fails the test.
    pub responses: BTreeMap<RequestId, ResponseKind>,
    versions: BTreeMap<RequestId, i16>,
    /// Every record, in append order: the `__transaction_state` log.
    pub log: Vec<TxnRecord>,
    /// Markers asked for and not reported written yet.
    pub pending_markers: Vec<TxnMarkers>,
    /// Every marker request, in order.
    pub all_markers: Vec<TxnMarkers>,
    /// The end of the last producer id block granted.
    granted_end: i64,
}

impl Harness {
    /// A started coordinator with Kafka's settings and a block of 1000 producer ids.
    pub fn new() -> Harness {
        Harness::with_config(TxnConfig::default())
    }

    pub fn with_config(config: TxnConfig) -> Harness {
        let mut h = Harness::bare(TransactionCoordinator::new(config), 1_000_000);
        h.grant(1_000);
        let out = h.coordinator.finish_replay(h.now_ms);
        h.apply(out);
        h
    }

    /// A harness around `coordinator` as it is (replayed or not, without ids).
    pub fn bare(coordinator: TransactionCoordinator, now_ms: i64) -> Harness {
        Harness {
            coordinator,
            now_ms,
            next_id: 0,
            responses: BTreeMap::new(),
            versions: BTreeMap::new(),
            log: Vec::new(),
            pending_markers: Vec::new(),
            all_markers: Vec::new(),
            granted_end: FIRST_PRODUCER_ID,
        }
    }

    /// Grants the next `count` producer ids.
    pub fn grant(&mut self, count: i64) {
        let start = self.granted_end;
        self.granted_end += count;
        self.coordinator.grant_producer_ids(start..self.granted_end);
    }

    /// Sends a request; returns its id.
    pub fn send(&mut self, request: TxnRequest, version: i16) -> RequestId {
        self.next_id += 1;
        let id = self.next_id;
        self.versions.insert(id, version);
        let out = self.coordinator.handle(self.now_ms, id, request, version);
        self.apply(out);
        id
    }

    /// Moves the clock forward and fires the timers.
    pub fn advance(&mut self, ms: i64) {
        self.now_ms += ms;
        let out = self.coordinator.tick(self.now_ms);
        self.apply(out);
    }

    pub fn apply(&mut self, out: Output) {
        self.log.extend(out.records);
        self.all_markers.extend(out.markers.iter().cloned());
        self.pending_markers.extend(out.markers);
        for (id, response) in out.responses {
            let version = *self
                .versions
                .get(&id)
                .unwrap_or_else(|| panic!("response to unknown request {id}"));
            let mut buf = BytesMut::new();
            if let Err(error) = response.encode(&mut buf, version) {
                panic!("v{version} response does not encode: {error}: {response:?}");
            }
            ResponseKind::decode(response.api_key(), &mut buf.freeze(), version).expect("decodes");
            assert!(
                self.responses.insert(id, response).is_none(),
                "request {id} answered twice"
            );
        }
    }

    /// Reports every pending marker request as written.
    pub fn write_markers(&mut self) {
        for markers in std::mem::take(&mut self.pending_markers) {
            let out = self.coordinator.markers_written(self.now_ms, &markers);
            self.apply(out);
        }
    }

    /// A new coordinator that replays this one's log, as after a crash; its first
    /// output (markers to reissue) is applied. Producer ids continue after the granted
    /// ones.
    pub fn restart(&self, config: TxnConfig) -> Harness {
        let mut coordinator = TransactionCoordinator::new(config);
        for record in &self.log {
            coordinator
                .replay(&record.key, record.value.as_deref())
                .unwrap();
        }
        let mut h = Harness::bare(coordinator, self.now_ms);
        h.log = self.log.clone();
        h.granted_end = self.granted_end;
        h.grant(1_000);
        let out = h.coordinator.finish_replay(h.now_ms);
        h.apply(out);
        h
    }

    pub fn is_answered(&self, id: RequestId) -> bool {
        self.responses.contains_key(&id)
    }

    /// Every request sent so far has its answer.
    pub fn assert_all_answered(&self) {
        let unanswered: Vec<_> = self
            .versions
            .keys()
            .filter(|id| !self.responses.contains_key(id))
            .collect();
        assert!(unanswered.is_empty(), "unanswered: {unanswered:?}");
    }

    pub fn response(&self, id: RequestId) -> &ResponseKind {
        self.responses
            .get(&id)
            .unwrap_or_else(|| panic!("request {id} not answered"))
    }

    pub fn state(&self, transactional_id: &str) -> TransactionState {
        self.coordinator
            .transaction(transactional_id)
            .unwrap_or_else(|| panic!("{transactional_id} unknown"))
            .state
    }

    // ----- requests -----

    /// InitProducerId; returns (error, producer id, epoch).
    pub fn init(&mut self, transactional_id: &str, timeout_ms: i32) -> (i16, i64, i16) {
        self.init_with(Some(transactional_id), timeout_ms, -1, -1, INIT_V)
    }

    pub fn init_with(
        &mut self,
        transactional_id: Option<&str>,
        timeout_ms: i32,
        producer_id: i64,
        producer_epoch: i16,
        version: i16,
    ) -> (i16, i64, i16) {
        let request = InitProducerIdRequest {
            transactional_id: transactional_id.map(Into::into),
            transaction_timeout_ms: timeout_ms,
            producer_id,
            producer_epoch,
            ..Default::default()
        };
        let id = self.send(TxnRequest::InitProducerId(request), version);
        match self.response(id) {
            ResponseKind::InitProducerId(r) => (r.error_code, r.producer_id, r.producer_epoch),
            other => panic!("{other:?}"),
        }
    }

    /// InitProducerId that must succeed; returns (producer id, epoch).
    pub fn init_ok(&mut self, transactional_id: &str) -> (i64, i16) {
        let (error, producer_id, epoch) = self.init(transactional_id, 60_000);
        assert_eq!(error, NONE, "InitProducerId of {transactional_id}");
        (producer_id, epoch)
    }

    /// AddPartitionsToTxn v0-3; returns the error of every partition, in order.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer: (i64, i16),
        partitions: &[(&str, &[i32])],
    ) -> Vec<i16> {
        self.add_partitions_v(transactional_id, producer, partitions, ADD_PARTITIONS_V)
    }

    pub fn add_partitions_v(
        &mut self,
        transactional_id: &str,
        producer: (i64, i16),
        partitions: &[(&str, &[i32])],
        version: i16,
    ) -> Vec<i16> {
        let request = AddPartitionsToTxnRequest {
            v3_and_below_transactional_id: transactional_id.into(),
            v3_and_below_producer_id: producer.0,
            v3_and_below_producer_epoch: producer.1,
            v3_and_below_topics: topics(partitions),
            ..Default::default()
        };
        let id = self.send(TxnRequest::AddPartitionsToTxn(request), version);
        match self.response(id) {
            ResponseKind::AddPartitionsToTxn(r) => r
                .results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| {
                    t.results_by_partition
                        .iter()
                        .map(|p| p.partition_error_code)
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    /// AddPartitionsToTxn v5 for one transaction; returns the error of every partition.
    pub fn add_partitions_v5(
        &mut self,
        transactional_id: &str,
        producer: (i64, i16),
        partitions: &[(&str, &[i32])],
        verify_only: bool,
    ) -> Vec<i16> {
        let request = AddPartitionsToTxnRequest {
            transactions: vec![AddPartitionsToTxnTransaction {
                transactional_id: transactional_id.into(),
                producer_id: producer.0,
                producer_epoch: producer.1,
                verify_only,
                topics: topics(partitions),
                ..Default::default()
            }],
            ..Default::default()
        };
        let id = self.send(TxnRequest::AddPartitionsToTxn(request), 5);
        match self.response(id) {
            ResponseKind::AddPartitionsToTxn(r) => {
                assert_eq!(r.results_by_transaction.len(), 1);
                r.results_by_transaction[0]
                    .topic_results
                    .iter()
                    .flat_map(|t| {
                        t.results_by_partition
                            .iter()
                            .map(|p| p.partition_error_code)
                    })
                    .collect()
            }
            other => panic!("{other:?}"),
        }
    }

    pub fn add_offsets(
        &mut self,
        transactional_id: &str,
        producer: (i64, i16),
        group: &str,
    ) -> i16 {
        let request = AddOffsetsToTxnRequest {
            transactional_id: transactional_id.into(),
            producer_id: producer.0,
            producer_epoch: producer.1,
            group_id: group.into(),
            ..Default::default()
        };
        let id = self.send(TxnRequest::AddOffsetsToTxn(request), ADD_OFFSETS_V);
        match self.response(id) {
            ResponseKind::AddOffsetsToTxn(r) => r.error_code,
            other => panic!("{other:?}"),
        }
    }

    pub fn end(&mut self, transactional_id: &str, producer: (i64, i16), commit: bool) -> i16 {
        self.end_v(transactional_id, producer, commit, END_V)
    }

    pub fn end_v(
        &mut self,
        transactional_id: &str,
        producer: (i64, i16),
        commit: bool,
        version: i16,
    ) -> i16 {
        let request = EndTxnRequest {
            transactional_id: transactional_id.into(),
            producer_id: producer.0,
            producer_epoch: producer.1,
            committed: commit,
            ..Default::default()
        };
        let id = self.send(TxnRequest::EndTxn(request), version);
        match self.response(id) {
            ResponseKind::EndTxn(r) => r.error_code,
            other => panic!("{other:?}"),
        }
    }

    pub fn describe(&mut self, ids: &[&str]) -> DescribeTransactionsResponse {
        let request = DescribeTransactionsRequest {
            transactional_ids: ids.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        };
        let id = self.send(TxnRequest::DescribeTransactions(request), 0);
        match self.response(id) {
            ResponseKind::DescribeTransactions(r) => r.clone(),
            other => panic!("{other:?}"),
        }
    }

    pub fn list(
        &mut self,
        states: &[&str],
        producer_ids: &[i64],
        duration_ms: i64,
        version: i16,
    ) -> ListTransactionsResponse {
        let request = ListTransactionsRequest {
            state_filters: states.iter().map(|s| (*s).to_owned()).collect(),
            producer_id_filters: producer_ids.to_vec(),
            duration_filter: duration_ms,
            ..Default::default()
        };
        let id = self.send(TxnRequest::ListTransactions(request), version);
        match self.response(id) {
            ResponseKind::ListTransactions(r) => r.clone(),
            other => panic!("{other:?}"),
        }
    }

    /// Runs a whole transaction: init, add partitions, end, markers.
    pub fn run_transaction(&mut self, transactional_id: &str, commit: bool) -> (i64, i16) {
        let producer = self.init_ok(transactional_id);
        assert_eq!(
            self.add_partitions(transactional_id, producer, &[("t", &[0])]),
            [NONE]
        );
        assert_eq!(self.end(transactional_id, producer, commit), NONE);
        self.write_markers();
        producer
    }
}

pub fn topics(partitions: &[(&str, &[i32])]) -> Vec<AddPartitionsToTxnTopic> {
    partitions
        .iter()
        .map(|(name, partitions)| AddPartitionsToTxnTopic {
            name: (*name).into(),
            partitions: partitions.to_vec(),
            ..Default::default()
        })
        .collect()
}
