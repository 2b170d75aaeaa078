//! ListOffsets: each partition's offset asked of its leader, found with Metadata.

use std::collections::{BTreeMap, BTreeSet};

use fjord_protocol::messages::ListOffsetsRequest;
use fjord_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};

use super::{ATTEMPTS_MAX, Client, ErrorCode, Result, TopicPartition, backoff};

/// Which offset ListOffsets looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    /// The log start offset.
    Earliest,
    /// The log end offset (the high watermark).
    Latest,
    /// The first offset whose timestamp is at least this many ms since the epoch.
    Timestamp(i64),
}

impl OffsetQuery {
    /// The timestamp field of ListOffsets, with Kafka's -2 and -1 markers.
    fn timestamp(self) -> i64 {
        match self {
            OffsetQuery::Earliest => -2,
            OffsetQuery::Latest => -1,
            OffsetQuery::Timestamp(ms) => ms,
        }
    }
}

/// What ListOffsets answered for one partition: an offset, `None` when no message
/// matches a timestamp, or the partition's error.
pub type ListedOffset = Result<Option<i64>, ErrorCode>;

impl Client {
    /// ListOffsets for `partitions`, each asked of its leader. Retriable partition errors
    /// (a leader moving) are retried with fresh metadata; the others are returned.
    pub async fn list_offsets(
        &mut self,
        partitions: &BTreeSet<TopicPartition>,
        query: OffsetQuery,
    ) -> Result<BTreeMap<TopicPartition, ListedOffset>> {
        let mut answers: BTreeMap<TopicPartition, ListedOffset> = BTreeMap::new();
        let mut pending: BTreeSet<TopicPartition> = partitions.clone();
        let mut attempt = 0;
        while !pending.is_empty() {
            attempt += 1;
            if attempt > 1 {
                tokio::time::sleep(backoff(attempt - 1)).await;
            }
            let last_attempt = attempt >= ATTEMPTS_MAX;
            let mut retry = BTreeSet::new();
            let mut settle = |tp: TopicPartition, answer: ListedOffset| match answer {
                Err(code) if code.is_leader_retriable() && !last_attempt => {
                    retry.insert(tp);
                }
                answer => {
                    answers.insert(tp, answer);
                }
            };
            let by_leader = self.leaders(&pending, &mut settle).await?;
            for (leader, group) in by_leader {
                let request = ListOffsetsRequest {
                    replica_id: -1,
                    isolation_level: 0, // read_uncommitted: the high watermark, as Kafka's tools
                    topics: list_offsets_topics(&group, query),
                    ..Default::default()
                };
                let response = self.broker(leader).await?.request(&request).await?;
                let mut unanswered: BTreeSet<&TopicPartition> = group.iter().collect();
                for topic in response.topics {
                    for partition in topic.partitions {
                        let tp = TopicPartition::new(topic.name.clone(), partition.partition_index);
                        if !unanswered.remove(&tp) {
                            continue;
                        }
                        let answer = ErrorCode::check(partition.error_code)
                            .map(|()| (partition.offset >= 0).then_some(partition.offset));
                        settle(tp, answer);
                    }
                }
                for tp in unanswered {
                    // A leader that leaves a partition out does not lead it (any more).
                    settle(tp.clone(), Err(ErrorCode::NOT_LEADER_OR_FOLLOWER));
                }
            }
            pending = retry;
        }
        Ok(answers)
    }

    /// The leader of each of `partitions`, grouped by leader; partitions without one are
    /// handed to `settle` with their error.
    async fn leaders(
        &mut self,
        partitions: &BTreeSet<TopicPartition>,
        settle: &mut impl FnMut(TopicPartition, ListedOffset),
    ) -> Result<BTreeMap<i32, Vec<TopicPartition>>> {
        let topics: BTreeSet<String> = partitions.iter().map(|tp| tp.topic.clone()).collect();
        let response = self.metadata(Some(topics.into_iter().collect())).await?;
        let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for tp in partitions {
            let topic = response
                .topics
                .iter()
                .find(|t| t.name.as_deref() == Some(tp.topic.as_str()));
            let leader = match topic {
                None => Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                Some(topic) => ErrorCode::check(topic.error_code).and_then(|()| {
                    let partition = topic
                        .partitions
                        .iter()
                        .find(|p| p.partition_index == tp.partition)
                        .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
                    ErrorCode::check(partition.error_code)?;
                    if partition.leader_id < 0 {
                        return Err(ErrorCode::LEADER_NOT_AVAILABLE);
                    }
                    Ok(partition.leader_id)
                }),
            };
            match leader {
                Ok(leader) => by_leader.entry(leader).or_default().push(tp.clone()),
                Err(code) => settle(tp.clone(), Err(code)),
            }
        }
        Ok(by_leader)
    }
}

