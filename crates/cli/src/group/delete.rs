//! `fjord group delete`: DeleteGroups on the group's coordinator.

use fjord_protocol::messages::DeleteGroupsRequest;
use serde::Serialize;

use super::parse_group_id;
use crate::client::{Client, Connection, Error, ErrorCode};
use crate::output::{self, Format, Report};

/// Arguments of `fjord group delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The group id.
    #[arg(value_parser = parse_group_id)]
    group: String,
}

#[derive(Debug, PartialEq, Serialize)]
struct Deleted {
    group: String,
    deleted: bool,
}

impl Report for Deleted {
    fn text(&self) -> String {
        format!("Deleted group '{}'.\n", self.group)
    }
}

/// The error of a DeleteGroups result, with what to do about the usual ones.
fn delete_error(group: &str, code: ErrorCode) -> Error {
    let error = Error::kafka(format!("deleting group '{group}'"), code);
    match code {
        ErrorCode::GROUP_ID_NOT_FOUND => error.with_hint("the group does not exist"),
        ErrorCode::NON_EMPTY_GROUP => {
            error.with_hint("the group has active members: stop its consumers first")
        }
        _ => error,
    }
}

pub async fn run(client: &mut Client, args: DeleteArgs, format: Format) -> anyhow::Result<()> {
    let group = args.group;
    client
        .on_coordinator(&group, async |connection: &mut Connection| {
            let request = DeleteGroupsRequest {
                groups_names: vec![group.clone()],
                ..Default::default()
            };
            let response = connection.request(&request).await?;
            let result = response
                .results
                .into_iter()
                .find(|r| r.group_id == group)
                .ok_or_else(|| Error::Protocol {
                    broker: connection.address().clone(),
                    api: "DeleteGroups",
                    detail: format!("no result for group '{group}'"),
                })?;
            ErrorCode::check(result.error_code).map_err(|code| delete_error(&group, code))
        })
        .await?;
    output::print(
        format,
        &Deleted {
            group,
            deleted: true,
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_kafka_code_and_what_to_do() {
        assert_eq!(
            delete_error("billing", ErrorCode::NON_EMPTY_GROUP).to_string(),
            "deleting group 'billing': NON_EMPTY_GROUP (68); the group has active members: \
             stop its consumers first"
        );
        assert_eq!(
            delete_error("billing", ErrorCode::GROUP_ID_NOT_FOUND).to_string(),
            "deleting group 'billing': GROUP_ID_NOT_FOUND (69); the group does not exist"
        );
        assert_eq!(
            delete_error("billing", ErrorCode(30)).to_string(),
            "deleting group 'billing': GROUP_AUTHORIZATION_FAILED (30)"
        );
    }

    #[test]
    fn text_and_json() {
        let deleted = Deleted {
            group: "billing".to_owned(),
            deleted: true,
        };
        assert_eq!(deleted.text(), "Deleted group 'billing'.\n");
        assert_eq!(
            serde_json::to_value(&deleted).unwrap(),
            serde_json::json!({"group": "billing", "deleted": true})
        );
    }
}
