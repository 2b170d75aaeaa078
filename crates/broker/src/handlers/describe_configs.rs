//! DescribeConfigs: topic configs (overrides, broker defaults, Kafka defaults) and the
//! broker's own settings, with their sources.

use fjord_metadata::topic_config::{self, ConfigSource, ConfigType, TOPIC_CONFIGS};
use fjord_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use fjord_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::{Broker, BrokerConfig};

/// Kafka's ConfigResource types that Fjord knows.
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;

/// One config as the response reports it, before version-dependent fields are dropped.
struct Entry {
    name: String,
    value: Option<String>,
    read_only: bool,
    source: ConfigSource,
    sensitive: bool,
    config_type: ConfigType,
    doc: &'static str,
    synonyms: Vec<(String, Option<String>, ConfigSource)>,
}

/// Answers a DescribeConfigs request.
pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let broker = &context.broker;
    let version = context.version();
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let entries = match resource.resource_type {
                RESOURCE_TOPIC => match broker.topic(&resource.resource_name) {
                    Some(topic) => Ok(topic_entries(broker, &topic.configs)),
                    None => Err((
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        format!("Topic '{}' does not exist.", resource.resource_name),
                    )),
                },
                RESOURCE_BROKER => {
                    let node = broker.config.node_id.to_string();
                    if resource.resource_name.is_empty() || resource.resource_name == node {
                        Ok(broker_entries(broker))
                    } else {
                        Err((
                            ErrorCode::INVALID_REQUEST,
                            format!("Unexpected broker id, expected {node} or empty string, but received {}", resource.resource_name),
                        ))
                    }
                }
                other => Err((ErrorCode::INVALID_REQUEST, format!("Unsupported resource type {other}"))),
            };
            let (code, message, entries) = match entries {
                Ok(entries) => (ErrorCode::NONE, None, entries),
                Err((code, message)) => (code, Some(message), Vec::new()),
            };
            let keys = resource.configuration_keys;
            let configs = entries
                .into_iter()
                .filter(|e| keys.as_ref().is_none_or(|keys| keys.contains(&e.name)))
                .map(|e| DescribeConfigsResourceResult {
                    name: e.name,
                    value: if e.sensitive { None } else { e.value },
                    read_only: e.read_only,
                    config_source: e.source.id(),
                    is_sensitive: e.sensitive,
                    synonyms: if request.include_synonyms {
                        e.synonyms
                            .into_iter()
                            .map(|(name, value, source)| DescribeConfigsSynonym {
                                name,
                                value,
                                source: source.id(),
                                ..Default::default()
                            })
                            .collect()
                    } else {
                        Vec::new()
                    },
                    config_type: if version >= 3 { e.config_type.id() } else { 0 },
                    documentation: (version >= 3 && request.include_documentation).then(|| e.doc.to_owned()),
                    ..Default::default()
                })
                .collect();
            DescribeConfigsResult {
                error_code: code.code(),
                error_message: message,
                resource_type: resource.resource_type,
                resource_name: resource.resource_name,
                configs,
                ..Default::default()
            }
        })
        .collect();
    DescribeConfigsResponse {
        results,
        ..Default::default()
    }
}

fn topic_entries(
    broker: &Broker,
    overrides: &std::collections::BTreeMap<String, String>,
) -> Vec<Entry> {
    topic_config::describe_topic_configs(overrides, broker.topic_defaults())
        .into_iter()
        .map(|e| Entry {
            name: e.name.to_owned(),
            value: e.value,
            read_only: e.read_only,
            source: e.source,
            sensitive: e.sensitive,
            config_type: e.config_type,
            doc: e.doc,
            synonyms: e
                .synonyms
                .into_iter()
                .map(|s| (s.name.to_owned(), s.value, s.source))
                .collect(),
        })
        .collect()
}

/// The broker's settings: the broker-level defaults of topic configs, under their broker
/// names, and the broker's own settings. All are static: set at startup.
fn broker_entries(broker: &Broker) -> Vec<Entry> {
    let defaults = broker.topic_defaults();
    let mut entries = Vec::new();
    for def in TOPIC_CONFIGS {
        let Some(broker_name) = def.broker_synonyms.first() else {
            continue;
        };
        let value = defaults.value_text(def.name);
        let source = if value.as_deref() == Some(def.default) {
            ConfigSource::DefaultConfig
        } else {
            ConfigSource::StaticBrokerConfig
        };
        entries.push(Entry {
            name: (*broker_name).to_owned(),
            synonyms: vec![((*broker_name).to_owned(), value.clone(), source)],
            value,
            read_only: true,
            source,
            sensitive: def.sensitive,
            config_type: def.config_type,
            doc: def.doc,
        });
    }
    let config = &broker.config;
    let initial = BrokerConfig::new(config.data_dir.clone());
    let (host, port) = broker.advertised.clone();
    let own: [(&str, String, String, ConfigType, &'static str); 7] = [
        (
            "node.id",
            config.node_id.to_string(),
            initial.node_id.to_string(),
            ConfigType::Int,
            "This broker's id.",
        ),
        (
            "num.partitions",
            config.num_partitions.to_string(),
            initial.num_partitions.to_string(),
            ConfigType::Int,
            "Partitions of an auto-created topic.",
        ),
        (
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
            initial.auto_create_topics.to_string(),
            ConfigType::Boolean,
            "Whether Metadata and Produce requests create the topics they name.",
        ),
        (
            "socket.request.max.bytes",
            config.request_bytes_max.to_string(),
            initial.request_bytes_max.to_string(),
            ConfigType::Int,
            "The largest request frame accepted.",
        ),
        (
            "max.connections",
            config.connections_max.to_string(),
            initial.connections_max.to_string(),
            ConfigType::Int,
            "Connections served at once.",
        ),
        (
            "advertised.listeners",
            format!("PLAINTEXT://{host}:{port}"),
            String::new(),
            ConfigType::String,
            "The address clients are told to connect to.",
        ),
        (
            "log.dirs",
            config.data_dir.display().to_string(),
            initial.data_dir.display().to_string(),
            ConfigType::String,
            "Where partitions and the metadata log live.",
        ),
    ];
    for (name, value, default, config_type, doc) in own {
        let source = if value == default {
            ConfigSource::DefaultConfig
        } else {
            ConfigSource::StaticBrokerConfig
        };
        entries.push(Entry {
            name: name.to_owned(),
            synonyms: vec![(name.to_owned(), Some(value.clone()), source)],
            value: Some(value),
            read_only: true,
            source,
            sensitive: false,
            config_type,
            doc,
        });
    }
    entries
}
