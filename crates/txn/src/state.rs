//! A transactional id's state: Kafka's `TransactionState` and `TransactionMetadata`.

use std::collections::{BTreeMap, BTreeSet};

/// Kafka's producer id and epoch "none" values.
pub(crate) const NO_PRODUCER_ID: i64 = -1;
pub(crate) const NO_PRODUCER_EPOCH: i16 = -1;

/// Where a transactional id's current transaction is, as Kafka's `TransactionState`,
/// with Kafka's ids (written as `TransactionStatus` in `__transaction_state`) and names
/// (answered by DescribeTransactions and ListTransactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionState {
    /// No transaction: after InitProducerId.
    Empty,
    /// Partitions (or offsets) were added; the transaction runs.
    Ongoing,
    /// EndTxn(commit) was accepted; commit markers are being written.
    PrepareCommit,
    /// EndTxn(abort), a fence or a timeout; abort markers are being written.
    PrepareAbort,
    /// The commit markers are written.
    CompleteCommit,
    /// The abort markers are written.
    CompleteAbort,
    /// Kafka's state of an id being removed. Fjord removes ids in one step, so it never
    /// holds it (see the crate docs).
    Dead,
    /// Kafka's transient state of an ongoing transaction being fenced by InitProducerId.
    /// Fjord goes straight to PrepareAbort with the bumped epoch, which is also what Kafka
    /// writes, so it never holds it.
    PrepareEpochFence,
}

impl TransactionState {
    /// Every state, in id order.
    pub const ALL: [TransactionState; 8] = [
        TransactionState::Empty,
        TransactionState::Ongoing,
        TransactionState::PrepareCommit,
        TransactionState::PrepareAbort,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
        TransactionState::Dead,
        TransactionState::PrepareEpochFence,
    ];

    /// Kafka's id of the state, the `TransactionStatus` of a `TransactionLogValue`.
    pub fn id(self) -> i8 {
        match self {
            TransactionState::Empty => 0,
            TransactionState::Ongoing => 1,
            TransactionState::PrepareCommit => 2,
            TransactionState::PrepareAbort => 3,
            TransactionState::CompleteCommit => 4,
            TransactionState::CompleteAbort => 5,
            TransactionState::Dead => 6,
            TransactionState::PrepareEpochFence => 7,
        }
    }

    /// The state with Kafka's id `id`.
    pub fn from_id(id: i8) -> Option<TransactionState> {
        TransactionState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// Kafka's name of the state, as DescribeTransactions and ListTransactions show it.
    pub fn name(self) -> &'static str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
            TransactionState::CompleteCommit => "CompleteCommit",
            TransactionState::CompleteAbort => "CompleteAbort",
            TransactionState::Dead => "Dead",
            TransactionState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state named `name` (Kafka's names), if any.
    pub fn from_name(name: &str) -> Option<TransactionState> {
        TransactionState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether markers are being written (PrepareCommit, PrepareAbort).
    pub(crate) fn is_prepare(self) -> bool {
        matches!(
            self,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        )
    }

    /// Whether no transaction runs: the id may start one, or expire.
    pub(crate) fn is_idle(self) -> bool {
        matches!(
            self,
            TransactionState::Empty
                | TransactionState::CompleteCommit
                | TransactionState::CompleteAbort
        )
    }
}

/// The partitions of a transaction, by topic.
pub(crate) type Partitions = BTreeMap<String, BTreeSet<i32>>;

/// What the coordinator knows of one transactional id: Kafka's `TransactionMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransactionMetadata {
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhaustion), so that a producer
    /// that retries the InitProducerId that rotated it is recognised (KIP-360). Kept in
    /// memory only, as Kafka 3.x does; -1 when none.
    pub last_producer_id: i64,
    /// -1 for an id just created, before its first InitProducerId completes.
    pub producer_epoch: i16,
    /// The epoch before the last bump by a client that gave its epoch (KIP-360), so that
    /// a retry of that InitProducerId gets the same answer. In memory only, as in Kafka.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TransactionState,
    pub partitions: Partitions,
    /// When the current (or last) transaction started; -1 before the first.
    pub start_timestamp_ms: i64,
    pub last_update_timestamp_ms: i64,
}

/// Whether an epoch is too close to the maximum for another bump and a fence: the next
/// InitProducerId gets a new producer id instead (Kafka: `Short.MaxValue - 1`).
pub(crate) fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

impl TransactionMetadata {
    /// Kafka's `isValidProducerId`: whether a producer that names `(producer_id, epoch)`
    /// in InitProducerId (KIP-360) may go on with this id.
    pub(crate) fn is_valid_producer_id(&self, producer_id: i64, epoch: i16) -> bool {
        self.producer_epoch == NO_PRODUCER_EPOCH
            || producer_id == self.producer_id
            || (producer_id == self.last_producer_id && is_epoch_exhausted(epoch))
    }

    /// The partitions as `(topic, partitions)` lists, in order.
    pub(crate) fn partition_list(&self) -> Vec<(String, Vec<i32>)> {
        self.partitions
            .iter()
            .map(|(topic, partitions)| (topic.clone(), partitions.iter().copied().collect()))
            .collect()
    }

    /// Whether every partition of `partitions` is in the transaction.
    pub(crate) fn contains_all(&self, partitions: &Partitions) -> bool {
        partitions.iter().all(|(topic, wanted)| {
            self.partitions
                .get(topic)
                .is_some_and(|have| wanted.is_subset(have))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for state in TransactionState::ALL {
            assert_eq!(TransactionState::from_id(state.id()), Some(state));
            assert_eq!(TransactionState::from_name(state.name()), Some(state));
        }
        assert_eq!(TransactionState::from_id(8), None);
        assert_eq!(TransactionState::from_name("ongoing"), None);
    }
}
