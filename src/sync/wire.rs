//! Wire types of the sync protocol.
#![allow(missing_docs)]
pub mod pb {
    tonic::include_proto!("outpost.sync.v1");
}
