//! `fjord produce` and `fjord consume`, run as the built binary against a test broker:
//! lines sent come back with their keys, headers and partitions, with every codec and
//! every acks setting; raw binary values; every way to choose where consuming starts;
//! group commits; templates and JSON lines; and the errors and exit codes (unknown
//! topic, broker down, bad arguments, a message too large).

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use fjord_testkit::TestBroker;
use fjord_testkit::clients::{create_topic, producer_config};
use fjord_testkit::command::{Finished, run_with_timeout};
use fjord_testkit::messages::{Numbered, flush, read, recording_producer};
use rdkafka::Offset;
use serde_json::Value;

/// Exit codes the commands promise (see `fjord produce --help`).
const FAILURE: i32 = 1;
const USAGE: i32 = 2;
const UNREACHABLE: i32 = 3;
const NOT_FOUND: i32 = 4;

/// Runs `fjord ARGS` with `stdin`, without FJORD_BROKERS from the caller's environment.
fn fjord(args: &[&str], stdin: &[u8]) -> Finished {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fjord"));
    command.args(args).env_remove("FJORD_BROKERS");
    run_with_timeout(&mut command, stdin, Duration::from_secs(120))
}

/// Runs `fjord produce TOPIC ARGS --brokers BOOTSTRAP` with `stdin`.
fn produce(bootstrap: &str, topic: &str, args: &[&str], stdin: &[u8]) -> Finished {
    let mut all = vec!["produce", topic, "--brokers", bootstrap];
    all.extend_from_slice(args);
    fjord(&all, stdin)
}

/// Runs `fjord consume TOPIC ARGS --brokers BOOTSTRAP`.
fn consume(bootstrap: &str, topic: &str, args: &[&str]) -> Finished {
    let mut all = vec!["consume", topic, "--brokers", bootstrap];
    all.extend_from_slice(args);
    fjord(&all, b"")
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

/// Asserts exit code `expected` and returns stderr.
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

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// An address where no broker listens.
fn nowhere() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address.to_string()
}

#[test]
fn lines_with_keys_and_headers_come_back_with_their_offsets() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1, &[]);

    let sent = ok(produce(
        &bootstrap,
        "orders",
        &[
            "--key-separator",
            "::",
            "-H",
            "source=cli",
            "-H",
            "trace=a=b",
            "-v",
        ],
        b"alice::1\nbob::two words\r\ncarol::::3",
    ));
    assert_eq!(sent, "orders/0@0\norders/0@1\norders/0@2\n");

    let printed = ok(consume(
        &bootstrap,
        "orders",
        &[
            "--from-beginning",
            "--exit-at-end",
            "--format",
            "%t %p@%o %k=%v [%h]\\t%%",
        ],
    ));
    assert_eq!(
        printed,
        "orders 0@0 alice=1 [source=cli,trace=a=b]\t%\n\
         orders 0@1 bob=two words [source=cli,trace=a=b]\t%\n\
         orders 0@2 carol=::3 [source=cli,trace=a=b]\t%\n"
    );

    // The default format is the value alone, one per line.
    let values = ok(consume(&bootstrap, "orders", &["--from-beginning", "-e"]));
    assert_eq!(values, "1\ntwo words\n::3\n");

    let lines = json_lines(&ok(consume(
        &bootstrap,
        "orders",
        &["--from-beginning", "-e", "--format", "json"],
    )));
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["topic"], "orders");
    assert_eq!(lines[1]["partition"], 0);
    assert_eq!(lines[1]["offset"], 1);
    assert_eq!(lines[1]["key"], "bob");
    assert_eq!(lines[1]["value"], "two words");
    assert_eq!(lines[1]["headers"][0]["key"], "source");
    assert_eq!(lines[1]["headers"][1]["value"], "a=b");
    assert!(lines[1]["timestamp_ms"].as_i64().unwrap() > 1_600_000_000_000);

    // -v in JSON: one object per message.
    let sent = json_lines(&ok(produce(
        &bootstrap,
        "orders",
        &["-v", "--format", "json"],
        b"dave\n",
    )));
    assert_eq!(
        sent,
        vec![serde_json::json!({"topic": "orders", "partition": 0, "offset": 3})]
    );
}

