//! What only PostgreSQL can do: two `outpost-server` processes on one database serving the same
//! clinics, and a district's history moved there from SQLite by `outpost-server migrate`.
//!
//! These need a PostgreSQL server (`OUTPOST_TEST_POSTGRES`, see `support/stores.rs`), so they are
//! ignored by a plain `cargo test`; `bash .ci/test` starts a throwaway cluster and runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/stores.rs"]
mod stores;

use chrono::Utc;
use outpost::model::{ChangeId, ChangeRecord, ClinicId, EntityKind, HlcStamp, NodeId};
use outpost::server::{
    PostgresServerStore, PostgresTarget, ServerConfig, ServerStore, SqliteServerStore, add_clinic,
    serve,
};
use outpost::store::Store;
use outpost::sync::client::{ClientConfig, PullItem, SyncClient};
use outpost::sync::engine;
use outpost::sync::wire::Ack;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

const SERVER: &str = env!("CARGO_BIN_EXE_outpost-server");
const NEEDS: &str = "needs PostgreSQL: OUTPOST_TEST_POSTGRES (bash .ci/test runs it)";

/// The tests' PostgreSQL server, or a clear failure when a test was asked for without one.
fn postgres() -> String {
    stores::postgres_server().unwrap_or_else(|| {
        panic!("this test {NEEDS}");
    })
}

/// `outpost-server serve` over the database `url`, on a free loopback port; its URL.
fn serve_process(data: &Path, url: &str) -> (stores::ServerProcess, String) {
    stores::serve_on_postgres(SERVER, data, url, Stdio::inherit())
}

/// A new patient of `clinic`, stamped by workstation `node`.
fn patient_change(clinic: ClinicId, node: &str, millis: i64, counter: u32) -> ChangeRecord {
    let mut fields = serde_json::Map::new();
    fields.insert("given_name".into(), "Amina".into());
    fields.insert("family_name".into(), format!("Otieno {counter}").into());
    ChangeRecord {
        change_id: ChangeId::new(),
        entity: EntityKind::Patient,
        entity_id: Uuid::now_v7(),
        fields,
        hlc: HlcStamp {
            millis,
            counter,
            node: NodeId(node.to_owned()),
        },
        clinic_id: clinic,
        supersedes: BTreeMap::new(),
    }
}

/// Pulls everything after `after`: the sequence numbers seen, and the new cursor.
async fn pull_seqs(client: &SyncClient, after: u64) -> (Vec<u64>, u64) {
    let mut pull = client.pull(after, 500).await.unwrap();
    let mut seqs = Vec::new();
    let mut cursor = after;
    while let Some(item) = pull.next().await.unwrap() {
        match item {
            PullItem::Page(page) => seqs.extend(page.iter().map(|(seq, _)| *seq)),
            PullItem::Checkpoint { last_seq, .. } => cursor = last_seq,
        }
    }
    (seqs, cursor)
}

