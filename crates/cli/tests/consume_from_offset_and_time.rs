//! Replaying a partition from a chosen position: an offset, a timestamp (ListOffsets by
//! time, through the time index), the end, the tail, and the largest timestamp.
//!
//! Every test writes the same 1,000 messages to one partition: message `id` has offset
//! `id` and timestamp `T0 + 10 * id`, in zstd batches of 50, so most positions asked for
//! fall inside a compressed batch and the reader has to skip that batch's earlier records.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjord_protocol::messages::ListOffsetsRequest;
use fjord_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use fjord_testkit::TestBroker;
use fjord_testkit::clients::{create_topic, offset_for_time, producer_config};
use fjord_testkit::messages::{Numbered, flush, read, read_count, recording_producer};
use fjord_testkit::raw::RawConnection;
use rdkafka::Offset;
use rdkafka::producer::Producer;

const TOPIC: &str = "replay";
const COUNT: u64 = 1000;
const BATCH: u64 = 50;
const STEP_MS: i64 = 10;

const NUMBERED: Numbered = Numbered {
    keys: 10,
    value_bytes: 64,
};

/// A broker holding the 1,000 messages, and `T0`.
fn fixture() -> (TestBroker, i64) {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, 1, &[]);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let t0 = now_ms - 3_600_000;
    let mut config = producer_config(&bootstrap);
    config.set("compression.type", "zstd");
    let producer = recording_producer(&config);
    for id in 0..COUNT {
        NUMBERED.send(&producer, TOPIC, Some(0), id, Some(time_of(t0, id)));
        // A flush after every 50 messages makes each group of 50 one batch.
        if (id + 1) % BATCH == 0 {
            flush(&producer);
        }
    }
    let acked = producer.context().acked();
    assert_eq!(acked.len() as u64, COUNT);
    assert!(
        acked.iter().all(|d| d.offset == d.id as i64),
        "message id has offset id"
    );
    (broker, t0)
}

fn time_of(t0: i64, id: u64) -> i64 {
    t0 + STEP_MS * id as i64
}

#[test]
fn from_an_offset() {
    let (broker, _) = fixture();
    // 437 lies inside the batch 400..450.
    let messages = read_count(&broker.bootstrap(), TOPIC, 0, Offset::Offset(437), 100);
    assert_eq!(
        messages[0].offset, 437,
        "the first message is the one asked for"
    );
    for (i, message) in messages.iter().enumerate() {
        let id = NUMBERED.check(message);
        assert_eq!(id, 437 + i as u64);
        assert_eq!(message.offset, id as i64);
    }
}

#[test]
fn from_a_timestamp() {
    let (broker, t0) = fixture();
    let bootstrap = broker.bootstrap();
    let at = |timestamp_ms| offset_for_time(&bootstrap, TOPIC, 0, timestamp_ms);

    // Exactly a message's timestamp, inside a batch.
    assert_eq!(at(time_of(t0, 612)), Offset::Offset(612));
    // Between two messages: the first message at or after it.
    assert_eq!(at(time_of(t0, 612) - 5), Offset::Offset(612));
    // The first message of a batch, and the last message of the one before.
    assert_eq!(at(time_of(t0, 650)), Offset::Offset(650));
    assert_eq!(at(time_of(t0, 649)), Offset::Offset(649));
    // Before everything: the first message.
    assert_eq!(at(t0 - 60_000), Offset::Offset(0));
    assert_eq!(at(t0), Offset::Offset(0));
    // The last message, and after everything: none (-1, which librdkafka calls End).
    assert_eq!(at(time_of(t0, COUNT - 1)), Offset::Offset(COUNT as i64 - 1));
    assert_eq!(at(time_of(t0, COUNT - 1) + 1), Offset::End);

    let Offset::Offset(offset) = at(time_of(t0, 612) - 5) else {
        unreachable!()
    };
    let messages = read_count(&bootstrap, TOPIC, 0, Offset::Offset(offset), 5);
    let first = &messages[0];
    assert_eq!(NUMBERED.check(first), 612);
    assert_eq!(first.offset, 612);
    assert_eq!(first.timestamp_ms, Some(time_of(t0, 612)));
    let ids: Vec<u64> = messages.iter().map(|m| NUMBERED.check(m)).collect();
    assert_eq!(ids, vec![612, 613, 614, 615, 616]);
}

#[test]
fn from_the_tail_and_the_end() {
    let (broker, _) = fixture();
    let bootstrap = broker.bootstrap();

    // The last five: librdkafka asks for the latest offset and subtracts.
    let tail = read_count(&bootstrap, TOPIC, 0, Offset::OffsetTail(5), 5);
    let ids: Vec<u64> = tail.iter().map(|m| NUMBERED.check(m)).collect();
    assert_eq!(ids, vec![995, 996, 997, 998, 999]);

    // From the end: only what is produced after the consumer has its position. The
    // producer runs on another thread and keeps sending until the reader has ten.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let received = std::thread::scope(|scope| {
        let producing = scope.spawn(|| {
            let producer = recording_producer(&producer_config(&bootstrap));
            let mut id = COUNT;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && id < COUNT + 2000 {
                NUMBERED.send(&producer, TOPIC, Some(0), id, None);
                flush(&producer);
                id += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let mut seen = 0;
        let received = read(&bootstrap, TOPIC, &[(0, Offset::End)], |_| {
            seen += 1;
            seen == 10
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        producing.join().unwrap();
        received
    });
    let first = NUMBERED.check(&received[0]);
    assert!(
        first >= COUNT,
        "a consumer starting at the end reads only new messages, but got message {first}"
    );
    for (i, message) in received.iter().enumerate() {
        assert_eq!(NUMBERED.check(message), first + i as u64);
        assert_eq!(message.offset, NUMBERED.check(message) as i64);
    }
}

#[test]
fn max_timestamp() {
    let (broker, t0) = fixture();
    // One more message, older than all others: the largest timestamp stays at 999.
    let producer = recording_producer(&producer_config(&broker.bootstrap()));
    NUMBERED.send(&producer, TOPIC, Some(0), COUNT, Some(t0 - 1000));
    flush(&producer);

    // ListOffsets v7 (KIP-734): timestamp -3 asks for the record with the largest one.
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let request = ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: TOPIC.to_owned(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: -1,
                timestamp: -3,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = connection.request(&request, 7).unwrap();
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.offset, COUNT as i64 - 1);
    assert_eq!(partition.timestamp, time_of(t0, COUNT - 1));
}
