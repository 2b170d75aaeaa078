//! Exit codes that scripts can rely on.

use crate::client;

/// Everything went as asked.
pub const SUCCESS: u8 = 0;
/// The command failed: the broker refused (with the Kafka error named on stderr), the
/// group was not in a state that allows the change, or anything else went wrong.
pub const FAILURE: u8 = 1;
/// The command line was invalid; clap uses this code for its own errors too.
pub const USAGE: u8 = 2;
/// No broker could be reached, or one did not answer in time.
pub const UNREACHABLE: u8 = 3;
/// The group, topic or partition named does not exist.
pub const NOT_FOUND: u8 = 4;

/// The help text's summary of the exit codes.
pub const HELP: &str = "\
Exit codes:
  0  success
  1  the command failed (the broker's Kafka error is named on stderr)
  2  invalid command line
  3  no broker could be reached, or one did not answer in time
  4  the group, topic or partition does not exist";

/// Something the user named does not exist, found out without a broker error code (a
/// group described as Dead, a partition a topic does not have).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// The command line asks for something contradictory that clap cannot see, such as a
/// config both set and deleted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);
/// No broker could be reached or answered in time, found out by librdkafka (the
/// produce, consume and bench commands) rather than by [`client`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// The exit code for `error`, from the first cause that tells.
pub fn code_of(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.downcast_ref::<NotFound>().is_some() {
            return NOT_FOUND;
        }
        if cause.downcast_ref::<Usage>().is_some() {
            return USAGE;
        }
        if cause.downcast_ref::<Unreachable>().is_some() {
            return UNREACHABLE;
        }
        if let Some(error) = cause.downcast_ref::<client::Error>() {
            if error.is_unreachable() {
                return UNREACHABLE;
            }
            if error.code().is_some_and(client::ErrorCode::is_not_found) {
                return NOT_FOUND;
            }
            return FAILURE;
        }
    }
    FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{BrokerAddress, Error, ErrorCode};

    fn broker() -> BrokerAddress {
        BrokerAddress {
            host: "127.0.0.1".to_owned(),
            port: 9092,
        }
    }

    #[test]
    fn codes_follow_the_cause() {
        let unreachable = anyhow::Error::new(Error::NoBrokerReachable {
            brokers: "127.0.0.1:9092".to_owned(),
            last: None,
        });
        assert_eq!(code_of(&unreachable), UNREACHABLE);
        let timeout = anyhow::Error::new(Error::Timeout {
            broker: broker(),
            api: "DescribeGroups",
            timeout_ms: 10,
        });
        assert_eq!(code_of(&timeout.context("describing")), UNREACHABLE);
        let unknown = anyhow::Error::new(Error::kafka("x", ErrorCode::GROUP_ID_NOT_FOUND));
        assert_eq!(code_of(&unknown), NOT_FOUND);
        let topic = anyhow::Error::new(Error::kafka("x", ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
        assert_eq!(code_of(&topic), NOT_FOUND);
        let non_empty = anyhow::Error::new(Error::kafka("x", ErrorCode::NON_EMPTY_GROUP));
        assert_eq!(code_of(&non_empty), FAILURE);
        assert_eq!(
            code_of(&anyhow::Error::new(NotFound("g".into()))),
            NOT_FOUND
        );
        assert_eq!(code_of(&anyhow::Error::new(Usage("u".into()))), USAGE);
        assert_eq!(
            code_of(&anyhow::Error::new(Unreachable("down".into()))),
            UNREACHABLE
        );
        assert_eq!(code_of(&anyhow::anyhow!("anything else")), FAILURE);
    }

    #[test]
    fn the_help_names_every_code() {
        for code in [SUCCESS, FAILURE, USAGE, UNREACHABLE, NOT_FOUND] {
            assert!(HELP.contains(&format!("  {code}  ")), "{code}");
        }
    }
}
