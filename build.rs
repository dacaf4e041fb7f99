//! Compiles the sync protocol (`src/sync/proto/sync.proto`) and the records API
//! (`src/server/proto/records.proto`) into Rust with tonic and prost, and writes their file
//! descriptor sets for the server's reflection service.
//!
//! The protobuf compiler comes from the `protoc-bin-vendored` crate and is handed to prost through
//! its configuration, so a build needs no system `protoc` and no change to the environment.

use std::error::Error;
use std::path::PathBuf;

const PROTO_DIR: &str = "src/sync/proto";
const PROTO_FILE: &str = "src/sync/proto/sync.proto";
const RECORDS_DIR: &str = "src/server/proto";
const RECORDS_FILE: &str = "src/server/proto/records.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protoc = protoc_bin_vendored::protoc_bin_path()?;

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(&protoc);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("outpost_sync_v1_descriptor.bin"))
        .compile_with_config(config, &[PROTO_FILE], &[PROTO_DIR])?;

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(&protoc);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("outpost_records_v1_descriptor.bin"))
        .compile_with_config(config, &[RECORDS_FILE], &[RECORDS_DIR])?;

    println!("cargo:rerun-if-changed={PROTO_FILE}");
    println!("cargo:rerun-if-changed={RECORDS_FILE}");
    println!("cargo:rerun-if-changed=build.rs");
    Ok(())
}
