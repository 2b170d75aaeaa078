//! Metadata: brokers, the controller, topics and their partitions' leaders.

use fjord_protocol::Uuid;
use fjord_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use fjord_protocol::messages::{MetadataRequest, MetadataResponse};

use super::{AUTHORIZED_OPERATIONS_OMITTED, RequestContext};
use crate::error_code::ErrorCode;
use crate::topics::Topic;

/// With no ACLs every operation is allowed: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE,
/// DESCRIBE_CONFIGS and ALTER_CONFIGS (Kafka's AclOperation codes 3-8, 10, 11).
const TOPIC_OPERATIONS_ALL: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// Answers a Metadata request, creating requested topics when auto-creation is on.
pub(crate) async fn handle(context: &RequestContext, request: MetadataRequest) -> MetadataResponse {
    let broker = &context.broker;
    let version = context.version();
    // Before version 4 there is no flag: requests may always create topics.
    let allow_auto_create =
        (version < 4 || request.allow_auto_topic_creation) && broker.config.auto_create_topics;
    let include_operations = version >= 8 && request.include_topic_authorized_operations;

    let mut topics = Vec::new();
    match request.topics {
        // Version 0 asks for every topic with an empty list; later versions with null.
        Some(requested) if !(version == 0 && requested.is_empty()) => {
            for wanted in requested {
                topics.push(match wanted.name {
                    Some(name) => match broker.topic(&name) {
                        Some(topic) => describe(&topic, include_operations),
                        None if allow_auto_create => match broker.auto_create_topic(&name).await {
                            Ok(topic) => describe(&topic, include_operations),
                            Err(error) => error_topic(Some(name), Uuid::ZERO, error.code),
                        },
                        None => match crate::topics::validate_name(&name) {
                            Ok(()) => error_topic(
                                Some(name),
                                Uuid::ZERO,
                                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                            ),
                            Err(error) => error_topic(Some(name), Uuid::ZERO, error.code),
                        },
                    },
                    None => match broker.topic_by_id(wanted.topic_id) {
                        Some(topic) => describe(&topic, include_operations),
                        None => error_topic(None, wanted.topic_id, ErrorCode::UNKNOWN_TOPIC_ID),
                    },
                });
            }
        }
        _ => {
            for topic in broker.topics() {
                topics.push(describe(&topic, include_operations));
            }
        }
    }

    let (host, port) = broker.advertised.clone();
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: broker.config.node_id,
            host,
            port: i32::from(port),
            rack: None,
            ..Default::default()
        }],
        cluster_id: Some(broker.cluster_id().to_owned()),
        controller_id: broker.config.node_id,
        topics,
        ..Default::default()
    }
}

/// A topic as Metadata reports it: every partition led by this broker.
pub(crate) fn describe(topic: &Topic, include_operations: bool) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: ErrorCode::NONE.code(),
        name: Some(topic.name.clone()),
        topic_id: topic.id,
        is_internal: topic.internal,
        partitions: topic
            .partitions
            .iter()
            .map(|partition| MetadataResponsePartition {
                error_code: ErrorCode::NONE.code(),
                partition_index: partition.index,
                leader_id: partition.leader_id,
                leader_epoch: partition.leader_epoch,
                replica_nodes: vec![partition.leader_id],
                isr_nodes: vec![partition.leader_id],
                offline_replicas: Vec::new(),
                ..Default::default()
            })
            .collect(),
        topic_authorized_operations: if include_operations {
            TOPIC_OPERATIONS_ALL
        } else {
            AUTHORIZED_OPERATIONS_OMITTED
        },
        ..Default::default()
    }
}

fn error_topic(name: Option<String>, topic_id: Uuid, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: code.code(),
        name,
        topic_id,
        topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
        ..Default::default()
    }
}
