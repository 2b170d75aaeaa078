//! `fjord topic describe`: the topic's partitions from Metadata, their log start and end
//! offsets from ListOffsets on each leader, and its configs from DescribeConfigs.

use std::collections::BTreeSet;

use fjord_protocol::messages::DescribeConfigsRequest;
use fjord_protocol::messages::describe_configs_request::DescribeConfigsResource;
use fjord_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use fjord_protocol::messages::metadata_response::MetadataResponsePartition;
use serde::Serialize;

use super::{
    RESOURCE_TOPIC, as_topic_error, config_source_name, parse_topic_name, topic_error,
    topic_id_text,
};
use crate::client::{
    Client, Connection, Error, ErrorCode, ListedOffset, OffsetQuery, TopicPartition,
};
use crate::output::{self, Format, Report, or_dash};

/// DYNAMIC_TOPIC_CONFIG: a config set on the topic itself.
const SOURCE_TOPIC: i8 = 1;

/// Arguments of `fjord topic describe`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The topic's name.
    #[arg(value_parser = parse_topic_name)]
    topic: String,

    /// Show every config of the topic with its source, not only those set on the topic.
    #[arg(long)]
    all_configs: bool,
}

/// What is known of the topic.
#[derive(Debug, PartialEq, Serialize)]
struct Description {
    topic: String,
    /// Kafka's topic id; `None` from brokers without ids.
    id: Option<String>,
    internal: bool,
    replication_factor: usize,
    partitions: Vec<PartitionRow>,
    /// `overrides` (configs set on the topic) or `all` (--all-configs).
    configs_shown: &'static str,
    configs: Vec<ConfigRow>,
}

#[derive(Debug, PartialEq, Serialize)]
struct PartitionRow {
    partition: i32,
    /// `None` when the partition has no leader.
    leader: Option<i32>,
    /// `None` from brokers older than Metadata v7, or without a leader.
    leader_epoch: Option<i32>,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    offline: Vec<i32>,
    log_start_offset: Option<i64>,
    /// The high watermark: the offset the next message will get.
    log_end_offset: Option<i64>,
    /// The partition's Kafka error, from Metadata or ListOffsets, if any.
    error: Option<String>,
}

#[derive(Debug, PartialEq, Serialize)]
struct ConfigRow {
    name: String,
    /// `None` for sensitive configs, whose value the broker does not tell.
    value: Option<String>,
    /// Kafka's name of where the value comes from, such as DYNAMIC_TOPIC_CONFIG.
    source: &'static str,
    read_only: bool,
    sensitive: bool,
}

impl ConfigRow {
    fn from_result(config: DescribeConfigsResourceResult) -> ConfigRow {
        ConfigRow {
            name: config.name,
            value: config.value,
            source: config_source_name(config.config_source),
            read_only: config.read_only,
            sensitive: config.is_sensitive,
        }
    }

    /// Whether the config is set on the topic itself (DYNAMIC_TOPIC_CONFIG).
    fn is_set_on_topic(&self) -> bool {
        self.source == config_source_name(SOURCE_TOPIC)
    }
}

impl PartitionRow {
    fn new(partition: MetadataResponsePartition, start: ListedOffset, end: ListedOffset) -> Self {
        let mut errors = Vec::new();
        if let Err(code) = ErrorCode::check(partition.error_code) {
            errors.push(code.to_string());
        }
        let mut offset = |answer: ListedOffset, what: &str| match answer {
            Ok(offset) => offset,
            Err(code) => {
                errors.push(format!("{what}: {code}"));
                None
            }
        };
        let log_start_offset = offset(start, "log start offset");
        let log_end_offset = offset(end, "log end offset");
        PartitionRow {
            partition: partition.partition_index,
            leader: (partition.leader_id >= 0).then_some(partition.leader_id),
            leader_epoch: (partition.leader_epoch >= 0).then_some(partition.leader_epoch),
            replicas: partition.replica_nodes,
            isr: partition.isr_nodes,
            offline: partition.offline_replicas,
            log_start_offset,
            log_end_offset,
            error: (!errors.is_empty()).then(|| errors.join("; ")),
        }
    }
}

/// Broker ids as Kafka's tools print them: `1,2,3`, or `-` for none.
fn ids(ids: &[i32]) -> String {
    if ids.is_empty() {
        "-".to_owned()
    } else {
        ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
    }
}

