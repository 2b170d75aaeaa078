//! What a group is and who is in it, whichever protocol it uses: DescribeGroups for
//! classic groups, ConsumerGroupDescribe for groups of the consumer protocol (KIP-848),
//! which classic DescribeGroups reports as Dead (v0-5) or GROUP_ID_NOT_FOUND (v6+).

use bytes::{Buf, Bytes};
use fjord_protocol::Message;
use fjord_protocol::messages::consumer_group_describe_response::{
    DescribedGroup as ConsumerGroup, Member as ConsumerMember,
};
use fjord_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use fjord_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerProtocolAssignment, DescribeGroupsRequest,
};
use serde::Serialize;

use crate::client::{self, Client, Connection, Error, ErrorCode};

/// Which group protocol a group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupType {
    /// JoinGroup/SyncGroup, with client-side assignment.
    Classic,
    /// ConsumerGroupHeartbeat, with server-side assignment (KIP-848).
    Consumer,
}

impl GroupType {
    pub fn name(self) -> &'static str {
        match self {
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
        }
    }
}

/// A group as its coordinator describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub state: String,
    pub group_type: GroupType,
    /// `consumer` for consumer groups; empty for a classic group that only has offsets.
    pub protocol_type: String,
    /// The assignor, such as `range` or `uniform`.
    pub protocol: String,
    pub members: Vec<Member>,
}

/// One member and what it is assigned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub assignment: Vec<AssignedTopic>,
    /// Why the assignment could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignment_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssignedTopic {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// Describes `group` on its coordinator; `None` when the group does not exist.
pub async fn describe(client: &mut Client, group: &str) -> client::Result<Option<Group>> {
    let classic = client
        .on_coordinator(group, async |connection: &mut Connection| {
            let request = DescribeGroupsRequest {
                groups: vec![group.to_owned()],
                ..Default::default()
            };
            let response = connection.request(&request).await?;
            let described = response
                .groups
                .into_iter()
                .find(|g| g.group_id == group)
                .ok_or_else(|| no_answer(connection, "DescribeGroups", group))?;
            match ErrorCode::check(described.error_code) {
                Ok(()) if described.group_state != "Dead" => Ok(Some(described)),
                Ok(()) | Err(ErrorCode::GROUP_ID_NOT_FOUND) => Ok(None),
                Err(code) => Err(Error::kafka(format!("describing group '{group}'"), code)),
            }
        })
        .await?;
    if let Some(classic) = classic {
        return Ok(Some(Group::from_classic(classic)));
    }
    let consumer = client
        .on_coordinator(group, async |connection: &mut Connection| {
            // A broker without the consumer protocol has no such groups.
            if connection
                .version_of::<ConsumerGroupDescribeRequest>()
                .is_err()
            {
                return Ok(None);
            }
            let request = ConsumerGroupDescribeRequest {
                group_ids: vec![group.to_owned()],
                ..Default::default()
            };
            let response = connection.request(&request).await?;
            let described = response
                .groups
                .into_iter()
                .find(|g| g.group_id == group)
                .ok_or_else(|| no_answer(connection, "ConsumerGroupDescribe", group))?;
            match ErrorCode::check(described.error_code) {
                Ok(()) if described.group_state.eq_ignore_ascii_case("Dead") => Ok(None),
                Ok(()) => Ok(Some(described)),
                Err(ErrorCode::GROUP_ID_NOT_FOUND) => Ok(None),
                Err(code) => Err(Error::Kafka {
                    context: format!("describing group '{group}'"),
                    code,
                    message: described.error_message,
                    hint: None,
                }),
            }
        })
        .await?;
    Ok(consumer.map(Group::from_consumer))
}

fn no_answer(connection: &Connection, api: &'static str, group: &str) -> Error {
    Error::Protocol {
        broker: connection.address().clone(),
        api,
        detail: format!("no answer for group '{group}'"),
    }
}

impl Group {
    fn from_classic(group: DescribedGroup) -> Group {
        let members = group
            .members
            .into_iter()
            .map(|m| Member::from_classic(m, &group.protocol_type))
            .collect();
        Group {
            state: group.group_state,
            group_type: GroupType::Classic,
            protocol_type: group.protocol_type,
            protocol: group.protocol_data,
            members,
        }
    }

    fn from_consumer(group: ConsumerGroup) -> Group {
        Group {
            state: group.group_state,
            group_type: GroupType::Consumer,
            protocol_type: "consumer".to_owned(),
            protocol: group.assignor_name,
            members: group
                .members
                .into_iter()
                .map(Member::from_consumer)
                .collect(),
        }
    }
}

