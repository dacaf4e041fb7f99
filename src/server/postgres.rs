//! The district's server store on PostgreSQL, for a district that outgrows one machine: chosen
//! by `--database postgres://…`, with blobs in a folder every server process shares.
//!
//! **More than one process.** A server process keeps nothing between calls outside the database
//! and the blob folder, so several can serve the same clinics behind a load balancer. Writers of
//! the change log take one transaction-level advisory lock ([`LOG_LOCK`]) and number changes from
//! the highest number held: numbers have no gaps, and a transaction commits (becoming visible)
//! before the next writer can take the lock, so a reader that sees number *n* sees every number
//! below it — the invariant [`ServerStore`] asks for. Enrollment takes a lock of its own so two
//! processes never bind one workstation's clock node to two clinics.
//!
//! **A push in a few statements.** The rules are the ones the SQLite store runs
//! ([`super::push`], [`super::scope`]); here the records they ask about are fetched for the
//! whole batch at once, and what they add is written at the end with one `unnest` statement per
//! table, so a push of hundreds of changes costs a handful of round trips.
//!
//! **Blocking calls, on their own thread.** The trait is synchronous and the `postgres` client
//! drives a small runtime of its own; a call made on an async worker (as tests do) runs on a
//! scoped thread so that runtime never nests inside another.
//!
//! **Nothing sensitive in errors.** A database error is reported by its code and message only:
//! PostgreSQL's detail line can quote a row, and rows hold patient data.

use super::blobs::BlobFolder;
use super::chain::{self, ChainStore};
use super::push::{self, ChangeLog, DeviceClock, Incoming};
use super::rows::{
    AccessRow, DeviceRow, DirectoryRow, PageRange, access_from_row, audit_from_text,
    change_from_text, clinic_from_parts, device_from_parts, hit_from_row, merge_pages,
    seq_from_sql, seq_to_sql, service_device,
};
use super::scope::{DIRECTORY_FIELDS, DirectoryValue, DirectoryValues, KnownEntity, Records};
use super::store::{
    AccessEntry, AccessKind, BlobState, BlobUpload, Clinic, Device, DeviceChange, NewDevice,
    NewServiceAccount, OpenedBlob, PatientHit, PatientQuery, QuarantinedChange, ServerStore,
    ShareReason, StoreError,
};
use crate::model::{AuditEntry, ChangeRecord, ClinicId, EntityKind};
use crate::sync::wire::{Ack, BlobHash, ChangeText};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Row, Transaction};
use r2d2_postgres::{PostgresConnectionManager, r2d2};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

/// The advisory lock every writer of the change log holds until it commits.
const LOG_LOCK: i64 = 0x4f55_5450_4c4f_4701;
/// The advisory lock enrollment holds (a clock node is bound to one clinic).
const ENROLL_LOCK: i64 = 0x4f55_5450_454e_5201;
/// The advisory lock a schema update holds (two processes starting at once).
const SCHEMA_LOCK: i64 = 0x4f55_5450_5343_4801;

/// Connections the pool keeps at most.
const MAX_CONNECTIONS: u32 = 16;
/// How long a call waits for a free connection (or for the database to answer at all).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema, one step per entry; `outpost_schema.version` counts the steps that ran. A step
/// that has shipped is never edited. Text columns hold what the SQLite store holds, so a
/// district's history moves between the two unchanged.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE clinics (
    clinic_id  TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE enrollment_codes (
    code_hash  TEXT PRIMARY KEY,
    clinic_id  TEXT NOT NULL REFERENCES clinics (clinic_id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    used_at    BIGINT,
    device_id  TEXT,
    revoked_at BIGINT
);
CREATE TABLE devices (
    device_id      TEXT PRIMARY KEY,
    clinic_id      TEXT NOT NULL REFERENCES clinics (clinic_id),
    name           TEXT NOT NULL,
    token_hash     TEXT NOT NULL UNIQUE,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    node_id        TEXT,
    last_hlc       TEXT,
    inherited_node TEXT
);
CREATE INDEX devices_by_node ON devices (node_id);
-- Rows are never deleted, so server_seq only grows.
CREATE TABLE change_log (
    server_seq      BIGINT PRIMARY KEY,
    change_id       TEXT NOT NULL UNIQUE,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    fields_json     TEXT NOT NULL,
    hlc             TEXT NOT NULL,
    clinic_id       TEXT NOT NULL,
    supersedes_json TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    patient_id      TEXT,
    scope_clinic    TEXT,
    held_at         BIGINT
);
CREATE INDEX change_log_by_scope ON change_log (scope_clinic, server_seq);
CREATE INDEX change_log_by_patient ON change_log (patient_id, server_seq);
CREATE INDEX change_log_by_device ON change_log (device_id, server_seq);
CREATE INDEX change_log_by_entity ON change_log (entity, clinic_id, server_seq);
CREATE TABLE quarantine (
    change_id       TEXT PRIMARY KEY,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    fields_json     TEXT NOT NULL,
    hlc             TEXT NOT NULL,
    hlc_millis      BIGINT NOT NULL,
    clinic_id       TEXT NOT NULL,
    supersedes_json TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    patient_id      TEXT,
    scope_clinic    TEXT
);
CREATE INDEX quarantine_by_stamp ON quarantine (hlc_millis);

-- Each workstation's audit chain, append-only: entries are checked link by link as they arrive
-- and never updated or deleted (the triggers refuse it).
CREATE TABLE audit_node (
    device_id TEXT PRIMARY KEY,
    node_id   TEXT NOT NULL UNIQUE
);
CREATE TABLE audit_log (
    node_id    TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    at         TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    action     TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    PRIMARY KEY (node_id, seq)
);
CREATE FUNCTION outpost_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never changed or deleted', TG_TABLE_NAME;
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION outpost_append_only();

-- Every record: the clinic that created it (the only one that may change it), the patient whose
-- record it is part of (none for users), and the clinic whose record that is: who may see it.
CREATE TABLE entities (
    entity_id    TEXT PRIMARY KEY,
    entity       TEXT NOT NULL,
    owner_clinic TEXT NOT NULL,
    patient_id   TEXT,
    scope_clinic TEXT NOT NULL
);
-- Another clinic's patient opened with a reason: from then on the record syncs to both.
CREATE TABLE patient_grants (
    patient_id TEXT NOT NULL,
    clinic_id  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (patient_id, clinic_id)
);
CREATE INDEX patient_grants_by_clinic ON patient_grants (clinic_id, patient_id);
-- Every read that crosses a clinic's boundary; never changed or deleted.
CREATE TABLE access_log (
    entry_id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    device_id  TEXT NOT NULL,
    clinic_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION outpost_append_only();
-- Who each patient is, for lookups from other clinics: the last value pushed of each field
-- (NULL until one is).
CREATE TABLE patient_directory (
    patient_id    TEXT PRIMARY KEY,
    clinic_id     TEXT NOT NULL,
    number_prefix TEXT,
    number_seq    BIGINT,
    family_name   TEXT,
    given_name    TEXT,
    birth_date    TEXT,
    national_id   TEXT,
    sex           TEXT
);
CREATE INDEX patient_directory_by_number ON patient_directory (number_prefix, number_seq);
CREATE INDEX patient_directory_by_national_id ON patient_directory (national_id);
CREATE INDEX patient_directory_by_family_name ON patient_directory (lower(family_name));
-- Which records refer to which blob, and which device stored each blob (its quota).
CREATE TABLE blob_refs (
    sha256        TEXT NOT NULL,
    patient_id    TEXT NOT NULL,
    scope_clinic  TEXT NOT NULL,
    writer_clinic TEXT NOT NULL,
    PRIMARY KEY (sha256, patient_id, writer_clinic)
);
CREATE TABLE blob_owners (
    sha256    TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    size      BIGINT NOT NULL
);
CREATE INDEX blob_owners_by_device ON blob_owners (device_id);
"#,
    r#"
-- Service accounts: credentials for other programs (the records API), each with its scope;
-- NULL for a workstation.
ALTER TABLE devices ADD COLUMN service_scope TEXT;
"#,
];

/// The tables a district's history is made of, with their columns (`true` for a number), in the
/// order [`super::migrate`] copies them. The same names and columns in both stores.
pub(super) const TABLES: &[(&str, &[(&str, bool)])] = &[
    (
        "clinics",
        &[("clinic_id", false), ("name", false), ("created_at", true)],
    ),
    (
        "enrollment_codes",
        &[
            ("code_hash", false),
            ("clinic_id", false),
            ("created_at", true),
            ("expires_at", true),
            ("used_at", true),
            ("device_id", false),
            ("revoked_at", true),
        ],
    ),
    (
        "devices",
        &[
            ("device_id", false),
            ("clinic_id", false),
            ("name", false),
            ("token_hash", false),
            ("created_at", true),
            ("revoked_at", true),
            ("node_id", false),
            ("last_hlc", false),
            ("inherited_node", false),
            ("service_scope", false),
        ],
    ),
    (
        "change_log",
        &[
            ("server_seq", true),
            ("change_id", false),
            ("entity", false),
            ("entity_id", false),
            ("fields_json", false),
            ("hlc", false),
            ("clinic_id", false),
            ("supersedes_json", false),
            ("device_id", false),
            ("received_at", true),
            ("patient_id", false),
            ("scope_clinic", false),
            ("held_at", true),
        ],
    ),
    (
        "quarantine",
        &[
            ("change_id", false),
            ("entity", false),
            ("entity_id", false),
            ("fields_json", false),
            ("hlc", false),
            ("hlc_millis", true),
            ("clinic_id", false),
            ("supersedes_json", false),
            ("device_id", false),
            ("received_at", true),
            ("reason", false),
            ("patient_id", false),
            ("scope_clinic", false),
        ],
    ),
    ("audit_node", &[("device_id", false), ("node_id", false)]),
    (
        "audit_log",
        &[
            ("node_id", false),
            ("seq", true),
            ("at", false),
            ("user_id", false),
            ("action", false),
            ("patient_id", false),
            ("record_id", false),
            ("prev_hash", false),
            ("hash", false),
            ("device_id", false),
        ],
    ),
    (
        "entities",
        &[
            ("entity_id", false),
            ("entity", false),
            ("owner_clinic", false),
            ("patient_id", false),
            ("scope_clinic", false),
        ],
    ),
    (
        "patient_grants",
        &[
            ("patient_id", false),
            ("clinic_id", false),
            ("reason", false),
            ("device_id", false),
            ("granted_at", true),
        ],
    ),
    (
        "access_log",
        &[
            ("entry_id", true),
            ("at", true),
            ("device_id", false),
            ("clinic_id", false),
            ("kind", false),
            ("patient_id", false),
            ("reason", false),
        ],
    ),
    (
        "patient_directory",
        &[
            ("patient_id", false),
            ("clinic_id", false),
            ("number_prefix", false),
            ("number_seq", true),
            ("family_name", false),
            ("given_name", false),
            ("birth_date", false),
            ("national_id", false),
            ("sex", false),
        ],
    ),
    (
        "blob_refs",
        &[
            ("sha256", false),
            ("patient_id", false),
            ("scope_clinic", false),
            ("writer_clinic", false),
        ],
    ),
    (
        "blob_owners",
        &[("sha256", false), ("device_id", false), ("size", true)],
    ),
];

/// A database error with what PostgreSQL's code and message say, never its detail line (which
/// can quote a row).
#[derive(Debug)]
struct DatabaseFailure(String);

impl std::fmt::Display for DatabaseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DatabaseFailure {}

/// Wraps a PostgreSQL error with what the store was doing.
pub(super) fn pg(context: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |error| {
        let said = match error.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => error.to_string(),
        };
        StoreError::Database {
            context,
            source: Box::new(DatabaseFailure(said)),
        }
    }
}

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;

