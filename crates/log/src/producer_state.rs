//! Idempotent producer state (Kafka's ProducerStateManager): per producer id,
//! the epoch and the last five batches, so a retried batch is recognised and
//! answered with its original offsets instead of being written twice.
//!
//! The rules are Kafka's (`ProducerAppendInfo`), for appends from clients:
//! - a batch whose epoch and first and last sequence equal one of the five
//!   retained batches is a duplicate;
//! - an epoch below the known one is INVALID_PRODUCER_EPOCH (a fenced zombie);
//! - a new, higher epoch must start at sequence 0;
//! - within an epoch, the first sequence must follow the last one, wrapping
//!   from `i32::MAX` to 0;
//! - a producer id with no state at all is accepted at any sequence. This is
//!   Kafka's behaviour since 2.5 (KIP-360): state can legitimately be gone
//!   (retention removed the producer's batches, or the id expired), and the
//!   Java client and librdkafka then keep going rather than fail. Kafka 2.4
//!   and older answered UNKNOWN_PRODUCER_ID instead; this log never does.
//!
//! Transactions (Kafka's `currentTxnFirstOffset`): a transactional batch opens
//! a transaction for its producer at the batch's first offset, unless one is
//! open already; the producer's COMMIT or ABORT marker closes it. The open
//! transactions' first offsets bound the last stable offset. A
//! non-transactional batch from a producer with an open transaction is
//! INVALID_TXN_STATE, as in Kafka; a marker with an epoch older than the
//! producer's is INVALID_PRODUCER_EPOCH.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::batch_header::BatchHeader;
use crate::error::AppendError;

/// How many batches per producer are remembered for duplicate detection:
/// the most a client keeps in flight per partition (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence).
pub(crate) const BATCHES_RETAINED: usize = 5;

/// One appended batch, as remembered for duplicate detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp as stored.
    pub timestamp_ms: i64,
}

/// What the log remembers about one producer id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first, at most [`BATCHES_RETAINED`].
    pub batches: VecDeque<BatchMetadata>,
    /// When the producer last appended (the broker's clock), for expiration.
    pub last_append_ms: i64,
    /// The first offset of the producer's open transaction in this partition.
    pub current_txn_first_offset: Option<i64>,
}

/// A transaction a marker ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub producer_id: i64,
    /// The transaction's first offset; the marker's own offset when the
    /// partition held no open transaction for the producer (Kafka does the
    /// same: a repeated marker after a restart is harmless).
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
}

/// The producer fields of a batch about to be appended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
    pub last_sequence: i32,
}

/// The verdict on a batch from an idempotent producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SequenceCheck {
    /// Append it.
    Accept,
    /// Already appended: answer with these offsets and write nothing.
    Duplicate(BatchMetadata),
}

/// The last sequence of a batch, wrapping past `i32::MAX` to 0 as Kafka's
/// `DefaultRecordBatch.incrementSequence` does.
pub(crate) fn last_sequence(first_sequence: i32, last_offset_delta: i32) -> i32 {
    if first_sequence > i32::MAX - last_offset_delta {
        last_offset_delta - (i32::MAX - first_sequence) - 1
    } else {
        first_sequence + last_offset_delta
    }
}

fn follows(last_sequence: i32, next_sequence: i32) -> bool {
    i64::from(next_sequence) == i64::from(last_sequence) + 1
        || (next_sequence == 0 && last_sequence == i32::MAX)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// (first offset, producer id) of every open transaction.
    ongoing: BTreeSet<(i64, i64)>,
}