/// The topics of a ListOffsets request for `partitions`.
fn list_offsets_topics(partitions: &[TopicPartition], query: OffsetQuery) -> Vec<ListOffsetsTopic> {
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for tp in partitions {
        topics
            .entry(tp.topic.as_str())
            .or_default()
            .push(ListOffsetsPartition {
                partition_index: tp.partition,
                current_leader_epoch: -1,
                timestamp: query.timestamp(),
                max_num_offsets: 1,
                ..Default::default()
            });
    }
    topics
        .into_iter()
        .map(|(name, partitions)| ListOffsetsTopic {
            name: name.to_owned(),
            partitions,
            ..Default::default()
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use fjord_protocol::ApiKey;
    use fjord_protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use fjord_protocol::messages::{ListOffsetsResponse, RequestKind, ResponseKind};

    use super::super::BrokerList;
    use super::super::fake::{listen, metadata_answer, serve};
    use super::*;

    fn offsets_answer(
        request: &RequestKind,
        mut answer: impl FnMut(i32) -> (i16, i64),
    ) -> ResponseKind {
        let RequestKind::ListOffsets(request) = request else {
            panic!("unexpected {request:?}");
        };
        ResponseKind::ListOffsets(ListOffsetsResponse {
            topics: request
                .topics
                .iter()
                .map(|topic| ListOffsetsTopicResponse {
                    name: topic.name.clone(),
                    partitions: topic
                        .partitions
                        .iter()
                        .map(|p| {
                            let (error_code, offset) = answer(p.partition_index);
                            ListOffsetsPartitionResponse {
                                partition_index: p.partition_index,
                                error_code,
                                offset,
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn offsets_are_asked_of_each_leader_and_a_moved_leader_is_retried() {
        let (first, first_address) = listen().await;
        let (second, second_address) = listen().await;
        let brokers = [(1, first_address.port), (2, second_address.port)];
        let versions = [
            (ApiKey::ApiVersions, 0, 3),
            (ApiKey::Metadata, 0, 12),
            (ApiKey::ListOffsets, 0, 9),
        ];
        // Broker 1 leads t-0 and answers 10; broker 2 leads t-1 and t-2: t-1 answers 20
        // after one NOT_LEADER_OR_FOLLOWER, t-2 has no message after the time asked.
        serve(first, &versions, move |request, _| match request {
            RequestKind::Metadata(_) => {
                metadata_answer(&brokers, &[("t", 0, 1), ("t", 1, 2), ("t", 2, 2)])
            }
            request => offsets_answer(&request, |partition| {
                assert_eq!(partition, 0, "broker 1 is asked only about t-0");
                (0, 10)
            }),
        });
        let mut moving = true;
        serve(second, &versions, move |request, _| {
            offsets_answer(&request, |partition| match partition {
                1 if moving => {
                    moving = false;
                    (ErrorCode::NOT_LEADER_OR_FOLLOWER.0, -1)
                }
                1 => (0, 20),
                2 => (0, -1),
                _ => panic!("broker 2 is asked about t-{partition}"),
            })
        });
        let partitions: BTreeSet<TopicPartition> = [
            TopicPartition::new("t", 0),
            TopicPartition::new("t", 1),
            TopicPartition::new("t", 2),
            TopicPartition::new("gone", 0),
        ]
        .into();
        let answers = Client::new(BrokerList(vec![first_address]), Duration::from_secs(10))
            .list_offsets(&partitions, OffsetQuery::Timestamp(1_000))
            .await
            .unwrap();
        assert_eq!(
            answers,
            BTreeMap::from([
                (TopicPartition::new("t", 0), Ok(Some(10))),
                (TopicPartition::new("t", 1), Ok(Some(20))),
                (TopicPartition::new("t", 2), Ok(None)),
                (
                    TopicPartition::new("gone", 0),
                    Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
                ),
            ])
        );
    }

    #[test]
    fn list_offsets_requests_group_partitions_by_topic() {
        let partitions = [
            TopicPartition::new("a", 1),
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 0),
        ];
        let topics = list_offsets_topics(&partitions, OffsetQuery::Timestamp(1_700_000_000_000));
        assert_eq!(topics.len(), 2);
        assert_eq!(topics[0].name, "a");
        let indexes: Vec<i32> = topics[0]
            .partitions
            .iter()
            .map(|p| p.partition_index)
            .collect();
        assert_eq!(indexes, [1, 0]);
        assert!(
            topics[0]
                .partitions
                .iter()
                .all(|p| p.timestamp == 1_700_000_000_000)
        );
        assert_eq!(OffsetQuery::Earliest.timestamp(), -2);
        assert_eq!(OffsetQuery::Latest.timestamp(), -1);
    }
}