/// The server store on PostgreSQL and a shared blob folder.
pub struct PostgresServerStore {
    /// Taken only by `Drop`.
    pool: Option<Pool>,
    blobs: BlobFolder,
    /// Where the database is, without the password: for messages.
    target: String,
}

impl std::fmt::Debug for PostgresServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServerStore")
            .field("database", &self.target)
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

/// How to reach a PostgreSQL database.
#[derive(Clone, Default)]
pub struct PostgresTarget {
    /// `postgres://user@host:port/database?sslmode=…`, or the key=value form libpq takes.
    pub url: String,
    /// A PEM file of the CA that signed the database's certificate, when it is not one the
    /// system trusts.
    pub ca_file: Option<PathBuf>,
    /// The password, when it is kept apart from the URL (a secret file).
    pub password: Option<String>,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL can hold the password too: only where it points is shown.
        let shown = postgres::Config::from_str(&self.url)
            .map(|config| describe(&config))
            .unwrap_or_else(|_| "(not a valid database URL)".into());
        f.debug_struct("PostgresTarget")
            .field("database", &shown)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

impl PostgresServerStore {
    /// Connects to the database, brings its schema up to date and opens the blob folder
    /// `blob_dir` (shared by every server process of the district).
    pub fn open(target: &PostgresTarget, blob_dir: &Path) -> Result<Self, StoreError> {
        let context = "connecting to PostgreSQL";
        let mut config = postgres::Config::from_str(&target.url).map_err(pg(context))?;
        if let Some(password) = &target.password {
            config.password(password.as_bytes());
        }
        let described = describe(&config);
        let tls = MakeRustlsConnect::new(tls_config(target.ca_file.as_deref())?);
        let manager = PostgresConnectionManager::new(config, tls);
        let pool = off_runtime(|| {
            r2d2::Pool::builder()
                .max_size(MAX_CONNECTIONS)
                .min_idle(Some(1))
                .connection_timeout(CONNECT_TIMEOUT)
                .build(manager)
        })
        .map_err(|e| StoreError::Database {
            context,
            source: Box::new(DatabaseFailure(format!("{described}: {e}"))),
        })?;
        let store = Self {
            pool: Some(pool),
            blobs: BlobFolder::open(blob_dir.to_path_buf())?,
            target: described,
        };
        store.with_client("updating the database schema", migrate)?;
        Ok(store)
    }

    /// Where the database is, without the password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs `work` with a pooled connection, on a thread of its own when called from async code.
    pub(super) fn with_client<T: Send>(
        &self,
        context: &'static str,
        work: impl FnOnce(&mut Client) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(|| {
            let pool = self.pool.as_ref().ok_or_else(|| StoreError::Database {
                context,
                source: Box::new(DatabaseFailure("the store is closing".into())),
            })?;
            let mut client = pool.get().map_err(|e| StoreError::Database {
                context,
                source: Box::new(DatabaseFailure(format!("{}: {e}", self.target))),
            })?;
            work(&mut client)
        })
    }

    /// Runs `work` in one transaction, committed when it succeeds.
    fn write<T: Send>(
        &self,
        context: &'static str,
        work: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.with_client(context, |client| {
            let mut tx = client.transaction().map_err(pg(context))?;
            let value = work(&mut tx)?;
            tx.commit().map_err(pg(context))?;
            Ok(value)
        })
    }

    /// A page of the log within `range` whose rows also pass `filter` (SQL over `change_log`
    /// whose parameters, from `$4` on, are `filter_params`), leaving out held-back changes.
    /// `order` is `server_seq` after the columns `filter` fixes to one value: the same order,
    /// written as the index that serves the filter is, so the planner walks that index instead
    /// of the whole log's.
    fn page(
        &self,
        filter: &str,
        order: &str,
        filter_params: &[&(dyn ToSql + Sync)],
        range: PageRange,
    ) -> Result<Vec<(u64, ChangeRecord)>, StoreError> {
        let context = "reading changes";
        let sql = format!(
            "SELECT server_seq, {CHANGE_COLUMNS} FROM change_log
             WHERE server_seq > $1 AND server_seq <= $2 AND held_at IS NULL AND {filter}
             ORDER BY {order} LIMIT $3"
        );
        self.with_client(context, |client| {
            let (after, up_to, count) = (
                seq_to_sql(range.after_seq),
                seq_to_sql(range.up_to_seq),
                i64::try_from(range.max_count.max(1)).unwrap_or(i64::MAX),
            );
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&after, &up_to, &count];
            params.extend_from_slice(filter_params);
            let stmt = client.prepare(&sql).map_err(pg(context))?;
            // Rows arrive one at a time: a page stops at its byte budget without holding more.
            let mut rows = client
                .query_raw(&stmt, params.iter().copied())
                .map_err(pg(context))?;
            let mut page = Vec::new();
            let mut bytes = 0usize;
            while let Some(row) = rows.next().map_err(pg(context))? {
                let seq = seq_from_sql(row.try_get(0).map_err(pg(context))?);
                let text = change_text(&row, 1).map_err(pg(context))?;
                let size = text.fields_json.len();
                if !page.is_empty() && bytes.saturating_add(size) > range.max_bytes {
                    break;
                }
                let change = change_from_text(text).map_err(|reason| StoreError::Corrupt {
                    what: format!("change number {seq}"),
                    reason,
                })?;
                bytes = bytes.saturating_add(size);
                page.push((seq, change));
            }
            Ok(page)
        })
    }
}

