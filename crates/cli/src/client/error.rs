//! The client's errors: reaching a broker, talking to it, and the Kafka error codes it
//! answers with.

use std::borrow::Cow;
use std::fmt;

use super::address::BrokerAddress;

/// A Kafka error code as a broker sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i16);

/// Kafka's names of the codes the client meets or is likely to: the group coordinator's,
/// the partition leaders' of ListOffsets, the admin requests' (topics, partitions,
/// configs) and authorization failures.
const NAMES: &[(i16, &str)] = &[
    (-1, "UNKNOWN_SERVER_ERROR"),
    (0, "NONE"),
    (1, "OFFSET_OUT_OF_RANGE"),
    (3, "UNKNOWN_TOPIC_OR_PARTITION"),
    (5, "LEADER_NOT_AVAILABLE"),
    (6, "NOT_LEADER_OR_FOLLOWER"),
    (7, "REQUEST_TIMED_OUT"),
    (8, "BROKER_NOT_AVAILABLE"),
    (12, "OFFSET_METADATA_TOO_LARGE"),
    (13, "NETWORK_EXCEPTION"),
    (14, "COORDINATOR_LOAD_IN_PROGRESS"),
    (15, "COORDINATOR_NOT_AVAILABLE"),
    (16, "NOT_COORDINATOR"),
    (17, "INVALID_TOPIC_EXCEPTION"),
    (22, "ILLEGAL_GENERATION"),
    (23, "INCONSISTENT_GROUP_PROTOCOL"),
    (24, "INVALID_GROUP_ID"),
    (25, "UNKNOWN_MEMBER_ID"),
    (27, "REBALANCE_IN_PROGRESS"),
    (28, "INVALID_COMMIT_OFFSET_SIZE"),
    (29, "TOPIC_AUTHORIZATION_FAILED"),
    (30, "GROUP_AUTHORIZATION_FAILED"),
    (31, "CLUSTER_AUTHORIZATION_FAILED"),
    (32, "INVALID_TIMESTAMP"),
    (35, "UNSUPPORTED_VERSION"),
    (36, "TOPIC_ALREADY_EXISTS"),
    (37, "INVALID_PARTITIONS"),
    (38, "INVALID_REPLICATION_FACTOR"),
    (39, "INVALID_REPLICA_ASSIGNMENT"),
    (40, "INVALID_CONFIG"),
    (41, "NOT_CONTROLLER"),
    (42, "INVALID_REQUEST"),
    (44, "POLICY_VIOLATION"),
    (56, "KAFKA_STORAGE_ERROR"),
    (58, "SASL_AUTHENTICATION_FAILED"),
    (68, "NON_EMPTY_GROUP"),
    (69, "GROUP_ID_NOT_FOUND"),
    (73, "TOPIC_DELETION_DISABLED"),
    (74, "FENCED_LEADER_EPOCH"),
    (75, "UNKNOWN_LEADER_EPOCH"),
    (78, "OFFSET_NOT_AVAILABLE"),
    (79, "MEMBER_ID_REQUIRED"),
    (82, "FENCED_INSTANCE_ID"),
    (86, "GROUP_SUBSCRIBED_TO_TOPIC"),
    (88, "UNSTABLE_OFFSET_COMMIT"),
    (89, "THROTTLING_QUOTA_EXCEEDED"),
    (100, "UNKNOWN_TOPIC_ID"),
    (110, "FENCED_MEMBER_EPOCH"),
    (113, "STALE_MEMBER_EPOCH"),
];

