//! `fjord serve`: load settings, bind the listener, run the broker until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use tracing::info;

use crate::settings::Settings;

/// Arguments of `fjord serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A TOML file of settings (keys as the flags without `--`); flags and FJORD_*
    /// variables override it.
    #[arg(long, env = "FJORD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(flatten)]
    settings: Settings,
}

/// Runs the broker until a shutdown signal, then closes it cleanly.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    check_environment()?;
    let file = match &args.config {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    let (listen, config) = args.settings.or(file).resolve()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fjord")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        fjord_broker::run(listener, config, shutdown_signal()).await?;
        info!("stopped");
        Ok(())
    })
}

/// Variables read by `fjord` itself rather than by a setting.
const OTHER_VARIABLES: &[&str] = &["FJORD_LOG", "FJORD_BROKERS"];

/// Refuses to start on a `FJORD_*` variable that names no setting: a misspelt variable
/// would otherwise be ignored without a word.
fn check_environment() -> anyhow::Result<()> {
    use clap::Args as _;
    let command = ServeArgs::augment_args(clap::Command::new("serve"));
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .chain(OTHER_VARIABLES.iter().map(|v| (*v).to_owned()))
        .collect();
    let unknown: Vec<String> = std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| key.starts_with("FJORD_") && !known.contains(key))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("unknown environment variable(s): {}", unknown.join(", "))
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    info!("shutting down");
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FJORD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
