//! One file per Kafka API, and the routing table: the only place that says which APIs and
//! versions Fjord speaks. ApiVersions advertises exactly this table.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use fjord_protocol::header::RequestHeader;
use fjord_protocol::{ApiKey, RequestKind, ResponseKind};

use crate::Broker;

pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod alter_configs;
pub(crate) mod api_versions;
pub(crate) mod consumer_group_describe;
pub(crate) mod consumer_group_heartbeat;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_producers;
pub(crate) mod describe_topic_partitions;
pub(crate) mod describe_transactions;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_transactions;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod produce;
pub(crate) mod sync_group;
pub(crate) mod txn_offset_commit;

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
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 2, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 0),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::DescribeProducers, 0, 0),
];

/// Kafka's "not requested" value of the authorized-operations fields.
pub(crate) const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Whether `version` of `api` is in the routing table.
pub(crate) fn is_supported(api: ApiKey, version: i16) -> bool {
    SUPPORTED
        .iter()
        .any(|(key, min, max)| *key == api && (*min..=*max).contains(&version))
}

/// What a handler needs to know about the request besides its body.
#[derive(Clone)]
pub(crate) struct RequestContext {
    pub broker: Arc<Broker>,
    pub header: RequestHeader,
    /// The client's address; group members are described with it.
    pub peer: SocketAddr,
}

impl RequestContext {
    /// The version of the request, which is also the version of its response.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
}

/// A response that completes later, off the connection's request order.
pub(crate) type Deferred = Pin<Box<dyn Future<Output = ResponseKind> + Send>>;

/// A handler's answer. Built once per request and moved straight into the encoder, so
/// the size of the response variant does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outcome {
    Respond(ResponseKind),
    /// Produce with acks=0 gets no response at all.
    NoResponse,
    /// The request's effects are applied; its answer waits for something that must not
    /// hold up the next request of the connection (an fsync, a fetch's long poll).
    Later(Deferred),
    /// No handler: a bug. The connection closes rather than leave the client waiting.
    Unrouted,
}

/// Routes a decoded request to its handler. The network layer awaits this for each request
/// of a connection in arrival order, as Kafka does, so that (say) pipelined produce
/// requests are appended in the order they were sent; only `Outcome::Later` parts overlap.
pub(crate) async fn dispatch(context: &RequestContext, request: RequestKind) -> Outcome {
    use Outcome::Respond;
    // Each async handler answers with the response type of its API.
    macro_rules! route {
        ($handler:ident, $api:ident, $request:expr) => {
            Respond(ResponseKind::$api(
                $handler::handle(context, $request).await,
            ))
        };
    }
    match request {
        RequestKind::ApiVersions(r) => {
            Respond(ResponseKind::ApiVersions(api_versions::handle(context, r)))
        }
        RequestKind::Produce(r) => produce::handle(context, r).await,
        RequestKind::Metadata(r) => route!(metadata, Metadata, r),
        RequestKind::FindCoordinator(r) => route!(find_coordinator, FindCoordinator, r),
        RequestKind::JoinGroup(r) => join_group::handle(context, r).await,
        RequestKind::SyncGroup(r) => sync_group::handle(context, r).await,
        RequestKind::Heartbeat(r) => heartbeat::handle(context, r).await,
        RequestKind::LeaveGroup(r) => leave_group::handle(context, r).await,
        RequestKind::OffsetCommit(r) => offset_commit::handle(context, r).await,
        RequestKind::OffsetFetch(r) => offset_fetch::handle(context, r).await,
        RequestKind::ListGroups(r) => list_groups::handle(context, r).await,
        RequestKind::DescribeGroups(r) => describe_groups::handle(context, r).await,
        RequestKind::DeleteGroups(r) => delete_groups::handle(context, r).await,
        RequestKind::OffsetDelete(r) => offset_delete::handle(context, r).await,
        RequestKind::ConsumerGroupHeartbeat(r) => {
            consumer_group_heartbeat::handle(context, r).await
        }
        RequestKind::ConsumerGroupDescribe(r) => consumer_group_describe::handle(context, r).await,
        RequestKind::Fetch(r) => {
            // A fetch may wait up to max_wait_ms for data; it changes nothing but its
            // session, so it runs off the connection's order.
            let context = context.clone();
            Outcome::Later(Box::pin(async move {
                ResponseKind::Fetch(fetch::handle(&context, r).await)
            }))
        }
        RequestKind::ListOffsets(r) => route!(list_offsets, ListOffsets, r),
        RequestKind::CreateTopics(r) => route!(create_topics, CreateTopics, r),
        RequestKind::DeleteTopics(r) => route!(delete_topics, DeleteTopics, r),
        RequestKind::DeleteRecords(r) => route!(delete_records, DeleteRecords, r),
        RequestKind::InitProducerId(r) => init_producer_id::handle(context, r).await,
        RequestKind::AddPartitionsToTxn(r) => add_partitions_to_txn::handle(context, r).await,
        RequestKind::AddOffsetsToTxn(r) => add_offsets_to_txn::handle(context, r).await,
        RequestKind::EndTxn(r) => end_txn::handle(context, r).await,
        RequestKind::TxnOffsetCommit(r) => txn_offset_commit::handle(context, r).await,
        RequestKind::DescribeTransactions(r) => describe_transactions::handle(context, r).await,
        RequestKind::ListTransactions(r) => list_transactions::handle(context, r).await,
        RequestKind::DescribeProducers(r) => route!(describe_producers, DescribeProducers, r),
        RequestKind::DescribeConfigs(r) => route!(describe_configs, DescribeConfigs, r),
        RequestKind::AlterConfigs(r) => route!(alter_configs, AlterConfigs, r),
        RequestKind::CreatePartitions(r) => route!(create_partitions, CreatePartitions, r),
        RequestKind::IncrementalAlterConfigs(r) => {
            route!(incremental_alter_configs, IncrementalAlterConfigs, r)
        }
        RequestKind::DescribeCluster(r) => route!(describe_cluster, DescribeCluster, r),
        RequestKind::DescribeTopicPartitions(r) => {
            route!(describe_topic_partitions, DescribeTopicPartitions, r)
        }
        other => {
            // The network layer only decodes what `SUPPORTED` lists, so this is a bug: a
            // table entry without a route. Closing is safer than a wrong answer.
            tracing::error!(api = ?other.api_key(), "no handler for a supported API");
            Outcome::Unrouted
        }
    }
}
