//! The producer ids the coordinator may hand out: blocks granted by the runtime.
//!
//! Producer ids must be unique across the cluster's life, so they come from a durable
//! allocator (Kafka: the controller's `ProducerIdsRecord`, in blocks of 1000). The
//! coordinator does no I/O, so the runtime allocates blocks and grants them; when the ids
//! run low, [`Output::producer_ids_wanted`](crate::Output::producer_ids_wanted) asks for
//! the next one.

use std::collections::VecDeque;
use std::ops::Range;

/// Granted blocks, used in order.
#[derive(Debug, Default)]
pub(crate) struct ProducerIds {
    blocks: VecDeque<Range<i64>>,
    /// The end of the last block granted: blocks must come in increasing order.
    granted_end: i64,
}

impl ProducerIds {
    /// Adds a block. Blocks must be non-empty, non-negative and above every block before.
    pub(crate) fn grant(&mut self, block: Range<i64>) {
        assert!(
            block.start >= 0 && block.start < block.end,
            "producer id block {block:?} is empty or negative"
        );
        assert!(
            block.start >= self.granted_end,
            "producer id block {block:?} overlaps ids granted before (up to {})",
            self.granted_end
        );
        self.granted_end = block.end;
        self.blocks.push_back(block);
    }

    /// Takes the next id, if one is left.
    pub(crate) fn take(&mut self) -> Option<i64> {
        loop {
            let block = self.blocks.front_mut()?;
            if let Some(id) = block.next() {
                return Some(id);
            }
            self.blocks.pop_front();
        }
    }

    /// How many ids are left.
    pub(crate) fn remaining(&self) -> i64 {
        self.blocks.iter().map(|b| b.end - b.start).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_used_in_order() {
        let mut ids = ProducerIds::default();
        assert_eq!(ids.take(), None);
        ids.grant(0..2);
        ids.grant(10..11);
        assert_eq!(ids.remaining(), 3);
        assert_eq!(ids.take(), Some(0));
        assert_eq!(ids.take(), Some(1));
        assert_eq!(ids.take(), Some(10));
        assert_eq!(ids.take(), None);
        assert_eq!(ids.remaining(), 0);
    }

    #[test]
    #[should_panic(expected = "overlaps")]
    fn overlapping_blocks_are_a_bug() {
        let mut ids = ProducerIds::default();
        ids.grant(0..10);
        ids.grant(5..20);
    }
}
