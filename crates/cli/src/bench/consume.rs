//! `fjord bench consume`: reads a topic from its beginning as fast as possible.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::report::{self, Counters, Report};
use super::{Limit, Load, Summary, share, should_stop};
use crate::client::{Client, OffsetQuery};
use crate::librdkafka;
use crate::options::ClientOptions;

/// A consumer of the benchmark: assigned partitions by hand, committing nothing.
pub fn consumer_config(options: &ClientOptions) -> ClientConfig {
    let mut config = librdkafka::client_config(&options.brokers, options.timeout());
    // What made the earlier benchmark example fast: large fetches.
    config
        .set("group.id", "fjord-bench")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760");
    config
}

/// A consumer of `partitions` of `topic`, each starting at its offset.
pub fn assigned(
    config: &ClientConfig,
    topic: &str,
    starts: &BTreeMap<i32, Offset>,
) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = config
        .create()
        .map_err(|error| librdkafka::error("creating a consumer", &error))?;
    let mut assignment = TopicPartitionList::new();
    for (&partition, &offset) in starts {
        assignment
            .add_partition_offset(topic, partition, offset)
            .map_err(|error| librdkafka::error("assigning partitions", &error))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|error| librdkafka::error("assigning partitions", &error))?;
    Ok(consumer)
}

/// Reads `mine` from the beginning until each reached its end (`ends`), the limit, or a
/// signal.
fn reader(
    options: &ClientOptions,
    load: &Load,
    mine: &[i32],
    ends: &BTreeMap<i32, i64>,
    limit: Limit,
    counters: &Counters,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let starts = mine.iter().map(|&p| (p, Offset::Beginning)).collect();
    let consumer = assigned(&consumer_config(options), &load.topic, &starts)?;
    let mut pending: BTreeSet<i32> = mine
        .iter()
        .copied()
        .filter(|p| ends.get(p).is_some_and(|&end| end > 0))
        .collect();
    while !pending.is_empty() && !should_stop(stop) {
        match limit {
            Limit::Count(count) if counters.messages() >= count => break,
            Limit::Until(deadline) if Instant::now() >= deadline => break,
            _ => {}
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let bytes = message.payload_len() + message.key().map_or(0, <[u8]>::len);
                counters.add(bytes as u64);
                if ends
                    .get(&message.partition())
                    .is_some_and(|&end| message.offset() + 1 >= end)
                {
                    pending.remove(&message.partition());
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                pending.remove(&partition);
            }
            Some(Err(error)) => {
                let error = librdkafka::error(&format!("reading topic '{}'", load.topic), &error);
                if crate::exit::code_of(&error) != crate::exit::UNREACHABLE {
                    return Err(error);
                }
                // librdkafka reconnects by itself; the time limit still applies.
            }
            None => {}
        }
    }
    Ok(())
}

/// Runs `fjord bench consume`.
pub fn run(
    options: &ClientOptions,
    load: &Load,
    partitions: Vec<i32>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Summary> {
    let ends: BTreeMap<i32, i64> = librdkafka::runtime()?.block_on(async {
        let mut client = Client::new(options.brokers.clone(), options.timeout());
        let ends =
            librdkafka::offsets(&mut client, &load.topic, &partitions, OffsetQuery::Latest).await?;
        anyhow::Ok(
            ends.into_iter()
                .map(|(p, end)| (p, end.unwrap_or(0)))
                .collect(),
        )
    })?;
    let limit = match (load.count, load.duration_secs) {
        (_, Some(seconds)) => Limit::Until(Instant::now() + Duration::from_secs(seconds)),
        (Some(count), None) => Limit::Count(count),
        // All there is: the ends stop each reader.
        (None, None) => Limit::Count(u64::MAX),
    };
    let counters = Counters::default();
    let started = Instant::now();
    let results = std::thread::scope(|scope| {
        let workers = (0..load.consumers)
            .map(|index| {
                let mine = share(&partitions, index, load.consumers);
                let (ends, counters) = (&ends, &counters);
                scope.spawn(move || reader(options, load, &mine, ends, limit, counters, stop))
            })
            .collect();
        report::wait_with_progress("consume", &counters, workers)
    })?;
    let elapsed = started.elapsed();
    let error = results.into_iter().find_map(Result::err);
    Ok(Summary {
        report: Report::new(
            "consume",
            load,
            partitions.len(),
            counters.messages(),
            counters.bytes(),
            0,
            elapsed,
            None,
        ),
        error,
    })
}
