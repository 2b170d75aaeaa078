//! `fjord topic alter-config`: IncrementalAlterConfigs of one topic. There is no fallback
//! to the older AlterConfigs, which replaces every config of the topic at once and so
//! would drop the configs not named.

use std::collections::BTreeMap;

use fjord_protocol::messages::IncrementalAlterConfigsRequest;
use fjord_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use serde::Serialize;

use super::{RESOURCE_TOPIC, parse_config, parse_config_name, parse_topic_name, topic_error};
use crate::client::{Client, Connection, Error, ErrorCode};
use crate::output::{self, Format, Report};

/// Kafka's AlterConfigOp types used here.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// Arguments of `fjord topic alter-config`.
#[derive(Debug, clap::Args)]
pub struct AlterConfigArgs {
    /// The topic's name.
    #[arg(value_parser = parse_topic_name)]
    topic: String,

    /// Set a config, as key=value; repeat for several.
    #[arg(
        long = "set",
        value_name = "KEY=VALUE",
        value_parser = parse_config,
        required_unless_present = "deletes"
    )]
    sets: Vec<(String, String)>,

    /// Remove a config from the topic, so that the cluster's default applies; repeat
    /// for several.
    #[arg(long = "delete", value_name = "KEY", value_parser = parse_config_name)]
    deletes: Vec<String>,

    /// Only ask the broker to validate the change; nothing is altered.
    #[arg(long)]
    dry_run: bool,
}

/// What was changed.
#[derive(Debug, PartialEq, Serialize)]
struct Altered {
    topic: String,
    set: BTreeMap<String, String>,
    deleted: Vec<String>,
    dry_run: bool,
}

impl Report for Altered {
    fn text(&self) -> String {
        let mut out = if self.dry_run {
            format!(
                "The configs of topic '{}' can be altered (dry run: nothing was changed):\n",
                self.topic
            )
        } else {
            format!("Altered the configs of topic '{}':\n", self.topic)
        };
        for (key, value) in &self.set {
            out.push_str(&format!("  set    {key}={value}\n"));
        }
        for key in &self.deleted {
            out.push_str(&format!("  delete {key} (back to its default)\n"));
        }
        out
    }
}

/// The changes of `args`, or why they contradict each other.
fn changes(args: &AlterConfigArgs) -> Result<Vec<AlterableConfig>, String> {
    let mut changes: Vec<AlterableConfig> = Vec::new();
    let sets = args.sets.iter().map(|(k, v)| (k, OP_SET, Some(v.clone())));
    let deletes = args.deletes.iter().map(|k| (k, OP_DELETE, None));
    for (name, operation, value) in sets.chain(deletes) {
        if changes.iter().any(|c| &c.name == name) {
            // The broker would refuse it too (INVALID_REQUEST), less clearly.
            return Err(format!("config '{name}' is named more than once"));
        }
        changes.push(AlterableConfig {
            name: name.clone(),
            config_operation: operation,
            value,
            ..Default::default()
        });
    }
    Ok(changes)
}

pub async fn run(client: &mut Client, args: AlterConfigArgs, format: Format) -> anyhow::Result<()> {
    let topic = args.topic.clone();
    let changes = changes(&args).map_err(crate::exit::Usage)?;
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.clone(),
            configs: changes,
            ..Default::default()
        }],
        validate_only: args.dry_run,
        ..Default::default()
    };
    // Any broker takes topic config changes: it forwards them to the controller.
    let connection: &mut Connection = client.any_broker().await?;
    let response = connection.request(&request).await?;
    let result = response
        .responses
        .into_iter()
        .find(|r| r.resource_type == RESOURCE_TOPIC && r.resource_name == topic)
        .ok_or_else(|| Error::Protocol {
            broker: connection.address().clone(),
            api: "IncrementalAlterConfigs",
            detail: format!("no result for topic '{topic}'"),
        })?;
    ErrorCode::check(result.error_code).map_err(|code| {
        topic_error(
            format!("altering the configs of topic '{topic}'"),
            &topic,
            code,
            result.error_message,
        )
    })?;
    let altered = Altered {
        topic,
        set: args.sets.into_iter().collect(),
        deleted: args.deletes,
        dry_run: args.dry_run,
    };
    output::print(format, &altered)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(sets: &[(&str, &str)], deletes: &[&str]) -> AlterConfigArgs {
        AlterConfigArgs {
            topic: "orders".to_owned(),
            sets: sets
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            deletes: deletes.iter().map(|k| (*k).to_owned()).collect(),
            dry_run: false,
        }
    }

    #[test]
    fn sets_and_deletes_become_operations() {
        let changes = changes(&args(&[("retention.ms", "1000")], &["cleanup.policy"])).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].name, "retention.ms");
        assert_eq!(changes[0].config_operation, OP_SET);
        assert_eq!(changes[0].value.as_deref(), Some("1000"));
        assert_eq!(changes[1].name, "cleanup.policy");
        assert_eq!(changes[1].config_operation, OP_DELETE);
        assert_eq!(changes[1].value, None);
    }

    #[test]
    fn a_config_named_twice_is_refused() {
        let error = changes(&args(&[("a", "1")], &["a"])).unwrap_err();
        assert_eq!(error, "config 'a' is named more than once");
        assert!(changes(&args(&[("a", "1"), ("a", "2")], &[])).is_err());
    }

    #[test]
    fn text_and_json() {
        let altered = Altered {
            topic: "orders".to_owned(),
            set: BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]),
            deleted: vec!["cleanup.policy".to_owned()],
            dry_run: false,
        };
        assert_eq!(
            altered.text(),
            "Altered the configs of topic 'orders':\n  \
             set    retention.ms=1000\n  \
             delete cleanup.policy (back to its default)\n"
        );
        assert_eq!(
            serde_json::to_value(&altered).unwrap(),
            serde_json::json!({"topic": "orders", "set": {"retention.ms": "1000"},
                "deleted": ["cleanup.policy"], "dry_run": false})
        );
    }
}
