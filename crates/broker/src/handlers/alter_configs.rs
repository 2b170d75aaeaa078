//! AlterConfigs (the legacy form): replace all of a topic's config overrides.

use std::collections::BTreeMap;

use fjord_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use fjord_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::RequestContext;
use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use crate::error_code::ErrorCode;
use crate::topics::TopicError;

/// Answers an AlterConfigs request: the configs given become the topic's overrides, and
/// every override not given is removed, as in Kafka.
pub(crate) async fn handle(
    context: &RequestContext,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let broker = &context.broker;
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in request.resources {
        let outcome = match resource.resource_type {
            RESOURCE_TOPIC => {
                let mut configs = BTreeMap::new();
                let mut problem = None;
                for config in resource.configs {
                    match config.value {
                        Some(value) => {
                            configs.insert(config.name, value);
                        }
                        None => {
                            problem = Some(TopicError::new(
                                ErrorCode::INVALID_REQUEST,
                                format!("Null value not supported for: {}", config.name),
                            ))
                        }
                    }
                }
                match problem {
                    Some(problem) => Err(problem),
                    None => {
                        broker
                            .set_topic_configs(
                                &resource.resource_name,
                                configs,
                                request.validate_only,
                            )
                            .await
                    }
                }
            }
            RESOURCE_BROKER => Err(dynamic_broker_configs_refused()),
            other => Err(TopicError::new(
                ErrorCode::INVALID_REQUEST,
                format!("Unsupported resource type {other}"),
            )),
        };
        responses.push(response(
            resource.resource_type,
            resource.resource_name,
            outcome,
        ));
    }
    AlterConfigsResponse {
        responses,
        ..Default::default()
    }
}

/// Broker settings are read at startup only; changing them at run time is not supported.
pub(crate) fn dynamic_broker_configs_refused() -> TopicError {
    TopicError::new(
        ErrorCode::INVALID_REQUEST,
        "Fjord does not change broker configs at run time; set them at startup (flags, FJORD_* or the config file)",
    )
}

fn response(
    resource_type: i8,
    resource_name: String,
    outcome: Result<(), TopicError>,
) -> AlterConfigsResourceResponse {
    let (code, message) = match outcome {
        Ok(()) => (ErrorCode::NONE, None),
        Err(error) => (error.code, Some(error.message)),
    };
    AlterConfigsResourceResponse {
        error_code: code.code(),
        error_message: message,
        resource_type,
        resource_name,
        ..Default::default()
    }
}
