//! `fjord group list`: ListGroups on every broker, since each lists only the groups it
//! coordinates.

use fjord_protocol::messages::ListGroupsRequest;
use fjord_protocol::messages::list_groups_response::ListedGroup;
use serde::Serialize;

use crate::client::{Client, Connection, Error, ErrorCode};
use crate::output::{self, Format, Report};

/// Arguments of `fjord group list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only groups in this state (Empty, Stable, PreparingRebalance,
    /// CompletingRebalance, Dead; Assigning, Reconciling for the consumer protocol);
    /// repeat for several. Needs ListGroups v4 (Kafka 2.6).
    #[arg(long = "state", value_name = "STATE")]
    states: Vec<String>,
}

/// The groups found.
#[derive(Debug, PartialEq, Serialize)]
struct GroupList {
    groups: Vec<GroupRow>,
}

#[derive(Debug, PartialEq, Serialize)]
struct GroupRow {
    group: String,
    /// `None` from brokers older than ListGroups v4.
    state: Option<String>,
    /// `classic` or `consumer`; `None` from brokers older than ListGroups v5.
    #[serde(rename = "type")]
    group_type: Option<String>,
    /// `consumer` for consumer groups, `connect` for Connect workers, ...
    protocol_type: String,
    /// The id of the broker that coordinates it.
    coordinator: i32,
}

impl GroupRow {
    /// A row of a ListGroups answer at `version`, from broker `coordinator`.
    fn from_listed(group: ListedGroup, version: i16, coordinator: i32) -> GroupRow {
        GroupRow {
            group: group.group_id,
            state: (version >= 4).then_some(group.group_state),
            group_type: (version >= 5 && !group.group_type.is_empty()).then_some(group.group_type),
            protocol_type: group.protocol_type,
            coordinator,
        }
    }
}

impl Report for GroupList {
    fn text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.group.clone(),
                    g.state.clone().unwrap_or_else(|| "-".to_owned()),
                    g.group_type.clone().unwrap_or_else(|| "-".to_owned()),
                    dash_if_empty(&g.protocol_type),
                    g.coordinator.to_string(),
                ]
            })
            .collect();
        output::table(
            &["GROUP", "STATE", "TYPE", "PROTOCOL-TYPE", "COORDINATOR"],
            &rows,
        )
    }
}

fn dash_if_empty(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

pub async fn run(client: &mut Client, args: ListArgs, format: Format) -> anyhow::Result<()> {
    let mut groups = Vec::new();
    for node_id in client.broker_ids().await? {
        let states = &args.states;
        let listed = client
            .on_broker(node_id, async |connection: &mut Connection| {
                let version = connection.version_of::<ListGroupsRequest>()?;
                if !states.is_empty() && version < 4 {
                    return Err(Error::UnsupportedApi {
                        broker: connection.address().clone(),
                        api: "ListGroups with a state filter",
                        min: 4,
                        max: 5,
                    });
                }
                let request = ListGroupsRequest {
                    states_filter: states.clone(),
                    ..Default::default()
                };
                let response = connection.request(&request).await?;
                ErrorCode::check(response.error_code).map_err(|code| {
                    Error::kafka(format!("listing the groups of broker {node_id}"), code)
                })?;
                Ok((version, response.groups))
            })
            .await?;
        let (version, listed) = listed;
        groups.extend(
            listed
                .into_iter()
                .map(|group| GroupRow::from_listed(group, version, node_id)),
        );
    }
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    output::print(format, &GroupList { groups })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn listed(id: &str, state: &str, group_type: &str) -> ListedGroup {
        ListedGroup {
            group_id: id.to_owned(),
            protocol_type: "consumer".to_owned(),
            group_state: state.to_owned(),
            group_type: group_type.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn old_versions_have_no_state_or_type() {
        let row = GroupRow::from_listed(listed("g", "", ""), 3, 1);
        assert_eq!(row.state, None);
        assert_eq!(row.group_type, None);
        let row = GroupRow::from_listed(listed("g", "Stable", "classic"), 5, 1);
        assert_eq!(row.state.as_deref(), Some("Stable"));
        assert_eq!(row.group_type.as_deref(), Some("classic"));
    }

    #[test]
    fn text_and_json() {
        let list = GroupList {
            groups: vec![
                GroupRow::from_listed(listed("billing", "Stable", "classic"), 5, 1),
                GroupRow::from_listed(listed("audit", "Empty", ""), 4, 2),
            ],
        };
        assert_eq!(
            list.text(),
            "GROUP    STATE   TYPE     PROTOCOL-TYPE  COORDINATOR\n\
             billing  Stable  classic  consumer       1\n\
             audit    Empty   -        consumer       2\n"
        );
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"groups": [
                {"group": "billing", "state": "Stable", "type": "classic",
                 "protocol_type": "consumer", "coordinator": 1},
                {"group": "audit", "state": "Empty", "type": null,
                 "protocol_type": "consumer", "coordinator": 2},
            ]})
        );
    }
}
