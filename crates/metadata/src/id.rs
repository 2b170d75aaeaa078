//! Topic ids and the cluster id.
//!
//! Kafka prints UUIDs as 22 characters of URL-safe base64 without padding
//! (`Uuid.toString()`), not in the hyphenated hex form; `kafka-topics --describe`
//! shows topic ids that way and `meta.properties` stores the cluster id that way. Fjord
//! does the same, so ids read the same in both systems' tools and logs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A topic's id: a random 128-bit UUID, assigned when the topic is created and never
/// reused, so that a topic deleted and created again under the same name is a different
/// topic to clients that cached the old id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicId([u8; 16]);

impl TopicId {
    /// The all-zero UUID, which Kafka uses on the wire to mean "no topic id".
    pub const ZERO: TopicId = TopicId([0; 16]);

    /// Kafka reserves the UUID whose only set bit is the last one for the metadata
    /// topic (`Uuid.ONE_UUID`); it is never assigned to a user topic.
    pub const ONE: TopicId = TopicId([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

    /// The id with these 16 bytes, most significant first, as Kafka sends it.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        TopicId(bytes)
    }

    /// The 16 bytes, most significant first.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A new random id, drawn as Kafka's `Uuid.randomUuid()` draws one: a version 4
    /// UUID that is neither of the reserved ids and whose text form does not start
    /// with `-` (which command-line tools would take for an option).
    ///
    /// Fails only if the operating system cannot supply random bytes.
    pub fn random() -> std::io::Result<Self> {
        loop {
            let id = TopicId(random_uuid_v4()?);
            if id != Self::ZERO && id != Self::ONE && !id.to_string().starts_with('-') {
                return Ok(id);
            }
        }
    }

    /// The id from 16 given bytes, made a version 4 UUID and adjusted as
    /// [`TopicId::random`] would; for callers that draw randomness from their own
    /// (seeded, in tests) generator. Returns `None` for bytes that [`TopicId::random`]
    /// would draw again.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Option<Self> {
        let id = TopicId(as_uuid_v4(bytes));
        (id != Self::ZERO && id != Self::ONE && !id.to_string().starts_with('-')).then_some(id)
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url_encode(&self.0))
    }
}

impl FromStr for TopicId {
    type Err = InvalidId;

    fn from_str(text: &str) -> Result<Self, InvalidId> {
        base64url_decode(text)
            .map(TopicId)
            .ok_or_else(|| InvalidId {
                text: text.to_owned(),
            })
    }
}

impl Serialize for TopicId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TopicId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Text that is not a UUID in Kafka's 22-character base64 form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a UUID in Kafka's 22-character URL-safe base64 form")]
pub struct InvalidId {
    /// The text as given.
    pub text: String,
}

/// The cluster's id, generated once when the cluster's metadata log is created and
/// never changed: clients and brokers use it to notice that they were pointed at a
/// different cluster.
///
/// Kafka's cluster ids are the base64 text of a random UUID (22 characters), which is
/// what [`ClusterId::random`] makes; any non-empty text is accepted from elsewhere,
/// because an operator migrating a cluster may bring its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClusterId(String);

impl ClusterId {
    /// The cluster id with this text.
    pub fn new(id: impl Into<String>) -> Self {
        ClusterId(id.into())
    }

    /// A new random cluster id, made as `kafka-storage random-uuid` makes one.
    ///
    /// Fails only if the operating system cannot supply random bytes.
    pub fn random() -> std::io::Result<Self> {
        Ok(ClusterId(TopicId::random()?.to_string()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 16 random bytes with the version (4) and variant (RFC 4122) bits set, as Java's
/// `UUID.randomUUID()` makes them.
fn random_uuid_v4() -> std::io::Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(as_uuid_v4(bytes))
}

fn as_uuid_v4(mut bytes: [u8; 16]) -> [u8; 16] {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// 16 bytes as 22 characters of unpadded URL-safe base64.
fn base64url_encode(bytes: &[u8; 16]) -> String {
    let mut text = String::with_capacity(22);
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    for &byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        bit_count += 8;
        while bit_count >= 6 {
            bit_count -= 6;
            text.push(char::from(BASE64URL[((bits >> bit_count) & 0x3f) as usize]));
        }
    }
    // 128 bits leave 2 over: they are the high bits of the last character.
    text.push(char::from(
        BASE64URL[((bits << (6 - bit_count)) & 0x3f) as usize],
    ));
    text
}

/// The inverse of [`base64url_encode`]. Rejects anything but exactly 22 characters of
/// the alphabet whose 4 unused trailing bits are zero, so that each id has one text.
fn base64url_decode(text: &str) -> Option<[u8; 16]> {
    let text = text.as_bytes();
    if text.len() != 22 {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    let mut filled = 0;
    for &c in text {
        let value = BASE64URL.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | value;
        bit_count += 6;
        if bit_count >= 8 {
            bit_count -= 8;
            if filled < 16 {
                bytes[filled] = (bits >> bit_count) as u8;
                filled += 1;
            }
        }
    }
    // 22 * 6 = 132 bits: the last 4 must be zero padding.
    (filled == 16 && bits & ((1 << bit_count) - 1) == 0).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_matches_kafka() {
        // Kafka: new Uuid(0L, 1L).toString() == "AAAAAAAAAAAAAAAAAAAAAQ"
        assert_eq!(TopicId::ONE.to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(TopicId::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        let all_ones = TopicId::from_bytes([0xff; 16]);
        assert_eq!(all_ones.to_string(), "_____________________w");
    }

    #[test]
    fn text_round_trips() {
        for seed in 0u8..=255 {
            let bytes: [u8; 16] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 17));
            let id = TopicId::from_bytes(bytes);
            let text = id.to_string();
            assert_eq!(text.len(), 22);
            assert_eq!(text.parse::<TopicId>(), Ok(id));
        }
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "AAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAA+A",
            "AAAAAAAAAAAAAAAAAAAAAB", // non-zero padding bits
            "00000000-0000-0000-0000-000000000000",
        ] {
            assert!(bad.parse::<TopicId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn random_ids_are_v4_and_printable() -> std::io::Result<()> {
        for _ in 0..100 {
            let id = TopicId::random()?;
            assert_eq!(id.as_bytes()[6] >> 4, 4);
            assert_eq!(id.as_bytes()[8] >> 6, 0b10);
            assert!(!id.to_string().starts_with('-'));
        }
        let cluster = ClusterId::random()?;
        assert_eq!(cluster.as_str().len(), 22);
        Ok(())
    }

    #[test]
    fn serializes_as_text() -> Result<(), serde_json::Error> {
        let id = TopicId::ONE;
        assert_eq!(serde_json::to_string(&id)?, "\"AAAAAAAAAAAAAAAAAAAAAQ\"");
        assert_eq!(
            serde_json::from_str::<TopicId>("\"AAAAAAAAAAAAAAAAAAAAAQ\"")?,
            id
        );
        assert!(serde_json::from_str::<TopicId>("\"nope\"").is_err());
        Ok(())
    }
}
