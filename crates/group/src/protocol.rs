//! Protocol selection across the members of a group, and what the coordinator reads of
//! the consumer protocol's subscriptions.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use fjord_protocol::Message as _;
use fjord_protocol::codec::read_i16;
use fjord_protocol::messages::ConsumerProtocolSubscription;

use crate::member::Member;

/// The protocol type of Kafka's consumers, the one whose metadata the coordinator reads.
pub(crate) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Chooses the group's protocol as Kafka does: among the protocols every member supports,
/// each member votes for the one it prefers most, and the most votes win.
///
/// Kafka breaks ties arbitrarily (by hash order); here a tie goes to the candidate the
/// first member (in join order) prefers, so the choice is reproducible.
/// `members` must be in join order; `None` if they share no protocol (or are none).
pub(crate) fn select_protocol<'a>(
    members: &[&'a Member],
    supported: &BTreeMap<String, usize>,
) -> Option<&'a str> {
    let is_candidate = |name: &str| supported.get(name) == Some(&members.len());
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for member in members {
        *votes.entry(member.vote(is_candidate)?).or_default() += 1;
    }
    let most = votes.values().copied().max()?;
    let first = members.first()?;
    first
        .protocols
        .iter()
        .map(|(name, _)| name.as_str())
        .find(|name| votes.get(name) == Some(&most))
}

/// The topics a consumer subscribes to, read from its protocol metadata.
///
/// Like Kafka, only the version-0 prefix (the topic list) is read, whatever the version,
/// so that future versions of the consumer protocol still parse. `None` if the metadata
/// is not a consumer subscription.
pub(crate) fn subscribed_topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    let version = read_i16(&mut buf, "version").ok()?;
    if version < 0 {
        return None;
    }
    ConsumerProtocolSubscription::decode(&mut buf, 0)
        .ok()
        .map(|subscription| subscription.topics)
}

/// The union of the topics the members subscribe to under `protocol`, or `None` when a
/// member's metadata is not a consumer subscription.
pub(crate) fn union_of_subscriptions<'a>(
    members: impl Iterator<Item = &'a Member>,
    protocol: &str,
) -> Option<BTreeSet<String>> {
    let mut topics = BTreeSet::new();
    for member in members {
        topics.extend(subscribed_topics(member.metadata(protocol)?)?);
    }
    Some(topics)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use bytes::BytesMut;

    use super::*;

    pub(crate) fn member(protocols: &[&str]) -> Member {
        Member {
            member_id: String::new(),
            group_instance_id: None,
            client_id: String::new(),
            client_host: String::new(),
            rebalance_timeout_ms: 0,
            session_timeout_ms: 0,
            protocol_type: CONSUMER_PROTOCOL_TYPE.into(),
            protocols: protocols
                .iter()
                .map(|name| (name.to_string(), Bytes::new()))
                .collect(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            join_sequence: 0,
        }
    }

    fn supported(members: &[&Member]) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for member in members {
            for (name, _) in &member.protocols {
                *counts.entry(name.clone()).or_default() += 1;
            }
        }
        counts
    }

    #[test]
    fn the_protocol_most_members_prefer_among_common_ones_wins() {
        let a = member(&["cooperative-sticky", "range"]);
        let b = member(&["range", "cooperative-sticky"]);
        let c = member(&["range", "cooperative-sticky", "roundrobin"]);
        let members = [&a, &b, &c];
        assert_eq!(
            select_protocol(&members, &supported(&members)),
            Some("range")
        );
        // "roundrobin" is preferred by nobody it could serve: not every member has it.
        let d = member(&["roundrobin", "cooperative-sticky"]);
        let members = [&a, &d];
        assert_eq!(
            select_protocol(&members, &supported(&members)),
            Some("cooperative-sticky")
        );
    }

    #[test]
    fn ties_go_to_the_first_members_preference() {
        let a = member(&["b", "a"]);
        let b = member(&["a", "b"]);
        let members = [&a, &b];
        assert_eq!(select_protocol(&members, &supported(&members)), Some("b"));
        let members = [&b, &a];
        assert_eq!(select_protocol(&members, &supported(&members)), Some("a"));
    }

    #[test]
    fn no_common_protocol_selects_none() {
        let a = member(&["x"]);
        let b = member(&["y"]);
        let members = [&a, &b];
        assert_eq!(select_protocol(&members, &supported(&members)), None);
    }

    #[test]
    fn subscriptions_of_any_version_are_read() {
        for version in 0..=3i16 {
            let subscription = ConsumerProtocolSubscription {
                topics: vec!["orders".into(), "stock".into()],
                ..Default::default()
            };
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&version.to_be_bytes());
            subscription.encode(&mut buf, version).unwrap();
            assert_eq!(
                subscribed_topics(&buf.freeze()),
                Some(vec!["orders".to_owned(), "stock".to_owned()]),
                "version {version}"
            );
        }
        assert_eq!(subscribed_topics(&Bytes::from_static(&[0xff, 0xff])), None);
        assert_eq!(subscribed_topics(&Bytes::from_static(&[0])), None);
    }
}
