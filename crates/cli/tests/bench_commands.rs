//! `fjord bench produce | consume | e2e`, run as the built binary against a test broker
//! with small counts: the summaries are complete and consistent (counts match what was
//! asked, percentiles are ordered, throughput is positive), the topic is created as
//! asked, nothing but the summary is printed when not on a terminal, and errors have
//! their exit codes. No timing is asserted: performance lives in docs/performance.md.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use fjord_testkit::TestBroker;
use fjord_testkit::clients::partition_count;
use fjord_testkit::command::{Finished, run_with_timeout};
use serde_json::Value;

const USAGE: i32 = 2;
const UNREACHABLE: i32 = 3;
const NOT_FOUND: i32 = 4;

/// Runs `fjord bench ARGS --brokers BOOTSTRAP`.
fn bench(bootstrap: &str, args: &[&str]) -> Finished {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fjord"));
    command
        .arg("bench")
        .args(args)
        .args(["--brokers", bootstrap])
        .env_remove("FJORD_BROKERS");
    run_with_timeout(&mut command, b"", Duration::from_secs(180))
}

fn code(finished: &Finished) -> i32 {
    finished.status.code().expect("fjord exited, not killed")
}

/// Runs a bench with `--format json`, asserts success and an empty stderr (no progress
/// line when stderr is not a terminal), and returns the summary.
fn summary(bootstrap: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    let finished = bench(bootstrap, &all);
    assert_eq!(
        code(&finished),
        0,
        "fjord bench failed\n--- stdout\n{}\n--- stderr\n{}",
        finished.stdout,
        finished.stderr
    );
    assert_eq!(
        finished.stderr, "",
        "nothing on stderr when it is not a terminal"
    );
    serde_json::from_str(&finished.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", finished.stdout))
}

fn fails(finished: Finished, expected: i32) -> String {
    assert_eq!(
        code(&finished),
        expected,
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        finished.stdout,
        finished.stderr
    );
    finished.stderr
}

/// Checks the fields every summary has and their consistency; returns the count.
fn check_throughput(summary: &Value, scenario: &str, message_bytes: u64) -> u64 {
    assert_eq!(summary["scenario"], scenario, "{summary}");
    let messages = summary["messages"].as_u64().unwrap();
    assert_eq!(
        summary["bytes"].as_u64().unwrap(),
        messages * message_bytes,
        "{summary}"
    );
    assert_eq!(summary["errors"], 0, "{summary}");
    let seconds = summary["elapsed_secs"].as_f64().unwrap();
    assert!(seconds > 0.0, "{summary}");
    let rate = summary["messages_per_sec"].as_f64().unwrap();
    assert!(rate > 0.0, "{summary}");
    assert!((rate * seconds - messages as f64).abs() < 1.0, "{summary}");
    let megabytes = summary["megabytes_per_sec"].as_f64().unwrap();
    assert!((megabytes * 1e6 * seconds - (messages * message_bytes) as f64).abs() < 1.0);
    messages
}

/// Checks that the latency percentiles are there and ordered.
fn check_latency(summary: &Value, measured: &str) {
    let latency = &summary["latency"];
    assert_eq!(latency["measured"], measured, "{summary}");
    let values: Vec<f64> = ["p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms"]
        .iter()
        .map(|field| {
            latency[field]
                .as_f64()
                .unwrap_or_else(|| panic!("{field}: {summary}"))
        })
        .collect();
    assert!(values[0] > 0.0, "{summary}");
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "ordered: {values:?}"
    );
}