impl Drop for PostgresServerStore {
    fn drop(&mut self) {
        // Closing a connection blocks too: never on an async runtime's thread.
        if let Some(pool) = self.pool.take() {
            off_runtime(move || drop(pool));
        }
    }
}

/// Runs `work` where the `postgres` client may block: on this thread when it is not driving an
/// async runtime, on a scoped thread of its own when it may be.
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return work();
    }
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// `user@host:port/database`, never the password.
fn describe(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// TLS for a database on another machine: the system's roots, or the CA in `ca_file`. Whether
/// TLS is used follows the URL's `sslmode` (PostgreSQL's own default: prefer it when offered).
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| StoreError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            })? {
                let cert = cert.map_err(|e| StoreError::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
                })?;
                roots.add(cert).map_err(|e| StoreError::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
                })?;
            }
        }
        None => {
            // Certificates the system cannot parse are skipped, as every TLS client does.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| StoreError::Database {
            context: "setting up TLS to PostgreSQL",
            source: Box::new(e),
        })
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let context = "updating the database schema";
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let mut tx = client.transaction().map_err(pg(context))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(pg(context))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS outpost_schema (version BIGINT NOT NULL)")
        .map_err(pg(context))?;
    let found: i64 = match tx
        .query_opt("SELECT version FROM outpost_schema", &[])
        .map_err(pg(context))?
    {
        Some(row) => row.try_get(0).map_err(pg(context))?,
        None => {
            tx.execute("INSERT INTO outpost_schema (version) VALUES (0)", &[])
                .map_err(pg(context))?;
            0
        }
    };
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for step in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.batch_execute(step).map_err(pg(context))?;
    }
    tx.execute("UPDATE outpost_schema SET version = $1", &[&known])
        .map_err(pg(context))?;
    tx.commit().map_err(pg(context))
}

const CHANGE_COLUMNS: &str =
    "change_id, entity, entity_id, fields_json, hlc, clinic_id, supersedes_json";

const DEVICE_COLUMNS: &str =
    "device_id, clinic_id, name, created_at, revoked_at, node_id, service_scope";

/// The columns of [`CHANGE_COLUMNS`] from `first` on.
fn change_text(row: &Row, first: usize) -> Result<ChangeText, postgres::Error> {
    Ok(ChangeText {
        change_id: row.try_get(first)?,
        entity: row.try_get(first + 1)?,
        entity_id: row.try_get(first + 2)?,
        fields_json: row.try_get(first + 3)?,
        hlc: row.try_get(first + 4)?,
        clinic_id: row.try_get(first + 5)?,
        supersedes_json: row.try_get(first + 6)?,
    })
}

fn device_row(row: &Row) -> Result<DeviceRow, postgres::Error> {
    Ok((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
    ))
}

fn clinic_row(row: &Row) -> Result<(String, String, i64), postgres::Error> {
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

fn insert_access(tx: &mut Transaction<'_>, entry: &AccessEntry) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO access_log (at, device_id, clinic_id, kind, patient_id, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &entry.at_millis,
            &entry.device_id.hyphenated().to_string(),
            &entry.clinic_id.to_string(),
            &entry.kind.code(),
            &entry.patient_id.hyphenated().to_string(),
            &entry.reason,
        ],
    )
    .map(drop)
    .map_err(pg("logging access"))
}

/// Takes the change log's lock, then moves quarantined changes stamped at or before
/// `now_millis` into the log, in stamp order. Returns how many moved.
fn lock_log_and_release(tx: &mut Transaction<'_>, now_millis: i64) -> Result<usize, StoreError> {
    let context = "releasing quarantined changes";
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOG_LOCK])
        .map_err(pg(context))?;
    let last: i64 = tx
        .query_one("SELECT coalesce(max(server_seq), 0) FROM change_log", &[])
        .and_then(|row| row.try_get(0))
        .map_err(pg(context))?;
    // A change already in the log (pushed again once its stamp was within the allowed skew) is
    // not copied twice.
    let moved = tx
        .execute(
            &format!(
                "WITH due AS (DELETE FROM quarantine WHERE hlc_millis <= $1 RETURNING *)
                 INSERT INTO change_log (server_seq, {CHANGE_COLUMNS}, device_id, received_at,
                     patient_id, scope_clinic)
                 SELECT $2 + row_number() OVER (ORDER BY hlc COLLATE \"C\", change_id COLLATE \"C\"),
                     {CHANGE_COLUMNS}, device_id, received_at, patient_id, scope_clinic
                 FROM due
                 WHERE NOT EXISTS (SELECT 1 FROM change_log c WHERE c.change_id = due.change_id)"
            ),
            &[&now_millis, &last],
        )
        .map_err(pg(context))?;
    Ok(usize::try_from(moved).unwrap_or(usize::MAX))
}

