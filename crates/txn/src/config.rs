//! The coordinator's settings, named after Kafka's broker settings, with Kafka's defaults.

/// The transaction coordinator's settings.
///
/// Fields carry the names of Kafka's broker settings (`transaction.max.timeout.ms` is
/// `transaction_max_timeout_ms`) and [`Default`] gives Kafka's defaults. The one
/// Fjord-specific setting says its unit last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may
    /// ask for in InitProducerId; longer ones get INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: a transactional id whose last transaction ended
    /// (or whose InitProducerId was) this long ago is removed.
    pub transactional_id_expiration_ms: i64,
    /// `offsets.topic.num.partitions`: the partitions of `__consumer_offsets`, which
    /// AddOffsetsToTxn needs to name the group's partition.
    pub offsets_topic_num_partitions: i32,
    /// Fjord: when fewer producer ids than this are left of the blocks granted,
    /// [`Output::producer_ids_wanted`](crate::Output::producer_ids_wanted) asks the runtime
    /// for another block, before the last one runs out.
    pub producer_ids_low_water_count: i64,
    /// Fjord: the largest `__transaction_state` record, which grows with the partitions
    /// of a transaction. It must fit a batch of the topic; an AddPartitionsToTxn or
    /// AddOffsetsToTxn that would need a larger one fails with UNKNOWN_SERVER_ERROR and
    /// changes nothing, which is what Kafka answers when its record is too large for the
    /// log. The default is Kafka's `message.max.bytes`.
    pub transaction_state_record_bytes_max: usize,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            offsets_topic_num_partitions: 50,
            producer_ids_low_water_count: 100,
            transaction_state_record_bytes_max: 1_048_588,
        }
    }
}

impl TxnConfig {
    /// Checks the settings and reports every problem at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.transaction_max_timeout_ms < 1 {
            problems.push("transaction.max.timeout.ms must be at least 1".to_owned());
        }
        if self.transactional_id_expiration_ms < 1 {
            problems.push("transactional.id.expiration.ms must be at least 1".to_owned());
        }
        if self.offsets_topic_num_partitions < 1 {
            problems.push("offsets.topic.num.partitions must be at least 1".to_owned());
        }
        if self.producer_ids_low_water_count < 0 {
            problems.push("producer_ids_low_water_count must not be negative".to_owned());
        }
        if self.transaction_state_record_bytes_max < 1_024 {
            problems.push(
                "transaction_state_record_bytes_max must be at least 1024 (a record of one partition)"
                    .to_owned(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }
}

/// Settings that do not fit together; every problem found, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid transaction coordinator settings: {}", problems.join("; "))]
pub struct ConfigError {
    /// One sentence per problem.
    pub problems: Vec<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_every_problem_is_reported() {
        assert_eq!(TxnConfig::default().validate(), Ok(()));
        let config = TxnConfig {
            transaction_max_timeout_ms: 0,
            offsets_topic_num_partitions: 0,
            ..TxnConfig::default()
        };
        let error = config.validate().unwrap_err();
        assert_eq!(error.problems.len(), 2);
    }
}
