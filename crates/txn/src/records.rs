//! The record formats of `__transaction_state`, byte for byte Kafka's, so that Kafka's
//! tools can read what Fjord writes and the other way round.
//!
//! The specs (`TransactionLogKey.json`, `TransactionLogValue.json`, in Kafka's
//! `transaction-coordinator` resources) are not in Fjord's spec set, which holds the
//! wire protocol only; this codec is written by hand from their layout:
//!
//! - key, version 0 (the only one): `i16 version = 0`, `string transactional_id`.
//! - value, version 0 (not flexible): `i16 version`, `i64 producer_id`,
//!   `i16 producer_epoch`, `i32 transaction_timeout_ms`, `i8 transaction_status`,
//!   nullable `[topic: string, partition_ids: [i32]] transaction_partitions`,
//!   `i64 transaction_last_update_timestamp_ms`, `i64 transaction_start_timestamp_ms`.
//! - value, version 1: the same fields, flexible (compact strings and arrays, tagged
//!   fields after each struct). Newer Kafkas put `PreviousProducerId` (tag 0),
//!   `NextProducerId` (tag 1) and `ClientTransactionVersion` (tag 2) in the tagged
//!   fields (KIP-890); Fjord reads tag 0 and skips the others.
//!
//! Fjord writes value version 0, which is what Kafka writes without transactions v2.
//! Like Kafka, an Empty transaction's partitions are written as null.

use bytes::{Bytes, BytesMut};
use fjord_protocol::codec::{
    read_array_length, read_i8, read_i16, read_i32, read_i64, read_string, read_tagged_field,
    read_tagged_field_count, write_array_length, write_i8, write_i16, write_i32, write_i64,
    write_string,
};
use fjord_protocol::{DecodeError, EncodeError};

use crate::error::ReplayError;
use crate::state::{NO_PRODUCER_EPOCH, Partitions, TransactionMetadata, TransactionState};

/// The only `TransactionLogKey` version.
const KEY_VERSION: i16 = 0;
/// The `TransactionLogValue` version Fjord writes.
const VALUE_VERSION: i16 = 0;
/// The newest value version this module reads; also the first flexible one.
const VALUE_VERSION_MAX: i16 = 1;

/// The longest string a non-flexible record can hold: its length is an `i16`.
pub(crate) const RECORD_STRING_BYTES_MAX: usize = i16::MAX as usize;

/// Encodes the key of a transactional id's record.
pub(crate) fn key(transactional_id: &str) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(4 + transactional_id.len());
    write_i16(&mut buf, KEY_VERSION);
    write_string(&mut buf, transactional_id, false, "transactional_id")?;
    Ok(buf.freeze())
}

/// Decodes a key into its transactional id.
pub(crate) fn parse_key(key: &[u8]) -> Result<String, ReplayError> {
    let mut buf = Bytes::copy_from_slice(key);
    let version = read_i16(&mut buf, "key version").map_err(ReplayError::Key)?;
    if version != KEY_VERSION {
        return Err(ReplayError::UnsupportedKeyVersion { version });
    }
    read_string(&mut buf, false, "transactional_id").map_err(ReplayError::Key)
}

/// Encodes a transactional id's metadata as `TransactionLogValue` v0.
pub(crate) fn value(metadata: &TransactionMetadata) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(64);
    write_i16(&mut buf, VALUE_VERSION);
    write_i64(&mut buf, metadata.producer_id);
    write_i16(&mut buf, metadata.producer_epoch);
    write_i32(&mut buf, metadata.timeout_ms);
    write_i8(&mut buf, metadata.state.id());
    if metadata.state == TransactionState::Empty {
        write_array_length(&mut buf, None, false, "transaction_partitions")?;
    } else {
        write_array_length(
            &mut buf,
            Some(metadata.partitions.len()),
            false,
            "transaction_partitions",
        )?;
        for (topic, partitions) in &metadata.partitions {
            write_string(&mut buf, topic, false, "topic")?;
            write_array_length(&mut buf, Some(partitions.len()), false, "partition_ids")?;
            for partition in partitions {
                write_i32(&mut buf, *partition);
            }
        }
    }
    write_i64(&mut buf, metadata.last_update_timestamp_ms);
    write_i64(&mut buf, metadata.start_timestamp_ms);
    Ok(buf.freeze())
}

