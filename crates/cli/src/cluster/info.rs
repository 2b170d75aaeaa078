//! `fjord cluster info`: Metadata for the cluster's id, controller and brokers, and the
//! ApiVersions table of the broker that answered.

use fjord_protocol::ApiKey;
use serde::Serialize;

use crate::client::{BrokerVersions, Client, negotiate, spoken};
use crate::output::{self, Format, Report, or_dash};

/// What is known of the cluster.
#[derive(Debug, PartialEq, Serialize)]
struct ClusterInfo {
    /// `None` from brokers that do not tell it.
    cluster_id: Option<String>,
    /// `None` when no broker is named the controller.
    controller_id: Option<i32>,
    /// Always `None`: Kafka's protocol has no field for a broker's software version.
    broker_version: Option<String>,
    brokers: Vec<BrokerRow>,
    /// The broker whose API versions are listed.
    api_versions_of: String,
    api_versions: Vec<ApiRow>,
}

#[derive(Debug, PartialEq, Serialize)]
struct BrokerRow {
    id: i32,
    host: String,
    port: i32,
    rack: Option<String>,
}

#[derive(Debug, PartialEq, Serialize)]
struct ApiRow {
    key: i16,
    /// Kafka's name of the API, or `None` for a key this client does not know.
    name: Option<&'static str>,
    min: i16,
    max: i16,
    /// The version fjord sends; `None` when it does not use the API or the ranges do
    /// not meet.
    fjord_version: Option<i16>,
}

/// The rows of a broker's ApiVersions table.
fn api_rows(versions: &BrokerVersions) -> Vec<ApiRow> {
    versions
        .all()
        .into_iter()
        .map(|(key, range)| {
            let api = ApiKey::from_i16(key);
            ApiRow {
                key,
                name: api.map(ApiKey::name),
                min: range.min,
                max: range.max,
                fjord_version: api
                    .and_then(spoken)
                    .and_then(|ours| negotiate(ours, Some(range))),
            }
        })
        .collect()
}

impl Report for ClusterInfo {
    fn text(&self) -> String {
        let mut out = format!(
            "Cluster id:     {}\n\
             Controller:     {}\n\
             Broker version: unknown (Kafka's protocol does not tell it)\n\n",
            self.cluster_id.as_deref().unwrap_or("-"),
            or_dash(self.controller_id.map(i64::from)),
        );
        let rows: Vec<Vec<String>> = self
            .brokers
            .iter()
            .map(|b| {
                vec![
                    b.id.to_string(),
                    b.host.clone(),
                    b.port.to_string(),
                    b.rack.clone().unwrap_or_else(|| "-".to_owned()),
                    if Some(b.id) == self.controller_id {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_owned(),
                ]
            })
            .collect();
        out.push_str(&output::table(
            &["BROKER", "HOST", "PORT", "RACK", "CONTROLLER"],
            &rows,
        ));
        out.push_str(&format!("\nAPI versions of {}:\n", self.api_versions_of));
        let rows: Vec<Vec<String>> = self
            .api_versions
            .iter()
            .map(|a| {
                vec![
                    a.key.to_string(),
                    a.name.unwrap_or("-").to_owned(),
                    a.min.to_string(),
                    a.max.to_string(),
                    or_dash(a.fjord_version.map(i64::from)),
                ]
            })
            .collect();
        out.push_str(&output::table(
            &["KEY", "API", "MIN", "MAX", "FJORD USES"],
            &rows,
        ));
        out
    }
}

pub async fn run(client: &mut Client, format: Format) -> anyhow::Result<()> {
    // An empty topic list asks only for the brokers, the controller and the cluster id.
    let metadata = client.metadata(Some(Vec::new())).await?;
    let mut brokers: Vec<BrokerRow> = metadata
        .brokers
        .into_iter()
        .map(|b| BrokerRow {
            id: b.node_id,
            host: b.host,
            port: b.port,
            rack: b.rack,
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    let connection = client.any_broker().await?;
    let info = ClusterInfo {
        cluster_id: metadata.cluster_id,
        controller_id: (metadata.controller_id >= 0).then_some(metadata.controller_id),
        broker_version: None,
        brokers,
        api_versions_of: connection.address().to_string(),
        api_versions: api_rows(connection.versions()),
    };
    output::print(format, &info)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use fjord_protocol::messages::api_versions_response::ApiVersion;

    use super::*;

    fn api(key: i16, min: i16, max: i16) -> ApiVersion {
        ApiVersion {
            api_key: key,
            min_version: min,
            max_version: max,
            ..Default::default()
        }
    }

    #[test]
    fn the_table_shows_what_fjord_would_send() {
        let versions = BrokerVersions::from_response(&[
            api(ApiKey::Metadata.key(), 0, 8),
            api(ApiKey::Produce.key(), 0, 11),
            api(ApiKey::CreateTopics.key(), 0, 3),
            api(9999, 0, 1),
        ]);
        let rows = api_rows(&versions);
        assert_eq!(
            rows,
            [
                ApiRow {
                    key: 0,
                    name: Some("Produce"),
                    min: 0,
                    max: 11,
                    fjord_version: None, // not sent by these commands
                },
                ApiRow {
                    key: 3,
                    name: Some("Metadata"),
                    min: 0,
                    max: 8,
                    fjord_version: Some(8),
                },
                ApiRow {
                    key: 19,
                    name: Some("CreateTopics"),
                    min: 0,
                    max: 3,
                    fjord_version: None, // fjord needs v4 or newer
                },
                ApiRow {
                    key: 9999,
                    name: None,
                    min: 0,
                    max: 1,
                    fjord_version: None,
                },
            ]
        );
    }

    #[test]
    fn text_and_json() {
        let info = ClusterInfo {
            cluster_id: Some("fjord-abc".to_owned()),
            controller_id: Some(1),
            broker_version: None,
            brokers: vec![BrokerRow {
                id: 1,
                host: "127.0.0.1".to_owned(),
                port: 9092,
                rack: None,
            }],
            api_versions_of: "127.0.0.1:9092".to_owned(),
            api_versions: vec![ApiRow {
                key: 3,
                name: Some("Metadata"),
                min: 0,
                max: 12,
                fjord_version: Some(12),
            }],
        };
        assert_eq!(
            info.text(),
            "Cluster id:     fjord-abc\n\
             Controller:     1\n\
             Broker version: unknown (Kafka's protocol does not tell it)\n\
             \n\
             BROKER  HOST       PORT  RACK  CONTROLLER\n\
             1       127.0.0.1  9092  -     yes\n\
             \n\
             API versions of 127.0.0.1:9092:\n\
             KEY  API       MIN  MAX  FJORD USES\n\
             3    Metadata  0    12   12\n"
        );
        assert_eq!(
            serde_json::to_value(&info).unwrap(),
            serde_json::json!({"cluster_id": "fjord-abc", "controller_id": 1,
                "broker_version": null,
                "brokers": [{"id": 1, "host": "127.0.0.1", "port": 9092, "rack": null}],
                "api_versions_of": "127.0.0.1:9092",
                "api_versions": [{"key": 3, "name": "Metadata", "min": 0, "max": 12,
                    "fjord_version": 12}]})
        );
    }
}
