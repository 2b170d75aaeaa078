//! The coordinator's settings, named after Kafka's broker settings, with Kafka's defaults.

/// The group coordinator's settings.
///
/// Fields carry the names of Kafka's broker settings (`group.min.session.timeout.ms` is
/// `group_min_session_timeout_ms`) and [`Default`] gives Kafka's defaults, so that a Kafka
/// operator finds what they know. The one Fjord-specific limit says its unit last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: the shortest session timeout a member may ask for;
    /// shorter ones get INVALID_SESSION_TIMEOUT.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: the longest session timeout a member may ask for.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members, extended while members keep joining, up to the rebalance
    /// timeout.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`: members per group; more get GROUP_MAX_SIZE_REACHED. It also caps
    /// the members a group holds as pending (KIP-394) at once.
    pub group_max_size: i32,
    /// `offsets.retention.minutes`: how long the offsets of an empty group outlive the
    /// moment it became empty (KIP-211).
    pub offsets_retention_minutes: i32,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are removed.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`: the longest metadata string of a committed offset;
    /// longer ones get OFFSET_METADATA_TOO_LARGE. Like Kafka, the length is counted in
    /// UTF-16 units (Java's `String.length`).
    pub offset_metadata_max_bytes: i32,
    /// Fjord: the largest group metadata record (members' subscriptions and assignments).
    /// It must fit a batch of `__consumer_offsets`; a rebalance that would need a larger
    /// one fails with UNKNOWN_SERVER_ERROR, as Kafka's does when the record is too large
    /// for the log. The default is Kafka's `message.max.bytes`.
    pub group_metadata_record_bytes_max: usize,
    /// `group.consumer.session.timeout.ms`: a consumer group member (KIP-848 protocol)
    /// that does not heartbeat for this long is removed.
    pub group_consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`: how often consumer group members
    /// heartbeat; new assignments reach them at their next heartbeat.
    pub group_consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`: members per consumer group.
    pub group_consumer_max_size: i32,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX,
            offsets_retention_minutes: 10_080,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4_096,
            group_metadata_record_bytes_max: 1_048_588,
            group_consumer_session_timeout_ms: 45_000,
            group_consumer_heartbeat_interval_ms: 5_000,
            group_consumer_max_size: i32::MAX,
        }
    }
}

impl GroupConfig {
    /// Checks the settings against each other and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.group_min_session_timeout_ms < 0 {
            problems.push("group.min.session.timeout.ms must not be negative".to_owned());
        }
        if self.group_max_session_timeout_ms < self.group_min_session_timeout_ms {
            problems.push(format!(
                "group.max.session.timeout.ms ({}) is below group.min.session.timeout.ms ({})",
                self.group_max_session_timeout_ms, self.group_min_session_timeout_ms
            ));
        }
        if self.group_initial_rebalance_delay_ms < 0 {
            problems.push("group.initial.rebalance.delay.ms must not be negative".to_owned());
        }
        if self.group_consumer_heartbeat_interval_ms < 1 {
            problems.push("group.consumer.heartbeat.interval.ms must be at least 1".to_owned());
        }
        if self.group_consumer_session_timeout_ms <= self.group_consumer_heartbeat_interval_ms {
            problems.push(format!(
                "group.consumer.session.timeout.ms ({}) must be above group.consumer.heartbeat.interval.ms ({})",
                self.group_consumer_session_timeout_ms, self.group_consumer_heartbeat_interval_ms
            ));
        }
        if self.group_consumer_max_size < 1 {
            problems.push("group.consumer.max.size must be at least 1".to_owned());
        }
        if self.group_max_size < 1 {
            problems.push("group.max.size must be at least 1".to_owned());
        }
        if self.offsets_retention_minutes < 1 {
            problems.push("offsets.retention.minutes must be at least 1".to_owned());
        }
        if self.offsets_retention_check_interval_ms < 1 {
            problems.push("offsets.retention.check.interval.ms must be at least 1".to_owned());
        }
        if self.offset_metadata_max_bytes < 0 {
            problems.push("offset.metadata.max.bytes must not be negative".to_owned());
        }
        // An empty group's record is about a hundred bytes; anything smaller than this
        // could not even record that a group became empty.
        if self.group_metadata_record_bytes_max < 1024 {
            problems.push("group_metadata_record_bytes_max must be at least 1024".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// `offsets.retention.minutes` in milliseconds.
    pub(crate) fn offsets_retention_ms(&self) -> i64 {
        i64::from(self.offsets_retention_minutes) * 60_000
    }
}

/// Every problem [`GroupConfig::validate`] found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid group coordinator settings: {}", problems.join("; "))]
pub struct ConfigError {
    /// One sentence per problem.
    pub problems: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_defaults_are_valid() {
        assert_eq!(GroupConfig::default().validate(), Ok(()));
        assert_eq!(
            GroupConfig::default().offsets_retention_ms(),
            7 * 24 * 3_600_000
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = GroupConfig {
            group_min_session_timeout_ms: 10,
            group_max_session_timeout_ms: 5,
            group_max_size: 0,
            ..GroupConfig::default()
        };
        let error = config.validate().expect_err("invalid");
        assert_eq!(error.problems.len(), 2, "{error}");
    }
}
