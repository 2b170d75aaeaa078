//! Incremental fetch sessions (KIP-227).
//!
//! A consumer that fetches many partitions can open a session: the broker remembers the
//! partitions and their fetch positions, the client then sends only what changed, and
//! the broker answers only partitions with news (data, an error, or a changed high
//! watermark, last stable offset or log start offset). Sessions are bounded in number;
//! when the cache is full the least recently used session is evicted, and its client
//! falls back to a full fetch after FETCH_SESSION_ID_NOT_FOUND.

use std::collections::HashMap;
use std::time::Instant;

use crate::error_code::ErrorCode;

/// Kafka's epoch values with special meaning.
pub(crate) const INITIAL_EPOCH: i32 = 0;
pub(crate) const FINAL_EPOCH: i32 = -1;

/// What a session remembers of one partition.
#[derive(Debug, Clone)]
pub(crate) struct SessionPartition {
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    /// What the last response told the client, to decide whether there is news.
    pub last_high_watermark: i64,
    pub last_stable_offset: i64,
    pub last_log_start_offset: i64,
}

/// A session's partitions, in the order the client first listed them.
#[derive(Debug, Default, Clone)]
pub(crate) struct SessionPartitions {
    pub order: Vec<(String, i32)>,
    pub by_key: HashMap<(String, i32), SessionPartition>,
}

impl SessionPartitions {
    /// Adds or updates a partition.
    pub fn upsert(
        &mut self,
        topic: &str,
        partition: i32,
        fetch_offset: i64,
        partition_max_bytes: i32,
    ) {
        let key = (topic.to_owned(), partition);
        match self.by_key.get_mut(&key) {
            Some(existing) => {
                existing.fetch_offset = fetch_offset;
                existing.partition_max_bytes = partition_max_bytes;
            }
            None => {
                self.order.push(key.clone());
                self.by_key.insert(
                    key,
                    SessionPartition {
                        fetch_offset,
                        partition_max_bytes,
                        last_high_watermark: -1,
                        last_stable_offset: -1,
                        last_log_start_offset: -1,
                    },
                );
            }
        }
    }

    /// Removes a partition the client no longer wants.
    pub fn forget(&mut self, topic: &str, partition: i32) {
        let key = (topic.to_owned(), partition);
        if self.by_key.remove(&key).is_some() {
            self.order.retain(|k| *k != key);
        }
    }
}

struct Session {
    /// The epoch the next request must carry.
    next_epoch: i32,
    partitions: SessionPartitions,
    last_used: Instant,
}

/// The broker's fetch sessions.
pub(crate) struct FetchSessions {
    sessions: HashMap<i32, Session>,
    next_id: i32,
    slots_max: usize,
}

/// What the fetch handler should do with a request, per its session id and epoch.
pub(crate) enum SessionStart {
    /// No session: fetch exactly the partitions in the request, answer all of them.
    Sessionless,
    /// A new session with this id: the request lists every partition; answer all.
    New(i32),
    /// An existing session: its partitions (updated from the request) are fetched and only
    /// those with news are answered.
    Incremental(i32, SessionPartitions),
    /// The request cannot be served; answer with this top-level error.
    Error(ErrorCode),
}

impl FetchSessions {
    /// A cache of at most `slots_max` sessions.
    pub fn new(slots_max: usize) -> FetchSessions {
        FetchSessions {
            sessions: HashMap::new(),
            next_id: 1,
            slots_max,
        }
    }

    /// Starts handling a request with `session_id` and `epoch`.
    pub fn start(&mut self, session_id: i32, epoch: i32) -> SessionStart {
        if epoch == FINAL_EPOCH {
            // Closing (or never having) a session: a full, sessionless fetch.
            self.sessions.remove(&session_id);
            return SessionStart::Sessionless;
        }
        if epoch == INITIAL_EPOCH {
            self.sessions.remove(&session_id);
            if self.slots_max == 0 {
                return SessionStart::Sessionless;
            }
            if self.sessions.len() >= self.slots_max {
                let oldest = self
                    .sessions
                    .iter()
                    .min_by_key(|(_, s)| s.last_used)
                    .map(|(id, _)| *id);
                if let Some(oldest) = oldest {
                    self.sessions.remove(&oldest);
                }
            }
            let id = self.allocate_id();
            self.sessions.insert(
                id,
                Session {
                    next_epoch: 1,
                    partitions: SessionPartitions::default(),
                    last_used: Instant::now(),
                },
            );
            return SessionStart::New(id);
        }
        match self.sessions.get_mut(&session_id) {
            None => SessionStart::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND),
            Some(session) if session.next_epoch != epoch => {
                SessionStart::Error(ErrorCode::INVALID_FETCH_SESSION_EPOCH)
            }
            Some(session) => {
                session.last_used = Instant::now();
                session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
                SessionStart::Incremental(session_id, session.partitions.clone())
            }
        }
    }

    /// Stores a session's partitions after a response.
    pub fn finish(&mut self, session_id: i32, partitions: SessionPartitions) {
        if let Some(session) = self.sessions.get_mut(&session_id) {
            session.partitions = partitions;
            session.last_used = Instant::now();
        }
    }

    fn allocate_id(&mut self) -> i32 {
        loop {
            let id = self.next_id;
            self.next_id = if self.next_id == i32::MAX {
                1
            } else {
                self.next_id + 1
            };
            if !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_follow_kip_227_epochs() {
        let mut sessions = FetchSessions::new(2);
        assert!(matches!(
            sessions.start(0, FINAL_EPOCH),
            SessionStart::Sessionless
        ));
        let SessionStart::New(id) = sessions.start(0, INITIAL_EPOCH) else {
            panic!("expected a new session")
        };
        let mut partitions = SessionPartitions::default();
        partitions.upsert("t", 0, 5, 1024);
        sessions.finish(id, partitions);
        // The next request must carry epoch 1.
        assert!(matches!(
            sessions.start(id, 2),
            SessionStart::Error(ErrorCode::INVALID_FETCH_SESSION_EPOCH)
        ));
        let SessionStart::Incremental(same, partitions) = sessions.start(id, 1) else {
            panic!("expected incremental")
        };
        assert_eq!(same, id);
        assert_eq!(partitions.order, vec![("t".to_owned(), 0)]);
        assert!(matches!(
            sessions.start(999, 1),
            SessionStart::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)
        ));
        // Closing the session makes its id unknown.
        assert!(matches!(
            sessions.start(id, FINAL_EPOCH),
            SessionStart::Sessionless
        ));
        assert!(matches!(
            sessions.start(id, 2),
            SessionStart::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)
        ));
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_session() {
        let mut sessions = FetchSessions::new(1);
        let SessionStart::New(first) = sessions.start(0, INITIAL_EPOCH) else {
            panic!()
        };
        let SessionStart::New(second) = sessions.start(0, INITIAL_EPOCH) else {
            panic!()
        };
        assert_ne!(first, second);
        assert!(matches!(
            sessions.start(first, 1),
            SessionStart::Error(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)
        ));
        assert!(matches!(
            sessions.start(second, 1),
            SessionStart::Incremental(..)
        ));
    }
}
