//! The server store a test runs against: the embedded SQLite store, or — when
//! `OUTPOST_TEST_POSTGRES` names a PostgreSQL server — a new database of its own there. The
//! same tests run once on each (`bash .ci/test` does both).
//!
//! `OUTPOST_TEST_POSTGRES` is a connection string in key=value form (`host=/run/pg port=5433
//! user=outpost`) for a role that may create databases; each store gets `dbname=outpost_test_…`.
#![allow(dead_code)]

use outpost::server::{PostgresServerStore, PostgresTarget, ServerStore, SqliteServerStore};
use std::path::Path;
use std::sync::Arc;

/// The environment variable naming the PostgreSQL server the tests use.
pub const POSTGRES_ENV: &str = "OUTPOST_TEST_POSTGRES";

/// The PostgreSQL connection string the tests are to use, when set.
pub fn postgres_server() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A new, empty database on the PostgreSQL server `server` names; its connection string.
pub fn new_postgres_database(server: &str) -> String {
    let name = format!("outpost_test_{}", uuid::Uuid::now_v7().simple());
    let admin = format!("{server} dbname=postgres");
    // The client blocks: on a thread of its own, never on a test's async runtime.
    let create = format!("CREATE DATABASE {name}");
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV}: cannot connect: {e}"));
        client.batch_execute(&create).unwrap();
    })
    .join()
    .unwrap();
    format!("{server} dbname={name}")
}

/// The PostgreSQL database of the store whose files are in `dir` (made at the first call, and
/// noted in the folder so the server binary run on the same folder finds it); `None` when the
/// tests run on SQLite.
pub fn postgres_database(dir: &Path) -> Option<String> {
    let server = postgres_server()?;
    let note = dir.join("test-database.txt");
    if let Ok(url) = std::fs::read_to_string(&note) {
        return Some(url);
    }
    let url = new_postgres_database(&server);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&note, &url).unwrap();
    Some(url)
}

/// What the server binary is given, besides `--data-dir`, to open the same store.
pub fn binary_args(dir: &Path) -> Vec<String> {
    match postgres_database(dir) {
        Some(url) => vec!["--database".into(), url],
        None => Vec::new(),
    }
}

/// Opens the store the tests run against, with its files in `dir`.
pub fn open_server_store(dir: &Path) -> Arc<dyn ServerStore> {
    match postgres_database(dir) {
        Some(url) => {
            let target = PostgresTarget {
                url,
                ..PostgresTarget::default()
            };
            Arc::new(PostgresServerStore::open(&target, &dir.join("blobs")).unwrap())
        }
        None => Arc::new(SqliteServerStore::open(dir).unwrap()),
    }
}

/// An `outpost-server` process, killed when dropped.
pub struct ServerProcess(pub std::process::Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` (an `outpost-server serve`) with its standard output piped and waits for
/// the line saying where it listens: the process, and what follows "listening on "
/// (`127.0.0.1:PORT`, with " with TLS" when it serves TLS).
pub fn start_server(command: &mut std::process::Command) -> (ServerProcess, String) {
    use std::io::BufRead;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let listening = line
        .trim()
        .strip_prefix("outpost-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (ServerProcess(child), listening)
}

/// `outpost-server serve` on a free loopback port over the PostgreSQL database `url`, with
/// `data` as its shared folder; its URL once it listens.
pub fn serve_on_postgres(
    binary: &str,
    data: &Path,
    url: &str,
    stderr: std::process::Stdio,
) -> (ServerProcess, String) {
    let (process, address) = start_server(
        std::process::Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(["--database", url])
            .stderr(stderr),
    );
    (process, format!("http://{address}"))
}

/// An SQLite server store in `dir` served in this process on `127.0.0.1:0` until the runtime
/// ends (the benchmarks' server); the store and its URL.
pub async fn serve_sqlite_here(dir: &Path) -> (Arc<SqliteServerStore>, String) {
    let store = Arc::new(SqliteServerStore::open(dir).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served: Arc<dyn ServerStore> = store.clone();
    tokio::spawn(async move {
        outpost::server::serve(
            served,
            listener,
            outpost::server::ServerConfig::default(),
            std::future::pending(),
        )
        .await
        .unwrap();
    });
    (store, url)
}
