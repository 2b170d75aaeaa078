//! ApiVersions: which APIs and versions this broker speaks.

use fjord_protocol::messages::ApiVersionsRequest;
use fjord_protocol::messages::ApiVersionsResponse;
use fjord_protocol::messages::api_versions_response::ApiVersion;

use super::{RequestContext, SUPPORTED};
use crate::error_code::ErrorCode;

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|(api, min, max)| ApiVersion {
            api_key: api.key(),
            min_version: *min,
            max_version: *max,
            ..Default::default()
        })
        .collect()
}

/// Answers with the table of supported APIs.
pub(crate) fn handle(
    _context: &RequestContext,
    _request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::NONE.code(),
        api_keys: api_keys(),
        ..Default::default()
    }
}

/// The version-0 answer to an ApiVersions request of a version we do not know: the error
/// and the table, so that the client retries with a version we share.
pub(crate) fn unsupported_version_response() -> fjord_protocol::ResponseKind {
    fjord_protocol::ResponseKind::ApiVersions(ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION.code(),
        api_keys: api_keys(),
        ..Default::default()
    })
}
