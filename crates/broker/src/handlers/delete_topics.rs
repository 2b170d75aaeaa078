//! DeleteTopics: by name (all versions) or by topic id (version 6).

use fjord_protocol::Uuid;
use fjord_protocol::messages::delete_topics_response::DeletableTopicResult;
use fjord_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};

use super::RequestContext;
use crate::error_code::ErrorCode;

/// Answers a DeleteTopics request; each topic succeeds or fails on its own.
pub(crate) async fn handle(
    context: &RequestContext,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let broker = &context.broker;
    let version = context.version();
    // Before version 6 topics come as a list of names; from 6 as names or ids.
    let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|name| (Some(name), Uuid::ZERO))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    let mut deleted = Vec::new();
    for (name, topic_id) in wanted {
        let resolved = match &name {
            Some(name) => Some(name.clone()),
            None => broker.topic_by_id(topic_id).map(|t| t.name.clone()),
        };
        let result = match resolved {
            Some(resolved) => broker
                .delete_topic(&resolved)
                .await
                .map(|id| (resolved, id)),
            None => Err(crate::topics::TopicError::new(
                ErrorCode::UNKNOWN_TOPIC_ID,
                "This server does not host this topic ID.",
            )),
        };
        responses.push(match result {
            Ok((resolved, id)) => {
                deleted.push(resolved.clone());
                DeletableTopicResult {
                    name: Some(resolved),
                    topic_id: if version >= 6 { id } else { Uuid::ZERO },
                    error_code: ErrorCode::NONE.code(),
                    ..Default::default()
                }
            }
            Err(error) => DeletableTopicResult {
                name: name.clone(),
                topic_id: if version >= 6 { topic_id } else { Uuid::ZERO },
                error_code: error.code.code(),
                error_message: if version >= 5 {
                    Some(error.message)
                } else {
                    None
                },
                ..Default::default()
            },
        });
    }
    if !deleted.is_empty() {
        broker.forget_topics_in_groups(deleted).await;
    }
    DeleteTopicsResponse {
        responses,
        ..Default::default()
    }
}
