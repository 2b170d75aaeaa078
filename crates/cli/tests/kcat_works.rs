//! Debian's kcat, built on librdkafka 2.0.2 (older than the rdkafka crate's), lists,
//! produces, consumes and queries offsets by time. Old clients are real users: this is
//! the client that mis-skips tagged fields in a careless ApiVersions v3 response.
//!
//! kcat must be installed; `scripts/test` installs it.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{create_topic, producer_config};
use fjord_testkit::command::{Finished, run_with_timeout};
use fjord_testkit::messages::{Numbered, flush, recording_producer};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs kcat against `broker` with `args` and `stdin`, and fails the test unless it
/// exits successfully.
fn kcat(broker: &TestBroker, args: &[&str], stdin: &str) -> Finished {
    let mut command = Command::new("kcat");
    command.arg("-b").arg(broker.bootstrap()).args(args);
    if which_kcat().is_none() {
        panic!("kcat is not installed: run scripts/test, which installs it (apt-get install kcat)");
    }
    let finished = run_with_timeout(&mut command, stdin.as_bytes(), TIMEOUT);
    assert!(
        finished.status.success(),
        "kcat {args:?} failed: {}\n--- stdout\n{}\n--- stderr\n{}",
        finished.status,
        finished.stdout,
        finished.stderr
    );
    finished
}

fn which_kcat() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kcat"))
            .find(|path| path.is_file())
    })
}

#[test]
fn lists_brokers_topics_and_partitions() {
    let broker = TestBroker::start();
    create_topic(&broker.bootstrap(), "kcat-listed", 3, &[]);
    let listed = kcat(&broker, &["-L"], "");
    let out = &listed.stdout;
    let port = broker.addr().port();
    assert!(out.contains(" 1 brokers:"), "{out}");
    assert!(
        out.contains(&format!("broker 1 at 127.0.0.1:{port}")),
        "{out}"
    );
    assert!(
        out.contains("topic \"kcat-listed\" with 3 partitions:"),
        "{out}"
    );
    for partition in 0..3 {
        assert!(
            out.contains(&format!(
                "partition {partition}, leader 1, replicas: 1, isrs: 1"
            )),
            "{out}"
        );
    }

    // One topic by name.
    let one = kcat(&broker, &["-L", "-t", "kcat-listed"], "");
    assert!(one.stdout.contains("1 topics:"), "{}", one.stdout);
}

#[test]
fn produces_and_consumes_with_every_codec() {
    let broker = TestBroker::start();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        let input: String = (0..200)
            .map(|i| format!("key-{i}:value {i} compressed with {codec}\n"))
            .collect();
        // The topic does not exist: kcat's Metadata request creates it.
        kcat(
            &broker,
            &[
                "-P",
                "-t",
                &topic,
                "-K:",
                "-H",
                "origin=kcat",
                "-X",
                &format!("compression.codec={codec}"),
            ],
            &input,
        );
        let consumed = kcat(
            &broker,
            &[
                "-C",
                "-t",
                &topic,
                "-o",
                "beginning",
                "-e",
                "-f",
                "%p %o %k=%s %h\n",
            ],
            "",
        );
        let expected: String = (0..200)
            .map(|i| format!("0 {i} key-{i}=value {i} compressed with {codec} origin=kcat\n"))
            .collect();
        assert_eq!(consumed.stdout, expected, "kcat's round trip with {codec}");
    }
}

#[test]
fn consumes_from_an_offset_and_queries_by_time() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "kcat-replay", 1, &[]);
    let numbered = Numbered {
        keys: 1,
        value_bytes: 20,
    };
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000;
    let producer = recording_producer(&producer_config(&bootstrap));
    for id in 0..20 {
        numbered.send(
            &producer,
            "kcat-replay",
            Some(0),
            id,
            Some(t0 + 1000 * id as i64),
        );
    }
    flush(&producer);

    // -o 7 -c 3: messages 7, 8 and 9.
    let consumed = kcat(
        &broker,
        &[
            "-C",
            "-t",
            "kcat-replay",
            "-o",
            "7",
            "-c",
            "3",
            "-e",
            "-f",
            "%o %T\n",
        ],
        "",
    );
    let expected: String = (7..10)
        .map(|i| format!("{i} {}\n", t0 + 1000 * i))
        .collect();
    assert_eq!(consumed.stdout, expected);

    // -Q: ListOffsets by timestamp; 12.5 s after T0 is message 13's time or later.
    let query = format!("kcat-replay:0:{}", t0 + 12_500);
    let queried = kcat(&broker, &["-Q", "-t", &query], "");
    assert!(
        queried.stdout.contains("kcat-replay [0] offset 13"),
        "{}",
        queried.stdout
    );
}
