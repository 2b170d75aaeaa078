//! `fjord topic create | list | describe | delete | alter-config | add-partitions`, run as
//! the built binary against a test broker: what each command prints (text and JSON),
//! what it changes (checked with librdkafka, not with `fjord`), and its errors and exit
//! codes (unknown topic, topic already exists, bad configs, a replication factor the
//! single node cannot hold, broker down, bad arguments).

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use fjord_testkit::TestBroker;
use fjord_testkit::cli::{
    FAILURE, NOT_FOUND, UNREACHABLE, USAGE, closed_address, expect_failure, expect_success,
    run_fjord,
};
use fjord_testkit::clients::{
    create_topic, describe_configs, partition_count, producer_config, watermarks,
};
use fjord_testkit::command::{Finished, run_with_timeout};
use fjord_testkit::messages::{Numbered, produce_numbered};
use rdkafka::admin::{ConfigSource, ResourceSpecifier};
use serde_json::Value;

const NUMBERED: Numbered = Numbered {
    keys: 10,
    value_bytes: 20,
};

/// Runs `fjord ARGS`.
fn fjord(args: &[&str]) -> Finished {
    run_fjord(env!("CARGO_BIN_EXE_fjord"), args)
}

/// Runs `fjord topic ARGS --brokers BOOTSTRAP`.
fn topic(bootstrap: &str, args: &[&str]) -> Finished {
    let mut all = vec!["topic"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--brokers", bootstrap]);
    fjord(&all)
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// The topic's own configs (source DYNAMIC_TOPIC_CONFIG), as librdkafka reads them.
fn topic_overrides(bootstrap: &str, topic: &str) -> Vec<(String, String)> {
    describe_configs(bootstrap, ResourceSpecifier::Topic(topic))
        .unwrap()
        .into_values()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect()
}

#[test]
fn create_list_describe_and_delete_a_topic() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();

    let stdout = expect_success(topic(
        &bootstrap,
        &["create", "orders", "-p", "3", "-c", "retention.ms=86400000"],
    ));
    assert_eq!(
        stdout,
        "Created topic 'orders' with 3 partitions, 1 replica each.\n"
    );
    assert_eq!(partition_count(&bootstrap, "orders"), Some(3));
    assert_eq!(
        topic_overrides(&bootstrap, "orders"),
        [("retention.ms".to_owned(), "86400000".to_owned())]
    );
    let created = json(&expect_success(topic(
        &bootstrap,
        &[
            "create",
            "refunds",
            "--partitions",
            "2",
            "--replicas",
            "1",
            "--format",
            "json",
        ],
    )));
    assert_eq!(created["topic"], "refunds");
    assert_eq!(created["created"], true);
    assert_eq!(created["partitions"], 2);
    assert_eq!(created["replication_factor"], 1);
    assert_eq!(created["id"].as_str().unwrap().len(), 22, "{created}");

    assert_eq!(
        expect_success(topic(&bootstrap, &["list"])),
        "TOPIC    PARTITIONS  REPLICAS\n\
         orders   3           1\n\
         refunds  2           1\n"
    );
    let list = json(&expect_success(topic(
        &bootstrap,
        &["list", "--format", "json"],
    )));
    let topics = list["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 2);
    assert_eq!(topics[0]["name"], "orders");
    assert_eq!(topics[0]["partitions"], 3);
    assert_eq!(topics[0]["replication_factor"], 1);
    assert_eq!(topics[0]["internal"], false);
    assert_eq!(topics[0]["id"], created_id(&bootstrap, "orders"));

    // 20 messages spread over the partitions: each partition's log end offset is how
    // many it got, as librdkafka's watermarks say.
    produce_numbered(&producer_config(&bootstrap), "orders", &NUMBERED, 0..20);
    let description = json(&expect_success(topic(
        &bootstrap,
        &["describe", "orders", "--format", "json"],
    )));
    assert_eq!(description["topic"], "orders");
    assert_eq!(description["replication_factor"], 1);
    assert_eq!(description["internal"], false);
    let partitions = description["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3);
    let mut total = 0;
    for (index, partition) in partitions.iter().enumerate() {
        let (low, high) = watermarks(&bootstrap, "orders", index as i32).unwrap();
        assert_eq!(partition["partition"], index);
        assert_eq!(partition["leader"], 1);
        assert_eq!(partition["leader_epoch"], 0);
        assert_eq!(partition["replicas"], serde_json::json!([1]));
        assert_eq!(partition["isr"], serde_json::json!([1]));
        assert_eq!(partition["offline"], serde_json::json!([]));
        assert_eq!(partition["log_start_offset"], low);
        assert_eq!(partition["log_end_offset"], high);
        assert_eq!(partition["error"], Value::Null);
        total += high;
    }
    assert_eq!(total, 20);
    assert_eq!(description["configs_shown"], "overrides");
    assert_eq!(
        description["configs"],
        serde_json::json!([{"name": "retention.ms", "value": "86400000",
            "source": "DYNAMIC_TOPIC_CONFIG", "read_only": false, "sensitive": false}])
    );

    let text = expect_success(topic(&bootstrap, &["describe", "orders"]));
    assert!(text.starts_with("Topic:              orders\n"), "{text}");
    assert!(text.contains("Partitions:         3\n"), "{text}");
    assert!(
        text.contains(
            "PARTITION  LEADER  EPOCH  REPLICAS  ISR  OFFLINE  LOG-START  LOG-END\n0          1"
        ),
        "{text}"
    );
    assert!(
        text.ends_with(
            "Configs set on the topic:\n\
             CONFIG        VALUE     SOURCE\n\
             retention.ms  86400000  DYNAMIC_TOPIC_CONFIG\n"
        ),
        "{text}"
    );
    // --all-configs shows the defaults too, with their sources.
    let all = json(&expect_success(topic(
        &bootstrap,
        &["describe", "orders", "--all-configs", "--format", "json"],
    )));
    assert_eq!(all["configs_shown"], "all");
    let configs = all["configs"].as_array().unwrap();
    let policy = configs
        .iter()
        .find(|c| c["name"] == "cleanup.policy")
        .unwrap();
    assert_eq!(policy["value"], "delete");
    assert_eq!(policy["source"], "DEFAULT_CONFIG");
    assert!(configs.iter().any(|c| c["name"] == "retention.ms"
        && c["value"] == "86400000"
        && c["source"] == "DYNAMIC_TOPIC_CONFIG"));

    assert_eq!(
        expect_success(topic(&bootstrap, &["delete", "orders"])),
        "Deleted topic 'orders'.\n"
    );
    assert_eq!(partition_count(&bootstrap, "orders"), None);
    let deleted = json(&expect_success(topic(
        &bootstrap,
        &["delete", "refunds", "--format", "json"],
    )));
    assert_eq!(
        deleted,
        serde_json::json!({"topics": [{"topic": "refunds", "deleted": true}]})
    );
    assert_eq!(partition_count(&bootstrap, "refunds"), None);
    assert_eq!(
        expect_success(topic(&bootstrap, &["list"])),
        "TOPIC  PARTITIONS  REPLICAS\n"
    );
}

/// The id `fjord topic describe` shows for `topic`.
fn created_id(bootstrap: &str, topic_name: &str) -> Value {
    json(&expect_success(topic(
        bootstrap,
        &["describe", topic_name, "--format", "json"],
    )))["id"]
        .clone()
}

#[test]
fn create_without_counts_takes_the_broker_defaults() {
    let broker = TestBroker::start_with(|config| config.num_partitions = 4);
    let bootstrap = broker.bootstrap();
    assert_eq!(
        expect_success(topic(&bootstrap, &["create", "events"])),
        "Created topic 'events' with 4 partitions, 1 replica each.\n"
    );
    assert_eq!(partition_count(&bootstrap, "events"), Some(4));
}

#[test]
fn create_refuses_what_the_broker_refuses_with_its_error_and_a_hint() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 2, &[]);

    let stderr = expect_failure(topic(&bootstrap, &["create", "orders"]), FAILURE);
    assert!(
        stderr.starts_with("fjord: creating topic 'orders': TOPIC_ALREADY_EXISTS (36)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`fjord topic describe orders`") && stderr.contains("--if-not-exists"),
        "{stderr}"
    );
    // --if-not-exists accepts it and changes nothing.
    assert_eq!(
        expect_success(topic(
            &bootstrap,
            &["create", "orders", "-p", "5", "--if-not-exists"]
        )),
        "Topic 'orders' already exists; nothing was changed.\n"
    );
    let existing = json(&expect_success(topic(
        &bootstrap,
        &["create", "orders", "--if-not-exists", "--format", "json"],
    )));
    assert_eq!(existing["created"], false);
    assert_eq!(existing["already_existed"], true);
    assert_eq!(partition_count(&bootstrap, "orders"), Some(2));

    // One broker cannot hold two replicas.
    let stderr = expect_failure(topic(&bootstrap, &["create", "x", "-r", "2"]), FAILURE);
    assert!(
        stderr.starts_with("fjord: creating topic 'x': INVALID_REPLICATION_FACTOR (38)"),
        "{stderr}"
    );
    assert!(stderr.contains("`fjord cluster info`"), "{stderr}");

    let stderr = expect_failure(
        topic(&bootstrap, &["create", "x", "-c", "no.such.config=1"]),
        FAILURE,
    );
    assert!(
        stderr.starts_with("fjord: creating topic 'x': INVALID_CONFIG (40)"),
        "{stderr}"
    );
    assert!(stderr.contains("no.such.config"), "{stderr}");
    let stderr = expect_failure(
        topic(&bootstrap, &["create", "x", "-c", "retention.ms=soon"]),
        FAILURE,
    );
    assert!(stderr.contains("INVALID_CONFIG (40)"), "{stderr}");
    assert!(stderr.contains("soon"), "{stderr}");

    let stderr = expect_failure(topic(&bootstrap, &["create", "no/slashes"]), FAILURE);
    assert!(
        stderr.contains("INVALID_TOPIC_EXCEPTION (17)") && stderr.contains("ASCII letters"),
        "{stderr}"
    );
    // None of the refused topics exists.
    assert_eq!(partition_count(&bootstrap, "x"), None);
    assert_eq!(partition_count(&bootstrap, "no/slashes"), None);

    // A dry run validates without creating, and reports what would be created.
    assert_eq!(
        expect_success(topic(
            &bootstrap,
            &["create", "later", "-p", "3", "--dry-run"]
        )),
        "Topic 'later' can be created with 3 partitions, 1 replica each (dry run: nothing \
         was created).\n"
    );
    assert_eq!(partition_count(&bootstrap, "later"), None);
    let stderr = expect_failure(
        topic(&bootstrap, &["create", "later", "-r", "3", "--dry-run"]),
        FAILURE,
    );
    assert!(stderr.contains("INVALID_REPLICATION_FACTOR"), "{stderr}");
}

#[test]
fn alter_config_sets_and_deletes_configs() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1, &[("cleanup.policy", "compact")]);

    assert_eq!(
        expect_success(topic(
            &bootstrap,
            &[
                "alter-config",
                "orders",
                "--set",
                "retention.ms=3600000",
                "--delete",
                "cleanup.policy",
            ]
        )),
        "Altered the configs of topic 'orders':\n  \
         set    retention.ms=3600000\n  \
         delete cleanup.policy (back to its default)\n"
    );
    assert_eq!(
        topic_overrides(&bootstrap, "orders"),
        [("retention.ms".to_owned(), "3600000".to_owned())]
    );

    // A dry run changes nothing.
    let dry = json(&expect_success(topic(
        &bootstrap,
        &[
            "alter-config",
            "orders",
            "--set",
            "retention.ms=1000",
            "--set",
            "segment.bytes=1048576",
            "--dry-run",
            "--format",
            "json",
        ],
    )));
    assert_eq!(
        dry,
        serde_json::json!({"topic": "orders",
            "set": {"retention.ms": "1000", "segment.bytes": "1048576"},
            "deleted": [], "dry_run": true})
    );
    assert_eq!(
        topic_overrides(&bootstrap, "orders"),
        [("retention.ms".to_owned(), "3600000".to_owned())]
    );

    let stderr = expect_failure(
        topic(
            &bootstrap,
            &["alter-config", "orders", "--set", "no.such.config=1"],
        ),
        FAILURE,
    );
    assert!(
        stderr.starts_with("fjord: altering the configs of topic 'orders': INVALID_CONFIG (40)"),
        "{stderr}"
    );
    let stderr = expect_failure(
        topic(
            &bootstrap,
            &["alter-config", "orders", "--set", "retention.ms=x"],
        ),
        FAILURE,
    );
    assert!(stderr.contains("INVALID_CONFIG (40)"), "{stderr}");
    // A config both set and deleted is a bad command line, refused before asking.
    let stderr = expect_failure(
        topic(
            &bootstrap,
            &[
                "alter-config",
                "orders",
                "--set",
                "retention.ms=1",
                "--delete",
                "retention.ms",
            ],
        ),
        USAGE,
    );
    assert!(stderr.contains("named more than once"), "{stderr}");
    assert_eq!(
        topic_overrides(&bootstrap, "orders"),
        [("retention.ms".to_owned(), "3600000".to_owned())]
    );
}

