//! The metadata image: the cluster's metadata as of some point in the log.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::id::{ClusterId, TopicId};
use crate::record::MetadataRecord;
use crate::topic_name;

/// One topic as the image holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// The topic's id.
    pub id: TopicId,
    /// The topic's name.
    pub name: Arc<str>,
    /// Its number of partitions, numbered `0..partitions`.
    pub partitions: i32,
    /// Its topic-level config overrides (not the defaults they override); see
    /// [`topic_config`](crate::topic_config) for the effective values.
    pub configs: BTreeMap<String, String>,
}

/// The in-memory state built by applying metadata records in log order.
///
/// Cloning is cheap (a few reference counts), so a broker can publish a new image
/// after every change and let each request read the snapshot it started with. The
/// maps are copied on the first change after a clone (copy-on-write), which costs
/// O(topics) per change: metadata changes are rare next to the reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    cluster_id: Option<ClusterId>,
    topics_by_name: Arc<BTreeMap<Arc<str>, Arc<TopicImage>>>,
    topics_by_id: Arc<BTreeMap<TopicId, Arc<TopicImage>>>,
}

/// A record that does not fit the image it is applied to. The controller checks
/// changes before it appends them, so this means a bug or a damaged log; the image is
/// left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The cluster id was already set.
    #[error("cluster already created with id {existing}, record says {new}")]
    ClusterAlreadyCreated {
        /// The id in the image.
        existing: ClusterId,
        /// The id in the record.
        new: ClusterId,
    },
    /// A topic with this name exists.
    #[error("topic {name} already exists")]
    TopicNameExists {
        /// The name.
        name: String,
    },
    /// A topic with this id exists (ids are never reused).
    #[error("topic id {topic_id} already exists")]
    TopicIdExists {
        /// The id.
        topic_id: TopicId,
    },
    /// The record names a topic name that breaks Kafka's rules.
    #[error(transparent)]
    InvalidTopicName(#[from] topic_name::InvalidTopicName),
    /// No topic has this id.
    #[error("no topic with id {topic_id}")]
    UnknownTopicId {
        /// The id.
        topic_id: TopicId,
    },
    /// A topic must have at least one partition.
    #[error("topic {name} cannot have {partitions} partitions")]
    InvalidPartitionCount {
        /// The topic.
        name: String,
        /// The count in the record.
        partitions: i32,
    },
    /// Partitions can only be added.
    #[error("topic {name} has {current} partitions; {requested} would not be an increase")]
    PartitionsNotIncreased {
        /// The topic.
        name: String,
        /// Its partition count.
        current: i32,
        /// The count in the record.
        requested: i32,
    },
}

impl MetadataImage {
    /// The image of an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one record. On error the image is unchanged, so a caller replaying a
    /// log may log the error and go on: every node skips the same records and reaches
    /// the same image.
    pub fn apply(&mut self, record: &MetadataRecord) -> Result<(), ApplyError> {
        match record {
            MetadataRecord::ClusterCreated { cluster_id } => {
                if let Some(existing) = &self.cluster_id {
                    return Err(ApplyError::ClusterAlreadyCreated {
                        existing: existing.clone(),
                        new: cluster_id.clone(),
                    });
                }
                self.cluster_id = Some(cluster_id.clone());
            }
            MetadataRecord::TopicCreated {
                topic_id,
                name,
                partitions,
                configs,
            } => {
                topic_name::validate(name)?;
                if self.topics_by_name.contains_key(name.as_str()) {
                    return Err(ApplyError::TopicNameExists { name: name.clone() });
                }
                if self.topics_by_id.contains_key(topic_id) {
                    return Err(ApplyError::TopicIdExists {
                        topic_id: *topic_id,
                    });
                }
                if *partitions < 1 {
                    return Err(ApplyError::InvalidPartitionCount {
                        name: name.clone(),
                        partitions: *partitions,
                    });
                }
                self.insert(TopicImage {
                    id: *topic_id,
                    name: Arc::from(name.as_str()),
                    partitions: *partitions,
                    configs: configs.clone(),
                });
            }
            MetadataRecord::TopicDeleted { topic_id } => {
                let topic = self.existing(topic_id)?;
                let name = Arc::clone(&topic.name);
                Arc::make_mut(&mut self.topics_by_id).remove(topic_id);
                Arc::make_mut(&mut self.topics_by_name).remove(&name);
            }
            MetadataRecord::PartitionsCreated {
                topic_id,
                partition_count,
            } => {
                let topic = self.existing(topic_id)?;
                if *partition_count <= topic.partitions {
                    return Err(ApplyError::PartitionsNotIncreased {
                        name: topic.name.to_string(),
                        current: topic.partitions,
                        requested: *partition_count,
                    });
                }
                let mut topic = topic.clone();
                topic.partitions = *partition_count;
                self.insert(topic);
            }
            MetadataRecord::TopicConfigsChanged {
                topic_id,
                set,
                deleted,
            } => {
                let mut topic = self.existing(topic_id)?.clone();
                for name in deleted {
                    topic.configs.remove(name);
                }
                topic
                    .configs
                    .extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
                self.insert(topic);
            }
        }
        Ok(())
    }

    /// The cluster id, once the log's first record has been applied.
    pub fn cluster_id(&self) -> Option<&ClusterId> {
        self.cluster_id.as_ref()
    }

