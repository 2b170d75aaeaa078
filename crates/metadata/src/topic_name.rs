//! Kafka's rules for topic names.
//!
//! A name is 1 to 249 characters of `[a-zA-Z0-9._-]`, and neither `.` nor `..`
//! (249 because a partition's directory is `<name>-<partition>` and must fit in a
//! 255-byte file name). Kafka also refuses a new topic whose name equals an existing
//! one once every `.` is replaced by `_`: metrics systems flatten `.` to `_`, and the two
//! topics' metrics would merge.

use std::borrow::Cow;

use crate::error_code;

/// The longest topic name Kafka allows, in characters (all ASCII, so also bytes).
pub const NAME_LENGTH_MAX: usize = 249;

/// The topic where consumer groups commit their offsets.
pub const CONSUMER_OFFSETS: &str = "__consumer_offsets";

/// The topic where the transaction coordinator keeps transaction state.
pub const TRANSACTION_STATE: &str = "__transaction_state";

/// The topic where the share coordinator keeps share group state (Kafka 4 queues).
pub const SHARE_GROUP_STATE: &str = "__share_group_state";

/// The name of Kafka's metadata log as a topic. Fjord keeps its metadata log
/// elsewhere, but the name stays reserved so that clients never see it as a user topic.
pub const CLUSTER_METADATA: &str = "__cluster_metadata";

/// A topic name that breaks Kafka's rules; Kafka answers `INVALID_TOPIC_EXCEPTION`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Topic name is invalid: {reason}")]
pub struct InvalidTopicName {
    /// Why, in Kafka's words (the error message is Kafka's, so tools that match on it
    /// keep working).
    pub reason: String,
}

impl InvalidTopicName {
    /// The Kafka error code for the response: `INVALID_TOPIC_EXCEPTION`.
    pub const fn error_code(&self) -> i16 {
        error_code::INVALID_TOPIC_EXCEPTION
    }
}

/// Checks `name` against Kafka's rules (`Topic.validate`).
pub fn validate(name: &str) -> Result<(), InvalidTopicName> {
    let reason = if name.is_empty() {
        "the empty string is not allowed".to_owned()
    } else if name == "." {
        "'.' is not allowed".to_owned()
    } else if name == ".." {
        "'..' is not allowed".to_owned()
    } else if name.len() > NAME_LENGTH_MAX && name.encode_utf16().count() > NAME_LENGTH_MAX {
        // Kafka counts UTF-16 code units (Java's String.length); the byte length is
        // a quick bound, since every code unit takes at least one byte.
        format!("the length of '{name}' is longer than the max allowed length {NAME_LENGTH_MAX}")
    } else if !name.bytes().all(is_legal_byte) {
        format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        )
    } else {
        return Ok(());
    };
    Err(InvalidTopicName { reason })
}

/// Whether `name` is one of the topics a Kafka cluster keeps for itself: Metadata
/// responses mark them `is_internal`, and clients exclude them from pattern
/// subscriptions.
pub fn is_internal(name: &str) -> bool {
    matches!(
        name,
        CONSUMER_OFFSETS | TRANSACTION_STATE | SHARE_GROUP_STATE
    )
}

/// Whether `name` contains a character that can make it collide with another name.
pub fn has_collision_chars(name: &str) -> bool {
    name.contains(['.', '_'])
}

/// `name` with every `.` replaced by `_`: two names collide when these are equal.
pub fn unify_collision_chars(name: &str) -> Cow<'_, str> {
    if name.contains('.') {
        Cow::Owned(name.replace('.', "_"))
    } else {
        Cow::Borrowed(name)
    }
}

/// Whether two names collide (equal ones included).
pub fn collides(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (matches!(x, b'.' | b'_') && matches!(y, b'.' | b'_')))
}

/// Why a new topic's name cannot be used, as Kafka's controller decides it in
/// CreateTopics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NewTopicNameError {
    /// The name breaks the rules of [`validate`].
    #[error(transparent)]
    Invalid(#[from] InvalidTopicName),

    /// A topic with exactly this name exists.
    #[error("Topic '{name}' already exists.")]
    AlreadyExists {
        /// The requested name.
        name: String,
    },

    /// A different existing topic's name collides with this one.
    #[error("Topic '{name}' collides with existing topic: {existing}")]
    Collides {
        /// The requested name.
        name: String,
        /// The existing topic it collides with.
        existing: String,
    },
}

impl NewTopicNameError {
    /// The Kafka error code for the CreateTopics response.
    pub const fn error_code(&self) -> i16 {
        match self {
            NewTopicNameError::Invalid(_) | NewTopicNameError::Collides { .. } => {
                error_code::INVALID_TOPIC_EXCEPTION
            }
            NewTopicNameError::AlreadyExists { .. } => error_code::TOPIC_ALREADY_EXISTS,
        }
    }
}

