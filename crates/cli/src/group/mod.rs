//! `fjord group`: list, describe, reset the offsets of and delete consumer groups of any
//! Kafka-compatible cluster.

mod delete;
mod describe;
mod list;
mod membership;
mod reset_offsets;

use std::collections::BTreeMap;

use anyhow::Context;
use fjord_protocol::messages::OffsetFetchRequest;
use fjord_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;

use crate::client::{self, Client, Connection, Error, ErrorCode, TopicPartition};
use crate::exit;
use crate::options::ClientOptions;

/// Arguments of `fjord group`.
#[derive(Debug, clap::Args)]
pub struct GroupArgs {
    #[command(flatten)]
    options: ClientOptions,

    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Debug, clap::Subcommand)]
enum GroupCommand {
    /// List the consumer groups of the cluster, with their state.
    ///
    /// Every broker is asked for the groups it coordinates.
    ///
    /// Examples:
    ///   fjord group list
    ///   fjord group list --state Empty --state Dead
    ///   fjord group list --brokers kafka-1:9092,kafka-2:9092 --format json
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    List(list::ListArgs),

    /// Show a group's members, assignments, committed offsets and lag.
    ///
    /// For each partition the group consumes or has an offset for: the committed
    /// offset, the log end offset (high watermark) and the lag between them.
    ///
    /// Examples:
    ///   fjord group describe billing
    ///   fjord group describe billing --format json | jq '.lag_total'
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Describe(describe::DescribeArgs),

    /// Move a group's committed offsets, for instance to reprocess messages.
    ///
    /// Like kafka-consumer-groups.sh, this refuses unless the group is Empty or Dead:
    /// stop its consumers first. The new offsets are found with ListOffsets and
    /// committed with OffsetCommit; offsets outside a partition's log are moved to its
    /// nearest end. Use --dry-run to see the table without committing anything.
    ///
    /// Examples:
    ///   fjord group reset-offsets billing --topic orders --to-earliest
    ///   fjord group reset-offsets billing --topic orders --to-datetime 2024-05-01T00:00:00Z
    ///   fjord group reset-offsets billing --topic orders:0,1 --shift-by -100 --dry-run
    ///   fjord group reset-offsets billing --topic orders --topic refunds --to-latest
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    ResetOffsets(reset_offsets::ResetOffsetsArgs),

    /// Delete a group and its committed offsets.
    ///
    /// Only a group without members can be deleted.
    ///
    /// Examples:
    ///   fjord group delete billing
    #[command(verbatim_doc_comment, after_help = exit::HELP)]
    Delete(delete::DeleteArgs),
}

/// Runs a `fjord group` command.
pub fn run(args: GroupArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut client = Client::new(args.options.brokers.clone(), args.options.timeout());
    let format = args.options.format;
    runtime.block_on(async {
        match args.command {
            GroupCommand::List(args) => list::run(&mut client, args, format).await,
            GroupCommand::Describe(args) => describe::run(&mut client, args, format).await,
            GroupCommand::ResetOffsets(args) => reset_offsets::run(&mut client, args, format).await,
            GroupCommand::Delete(args) => delete::run(&mut client, args, format).await,
        }
    })
}

/// A group id argument: Kafka refuses empty ones.
fn parse_group_id(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("a group id cannot be empty".to_owned())
    } else {
        Ok(text.to_owned())
    }
}

