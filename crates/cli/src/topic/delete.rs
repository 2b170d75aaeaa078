//! `fjord topic delete`: DeleteTopics on the controller.

use fjord_protocol::messages::DeleteTopicsRequest;
use fjord_protocol::messages::delete_topics_request::DeleteTopicState;
use serde::Serialize;

use super::{parse_topic_name, topic_error};
use crate::client::{Client, Connection, Error, ErrorCode};
use crate::output::{self, Format, Report};

/// Arguments of `fjord topic delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The topics' names.
    #[arg(required = true, value_parser = parse_topic_name)]
    topics: Vec<String>,

    /// Succeed for topics that do not exist.
    #[arg(long)]
    if_exists: bool,
}

/// What became of each topic.
#[derive(Debug, PartialEq, Serialize)]
struct Deleted {
    topics: Vec<DeletedTopic>,
}

#[derive(Debug, PartialEq, Serialize)]
struct DeletedTopic {
    topic: String,
    /// `false` for a topic that did not exist (--if-exists).
    deleted: bool,
}

impl Report for Deleted {
    fn text(&self) -> String {
        self.topics
            .iter()
            .map(|t| {
                if t.deleted {
                    format!("Deleted topic '{}'.\n", t.topic)
                } else {
                    format!("Topic '{}' does not exist; nothing was deleted.\n", t.topic)
                }
            })
            .collect()
    }
}

/// The DeleteTopics request for `topics` at `version`: v6 names topics in `topics`
/// (each by name or id), older versions in `topic_names`.
fn request(topics: &[String], version: i16, timeout_ms: i32) -> DeleteTopicsRequest {
    if version >= 6 {
        DeleteTopicsRequest {
            topics: topics
                .iter()
                .map(|name| DeleteTopicState {
                    name: Some(name.clone()),
                    ..Default::default()
                })
                .collect(),
            timeout_ms,
            ..Default::default()
        }
    } else {
        DeleteTopicsRequest {
            topic_names: topics.to_vec(),
            timeout_ms,
            ..Default::default()
        }
    }
}

pub async fn run(
    client: &mut Client,
    args: DeleteArgs,
    format: Format,
    timeout_ms: i32,
) -> anyhow::Result<()> {
    let mut topics = args.topics;
    // A name given twice is deleted once; Kafka refuses a request that lists it twice.
    let mut seen = std::collections::HashSet::new();
    topics.retain(|t| seen.insert(t.clone()));
    let results = client
        .on_controller(async |connection: &mut Connection| {
            let version = connection.version_of::<DeleteTopicsRequest>()?;
            let response = connection
                .request(&request(&topics, version, timeout_ms))
                .await?;
            let mut results = Vec::with_capacity(topics.len());
            for topic in &topics {
                let result = response
                    .responses
                    .iter()
                    .find(|r| r.name.as_deref() == Some(topic.as_str()))
                    .ok_or_else(|| Error::Protocol {
                        broker: connection.address().clone(),
                        api: "DeleteTopics",
                        detail: format!("no result for topic '{topic}'"),
                    })?;
                let outcome = ErrorCode::check(result.error_code)
                    .map_err(|c| (c, result.error_message.clone()));
                // The controller moved: the whole request is retried elsewhere.
                if let Err((ErrorCode::NOT_CONTROLLER, _)) = outcome {
                    return Err(Error::kafka("deleting topics", ErrorCode::NOT_CONTROLLER));
                }
                results.push((topic.clone(), outcome));
            }
            Ok(results)
        })
        .await?;
    let mut deleted = Vec::with_capacity(results.len());
    let mut failure = None;
    for (topic, outcome) in results {
        match outcome {
            Ok(()) => deleted.push(DeletedTopic {
                topic,
                deleted: true,
            }),
            Err((ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, _)) if args.if_exists => {
                deleted.push(DeletedTopic {
                    topic,
                    deleted: false,
                });
            }
            Err((code, message)) => {
                let mut error =
                    topic_error(format!("deleting topic '{topic}'"), &topic, code, message);
                if code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION {
                    error = error.with_hint(format!(
                        "topic '{topic}' does not exist; `fjord topic list` shows the topics, \
                         and --if-exists accepts a missing one"
                    ));
                }
                failure.get_or_insert(error);
            }
        }
    }
    match failure {
        None => output::print(format, &Deleted { topics: deleted }),
        Some(error) => {
            // Each topic is deleted or not on its own: say which were, since the command
            // as a whole fails and prints nothing on stdout.
            for topic in deleted.iter().filter(|t| t.deleted) {
                eprintln!("fjord: deleted topic '{}'", topic.topic);
            }
            Err(error.into())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_of_the_request() {
        let topics = ["a".to_owned(), "b".to_owned()];
        let new = request(&topics, 6, 1_000);
        assert_eq!(new.topics.len(), 2);
        assert_eq!(new.topics[1].name.as_deref(), Some("b"));
        assert!(new.topic_names.is_empty());
        let old = request(&topics, 5, 1_000);
        assert_eq!(old.topic_names, topics);
        assert!(old.topics.is_empty());
        assert_eq!(old.timeout_ms, 1_000);
    }

    #[test]
    fn text_and_json() {
        let deleted = Deleted {
            topics: vec![
                DeletedTopic {
                    topic: "orders".to_owned(),
                    deleted: true,
                },
                DeletedTopic {
                    topic: "gone".to_owned(),
                    deleted: false,
                },
            ],
        };
        assert_eq!(
            deleted.text(),
            "Deleted topic 'orders'.\nTopic 'gone' does not exist; nothing was deleted.\n"
        );
        assert_eq!(
            serde_json::to_value(&deleted).unwrap(),
            serde_json::json!({"topics": [{"topic": "orders", "deleted": true},
                {"topic": "gone", "deleted": false}]})
        );
    }
}