/// Decodes a `TransactionLogValue` (v0 or v1) of `transactional_id`.
pub(crate) fn parse_value(
    transactional_id: &str,
    value: &[u8],
) -> Result<TransactionMetadata, ReplayError> {
    let mut buf = Bytes::copy_from_slice(value);
    let wrap = |source: DecodeError| ReplayError::Value {
        transactional_id: transactional_id.to_owned(),
        source,
    };
    let version = read_i16(&mut buf, "value version").map_err(wrap)?;
    if !(0..=VALUE_VERSION_MAX).contains(&version) {
        return Err(ReplayError::UnsupportedValueVersion { version });
    }
    let flexible = version >= 1;
    let (mut metadata, status) = parse_fields(&mut buf, flexible).map_err(wrap)?;
    match TransactionState::from_id(status) {
        Some(state)
            if state != TransactionState::Dead && state != TransactionState::PrepareEpochFence =>
        {
            metadata.state = state;
            // Neither Kafka nor Fjord writes partitions for an idle state; should a record
            // hold some, they belong to no running transaction.
            if state.is_idle() {
                metadata.partitions.clear();
            }
            Ok(metadata)
        }
        _ => Err(ReplayError::InvalidStatus {
            transactional_id: transactional_id.to_owned(),
            status,
        }),
    }
}

/// The value's fields; the state is Empty until the caller checks the status.
fn parse_fields(buf: &mut Bytes, flexible: bool) -> Result<(TransactionMetadata, i8), DecodeError> {
    let producer_id = read_i64(buf, "producer_id")?;
    let producer_epoch = read_i16(buf, "producer_epoch")?;
    let timeout_ms = read_i32(buf, "transaction_timeout_ms")?;
    let status = read_i8(buf, "transaction_status")?;
    let mut partitions = Partitions::new();
    if let Some(topics) = read_array_length(buf, flexible, "transaction_partitions")? {
        for _ in 0..topics {
            let topic = read_string(buf, flexible, "topic")?;
            let entry = partitions.entry(topic).or_default();
            if let Some(count) = read_array_length(buf, flexible, "partition_ids")? {
                for _ in 0..count {
                    entry.insert(read_i32(buf, "partition_id")?);
                }
            }
            if flexible {
                skip_tagged_fields(buf)?;
            }
        }
    }
    let last_update_timestamp_ms = read_i64(buf, "transaction_last_update_timestamp_ms")?;
    let start_timestamp_ms = read_i64(buf, "transaction_start_timestamp_ms")?;
    let mut last_producer_id = -1;
    if flexible {
        let count = read_tagged_field_count(buf)?;
        for _ in 0..count {
            let (tag, mut field) = read_tagged_field(buf)?;
            if tag == 0 {
                last_producer_id = read_i64(&mut field, "previous_producer_id")?;
            }
        }
    }
    let metadata = TransactionMetadata {
        producer_id,
        last_producer_id,
        producer_epoch,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms,
        state: TransactionState::Empty,
        partitions,
        start_timestamp_ms,
        last_update_timestamp_ms,
    };
    Ok((metadata, status))
}

fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), DecodeError> {
    let count = read_tagged_field_count(buf)?;
    for _ in 0..count {
        read_tagged_field(buf)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use fjord_protocol::codec::{write_tagged_fields, write_unsigned_varint};

    use super::*;

    fn ongoing() -> TransactionMetadata {
        let mut partitions = Partitions::new();
        partitions.entry("t".into()).or_default().extend([0, 2]);
        partitions
            .entry("__consumer_offsets".into())
            .or_default()
            .insert(7);
        TransactionMetadata {
            producer_id: 1000,
            last_producer_id: -1,
            producer_epoch: 3,
            last_producer_epoch: -1,
            timeout_ms: 60_000,
            state: TransactionState::Ongoing,
            partitions,
            start_timestamp_ms: 10,
            last_update_timestamp_ms: 20,
        }
    }

    #[test]
    fn key_is_kafkas_layout() {
        assert_eq!(&key("tx").unwrap()[..], &[0, 0, 0, 2, b't', b'x']);
        assert_eq!(parse_key(&key("tx").unwrap()).unwrap(), "tx");
        assert_eq!(
            parse_key(&[0, 1, 0, 0]),
            Err(ReplayError::UnsupportedKeyVersion { version: 1 })
        );
    }

    #[test]
    fn value_v0_is_kafkas_layout_and_round_trips() {
        let metadata = ongoing();
        let bytes = value(&metadata).unwrap();
        let mut expected = vec![0, 0];
        expected.extend(1000i64.to_be_bytes());
        expected.extend(3i16.to_be_bytes());
        expected.extend(60_000i32.to_be_bytes());
        expected.push(1);
        expected.extend(2i32.to_be_bytes());
        expected.extend(18i16.to_be_bytes());
        expected.extend(b"__consumer_offsets");
        expected.extend(1i32.to_be_bytes());
        expected.extend(7i32.to_be_bytes());
        expected.extend(1i16.to_be_bytes());
        expected.extend(b"t");
        expected.extend(2i32.to_be_bytes());
        expected.extend(0i32.to_be_bytes());
        expected.extend(2i32.to_be_bytes());
        expected.extend(20i64.to_be_bytes());
        expected.extend(10i64.to_be_bytes());
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(parse_value("tx", &bytes).unwrap(), metadata);
    }

    #[test]
    fn empty_writes_null_partitions() {
        let mut metadata = ongoing();
        metadata.state = TransactionState::Empty;
        metadata.partitions.clear();
        let bytes = value(&metadata).unwrap();
        assert_eq!(&bytes[17..21], &(-1i32).to_be_bytes());
        assert_eq!(parse_value("tx", &bytes).unwrap(), metadata);
    }

    #[test]
    fn value_v1_is_read_with_its_tagged_fields() {
        let mut buf = BytesMut::new();
        write_i16(&mut buf, 1);
        write_i64(&mut buf, 1000);
        write_i16(&mut buf, 3);
        write_i32(&mut buf, 60_000);
        write_i8(&mut buf, 2);
        write_unsigned_varint(&mut buf, 2);
        write_string(&mut buf, "t", true, "topic").unwrap();
        write_unsigned_varint(&mut buf, 2);
        write_i32(&mut buf, 5);
        write_tagged_fields(&mut buf, Vec::new(), &Default::default());
        write_i64(&mut buf, 20);
        write_i64(&mut buf, 10);
        let mut previous = BytesMut::new();
        write_i64(&mut previous, 999);
        let mut version = BytesMut::new();
        write_i16(&mut version, 2);
        write_tagged_fields(
            &mut buf,
            vec![(0, previous), (2, version)],
            &Default::default(),
        );
        let metadata = parse_value("tx", &buf).unwrap();
        assert_eq!(metadata.state, TransactionState::PrepareCommit);
        assert_eq!(metadata.last_producer_id, 999);
        assert_eq!(metadata.partition_list(), vec![("t".to_owned(), vec![5])]);
    }

    #[test]
    fn idle_states_hold_no_partitions() {
        let mut metadata = ongoing();
        metadata.state = TransactionState::CompleteAbort;
        let bytes = value(&metadata).unwrap();
        assert!(parse_value("tx", &bytes).unwrap().partitions.is_empty());
    }

    #[test]
    fn unstored_states_and_new_versions_are_refused() {
        let mut metadata = ongoing();
        metadata.state = TransactionState::Dead;
        let bytes = value(&metadata).unwrap();
        assert!(matches!(
            parse_value("tx", &bytes),
            Err(ReplayError::InvalidStatus { status: 6, .. })
        ));
        assert_eq!(
            parse_value("tx", &[0, 2]),
            Err(ReplayError::UnsupportedValueVersion { version: 2 })
        );
        assert!(matches!(
            parse_value("tx", &[0, 0, 1]),
            Err(ReplayError::Value { .. })
        ));
    }
}
