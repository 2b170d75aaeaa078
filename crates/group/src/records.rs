//! The record formats of `__consumer_offsets`, byte for byte Kafka's, so that Kafka's
//! tools (and Kafka itself) can read what Fjord writes and the other way round.
//!
//! Keys start with an `i16` version that names the record type: 0 and 1 are
//! `OffsetCommitKey`, 2 is `GroupMetadataKey` (higher ones are KIP-848, share and streams
//! group records, which this coordinator does not keep). Values start with their own
//! `i16` version. Specs: Kafka's `group-coordinator/src/main/resources/common/message/`
//! `{OffsetCommitKey,OffsetCommitValue,GroupMetadataKey,GroupMetadataValue}.json`.
//!
//! Fjord writes key version 1 with `OffsetCommitValue` v3 and key version 2 with
//! `GroupMetadataValue` v3, which is what Kafka 3.x writes; it reads values v0 to v4
//! (v4 is the first flexible version, with compact strings and tagged fields).

use bytes::{Bytes, BytesMut};
use fjord_protocol::codec::{
    read_array_length, read_bytes, read_i16, read_i32, read_i64, read_nullable_string, read_string,
    read_tagged_field, read_tagged_field_count, write_array_length, write_bytes, write_i16,
    write_i32, write_i64, write_nullable_string, write_string,
};
use fjord_protocol::{DecodeError, EncodeError};

use crate::error::ReplayError;

/// Key version Kafka uses for offset commits (version 0 has the same fields).
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key version of group metadata.
const GROUP_METADATA_KEY_VERSION: i16 = 2;
/// The `OffsetCommitValue` version Fjord writes: the first with the leader epoch.
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
/// The `GroupMetadataValue` version Fjord writes: the first with group instance ids.
const GROUP_METADATA_VALUE_VERSION: i16 = 3;
/// The newest value versions this module reads.
const VALUE_VERSION_MAX: i16 = 4;
/// The first flexible value version.
const FLEXIBLE_VALUE_VERSION: i16 = 4;

const OFFSET_COMMIT_VALUE: &str = "OffsetCommitValue";
const GROUP_METADATA_VALUE: &str = "GroupMetadataValue";

/// The longest string a non-flexible record can hold: its length is an `i16`.
pub(crate) const RECORD_STRING_BYTES_MAX: usize = i16::MAX as usize;

/// A decoded record key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordKey {
    /// The committed offset of one partition for one group.
    OffsetCommit {
        group: String,
        topic: String,
        partition: i32,
    },
    /// The metadata (generation, members, assignments) of one group.
    GroupMetadata { group: String },
    /// Fjord's snapshot of a consumer group (KIP-848 protocol).
    ConsumerGroupSnapshot { group: String },
}

/// A committed offset, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OffsetCommitValue {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Only in v1 values, from OffsetCommit v2-v4's retention time; Fjord never writes it.
    pub expire_timestamp_ms: Option<i64>,
}

/// A group's metadata, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupMetadataValue {
    /// Empty for a group without a protocol type.
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// -1 when unknown (values before v2).
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberMetadataValue>,
}

/// One member in a [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberMetadataValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// Encodes the key of a partition's committed offset.
pub(crate) fn offset_commit_key(
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(8 + group.len() + topic.len());
    write_i16(&mut buf, OFFSET_COMMIT_KEY_VERSION);
    write_string(&mut buf, group, false, "group")?;
    write_string(&mut buf, topic, false, "topic")?;
    write_i32(&mut buf, partition);
    Ok(buf.freeze())
}

/// Encodes the key of a group's metadata.
pub(crate) fn group_metadata_key(group: &str) -> Result<Bytes, EncodeError> {
    key_with_group(GROUP_METADATA_KEY_VERSION, group)
}

/// A key made of a version and a group id, the layout of every group-level key.
pub(crate) fn key_with_group(version: i16, group: &str) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(4 + group.len());
    write_i16(&mut buf, version);
    write_string(&mut buf, group, false, "group")?;
    Ok(buf.freeze())
}

/// Encodes a committed offset as `OffsetCommitValue` v3.
pub(crate) fn offset_commit_value(value: &OffsetCommitValue) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(24 + value.metadata.len());
    write_i16(&mut buf, OFFSET_COMMIT_VALUE_VERSION);
    write_i64(&mut buf, value.offset);
    write_i32(&mut buf, value.leader_epoch);
    write_string(&mut buf, &value.metadata, false, "metadata")?;
    write_i64(&mut buf, value.commit_timestamp_ms);
    Ok(buf.freeze())
}

