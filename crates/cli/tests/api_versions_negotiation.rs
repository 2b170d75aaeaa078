//! Version negotiation as clients meet it: the advertised table, the version-0 answer to
//! a too-new ApiVersions probe, Produce 0-2 refused, and an unsupported version of any
//! other API closing the connection.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::BufMut;
use fjord_protocol::ApiKey;
use fjord_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use fjord_protocol::messages::{ApiVersionsRequest, MetadataRequest, ProduceRequest};
use fjord_testkit::TestBroker;
use fjord_testkit::raw::RawConnection;

const UNSUPPORTED_VERSION: i16 = 35;

#[test]
fn api_versions_advertises_exactly_the_implemented_apis() {
    let broker = TestBroker::start();
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let response = connection
        .request(&ApiVersionsRequest::default(), 3)
        .unwrap();
    assert_eq!(response.error_code, 0);
    let mut advertised: Vec<(i16, i16, i16)> = response
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    advertised.sort();
    let mut expected = vec![
        (ApiKey::Produce.key(), 0, 11),
        (ApiKey::Fetch.key(), 4, 17),
        (ApiKey::ListOffsets.key(), 1, 8),
        (ApiKey::Metadata.key(), 0, 12),
        (ApiKey::OffsetCommit.key(), 2, 9),
        (ApiKey::OffsetFetch.key(), 1, 9),
        (ApiKey::FindCoordinator.key(), 0, 6),
        (ApiKey::JoinGroup.key(), 2, 9),
        (ApiKey::Heartbeat.key(), 0, 4),
        (ApiKey::LeaveGroup.key(), 0, 5),
        (ApiKey::SyncGroup.key(), 0, 5),
        (ApiKey::DescribeGroups.key(), 0, 5),
        (ApiKey::ListGroups.key(), 0, 5),
        (ApiKey::DeleteGroups.key(), 0, 2),
        (ApiKey::OffsetDelete.key(), 0, 0),
        (ApiKey::ApiVersions.key(), 0, 4),
        (ApiKey::CreateTopics.key(), 2, 7),
        (ApiKey::DeleteTopics.key(), 1, 6),
        (ApiKey::DeleteRecords.key(), 0, 2),
        (ApiKey::InitProducerId.key(), 0, 5),
        (ApiKey::AddPartitionsToTxn.key(), 0, 5),
        (ApiKey::AddOffsetsToTxn.key(), 0, 4),
        // v4, not v5: transactions v2 (KIP-890 part 2) is not implemented.
        (ApiKey::EndTxn.key(), 0, 4),
        (ApiKey::TxnOffsetCommit.key(), 0, 4),
        (ApiKey::DescribeTransactions.key(), 0, 0),
        (ApiKey::ListTransactions.key(), 0, 1),
        (ApiKey::DescribeProducers.key(), 0, 0),
        (ApiKey::DescribeConfigs.key(), 1, 4),
        (ApiKey::AlterConfigs.key(), 0, 2),
        (ApiKey::CreatePartitions.key(), 0, 3),
        (ApiKey::IncrementalAlterConfigs.key(), 0, 1),
        (ApiKey::DescribeCluster.key(), 0, 1),
        (ApiKey::DescribeTopicPartitions.key(), 0, 0),
        (ApiKey::ConsumerGroupHeartbeat.key(), 0, 1),
        (ApiKey::ConsumerGroupDescribe.key(), 0, 0),
    ];
    expected.sort();
    assert_eq!(advertised, expected);
}

#[test]
fn a_too_new_api_versions_request_gets_a_version_0_answer() {
    let broker = TestBroker::start();
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    // ApiVersions v99: a flexible header (v2) and a body we cannot know.
    let mut frame = Vec::new();
    let mut body = Vec::new();
    body.put_i16(ApiKey::ApiVersions.key());
    body.put_i16(99);
    body.put_i32(7);
    body.put_i16(1);
    body.put_u8(b'x');
    body.put_u8(0);
    body.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    frame.put_i32(body.len() as i32);
    frame.extend_from_slice(&body);
    connection.send_bytes(&frame).unwrap();
    let response = connection.receive::<ApiVersionsRequest>(0, 7).unwrap();
    assert_eq!(response.error_code, UNSUPPORTED_VERSION);
    assert!(
        response
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::ApiVersions.key() && k.max_version == 4)
    );
    // The connection stays usable for the version the client now picks.
    let retried = connection
        .request(&ApiVersionsRequest::default(), 3)
        .unwrap();
    assert_eq!(retried.error_code, 0);
}

#[test]
fn produce_versions_0_to_2_are_refused_per_partition() {
    let broker = TestBroker::start();
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let request = ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "old-clients".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(bytes::Bytes::new()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    for version in 0..=2 {
        let response = connection.request(&request, version).unwrap();
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(
            partition.error_code, UNSUPPORTED_VERSION,
            "Produce v{version}"
        );
    }
    // Nothing was written, not even the topic.
    let metadata = connection
        .request(
            &MetadataRequest {
                topics: None,
                ..Default::default()
            },
            12,
        )
        .unwrap();
    assert!(metadata.topics.is_empty());
}

#[test]
fn an_unsupported_version_of_another_api_closes_only_that_connection() {
    let broker = TestBroker::start();
    let mut bad = RawConnection::connect(broker.addr()).unwrap();
    let mut good = RawConnection::connect(broker.addr()).unwrap();
    // Fetch starts at version 4 here.
    let frame =
        fjord_testkit::raw::request_frame(&fjord_protocol::messages::FetchRequest::default(), 3, 1)
            .unwrap();
    bad.send_bytes(&frame).unwrap();
    assert!(bad.closed_by_broker(Duration::from_secs(10)));
    let metadata = good
        .request(
            &MetadataRequest {
                topics: None,
                ..Default::default()
            },
            12,
        )
        .unwrap();
    assert_eq!(metadata.brokers.len(), 1);
}
