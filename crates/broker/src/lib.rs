//! The Fjord broker: a Kafka listener, one handler per Kafka API, and the partitions and
//! topic metadata behind them.
//!
//! [`run`] is the whole broker. It takes an already-bound listener and a shutdown future,
//! so `fjord serve` and the tests start it the same way.

mod config;
mod error_code;
mod fetch_session;
mod groups;
mod handlers;
mod internal_topics;
mod network;
mod partition;
mod producer_ids;
mod topics;
mod transactions;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::BrokerConfig;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tracing::{info, warn};

/// Why the broker could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The listener's address could not be read.
    #[error("listener: {0}")]
    Listener(std::io::Error),
    /// The data directory could not be created or read.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Another broker holds the data directory's lock.
    #[error("data directory {0} is in use by another broker")]
    DataDirLocked(std::path::PathBuf),
    /// The metadata log could not be opened or replayed.
    #[error("metadata: {0}")]
    Metadata(String),
    /// A partition log could not be opened.
    #[error("partition {topic}-{partition}: {message}")]
    Partition {
        /// The topic.
        topic: String,
        /// The partition index.
        partition: i32,
        /// What went wrong.
        message: String,
    },
}

/// Fetch sessions kept at once (Kafka: max.incremental.fetch.session.cache.slots).
const FETCH_SESSION_SLOTS_MAX: usize = 1000;

/// The broker's shared state. Handlers get it through their request context.
pub(crate) struct Broker {
    pub config: BrokerConfig,
    /// The host and port given to clients in Metadata.
    pub advertised: (String, u16),
    pub topics: topics::Topics,
    /// Woken on every append, so that waiting fetches re-check for data.
    pub appended: Arc<Notify>,
    pub fetch_sessions: std::sync::Mutex<fetch_session::FetchSessions>,
    pub producer_ids: producer_ids::ProducerIds,
    /// The group coordinator, started when `__consumer_offsets` exists or on first use.
    pub groups: tokio::sync::OnceCell<groups::Groups>,
    /// The transaction coordinator, started when `__transaction_state` exists or on
    /// first use.
    pub transactions: tokio::sync::OnceCell<transactions::Transactions>,
}

/// Runs a broker on `listener` until `shutdown` resolves, then closes every partition
/// cleanly (flushed, with a clean-shutdown marker that spares the next start a scan).
pub async fn run(
    listener: TcpListener,
    config: BrokerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BrokerError> {
    let started = Instant::now();
    let bound: SocketAddr = listener.local_addr().map_err(BrokerError::Listener)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| BrokerError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let data_dir = config.data_dir.clone();
    // Two brokers on one directory would interleave writes to the same segments; the
    // lock is held until this function returns and released by the kernel on a crash.
    let _lock = lock_data_dir(&data_dir)?;
    let appended = Arc::new(Notify::new());
    let topics = topics::Topics::open(&config, appended.clone()).await?;
    let producer_ids =
        producer_ids::ProducerIds::open(&data_dir).map_err(|source| BrokerError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
    let broker = Arc::new(Broker {
        advertised: config.advertised(bound),
        fetch_sessions: std::sync::Mutex::new(fetch_session::FetchSessions::new(
            FETCH_SESSION_SLOTS_MAX,
        )),
        config,
        topics,
        appended,
        producer_ids,
        groups: tokio::sync::OnceCell::new(),
        transactions: tokio::sync::OnceCell::new(),
    });
    // Groups with committed offsets must come back (and their offsets start expiring)
    // without waiting for a client to ask.
    if broker.topic(groups::CONSUMER_OFFSETS).is_some()
        && let Err(message) = broker.groups().await
    {
        return Err(BrokerError::Metadata(format!(
            "{}: {message}",
            groups::CONSUMER_OFFSETS
        )));
    }
    // Transactions left prepared by a crash must get their markers, and ongoing ones
    // their timeouts, without waiting for a client to ask.
    if broker.topic(fjord_txn::TRANSACTION_STATE_TOPIC).is_some()
        && let Err(message) = broker.transactions().await
    {
        return Err(BrokerError::Metadata(format!(
            "{}: {message}",
            fjord_txn::TRANSACTION_STATE_TOPIC
        )));
    }
    let partition_count: usize = broker.topics().iter().map(|t| t.partitions.len()).sum();
    info!(
        "fjord {} listening on {bound}, data in {}, {} topics and {partition_count} partitions recovered in {} ms",
        env!("CARGO_PKG_VERSION"),
        data_dir.display(),
        broker.topics().len(),
        started.elapsed().as_millis(),
    );

    let maintenance = tokio::spawn(maintenance_loop(broker.clone()));
    network::accept_loop(listener, broker.clone(), shutdown).await;
    maintenance.abort();
    broker.topics.close().await;
    Ok(())
}

fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, BrokerError> {
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| BrokerError::DataDir {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(BrokerError::DataDirLocked(dir.to_path_buf()))
        }
        Err(std::fs::TryLockError::Error(source)) => Err(BrokerError::DataDir { path, source }),
    }
}

/// Enforces retention and rolls segments by age, every `retention_check_interval_ms`.
async fn maintenance_loop(broker: Arc<Broker>) {
    let mut interval = tokio::time::interval(Duration::from_millis(
        broker.config.retention_check_interval_ms,
    ));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let broker = broker.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            for topic in broker.topics() {
                for partition in &topic.partitions {
                    partition.enforce_retention();
                }
            }
        })
        .await;
        if let Err(error) = outcome {
            warn!(%error, "retention check failed");
        }
    }
}
