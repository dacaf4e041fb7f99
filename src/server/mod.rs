//! The central server.