impl ErrorCode {
    pub const UNKNOWN_TOPIC_OR_PARTITION: ErrorCode = ErrorCode(3);
    pub const LEADER_NOT_AVAILABLE: ErrorCode = ErrorCode(5);
    pub const NOT_LEADER_OR_FOLLOWER: ErrorCode = ErrorCode(6);
    pub const COORDINATOR_LOAD_IN_PROGRESS: ErrorCode = ErrorCode(14);
    pub const COORDINATOR_NOT_AVAILABLE: ErrorCode = ErrorCode(15);
    pub const NOT_COORDINATOR: ErrorCode = ErrorCode(16);
    pub const ILLEGAL_GENERATION: ErrorCode = ErrorCode(22);
    pub const UNKNOWN_MEMBER_ID: ErrorCode = ErrorCode(25);
    pub const REBALANCE_IN_PROGRESS: ErrorCode = ErrorCode(27);
    pub const INVALID_TOPIC_EXCEPTION: ErrorCode = ErrorCode(17);
    pub const TOPIC_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(29);
    pub const CLUSTER_AUTHORIZATION_FAILED: ErrorCode = ErrorCode(31);
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(35);
    pub const TOPIC_ALREADY_EXISTS: ErrorCode = ErrorCode(36);
    pub const INVALID_PARTITIONS: ErrorCode = ErrorCode(37);
    pub const INVALID_REPLICATION_FACTOR: ErrorCode = ErrorCode(38);
    pub const INVALID_CONFIG: ErrorCode = ErrorCode(40);
    pub const NOT_CONTROLLER: ErrorCode = ErrorCode(41);
    pub const POLICY_VIOLATION: ErrorCode = ErrorCode(44);
    pub const NON_EMPTY_GROUP: ErrorCode = ErrorCode(68);
    pub const GROUP_ID_NOT_FOUND: ErrorCode = ErrorCode(69);
    pub const FENCED_LEADER_EPOCH: ErrorCode = ErrorCode(74);
    pub const TOPIC_DELETION_DISABLED: ErrorCode = ErrorCode(73);
    pub const UNKNOWN_LEADER_EPOCH: ErrorCode = ErrorCode(75);
    pub const UNKNOWN_TOPIC_ID: ErrorCode = ErrorCode(100);

    /// `Ok` for code 0, the code as an error otherwise.
    pub fn check(code: i16) -> Result<(), ErrorCode> {
        if code == 0 {
            Ok(())
        } else {
            Err(ErrorCode(code))
        }
    }

    /// Kafka's name of the code, if the table has it.
    pub fn name(self) -> Option<&'static str> {
        NAMES
            .iter()
            .find(|(code, _)| *code == self.0)
            .map(|(_, name)| *name)
    }

    /// Whether the group's coordinator moved or is still loading: find it again and retry.
    pub fn is_coordinator_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
                | ErrorCode::COORDINATOR_NOT_AVAILABLE
                | ErrorCode::NOT_COORDINATOR
        )
    }

    /// Whether a partition's leader moved or is being elected: refresh metadata and retry.
    pub fn is_leader_retriable(self) -> bool {
        matches!(
            self,
            ErrorCode::LEADER_NOT_AVAILABLE
                | ErrorCode::NOT_LEADER_OR_FOLLOWER
                | ErrorCode::FENCED_LEADER_EPOCH
                | ErrorCode::UNKNOWN_LEADER_EPOCH
        )
    }

    /// Whether the code says that the thing asked about does not exist.
    pub fn is_not_found(self) -> bool {
        matches!(
            self,
            ErrorCode::GROUP_ID_NOT_FOUND
                | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                | ErrorCode::UNKNOWN_TOPIC_ID
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "Kafka error code {}", self.0),
        }
    }
}

/// Why a request to the cluster failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not one of the bootstrap brokers accepted a connection.
    #[error(
        "cannot reach any broker of {brokers}{}; check --brokers (or FJORD_BROKERS) and that \
         the cluster is up",
        last.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
    )]
    NoBrokerReachable {
        /// The bootstrap list, as given.
        brokers: String,
        /// Why the last one failed.
        last: Option<Box<Error>>,
    },
    /// A TCP connection could not be opened.
    #[error("cannot connect to {broker}: {cause}")]
    Connect {
        broker: BrokerAddress,
        cause: std::io::Error,
    },
    /// The connection failed while a request was on it.
    #[error("connection to {broker} failed during {api}: {cause}")]
    Io {
        broker: BrokerAddress,
        api: &'static str,
        cause: std::io::Error,
    },
    /// No answer in time; the connection is dropped, as a late answer cannot be matched.
    #[error("{broker} did not answer {api} within {timeout_ms} ms")]
    Timeout {
        broker: BrokerAddress,
        api: &'static str,
        timeout_ms: u128,
    },
    /// The broker sent something that is not a valid response.
    #[error("{broker} sent an invalid {api} response: {detail}")]
    Protocol {
        broker: BrokerAddress,
        api: &'static str,
        detail: String,
    },
    /// The broker does not offer the API in any version this client speaks.
    #[error("{broker} does not support {api} in versions {min}-{max}, which fjord needs")]
    UnsupportedApi {
        broker: BrokerAddress,
        api: &'static str,
        min: i16,
        max: i16,
    },
    /// The broker answered with a Kafka error code.
    #[error("{context}: {code}{}{}", message_suffix(.message), hint_suffix(.hint))]
    Kafka {
        /// What was asked, such as "describing group 'billing'".
        context: String,
        code: ErrorCode,
        /// The broker's own error message, when the response carries one.
        message: Option<String>,
        /// What the user can do about it; it may name what was asked for, so it is not
        /// always a constant.
        hint: Option<Cow<'static, str>>,
    },
    /// A broker id that no Metadata response lists.
    #[error("the cluster does not say where broker {node_id} is")]
    UnknownBroker { node_id: i32 },
    /// A broker told us about another broker at an address that cannot be used.
    #[error("{context}: the broker advertised the unusable address {host}:{port}")]
    BadAddress {
        context: String,
        host: String,
        port: i32,
    },
    /// A request could not be encoded: a bug in this client.
    #[error("cannot encode {api} v{version}: {detail}")]
    Encode {
        api: &'static str,
        version: i16,
        detail: String,
    },
}

