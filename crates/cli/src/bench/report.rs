//! What `fjord bench` prints: a live progress line on a terminal, and a summary of
//! throughput and latency percentiles from an HDR histogram.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::Load;

/// Highest latency the histograms hold, in microseconds (a minute); slower ones are
/// recorded as this.
const LATENCY_US_MAX: u64 = 60_000_000;

/// A latency histogram in microseconds, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts: an error is a bug.
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

/// Messages and bytes done so far, shared by the workers and the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    pub messages: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counters {
    /// Counts one message of `bytes`.
    pub fn add(&self, bytes: u64) {
        self.messages.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Waits for `workers`, printing a progress line on stderr once per second when it is a
/// terminal (nothing when piped, so logs stay clean), and returns their results.
pub fn wait_with_progress<T>(
    scenario: &str,
    counters: &Counters,
    workers: Vec<ScopedJoinHandle<'_, T>>,
) -> anyhow::Result<Vec<T>> {
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last = (started, 0u64, 0u64);
    let mut printed = false;
    while !workers.iter().all(|w| w.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if terminal && last.0.elapsed() >= Duration::from_secs(1) {
            let (messages, bytes) = (counters.messages(), counters.bytes());
            let seconds = last.0.elapsed().as_secs_f64();
            let line = format!(
                "\r{scenario}: {messages} msgs in {:.0} s, now {:.0} msgs/s, {:.1} MB/s\x1b[K",
                started.elapsed().as_secs_f64(),
                (messages - last.1) as f64 / seconds,
                (bytes - last.2) as f64 / seconds / 1e6,
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            printed = true;
            last = (Instant::now(), messages, bytes);
        }
    }
    if printed {
        // Clears the progress line, so the summary starts on a clean one.
        let _ = std::io::stderr().write_all(b"\r\x1b[K");
    }
    workers
        .into_iter()
        .map(|worker| {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a {scenario} worker thread panicked"))
        })
        .collect()
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    /// What was timed, such as "send to acknowledgement".
    pub measured: &'static str,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p99_9_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// The percentiles of `histogram` (microseconds); `None` when it is empty.
    pub fn of(measured: &'static str, histogram: &Histogram<u64>) -> Option<Latency> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Latency {
            measured,
            p50_ms: ms(histogram.value_at_quantile(0.5)),
            p90_ms: ms(histogram.value_at_quantile(0.9)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p99_9_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        })
    }
}

/// The summary of one benchmark run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// produce, consume or e2e.
    pub scenario: &'static str,
    pub topic: String,
    pub partitions: usize,
    pub message_bytes: u64,
    pub acks: &'static str,
    pub compression: &'static str,
    pub producers: u64,
    pub consumers: u64,
    /// Messages acknowledged (produce) or received (consume, e2e).
    pub messages: u64,
    /// Bytes of their values (and keys, when reading messages with keys).
    pub bytes: u64,
    /// Messages that failed to be sent.
    pub errors: u64,
    pub elapsed_secs: f64,
    pub messages_per_sec: f64,
    /// Millions of bytes per second.
    pub megabytes_per_sec: f64,
    /// None for consume, which measures throughput only.
    pub latency: Option<Latency>,
}

impl Report {
    /// A report of `messages` and `bytes` done in `elapsed`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: &'static str,
        load: &Load,
        partitions: usize,
        messages: u64,
        bytes: u64,
        errors: u64,
        elapsed: Duration,
        latency: Option<Latency>,
    ) -> Report {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Report {
            scenario,
            topic: load.topic.clone(),
            partitions,
            message_bytes: load.message_bytes,
            acks: load.acks.config(),
            compression: load.compression.config(),
            producers: if scenario == "consume" {
                0
            } else {
                load.producers
            },
            consumers: if scenario == "produce" {
                0
            } else {
                load.consumers
            },
            messages,
            bytes,
            errors,
            elapsed_secs: elapsed.as_secs_f64(),
            messages_per_sec: messages as f64 / seconds,
            megabytes_per_sec: bytes as f64 / seconds / 1e6,
            latency,
        }
    }
}

impl crate::output::Report for Report {
    fn text(&self) -> String {
        let mut setup = format!(
            "{}: {}-byte messages, topic {} ({} partitions)",
            self.scenario, self.message_bytes, self.topic, self.partitions
        );
        if self.scenario != "consume" {
            setup.push_str(&format!(
                ", acks={}, compression {}, {} producer(s)",
                self.acks, self.compression, self.producers
            ));
        }
        if self.scenario != "produce" {
            setup.push_str(&format!(", {} consumer(s)", self.consumers));
        }
        let mut text = format!(
            "{setup}\n{} messages, {:.1} MB in {:.2} s: {:.0} msgs/s, {:.1} MB/s\n",
            self.messages,
            self.bytes as f64 / 1e6,
            self.elapsed_secs,
            self.messages_per_sec,
            self.megabytes_per_sec
        );
        if self.errors > 0 {
            text.push_str(&format!("{} messages failed\n", self.errors));
        }
        if let Some(latency) = &self.latency {
            text.push_str(&format!(
                "latency ({}): p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, \
                 max {:.3} ms\n",
                latency.measured,
                latency.p50_ms,
                latency.p90_ms,
                latency.p99_ms,
                latency.p99_9_ms,
                latency.max_ms
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_in_milliseconds() {
        let mut histogram = histogram();
        for us in 1..=10_000 {
            histogram.saturating_record(us);
        }
        histogram.saturating_record(LATENCY_US_MAX * 10);
        let latency = Latency::of("test", &histogram).expect("not empty");
        assert!((latency.p50_ms - 5.0).abs() < 0.01, "{latency:?}");
        assert!(latency.p50_ms <= latency.p90_ms);
        assert!(latency.p90_ms <= latency.p99_ms);
        assert!(latency.p99_ms <= latency.p99_9_ms);
        assert!(latency.p99_9_ms <= latency.max_ms);
        assert!((latency.max_ms - 60_000.0).abs() < 60.0, "{latency:?}");
        assert!(Latency::of("empty", &super::histogram()).is_none());
    }
}
