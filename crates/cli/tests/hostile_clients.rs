//! Hostile input on one connection closes that connection and nothing else: random
//! bytes, truncated frames, a 2 GiB length prefix and the array-length attack each end
//! their own connection, while a real producer and consumer keep working, an idle
//! connection opened before stays usable, and every message written before or during
//! the attack is intact afterwards.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fjord_protocol::messages::metadata_request::MetadataRequestTopic;
use fjord_protocol::messages::{ApiVersionsRequest, MetadataRequest};
use fjord_testkit::TestBroker;
use fjord_testkit::clients::{create_topic, producer_config};
use fjord_testkit::messages::{
    Delivered, Numbered, flush, produce_numbered, read_to_end, read_until, recording_producer,
};
use fjord_testkit::raw::{RawConnection, request_frame};
use rdkafka::Offset;
use rdkafka::producer::Producer;

const TOPIC: &str = "survivor";
const PARTITIONS: i32 = 2;
const BEFORE: u64 = 1000;
/// How long the broker may take to close a hostile connection.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

const NUMBERED: Numbered = Numbered {
    keys: 50,
    value_bytes: 80,
};

#[test]
fn random_bytes() {
    survives(|addr| {
        let mut random = Random(0x5EED_F00D_1234_5678);
        for round in 0..16 {
            let mut blob: Vec<u8> = (0..4096).map(|_| random.next() as u8).collect();
            // A length prefix that fits what follows: the broker reads a whole frame of
            // garbage and has to reject it on its own.
            let length = blob.len() as i32 - 4;
            blob[..4].copy_from_slice(&length.to_be_bytes());
            attack(addr, &format!("random frame {round}"), &blob, false);
            // Random from the first byte: the length may ask for more than arrives, so
            // the client hangs up after sending.
            let blob: Vec<u8> = (0..4096).map(|_| random.next() as u8).collect();
            attack(addr, &format!("random bytes {round}"), &blob, true);
        }
    });
}

