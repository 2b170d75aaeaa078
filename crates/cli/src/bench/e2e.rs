//! `fjord bench e2e`: producers and consumers at once; each message carries its send
//! time, and the consumers record how long it took to reach them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::Offset;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;

use super::consume::{assigned, consumer_config};
use super::produce::{Produced, producer, share_of};
use super::report::{self, Counters, Latency, Report};
use super::{Load, Summary, share, should_stop};
use crate::client::{Client, OffsetQuery};
use crate::librdkafka;
use crate::options::ClientOptions;

/// Bytes at the start of each value that hold its send time.
pub const STAMP_BYTES: u64 = 8;

/// How the producers tell the consumers they are done.
struct Done {
    /// Set once every producer has finished.
    producers: AtomicBool,
    /// Messages acknowledged, final once `producers` is set.
    acknowledged: AtomicU64,
    /// When the producers finished, in ms since the epoch of the run.
    at_ms: AtomicU64,
}

/// Reads `mine` from `starts`, recording each message's latency, until every
/// acknowledged message has arrived, or the producers finished more than a timeout ago,
/// or a signal.
#[allow(clippy::too_many_arguments)]
fn reader(
    options: &ClientOptions,
    load: &Load,
    starts: &BTreeMap<i32, Offset>,
    epoch: Instant,
    counters: &Counters,
    done: &Done,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Histogram<u64>> {
    let consumer = assigned(
        consumer_config(options)
            .set("fetch.wait.max.ms", "100")
            .set("fetch.min.bytes", "1"),
        &load.topic,
        starts,
    )?;
    let mut histogram = report::histogram();
    loop {
        if should_stop(stop) {
            break;
        }
        if done.producers.load(Ordering::SeqCst) {
            if counters.messages() >= done.acknowledged.load(Ordering::SeqCst) {
                break;
            }
            let done_at = Duration::from_millis(done.at_ms.load(Ordering::SeqCst));
            if epoch.elapsed() > done_at + options.timeout() {
                break;
            }
        }
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(message)) => {
                let received_ns = epoch.elapsed().as_nanos() as u64;
                let stamp = message
                    .payload()
                    .and_then(|p| p.get(..STAMP_BYTES as usize))
                    .and_then(|p| <[u8; 8]>::try_from(p).ok());
                if let Some(stamp) = stamp {
                    let sent_ns = u64::from_be_bytes(stamp);
                    histogram
                        .saturating_record((received_ns.saturating_sub(sent_ns) / 1000).max(1));
                }
                counters.add(message.payload_len() as u64);
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(error)) => {
                let error = librdkafka::error(&format!("reading topic '{}'", load.topic), &error);
                if crate::exit::code_of(&error) != crate::exit::UNREACHABLE {
                    return Err(error);
                }
            }
        }
    }
    Ok(histogram)
}

/// Runs `fjord bench e2e`.
pub fn run(
    options: &ClientOptions,
    load: &Load,
    partitions: Vec<i32>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Summary> {
    // The consumers start at the ends as of now: every message after is one of ours.
    let ends: BTreeMap<i32, Offset> = librdkafka::runtime()?.block_on(async {
        let mut client = Client::new(options.brokers.clone(), options.timeout());
        let ends =
            librdkafka::offsets(&mut client, &load.topic, &partitions, OffsetQuery::Latest).await?;
        anyhow::Ok(
            ends.into_iter()
                .map(|(p, end)| (p, end.map_or(Offset::End, Offset::Offset)))
                .collect(),
        )
    })?;
    let epoch = Instant::now();
    let limit = load.limit();
    let received = Counters::default();
    let acknowledged = Arc::new(Counters::default());
    let done = Done {
        producers: AtomicBool::new(false),
        acknowledged: AtomicU64::new(0),
        at_ms: AtomicU64::new(0),
    };
    let (produced, read) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..load.consumers)
            .map(|index| {
                let starts: BTreeMap<i32, Offset> = share(&partitions, index, load.consumers)
                    .into_iter()
                    .filter_map(|p| ends.get(&p).map(|&o| (p, o)))
                    .collect();
                let (received, done) = (&received, &done);
                scope.spawn(move || reader(options, load, &starts, epoch, received, done, stop))
            })
            .collect();
        let producers = (0..load.producers)
            .map(|index| {
                let acknowledged = Arc::clone(&acknowledged);
                scope.spawn(move || {
                    producer(
                        options,
                        load,
                        index,
                        share_of(limit, index, load.producers),
                        epoch,
                        acknowledged,
                        stop,
                        true,
                    )
                })
            })
            .collect();
        let produced: Vec<Produced> = report::wait_with_progress("e2e", &received, producers)?;
        done.acknowledged
            .store(acknowledged.messages(), Ordering::SeqCst);
        done.at_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::SeqCst);
        done.producers.store(true, Ordering::SeqCst);
        let read = report::wait_with_progress("e2e", &received, readers)?;
        anyhow::Ok((produced, read))
    })?;
    let elapsed = epoch.elapsed();
    let mut histogram = report::histogram();
    let mut errors = 0;
    let mut error = None;
    for one in produced {
        errors += one.errors;
        if error.is_none() {
            error = one.first_error;
        }
    }
    for one in read {
        match one {
            Ok(one) => {
                let _ = histogram.add(&one);
            }
            Err(read_error) => {
                error.get_or_insert(read_error);
            }
        }
    }
    let sent = acknowledged.messages();
    if error.is_none() && received.messages() < sent && !should_stop(stop) {
        error = Some(anyhow::anyhow!(
            "only {} of the {sent} acknowledged messages arrived within --timeout-ms",
            received.messages()
        ));
    }
    Ok(Summary {
        report: Report::new(
            "e2e",
            load,
            partitions.len(),
            received.messages(),
            received.bytes(),
            errors,
            elapsed,
            Latency::of("send to receipt", &histogram),
        ),
        error,
    })
}
