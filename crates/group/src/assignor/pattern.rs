//! Regular-expression subscriptions (KIP-848's `SubscribedTopicRegex`).

use std::collections::BTreeSet;

use regex::{Regex, RegexBuilder};

use crate::ErrorCode;

/// A compiled subscription pattern. A topic matches when the whole name matches, as with
/// Kafka's RE2/J `Pattern.matcher(name).matches()`; the `regex` crate's syntax is RE2's,
/// so patterns mean the same (both refuse look-around and back-references).
#[derive(Debug, Clone)]
pub struct SubscriptionPattern {
    /// The pattern as the member sent it.
    source: String,
    /// `source` anchored at both ends.
    anchored: Regex,
}

/// Why a subscription pattern was refused; each is INVALID_REGULAR_EXPRESSION on the
/// wire (see [`PatternError::error_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is longer than [`SubscriptionPattern::SOURCE_BYTES_MAX`].
    #[error("regular expression of {len_bytes} bytes is over the {len_bytes_max}-byte limit")]
    TooLong {
        /// The pattern's length.
        len_bytes: usize,
        /// The limit.
        len_bytes_max: usize,
    },
    /// The pattern does not parse.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Syntax {
        /// The pattern as sent.
        pattern: String,
        /// The parser's explanation.
        reason: String,
    },
    /// The compiled pattern would be larger than
    /// [`SubscriptionPattern::COMPILED_BYTES_MAX`].
    #[error("regular expression {pattern:?} compiles to over {compiled_bytes_max} bytes")]
    TooLarge {
        /// The pattern as sent.
        pattern: String,
        /// The limit.
        compiled_bytes_max: usize,
    },
}

impl PatternError {
    /// The error code to answer with.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::INVALID_REGULAR_EXPRESSION
    }
}

impl SubscriptionPattern {
    /// The longest pattern accepted. Members send patterns in every heartbeat that
    /// changes the subscription; far longer than any sensible one.
    pub const SOURCE_BYTES_MAX: usize = 4096;
    /// The largest compiled program accepted (`RegexBuilder::size_limit`), so that one
    /// member cannot make the coordinator build a huge automaton (`a{1000}{1000}`).
    pub const COMPILED_BYTES_MAX: usize = 1 << 20;
    /// The lazy DFA's cache per pattern (`RegexBuilder::dfa_size_limit`).
    pub const DFA_CACHE_BYTES_MAX: usize = 1 << 20;

    /// Compiles `pattern`.
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        if pattern.len() > Self::SOURCE_BYTES_MAX {
            return Err(PatternError::TooLong {
                len_bytes: pattern.len(),
                len_bytes_max: Self::SOURCE_BYTES_MAX,
            });
        }
        // Compile the pattern alone first: wrapping an invalid pattern such as `a)|(b`
        // in `^(?:...)$` would make it valid with another meaning.
        compile(pattern, pattern)?;
        let anchored = compile(pattern, &format!("^(?:{pattern})$"))?;
        Ok(SubscriptionPattern {
            source: pattern.to_owned(),
            anchored,
        })
    }

    /// The pattern as the member sent it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole topic name matches.
    pub fn matches(&self, topic_name: &str) -> bool {
        self.anchored.is_match(topic_name)
    }

    /// The names among `topic_names` that match, sorted. Which topics are candidates
    /// (for instance whether internal topics are) is the caller's choice.
    pub fn matching_topics<'t>(
        &self,
        topic_names: impl IntoIterator<Item = &'t str>,
    ) -> BTreeSet<String> {
        topic_names
            .into_iter()
            .filter(|name| self.matches(name))
            .map(str::to_owned)
            .collect()
    }
}

impl PartialEq for SubscriptionPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for SubscriptionPattern {}

fn compile(pattern: &str, source: &str) -> Result<Regex, PatternError> {
    RegexBuilder::new(source)
        .size_limit(SubscriptionPattern::COMPILED_BYTES_MAX)
        .dfa_size_limit(SubscriptionPattern::DFA_CACHE_BYTES_MAX)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(_) => PatternError::TooLarge {
                pattern: pattern.to_owned(),
                compiled_bytes_max: SubscriptionPattern::COMPILED_BYTES_MAX,
            },
            other => PatternError::Syntax {
                pattern: pattern.to_owned(),
                reason: other.to_string(),
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn matches_whole_names_only() {
        let pattern = SubscriptionPattern::new("orders-.*").expect("valid pattern");
        let topics = ["orders-eu", "orders-us", "old-orders-eu", "orders"];
        assert_eq!(
            pattern.matching_topics(topics),
            names(&["orders-eu", "orders-us"])
        );
        assert_eq!(pattern.as_str(), "orders-.*");
    }

    #[test]
    fn alternation_is_anchored_as_a_whole() {
        // `a|ab` must match "ab" as a whole name, and not "abc" by its prefix.
        let pattern = SubscriptionPattern::new("a|ab").expect("valid pattern");
        assert!(pattern.matches("ab"));
        assert!(pattern.matches("a"));
        assert!(!pattern.matches("abc"));
        assert!(!pattern.matches("xa"));
    }

    #[test]
    fn unbalanced_group_is_refused_even_if_wrapping_would_balance_it() {
        let error = SubscriptionPattern::new("a)|(b").expect_err("refused");
        assert!(matches!(error, PatternError::Syntax { .. }), "{error:?}");
        assert_eq!(error.error_code(), ErrorCode(127));
    }

    #[test]
    fn re2_refuses_look_around_and_back_references() {
        for pattern in ["(?=a)a", "(a)\\1", "[", "*"] {
            let error = SubscriptionPattern::new(pattern).expect_err("refused");
            assert!(
                matches!(error, PatternError::Syntax { .. }),
                "{pattern}: {error:?}"
            );
        }
    }

    #[test]
    fn huge_compiled_pattern_is_refused() {
        let error = SubscriptionPattern::new("a{1000}{1000}").expect_err("refused");
        assert!(matches!(error, PatternError::TooLarge { .. }), "{error:?}");
        assert_eq!(error.error_code(), ErrorCode::INVALID_REGULAR_EXPRESSION);
    }

    #[test]
    fn long_pattern_is_refused_before_compiling() {
        let long = "a".repeat(SubscriptionPattern::SOURCE_BYTES_MAX + 1);
        let error = SubscriptionPattern::new(&long).expect_err("refused");
        assert_eq!(
            error,
            PatternError::TooLong {
                len_bytes: SubscriptionPattern::SOURCE_BYTES_MAX + 1,
                len_bytes_max: SubscriptionPattern::SOURCE_BYTES_MAX,
            }
        );
    }
}
