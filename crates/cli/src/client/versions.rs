//! Which version of each API the client sends: the newest that both it and the broker
//! speak.
//!
//! The codec encodes every version the specs define, but fields move between versions
//! (FindCoordinator v4 batches its keys, OffsetFetch v8 batches groups), so the client
//! declares for each request the versions whose fields it fills in and reads.

use std::collections::HashMap;

use fjord_protocol::messages::api_versions_response::ApiVersion;
use fjord_protocol::messages::{
    ApiVersionsRequest, ConsumerGroupDescribeRequest, DeleteGroupsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest,
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
    }
}
