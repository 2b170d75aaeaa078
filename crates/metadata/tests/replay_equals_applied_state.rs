//! The image a broker builds at startup by replaying the metadata log equals the image
//! it had built by applying the same records as it appended them.

use std::collections::BTreeMap;

use fjord_metadata::{
    ClusterId, LocalMetadataLog, MetadataImage, MetadataLog, MetadataRecord, TopicId,
};
use proptest::prelude::*;

fn apply_all(records: &[MetadataRecord]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for record in records {
        // Inconsistent records are skipped by every replay alike.
        let _ = image.apply(record);
    }
    image
}

#[test]
fn a_topic_lifecycle_survives_reopen() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let orders = TopicId::random()?;
    let records = vec![
        MetadataRecord::ClusterCreated {
            cluster_id: ClusterId::random()?,
        },
        MetadataRecord::TopicCreated {
            topic_id: orders,
            name: "orders".into(),
            partitions: 3,
            configs: BTreeMap::from([("cleanup.policy".into(), "compact".into())]),
        },
        MetadataRecord::PartitionsCreated {
            topic_id: orders,
            partition_count: 12,
        },
        MetadataRecord::TopicConfigsChanged {
            topic_id: orders,
            set: BTreeMap::from([("retention.ms".into(), "-1".into())]),
            deleted: vec!["cleanup.policy".into()],
        },
    ];

    let mut applied = MetadataImage::new();
    let mut log = LocalMetadataLog::open(dir.path())?;
    for record in &records {
        log.append(std::slice::from_ref(record))?;
        applied.apply(record)?;
    }
    drop(log);

    let mut log = LocalMetadataLog::open(dir.path())?;
    let replayed = log.replay()?;
    assert_eq!(replayed, records);
    let mut image = MetadataImage::new();
    for record in &replayed {
        image.apply(record)?;
    }
    assert_eq!(image, applied);
    let topic = image.topic("orders").ok_or("orders missing")?;
    assert_eq!(topic.partitions, 12);
    assert_eq!(
        topic.configs,
        BTreeMap::from([("retention.ms".to_owned(), "-1".to_owned())])
    );
    Ok(())
}

/// Records over a small space of ids and names, so that sequences hit every case:
/// creating an existing topic, deleting one twice, shrinking partitions...
fn record() -> impl Strategy<Value = MetadataRecord> {
    let topic_id = (0u8..6).prop_map(|n| TopicId::from_bytes([n; 16]));
    let name = prop::sample::select(vec!["a", "b", "c.d", "c_d", "bad name", ""]);
    let config_name = prop::sample::select(vec!["retention.ms", "segment.bytes", "x"]);
    let configs = prop::collection::btree_map(
        config_name.clone().prop_map(str::to_owned),
        "[0-9]{1,4}",
        0..3,
    );
    prop_oneof![
        "[a-z]{1,8}".prop_map(|id| MetadataRecord::ClusterCreated {
            cluster_id: ClusterId::new(id)
        }),
        (topic_id.clone(), name, -1i32..5, configs.clone()).prop_map(
            |(topic_id, name, partitions, configs)| MetadataRecord::TopicCreated {
                topic_id,
                name: name.to_owned(),
                partitions,
                configs,
            }
        ),
        topic_id
            .clone()
            .prop_map(|topic_id| MetadataRecord::TopicDeleted { topic_id }),
        (topic_id.clone(), 0i32..8).prop_map(|(topic_id, partition_count)| {
            MetadataRecord::PartitionsCreated {
                topic_id,
                partition_count,
            }
        }),
        (
            topic_id,
            configs,
            prop::collection::vec(config_name.prop_map(str::to_owned), 0..2)
        )
            .prop_map(
                |(topic_id, set, deleted)| MetadataRecord::TopicConfigsChanged {
                    topic_id,
                    set,
                    deleted,
                }
            ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replayed_image_equals_applied_image(
        batches in prop::collection::vec(prop::collection::vec(record(), 1..4), 0..25)
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut log = LocalMetadataLog::open(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut applied = MetadataImage::new();
        let mut appended = Vec::new();
        for batch in &batches {
            let last = log.append(batch).map_err(|e| TestCaseError::fail(e.to_string()))?;
            appended.extend(batch.iter().cloned());
            prop_assert_eq!(last + 1, appended.len() as u64);
            for record in batch {
                let _ = applied.apply(record);
            }
        }
        drop(log);

        let mut log = LocalMetadataLog::open(dir.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(log.next_offset(), appended.len() as u64);
        let replayed = log.replay().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&replayed, &appended);
        prop_assert_eq!(apply_all(&replayed), applied);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A crash at any point of the file leaves a prefix of whole appends, and the
    /// image replayed from it is the image of that prefix.
    #[test]
    fn a_log_cut_anywhere_replays_a_prefix_of_whole_appends(
        batches in prop::collection::vec(prop::collection::vec(record(), 1..4), 1..12),
        cut_fraction in 0.0f64..=1.0,
    ) {
        let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
        let dir = tempfile::tempdir().map_err(|e| fail(&e))?;
        let mut log = LocalMetadataLog::open(dir.path()).map_err(|e| fail(&e))?;
        for batch in &batches {
            log.append(batch).map_err(|e| fail(&e))?;
        }
        let path = log.path().to_path_buf();
        drop(log);

        let size = std::fs::metadata(&path).map_err(|e| fail(&e))?.len();
        let cut = (size as f64 * cut_fraction) as u64;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(cut))
            .map_err(|e| fail(&e))?;

        let mut log = LocalMetadataLog::open(dir.path()).map_err(|e| fail(&e))?;
        let replayed = log.replay().map_err(|e| fail(&e))?;
        let kept_batches = batches
            .iter()
            .scan(0usize, |count, batch| {
                *count += batch.len();
                Some(*count)
            })
            .take_while(|count| *count <= replayed.len())
            .count();
        let prefix: Vec<MetadataRecord> = batches[..kept_batches].concat();
        prop_assert_eq!(&replayed, &prefix, "only whole appends survive");
        prop_assert_eq!(cut == size, kept_batches == batches.len());
        prop_assert_eq!(apply_all(&replayed), apply_all(&prefix));
    }
}
