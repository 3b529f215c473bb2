//! End-to-end tests of streamable over real loopback sockets.
