//! Parsing and validating config values, with Kafka's error messages.

use std::collections::BTreeMap;

use super::effective::{BrokerDefaults, TopicConfig};
use super::{ConfigDef, ConfigType, Validator, config_def};
use crate::error_code;

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Boolean(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    String(String),
    List(Vec<String>),
}

/// A topic config override that cannot be accepted. Kafka answers `INVALID_CONFIG`
/// with the message ([`Display`](std::fmt::Display)), which is worded as Kafka words
/// it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No topic config has this name.
    #[error("Unknown topic config name: {name}")]
    Unknown {
        /// The name as given.
        name: String,
    },

    /// The value does not parse as the config's type, or is out of range.
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    InvalidValue {
        /// The config.
        name: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Two valid values contradict each other.
    #[error("conflict topic config setting {name} ({value}) > {other_name} ({other_value})")]
    Conflict {
        /// The config whose value is too large.
        name: String,
        /// Its effective value.
        value: String,
        /// The config it must not exceed.
        other_name: String,
        /// That config's effective value.
        other_value: String,
    },
}

impl ConfigError {
    /// The config the error is about.
    pub fn name(&self) -> &str {
        match self {
            ConfigError::Unknown { name }
            | ConfigError::InvalidValue { name, .. }
            | ConfigError::Conflict { name, .. } => name,
        }
    }

    /// The Kafka error code for the response: `INVALID_CONFIG`.
    pub const fn error_code(&self) -> i16 {
        error_code::INVALID_CONFIG
    }
}

/// Checks topic config overrides: every name must be a known topic config and every
/// value valid for it, and together with Kafka's default broker settings they must
/// not contradict each other. Reports every problem, in name order.
pub fn validate_topic_configs(configs: &BTreeMap<String, String>) -> Result<(), Vec<ConfigError>> {
    validate_topic_configs_with(configs, &BrokerDefaults::default())
}

/// [`validate_topic_configs`] against this broker's defaults, which matter for the
/// checks between configs (`min.compaction.lag.ms` must not exceed
/// `max.compaction.lag.ms`, whichever of them the topic overrides).
pub fn validate_topic_configs_with(
    configs: &BTreeMap<String, String>,
    defaults: &BrokerDefaults,
) -> Result<(), Vec<ConfigError>> {
    let (_, errors) = TopicConfig::resolve_reporting(configs, defaults);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Parses and validates one value for the named config.
pub(crate) fn parse(name: &str, text: &str) -> Result<(&'static ConfigDef, Value), ConfigError> {
    let def = config_def(name).ok_or_else(|| ConfigError::Unknown {
        name: name.to_owned(),
    })?;
    let invalid = |reason: String| ConfigError::InvalidValue {
        name: name.to_owned(),
        value: text.to_owned(),
        reason,
    };
    let value = parse_type(def.config_type, text).map_err(invalid)?;
    check(def.validator, name, &value).map_err(invalid)?;
    Ok((def, value))
}

/// Parses text as Kafka's `ConfigDef.parseType` does: surrounding whitespace is
/// ignored, booleans in any case, lists split on commas with the space around them.
fn parse_type(config_type: ConfigType, text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    match config_type {
        ConfigType::Boolean => {
            if trimmed.eq_ignore_ascii_case("true") {
                Ok(Value::Boolean(true))
            } else if trimmed.eq_ignore_ascii_case("false") {
                Ok(Value::Boolean(false))
            } else {
                Err("Expected value to be either true or false".to_owned())
            }
        }
        ConfigType::Int => trimmed
            .parse()
            .map(Value::Int)
            .map_err(|_| "Not a number of type INT".to_owned()),
        ConfigType::Short => trimmed
            .parse::<i16>()
            .map(|v| Value::Int(i32::from(v)))
            .map_err(|_| "Not a number of type SHORT".to_owned()),
        ConfigType::Long => trimmed
            .parse()
            .map(Value::Long)
            .map_err(|_| "Not a number of type LONG".to_owned()),
        ConfigType::Double => match trimmed.parse::<f64>() {
            // Java parses "NaN" too, and NaN slips through its range checks; no
            // config means anything by it, so it is refused here.
            Ok(v) if v.is_nan() => Err("Not a number of type DOUBLE".to_owned()),
            Ok(v) => Ok(Value::Double(v)),
            Err(_) => Err("Not a number of type DOUBLE".to_owned()),
        },
        ConfigType::String | ConfigType::Class | ConfigType::Password => {
            Ok(Value::String(trimmed.to_owned()))
        }
        ConfigType::List => Ok(Value::List(if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed
                .split(',')
                .map(|item| item.trim().to_owned())
                .collect()
        })),
    }
}

