//! `fjord bench produce`, and the producers that `fjord bench e2e` runs too.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use super::report::{self, Counters, Latency, Report};
use super::{Limit, Load, Summary, filler, should_stop};
use crate::librdkafka;
use crate::options::ClientOptions;

/// Counts deliveries and times them from send to acknowledgement.
struct Timing {
    /// When the run started; a message's opaque is its send time in ns since then.
    epoch: Instant,
    message_bytes: u64,
    counters: Arc<Counters>,
    histogram: Mutex<Histogram<u64>>,
    errors: Mutex<(u64, Option<KafkaError>)>,
}

impl ClientContext for Timing {}

impl ProducerContext for Timing {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ns: usize) {
        match result {
            Ok(_) => {
                let latency_us =
                    (self.epoch.elapsed().as_nanos() as u64).saturating_sub(sent_ns as u64) / 1000;
                if let Ok(mut histogram) = self.histogram.lock() {
                    histogram.saturating_record(latency_us.max(1));
                }
                self.counters.add(self.message_bytes);
            }
            Err((error, _)) => {
                if let Ok(mut errors) = self.errors.lock() {
                    errors.0 += 1;
                    errors.1.get_or_insert_with(|| error.clone());
                }
            }
        }
    }
}

/// What one producer did.
pub struct Produced {
    pub histogram: Histogram<u64>,
    pub errors: u64,
    pub first_error: Option<anyhow::Error>,
}

/// Sends messages from one producer until `limit` (its share of the count, or the time)
/// or a signal, at its share of the rate limit, then waits for every acknowledgement.
/// With `stamped`, each value starts with its send time (ns since `epoch`, big-endian)
/// for the e2e consumers.
#[allow(clippy::too_many_arguments)]
pub fn producer(
    options: &ClientOptions,
    load: &Load,
    index: u64,
    limit: Limit,
    epoch: Instant,
    counters: Arc<Counters>,
    stop: &Arc<AtomicBool>,
    stamped: bool,
) -> Produced {
    let failed = |error: anyhow::Error| Produced {
        histogram: report::histogram(),
        errors: 0,
        first_error: Some(error),
    };
    // Lingering trades latency for throughput: e2e measures latency.
    let linger_ms = load.linger_ms.unwrap_or(if stamped { 0 } else { 5 });
    let mut config = librdkafka::client_config(&options.brokers, options.timeout());
    // What made the earlier benchmark example fast (see docs/performance.md): large batches
    // and queues, bounded.
    config
        .set("acks", load.acks.config())
        .set("compression.type", load.compression.config())
        .set("linger.ms", linger_ms.to_string())
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("queue.buffering.max.messages", "1000000")
        .set(
            "message.max.bytes",
            (load.message_bytes + 64 * 1024)
                .min(1_000_000_000)
                .to_string(),
        )
        .set("message.timeout.ms", options.timeout_ms.to_string());
    let context = Timing {
        epoch,
        message_bytes: load.message_bytes,
        counters,
        histogram: Mutex::new(report::histogram()),
        errors: Mutex::new((0, None)),
    };
    let producer: BaseProducer<Timing> = match config.create_with_context(context) {
        Ok(producer) => producer,
        Err(error) => return failed(librdkafka::error("creating a producer", &error)),
    };
    let mut value = filler(load.message_bytes, index + 1);
    // Sending at the rate limit: message i is due at start + i * interval.
    let interval = load
        .rate_limit
        .map(|rate| Duration::from_secs_f64(load.producers as f64 / rate as f64));
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut first_error = None;
    'sending: loop {
        match limit {
            Limit::Count(count) if sent >= count => break,
            Limit::Until(deadline) if Instant::now() >= deadline => break,
            _ => {}
        }
        if should_stop(stop) {
            break;
        }
        if let Some(interval) = interval {
            let due = started + interval.mul_f64(sent as f64);
            let now = Instant::now();
            if due > now {
                producer.poll(due - now);
                continue;
            }
        }
        let sent_ns = epoch.elapsed().as_nanos() as u64;
        if stamped {
            value[..8].copy_from_slice(&sent_ns.to_be_bytes());
        }
        let mut record: BaseRecord<(), [u8], usize> =
            BaseRecord::with_opaque_to(&load.topic, sent_ns as usize).payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    // The local queue is full: let acknowledgements drain it.
                    producer.poll(Duration::from_millis(1));
                    if should_stop(stop) {
                        break 'sending;
                    }
                    record = returned;
                }
                Err((error, _)) => {
                    first_error = Some(librdkafka::error("sending", &error));
                    break 'sending;
                }
            }
        }
        sent += 1;
        if sent.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
        }
    }
    if let Err(error) = producer.flush(options.timeout()) {
        first_error
            .get_or_insert_with(|| librdkafka::error("waiting for acknowledgements", &error));
    }
    let context = producer.context();
    let histogram = context
        .histogram
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| report::histogram());
    let (errors, delivery_error) = context
        .errors
        .lock()
        .map(|e| (e.0, e.1.clone()))
        .unwrap_or((0, None));
    if let Some(error) = delivery_error {
        first_error.get_or_insert_with(|| librdkafka::error("sending", &error));
    }
    Produced {
        histogram,
        errors,
        first_error,
    }
}

/// The limit of producer `index`: its share of a count, or the common deadline.
pub fn share_of(limit: Limit, index: u64, producers: u64) -> Limit {
    match limit {
        Limit::Count(count) => {
            Limit::Count(count / producers + u64::from(index < count % producers))
        }
        until => until,
    }
}

/// Runs `fjord bench produce`.
pub fn run(
    options: &ClientOptions,
    load: &Load,
    partitions: Vec<i32>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Summary> {
    let counters = Arc::new(Counters::default());
    let epoch = Instant::now();
    let limit = load.limit();
    let produced = std::thread::scope(|scope| {
        let workers = (0..load.producers)
            .map(|index| {
                let counters = Arc::clone(&counters);
                scope.spawn(move || {
                    producer(
                        options,
                        load,
                        index,
                        share_of(limit, index, load.producers),
                        epoch,
                        counters,
                        stop,
                        false,
                    )
                })
            })
            .collect();
        report::wait_with_progress("produce", &counters, workers)
    })?;
    let elapsed = epoch.elapsed();
    let mut histogram = report::histogram();
    let mut errors = 0;
    let mut error = None;
    for one in produced {
        let _ = histogram.add(&one.histogram);
        errors += one.errors;
        if error.is_none() {
            error = one.first_error;
        }
    }
    Ok(Summary {
        report: Report::new(
            "produce",
            load,
            partitions.len(),
            counters.messages(),
            counters.bytes(),
            errors,
            elapsed,
            Latency::of("send to acknowledgement", &histogram),
        ),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_shared_without_loss() {
        let total: u64 = (0..3)
            .map(|i| match share_of(Limit::Count(10), i, 3) {
                Limit::Count(n) => n,
                Limit::Until(_) => unreachable!("a count stays a count"),
            })
            .sum();
        assert_eq!(total, 10);
    }
}
