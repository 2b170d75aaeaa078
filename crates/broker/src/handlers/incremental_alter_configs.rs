//! IncrementalAlterConfigs: set, delete, append to or subtract from single topic configs.

use fjord_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use fjord_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use fjord_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::RequestContext;
use super::alter_configs::dynamic_broker_configs_refused;
use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::Broker;
use crate::error_code::ErrorCode;
use crate::topics::TopicError;

/// Kafka's AlterConfigOp types.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Answers an IncrementalAlterConfigs request.
pub(crate) async fn handle(
    context: &RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let broker = &context.broker;
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let resource_type = resource.resource_type;
        let resource_name = resource.resource_name.clone();
        let outcome = match resource_type {
            RESOURCE_TOPIC => alter_topic(broker, resource, request.validate_only).await,
            RESOURCE_BROKER => Err(dynamic_broker_configs_refused()),
            other => Err(TopicError::new(
                ErrorCode::INVALID_REQUEST,
                format!("Unsupported resource type {other}"),
            )),
        };
        let (code, message) = match outcome {
            Ok(()) => (ErrorCode::NONE, None),
            Err(error) => (error.code, Some(error.message)),
        };
        responses.push(AlterConfigsResourceResponse {
            error_code: code.code(),
            error_message: message,
            resource_type,
            resource_name,
            ..Default::default()
        });
    }
    IncrementalAlterConfigsResponse {
        responses,
        ..Default::default()
    }
}

async fn alter_topic(
    broker: &Broker,
    resource: AlterConfigsResource,
    validate_only: bool,
) -> Result<(), TopicError> {
    let Some(topic) = broker.topic(&resource.resource_name) else {
        return Err(TopicError::new(
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Topic {} does not exist", resource.resource_name),
        ));
    };
    let mut configs = topic.configs.clone();
    let mut seen = std::collections::HashSet::new();
    for change in resource.configs {
        if !seen.insert(change.name.clone()) {
            return Err(TopicError::new(
                ErrorCode::INVALID_REQUEST,
                format!("Error due to duplicate config keys: {}", change.name),
            ));
        }
        match change.config_operation {
            OP_SET => match change.value {
                Some(value) => {
                    configs.insert(change.name, value);
                }
                None => {
                    return Err(TopicError::new(
                        ErrorCode::INVALID_REQUEST,
                        format!("Null value not supported for: {}", change.name),
                    ));
                }
            },
            OP_DELETE => {
                configs.remove(&change.name);
            }
            OP_APPEND | OP_SUBTRACT => {
                let is_list =
                    fjord_metadata::topic_config::config_def(&change.name).is_some_and(|def| {
                        def.config_type == fjord_metadata::topic_config::ConfigType::List
                    });
                if !is_list {
                    return Err(TopicError::new(
                        ErrorCode::INVALID_CONFIG,
                        format!(
                            "Config value append is not allowed for config key: {}",
                            change.name
                        ),
                    ));
                }
                // Lists start from the effective value: the override, or the default.
                let current = configs
                    .get(&change.name)
                    .cloned()
                    .or_else(|| broker.topic_defaults().value_text(&change.name));
                let mut items = list_items(&current.unwrap_or_default());
                let given = list_items(&change.value.unwrap_or_default());
                if change.config_operation == OP_APPEND {
                    for item in given {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    }
                } else {
                    items.retain(|item| !given.contains(item));
                }
                configs.insert(change.name, items.join(","));
            }
            other => {
                return Err(TopicError::new(
                    ErrorCode::INVALID_REQUEST,
                    format!("Unknown config operation {other}"),
                ));
            }
        }
    }
    broker
        .set_topic_configs(&topic.name, configs, validate_only)
        .await
}

/// The items of a comma-separated list config.
fn list_items(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
