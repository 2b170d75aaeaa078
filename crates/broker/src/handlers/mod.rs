//! One file per Kafka API, and the routing table: the only place that says which APIs and
//! versions Fjord speaks. ApiVersions advertises exactly this table.

use std::sync::Arc;

use fjord_protocol::header::RequestHeader;
use fjord_protocol::{ApiKey, RequestKind, ResponseKind};

use crate::Broker;

pub(crate) mod api_versions;
pub(crate) mod create_topics;
pub(crate) mod fetch;
pub(crate) mod init_producer_id;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod produce;

/// The APIs this broker implements, with the versions it accepts.
///
/// Produce advertises versions 0 to 2 but answers them with UNSUPPORTED_VERSION, as
/// Kafka 4.0 does (KAFKA-18659): librdkafka only enables gzip, snappy and lz4 when the
/// advertised Produce range starts at 0. See docs/adr/0002.
pub(crate) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 0, 11),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::InitProducerId, 0, 5),
];

/// Whether `version` of `api` is in the routing table.
pub(crate) fn is_supported(api: ApiKey, version: i16) -> bool {
    SUPPORTED
        .iter()
        .any(|(key, min, max)| *key == api && (*min..=*max).contains(&version))
}

/// What a handler needs to know about the request besides its body.
pub(crate) struct RequestContext {
    pub broker: Arc<Broker>,
    pub header: RequestHeader,
}

impl RequestContext {
    /// The version of the request, which is also the version of its response.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
}

/// A handler's answer. Built once per request and moved straight into the encoder, so
/// the size of the response variant does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outcome {
    Respond(ResponseKind),
    /// Produce with acks=0 gets no response at all.
    NoResponse,
}

/// Routes a decoded request to its handler.
pub(crate) async fn dispatch(context: &RequestContext, request: RequestKind) -> Outcome {
    use Outcome::Respond;
    match request {
        RequestKind::ApiVersions(r) => {
            Respond(ResponseKind::ApiVersions(api_versions::handle(context, r)))
        }
        RequestKind::Metadata(r) => {
            Respond(ResponseKind::Metadata(metadata::handle(context, r).await))
        }
        RequestKind::Produce(r) => match produce::handle(context, r).await {
            Some(response) => Respond(ResponseKind::Produce(response)),
            None => Outcome::NoResponse,
        },
        RequestKind::Fetch(r) => Respond(ResponseKind::Fetch(fetch::handle(context, r).await)),
        RequestKind::ListOffsets(r) => Respond(ResponseKind::ListOffsets(
            list_offsets::handle(context, r).await,
        )),
        RequestKind::CreateTopics(r) => Respond(ResponseKind::CreateTopics(
            create_topics::handle(context, r).await,
        )),
        RequestKind::InitProducerId(r) => Respond(ResponseKind::InitProducerId(
            init_producer_id::handle(context, r).await,
        )),
        other => {
            // The network layer only decodes what `SUPPORTED` lists, so this is a bug: a
            // table entry without a route. Closing is safer than a wrong answer.
            tracing::error!(api = ?other.api_key(), "no handler for a supported API");
            Outcome::NoResponse
        }
    }
}
