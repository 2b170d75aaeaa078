//! `fjord topic`: create, list, describe, delete, alter the configs of and add
//! partitions to the topics of any Kafka-compatible cluster, with Kafka's admin requests.

mod add_partitions;
mod alter_config;
mod create;
mod delete;
mod describe;
mod list;

use anyhow::Context;

use crate::client::{Client, Error, ErrorCode};
use crate::exit;
use crate::options::ClientOptions;

/// Kafka's ConfigResource type of a topic, in DescribeConfigs and IncrementalAlterConfigs.
const RESOURCE_TOPIC: i8 = 2;

/// Longest topic name Kafka accepts.
const TOPIC_NAME_CHARS_MAX: usize = 249;

/// Arguments of `fjord topic`.
#[derive(Debug, clap::Args)]
pub struct TopicArgs {
    #[command(flatten)]
    options: ClientOptions,

    #[command(subcommand)]
    command: TopicCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TopicCommand {
    /// Create a topic.
    ///
    /// Partitions and replicas not given are left to the broker's defaults
    /// (num.partitions and default.replication.factor). Topic configs are given as
    /// -c key=value, once per config.
    ///
    /// Examples:
    ///   fjord topic create orders
    ///   fjord topic create orders -p 6 -r 3 -c retention.ms=86400000 -c cleanup.policy=compact
    ///   fjord topic create orders --if-not-exists
    ///   fjord topic create orders -p 6 --dry-run
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Create(create::CreateArgs),

    /// List the topics of the cluster, with their partition counts and replicas.
    ///
    /// Internal topics such as __consumer_offsets are hidden unless --internal is given.
    ///
    /// Examples:
    ///   fjord topic list
    ///   fjord topic list --internal
    ///   fjord topic list --format json | jq -r '.topics[].name'
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    List(list::ListArgs),

    /// Show a topic's partitions, offsets and configs.
    ///
    /// For each partition: its leader and leader epoch, replicas, in-sync replicas,
    /// offline replicas, log start offset and log end offset (high watermark). Then the
    /// configs set on the topic itself (source DYNAMIC_TOPIC_CONFIG), which are the ones
    /// that differ from the cluster's defaults; --all-configs shows every config with
    /// its source.
    ///
    /// Examples:
    ///   fjord topic describe orders
    ///   fjord topic describe orders --all-configs
    ///   fjord topic describe orders --format json | jq '.partitions[].log_end_offset'
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Describe(describe::DescribeArgs),

    /// Delete topics and every message in them.
    ///
    /// Examples:
    ///   fjord topic delete orders
    ///   fjord topic delete orders refunds --if-exists
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Delete(delete::DeleteArgs),

    /// Set or remove configs of a topic.
    ///
    /// Uses IncrementalAlterConfigs: only the configs named change. A removed config
    /// goes back to the cluster's default.
    ///
    /// Examples:
    ///   fjord topic alter-config orders --set retention.ms=3600000
    ///   fjord topic alter-config orders --set cleanup.policy=compact --delete retention.ms
    ///   fjord topic alter-config orders --set segment.bytes=1048576 --dry-run
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    AlterConfig(alter_config::AlterConfigArgs),

    /// Grow a topic to a new total number of partitions.
    ///
    /// As in Kafka, the count is the new total, and partitions can only be added: keys
    /// then map to other partitions than before, which matters to consumers that rely
    /// on the order of a key's messages.
    ///
    /// Examples:
    ///   fjord topic add-partitions orders --to 12
    ///   fjord topic add-partitions orders --to 12 --dry-run
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    AddPartitions(add_partitions::AddPartitionsArgs),
}

/// Runs a `fjord topic` command.
pub fn run(args: TopicArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut client = Client::new(args.options.brokers.clone(), args.options.timeout());
    let format = args.options.format;
    let timeout_ms = i32::try_from(args.options.timeout_ms).unwrap_or(i32::MAX);
    runtime.block_on(async {
        match args.command {
            TopicCommand::Create(args) => create::run(&mut client, args, format, timeout_ms).await,
            TopicCommand::List(args) => list::run(&mut client, args, format).await,
            TopicCommand::Describe(args) => describe::run(&mut client, args, format).await,
            TopicCommand::Delete(args) => delete::run(&mut client, args, format, timeout_ms).await,
            TopicCommand::AlterConfig(args) => alter_config::run(&mut client, args, format).await,
            TopicCommand::AddPartitions(args) => {
                add_partitions::run(&mut client, args, format, timeout_ms).await
            }
        }
    })
}

/// A topic name argument. Only what every cluster refuses is refused here (empty or
/// too long names); the broker checks the characters and answers with
/// INVALID_TOPIC_EXCEPTION, so the message is the cluster's own.
fn parse_topic_name(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("a topic name cannot be empty".to_owned())
    } else if text.chars().count() > TOPIC_NAME_CHARS_MAX {
        Err(format!(
            "a topic name has at most {TOPIC_NAME_CHARS_MAX} characters"
        ))
    } else {
        Ok(text.to_owned())
    }
}

