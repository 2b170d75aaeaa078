//! Kafka wire protocol codec.
