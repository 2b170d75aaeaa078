//! Topics: the metadata log and image, and the partitions each topic owns.
//!
//! Every change (create, delete, add partitions, alter configs) is first appended to the
//! metadata log, which fsyncs, then applied to the in-memory image, then to the live
//! partitions. At startup the log is replayed into the image and the partitions are
//! opened from it, so the metadata log is the one source of truth about which topics
//! exist. Clustering will later replace where that log lives, not this flow.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use fjord_metadata::topic_config::{self, BrokerDefaults, TopicConfig};
use fjord_metadata::{
    ClusterId, LocalMetadataLog, MetadataImage, MetadataLog, MetadataRecord, TopicId,
};
use fjord_protocol::Uuid;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::error_code::ErrorCode;
use crate::partition::Partition;
use crate::{Broker, BrokerConfig, BrokerError};

/// Partitions a topic may have. Each is a directory with open files, so there is a bound.
const TOPIC_PARTITIONS_MAX: i32 = 10_000;

/// A topic as the handlers see it.
pub(crate) struct Topic {
    pub name: String,
    pub id: Uuid,
    pub internal: bool,
    /// The topic's own config overrides (not the broker defaults).
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<Arc<Partition>>,
}

impl Topic {
    /// The partition with this index, if the topic has it.
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
            .cloned()
    }
}

/// A topic-level failure: the Kafka error code and a message for the client.
#[derive(Debug, Clone)]
pub(crate) struct TopicError {
    pub code: ErrorCode,
    pub message: String,
}

impl TopicError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> TopicError {
        TopicError {
            code,
            message: message.into(),
        }
    }
}

/// A topic to create.
pub(crate) struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

/// One config of a topic as DescribeConfigs and CreateTopics report it.
pub(crate) struct ConfigEntryView {
    pub name: String,
    pub value: Option<String>,
    pub read_only: bool,
    /// Kafka's ConfigSource id.
    pub source: i8,
    pub sensitive: bool,
}

#[derive(Default)]
struct Live {
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

/// The broker's topics.
pub(crate) struct Topics {
    data_dir: PathBuf,
    defaults: BrokerDefaults,
    node_id: i32,
    num_partitions: i32,
    appended: Arc<Notify>,
    cluster_id: String,
    /// One writer of the metadata log at a time; held across the whole change, so that
    /// two creations of the same name cannot both pass validation.
    log: tokio::sync::Mutex<LocalMetadataLog>,
    image: RwLock<MetadataImage>,
    live: RwLock<Live>,
}

fn to_uuid(id: &TopicId) -> Uuid {
    Uuid(*id.as_bytes())
}

fn metadata_error(error: impl std::fmt::Display) -> BrokerError {
    BrokerError::Metadata(error.to_string())
}

impl Topics {
    /// Replays the metadata log and opens every partition it names.
    pub async fn open(config: &BrokerConfig, appended: Arc<Notify>) -> Result<Topics, BrokerError> {
        let metadata_dir = config.data_dir.join("metadata");
        let (log, image) = tokio::task::spawn_blocking(move || -> Result<_, BrokerError> {
            let mut log = LocalMetadataLog::open(&metadata_dir).map_err(metadata_error)?;
            let recovery = log.recovery().clone();
            if recovery.truncated_bytes > 0 {
                warn!(
                    bytes = recovery.truncated_bytes,
                    reason = recovery.truncated_reason.as_deref().unwrap_or(""),
                    "metadata log: dropped a torn tail"
                );
            }
            let mut image = MetadataImage::new();
            for record in log.replay().map_err(metadata_error)? {
                // Every node skips the same invalid records, so images stay equal.
                if let Err(error) = image.apply(&record) {
                    warn!(%error, "metadata log: skipped a record that does not apply");
                }
            }
            if image.cluster_id().is_none() {
                let cluster_id = ClusterId::random().map_err(metadata_error)?;
                let record = MetadataRecord::ClusterCreated { cluster_id };
                log.append(std::slice::from_ref(&record))
                    .map_err(metadata_error)?;
                image.apply(&record).map_err(metadata_error)?;
            }
            Ok((log, image))
        })
        .await
        .map_err(metadata_error)??;

        let cluster_id = image
            .cluster_id()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        let topics = Topics {
            data_dir: config.data_dir.clone(),
            defaults: config.topic_defaults.clone(),
            node_id: config.node_id,
            num_partitions: config.num_partitions,
            appended,
            cluster_id,
            log: tokio::sync::Mutex::new(log),
            image: RwLock::new(MetadataImage::new()),
            live: RwLock::new(Live::default()),
        };
        let topic_images: Vec<_> = image.topics().cloned().collect();
        for topic in topic_images {
            let live = topics
                .open_topic(
                    &topic.name,
                    to_uuid(&topic.id),
                    topic.partitions,
                    &topic.configs,
                )
                .await?;
            topics.insert(live);
        }
        topics.remove_stray_partitions(&image);
        if let Ok(mut current) = topics.image.write() {
            *current = image;
        }
        Ok(topics)
    }