#[test]
fn produce_creates_the_topic_and_consume_reads_back_every_message() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let produced = summary(
        &bootstrap,
        &[
            "produce",
            "--topic",
            "load",
            "--partitions",
            "3",
            "--count",
            "2000",
            "--acks",
            "1",
        ],
    );
    assert_eq!(check_throughput(&produced, "produce", 1024), 2000);
    check_latency(&produced, "send to acknowledgement");
    assert_eq!(produced["partitions"], 3);
    assert_eq!(produced["acks"], "1");
    assert_eq!(produced["producers"], 1);
    assert_eq!(partition_count(&bootstrap, "load"), Some(3));

    // A second run adds to the same topic; consume reads what there is.
    let produced = summary(
        &bootstrap,
        &[
            "produce",
            "--topic",
            "load",
            "--count",
            "1000",
            "--producers",
            "3",
            "--compression",
            "zstd",
        ],
    );
    assert_eq!(check_throughput(&produced, "produce", 1024), 1000);
    let consumed = summary(
        &bootstrap,
        &["consume", "--topic", "load", "--consumers", "2"],
    );
    assert_eq!(check_throughput(&consumed, "consume", 1024), 3000);
    assert_eq!(
        consumed["latency"],
        Value::Null,
        "consume measures throughput only"
    );
    let some = summary(
        &bootstrap,
        &["consume", "--topic", "load", "--count", "500"],
    );
    assert_eq!(check_throughput(&some, "consume", 1024), 500);
}

#[test]
fn every_acks_setting_and_codec_is_measured() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    for (acks, compression) in [("0", "gzip"), ("1", "snappy"), ("all", "lz4")] {
        let produced = summary(
            &bootstrap,
            &[
                "produce",
                "--count",
                "500",
                "--message-bytes",
                "100",
                "--acks",
                acks,
                "--compression",
                compression,
            ],
        );
        assert_eq!(check_throughput(&produced, "produce", 100), 500);
        assert_eq!(produced["acks"], acks);
        assert_eq!(produced["compression"], compression);
        assert_eq!(produced["partitions"], 6, "the default");
    }
}

#[test]
fn e2e_receives_every_message_and_times_it() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let e2e = summary(
        &bootstrap,
        &[
            "e2e",
            "--count",
            "2000",
            "--message-bytes",
            "64",
            "--producers",
            "2",
            "--consumers",
            "2",
            "--partitions",
            "4",
        ],
    );
    assert_eq!(check_throughput(&e2e, "e2e", 64), 2000);
    check_latency(&e2e, "send to receipt");
    assert_eq!(e2e["consumers"], 2);

    // A rate limit with a duration: the limiter never runs ahead of the rate.
    let limited = summary(
        &bootstrap,
        &[
            "e2e",
            "--duration-secs",
            "1",
            "--rate-limit",
            "300",
            "--message-bytes",
            "16",
        ],
    );
    let messages = check_throughput(&limited, "e2e", 16);
    assert!((1..=301).contains(&messages), "{limited}");
}

#[test]
fn the_text_summary_names_throughput_and_percentiles() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let finished = bench(
        &bootstrap,
        &["produce", "--count", "300", "--message-bytes", "10"],
    );
    assert_eq!(code(&finished), 0, "{}", finished.stderr);
    let text = finished.stdout;
    assert!(
        text.starts_with("produce: 10-byte messages, topic fjord-bench (6 partitions)"),
        "{text}"
    );
    assert!(text.contains("300 messages, 0.0 MB in "), "{text}");
    assert!(text.contains("msgs/s"), "{text}");
    for percentile in ["p50", "p90", "p99", "p99.9", "max"] {
        assert!(
            text.contains(&format!("{percentile} ")),
            "{percentile}: {text}"
        );
    }
}

#[test]
fn errors_have_their_exit_codes() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let stderr = fails(
        bench(&bootstrap, &["consume", "--topic", "empty-handed"]),
        NOT_FOUND,
    );
    assert!(
        stderr.contains("fjord bench produce --topic empty-handed"),
        "{stderr}"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = listener.local_addr().unwrap().to_string();
    drop(listener);
    for scenario in ["produce", "consume", "e2e"] {
        let stderr = fails(bench(&nowhere, &[scenario, "--count", "10"]), UNREACHABLE);
        assert!(stderr.contains("cannot reach any broker"), "{stderr}");
    }

    for args in [
        &["produce", "--message-bytes", "0"][..],
        &["produce", "--count", "10", "--duration-secs", "1"],
        &["produce", "--acks", "2"],
        &["produce", "--producers", "0"],
        &["consume", "--compression", "brotli"],
        &["e2e", "--message-bytes", "4"],
        &["flood"],
    ] {
        fails(bench(&bootstrap, args), USAGE);
    }
}
