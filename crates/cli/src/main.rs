//! `fjord`: the broker (`fjord serve`) and, later, a client for any Kafka-compatible
//! cluster. The binary is thin: it parses arguments and settings and calls the crates.

mod serve;
mod settings;

use clap::{Parser, Subcommand};

/// Fjord: a Kafka-compatible event-streaming broker.
#[derive(Debug, Parser)]
#[command(name = "fjord", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fjord: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
