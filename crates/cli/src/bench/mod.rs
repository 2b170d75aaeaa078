//! `fjord bench produce | consume | e2e`: throughput and latency of a cluster, measured
//! with librdkafka, the client most Kafka applications use underneath.

mod consume;
mod e2e;
mod produce;
mod report;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::client::Client;
use crate::exit;
use crate::librdkafka;
use crate::options::ClientOptions;
use crate::produce::{Acks, Compression};

/// Arguments of `fjord bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    options: ClientOptions,

    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// Send messages as fast as allowed; report throughput and the latency from send to
    /// acknowledgement.
    ///
    /// The topic is created with --partitions if it does not exist.
    ///
    /// Examples:
    ///   fjord bench produce
    ///   fjord bench produce --message-bytes 1024 --count 1000000 --acks all
    ///   fjord bench produce --duration-secs 30 --rate-limit 50000 --producers 2
    ///   fjord bench produce --compression zstd --format json
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Produce(Load),

    /// Read a topic from its beginning as fast as possible; report throughput.
    ///
    /// Fill the topic first, for instance with `fjord bench produce` and the same --topic.
    /// Reading stops at the end of every partition as of the start, or after --count
    /// messages, or after --duration-secs.
    ///
    /// Examples:
    ///   fjord bench produce --count 1000000 && fjord bench consume
    ///   fjord bench consume --topic big --consumers 3 --format json
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Consume(Load),

    /// Produce and consume at once; report the latency from send to receipt.
    ///
    /// Each message carries the time it was sent; the consumers, in the same process,
    /// record how long it took to reach them. A rate limit measures latency below
    /// saturation; without one, the latency includes the queues of a saturated cluster.
    ///
    /// Examples:
    ///   fjord bench e2e --rate-limit 2000 --duration-secs 10
    ///   fjord bench e2e --acks 1 --count 100000 --consumers 2 --format json
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    E2e(Load),
}

/// The load of a benchmark: what to send or read, how much and how fast.
#[derive(Debug, Clone, clap::Args)]
pub struct Load {
    /// The topic to use.
    #[arg(long, default_value = "fjord-bench")]
    topic: String,

    /// Partitions of the topic when this command creates it [default: 6].
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    partitions: Option<i32>,

    /// Replication factor of the topic when this command creates it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=32))]
    replicas: i32,

    /// Size of each message value, in bytes (no key).
    #[arg(long, default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=16 * 1024 * 1024))]
    message_bytes: u64,

    /// How many messages to send or read [default: 1000000 for produce and e2e; for
    /// consume, all there are].
    #[arg(long, conflicts_with = "duration_secs",
          value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Send or read for this many seconds instead of a count.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration_secs: Option<u64>,

    /// Messages per second to send, in total over all producers [default: no limit].
    #[arg(long, value_name = "MSGS_PER_S", value_parser = clap::value_parser!(u64).range(1..))]
    rate_limit: Option<u64>,

    /// How many replicas must have a message before it counts as sent.
    #[arg(long, value_enum, default_value = "all")]
    acks: Acks,

    /// Compression codec of the record batches.
    #[arg(long, value_enum, default_value = "none")]
    compression: Compression,

    /// How long a producer waits to fill a batch, in milliseconds [default: 5 for
    /// produce, for throughput; 0 for e2e, for latency].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    linger_ms: Option<u64>,

    /// Producers sending in parallel, each with its own connection and thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    producers: u64,

    /// Consumers reading in parallel, each with its own share of the partitions.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    consumers: u64,
}

/// Partitions of a topic the bench creates, when --partitions does not say.
const PARTITIONS_DEFAULT: i32 = 6;

/// Messages sent or read when neither --count nor --duration-secs is given.
const COUNT_DEFAULT: u64 = 1_000_000;

/// When a benchmark stops: after a number of messages or at a time.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Count(u64),
    Until(Instant),
}

impl Load {
    /// The limit of sending, starting now.
    fn limit(&self) -> Limit {
        match (self.count, self.duration_secs) {
            (_, Some(seconds)) => Limit::Until(Instant::now() + Duration::from_secs(seconds)),
            (Some(count), None) => Limit::Count(count),
            (None, None) => Limit::Count(COUNT_DEFAULT),
        }
    }
}

