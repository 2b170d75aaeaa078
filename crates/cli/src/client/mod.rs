//! A small Kafka client for the command line, on top of `fjord-protocol`: it bootstraps
//! from a list of brokers, learns the others from Metadata, finds group coordinators and
//! partition leaders, and sends typed requests to them. It speaks only the protocol, so
//! it works against any Kafka-compatible cluster.
//!
//! Every request has a time limit; retriable answers (a coordinator still loading, a
//! leader moving) are retried a bounded number of times with a growing pause.

mod address;
mod connection;
mod error;
#[cfg(test)]
pub(crate) mod fake;
mod offsets;
mod versions;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use fjord_protocol::messages::metadata_request::MetadataRequestTopic;
use fjord_protocol::messages::metadata_response::MetadataResponseTopic;
use fjord_protocol::messages::{FindCoordinatorRequest, MetadataRequest, MetadataResponse};

pub use address::{BrokerAddress, BrokerList};
pub use connection::Connection;
pub use error::{Error, ErrorCode, Result};
pub use offsets::{ListedOffset, OffsetQuery};
pub use versions::{BrokerVersions, negotiate, spoken};

/// How many times a retriable answer is retried in all.
const ATTEMPTS_MAX: u32 = 6;

/// The pause before retry `attempt` (1-based): 100 ms, doubling, at most 2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.saturating_sub(1).min(5)).min(2_000))
}

/// One partition of one topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

/// A client of one cluster.
pub struct Client {
    bootstrap: BrokerList,
    timeout: Duration,
    /// A connection to whichever bootstrap broker answered first.
    any: Option<Connection>,
    /// Where each broker is, from Metadata and FindCoordinator.
    nodes: BTreeMap<i32, BrokerAddress>,
    /// Connections by broker id.
    connections: BTreeMap<i32, Connection>,
    /// The coordinator of each group asked about.
    coordinators: HashMap<String, i32>,
}

impl Client {
    /// A client that bootstraps from `bootstrap`, with `timeout` on every connection
    /// attempt and every request. Nothing is connected until the first request.
    pub fn new(bootstrap: BrokerList, timeout: Duration) -> Client {
        Client {
            bootstrap,
            timeout,
            any: None,
            nodes: BTreeMap::new(),
            connections: BTreeMap::new(),
            coordinators: HashMap::new(),
        }
    }

    /// A connection to any broker of the cluster: the first bootstrap broker that accepts.
    pub async fn any_broker(&mut self) -> Result<&mut Connection> {
        if self.any.as_ref().is_some_and(Connection::is_broken) {
            self.any = None;
        }
        let mut last = None;
        if self.any.is_none() {
            for address in &self.bootstrap.0 {
                match Connection::connect(address, self.timeout).await {
                    Ok(connection) => {
                        self.any = Some(connection);
                        break;
                    }
                    Err(error) => last = Some(Box::new(error)),
                }
            }
        }
        match self.any.as_mut() {
            Some(connection) => Ok(connection),
            None => Err(Error::NoBrokerReachable {
                brokers: self.bootstrap.to_string(),
                last,
            }),
        }
    }

    /// A connection to broker `node_id`, opened on first use.
    pub async fn broker(&mut self, node_id: i32) -> Result<&mut Connection> {
        if self
            .connections
            .get(&node_id)
            .is_some_and(Connection::is_broken)
        {
            self.connections.remove(&node_id);
        }
        if !self.connections.contains_key(&node_id) {
            if !self.nodes.contains_key(&node_id) {
                // Only broker addresses are needed: an empty topic list asks for none.
                self.metadata(Some(Vec::new())).await?;
            }
            let address = self
                .nodes
                .get(&node_id)
                .cloned()
                .ok_or(Error::UnknownBroker { node_id })?;
            let connection = Connection::connect(&address, self.timeout).await?;
            self.connections.insert(node_id, connection);
        }
        self.connections
            .get_mut(&node_id)
            .ok_or(Error::UnknownBroker { node_id })
    }

    /// Records where broker `node_id` is; a connection to an old address is dropped.
    fn learn(&mut self, node_id: i32, address: BrokerAddress) {
        if self.nodes.get(&node_id) != Some(&address) {
            self.connections.remove(&node_id);
            self.nodes.insert(node_id, address);
        }
    }

