//! `fjord group describe`: DescribeGroups (or ConsumerGroupDescribe) for the members
//! and their assignments, OffsetFetch for the committed offsets, ListOffsets for the log
//! end offsets.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::membership::{self, GroupType, Member};
use super::{committed_offsets, parse_group_id};
use crate::client::{Client, ListedOffset, OffsetQuery, TopicPartition};
use crate::exit::NotFound;
use crate::output::{self, Format, Report, or_dash};

/// Arguments of `fjord group describe`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The group id.
    #[arg(value_parser = parse_group_id)]
    group: String,
}

/// A group as `describe` shows it.
#[derive(Debug, PartialEq, Serialize)]
struct GroupDescription {
    group: String,
    state: String,
    #[serde(rename = "type")]
    group_type: GroupType,
    /// `consumer` for consumer groups; empty for a group that only has offsets.
    protocol_type: String,
    /// The assignor the members agreed on, such as `range` or `cooperative-sticky`.
    protocol: String,
    members: Vec<Member>,
    partitions: Vec<PartitionLag>,
    /// The sum of the known lags.
    lag_total: i64,
}

#[derive(Debug, PartialEq, Serialize)]
struct PartitionLag {
    topic: String,
    partition: i32,
    committed_offset: Option<i64>,
    log_end_offset: Option<i64>,
    lag: Option<i64>,
    /// The member the partition is assigned to.
    member_id: Option<String>,
}

/// How far a group is behind: the log end offset minus the committed offset, when both
/// are known. Like Kafka's tool, a committed offset past the end shows a negative lag.
fn lag(committed: Option<i64>, log_end: Option<i64>) -> Option<i64> {
    Some(log_end? - committed?)
}

/// One row per partition the group has an offset for or is assigned, in order.
fn partition_rows(
    members: &[Member],
    committed: &BTreeMap<TopicPartition, i64>,
    log_ends: &BTreeMap<TopicPartition, ListedOffset>,
) -> Vec<PartitionLag> {
    let mut owners: BTreeMap<TopicPartition, &str> = BTreeMap::new();
    for member in members {
        for topic in &member.assignment {
            for &partition in &topic.partitions {
                owners.insert(
                    TopicPartition::new(topic.topic.clone(), partition),
                    &member.member_id,
                );
            }
        }
    }
    let partitions: BTreeSet<&TopicPartition> = committed.keys().chain(owners.keys()).collect();
    partitions
        .into_iter()
        .map(|tp| {
            let committed_offset = committed.get(tp).copied();
            let log_end_offset = log_ends.get(tp).and_then(|answer| answer.ok().flatten());
            PartitionLag {
                topic: tp.topic.clone(),
                partition: tp.partition,
                committed_offset,
                log_end_offset,
                lag: lag(committed_offset, log_end_offset),
                member_id: owners.get(tp).map(|id| (*id).to_owned()),
            }
        })
        .collect()
}

