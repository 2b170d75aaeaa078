//! read_committed against read_uncommitted, judged by librdkafka consumers.
//!
//! Transactional batches are produced with the raw protocol client (batches built with
//! fjord-records). Each producer registers its transaction with the real coordinator
//! first (InitProducerId with a transactional id, AddPartitionsToTxn), because Produce
//! verifies transactional batches with it (ADR 0011); the long transaction timeout
//! keeps the coordinator from aborting anything during the test. The COMMIT and ABORT
//! markers are written the way the coordinator writes them, with
//! `PartitionLog::append_end_txn_marker`, while the broker is stopped between two runs
//! (`TestBroker::restart_with`), so that each marker lands at a chosen moment; Produce
//! refuses control batches from clients, as Kafka does. The restart also proves that the
//! open transactions and the aborted transaction index survive it.
//!
//! Checked: committed data is seen by both isolation levels; aborted data only by
//! read_uncommitted (librdkafka drops it with the aborted list of the Fetch response);
//! an open transaction, and everything after it, is invisible to read_committed until
//! its COMMIT; ListOffsets and Fetch report the last stable offset; a broker killed
//! with SIGKILL while transactions are open recovers them (still open, still holding
//! the last stable offset back) and the aborted transaction index.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fjord_log::{AppendContext, LogConfig, PartitionLog};
use fjord_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use fjord_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use fjord_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use fjord_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use fjord_protocol::messages::{
    AddPartitionsToTxnRequest, FetchRequest, InitProducerIdRequest, ListOffsetsRequest,
    ProduceRequest,
};
use fjord_records::{BatchBuilder, ControlRecordType, EndTransactionMarker};
use fjord_testkit::clients::{consumer_config, create_topic};
use fjord_testkit::raw::RawConnection;
use fjord_testkit::{BrokerProcess, TestBroker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

const TOPIC: &str = "txn";
const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 11;
const LIST_OFFSETS_VERSION: i16 = 5;
/// How long a consumer is watched to show that it receives nothing more.
const QUIET: Duration = Duration::from_secs(3);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The wall clock: the broker's retention (7 days by default) would delete a segment of
/// old timestamps at the restart.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .try_into()
        .unwrap()
}

fn init_producer_id(connection: &mut RawConnection) -> (i64, i16) {
    let init = connection
        .request(
            &InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: -1,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            },
            4,
        )
        .unwrap();
    assert_eq!(init.error_code, 0, "InitProducerId");
    (init.producer_id, init.producer_epoch)
}

/// A transactional producer's id and epoch, its transaction already holding partition
/// 0 of the topic, as the coordinator sees it: Produce verifies against that.
fn begin_transaction(connection: &mut RawConnection, transactional_id: &str) -> (i64, i16) {
    let init = connection
        .request(
            &InitProducerIdRequest {
                transactional_id: Some(transactional_id.to_owned()),
                // The longest the coordinator allows (15 minutes): no timeout aborts
                // the transaction during the test.
                transaction_timeout_ms: 900_000,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            },
            4,
        )
        .unwrap();
    assert_eq!(init.error_code, 0, "InitProducerId");
    let added = connection
        .request(
            &AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: transactional_id.to_owned(),
                v3_and_below_producer_id: init.producer_id,
                v3_and_below_producer_epoch: init.producer_epoch,
                v3_and_below_topics: vec![AddPartitionsToTxnTopic {
                    name: TOPIC.to_owned(),
                    partitions: vec![0],
                    ..Default::default()
                }],
                ..Default::default()
            },
            3,
        )
        .unwrap();
    let code = added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, 0, "AddPartitionsToTxn");
    (init.producer_id, init.producer_epoch)
}

/// A batch of `values`; transactional if `producer` is given.
fn batch(producer: Option<(i64, i16, i32)>, values: &[&str]) -> Bytes {
    let mut builder = BatchBuilder::new(0);
    if let Some((id, epoch, sequence)) = producer {
        builder = builder.producer(id, epoch, sequence).transactional(true);
    }
    for value in values {
        builder
            .append(now_ms(), None, Some(value.as_bytes()), &[])
            .unwrap();
    }
    builder.build().unwrap()
}

