//! `fjord topic add-partitions`: CreatePartitions with the new total on the controller.

use fjord_protocol::messages::CreatePartitionsRequest;
use fjord_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use serde::Serialize;

use super::{as_topic_error, parse_topic_name, topic_error};
use crate::client::{Client, Connection, Error, ErrorCode};
use crate::output::{self, Format, Report};

/// Arguments of `fjord topic add-partitions`.
#[derive(Debug, clap::Args)]
pub struct AddPartitionsArgs {
    /// The topic's name.
    #[arg(value_parser = parse_topic_name)]
    topic: String,

    /// The new total number of partitions, larger than the current one.
    #[arg(long = "to", value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
    count: i32,

    /// Only ask the broker to validate the change; nothing is added.
    #[arg(long)]
    dry_run: bool,
}

/// What was added.
#[derive(Debug, PartialEq, Serialize)]
struct Added {
    topic: String,
    partitions_before: usize,
    partitions: i32,
    dry_run: bool,
}

impl Report for Added {
    fn text(&self) -> String {
        if self.dry_run {
            format!(
                "Topic '{}' can grow from {} to {} partitions (dry run: nothing was added).\n",
                self.topic, self.partitions_before, self.partitions
            )
        } else {
            format!(
                "Topic '{}' now has {} partitions (it had {}).\n",
                self.topic, self.partitions, self.partitions_before
            )
        }
    }
}

pub async fn run(
    client: &mut Client,
    args: AddPartitionsArgs,
    format: Format,
    timeout_ms: i32,
) -> anyhow::Result<()> {
    let topic = args.topic;
    let context = || format!("adding partitions to topic '{topic}'");
    // The current count is only reported; the broker judges the new one, so that the
    // refusal of a count that does not grow the topic is the cluster's own.
    let before = client
        .topic_metadata(&topic)
        .await
        .map_err(|error| as_topic_error(error, context(), &topic))?
        .partitions
        .len();
    let request = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: topic.clone(),
            count: args.count,
            assignments: None, // the controller places the new partitions
            ..Default::default()
        }],
        timeout_ms,
        validate_only: args.dry_run,
        ..Default::default()
    };
    client
        .on_controller(async |connection: &mut Connection| {
            let response = connection.request(&request).await?;
            let result = response
                .results
                .into_iter()
                .find(|r| r.name == topic)
                .ok_or_else(|| Error::Protocol {
                    broker: connection.address().clone(),
                    api: "CreatePartitions",
                    detail: format!("no result for topic '{topic}'"),
                })?;
            ErrorCode::check(result.error_code)
                .map_err(|code| topic_error(context(), &topic, code, result.error_message))
        })
        .await?;
    let added = Added {
        topic: topic.clone(),
        partitions_before: before,
        partitions: args.count,
        dry_run: args.dry_run,
    };
    output::print(format, &added)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json() {
        let added = Added {
            topic: "orders".to_owned(),
            partitions_before: 3,
            partitions: 6,
            dry_run: false,
        };
        assert_eq!(
            added.text(),
            "Topic 'orders' now has 6 partitions (it had 3).\n"
        );
        assert_eq!(
            serde_json::to_value(&added).unwrap(),
            serde_json::json!({"topic": "orders", "partitions_before": 3, "partitions": 6,
                "dry_run": false})
        );
        let dry = Added {
            dry_run: true,
            ..added
        };
        assert_eq!(
            dry.text(),
            "Topic 'orders' can grow from 3 to 6 partitions (dry run: nothing was added).\n"
        );
    }
}
