//! Sync between clinic workstations and the central server (DESIGN.md, Sync): the protocol's wire
//! types and their conversions, the gRPC client, the merge rules shared by client and server, and
//! the client engine that pushes the outbox and pulls everyone else's changes.

pub mod client;
pub mod code;
pub mod engine;
pub mod pin;
pub mod wire;
