//! Sync speed on loopback, printed as a table: the initial pull of a large clinic history into an
//! empty workstation, an incremental round, blob upload and download, the server taking pushes
//! from 20 workstations at once, and a district of 20 clinics where one clinic's new workstation
//! pulls only its own patients. `OUTPOST_BENCH_SYNC_PATIENTS` sets the history's size (default
//! 100,000 patients with `OUTPOST_BENCH_SYNC_VISITS` visits each, default 5); `OUTPOST_BENCH_DISTRICT_PATIENTS` the patients of each of
//! the district's clinics (default 50,000).
//!
//! With `OUTPOST_BENCH_PG` naming a PostgreSQL server (a key=value connection string for a role
//! that may create databases, e.g. `host=/run/postgresql user=outpost`), the table gains a
//! PostgreSQL column: the same history moved there by `migrate`, two `outpost-server` processes
//! on that one database, a new workstation's first pull through one of them, and 20 workstations
//! pushing through both at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/stores.rs"]
mod stores;

use chrono::Utc;
use outpost::demo::{self, DemoOptions};
use outpost::model::{ChangeId, ChangeRecord, EntityKind, HlcStamp, NodeId, PatientId};
use outpost::server::{ServerStore, SqliteServerStore, add_clinic};
use outpost::store::Store;
use outpost::sync::client::{BlobHash, ClientConfig, SyncClient};
use outpost::sync::engine;
use std::time::Instant;

struct Row {
    name: String,
    value: String,
    /// The same measure on PostgreSQL, when it was taken.
    postgres: String,
    target: &'static str,
}

