//! The central server: the gRPC services of the sync protocol over a [`ServerStore`].
//!
//! Clinic workstations enroll with a one-time code, then push their changes, pull everyone
//! else's, and move blobs (images, documents) up and down. [`serve`] runs the whole thing on a
//! listener the caller bound — the `outpost-server` binary binds the configured address, tests
//! bind `127.0.0.1:0` — next to the standard gRPC health service and server reflection (v1 and
//! v1alpha, which common tools still ask for). The store is a trait so a PostgreSQL back end can
//! follow the embedded SQLite one ([`SqliteServerStore`]) without touching the service.
//!
//! Without a TLS certificate the server accepts only loopback listeners: device credentials and
//! patient records never cross a network in clear text.

mod blobs;
mod certificate;
mod chain;
mod enrollment;
mod limited;
mod migrate;
mod postgres;
mod push;
mod records;
mod report;
mod rows;
mod scope;
mod service;
mod sqlite;
mod store;
mod throttle;
mod uploads;

pub use certificate::{CertificateError, CertificatePaths, certificate_pin, make_certificate};
pub use enrollment::{
    DEFAULT_CODE_VALIDITY, MAX_CODE_VALIDITY, NewClinic, NewServiceAccountToken, add_clinic,
    add_service_account, new_enrollment_code, normalize_code, random_code, random_token,
    secret_hash,
};
pub use migrate::{MigrateError, MigrationReport, sqlite_to_postgres};
pub use postgres::{PostgresServerStore, PostgresTarget};
pub use records::pb as records_pb;
pub use report::{DistrictReportError, district_report};
pub use sqlite::{DATABASE_FILE, SqliteServerStore};
pub use store::{
    AccessEntry, AccessKind, BlobRead, BlobState, BlobUpload, Clinic, Device, DeviceChange,
    FAR_FUTURE_MILLIS, NewDevice, NewServiceAccount, OpenedBlob, PatientHit, PatientQuery,
    QuarantinedChange, STAMP_TOLERANCE_MILLIS, ServerStore, ServiceScope, ShareReason, StoreError,
    quarantine_reason,
};

use crate::sync::wire::{self, MAX_MESSAGE_BYTES, pb};
use service::SyncService;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;

/// How often the health service asks the store whether it answers.
const HEALTH_EVERY: Duration = Duration::from_secs(10);

/// How far ahead of the server's clock a change may be stamped before it is quarantined.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(10 * 60);

/// A TLS certificate chain and its private key, both PEM.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// From PEM text already in memory.
    pub fn from_pem(cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        }
    }

    /// From a certificate file and a key file.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, ServerError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| ServerError::ReadFile {
                path: path.to_path_buf(),
                source,
            })
        };
        Ok(Self::from_pem(read(cert)?, read(key)?))
    }
}

/// How long an upload may wait for its next chunk before the server closes it.
pub const DEFAULT_UPLOAD_IDLE: Duration = Duration::from_secs(60);

/// Partial uploads untouched for this long are removed.
pub const STALE_PARTIAL_AGE: Duration = Duration::from_secs(24 * 3600);

/// How often the server looks for stale partial uploads.
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// Calls one connection may run at once.
const MAX_CALLS_PER_CONNECTION: usize = 64;

/// HTTP/2 streams one connection may open at once.
const MAX_STREAMS_PER_CONNECTION: u32 = 128;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// TLS certificate and key; without them only loopback listeners are accepted.
    pub tls: Option<TlsIdentity>,
    /// Changes stamped further than this ahead of the server's clock are quarantined (and more
    /// than a day ahead, refused).
    pub max_clock_skew: Duration,
    /// An upload that sends nothing for this long is closed (what arrived is kept).
    pub upload_idle: Duration,
    /// Whether the reflection service answers (tools like grpcurl use it). Off in production if
    /// the protocol's description should not be handed to anyone who connects.
    pub reflection: bool,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Bytes of complete blobs one device may store on the server.
    pub max_stored_bytes_per_device: u64,
}

/// Bytes of images one device may store unless configured otherwise (256 GiB).
pub const DEFAULT_MAX_STORED_BYTES_PER_DEVICE: u64 = 256 * 1024 * 1024 * 1024;

