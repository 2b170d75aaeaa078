//! `fjord produce TOPIC`: sends the lines of stdin (or of a file) as messages, with
//! librdkafka as the producer.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use serde::Serialize;

use crate::client::Client;
use crate::librdkafka;
use crate::options::ClientOptions;
use crate::output::Format;

/// `--acks`: how many replicas must have a message before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Acks {
    /// No answer at all: fastest, and no offsets are known.
    #[value(name = "0")]
    None,
    /// The leader has written it.
    #[value(name = "1")]
    Leader,
    /// Every in-sync replica has it (on Fjord: fsynced).
    #[value(name = "all")]
    All,
}

impl Acks {
    /// librdkafka's value of `acks`.
    pub fn config(self) -> &'static str {
        match self {
            Acks::None => "0",
            Acks::Leader => "1",
            Acks::All => "all",
        }
    }
}

/// `--compression`: the codec of the record batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// librdkafka's value of `compression.type`.
    pub fn config(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// A header given as `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderArg {
    key: String,
    value: String,
}

fn parse_header(text: &str) -> Result<HeaderArg, String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok(HeaderArg {
            key: key.to_owned(),
            value: value.to_owned(),
        }),
        _ => Err(format!("'{text}' is not a header; write KEY=VALUE")),
    }
}

fn parse_separator(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("the key separator cannot be empty".to_owned())
    } else {
        Ok(text.to_owned())
    }
}

/// Arguments of `fjord produce`.
#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    options: ClientOptions,

    /// The topic to send to. It must exist: fjord produce never creates topics.
    topic: String,

    /// Read the messages from this file instead of stdin.
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,

    /// Split each line at the first SEP: the key before it, the value after it. A line
    /// without SEP is an error.
    #[arg(short = 'K', long, value_name = "SEP", value_parser = parse_separator)]
    key_separator: Option<String>,

    /// Add the header KEY=VALUE to every message; repeat for more headers.
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE", value_parser = parse_header)]
    headers: Vec<HeaderArg>,

    /// Send all of the input, unchanged (newlines and any bytes), as one message value.
    #[arg(long, conflicts_with = "key_separator")]
    value_from_stdin_raw: bool,

    /// How many replicas must have a message before it counts as sent.
    #[arg(long, value_enum, default_value = "all")]
    acks: Acks,

    /// Compression codec of the record batches.
    #[arg(long, value_enum, default_value = "none")]
    compression: Compression,

    /// Send every message to this partition instead of letting the key choose.
    #[arg(short, long, value_name = "P")]
    partition: Option<i32>,

    /// Largest message read from the input, in bytes; a longer line is an error. The
    /// broker has its own limit (max.message.bytes) and names it when it refuses.
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1..=512 * 1024 * 1024))]
    message_bytes_max: u64,

    /// Print where each message went, as TOPIC/PARTITION@OFFSET (with --format json:
    /// one JSON object per line).
    #[arg(short, long)]
    verbose: bool,
}

/// Where one message went, or why it did not.
#[derive(Debug)]
struct Delivery {
    partition: i32,
    offset: i64,
    error: Option<KafkaError>,
}

/// Collects delivery reports; they are called on the thread that polls the producer.
#[derive(Default)]
struct Deliveries {
    done: Mutex<Vec<Delivery>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let delivery = match result {
            Ok(message) => Delivery {
                partition: message.partition(),
                offset: message.offset(),
                error: None,
            },
            Err((error, message)) => Delivery {
                partition: message.partition(),
                offset: -1,
                error: Some(error.clone()),
            },
        };
        if let Ok(mut done) = self.done.lock() {
            done.push(delivery);
        }
    }
}

/// One `-v` line in JSON.
#[derive(Serialize)]
struct Sent<'a> {
    topic: &'a str,
    partition: i32,
    /// `None` with acks=0: the broker does not answer.
    offset: Option<i64>,
}

/// What has been sent so far, printed as deliveries come in.
struct Progress<'a> {
    args: &'a ProduceArgs,
    producer: &'a BaseProducer<Deliveries>,
    stdout: std::io::StdoutLock<'static>,
    delivered: u64,
    error: Option<anyhow::Error>,
}

impl Progress<'_> {
    /// Takes the delivery reports that came in, printing them with -v; keeps the first
    /// error.
    fn drain(&mut self) -> anyhow::Result<()> {
        let done = match self.producer.context().done.lock() {
            Ok(mut done) => std::mem::take(&mut *done),
            Err(_) => anyhow::bail!("a delivery report handler panicked"),
        };
        for delivery in done {
            if let Some(error) = delivery.error {
                if self.error.is_none() {
                    self.error = Some(librdkafka::error(
                        &format!("sending to topic '{}'", self.args.topic),
                        &error,
                    ));
                }
                continue;
            }
            self.delivered += 1;
            if self.args.verbose {
                self.print(&delivery)?;
            }
        }
        Ok(())
    }

    fn print(&mut self, delivery: &Delivery) -> anyhow::Result<()> {
        let offset =
            (self.args.acks != Acks::None && delivery.offset >= 0).then_some(delivery.offset);
        let line = match self.args.options.format {
            Format::Json => serde_json::to_string(&Sent {
                topic: &self.args.topic,
                partition: delivery.partition,
                offset,
            })?,
            Format::Text => format!(
                "{}/{}@{}",
                self.args.topic,
                delivery.partition,
                crate::output::or_dash(offset)
            ),
        };
        match writeln!(self.stdout, "{line}") {
            // The reader is gone (`| head`): the messages are still worth sending.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.context("writing to stdout"),
        }
    }
}

