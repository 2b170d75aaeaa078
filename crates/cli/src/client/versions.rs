//! Which version of each API the client sends: the newest that both it and the broker
//! speak.
//!
//! The codec encodes every version the specs define, but fields move between versions
//! (FindCoordinator v4 batches its keys, OffsetFetch v8 batches groups), so the client
//! declares for each request the versions whose fields it fills in and reads.

use std::collections::HashMap;

use fjord_protocol::messages::api_versions_response::ApiVersion;
use fjord_protocol::messages::{
    ApiVersionsRequest, ConsumerGroupDescribeRequest, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteTopicsRequest, DescribeConfigsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, IncrementalAlterConfigsRequest, ListGroupsRequest, ListOffsetsRequest,
    MetadataRequest, OffsetCommitRequest, OffsetFetchRequest,
};
use fjord_protocol::{ApiKey, Request, VersionRange};

/// A request this client sends, with the versions it knows how to fill in and read.
pub trait ClientRequest: Request {
    /// The versions the client's code handles.
    const SPOKEN: VersionRange;
}

macro_rules! spoken {
    ($($request:ty => $min:literal ..= $max:literal,)*) => {
        $(impl ClientRequest for $request {
            const SPOKEN: VersionRange = VersionRange { min: $min, max: $max };
        })*

        /// The versions the client speaks of `api`, or `None` for an API it never sends
        /// (`fjord cluster info` shows both).
        pub fn spoken(api: ApiKey) -> Option<VersionRange> {
            $(if api == <$request as Request>::API_KEY {
                return Some(<$request as ClientRequest>::SPOKEN);
            })*
            None
        }
    };
}

spoken! {
    // v3 is the first flexible version; v0 is the fallback every broker answers.
    ApiVersionsRequest => 0..=3,
    // v1: a null topic list means every topic; v4: allow_auto_topic_creation.
    MetadataRequest => 4..=12,
    // v4 batches keys (KIP-699); both shapes are handled.
    FindCoordinatorRequest => 0..=6,
    // v4: states filter; v5: types filter.
    ListGroupsRequest => 0..=5,
    DescribeGroupsRequest => 0..=5,
    // v2: a null topic list fetches every partition; v8 batches groups.
    OffsetFetchRequest => 2..=9,
    // v1: one offset per partition instead of v0's list.
    ListOffsetsRequest => 1..=9,
    // v2: a retention time that means "broker default" at -1.
    OffsetCommitRequest => 2..=9,
    DeleteGroupsRequest => 0..=2,
    // Groups of the consumer protocol (KIP-848), which DescribeGroups does not describe.
    ConsumerGroupDescribeRequest => 0..=0,
    // v4 (Kafka 2.4, KIP-464): -1 partitions or replicas means the broker's default;
    // v5 answers with the topic's partitions, replicas and configs.
    CreateTopicsRequest => 4..=7,
    // v6 names topics in `topics` (names or ids) instead of `topic_names`; both shapes
    // are handled.
    DeleteTopicsRequest => 1..=6,
    CreatePartitionsRequest => 0..=3,
    // v1: config sources and synonyms; v3: config types.
    DescribeConfigsRequest => 1..=4,
    IncrementalAlterConfigsRequest => 0..=1,
}

/// The versions a broker offers, by API key, from its ApiVersions response.
#[derive(Debug, Clone, Default)]
pub struct BrokerVersions(HashMap<i16, VersionRange>);

impl BrokerVersions {
    /// The table of an ApiVersions response.
    pub fn from_response(api_keys: &[ApiVersion]) -> BrokerVersions {
        BrokerVersions(
            api_keys
                .iter()
                .map(|api| {
                    let range = VersionRange {
                        min: api.min_version,
                        max: api.max_version,
                    };
                    (api.api_key, range)
                })
                .collect(),
        )
    }

    /// Every API the broker offers, by key, with its versions.
    pub fn all(&self) -> Vec<(i16, VersionRange)> {
        let mut all: Vec<(i16, VersionRange)> = self.0.iter().map(|(k, r)| (*k, *r)).collect();
        all.sort_unstable_by_key(|(key, _)| *key);
        all
    }

    /// The versions the broker offers for `api`, if any.
    pub fn get(&self, api: ApiKey) -> Option<VersionRange> {
        self.0.get(&api.key()).copied()
    }
}

/// The newest version both sides speak, if their ranges meet.
pub fn negotiate(ours: VersionRange, broker: Option<VersionRange>) -> Option<i16> {
    let broker = broker?;
    let version = ours.max.min(broker.max);
    (version >= ours.min.max(broker.min)).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: i16, max: i16) -> VersionRange {
        VersionRange { min, max }
    }

    #[test]
    fn picks_the_newest_common_version() {
        assert_eq!(negotiate(range(0, 6), Some(range(0, 4))), Some(4));
        assert_eq!(negotiate(range(2, 9), Some(range(0, 12))), Some(9));
        assert_eq!(negotiate(range(2, 9), Some(range(2, 2))), Some(2));
    }

    #[test]
    fn refuses_ranges_that_do_not_meet() {
        assert_eq!(negotiate(range(4, 12), Some(range(0, 3))), None);
        assert_eq!(negotiate(range(0, 3), Some(range(5, 7))), None);
        assert_eq!(negotiate(range(0, 3), None), None);
    }

    #[test]
    fn reads_the_broker_table() {
        let versions = BrokerVersions::from_response(&[ApiVersion {
            api_key: ApiKey::FindCoordinator.key(),
            min_version: 0,
            max_version: 6,
            ..Default::default()
        }]);
        assert_eq!(versions.get(ApiKey::FindCoordinator), Some(range(0, 6)));
        assert_eq!(versions.get(ApiKey::DeleteGroups), None);
    }

    #[test]
    fn spoken_ranges_lie_within_the_codec() {
        fn check<R: ClientRequest>() {
            assert!(R::VERSIONS.contains(R::SPOKEN.min), "{}", R::NAME);
            assert!(R::VERSIONS.contains(R::SPOKEN.max), "{}", R::NAME);
        }
        check::<ApiVersionsRequest>();
        check::<MetadataRequest>();
        check::<FindCoordinatorRequest>();
        check::<ListGroupsRequest>();
        check::<DescribeGroupsRequest>();
        check::<OffsetFetchRequest>();
        check::<ListOffsetsRequest>();
        check::<OffsetCommitRequest>();
        check::<DeleteGroupsRequest>();
        check::<ConsumerGroupDescribeRequest>();
        check::<CreateTopicsRequest>();
        check::<DeleteTopicsRequest>();
        check::<CreatePartitionsRequest>();
        check::<DescribeConfigsRequest>();
        check::<IncrementalAlterConfigsRequest>();
    }

    #[test]
    fn spoken_is_known_by_api_key() {
        assert_eq!(spoken(ApiKey::CreateTopics), Some(range(4, 7)));
        assert_eq!(spoken(ApiKey::Metadata), Some(range(4, 12)));
        assert_eq!(spoken(ApiKey::Produce), None);
    }

    #[test]
    fn the_broker_table_is_listed_by_key() {
        let versions = BrokerVersions::from_response(&[
            ApiVersion {
                api_key: ApiKey::Metadata.key(),
                min_version: 0,
                max_version: 12,
                ..Default::default()
            },
            ApiVersion {
                api_key: ApiKey::Produce.key(),
                min_version: 3,
                max_version: 11,
                ..Default::default()
            },
        ]);
        assert_eq!(versions.all(), [(0, range(3, 11)), (3, range(0, 12))]);
    }
}
