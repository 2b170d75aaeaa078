//! Tests across all generated messages.