/// Connections served at once unless configured otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            tls: None,
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            upload_idle: DEFAULT_UPLOAD_IDLE,
            reflection: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_stored_bytes_per_device: DEFAULT_MAX_STORED_BYTES_PER_DEVICE,
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No TLS and a listener other than loopback.
    #[error(
        "without a TLS certificate and key the server listens on this computer only (loopback), but it was given {addr}"
    )]
    PlainTextNotLoopback {
        /// The listener's address.
        addr: SocketAddr,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// Which file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The certificate or key is not usable.
    #[error("the TLS certificate or key is not usable: {0}")]
    Tls(#[source] tonic::transport::Error),
    /// The listener failed.
    #[error("the listening socket failed: {0}")]
    Listener(#[source] std::io::Error),
    /// The reflection service could not read the protocol's description.
    #[error("the reflection service could not be built: {0}")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// The server stopped with an error.
    #[error("the server stopped: {0}")]
    Transport(#[source] tonic::transport::Error),
}

/// Serves the sync protocol on `listener` until `shutdown` completes, then lets calls in
/// progress finish.
pub async fn serve(
    store: Arc<dyn ServerStore>,
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let addr = listener.local_addr().map_err(ServerError::Listener)?;
    if config.tls.is_none() && !addr.ip().is_loopback() {
        return Err(ServerError::PlainTextNotLoopback { addr });
    }
    let max_skew_millis = i64::try_from(config.max_clock_skew.as_millis()).unwrap_or(i64::MAX);
    let service = SyncService::new(
        Arc::clone(&store),
        max_skew_millis,
        config.upload_idle,
        config.max_stored_bytes_per_device,
    );
    let records = records::RecordsService::new(Arc::clone(&store), max_skew_millis);
    let cleaner = tokio::spawn(remove_stale_partials(Arc::clone(&store)));

    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, ServingStatus::Serving).await;
    let watcher = tokio::spawn(watch_database(store, health));

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(wire::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(records::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let (reflection_v1, reflection_v1alpha) = if config.reflection {
        (
            Some(reflection().build_v1().map_err(ServerError::Reflection)?),
            Some(
                reflection()
                    .build_v1alpha()
                    .map_err(ServerError::Reflection)?,
            ),
        )
    } else {
        (None, None)
    };

    let mut builder = Server::builder()
        // Large windows that adapt to the line keep blob transfers fast on long, slow links.
        .http2_adaptive_window(Some(true))
        // Notice dead connections (a workstation that lost its line) instead of holding them.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .concurrency_limit_per_connection(MAX_CALLS_PER_CONNECTION)
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .tcp_nodelay(true);
    if let Some(tls) = config.tls {
        let identity = Identity::from_pem(tls.cert_pem, tls.key_pem);
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(identity))
            .map_err(ServerError::Tls)?;
    }
    tracing::info!(%addr, "serving the sync protocol");

    let served = builder
        .add_service(health_service)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha)
        .add_service(
            pb::enrollment_server::EnrollmentServer::new(service.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            pb::sync_server::SyncServer::new(service.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            pb::blobs_server::BlobsServer::new(service)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            records::pb::records_server::RecordsServer::new(records)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming_shutdown(
            limited::incoming(listener, config.max_connections),
            shutdown,
        )
        .await
        .map_err(ServerError::Transport);
    cleaner.abort();
    watcher.abort();
    served
}

/// Every service's status in the health service, and the server's as a whole (`""`).
async fn set_health(health: &tonic_health::server::HealthReporter, status: ServingStatus) {
    use tonic::server::NamedService;
    for name in [
        "",
        <pb::enrollment_server::EnrollmentServer<SyncService> as NamedService>::NAME,
        <pb::sync_server::SyncServer<SyncService> as NamedService>::NAME,
        <pb::blobs_server::BlobsServer<SyncService> as NamedService>::NAME,
        <records::pb::records_server::RecordsServer<records::RecordsService> as NamedService>::NAME,
    ] {
        health.set_service_status(name, status).await;
    }
}

/// Asks the store a cheap question every [`HEALTH_EVERY`] and reports the services not serving
/// while it cannot answer (a PostgreSQL server down or out of reach), so a load balancer or a
/// container's health check sends workstations elsewhere.
async fn watch_database(store: Arc<dyn ServerStore>, health: tonic_health::server::HealthReporter) {
    let mut every = tokio::time::interval(HEALTH_EVERY);
    let mut serving = true;
    loop {
        every.tick().await;
        let store = Arc::clone(&store);
        let asked = tokio::time::timeout(
            HEALTH_EVERY,
            tokio::task::spawn_blocking(move || store.last_seq()),
        )
        .await;
        let answered = matches!(asked, Ok(Ok(Ok(_))));
        if answered != serving {
            serving = answered;
            if serving {
                tracing::info!("the database answers again: serving");
                set_health(&health, ServingStatus::Serving).await;
            } else {
                tracing::warn!("the database does not answer: reported not serving");
                set_health(&health, ServingStatus::NotServing).await;
            }
        }
    }
}

/// Removes partial uploads untouched for [`STALE_PARTIAL_AGE`], now and every hour.
async fn remove_stale_partials(store: Arc<dyn ServerStore>) {
    let mut every = tokio::time::interval(CLEANUP_EVERY);
    loop {
        every.tick().await;
        let store = Arc::clone(&store);
        let removed = tokio::task::spawn_blocking(move || {
            let older_than = std::time::SystemTime::now()
                .checked_sub(STALE_PARTIAL_AGE)
                .unwrap_or(std::time::UNIX_EPOCH);
            store.remove_stale_partials(older_than)
        })
        .await;
        match removed {
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => tracing::info!(removed, "stale partial uploads removed"),
            Ok(Err(error)) => tracing::warn!(%error, "stale partial uploads could not be removed"),
            Err(error) => tracing::warn!(%error, "the clean-up of partial uploads failed"),
        }
    }
}