impl ServerStore for PostgresServerStore {
    fn add_clinic(
        &self,
        clinic: &Clinic,
        code_hash: &str,
        code_expires_at_millis: Option<i64>,
    ) -> Result<(), StoreError> {
        let context = "adding a clinic";
        self.write(context, |tx| {
            let id = clinic.clinic_id.to_string();
            tx.execute(
                "INSERT INTO clinics (clinic_id, name, created_at) VALUES ($1, $2, $3)",
                &[&id, &clinic.name, &clinic.created_at_millis],
            )
            .map_err(pg(context))?;
            tx.execute(
                "INSERT INTO enrollment_codes (code_hash, clinic_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &code_hash,
                    &id,
                    &clinic.created_at_millis,
                    &code_expires_at_millis,
                ],
            )
            .map_err(pg(context))?;
            Ok(())
        })
    }

    fn add_enrollment_code(
        &self,
        clinic_id: ClinicId,
        code_hash: &str,
        now_millis: i64,
        expires_at_millis: Option<i64>,
    ) -> Result<(), StoreError> {
        let context = "adding an enrollment code";
        self.write(context, |tx| {
            let id = clinic_id.to_string();
            let known: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM clinics WHERE clinic_id = $1)",
                    &[&id],
                )
                .and_then(|row| row.try_get(0))
                .map_err(pg(context))?;
            if !known {
                return Err(StoreError::UnknownClinic(clinic_id));
            }
            tx.execute(
                "INSERT INTO enrollment_codes (code_hash, clinic_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[&code_hash, &id, &now_millis, &expires_at_millis],
            )
            .map(drop)
            .map_err(pg(context))
        })
    }

    fn clinics(&self) -> Result<Vec<Clinic>, StoreError> {
        let context = "listing clinics";
        self.with_client(context, |client| {
            client
                .query(
                    "SELECT clinic_id, name, created_at FROM clinics
                     ORDER BY created_at, clinic_id COLLATE \"C\"",
                    &[],
                )
                .map_err(pg(context))?
                .iter()
                .map(|row| clinic_from_parts(clinic_row(row).map_err(pg(context))?))
                .collect()
        })
    }

    fn devices(&self) -> Result<Vec<Device>, StoreError> {
        let context = "listing devices";
        self.with_client(context, |client| {
            client
                .query(
                    &format!(
                        "SELECT {DEVICE_COLUMNS} FROM devices
                         ORDER BY created_at, device_id COLLATE \"C\""
                    ),
                    &[],
                )
                .map_err(pg(context))?
                .iter()
                .map(|row| device_from_parts(device_row(row).map_err(pg(context))?))
                .collect()
        })
    }

    fn revoke_device(&self, device_id: Uuid, now_millis: i64) -> Result<Device, StoreError> {
        let context = "revoking a device";
        self.write(context, |tx| {
            let row = tx
                .query_opt(
                    &format!(
                        "UPDATE devices SET revoked_at = coalesce(revoked_at, $2)
                         WHERE device_id = $1 RETURNING {DEVICE_COLUMNS}"
                    ),
                    &[&device_id.hyphenated().to_string(), &now_millis],
                )
                .map_err(pg(context))?;
            match row {
                Some(row) => device_from_parts(device_row(&row).map_err(pg(context))?),
                None => Err(StoreError::UnknownDevice(device_id)),
            }
        })
    }

    fn enroll_device(
        &self,
        code_hash: &str,
        device: &NewDevice,
        now_millis: i64,
    ) -> Result<(Device, Clinic), StoreError> {
        let context = "enrolling a device";
        let new_id = device.device_id.hyphenated().to_string();
        self.write(context, |tx| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ENROLL_LOCK])
                .map_err(pg(context))?;
            // Using the code up and recording the device happen together or not at all, so a
            // code serves exactly one device.
            let clinic_id: String = match tx
                .query_opt(
                    "UPDATE enrollment_codes SET used_at = $2, device_id = $3
                     WHERE code_hash = $1 AND used_at IS NULL AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > $2)
                     RETURNING clinic_id",
                    &[&code_hash, &now_millis, &new_id],
                )
                .map_err(pg(context))?
            {
                Some(row) => row.try_get(0).map_err(pg(context))?,
                None => return Err(StoreError::CodeRefused),
            };
            if let Some(node) = &device.node_id {
                // A workstation enrolls again with its own clinic (a lost credential), never
                // with another: its node's changes belong to one clinic.
                if node_elsewhere(tx, node, &clinic_id)? {
                    return Err(StoreError::NodeTaken);
                }
            }
            let mut inherited: Option<String> = None;
            if let Some(old) = device.replaces {
                // Taking over: the old device must be this clinic's; it is revoked now, so the
                // workstation it was and the one restored from its backup never both sync.
                let row = tx
                    .query_opt(
                        "UPDATE devices SET revoked_at = coalesce(revoked_at, $3)
                         WHERE device_id = $1 AND clinic_id = $2 RETURNING node_id",
                        &[&old.hyphenated().to_string(), &clinic_id, &now_millis],
                    )
                    .map_err(pg(context))?;
                let Some(row) = row else {
                    return Err(StoreError::UnknownDevice(old));
                };
                inherited = row.try_get(0).map_err(pg(context))?;
                tracing::info!(old_device_id = %old, new_device_id = %device.device_id, "a restored workstation took over its device");
            }
            tx.execute(
                "INSERT INTO devices (device_id, clinic_id, name, token_hash, created_at, node_id,
                                      inherited_node)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &new_id,
                    &clinic_id,
                    &device.name,
                    &device.token_hash,
                    &now_millis,
                    &device.node_id,
                    &inherited,
                ],
            )
            .map_err(pg(context))?;
            let row = tx
                .query_one(
                    "SELECT clinic_id, name, created_at FROM clinics WHERE clinic_id = $1",
                    &[&clinic_id],
                )
                .map_err(pg(context))?;
            let clinic = clinic_from_parts(clinic_row(&row).map_err(pg(context))?)?;
            let device = Device {
                device_id: device.device_id,
                clinic_id: clinic.clinic_id,
                name: device.name.clone(),
                created_at_millis: now_millis,
                revoked_at_millis: None,
                node_id: device.node_id.clone(),
                service: None,
            };
            Ok((device, clinic))
        })
    }

    fn add_service_account(
        &self,
        account: &NewServiceAccount,
        now_millis: i64,
    ) -> Result<Device, StoreError> {
        let context = "adding a service account";
        self.write(context, |tx| {
            let clinic = account.clinic_id.to_string();
            let known: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM clinics WHERE clinic_id = $1)",
                    &[&clinic],
                )
                .and_then(|row| row.try_get(0))
                .map_err(pg(context))?;
            if !known {
                return Err(StoreError::UnknownClinic(account.clinic_id));
            }
            tx.execute(
                "INSERT INTO devices (device_id, clinic_id, name, token_hash, created_at, node_id,
                                      service_scope)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &account.device_id.hyphenated().to_string(),
                    &clinic,
                    &account.name,
                    &account.token_hash,
                    &now_millis,
                    &account.node_id,
                    &account.scope.code(),
                ],
            )
            .map_err(pg(context))?;
            Ok(service_device(account, now_millis))
        })
    }

    fn device_by_token_hash(&self, token_hash: &str) -> Result<Option<Device>, StoreError> {
        let context = "checking a device credential";
        self.with_client(context, |client| {
            let row = client
                .query_opt(
                    &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1"),
                    &[&token_hash],
                )
                .map_err(pg(context))?;
            row.map(|row| device_from_parts(device_row(&row).map_err(pg(context))?))
                .transpose()
        })
    }

    fn push_changes(
        &self,
        device: &Device,
        changes: &[ChangeRecord],
        now_millis: i64,
        max_skew_millis: i64,
    ) -> Result<Vec<Ack>, StoreError> {
        self.write("storing pushed changes", |tx| {
            lock_log_and_release(tx, now_millis)?;
            let mut batch = Batch::fetch(tx, changes, now_millis)?;
            let acks = push::push(&mut batch, device, changes, now_millis, max_skew_millis)?;
            batch.flush()?;
            Ok(acks)
        })
    }

    fn release_quarantined(&self, now_millis: i64) -> Result<usize, StoreError> {
        let context = "releasing quarantined changes";
        // A cheap read first: most of the time nothing is due and no lock is needed.
        let due: bool = self.with_client(context, |client| {
            client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM quarantine WHERE hlc_millis <= $1)",
                    &[&now_millis],
                )
                .and_then(|row| row.try_get(0))
                .map_err(pg(context))
        })?;
        if !due {
            return Ok(0);
        }
        self.write(context, |tx| lock_log_and_release(tx, now_millis))
    }

    fn quarantined(&self) -> Result<Vec<QuarantinedChange>, StoreError> {
        let context = "listing quarantined changes";
        self.with_client(context, |client| {
            let rows = client
                .query(
                    &format!(
                        "SELECT {CHANGE_COLUMNS}, device_id, received_at, reason FROM quarantine
                         ORDER BY hlc COLLATE \"C\", change_id COLLATE \"C\""
                    ),
                    &[],
                )
                .map_err(pg(context))?;
            rows.iter()
                .map(|row| {
                    let text = change_text(row, 0).map_err(pg(context))?;
                    let change = change_from_text(text).map_err(|reason| StoreError::Corrupt {
                        what: "quarantined change".into(),
                        reason,
                    })?;
                    let device_id: String = row.try_get(7).map_err(pg(context))?;
                    let device_id = device_id.parse().map_err(|_| StoreError::Corrupt {
                        what: format!("quarantined change {}", change.change_id),
                        reason: "the device id is not a UUID".into(),
                    })?;
                    Ok(QuarantinedChange {
                        change,
                        device_id,
                        received_at_millis: row.try_get(8).map_err(pg(context))?,
                        reason: row.try_get(9).map_err(pg(context))?,
                    })
                })
                .collect()
        })
    }

    fn append_audit(&self, device: &Device, entries: &[AuditEntry]) -> Result<i64, StoreError> {
        let context = "storing audit entries";
        self.write(context, |tx| {
            // One writer per device's chain at a time, whichever process it reached.
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                &[&device.device_id.hyphenated().to_string()],
            )
            .map_err(pg(context))?;
            chain::append(&mut PgChain(tx), device, entries)
        })
    }

    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let context = "reading audit entries";
        self.with_client(context, |client| {
            let rows = client
                .query(
                    "SELECT node_id, seq::TEXT, at, user_id, action, patient_id, record_id,
                         prev_hash, hash
                     FROM audit_log ORDER BY node_id COLLATE \"C\", seq",
                    &[],
                )
                .map_err(pg(context))?;
            rows.iter()
                .map(|row| {
                    let mut text: [String; 9] = Default::default();
                    for (i, slot) in text.iter_mut().enumerate() {
                        *slot = row.try_get(i).map_err(pg(context))?;
                    }
                    audit_from_text(&text).ok_or_else(|| StoreError::Corrupt {
                        what: format!("audit entry {} of {}", text[1], text[0]),
                        reason: "a stored value cannot be read".into(),
                    })
                })
                .collect()
        })
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        let context = "reading the last sequence number";
        self.with_client(context, |client| {
            client
                .query_one("SELECT coalesce(max(server_seq), 0) FROM change_log", &[])
                .and_then(|row| row.try_get::<_, i64>(0))
                .map(seq_from_sql)
                .map_err(pg(context))
        })
    }

    fn changes_between(
        &self,
        clinic_id: ClinicId,
        after_seq: u64,
        up_to_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, ChangeRecord)>, StoreError> {
        // Two walks, each in the order of its own index, merged by sequence number (as the
        // SQLite store does).
        let clinic = clinic_id.to_string();
        let half = PageRange::new(after_seq, up_to_seq, max_count, (max_bytes / 2).max(1));
        let own = self.page(
            "scope_clinic = $4",
            "scope_clinic, server_seq",
            &[&clinic],
            half,
        )?;
        let shared = self.page(
            "patient_id IN (SELECT g.patient_id FROM patient_grants g WHERE g.clinic_id = $4)
             AND scope_clinic <> $4",
            "server_seq",
            &[&clinic],
            half,
        )?;
        Ok(merge_pages(own, shared, max_count))
    }

    fn clinic_changes_between(
        &self,
        entity: EntityKind,
        clinic_id: ClinicId,
        after_seq: u64,
        up_to_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, ChangeRecord)>, StoreError> {
        let range = PageRange::new(after_seq, up_to_seq, max_count, max_bytes);
        self.page(
            "entity = $4 AND clinic_id = $5",
            "entity, clinic_id, server_seq",
            &[&entity.as_str(), &clinic_id.to_string()],
            range,
        )
    }

    fn patient_changes_between(
        &self,
        patient_id: Uuid,
        after_seq: u64,
        up_to_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, ChangeRecord)>, StoreError> {
        let range = PageRange::new(after_seq, up_to_seq, max_count, max_bytes);
        self.page(
            "patient_id = $4",
            "patient_id, server_seq",
            &[&patient_id.hyphenated().to_string()],
            range,
        )
    }

    fn find_patients(
        &self,
        query: &PatientQuery,
        limit: usize,
    ) -> Result<Vec<PatientHit>, StoreError> {
        let context = "looking patients up";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (filter, params): (&str, Vec<Box<dyn ToSql + Sync + Send>>) = match query {
            PatientQuery::Number { prefix, seq } => (
                "d.number_prefix = $1 AND d.number_seq = $2",
                vec![Box::new(prefix.clone()), Box::new(*seq)],
            ),
            PatientQuery::NationalId(id) => (
                "d.national_id = $1 AND d.national_id <> '' AND $2::BIGINT IS NULL",
                vec![Box::new(id.trim().to_owned()), Box::new(None::<i64>)],
            ),
            PatientQuery::NameAndBirthYear {
                family_name,
                birth_year,
            } => (
                "lower(d.family_name) = lower($1) AND substr(d.birth_date, 1, 4) = $2",
                vec![
                    Box::new(family_name.trim().to_owned()),
                    Box::new(format!("{birth_year:04}")),
                ],
            ),
        };
        let sql = format!(
            "SELECT d.patient_id, d.clinic_id, c.name, coalesce(d.number_prefix, ''), d.number_seq,
                    coalesce(d.family_name, ''), coalesce(d.given_name, ''), d.birth_date,
                    coalesce(d.sex, '')
             FROM patient_directory d JOIN clinics c ON c.clinic_id = d.clinic_id
             WHERE {filter}
             ORDER BY d.family_name COLLATE \"C\", d.given_name COLLATE \"C\",
                      d.patient_id COLLATE \"C\"
             LIMIT $3"
        );
        self.with_client(context, |client| {
            let rows = client
                .query(&sql, &[params[0].as_ref(), params[1].as_ref(), &limit])
                .map_err(pg(context))?;
            let mut hits = Vec::new();
            for row in rows {
                let parts: DirectoryRow = (
                    row.try_get(0).map_err(pg(context))?,
                    row.try_get(1).map_err(pg(context))?,
                    row.try_get(2).map_err(pg(context))?,
                    row.try_get(3).map_err(pg(context))?,
                    row.try_get(4).map_err(pg(context))?,
                    row.try_get(5).map_err(pg(context))?,
                    row.try_get(6).map_err(pg(context))?,
                    row.try_get(7).map_err(pg(context))?,
                    row.try_get(8).map_err(pg(context))?,
                );
                hits.extend(hit_from_row(parts));
            }
            Ok(hits)
        })
    }

    fn max_number_seq(&self, prefix: &str) -> Result<i64, StoreError> {
        let context = "reading the last patient number";
        self.with_client(context, |client| {
            client
                .query_one(
                    "SELECT coalesce(max(number_seq), 0)::BIGINT FROM patient_directory
                     WHERE number_prefix = $1",
                    &[&prefix],
                )
                .and_then(|row| row.try_get(0))
                .map_err(pg(context))
        })
    }

    fn patient_home(&self, patient_id: Uuid) -> Result<Option<ClinicId>, StoreError> {
        let context = "finding a patient's clinic";
        let home: Option<String> = self.with_client(context, |client| {
            client
                .query_opt(
                    "SELECT scope_clinic FROM entities WHERE entity_id = $1 AND entity = 'patient'",
                    &[&patient_id.hyphenated().to_string()],
                )
                .map_err(pg(context))?
                .map(|row| row.try_get(0).map_err(pg(context)))
                .transpose()
        })?;
        home.map(|h| {
            h.parse().map_err(|_| StoreError::Corrupt {
                what: format!("patient {patient_id}"),
                reason: "the clinic id is not a UUID".into(),
            })
        })
        .transpose()
    }

    fn may_see_patient(&self, clinic_id: ClinicId, patient_id: Uuid) -> Result<bool, StoreError> {
        let context = "checking who may see a patient";
        self.with_client(context, |client| {
            client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM entities WHERE entity_id = $2
                                      AND entity = 'patient' AND scope_clinic = $1)
                         OR EXISTS (SELECT 1 FROM patient_grants
                                    WHERE patient_id = $2 AND clinic_id = $1)",
                    &[&clinic_id.to_string(), &patient_id.hyphenated().to_string()],
                )
                .and_then(|row| row.try_get(0))
                .map_err(pg(context))
        })
    }

    fn share_patient(
        &self,
        device: &Device,
        patient_id: Uuid,
        reason: ShareReason,
        now_millis: i64,
    ) -> Result<(), StoreError> {
        let context = "sharing a patient";
        let patient = patient_id.hyphenated().to_string();
        self.write(context, |tx| {
            let known: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM entities
                                    WHERE entity_id = $1 AND entity = 'patient')",
                    &[&patient],
                )
                .and_then(|row| row.try_get(0))
                .map_err(pg(context))?;
            if !known {
                return Err(StoreError::UnknownPatient(patient_id));
            }
            tx.execute(
                "INSERT INTO patient_grants (patient_id, clinic_id, reason, device_id, granted_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[
                    &patient,
                    &device.clinic_id.to_string(),
                    &reason.code(),
                    &device.device_id.hyphenated().to_string(),
                    &now_millis,
                ],
            )
            .map_err(pg(context))?;
            insert_access(
                tx,
                &AccessEntry {
                    at_millis: now_millis,
                    device_id: device.device_id,
                    clinic_id: device.clinic_id,
                    kind: AccessKind::Shared,
                    patient_id,
                    reason: reason.code().to_owned(),
                },
            )
        })
    }

    fn log_access(&self, entries: &[AccessEntry]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write("logging access", |tx| {
            entries
                .iter()
                .try_for_each(|entry| insert_access(tx, entry))
        })
    }

    fn access_log(&self) -> Result<Vec<AccessEntry>, StoreError> {
        let context = "reading the access log";
        self.with_client(context, |client| {
            let rows = client
                .query(
                    "SELECT at, device_id, clinic_id, kind, patient_id, reason FROM access_log
                     ORDER BY entry_id",
                    &[],
                )
                .map_err(pg(context))?;
            rows.iter()
                .map(|row| {
                    let parts: AccessRow = (
                        row.try_get(0).map_err(pg(context))?,
                        row.try_get(1).map_err(pg(context))?,
                        row.try_get(2).map_err(pg(context))?,
                        row.try_get(3).map_err(pg(context))?,
                        row.try_get(4).map_err(pg(context))?,
                        row.try_get(5).map_err(pg(context))?,
                    );
                    access_from_row(parts)
                })
                .collect()
        })
    }

    fn blob_visible(&self, clinic_id: ClinicId, sha256: &BlobHash) -> Result<bool, StoreError> {
        let context = "checking who may see a blob";
        self.with_client(context, |client| {
            client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM blob_refs WHERE sha256 = $1
                        AND (scope_clinic = $2 OR patient_id IN
                            (SELECT g.patient_id FROM patient_grants g WHERE g.clinic_id = $2)))",
                    &[&sha256.as_str(), &clinic_id.to_string()],
                )
                .and_then(|row| row.try_get(0))
                .map_err(pg(context))
        })
    }

    fn blob_written_by(&self, clinic_id: ClinicId, sha256: &BlobHash) -> Result<bool, StoreError> {
        let context = "checking who may upload a blob";
        self.with_client(context, |client| {
            client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM blob_refs WHERE sha256 = $1
                                                              AND writer_clinic = $2)",
                    &[&sha256.as_str(), &clinic_id.to_string()],
                )
                .and_then(|row| row.try_get(0))
                .map_err(pg(context))
        })
    }

    fn blob_state(&self, device_id: Uuid, sha256: &BlobHash) -> Result<BlobState, StoreError> {
        self.blobs.blob_state(device_id, sha256)
    }

    fn begin_upload(
        &self,
        device_id: Uuid,
        sha256: &BlobHash,
        total_size: u64,
    ) -> Result<Box<dyn BlobUpload>, StoreError> {
        self.blobs.begin_upload(device_id, sha256, total_size)
    }

    fn record_blob_stored(
        &self,
        device_id: Uuid,
        sha256: &BlobHash,
        size: u64,
    ) -> Result<(), StoreError> {
        let context = "recording who stored a blob";
        self.write(context, |tx| {
            tx.execute(
                "INSERT INTO blob_owners (sha256, device_id, size) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[
                    &sha256.as_str(),
                    &device_id.hyphenated().to_string(),
                    &i64::try_from(size).unwrap_or(i64::MAX),
                ],
            )
            .map(drop)
            .map_err(pg(context))
        })
    }

    fn stored_bytes(&self, device_id: Uuid) -> Result<u64, StoreError> {
        let context = "counting a device's stored bytes";
        self.with_client(context, |client| {
            client
                .query_one(
                    "SELECT coalesce(sum(size), 0)::BIGINT FROM blob_owners WHERE device_id = $1",
                    &[&device_id.hyphenated().to_string()],
                )
                .and_then(|row| row.try_get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(pg(context))
        })
    }

    fn partial_bytes(&self, device_id: Uuid) -> Result<u64, StoreError> {
        self.blobs.partial_bytes(device_id)
    }

    fn remove_stale_partials(&self, older_than: SystemTime) -> Result<usize, StoreError> {
        self.blobs.remove_stale_partials(older_than)
    }

    fn revoke_enrollment_code(&self, code_hash: &str, now_millis: i64) -> Result<bool, StoreError> {
        let context = "revoking an enrollment code";
        self.write(context, |tx| {
            tx.execute(
                "UPDATE enrollment_codes SET revoked_at = $2
                 WHERE code_hash = $1 AND used_at IS NULL AND revoked_at IS NULL",
                &[&code_hash, &now_millis],
            )
            .map(|n| n > 0)
            .map_err(pg(context))
        })
    }

    fn device_changes(&self, device_id: Uuid) -> Result<Vec<DeviceChange>, StoreError> {
        let context = "listing a device's changes";
        self.with_client(context, |client| {
            let rows = client
                .query(
                    &format!(
                        "SELECT server_seq, {CHANGE_COLUMNS}, received_at, held_at IS NOT NULL
                         FROM change_log WHERE device_id = $1 ORDER BY server_seq"
                    ),
                    &[&device_id.hyphenated().to_string()],
                )
                .map_err(pg(context))?;
            rows.iter()
                .map(|row| {
                    let seq = seq_from_sql(row.try_get(0).map_err(pg(context))?);
                    let text = change_text(row, 1).map_err(pg(context))?;
                    Ok(DeviceChange {
                        seq,
                        change: change_from_text(text).map_err(|reason| StoreError::Corrupt {
                            what: format!("change number {seq}"),
                            reason,
                        })?,
                        received_at_millis: row.try_get(8).map_err(pg(context))?,
                        held: row.try_get(9).map_err(pg(context))?,
                    })
                })
                .collect()
        })
    }

    fn hold_device_changes(&self, device_id: Uuid) -> Result<usize, StoreError> {
        let context = "holding a device's changes";
        let now = chrono::Utc::now().timestamp_millis();
        let id = device_id.hyphenated().to_string();
        self.write(context, |tx| {
            let held = tx
                .execute(
                    "UPDATE change_log SET held_at = $2 WHERE device_id = $1 AND held_at IS NULL",
                    &[&id, &now],
                )
                .map_err(pg(context))?;
            tx.execute("DELETE FROM quarantine WHERE device_id = $1", &[&id])
                .map_err(pg(context))?;
            Ok(usize::try_from(held).unwrap_or(usize::MAX))
        })
    }

    fn open_blob(&self, sha256: &BlobHash) -> Result<Option<OpenedBlob>, StoreError> {
        self.blobs.open_blob(sha256)
    }
}

