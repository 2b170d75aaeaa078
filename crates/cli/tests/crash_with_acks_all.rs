//! An idempotent acks=all producer sends without pause while the broker process is
//! killed with SIGKILL at random moments, five times. After every restart, each message
//! acknowledged so far is in the log exactly once, where its acknowledgement said, and in
//! send order within its partition.
//!
//! The moments are random; the seed is printed, and `CRASH_TEST_SEED=N` replays one.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fjord_testkit::BrokerProcess;
use fjord_testkit::clients::{create_topic, producer_config, watermarks};
use fjord_testkit::messages::{Delivered, Numbered, read_to_end, recording_producer};
use rdkafka::Offset;
use rdkafka::producer::Producer;

const TOPIC: &str = "crash";
const PARTITIONS: i32 = 3;
const KILLS: usize = 5;
/// Longest the whole test may send for, kills and restarts included.
const SENDING_MAX: Duration = Duration::from_secs(40);

const NUMBERED: Numbered = Numbered {
    keys: 30,
    value_bytes: 120,
};

/// xorshift64*: enough to pick kill moments, and replayable from the seed.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

#[test]
fn acknowledged_messages_survive_sigkill() {
    kill_repeatedly(1);
}

#[test]
fn acknowledged_messages_survive_sigkill_with_five_requests_in_flight() {
    kill_repeatedly(5);
}

/// Runs the scenario with a producer that keeps up to `in_flight` Produce requests in
/// flight per connection.
fn kill_repeatedly(in_flight: usize) {
    let seed = std::env::var("CRASH_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("CRASH_TEST_SEED={seed}");
    let mut random = Random(seed);

    let data_dir = tempfile::Builder::new()
        .prefix("fjord-crash-")
        .tempdir()
        .unwrap();
    let mut broker = BrokerProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_fjord")),
        data_dir.path(),
        None,
    );
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]);

    let mut config = producer_config(&bootstrap);
    config
        .set("message.timeout.ms", "30000")
        .set("request.timeout.ms", "5000")
        .set("linger.ms", "2")
        .set(
            "max.in.flight.requests.per.connection",
            in_flight.to_string(),
        );
    let producer = recording_producer(&config);
    let stop = AtomicBool::new(false);
    let started = Instant::now();

    let sent = std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let mut id = 0;
            while !stop.load(Ordering::Relaxed) && started.elapsed() < SENDING_MAX {
                NUMBERED.send(&producer, TOPIC, None, id, None);
                id += 1;
                // About 2,000 messages a second: many batches in flight at each kill.
                if id % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            id
        });

        for kill in 1..=KILLS {
            std::thread::sleep(Duration::from_millis(300 + random.below(1200)));
            broker.kill();
            let acked = producer.context().acked();
            std::thread::sleep(Duration::from_millis(random.below(300)));
            broker.restart();
            let checked = verify(&bootstrap, &acked);
            eprintln!(
                "kill {kill} at {:?}: {} acknowledged so far, all {checked} present",
                started.elapsed(),
                acked.len()
            );
        }
        // Keep sending a little after the last restart, then stop.
        std::thread::sleep(Duration::from_millis(1000));
        stop.store(true, Ordering::Relaxed);
        sender.join().unwrap()
    });

    producer
        .flush(Duration::from_secs(60))
        .expect("the producer drains its queue once the broker stays up");
    let acked = producer.context().acked();
    let failed = producer.context().failed();
    eprintln!(
        "{sent} sent, {} acknowledged, {} failed (e.g. {:?}) in {:?}",
        acked.len(),
        failed.len(),
        failed.first(),
        started.elapsed()
    );
    assert!(
        acked.len() > 1000,
        "only {} messages acknowledged: the test proved little",
        acked.len()
    );
    verify(&bootstrap, &acked);
}

/// Reads the whole topic and checks it against `acked`: every acknowledged message is
/// present, exactly once, at the partition and offset its acknowledgement gave; no
/// message appears twice (acknowledged or not: the producer is idempotent); within each
/// partition messages are in send order. Returns how many were checked.
fn verify(bootstrap: &str, acked: &[Delivered]) -> usize {
    // The high watermark already covers every acknowledged offset.
    for partition in 0..PARTITIONS {
        let (_, high) = watermarks(bootstrap, TOPIC, partition).unwrap();
        if let Some(max) = acked
            .iter()
            .filter(|d| d.partition == partition)
            .map(|d| d.offset)
            .max()
        {
            assert!(
                max < high,
                "partition {partition}: offset {max} was acknowledged but the high watermark is {high}"
            );
        }
    }
    let by_partition = read_to_end(bootstrap, TOPIC, PARTITIONS, Offset::Beginning);
    let mut found: HashMap<u64, (i32, i64)> = HashMap::new();
    for (&partition, messages) in &by_partition {
        let mut last_id = None;
        for (position, message) in messages.iter().enumerate() {
            assert_eq!(
                message.offset, position as i64,
                "dense offsets in partition {partition}"
            );
            let id = NUMBERED.check(message);
            if let Some(earlier) = found.insert(id, (partition, message.offset)) {
                panic!(
                    "message {id} is in the log twice: {earlier:?} and ({partition}, {})",
                    message.offset
                );
            }
            if let Some(last) = last_id {
                assert!(
                    last < id,
                    "partition {partition} offset {}: message {id} after message {last}",
                    message.offset
                );
            }
            last_id = Some(id);
        }
    }
    for delivered in acked {
        assert_eq!(
            found.get(&delivered.id),
            Some(&(delivered.partition, delivered.offset)),
            "acknowledged message {} (partition {}, offset {})",
            delivered.id,
            delivered.partition,
            delivered.offset
        );
    }
    acked.len()
}