async fn workstation(
    server: &SqliteServerStore,
    url: &str,
    dir: &std::path::Path,
    name: &str,
) -> Store {
    let clinic = add_clinic(
        server,
        name,
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let mut store = Store::open_dir(&dir.join(name)).unwrap();
    engine::enroll(&mut store, url, &clinic.enrollment_code, name, None, false)
        .await
        .unwrap();
    store
}

/// Another workstation of `of`'s clinic.
async fn colleague(
    server: &SqliteServerStore,
    url: &str,
    dir: &std::path::Path,
    of: &Store,
    name: &str,
) -> Store {
    let code = outpost::server::new_enrollment_code(
        server,
        of.clinic_id(),
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let mut store = Store::open_dir(&dir.join(name)).unwrap();
    engine::enroll(&mut store, url, &code, name, None, false)
        .await
        .unwrap();
    store
}

/// Bytes of a workstation's database files.
fn store_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("sqlite"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

async fn client_of(store: &Store) -> SyncClient {
    SyncClient::connect(engine::client_config(store).unwrap())
        .await
        .unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let patients: usize = std::env::var("OUTPOST_BENCH_SYNC_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let visits: usize = std::env::var("OUTPOST_BENCH_SYNC_VISITS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let (server, url) = stores::serve_sqlite_here(&dir.path().join("server")).await;
    let mut rows = Vec::new();

    // A clinic's history, pushed once.
    let mut hill = workstation(&server, &url, dir.path(), "Hill").await;
    let t = Instant::now();
    let summary = demo::generate(
        &mut hill,
        &DemoOptions {
            patients,
            visits: visits..=visits,
            seed: 3,
        },
        |_, _| {},
    )
    .unwrap();
    eprintln!(
        "generated {summary:?} in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let records = hill.status().unwrap().pending_changes as f64;
    let t = Instant::now();
    let client = client_of(&hill).await;
    engine::sync_once(&mut hill, &client, |_| {}).await.unwrap();
    let push_secs = t.elapsed().as_secs_f64();
    rows.push(Row {
        name: format!(
            "first round: push {records:.0} changes, take them back ({patients} patients, {} visits)",
            summary.visits
        ),
        value: format!("{:.0} changes/s", records / push_secs),
        postgres: String::new(),
        target: "",
    });

    // The first round compacted a little of what it sent; the rest goes now, as the next rounds
    // would do it, so that the incremental round below is measured as a settled clinic's.
    let t = Instant::now();
    let compacted = hill.compact_all(20_000, |_, _| {}).unwrap();
    rows.push(Row {
        name: format!(
            "… then compacting the rest of what it sent ({} changes folded into {} records)",
            compacted.changes_removed, compacted.records
        ),
        value: format!("{:.1} s", t.elapsed().as_secs_f64()),
        postgres: String::new(),
        target: "",
    });

    // An empty workstation of the clinic pulls all of it: first the stream alone, then applied.
    let mut river = colleague(&server, &url, dir.path(), &hill, "Hill back room").await;
    let client = client_of(&river).await;
    let t = Instant::now();
    let mut stream = client.pull(0, 500).await.unwrap();
    let mut streamed = 0usize;
    while let Some(item) = stream.next().await.unwrap() {
        if let outpost::sync::client::PullItem::Page(page) = item {
            streamed += page.len();
        }
    }
    let stream_secs = t.elapsed().as_secs_f64();
    rows.push(Row {
        name: format!("pull stream alone, nothing applied ({streamed} records)"),
        value: format!("{:.0} records/s", streamed as f64 / stream_secs),
        postgres: String::new(),
        target: "",
    });
    let t = Instant::now();
    let report = engine::sync_once(&mut river, &client, |_| {})
        .await
        .unwrap();
    let pull_secs = t.elapsed().as_secs_f64();
    assert_eq!(river.status().unwrap().patients as usize, patients);
    let initial_pull_row = rows.len();
    rows.push(Row {
        name: format!(
            "initial pull into an empty workstation ({} records)",
            report.pulled.applied
        ),
        value: format!(
            "{:.0} records/s ({pull_secs:.1} s)",
            report.pulled.applied as f64 / pull_secs
        ),
        postgres: String::new(),
        target: "≥ 20,000 records/s; PG ≥ ⅔ of SQLite",
    });

    // An incremental round: 100 edits at one clinic, then its round and the other's.
    let order = hill
        .patient_order(outpost::store::PatientSort::Number, false)
        .unwrap();
    let ids: Vec<PatientId> = hill
        .patient_rows(&order[..100.min(order.len())])
        .unwrap()
        .into_iter()
        .map(|r| r.patient_id)
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let mut p = hill.patient(*id).unwrap();
        p.notes = format!("Reviewed {i}");
        hill.update_patient(&p).unwrap();
    }
    let hill_client = client_of(&hill).await;
    let river_client = client_of(&river).await;
    let t = Instant::now();
    engine::sync_once(&mut hill, &hill_client, |_| {})
        .await
        .unwrap();
    let up = t.elapsed();
    let t = Instant::now();
    let report = engine::sync_once(&mut river, &river_client, |_| {})
        .await
        .unwrap();
    let down = t.elapsed();
    assert_eq!(report.pulled.applied, ids.len());
    rows.push(Row {
        name: "incremental round, 100 changes: push at one workstation / pull at another".into(),
        value: format!(
            "{:.1} ms / {:.1} ms",
            up.as_secs_f64() * 1e3,
            down.as_secs_f64() * 1e3
        ),
        postgres: String::new(),
        target: "≤ 100 ms",
    });

    // Blobs: 64 MiB up and down, from and into blob folders sealed as a workstation's are.
    let key = outpost::keys::DataKey::generate().unwrap().blob_key();
    let sealed =
        |name: &str| outpost::store::BlobFiles::new(dir.path().join(name), Some(key.clone()));
    let (hill_blobs, river_blobs) = (sealed("hill-blobs"), sealed("river-blobs"));
    let mut rng = fastrand::Rng::with_seed(5);
    let bytes: Vec<u8> = (0..64 * 1024 * 1024).map(|_| rng.u8(..)).collect();
    let hash = BlobHash::of_bytes(&bytes);
    hill_blobs.write(&hash, &bytes).unwrap();
    // The server takes a blob that a record of the clinic refers to.
    hill.add_attachment(&outpost::model::Attachment::file(
        ids[0],
        hash.clone(),
        bytes.len() as i64,
        "application/octet-stream",
        "scan.bin",
        Utc::now(),
    ))
    .unwrap();
    let pending = hill.pending_changes(10).unwrap();
    hill_client.push(&pending).await.unwrap();
    let t = Instant::now();
    hill_client
        .upload_blob(&hash, hill_blobs.open(&hash).unwrap().unwrap(), |_, _| {})
        .await
        .unwrap();
    let up = t.elapsed().as_secs_f64();
    let t = Instant::now();
    river_client
        .download_blob(&hash, &river_blobs, |_, _| {})
        .await
        .unwrap();
    let down = t.elapsed().as_secs_f64();
    assert_eq!(river_blobs.read(&hash).unwrap().unwrap(), bytes);
    let mb = bytes.len() as f64 / 1e6;
    rows.push(Row {
        name: "blob of 64 MiB: upload / download".into(),
        value: format!("{:.0} MB/s / {:.0} MB/s", mb / up, mb / down),
        postgres: String::new(),
        target: "≥ 100 MB/s",
    });

    // 20 workstations pushing at once.
    let per_client = 5_000;
    let secs = twenty_pushing(server.as_ref(), &[url.as_str()], "Clinic", per_client).await;
    let pushes_row = rows.len();
    rows.push(Row {
        name: format!(
            "server taking pushes from 20 workstations ({} changes)",
            20 * per_client
        ),
        value: format!("{:.0} changes/s", (20 * per_client) as f64 / secs),
        postgres: String::new(),
        target: "≥ 10,000 (PG: 20,000) changes/s",
    });

    district(&server, &url, dir.path(), &mut rows).await;

    if let Some(pg) = std::env::var("OUTPOST_BENCH_PG")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        let (pull, pushes) = on_postgres(&pg, &dir.path().join("server"), dir.path(), &hill).await;
        rows[initial_pull_row].postgres = pull;
        rows[pushes_row].postgres = pushes;
        rows[pushes_row]
            .name
            .push_str("; PostgreSQL: through 2 processes");
    }

    println!();
    println!(
        "| {:<84} | {:<26} | {:<26} | {:<20} |",
        "measure", "SQLite", "PostgreSQL", "target"
    );
    println!(
        "|{}|{}|{}|{}|",
        "-".repeat(86),
        "-".repeat(28),
        "-".repeat(28),
        "-".repeat(22)
    );
    for row in rows {
        println!(
            "| {:<84} | {:<26} | {:<26} | {:<20} |",
            row.name, row.value, row.postgres, row.target
        );
    }
}

/// 20 clinics of one workstation each, enrolled through the servers at `urls` in turn, pushing
/// `per_client` new patients each, all at once in batches of 500. Returns the seconds it took.
async fn twenty_pushing(
    store: &dyn ServerStore,
    urls: &[&str],
    name: &str,
    per_client: usize,
) -> f64 {
    let mut clients = Vec::new();
    for i in 0..20 {
        let clinic = add_clinic(
            store,
            &format!("{name} {i}"),
            Utc::now().timestamp_millis(),
            outpost::server::DEFAULT_CODE_VALIDITY,
        )
        .unwrap();
        let via = urls[i % urls.len()];
        let client = SyncClient::connect(ClientConfig::new(via)).await.unwrap();
        let device = client
            .enroll(&clinic.enrollment_code, "Bench", "", None)
            .await
            .unwrap();
        let client = client.with_device_token(&device.device_token).unwrap();
        let node = NodeId(format!("{}{i}", name.replace(' ', "")));
        let changes: Vec<ChangeRecord> = (0..u32::try_from(per_client).unwrap())
            .map(|n| ChangeRecord {
                change_id: ChangeId::new(),
                entity: EntityKind::Patient,
                entity_id: PatientId::new().0,
                fields: serde_json::json!({"given_name": format!("P{n}"), "family_name": "Bench", "village": "Kosti"})
                    .as_object()
                    .cloned()
                    .unwrap(),
                hlc: HlcStamp { millis: Utc::now().timestamp_millis(), counter: n, node: node.clone() },
                clinic_id: clinic.clinic.clinic_id,
                supersedes: Default::default(),
            })
            .collect();
        clients.push((client, changes));
    }
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (client, changes) in clients {
        tasks.push(tokio::spawn(async move {
            for batch in changes.chunks(500) {
                client.push(batch).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    t.elapsed().as_secs_f64()
}

/// `outpost-server serve` over the PostgreSQL database `url` (its log of every push would bury
/// the table, so it goes nowhere); its URL once it listens.
fn serve_process(data: &std::path::Path, url: &str) -> (stores::ServerProcess, String) {
    stores::serve_on_postgres(
        env!("CARGO_BIN_EXE_outpost-server"),
        data,
        url,
        std::process::Stdio::null(),
    )
}

/// The PostgreSQL column: the SQLite server's history moved into a new database on `server`,
/// two server processes on it, then the first pull of Hill's history and 20 workstations
/// pushing through both processes. Returns the two figures.
async fn on_postgres(
    server: &str,
    sqlite_dir: &std::path::Path,
    dir: &std::path::Path,
    hill: &Store,
) -> (String, String) {
    use outpost::server::{PostgresServerStore, PostgresTarget};
    let url = stores::new_postgres_database(server);
    let data = dir.join("pg-server");
    let target = PostgresTarget {
        url: url.clone(),
        ..PostgresTarget::default()
    };
    let t = Instant::now();
    let (from, to, blobs) = (sqlite_dir.to_path_buf(), target.clone(), data.join("blobs"));
    let report = tokio::task::spawn_blocking(move || {
        outpost::server::sqlite_to_postgres(&from, &to, &blobs, |_, _| {}).unwrap()
    })
    .await
    .unwrap();
    eprintln!(
        "migrated {} tables to PostgreSQL in {:.0} s",
        report.tables.len(),
        t.elapsed().as_secs_f64()
    );
    let store = PostgresServerStore::open(&target, &data.join("blobs")).unwrap();
    let ((_a, url_a), (_b, url_b)) = (serve_process(&data, &url), serve_process(&data, &url));

    // A new workstation of Hill takes its first pull through one process.
    let code = outpost::server::new_enrollment_code(
        &store,
        hill.clinic_id(),
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let mut ws = Store::open_dir(&dir.join("pg-ws")).unwrap();
    engine::enroll(&mut ws, &url_a, &code, "PG desk", None, false)
        .await
        .unwrap();
    let client = client_of(&ws).await;
    let t = Instant::now();
    let report = engine::sync_once(&mut ws, &client, |_| {}).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(
        ws.status().unwrap().patients,
        hill.status().unwrap().patients
    );
    let pull = format!(
        "{:.0} records/s ({secs:.1} s)",
        report.pulled.applied as f64 / secs
    );

    // 20 workstations, half through each process, pushing at once.
    let per_client = 5_000;
    let secs = twenty_pushing(
        &store,
        &[url_a.as_str(), url_b.as_str()],
        "PG clinic",
        per_client,
    )
    .await;
    let pushes = format!("{:.0} changes/s", (20 * per_client) as f64 / secs);
    (pull, pushes)
}

/// A district of 20 clinics: each clinic's patients pushed straight into the server's store, then
/// a new workstation of one clinic takes its first pull, which brings that clinic's patients only.
async fn district(
    server: &SqliteServerStore,
    url: &str,
    dir: &std::path::Path,
    rows: &mut Vec<Row>,
) {
    const CLINICS: usize = 20;
    let per_clinic: usize = std::env::var("OUTPOST_BENCH_DISTRICT_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let mut first_clinic = None;
    let t = Instant::now();
    for c in 0..CLINICS {
        let clinic = add_clinic(
            server,
            &format!("District clinic {c}"),
            Utc::now().timestamp_millis(),
            outpost::server::DEFAULT_CODE_VALIDITY,
        )
        .unwrap();
        let client = SyncClient::connect(ClientConfig::new(url)).await.unwrap();
        let node = format!("district{c}");
        let enrolled = client
            .enroll(&clinic.enrollment_code, "Bench", &node, None)
            .await
            .unwrap();
        let device = server
            .devices()
            .unwrap()
            .into_iter()
            .find(|d| d.device_id == enrolled.device_id)
            .unwrap();
        let prefix = format!("D{c:02}");
        let now = Utc::now().timestamp_millis();
        let changes: Vec<ChangeRecord> = (0..per_clinic)
            .map(|n| ChangeRecord {
                change_id: ChangeId::new(),
                entity: EntityKind::Patient,
                entity_id: PatientId::new().0,
                fields: serde_json::json!({
                    "clinic_id": clinic.clinic.clinic_id.to_string(),
                    "number_prefix": prefix,
                    "number_seq": n + 1,
                    "given_name": format!("Given{n}"),
                    "family_name": format!("Family{}", n % 5_000),
                    "sex": if n % 2 == 0 { "female" } else { "male" },
                    "birth_date": format!("{}-0{}-1{}", 1940 + n % 80, 1 + n % 9, n % 10),
                    "birth_estimated": false,
                    "phone": format!("07{:08}", n),
                    "village": format!("Village {}", n % 300),
                    "national_id": format!("{c:02}{n:08}"),
                    "kin_name": "Next Of Kin",
                    "kin_phone": "0700 000 000",
                })
                .as_object()
                .cloned()
                .unwrap(),
                hlc: HlcStamp {
                    millis: now,
                    counter: n as u32,
                    node: NodeId(node.clone()),
                },
                clinic_id: clinic.clinic.clinic_id,
                supersedes: Default::default(),
            })
            .collect();
        for batch in changes.chunks(1_000) {
            server.push_changes(&device, batch, now, 600_000).unwrap();
        }
        if c == 0 {
            first_clinic = Some(clinic);
        }
    }
    let fill = t.elapsed().as_secs_f64();
    let total = CLINICS * per_clinic;
    eprintln!("district of {total} patients stored in {fill:.0} s");
    rows.push(Row {
        name: format!("district: server storing {total} patients of {CLINICS} clinics"),
        value: format!("{:.0} changes/s", total as f64 / fill),
        postgres: String::new(),
        target: "",
    });

    let clinic = first_clinic.unwrap();
    let code = outpost::server::new_enrollment_code(
        server,
        clinic.clinic.clinic_id,
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let ws_dir = dir.join("district-ws");
    let mut store = Store::open_dir(&ws_dir).unwrap();
    engine::enroll(&mut store, url, &code, "New desk", None, false)
        .await
        .unwrap();
    let client = client_of(&store).await;
    let t = Instant::now();
    let report = engine::sync_once(&mut store, &client, |_| {})
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(store.status().unwrap().patients as usize, per_clinic);
    drop(store);
    let bytes = store_bytes(&ws_dir);
    rows.push(Row {
        name: format!(
            "district: one clinic's first pull ({} of {total} patients)",
            report.pulled.applied
        ),
        value: format!("{secs:.1} s, store {:.0} MB", bytes as f64 / 1e6),
        postgres: String::new(),
        target: "",
    });
}
