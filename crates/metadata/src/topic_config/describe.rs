//! DescribeConfigs for topics.

use std::collections::BTreeMap;

use super::effective::BrokerDefaults;
use super::{ConfigDef, ConfigSource, ConfigType, TOPIC_CONFIGS, config_def};

/// One config of a topic as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The config's name.
    pub name: &'static str,
    /// Its value in force; `None` only for sensitive configs.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether nobody set it (DescribeConfigs v0's `is_default`).
    pub is_default: bool,
    /// Whether it cannot be altered.
    pub read_only: bool,
    /// Whether the value is secret.
    pub sensitive: bool,
    /// Its type (DescribeConfigs v3+).
    pub config_type: ConfigType,
    /// What it does (DescribeConfigs v3+).
    pub doc: &'static str,
    /// Every place a value for it is set, highest priority first: the topic's
    /// override, the broker's setting, Kafka's default (DescribeConfigs v1+, when the
    /// request includes synonyms).
    pub synonyms: Vec<ConfigSynonym>,
}

/// One level at which a config is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The config's name at that level (`retention.ms` on the topic,
    /// `log.retention.ms` on the broker).
    pub name: &'static str,
    /// The value set there.
    pub value: Option<String>,
    /// The level.
    pub source: ConfigSource,
}

/// Every topic config of a topic with these overrides, in name order, as
/// DescribeConfigs with no config names reports them.
///
/// A broker default that differs from Kafka's is reported as
/// [`ConfigSource::StaticBrokerConfig`] under the broker synonym's name: Fjord's broker
/// settings come from its configuration file. Overrides for names Fjord does not know
/// are not reported.
pub fn describe_topic_configs(
    overrides: &BTreeMap<String, String>,
    defaults: &BrokerDefaults,
) -> Vec<ConfigEntry> {
    TOPIC_CONFIGS
        .iter()
        .map(|def| describe_def(def, overrides, defaults))
        .collect()
}

/// One topic config by name, or `None` for a name that is not a topic config (Kafka
/// leaves those out of the response).
pub fn describe_topic_config(
    name: &str,
    overrides: &BTreeMap<String, String>,
    defaults: &BrokerDefaults,
) -> Option<ConfigEntry> {
    config_def(name).map(|def| describe_def(def, overrides, defaults))
}

fn describe_def(
    def: &'static ConfigDef,
    overrides: &BTreeMap<String, String>,
    defaults: &BrokerDefaults,
) -> ConfigEntry {
    let hide = |value: String| (!def.sensitive).then_some(value);
    let mut synonyms = Vec::new();
    let topic_value = overrides.get(def.name);
    if let Some(value) = topic_value {
        synonyms.push(ConfigSynonym {
            name: def.name,
            value: hide(value.clone()),
            source: ConfigSource::DynamicTopicConfig,
        });
    }
    // The broker level is named by its first synonym; with none, the topic config's
    // own name stands for Kafka's default.
    let broker_name = def.broker_synonyms.first().copied().unwrap_or(def.name);
    let broker_value = defaults
        .value_text(def.name)
        .filter(|value| value != def.default);
    if let Some(value) = &broker_value {
        synonyms.push(ConfigSynonym {
            name: broker_name,
            value: hide(value.clone()),
            source: ConfigSource::StaticBrokerConfig,
        });
    }
    synonyms.push(ConfigSynonym {
        name: broker_name,
        value: hide(def.default.to_owned()),
        source: ConfigSource::DefaultConfig,
    });

    let (value, source) = match (topic_value, broker_value) {
        (Some(value), _) => (value.clone(), ConfigSource::DynamicTopicConfig),
        (None, Some(value)) => (value, ConfigSource::StaticBrokerConfig),
        (None, None) => (def.default.to_owned(), ConfigSource::DefaultConfig),
    };
    ConfigEntry {
        name: def.name,
        value: hide(value),
        source,
        is_default: source == ConfigSource::DefaultConfig,
        read_only: def.read_only,
        sensitive: def.sensitive,
        config_type: def.config_type,
        doc: def.doc,
        synonyms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_follow_where_the_value_is_set() -> Result<(), &'static str> {
        let overrides = BTreeMap::from([
            ("retention.ms".to_owned(), "1000".to_owned()),
            ("not.a.config".to_owned(), "x".to_owned()),
        ]);
        let defaults = BrokerDefaults {
            segment_bytes: 4096,
            retention_ms: Some(2000),
            ..BrokerDefaults::default()
        };

        let entries = describe_topic_configs(&overrides, &defaults);
        assert_eq!(entries.len(), TOPIC_CONFIGS.len());
        let find = |name: &str| {
            entries
                .iter()
                .find(|e| e.name == name)
                .ok_or("missing entry")
        };

        let retention = find("retention.ms")?;
        assert_eq!(retention.value.as_deref(), Some("1000"));
        assert_eq!(retention.source, ConfigSource::DynamicTopicConfig);
        assert_eq!(retention.source.id(), 1);
        assert!(!retention.is_default);
        assert_eq!(retention.config_type.id(), 5);
        let synonym_view: Vec<(&str, Option<&str>, i8)> = retention
            .synonyms
            .iter()
            .map(|s| (s.name, s.value.as_deref(), s.source.id()))
            .collect();
        assert_eq!(
            synonym_view,
            [
                ("retention.ms", Some("1000"), 1),
                ("log.retention.ms", Some("2000"), 4),
                ("log.retention.ms", Some("604800000"), 5),
            ]
        );

        let segment = find("segment.bytes")?;
        assert_eq!(segment.value.as_deref(), Some("4096"));
        assert_eq!(segment.source, ConfigSource::StaticBrokerConfig);
        assert_eq!(segment.source.id(), 4);
        assert_eq!(segment.synonyms[0].name, "log.segment.bytes");

        let max_message = find("max.message.bytes")?;
        assert_eq!(max_message.value.as_deref(), Some("1048588"));
        assert_eq!(max_message.source, ConfigSource::DefaultConfig);
        assert_eq!(max_message.source.id(), 5);
        assert!(max_message.is_default);
        assert!(!max_message.read_only && !max_message.sensitive);
        assert_eq!(max_message.synonyms.len(), 1);
        assert_eq!(max_message.synonyms[0].name, "message.max.bytes");

        let throttled = find("leader.replication.throttled.replicas")?;
        assert_eq!(throttled.value.as_deref(), Some(""));
        assert_eq!(throttled.source, ConfigSource::DefaultConfig);
        Ok(())
    }

    #[test]
    fn single_config_lookup() {
        let overrides = BTreeMap::new();
        let defaults = BrokerDefaults::default();
        let entry = describe_topic_config("cleanup.policy", &overrides, &defaults);
        assert_eq!(
            entry.map(|e| (e.value, e.config_type)),
            Some((Some("delete".to_owned()), ConfigType::List))
        );
        assert!(describe_topic_config("log.retention.ms", &overrides, &defaults).is_none());
    }
}