/// The committed offsets of `group`, from OffsetFetch on its coordinator. Partitions
/// without a committed offset are left out.
async fn committed_offsets(
    client: &mut Client,
    group: &str,
) -> client::Result<BTreeMap<TopicPartition, i64>> {
    client
        .on_coordinator(group, async |connection: &mut Connection| {
            let batched = connection.version_of::<OffsetFetchRequest>()? >= 8;
            let request = if batched {
                OffsetFetchRequest {
                    groups: vec![OffsetFetchRequestGroup {
                        group_id: group.to_owned(),
                        topics: None, // every partition with an offset
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            } else {
                OffsetFetchRequest {
                    group_id: group.to_owned(),
                    topics: None,
                    ..Default::default()
                }
            };
            let response = connection.request(&request).await?;
            let context = || format!("fetching the committed offsets of group '{group}'");
            let mut partitions = Vec::new();
            if batched {
                let answer = response
                    .groups
                    .into_iter()
                    .find(|g| g.group_id == group)
                    .ok_or_else(|| Error::Protocol {
                        broker: connection.address().clone(),
                        api: "OffsetFetch",
                        detail: format!("no answer for group '{group}'"),
                    })?;
                check_offset_fetch(answer.error_code, context)?;
                for topic in answer.topics {
                    for p in topic.partitions {
                        let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                        partitions.push((tp, p.committed_offset, p.error_code));
                    }
                }
            } else {
                check_offset_fetch(response.error_code, context)?;
                for topic in response.topics {
                    for p in topic.partitions {
                        let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                        partitions.push((tp, p.committed_offset, p.error_code));
                    }
                }
            }
            let mut offsets = BTreeMap::new();
            for (tp, offset, code) in partitions {
                match ErrorCode::check(code) {
                    // A deleted topic's offsets may linger; they are not the group's.
                    Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION) => {}
                    Err(code) => {
                        return Err(Error::kafka(
                            format!("{} for {}-{}", context(), tp.topic, tp.partition),
                            code,
                        ));
                    }
                    Ok(()) if offset >= 0 => {
                        offsets.insert(tp, offset);
                    }
                    Ok(()) => {}
                }
            }
            Ok(offsets)
        })
        .await
}

/// A group-level OffsetFetch error; a group that does not exist has no offsets.
fn check_offset_fetch(code: i16, context: impl Fn() -> String) -> client::Result<()> {
    match ErrorCode::check(code) {
        Ok(()) | Err(ErrorCode::GROUP_ID_NOT_FOUND) => Ok(()),
        Err(code) => Err(Error::kafka(context(), code)),
    }
}

/// Whether a group in `state` may have its offsets changed by a tool: no member could
/// overwrite them with its own commits. (Kafka spells the states of both protocols
/// alike; the comparison ignores case all the same.)
fn is_inactive(state: &str) -> bool {
    state.eq_ignore_ascii_case("Empty") || state.eq_ignore_ascii_case("Dead")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        group: GroupArgs,
    }

    fn parse(args: &[&str]) -> Result<GroupArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("group").chain(args.iter().copied())).map(|c| c.group)
    }

    #[test]
    fn client_options_are_accepted_before_or_after_the_subcommand() {
        let before = parse(&["--brokers", "a:1,b:2", "--format", "json", "list"]).unwrap();
        let after = parse(&["list", "--brokers", "a:1,b:2", "--format", "json"]).unwrap();
        for args in [before, after] {
            assert_eq!(args.options.brokers.to_string(), "a:1,b:2");
            assert_eq!(args.options.format, crate::output::Format::Json);
        }
    }

    #[test]
    fn bad_client_options_are_usage_errors() {
        for args in [
            &["list", "--brokers", "nohost"][..],
            &["list", "--brokers", ""],
            &["list", "--format", "yaml"],
            &["list", "--timeout-ms", "0"],
            &["describe", ""],
            &["describe"],
            &["delete"],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(
                error.exit_code(),
                crate::exit::USAGE as i32,
                "{args:?}: {error}"
            );
        }
    }

    #[test]
    fn only_empty_and_dead_groups_are_inactive() {
        assert!(is_inactive("Empty"));
        assert!(is_inactive("Dead"));
        for state in [
            "Stable",
            "PreparingRebalance",
            "CompletingRebalance",
            "Assigning",
            "",
        ] {
            assert!(!is_inactive(state), "{state}");
        }
    }

    /// A fake coordinator of group `billing` (node 1) whose OffsetFetch goes up to
    /// `offset_fetch_max`, holding t-0 at 5, t-1 with no offset, and an offset of a
    /// deleted topic.
    async fn coordinator_with_offsets(offset_fetch_max: i16) -> crate::client::BrokerAddress {
        use fjord_protocol::ApiKey;
        use fjord_protocol::messages::find_coordinator_response::Coordinator;
        use fjord_protocol::messages::offset_fetch_response::{
            OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
            OffsetFetchResponseTopic, OffsetFetchResponseTopics,
        };
        use fjord_protocol::messages::{
            FindCoordinatorResponse, OffsetFetchResponse, RequestKind, ResponseKind,
        };

        use crate::client::fake::{listen, serve};

        let (listener, address) = listen().await;
        let port = i32::from(address.port);
        let versions = [
            (ApiKey::ApiVersions, 0, 3),
            (ApiKey::FindCoordinator, 0, 6),
            (ApiKey::OffsetFetch, 0, offset_fetch_max),
        ];
        // (topic, partition, offset, error code)
        let stored = [("t", 0, 5, 0), ("t", 1, -1, 0), ("deleted", 0, 9, 3)];
        serve(listener, &versions, move |request, version| match request {
            RequestKind::FindCoordinator(_) => {
                ResponseKind::FindCoordinator(FindCoordinatorResponse {
                    coordinators: vec![Coordinator {
                        key: "billing".to_owned(),
                        node_id: 1,
                        host: "127.0.0.1".to_owned(),
                        port,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            }
            RequestKind::OffsetFetch(request) if version >= 8 => {
                assert_eq!(request.groups[0].group_id, "billing");
                assert_eq!(request.groups[0].topics, None, "every partition");
                ResponseKind::OffsetFetch(OffsetFetchResponse {
                    groups: vec![OffsetFetchResponseGroup {
                        group_id: "billing".to_owned(),
                        topics: stored
                            .iter()
                            .map(
                                |&(topic, partition, offset, code)| OffsetFetchResponseTopics {
                                    name: topic.to_owned(),
                                    partitions: vec![OffsetFetchResponsePartitions {
                                        partition_index: partition,
                                        committed_offset: offset,
                                        error_code: code,
                                        ..Default::default()
                                    }],
                                    ..Default::default()
                                },
                            )
                            .collect(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            }
            RequestKind::OffsetFetch(request) => {
                assert_eq!(request.group_id, "billing");
                assert_eq!(request.topics, None, "every partition");
                ResponseKind::OffsetFetch(OffsetFetchResponse {
                    topics: stored
                        .iter()
                        .map(
                            |&(topic, partition, offset, code)| OffsetFetchResponseTopic {
                                name: topic.to_owned(),
                                partitions: vec![OffsetFetchResponsePartition {
                                    partition_index: partition,
                                    committed_offset: offset,
                                    error_code: code,
                                    ..Default::default()
                                }],
                                ..Default::default()
                            },
                        )
                        .collect(),
                    ..Default::default()
                })
            }
            other => panic!("unexpected {other:?}"),
        });
        address
    }

    #[tokio::test]
    async fn committed_offsets_read_both_shapes_of_offset_fetch() {
        for offset_fetch_max in [7, 9] {
            let address = coordinator_with_offsets(offset_fetch_max).await;
            let mut client = Client::new(
                crate::client::BrokerList(vec![address]),
                std::time::Duration::from_secs(10),
            );
            let offsets = committed_offsets(&mut client, "billing").await.unwrap();
            assert_eq!(
                offsets,
                BTreeMap::from([(TopicPartition::new("t", 0), 5)]),
                "OffsetFetch v{offset_fetch_max}"
            );
        }
    }

    #[test]
    fn a_missing_group_has_no_offsets() {
        assert!(check_offset_fetch(69, String::new).is_ok());
        assert!(check_offset_fetch(0, String::new).is_ok());
        let error = check_offset_fetch(30, || "fetching".to_owned()).unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode(30)));
    }
}
