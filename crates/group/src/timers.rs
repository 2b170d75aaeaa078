//! Every deadline of the coordinator in one ordered index, so that the next one is found
//! in O(log n) however many groups and members there are.
//!
//! Each timer has a key that names what it is for; setting a key again moves its
//! deadline. Owners do not keep deadlines themselves: one copy cannot go stale.

use std::collections::{BTreeMap, BTreeSet};

/// What a deadline is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// A member's session: it expires unless the member heartbeats (Kafka's
    /// DelayedHeartbeat). New members use it for their join timeout.
    Session { group: String, member: String },
    /// A member id handed out with MEMBER_ID_REQUIRED that has not joined yet.
    PendingMember { group: String, member: String },
    /// The end of the join phase (Kafka's DelayedJoin and InitialDelayedJoin).
    Join { group: String },
    /// The end of the sync phase: members that never sent SyncGroup are removed
    /// (Kafka's DelayedSync).
    Sync { group: String },
    /// The periodic removal of expired offsets and dead groups.
    OffsetsExpiry,
    /// A consumer group member's session (KIP-848 protocol).
    ConsumerSession { group: String, member: String },
    /// The deadline of a consumer group member to revoke partitions (its rebalance
    /// timeout).
    ConsumerRevocation { group: String, member: String },
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

    /// The deadline of `timer`, if armed.
    pub(crate) fn get_deadline(&self, timer: &Timer) -> Option<i64> {
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

    /// Panics if the two indexes disagree.
    #[cfg(debug_assertions)]
    pub(crate) fn check_invariants(&self) {
        assert_eq!(self.by_deadline.len(), self.by_timer.len());
        for (deadline, timer) in &self.by_deadline {
            assert_eq!(self.by_timer.get(timer), Some(deadline));
        }
    }

    /// Every armed timer.
    #[cfg(debug_assertions)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Timer, i64)> {
        self.by_timer
            .iter()
            .map(|(timer, deadline)| (timer, *deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_again_moves_the_deadline() {
        let mut timers = Timers::default();
        let join = Timer::Join { group: "g".into() };
        timers.set(join.clone(), 10);
        timers.set(Timer::OffsetsExpiry, 20);
        timers.set(join.clone(), 30);
        assert_eq!(timers.first(), Some(20));
        assert_eq!(timers.pop_due(25), Some(Timer::OffsetsExpiry));
        assert_eq!(timers.pop_due(25), None);
        assert_eq!(timers.get(&join), Some(30));
        timers.clear(&join);
        assert_eq!(timers.first(), None);
    }
}