/// Encodes a group's metadata as `GroupMetadataValue` v3.
pub(crate) fn group_metadata_value(value: &GroupMetadataValue) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::new();
    write_i16(&mut buf, GROUP_METADATA_VALUE_VERSION);
    write_string(&mut buf, &value.protocol_type, false, "protocolType")?;
    write_i32(&mut buf, value.generation);
    write_nullable_string(&mut buf, value.protocol.as_deref(), false, "protocol")?;
    write_nullable_string(&mut buf, value.leader.as_deref(), false, "leader")?;
    write_i64(&mut buf, value.current_state_timestamp_ms);
    write_array_length(&mut buf, Some(value.members.len()), false, "members")?;
    for member in &value.members {
        write_string(&mut buf, &member.member_id, false, "memberId")?;
        write_nullable_string(
            &mut buf,
            member.group_instance_id.as_deref(),
            false,
            "groupInstanceId",
        )?;
        write_string(&mut buf, &member.client_id, false, "clientId")?;
        write_string(&mut buf, &member.client_host, false, "clientHost")?;
        write_i32(&mut buf, member.rebalance_timeout_ms);
        write_i32(&mut buf, member.session_timeout_ms);
        write_bytes(&mut buf, &member.subscription, false, "subscription")?;
        write_bytes(&mut buf, &member.assignment, false, "assignment")?;
    }
    Ok(buf.freeze())
}

/// Decodes a record key.
pub(crate) fn parse_key(key: &[u8]) -> Result<RecordKey, ReplayError> {
    let mut buf = Bytes::copy_from_slice(key);
    let version = read_i16(&mut buf, "key version").map_err(ReplayError::Key)?;
    let read = |buf: &mut Bytes| -> Result<RecordKey, DecodeError> {
        match version {
            0 | 1 => Ok(RecordKey::OffsetCommit {
                group: read_string(buf, false, "group")?,
                topic: read_string(buf, false, "topic")?,
                partition: read_i32(buf, "partition")?,
            }),
            crate::consumer::SNAPSHOT_KEY_VERSION => Ok(RecordKey::ConsumerGroupSnapshot {
                group: read_string(buf, false, "group")?,
            }),
            _ => Ok(RecordKey::GroupMetadata {
                group: read_string(buf, false, "group")?,
            }),
        }
    };
    match version {
        0..=2 | crate::consumer::SNAPSHOT_KEY_VERSION => read(&mut buf).map_err(ReplayError::Key),
        _ => Err(ReplayError::UnknownRecordType { version }),
    }
}

/// Decodes an `OffsetCommitValue` of versions 0 to 4.
pub(crate) fn parse_offset_commit_value(value: &[u8]) -> Result<OffsetCommitValue, ReplayError> {
    let mut buf = Bytes::copy_from_slice(value);
    let error = |source| ReplayError::Value {
        record: OFFSET_COMMIT_VALUE,
        source,
    };
    let version = read_i16(&mut buf, "version").map_err(error)?;
    if !(0..=VALUE_VERSION_MAX).contains(&version) {
        return Err(ReplayError::UnsupportedValueVersion {
            record: OFFSET_COMMIT_VALUE,
            version,
        });
    }
    let flexible = version >= FLEXIBLE_VALUE_VERSION;
    let read = |buf: &mut Bytes| -> Result<OffsetCommitValue, DecodeError> {
        let offset = read_i64(buf, "offset")?;
        let leader_epoch = if version >= 3 {
            read_i32(buf, "leaderEpoch")?
        } else {
            -1
        };
        let metadata = read_string(buf, flexible, "metadata")?;
        let commit_timestamp_ms = read_i64(buf, "commitTimestamp")?;
        let expire_timestamp_ms = if version == 1 {
            Some(read_i64(buf, "expireTimestamp")?).filter(|&t| t != -1)
        } else {
            None
        };
        if flexible {
            skip_tagged_fields(buf)?;
        }
        Ok(OffsetCommitValue {
            offset,
            leader_epoch,
            metadata,
            commit_timestamp_ms,
            expire_timestamp_ms,
        })
    };
    read(&mut buf).map_err(error)
}

