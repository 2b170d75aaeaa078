//! `fjord consume TOPIC`: prints a topic's messages, as values, JSON lines or a
//! kcat-like template, with librdkafka as the consumer.

mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::client::{Client, OffsetQuery};
use crate::librdkafka;
use crate::options::ConnectionOptions;
use template::Template;

/// `--format` of `fjord consume`: the global text|json, or a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeFormat {
    /// Each value on its own line.
    Text,
    /// One JSON object per message and line.
    Json,
    /// A template with %-fields, printed once per message followed by a newline.
    Template(Template),
}

fn parse_format(text: &str) -> Result<ConsumeFormat, String> {
    match text {
        "text" => Ok(ConsumeFormat::Text),
        "json" => Ok(ConsumeFormat::Json),
        _ if text.contains('%') => Template::parse(text).map(ConsumeFormat::Template),
        _ => Err(format!(
            "'{text}' is neither text, json nor a template with %-fields such as '%k %v'"
        )),
    }
}

/// Arguments of `fjord consume`.
#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    options: ConnectionOptions,

    /// How to print each message: text (the value), json (one object per line) or a
    /// template such as '%p:%o %k=%v'. Template fields: %t topic, %p partition,
    /// %o offset, %k key, %v value, %T timestamp (ms since the epoch, -1 if none),
    /// %h headers (k1=v1,k2=v2), %% a percent sign; escapes \n, \t, \\. A newline
    /// ends each message.
    #[arg(
        long,
        global = true,
        help_heading = "Cluster options",
        default_value = "text",
        value_name = "text|json|TEMPLATE",
        value_parser = parse_format
    )]
    format: ConsumeFormat,

    /// The topic to read.
    topic: String,

    /// Start at the first message kept (without --group: instead of at the end; with
    /// --group: where the group has no committed offset).
    #[arg(long, group = "start")]
    from_beginning: bool,

    /// Start at this offset; a negative N starts N messages before the end.
    #[arg(
        long,
        group = "start",
        value_name = "N",
        allow_negative_numbers = true,
        conflicts_with = "group"
    )]
    offset: Option<i64>,

    /// Start at the first message at or after this time (ISO 8601, with a zone: 2024-05-01T12:00:00Z).
    #[arg(long, group = "start", value_name = "TIME", value_parser = crate::datetime::parse_timestamp_ms,
          conflicts_with = "group")]
    from_time: Option<i64>,

    /// Read only this partition (default: all of them).
    #[arg(short, long, value_name = "P", conflicts_with = "group")]
    partition: Option<i32>,

    /// Consume as a member of this consumer group: partitions are assigned by the group
    /// and the offsets of printed messages are committed (also on Ctrl-C and at the end).
    #[arg(short, long, value_name = "GROUP")]
    group: Option<String>,

    /// Stop after printing N messages.
    #[arg(short = 'n', long, value_name = "N")]
    max_messages: Option<u64>,

    /// Keep waiting for new messages (the default).
    #[arg(short, long, overrides_with = "exit_at_end")]
    follow: bool,

    /// Stop once every partition has been read up to its end as of the start.
    #[arg(short, long, overrides_with = "follow")]
    exit_at_end: bool,
}