impl Report for Description {
    fn text(&self) -> String {
        let mut out = format!(
            "Topic:              {}\n\
             Id:                 {}\n\
             Partitions:         {}\n\
             Replication factor: {}\n\
             Internal:           {}\n\n",
            self.topic,
            self.id.as_deref().unwrap_or("-"),
            self.partitions.len(),
            self.replication_factor,
            if self.internal { "yes" } else { "no" },
        );
        let show_errors = self.partitions.iter().any(|p| p.error.is_some());
        let mut headers = vec![
            "PARTITION",
            "LEADER",
            "EPOCH",
            "REPLICAS",
            "ISR",
            "OFFLINE",
            "LOG-START",
            "LOG-END",
        ];
        if show_errors {
            headers.push("ERROR");
        }
        let rows: Vec<Vec<String>> = self
            .partitions
            .iter()
            .map(|p| {
                let mut row = vec![
                    p.partition.to_string(),
                    or_dash(p.leader.map(i64::from)),
                    or_dash(p.leader_epoch.map(i64::from)),
                    ids(&p.replicas),
                    ids(&p.isr),
                    ids(&p.offline),
                    or_dash(p.log_start_offset),
                    or_dash(p.log_end_offset),
                ];
                if show_errors {
                    row.push(p.error.clone().unwrap_or_default());
                }
                row
            })
            .collect();
        out.push_str(&output::table(&headers, &rows));
        out.push('\n');
        if self.configs.is_empty() {
            out.push_str("Configs: none set on the topic; every config has its default.\n");
            return out;
        }
        out.push_str(if self.configs_shown == "all" {
            "Configs:\n"
        } else {
            "Configs set on the topic:\n"
        });
        let rows: Vec<Vec<String>> = self
            .configs
            .iter()
            .map(|c| {
                let value = match (&c.value, c.sensitive) {
                    (_, true) => "(sensitive)".to_owned(),
                    (Some(value), false) => value.clone(),
                    (None, false) => "-".to_owned(),
                };
                vec![c.name.clone(), value, c.source.to_owned()]
            })
            .collect();
        out.push_str(&output::table(&["CONFIG", "VALUE", "SOURCE"], &rows));
        out
    }
}

/// The topic's configs from DescribeConfigs, sorted by name.
async fn configs(client: &mut Client, topic: &str) -> crate::client::Result<Vec<ConfigRow>> {
    let connection: &mut Connection = client.any_broker().await?;
    let request = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.to_owned(),
            configuration_keys: None, // every config
            ..Default::default()
        }],
        include_synonyms: false,
        include_documentation: false,
        ..Default::default()
    };
    let response = connection.request(&request).await?;
    let result = response
        .results
        .into_iter()
        .find(|r| r.resource_type == RESOURCE_TOPIC && r.resource_name == topic)
        .ok_or_else(|| Error::Protocol {
            broker: connection.address().clone(),
            api: "DescribeConfigs",
            detail: format!("no result for topic '{topic}'"),
        })?;
    ErrorCode::check(result.error_code).map_err(|code| {
        topic_error(
            format!("describing the configs of topic '{topic}'"),
            topic,
            code,
            result.error_message.clone(),
        )
    })?;
    let mut configs: Vec<ConfigRow> = result
        .configs
        .into_iter()
        .map(ConfigRow::from_result)
        .collect();
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(configs)
}