fn node_elsewhere(
    tx: &mut Transaction<'_>,
    node: &str,
    clinic_id: &str,
) -> Result<bool, StoreError> {
    tx.query_one(
        "SELECT EXISTS (SELECT 1 FROM devices
                        WHERE node_id = $1 AND clinic_id <> $2 AND revoked_at IS NULL)",
        &[&node, &clinic_id],
    )
    .and_then(|row| row.try_get(0))
    .map_err(pg("checking a workstation's clock node"))
}

/// A push's view of the store: the records, grants and change ids the batch names, fetched at
/// once; what the rules add, gathered and written by [`Batch::flush`]. A record the batch did
/// not name (it cannot happen with the rules as written, but they may grow) is looked up alone.
struct Batch<'a, 't> {
    tx: &'a mut Transaction<'t>,
    received_at: i64,
    entities: HashMap<String, Option<KnownEntity>>,
    grants: HashMap<(String, String), bool>,
    logged: HashMap<String, u64>,
    quarantined: HashMap<String, String>,
    last_seq: u64,
    new_entities: Vec<(String, KnownEntity)>,
    blob_refs: Vec<[String; 4]>,
    directory: HashMap<String, (String, DirectoryValues)>,
    log: Vec<LogRow>,
    held: Vec<(LogRow, i64, String)>,
    device_id: String,
}