/// Runs `fjord consume`.
pub fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let stop = librdkafka::stop_on_signal()?;
    let runtime = librdkafka::runtime()?;
    let topic = args.topic.clone();
    // The protocol client fails fast and clearly on a missing topic or cluster, and
    // finds the offsets librdkafka cannot start from by itself (a time, the ends).
    let (partitions, starts, ends) = runtime.block_on(async {
        let mut client = Client::new(args.options.brokers.clone(), args.options.timeout());
        let mut partitions = librdkafka::partitions_of(&mut client, &topic).await?;
        if let Some(partition) = args.partition {
            librdkafka::check_partition(&topic, &partitions, partition)?;
            partitions = vec![partition];
        }
        let starts = match args.from_time {
            Some(ms) => Some(
                librdkafka::offsets(&mut client, &topic, &partitions, OffsetQuery::Timestamp(ms))
                    .await?,
            ),
            None => None,
        };
        let ends = if args.exit_at_end {
            librdkafka::offsets(&mut client, &topic, &partitions, OffsetQuery::Latest).await?
        } else {
            BTreeMap::new()
        };
        anyhow::Ok((partitions, starts, ends))
    })?;

    let mut config = librdkafka::client_config(&args.options.brokers, args.options.timeout());
    config
        .set("enable.partition.eof", "true")
        .set(
            "auto.offset.reset",
            if args.from_beginning {
                "earliest"
            } else {
                "latest"
            },
        )
        .set("fetch.wait.max.ms", "100");
    match &args.group {
        Some(group) => {
            // Offsets are stored by hand once a message is printed, and committed by the
            // periodic auto-commit and once more at the end.
            config
                .set("group.id", group)
                .set("enable.auto.commit", "true")
                .set("enable.auto.offset.store", "false");
        }
        None => {
            // librdkafka needs a group id even to assign partitions by hand; without
            // subscribing or committing, the group is never joined nor written.
            config
                .set("group.id", "fjord-consume")
                .set("enable.auto.commit", "false");
        }
    }
    let consumer: BaseConsumer = config
        .create()
        .map_err(|error| librdkafka::error("creating the consumer", &error))?;
    if args.group.is_some() {
        consumer
            .subscribe(&[&topic])
            .map_err(|error| librdkafka::error("subscribing", &error))?;
    } else {
        let mut assignment = TopicPartitionList::new();
        for &partition in &partitions {
            let offset = match (&starts, args.offset) {
                (Some(starts), _) => match starts.get(&partition).copied().flatten() {
                    Some(offset) => Offset::Offset(offset),
                    // No message at or after the time: wait for new ones.
                    None => Offset::End,
                },
                (None, Some(n)) if n < 0 => Offset::OffsetTail(n.unsigned_abs() as i64),
                (None, Some(n)) => Offset::Offset(n),
                (None, None) if args.from_beginning => Offset::Beginning,
                (None, None) => Offset::End,
            };
            assignment
                .add_partition_offset(&topic, partition, offset)
                .map_err(|error| librdkafka::error("assigning partitions", &error))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|error| librdkafka::error("assigning partitions", &error))?;
    }

    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut printed: u64 = 0;
    // The last offset printed per partition, stored for the group's commit once stdout
    // took it, so that a commit never covers a message lost in a buffer.
    let mut printed_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    // Partitions read up to their end as of the start (for --exit-at-end).
    let mut at_end: BTreeSet<i32> = ends
        .iter()
        .filter(|&(_, end)| *end == Some(0))
        .map(|(&p, _)| p)
        .collect();
    let result = loop {
        if stop.load(Ordering::SeqCst) || args.max_messages.is_some_and(|n| printed >= n) {
            break Ok(());
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                match print(&args.format, &message, &mut out) {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => break Ok(()),
                    Err(error) => break Err(anyhow::Error::new(error).context("writing to stdout")),
                }
                printed += 1;
                if args.group.is_some() {
                    printed_offsets.insert(message.partition(), message.offset());
                }
                if let Some(Some(end)) = ends.get(&message.partition())
                    && message.offset() + 1 >= *end
                {
                    at_end.insert(message.partition());
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                at_end.insert(partition);
            }
            Some(Err(error)) => {
                let fatal = matches!(
                    error.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::UnknownTopicOrPartition
                            | RDKafkaErrorCode::UnknownTopic
                            | RDKafkaErrorCode::UnknownPartition
                            | RDKafkaErrorCode::TopicAuthorizationFailed
                            | RDKafkaErrorCode::GroupAuthorizationFailed
                            | RDKafkaErrorCode::InvalidGroupId
                    )
                );
                if fatal {
                    break Err(librdkafka::error(
                        &format!("consuming topic '{topic}'"),
                        &error,
                    ));
                }
                // librdkafka retries the others (a broker restarting) by itself.
                eprintln!(
                    "fjord: {}",
                    librdkafka::error(&format!("consuming topic '{topic}'"), &error)
                );
            }
            None => {
                if let Err(error) = out.flush() {
                    if error.kind() == std::io::ErrorKind::BrokenPipe {
                        break Ok(());
                    }
                    break Err(anyhow::Error::new(error).context("writing to stdout"));
                }
                store(&consumer, &topic, &mut printed_offsets);
                if args.exit_at_end && all_at_end(&consumer, &partitions, &at_end, &args) {
                    break Ok(());
                }
            }
        }
        if args.exit_at_end && all_at_end(&consumer, &partitions, &at_end, &args) {
            break Ok(());
        }
    };
    let flushed = match out.flush() {
        Ok(()) => {
            store(&consumer, &topic, &mut printed_offsets);
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(anyhow::Error::new(error).context("writing to stdout")),
    };
    if let Some(group) = &args.group {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => {}
            // Nothing was printed since the last commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => {
                return Err(librdkafka::error(
                    &format!("committing the offsets of group '{group}'"),
                    &error,
                ));
            }
        }
    }
    result.and(flushed)
}

/// Stores the offsets after `printed` for the next commit (librdkafka's
/// `rd_kafka_offset_store` stores the offset after the one given).
fn store(consumer: &BaseConsumer, topic: &str, printed: &mut BTreeMap<i32, i64>) {
    for (partition, offset) in std::mem::take(printed) {
        // A partition revoked meanwhile refuses the store: its new owner goes on from the
        // last commit, and reprints at worst.
        let _ = consumer.store_offset(topic, partition, offset);
    }
}

/// Whether every partition being read has reached its end as of the start.
fn all_at_end(
    consumer: &BaseConsumer,
    partitions: &[i32],
    at_end: &BTreeSet<i32>,
    args: &ConsumeArgs,
) -> bool {
    if args.group.is_some() {
        // A group member reads what the group assigned it, once it has an assignment.
        match consumer.assignment() {
            Ok(assignment) if assignment.count() > 0 => assignment
                .elements()
                .iter()
                .all(|element| at_end.contains(&element.partition())),
            _ => false,
        }
    } else {
        partitions.iter().all(|p| at_end.contains(p))
    }
}

/// Writes one message in `format`.
fn print(
    format: &ConsumeFormat,
    message: &BorrowedMessage<'_>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    match format {
        ConsumeFormat::Text => {
            out.write_all(message.payload().unwrap_or_default())?;
            out.write_all(b"\n")
        }
        ConsumeFormat::Json => {
            let line = template::json_line(message);
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")
        }
        ConsumeFormat::Template(template) => {
            template.write(message, out)?;
            out.write_all(b"\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_text_json_or_a_template() {
        assert_eq!(parse_format("text"), Ok(ConsumeFormat::Text));
        assert_eq!(parse_format("json"), Ok(ConsumeFormat::Json));
        assert!(matches!(
            parse_format("%k=%v"),
            Ok(ConsumeFormat::Template(_))
        ));
        assert!(parse_format("yaml").is_err());
        assert!(parse_format("%x").is_err());
    }
}