#[test]
fn every_codec_and_every_acks_setting_delivers() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "codecs", 1, &[]);
    let mut expected = String::new();
    let mut offset = 0;
    for compression in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for acks in ["0", "1", "all"] {
            let lines = format!("{compression}-{acks}-a\n{compression}-{acks}-b\n");
            let printed = ok(produce(
                &bootstrap,
                "codecs",
                &["--compression", compression, "--acks", acks, "-v"],
                lines.as_bytes(),
            ));
            if acks == "0" {
                // No answer, so no offsets: said once on stderr, "-" on stdout.
                assert_eq!(printed, "codecs/0@-\ncodecs/0@-\n");
            } else {
                assert_eq!(
                    printed,
                    format!("codecs/0@{offset}\ncodecs/0@{}\n", offset + 1)
                );
            }
            offset += 2;
            expected.push_str(&lines);
        }
    }
    let printed = ok(consume(&bootstrap, "codecs", &["--from-beginning", "-e"]));
    assert_eq!(printed, expected);
}

#[test]
fn a_partition_option_sends_there_and_reads_only_there() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "spread", 3, &[]);
    let sent = ok(produce(
        &bootstrap,
        "spread",
        &["--partition", "2", "-v"],
        b"x\ny\n",
    ));
    assert_eq!(sent, "spread/2@0\nspread/2@1\n");
    ok(produce(&bootstrap, "spread", &["-p", "0"], b"z\n"));

    let two = ok(consume(
        &bootstrap,
        "spread",
        &[
            "--from-beginning",
            "-e",
            "--partition",
            "2",
            "--format",
            "%p:%v",
        ],
    ));
    assert_eq!(two, "2:x\n2:y\n");
    let mut all: Vec<String> = ok(consume(
        &bootstrap,
        "spread",
        &["--from-beginning", "-e", "--format", "%p:%v"],
    ))
    .lines()
    .map(str::to_owned)
    .collect();
    all.sort();
    assert_eq!(all, ["0:z", "2:x", "2:y"]);

    let stderr = fails(
        produce(&bootstrap, "spread", &["--partition", "3"], b"x\n"),
        NOT_FOUND,
    );
    assert!(stderr.contains("has no partition 3"), "{stderr}");
    let stderr = fails(consume(&bootstrap, "spread", &["-p", "7", "-e"]), NOT_FOUND);
    assert!(stderr.contains("has no partition 7"), "{stderr}");
}

#[test]
fn a_raw_value_keeps_every_byte_and_files_are_read_like_stdin() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "blobs", 1, &[]);
    let blob: Vec<u8> = (0..=255u8).chain([b'\n', b'\r', 0, b'\n']).collect();
    ok(produce(
        &bootstrap,
        "blobs",
        &["--value-from-stdin-raw"],
        &blob,
    ));

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "k1,from file\nk2,again\n").unwrap();
    let path = file.path().to_str().unwrap();
    ok(produce(
        &bootstrap,
        "blobs",
        &["--file", path, "-K", ","],
        b"ignored\n",
    ));

    let received = read(&bootstrap, "blobs", &[(0, Offset::Beginning)], |m| {
        m.offset >= 2
    });
    assert_eq!(received.len(), 3);
    assert_eq!(received[0].value.as_deref(), Some(&blob[..]));
    assert_eq!(received[0].key, None);
    assert_eq!(received[1].key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(received[1].value.as_deref(), Some(&b"from file"[..]));
    assert_eq!(received[2].value.as_deref(), Some(&b"again"[..]));

    // JSON lines keep bytes that are not UTF-8, as base64.
    let lines = json_lines(&ok(consume(
        &bootstrap,
        "blobs",
        &["--offset", "0", "-n", "1", "--format", "json"],
    )));
    let base64 = lines[0]["value"]["base64"].as_str().unwrap();
    assert!(base64.starts_with("AAECAwQFBgc"), "{base64}");
    assert_eq!(base64.len(), blob.len().div_ceil(3) * 4);
}

