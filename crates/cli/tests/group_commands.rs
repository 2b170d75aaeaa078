//! `fjord group list | describe | reset-offsets | delete`, run as the built binary against
//! a test broker, with a librdkafka consumer as the group's member: what each command
//! prints (text and JSON), what it changes, and its errors and exit codes (unknown group,
//! unknown topic, active group, broker down, silent broker, bad arguments).

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{REQUEST_TIMEOUT, client_config, create_topic, producer_config};
use fjord_testkit::command::{Finished, run_with_timeout};
use fjord_testkit::messages::{Numbered, flush, recording_producer};
use rdkafka::Offset;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use serde_json::Value;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;
/// Per partition: messages of 2020 at offsets 0..4, of 2023 at 4..7.
const OLD_PER_PARTITION: i64 = 4;
const NEW_PER_PARTITION: i64 = 3;
const LOG_END: i64 = OLD_PER_PARTITION + NEW_PER_PARTITION;
const OLD_MS: i64 = 1_577_836_800_000; // 2020-01-01T00:00:00Z
const NEW_MS: i64 = 1_672_531_200_000; // 2023-01-01T00:00:00Z

const NUMBERED: Numbered = Numbered {
    keys: 10,
    value_bytes: 40,
};

const DEADLINE: Duration = Duration::from_secs(60);

/// Exit codes the commands promise (see `fjord group --help`).
const FAILURE: i32 = 1;
const USAGE: i32 = 2;
const UNREACHABLE: i32 = 3;
const NOT_FOUND: i32 = 4;

/// Runs `fjord ARGS`, without FJORD_BROKERS from the caller's environment.
fn fjord(args: &[&str]) -> Finished {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fjord"));
    command.args(args).env_remove("FJORD_BROKERS");
    run_with_timeout(&mut command, b"", Duration::from_secs(120))
}

/// Runs `fjord group ARGS --brokers BOOTSTRAP`.
fn group(bootstrap: &str, args: &[&str]) -> Finished {
    let mut all = vec!["group"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--brokers", bootstrap]);
    fjord(&all)
}

fn code(finished: &Finished) -> i32 {
    finished.status.code().expect("fjord exited, not killed")
}

/// Asserts success and returns stdout.
fn ok(finished: Finished) -> String {
    assert_eq!(
        code(&finished),
        0,
        "fjord failed\n--- stdout\n{}\n--- stderr\n{}",
        finished.stdout,
        finished.stderr
    );
    finished.stdout
}

/// Asserts exit code `expected` with nothing on stdout, and returns stderr.
fn fails(finished: Finished, expected: i32) -> String {
    assert_eq!(
        code(&finished),
        expected,
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        finished.stdout,
        finished.stderr
    );
    assert_eq!(finished.stdout, "", "nothing on stdout after an error");
    finished.stderr
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

/// A broker with topic `orders`: 3 partitions, each with 4 messages from 2020 and then
/// 3 from 2023.
fn broker_with_orders() -> TestBroker {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, TOPIC, PARTITIONS, &[]);
    let producer = recording_producer(&producer_config(&bootstrap));
    let mut id = 0;
    for (count, base_ms) in [(OLD_PER_PARTITION, OLD_MS), (NEW_PER_PARTITION, NEW_MS)] {
        for partition in 0..PARTITIONS {
            for _ in 0..count {
                NUMBERED.send(
                    &producer,
                    TOPIC,
                    Some(partition),
                    id,
                    Some(base_ms + id as i64),
                );
                id += 1;
            }
        }
        // Old messages first in every partition.
        flush(&producer);
    }
    broker
}

/// A member of `group` subscribed to `orders`, with manual commits, speaking the classic
/// group protocol.
fn member(bootstrap: &str, group: &str) -> BaseConsumer {
    let mut config = member_config(bootstrap, group);
    config
        .set("partition.assignment.strategy", "range")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500");
    subscribed(&config)
}

/// Settings of a member of `group` with either protocol.
fn member_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = client_config(bootstrap);
    config
        .set("group.id", group)
        .set("client.id", "billing-consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100");
    config
}