#[test]
fn add_partitions_grows_the_topic_to_the_new_total() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 2, &[]);

    assert_eq!(
        expect_success(topic(
            &bootstrap,
            &["add-partitions", "orders", "--to", "5"]
        )),
        "Topic 'orders' now has 5 partitions (it had 2).\n"
    );
    assert_eq!(partition_count(&bootstrap, "orders"), Some(5));

    let dry = json(&expect_success(topic(
        &bootstrap,
        &[
            "add-partitions",
            "orders",
            "--to",
            "8",
            "--dry-run",
            "--format",
            "json",
        ],
    )));
    assert_eq!(
        dry,
        serde_json::json!({"topic": "orders", "partitions_before": 5, "partitions": 8,
            "dry_run": true})
    );
    assert_eq!(partition_count(&bootstrap, "orders"), Some(5));

    // Kafka semantics: the count is the new total, and a topic never shrinks.
    for to in ["5", "3"] {
        let stderr = expect_failure(
            topic(&bootstrap, &["add-partitions", "orders", "--to", to]),
            FAILURE,
        );
        assert!(
            stderr
                .starts_with("fjord: adding partitions to topic 'orders': INVALID_PARTITIONS (37)"),
            "{stderr}"
        );
        assert!(stderr.contains("new total"), "{stderr}");
    }
    assert_eq!(partition_count(&bootstrap, "orders"), Some(5));
}