/// Decodes a `GroupMetadataValue` of versions 0 to 4.
pub(crate) fn parse_group_metadata_value(value: &[u8]) -> Result<GroupMetadataValue, ReplayError> {
    let mut buf = Bytes::copy_from_slice(value);
    let error = |source| ReplayError::Value {
        record: GROUP_METADATA_VALUE,
        source,
    };
    let version = read_i16(&mut buf, "version").map_err(error)?;
    if !(0..=VALUE_VERSION_MAX).contains(&version) {
        return Err(ReplayError::UnsupportedValueVersion {
            record: GROUP_METADATA_VALUE,
            version,
        });
    }
    let flexible = version >= FLEXIBLE_VALUE_VERSION;
    let read = |buf: &mut Bytes| -> Result<GroupMetadataValue, DecodeError> {
        let protocol_type = read_string(buf, flexible, "protocolType")?;
        let generation = read_i32(buf, "generation")?;
        let protocol = read_nullable_string(buf, flexible, "protocol")?;
        let leader = read_nullable_string(buf, flexible, "leader")?;
        let current_state_timestamp_ms = if version >= 2 {
            read_i64(buf, "currentStateTimestamp")?
        } else {
            -1
        };
        let count = read_array_length(buf, flexible, "members")?
            .ok_or(DecodeError::UnexpectedNull { what: "members" })?;
        // Each member takes well over one byte, and the count was checked against the
        // bytes left, so this reservation is bounded by the record's size.
        let mut members = Vec::with_capacity(count.min(buf.len() / 16 + 1));
        for _ in 0..count {
            let member_id = read_string(buf, flexible, "memberId")?;
            let group_instance_id = if version >= 3 {
                read_nullable_string(buf, flexible, "groupInstanceId")?
            } else {
                None
            };
            let client_id = read_string(buf, flexible, "clientId")?;
            let client_host = read_string(buf, flexible, "clientHost")?;
            let rebalance_timeout = if version >= 1 {
                Some(read_i32(buf, "rebalanceTimeout")?)
            } else {
                None
            };
            let session_timeout_ms = read_i32(buf, "sessionTimeout")?;
            let subscription = read_bytes(buf, flexible, "subscription")?;
            let assignment = read_bytes(buf, flexible, "assignment")?;
            if flexible {
                skip_tagged_fields(buf)?;
            }
            members.push(MemberMetadataValue {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                // Before v1 there was no rebalance timeout; Kafka used the session timeout.
                rebalance_timeout_ms: rebalance_timeout.unwrap_or(session_timeout_ms),
                session_timeout_ms,
                subscription,
                assignment,
            });
        }
        if flexible {
            skip_tagged_fields(buf)?;
        }
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp_ms,
            members,
        })
    };
    read(&mut buf).map_err(error)
}

