//! Random sequences of requests, marker reports and clock moves, from well-behaved and
//! confused producers alike. Whatever happens: every request is answered exactly once,
//! every response encodes at its request's version, the coordinator's own invariants
//! hold after every call (checked in debug builds), markers are asked for exactly while a
//! transaction is being completed, epochs never go back, and the records it wrote rebuild
//! the same state in a fresh coordinator.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use fjord_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
use fjord_protocol::messages::*;
use fjord_txn::{TransactionCoordinator, TransactionState, TxnConfig, TxnRequest};
use proptest::prelude::*;

const IDS: [&str; 3] = ["t0", "t1", ""];
const TOPICS: [&str; 2] = ["a", "b"];

/// Which producer id and epoch a request names.
#[derive(Debug, Clone)]
enum Producer {
    /// The latest the id handed out (or -1/-1).
    Latest,
    /// One handed out earlier for this id.
    Earlier(usize),
    /// One never handed out.
    Wrong,
}

#[derive(Debug, Clone)]
enum Action {
    Init {
        id: usize,
        timeout_ms: i32,
        named: bool,
        producer: Producer,
        version: i16,
    },
    InitIdempotent,
    Add {
        id: usize,
        producer: Producer,
        partitions: Vec<(usize, i32)>,
        version: i16,
        verify_only: bool,
    },
    AddOffsets {
        id: usize,
        producer: Producer,
        version: i16,
    },
    End {
        id: usize,
        producer: Producer,
        commit: bool,
        version: i16,
    },
    Describe,
    List {
        state: Option<usize>,
        duration_ms: i64,
        version: i16,
    },
    /// Reports the markers of the pending request at this index (modulo) as written.
    WriteMarkers {
        index: usize,
    },
    /// Reports again markers already reported (a late duplicate).
    RepeatMarkers {
        index: usize,
    },
    Grant {
        count: i64,
    },
    Advance {
        ms: i64,
    },
}

fn producer() -> impl Strategy<Value = Producer> {
    prop_oneof![
        6 => Just(Producer::Latest),
        2 => (0usize..4).prop_map(Producer::Earlier),
        1 => Just(Producer::Wrong),
    ]
}

fn id() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..2, 1 => Just(2)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (id(), prop_oneof![6 => Just(20_000), 1 => prop::sample::select(vec![-1, 0, 1_000, 900_001])],
              any::<bool>(), producer(), 0i16..=5)
            .prop_map(|(id, timeout_ms, named, producer, version)| Action::Init {
                id, timeout_ms, named, producer, version,
            }),
        1 => Just(Action::InitIdempotent),
        6 => (id(), producer(), prop::collection::vec((0usize..2, 0i32..3), 0..3), 0i16..=5,
              any::<bool>())
            .prop_map(|(id, producer, partitions, version, verify_only)| Action::Add {
                id, producer, partitions, version, verify_only,
            }),
        2 => (id(), producer(), 0i16..=4)
            .prop_map(|(id, producer, version)| Action::AddOffsets { id, producer, version }),
        4 => (id(), producer(), any::<bool>(), 0i16..=4)
            .prop_map(|(id, producer, commit, version)| Action::End { id, producer, commit, version }),
        1 => Just(Action::Describe),
        1 => (prop::option::of(0usize..9), prop::sample::select(vec![-1i64, 0, 10_000]), 0i16..=1)
            .prop_map(|(state, duration_ms, version)| Action::List { state, duration_ms, version }),
        5 => (0usize..4).prop_map(|index| Action::WriteMarkers { index }),
        1 => (0usize..4).prop_map(|index| Action::RepeatMarkers { index }),
        1 => (1i64..4).prop_map(|count| Action::Grant { count }),
        3 => prop_oneof![3 => 1i64..5_000, 1 => 15_000i64..30_000, 1 => Just(200_000i64)]
            .prop_map(|ms| Action::Advance { ms }),
    ]
}

/// What the fake producers know: every (producer id, epoch) handed out, by id.
#[derive(Default)]
struct Producers {
    handed_out: BTreeMap<usize, Vec<(i64, i16)>>,
}

