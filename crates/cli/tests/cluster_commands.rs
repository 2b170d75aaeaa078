//! `fjord cluster info`, run as the built binary against a test broker: the cluster's
//! id, controller and brokers as librdkafka sees them, the API versions table of the
//! broker, text and JSON, and its errors (broker down, bad arguments).

#![allow(clippy::unwrap_used)]

use fjord_testkit::TestBroker;
use fjord_testkit::cli::{
    UNREACHABLE, USAGE, closed_address, expect_failure, expect_success, run_fjord,
};
use fjord_testkit::clients::{REQUEST_TIMEOUT, consumer_config};
use fjord_testkit::command::Finished;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::Value;

/// Runs `fjord ARGS`.
fn fjord(args: &[&str]) -> Finished {
    run_fjord(env!("CARGO_BIN_EXE_fjord"), args)
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

#[test]
fn info_shows_the_cluster_its_brokers_and_api_versions() {
    let broker = TestBroker::start();
    let bootstrap = broker.bootstrap();
    let port = broker.addr().port();

    // What librdkafka learns from Metadata, to compare with.
    let consumer: BaseConsumer = consumer_config(&bootstrap).create().unwrap();
    let metadata = consumer.fetch_metadata(None, REQUEST_TIMEOUT).unwrap();
    let brokers = metadata.brokers();
    assert_eq!(brokers.len(), 1);

    let info = json(&expect_success(fjord(&[
        "cluster",
        "info",
        "--brokers",
        &bootstrap,
        "--format",
        "json",
    ])));
    assert!(
        info["cluster_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{info}"
    );
    assert_eq!(info["controller_id"], 1);
    assert_eq!(info["broker_version"], Value::Null);
    assert_eq!(
        info["brokers"],
        serde_json::json!([{"id": brokers[0].id(), "host": brokers[0].host(),
            "port": brokers[0].port(), "rack": null}])
    );
    assert_eq!(info["api_versions_of"], bootstrap);
    let apis = info["api_versions"].as_array().unwrap();
    let api = |name: &str| {
        apis.iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {info}"))
            .clone()
    };
    // The broker's table, and what this client picks from it: the newest common version.
    assert_eq!(
        api("Metadata"),
        serde_json::json!({"key": 3, "name": "Metadata", "min": 0, "max": 12,
            "fjord_version": 12})
    );
    assert_eq!(api("CreateTopics")["fjord_version"], 7);
    assert_eq!(api("ApiVersions")["fjord_version"], 3);
    // APIs the protocol client never sends have no version of its own.
    assert_eq!(api("Produce")["fjord_version"], Value::Null);
    assert_eq!(api("Produce")["min"], 0);
    let keys: Vec<i64> = apis.iter().map(|a| a["key"].as_i64().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "the table is ordered by API key");

    let text = expect_success(fjord(&["cluster", "info", "--brokers", &bootstrap]));
    let cluster_id = info["cluster_id"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..4],
        [
            format!("Cluster id:     {cluster_id}").as_str(),
            "Controller:     1",
            "Broker version: unknown (Kafka's protocol does not tell it)",
            "",
        ],
        "{text}"
    );
    // Column widths follow the port's digits; the unit tests check the alignment.
    let words = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        words(lines[4]),
        ["BROKER", "HOST", "PORT", "RACK", "CONTROLLER"]
    );
    assert_eq!(
        words(lines[5]),
        ["1", "127.0.0.1", &port.to_string(), "-", "yes"]
    );
    assert_eq!(lines[7], format!("API versions of {bootstrap}:"), "{text}");
    assert_eq!(
        lines[8], "KEY  API                      MIN  MAX  FJORD USES",
        "{text}"
    );
    assert_eq!(
        lines[9], "0    Produce                  0    11   -",
        "{text}"
    );
    assert!(
        lines.contains(&"3    Metadata                 0    12   12"),
        "{text}"
    );
    assert_eq!(lines.len(), 9 + apis.len(), "a row per API:\n{text}");
}

#[test]
fn a_broker_that_is_down_exits_3_naming_it() {
    let down = closed_address();
    let stderr = expect_failure(fjord(&["cluster", "info", "--brokers", &down]), UNREACHABLE);
    assert!(
        stderr.starts_with(&format!("fjord: cannot reach any broker of {down}")),
        "{stderr}"
    );
    assert!(stderr.contains("--brokers"), "{stderr}");
}

#[test]
fn bad_arguments_exit_2_and_help_shows_examples() {
    for (args, expected) in [
        (&["cluster"][..], "Usage"),
        (&["cluster", "info", "--format", "yaml"], "yaml"),
        (&["cluster", "info", "extra"], "extra"),
        (
            &["cluster", "info", "--timeout-ms", "0"],
            "'--timeout-ms <MS>'",
        ),
    ] {
        let stderr = expect_failure(fjord(args), USAGE);
        assert!(
            stderr.contains(expected),
            "fjord {args:?}: {expected:?} in\n{stderr}"
        );
    }
    for args in [&["cluster", "--help"][..], &["cluster", "info", "--help"]] {
        let help = expect_success(fjord(args));
        for expected in [
            "Examples:",
            "fjord cluster info",
            "--brokers",
            "Exit codes:",
        ] {
            assert!(
                help.contains(expected),
                "{expected} in fjord {args:?}:\n{help}"
            );
        }
    }
}
