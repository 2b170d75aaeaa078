//! Kafka record batches.