impl Producers {
    fn pick(&self, id: usize, which: &Producer) -> (i64, i16) {
        let known = self.handed_out.get(&id);
        match which {
            Producer::Latest => known.and_then(|k| k.last().copied()).unwrap_or((-1, -1)),
            Producer::Earlier(i) => known
                .filter(|k| !k.is_empty())
                .map(|k| k[i % k.len()])
                .unwrap_or((-1, -1)),
            Producer::Wrong => (99_999, 3),
        }
    }
}

fn run(actions: Vec<Action>) {
    let config = TxnConfig {
        transactional_id_expiration_ms: 100_000,
        producer_ids_low_water_count: 2,
        ..TxnConfig::default()
    };
    let mut h = Harness::bare(TransactionCoordinator::new(config.clone()), 1_000_000);
    h.grant(3);
    let out = h.coordinator.finish_replay(h.now_ms);
    h.apply(out);
    let mut producers = Producers::default();
    let mut reported = Vec::new();
    // The highest epoch seen per producer id: epochs never go back.
    let mut epochs: BTreeMap<i64, i16> = BTreeMap::new();
    // Producer ids owned by a transactional id: never shared between two.
    let mut owners: BTreeMap<i64, String> = BTreeMap::new();

    for action in actions {
        let mut request_id = None;
        match action {
            Action::Init {
                id,
                timeout_ms,
                named,
                producer,
                version,
            } => {
                let (producer_id, epoch) = if named && version >= 3 {
                    producers.pick(id, &producer)
                } else {
                    (-1, -1)
                };
                let request = InitProducerIdRequest {
                    transactional_id: Some(IDS[id].to_owned()),
                    transaction_timeout_ms: timeout_ms,
                    producer_id,
                    producer_epoch: epoch,
                    ..Default::default()
                };
                let rid = h.send(TxnRequest::InitProducerId(request), version);
                if let fjord_protocol::ResponseKind::InitProducerId(r) = h.response(rid)
                    && r.error_code == NONE
                {
                    producers
                        .handed_out
                        .entry(id)
                        .or_default()
                        .push((r.producer_id, r.producer_epoch));
                }
                request_id = Some(rid);
            }
            Action::InitIdempotent => {
                let request = InitProducerIdRequest {
                    transactional_id: None,
                    producer_id: -1,
                    producer_epoch: -1,
                    ..Default::default()
                };
                request_id = Some(h.send(TxnRequest::InitProducerId(request), 4));
            }
            Action::Add {
                id,
                producer,
                partitions,
                version,
                verify_only,
            } => {
                let (producer_id, epoch) = producers.pick(id, &producer);
                let list: Vec<(&str, Vec<i32>)> = partitions
                    .iter()
                    .map(|(t, p)| (TOPICS[*t], vec![*p]))
                    .collect();
                let refs: Vec<(&str, &[i32])> =
                    list.iter().map(|(t, p)| (*t, p.as_slice())).collect();
                let request = if version <= 3 {
                    AddPartitionsToTxnRequest {
                        v3_and_below_transactional_id: IDS[id].to_owned(),
                        v3_and_below_producer_id: producer_id,
                        v3_and_below_producer_epoch: epoch,
                        v3_and_below_topics: topics(&refs),
                        ..Default::default()
                    }
                } else {
                    AddPartitionsToTxnRequest {
                        transactions: vec![AddPartitionsToTxnTransaction {
                            transactional_id: IDS[id].to_owned(),
                            producer_id,
                            producer_epoch: epoch,
                            verify_only,
                            topics: topics(&refs),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }
                };
                request_id = Some(h.send(TxnRequest::AddPartitionsToTxn(request), version));
            }
            Action::AddOffsets {
                id,
                producer,
                version,
            } => {
                let (producer_id, epoch) = producers.pick(id, &producer);
                let request = AddOffsetsToTxnRequest {
                    transactional_id: IDS[id].to_owned(),
                    producer_id,
                    producer_epoch: epoch,
                    group_id: "g".into(),
                    ..Default::default()
                };
                request_id = Some(h.send(TxnRequest::AddOffsetsToTxn(request), version));
            }
            Action::End {
                id,
                producer,
                commit,
                version,
            } => {
                let (producer_id, epoch) = producers.pick(id, &producer);
                let request = EndTxnRequest {
                    transactional_id: IDS[id].to_owned(),
                    producer_id,
                    producer_epoch: epoch,
                    committed: commit,
                    ..Default::default()
                };
                request_id = Some(h.send(TxnRequest::EndTxn(request), version));
            }
            Action::Describe => {
                let request = DescribeTransactionsRequest {
                    transactional_ids: IDS.iter().map(|s| (*s).to_owned()).collect(),
                    ..Default::default()
                };
                request_id = Some(h.send(TxnRequest::DescribeTransactions(request), 0));
            }
            Action::List {
                state,
                duration_ms,
                version,
            } => {
                let request = ListTransactionsRequest {
                    state_filters: state
                        .map(|i| {
                            TransactionState::ALL
                                .get(i)
                                .map_or("Unknown".to_owned(), |s| s.name().to_owned())
                        })
                        .into_iter()
                        .collect(),
                    duration_filter: duration_ms,
                    ..Default::default()
                };
                request_id = Some(h.send(TxnRequest::ListTransactions(request), version));
            }
            Action::WriteMarkers { index } => {
                if !h.pending_markers.is_empty() {
                    let markers = h.pending_markers.remove(index % h.pending_markers.len());
                    let out = h.coordinator.markers_written(h.now_ms, &markers);
                    h.apply(out);
                    reported.push(markers);
                }
            }
            Action::RepeatMarkers { index } => {
                if !reported.is_empty() {
                    let markers: &fjord_txn::TxnMarkers = &reported[index % reported.len()];
                    let records = h.log.len();
                    let out = h.coordinator.markers_written(h.now_ms, markers);
                    // A repeated report completes nothing, even when a later transaction
                    // with the same producer id and epoch is being completed.
                    assert!(out.records.is_empty(), "a duplicate report wrote records");
                    h.apply(out);
                    assert_eq!(h.log.len(), records);
                }
            }
            Action::Grant { count } => h.grant(count),
            Action::Advance { ms } => h.advance(ms),
        }
        if let Some(rid) = request_id {
            assert!(h.is_answered(rid), "request {rid} not answered at once");
        }

        // Markers are pending exactly for the transactions being completed, once each.
        let preparing: BTreeSet<String> = h
            .coordinator
            .transactions()
            .into_iter()
            .filter(|(_, t)| {
                matches!(
                    t.state,
                    TransactionState::PrepareCommit | TransactionState::PrepareAbort
                )
            })
            .map(|(id, _)| id)
            .collect();
        let pending: Vec<String> = h
            .pending_markers
            .iter()
            .map(|m| m.transactional_id.clone())
            .collect();
        let pending_set: BTreeSet<String> = pending.iter().cloned().collect();
        assert_eq!(
            pending.len(),
            pending_set.len(),
            "markers asked twice: {pending:?}"
        );
        assert_eq!(pending_set, preparing);
        for markers in &h.pending_markers {
            let t = h
                .coordinator
                .transaction(&markers.transactional_id)
                .unwrap();
            assert_eq!(
                (t.producer_id, t.producer_epoch),
                (markers.producer_id, markers.producer_epoch)
            );
        }

        for (id, t) in h.coordinator.transactions() {
            let seen = epochs.entry(t.producer_id).or_insert(t.producer_epoch);
            assert!(t.producer_epoch >= *seen, "{id}: epoch went back");
            *seen = t.producer_epoch;
            let owner = owners.entry(t.producer_id).or_insert_with(|| id.clone());
            assert_eq!(*owner, id, "producer id {} shared", t.producer_id);
        }
    }
    h.assert_all_answered();

    // A fresh coordinator replaying the log holds the same state and asks for the
    // markers of every transaction being completed.
    let restarted = h.restart(config);
    assert_eq!(
        restarted.coordinator.transactions(),
        h.coordinator.transactions()
    );
    let reissued: BTreeSet<String> = restarted
        .pending_markers
        .iter()
        .map(|m| m.transactional_id.clone())
        .collect();
    let pending: BTreeSet<String> = h
        .pending_markers
        .iter()
        .map(|m| m.transactional_id.clone())
        .collect();
    assert_eq!(reissued, pending);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_request_is_answered_once_and_replay_rebuilds_the_state(
        actions in prop::collection::vec(action(), 1..120)
    ) {
        run(actions);
    }
}