/// Runs `fjord produce`.
pub fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let runtime = librdkafka::runtime()?;
    // The protocol client fails fast and clearly on a missing topic or cluster, where
    // librdkafka would retry until its message timeout.
    let partitions = runtime.block_on(async {
        let mut client = Client::new(args.options.brokers.clone(), args.options.timeout());
        librdkafka::partitions_of(&mut client, &args.topic).await
    })?;
    if let Some(partition) = args.partition {
        librdkafka::check_partition(&args.topic, &partitions, partition)?;
    }
    let interactive = args.file.is_none() && std::io::stdin().is_terminal();
    let mut input: Box<dyn Read> = match &args.file {
        Some(path) => {
            Box::new(File::open(path).with_context(|| format!("cannot open {}", path.display()))?)
        }
        None => Box::new(std::io::stdin().lock()),
    };

    let mut config = librdkafka::client_config(&args.options.brokers, args.options.timeout());
    config
        .set("acks", args.acks.config())
        .set("compression.type", args.compression.config())
        .set("linger.ms", "5")
        // Large enough that the broker, not librdkafka, decides what is too large, and
        // names its limit.
        .set(
            "message.max.bytes",
            (args.message_bytes_max + 64 * 1024)
                .min(1_000_000_000)
                .to_string(),
        )
        .set("message.timeout.ms", args.options.timeout_ms.to_string());
    if args.acks == Acks::All {
        // As Kafka's own producer defaults to since 3.0: retries then neither duplicate
        // nor reorder the lines.
        config.set("enable.idempotence", "true");
    }
    let producer: BaseProducer<Deliveries> = config
        .create_with_context(Deliveries::default())
        .map_err(|error| librdkafka::error("creating the producer", &error))?;
    if args.verbose && args.acks == Acks::None {
        eprintln!("fjord: with --acks 0 the broker does not answer: no offsets are known");
    }

    let mut progress = Progress {
        args: &args,
        producer: &producer,
        stdout: std::io::stdout().lock(),
        delivered: 0,
        error: None,
    };
    let mut headers = OwnedHeaders::new_with_capacity(args.headers.len());
    for header in &args.headers {
        headers = headers.insert(Header {
            key: &header.key,
            value: Some(header.value.as_bytes()),
        });
    }
    let limit = args.message_bytes_max;
    let mut sent: u64 = 0;
    let mut send = |progress: &mut Progress<'_>, key: Option<&[u8]>, value: &[u8]| {
        let mut record = BaseRecord::to(&args.topic)
            .payload(value)
            .headers(headers.clone());
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = args.partition {
            record = record.partition(partition);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    returned,
                )) => {
                    // The local queue is full: let deliveries drain, then try again.
                    producer.poll(Duration::from_millis(10));
                    record = returned;
                }
                Err((error, _)) => {
                    return Err(librdkafka::error(
                        &format!("sending to topic '{}'", args.topic),
                        &error,
                    ));
                }
            }
        }
        sent += 1;
        producer.poll(Duration::ZERO);
        progress.drain()
    };

    if args.value_from_stdin_raw {
        let mut value = Vec::new();
        (&mut input)
            .take(limit + 1)
            .read_to_end(&mut value)
            .context("reading the input")?;
        if value.len() as u64 > limit {
            anyhow::bail!("the input is larger than --message-bytes-max ({limit} bytes)");
        }
        send(&mut progress, None, &value)?;
    } else {
        let mut reader = BufReader::with_capacity(64 * 1024, input);
        let mut line = Vec::new();
        let mut number: u64 = 0;
        loop {
            line.clear();
            let read = (&mut reader)
                .take(limit + 2)
                .read_until(b'\n', &mut line)
                .context("reading the input")?;
            if read == 0 {
                break;
            }
            number += 1;
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            if line.len() as u64 > limit {
                anyhow::bail!("line {number} is longer than --message-bytes-max ({limit} bytes)");
            }
            let (key, value) = match &args.key_separator {
                None => (None, &line[..]),
                Some(separator) => {
                    let separator = separator.as_bytes();
                    let at = line
                        .windows(separator.len())
                        .position(|w| w == separator)
                        .with_context(|| {
                            format!(
                                "line {number} has no key separator {:?}; every line must \
                                 be KEY{}VALUE",
                                args.key_separator.as_deref().unwrap_or_default(),
                                args.key_separator.as_deref().unwrap_or_default()
                            )
                        })?;
                    (Some(&line[..at]), &line[at + separator.len()..])
                }
            };
            send(&mut progress, key, value)?;
            if interactive {
                // Someone is typing: confirm each line now, not when the next one comes.
                let _ = producer.flush(args.options.timeout());
                progress.drain()?;
                let _ = progress.stdout.flush();
            }
            if progress.error.is_some() {
                break;
            }
        }
    }
    let flushed = producer.flush(args.options.timeout());
    progress.drain()?;
    if let Some(error) = progress.error.take() {
        return Err(error);
    }
    if let Err(error) = flushed {
        return Err(librdkafka::error(
            &format!("sending to topic '{}'", args.topic),
            &error,
        ));
    }
    if progress.delivered != sent {
        anyhow::bail!(
            "only {} of {sent} messages were confirmed by the broker",
            progress.delivered
        );
    }
    let _ = progress.stdout.flush();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_key_equals_value() {
        assert_eq!(
            parse_header("trace=a=b"),
            Ok(HeaderArg {
                key: "trace".into(),
                value: "a=b".into()
            })
        );
        assert!(parse_header("novalue").is_err());
        assert!(parse_header("=x").is_err());
    }
}