fn message_suffix(message: &Option<String>) -> String {
    match message {
        Some(message) if !message.is_empty() => format!(" ({message})"),
        _ => String::new(),
    }
}

fn hint_suffix(hint: &Option<Cow<'static, str>>) -> String {
    hint.as_ref()
        .map(|hint| format!("; {hint}"))
        .unwrap_or_default()
}

impl Error {
    /// A Kafka error code answered while doing `context`.
    pub fn kafka(context: impl Into<String>, code: ErrorCode) -> Error {
        Error::Kafka {
            context: context.into(),
            code,
            message: None,
            hint: None,
        }
    }

    /// Adds a hint to a Kafka error; other errors are returned as they are.
    pub fn with_hint(mut self, new_hint: impl Into<Cow<'static, str>>) -> Error {
        if let Error::Kafka { hint, .. } = &mut self {
            *hint = Some(new_hint.into());
        }
        self
    }

    /// Adds the broker's own error message to a Kafka error; other errors are returned
    /// as they are.
    pub fn with_message(mut self, new_message: Option<String>) -> Error {
        if let Error::Kafka { message, .. } = &mut self {
            *message = new_message;
        }
        self
    }

    /// The Kafka error code, if the broker answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether no broker (or not the one needed) could be reached or answered in time.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Error::NoBrokerReachable { .. }
                | Error::Connect { .. }
                | Error::Io { .. }
                | Error::Timeout { .. }
        )
    }
}

/// The client's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_show_kafka_names() {
        assert_eq!(ErrorCode(69).to_string(), "GROUP_ID_NOT_FOUND (69)");
        assert_eq!(ErrorCode(68).to_string(), "NON_EMPTY_GROUP (68)");
        assert_eq!(ErrorCode(15).to_string(), "COORDINATOR_NOT_AVAILABLE (15)");
        assert_eq!(ErrorCode(30).to_string(), "GROUP_AUTHORIZATION_FAILED (30)");
        assert_eq!(ErrorCode(3).to_string(), "UNKNOWN_TOPIC_OR_PARTITION (3)");
        assert_eq!(ErrorCode(999).to_string(), "Kafka error code 999");
        assert_eq!(ErrorCode::check(0), Ok(()));
        assert_eq!(ErrorCode::check(16), Err(ErrorCode::NOT_COORDINATOR));
    }

    #[test]
    fn the_table_has_no_duplicates() {
        for (i, (code, name)) in NAMES.iter().enumerate() {
            for (other_code, other_name) in &NAMES[i + 1..] {
                assert_ne!(code, other_code, "{name} and {other_name}");
                assert_ne!(name, other_name);
            }
        }
    }

    #[test]
    fn kafka_errors_name_the_code_the_message_and_the_hint() {
        let error = Error::Kafka {
            context: "deleting group 'billing'".to_owned(),
            code: ErrorCode::NON_EMPTY_GROUP,
            message: Some("The group is not empty.".to_owned()),
            hint: Some("stop its consumers first".into()),
        };
        assert_eq!(
            error.to_string(),
            "deleting group 'billing': NON_EMPTY_GROUP (68) (The group is not empty.); \
             stop its consumers first"
        );
        assert_eq!(
            Error::kafka("x", ErrorCode(14)).to_string(),
            "x: COORDINATOR_LOAD_IN_PROGRESS (14)"
        );
    }

    #[test]
    fn retriable_and_not_found_codes() {
        assert!(ErrorCode(14).is_coordinator_retriable());
        assert!(ErrorCode(15).is_coordinator_retriable());
        assert!(ErrorCode(16).is_coordinator_retriable());
        assert!(!ErrorCode(69).is_coordinator_retriable());
        assert!(ErrorCode(6).is_leader_retriable());
        assert!(ErrorCode(69).is_not_found());
        assert!(ErrorCode(3).is_not_found());
        assert!(!ErrorCode(68).is_not_found());
    }
}
