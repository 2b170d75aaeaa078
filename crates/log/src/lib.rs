//! Fjord partition log.