#[test]
fn consuming_starts_at_the_beginning_an_offset_a_time_or_the_end() {
    const OLD_MS: i64 = 1_577_836_800_000; // 2020-01-01T00:00:00Z
    const NEW_MS: i64 = 1_672_531_200_000; // 2023-01-01T00:00:00Z
    let numbered = Numbered {
        keys: 10,
        value_bytes: 20,
    };
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "history", 2, &[]);
    let producer = recording_producer(&producer_config(&bootstrap));
    let mut id = 0;
    for base_ms in [OLD_MS, NEW_MS] {
        for partition in 0..2 {
            for _ in 0..3 {
                numbered.send(
                    &producer,
                    "history",
                    Some(partition),
                    id,
                    Some(base_ms + id as i64),
                );
                id += 1;
            }
        }
        flush(&producer);
    }
    let offsets = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["-e", "--format", "%p@%o"];
        all.extend_from_slice(args);
        let mut lines: Vec<String> = ok(consume(&bootstrap, "history", &all))
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(offsets(&["--from-beginning"]).len(), 12);
    assert_eq!(offsets(&["--offset", "4"]), ["0@4", "0@5", "1@4", "1@5"]);
    assert_eq!(offsets(&["--offset", "-1", "-p", "1"]), ["1@5"]);
    assert_eq!(
        offsets(&["--from-time", "2022-06-01T00:00:00Z"]),
        ["0@3", "0@4", "0@5", "1@3", "1@4", "1@5"]
    );
    assert_eq!(
        offsets(&["--from-time", "2020-01-01T01:00:00+01:00", "-p", "0"]).len(),
        6
    );
    // No start option: the end, so nothing old is printed.
    assert_eq!(offsets(&[]), Vec::<String>::new());
    // --max-messages stops early, also when following.
    let three = ok(consume(
        &bootstrap,
        "history",
        &["--from-beginning", "-n", "3"],
    ));
    assert_eq!(three.lines().count(), 3);
    let timestamps = ok(consume(
        &bootstrap,
        "history",
        &["--offset", "0", "-p", "0", "-n", "1", "--format", "%T"],
    ));
    assert_eq!(timestamps, format!("{OLD_MS}\n"));
}

#[test]
fn a_group_commits_what_it_printed_and_goes_on_from_there() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "events", 2, &[]);
    let lines: String = (0..10).map(|i| format!("k{i}:v{i}\n")).collect();
    ok(produce(
        &bootstrap,
        "events",
        &["-K", ":"],
        lines.as_bytes(),
    ));

    let first = ok(consume(
        &bootstrap,
        "events",
        &["--group", "audit", "--from-beginning", "-n", "4"],
    ));
    assert_eq!(first.lines().count(), 4);
    let described: Value = serde_json::from_str(&ok(fjord(
        &[
            "group",
            "describe",
            "audit",
            "--brokers",
            &bootstrap,
            "--format",
            "json",
        ],
        b"",
    )))
    .unwrap();
    // The group has offsets only for partitions it printed from: they add up to 4.
    let committed: i64 = described["partitions"]
        .as_array()
        .unwrap_or_else(|| panic!("{described}"))
        .iter()
        .map(|p| p["committed_offset"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(committed, 4, "{described}");

    // --from-beginning only counts where the group has no offset yet.
    let rest = ok(consume(
        &bootstrap,
        "events",
        &["--group", "audit", "--from-beginning", "-e"],
    ));
    let mut all: Vec<&str> = first.lines().chain(rest.lines()).collect();
    all.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    expected.sort();
    assert_eq!(all, expected, "every message once across the two runs");
    let described: Value = serde_json::from_str(&ok(fjord(
        &[
            "group",
            "describe",
            "audit",
            "--brokers",
            &bootstrap,
            "--format",
            "json",
        ],
        b"",
    )))
    .unwrap();
    assert_eq!(described["lag_total"], 0, "{described}");
}

#[test]
fn unknown_topics_are_not_created_and_name_the_command_that_creates_them() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let stderr = fails(produce(&bootstrap, "typo", &[], b"x\n"), NOT_FOUND);
    assert!(stderr.contains("topic 'typo' does not exist"), "{stderr}");
    assert!(stderr.contains("fjord topic create typo"), "{stderr}");
    let stderr = fails(consume(&bootstrap, "typo", &["-e"]), NOT_FOUND);
    assert!(stderr.contains("UNKNOWN_TOPIC_OR_PARTITION"), "{stderr}");
    // Still not there: neither command created it.
    fails(consume(&bootstrap, "typo", &["-e"]), NOT_FOUND);
}

