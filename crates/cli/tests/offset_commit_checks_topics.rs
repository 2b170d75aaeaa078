//! OffsetCommit answers UNKNOWN_TOPIC_OR_PARTITION for partitions of topics that do not
//! exist, and for partitions beyond a topic's count, while it stores the others: a typo
//! in a topic name must not leave an offset nobody can use.

#![allow(clippy::unwrap_used)]

use fjord_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use fjord_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use fjord_protocol::messages::{OffsetCommitRequest, OffsetFetchRequest};
use fjord_testkit::TestBroker;
use fjord_testkit::clients::create_topic;
use fjord_testkit::raw::RawConnection;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn partition(index: i32, offset: i64) -> OffsetCommitRequestPartition {
    OffsetCommitRequestPartition {
        partition_index: index,
        committed_offset: offset,
        ..Default::default()
    }
}

#[test]
fn offsets_of_missing_topics_and_partitions_are_refused_and_the_rest_stored() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), "orders", 2, &[]);
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let request = OffsetCommitRequest {
        group_id: "billing".to_owned(),
        generation_id_or_member_epoch: -1,
        topics: vec![
            OffsetCommitRequestTopic {
                name: "orders".to_owned(),
                partitions: vec![partition(0, 5), partition(2, 9)],
                ..Default::default()
            },
            OffsetCommitRequestTopic {
                name: "ordres".to_owned(),
                partitions: vec![partition(0, 7)],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let response = connection.request(&request, 8).unwrap();
    let mut answers: Vec<(String, i32, i16)> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, p.error_code))
        })
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        vec![
            ("orders".to_owned(), 0, 0),
            ("orders".to_owned(), 2, UNKNOWN_TOPIC_OR_PARTITION),
            ("ordres".to_owned(), 0, UNKNOWN_TOPIC_OR_PARTITION),
        ]
    );

    let fetched = connection
        .request(
            &OffsetFetchRequest {
                group_id: "billing".to_owned(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: "orders".to_owned(),
                    partition_indexes: vec![0, 1],
                    ..Default::default()
                }]),
                ..Default::default()
            },
            7,
        )
        .unwrap();
    let offsets: Vec<i64> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, vec![5, -1], "the valid partition was stored");

    // A request with nothing valid is answered without a group being created.
    let only_unknown = OffsetCommitRequest {
        group_id: "ghosts".to_owned(),
        generation_id_or_member_epoch: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "nothing-here".to_owned(),
            partitions: vec![partition(0, 1)],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = connection.request(&only_unknown, 8).unwrap();
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}
