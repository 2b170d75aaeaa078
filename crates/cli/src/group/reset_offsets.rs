//! `fjord group reset-offsets`: move an inactive group's committed offsets.
//!
//! The steps: Metadata (the topics exist, and which partitions they have), DescribeGroups
//! (the group is Empty or Dead), OffsetFetch (the offsets now), ListOffsets (log start
//! and end, and the offset for a time), then OffsetCommit with generation -1 and no
//! member id, which brokers accept only from outside an active group.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail};
use fjord_protocol::messages::OffsetCommitRequest;
use fjord_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use serde::Serialize;

use super::{committed_offsets, is_inactive, membership, parse_group_id};
use crate::client::{
    self, Client, Connection, Error, ErrorCode, ListedOffset, OffsetQuery, TopicPartition,
};
use crate::datetime::parse_timestamp_ms;
use crate::exit::NotFound;
use crate::output::{self, Format, Report, or_dash};

/// Arguments of `fjord group reset-offsets`.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("target")
        .required(true)
        .args(["to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by"])
))]
pub struct ResetOffsetsArgs {
    /// The group id.
    #[arg(value_parser = parse_group_id)]
    group: String,

    /// A topic whose offsets to reset: every partition, or TOPIC:P[,P...] for some.
    /// Repeat for several topics.
    #[arg(long, required = true, value_name = "TOPIC[:PARTITIONS]", value_parser = parse_topic_selection)]
    topic: Vec<TopicSelection>,

    /// To the log start offset: reprocess everything still kept.
    #[arg(long)]
    to_earliest: bool,

    /// To the log end offset: skip everything not yet consumed.
    #[arg(long)]
    to_latest: bool,

    /// To this offset (moved into the log if it lies outside).
    #[arg(long, value_name = "OFFSET", value_parser = clap::value_parser!(i64).range(0..))]
    to_offset: Option<i64>,

    /// To the first message at or after this time, such as 2024-05-01T12:00:00Z or
    /// 2024-05-01T14:00:00+02:00; to the log end where there is none.
    #[arg(long, value_name = "ISO8601", value_parser = parse_timestamp_ms)]
    to_datetime: Option<i64>,

    /// By N from the committed offset (negative: back), within the log.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    shift_by: Option<i64>,

    /// Show the new offsets without committing them.
    #[arg(long)]
    dry_run: bool,
}

/// A `--topic` value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TopicSelection {
    topic: String,
    /// `None`: every partition.
    partitions: Option<Vec<i32>>,
}

/// `TOPIC` or `TOPIC:P[,P...]`. Kafka topic names cannot contain ':'.
fn parse_topic_selection(text: &str) -> Result<TopicSelection, String> {
    let (topic, partitions) = match text.split_once(':') {
        None => (text, None),
        Some((topic, list)) => {
            let partitions = list
                .split(',')
                .map(|p| {
                    p.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|&p| p >= 0)
                        .ok_or_else(|| format!("'{p}' in '{text}' is not a partition number"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            (topic, Some(partitions))
        }
    };
    if topic.is_empty() {
        return Err(format!("'{text}' names no topic"));
    }
    Ok(TopicSelection {
        topic: topic.to_owned(),
        partitions,
    })
}

/// Where to move the offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetTo {
    Earliest,
    Latest,
    Offset(i64),
    /// Milliseconds since the epoch.
    Datetime(i64),
    ShiftBy(i64),
}

impl ResetOffsetsArgs {
    fn target(&self) -> ResetTo {
        match (self.to_offset, self.to_datetime, self.shift_by) {
            (Some(offset), _, _) => ResetTo::Offset(offset),
            (_, Some(ms), _) => ResetTo::Datetime(ms),
            (_, _, Some(n)) => ResetTo::ShiftBy(n),
            _ if self.to_latest => ResetTo::Latest,
            // clap requires exactly one of the five.
            _ => ResetTo::Earliest,
        }
    }
}

/// What is known about one partition before choosing its new offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PartitionOffsets {
    committed: Option<i64>,
    log_start: i64,
    log_end: i64,
    /// For `--to-datetime`: the first offset at or after the time, if any.
    at_datetime: Option<i64>,
}

/// Why a partition has no new offset.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PlanError {
    NoCommittedOffset,
}

