//! `fjord`: the broker (`fjord serve`) and a client for any Kafka-compatible cluster
//! (`fjord topic`, `group`, `cluster`, `produce`, `consume`, `bench`). The binary is
//! thin: it parses arguments and settings and calls the crates, the small protocol
//! client in [`client`] or librdkafka.

mod bench;
mod client;
mod cluster;
mod consume;
mod datetime;
mod exit;
mod group;
mod librdkafka;
mod options;
mod output;
mod produce;
mod serve;
mod settings;
mod topic;

use clap::{Parser, Subcommand};

/// Examples shown under `fjord --help`.
const EXAMPLES: &str = "\
Examples:
  fjord serve                                   # a broker on 127.0.0.1:9092, data in ./fjord-data
  fjord topic create orders -p 3
  printf 'alice:12\\nbob:7\\n' | fjord produce orders --key-separator : -v
  fjord consume orders --from-beginning --exit-at-end
  fjord consume orders --group billing          # commits as it prints
  fjord group describe billing                  # members, committed offsets, lag
  fjord cluster info --brokers kafka-1:9092     # any Kafka-compatible cluster
  fjord bench produce --count 1000000 --acks all

Client commands find the cluster with --brokers, else FJORD_BROKERS, else
127.0.0.1:9092. Each command's --help lists its options, examples and exit codes.";

/// Fjord: a Kafka-compatible event-streaming broker.
#[derive(Debug, Parser)]
#[command(name = "fjord", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once and kept for the life of the process: the size of a variant is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker.
    ///
    /// With no settings it runs the embedded default: a single node with id 1, the Kafka
    /// listener on 127.0.0.1:9092 and data under ./fjord-data.
    ///
    /// Examples:
    ///   fjord serve
    ///   fjord serve --listen 0.0.0.0:9092 --advertised-listener broker1.example:9092
    ///   FJORD_NUM_PARTITIONS=6 fjord serve --config fjord.toml
    #[command(verbatim_doc_comment)]
    Serve(serve::ServeArgs),

    /// Manage the consumer groups of any Kafka-compatible cluster.
    ///
    /// The brokers come from --brokers, else FJORD_BROKERS, else 127.0.0.1:9092.
    ///
    /// Examples:
    ///   fjord group list
    ///   fjord group describe billing
    ///   fjord group reset-offsets billing --topic orders --to-earliest --dry-run
    ///   fjord group delete billing
    ///   FJORD_BROKERS=kafka-1:9092,kafka-2:9092 fjord group list --format json
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Group(group::GroupArgs),

    /// Create, list, describe, delete and alter the topics of any Kafka-compatible cluster.
    ///
    /// The brokers come from --brokers, else FJORD_BROKERS, else 127.0.0.1:9092.
    ///
    /// Examples:
    ///   fjord topic create orders -p 6 -c retention.ms=86400000
    ///   fjord topic list
    ///   fjord topic describe orders
    ///   fjord topic alter-config orders --set retention.ms=3600000 --delete cleanup.policy
    ///   fjord topic add-partitions orders --to 12
    ///   fjord topic delete orders
    ///   FJORD_BROKERS=kafka-1:9092,kafka-2:9092 fjord topic list --format json
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Topic(topic::TopicArgs),

    /// Show what a Kafka-compatible cluster is made of and which API versions it speaks.
    ///
    /// The brokers come from --brokers, else FJORD_BROKERS, else 127.0.0.1:9092.
    ///
    /// Examples:
    ///   fjord cluster info
    ///   fjord cluster info --brokers kafka-1:9092 --format json
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Cluster(cluster::ClusterArgs),
    /// Send messages to a topic: one per line of stdin (or of --file).
    ///
    /// The topic must exist (create it with `fjord topic create`). With
    /// --key-separator each line is KEY<SEP>VALUE; -H KEY=VALUE adds a header to every
    /// message; --value-from-stdin-raw sends all of stdin, bytes and newlines included,
    /// as one message. -v prints TOPIC/PARTITION@OFFSET for each message sent.
    ///
    /// Examples:
    ///   echo hello | fjord produce orders
    ///   printf 'alice:1\nbob:2\n' | fjord produce orders --key-separator : -v
    ///   fjord produce orders --file events.txt --acks 1 --compression zstd
    ///   fjord produce orders -H source=cli -H trace=42 --partition 0 < lines.txt
    ///   fjord produce images --value-from-stdin-raw < photo.jpg
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Produce(produce::ProduceArgs),

    /// Print the messages of a topic.
    ///
    /// Without --group it reads every partition (or --partition) from the end, or from
    /// --from-beginning, --offset or --from-time, and commits nothing. With --group it
    /// joins the consumer group, reads what the group assigns and commits the offsets
    /// of the messages it printed. It follows the topic until Ctrl-C, --max-messages or,
    /// with --exit-at-end, the end of every partition as of the start.
    ///
    /// Examples:
    ///   fjord consume orders --from-beginning --exit-at-end
    ///   fjord consume orders --offset -10 --partition 0 -e
    ///   fjord consume orders --from-time 2024-05-01T12:00:00Z -n 100
    ///   fjord consume orders --group billing --from-beginning
    ///   fjord consume orders --from-beginning -e --format '%p@%o %k=%v (%T) %h'
    ///   fjord consume orders --from-beginning -e --format json | jq .value
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Consume(consume::ConsumeArgs),

    /// Measure a cluster: produce, consume and end-to-end throughput and latency.
    ///
    /// Every scenario works on one topic (--topic, default fjord-bench), which produce
    /// and e2e create with --partitions if it is missing. A progress line is shown on a
    /// terminal; the summary gives messages, bytes, elapsed time, msgs/s, MB/s (10^6
    /// bytes) and latency percentiles (p50, p90, p99, p99.9, max) from an HDR histogram.
    ///
    /// Examples:
    ///   fjord bench produce --message-bytes 1024 --count 1000000 --acks 1
    ///   fjord bench consume
    ///   fjord bench e2e --rate-limit 2000 --duration-secs 10
    ///   fjord bench produce --producers 2 --compression lz4 --format json
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // --help and --version come this way too, and are no errors.
            let code = if error.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            };
            return std::process::ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Group(args) => group::run(args),
        Command::Topic(args) => topic::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Produce(args) => produce::run(args),
        Command::Consume(args) => consume::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::from(exit::SUCCESS),
        Err(error) => {
            eprintln!("fjord: {error:#}");
            std::process::ExitCode::from(exit::code_of(&error))
        }
    }
}
