//! A scripted broker for the client's tests: it decodes each request with the codec and
//! answers what the test's handler returns, so that retries, both shapes of batched
//! APIs and leader routing can be tested without a cluster that misbehaves on cue.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use fjord_protocol::ApiKey;
use fjord_protocol::header::{decode_request, encode_response};
use fjord_protocol::messages::api_versions_response::ApiVersion;
use fjord_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use fjord_protocol::messages::{ApiVersionsResponse, MetadataResponse, RequestKind, ResponseKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{BrokerAddress, ErrorCode};

/// Binds a listener on an ephemeral port of 127.0.0.1.
pub async fn listen() -> (TcpListener, BrokerAddress) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a fake broker");
    let port = listener.local_addr().expect("its address").port();
    let address = BrokerAddress {
        host: "127.0.0.1".to_owned(),
        port,
    };
    (listener, address)
}

/// Serves every connection to `listener`: ApiVersions from `versions` (API, min, max),
/// everything else from `handler`, which gets the request and its version.
pub fn serve(
    listener: TcpListener,
    versions: &[(ApiKey, i16, i16)],
    handler: impl FnMut(RequestKind, i16) -> ResponseKind + Send + 'static,
) {
    let api_keys: Vec<ApiVersion> = versions
        .iter()
        .map(|&(api, min, max)| ApiVersion {
            api_key: api.key(),
            min_version: min,
            max_version: max,
            ..Default::default()
        })
        .collect();
    let handler = Arc::new(Mutex::new(handler));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let api_keys = api_keys.clone();
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                while let Ok(length) = socket.read_i32().await {
                    let mut frame = vec![0; length as usize];
                    if socket.read_exact(&mut frame).await.is_err() {
                        return;
                    }
                    let (header, request) =
                        decode_request(Bytes::from(frame)).expect("a valid request");
                    let version = header.request_api_version;
                    let response = match request {
                        RequestKind::ApiVersions(_) => {
                            ResponseKind::ApiVersions(ApiVersionsResponse {
                                api_keys: api_keys.clone(),
                                ..Default::default()
                            })
                        }
                        request => (handler.lock().expect("the handler"))(request, version),
                    };
                    let mut out = BytesMut::new();
                    out.extend_from_slice(&[0; 4]);
                    encode_response(&mut out, header.correlation_id, version, &response)
                        .expect("an encodable response");
                    let length = (out.len() - 4) as i32;
                    out[..4].copy_from_slice(&length.to_be_bytes());
                    if socket.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// A Metadata answer listing `brokers` (id, port) and `partitions` (topic, partition,
/// leader), plus a topic `gone` that does not exist.
pub fn metadata_answer(brokers: &[(i32, u16)], partitions: &[(&str, i32, i32)]) -> ResponseKind {
    let mut topics: BTreeMap<&str, Vec<MetadataResponsePartition>> = BTreeMap::new();
    for &(topic, partition, leader) in partitions {
        topics
            .entry(topic)
            .or_default()
            .push(MetadataResponsePartition {
                partition_index: partition,
                leader_id: leader,
                ..Default::default()
            });
    }
    ResponseKind::Metadata(MetadataResponse {
        brokers: brokers
            .iter()
            .map(|&(node_id, port)| MetadataResponseBroker {
                node_id,
                host: "127.0.0.1".to_owned(),
                port: i32::from(port),
                ..Default::default()
            })
            .collect(),
        topics: topics
            .into_iter()
            .map(|(name, partitions)| MetadataResponseTopic {
                name: Some(name.to_owned()),
                partitions,
                ..Default::default()
            })
            .chain(std::iter::once(MetadataResponseTopic {
                name: Some("gone".to_owned()),
                error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
                ..Default::default()
            }))
            .collect(),
        ..Default::default()
    })
}
