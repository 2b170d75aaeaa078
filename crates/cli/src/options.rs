//! Options every client command takes: where the cluster is, how to print, how long to
//! wait.

use std::time::Duration;

use crate::client::BrokerList;
use crate::output::Format;

/// Where the client options appear in `--help`.
const HEADING: &str = "Cluster options";

/// The options of the client commands. They are global within a command's subtree, so
/// `fjord group --brokers B list` and `fjord group list --brokers B` mean the same.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientOptions {
    /// Brokers to bootstrap from; the rest of the cluster is learnt from them.
    #[arg(
        long,
        global = true,
        help_heading = HEADING,
        env = "FJORD_BROKERS",
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT[,...]"
    )]
    pub brokers: BrokerList,

    /// Output format: text for people, json for scripts.
    #[arg(long, global = true, help_heading = HEADING, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Time limit of each connection attempt and each request, in milliseconds.
    #[arg(
        long,
        global = true,
        help_heading = HEADING,
        default_value_t = 30_000,
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(1..=3_600_000)
    )]
    pub timeout_ms: u64,
}

impl ClientOptions {
    /// `--timeout-ms` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// [`ClientOptions`] without `--format`, for a command whose `--format` means more than
/// text or json (`fjord consume` also takes a template). The two options are declared
/// exactly as in [`ClientOptions`].
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionOptions {
    /// Brokers to bootstrap from; the rest of the cluster is learnt from them.
    #[arg(
        long,
        global = true,
        help_heading = HEADING,
        env = "FJORD_BROKERS",
        default_value = "127.0.0.1:9092",
        value_name = "HOST:PORT[,...]"
    )]
    pub brokers: BrokerList,

    /// Time limit of each connection attempt and each request, in milliseconds.
    #[arg(
        long,
        global = true,
        help_heading = HEADING,
        default_value_t = 30_000,
        value_name = "MS",
        value_parser = clap::value_parser!(u64).range(1..=3_600_000)
    )]
    pub timeout_ms: u64,
}

impl ConnectionOptions {
    /// `--timeout-ms` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}
