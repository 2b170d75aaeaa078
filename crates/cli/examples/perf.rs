//! Produce, consume and end-to-end latency against a running broker, with librdkafka
//! (the `rdkafka` crate) as the client. `fjord bench` will replace it; until then:
//!
//! ```sh
//! cargo run --release -- serve --data-dir /tmp/perf &
//! cargo run --release -p fjord --example perf -- 127.0.0.1:9092
//! ```
//!
//! Scenarios: produce 1 KiB values with acks=1 and acks=all, consume them back, and
//! end-to-end latency at a fixed rate of 2,000 messages per second.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

const VALUE_BYTES: usize = 1024;
const PARTITIONS: i32 = 6;

fn main() {
    let bootstrap = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let messages: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for acks in ["1", "all"] {
        let topic = format!("perf-{run}-acks-{acks}");
        create_topic(&bootstrap, &topic);
        let (elapsed, bytes) = produce(&bootstrap, &topic, acks, messages);
        report(&format!("produce acks={acks}"), messages, bytes, elapsed);
        if acks == "1" {
            let (elapsed, bytes) = consume(&bootstrap, &topic, messages);
            report("consume", messages, bytes, elapsed);
        }
    }
    let topic = format!("perf-{run}-latency");
    create_topic(&bootstrap, &topic);
    latency(&bootstrap, &topic, 2_000, Duration::from_secs(10));
}

fn report(name: &str, messages: usize, bytes: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    println!(
        "{name:<18} {messages} msgs in {seconds:.2} s: {:.0} msgs/s, {:.1} MB/s",
        messages as f64 / seconds,
        bytes as f64 / seconds / 1e6
    );
}

fn create_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let new_topic = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
    let results = block_on(admin.create_topics([&new_topic], &AdminOptions::new()));
    for result in results.unwrap() {
        result.unwrap();
    }
}

/// Drives a future to completion on this thread; the admin client's futures are woken by
/// librdkafka's own threads and need no async runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

fn produce(bootstrap: &str, topic: &str, acks: &str, messages: usize) -> (Duration, usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let value = vec![b'x'; VALUE_BYTES];
    let started = Instant::now();
    for i in 0..messages {
        let key = (i % 1024).to_string();
        let mut record = BaseRecord::to(topic).key(&key).payload(&value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    // The local queue is full: let deliveries drain.
                    producer.poll(Duration::from_millis(1));
                    record = returned;
                }
            }
        }
        if i % 10_000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Timeout::After(Duration::from_secs(120)))
        .unwrap();
    (started.elapsed(), messages * VALUE_BYTES)
}

fn consume(bootstrap: &str, topic: &str, messages: usize) -> (Duration, usize) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "perf")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let started = Instant::now();
    let (mut count, mut bytes) = (0, 0);
    while count < messages && started.elapsed() < Duration::from_secs(300) {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            count += 1;
            bytes += message.payload().map_or(0, <[u8]>::len);
        }
    }
    (started.elapsed(), bytes)
}

/// Sends at `rate` messages per second for `duration` while a consumer measures how long
/// each took from send to receipt.
fn latency(bootstrap: &str, topic: &str, rate: u64, duration: Duration) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "perf-latency")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.min.bytes", "1")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        assignment
            .add_partition_offset(topic, partition, Offset::End)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    // Let the consumer settle at the end offsets before sending.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(2) {
        consumer.poll(Duration::from_millis(50));
    }

    let epoch = Instant::now();
    let total = rate * duration.as_secs();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let mut latencies_us = Vec::with_capacity(total as usize);
    let mut sent = 0u64;
    let deadline = epoch + duration + Duration::from_secs(10);
    while (latencies_us.len() as u64) < total && Instant::now() < deadline {
        while sent < total && epoch + interval * sent as u32 <= Instant::now() {
            let payload = (epoch.elapsed().as_micros() as u64).to_be_bytes();
            let key = sent.to_string();
            if producer
                .send(BaseRecord::to(topic).key(&key).payload(&payload[..]))
                .is_ok()
            {
                sent += 1;
            }
        }
        producer.poll(Duration::ZERO);
        if let Some(Ok(message)) = consumer.poll(Duration::from_micros(200))
            && let Some(payload) = message.payload().and_then(|p| <[u8; 8]>::try_from(p).ok())
        {
            let sent_us = u64::from_be_bytes(payload);
            latencies_us.push(epoch.elapsed().as_micros() as u64 - sent_us);
        }
    }
    latencies_us.sort_unstable();
    let at = |q: f64| {
        latencies_us
            .get(((latencies_us.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "e2e latency at {rate} msgs/s (acks=all), {} msgs: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        latencies_us.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}
