//! ARCHITECTURE.md's invariants, checked on the source: what each layer must not know.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn sources(under: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(under);
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            found.push((path, text));
        }
    }
    assert!(!found.is_empty(), "no sources under src/{under}");
    found
}

/// Lines of code (not comments) in `under` that mention any of `words`.
fn mentions(under: &str, words: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for (path, text) in sources(under) {
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if words.iter().any(|w| code.contains(w)) {
                hits.push(format!("{}:{}: {}", path.display(), number + 1, code));
            }
        }
    }
    hits
}

#[test]
fn the_model_does_no_io_and_knows_no_database_window_or_network() {
    let hits = mentions(
        "model",
        &[
            "rusqlite",
            "egui",
            "tonic",
            "tokio",
            "std::fs",
            "std::net",
            "crate::store",
        ],
    );
    assert!(hits.is_empty(), "{hits:#?}");
}

#[test]
fn the_app_service_knows_no_window_sql_or_network() {
    let hits = mentions("app", &["egui", "rusqlite", "tonic", "tokio", "crate::ui"]);
    assert!(hits.is_empty(), "{hits:#?}");
}

#[test]
fn the_window_writes_no_sql_and_sees_no_protobuf() {
    let hits = mentions(
        "ui",
        &["rusqlite", "wire::pb", "pb::", "crate::keys::KeySlot"],
    );
    assert!(hits.is_empty(), "{hits:#?}");
}

#[test]
fn only_the_wire_module_and_the_grpc_glue_see_protobuf_types() {
    let glue = [
        "sync/wire.rs",
        "sync/client.rs",
        "server/service.rs",
        "server/records.rs",
        "server/mod.rs",
    ];
    let hits: Vec<String> = ["store", "sync", "server", "imaging", "app"]
        .iter()
        .flat_map(|under| mentions(under, &["pb::"]))
        .filter(|hit| !glue.iter().any(|g| hit.contains(g)))
        .collect();
    assert!(hits.is_empty(), "{hits:#?}");
}

#[test]
fn the_store_knows_no_window_and_no_network() {
    let hits = mentions("store", &["egui", "tonic", "crate::ui", "crate::app"]);
    assert!(hits.is_empty(), "{hits:#?}");
}

#[test]
fn the_write_path_depends_on_no_other_store_module() {
    let hits: Vec<String> = mentions(
        "store",
        &[
            "super::patients",
            "super::encounters",
            "super::sync",
            "super::batch",
            "super::imaging",
            "super::users",
        ],
    )
    .into_iter()
    .filter(|hit| hit.contains("store/write.rs"))
    .collect();
    assert!(hits.is_empty(), "{hits:#?}");
}

#[test]
fn the_merge_is_written_once_in_the_model() {
    let store_merges = mentions("store", &["fn merge_entity", "fn merge_field"]);
    assert!(store_merges.is_empty(), "{store_merges:#?}");
    let model_merges = mentions("model", &["fn merge_entity"]);
    assert_eq!(model_merges.len(), 1, "{model_merges:#?}");
}