/// Skips a tagged-field section: these records define no tagged fields this coordinator
/// needs, and newer writers may add some (KIP-915).
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
    use super::*;

    /// Bytes laid out by hand from Kafka's JSON specs, as Kafka 3.x writes them: these
    /// pin the format, independently of the encoder under test.
    #[test]
    fn offset_commit_records_match_kafkas_layout() {
        let key = offset_commit_key("g", "t", 7).unwrap();
        assert_eq!(
            &key[..],
            &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 7],
            "key version 1, group, topic, partition"
        );
        let value = OffsetCommitValue {
            offset: 42,
            leader_epoch: 5,
            metadata: "m".to_owned(),
            commit_timestamp_ms: 1000,
            expire_timestamp_ms: None,
        };
        let bytes = offset_commit_value(&value).unwrap();
        let expected: Vec<u8> = [
            &[0u8, 3][..],          // version 3
            &42i64.to_be_bytes(),   // offset
            &5i32.to_be_bytes(),    // leaderEpoch
            &[0, 1, b'm'],          // metadata
            &1000i64.to_be_bytes(), // commitTimestamp
        ]
        .concat();
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(parse_offset_commit_value(&bytes).unwrap(), value);
        assert_eq!(
            parse_key(&key).unwrap(),
            RecordKey::OffsetCommit {
                group: "g".into(),
                topic: "t".into(),
                partition: 7
            }
        );
    }

    #[test]
    fn group_metadata_records_match_kafkas_layout() {
        let key = group_metadata_key("g").unwrap();
        assert_eq!(&key[..], &[0, 2, 0, 1, b'g']);
        let value = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp_ms: 99,
            members: vec![MemberMetadataValue {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/h".into(),
                rebalance_timeout_ms: 300,
                session_timeout_ms: 100,
                subscription: Bytes::from_static(&[1, 2]),
                assignment: Bytes::from_static(&[3]),
            }],
        };
        let bytes = group_metadata_value(&value).unwrap();
        let expected: Vec<u8> = [
            &[0u8, 3][..],
            &[0, 8],
            b"consumer",
            &3i32.to_be_bytes(),
            &[0, 5],
            b"range",
            &[0, 2],
            b"m1",
            &99i64.to_be_bytes(),
            &1i32.to_be_bytes(), // one member
            &[0, 2],
            b"m1",
            &[0xff, 0xff], // null group instance id
            &[0, 1],
            b"c",
            &[0, 2],
            b"/h",
            &300i32.to_be_bytes(),
            &100i32.to_be_bytes(),
            &2i32.to_be_bytes(),
            &[1, 2],
            &1i32.to_be_bytes(),
            &[3],
        ]
        .concat();
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(parse_group_metadata_value(&bytes).unwrap(), value);
        assert_eq!(
            parse_key(&key).unwrap(),
            RecordKey::GroupMetadata { group: "g".into() }
        );
    }

    #[test]
    fn older_and_flexible_values_are_read() {
        // OffsetCommitValue v1: offset, metadata, commitTimestamp, expireTimestamp.
        let v1: Vec<u8> = [
            &[0u8, 1][..],
            &10i64.to_be_bytes(),
            &[0, 0],
            &7i64.to_be_bytes(),
            &8i64.to_be_bytes(),
        ]
        .concat();
        let value = parse_offset_commit_value(&v1).unwrap();
        assert_eq!((value.offset, value.leader_epoch), (10, -1));
        assert_eq!(value.expire_timestamp_ms, Some(8));

        // OffsetCommitValue v4: compact metadata and an (unknown) tagged field.
        let v4: Vec<u8> = [
            &[0u8, 4][..],
            &10i64.to_be_bytes(),
            &2i32.to_be_bytes(),
            &[2, b'x'],
            &7i64.to_be_bytes(),
            &[1, 9, 1, 0xaa],
        ]
        .concat();
        let value = parse_offset_commit_value(&v4).unwrap();
        assert_eq!((value.metadata.as_str(), value.leader_epoch), ("x", 2));

        // GroupMetadataValue v0: no rebalance timeout, no timestamp, no instance id.
        let v0: Vec<u8> = [
            &[0u8, 0][..],
            &[0, 0],
            &1i32.to_be_bytes(),
            &[0xff, 0xff],
            &[0xff, 0xff],
            &1i32.to_be_bytes(),
            &[0, 1],
            b"m",
            &[0, 1],
            b"c",
            &[0, 1],
            b"h",
            &50i32.to_be_bytes(),
            &0i32.to_be_bytes(),
            &0i32.to_be_bytes(),
        ]
        .concat();
        let value = parse_group_metadata_value(&v0).unwrap();
        assert_eq!(value.members[0].rebalance_timeout_ms, 50);
        assert_eq!(value.current_state_timestamp_ms, -1);
    }

    #[test]
    fn foreign_and_broken_records_are_errors() {
        assert_eq!(
            parse_key(&[0, 3, 0, 1, b'g']),
            Err(ReplayError::UnknownRecordType { version: 3 })
        );
        assert!(matches!(parse_key(&[0, 1, 0, 9]), Err(ReplayError::Key(_))));
        assert_eq!(
            parse_offset_commit_value(&[0, 5]),
            Err(ReplayError::UnsupportedValueVersion {
                record: OFFSET_COMMIT_VALUE,
                version: 5
            })
        );
        assert!(matches!(
            parse_group_metadata_value(&[0, 3, 0, 1]),
            Err(ReplayError::Value { .. })
        ));
        // A member count far beyond the bytes left is refused before any allocation.
        let huge: Vec<u8> = [
            &[0u8, 3][..],
            &[0, 0],
            &1i32.to_be_bytes(),
            &[0xff, 0xff, 0xff, 0xff],
            &0i64.to_be_bytes(),
            &i32::MAX.to_be_bytes(),
        ]
        .concat();
        assert!(parse_group_metadata_value(&huge).is_err());
    }
}
