//! Fjord metadata.