impl Member {
    fn from_classic(member: DescribedGroupMember, protocol_type: &str) -> Member {
        let (assignment, assignment_error) =
            match decode_assignment(protocol_type, &member.member_assignment) {
                Ok(assignment) => (assignment, None),
                Err(error) => (Vec::new(), Some(error)),
            };
        Member {
            member_id: member.member_id,
            group_instance_id: member.group_instance_id,
            client_id: member.client_id,
            host: member.client_host,
            assignment,
            assignment_error,
        }
    }

    fn from_consumer(member: ConsumerMember) -> Member {
        let assignment = member
            .assignment
            .topic_partitions
            .into_iter()
            .map(|tp| AssignedTopic {
                // A topic deleted meanwhile has an id and no name.
                topic: if tp.topic_name.is_empty() {
                    tp.topic_id.to_string()
                } else {
                    tp.topic_name
                },
                partitions: tp.partitions,
            })
            .collect();
        Member {
            member_id: member.member_id,
            group_instance_id: member.instance_id,
            client_id: member.client_id,
            host: member.client_host,
            assignment: sorted(assignment),
            assignment_error: None,
        }
    }
}

/// Topics by name, partitions in order.
fn sorted(mut topics: Vec<AssignedTopic>) -> Vec<AssignedTopic> {
    for topic in &mut topics {
        topic.partitions.sort_unstable();
    }
    topics.sort_by(|a, b| a.topic.cmp(&b.topic));
    topics
}