/// A change as it goes into the log or the quarantine.
struct LogRow {
    text: ChangeText,
    patient_id: Option<String>,
    scope_clinic: String,
}

impl<'a, 't> Batch<'a, 't> {
    fn fetch(
        tx: &'a mut Transaction<'t>,
        changes: &[ChangeRecord],
        received_at: i64,
    ) -> Result<Self, StoreError> {
        let context = "storing pushed changes";
        let last_seq: i64 = tx
            .query_one("SELECT coalesce(max(server_seq), 0) FROM change_log", &[])
            .and_then(|row| row.try_get(0))
            .map_err(pg(context))?;
        let change_ids: Vec<String> = changes.iter().map(|c| c.change_id.to_string()).collect();
        let mut logged = HashMap::new();
        for row in tx
            .query(
                "SELECT change_id, server_seq FROM change_log WHERE change_id = ANY($1)",
                &[&change_ids],
            )
            .map_err(pg(context))?
        {
            let seq: i64 = row.try_get(1).map_err(pg(context))?;
            logged.insert(row.try_get(0).map_err(pg(context))?, seq_from_sql(seq));
        }
        let mut quarantined = HashMap::new();
        for row in tx
            .query(
                "SELECT change_id, reason FROM quarantine WHERE change_id = ANY($1)",
                &[&change_ids],
            )
            .map_err(pg(context))?
        {
            quarantined.insert(
                row.try_get(0).map_err(pg(context))?,
                row.try_get(1).map_err(pg(context))?,
            );
        }
        // Every record the rules may ask about: the changed records, their patients and visits,
        // and (second round) the patients of those visits.
        let mut wanted: HashSet<String> = HashSet::new();
        for change in changes {
            wanted.insert(change.entity_id.hyphenated().to_string());
            for field in ["patient_id", "encounter_id"] {
                if let Some(id) = change.fields.get(field).and_then(|v| v.as_str()) {
                    wanted.insert(id.to_owned());
                }
            }
        }
        let mut batch = Self {
            tx,
            received_at,
            entities: HashMap::new(),
            grants: HashMap::new(),
            logged,
            quarantined,
            last_seq: seq_from_sql(last_seq),
            new_entities: Vec::new(),
            blob_refs: Vec::new(),
            directory: HashMap::new(),
            log: Vec::new(),
            held: Vec::new(),
            device_id: String::new(),
        };
        batch.fetch_entities(wanted)?;
        let patients: HashSet<String> = batch
            .entities
            .values()
            .flatten()
            .filter_map(|e| e.patient_id.clone())
            .filter(|p| !batch.entities.contains_key(p))
            .collect();
        batch.fetch_entities(patients)?;
        // Grants of the pushing clinics for those patients.
        let clinics: Vec<String> = changes
            .iter()
            .map(|c| c.clinic_id.to_string())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let patients: Vec<String> = batch
            .entities
            .iter()
            .filter(|(_, e)| e.as_ref().is_some_and(|e| e.entity == "patient"))
            .map(|(id, _)| id.clone())
            .collect();
        for clinic in &clinics {
            for patient in &patients {
                batch
                    .grants
                    .insert((clinic.clone(), patient.clone()), false);
            }
        }
        if !patients.is_empty() {
            for row in batch
                .tx
                .query(
                    "SELECT clinic_id, patient_id FROM patient_grants
                     WHERE clinic_id = ANY($1) AND patient_id = ANY($2)",
                    &[&clinics, &patients],
                )
                .map_err(pg(context))?
            {
                batch.grants.insert(
                    (
                        row.try_get(0).map_err(pg(context))?,
                        row.try_get(1).map_err(pg(context))?,
                    ),
                    true,
                );
            }
        }
        Ok(batch)
    }