    /// Opens the partitions of a topic (creating their directories if needed).
    async fn open_topic(
        &self,
        name: &str,
        id: Uuid,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<Topic, BrokerError> {
        let effective = TopicConfig::resolve(configs, &self.defaults);
        let mut opened = Vec::with_capacity(usize::try_from(partitions).unwrap_or(0));
        for index in 0..partitions {
            let dir = self.partition_dir(name, index);
            let partition = Partition::open(
                dir,
                name.to_owned(),
                id,
                index,
                self.node_id,
                &effective,
                self.appended.clone(),
            )
            .await
            .map_err(|message| BrokerError::Partition {
                topic: name.to_owned(),
                partition: index,
                message,
            })?;
            opened.push(partition);
        }
        Ok(Topic {
            name: name.to_owned(),
            id,
            internal: fjord_metadata::topic_name::is_internal(name),
            configs: configs.clone(),
            partitions: opened,
        })
    }

    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{index}"))
    }

    fn insert(&self, topic: Topic) {
        let topic = Arc::new(topic);
        if let Ok(mut live) = self.live.write() {
            live.by_id.insert(topic.id, topic.clone());
            live.by_name.insert(topic.name.clone(), topic);
        }
    }

    /// Deletes partition directories that no topic owns: leftovers of a topic deleted
    /// while the broker was down, or of a creation that crashed before its metadata
    /// record was written.
    fn remove_stray_partitions(&self, image: &MetadataImage) {
        let Ok(entries) = std::fs::read_dir(&self.data_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some((topic, index)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(index) = index.parse::<i32>() else {
                continue;
            };
            let owned = image.topic(topic).is_some_and(|t| index < t.partitions)
                && Partition::belongs_to(&path, image.topic(topic).map(|t| to_uuid(&t.id)));
            if !owned {
                info!(dir = %path.display(), "removing a partition directory no topic owns");
                if let Err(error) = std::fs::remove_dir_all(&path) {
                    warn!(dir = %path.display(), %error, "cannot remove stray partition directory");
                }
            }
        }
    }

    /// Flushes and closes every partition.
    pub async fn close(&self) {
        let topics: Vec<Arc<Topic>> = self
            .live
            .read()
            .map(|l| l.by_name.values().cloned().collect())
            .unwrap_or_default();
        let _ = tokio::task::spawn_blocking(move || {
            for topic in topics {
                for partition in &topic.partitions {
                    partition.close();
                }
            }
        })
        .await;
    }

    /// Validates and creates a topic; with `validate_only`, stops after validation.
    pub async fn create(
        &self,
        new_topic: NewTopic,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let mut log = self.log.lock().await;
        let name_check = match self.image.read() {
            Ok(image) => image.check_new_topic_name(&new_topic.name),
            Err(_) => Ok(()),
        };
        if let Err(error) = name_check {
            return Err(TopicError::new(
                ErrorCode(error.error_code()),
                error.to_string(),
            ));
        }
        if new_topic.partitions < 1 || new_topic.partitions > TOPIC_PARTITIONS_MAX {
            return Err(TopicError::new(
                ErrorCode::INVALID_PARTITIONS,
                format!("Number of partitions must be between 1 and {TOPIC_PARTITIONS_MAX}."),
            ));
        }
        self.validate_configs(&new_topic.configs)?;
        if validate_only {
            return Ok(Arc::new(Topic {
                name: new_topic.name,
                id: Uuid::ZERO,
                internal: false,
                configs: new_topic.configs,
                partitions: Vec::new(),
            }));
        }
        let topic_id = TopicId::random()
            .map_err(|e| TopicError::new(ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
        let record = MetadataRecord::TopicCreated {
            topic_id,
            name: new_topic.name.clone(),
            partitions: new_topic.partitions,
            configs: new_topic.configs.clone(),
        };
        // The record is durable before any partition exists: a crash in between leaves a
        // topic whose partitions are created at the next start, never partitions without
        // a topic.
        append_blocking(&mut log, record.clone()).await?;
        if let Ok(mut image) = self.image.write()
            && let Err(error) = image.apply(&record)
        {
            return Err(TopicError::new(
                ErrorCode::UNKNOWN_SERVER_ERROR,
                error.to_string(),
            ));
        }
        let topic = self
            .open_topic(
                &new_topic.name,
                to_uuid(&topic_id),
                new_topic.partitions,
                &new_topic.configs,
            )
            .await
            .map_err(|e| TopicError::new(ErrorCode::KAFKA_STORAGE_ERROR, e.to_string()))?;
        info!(topic = %new_topic.name, partitions = new_topic.partitions, "created topic");
        self.insert(topic);
        drop(log);
        self.get(&new_topic.name).ok_or_else(|| {
            TopicError::new(
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "topic vanished after creation",
            )
        })
    }

    /// Deletes a topic: the record first, then the partitions' directories.
    pub async fn delete(&self, name: &str) -> Result<Uuid, TopicError> {
        let mut log = self.log.lock().await;
        let topic = self.existing(name)?;
        let record = MetadataRecord::TopicDeleted {
            topic_id: TopicId::from_bytes(topic.id.0),
        };
        self.commit(&mut log, record).await?;
        if let Ok(mut live) = self.live.write() {
            live.by_name.remove(&topic.name);
            live.by_id.remove(&topic.id);
        }
        let partitions = topic.partitions.clone();
        tokio::task::spawn_blocking(move || {
            for partition in partitions {
                partition.delete();
            }
        })
        .await
        .map_err(|e| TopicError::new(ErrorCode::KAFKA_STORAGE_ERROR, e.to_string()))?;
        info!(topic = %name, "deleted topic");
        Ok(topic.id)
    }

    /// Grows a topic to `count` partitions.
    pub async fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let mut log = self.log.lock().await;
        let topic = self.existing(name)?;
        let current = topic.partitions.len() as i32;
        if count < current {
            return Err(TopicError::new(
                ErrorCode::INVALID_PARTITIONS,
                format!(
                    "Topic currently has {current} partitions, which is higher than the requested {count}."
                ),
            ));
        }
        if count == current {
            return Err(TopicError::new(
                ErrorCode::INVALID_PARTITIONS,
                format!("Topic already has {current} partitions."),
            ));
        }
        if count > TOPIC_PARTITIONS_MAX {
            return Err(TopicError::new(
                ErrorCode::INVALID_PARTITIONS,
                format!("Number of partitions must be at most {TOPIC_PARTITIONS_MAX}."),
            ));
        }
        if validate_only {
            return Ok(());
        }
        let record = MetadataRecord::PartitionsCreated {
            topic_id: TopicId::from_bytes(topic.id.0),
            partition_count: count,
        };
        self.commit(&mut log, record).await?;
        let effective = TopicConfig::resolve(&topic.configs, &self.defaults);
        let mut partitions = topic.partitions.clone();
        for index in current..count {
            let partition = Partition::open(
                self.partition_dir(name, index),
                name.to_owned(),
                topic.id,
                index,
                self.node_id,
                &effective,
                self.appended.clone(),
            )
            .await
            .map_err(|message| TopicError::new(ErrorCode::KAFKA_STORAGE_ERROR, message))?;
            partitions.push(partition);
        }
        self.insert(Topic {
            partitions,
            ..topic_clone(&topic)
        });
        info!(topic = %name, partitions = count, "added partitions");
        Ok(())
    }

    /// Replaces a topic's config overrides with `configs`.
    pub async fn set_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let mut log = self.log.lock().await;
        let topic = self.existing(name)?;
        self.validate_configs(&configs)?;
        if validate_only || configs == topic.configs {
            return Ok(());
        }
        let deleted = topic
            .configs
            .keys()
            .filter(|k| !configs.contains_key(*k))
            .cloned()
            .collect();
        let set = configs
            .iter()
            .filter(|(k, v)| topic.configs.get(*k) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let record = MetadataRecord::TopicConfigsChanged {
            topic_id: TopicId::from_bytes(topic.id.0),
            set,
            deleted,
        };
        self.commit(&mut log, record).await?;
        let effective = TopicConfig::resolve(&configs, &self.defaults);
        for partition in &topic.partitions {
            partition.set_config(&effective);
        }
        self.insert(Topic {
            configs,
            ..topic_clone(&topic)
        });
        info!(topic = %name, "changed topic configs");
        Ok(())
    }

    /// The live topic of this name, or UNKNOWN_TOPIC_OR_PARTITION.
    fn existing(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        self.get(name).ok_or_else(|| {
            TopicError::new(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("Topic '{name}' does not exist."),
            )
        })
    }

    /// Checks config overrides against the table, naming every problem.
    fn validate_configs(&self, configs: &BTreeMap<String, String>) -> Result<(), TopicError> {
        topic_config::validate_topic_configs_with(configs, &self.defaults).map_err(|errors| {
            let message = errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            TopicError::new(ErrorCode::INVALID_CONFIG, message)
        })
    }

    /// Appends a record durably and applies it to the image.
    async fn commit(
        &self,
        log: &mut LocalMetadataLog,
        record: MetadataRecord,
    ) -> Result<(), TopicError> {
        append_blocking(log, record.clone()).await?;
        if let Ok(mut image) = self.image.write() {
            image
                .apply(&record)
                .map_err(|e| TopicError::new(ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
        }
        Ok(())
    }

    /// The live topic of this name.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.live.read().ok()?.by_name.get(name).cloned()
    }

    /// The live topic with this id.
    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.live.read().ok()?.by_id.get(&id).cloned()
    }

    /// Every live topic, by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<Arc<Topic>> = self
            .live
            .read()
            .map(|l| l.by_name.values().cloned().collect())
            .unwrap_or_default();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }
}

/// A copy of a topic's description sharing its partitions, to build a changed version.
fn topic_clone(topic: &Topic) -> Topic {
    Topic {
        name: topic.name.clone(),
        id: topic.id,
        internal: topic.internal,
        configs: topic.configs.clone(),
        partitions: topic.partitions.clone(),
    }
}

/// Appends one record on a blocking thread (it fsyncs).
async fn append_blocking(
    log: &mut LocalMetadataLog,
    record: MetadataRecord,
) -> Result<(), TopicError> {
    // The log is borrowed from the async mutex guard; block_in_place keeps that borrow
    // while the fsync runs off the async scheduler's hot path.
    tokio::task::block_in_place(|| log.append(std::slice::from_ref(&record)))
        .map(|_| ())
        .map_err(|error| TopicError::new(ErrorCode::KAFKA_STORAGE_ERROR, error.to_string()))
}

/// Checks a topic name against Kafka's rules, for requests that name a missing topic.
pub(crate) fn validate_name(name: &str) -> Result<(), TopicError> {
    fjord_metadata::topic_name::validate(name)
        .map_err(|error| TopicError::new(ErrorCode::INVALID_TOPIC_EXCEPTION, error.to_string()))
}

impl Broker {
    /// The live topic of this name.
    pub(crate) fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.get(name)
    }