fn subscribed(config: &ClientConfig) -> BaseConsumer {
    let consumer: BaseConsumer = config.create().unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    consumer
}

/// Polls `consumer` until it has read `count` messages; returns (partition, offset)s.
fn consume(consumer: &BaseConsumer, count: usize) -> Vec<(i32, i64)> {
    let deadline = Instant::now() + DEADLINE;
    let mut read = Vec::new();
    while read.len() < count {
        assert!(
            Instant::now() < deadline,
            "read {} of {count} messages",
            read.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => read.push((message.partition(), message.offset())),
            Some(Err(error)) => eprintln!("consumer: {error}"),
            None => {}
        }
    }
    read
}

/// Commits `offset` for every partition of `orders` as the member of `consumer`.
fn commit(consumer: &BaseConsumer, offset: i64) {
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition_offset(TOPIC, partition, Offset::Offset(offset))
            .unwrap();
    }
    consumer.commit(&list, CommitMode::Sync).unwrap();
}

/// The group's committed offsets of `orders` as librdkafka reads them (OffsetFetch):
/// a check that does not go through `fjord`.
fn committed(bootstrap: &str, group: &str) -> Vec<Option<i64>> {
    let mut config = client_config(bootstrap);
    config.set("group.id", group);
    let consumer: BaseConsumer = config.create().unwrap();
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition(TOPIC, partition);
    }
    let answer = consumer.committed_offsets(list, REQUEST_TIMEOUT).unwrap();
    (0..PARTITIONS)
        .map(
            |p| match answer.find_partition(TOPIC, p).unwrap().offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            },
        )
        .collect()
}