/// Checks a name for a topic about to be created against the names of the existing
/// topics, in the order Kafka's controller does: a name in use is
/// `TOPIC_ALREADY_EXISTS` (even if it also collides), then a collision with another
/// topic is `INVALID_TOPIC_EXCEPTION`, as is a name that breaks the rules.
///
/// When several existing topics collide, the least name is reported, so the message
/// does not depend on iteration order.
pub fn check_new_topic<'a>(
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Result<(), NewTopicNameError> {
    validate(name)?;
    let mut colliding: Option<&str> = None;
    for other in existing {
        if other == name {
            return Err(NewTopicNameError::AlreadyExists {
                name: name.to_owned(),
            });
        }
        if collides(name, other) && colliding.is_none_or(|c| other < c) {
            colliding = Some(other);
        }
    }
    match colliding {
        Some(existing) => Err(NewTopicNameError::Collides {
            name: name.to_owned(),
            existing: existing.to_owned(),
        }),
        None => Ok(()),
    }
}

fn is_legal_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        let long_ok = "a".repeat(NAME_LENGTH_MAX);
        let too_long = "a".repeat(NAME_LENGTH_MAX + 1);
        let cases: &[(&str, Option<&str>)] = &[
            ("orders", None),
            ("Orders.v2_final-3", None),
            ("...", None),
            ("-", None),
            ("_", None),
            ("__consumer_offsets", None),
            (&long_ok, None),
            (
                "",
                Some("Topic name is invalid: the empty string is not allowed"),
            ),
            (".", Some("Topic name is invalid: '.' is not allowed")),
            ("..", Some("Topic name is invalid: '..' is not allowed")),
            (&too_long, Some("is longer than the max allowed length 249")),
            (
                "has space",
                Some(
                    "Topic name is invalid: 'has space' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'",
                ),
            ),
            ("slash/name", Some("contains one or more characters")),
            ("colon:name", Some("contains one or more characters")),
            ("plus+", Some("contains one or more characters")),
            ("ümlaut", Some("contains one or more characters")),
            ("tab\t", Some("contains one or more characters")),
        ];
        for (name, expected) in cases {
            let result = validate(name);
            match expected {
                None => assert_eq!(result, Ok(()), "{name:?}"),
                Some(message) => {
                    let err = result.expect_err(name);
                    assert!(err.to_string().contains(message), "{name:?}: {err}");
                    assert_eq!(err.error_code(), 17);
                }
            }
        }
    }

    #[test]
    fn collision_table() {
        let cases = [
            ("a.b", "a_b", true),
            ("a_b", "a.b", true),
            ("a.b", "a.b", true),
            ("a.b_c", "a_b.c", true),
            ("a.b", "a-b", false),
            ("ab", "a_b", false),
            ("a.b", "a.bc", false),
            ("A.b", "a_b", false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(collides(a, b), expected, "{a} vs {b}");
            assert_eq!(
                unify_collision_chars(a) == unify_collision_chars(b),
                expected,
                "{a} vs {b}"
            );
        }
        assert!(has_collision_chars("a.b"));
        assert!(has_collision_chars("a_b"));
        assert!(!has_collision_chars("a-b"));
    }

    #[test]
    fn new_topic_checks_in_kafkas_order() {
        let existing = ["orders.eu", "orders_us", "payments"];
        assert_eq!(check_new_topic("refunds", existing), Ok(()));
        assert_eq!(
            check_new_topic("payments", existing),
            Err(NewTopicNameError::AlreadyExists {
                name: "payments".into()
            })
        );
        // Exists wins over colliding with itself.
        assert_eq!(
            check_new_topic("orders.eu", existing).map_err(|e| e.error_code()),
            Err(36)
        );
        let err = check_new_topic("orders_eu", existing).expect_err("collides");
        assert_eq!(
            err.to_string(),
            "Topic 'orders_eu' collides with existing topic: orders.eu"
        );
        assert_eq!(err.error_code(), 17);
        assert_eq!(
            check_new_topic("bad name", existing).map_err(|e| e.error_code()),
            Err(17)
        );
        // Several collide: the least is named.
        let err = check_new_topic("x.y", ["x_y", "x.y_"].into_iter().chain(["x_y"]));
        assert!(
            matches!(err, Err(NewTopicNameError::Collides { existing, .. }) if existing == "x_y")
        );
    }

    #[test]
    fn internal_topics() {
        assert!(is_internal("__consumer_offsets"));
        assert!(is_internal("__transaction_state"));
        assert!(is_internal("__share_group_state"));
        assert!(!is_internal("__my_topic"));
        assert!(!is_internal("consumer_offsets"));
    }
}
