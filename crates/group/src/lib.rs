//! Fjord's group coordinator.