/// Waits until `fjord group describe` reports `state`.
fn wait_for_state(bootstrap: &str, group_id: &str, state: &str) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let finished = group(bootstrap, &["describe", group_id, "--format", "json"]);
        if code(&finished) == 0 {
            let described = json(&finished.stdout);
            if described["state"] == state {
                return described;
            }
        }
        assert!(
            Instant::now() < deadline,
            "group {group_id} not {state} after {DEADLINE:?}: {}{}",
            finished.stdout,
            finished.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A group `billing` that read everything, committed offset 4 in each partition (so the
/// 2023 messages are its lag), and whose member has left: an Empty group.
fn empty_group(bootstrap: &str) {
    let consumer = member(bootstrap, "billing");
    consume(&consumer, (PARTITIONS as i64 * LOG_END) as usize);
    commit(&consumer, OLD_PER_PARTITION);
    consumer.unsubscribe();
    drop(consumer);
    wait_for_state(bootstrap, "billing", "Empty");
}

#[test]
fn help_texts_show_examples_and_exit_codes() {
    let help = ok(fjord(&["--help"]));
    assert!(help.contains("group"), "{help}");
    let help = ok(fjord(&["group", "--help"]));
    for expected in [
        "Examples:",
        "--brokers",
        "FJORD_BROKERS",
        "--format",
        "Exit codes:",
    ] {
        assert!(help.contains(expected), "{expected} in\n{help}");
    }
    for command in ["list", "describe", "reset-offsets", "delete"] {
        let help = ok(fjord(&["group", command, "--help"]));
        assert!(
            help.contains("Examples:"),
            "fjord group {command} --help:\n{help}"
        );
        assert!(help.contains("fjord group "), "{help}");
    }
    let help = ok(fjord(&["group", "reset-offsets", "--help"]));
    for flag in [
        "--to-earliest",
        "--to-latest",
        "--to-offset",
        "--to-datetime",
        "--shift-by",
        "--dry-run",
    ] {
        assert!(help.contains(flag), "{flag} in\n{help}");
    }
}

#[test]
fn bad_arguments_exit_2_with_the_reason() {
    let cases: [(&[&str], &str); 9] = [
        (&["group"], "Usage"),
        (&["group", "describe"], "GROUP"),
        (
            &["group", "reset-offsets", "g", "--topic", "t"],
            "--to-earliest",
        ),
        (
            &[
                "group",
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-earliest",
                "--to-latest",
            ],
            "cannot be used with",
        ),
        (&["group", "reset-offsets", "g", "--to-earliest"], "--topic"),
        (
            &[
                "group",
                "reset-offsets",
                "g",
                "--topic",
                "t",
                "--to-datetime",
                "2024-05-01T12:00:00",
            ],
            "no time zone",
        ),
        (
            &[
                "group",
                "reset-offsets",
                "g",
                "--topic",
                "t:x",
                "--to-earliest",
            ],
            "not a partition number",
        ),
        (&["group", "list", "--brokers", "localhost"], "has no port"),
        (&["group", "list", "--format", "yaml"], "yaml"),
    ];
    for (args, expected) in cases {
        let stderr = fails(fjord(args), USAGE);
        assert!(
            stderr.contains(expected),
            "fjord {args:?}: {expected:?} in\n{stderr}"
        );
    }
    // A bad FJORD_BROKERS is as bad as a bad --brokers.
    let mut command = Command::new(env!("CARGO_BIN_EXE_fjord"));
    command
        .args(["group", "list"])
        .env("FJORD_BROKERS", "127.0.0.1:notaport");
    let finished = run_with_timeout(&mut command, b"", Duration::from_secs(60));
    assert_eq!(code(&finished), USAGE, "{}", finished.stderr);
}

#[test]
fn a_broker_that_is_down_exits_3_naming_it() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = listener.local_addr().unwrap().to_string();
    drop(listener);
    for args in [
        &["list"][..],
        &["describe", "billing"],
        &[
            "reset-offsets",
            "billing",
            "--topic",
            TOPIC,
            "--to-earliest",
        ],
        &["delete", "billing"],
    ] {
        let stderr = fails(group(&down, args), UNREACHABLE);
        assert!(
            stderr.starts_with(&format!("fjord: cannot reach any broker of {down}")),
            "fjord group {args:?}:\n{stderr}"
        );
        assert!(stderr.contains("--brokers"), "{stderr}");
    }
    // The same from FJORD_BROKERS, with JSON asked for: errors stay on stderr.
    let mut command = Command::new(env!("CARGO_BIN_EXE_fjord"));
    command
        .args(["group", "list", "--format", "json"])
        .env("FJORD_BROKERS", &down);
    let finished = run_with_timeout(&mut command, b"", Duration::from_secs(60));
    let stderr = fails(finished, UNREACHABLE);
    assert!(stderr.contains(&down), "{stderr}");
}

#[test]
fn a_silent_broker_times_out_and_exits_3() {
    // The kernel completes the handshake, but nobody ever reads the request.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let started = Instant::now();
    let stderr = fails(
        group(&address, &["list", "--timeout-ms", "300"]),
        UNREACHABLE,
    );
    assert!(
        stderr.contains(&format!(
            "{address} did not answer ApiVersions within 300 ms"
        )),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn reset_offsets_of_an_unknown_topic_or_partition_exits_4() {
    let broker = broker_with_orders();
    let bootstrap = broker.bootstrap();
    let stderr = fails(
        group(
            &bootstrap,
            &[
                "reset-offsets",
                "billing",
                "--topic",
                "nope",
                "--to-earliest",
            ],
        ),
        NOT_FOUND,
    );
    assert!(
        stderr.contains("topic 'nope'") && stderr.contains("UNKNOWN_TOPIC_OR_PARTITION (3)"),
        "{stderr}"
    );
    let stderr = fails(
        group(
            &bootstrap,
            &[
                "reset-offsets",
                "billing",
                "--topic",
                "orders:0,9",
                "--to-earliest",
            ],
        ),
        NOT_FOUND,
    );
    assert!(
        stderr.contains("topic 'orders' has no partition 9 (it has 0-2)"),
        "{stderr}"
    );
    // Asking did not create the topic.
    let stderr = fails(
        group(
            &bootstrap,
            &["reset-offsets", "billing", "--topic", "nope", "--to-latest"],
        ),
        NOT_FOUND,
    );
    assert!(stderr.contains("'nope'"), "{stderr}");
}

#[test]
fn describe_shows_members_assignments_and_lag_and_active_groups_are_left_alone() {
    let broker = broker_with_orders();
    let bootstrap = broker.bootstrap();
    let consumer = member(&bootstrap, "billing");
    consume(&consumer, (PARTITIONS as i64 * LOG_END) as usize);
    commit(&consumer, OLD_PER_PARTITION);
    let described = wait_for_state(&bootstrap, "billing", "Stable");

    assert_eq!(described["group"], "billing");
    assert_eq!(described["protocol_type"], "consumer");
    assert_eq!(
        described["lag_total"],
        PARTITIONS as i64 * NEW_PER_PARTITION
    );
    let members = described["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{described}");
    let member_id = members[0]["member_id"].as_str().unwrap().to_owned();
    assert_eq!(members[0]["client_id"], "billing-consumer");
    assert!(members[0]["host"].as_str().unwrap().contains("127.0.0.1"));
    assert_eq!(
        members[0]["assignment"],
        serde_json::json!([{"topic": TOPIC, "partitions": [0, 1, 2]}])
    );
    let partitions = described["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), PARTITIONS as usize);
    for (i, partition) in partitions.iter().enumerate() {
        assert_eq!(
            partition,
            &serde_json::json!({
                "topic": TOPIC, "partition": i, "committed_offset": OLD_PER_PARTITION,
                "log_end_offset": LOG_END, "lag": NEW_PER_PARTITION, "member_id": member_id,
            })
        );
    }

    let text = ok(group(&bootstrap, &["describe", "billing"]));
    assert!(
        text.starts_with(
            "GROUP    STATE   TYPE     PROTOCOL          MEMBERS  LAG\n\
             billing  Stable  classic  consumer (range)  1        9\n"
        ),
        "{text}"
    );
    assert!(text.contains("billing-consumer"), "{text}");
    assert!(text.contains("orders:0,1,2"), "{text}");
    assert!(
        text.contains("TOPIC   PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  MEMBER-ID"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "orders  0          4               7               3    {member_id}"
        )),
        "{text}"
    );

    let listed = json(&ok(group(&bootstrap, &["list", "--format", "json"])));
    let billing = listed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "billing")
        .unwrap_or_else(|| panic!("billing in {listed}"));
    assert_eq!(billing["state"], "Stable");
    assert_eq!(billing["protocol_type"], "consumer");
    let text = ok(group(&bootstrap, &["list"]));
    assert!(text.starts_with("GROUP"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("billing ") && l.contains("Stable")),
        "{text}"
    );
    let stable = json(&ok(group(
        &bootstrap,
        &["list", "--state", "Stable", "--format", "json"],
    )));
    assert_eq!(stable["groups"].as_array().unwrap().len(), 1, "{stable}");
    let empty = json(&ok(group(
        &bootstrap,
        &["list", "--state", "Empty", "--format", "json"],
    )));
    assert!(
        empty["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["group"] != "billing"),
        "{empty}"
    );

    // An active group is left alone, even in a dry run.
    for extra in [&[][..], &["--dry-run"]] {
        let mut args = vec![
            "reset-offsets",
            "billing",
            "--topic",
            TOPIC,
            "--to-earliest",
        ];
        args.extend_from_slice(extra);
        let stderr = fails(group(&bootstrap, &args), FAILURE);
        assert!(
            stderr.contains("group 'billing' is Stable with 1 member(s)"),
            "{stderr}"
        );
        assert!(stderr.contains("stop its consumers first"), "{stderr}");
    }
    let stderr = fails(group(&bootstrap, &["delete", "billing"]), FAILURE);
    assert!(stderr.contains("NON_EMPTY_GROUP (68)"), "{stderr}");
    assert_eq!(
        committed(&bootstrap, "billing"),
        vec![Some(OLD_PER_PARTITION); 3]
    );
    drop(consumer);
}

#[test]
fn reset_offsets_moves_an_empty_group_and_it_reprocesses_from_there() {
    let broker = broker_with_orders();
    let bootstrap = broker.bootstrap();
    empty_group(&bootstrap);
    let reset = |target: &[&str], dry_run: bool| {
        let mut args = vec![
            "reset-offsets",
            "billing",
            "--topic",
            TOPIC,
            "--format",
            "json",
        ];
        args.extend_from_slice(target);
        if dry_run {
            args.push("--dry-run");
        }
        json(&ok(group(&bootstrap, &args)))
    };
    let new_offsets = |report: &Value| -> Vec<i64> {
        report["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["new_offset"].as_i64().unwrap())
            .collect()
    };

    // A dry run shows the table and changes nothing.
    let report = reset(&["--to-earliest"], true);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["partitions"][0]["old_offset"], OLD_PER_PARTITION);
    assert_eq!(new_offsets(&report), [0, 0, 0]);
    assert_eq!(
        committed(&bootstrap, "billing"),
        vec![Some(OLD_PER_PARTITION); 3]
    );

    let cases: [(&[&str], i64); 7] = [
        (&["--to-earliest"], 0),
        (&["--to-offset", "2"], 2),
        (&["--shift-by", "3"], 5),
        (&["--shift-by", "-100"], 0),
        (&["--to-latest"], LOG_END),
        (&["--to-offset", "1000"], LOG_END),
        // Between the 2020 and the 2023 messages, written in another zone.
        (
            &["--to-datetime", "2022-06-01T02:00:00+02:00"],
            OLD_PER_PARTITION,
        ),
    ];
    for (target, expected) in cases {
        let report = reset(target, false);
        assert_eq!(report["dry_run"], false);
        assert_eq!(new_offsets(&report), [expected; 3], "{target:?}");
        assert_eq!(
            committed(&bootstrap, "billing"),
            vec![Some(expected); 3],
            "{target:?}"
        );
    }
    // After every message there is none: the log end.
    let report = reset(&["--to-datetime", "2030-01-01T00:00:00Z"], false);
    assert_eq!(new_offsets(&report), [LOG_END; 3]);

    // One partition of one topic, as text.
    let text = ok(group(
        &bootstrap,
        &[
            "reset-offsets",
            "billing",
            "--topic",
            "orders:1",
            "--to-datetime",
            "2022-06-01T00:00:00Z",
        ],
    ));
    assert_eq!(
        text,
        "TOPIC   PARTITION  OLD-OFFSET  NEW-OFFSET\n\
         orders  1          7           4\n"
    );
    let text = ok(group(
        &bootstrap,
        &[
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-datetime",
            "2022-06-01T00:00:00Z",
            "--dry-run",
        ],
    ));
    assert!(
        text.ends_with("Dry run: the offsets of group 'billing' were not changed.\n"),
        "{text}"
    );
    ok(group(
        &bootstrap,
        &[
            "reset-offsets",
            "billing",
            "--topic",
            "orders",
            "--to-datetime",
            "2022-06-01T00:00:00Z",
        ],
    ));

    // The group resumes from the reset offsets: only the 2023 messages are read again.
    let consumer = member(&bootstrap, "billing");
    let read = consume(&consumer, (PARTITIONS as i64 * NEW_PER_PARTITION) as usize);
    for partition in 0..PARTITIONS {
        let offsets: Vec<i64> = read
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(offsets, [4, 5, 6], "partition {partition}");
    }
}

#[test]
fn shifting_a_group_without_offsets_is_refused_and_a_new_group_gets_offsets() {
    let broker = broker_with_orders();
    let bootstrap = broker.bootstrap();
    let stderr = fails(
        group(
            &bootstrap,
            &[
                "reset-offsets",
                "fresh",
                "--topic",
                TOPIC,
                "--shift-by",
                "1",
            ],
        ),
        FAILURE,
    );
    assert!(
        stderr.contains("no committed offset for orders-0, orders-1, orders-2"),
        "{stderr}"
    );
    // A group nobody has used yet is Dead: setting its offsets creates it, as with Kafka.
    let report = json(&ok(group(
        &bootstrap,
        &[
            "reset-offsets",
            "fresh",
            "--topic",
            "orders:2",
            "--to-offset",
            "3",
            "--format",
            "json",
        ],
    )));
    assert_eq!(
        report["partitions"],
        serde_json::json!([{"topic": TOPIC, "partition": 2, "old_offset": null, "new_offset": 3}])
    );
    assert_eq!(committed(&bootstrap, "fresh"), vec![None, None, Some(3)]);
    let described = json(&ok(group(
        &bootstrap,
        &["describe", "fresh", "--format", "json"],
    )));
    assert_eq!(described["state"], "Empty");
    assert_eq!(described["lag_total"], LOG_END - 3);
}

#[test]
fn delete_removes_a_group_and_unknown_groups_exit_4() {
    let broker = broker_with_orders();
    let bootstrap = broker.bootstrap();
    empty_group(&bootstrap);

    let deleted = ok(group(&bootstrap, &["delete", "billing"]));
    assert_eq!(deleted, "Deleted group 'billing'.\n");
    let listed = json(&ok(group(&bootstrap, &["list", "--format", "json"])));
    assert!(
        listed["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["group"] != "billing"),
        "{listed}"
    );
    assert_eq!(committed(&bootstrap, "billing"), vec![None; 3]);

    let stderr = fails(group(&bootstrap, &["describe", "billing"]), NOT_FOUND);
    assert_eq!(stderr, "fjord: group 'billing' does not exist\n");
    let stderr = fails(group(&bootstrap, &["delete", "billing"]), NOT_FOUND);
    assert!(stderr.contains("GROUP_ID_NOT_FOUND (69)"), "{stderr}");
    let stderr = fails(group(&bootstrap, &["describe", "never-existed"]), NOT_FOUND);
    assert!(
        stderr.contains("'never-existed' does not exist"),
        "{stderr}"
    );

    // JSON for scripts.
    empty_group(&bootstrap);
    let deleted = json(&ok(group(
        &bootstrap,
        &["delete", "billing", "--format", "json"],
    )));
    assert_eq!(
        deleted,
        serde_json::json!({"group": "billing", "deleted": true})
    );
}

#[test]
fn groups_of_the_consumer_protocol_are_described_and_reset() {
    let broker = broker_with_orders();
    let bootstrap = broker.bootstrap();
    let mut config = member_config(&bootstrap, "billing");
    config.set("group.protocol", "consumer");
    let consumer = subscribed(&config);
    consume(&consumer, (PARTITIONS as i64 * LOG_END) as usize);
    commit(&consumer, OLD_PER_PARTITION);

    let described = wait_for_state(&bootstrap, "billing", "Stable");
    assert_eq!(described["type"], "consumer");
    assert_eq!(described["protocol_type"], "consumer");
    assert_eq!(
        described["lag_total"],
        PARTITIONS as i64 * NEW_PER_PARTITION
    );
    let members = described["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{described}");
    assert_eq!(members[0]["client_id"], "billing-consumer");
    assert_eq!(
        members[0]["assignment"],
        serde_json::json!([{"topic": TOPIC, "partitions": [0, 1, 2]}])
    );
    let listed = json(&ok(group(&bootstrap, &["list", "--format", "json"])));
    let billing = listed["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "billing")
        .unwrap_or_else(|| panic!("billing in {listed}"));
    assert_eq!(billing["type"], "consumer");

    let stderr = fails(
        group(
            &bootstrap,
            &[
                "reset-offsets",
                "billing",
                "--topic",
                TOPIC,
                "--to-earliest",
            ],
        ),
        FAILURE,
    );
    assert!(
        stderr.contains("group 'billing' is Stable with 1 member(s)"),
        "{stderr}"
    );

    consumer.unsubscribe();
    drop(consumer);
    wait_for_state(&bootstrap, "billing", "Empty");
    ok(group(
        &bootstrap,
        &[
            "reset-offsets",
            "billing",
            "--topic",
            TOPIC,
            "--to-earliest",
        ],
    ));
    assert_eq!(committed(&bootstrap, "billing"), vec![Some(0); 3]);
    ok(group(&bootstrap, &["delete", "billing"]));
    fails(group(&bootstrap, &["describe", "billing"]), NOT_FOUND);
}