#[test]
fn unknown_topics_exit_4_with_a_hint() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let hint = "topic 'nope' does not exist; create it with `fjord topic create nope`";
    for (args, context) in [
        (&["describe", "nope"][..], "describing topic 'nope'"),
        (
            &["alter-config", "nope", "--set", "retention.ms=1"],
            "altering the configs of topic 'nope'",
        ),
        (
            &["add-partitions", "nope", "--to", "3"],
            "adding partitions to topic 'nope'",
        ),
    ] {
        let stderr = expect_failure(topic(&bootstrap, args), NOT_FOUND);
        assert!(
            stderr.starts_with(&format!("fjord: {context}: UNKNOWN_TOPIC_OR_PARTITION (3)")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.trim_end().ends_with(hint), "{args:?}: {stderr}");
    }
    // The same with JSON asked for: errors stay on stderr.
    expect_failure(
        topic(&bootstrap, &["describe", "nope", "--format", "json"]),
        NOT_FOUND,
    );

    let stderr = expect_failure(topic(&bootstrap, &["delete", "nope"]), NOT_FOUND);
    assert!(
        stderr.starts_with("fjord: deleting topic 'nope': UNKNOWN_TOPIC_OR_PARTITION (3)"),
        "{stderr}"
    );
    assert!(stderr.contains("--if-exists"), "{stderr}");
}

