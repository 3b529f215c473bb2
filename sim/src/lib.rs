//! Deterministic simulation of streamable (work in progress).
