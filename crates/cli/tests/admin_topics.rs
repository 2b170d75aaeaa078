//! Topic administration with librdkafka's AdminClient: create (and its errors), delete,
//! describe and alter configs, add partitions, delete records. The APIs librdkafka's
//! Rust binding does not expose (IncrementalAlterConfigs, DescribeCluster,
//! DescribeTopicPartitions) are sent by hand.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use fjord_protocol::messages::alter_configs_request::{
    AlterConfigsResource as LegacyAlterConfigsResource, AlterableConfig as LegacyAlterableConfig,
};
use fjord_protocol::messages::describe_configs_request::DescribeConfigsResource;
use fjord_protocol::messages::describe_topic_partitions_request::TopicRequest;
use fjord_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use fjord_protocol::messages::{
    AlterConfigsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeTopicPartitionsRequest, IncrementalAlterConfigsRequest,
};
use fjord_testkit::TestBroker;
use fjord_testkit::clients::{
    admin, admin_options, block_on, create_topic, delete_topic, describe_configs, partition_count,
    producer_config, try_create_topic, watermarks,
};
use fjord_testkit::messages::{Numbered, flush, produce_numbered, read_count, recording_producer};
use fjord_testkit::raw::RawConnection;
use rdkafka::Offset;
use rdkafka::admin::{
    AlterConfig, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaErrorCode;

const NUMBERED: Numbered = Numbered {
    keys: 10,
    value_bytes: 50,
};

/// Kafka's ConfigResource type of a topic.
const RESOURCE_TOPIC: i8 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_CONFIG: i16 = 40;

/// A broker default of `segment.bytes` that differs from Kafka's (1 GiB).
const SEGMENT_BYTES_BROKER: u64 = 512 * 1024 * 1024;

/// Waits until Metadata reports `topic` with `expected` partitions (`None`: absent).
fn wait_for_partition_count(bootstrap: &str, topic: &str, expected: Option<usize>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count = partition_count(bootstrap, topic);
        if count == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: {count:?} partitions after 30 s, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn create_topics_and_their_errors() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();

    assert_eq!(
        try_create_topic(
            &bootstrap,
            "admin-created",
            3,
            &[("retention.ms", "3600000")]
        ),
        Ok(())
    );
    assert_eq!(partition_count(&bootstrap, "admin-created"), Some(3));
    assert_eq!(
        try_create_topic(&bootstrap, "admin-created", 3, &[]),
        Err(RDKafkaErrorCode::TopicAlreadyExists)
    );

    // validate_only: checked, answered, not created.
    let admin = admin(&bootstrap);
    let validated = NewTopic::new("admin-validated", 2, TopicReplication::Fixed(1));
    let results =
        block_on(admin.create_topics([&validated], &admin_options().validate_only(true))).unwrap();
    assert_eq!(results, vec![Ok("admin-validated".to_owned())]);
    assert_eq!(partition_count(&bootstrap, "admin-validated"), None);
    // validate_only reports the errors a real creation would.
    let invalid = NewTopic::new("admin-validated", 2, TopicReplication::Fixed(3));
    let results =
        block_on(admin.create_topics([&invalid], &admin_options().validate_only(true))).unwrap();
    assert_eq!(
        results,
        vec![Err((
            "admin-validated".to_owned(),
            RDKafkaErrorCode::InvalidReplicationFactor
        ))]
    );

    let long_name = "a".repeat(250);
    for name in ["bad/name", "with space", "..", ".", long_name.as_str()] {
        assert_eq!(
            try_create_topic(&bootstrap, name, 1, &[]),
            Err(RDKafkaErrorCode::InvalidTopic),
            "topic name {name:?}"
        );
    }
    assert_eq!(
        try_create_topic(&bootstrap, &"b".repeat(249), 1, &[]),
        Ok(()),
        "249 characters are allowed"
    );

    let three_replicas = NewTopic::new("admin-replicated", 1, TopicReplication::Fixed(3));
    let results = block_on(admin.create_topics([&three_replicas], &admin_options())).unwrap();
    assert_eq!(
        results,
        vec![Err((
            "admin-replicated".to_owned(),
            RDKafkaErrorCode::InvalidReplicationFactor
        ))]
    );

    assert_eq!(
        try_create_topic(
            &bootstrap,
            "admin-configured",
            1,
            &[("no.such.config", "1")]
        ),
        Err(RDKafkaErrorCode::InvalidConfig)
    );
    assert_eq!(
        try_create_topic(
            &bootstrap,
            "admin-configured",
            1,
            &[("retention.ms", "forever")]
        ),
        Err(RDKafkaErrorCode::InvalidConfig)
    );
    assert_eq!(
        try_create_topic(
            &bootstrap,
            "admin-configured",
            1,
            &[("segment.bytes", "100")]
        ),
        Err(RDKafkaErrorCode::InvalidConfig),
        "segment.bytes below its minimum"
    );
    for name in ["admin-replicated", "admin-configured"] {
        assert_eq!(
            partition_count(&bootstrap, name),
            None,
            "{name} was not created"
        );
    }

    // One request, two topics: each succeeds or fails on its own.
    let good = NewTopic::new("admin-good", 1, TopicReplication::Fixed(1));
    let bad = NewTopic::new("admin-bad", 1, TopicReplication::Fixed(1)).set("no.such.config", "x");
    let results = block_on(admin.create_topics([&good, &bad], &admin_options())).unwrap();
    assert!(
        results.contains(&Ok("admin-good".to_owned())),
        "{results:?}"
    );
    assert!(
        results.contains(&Err((
            "admin-bad".to_owned(),
            RDKafkaErrorCode::InvalidConfig
        ))),
        "{results:?}"
    );
}

#[test]
fn delete_topics() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "doomed", 2, &[]);
    create_topic(&bootstrap, "spared", 1, &[]);
    produce_numbered(&producer_config(&bootstrap), "doomed", &NUMBERED, 0..100);
    produce_numbered(&producer_config(&bootstrap), "spared", &NUMBERED, 0..10);

    assert_eq!(delete_topic(&bootstrap, "doomed"), Ok(()));
    wait_for_partition_count(&bootstrap, "doomed", None);
    assert_eq!(
        delete_topic(&bootstrap, "doomed"),
        Err(RDKafkaErrorCode::UnknownTopicOrPartition)
    );
    assert_eq!(
        delete_topic(&bootstrap, "never-existed"),
        Err(RDKafkaErrorCode::UnknownTopicOrPartition)
    );

    // Deleted stays deleted across a restart; the other topic is untouched.
    let broker = broker.restart();
    assert_eq!(partition_count(&bootstrap, "doomed"), None);
    assert_eq!(watermarks(&bootstrap, "spared", 0).unwrap(), (0, 10));

    // The name can be used again, and the new topic starts empty.
    create_topic(&bootstrap, "doomed", 1, &[]);
    assert_eq!(partition_count(&bootstrap, "doomed"), Some(1));
    assert_eq!(watermarks(&bootstrap, "doomed", 0).unwrap(), (0, 0));
    let acked = produce_numbered(&producer_config(&bootstrap), "doomed", &NUMBERED, 500..510);
    assert_eq!(acked[0].offset, 0, "the new topic's offsets start at 0");
    let messages = read_count(&bootstrap, "doomed", 0, Offset::Beginning, 10);
    assert_eq!(
        NUMBERED.check(&messages[0]),
        500,
        "no message of the old topic is served"
    );
    drop(broker);
}