fn assignment_text(member: &Member) -> String {
    if let Some(error) = &member.assignment_error {
        return format!("(unreadable: {error})");
    }
    if member.assignment.is_empty() {
        return "-".to_owned();
    }
    member
        .assignment
        .iter()
        .map(|topic| {
            let partitions: Vec<String> = topic.partitions.iter().map(i32::to_string).collect();
            format!("{}:{}", topic.topic, partitions.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Report for GroupDescription {
    fn text(&self) -> String {
        let protocol = match (self.protocol_type.as_str(), self.protocol.as_str()) {
            ("", _) => "-".to_owned(),
            (kind, "") => kind.to_owned(),
            (kind, assignor) => format!("{kind} ({assignor})"),
        };
        let mut out = output::table(
            &["GROUP", "STATE", "TYPE", "PROTOCOL", "MEMBERS", "LAG"],
            &[vec![
                self.group.clone(),
                self.state.clone(),
                self.group_type.name().to_owned(),
                protocol,
                self.members.len().to_string(),
                self.lag_total.to_string(),
            ]],
        );
        if !self.members.is_empty() {
            let with_instance_ids = self.members.iter().any(|m| m.group_instance_id.is_some());
            let mut headers = vec!["MEMBER-ID"];
            if with_instance_ids {
                headers.push("INSTANCE-ID");
            }
            headers.extend(["CLIENT-ID", "HOST", "ASSIGNMENT"]);
            let rows: Vec<Vec<String>> = self
                .members
                .iter()
                .map(|m| {
                    let mut row = vec![m.member_id.clone()];
                    if with_instance_ids {
                        row.push(
                            m.group_instance_id
                                .clone()
                                .unwrap_or_else(|| "-".to_owned()),
                        );
                    }
                    row.extend([m.client_id.clone(), m.host.clone(), assignment_text(m)]);
                    row
                })
                .collect();
            out.push('\n');
            out.push_str(&output::table(&headers, &rows));
        }
        if !self.partitions.is_empty() {
            let rows: Vec<Vec<String>> = self
                .partitions
                .iter()
                .map(|p| {
                    vec![
                        p.topic.clone(),
                        p.partition.to_string(),
                        or_dash(p.committed_offset),
                        or_dash(p.log_end_offset),
                        or_dash(p.lag),
                        p.member_id.clone().unwrap_or_else(|| "-".to_owned()),
                    ]
                })
                .collect();
            out.push('\n');
            out.push_str(&output::table(
                &[
                    "TOPIC",
                    "PARTITION",
                    "CURRENT-OFFSET",
                    "LOG-END-OFFSET",
                    "LAG",
                    "MEMBER-ID",
                ],
                &rows,
            ));
        }
        out
    }
}

pub async fn run(client: &mut Client, args: DescribeArgs, format: Format) -> anyhow::Result<()> {
    let group = args.group;
    let Some(described) = membership::describe(client, &group).await? else {
        return Err(NotFound(format!("group '{group}' does not exist")).into());
    };
    let committed = committed_offsets(client, &group).await?;
    let mut partitions: BTreeSet<TopicPartition> = committed.keys().cloned().collect();
    for member in &described.members {
        for topic in &member.assignment {
            for &partition in &topic.partitions {
                partitions.insert(TopicPartition::new(topic.topic.clone(), partition));
            }
        }
    }
    let log_ends = if partitions.is_empty() {
        BTreeMap::new()
    } else {
        client
            .list_offsets(&partitions, OffsetQuery::Latest)
            .await?
    };
    let rows = partition_rows(&described.members, &committed, &log_ends);
    let description = GroupDescription {
        group,
        state: described.state,
        group_type: described.group_type,
        protocol_type: described.protocol_type,
        protocol: described.protocol,
        lag_total: rows.iter().filter_map(|p| p.lag).sum(),
        members: described.members,
        partitions: rows,
    };
    output::print(format, &description)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::membership::AssignedTopic;
    use super::*;
    use crate::client::ErrorCode;

    fn topic(name: &str, partitions: &[i32]) -> AssignedTopic {
        AssignedTopic {
            topic: name.to_owned(),
            partitions: partitions.to_vec(),
        }
    }

    #[test]
    fn lag_needs_both_offsets() {
        assert_eq!(lag(Some(10), Some(15)), Some(5));
        assert_eq!(lag(Some(15), Some(15)), Some(0));
        assert_eq!(lag(Some(20), Some(15)), Some(-5));
        assert_eq!(lag(None, Some(15)), None);
        assert_eq!(lag(Some(10), None), None);
    }

    fn member(id: &str, assignment: Vec<AssignedTopic>) -> Member {
        Member {
            member_id: id.to_owned(),
            group_instance_id: None,
            client_id: "rdkafka".to_owned(),
            host: "/127.0.0.1".to_owned(),
            assignment,
            assignment_error: None,
        }
    }

    fn sample() -> GroupDescription {
        let members = vec![member("m-1", vec![topic("orders", &[0, 1])])];
        let committed = BTreeMap::from([
            (TopicPartition::new("orders", 0), 10),
            (TopicPartition::new("refunds", 0), 3),
        ]);
        let log_ends = BTreeMap::from([
            (TopicPartition::new("orders", 0), Ok(Some(15))),
            (TopicPartition::new("orders", 1), Ok(Some(7))),
            (TopicPartition::new("refunds", 0), Err(ErrorCode(3))),
        ]);
        let partitions = partition_rows(&members, &committed, &log_ends);
        GroupDescription {
            group: "billing".to_owned(),
            state: "Stable".to_owned(),
            group_type: GroupType::Classic,
            protocol_type: "consumer".to_owned(),
            protocol: "range".to_owned(),
            lag_total: partitions.iter().filter_map(|p| p.lag).sum(),
            members,
            partitions,
        }
    }

    #[test]
    fn partitions_join_offsets_ends_and_owners() {
        let description = sample();
        assert_eq!(
            description.partitions,
            vec![
                PartitionLag {
                    topic: "orders".to_owned(),
                    partition: 0,
                    committed_offset: Some(10),
                    log_end_offset: Some(15),
                    lag: Some(5),
                    member_id: Some("m-1".to_owned()),
                },
                PartitionLag {
                    topic: "orders".to_owned(),
                    partition: 1,
                    committed_offset: None,
                    log_end_offset: Some(7),
                    lag: None,
                    member_id: Some("m-1".to_owned()),
                },
                PartitionLag {
                    topic: "refunds".to_owned(),
                    partition: 0,
                    committed_offset: Some(3),
                    log_end_offset: None,
                    lag: None,
                    member_id: None,
                },
            ]
        );
        assert_eq!(description.lag_total, 5);
    }

    #[test]
    fn text_form() {
        assert_eq!(
            sample().text(),
            "GROUP    STATE   TYPE     PROTOCOL          MEMBERS  LAG\n\
             billing  Stable  classic  consumer (range)  1        5\n\
             \n\
             MEMBER-ID  CLIENT-ID  HOST        ASSIGNMENT\n\
             m-1        rdkafka    /127.0.0.1  orders:0,1\n\
             \n\
             TOPIC    PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG  MEMBER-ID\n\
             orders   0          10              15              5    m-1\n\
             orders   1          -               7               -    m-1\n\
             refunds  0          3               -               -    -\n"
        );
    }

    #[test]
    fn json_form() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["group"], "billing");
        assert_eq!(json["type"], "classic");
        assert_eq!(json["lag_total"], 5);
        assert_eq!(
            json["members"][0],
            serde_json::json!({
                "member_id": "m-1", "group_instance_id": null, "client_id": "rdkafka",
                "host": "/127.0.0.1",
                "assignment": [{"topic": "orders", "partitions": [0, 1]}],
            })
        );
        assert_eq!(
            json["partitions"][1],
            serde_json::json!({
                "topic": "orders", "partition": 1, "committed_offset": null,
                "log_end_offset": 7, "lag": null, "member_id": "m-1",
            })
        );
    }

    #[test]
    fn static_members_show_their_instance_id() {
        let mut description = sample();
        description.members[0].group_instance_id = Some("billing-1".to_owned());
        description.members[0].assignment_error = Some("version -1".to_owned());
        let text = description.text();
        assert!(text.contains("MEMBER-ID  INSTANCE-ID  CLIENT-ID"), "{text}");
        assert!(text.contains("m-1        billing-1    rdkafka"), "{text}");
        assert!(text.contains("(unreadable: version -1)"), "{text}");
    }
}
