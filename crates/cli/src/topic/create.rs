//! `fjord topic create`: CreateTopics on the controller.

use fjord_protocol::messages::CreateTopicsRequest;
use fjord_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use serde::Serialize;

use super::{parse_config, parse_topic_name, topic_error, topic_id_text};
use crate::client::{Client, Connection, Error, ErrorCode};
use crate::output::{self, Format, Report};

/// Arguments of `fjord topic create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The topic's name.
    #[arg(value_parser = parse_topic_name)]
    topic: String,

    /// Number of partitions [default: the broker's num.partitions].
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    partitions: Option<i32>,

    /// Replicas of each partition [default: the broker's default.replication.factor].
    #[arg(
        short = 'r',
        long,
        value_name = "N",
        value_parser = clap::value_parser!(i16).range(1..)
    )]
    replicas: Option<i16>,

    /// A topic config as key=value, such as retention.ms=86400000; repeat for several.
    #[arg(short, long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
    configs: Vec<(String, String)>,

    /// Succeed without changing anything when the topic already exists.
    #[arg(long)]
    if_not_exists: bool,

    /// Only ask the broker to validate the request; nothing is created.
    #[arg(long)]
    dry_run: bool,
}

/// What was created.
#[derive(Debug, PartialEq, Serialize)]
struct Created {
    topic: String,
    /// Kafka's topic id; `None` when nothing was created or the broker has no ids.
    id: Option<String>,
    /// `false` when --if-not-exists found the topic already there, or for --dry-run.
    created: bool,
    /// Whether the topic already existed (--if-not-exists).
    already_existed: bool,
    dry_run: bool,
    /// As the broker answered (CreateTopics v5+), or as asked; `None` when unknown.
    partitions: Option<i32>,
    replication_factor: Option<i16>,
}

impl Report for Created {
    fn text(&self) -> String {
        if self.already_existed {
            return format!(
                "Topic '{}' already exists; nothing was changed.\n",
                self.topic
            );
        }
        let shape = match (self.partitions, self.replication_factor) {
            (Some(p), Some(r)) => format!(" with {p} partition{}, {r} replica{} each", s(p), s(r)),
            (Some(p), None) => format!(" with {p} partition{}", s(p)),
            _ => String::new(),
        };
        if self.dry_run {
            format!(
                "Topic '{}' can be created{shape} (dry run: nothing was created).\n",
                self.topic
            )
        } else {
            format!("Created topic '{}'{shape}.\n", self.topic)
        }
    }
}

/// The plural ending for `count`.
fn s(count: impl Into<i64>) -> &'static str {
    if count.into() == 1 { "" } else { "s" }
}

/// The CreateTopics request of `args`: -1 asks for the broker's default.
fn request(args: &CreateArgs, timeout_ms: i32) -> CreateTopicsRequest {
    CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: args.topic.clone(),
            num_partitions: args.partitions.unwrap_or(-1),
            replication_factor: args.replicas.unwrap_or(-1),
            assignments: Vec::new(),
            configs: args
                .configs
                .iter()
                .map(|(name, value)| CreatableTopicConfig {
                    name: name.clone(),
                    value: Some(value.clone()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        timeout_ms,
        validate_only: args.dry_run,
        ..Default::default()
    }
}

pub async fn run(
    client: &mut Client,
    args: CreateArgs,
    format: Format,
    timeout_ms: i32,
) -> anyhow::Result<()> {
    let topic = args.topic.clone();
    let request = request(&args, timeout_ms);
    let outcome = client
        .on_controller(async |connection: &mut Connection| {
            let version = connection.version_of::<CreateTopicsRequest>()?;
            let response = connection.request(&request).await?;
            let result = response
                .topics
                .into_iter()
                .find(|t| t.name == topic)
                .ok_or_else(|| Error::Protocol {
                    broker: connection.address().clone(),
                    api: "CreateTopics",
                    detail: format!("no result for topic '{topic}'"),
                })?;
            match ErrorCode::check(result.error_code) {
                Ok(()) => Ok(Some((version, result))),
                Err(ErrorCode::TOPIC_ALREADY_EXISTS) if args.if_not_exists => Ok(None),
                Err(code) => Err(topic_error(
                    format!("creating topic '{topic}'"),
                    &topic,
                    code,
                    result.error_message,
                )),
            }
        })
        .await?;
    let report = match outcome {
        None => Created {
            topic,
            id: None,
            created: false,
            already_existed: true,
            dry_run: args.dry_run,
            partitions: None,
            replication_factor: None,
        },
        Some((version, result)) => {
            // Before v5 the answer carries no partition count or replication factor
            // (they read as -1 or 0): report what was asked, if anything.
            let answered = version >= 5;
            Created {
                topic,
                id: topic_id_text(result.topic_id),
                created: !args.dry_run,
                already_existed: false,
                dry_run: args.dry_run,
                partitions: if answered && result.num_partitions > 0 {
                    Some(result.num_partitions)
                } else {
                    args.partitions
                },
                replication_factor: if answered && result.replication_factor > 0 {
                    Some(result.replication_factor)
                } else {
                    args.replicas
                },
            }
        }
    };
    output::print(format, &report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(partitions: Option<i32>, replicas: Option<i16>) -> CreateArgs {
        CreateArgs {
            topic: "orders".to_owned(),
            partitions,
            replicas,
            configs: vec![("retention.ms".to_owned(), "1000".to_owned())],
            if_not_exists: false,
            dry_run: true,
        }
    }

    #[test]
    fn missing_counts_are_left_to_the_broker() {
        let request = request(&args(None, None), 5_000);
        let topic = &request.topics[0];
        assert_eq!(topic.num_partitions, -1);
        assert_eq!(topic.replication_factor, -1);
        assert_eq!(topic.configs[0].name, "retention.ms");
        assert_eq!(topic.configs[0].value.as_deref(), Some("1000"));
        assert!(request.validate_only);
        assert_eq!(request.timeout_ms, 5_000);
        let request = super::request(&args(Some(3), Some(1)), 5_000);
        assert_eq!(request.topics[0].num_partitions, 3);
        assert_eq!(request.topics[0].replication_factor, 1);
    }

    #[test]
    fn text_and_json() {
        let created = Created {
            topic: "orders".to_owned(),
            id: Some("AQIDBAUGBwgJCgsMDQ4P_w".to_owned()),
            created: true,
            already_existed: false,
            dry_run: false,
            partitions: Some(3),
            replication_factor: Some(1),
        };
        assert_eq!(
            created.text(),
            "Created topic 'orders' with 3 partitions, 1 replica each.\n"
        );
        assert_eq!(
            serde_json::to_value(&created).unwrap(),
            serde_json::json!({"topic": "orders", "id": "AQIDBAUGBwgJCgsMDQ4P_w",
                "created": true, "already_existed": false, "dry_run": false,
                "partitions": 3, "replication_factor": 1})
        );
        let existing = Created {
            created: false,
            already_existed: true,
            id: None,
            partitions: None,
            replication_factor: None,
            ..created
        };
        assert_eq!(
            existing.text(),
            "Topic 'orders' already exists; nothing was changed.\n"
        );
    }
}
