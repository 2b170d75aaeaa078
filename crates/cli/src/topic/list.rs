//! `fjord topic list`: Metadata for every topic.

use fjord_protocol::messages::metadata_response::MetadataResponseTopic;
use serde::Serialize;

use super::topic_id_text;
use crate::client::{Client, ErrorCode};
use crate::output::{self, Format, Report};

/// Arguments of `fjord topic list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Also list internal topics, such as __consumer_offsets.
    #[arg(long)]
    internal: bool,
}

/// The topics found.
#[derive(Debug, PartialEq, Serialize)]
struct TopicList {
    topics: Vec<TopicRow>,
}

#[derive(Debug, PartialEq, Serialize)]
struct TopicRow {
    name: String,
    /// Kafka's topic id; `None` from brokers without ids.
    id: Option<String>,
    partitions: usize,
    /// The most replicas any partition has.
    replication_factor: usize,
    internal: bool,
    /// The topic's own Kafka error (such as LEADER_NOT_AVAILABLE while it is created),
    /// `None` when it has none.
    error: Option<String>,
}

impl TopicRow {
    fn from_metadata(topic: MetadataResponseTopic) -> Option<TopicRow> {
        Some(TopicRow {
            name: topic.name?,
            id: topic_id_text(topic.topic_id),
            partitions: topic.partitions.len(),
            replication_factor: topic
                .partitions
                .iter()
                .map(|p| p.replica_nodes.len())
                .max()
                .unwrap_or(0),
            internal: topic.is_internal,
            error: ErrorCode::check(topic.error_code)
                .err()
                .map(|code| code.to_string()),
        })
    }
}

impl Report for TopicList {
    fn text(&self) -> String {
        let show_internal = self.topics.iter().any(|t| t.internal);
        let show_errors = self.topics.iter().any(|t| t.error.is_some());
        let mut headers = vec!["TOPIC", "PARTITIONS", "REPLICAS"];
        if show_internal {
            headers.push("INTERNAL");
        }
        if show_errors {
            headers.push("ERROR");
        }
        let rows: Vec<Vec<String>> = self
            .topics
            .iter()
            .map(|t| {
                let mut row = vec![
                    t.name.clone(),
                    t.partitions.to_string(),
                    t.replication_factor.to_string(),
                ];
                if show_internal {
                    row.push(if t.internal { "yes" } else { "no" }.to_owned());
                }
                if show_errors {
                    row.push(t.error.clone().unwrap_or_default());
                }
                row
            })
            .collect();
        output::table(&headers, &rows)
    }
}

pub async fn run(client: &mut Client, args: ListArgs, format: Format) -> anyhow::Result<()> {
    let response = client.metadata(None).await?;
    let mut topics: Vec<TopicRow> = response
        .topics
        .into_iter()
        .filter_map(TopicRow::from_metadata)
        .filter(|t| args.internal || !t.internal)
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    output::print(format, &TopicList { topics })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use fjord_protocol::messages::metadata_response::MetadataResponsePartition;

    use super::*;

    fn topic(name: &str, partitions: i32, internal: bool) -> MetadataResponseTopic {
        MetadataResponseTopic {
            name: Some(name.to_owned()),
            is_internal: internal,
            partitions: (0..partitions)
                .map(|i| MetadataResponsePartition {
                    partition_index: i,
                    replica_nodes: vec![1],
                    isr_nodes: vec![1],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn text_and_json() {
        let list = TopicList {
            topics: vec![
                TopicRow::from_metadata(topic("orders", 3, false)).unwrap(),
                TopicRow::from_metadata(topic("payments-eu", 12, false)).unwrap(),
            ],
        };
        assert_eq!(
            list.text(),
            "TOPIC        PARTITIONS  REPLICAS\n\
             orders       3           1\n\
             payments-eu  12          1\n"
        );
        assert_eq!(
            serde_json::to_value(&list.topics[0]).unwrap(),
            serde_json::json!({"name": "orders", "id": null, "partitions": 3,
                "replication_factor": 1, "internal": false, "error": null})
        );
    }

    #[test]
    fn internal_topics_and_errors_get_their_columns_only_when_shown() {
        let mut loading = topic("new", 0, false);
        loading.error_code = ErrorCode::LEADER_NOT_AVAILABLE.0;
        let list = TopicList {
            topics: vec![
                TopicRow::from_metadata(topic("__consumer_offsets", 50, true)).unwrap(),
                TopicRow::from_metadata(loading).unwrap(),
            ],
        };
        assert_eq!(
            list.text(),
            "TOPIC               PARTITIONS  REPLICAS  INTERNAL  ERROR\n\
             __consumer_offsets  50          1         yes\n\
             new                 0           0         no        LEADER_NOT_AVAILABLE (5)\n"
        );
    }
}
