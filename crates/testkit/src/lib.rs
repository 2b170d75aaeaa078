//! Real brokers for tests: [`TestBroker`] runs one in-process on an ephemeral port with
//! its own runtime and data directory; [`BrokerProcess`] runs the `fjord` binary as a
//! child process, so that tests can kill it with SIGKILL and start it again.
//!
//! Both use the same `fjord_broker::run` as `fjord serve`, over real sockets and real
//! files: nothing here stands in for the broker, the disk or the network.
//!
//! The other modules are what the integration tests share: [`clients`] configures real
//! Kafka clients (librdkafka) for a local broker, [`messages`] produces numbered messages
//! and reads them back, [`raw`] speaks the protocol without a client library, [`disk`]
//! looks at the files a broker wrote, [`groups`] asks the broker about consumer groups
//! and runs group scenarios with both protocols, [`command`] runs external tools such as
//! kcat with a time limit, and [`cli`] runs the `fjord` binary's client commands.

#![allow(clippy::unwrap_used)] // Test support: a failure to start is a failed test.

pub mod cli;
pub mod clients;
pub mod command;
pub mod disk;
pub mod groups;
pub mod messages;
pub mod raw;
pub mod transactions;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use fjord_broker::BrokerConfig;
use tokio::sync::oneshot;

/// A broker running in this process on 127.0.0.1 and an ephemeral port.
pub struct TestBroker {
    addr: SocketAddr,
    data_dir: PathBuf,
    /// Kept so the directory lives as long as the broker (and across restarts).
    temp_dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestBroker {
    /// Starts a broker with the embedded defaults in a fresh temporary directory.
    pub fn start() -> TestBroker {
        TestBroker::start_with(|_| {})
    }

    /// Starts a broker in a fresh temporary directory after `configure` adjusts its config.
    pub fn start_with(configure: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        let temp_dir = tempfile::Builder::new()
            .prefix("fjord-test-")
            .tempdir()
            .unwrap();
        let mut config = BrokerConfig::new(temp_dir.path().to_path_buf());
        configure(&mut config);
        let mut broker = TestBroker::start_in(config, None);
        broker.temp_dir = Some(temp_dir);
        broker
    }

    fn start_in(config: BrokerConfig, addr: Option<SocketAddr>) -> TestBroker {
        let data_dir = config.data_dir.clone();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("test-broker".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let bind = addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
                    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
                    ready_tx.send(listener.local_addr().unwrap()).unwrap();
                    let shutdown = async {
                        let _ = shutdown_rx.await;
                    };
                    if let Err(error) = fjord_broker::run(listener, config, shutdown).await {
                        panic!("test broker failed: {error}");
                    }
                });
            })
            .unwrap();
        let addr = ready_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        TestBroker {
            addr,
            data_dir,
            temp_dir: None,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// `host:port` for a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the broker cleanly and starts it again on the same port and data directory,
    /// with `configure` applied to a fresh default config.
    pub fn restart_with(mut self, configure: impl FnOnce(&mut BrokerConfig)) -> TestBroker {
        self.stop_inner();
        let mut config = BrokerConfig::new(self.data_dir.clone());
        configure(&mut config);
        let mut broker = TestBroker::start_in(config, Some(self.addr));
        broker.temp_dir = self.temp_dir.take();
        broker
    }

    /// Stops the broker cleanly and starts it again on the same port and data directory.
    pub fn restart(self) -> TestBroker {
        self.restart_with(|_| {})
    }

    fn stop_inner(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let outcome = self.thread.take().map(|thread| thread.join());
        // Surface a broker failure in the test that owns it.
        if let Some(Err(panic)) = outcome
            && !std::thread::panicking()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// The `fjord` binary run as a child process, for tests that kill it.
pub struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
    binary: PathBuf,
    data_dir: PathBuf,
}

impl BrokerProcess {
    /// Starts `binary serve` on 127.0.0.1 and an ephemeral port (or `port`), with data in
    /// `data_dir`, and waits until it is listening.
    pub fn spawn(binary: &Path, data_dir: &Path, port: Option<u16>) -> BrokerProcess {
        let listen = format!("127.0.0.1:{}", port.unwrap_or(0));
        let mut child = Command::new(binary)
            .args(["serve", "--listen", &listen, "--data-dir"])
            .arg(data_dir)
            // FJORD_LOG from the test's environment (say `debug`) overrides.
            .env(
                "FJORD_LOG",
                std::env::var("FJORD_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The startup line names the bound address: "... listening on 127.0.0.1:PORT ...".
        let stdout = child.stdout.take().unwrap();
        let (addr_tx, addr_rx) = std_mpsc::channel();
        // The broker's log goes to stdout; passing it on to stderr shows it with a failing
        // test's output.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[fjord] {line}");
                match parse_listening(&line) {
                    Some(addr) if !sent => {
                        let _ = addr_tx.send(addr);
                        sent = true;
                    }
                    _ => {}
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[fjord] {line}");
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("fjord did not start listening within 60 s");
            }
        };
        BrokerProcess {
            child,
            addr,
            binary: binary.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// `host:port` for a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// Kills the process with SIGKILL: no flush, no clean shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the binary again on the same port and data directory.
    pub fn restart(&mut self) {
        self.kill();
        let next = BrokerProcess::spawn(&self.binary, &self.data_dir, Some(self.addr.port()));
        // Dropping the old handle kills a process that is already dead: a no-op.
        *self = next;
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    rest.split_whitespace()
        .next()?
        .trim_end_matches(',')
        .parse()
        .ok()
}