impl ProducerStateManager {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&i64, &ProducerEntry)> {
        self.producers.iter()
    }

    pub fn insert(&mut self, producer_id: i64, entry: ProducerEntry) {
        if let Some(first_offset) = entry.current_txn_first_offset {
            self.ongoing.insert((first_offset, producer_id));
        }
        if let Some(old) = self.producers.insert(producer_id, entry)
            && let Some(first_offset) = old.current_txn_first_offset
        {
            self.ongoing.remove(&(first_offset, producer_id));
        }
    }

    /// Every producer's state, for DescribeProducers, by producer id.
    pub fn describe(&self) -> Vec<crate::ProducerState> {
        let mut producers: Vec<crate::ProducerState> = self
            .producers
            .iter()
            .map(|(&producer_id, entry)| crate::ProducerState {
                producer_id,
                producer_epoch: entry.epoch,
                last_sequence: entry.batches.back().map_or(-1, |batch| batch.last_sequence),
                last_timestamp_ms: entry.batches.back().map_or(-1, |batch| batch.timestamp_ms),
                current_txn_start_offset: entry.current_txn_first_offset.unwrap_or(-1),
            })
            .collect();
        producers.sort_by_key(|producer| producer.producer_id);
        producers
    }

    /// The first offset of the oldest open transaction, if any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.first().map(|(first_offset, _)| *first_offset)
    }

    /// How many transactions are open.
    pub fn ongoing_count(&self) -> usize {
        self.ongoing.len()
    }

    /// Refuses a non-transactional batch from a producer whose transaction is
    /// open (Kafka's "Expected transactional write").
    pub fn check_transactional(
        &self,
        producer_id: i64,
        transactional: bool,
    ) -> Result<(), AppendError> {
        match self.producers.get(&producer_id) {
            Some(entry) if !transactional && entry.current_txn_first_offset.is_some() => {
                Err(AppendError::InvalidTxnState {
                    producer_id,
                    reason: "a non-transactional batch while a transaction is open".into(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Opens a transaction at `first_offset` unless the producer has one open.
    pub fn begin_txn(&mut self, producer_id: i64, first_offset: i64) {
        if let Some(entry) = self.producers.get_mut(&producer_id)
            && entry.current_txn_first_offset.is_none()
        {
            entry.current_txn_first_offset = Some(first_offset);
            self.ongoing.insert((first_offset, producer_id));
        }
    }

    /// Checks a marker's epoch against the producer's: an older one comes from
    /// a fenced coordinator request.
    pub fn check_marker(&self, producer_id: i64, epoch: i16) -> Result<(), AppendError> {
        match self.producers.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => Err(AppendError::InvalidProducerEpoch {
                producer_id,
                epoch,
                current_epoch: entry.epoch,
            }),
            _ => Ok(()),
        }
    }

    /// Applies a marker at `offset`: moves the epoch forward (forgetting the
    /// old epoch's batches) and closes the producer's open transaction.
    pub fn complete_txn(
        &mut self,
        producer_id: i64,
        epoch: i16,
        offset: i64,
        now_ms: i64,
    ) -> CompletedTxn {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::with_capacity(BATCHES_RETAINED),
                last_append_ms: now_ms,
                current_txn_first_offset: None,
            });
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.last_append_ms = now_ms;
        let first_offset = match entry.current_txn_first_offset.take() {
            Some(first_offset) => {
                self.ongoing.remove(&(first_offset, producer_id));
                first_offset
            }
            None => offset,
        };
        CompletedTxn {
            producer_id,
            first_offset,
            last_offset: offset,
        }
    }

    /// Decides whether a client's batch is new, a duplicate, or refused.
    pub fn check(&self, batch: &ProducerBatch) -> Result<SequenceCheck, AppendError> {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return Ok(SequenceCheck::Accept);
        };
        if batch.epoch == entry.epoch
            && let Some(duplicate) = entry.batches.iter().find(|cached| {
                cached.first_sequence == batch.first_sequence
                    && cached.last_sequence == batch.last_sequence
            })
        {
            return Ok(SequenceCheck::Duplicate(*duplicate));
        }
        if batch.epoch < entry.epoch {
            return Err(AppendError::InvalidProducerEpoch {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                current_epoch: entry.epoch,
            });
        }
        if batch.epoch > entry.epoch {
            if batch.first_sequence != 0 {
                return Err(AppendError::OutOfOrderSequence {
                    producer_id: batch.producer_id,
                    reason: format!(
                        "new epoch {} must start at sequence 0, not {} (current epoch {})",
                        batch.epoch, batch.first_sequence, entry.epoch
                    ),
                });
            }
            return Ok(SequenceCheck::Accept);
        }
        // Same epoch: the batch must follow the last one. A known epoch with no
        // batches (a transaction marker bumped it) starts at 0.
        let last = entry.batches.back().map_or(-1, |last| last.last_sequence);
        if follows(last, batch.first_sequence) {
            Ok(SequenceCheck::Accept)
        } else {
            Err(AppendError::OutOfOrderSequence {
                producer_id: batch.producer_id,
                reason: format!(
                    "sequence {} does not follow {last} (epoch {})",
                    batch.first_sequence, batch.epoch
                ),
            })
        }
    }

    /// Records an appended batch. A new epoch forgets the old epoch's batches.
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: BatchMetadata, now_ms: i64) {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch,
                batches: VecDeque::with_capacity(BATCHES_RETAINED),
                last_append_ms: now_ms,
                current_txn_first_offset: None,
            });
        if entry.epoch != epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == BATCHES_RETAINED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(batch);
        entry.last_append_ms = now_ms;
    }

    /// Replays a batch read back from the log, without the checks a client's
    /// batch gets (it passed them when it was appended). A control batch
    /// moves the epoch forward and closes the transaction, which is returned
    /// (the caller reads the marker to learn whether it was aborted).
    pub fn replay(&mut self, header: &BatchHeader, fallback_now_ms: i64) -> Option<CompletedTxn> {
        if header.producer_id < 0 {
            return None;
        }
        // The append time is not stored; the batch's timestamp is the best
        // stand-in (it is the append time under LogAppendTime).
        let timestamp_ms = if header.max_timestamp >= 0 {
            header.max_timestamp
        } else {
            fallback_now_ms
        };
        if header.is_control() {
            return Some(self.complete_txn(
                header.producer_id,
                header.producer_epoch,
                header.base_offset,
                timestamp_ms,
            ));
        }
        let metadata = BatchMetadata {
            first_sequence: header.base_sequence,
            last_sequence: last_sequence(header.base_sequence, header.last_offset_delta),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            timestamp_ms: header.max_timestamp,
        };
        self.record(
            header.producer_id,
            header.producer_epoch,
            metadata,
            timestamp_ms,
        );
        if header.is_transactional() {
            self.begin_txn(header.producer_id, header.base_offset);
        }
        None
    }

    /// Forgets producers idle for at least `expiration_ms` (Kafka's
    /// `producer.id.expiration.ms`); returns how many.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        // A producer with an open transaction is kept: forgetting it would
        // forget the transaction and move the last stable offset past it.
        self.producers.retain(|_, entry| {
            entry.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(entry.last_append_ms) < expiration_ms
        });
        before - self.producers.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn batch(producer_id: i64, epoch: i16, first: i32, count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id,
            epoch,
            first_sequence: first,
            last_sequence: last_sequence(first, count - 1),
        }
    }

    fn append(state: &mut ProducerStateManager, batch: ProducerBatch, first_offset: i64) {
        assert_eq!(state.check(&batch).unwrap(), SequenceCheck::Accept);
        let count = i64::from(batch.last_sequence.wrapping_sub(batch.first_sequence)) + 1;
        state.record(
            batch.producer_id,
            batch.epoch,
            BatchMetadata {
                first_sequence: batch.first_sequence,
                last_sequence: batch.last_sequence,
                first_offset,
                last_offset: first_offset + count - 1,
                timestamp_ms: 0,
            },
            0,
        );
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(last_sequence(0, 4), 4);
        assert_eq!(last_sequence(i32::MAX, 0), i32::MAX);
        assert_eq!(last_sequence(i32::MAX, 1), 0);
        assert_eq!(last_sequence(i32::MAX - 1, 3), 1);
        assert!(follows(i32::MAX, 0));
        assert!(follows(-1, 0));
        assert!(!follows(i32::MAX, i32::MIN));
    }

    #[test]
    fn only_the_last_five_batches_are_duplicates() {
        let mut state = ProducerStateManager::new();
        for i in 0..7 {
            append(&mut state, batch(1, 0, i * 2, 2), i64::from(i) * 2);
        }
        for i in 2..7 {
            assert!(matches!(
                state.check(&batch(1, 0, i * 2, 2)).unwrap(),
                SequenceCheck::Duplicate(meta) if meta.first_offset == i64::from(i) * 2
            ));
        }
        // Older than the five retained: no longer recognised, so out of order.
        assert!(matches!(
            state.check(&batch(1, 0, 2, 2)),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
        // Overlapping but not equal to a retained batch: out of order.
        assert!(matches!(
            state.check(&batch(1, 0, 13, 2)),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
    }

    #[test]
    fn epochs_fence_and_restart_sequences() {
        let mut state = ProducerStateManager::new();
        append(&mut state, batch(9, 3, 0, 1), 0);
        assert!(matches!(
            state.check(&batch(9, 2, 1, 1)),
            Err(AppendError::InvalidProducerEpoch {
                epoch: 2,
                current_epoch: 3,
                ..
            })
        ));
        assert!(matches!(
            state.check(&batch(9, 4, 5, 1)),
            Err(AppendError::OutOfOrderSequence { .. })
        ));
        append(&mut state, batch(9, 4, 0, 1), 1);
        // The old epoch's batches are forgotten.
        assert!(matches!(
            state.check(&batch(9, 3, 0, 1)),
            Err(AppendError::InvalidProducerEpoch { .. })
        ));
    }

    #[test]
    fn unknown_producers_are_accepted_at_any_sequence() {
        let state = ProducerStateManager::new();
        assert_eq!(
            state.check(&batch(5, 0, 42, 3)).unwrap(),
            SequenceCheck::Accept
        );
    }

    #[test]
    fn idle_producers_expire() {
        let mut state = ProducerStateManager::new();
        append(&mut state, batch(1, 0, 0, 1), 0);
        assert_eq!(state.expire(999, 1000), 0);
        assert_eq!(state.expire(1000, 1000), 1);
        assert_eq!(state.len(), 0);
    }
}