/// The new offset of one partition; always within `log_start..=log_end`.
fn new_offset(target: ResetTo, p: PartitionOffsets) -> Result<i64, PlanError> {
    let within_log = |offset: i64| offset.min(p.log_end).max(p.log_start);
    Ok(match target {
        ResetTo::Earliest => p.log_start,
        ResetTo::Latest => p.log_end,
        ResetTo::Offset(offset) => within_log(offset),
        // No message at or after the time: nothing to reprocess, so the end.
        ResetTo::Datetime(_) => within_log(p.at_datetime.unwrap_or(p.log_end)),
        ResetTo::ShiftBy(n) => {
            let committed = p.committed.ok_or(PlanError::NoCommittedOffset)?;
            within_log(committed.saturating_add(n))
        }
    })
}

/// A warning when the offset asked for (with --to-offset or --shift-by) lies outside
/// the log and `new_offset` moved it to the nearest end, as Kafka's tool warns.
fn moved_note(target: ResetTo, p: PartitionOffsets, new_offset: i64) -> Option<String> {
    let asked = match target {
        ResetTo::Offset(offset) => offset,
        ResetTo::ShiftBy(n) => p.committed?.saturating_add(n),
        _ => return None,
    };
    (asked != new_offset).then(|| {
        format!(
            "offset {asked} lies outside the log ({}..{}), so {new_offset} is used",
            p.log_start, p.log_end
        )
    })
}

/// The table `reset-offsets` prints.
#[derive(Debug, PartialEq, Serialize)]
struct ResetReport {
    group: String,
    dry_run: bool,
    partitions: Vec<PartitionReset>,
}

#[derive(Debug, PartialEq, Serialize)]
struct PartitionReset {
    topic: String,
    partition: i32,
    old_offset: Option<i64>,
    new_offset: i64,
}

impl Report for ResetReport {
    fn text(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .partitions
            .iter()
            .map(|p| {
                vec![
                    p.topic.clone(),
                    p.partition.to_string(),
                    or_dash(p.old_offset),
                    p.new_offset.to_string(),
                ]
            })
            .collect();
        let mut out = output::table(&["TOPIC", "PARTITION", "OLD-OFFSET", "NEW-OFFSET"], &rows);
        if self.dry_run {
            out.push_str(&format!(
                "\nDry run: the offsets of group '{}' were not changed.\n",
                self.group
            ));
        }
        out
    }
}

/// The partitions `selections` name, checked against the topics' partitions.
fn selected_partitions(
    selections: &[TopicSelection],
    topics: &BTreeMap<String, Vec<i32>>,
) -> Result<BTreeSet<TopicPartition>, NotFound> {
    let mut selected = BTreeSet::new();
    for selection in selections {
        let existing = topics
            .get(&selection.topic)
            .map(Vec::as_slice)
            .unwrap_or_default();
        match &selection.partitions {
            None => selected.extend(
                existing
                    .iter()
                    .map(|&p| TopicPartition::new(selection.topic.clone(), p)),
            ),
            Some(partitions) => {
                for &partition in partitions {
                    if !existing.contains(&partition) {
                        return Err(NotFound(format!(
                            "topic '{}' has no partition {partition} (it has {})",
                            selection.topic,
                            partition_range(existing)
                        )));
                    }
                    selected.insert(TopicPartition::new(selection.topic.clone(), partition));
                }
            }
        }
    }
    Ok(selected)
}

fn partition_range(partitions: &[i32]) -> String {
    match partitions {
        [] => "none".to_owned(),
        [only] => format!("only {only}"),
        [first, .., last] => format!("{first}-{last}"),
    }
}

/// The ListOffsets answer for `tp`, or an error naming the partition.
fn listed(
    answers: &BTreeMap<TopicPartition, ListedOffset>,
    tp: &TopicPartition,
    what: &str,
) -> client::Result<Option<i64>> {
    match answers.get(tp) {
        Some(Ok(offset)) => Ok(*offset),
        Some(Err(code)) => Err(Error::kafka(
            format!("listing the {what} offset of {}-{}", tp.topic, tp.partition),
            *code,
        )),
        None => Err(Error::kafka(
            format!("listing the {what} offset of {}-{}", tp.topic, tp.partition),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        )),
    }
}

