//! Every message type, at every version the specs define, survives encode then decode
//! unchanged, for random values that proptest seeds.

use bytes::BytesMut;
use fjord_protocol::Message;
use fjord_protocol::testing::{Random, Rng};
use proptest::prelude::*;

fn round_trip<T: Message + Random>(seed: u64) -> Result<(), TestCaseError> {
    for version in T::VERSIONS.min..=T::VERSIONS.max {
        let value = T::random(&mut Rng::new(seed), version);
        let mut buf = BytesMut::new();
        value
            .encode(&mut buf, version)
            .map_err(|e| TestCaseError::fail(format!("{} v{version}: encode: {e}", T::NAME)))?;
        let mut bytes = buf.freeze();
        let decoded = T::decode(&mut bytes, version)
            .map_err(|e| TestCaseError::fail(format!("{} v{version}: decode: {e}", T::NAME)))?;
        prop_assert_eq!(&decoded, &value, "{} v{}", T::NAME, version);
        prop_assert!(
            bytes.is_empty(),
            "{} v{}: {} bytes left",
            T::NAME,
            version,
            bytes.len()
        );
    }
    Ok(())
}

macro_rules! round_trip_test {
    ($module:ident, $ty:ident) => {
        proptest! {
            #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]
            #[test]
            fn $module(seed: u64) {
                round_trip::<fjord_protocol::messages::$module::$ty>(seed)?;
            }
        }
    };
}

fjord_protocol::for_each_message!(round_trip_test);

#[test]
fn versions_outside_the_specs_are_refused() {
    use fjord_protocol::messages::ProduceRequest;
    let mut buf = BytesMut::new();
    assert!(ProduceRequest::default().encode(&mut buf, 99).is_err());
    assert!(ProduceRequest::decode(&mut bytes::Bytes::new(), -1).is_err());
}

#[test]
fn a_field_the_version_cannot_carry_is_an_encode_error() {
    use fjord_protocol::messages::ProduceRequest;
    // The transactional id first appears in version 3.
    let request = ProduceRequest {
        transactional_id: Some("txn".into()),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    assert!(matches!(
        request.encode(&mut buf, 2),
        Err(fjord_protocol::EncodeError::UnsupportedField {
            what: "transactional_id",
            version: 2
        })
    ));
    assert!(request.encode(&mut buf, 3).is_ok());
}
