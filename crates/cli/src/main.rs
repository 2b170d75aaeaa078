//! `fjord`: the broker (`fjord serve`) and a client for any Kafka-compatible cluster
//! (`fjord topic ...`, `fjord group ...`, `fjord cluster ...`). The binary is thin: it parses arguments and settings and calls
//! the crates, or the small protocol client in [`client`].

mod client;
mod cluster;
mod datetime;
mod exit;
mod group;
mod options;
mod output;
mod serve;
mod settings;
mod topic;

use clap::{Parser, Subcommand};

/// Fjord: a Kafka-compatible event-streaming broker.
#[derive(Debug, Parser)]
#[command(name = "fjord", version, about, long_about = None)]
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
    };
    match result {
        Ok(()) => std::process::ExitCode::from(exit::SUCCESS),
        Err(error) => {
            eprintln!("fjord: {error:#}");
            std::process::ExitCode::from(exit::code_of(&error))
        }
    }
}