/// One workstation's part: push `batches` batches, each to the server next in turn, and after
/// each, pull what is new from the other server. Returns the numbers its pushes were given, the
/// numbers its pulls saw, and its cursor.
async fn push_and_pull(
    urls: [String; 2],
    token: String,
    clinic: ClinicId,
    node: String,
    batches: usize,
    per_batch: usize,
) -> (Vec<u64>, Vec<u64>, u64) {
    let mut clients = Vec::new();
    for url in &urls {
        clients.push(
            SyncClient::connect(ClientConfig::new(url))
                .await
                .unwrap()
                .with_device_token(&token)
                .unwrap(),
        );
    }
    let mut accepted = Vec::new();
    let mut seen = Vec::new();
    let mut cursor = 0;
    let start = Utc::now().timestamp_millis();
    for batch in 0..batches {
        let changes: Vec<ChangeRecord> = (0..per_batch)
            .map(|i| {
                let n = batch * per_batch + i;
                patient_change(clinic, &node, start + n as i64, n as u32)
            })
            .collect();
        let reply = clients[batch % 2].push(&changes).await.unwrap();
        for ack in reply.acks {
            match ack {
                Ack::Accepted { seq } => accepted.push(seq),
                other => panic!("a change was not accepted: {other:?}"),
            }
        }
        let (seqs, next) = pull_seqs(&clients[(batch + 1) % 2], cursor).await;
        assert!(
            seqs.first().is_none_or(|first| *first > cursor),
            "a pull went back before its cursor"
        );
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "a pull out of order");
        seen.extend(seqs);
        cursor = next;
    }
    (accepted, seen, cursor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: OUTPOST_TEST_POSTGRES (bash .ci/test runs it)"]
async fn two_server_processes_on_one_database_number_every_change_once_and_in_order() {
    postgres();
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    let url = stores::postgres_database(&shared).unwrap();
    let admin = PostgresServerStore::open(
        &PostgresTarget {
            url: url.clone(),
            ..PostgresTarget::default()
        },
        &shared.join("blobs"),
    )
    .unwrap();
    let (_a, url_a) = serve_process(&shared, &url);
    let (_b, url_b) = serve_process(&shared, &url);
    let urls = [url_a, url_b];

    // Three clinics, two workstations each: one enrolled through each process.
    let mut workstations = Vec::new();
    for (c, name) in ["Hill Clinic", "River Clinic", "Lake Clinic"]
        .into_iter()
        .enumerate()
    {
        let now = Utc::now().timestamp_millis();
        let added = add_clinic(&admin, name, now, outpost::server::DEFAULT_CODE_VALIDITY).unwrap();
        let second = outpost::server::new_enrollment_code(
            &admin,
            added.clinic.clinic_id,
            now,
            outpost::server::DEFAULT_CODE_VALIDITY,
        )
        .unwrap();
        for (w, code) in [added.enrollment_code, second].into_iter().enumerate() {
            let client = SyncClient::connect(ClientConfig::new(&urls[w]))
                .await
                .unwrap();
            let node = format!("node-{c}-{w}");
            let device = client.enroll(&code, "Desk", &node, None).await.unwrap();
            workstations.push((device.device_token, added.clinic.clinic_id, node));
        }
    }

    // Every workstation pushes through both processes at once, pulling as it goes.
    let (batches, per_batch) = (12, 40);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (token, clinic, node)) in workstations.clone().into_iter().enumerate() {
        let urls = urls.clone();
        tasks.spawn(async move {
            let result = push_and_pull(urls, token, clinic, node, batches, per_batch).await;
            (index, result)
        });
    }
    let mut results = vec![(Vec::new(), Vec::new(), 0); workstations.len()];
    while let Some(finished) = tasks.join_next().await {
        let (index, result) = finished.unwrap();
        results[index] = result;
    }
    let total = workstations.len() * batches * per_batch;
    let mut all_accepted: Vec<u64> = results.iter().flat_map(|(a, _, _)| a.clone()).collect();
    all_accepted.sort_unstable();
    assert_eq!(
        all_accepted,
        (1..=total as u64).collect::<Vec<_>>(),
        "every change numbered once, with no gap"
    );
    assert_eq!(admin.last_seq().unwrap(), total as u64);

    // Each workstation converges: a pull from either process, and its pulls along the way
    // (continued from where they stopped), saw its clinic's changes — each once, none missed.
    let mut union = BTreeSet::new();
    for (token, clinic, _) in &workstations {
        let mut clinic_seqs = Vec::new();
        for url in &urls {
            let client = SyncClient::connect(ClientConfig::new(url))
                .await
                .unwrap()
                .with_device_token(token)
                .unwrap();
            let (seqs, _) = pull_seqs(&client, 0).await;
            assert_eq!(seqs.len(), 2 * batches * per_batch, "{clinic}");
            if clinic_seqs.is_empty() {
                clinic_seqs = seqs;
            } else {
                assert_eq!(seqs, clinic_seqs, "both processes give the same pull");
            }
        }
        union.extend(clinic_seqs);
    }
    assert_eq!(union.len(), total, "every change reached its clinic");

    // A pull that saw a number never missed one below it: what each workstation saw along the
    // way, plus one last pull from its cursor, is exactly what a full pull gives.
    for ((token, _, _), (_, seen, cursor)) in workstations.iter().zip(&results) {
        let client = SyncClient::connect(ClientConfig::new(&urls[0]))
            .await
            .unwrap()
            .with_device_token(token)
            .unwrap();
        let (full, _) = pull_seqs(&client, 0).await;
        let (rest, _) = pull_seqs(&client, *cursor).await;
        let mut along = seen.clone();
        along.extend(rest);
        assert_eq!(
            along, full,
            "a pull along the way skipped a change that became visible later"
        );
    }
}

/// The in-process server over `store`, stopped when the sender is dropped.
async fn serve_store(store: Arc<dyn ServerStore>) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        serve(store, listener, ServerConfig::default(), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (url, stop)
}

async fn sync(store: &mut Store, url: &str) {
    let mut config = engine::client_config(store).unwrap();
    config.server_url = url.to_owned();
    let client = SyncClient::connect(config).await.unwrap();
    engine::sync_once(store, &client, |_| {}).await.unwrap();
}

fn register(store: &mut Store, given: &str) {
    let mut p = outpost::model::Patient::blank(store.clinic_id());
    p.given_name = given.into();
    p.family_name = "Achieng".into();
    p.sex = outpost::model::Sex::Female;
    store.register_patient(p).unwrap();
}