    fn fetch_entities(&mut self, ids: HashSet<String>) -> Result<(), StoreError> {
        let context = "checking who may write a record";
        let ids: Vec<String> = ids.into_iter().collect();
        if ids.is_empty() {
            return Ok(());
        }
        for id in &ids {
            self.entities.insert(id.clone(), None);
        }
        for row in self
            .tx
            .query(
                "SELECT entity_id, entity, owner_clinic, patient_id, scope_clinic FROM entities
                 WHERE entity_id = ANY($1)",
                &[&ids],
            )
            .map_err(pg(context))?
        {
            self.entities.insert(
                row.try_get(0).map_err(pg(context))?,
                Some(known_entity(&row, 1).map_err(pg(context))?),
            );
        }
        Ok(())
    }

    /// Writes what the batch gathered: new records, blob references, directory entries, the
    /// log's new rows and the quarantine's.
    fn flush(self) -> Result<(), StoreError> {
        let context = "storing pushed changes";
        let tx = self.tx;
        if !self.new_entities.is_empty() {
            let mut columns: [Vec<Option<String>>; 5] = Default::default();
            for (id, known) in self.new_entities {
                columns[0].push(Some(id));
                columns[1].push(Some(known.entity));
                columns[2].push(Some(known.owner_clinic));
                columns[3].push(known.patient_id);
                columns[4].push(Some(known.scope_clinic));
            }
            tx.execute(
                "INSERT INTO entities (entity_id, entity, owner_clinic, patient_id, scope_clinic)
                 SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[])",
                &[
                    &columns[0],
                    &columns[1],
                    &columns[2],
                    &columns[3],
                    &columns[4],
                ],
            )
            .map_err(pg(context))?;
        }
        if !self.blob_refs.is_empty() {
            let mut columns: [Vec<String>; 4] = Default::default();
            for row in self.blob_refs {
                for (column, value) in columns.iter_mut().zip(row) {
                    column.push(value);
                }
            }
            tx.execute(
                "INSERT INTO blob_refs (sha256, patient_id, scope_clinic, writer_clinic)
                 SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[])
                 ON CONFLICT DO NOTHING",
                &[&columns[0], &columns[1], &columns[2], &columns[3]],
            )
            .map_err(pg(context))?;
        }
        if !self.directory.is_empty() {
            write_directory(tx, self.directory)?;
        }
        if !self.log.is_empty() {
            let first = self.last_seq + 1 - self.log.len() as u64;
            let seqs: Vec<i64> = (0..self.log.len() as u64)
                .map(|i| seq_to_sql(first + i))
                .collect();
            let columns = LogColumns::from(self.log);
            tx.execute(
                &format!(
                    "INSERT INTO change_log (server_seq, {CHANGE_COLUMNS}, device_id,
                         received_at, patient_id, scope_clinic)
                     SELECT s, c, e, i, f, h, k, p, $11, $12, pa, sc
                     FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                                 $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[])
                          AS t(s, c, e, i, f, h, k, p, pa, sc)"
                ),
                &[
                    &seqs,
                    &columns.change_id,
                    &columns.entity,
                    &columns.entity_id,
                    &columns.fields_json,
                    &columns.hlc,
                    &columns.clinic_id,
                    &columns.supersedes_json,
                    &columns.patient_id,
                    &columns.scope_clinic,
                    &self.device_id,
                    &self.received_at,
                ],
            )
            .map_err(pg(context))?;
        }
        if !self.held.is_empty() {
            let (rows, rest): (Vec<LogRow>, Vec<(i64, String)>) = self
                .held
                .into_iter()
                .map(|(row, millis, reason)| (row, (millis, reason)))
                .unzip();
            let (millis, reasons): (Vec<i64>, Vec<String>) = rest.into_iter().unzip();
            let columns = LogColumns::from(rows);
            tx.execute(
                &format!(
                    "INSERT INTO quarantine ({CHANGE_COLUMNS}, device_id, received_at,
                         hlc_millis, reason, patient_id, scope_clinic)
                     SELECT c, e, i, f, h, k, p, $12, $13, m, r, pa, sc
                     FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                                 $6::TEXT[], $7::TEXT[], $8::BIGINT[], $9::TEXT[], $10::TEXT[],
                                 $11::TEXT[])
                          AS t(c, e, i, f, h, k, p, m, r, pa, sc)"
                ),
                &[
                    &columns.change_id,
                    &columns.entity,
                    &columns.entity_id,
                    &columns.fields_json,
                    &columns.hlc,
                    &columns.clinic_id,
                    &columns.supersedes_json,
                    &millis,
                    &reasons,
                    &columns.patient_id,
                    &columns.scope_clinic,
                    &self.device_id,
                    &self.received_at,
                ],
            )
            .map_err(pg(context))?;
        }
        Ok(())
    }
}

/// Log rows as one array per column, for `unnest`.
#[derive(Default)]
struct LogColumns {
    change_id: Vec<String>,
    entity: Vec<String>,
    entity_id: Vec<String>,
    fields_json: Vec<String>,
    hlc: Vec<String>,
    clinic_id: Vec<String>,
    supersedes_json: Vec<String>,
    patient_id: Vec<Option<String>>,
    scope_clinic: Vec<String>,
}

impl From<Vec<LogRow>> for LogColumns {
    fn from(rows: Vec<LogRow>) -> Self {
        let mut columns = Self::default();
        for row in rows {
            columns.change_id.push(row.text.change_id);
            columns.entity.push(row.text.entity);
            columns.entity_id.push(row.text.entity_id);
            columns.fields_json.push(row.text.fields_json);
            columns.hlc.push(row.text.hlc);
            columns.clinic_id.push(row.text.clinic_id);
            columns.supersedes_json.push(row.text.supersedes_json);
            columns.patient_id.push(row.patient_id);
            columns.scope_clinic.push(row.scope_clinic);
        }
        columns
    }
}