pub async fn run(client: &mut Client, args: DescribeArgs, format: Format) -> anyhow::Result<()> {
    let name = args.topic;
    let topic = client
        .topic_metadata(&name)
        .await
        .map_err(|error| as_topic_error(error, format!("describing topic '{name}'"), &name))?;
    let mut partitions = topic.partitions;
    partitions.sort_by_key(|p| p.partition_index);
    let asked: BTreeSet<TopicPartition> = partitions
        .iter()
        .map(|p| TopicPartition::new(name.clone(), p.partition_index))
        .collect();
    let mut starts = client.list_offsets(&asked, OffsetQuery::Earliest).await?;
    let mut ends = client.list_offsets(&asked, OffsetQuery::Latest).await?;
    let mut configs = configs(client, &name).await?;
    if !args.all_configs {
        configs.retain(|c| c.is_set_on_topic());
    }
    let replication_factor = partitions
        .iter()
        .map(|p| p.replica_nodes.len())
        .max()
        .unwrap_or(0);
    let partitions = partitions
        .into_iter()
        .map(|p| {
            let tp = TopicPartition::new(name.clone(), p.partition_index);
            // A partition ListOffsets was not asked about cannot happen; were it to, it
            // shows as unknown rather than as an offset.
            let missing = Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
            let start = starts.remove(&tp).unwrap_or(missing);
            let end = ends.remove(&tp).unwrap_or(missing);
            PartitionRow::new(p, start, end)
        })
        .collect();
    let description = Description {
        topic: name,
        id: topic_id_text(topic.topic_id),
        internal: topic.is_internal,
        replication_factor,
        partitions,
        configs_shown: if args.all_configs { "all" } else { "overrides" },
        configs,
    };
    output::print(format, &description)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn partition(index: i32) -> MetadataResponsePartition {
        MetadataResponsePartition {
            partition_index: index,
            leader_id: 1,
            leader_epoch: 0,
            replica_nodes: vec![1],
            isr_nodes: vec![1],
            ..Default::default()
        }
    }

    fn description(configs: Vec<ConfigRow>, configs_shown: &'static str) -> Description {
        Description {
            topic: "orders".to_owned(),
            id: Some("AQIDBAUGBwgJCgsMDQ4P_w".to_owned()),
            internal: false,
            replication_factor: 1,
            partitions: vec![
                PartitionRow::new(partition(0), Ok(Some(0)), Ok(Some(7))),
                PartitionRow::new(
                    MetadataResponsePartition {
                        leader_id: -1,
                        leader_epoch: -1,
                        isr_nodes: Vec::new(),
                        offline_replicas: vec![1],
                        ..partition(1)
                    },
                    Err(ErrorCode::LEADER_NOT_AVAILABLE),
                    Err(ErrorCode::LEADER_NOT_AVAILABLE),
                ),
            ],
            configs_shown,
            configs,
        }
    }

    #[test]
    fn text_shows_partitions_offsets_and_configs() {
        let retention = ConfigRow {
            name: "retention.ms".to_owned(),
            value: Some("3600000".to_owned()),
            source: "DYNAMIC_TOPIC_CONFIG",
            read_only: false,
            sensitive: false,
        };
        assert_eq!(
            description(vec![retention], "overrides").text(),
            "Topic:              orders\n\
             Id:                 AQIDBAUGBwgJCgsMDQ4P_w\n\
             Partitions:         2\n\
             Replication factor: 1\n\
             Internal:           no\n\
             \n\
             PARTITION  LEADER  EPOCH  REPLICAS  ISR  OFFLINE  LOG-START  LOG-END  ERROR\n\
             0          1       0      1         1    -        0          7\n\
             1          -       -      1         -    1        -          -        \
             log start offset: LEADER_NOT_AVAILABLE (5); log end offset: LEADER_NOT_AVAILABLE (5)\n\
             \n\
             Configs set on the topic:\n\
             CONFIG        VALUE    SOURCE\n\
             retention.ms  3600000  DYNAMIC_TOPIC_CONFIG\n"
        );
        assert!(
            description(Vec::new(), "overrides")
                .text()
                .ends_with("\nConfigs: none set on the topic; every config has its default.\n")
        );
    }

    #[test]
    fn json_has_stable_names() {
        let json = serde_json::to_value(description(Vec::new(), "all")).unwrap();
        assert_eq!(
            json["partitions"][0],
            serde_json::json!({"partition": 0, "leader": 1, "leader_epoch": 0,
                "replicas": [1], "isr": [1], "offline": [], "log_start_offset": 0,
                "log_end_offset": 7, "error": null})
        );
        assert_eq!(json["configs_shown"], "all");
        assert_eq!(json["partitions"][1]["leader"], serde_json::Value::Null);
    }

    #[test]
    fn only_topic_configs_count_as_overrides() {
        let row = |source: i8| {
            ConfigRow::from_result(DescribeConfigsResourceResult {
                name: "x".to_owned(),
                config_source: source,
                ..Default::default()
            })
        };
        assert!(row(1).is_set_on_topic());
        for source in [0, 2, 3, 4, 5] {
            assert!(!row(source).is_set_on_topic(), "{source}");
        }
    }
}