    /// Metadata for `topics` (`None`: every topic), never creating a topic. The brokers
    /// it lists are remembered.
    pub async fn metadata(&mut self, topics: Option<Vec<String>>) -> Result<MetadataResponse> {
        let request = MetadataRequest {
            topics: topics.map(|names| {
                names
                    .into_iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(name),
                        ..Default::default()
                    })
                    .collect()
            }),
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        let response = self.any_broker().await?.request(&request).await?;
        for broker in &response.brokers {
            let address =
                BrokerAddress::advertised(&broker.host, broker.port).ok_or_else(|| {
                    Error::BadAddress {
                        context: format!("Metadata for broker {}", broker.node_id),
                        host: broker.host.clone(),
                        port: broker.port,
                    }
                })?;
            self.learn(broker.node_id, address);
        }
        Ok(response)
    }

    /// The ids of every broker of the cluster, from Metadata.
    pub async fn broker_ids(&mut self) -> Result<Vec<i32>> {
        let response = self.metadata(Some(Vec::new())).await?;
        Ok(response.brokers.iter().map(|b| b.node_id).collect())
    }

    /// The partitions of each of `topics`; a topic that does not exist is an error.
    pub async fn topic_partitions(
        &mut self,
        topics: &[String],
    ) -> Result<BTreeMap<String, Vec<i32>>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self.metadata(Some(topics.to_vec())).await?;
            let mut found = BTreeMap::new();
            let mut retry = false;
            for name in topics {
                let topic = response
                    .topics
                    .iter()
                    .find(|t| t.name.as_deref() == Some(name.as_str()));
                let code = topic.map_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0, |t| t.error_code);
                match ErrorCode::check(code) {
                    Ok(()) => {
                        let mut partitions: Vec<i32> = topic
                            .map(|t| t.partitions.iter().map(|p| p.partition_index).collect())
                            .unwrap_or_default();
                        partitions.sort_unstable();
                        found.insert(name.clone(), partitions);
                    }
                    Err(code) if code.is_leader_retriable() && attempt < ATTEMPTS_MAX => {
                        retry = true;
                    }
                    Err(code) => {
                        let error = Error::kafka(format!("looking up topic '{name}'"), code);
                        return Err(if code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION {
                            error.with_hint("the topic does not exist")
                        } else {
                            error
                        });
                    }
                }
            }
            if !retry {
                return Ok(found);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// Metadata of topic `name`, retried while its leaders are being elected (a topic
    /// just created may answer LEADER_NOT_AVAILABLE for a moment). A topic that does not
    /// exist, or any other error of the topic, is a Kafka error with its code.
    pub async fn topic_metadata(&mut self, name: &str) -> Result<MetadataResponseTopic> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self.metadata(Some(vec![name.to_owned()])).await?;
            let topic = response
                .topics
                .into_iter()
                .find(|t| t.name.as_deref() == Some(name));
            let code = match topic {
                Some(topic) => match ErrorCode::check(topic.error_code) {
                    Ok(()) => return Ok(topic),
                    Err(code) => code,
                },
                None => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            };
            if !(code.is_leader_retriable() && attempt < ATTEMPTS_MAX) {
                return Err(Error::kafka(format!("looking up topic '{name}'"), code));
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// The id of the coordinator of `group`, from FindCoordinator; retried while the
    /// cluster is still electing or loading it.
    pub async fn find_coordinator(&mut self, group: &str) -> Result<i32> {
        if let Some(&node_id) = self.coordinators.get(group) {
            return Ok(node_id);
        }
        let context = || format!("finding the coordinator of group '{group}'");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let connection = self.any_broker().await?;
            let version = connection.version_of::<FindCoordinatorRequest>()?;
            let batched = version >= 4;
            let request = FindCoordinatorRequest {
                key: if batched {
                    String::new()
                } else {
                    group.to_owned()
                },
                key_type: 0, // a group, not a transactional id
                coordinator_keys: if batched {
                    vec![group.to_owned()]
                } else {
                    Vec::new()
                },
                ..Default::default()
            };
            let response = connection.request(&request).await?;
            let (code, message, node_id, host, port) = if batched {
                let coordinator = response
                    .coordinators
                    .into_iter()
                    .find(|c| c.key == group)
                    .ok_or_else(|| Error::Protocol {
                        broker: connection.address().clone(),
                        api: "FindCoordinator",
                        detail: format!("no answer for group '{group}'"),
                    })?;
                (
                    coordinator.error_code,
                    coordinator.error_message,
                    coordinator.node_id,
                    coordinator.host,
                    coordinator.port,
                )
            } else {
                (
                    response.error_code,
                    response.error_message,
                    response.node_id,
                    response.host,
                    response.port,
                )
            };
            match ErrorCode::check(code) {
                Ok(()) => {
                    let address = BrokerAddress::advertised(&host, port).ok_or_else(|| {
                        Error::BadAddress {
                            context: context(),
                            host: host.clone(),
                            port,
                        }
                    })?;
                    self.learn(node_id, address);
                    self.coordinators.insert(group.to_owned(), node_id);
                    return Ok(node_id);
                }
                Err(code) if code.is_coordinator_retriable() && attempt < ATTEMPTS_MAX => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(code) => {
                    return Err(Error::Kafka {
                        context: context(),
                        code,
                        message,
                        hint: None,
                    });
                }
            }
        }
    }

    /// Runs `operation` on the coordinator of `group`. When it fails because the
    /// coordinator moved or is loading, the coordinator is looked up again and the
    /// operation retried, a bounded number of times.
    pub async fn on_coordinator<T>(
        &mut self,
        group: &str,
        mut operation: impl AsyncFnMut(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let node_id = self.find_coordinator(group).await?;
            let connection = self.broker(node_id).await?;
            match operation(connection).await {
                Err(error)
                    if error
                        .code()
                        .is_some_and(ErrorCode::is_coordinator_retriable)
                        && attempt < ATTEMPTS_MAX =>
                {
                    self.coordinators.remove(group);
                    tokio::time::sleep(backoff(attempt)).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// Runs `operation` on the cluster's controller as Metadata names it, or on any
    /// broker when none is named: brokers of a KRaft cluster forward admin requests to
    /// the controller themselves. NOT_CONTROLLER means the controller moved while asked;
    /// Metadata is asked again and the operation retried, a bounded number of times.
    pub async fn on_controller<T>(
        &mut self,
        mut operation: impl AsyncFnMut(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let controller_id = self.metadata(Some(Vec::new())).await?.controller_id;
            let connection = if controller_id >= 0 {
                self.broker(controller_id).await?
            } else {
                self.any_broker().await?
            };
            match operation(connection).await {
                Err(error)
                    if error.code() == Some(ErrorCode::NOT_CONTROLLER)
                        && attempt < ATTEMPTS_MAX =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// Runs `operation` on broker `node_id`, retrying while the broker answers that its
    /// group coordinator is loading or not available yet.
    pub async fn on_broker<T>(
        &mut self,
        node_id: i32,
        mut operation: impl AsyncFnMut(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let connection = self.broker(node_id).await?;
            match operation(connection).await {
                Err(error)
                    if error
                        .code()
                        .is_some_and(ErrorCode::is_coordinator_retriable)
                        && attempt < ATTEMPTS_MAX =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                outcome => return outcome,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use fjord_protocol::ApiKey;
    use fjord_protocol::messages::describe_groups_response::DescribedGroup;
    use fjord_protocol::messages::find_coordinator_response::Coordinator;
    use fjord_protocol::messages::{
        DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorResponse, RequestKind,
        ResponseKind,
    };

    use super::fake::{listen, metadata_answer, serve};
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    fn client(address: &BrokerAddress) -> Client {
        Client::new(BrokerList(vec![address.clone()]), TIMEOUT)
    }

    /// A FindCoordinator answer, in the shape of `version`, pointing at `node_id` on `port`.
    fn coordinator_answer(version: i16, code: i16, node_id: i32, port: u16) -> ResponseKind {
        let host = "127.0.0.1".to_owned();
        let port = i32::from(port);
        ResponseKind::FindCoordinator(if version >= 4 {
            FindCoordinatorResponse {
                coordinators: vec![Coordinator {
                    key: "billing".to_owned(),
                    node_id,
                    host,
                    port,
                    error_code: code,
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            FindCoordinatorResponse {
                error_code: code,
                node_id,
                host,
                port,
                ..Default::default()
            }
        })
    }

    #[tokio::test]
    async fn finds_coordinators_in_both_shapes_and_waits_while_they_load() {
        for max_version in [3, 6] {
            let (listener, address) = listen().await;
            let port = address.port;
            let mut loading = 2;
            let asked = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&asked);
            let versions = [
                (ApiKey::ApiVersions, 0, 3),
                (ApiKey::FindCoordinator, 0, max_version),
            ];
            serve(listener, &versions, move |request, version| {
                let RequestKind::FindCoordinator(request) = request else {
                    panic!("unexpected {request:?}");
                };
                counter.fetch_add(1, Ordering::SeqCst);
                if version >= 4 {
                    assert_eq!(request.coordinator_keys, ["billing"]);
                } else {
                    assert_eq!(request.key, "billing");
                }
                let code = if loading > 0 {
                    loading -= 1;
                    ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.0
                } else {
                    0
                };
                coordinator_answer(version, code, 7, port)
            });
            let mut client = client(&address);
            assert_eq!(client.find_coordinator("billing").await.unwrap(), 7);
            assert_eq!(client.nodes.get(&7), Some(&address));
            // Remembered: not asked again.
            assert_eq!(client.find_coordinator("billing").await.unwrap(), 7);
            assert_eq!(asked.load(Ordering::SeqCst), 3, "v{max_version}");
        }
    }

    #[tokio::test]
    async fn a_coordinator_error_that_does_not_pass_is_reported() {
        let (listener, address) = listen().await;
        let port = address.port;
        let versions = [(ApiKey::ApiVersions, 0, 3), (ApiKey::FindCoordinator, 0, 6)];
        serve(listener, &versions, move |_, version| {
            coordinator_answer(version, 30, 1, port)
        });
        let error = client(&address)
            .find_coordinator("billing")
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "finding the coordinator of group 'billing': GROUP_AUTHORIZATION_FAILED (30)"
        );
    }

    #[tokio::test]
    async fn a_moved_coordinator_is_found_again() {
        let (listener, address) = listen().await;
        let port = address.port;
        let found = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&found);
        let mut moved = true;
        let versions = [
            (ApiKey::ApiVersions, 0, 3),
            (ApiKey::FindCoordinator, 0, 6),
            (ApiKey::DescribeGroups, 0, 5),
        ];
        serve(listener, &versions, move |request, version| match request {
            RequestKind::FindCoordinator(_) => {
                counter.fetch_add(1, Ordering::SeqCst);
                coordinator_answer(version, 0, 1, port)
            }
            RequestKind::DescribeGroups(_) => {
                let error_code = if moved {
                    moved = false;
                    ErrorCode::NOT_COORDINATOR.0
                } else {
                    0
                };
                ResponseKind::DescribeGroups(DescribeGroupsResponse {
                    groups: vec![DescribedGroup {
                        group_id: "billing".to_owned(),
                        group_state: "Stable".to_owned(),
                        error_code,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            }
            other => panic!("unexpected {other:?}"),
        });
        let mut client = client(&address);
        let state = client
            .on_coordinator("billing", async |connection: &mut Connection| {
                let request = DescribeGroupsRequest {
                    groups: vec!["billing".to_owned()],
                    ..Default::default()
                };
                let response = connection.request(&request).await?;
                let group = &response.groups[0];
                ErrorCode::check(group.error_code)
                    .map_err(|code| Error::kafka("describing", code))?;
                Ok(group.group_state.clone())
            })
            .await
            .unwrap();
        assert_eq!(state, "Stable");
        assert_eq!(
            found.load(Ordering::SeqCst),
            2,
            "found once, and again after it moved"
        );
    }

    #[tokio::test]
    async fn unknown_topics_are_named() {
        let (listener, address) = listen().await;
        let port = address.port;
        let versions = [(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 12)];
        serve(listener, &versions, move |request, _| {
            let RequestKind::Metadata(request) = request else {
                panic!("unexpected {request:?}");
            };
            assert!(
                !request.allow_auto_topic_creation,
                "asking never creates a topic"
            );
            metadata_answer(&[(1, port)], &[("t", 1, 1), ("t", 0, 1)])
        });
        let mut client = client(&address);
        let topics = client.topic_partitions(&["t".to_owned()]).await.unwrap();
        assert_eq!(topics, BTreeMap::from([("t".to_owned(), vec![0, 1])]));
        let error = client
            .topic_partitions(&["t".to_owned(), "gone".to_owned()])
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "looking up topic 'gone': UNKNOWN_TOPIC_OR_PARTITION (3); the topic does not exist"
        );
    }

    #[tokio::test]
    async fn admin_requests_go_to_the_controller_and_follow_it_when_it_moves() {
        use fjord_protocol::messages::create_topics_response::CreatableTopicResult;
        use fjord_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

        let (first, first_address) = listen().await;
        let (second, second_address) = listen().await;
        let brokers = [(1, first_address.port), (2, second_address.port)];
        let versions = [
            (ApiKey::ApiVersions, 0, 3),
            (ApiKey::Metadata, 0, 12),
            (ApiKey::CreateTopics, 0, 7),
        ];
        let create_answer = |code: ErrorCode| {
            ResponseKind::CreateTopics(CreateTopicsResponse {
                topics: vec![CreatableTopicResult {
                    name: "t".to_owned(),
                    error_code: code.0,
                    ..Default::default()
                }],
                ..Default::default()
            })
        };
        // Broker 1 is the controller in the first Metadata answer, then broker 2 is:
        // broker 1 answers NOT_CONTROLLER, broker 2 creates the topic.
        let metadata_asked = Arc::new(AtomicUsize::new(0));
        let asked = Arc::clone(&metadata_asked);
        serve(first, &versions, move |request, _| match request {
            RequestKind::Metadata(_) => {
                let ResponseKind::Metadata(mut answer) = metadata_answer(&brokers, &[]) else {
                    unreachable!()
                };
                answer.controller_id = if asked.fetch_add(1, Ordering::SeqCst) == 0 {
                    1
                } else {
                    2
                };
                ResponseKind::Metadata(answer)
            }
            RequestKind::CreateTopics(_) => create_answer(ErrorCode::NOT_CONTROLLER),
            other => panic!("unexpected {other:?}"),
        });
        let created = Arc::new(AtomicUsize::new(0));
        let created_by_second = Arc::clone(&created);
        serve(second, &versions, move |request, _| match request {
            RequestKind::CreateTopics(_) => {
                created_by_second.fetch_add(1, Ordering::SeqCst);
                create_answer(ErrorCode(0))
            }
            other => panic!("unexpected {other:?}"),
        });
        let mut client = client(&first_address);
        let answered_by = client
            .on_controller(async |connection: &mut Connection| {
                let response = connection.request(&CreateTopicsRequest::default()).await?;
                ErrorCode::check(response.topics[0].error_code)
                    .map_err(|code| Error::kafka("creating topic 't'", code))?;
                Ok(connection.address().port)
            })
            .await
            .unwrap();
        assert_eq!(answered_by, second_address.port);
        assert_eq!(created.load(Ordering::SeqCst), 1);
        assert_eq!(metadata_asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn topic_metadata_waits_for_a_leader_and_names_unknown_topics() {
        let (listener, address) = listen().await;
        let port = address.port;
        let versions = [(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 12)];
        let mut electing = true;
        serve(listener, &versions, move |_, _| {
            let ResponseKind::Metadata(mut answer) = metadata_answer(&[(1, port)], &[("t", 0, 1)])
            else {
                unreachable!()
            };
            if std::mem::take(&mut electing) {
                answer.topics[0].error_code = ErrorCode::LEADER_NOT_AVAILABLE.0;
            }
            ResponseKind::Metadata(answer)
        });
        let mut client = client(&address);
        let topic = client.topic_metadata("t").await.unwrap();
        assert_eq!(topic.name.as_deref(), Some("t"));
        assert_eq!(topic.partitions.len(), 1);
        for missing in ["gone", "never-listed"] {
            let error = client.topic_metadata(missing).await.unwrap_err();
            assert_eq!(error.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
            assert_eq!(
                error.to_string(),
                format!("looking up topic '{missing}': UNKNOWN_TOPIC_OR_PARTITION (3)")
            );
        }
    }

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(1_600));
        assert_eq!(backoff(6), Duration::from_millis(2_000));
        assert_eq!(backoff(60), Duration::from_millis(2_000));
    }
}