#[test]
fn delete_takes_several_topics_and_if_exists_accepts_missing_ones() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "a", 1, &[]);
    create_topic(&bootstrap, "b", 1, &[]);
    create_topic(&bootstrap, "c", 1, &[]);

    assert_eq!(
        expect_success(topic(
            &bootstrap,
            &["delete", "a", "gone", "b", "--if-exists"]
        )),
        "Deleted topic 'a'.\n\
         Topic 'gone' does not exist; nothing was deleted.\n\
         Deleted topic 'b'.\n"
    );
    assert_eq!(partition_count(&bootstrap, "a"), None);
    assert_eq!(partition_count(&bootstrap, "b"), None);

    // Without --if-exists the missing topic fails the command, but the others are
    // still deleted, and stderr says so.
    let stderr = expect_failure(topic(&bootstrap, &["delete", "c", "gone"]), NOT_FOUND);
    assert!(
        stderr.contains("fjord: deleted topic 'c'")
            && stderr.contains("deleting topic 'gone': UNKNOWN_TOPIC_OR_PARTITION (3)"),
        "{stderr}"
    );
    assert_eq!(partition_count(&bootstrap, "c"), None);
}

#[test]
fn internal_topics_are_listed_only_when_asked() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1, &[]);
    // The first group request creates __consumer_offsets.
    expect_success(fjord(&["group", "list", "--brokers", &bootstrap]));

    assert_eq!(
        expect_success(topic(&bootstrap, &["list"])),
        "TOPIC   PARTITIONS  REPLICAS\norders  1           1\n"
    );
    let text = expect_success(topic(&bootstrap, &["list", "--internal"]));
    assert!(
        text.starts_with("TOPIC               PARTITIONS  REPLICAS  INTERNAL\n"),
        "{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].starts_with("__consumer_offsets  ") && lines[1].ends_with("  yes"),
        "{text}"
    );
    assert_eq!(lines[2], "orders              1           1         no");
    let list = json(&expect_success(topic(
        &bootstrap,
        &["list", "--internal", "--format", "json"],
    )));
    let offsets = list["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "__consumer_offsets")
        .unwrap();
    assert_eq!(offsets["internal"], true);
    let description = json(&expect_success(topic(
        &bootstrap,
        &["describe", "__consumer_offsets", "--format", "json"],
    )));
    assert_eq!(description["internal"], true);
    assert_eq!(
        description["configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "cleanup.policy")
            .unwrap()["value"],
        "compact"
    );
}

#[test]
fn a_broker_that_is_down_exits_3_naming_it() {
    let down = closed_address();
    for args in [
        &["create", "orders"][..],
        &["list"],
        &["describe", "orders"],
        &["delete", "orders"],
        &["alter-config", "orders", "--set", "retention.ms=1"],
        &["add-partitions", "orders", "--to", "3"],
    ] {
        let stderr = expect_failure(topic(&down, args), UNREACHABLE);
        assert!(
            stderr.starts_with(&format!("fjord: cannot reach any broker of {down}")),
            "fjord topic {args:?}:\n{stderr}"
        );
        assert!(stderr.contains("--brokers"), "{stderr}");
    }
}

#[test]
fn a_silent_broker_times_out_and_exits_3() {
    // The kernel completes the handshake, but nobody ever reads the request.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let stderr = expect_failure(
        topic(&address, &["describe", "orders", "--timeout-ms", "300"]),
        UNREACHABLE,
    );
    assert!(
        stderr.contains(&format!(
            "{address} did not answer ApiVersions within 300 ms"
        )),
        "{stderr}"
    );
}