#[test]
fn truncated_frames() {
    survives(|addr| {
        let metadata = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(TOPIC.to_owned()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let frame = request_frame(&metadata, 1, 7).unwrap();
        // Half a frame, then the client hangs up.
        attack(addr, "half a frame", &frame[..frame.len() / 2], true);
        // A whole frame whose length prefix cuts the body short: the broker has all the
        // bytes it was promised and must find them undecodable.
        let mut cut = frame[..frame.len() - 3].to_vec();
        let length = cut.len() as i32 - 4;
        cut[..4].copy_from_slice(&length.to_be_bytes());
        attack(addr, "a body cut short", &cut, false);
        // A frame shorter than a request header.
        attack(addr, "a two-byte frame", &[0, 0, 0, 2, 0, 3], false);
    });
}

#[test]
fn two_gib_length_prefix() {
    survives(|addr| {
        let tail = [0u8; 64];
        for (name, prefix) in [
            ("2 GiB - 1", 0x7FFF_FFFFu32),
            ("2 GiB (negative as i32)", 0x8000_0000),
            ("-1", 0xFFFF_FFFF),
            ("0", 0),
            ("101 MiB, above socket.request.max.bytes", 101 << 20),
        ] {
            let mut bytes = prefix.to_be_bytes().to_vec();
            bytes.extend_from_slice(&tail);
            attack(addr, &format!("length prefix {name}"), &bytes, false);
        }
    });
}

#[test]
fn array_length_attack() {
    survives(|addr| {
        // Metadata v0: header v1 (api key, version, correlation id, client id as an
        // int16-length string), then the topics array's int32 length: 54 million
        // entries claimed, 2 bytes present.
        let mut body = Vec::new();
        body.extend_from_slice(&3i16.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&8i16.to_be_bytes());
        body.extend_from_slice(b"attacker");
        body.extend_from_slice(&54_000_000i32.to_be_bytes());
        body.extend_from_slice(b"ab");
        attack(
            addr,
            "Metadata v0 claiming 54M topics",
            &framed(&body),
            false,
        );

        // The same in a flexible version: Metadata v12, header v2 (client id, then an
        // empty tagged-field section), topics as a compact array: unsigned varint of
        // length + 1.
        let mut body = Vec::new();
        body.extend_from_slice(&3i16.to_be_bytes());
        body.extend_from_slice(&12i16.to_be_bytes());
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(&8i16.to_be_bytes());
        body.extend_from_slice(b"attacker");
        body.push(0);
        let mut claimed = 54_000_001u32;
        while claimed >= 0x80 {
            body.push((claimed as u8 & 0x7F) | 0x80);
            claimed >>= 7;
        }
        body.push(claimed as u8);
        body.extend_from_slice(b"ab");
        attack(
            addr,
            "Metadata v12 claiming 54M topics",
            &framed(&body),
            false,
        );
    });
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    frame
}

/// Sends `bytes` on a new connection (then hangs up its writing half if `hang_up`) and
/// fails the test unless the broker closes that connection within [`CLOSE_WITHIN`].
fn attack(addr: SocketAddr, name: &str, bytes: &[u8], hang_up: bool) {
    let mut connection = RawConnection::connect(addr).unwrap();
    // The broker may close before everything is written; that is a close too.
    let _ = connection.send_bytes(bytes);
    if hang_up {
        let _ = connection.shutdown_write();
    }
    assert!(
        connection.closed_by_broker(CLOSE_WITHIN),
        "{name}: the broker kept the connection open for {} s",
        CLOSE_WITHIN.as_secs()
    );
}

/// Runs `attacks` against a broker that holds [`BEFORE`] messages, while a producer and
/// a consumer work on other connections, then checks that everything survived.
fn survives(attacks: impl FnOnce(SocketAddr)) {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]);
    let mut acked = produce_numbered(&producer_config(&bootstrap), TOPIC, &NUMBERED, 0..BEFORE);
    // Opened before the attacks, used after them.
    let mut bystander = RawConnection::connect(broker.addr()).unwrap();
    api_versions(&mut bystander);

    // The producer sends until `stop`; the consumer reads until it has `target`
    // messages, which is set once the producer's count is known.
    let stop = AtomicBool::new(false);
    let produced = AtomicU64::new(0);
    let consumed_so_far = AtomicU64::new(0);
    let target = AtomicU64::new(u64::MAX);
    let (during, consumed) = std::thread::scope(|scope| {
        let producing = scope.spawn(|| {
            let producer = recording_producer(&producer_config(&bootstrap));
            let mut id = BEFORE;
            while !stop.load(Ordering::Relaxed) && id < BEFORE + 100_000 {
                NUMBERED.send(&producer, TOPIC, None, id, None);
                id += 1;
                std::thread::sleep(Duration::from_millis(1));
                let acked = producer.context().acked().len() as u64;
                produced.store(acked, Ordering::Relaxed);
            }
            flush(&producer);
            producer.context().acked()
        });
        let consuming = scope.spawn(|| {
            let assignment: Vec<_> = (0..PARTITIONS).map(|p| (p, Offset::Beginning)).collect();
            let mut count = 0;
            read_until(&bootstrap, TOPIC, &assignment, |message| {
                if message.is_some() {
                    count += 1;
                    consumed_so_far.store(count, Ordering::Relaxed);
                }
                count >= target.load(Ordering::Relaxed)
            })
        });
        // Attack while both clients are at work.
        wait_until("the clients to start", || {
            produced.load(Ordering::Relaxed) >= 10
                && consumed_so_far.load(Ordering::Relaxed) >= BEFORE
        });
        let produced_before = produced.load(Ordering::Relaxed);
        let consumed_before = consumed_so_far.load(Ordering::Relaxed);
        attacks(broker.addr());
        // Both clients make progress after the last attack.
        wait_until("the clients to go on after the attacks", || {
            produced.load(Ordering::Relaxed) > produced_before + 50
                && consumed_so_far.load(Ordering::Relaxed) > consumed_before + 50
        });
        stop.store(true, Ordering::Relaxed);
        let during = producing.join().unwrap();
        target.store(BEFORE + during.len() as u64, Ordering::Relaxed);
        (during, consuming.join().unwrap())
    });

    api_versions(&mut bystander);
    // The consumer, connected throughout, read every message once.
    let mut ids: Vec<u64> = consumed.iter().map(|m| NUMBERED.check(m)).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        consumed.len(),
        "the consumer read no message twice"
    );
    assert_eq!(ids.len() as u64, BEFORE + during.len() as u64);
    acked.extend(during);
    assert_all_present(&bootstrap, &acked);
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 60 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The connection still answers: ApiVersions v3 succeeds on it.
fn api_versions(connection: &mut RawConnection) {
    let response = connection
        .request(
            &ApiVersionsRequest {
                client_software_name: "fjord-testkit".to_owned(),
                client_software_version: "1".to_owned(),
                ..Default::default()
            },
            3,
        )
        .expect("ApiVersions on the bystander connection");
    assert_eq!(response.error_code, 0);
    assert!(!response.api_keys.is_empty());
}

fn assert_all_present(bootstrap: &str, acked: &[Delivered]) {
    let by_partition = read_to_end(bootstrap, TOPIC, PARTITIONS, Offset::Beginning);
    let mut found = std::collections::HashMap::new();
    for (partition, messages) in &by_partition {
        for (position, message) in messages.iter().enumerate() {
            assert_eq!(message.offset, position as i64);
            found.insert(NUMBERED.check(message), (*partition, message.offset));
        }
    }
    assert_eq!(
        found.len(),
        acked.len(),
        "the topic holds exactly the acknowledged messages"
    );
    for delivered in acked {
        assert_eq!(
            found.get(&delivered.id),
            Some(&(delivered.partition, delivered.offset)),
            "message {}",
            delivered.id
        );
    }
}

/// xorshift64: reproducible garbage.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