/// Writes directory entries, each made if missing; a field with no value keeps the one held.
fn write_directory(
    tx: &mut Transaction<'_>,
    entries: HashMap<String, (String, DirectoryValues)>,
) -> Result<(), StoreError> {
    let mut patients = Vec::new();
    let mut clinics = Vec::new();
    let mut texts: [Vec<Option<String>>; 6] = Default::default();
    let mut number_seqs: Vec<Option<i64>> = Vec::new();
    for (patient, (clinic, values)) in entries {
        patients.push(patient);
        clinics.push(clinic);
        let mut text_column = 0;
        for (field, value) in DIRECTORY_FIELDS.iter().zip(values) {
            if *field == "number_seq" {
                number_seqs.push(value.and_then(|v| match v {
                    DirectoryValue::Integer(n) => Some(n),
                    DirectoryValue::Text(t) => t.trim().parse().ok(),
                }));
            } else {
                texts[text_column].push(value.map(|v| match v {
                    DirectoryValue::Text(t) => t,
                    DirectoryValue::Integer(n) => n.to_string(),
                }));
                text_column += 1;
            }
        }
    }
    // The names come from the fixed list, never from a change.
    let text_fields: Vec<&str> = DIRECTORY_FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "number_seq")
        .collect();
    let sets: Vec<String> = DIRECTORY_FIELDS
        .iter()
        .map(|f| format!("{f} = coalesce(EXCLUDED.{f}, patient_directory.{f})"))
        .collect();
    let sql = format!(
        "INSERT INTO patient_directory (patient_id, clinic_id, number_seq, {fields})
         SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
                              $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[])
         ON CONFLICT (patient_id) DO UPDATE SET {sets}",
        fields = text_fields.join(", "),
        sets = sets.join(", ")
    );
    tx.execute(
        &sql,
        &[
            &patients,
            &clinics,
            &number_seqs,
            &texts[0],
            &texts[1],
            &texts[2],
            &texts[3],
            &texts[4],
            &texts[5],
        ],
    )
    .map(drop)
    .map_err(pg("updating the patient directory"))
}

fn known_entity(row: &Row, first: usize) -> Result<KnownEntity, postgres::Error> {
    Ok(KnownEntity {
        entity: row.try_get(first)?,
        owner_clinic: row.try_get(first + 1)?,
        patient_id: row.try_get(first + 2)?,
        scope_clinic: row.try_get(first + 3)?,
    })
}

impl Records for Batch<'_, '_> {
    fn entity(&mut self, entity_id: &str) -> Result<Option<KnownEntity>, StoreError> {
        if let Some(known) = self.entities.get(entity_id) {
            return Ok(known.clone());
        }
        self.fetch_entities(HashSet::from([entity_id.to_owned()]))?;
        Ok(self.entities.get(entity_id).cloned().flatten())
    }

    fn granted(&mut self, clinic_id: &str, patient_id: &str) -> Result<bool, StoreError> {
        let key = (clinic_id.to_owned(), patient_id.to_owned());
        if let Some(granted) = self.grants.get(&key) {
            return Ok(*granted);
        }
        let granted: bool = self
            .tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM patient_grants
                                WHERE clinic_id = $1 AND patient_id = $2)",
                &[&clinic_id, &patient_id],
            )
            .and_then(|row| row.try_get(0))
            .map_err(pg("checking who may see a patient"))?;
        self.grants.insert(key, granted);
        Ok(granted)
    }

    fn add_entity(&mut self, entity_id: &str, known: KnownEntity) -> Result<(), StoreError> {
        self.entities
            .insert(entity_id.to_owned(), Some(known.clone()));
        self.new_entities.push((entity_id.to_owned(), known));
        Ok(())
    }

    fn add_blob_ref(
        &mut self,
        sha256: &str,
        patient_id: &str,
        scope_clinic: &str,
        writer_clinic: &str,
    ) -> Result<(), StoreError> {
        self.blob_refs.push([
            sha256.to_owned(),
            patient_id.to_owned(),
            scope_clinic.to_owned(),
            writer_clinic.to_owned(),
        ]);
        Ok(())
    }

    fn update_directory(
        &mut self,
        patient_id: &str,
        clinic_id: &str,
        values: &DirectoryValues,
    ) -> Result<(), StoreError> {
        // Later changes of the batch win field by field, as they would one by one.
        let entry = self
            .directory
            .entry(patient_id.to_owned())
            .or_insert_with(|| (clinic_id.to_owned(), Default::default()));
        for (held, value) in entry.1.iter_mut().zip(values) {
            if value.is_some() {
                held.clone_from(value);
            }
        }
        Ok(())
    }
}

impl ChangeLog for Batch<'_, '_> {
    fn device_clock(&mut self, device_id: &str) -> Result<DeviceClock, StoreError> {
        self.device_id = device_id.to_owned();
        let row = self
            .tx
            .query_one(
                "SELECT node_id, last_hlc, inherited_node FROM devices WHERE device_id = $1",
                &[&device_id],
            )
            .map_err(pg("storing pushed changes"))?;
        Ok(DeviceClock {
            node: row.try_get(0).map_err(pg("storing pushed changes"))?,
            last_hlc: row.try_get(1).map_err(pg("storing pushed changes"))?,
            inherited: row.try_get(2).map_err(pg("storing pushed changes"))?,
        })
    }

    fn logged_seq(&mut self, change_id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.logged.get(change_id).copied())
    }

    fn quarantined_reason(&mut self, change_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.quarantined.get(change_id).cloned())
    }

    fn node_elsewhere(&mut self, node: &str, clinic_id: &str) -> Result<bool, StoreError> {
        node_elsewhere(self.tx, node, clinic_id)
    }

    fn append(
        &mut self,
        change: Incoming<'_>,
        _device_id: &str,
        _now_millis: i64,
    ) -> Result<u64, StoreError> {
        self.last_seq += 1;
        self.logged
            .insert(change.text.change_id.clone(), self.last_seq);
        self.log.push(LogRow {
            text: change.text.clone(),
            patient_id: change.placement.patient_id.clone(),
            scope_clinic: change.placement.scope_clinic.clone(),
        });
        Ok(self.last_seq)
    }

    fn quarantine(
        &mut self,
        change: Incoming<'_>,
        _device_id: &str,
        _now_millis: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.quarantined
            .insert(change.text.change_id.clone(), reason.to_owned());
        self.held.push((
            LogRow {
                text: change.text.clone(),
                patient_id: change.placement.patient_id.clone(),
                scope_clinic: change.placement.scope_clinic.clone(),
            },
            change.hlc_millis,
            reason.to_owned(),
        ));
        Ok(())
    }

    fn set_device_clock(
        &mut self,
        device_id: &str,
        node: Option<&str>,
        last_hlc: Option<&str>,
    ) -> Result<(), StoreError> {
        self.tx
            .execute(
                "UPDATE devices SET node_id = $2, last_hlc = $3 WHERE device_id = $1",
                &[&device_id, &node, &last_hlc],
            )
            .map(drop)
            .map_err(pg("storing pushed changes"))
    }
}

/// The chain check's questions answered on a PostgreSQL transaction.
struct PgChain<'a, 't>(&'a mut Transaction<'t>);

impl ChainStore for PgChain<'_, '_> {
    fn chain_node(&mut self, device_id: &str) -> Result<Option<String>, StoreError> {
        let context = "storing audit entries";
        self.0
            .query_opt(
                "SELECT node_id FROM audit_node WHERE device_id = $1",
                &[&device_id],
            )
            .map_err(pg(context))?
            .map(|row| row.try_get(0).map_err(pg(context)))
            .transpose()
    }

    fn bind_chain_node(&mut self, device_id: &str, node: &str) -> Result<bool, StoreError> {
        self.0
            .execute(
                "INSERT INTO audit_node (device_id, node_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&device_id, &node],
            )
            .map(|n| n > 0)
            .map_err(pg("storing audit entries"))
    }

    fn chain_end(&mut self, node: &str) -> Result<Option<(i64, String)>, StoreError> {
        let context = "storing audit entries";
        self.0
            .query_opt(
                "SELECT seq, hash FROM audit_log WHERE node_id = $1 ORDER BY seq DESC LIMIT 1",
                &[&node],
            )
            .map_err(pg(context))?
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .transpose()
            .map_err(pg(context))
    }

    fn chain_hash(&mut self, node: &str, seq: i64) -> Result<Option<String>, StoreError> {
        let context = "storing audit entries";
        self.0
            .query_opt(
                "SELECT hash FROM audit_log WHERE node_id = $1 AND seq = $2",
                &[&node, &seq],
            )
            .map_err(pg(context))?
            .map(|row| row.try_get(0).map_err(pg(context)))
            .transpose()
    }

    fn add_chain_entry(
        &mut self,
        node: &str,
        entry: &AuditEntry,
        device_id: &str,
    ) -> Result<(), StoreError> {
        let [at, user, action, patient, record, prev_hash, hash] = chain::entry_columns(entry);
        self.0
            .execute(
                "INSERT INTO audit_log (node_id, seq, at, user_id, action, patient_id,
                     record_id, prev_hash, hash, device_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &node, &entry.seq, &at, &user, &action, &patient, &record, &prev_hash, &hash,
                    &device_id,
                ],
            )
            .map(drop)
            .map_err(pg("storing audit entries"))
    }
}