#[test]
fn describe_configs_with_sources() {
    let broker = TestBroker::start_with(|config| {
        config.topic_defaults.segment_bytes = SEGMENT_BYTES_BROKER;
    });
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        "described",
        1,
        &[("retention.ms", "3600000"), ("cleanup.policy", "compact")],
    );
    let configs = describe_configs(&bootstrap, ResourceSpecifier::Topic("described")).unwrap();

    let retention = &configs["retention.ms"];
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert!(!retention.is_default);
    assert_eq!(configs["cleanup.policy"].value.as_deref(), Some("compact"));
    assert_eq!(configs["cleanup.policy"].source, ConfigSource::DynamicTopic);

    // Not set on the topic, set on the broker.
    let segment = &configs["segment.bytes"];
    assert_eq!(
        segment.value.as_deref(),
        Some(SEGMENT_BYTES_BROKER.to_string().as_str())
    );
    assert_eq!(segment.source, ConfigSource::StaticBroker);
    // Set nowhere: Kafka's default.
    let max_message = &configs["max.message.bytes"];
    assert_eq!(max_message.value.as_deref(), Some("1048588"));
    assert_eq!(max_message.source, ConfigSource::Default);
    assert!(max_message.is_default);
    for name in [
        "retention.bytes",
        "segment.ms",
        "min.insync.replicas",
        "message.timestamp.type",
    ] {
        assert!(configs.contains_key(name), "{name} is described");
    }

    // The broker's own configs, by its id.
    let broker_configs = describe_configs(&bootstrap, ResourceSpecifier::Broker(1)).unwrap();
    assert_eq!(
        broker_configs["log.segment.bytes"].value.as_deref(),
        Some(SEGMENT_BYTES_BROKER.to_string().as_str())
    );
    assert_eq!(
        broker_configs["log.segment.bytes"].source,
        ConfigSource::StaticBroker
    );
    assert_eq!(broker_configs["num.partitions"].value.as_deref(), Some("1"));

    // rdkafka 0.39 drops per-resource errors of DescribeConfigs (it answers Ok with no
    // entries), so the error is checked on the wire.
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let request = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: "no-such-topic".to_owned(),
            configuration_keys: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = connection.request(&request, 4).unwrap();
    assert_eq!(response.results[0].error_code, UNKNOWN_TOPIC_OR_PARTITION);
}

