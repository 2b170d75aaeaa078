//! Fjord's cluster metadata.
//!
//! Topic metadata (names, ids, partition counts, configs) changes only by appending
//! [`MetadataRecord`]s to a [`MetadataLog`], and the broker's view of it is the
//! [`MetadataImage`] that replaying the log builds. On one node the log is a local file
//! ([`LocalMetadataLog`]); clustering will replace only where the log lives (a
//! replicated log), not how the broker uses it.
//!
//! - [`record`]: the records, serialized as tagged JSON.
//! - [`log`]: the [`MetadataLog`] trait and the single-node file implementation.
//! - [`image`]: the image, cheap to clone for every request to read.
//! - [`topic_config`]: the topic configs Fjord supports, their validation and
//!   DescribeConfigs answers.
//! - [`topic_name`]: Kafka's topic name rules.
//!
//! ```
//! use std::collections::BTreeMap;
//! use fjord_metadata::{ClusterId, LocalMetadataLog, MetadataImage, MetadataLog, MetadataRecord, TopicId};
//!
//! let dir = std::env::temp_dir().join(format!("fjord-metadata-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let mut log = LocalMetadataLog::open(&dir)?;
//! log.append(&[MetadataRecord::ClusterCreated { cluster_id: ClusterId::random()? }])?;
//! log.append(&[MetadataRecord::TopicCreated {
//!     topic_id: TopicId::random()?,
//!     name: "orders".into(),
//!     partitions: 3,
//!     configs: BTreeMap::from([("retention.ms".into(), "86400000".into())]),
//! }])?;
//! drop(log);
//!
//! // At the next start: replay into an image.
//! let mut log = LocalMetadataLog::open(&dir)?;
//! let mut image = MetadataImage::new();
//! for record in log.replay()? {
//!     image.apply(&record).expect("the log holds only consistent records");
//! }
//! assert_eq!(image.topic("orders").map(|t| t.partitions), Some(3));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod error;
mod id;
pub mod image;
pub mod log;
pub mod record;
pub mod topic_config;
pub mod topic_name;

pub use error::{Error, Result};
pub use id::{ClusterId, InvalidId, TopicId};
pub use image::{ApplyError, MetadataImage, TopicImage};
pub use log::{LocalMetadataLog, MetadataLog, Recovery};
pub use record::MetadataRecord;

/// The Kafka error codes this crate's errors map to, for the broker's responses.
pub mod error_code {
    /// `INVALID_TOPIC_EXCEPTION`: the topic name is not allowed.
    pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
    /// `TOPIC_ALREADY_EXISTS`.
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    /// `INVALID_PARTITIONS`: a partition count that is not allowed.
    pub const INVALID_PARTITIONS: i16 = 37;
    /// `INVALID_CONFIG`: an unknown config name or a bad value.
    pub const INVALID_CONFIG: i16 = 40;
}
