//! The gRPC client of the sync protocol.