#[test]
fn alter_configs_replaces_the_overrides() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "altered", 1, &[("max.message.bytes", "5000")]);
    let admin = admin(&bootstrap);

    // AlterConfigs (not incremental) sets the topic's whole set of overrides: what it
    // does not name goes back to its default.
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("altered")).set("retention.ms", "1000000");
    let results = block_on(admin.alter_configs([&alter], &admin_options())).unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    let configs = describe_configs(&bootstrap, ResourceSpecifier::Topic("altered")).unwrap();
    assert_eq!(configs["retention.ms"].value.as_deref(), Some("1000000"));
    assert_eq!(configs["retention.ms"].source, ConfigSource::DynamicTopic);
    assert_eq!(
        configs["max.message.bytes"].value.as_deref(),
        Some("1048588")
    );
    assert_eq!(configs["max.message.bytes"].source, ConfigSource::Default);

    // validate_only changes nothing.
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("altered")).set("retention.ms", "2000000");
    let results =
        block_on(admin.alter_configs([&alter], &admin_options().validate_only(true))).unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    // A bad value or an unknown name is refused. rdkafka 0.39 drops per-resource errors
    // of AlterConfigs (it answers Ok), so these go on the wire.
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let mut legacy_alter = |topic: &str, name: &str, value: &str| {
        let request = AlterConfigsRequest {
            resources: vec![LegacyAlterConfigsResource {
                resource_type: RESOURCE_TOPIC,
                resource_name: topic.to_owned(),
                configs: vec![LegacyAlterableConfig {
                    name: name.to_owned(),
                    value: Some(value.to_owned()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        connection.request(&request, 2).unwrap().responses[0].error_code
    };
    assert_eq!(
        legacy_alter("altered", "retention.ms", "soon"),
        INVALID_CONFIG
    );
    assert_eq!(
        legacy_alter("altered", "no.such.config", "1"),
        INVALID_CONFIG
    );
    assert_eq!(
        legacy_alter("no-such-topic", "retention.ms", "1"),
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let configs = describe_configs(&bootstrap, ResourceSpecifier::Topic("altered")).unwrap();
    assert_eq!(
        configs["retention.ms"].value.as_deref(),
        Some("1000000"),
        "neither validate_only nor a refused change altered anything"
    );

    // What was altered is kept across a restart.
    let _broker = broker.restart();
    let configs = describe_configs(&bootstrap, ResourceSpecifier::Topic("altered")).unwrap();
    assert_eq!(configs["retention.ms"].value.as_deref(), Some("1000000"));
    assert_eq!(
        configs["max.message.bytes"].value.as_deref(),
        Some("1048588")
    );
}

#[test]
fn incremental_alter_configs() {
    const SET: i8 = 0;
    const DELETE: i8 = 1;
    const APPEND: i8 = 2;
    const SUBTRACT: i8 = 3;
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(
        &bootstrap,
        "incremental",
        1,
        &[("max.message.bytes", "5000"), ("retention.ms", "3600000")],
    );
    let mut connection = RawConnection::connect(broker.addr()).unwrap();
    let mut alter = |ops: &[(&str, i8, Option<&str>)], validate_only: bool| {
        let request = IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: RESOURCE_TOPIC,
                resource_name: "incremental".to_owned(),
                configs: ops
                    .iter()
                    .map(|(name, op, value)| AlterableConfig {
                        name: (*name).to_owned(),
                        config_operation: *op,
                        value: value.map(str::to_owned),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            validate_only,
            ..Default::default()
        };
        let response = connection.request(&request, 1).unwrap();
        response.responses[0].error_code
    };

    // SET one, DELETE another; the rest stays.
    assert_eq!(
        alter(
            &[
                ("segment.ms", SET, Some("60000")),
                ("retention.ms", DELETE, None)
            ],
            false
        ),
        0
    );
    let configs = describe_configs(&bootstrap, ResourceSpecifier::Topic("incremental")).unwrap();
    assert_eq!(configs["segment.ms"].value.as_deref(), Some("60000"));
    assert_eq!(configs["segment.ms"].source, ConfigSource::DynamicTopic);
    assert_eq!(configs["retention.ms"].source, ConfigSource::Default);
    assert_eq!(configs["max.message.bytes"].value.as_deref(), Some("5000"));

    // APPEND and SUBTRACT work on list configs.
    assert_eq!(
        alter(&[("cleanup.policy", APPEND, Some("compact"))], false),
        0
    );
    let configs = describe_configs(&bootstrap, ResourceSpecifier::Topic("incremental")).unwrap();
    assert_eq!(
        configs["cleanup.policy"].value.as_deref(),
        Some("delete,compact")
    );
    assert_eq!(
        alter(&[("cleanup.policy", SUBTRACT, Some("delete"))], false),
        0
    );
    let configs = describe_configs(&bootstrap, ResourceSpecifier::Topic("incremental")).unwrap();
    assert_eq!(configs["cleanup.policy"].value.as_deref(), Some("compact"));

    // Errors, and validate_only, change nothing.
    assert_eq!(
        alter(&[("segment.ms", SET, Some("never"))], false),
        INVALID_CONFIG
    );
    assert_eq!(
        alter(&[("no.such.config", SET, Some("1"))], false),
        INVALID_CONFIG
    );
    assert_eq!(
        alter(&[("max.message.bytes", APPEND, Some("1"))], false),
        INVALID_CONFIG,
        "APPEND on a non-list config"
    );
    assert_eq!(alter(&[("segment.ms", SET, Some("120000"))], true), 0);
    let configs = describe_configs(&bootstrap, ResourceSpecifier::Topic("incremental")).unwrap();
    assert_eq!(configs["segment.ms"].value.as_deref(), Some("60000"));
}

#[test]
fn create_partitions() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "growing", 1, &[]);
    produce_numbered(&producer_config(&bootstrap), "growing", &NUMBERED, 0..10);
    let admin = admin(&bootstrap);

    let grow = NewPartitions::new("growing", 4);
    let results = block_on(admin.create_partitions([&grow], &admin_options())).unwrap();
    assert_eq!(results, vec![Ok("growing".to_owned())]);
    wait_for_partition_count(&bootstrap, "growing", Some(4));

    // The new partitions take messages; the old one kept its own.
    let producer = recording_producer(&producer_config(&bootstrap));
    NUMBERED.send(&producer, "growing", Some(3), 100, None);
    flush(&producer);
    let messages = read_count(&bootstrap, "growing", 3, Offset::Beginning, 1);
    assert_eq!(NUMBERED.check(&messages[0]), 100);
    assert_eq!(messages[0].offset, 0);
    assert_eq!(watermarks(&bootstrap, "growing", 0).unwrap(), (0, 10));

    for (count, why) in [(2, "fewer partitions"), (4, "the same count")] {
        let shrink = NewPartitions::new("growing", count);
        let results = block_on(admin.create_partitions([&shrink], &admin_options())).unwrap();
        assert_eq!(
            results,
            vec![Err((
                "growing".to_owned(),
                RDKafkaErrorCode::InvalidPartitions
            ))],
            "{why}"
        );
    }
    let unknown = NewPartitions::new("no-such-topic", 2);
    let results = block_on(admin.create_partitions([&unknown], &admin_options())).unwrap();
    assert_eq!(
        results,
        vec![Err((
            "no-such-topic".to_owned(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );

    let _broker = broker.restart();
    assert_eq!(partition_count(&bootstrap, "growing"), Some(4));
    assert_eq!(watermarks(&bootstrap, "growing", 3).unwrap(), (0, 1));
}

#[test]
fn delete_records() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "trimmed", 2, &[]);
    let producer = recording_producer(&producer_config(&bootstrap));
    for id in 0..100 {
        NUMBERED.send(&producer, "trimmed", Some(0), id, None);
        NUMBERED.send(&producer, "trimmed", Some(1), id, None);
    }
    flush(&producer);
    let admin = admin(&bootstrap);
    let delete = |partition: i32, before: Offset| {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("trimmed", partition, before)
            .unwrap();
        let result = block_on(admin.delete_records(&list, &admin_options())).unwrap();
        let element = result.find_partition("trimmed", partition).unwrap();
        element.error().map(|()| element.offset())
    };

    // Everything before offset 40 of partition 0 goes; the answer is the new log start.
    assert_eq!(delete(0, Offset::Offset(40)), Ok(Offset::Offset(40)));
    assert_eq!(watermarks(&bootstrap, "trimmed", 0).unwrap(), (40, 100));
    let messages = read_count(&bootstrap, "trimmed", 0, Offset::Beginning, 60);
    assert_eq!(messages[0].offset, 40);
    assert_eq!(NUMBERED.check(&messages[0]), 40);
    // The other partition is untouched.
    assert_eq!(watermarks(&bootstrap, "trimmed", 1).unwrap(), (0, 100));

    // Deleting below the log start changes nothing; beyond the high watermark is an error.
    assert_eq!(delete(0, Offset::Offset(10)), Ok(Offset::Offset(40)));
    assert_eq!(
        delete(0, Offset::Offset(500))
            .err()
            .map(|e| e.rdkafka_error_code()),
        Some(Some(RDKafkaErrorCode::OffsetOutOfRange))
    );
    // The end: everything (librdkafka sends -1, the high watermark).
    assert_eq!(delete(1, Offset::End), Ok(Offset::Offset(100)));
    assert_eq!(watermarks(&bootstrap, "trimmed", 1).unwrap(), (100, 100));

    // The log start offset is kept across a restart.
    let _broker = broker.restart();
    assert_eq!(watermarks(&bootstrap, "trimmed", 0).unwrap(), (40, 100));
    assert_eq!(watermarks(&bootstrap, "trimmed", 1).unwrap(), (100, 100));
}

#[test]
fn describe_cluster_and_topic_partitions() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "described-partitions", 3, &[]);
    let mut connection = RawConnection::connect(broker.addr()).unwrap();

    let cluster = connection
        .request(&DescribeClusterRequest::default(), 1)
        .unwrap();
    assert_eq!(cluster.error_code, 0);
    assert!(!cluster.cluster_id.is_empty());
    assert_eq!(cluster.controller_id, 1);
    let brokers: Vec<_> = cluster
        .brokers
        .iter()
        .map(|b| (b.broker_id, b.host.clone(), b.port))
        .collect();
    assert_eq!(
        brokers,
        vec![(1, "127.0.0.1".to_owned(), i32::from(broker.addr().port()))]
    );

    let request = DescribeTopicPartitionsRequest {
        topics: vec![
            TopicRequest {
                name: "described-partitions".to_owned(),
                ..Default::default()
            },
            TopicRequest {
                name: "no-such-topic".to_owned(),
                ..Default::default()
            },
        ],
        response_partition_limit: 2000,
        cursor: None,
        ..Default::default()
    };
    let response = connection.request(&request, 0).unwrap();
    let described = response
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some("described-partitions"))
        .unwrap();
    assert_eq!(described.error_code, 0);
    let partitions: Vec<_> = described
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.leader_id,
                p.replica_nodes.clone(),
                p.isr_nodes.clone(),
            )
        })
        .collect();
    assert_eq!(
        partitions,
        (0..3).map(|i| (i, 1, vec![1], vec![1])).collect::<Vec<_>>()
    );
    let missing = response
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some("no-such-topic"))
        .unwrap();
    assert_eq!(missing.error_code, UNKNOWN_TOPIC_OR_PARTITION);
    assert_eq!(
        partition_count(&bootstrap, "no-such-topic"),
        None,
        "not auto-created"
    );
}