/// A `key=value` config argument. The value may be empty and may contain `=`; the key
/// may not be empty.
fn parse_config(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        Some(_) => Err(format!("'{text}' has no config name before '='")),
        None => Err(format!(
            "'{text}' is not key=value (for example retention.ms=86400000)"
        )),
    }
}

/// A config name argument, as `--delete` takes it.
fn parse_config_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        Err("a config name cannot be empty".to_owned())
    } else if name.contains('=') {
        Err(format!(
            "'{text}' is a config name followed by a value; --delete takes only the name"
        ))
    } else {
        Ok(name.to_owned())
    }
}

/// The error of a topic-level result, with the broker's message and what to do about
/// the usual codes.
fn topic_error(context: String, topic: &str, code: ErrorCode, message: Option<String>) -> Error {
    let error = Error::kafka(context, code).with_message(message);
    match topic_hint(topic, code) {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

/// `error` with the context and hint of a topic command when it is a Kafka error (as
/// from Metadata); other errors, such as an unreachable broker, are returned as they are.
fn as_topic_error(error: Error, context: String, topic: &str) -> Error {
    match error.code() {
        Some(code) => topic_error(context, topic, code, None),
        None => error,
    }
}

/// What the user can do about `code`, answered for `topic`.
fn topic_hint(topic: &str, code: ErrorCode) -> Option<String> {
    Some(match code {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION | ErrorCode::UNKNOWN_TOPIC_ID => {
            format!("topic '{topic}' does not exist; create it with `fjord topic create {topic}`")
        }
        ErrorCode::TOPIC_ALREADY_EXISTS => format!(
            "see it with `fjord topic describe {topic}`, or pass --if-not-exists to accept it"
        ),
        ErrorCode::INVALID_REPLICATION_FACTOR => "the replication factor cannot be larger than \
             the number of brokers; `fjord cluster info` lists them"
            .to_owned(),
        ErrorCode::INVALID_PARTITIONS => "the partition count must be at least 1, and \
             add-partitions can only grow a topic: --to is the new total"
            .to_owned(),
        ErrorCode::INVALID_CONFIG => "check the config's name and value; `fjord topic describe \
             TOPIC --all-configs` lists every topic config with its value"
            .to_owned(),
        ErrorCode::POLICY_VIOLATION => {
            "the cluster's topic policy refused the request; ask its operators for the rules"
                .to_owned()
        }
        ErrorCode::INVALID_TOPIC_EXCEPTION => "a topic name has 1 to 249 characters among \
             ASCII letters, digits, '.', '_' and '-', and is not '.' or '..'"
            .to_owned(),
        ErrorCode::TOPIC_DELETION_DISABLED => {
            "the cluster does not allow deleting topics (delete.topic.enable=false)".to_owned()
        }
        ErrorCode::TOPIC_AUTHORIZATION_FAILED | ErrorCode::CLUSTER_AUTHORIZATION_FAILED => {
            "the cluster does not allow this client to do that".to_owned()
        }
        _ => return None,
    })
}

/// Kafka's name of a config source, as DescribeConfigs numbers it.
fn config_source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

/// A topic id as Kafka's tools print it: URL-safe base64 without padding, 22
/// characters. The all-zero id (a broker without topic ids) is `None`.
fn topic_id_text(id: fjord_protocol::Uuid) -> Option<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if id == fjord_protocol::Uuid::ZERO {
        return None;
    }
    let mut text = String::with_capacity(22);
    for chunk in id.0.chunks(3) {
        let bytes = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let bits = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
        // A chunk of n bytes carries n + 1 characters of 6 bits.
        for i in 0..=chunk.len() {
            let index = (bits >> (18 - 6 * i)) & 0x3f;
            text.push(char::from(ALPHABET[index as usize]));
        }
    }
    Some(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        topic: TopicArgs,
    }

    fn parse(args: &[&str]) -> Result<TopicArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("topic").chain(args.iter().copied())).map(|c| c.topic)
    }

    #[test]
    fn configs_are_key_equals_value() {
        assert_eq!(
            parse_config("retention.ms=1000").unwrap(),
            ("retention.ms".to_owned(), "1000".to_owned())
        );
        // The first '=' separates; a value may hold more, or be empty.
        assert_eq!(
            parse_config("a=b=c").unwrap(),
            ("a".to_owned(), "b=c".to_owned())
        );
        assert_eq!(parse_config("a=").unwrap(), ("a".to_owned(), String::new()));
        assert!(
            parse_config("retention.ms")
                .unwrap_err()
                .contains("key=value")
        );
        assert!(parse_config("=1").unwrap_err().contains("no config name"));
        assert_eq!(parse_config_name(" retention.ms ").unwrap(), "retention.ms");
        assert!(parse_config_name("").is_err());
        assert!(
            parse_config_name("a=1")
                .unwrap_err()
                .contains("only the name")
        );
    }

    #[test]
    fn topic_names_are_checked_for_what_every_cluster_refuses() {
        assert_eq!(parse_topic_name("orders").unwrap(), "orders");
        assert!(parse_topic_name("").is_err());
        assert!(parse_topic_name(&"x".repeat(249)).is_ok());
        assert!(parse_topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            &["create"][..],
            &["create", ""],
            &["create", "t", "-p", "0"],
            &["create", "t", "-p", "x"],
            &["create", "t", "-r", "0"],
            &["create", "t", "-c", "retention.ms"],
            &["describe"],
            &["delete"],
            &["alter-config", "t"],
            &["alter-config", "t", "--set", "x"],
            &["alter-config", "t", "--delete", "x=1"],
            &["add-partitions", "t"],
            &["add-partitions", "t", "--to", "0"],
            &["list", "--format", "yaml"],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(
                error.exit_code(),
                crate::exit::USAGE as i32,
                "{args:?}: {error}"
            );
        }
    }

    #[test]
    fn client_options_are_accepted_before_or_after_the_subcommand() {
        let before = parse(&["--brokers", "a:1", "--format", "json", "list"]).unwrap();
        let after = parse(&["list", "--brokers", "a:1", "--format", "json"]).unwrap();
        for args in [before, after] {
            assert_eq!(args.options.brokers.to_string(), "a:1");
            assert_eq!(args.options.format, crate::output::Format::Json);
        }
    }

    #[test]
    fn hints_name_the_topic_and_the_command_to_run() {
        let error = topic_error(
            "describing topic 'x'".to_owned(),
            "x",
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            None,
        );
        assert_eq!(
            error.to_string(),
            "describing topic 'x': UNKNOWN_TOPIC_OR_PARTITION (3); topic 'x' does not exist; \
             create it with `fjord topic create x`"
        );
        let error = topic_error(
            "creating topic 'x'".to_owned(),
            "x",
            ErrorCode::TOPIC_ALREADY_EXISTS,
            Some("Topic 'x' already exists.".to_owned()),
        );
        assert_eq!(
            error.to_string(),
            "creating topic 'x': TOPIC_ALREADY_EXISTS (36) (Topic 'x' already exists.); see it \
             with `fjord topic describe x`, or pass --if-not-exists to accept it"
        );
        for code in [
            ErrorCode::INVALID_REPLICATION_FACTOR,
            ErrorCode::INVALID_PARTITIONS,
            ErrorCode::INVALID_CONFIG,
            ErrorCode::POLICY_VIOLATION,
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            ErrorCode::TOPIC_DELETION_DISABLED,
        ] {
            assert!(topic_hint("x", code).is_some(), "{code}");
            assert!(code.name().is_some(), "{code}");
        }
        assert_eq!(topic_hint("x", ErrorCode(-1)), None);
    }

    #[test]
    fn topic_ids_print_as_kafka_prints_them() {
        // Kafka's Uuid.toString() of 0x0102..10 in URL-safe base64 without padding.
        let id = fjord_protocol::Uuid([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xff]);
        assert_eq!(topic_id_text(id).unwrap(), "AQIDBAUGBwgJCgsMDQ4P_w");
        assert_eq!(topic_id_text(fjord_protocol::Uuid::ZERO), None);
    }

    #[test]
    fn config_sources_have_kafka_names() {
        assert_eq!(config_source_name(1), "DYNAMIC_TOPIC_CONFIG");
        assert_eq!(config_source_name(5), "DEFAULT_CONFIG");
        assert_eq!(config_source_name(42), "UNKNOWN");
    }
}