/// Runs a `fjord bench` command.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let stop = librdkafka::stop_on_signal()?;
    let options = args.options;
    let summary = match args.command {
        BenchCommand::Produce(load) => {
            let partitions = prepare_topic(&options, &load, true)?;
            produce::run(&options, &load, partitions, &stop)?
        }
        BenchCommand::Consume(load) => {
            let partitions = prepare_topic(&options, &load, false)?;
            consume::run(&options, &load, partitions, &stop)?
        }
        BenchCommand::E2e(load) => {
            if load.message_bytes < e2e::STAMP_BYTES {
                // A command-line error like clap's own: its message, exit code 2.
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!(
                        "--message-bytes must be at least {} for e2e: each message carries \
                         its send time\n",
                        e2e::STAMP_BYTES
                    ),
                )
                .exit();
            }
            let partitions = prepare_topic(&options, &load, true)?;
            e2e::run(&options, &load, partitions, &stop)?
        }
    };
    crate::output::print(options.format, &summary.report)?;
    match summary.error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// The partitions of the benchmark topic, creating it first when `create` and it does
/// not exist.
fn prepare_topic(options: &ClientOptions, load: &Load, create: bool) -> anyhow::Result<Vec<i32>> {
    let runtime = librdkafka::runtime()?;
    runtime.block_on(async {
        let mut client = Client::new(options.brokers.clone(), options.timeout());
        match librdkafka::partitions_of(&mut client, &load.topic).await {
            Ok(partitions) => {
                if let Some(asked) = load.partitions
                    && partitions.len() != asked as usize
                {
                    eprintln!(
                        "fjord: topic '{}' exists with {} partitions; --partitions {asked} \
                         applies only when the bench creates it",
                        load.topic,
                        partitions.len(),
                    );
                }
                return Ok(partitions);
            }
            Err(error) if !create && exit::code_of(&error) == exit::NOT_FOUND => {
                return Err(exit::NotFound(format!(
                    "topic '{}' does not exist; fill it first with `fjord bench produce \
                     --topic {}`",
                    load.topic, load.topic
                ))
                .into());
            }
            Err(error) if exit::code_of(&error) == exit::NOT_FOUND => {}
            Err(error) => return Err(error),
        }
        let admin: AdminClient<DefaultClientContext> =
            librdkafka::client_config(&options.brokers, options.timeout())
                .create()
                .map_err(|error| librdkafka::error("creating the admin client", &error))?;
        let topic = NewTopic::new(
            &load.topic,
            load.partitions.unwrap_or(PARTITIONS_DEFAULT),
            TopicReplication::Fixed(load.replicas),
        );
        let admin_options = AdminOptions::new().operation_timeout(Some(options.timeout()));
        let results = admin
            .create_topics([&topic], &admin_options)
            .await
            .map_err(|error| librdkafka::error("creating the bench topic", &error))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    anyhow::bail!("creating topic '{name}': {code} ({})", code as i32)
                }
            }
        }
        // The topic's leaders may take a moment to be known; topic_partitions retries.
        librdkafka::partitions_of(&mut client, &load.topic).await
    })
}

/// What a benchmark measured, and the first error that stopped it, if any.
pub struct Summary {
    report: report::Report,
    error: Option<anyhow::Error>,
}

/// Whether to stop: a signal came or the limit is reached.
fn should_stop(stop: &Arc<AtomicBool>) -> bool {
    stop.load(std::sync::atomic::Ordering::SeqCst)
}

/// The partitions of consumer `index` of `count`: every count-th one.
fn share(partitions: &[i32], index: u64, count: u64) -> Vec<i32> {
    partitions
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 % count == index)
        .map(|(_, &p)| p)
        .collect()
}

/// A value of `bytes` pseudo-random capital letters: as compressible as the values of
/// Kafka's own producer benchmark, so codecs are measured on something like text.
fn filler(bytes: u64, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..bytes)
        .map(|_| {
            // xorshift64: plenty for filler, and no dependency.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'A' + (state % 26) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_partition_once() {
        let partitions: Vec<i32> = (0..7).collect();
        let mut all: Vec<i32> = (0..3).flat_map(|i| share(&partitions, i, 3)).collect();
        all.sort_unstable();
        assert_eq!(all, partitions);
        assert_eq!(share(&partitions, 1, 3), [1, 4]);
    }

    #[test]
    fn filler_is_letters_of_the_size_asked() {
        let value = filler(1000, 7);
        assert_eq!(value.len(), 1000);
        assert!(value.iter().all(u8::is_ascii_uppercase));
        assert_ne!(filler(16, 1), filler(16, 2));
    }
}
