//! `outpost-server`: the central sync server.

fn main() {}
