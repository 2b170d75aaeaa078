//! CreateTopics: validate names, partition counts, replication and configs, then create
//! (or, with validate_only, only check).

use std::collections::BTreeMap;

use fjord_protocol::Uuid;
use fjord_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use fjord_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;
use crate::topics::{NewTopic, TopicError};

/// Answers a CreateTopics request; each topic succeeds or fails on its own.
pub(crate) async fn handle(
    context: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let broker = &context.broker;
    let version = context.version();
    let node_id = broker.config.node_id;
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut seen = std::collections::HashSet::new();
    for topic in request.topics {
        let failed = |error: TopicError| CreatableTopicResult {
            name: topic.name.clone(),
            topic_id: Uuid::ZERO,
            error_code: error.code.code(),
            error_message: Some(error.message),
            num_partitions: -1,
            replication_factor: -1,
            configs: None,
            ..Default::default()
        };
        // Kafka rejects a name listed twice in one request, both times.
        if !seen.insert(topic.name.clone()) {
            topics.push(failed(TopicError::new(
                ErrorCode::INVALID_REQUEST,
                format!(
                    "Create topics request from client contains multiple entries for topic {}",
                    topic.name
                ),
            )));
            continue;
        }
        let partitions = if topic.num_partitions == -1 {
            broker.config.num_partitions
        } else {
            topic.num_partitions
        };
        let replication_factor = if topic.replication_factor == -1 {
            1
        } else {
            topic.replication_factor
        };
        if !topic.assignments.is_empty() {
            if topic.num_partitions != -1 || topic.replication_factor != -1 {
                topics.push(failed(TopicError::new(
                    ErrorCode::INVALID_REQUEST,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
                )));
                continue;
            }
            let valid = topic.assignments.iter().enumerate().all(|(i, a)| {
                a.partition_index == i as i32 && a.broker_ids.as_slice() == [node_id]
            });
            if !valid {
                topics.push(failed(TopicError::new(
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    format!("Replica assignments must place every partition on broker {node_id}, the only broker"),
                )));
                continue;
            }
        }
        let partitions = if topic.assignments.is_empty() {
            partitions
        } else {
            topic.assignments.len() as i32
        };
        if partitions <= 0 {
            topics.push(failed(TopicError::new(
                ErrorCode::INVALID_PARTITIONS,
                "Number of partitions must be larger than 0.",
            )));
            continue;
        }
        if replication_factor <= 0 {
            topics.push(failed(TopicError::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            )));
            continue;
        }
        if replication_factor > 1 {
            topics.push(failed(TopicError::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                format!(
                    "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only 1 broker(s) are registered."
                ),
            )));
            continue;
        }
        let mut configs = BTreeMap::new();
        let mut null_config = None;
        for config in topic.configs {
            match config.value {
                Some(value) => {
                    configs.insert(config.name, value);
                }
                None => null_config = Some(config.name),
            }
        }
        if let Some(name) = null_config {
            topics.push(failed(TopicError::new(
                ErrorCode::INVALID_CONFIG,
                format!("Null value not supported for topic configs: {name}"),
            )));
            continue;
        }
        let new_topic = NewTopic {
            name: topic.name.clone(),
            partitions,
            configs,
        };
        match broker.create_topic(new_topic, request.validate_only).await {
            Ok(created) => topics.push(CreatableTopicResult {
                name: topic.name,
                topic_id: if request.validate_only {
                    Uuid::ZERO
                } else {
                    created.id
                },
                error_code: ErrorCode::NONE.code(),
                error_message: None,
                num_partitions: partitions,
                replication_factor: 1,
                configs: (version >= 5).then(|| {
                    broker
                        .describe_topic_configs(&created.configs)
                        .into_iter()
                        .map(|entry| CreatableTopicConfigs {
                            name: entry.name,
                            value: entry.value,
                            read_only: entry.read_only,
                            config_source: entry.source,
                            is_sensitive: entry.sensitive,
                            ..Default::default()
                        })
                        .collect()
                }),
                ..Default::default()
            }),
            Err(error) => topics.push(failed(error)),
        }
    }
    CreateTopicsResponse {
        topics,
        ..Default::default()
    }
}
