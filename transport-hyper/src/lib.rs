//! The hyper 1 adapter for streamable-core (work in progress).
