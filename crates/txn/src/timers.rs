//! Every deadline of the coordinator in one ordered index, so that the next one is found
//! in O(log n) however many transactional ids there are. (The same shape as the group
//! coordinator's; the crates share no code but the protocol.)
//!
//! Each timer has a key that names what it is for; setting a key again moves its
//! deadline. Transactions do not keep deadlines themselves: one copy cannot go stale.

use std::collections::{BTreeMap, BTreeSet};

/// What a deadline is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// An Ongoing transaction's `transaction.timeout.ms` runs out: the coordinator aborts
    /// it.
    TransactionTimeout { transactional_id: String },
    /// An idle transactional id reaches `transactional.id.expiration.ms`: it is removed.
    Expiration { transactional_id: String },
}

/// The coordinator's deadlines.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    by_deadline: BTreeSet<(i64, Timer)>,
    by_timer: BTreeMap<Timer, i64>,
}

impl Timers {
    /// Arms `timer` at `deadline_ms`, replacing its previous deadline.
    pub(crate) fn set(&mut self, timer: Timer, deadline_ms: i64) {
        if let Some(old) = self.by_timer.insert(timer.clone(), deadline_ms) {
            self.by_deadline.remove(&(old, timer.clone()));
        }
        self.by_deadline.insert((deadline_ms, timer));
    }

    /// Disarms `timer`, if it is armed.
    pub(crate) fn clear(&mut self, timer: &Timer) {
        if let Some(old) = self.by_timer.remove(timer) {
            self.by_deadline.remove(&(old, timer.clone()));
        }
    }

    /// The deadline of `timer`, if armed.
    #[cfg(any(test, debug_assertions))]
    pub(crate) fn get(&self, timer: &Timer) -> Option<i64> {
        self.by_timer.get(timer).copied()
    }

    /// The earliest deadline.
    pub(crate) fn first(&self) -> Option<i64> {
        self.by_deadline.first().map(|(deadline, _)| *deadline)
    }

    /// Disarms and returns the earliest timer due at `now_ms`, if any.
    pub(crate) fn pop_due(&mut self, now_ms: i64) -> Option<Timer> {
        let (deadline, _) = self.by_deadline.first()?;
        if *deadline > now_ms {
            return None;
        }
        let (_, timer) = self.by_deadline.pop_first()?;
        self.by_timer.remove(&timer);
        Some(timer)
    }

    /// How many timers are armed.
    #[cfg(debug_assertions)]
    pub(crate) fn len(&self) -> usize {
        assert_eq!(self.by_deadline.len(), self.by_timer.len());
        self.by_timer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_again_moves_the_deadline() {
        let mut timers = Timers::default();
        let a = Timer::TransactionTimeout {
            transactional_id: "a".into(),
        };
        let b = Timer::Expiration {
            transactional_id: "b".into(),
        };
        timers.set(a.clone(), 10);
        timers.set(b.clone(), 20);
        timers.set(a.clone(), 30);
        assert_eq!(timers.first(), Some(20));
        assert_eq!(timers.pop_due(25), Some(b));
        assert_eq!(timers.pop_due(25), None);
        assert_eq!(timers.get(&a), Some(30));
        timers.clear(&a);
        assert_eq!(timers.first(), None);
    }
}