#[test]
fn a_broker_that_is_down_is_exit_code_3() {
    let address = nowhere();
    let stderr = fails(produce(&address, "orders", &[], b"x\n"), UNREACHABLE);
    assert!(stderr.contains("cannot reach any broker"), "{stderr}");
    let stderr = fails(consume(&address, "orders", &["-e"]), UNREACHABLE);
    assert!(stderr.contains("cannot reach any broker"), "{stderr}");
}

#[test]
fn bad_arguments_are_exit_code_2_and_bad_input_is_exit_code_1() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "orders", 1, &[]);
    for args in [
        &["--acks", "2"][..],
        &["--compression", "brotli"],
        &["-H", "novalue"],
        &["--key-separator", ""],
        &["--value-from-stdin-raw", "-K", ":"],
    ] {
        fails(produce(&bootstrap, "orders", args, b"x\n"), USAGE);
    }
    for args in [
        &["--format", "%q"][..],
        &["--format", "yaml"],
        &["--offset", "3", "--group", "g"],
        &["--from-beginning", "--offset", "3"],
        &["--from-time", "yesterday"],
        &["--partition", "0", "--group", "g"],
    ] {
        fails(consume(&bootstrap, "orders", args), USAGE);
    }

    let stderr = fails(
        produce(&bootstrap, "orders", &["-K", ":"], b"a:1\nno separator\n"),
        FAILURE,
    );
    assert!(stderr.contains("line 2 has no key separator"), "{stderr}");

    // The broker refuses a message over its max.message.bytes (1 MiB by default) and
    // fjord names the broker's error.
    let mut big = vec![b'x'; 2 * 1024 * 1024];
    big.push(b'\n');
    let stderr = fails(produce(&bootstrap, "orders", &[], &big), FAILURE);
    assert!(stderr.contains("MESSAGE_TOO_LARGE"), "{stderr}");
    let stderr = fails(
        produce(
            &bootstrap,
            "orders",
            &["--message-bytes-max", "10"],
            b"12345678901\n",
        ),
        FAILURE,
    );
    assert!(
        stderr.contains("longer than --message-bytes-max"),
        "{stderr}"
    );
}

#[test]
fn help_texts_have_examples() {
    for command in ["produce", "consume"] {
        let help = ok(fjord(&[command, "--help"], b""));
        assert!(help.contains("Examples:"), "{help}");
        assert!(help.contains("Exit codes:"), "{help}");
    }
}

#[test]
fn sigterm_ends_a_following_group_member_cleanly_with_its_offsets_committed() {
    use std::io::BufRead;
    use std::process::Stdio;

    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "stream", 1, &[]);
    ok(produce(&bootstrap, "stream", &[], b"a\nb\nc\nd\ne\n"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_fjord"))
        .args(["consume", "stream", "--group", "tail", "--from-beginning"])
        .args(["--brokers", &bootstrap])
        .env_remove("FJORD_BROKERS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::sync_channel(16);
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    while printed.len() < 5 {
        match lines_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => printed.push(line),
            Err(error) => {
                let _ = child.kill();
                panic!("fjord consume printed {printed:?} and then nothing: {error}");
            }
        }
    }
    assert_eq!(printed, ["a", "b", "c", "d", "e"]);

    // Still following: it ends only on the signal, and then commits what it printed.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("fjord consume did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "a signal is a clean stop");
    reader.join().unwrap();

    let described: Value = serde_json::from_str(&ok(fjord(
        &[
            "group",
            "describe",
            "tail",
            "--brokers",
            &bootstrap,
            "--format",
            "json",
        ],
        b"",
    )))
    .unwrap();
    assert_eq!(
        described["partitions"][0]["committed_offset"], 5,
        "{described}"
    );
}
