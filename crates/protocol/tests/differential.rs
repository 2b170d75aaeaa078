//! Differential tests against the independent `kafka-protocol` crate: for every message
//! type both implementations know, at every version both cover, bytes that Fjord encodes
//! decode in `kafka-protocol`, re-encode there to the very same bytes, and decode back in
//! Fjord to the value we started from.

use bytes::BytesMut;
use fjord_protocol::Message;
use fjord_protocol::testing::{Random, Rng};
use kafka_protocol::protocol::{Decodable, Encodable, Message as TheirMessage};
use proptest::prelude::*;

fn differential<Ours, Theirs>(seed: u64) -> Result<(), TestCaseError>
where
    Ours: Message + Random,
    Theirs: Encodable + Decodable + TheirMessage,
{
    let min = Ours::VERSIONS.min.max(Theirs::VERSIONS.min);
    let max = Ours::VERSIONS.max.min(Theirs::VERSIONS.max);
    prop_assert!(min <= max, "{}: no version in common", Ours::NAME);
    for version in min..=max {
        let ours = Ours::random(&mut Rng::new(seed), version);
        let mut ours_bytes = BytesMut::new();
        ours.encode(&mut ours_bytes, version)
            .map_err(|e| TestCaseError::fail(format!("{} v{version}: encode: {e}", Ours::NAME)))?;
        let mut input = ours_bytes.clone().freeze();
        let theirs = Theirs::decode(&mut input, version).map_err(|e| {
            TestCaseError::fail(format!(
                "{} v{version}: kafka-protocol cannot decode: {e:#}",
                Ours::NAME
            ))
        })?;
        prop_assert!(
            input.is_empty(),
            "{} v{}: kafka-protocol left bytes",
            Ours::NAME,
            version
        );
        let mut theirs_bytes = BytesMut::new();
        theirs.encode(&mut theirs_bytes, version).map_err(|e| {
            TestCaseError::fail(format!(
                "{} v{version}: kafka-protocol cannot encode: {e:#}",
                Ours::NAME
            ))
        })?;
        prop_assert_eq!(
            &ours_bytes[..],
            &theirs_bytes[..],
            "{} v{}: bytes differ",
            Ours::NAME,
            version
        );
        let back = Ours::decode(&mut theirs_bytes.freeze(), version)
            .map_err(|e| TestCaseError::fail(format!("{} v{version}: decode: {e}", Ours::NAME)))?;
        prop_assert_eq!(&back, &ours, "{} v{}", Ours::NAME, version);
    }
    Ok(())
}

macro_rules! differential_test {
    // Kafka 4.0 removed these inter-broker APIs; kafka-protocol 0.18 no longer has them.
    (controlled_shutdown_request, $ty:ident) => {};
    (controlled_shutdown_response, $ty:ident) => {};
    (leader_and_isr_request, $ty:ident) => {};
    (leader_and_isr_response, $ty:ident) => {};
    (stop_replica_request, $ty:ident) => {};
    (stop_replica_response, $ty:ident) => {};
    (update_metadata_request, $ty:ident) => {};
    (update_metadata_response, $ty:ident) => {};
    // kafka-protocol 0.18 follows newer specs, where this API was renamed
    // ListConfigResources.
    (list_client_metrics_resources_request, $ty:ident) => {};
    (list_client_metrics_resources_response, $ty:ident) => {};
    // Share groups (KIP-932) were early access in Kafka 4.0 at version 0; kafka-protocol
    // 0.18 starts them at the final version 1, so there is no version in common.
    (share_acknowledge_request, $ty:ident) => {};
    (share_acknowledge_response, $ty:ident) => {};
    (share_fetch_request, $ty:ident) => {};
    (share_fetch_response, $ty:ident) => {};
    (share_group_describe_request, $ty:ident) => {};
    (share_group_describe_response, $ty:ident) => {};
    (share_group_heartbeat_request, $ty:ident) => {};
    (share_group_heartbeat_response, $ty:ident) => {};
    // Version 0 of this unstable API changed in place after Kafka 4.0 (a LeaderEpoch field
    // was added), so the two spec copies disagree on what version 0 is.
    (read_share_group_state_summary_response, $ty:ident) => {};
    // kafka-protocol decodes this message's own `Version` field into the variable that
    // holds the message version, then decodes the nested voters at that wrong version.
    // A bug there, not a difference in the wire format.
    (leader_change_message, $ty:ident) => {};
    ($module:ident, $ty:ident) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]
            #[test]
            fn $module(seed: u64) {
                differential::<fjord_protocol::messages::$module::$ty, kafka_protocol::messages::$module::$ty>(seed)?;
            }
        }
    };
}

fjord_protocol::for_each_message!(differential_test);
