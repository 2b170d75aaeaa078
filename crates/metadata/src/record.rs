//! Metadata records: the changes the metadata log holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::{ClusterId, TopicId};

/// One change to the cluster's metadata. The metadata log is a sequence of these, and
/// the [`MetadataImage`](crate::MetadataImage) is what applying them in order gives.
///
/// Records are facts that were decided, not requests: the controller checks a change
/// against the image before it appends the record, and every node that replays the log
/// reaches the same image.
///
/// # Evolving the format
/// Records are stored as JSON objects tagged with `"type"` (the variant name), inside an
/// entry that carries a format version (see [`LocalMetadataLog`](crate::LocalMetadataLog)).
/// Within one version, a field may be added only with `#[serde(default)]`, so older
/// logs still read; a variant may be added, and an older binary then refuses the log
/// instead of misreading it. Anything else needs a new entry version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum MetadataRecord {
    /// The cluster came into being; written once, first, when the metadata log is
    /// created.
    ClusterCreated {
        /// The id clients see in Metadata responses.
        cluster_id: ClusterId,
    },

    /// A topic was created.
    TopicCreated {
        /// Its new, never reused id.
        topic_id: TopicId,
        /// Its name, valid by [`topic_name::validate`](crate::topic_name::validate).
        name: String,
        /// How many partitions it starts with (at least 1).
        partitions: i32,
        /// Its topic-level config overrides, validated by
        /// [`validate_topic_configs`](crate::topic_config::validate_topic_configs).
        #[serde(default)]
        configs: BTreeMap<String, String>,
    },

    /// A topic was deleted. Its name is free again; its id is not reused.
    TopicDeleted {
        /// The deleted topic.
        topic_id: TopicId,
    },

    /// Partitions were added to a topic (CreatePartitions). Kafka never removes
    /// partitions.
    PartitionsCreated {
        /// The topic.
        topic_id: TopicId,
        /// The new total number of partitions, more than before.
        partition_count: i32,
    },

    /// A topic's config overrides changed (AlterConfigs, IncrementalAlterConfigs).
    TopicConfigsChanged {
        /// The topic.
        topic_id: TopicId,
        /// Overrides set to these values, added or replaced.
        #[serde(default)]
        set: BTreeMap<String, String>,
        /// Overrides removed, so that the broker default applies again. Applied before
        /// `set`, so a name in both ends up set.
        #[serde(default)]
        deleted: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_is_stable() -> Result<(), serde_json::Error> {
        let record = MetadataRecord::TopicCreated {
            topic_id: TopicId::ONE,
            name: "orders".into(),
            partitions: 3,
            configs: BTreeMap::from([("retention.ms".into(), "1000".into())]),
        };
        let json = serde_json::to_string(&record)?;
        assert_eq!(
            json,
            r#"{"type":"TopicCreated","topic_id":"AAAAAAAAAAAAAAAAAAAAAQ","name":"orders","partitions":3,"configs":{"retention.ms":"1000"}}"#
        );
        assert_eq!(serde_json::from_str::<MetadataRecord>(&json)?, record);
        Ok(())
    }

    #[test]
    fn defaulted_fields_may_be_absent() -> Result<(), serde_json::Error> {
        let record: MetadataRecord = serde_json::from_str(
            r#"{"type":"TopicConfigsChanged","topic_id":"AAAAAAAAAAAAAAAAAAAAAQ"}"#,
        )?;
        assert_eq!(
            record,
            MetadataRecord::TopicConfigsChanged {
                topic_id: TopicId::ONE,
                set: BTreeMap::new(),
                deleted: Vec::new(),
            }
        );
        Ok(())
    }

    #[test]
    fn unknown_types_are_refused() {
        let result =
            serde_json::from_str::<MetadataRecord>(r#"{"type":"BrokerRegistered","broker_id":1}"#);
        assert!(result.is_err());
    }
}