    /// The live topic with this id.
    pub(crate) fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.get_by_id(id)
    }

    /// Every live topic, by name.
    pub(crate) fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.all()
    }

    /// The cluster id, made once at the first start.
    pub(crate) fn cluster_id(&self) -> &str {
        &self.topics.cluster_id
    }

    /// Creates a topic as CreateTopics asks.
    pub(crate) async fn create_topic(
        &self,
        new_topic: NewTopic,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        self.topics.create(new_topic, validate_only).await
    }

    /// Creates a topic a client asked for by Metadata or Produce, with `num.partitions`.
    pub(crate) async fn auto_create_topic(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        validate_name(name)?;
        let new_topic = NewTopic {
            name: name.to_owned(),
            partitions: self.topics.num_partitions,
            configs: BTreeMap::new(),
        };
        match self.topics.create(new_topic, false).await {
            Ok(topic) => Ok(topic),
            // Another request created it first.
            Err(error) if error.code == ErrorCode::TOPIC_ALREADY_EXISTS => {
                self.topic(name).ok_or(error)
            }
            Err(error) => Err(error),
        }
    }

    /// Deletes a topic by name.
    pub(crate) async fn delete_topic(&self, name: &str) -> Result<Uuid, TopicError> {
        self.topics.delete(name).await
    }

    /// Grows a topic to `count` partitions.
    pub(crate) async fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        self.topics.add_partitions(name, count, validate_only).await
    }

    /// Replaces a topic's config overrides.
    pub(crate) async fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        self.topics.set_configs(name, configs, validate_only).await
    }

    /// The broker-wide defaults of topic configs.
    pub(crate) fn topic_defaults(&self) -> &BrokerDefaults {
        &self.topics.defaults
    }

    /// Every config of a topic with these overrides, with sources, for describe answers.
    pub(crate) fn describe_topic_configs(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<ConfigEntryView> {
        topic_config::describe_topic_configs(overrides, &self.topics.defaults)
            .into_iter()
            .map(|entry| ConfigEntryView {
                name: entry.name.to_owned(),
                value: entry.value,
                read_only: entry.read_only,
                source: entry.source.id(),
                sensitive: entry.sensitive,
            })
            .collect()
    }
}