/// Checks a parsed value against a validator, with the messages of Kafka's
/// validators.
fn check(validator: Validator, name: &str, value: &Value) -> Result<(), String> {
    let integer = match value {
        Value::Int(v) => Some(i64::from(*v)),
        Value::Long(v) => Some(*v),
        _ => None,
    };
    match (validator, integer, value) {
        (Validator::Any, _, _) => Ok(()),
        (Validator::AtLeast(min), Some(v), _) => {
            if v < min {
                Err(format!("Value must be at least {min}"))
            } else {
                Ok(())
            }
        }
        (Validator::Between(min, max), Some(v), _) => {
            if v < min {
                Err(format!("Value must be at least {min}"))
            } else if v > max {
                Err(format!("Value must be no more than {max}"))
            } else {
                Ok(())
            }
        }
        (Validator::BetweenOr { min, max, or }, Some(v), _) => {
            if v == or || (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(format!("Value must be between {min} and {max}, or {or}"))
            }
        }
        (Validator::DoubleBetween(min, max), _, Value::Double(v)) => {
            if *v < min {
                Err(format!("Value must be at least {}", render_double(min)))
            } else if *v > max {
                Err(format!("Value must be no more than {}", render_double(max)))
            } else {
                Ok(())
            }
        }
        (Validator::OneOf(allowed), _, Value::String(s)) => {
            if allowed.contains(&s.as_str()) {
                Ok(())
            } else {
                Err(format!("String must be one of: {}", allowed.join(", ")))
            }
        }
        (Validator::ListOf(allowed), _, Value::List(items)) => {
            match items.iter().find(|item| !allowed.contains(&item.as_str())) {
                None => Ok(()),
                Some(_) => Err(format!("String must be one of: {}", allowed.join(", "))),
            }
        }
        (Validator::ThrottledReplicas, _, Value::List(items)) => {
            let is_pair = |item: &String| {
                item.split_once(':').is_some_and(|(partition, broker)| {
                    partition.trim().parse::<i32>().is_ok() && broker.trim().parse::<i32>().is_ok()
                })
            };
            if items.len() == 1 && items[0] == "*" || items.iter().all(is_pair) {
                Ok(())
            } else {
                Err(format!(
                    "{name} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                ))
            }
        }
        // A validator that does not fit its config's type is a bug in the table,
        // caught by the table's tests.
        (validator, _, value) => Err(format!(
            "internal error: validator {validator:?} does not apply to {value:?}"
        )),
    }
}

/// A double as Java prints it: always with a fractional part.
pub(crate) fn render_double(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_config::TOPIC_CONFIGS;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn messages(pairs: &[(&str, &str)]) -> Vec<String> {
        match validate_topic_configs(&configs(pairs)) {
            Ok(()) => Vec::new(),
            Err(errors) => {
                assert!(errors.iter().all(|e| e.error_code() == 40));
                errors.iter().map(ToString::to_string).collect()
            }
        }
    }

    #[test]
    fn every_default_is_valid() {
        for def in TOPIC_CONFIGS {
            assert!(parse(def.name, def.default).is_ok(), "{}", def.name);
        }
    }

    #[test]
    fn valid_values() {
        let cases: &[(&str, &str)] = &[
            ("cleanup.policy", "delete"),
            ("cleanup.policy", "compact"),
            ("cleanup.policy", "compact,delete"),
            ("cleanup.policy", "delete, compact"),
            ("cleanup.policy", ""),
            ("compression.type", "zstd"),
            ("compression.type", "uncompressed"),
            ("compression.gzip.level", "-1"),
            ("compression.gzip.level", "9"),
            ("compression.zstd.level", "-131072"),
            ("retention.ms", "-1"),
            ("retention.ms", " 1000 "),
            ("retention.bytes", "-5"),
            ("segment.bytes", "1024"),
            ("segment.bytes", "2147483647"),
            ("max.message.bytes", "0"),
            ("message.timestamp.type", "LogAppendTime"),
            ("min.cleanable.dirty.ratio", "0"),
            ("min.cleanable.dirty.ratio", "1.0"),
            ("min.cleanable.dirty.ratio", "1e-2"),
            ("preallocate", "TRUE"),
            ("unclean.leader.election.enable", "False"),
            ("leader.replication.throttled.replicas", "*"),
            ("leader.replication.throttled.replicas", "0:1,1:2"),
            ("follower.replication.throttled.replicas", ""),
            ("flush.messages", "9223372036854775807"),
        ];
        for (name, value) in cases {
            assert_eq!(
                messages(&[(name, value)]),
                Vec::<String>::new(),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn invalid_values_have_kafkas_messages() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "retention.ms",
                "-2",
                "Invalid value -2 for configuration retention.ms: Value must be at least -1",
            ),
            (
                "retention.ms",
                "abc",
                "Invalid value abc for configuration retention.ms: Not a number of type LONG",
            ),
            ("retention.ms", "1.5", "Not a number of type LONG"),
            ("retention.ms", "", "Not a number of type LONG"),
            ("segment.bytes", "1023", "Value must be at least 1024"),
            ("segment.bytes", "2147483648", "Not a number of type INT"),
            ("max.message.bytes", "-1", "Value must be at least 0"),
            ("min.insync.replicas", "0", "Value must be at least 1"),
            (
                "compression.type",
                "lzma",
                "Invalid value lzma for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer",
            ),
            ("compression.type", "ZSTD", "String must be one of"),
            (
                "compression.gzip.level",
                "0",
                "Value must be between 1 and 9, or -1",
            ),
            (
                "compression.lz4.level",
                "18",
                "Value must be no more than 17",
            ),
            (
                "cleanup.policy",
                "delete,archive",
                "Invalid value delete,archive for configuration cleanup.policy: String must be one of: compact, delete",
            ),
            (
                "message.timestamp.type",
                "createtime",
                "String must be one of: CreateTime, LogAppendTime",
            ),
            (
                "min.cleanable.dirty.ratio",
                "1.5",
                "Value must be no more than 1.0",
            ),
            (
                "min.cleanable.dirty.ratio",
                "-0.1",
                "Value must be at least 0.0",
            ),
            (
                "min.cleanable.dirty.ratio",
                "NaN",
                "Not a number of type DOUBLE",
            ),
            (
                "preallocate",
                "yes",
                "Expected value to be either true or false",
            ),
            (
                "leader.replication.throttled.replicas",
                "0:1,x",
                "must be the literal '*' or a list of replicas",
            ),
            (
                "leader.replication.throttled.replicas",
                "*,0:1",
                "must be the literal '*'",
            ),
        ];
        for (name, value, expected) in cases {
            let got = messages(&[(name, value)]);
            assert_eq!(got.len(), 1, "{name}={value}: {got:?}");
            assert!(got[0].contains(expected), "{name}={value}: {got:?}");
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        assert_eq!(
            messages(&[("retention.msx", "1")]),
            ["Unknown topic config name: retention.msx"]
        );
        for removed in [
            "message.format.version",
            "message.downconversion.enable",
            "remote.storage.enable",
        ] {
            assert_eq!(messages(&[(removed, "true")]).len(), 1, "{removed}");
        }
    }

    #[test]
    fn every_problem_is_reported() -> Result<(), String> {
        let errors = validate_topic_configs(&configs(&[
            ("bogus", "1"),
            ("retention.ms", "-7"),
            ("segment.ms", "0"),
            ("retention.bytes", "100"),
        ]))
        .err()
        .ok_or("expected errors")?;
        let names: Vec<&str> = errors.iter().map(ConfigError::name).collect();
        assert_eq!(names, ["bogus", "retention.ms", "segment.ms"]);
        Ok(())
    }

    #[test]
    fn compaction_lags_must_not_cross() {
        assert_eq!(
            messages(&[
                ("min.compaction.lag.ms", "10"),
                ("max.compaction.lag.ms", "5")
            ]),
            [
                "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"
            ]
        );
        assert_eq!(
            messages(&[
                ("min.compaction.lag.ms", "5"),
                ("max.compaction.lag.ms", "5")
            ])
            .len(),
            0
        );
        // Against the broker's default for the one not given.
        let defaults = BrokerDefaults {
            max_compaction_lag_ms: 100,
            ..BrokerDefaults::default()
        };
        let result =
            validate_topic_configs_with(&configs(&[("min.compaction.lag.ms", "101")]), &defaults);
        assert!(matches!(result, Err(errors) if errors.len() == 1));
    }
}