/// Produces `records` with acks=all; returns (error code, base offset).
fn produce(
    connection: &mut RawConnection,
    transactional_id: Option<&str>,
    records: Bytes,
) -> (i16, i64) {
    let response = connection
        .request(
            &ProduceRequest {
                transactional_id: transactional_id.map(str::to_owned),
                acks: -1,
                timeout_ms: 30_000,
                topic_data: vec![TopicProduceData {
                    name: TOPIC.to_owned(),
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(records),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            PRODUCE_VERSION,
        )
        .unwrap();
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

fn produce_ok(connection: &mut RawConnection, transactional_id: &str, records: Bytes) -> i64 {
    let (error_code, base_offset) = produce(connection, Some(transactional_id), records);
    assert_eq!(error_code, 0, "produce");
    base_offset
}

/// ListOffsets latest at the isolation level.
fn latest(connection: &mut RawConnection, isolation_level: i8) -> i64 {
    let response = connection
        .request(
            &ListOffsetsRequest {
                replica_id: -1,
                isolation_level,
                topics: vec![ListOffsetsTopic {
                    name: TOPIC.to_owned(),
                    partitions: vec![ListOffsetsPartition {
                        partition_index: 0,
                        current_leader_epoch: -1,
                        timestamp: -1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            LIST_OFFSETS_VERSION,
        )
        .unwrap();
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0, "ListOffsets");
    partition.offset
}

/// (producer id, first offset) of each aborted transaction a Fetch lists.
type Aborted = Option<Vec<(i64, i64)>>;

/// One raw Fetch from offset 0: (high watermark, last stable offset, aborted
/// (producer id, first offset) or `None`, bytes of records).
fn fetch(connection: &mut RawConnection, isolation_level: i8) -> (i64, i64, Aborted, usize) {
    let response = connection
        .request(
            &FetchRequest {
                replica_id: -1,
                max_wait_ms: 0,
                min_bytes: 0,
                max_bytes: 1 << 20,
                isolation_level,
                session_id: 0,
                session_epoch: -1,
                topics: vec![FetchTopic {
                    topic: TOPIC.to_owned(),
                    partitions: vec![FetchPartition {
                        partition: 0,
                        current_leader_epoch: -1,
                        fetch_offset: 0,
                        last_fetched_epoch: -1,
                        log_start_offset: -1,
                        partition_max_bytes: 1 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            FETCH_VERSION,
        )
        .unwrap();
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0, "Fetch");
    (
        partition.high_watermark,
        partition.last_stable_offset,
        partition.aborted_transactions.as_ref().map(|aborted| {
            aborted
                .iter()
                .map(|txn| (txn.producer_id, txn.first_offset))
                .collect()
        }),
        partition.records.as_ref().map_or(0, Bytes::len),
    )
}

/// Reads the partition from offset 0 with librdkafka at `isolation_level` until
/// `expected` values arrived, then for [`QUIET`] more to catch any extra.
fn consume(bootstrap: &str, isolation_level: &str, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = consumer_config(bootstrap)
        .set("isolation.level", isolation_level)
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let started = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    let mut values = Vec::new();
    loop {
        if let Some(since) = quiet_since
            && since.elapsed() >= QUIET
        {
            return values;
        }
        assert!(
            started.elapsed() < READ_TIMEOUT,
            "{isolation_level}: read {values:?}, expected {expected} values"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let value = message.payload().map(<[u8]>::to_vec).unwrap_or_default();
                values.push(String::from_utf8(value).unwrap());
            }
            Some(Err(error)) => panic!("{isolation_level}: {error}"),
            None => {}
        }
        if values.len() >= expected && quiet_since.is_none() {
            quiet_since = Some(Instant::now());
        }
    }
}

/// Writes the markers into partition 0 of a killed broker's data directory as the
/// partition leader does. The log is dropped
/// without a close (flushed, but not marked clean), so the next start recovers it.
fn write_markers_after_kill(data_dir: &Path, markers: &[(i64, i16, ControlRecordType)]) {
    let dir = data_dir.join(format!("{TOPIC}-0"));
    let (mut log, report) = PartitionLog::open(&dir, LogConfig::default(), now_ms()).unwrap();
    assert!(
        !report.clean_shutdown,
        "SIGKILL leaves no clean-shutdown marker"
    );
    for &(producer_id, epoch, control_type) in markers {
        log.append_end_txn_marker(
            producer_id,
            epoch,
            EndTransactionMarker {
                control_type,
                coordinator_epoch: 0,
            },
            AppendContext {
                now_ms: now_ms(),
                leader_epoch: 0,
            },
        )
        .unwrap();
    }
    log.flush().unwrap();
    drop(log);
}

/// Stops the broker, writes the markers into partition 0 as the partition leader
/// does, and starts it again.
fn restart_with_markers(
    broker: TestBroker,
    markers: &[(i64, i16, ControlRecordType)],
) -> TestBroker {
    let markers = markers.to_vec();
    broker.restart_with(move |config| {
        let dir = config.data_dir.join(format!("{TOPIC}-0"));
        let (mut log, report) = PartitionLog::open(&dir, LogConfig::default(), now_ms()).unwrap();
        assert!(
            report.clean_shutdown,
            "the broker closed the partition cleanly"
        );
        for (producer_id, epoch, control_type) in markers {
            log.append_end_txn_marker(
                producer_id,
                epoch,
                EndTransactionMarker {
                    control_type,
                    coordinator_epoch: 0,
                },
                AppendContext {
                    now_ms: now_ms(),
                    leader_epoch: 0,
                },
            )
            .unwrap();
        }
        log.close().unwrap();
    })
}

#[test]
fn committed_aborted_and_open_transactions_as_each_isolation_level_sees_them() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, 1, &[]);
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let (committer, committer_epoch) = begin_transaction(&mut connection, "committer");
    let (aborter, aborter_epoch) = begin_transaction(&mut connection, "aborter");

    // committer's transaction 0..=1, a plain record 2, aborter's transaction 3..=4.
    assert_eq!(
        produce_ok(
            &mut connection,
            "committer",
            batch(
                Some((committer, committer_epoch, 0)),
                &["commit-0", "commit-1"]
            ),
        ),
        0
    );
    assert_eq!(
        produce_ok(&mut connection, "plain", batch(None, &["plain-0"])),
        2
    );
    assert_eq!(
        produce_ok(
            &mut connection,
            "aborter",
            batch(Some((aborter, aborter_epoch, 0)), &["abort-0", "abort-1"]),
        ),
        3
    );

    // Both transactions are open: the last stable offset is the first one's start.
    assert_eq!(latest(&mut connection, 1), 0, "read_committed latest = LSO");
    assert_eq!(
        latest(&mut connection, 0),
        5,
        "read_uncommitted latest = HW"
    );
    let (hw, lso, aborted, bytes) = fetch(&mut connection, 1);
    assert_eq!((hw, lso, aborted, bytes), (5, 0, Some(vec![]), 0));
    let (hw, lso, aborted, bytes) = fetch(&mut connection, 0);
    assert_eq!((hw, lso, aborted), (5, 0, None));
    assert!(bytes > 0);
    assert!(
        consume(&bootstrap, "read_committed", 0).is_empty(),
        "nothing is stable while the first transaction is open"
    );
    assert_eq!(
        consume(&bootstrap, "read_uncommitted", 5),
        ["commit-0", "commit-1", "plain-0", "abort-0", "abort-1"]
    );

    // COMMIT at 5, ABORT at 6.
    drop(connection);
    let broker = restart_with_markers(
        broker,
        &[
            (committer, committer_epoch, ControlRecordType::Commit),
            (aborter, aborter_epoch, ControlRecordType::Abort),
        ],
    );
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    assert_eq!(latest(&mut connection, 1), 7);
    assert_eq!(latest(&mut connection, 0), 7);
    let (hw, lso, aborted, _) = fetch(&mut connection, 1);
    assert_eq!((hw, lso), (7, 7));
    assert_eq!(aborted, Some(vec![(aborter, 3)]), "the aborted list");
    assert_eq!(
        consume(&bootstrap, "read_committed", 3),
        ["commit-0", "commit-1", "plain-0"],
        "librdkafka drops the aborted records with the aborted list"
    );
    assert_eq!(
        consume(&bootstrap, "read_uncommitted", 5),
        ["commit-0", "commit-1", "plain-0", "abort-0", "abort-1"]
    );

    // A new transaction of the committer (its sequences go on within the epoch) at 7,
    // and a plain record after it at 8: neither is visible to read_committed until the
    // COMMIT, although the plain record is not part of any transaction.
    assert_eq!(
        produce_ok(
            &mut connection,
            "committer",
            batch(Some((committer, committer_epoch, 2)), &["later-0"]),
        ),
        7
    );
    assert_eq!(
        produce_ok(&mut connection, "plain", batch(None, &["plain-1"])),
        8
    );
    assert_eq!(latest(&mut connection, 1), 7);
    assert_eq!(latest(&mut connection, 0), 9);
    assert_eq!(
        consume(&bootstrap, "read_committed", 3),
        ["commit-0", "commit-1", "plain-0"]
    );

    drop(connection);
    let broker = restart_with_markers(
        broker,
        &[(committer, committer_epoch, ControlRecordType::Commit)],
    );
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    assert_eq!(latest(&mut connection, 1), 10);
    assert_eq!(
        consume(&bootstrap, "read_committed", 5),
        ["commit-0", "commit-1", "plain-0", "later-0", "plain-1"]
    );
    assert_eq!(
        consume(&bootstrap, "read_uncommitted", 7),
        [
            "commit-0", "commit-1", "plain-0", "abort-0", "abort-1", "later-0", "plain-1"
        ]
    );
}

#[test]
fn transactional_batches_need_a_transactional_id() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), TOPIC, 1, &[]);
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let (producer_id, epoch) = init_producer_id(&mut connection);
    let (error_code, _) = produce(
        &mut connection,
        None,
        batch(Some((producer_id, epoch, 0)), &["x"]),
    );
    assert_eq!(error_code, 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED");
}

#[test]
fn a_broker_killed_with_open_transactions_recovers_them() {
    let data_dir = tempfile::tempdir().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_fjord"));
    let mut broker = BrokerProcess::spawn(binary, data_dir.path(), None);
    let bootstrap = broker.bootstrap();
    let addr: SocketAddr = bootstrap.parse().unwrap();
    create_topic(&bootstrap, TOPIC, 1, &[]);
    let mut connection = RawConnection::connect(addr).unwrap();
    let (committer, committer_epoch) = begin_transaction(&mut connection, "committer");
    let (aborter, aborter_epoch) = begin_transaction(&mut connection, "aborter");
    let committed = batch(Some((committer, committer_epoch, 0)), &["commit-0"]);
    assert_eq!(produce_ok(&mut connection, "committer", committed), 0);
    let aborted = batch(Some((aborter, aborter_epoch, 0)), &["abort-0"]);
    assert_eq!(produce_ok(&mut connection, "aborter", aborted), 1);
    assert_eq!(latest(&mut connection, 1), 0);
    drop(connection);

    // Killed with both transactions open; the ABORT is written while it is down.
    broker.kill();
    write_markers_after_kill(
        data_dir.path(),
        &[(aborter, aborter_epoch, ControlRecordType::Abort)],
    );
    let mut broker = BrokerProcess::spawn(binary, data_dir.path(), Some(addr.port()));
    let mut connection = RawConnection::connect(addr).unwrap();
    assert_eq!(
        latest(&mut connection, 1),
        0,
        "the committer's transaction is still open after recovery"
    );
    assert_eq!(latest(&mut connection, 0), 3);
    assert!(consume(&bootstrap, "read_committed", 0).is_empty());
    drop(connection);

    broker.kill();
    write_markers_after_kill(
        data_dir.path(),
        &[(committer, committer_epoch, ControlRecordType::Commit)],
    );
    let _broker = BrokerProcess::spawn(binary, data_dir.path(), Some(addr.port()));
    let mut connection = RawConnection::connect(addr).unwrap();
    assert_eq!(latest(&mut connection, 1), 4);
    let (hw, lso, aborted, _) = fetch(&mut connection, 1);
    assert_eq!((hw, lso), (4, 4));
    assert_eq!(aborted, Some(vec![(aborter, 1)]));
    assert_eq!(consume(&bootstrap, "read_committed", 1), ["commit-0"]);
    assert_eq!(
        consume(&bootstrap, "read_uncommitted", 2),
        ["commit-0", "abort-0"]
    );
}