    /// The topic with this name.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics_by_name.get(name)
    }

    /// The topic with this id.
    pub fn topic_by_id(&self, topic_id: &TopicId) -> Option<&Arc<TopicImage>> {
        self.topics_by_id.get(topic_id)
    }

    /// Every topic, in name order.
    pub fn topics(&self) -> impl ExactSizeIterator<Item = &Arc<TopicImage>> {
        self.topics_by_name.values()
    }

    /// How many topics exist.
    pub fn topic_count(&self) -> usize {
        self.topics_by_name.len()
    }

    /// Checks a name for a new topic against this image, as Kafka's controller does
    /// in CreateTopics (see [`topic_name::check_new_topic`]).
    pub fn check_new_topic_name(&self, name: &str) -> Result<(), topic_name::NewTopicNameError> {
        topic_name::check_new_topic(name, self.topics_by_name.keys().map(|k| &**k))
    }

    fn existing(&self, topic_id: &TopicId) -> Result<&TopicImage, ApplyError> {
        self.topics_by_id
            .get(topic_id)
            .map(|t| &**t)
            .ok_or(ApplyError::UnknownTopicId {
                topic_id: *topic_id,
            })
    }

    /// Inserts or replaces a topic in both maps.
    fn insert(&mut self, topic: TopicImage) {
        let topic = Arc::new(topic);
        Arc::make_mut(&mut self.topics_by_name).insert(Arc::clone(&topic.name), Arc::clone(&topic));
        Arc::make_mut(&mut self.topics_by_id).insert(topic.id, topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TopicId {
        TopicId::from_bytes([n; 16])
    }

    fn created(n: u8, name: &str, partitions: i32) -> MetadataRecord {
        MetadataRecord::TopicCreated {
            topic_id: id(n),
            name: name.into(),
            partitions,
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn applies_topic_lifecycle() -> Result<(), ApplyError> {
        let mut image = MetadataImage::new();
        image.apply(&MetadataRecord::ClusterCreated {
            cluster_id: ClusterId::new("c1"),
        })?;
        image.apply(&created(1, "orders", 3))?;
        image.apply(&created(2, "payments", 1))?;
        image.apply(&MetadataRecord::PartitionsCreated {
            topic_id: id(1),
            partition_count: 6,
        })?;
        image.apply(&MetadataRecord::TopicConfigsChanged {
            topic_id: id(1),
            set: BTreeMap::from([
                ("retention.ms".into(), "1000".into()),
                ("cleanup.policy".into(), "compact".into()),
            ]),
            deleted: vec![],
        })?;
        image.apply(&MetadataRecord::TopicConfigsChanged {
            topic_id: id(1),
            set: BTreeMap::from([("retention.ms".into(), "2000".into())]),
            deleted: vec!["cleanup.policy".into(), "retention.ms".into()],
        })?;

        assert_eq!(image.cluster_id().map(ClusterId::as_str), Some("c1"));
        let orders = image.topic("orders").expect("orders exists");
        assert_eq!(orders.partitions, 6);
        assert_eq!(
            orders.configs,
            BTreeMap::from([("retention.ms".into(), "2000".into())])
        );
        assert_eq!(image.topic_by_id(&id(1)), Some(orders));
        let names: Vec<&str> = image.topics().map(|t| &*t.name).collect();
        assert_eq!(names, ["orders", "payments"]);

        image.apply(&MetadataRecord::TopicDeleted { topic_id: id(1) })?;
        assert!(image.topic("orders").is_none());
        assert!(image.topic_by_id(&id(1)).is_none());
        assert_eq!(image.topic_count(), 1);
        // The name is free again, under a new id.
        image.apply(&created(3, "orders", 1))?;
        assert_eq!(image.topic("orders").map(|t| t.id), Some(id(3)));
        Ok(())
    }

    #[test]
    fn inconsistent_records_leave_the_image_unchanged() -> Result<(), ApplyError> {
        let mut image = MetadataImage::new();
        image.apply(&MetadataRecord::ClusterCreated {
            cluster_id: ClusterId::new("c1"),
        })?;
        image.apply(&created(1, "orders", 3))?;
        let before = image.clone();
        let bad = [
            MetadataRecord::ClusterCreated {
                cluster_id: ClusterId::new("c2"),
            },
            created(1, "other", 1),
            created(2, "orders", 1),
            created(2, "bad name", 1),
            created(2, "zero", 0),
            MetadataRecord::TopicDeleted { topic_id: id(9) },
            MetadataRecord::PartitionsCreated {
                topic_id: id(1),
                partition_count: 3,
            },
            MetadataRecord::PartitionsCreated {
                topic_id: id(9),
                partition_count: 3,
            },
            MetadataRecord::TopicConfigsChanged {
                topic_id: id(9),
                set: BTreeMap::new(),
                deleted: vec![],
            },
        ];
        for record in &bad {
            assert!(image.apply(record).is_err(), "{record:?}");
            assert_eq!(image, before, "{record:?}");
        }
        Ok(())
    }

    #[test]
    fn clones_are_snapshots() -> Result<(), ApplyError> {
        let mut image = MetadataImage::new();
        image.apply(&created(1, "orders", 3))?;
        let snapshot = image.clone();
        image.apply(&MetadataRecord::PartitionsCreated {
            topic_id: id(1),
            partition_count: 4,
        })?;
        assert_eq!(snapshot.topic("orders").map(|t| t.partitions), Some(3));
        assert_eq!(image.topic("orders").map(|t| t.partitions), Some(4));
        Ok(())
    }

    #[test]
    fn new_topic_names_are_checked_against_the_image() -> Result<(), ApplyError> {
        let mut image = MetadataImage::new();
        image.apply(&created(1, "orders.eu", 3))?;
        assert!(image.check_new_topic_name("orders.us").is_ok());
        assert_eq!(
            image
                .check_new_topic_name("orders.eu")
                .map_err(|e| e.error_code()),
            Err(36)
        );
        assert_eq!(
            image
                .check_new_topic_name("orders_eu")
                .map_err(|e| e.error_code()),
            Err(17)
        );
        Ok(())
    }
}
