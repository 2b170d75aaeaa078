//! A group member, and the generator of member ids.

use bytes::Bytes;
use fjord_protocol::Uuid;

use crate::RequestId;
use crate::records::RECORD_STRING_BYTES_MAX;

/// A request parked until the rebalance answers it, with the version to answer at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingRequest {
    pub id: RequestId,
    pub version: i16,
}

/// One member of a classic group (Kafka's MemberMetadata).
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub member_id: String,
    /// Set for static members (KIP-345).
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// The protocols the member supports with their metadata, most preferred first.
    pub protocols: Vec<(String, Bytes)>,
    /// The member's assignment in the current generation; empty until the leader syncs.
    pub assignment: Bytes,
    /// The member's JoinGroup waiting for the rebalance. Only [`crate::group::Group`]
    /// changes it, because the group counts the members awaiting join.
    pub(crate) awaiting_join: Option<PendingRequest>,
    /// The member's SyncGroup waiting for the leader's assignment.
    pub awaiting_sync: Option<PendingRequest>,
    /// Joined in the current rebalance and not yet answered: such a member has no
    /// session to keep alive yet, so it expires on its join timeout even while waiting.
    pub is_new: bool,
    /// Join order, which makes the leader choice and member lists deterministic.
    pub join_sequence: u64,
}

impl Member {
    /// Whether a JoinGroup of this member waits for the rebalance.
    pub(crate) fn is_awaiting_join(&self) -> bool {
        self.awaiting_join.is_some()
    }

    /// The member's metadata for `protocol`.
    pub(crate) fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata)
    }

    /// Whether `protocols` are exactly the member's (names, metadata and order): a
    /// member rejoining with the same ones needs no rebalance.
    pub(crate) fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// The member's vote in protocol selection: its most preferred candidate.
    pub(crate) fn vote(&self, is_candidate: impl Fn(&str) -> bool) -> Option<&str> {
        self.protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .find(|name| is_candidate(name))
    }
}

/// Makes member ids `{client_id}-{uuid}` (`{group_instance_id}-{uuid}` for static members),
/// shaped like Kafka's.
///
/// The uuid comes from a counter run through a bijective mixer, seeded from the clock when
/// the coordinator starts: ids are unique within a run, and a restarted coordinator does
/// not hand out the ids of the previous run, which clients from before the restart may
/// still present.
#[derive(Debug, Default)]
pub(crate) struct MemberIds {
    seed: u64,
    counter: u64,
}

impl MemberIds {
    /// Seeds the generator; called once, when the coordinator starts.
    pub(crate) fn seed(&mut self, now_ms: i64) {
        self.seed = mix(now_ms as u64 ^ 0x6a09_e667_f3bc_c909);
    }

    /// A new member id for a member whose client calls itself `prefix`.
    pub(crate) fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        // `mix` is a bijection, so the first half is unique for every counter value.
        let high = mix(self.seed.wrapping_add(self.counter));
        let low = mix(high ^ self.seed.rotate_left(29));
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&high.to_be_bytes());
        bytes[8..].copy_from_slice(&low.to_be_bytes());
        // Member ids go into records whose strings are at most i16::MAX bytes.
        let uuid = Uuid(bytes).to_string();
        let room = RECORD_STRING_BYTES_MAX - uuid.len() - 1;
        format!("{}-{uuid}", truncate(prefix, room))
    }
}

/// splitmix64's finalizer: a bijection of u64 that scatters consecutive inputs.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The longest prefix of `text` of at most `bytes_max` bytes that ends on a character
/// boundary.
pub(crate) fn truncate(text: &str, bytes_max: usize) -> &str {
    if text.len() <= bytes_max {
        return text;
    }
    let mut end = bytes_max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_unique_and_shaped_like_kafkas() {
        let mut ids = MemberIds::default();
        ids.seed(1_700_000_000_000);
        let a = ids.next("consumer-1");
        let b = ids.next("consumer-1");
        assert_ne!(a, b);
        assert!(a.starts_with("consumer-1-"), "{a}");
        assert_eq!(a.len(), "consumer-1-".len() + 36);

        let mut restarted = MemberIds::default();
        restarted.seed(1_700_000_000_001);
        assert_ne!(restarted.next("consumer-1"), a);
    }

    #[test]
    fn long_client_ids_are_cut_to_fit_a_record() {
        let mut ids = MemberIds::default();
        let id = ids.next(&"é".repeat(20_000));
        assert!(id.len() <= RECORD_STRING_BYTES_MAX);
    }
}
