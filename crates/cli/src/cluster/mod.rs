//! `fjord cluster`: what a Kafka-compatible cluster is made of and what it speaks.

mod info;

use anyhow::Context;

use crate::client::Client;
use crate::exit;
use crate::options::ClientOptions;

/// Arguments of `fjord cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    options: ClientOptions,

    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ClusterCommand {
    /// Show the cluster's id, controller and brokers, and the API versions it speaks.
    ///
    /// The API versions table comes from the broker that answered first: for every
    /// API key it supports, the oldest and newest version, and the version fjord
    /// would send (a dash for APIs fjord does not use, or whose versions do not meet).
    /// Kafka's protocol does not tell a broker's software version, so none is shown.
    ///
    /// Examples:
    ///   fjord cluster info
    ///   fjord cluster info --brokers kafka-1:9092 --format json | jq '.brokers'
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Info,
}

/// Runs a `fjord cluster` command.
pub fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut client = Client::new(args.options.brokers.clone(), args.options.timeout());
    let format = args.options.format;
    runtime.block_on(async {
        match args.command {
            ClusterCommand::Info => info::run(&mut client, format).await,
        }
    })
}