#[test]
fn brokers_come_from_fjord_brokers_when_not_given() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), "orders", 2, &[]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_fjord"));
    command
        .args(["topic", "list"])
        .env("FJORD_BROKERS", broker.bootstrap());
    let finished = run_with_timeout(&mut command, b"", Duration::from_secs(120));
    assert_eq!(
        expect_success(finished),
        "TOPIC   PARTITIONS  REPLICAS\norders  2           1\n"
    );
}

#[test]
fn bad_arguments_exit_2_with_the_reason() {
    let cases: [(&[&str], &str); 10] = [
        (&["topic"], "Usage"),
        (&["topic", "create"], "<TOPIC>"),
        (&["topic", "create", ""], "cannot be empty"),
        (&["topic", "create", "t", "-p", "0"], "'--partitions <N>'"),
        (&["topic", "create", "t", "-r", "two"], "'--replicas <N>'"),
        (&["topic", "create", "t", "-c", "retention.ms"], "key=value"),
        (&["topic", "alter-config", "t"], "--set"),
        (&["topic", "add-partitions", "t"], "--to"),
        (&["topic", "delete"], "<TOPICS>"),
        (&["topic", "list", "--brokers", "localhost"], "has no port"),
    ];
    for (args, expected) in cases {
        let stderr = expect_failure(fjord(args), USAGE);
        assert!(
            stderr.contains(expected),
            "fjord {args:?}: {expected:?} in\n{stderr}"
        );
    }
}

#[test]
fn help_texts_show_examples_and_exit_codes() {
    let help = expect_success(fjord(&["--help"]));
    for expected in [
        "topic",
        "produce",
        "consume",
        "bench",
        "Examples:",
        "FJORD_BROKERS",
    ] {
        assert!(help.contains(expected), "{expected} in\n{help}");
    }
    let help = expect_success(fjord(&["topic", "--help"]));
    for expected in [
        "Examples:",
        "--brokers",
        "FJORD_BROKERS",
        "--format",
        "Exit codes:",
    ] {
        assert!(help.contains(expected), "{expected} in\n{help}");
    }
    for (command, flags) in [
        (
            "create",
            &[
                "--partitions",
                "--replicas",
                "--config",
                "--if-not-exists",
                "--dry-run",
            ][..],
        ),
        ("list", &["--internal"]),
        ("describe", &["--all-configs"]),
        ("delete", &["--if-exists"]),
        ("alter-config", &["--set", "--delete", "--dry-run"]),
        ("add-partitions", &["--to", "--dry-run"]),
    ] {
        let help = expect_success(fjord(&["topic", command, "--help"]));
        assert!(
            help.contains("Examples:") && help.contains(&format!("fjord topic {command} ")),
            "fjord topic {command} --help:\n{help}"
        );
        assert!(help.contains("Exit codes:"), "{help}");
        for flag in flags {
            assert!(
                help.contains(flag),
                "{flag} in fjord topic {command} --help:\n{help}"
            );
        }
    }
}
