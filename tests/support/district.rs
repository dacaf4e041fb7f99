//! A district in a test: the real server on `127.0.0.1:0` over the store the tests run against
//! (`stores.rs`: SQLite, or PostgreSQL when `OUTPOST_TEST_POSTGRES` names one), and clinics'
//! workstations enrolled with it on real SQLite files. A test file that uses it also has
//! `#[path = "support/stores.rs"] mod stores;`.
#![allow(dead_code)]

use chrono::Utc;
use outpost::server::{ServerConfig, ServerStore, add_clinic, serve};
use outpost::store::Store;
use outpost::sync::client::SyncClient;
use outpost::sync::engine::{self, SyncReport};
use std::sync::Arc;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The server, stopped when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub address: String,
    /// Its store.
    pub store: Arc<dyn ServerStore>,
    /// Its data folder.
    pub dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the server on a free loopback port; it serves once this returns.
pub async fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::stores::open_server_store(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = store.clone();
    tokio::spawn(async move {
        serve(served, listener, ServerConfig::default(), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Server {
        url: format!("http://{address}"),
        address,
        store,
        dir,
        stop: Some(stop),
    }
}

/// A workstation of a new clinic named `clinic`, in `dir/clinic`, enrolled with the server.
pub async fn workstation(server: &Server, dir: &TempDir, clinic: &str) -> Store {
    let new = add_clinic(
        server.store.as_ref(),
        clinic,
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let store = enrolled(server, dir, clinic, &new.enrollment_code, clinic).await;
    assert_eq!(store.clinic_id(), new.clinic.clinic_id);
    store
}

/// A workstation in `dir/name`, enrolled with `code` in the clinic named `clinic`.
pub async fn enrolled(
    server: &Server,
    dir: &TempDir,
    name: &str,
    code: &str,
    clinic: &str,
) -> Store {
    let mut store = Store::open_dir(&dir.path().join(name)).unwrap();
    let joined = engine::enroll(&mut store, &server.url, code, "Front desk", None, false)
        .await
        .unwrap();
    assert_eq!(joined, clinic);
    store
}

/// One round of sync.
pub async fn sync(store: &mut Store) -> SyncReport {
    let client = SyncClient::connect(engine::client_config(store).unwrap())
        .await
        .unwrap();
    engine::sync_once(store, &client, |_| {}).await.unwrap()
}