pub async fn run(
    client: &mut Client,
    args: ResetOffsetsArgs,
    format: Format,
) -> anyhow::Result<()> {
    let target = args.target();
    let group = args.group.clone();
    let topic_names: Vec<String> = args
        .topic
        .iter()
        .map(|s| s.topic.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let topics = client.topic_partitions(&topic_names).await?;
    let selected = selected_partitions(&args.topic, &topics)?;

    // A group the coordinator does not know is Dead: resetting creates its offsets.
    if let Some(described) = membership::describe(client, &group).await?
        && !is_inactive(&described.state)
    {
        bail!(
            "group '{group}' is {} with {} member(s); offsets can only be reset while the \
             group is Empty or Dead: stop its consumers first",
            described.state,
            described.members.len()
        );
    }

    let committed = committed_offsets(client, &group).await?;
    let earliest = client
        .list_offsets(&selected, OffsetQuery::Earliest)
        .await?;
    let latest = client.list_offsets(&selected, OffsetQuery::Latest).await?;
    let at_datetime = match target {
        ResetTo::Datetime(ms) => Some(
            client
                .list_offsets(&selected, OffsetQuery::Timestamp(ms))
                .await?,
        ),
        _ => None,
    };

    let mut partitions = Vec::new();
    let mut without_offset = Vec::new();
    for tp in &selected {
        let offsets = PartitionOffsets {
            committed: committed.get(tp).copied(),
            log_start: listed(&earliest, tp, "earliest")?
                .ok_or_else(|| anyhow!("no log start offset for {}-{}", tp.topic, tp.partition))?,
            log_end: listed(&latest, tp, "latest")?
                .ok_or_else(|| anyhow!("no log end offset for {}-{}", tp.topic, tp.partition))?,
            at_datetime: match &at_datetime {
                Some(answers) => listed(answers, tp, "timestamp's")?,
                None => None,
            },
        };
        match new_offset(target, offsets) {
            Ok(new_offset) => {
                if let Some(note) = moved_note(target, offsets, new_offset) {
                    eprintln!("fjord: warning: {}-{}: {note}", tp.topic, tp.partition);
                }
                partitions.push(PartitionReset {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    old_offset: offsets.committed,
                    new_offset,
                });
            }
            Err(PlanError::NoCommittedOffset) => {
                without_offset.push(format!("{}-{}", tp.topic, tp.partition));
            }
        }
    }
    if !without_offset.is_empty() {
        bail!(
            "cannot shift the offsets of group '{group}': no committed offset for {}; use \
             --to-earliest, --to-latest, --to-offset or --to-datetime for those partitions",
            without_offset.join(", ")
        );
    }

    if !args.dry_run {
        commit(client, &group, &partitions).await?;
    }
    output::print(
        format,
        &ResetReport {
            group,
            dry_run: args.dry_run,
            partitions,
        },
    )
}

/// OffsetCommit of `partitions` as an admin: generation -1 and no member id, which a
/// broker accepts only while the group has no members.
async fn commit(
    client: &mut Client,
    group: &str,
    partitions: &[PartitionReset],
) -> client::Result<()> {
    let request = commit_request(group, partitions);
    client
        .on_coordinator(group, async |connection: &mut Connection| {
            let response = connection.request(&request).await?;
            let mut failed: Vec<(String, ErrorCode)> = Vec::new();
            for topic in response.topics {
                for p in topic.partitions {
                    if let Err(code) = ErrorCode::check(p.error_code) {
                        failed.push((format!("{}-{}", topic.name, p.partition_index), code));
                    }
                }
            }
            let Some((_, code)) = failed.first() else {
                return Ok(());
            };
            let names: Vec<&str> = failed.iter().map(|(name, _)| name.as_str()).collect();
            let error = Error::kafka(
                format!(
                    "committing the offsets of group '{group}' for {}",
                    names.join(", ")
                ),
                *code,
            );
            Err(match *code {
                ErrorCode::UNKNOWN_MEMBER_ID
                | ErrorCode::ILLEGAL_GENERATION
                | ErrorCode::REBALANCE_IN_PROGRESS => error
                    .with_hint("a consumer joined the group meanwhile: stop its consumers first"),
                _ => error,
            })
        })
        .await
}

fn commit_request(group: &str, partitions: &[PartitionReset]) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for p in partitions {
        topics
            .entry(p.topic.as_str())
            .or_default()
            .push(OffsetCommitRequestPartition {
                partition_index: p.partition,
                committed_offset: p.new_offset,
                committed_leader_epoch: -1,
                committed_metadata: Some(String::new()),
                ..Default::default()
            });
    }
    OffsetCommitRequest {
        group_id: group.to_owned(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        group_instance_id: None,
        retention_time_ms: -1,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| OffsetCommitRequestTopic {
                name: name.to_owned(),
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ResetOffsetsArgs,
    }

    fn parse(args: &[&str]) -> Result<ResetOffsetsArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("reset-offsets").chain(args.iter().copied()))
            .map(|c| c.args)
    }

    #[test]
    fn each_target_parses() {
        let cases: [(&[&str], ResetTo); 6] = [
            (&["--to-earliest"], ResetTo::Earliest),
            (&["--to-latest"], ResetTo::Latest),
            (&["--to-offset", "42"], ResetTo::Offset(42)),
            (
                &["--to-datetime", "2024-05-01T12:00:00Z"],
                ResetTo::Datetime(1_714_564_800_000),
            ),
            (&["--shift-by", "-5"], ResetTo::ShiftBy(-5)),
            (&["--shift-by", "5"], ResetTo::ShiftBy(5)),
        ];
        for (flags, target) in cases {
            let mut args = vec!["billing", "--topic", "orders"];
            args.extend_from_slice(flags);
            let parsed = parse(&args).unwrap();
            assert_eq!(parsed.target(), target, "{flags:?}");
            assert!(!parsed.dry_run);
        }
        let parsed = parse(&[
            "g",
            "--topic",
            "a:0,2",
            "--topic",
            "b",
            "--to-latest",
            "--dry-run",
        ])
        .unwrap();
        assert!(parsed.dry_run);
        assert_eq!(
            parsed.topic,
            vec![
                TopicSelection {
                    topic: "a".to_owned(),
                    partitions: Some(vec![0, 2])
                },
                TopicSelection {
                    topic: "b".to_owned(),
                    partitions: None
                },
            ]
        );
    }

    #[test]
    fn exactly_one_target_and_a_topic_are_required() {
        for args in [
            &["g", "--topic", "t"][..],
            &["g", "--topic", "t", "--to-earliest", "--to-latest"],
            &["g", "--topic", "t", "--to-offset", "1", "--shift-by", "1"],
            &["g", "--to-earliest"],
            &["--topic", "t", "--to-earliest"],
            &["g", "--topic", "t", "--to-offset", "-1"],
            &["g", "--topic", "t", "--to-datetime", "2024-05-01T12:00:00"],
            &["g", "--topic", "t", "--to-datetime", "last tuesday"],
            &["g", "--topic", "t:x", "--to-earliest"],
            &["g", "--topic", ":0", "--to-earliest"],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), crate::exit::USAGE as i32, "{args:?}");
        }
    }

    const LOG: PartitionOffsets = PartitionOffsets {
        committed: Some(50),
        log_start: 10,
        log_end: 100,
        at_datetime: None,
    };

    #[test]
    fn offsets_are_resolved_within_the_log() {
        assert_eq!(new_offset(ResetTo::Earliest, LOG), Ok(10));
        assert_eq!(new_offset(ResetTo::Latest, LOG), Ok(100));
        assert_eq!(new_offset(ResetTo::Offset(42), LOG), Ok(42));
        assert_eq!(new_offset(ResetTo::Offset(5), LOG), Ok(10));
        assert_eq!(new_offset(ResetTo::Offset(500), LOG), Ok(100));
        assert_eq!(new_offset(ResetTo::ShiftBy(-20), LOG), Ok(30));
        assert_eq!(new_offset(ResetTo::ShiftBy(-45), LOG), Ok(10));
        assert_eq!(new_offset(ResetTo::ShiftBy(70), LOG), Ok(100));
        assert_eq!(new_offset(ResetTo::ShiftBy(i64::MAX), LOG), Ok(100));
    }

    #[test]
    fn offsets_moved_into_the_log_are_noted() {
        let note = |target| moved_note(target, LOG, new_offset(target, LOG).unwrap());
        assert_eq!(note(ResetTo::Offset(42)), None);
        assert_eq!(
            note(ResetTo::Offset(500)),
            Some("offset 500 lies outside the log (10..100), so 100 is used".to_owned())
        );
        assert_eq!(
            note(ResetTo::ShiftBy(-45)),
            Some("offset 5 lies outside the log (10..100), so 10 is used".to_owned())
        );
        assert_eq!(note(ResetTo::ShiftBy(-5)), None);
        assert_eq!(note(ResetTo::Earliest), None);
        assert_eq!(note(ResetTo::Datetime(0)), None);
    }

    #[test]
    fn a_datetime_without_messages_after_it_goes_to_the_end() {
        let at = |at_datetime| PartitionOffsets { at_datetime, ..LOG };
        assert_eq!(new_offset(ResetTo::Datetime(0), at(Some(64))), Ok(64));
        assert_eq!(new_offset(ResetTo::Datetime(0), at(None)), Ok(100));
    }

    #[test]
    fn shifting_needs_a_committed_offset() {
        let none = PartitionOffsets {
            committed: None,
            ..LOG
        };
        assert_eq!(
            new_offset(ResetTo::ShiftBy(1), none),
            Err(PlanError::NoCommittedOffset)
        );
        assert_eq!(new_offset(ResetTo::Earliest, none), Ok(10));
    }

    #[test]
    fn an_empty_log_has_one_place() {
        let empty = PartitionOffsets {
            committed: Some(7),
            log_start: 7,
            log_end: 7,
            at_datetime: None,
        };
        for target in [
            ResetTo::Earliest,
            ResetTo::Latest,
            ResetTo::Offset(0),
            ResetTo::Datetime(0),
            ResetTo::ShiftBy(-3),
        ] {
            assert_eq!(new_offset(target, empty), Ok(7), "{target:?}");
        }
    }

    #[test]
    fn selections_are_checked_against_the_topics() {
        let topics = BTreeMap::from([("a".to_owned(), vec![0, 1, 2]), ("b".to_owned(), vec![0])]);
        let all = [
            parse_topic_selection("a").unwrap(),
            parse_topic_selection("b:0").unwrap(),
        ];
        let selected = selected_partitions(&all, &topics).unwrap();
        let names: Vec<String> = selected
            .iter()
            .map(|tp| format!("{}-{}", tp.topic, tp.partition))
            .collect();
        assert_eq!(names, ["a-0", "a-1", "a-2", "b-0"]);
        let error =
            selected_partitions(&[parse_topic_selection("a:3").unwrap()], &topics).unwrap_err();
        assert_eq!(error.0, "topic 'a' has no partition 3 (it has 0-2)");
        let error =
            selected_partitions(&[parse_topic_selection("b:1").unwrap()], &topics).unwrap_err();
        assert_eq!(error.0, "topic 'b' has no partition 1 (it has only 0)");
    }

    fn report(dry_run: bool) -> ResetReport {
        ResetReport {
            group: "billing".to_owned(),
            dry_run,
            partitions: vec![
                PartitionReset {
                    topic: "orders".to_owned(),
                    partition: 0,
                    old_offset: Some(50),
                    new_offset: 10,
                },
                PartitionReset {
                    topic: "orders".to_owned(),
                    partition: 1,
                    old_offset: None,
                    new_offset: 0,
                },
            ],
        }
    }

    #[test]
    fn text_and_json() {
        assert_eq!(
            report(false).text(),
            "TOPIC   PARTITION  OLD-OFFSET  NEW-OFFSET\n\
             orders  0          50          10\n\
             orders  1          -           0\n"
        );
        assert!(
            report(true)
                .text()
                .ends_with("\nDry run: the offsets of group 'billing' were not changed.\n")
        );
        assert_eq!(
            serde_json::to_value(report(true)).unwrap(),
            serde_json::json!({
                "group": "billing", "dry_run": true, "partitions": [
                    {"topic": "orders", "partition": 0, "old_offset": 50, "new_offset": 10},
                    {"topic": "orders", "partition": 1, "old_offset": null, "new_offset": 0},
                ]
            })
        );
    }

    #[test]
    fn the_commit_is_an_admin_commit() {
        let request = commit_request("billing", &report(false).partitions);
        assert_eq!(request.group_id, "billing");
        assert_eq!(request.generation_id_or_member_epoch, -1);
        assert_eq!(request.member_id, "");
        assert_eq!(request.topics.len(), 1);
        let offsets: Vec<(i32, i64)> = request.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        assert_eq!(offsets, [(0, 10), (1, 0)]);
        // Every version the client speaks can carry it.
        for version in 2..=9 {
            let mut buf = bytes::BytesMut::new();
            fjord_protocol::Message::encode(&request, &mut buf, version).unwrap();
        }
    }
}