/// Whether the patient list finds someone by this name.
fn finds(store: &Store, name: &str) -> bool {
    !store.search_patients(name, 10).unwrap().rows.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: OUTPOST_TEST_POSTGRES (bash .ci/test runs it)"]
async fn a_district_migrated_from_sqlite_keeps_serving_its_workstations() {
    postgres();
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    let new = dir.path().join("new");

    // A district on SQLite: two workstations of one clinic share their patients.
    let sqlite: Arc<dyn ServerStore> = Arc::new(SqliteServerStore::open(&old).unwrap());
    let (old_url, stop) = serve_store(sqlite.clone()).await;
    let added = add_clinic(
        sqlite.as_ref(),
        "Hill Clinic",
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let second = outpost::server::new_enrollment_code(
        sqlite.as_ref(),
        added.clinic.clinic_id,
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let mut front = Store::open_dir(&dir.path().join("front")).unwrap();
    engine::enroll(
        &mut front,
        &old_url,
        &added.enrollment_code,
        "Front",
        None,
        false,
    )
    .await
    .unwrap();
    let mut ward = Store::open_dir(&dir.path().join("ward")).unwrap();
    engine::enroll(&mut ward, &old_url, &second, "Ward", None, false)
        .await
        .unwrap();
    for name in ["Amina", "Baraka", "Chebet"] {
        register(&mut front, name);
    }
    sync(&mut front, &old_url).await;
    sync(&mut ward, &old_url).await;
    assert_eq!(ward.patient_count().unwrap(), 3);
    assert!(finds(&ward, "Chebet"));
    let last_seq = sqlite.last_seq().unwrap();
    drop(stop);
    drop(sqlite);

    // The migration, as the IT person runs it.
    let url = stores::postgres_database(&new).unwrap();
    let out = Command::new(SERVER)
        .args(["migrate", "--from"])
        .arg(format!("sqlite:{}", old.display()))
        .args(["--to", &url, "--data-dir"])
        .arg(&new)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("Copied:   change_log"), "{said}");
    assert!(said.contains("the same rows on both sides"), "{said}");
    // Into a database that holds a district already, it refuses and writes nothing.
    let again = Command::new(SERVER)
        .args(["migrate", "--from"])
        .arg(format!("sqlite:{}", old.display()))
        .args(["--to", &url])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds"));

    // Served from PostgreSQL, the same workstations carry on where they were.
    let postgres: Arc<dyn ServerStore> = Arc::new(
        PostgresServerStore::open(
            &PostgresTarget {
                url,
                ..PostgresTarget::default()
            },
            &new.join("blobs"),
        )
        .unwrap(),
    );
    assert_eq!(postgres.last_seq().unwrap(), last_seq);
    assert_eq!(postgres.clinics().unwrap().len(), 1);
    let (new_url, _stop) = serve_store(postgres.clone()).await;
    register(&mut ward, "Dalia");
    sync(&mut ward, &new_url).await;
    sync(&mut front, &new_url).await;
    assert_eq!(front.patient_count().unwrap(), 4);
    assert!(finds(&front, "Dalia"));
    assert_eq!(postgres.last_seq().unwrap(), last_seq + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: OUTPOST_TEST_POSTGRES (bash .ci/test runs it)"]
async fn the_documented_pg_dump_routine_restores_a_district() {
    let server = postgres();
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    let store = stores::open_server_store(&shared);
    let (url, _stop) = serve_store(store.clone()).await;
    let added = add_clinic(
        store.as_ref(),
        "Hill Clinic",
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let client = SyncClient::connect(ClientConfig::new(&url)).await.unwrap();
    let device = client
        .enroll(&added.enrollment_code, "Desk", "node-dump", None)
        .await
        .unwrap();
    let client = client.with_device_token(&device.device_token).unwrap();
    let now = Utc::now().timestamp_millis();
    let changes: Vec<ChangeRecord> = (0..25)
        .map(|i| patient_change(added.clinic.clinic_id, "node-dump", now + i, i as u32))
        .collect();
    client.push(&changes).await.unwrap();
    let last = store.last_seq().unwrap();
    assert_eq!(last, 25);

    // README's routine: pg_dump in the custom format, pg_restore into a new database.
    let dump = dir.path().join("outpost.dump");
    let source = stores::postgres_database(&shared).unwrap();
    let dumped = Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(format!("--dbname={source}"))
        .output()
        .expect("pg_dump is installed with PostgreSQL");
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let restored_url = stores::new_postgres_database(&server);
    let restored = Command::new("pg_restore")
        .arg("--no-owner")
        .arg(format!("--dbname={restored_url}"))
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );

    // The restored district serves the same workstation, which carries on numbering.
    let back: Arc<dyn ServerStore> = Arc::new(
        PostgresServerStore::open(
            &PostgresTarget {
                url: restored_url,
                ..PostgresTarget::default()
            },
            &shared.join("blobs"),
        )
        .unwrap(),
    );
    assert_eq!(back.last_seq().unwrap(), last);
    assert_eq!(back.devices().unwrap(), store.devices().unwrap());
    let (back_url, _back_stop) = serve_store(back.clone()).await;
    let client = SyncClient::connect(ClientConfig::new(&back_url))
        .await
        .unwrap()
        .with_device_token(&device.device_token)
        .unwrap();
    let (seqs, _) = pull_seqs(&client, 0).await;
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    let more = [patient_change(
        added.clinic.clinic_id,
        "node-dump",
        now + 100,
        100,
    )];
    let reply = client.push(&more).await.unwrap();
    assert_eq!(reply.acks, [Ack::Accepted { seq: last + 1 }]);
}