/// Decodes a classic member's assignment. Consumer groups (protocol type `consumer`)
/// use Kafka's ConsumerProtocolAssignment, prefixed by its version; other protocol
/// types (Connect, for one) have formats of their own. An empty assignment is one the
/// member has not received yet.
pub fn decode_assignment(protocol_type: &str, bytes: &Bytes) -> Result<Vec<AssignedTopic>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if protocol_type != "consumer" {
        return Err(format!(
            "{} bytes of protocol type '{protocol_type}'",
            bytes.len()
        ));
    }
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err("truncated version".to_owned());
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(format!("invalid version {version}"));
    }
    // Newer versions only append fields, so the newest version we know reads them.
    let read_as = version.min(ConsumerProtocolAssignment::VERSIONS.max);
    let assignment = ConsumerProtocolAssignment::decode(&mut buf, read_as)
        .map_err(|error| format!("version {version}: {error}"))?;
    Ok(sorted(
        assignment
            .assigned_partitions
            .into_iter()
            .map(|tp| AssignedTopic {
                topic: tp.topic,
                partitions: tp.partitions,
            })
            .collect(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use fjord_protocol::messages::consumer_group_describe_response::{Assignment, TopicPartitions};
    use fjord_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;

    use super::*;

    fn assignment_bytes(version: i16, topics: &[(&str, &[i32])]) -> Bytes {
        let assignment = ConsumerProtocolAssignment {
            assigned_partitions: topics
                .iter()
                .map(|(topic, partitions)| Assigned {
                    topic: (*topic).to_owned(),
                    partitions: partitions.to_vec(),
                })
                .collect(),
            user_data: None,
        };
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        assignment.encode(&mut buf, version.min(3)).unwrap();
        buf.freeze()
    }

    fn topic(name: &str, partitions: &[i32]) -> AssignedTopic {
        AssignedTopic {
            topic: name.to_owned(),
            partitions: partitions.to_vec(),
        }
    }

    #[test]
    fn decodes_consumer_assignments_of_every_version() {
        for version in [0, 1, 3] {
            let bytes = assignment_bytes(version, &[("orders", &[2, 0]), ("audit", &[1])]);
            assert_eq!(
                decode_assignment("consumer", &bytes),
                Ok(vec![topic("audit", &[1]), topic("orders", &[0, 2])]),
                "version {version}"
            );
        }
    }

    #[test]
    fn a_newer_version_is_read_as_the_newest_known() {
        let mut bytes = BytesMut::from(&assignment_bytes(3, &[("orders", &[0])])[..]);
        bytes[..2].copy_from_slice(&4i16.to_be_bytes());
        bytes.put_slice(b"fields of v4");
        assert_eq!(
            decode_assignment("consumer", &bytes.freeze()),
            Ok(vec![topic("orders", &[0])])
        );
    }

    #[test]
    fn empty_foreign_and_broken_assignments() {
        assert_eq!(decode_assignment("consumer", &Bytes::new()), Ok(vec![]));
        assert_eq!(
            decode_assignment("connect", &Bytes::from_static(b"abc")),
            Err("3 bytes of protocol type 'connect'".to_owned())
        );
        assert!(decode_assignment("consumer", &Bytes::from_static(&[0])).is_err());
        assert!(decode_assignment("consumer", &Bytes::from_static(&[0, 0, 0, 1])).is_err());
        assert!(decode_assignment("consumer", &Bytes::from_static(&[0xff, 0xff])).is_err());
    }

    /// A fake coordinator of `billing` on which DescribeGroups reports `classic_state`
    /// and ConsumerGroupDescribe, if offered, a consumer-protocol group.
    async fn coordinator(classic_state: &'static str, consumer_protocol: bool) -> Client {
        use fjord_protocol::ApiKey;
        use fjord_protocol::messages::find_coordinator_response::Coordinator;
        use fjord_protocol::messages::{
            ConsumerGroupDescribeResponse, DescribeGroupsResponse, FindCoordinatorResponse,
            RequestKind, ResponseKind,
        };

        use crate::client::BrokerList;
        use crate::client::fake::{listen, serve};

        let (listener, address) = listen().await;
        let port = i32::from(address.port);
        let mut versions = vec![
            (ApiKey::ApiVersions, 0, 3),
            (ApiKey::FindCoordinator, 0, 6),
            (ApiKey::DescribeGroups, 0, 5),
        ];
        if consumer_protocol {
            versions.push((ApiKey::ConsumerGroupDescribe, 0, 0));
        }
        serve(listener, &versions, move |request, _| match request {
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
            RequestKind::DescribeGroups(_) => {
                ResponseKind::DescribeGroups(DescribeGroupsResponse {
                    groups: vec![DescribedGroup {
                        group_id: "billing".to_owned(),
                        group_state: classic_state.to_owned(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            }
            RequestKind::ConsumerGroupDescribe(_) => {
                ResponseKind::ConsumerGroupDescribe(ConsumerGroupDescribeResponse {
                    groups: vec![ConsumerGroup {
                        group_id: "billing".to_owned(),
                        group_state: "Stable".to_owned(),
                        assignor_name: "uniform".to_owned(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            }
            other => panic!("unexpected {other:?}"),
        });
        Client::new(
            BrokerList(vec![address]),
            std::time::Duration::from_secs(10),
        )
    }

    #[tokio::test]
    async fn groups_of_either_protocol_are_found() {
        let mut client = coordinator("Empty", true).await;
        let group = describe(&mut client, "billing").await.unwrap().unwrap();
        assert_eq!(
            (group.group_type, group.state.as_str()),
            (GroupType::Classic, "Empty")
        );

        // Classic DescribeGroups reports a consumer-protocol group as Dead.
        let mut client = coordinator("Dead", true).await;
        let group = describe(&mut client, "billing").await.unwrap().unwrap();
        assert_eq!(
            (group.group_type, group.state.as_str()),
            (GroupType::Consumer, "Stable")
        );
        assert_eq!(group.protocol, "uniform");

        // Without the consumer protocol, Dead is no group at all.
        let mut client = coordinator("Dead", false).await;
        assert_eq!(describe(&mut client, "billing").await.unwrap(), None);
    }

    #[test]
    fn classic_members_carry_their_decoded_assignment() {
        let group = Group::from_classic(DescribedGroup {
            group_id: "billing".to_owned(),
            group_state: "Stable".to_owned(),
            protocol_type: "consumer".to_owned(),
            protocol_data: "range".to_owned(),
            members: vec![DescribedGroupMember {
                member_id: "m-1".to_owned(),
                group_instance_id: Some("billing-1".to_owned()),
                client_id: "rdkafka".to_owned(),
                client_host: "/127.0.0.1".to_owned(),
                member_assignment: assignment_bytes(1, &[("orders", &[1, 0])]),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(group.group_type, GroupType::Classic);
        assert_eq!(group.protocol, "range");
        assert_eq!(
            group.members,
            vec![Member {
                member_id: "m-1".to_owned(),
                group_instance_id: Some("billing-1".to_owned()),
                client_id: "rdkafka".to_owned(),
                host: "/127.0.0.1".to_owned(),
                assignment: vec![topic("orders", &[0, 1])],
                assignment_error: None,
            }]
        );
    }

    #[test]
    fn consumer_protocol_members_carry_their_current_assignment() {
        let group = Group::from_consumer(ConsumerGroup {
            group_id: "billing".to_owned(),
            group_state: "Reconciling".to_owned(),
            assignor_name: "uniform".to_owned(),
            members: vec![ConsumerMember {
                member_id: "m-1".to_owned(),
                client_id: "rdkafka".to_owned(),
                client_host: "/127.0.0.1".to_owned(),
                assignment: Assignment {
                    topic_partitions: vec![
                        TopicPartitions {
                            topic_name: "orders".to_owned(),
                            partitions: vec![2, 1],
                            ..Default::default()
                        },
                        TopicPartitions {
                            topic_id: fjord_protocol::Uuid([1; 16]),
                            topic_name: String::new(),
                            partitions: vec![0],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        });
        assert_eq!(group.group_type, GroupType::Consumer);
        assert_eq!(group.protocol_type, "consumer");
        assert_eq!(group.protocol, "uniform");
        assert_eq!(
            group.members[0].assignment,
            vec![
                topic("01010101-0101-0101-0101-010101010101", &[0]),
                topic("orders", &[1, 2]),
            ]
        );
    }
}
