//! Glue between the data commands (`fjord produce`, `consume`, `bench`) and librdkafka:
//! one client configuration, errors turned into the exit codes of [`crate::exit`], and
//! the look-ups done before librdkafka starts, with the project's own [`Client`], which
//! fails fast and with clear messages where librdkafka would retry in silence.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::client::{BrokerList, Client, ErrorCode, OffsetQuery, TopicPartition};
use crate::exit;

/// Kafka's names of the broker error codes a producer or consumer meets, beyond those the
/// protocol client names (see [`ErrorCode::name`]).
const NAMES: &[(i32, &str)] = &[
    (2, "CORRUPT_MESSAGE"),
    (10, "MESSAGE_TOO_LARGE"),
    (18, "RECORD_LIST_TOO_LARGE"),
    (19, "NOT_ENOUGH_REPLICAS"),
    (20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"),
    (21, "INVALID_REQUIRED_ACKS"),
    (76, "UNSUPPORTED_COMPRESSION_TYPE"),
    (87, "INVALID_RECORD"),
];

/// The configuration every librdkafka client of the CLI starts from.
pub fn client_config(brokers: &BrokerList, timeout: Duration) -> ClientConfig {
    let mut config = ClientConfig::new();
    let timeout_ms = timeout.as_millis().to_string();
    config
        .set("bootstrap.servers", brokers.to_string())
        .set("client.id", "fjord")
        .set("socket.connection.setup.timeout.ms", &timeout_ms)
        .set("socket.timeout.ms", &timeout_ms)
        // A typo must not create a topic: the commands look the topic up first and say
        // how to create it (see docs/adr/0007-cli-produce-consume-bench.md).
        .set("allow.auto.create.topics", "false");
    config
}

/// The name Kafka gives a broker error code, or librdkafka's description of a local one.
fn name_of(code: RDKafkaErrorCode) -> String {
    let number = code as i32;
    if let Ok(short) = i16::try_from(number)
        && let Some(name) = ErrorCode(short).name()
    {
        return name.to_owned();
    }
    match NAMES.iter().find(|(n, _)| *n == number) {
        Some((_, name)) => (*name).to_owned(),
        None => format!("{code} ({number})"),
    }
}

/// `error`, met while doing `context`, as an error whose exit code tells what happened:
/// not found (4), unreachable (3) or failed (1), with Kafka's name for broker errors.
pub fn error(context: &str, error: &KafkaError) -> anyhow::Error {
    let Some(code) = error.rdkafka_error_code() else {
        return anyhow::anyhow!("{context}: {error}");
    };
    match code {
        RDKafkaErrorCode::UnknownTopicOrPartition
        | RDKafkaErrorCode::UnknownTopic
        | RDKafkaErrorCode::UnknownPartition => {
            exit::NotFound(format!("{context}: {}", name_of(code))).into()
        }
        RDKafkaErrorCode::AllBrokersDown
        | RDKafkaErrorCode::BrokerTransportFailure
        | RDKafkaErrorCode::MessageTimedOut
        | RDKafkaErrorCode::OperationTimedOut
        | RDKafkaErrorCode::RequestTimedOut
        | RDKafkaErrorCode::NetworkException
        | RDKafkaErrorCode::Resolve => exit::Unreachable(format!(
            "{context}: {} ({error}); check --brokers (or FJORD_BROKERS) and that the \
             cluster is up",
            name_of(code)
        ))
        .into(),
        _ => anyhow::anyhow!("{context}: {}", name_of(code)),
    }
}

/// A single-threaded async runtime for the look-ups of the protocol client.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The partitions of `topic`, sorted; a topic that does not exist is [`exit::NotFound`]
/// with the command that creates it.
pub async fn partitions_of(client: &mut Client, topic: &str) -> anyhow::Result<Vec<i32>> {
    match client.topic_partitions(&[topic.to_owned()]).await {
        Ok(mut found) => Ok(found.remove(topic).unwrap_or_default()),
        Err(error) if error.code() == Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION) => {
            Err(exit::NotFound(format!(
                "topic '{topic}' does not exist (UNKNOWN_TOPIC_OR_PARTITION); create it with \
                 `fjord topic create {topic}`"
            ))
            .into())
        }
        Err(error) => Err(error.into()),
    }
}

/// Checks that `topic` has `partition`.
pub fn check_partition(topic: &str, partitions: &[i32], partition: i32) -> anyhow::Result<()> {
    if partitions.contains(&partition) {
        Ok(())
    } else {
        Err(exit::NotFound(format!(
            "topic '{topic}' has no partition {partition}: it has {} (0 to {})",
            partitions.len(),
            partitions.len().saturating_sub(1)
        ))
        .into())
    }
}

/// The offsets ListOffsets answers for `query` on each of `partitions` of `topic`; `None`
/// where no message matches a timestamp.
pub async fn offsets(
    client: &mut Client,
    topic: &str,
    partitions: &[i32],
    query: OffsetQuery,
) -> anyhow::Result<BTreeMap<i32, Option<i64>>> {
    let asked: BTreeSet<TopicPartition> = partitions
        .iter()
        .map(|&p| TopicPartition::new(topic, p))
        .collect();
    let answers = client.list_offsets(&asked, query).await?;
    let mut offsets = BTreeMap::new();
    for (tp, answer) in answers {
        let offset = answer.map_err(|code| {
            crate::client::Error::kafka(
                format!("listing the offsets of {}/{}", tp.topic, tp.partition),
                code,
            )
        })?;
        offsets.insert(tp.partition, offset);
    }
    Ok(offsets)
}

/// A flag set when the process gets SIGINT (Ctrl-C) or SIGTERM, so that a long command
/// (consume --follow, bench) can stop cleanly: print its summary, commit its offsets.
/// A second Ctrl-C ends the process at once, for when stopping cleanly hangs (a commit
/// to a cluster that went away).
pub fn stop_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let runtime = runtime()?;
    std::thread::Builder::new()
        .name("fjord-signals".to_owned())
        .spawn(move || {
            runtime.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    match signal(SignalKind::terminate()) {
                        Ok(mut terminate) => {
                            tokio::select! {
                                _ = tokio::signal::ctrl_c() => {}
                                _ = terminate.recv() => {}
                            }
                        }
                        Err(_) => {
                            let _ = tokio::signal::ctrl_c().await;
                        }
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = tokio::signal::ctrl_c().await;
                }
            });
            flag.store(true, Ordering::SeqCst);
            runtime.block_on(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    // 128 + SIGINT, as a shell reports a process ended by Ctrl-C.
                    std::process::exit(130);
                }
            });
        })
        .context("cannot start the signal thread")?;
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_codes_get_kafka_names() {
        assert_eq!(
            name_of(RDKafkaErrorCode::MessageSizeTooLarge),
            "MESSAGE_TOO_LARGE"
        );
        assert_eq!(
            name_of(RDKafkaErrorCode::UnknownTopicOrPartition),
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
    }

    #[test]
    fn errors_get_exit_codes() {
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        let error = error("producing", &too_large);
        assert_eq!(exit::code_of(&error), exit::FAILURE);
        assert!(error.to_string().contains("MESSAGE_TOO_LARGE"), "{error}");
        let down = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert_eq!(
            exit::code_of(&super::error("producing", &down)),
            exit::UNREACHABLE
        );
        let unknown = KafkaError::MessageConsumption(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert_eq!(
            exit::code_of(&super::error("consuming", &unknown)),
            exit::NOT_FOUND
        );
    }
}
