//! The default server store: one embedded SQLite file (`server.sqlite3`, WAL) and a blob
//! directory, both in the server's data directory.
//!
//! Writes go through one connection behind a mutex (SQLite allows one writer at a time anyway,
//! and serialising writers is what keeps sequence numbers visible in order); reads use a small
//! pool of their own connections, so pulls and credential checks do not wait for pushes.
//! Commits are fully synchronous: once a workstation has an acknowledgement it may forget the
//! change, so an acknowledged change must survive a power cut.
//!
//! Blobs live at `blobs/<first two hex digits>/<sha256>` once complete and checked; uploads in
//! progress at `blobs/partial/<device id>/<sha256>`, where a cut upload resumes: each device's
//! upload is its own, so no device can block or spoil another's.
//!
//! The rules of who may write and see what are in [`super::scope`]; this file applies them as
//! changes are pushed and pulled.

use super::blobs::BlobFolder;
use super::chain::{self, ChainStore};
use super::push::{self, ChangeLog, DeviceClock, Incoming};
use super::rows::{
    AccessRow, DeviceRow, DirectoryRow, PageRange, access_from_row, audit_from_text,
    change_from_text, clinic_from_parts, device_from_parts, hit_from_row, merge_pages,
    seq_from_sql, seq_to_sql, service_device,
};
use super::scope::{self, on_sqlite::SqliteRecords};
use super::store::{
    AccessEntry, AccessKind, BlobState, BlobUpload, Clinic, Device, DeviceChange, NewDevice,
    NewServiceAccount, OpenedBlob, PatientHit, PatientQuery, QuarantinedChange, ServerStore,
    ShareReason, StoreError,
};
use crate::model::{AuditEntry, ChangeRecord, ClinicId, EntityKind};
use crate::sync::wire::{Ack, BlobHash, ChangeText};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use uuid::Uuid;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "server.sqlite3";

/// Directory of blobs inside the data directory.
pub(super) const BLOB_DIR: &str = "blobs";

/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// How long a statement waits for another process (an administrator's command) holding the
/// database before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema, one step per entry; `PRAGMA user_version` counts the steps that ran. A step that
/// has shipped is never edited.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE clinics (
    clinic_id  TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE enrollment_codes (
    code_hash  TEXT PRIMARY KEY,
    clinic_id  TEXT NOT NULL REFERENCES clinics (clinic_id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    used_at    INTEGER,
    device_id  TEXT
);
CREATE TABLE devices (
    device_id  TEXT PRIMARY KEY,
    clinic_id  TEXT NOT NULL REFERENCES clinics (clinic_id),
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
-- Rows are never deleted, so server_seq only grows.
CREATE TABLE change_log (
    server_seq      INTEGER PRIMARY KEY,
    change_id       TEXT NOT NULL UNIQUE,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    fields_json     TEXT NOT NULL,
    hlc             TEXT NOT NULL,
    clinic_id       TEXT NOT NULL,
    supersedes_json TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    received_at     INTEGER NOT NULL
);
CREATE TABLE quarantine (
    change_id       TEXT PRIMARY KEY,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    fields_json     TEXT NOT NULL,
    hlc             TEXT NOT NULL,
    hlc_millis      INTEGER NOT NULL,
    clinic_id       TEXT NOT NULL,
    supersedes_json TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    received_at     INTEGER NOT NULL,
    reason          TEXT NOT NULL
);
CREATE INDEX quarantine_by_stamp ON quarantine (hlc_millis);
"#,
    r#"
-- Each workstation's audit chain, append-only: entries are checked link by link as they arrive
-- and never updated or deleted (the triggers refuse it).
CREATE TABLE audit_node (
    device_id TEXT PRIMARY KEY,
    node_id   TEXT NOT NULL UNIQUE
);
CREATE TABLE audit_log (
    node_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
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
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit entries are never changed');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit entries are never deleted');
END;
"#,
    r#"
-- Each device's clock node (every change it pushes is stamped with it) and the highest stamp it
-- pushed; nodes already known from audit chains are bound now.
ALTER TABLE devices ADD COLUMN node_id TEXT;
ALTER TABLE devices ADD COLUMN last_hlc TEXT;
UPDATE devices SET node_id = (SELECT a.node_id FROM audit_node a WHERE a.device_id = devices.device_id);
CREATE INDEX devices_by_node ON devices (node_id);
ALTER TABLE enrollment_codes ADD COLUMN revoked_at INTEGER;

-- Every record: the clinic that created it (the only one that may change it), the patient whose
-- record it is part of (none for users), and the clinic whose record that is (the patient's, or
-- the user's): who may see it.
CREATE TABLE entities (
    entity_id    TEXT PRIMARY KEY,
    entity       TEXT NOT NULL,
    owner_clinic TEXT NOT NULL,
    patient_id   TEXT,
    scope_clinic TEXT NOT NULL
);
INSERT OR IGNORE INTO entities
    SELECT entity_id, entity, clinic_id, CASE entity WHEN 'patient' THEN entity_id END, clinic_id
    FROM change_log WHERE entity IN ('patient', 'user') ORDER BY server_seq;
INSERT OR IGNORE INTO entities
    SELECT c.entity_id, c.entity, c.clinic_id, p.entity_id, p.scope_clinic
    FROM change_log c
    JOIN entities p ON p.entity = 'patient'
        AND p.entity_id = json_extract(c.fields_json, '$.patient_id')
    WHERE c.entity IN ('allergy', 'problem', 'encounter', 'attachment') ORDER BY c.server_seq;
INSERT OR IGNORE INTO entities
    SELECT c.entity_id, c.entity, c.clinic_id, e.patient_id, e.scope_clinic
    FROM change_log c
    JOIN entities e ON e.entity = 'encounter'
        AND e.entity_id = json_extract(c.fields_json, '$.encounter_id')
    WHERE c.entity = 'amendment' ORDER BY c.server_seq;

ALTER TABLE change_log ADD COLUMN patient_id TEXT;
ALTER TABLE change_log ADD COLUMN scope_clinic TEXT;
ALTER TABLE change_log ADD COLUMN held_at INTEGER;
UPDATE change_log SET (patient_id, scope_clinic) =
    (SELECT e.patient_id, e.scope_clinic FROM entities e WHERE e.entity_id = change_log.entity_id);
CREATE INDEX change_log_by_scope ON change_log (scope_clinic, server_seq);
CREATE INDEX change_log_by_patient ON change_log (patient_id, server_seq);
CREATE INDEX change_log_by_device ON change_log (device_id, server_seq);
ALTER TABLE quarantine ADD COLUMN patient_id TEXT;
ALTER TABLE quarantine ADD COLUMN scope_clinic TEXT;
UPDATE quarantine SET (patient_id, scope_clinic) =
    (SELECT e.patient_id, e.scope_clinic FROM entities e WHERE e.entity_id = quarantine.entity_id);

-- Another clinic's patient opened with a reason: from then on the record syncs to both.
CREATE TABLE patient_grants (
    patient_id TEXT NOT NULL,
    clinic_id  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (patient_id, clinic_id)
);
CREATE INDEX patient_grants_by_clinic ON patient_grants (clinic_id, patient_id);

-- Every read that crosses a clinic's boundary; never changed or deleted.
CREATE TABLE access_log (
    entry_id   INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    device_id  TEXT NOT NULL,
    clinic_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'access log entries are never changed');
END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'access log entries are never deleted');
END;

-- Who each patient is, for lookups from other clinics: the last value pushed of each field.
CREATE TABLE patient_directory (
    patient_id    TEXT PRIMARY KEY,
    clinic_id     TEXT NOT NULL,
    number_prefix TEXT NOT NULL DEFAULT '',
    number_seq    INTEGER,
    family_name   TEXT NOT NULL DEFAULT '',
    given_name    TEXT NOT NULL DEFAULT '',
    birth_date    TEXT,
    national_id   TEXT NOT NULL DEFAULT '',
    sex           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX patient_directory_by_number ON patient_directory (number_prefix, number_seq);
CREATE INDEX patient_directory_by_national_id ON patient_directory (national_id);
CREATE INDEX patient_directory_by_family_name ON patient_directory (family_name COLLATE NOCASE);

-- Which records refer to which blob: a blob goes only to a clinic that may see one of them, and
-- comes only from a clinic that wrote one.
CREATE TABLE blob_refs (
    sha256        TEXT NOT NULL,
    patient_id    TEXT NOT NULL,
    scope_clinic  TEXT NOT NULL,
    writer_clinic TEXT NOT NULL,
    PRIMARY KEY (sha256, patient_id, writer_clinic)
);
-- Which device stored each blob, for the per-device quota of stored bytes.
CREATE TABLE blob_owners (
    sha256    TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    size      INTEGER NOT NULL
);
CREATE INDEX blob_owners_by_device ON blob_owners (device_id);
INSERT OR IGNORE INTO blob_refs
    SELECT json_extract(fields_json, '$.blob_sha256'), patient_id, scope_clinic, clinic_id
    FROM change_log
    WHERE entity = 'attachment' AND patient_id IS NOT NULL
        AND json_extract(fields_json, '$.blob_sha256') IS NOT NULL;
"#,
    r#"
-- A workstation restored from a backup that took over its old device also pushes the changes
-- the old one stamped and never sent: the old device's clock node, inherited.
ALTER TABLE devices ADD COLUMN inherited_node TEXT;
"#,
    r#"
-- Service accounts: credentials for other programs (the records API), each with its scope;
-- NULL for a workstation.
ALTER TABLE devices ADD COLUMN service_scope TEXT;
"#,
];

/// The schema step that added the patient directory, which is filled from the log in Rust.
const DIRECTORY_STEP: i64 = 3;

/// The server store on SQLite and the local file system.
pub struct SqliteServerStore {
    db_path: PathBuf,
    blobs: BlobFolder,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteServerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteServerStore")
            .field("db_path", &self.db_path)
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

/// Locks a mutex even if a thread panicked while holding it: the connection inside is still
/// usable (an open transaction was rolled back when it was dropped).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SqliteServerStore {
    /// Opens (creating if needed) the store in `data_dir` and brings its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(data_dir).map_err(StoreError::io(data_dir))?;
        let blobs = BlobFolder::open(data_dir.join(BLOB_DIR))?;
        let db_path = data_dir.join(DATABASE_FILE);
        let mut writer = open_connection(&db_path)?;
        migrate(&mut writer)?;
        Ok(Self {
            db_path,
            blobs,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// The database file.
    pub fn database_path(&self) -> &Path {
        &self.db_path
    }

    /// Writes a consistent copy of the store into `dest` (a new or empty folder) while it
    /// serves: the database as one snapshot (`VACUUM INTO`), then every complete blob (blobs
    /// never change once complete, and one the snapshot names was complete before it).
    /// Unfinished uploads are left out. Returns how many blobs were copied.
    pub fn backup_to(&self, dest: &Path) -> Result<usize, StoreError> {
        if dest.exists()
            && fs::read_dir(dest)
                .map_err(StoreError::io(dest))?
                .next()
                .is_some()
        {
            return Err(StoreError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "not empty: a backup goes into a new folder",
                ),
            });
        }
        fs::create_dir_all(dest).map_err(StoreError::io(dest))?;
        let database = dest.join(DATABASE_FILE);
        let target = database.to_string_lossy().into_owned();
        self.read(|conn| {
            conn.execute("VACUUM INTO ?1", [&target])
                .map(drop)
                .map_err(StoreError::database("writing the backup"))
        })?;
        self.blobs.copy_complete_to(&dest.join(BLOB_DIR))
    }

    fn read<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_connection(&self.db_path)?,
        };
        let result = work(&conn);
        let mut readers = lock(&self.readers);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }

    fn write<T>(
        &self,
        context: &'static str,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = lock(&self.writer);
        // IMMEDIATE takes the write lock up front, so a transaction never fails half-way
        // because another process started writing.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::database(context))?;
        let value = work(&tx)?;
        tx.commit().map_err(StoreError::database(context))?;
        Ok(value)
    }

    /// A page of the log within `range` whose rows also pass `filter` (SQL over `change_log`
    /// whose parameters, from `?4` on, are `filter_params`), leaving out held-back changes.
    fn page(
        &self,
        filter: &str,
        filter_params: &[&dyn rusqlite::ToSql],
        range: PageRange,
    ) -> Result<Vec<(u64, ChangeRecord)>, StoreError> {
        let context = "reading changes";
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT server_seq, {CHANGE_COLUMNS} FROM change_log
                     WHERE server_seq > ?1 AND server_seq <= ?2 AND held_at IS NULL
                       AND {filter}
                     ORDER BY server_seq LIMIT ?3"
                ))
                .map_err(StoreError::database(context))?;
            let (after, up_to, count) = (
                seq_to_sql(range.after_seq),
                seq_to_sql(range.up_to_seq),
                i64::try_from(range.max_count.max(1)).unwrap_or(i64::MAX),
            );
            let mut params: Vec<&dyn rusqlite::ToSql> = vec![&after, &up_to, &count];
            params.extend_from_slice(filter_params);
            let rows = stmt
                .query(params.as_slice())
                .map_err(StoreError::database(context))?;
            read_page(rows, range.max_bytes)
        })
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(StoreError::database("opening the database"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(StoreError::database("opening the database"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )
    .map_err(StoreError::database("opening the database"))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let context = "updating the database schema";
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(StoreError::database(context))?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(StoreError::database(context))?;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for step in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(step)
            .map_err(StoreError::database(context))?;
    }
    if found < DIRECTORY_STEP && known >= DIRECTORY_STEP {
        scope::on_sqlite::fill_directory(&tx)?;
    }
    // PRAGMA takes no parameters; `known` is a number this program computed.
    tx.execute_batch(&format!("PRAGMA user_version = {known}"))
        .map_err(StoreError::database(context))?;
    tx.commit().map_err(StoreError::database(context))
}

fn clinic_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

const DEVICE_COLUMNS: &str =
    "device_id, clinic_id, name, created_at, revoked_at, node_id, service_scope";

fn device_row(row: &Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

const CHANGE_COLUMNS: &str =
    "change_id, entity, entity_id, fields_json, hlc, clinic_id, supersedes_json";

/// Steps through rows of `server_seq, CHANGE_COLUMNS` one at a time, so a page never holds more
/// than it sends: at most `max_bytes` of change text (but always at least one change).
fn read_page(
    mut rows: rusqlite::Rows<'_>,
    max_bytes: usize,
) -> Result<Vec<(u64, ChangeRecord)>, StoreError> {
    let context = "reading changes";
    let mut page = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next().map_err(StoreError::database(context))? {
        let seq = seq_from_sql(row.get(0).map_err(StoreError::database(context))?);
        let size = row
            .get_ref(4)
            .and_then(|v| Ok(v.as_str()?.len()))
            .map_err(StoreError::database(context))?;
        if !page.is_empty() && bytes.saturating_add(size) > max_bytes {
            break;
        }
        let change = change_from_row(row, 1)
            .map_err(StoreError::database(context))?
            .map_err(|reason| StoreError::Corrupt {
                what: format!("change number {seq}"),
                reason,
            })?;
        bytes = bytes.saturating_add(size);
        page.push((seq, change));
    }
    Ok(page)
}

/// Reads a change back from the columns of [`CHANGE_COLUMNS`], starting at column `first`.
fn change_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Result<ChangeRecord, String>> {
    let text = |i: usize| row.get::<_, String>(first + i);
    let change_id = text(0)?;
    let entity = text(1)?;
    let entity_id = text(2)?;
    let fields_json = text(3)?;
    let hlc = text(4)?;
    let clinic_id = text(5)?;
    let supersedes_json = text(6)?;
    Ok(change_from_text(ChangeText {
        change_id,
        entity,
        entity_id,
        fields_json,
        hlc,
        clinic_id,
        supersedes_json,
    }))
}

impl ServerStore for SqliteServerStore {
    fn add_clinic(
        &self,
        clinic: &Clinic,
        code_hash: &str,
        code_expires_at_millis: Option<i64>,
    ) -> Result<(), StoreError> {
        let context = "adding a clinic";
        self.write(context, |tx| {
            tx.execute(
                "INSERT INTO clinics (clinic_id, name, created_at) VALUES (?1, ?2, ?3)",
                params![
                    clinic.clinic_id.to_string(),
                    clinic.name,
                    clinic.created_at_millis
                ],
            )
            .map_err(StoreError::database(context))?;
            tx.execute(
                "INSERT INTO enrollment_codes (code_hash, clinic_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    code_hash,
                    clinic.clinic_id.to_string(),
                    clinic.created_at_millis,
                    code_expires_at_millis
                ],
            )
            .map_err(StoreError::database(context))?;
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
            let known: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM clinics WHERE clinic_id = ?1)",
                    [clinic_id.to_string()],
                    |row| row.get(0),
                )
                .map_err(StoreError::database(context))?;
            if !known {
                return Err(StoreError::UnknownClinic(clinic_id));
            }
            tx.execute(
                "INSERT INTO enrollment_codes (code_hash, clinic_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    code_hash,
                    clinic_id.to_string(),
                    now_millis,
                    expires_at_millis
                ],
            )
            .map_err(StoreError::database(context))?;
            Ok(())
        })
    }

    fn clinics(&self) -> Result<Vec<Clinic>, StoreError> {
        let context = "listing clinics";
        self.read(|conn| {
            let rows: Vec<(String, String, i64)> = conn
                .prepare_cached(
                    "SELECT clinic_id, name, created_at FROM clinics ORDER BY created_at, clinic_id",
                )
                .and_then(|mut stmt| stmt.query_map([], clinic_from_row)?.collect())
                .map_err(StoreError::database(context))?;
            rows.into_iter().map(clinic_from_parts).collect()
        })
    }

    fn devices(&self) -> Result<Vec<Device>, StoreError> {
        let context = "listing devices";
        self.read(|conn| {
            let rows: Vec<DeviceRow> = conn
                .prepare_cached(&format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY created_at, device_id"
                ))
                .and_then(|mut stmt| stmt.query_map([], device_row)?.collect())
                .map_err(StoreError::database(context))?;
            rows.into_iter().map(device_from_parts).collect()
        })
    }

    fn revoke_device(&self, device_id: Uuid, now_millis: i64) -> Result<Device, StoreError> {
        let context = "revoking a device";
        self.write(context, |tx| {
            let row = tx
                .query_row(
                    &format!(
                        "UPDATE devices SET revoked_at = coalesce(revoked_at, ?2)
                         WHERE device_id = ?1 RETURNING {DEVICE_COLUMNS}"
                    ),
                    params![device_id.hyphenated().to_string(), now_millis],
                    device_row,
                )
                .optional()
                .map_err(StoreError::database(context))?;
            match row {
                Some(row) => device_from_parts(row),
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
        self.write(context, |tx| {
            // Using the code up and recording the device happen together or not at all, so a
            // code serves exactly one device.
            let clinic_id: Option<String> = tx
                .query_row(
                    "UPDATE enrollment_codes SET used_at = ?2, device_id = ?3
                     WHERE code_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL
                       AND (expires_at IS NULL OR expires_at > ?2)
                     RETURNING clinic_id",
                    params![
                        code_hash,
                        now_millis,
                        device.device_id.hyphenated().to_string()
                    ],
                    |row| row.get(0),
                )
                .optional()
                .map_err(StoreError::database(context))?;
            let Some(clinic_id) = clinic_id else {
                return Err(StoreError::CodeRefused);
            };
            if let Some(node) = &device.node_id {
                // A workstation enrolls again with its own clinic (a lost credential), never
                // with another: its node's changes belong to one clinic.
                let elsewhere: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM devices
                                        WHERE node_id = ?1 AND clinic_id <> ?2
                                          AND revoked_at IS NULL)",
                        params![node, clinic_id],
                        |row| row.get(0),
                    )
                    .map_err(StoreError::database(context))?;
                if elsewhere {
                    return Err(StoreError::NodeTaken);
                }
            }
            let mut inherited: Option<String> = None;
            if let Some(old) = device.replaces {
                // Taking over: the old device must be this clinic's; it is revoked now, so the
                // workstation it was and the one restored from its backup never both sync.
                let revoked = tx
                    .execute(
                        "UPDATE devices SET revoked_at = coalesce(revoked_at, ?3)
                         WHERE device_id = ?1 AND clinic_id = ?2",
                        params![old.hyphenated().to_string(), clinic_id, now_millis],
                    )
                    .map_err(StoreError::database(context))?;
                if revoked == 0 {
                    return Err(StoreError::UnknownDevice(old));
                }
                inherited = tx
                    .query_row(
                        "SELECT node_id FROM devices WHERE device_id = ?1",
                        [old.hyphenated().to_string()],
                        |row| row.get(0),
                    )
                    .map_err(StoreError::database(context))?;
                tracing::info!(old_device_id = %old, new_device_id = %device.device_id, "a restored workstation took over its device");
            }
            tx.execute(
                "INSERT INTO devices (device_id, clinic_id, name, token_hash, created_at, node_id,
                                      inherited_node)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    device.device_id.hyphenated().to_string(),
                    clinic_id,
                    device.name,
                    device.token_hash,
                    now_millis,
                    device.node_id,
                    inherited
                ],
            )
            .map_err(StoreError::database(context))?;
            let clinic = tx
                .query_row(
                    "SELECT clinic_id, name, created_at FROM clinics WHERE clinic_id = ?1",
                    [&clinic_id],
                    clinic_from_row,
                )
                .map_err(StoreError::database(context))?;
            let clinic = clinic_from_parts(clinic)?;
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
            let known: bool = tx
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM clinics WHERE clinic_id = ?1)",
                    [account.clinic_id.to_string()],
                    |row| row.get(0),
                )
                .map_err(StoreError::database(context))?;
            if !known {
                return Err(StoreError::UnknownClinic(account.clinic_id));
            }
            tx.execute(
                "INSERT INTO devices (device_id, clinic_id, name, token_hash, created_at, node_id,
                                      service_scope)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    account.device_id.hyphenated().to_string(),
                    account.clinic_id.to_string(),
                    account.name,
                    account.token_hash,
                    now_millis,
                    account.node_id,
                    account.scope.code()
                ],
            )
            .map_err(StoreError::database(context))?;
            Ok(service_device(account, now_millis))
        })
    }

    fn device_by_token_hash(&self, token_hash: &str) -> Result<Option<Device>, StoreError> {
        let context = "checking a device credential";
        self.read(|conn| {
            let row = conn
                .prepare_cached(&format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = ?1"
                ))
                .and_then(|mut stmt| stmt.query_row([token_hash], device_row).optional())
                .map_err(StoreError::database(context))?;
            row.map(device_from_parts).transpose()
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
            release_due(tx, now_millis)?;
            push::push(
                &mut SqliteRecords(tx),
                device,
                changes,
                now_millis,
                max_skew_millis,
            )
        })
    }

    fn release_quarantined(&self, now_millis: i64) -> Result<usize, StoreError> {
        let context = "releasing quarantined changes";
        // A cheap read first: most of the time nothing is due and no write lock is needed.
        let due: bool = self.read(|conn| {
            conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM quarantine WHERE hlc_millis <= ?1)")
                .and_then(|mut stmt| stmt.query_row([now_millis], |row| row.get(0)))
                .map_err(StoreError::database(context))
        })?;
        if !due {
            return Ok(0);
        }
        self.write(context, |tx| release_due(tx, now_millis))
    }

    fn quarantined(&self) -> Result<Vec<QuarantinedChange>, StoreError> {
        let context = "listing quarantined changes";
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {CHANGE_COLUMNS}, device_id, received_at, reason FROM quarantine
                     ORDER BY hlc, change_id"
                ))
                .map_err(StoreError::database(context))?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((
                        change_from_row(row, 0)?,
                        row.get::<_, String>(7)?,
                        row.get::<_, i64>(8)?,
                        row.get::<_, String>(9)?,
                    ))
                })
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(StoreError::database(context))?;
            rows.into_iter()
                .map(|(change, device_id, received_at_millis, reason)| {
                    let change = change.map_err(|reason| StoreError::Corrupt {
                        what: "quarantined change".into(),
                        reason,
                    })?;
                    let device_id = device_id.parse().map_err(|_| StoreError::Corrupt {
                        what: format!("quarantined change {}", change.change_id),
                        reason: "the device id is not a UUID".into(),
                    })?;
                    Ok(QuarantinedChange {
                        change,
                        device_id,
                        received_at_millis,
                        reason,
                    })
                })
                .collect()
        })
    }

    fn append_audit(&self, device: &Device, entries: &[AuditEntry]) -> Result<i64, StoreError> {
        self.write("storing audit entries", |tx| {
            chain::append(&mut SqliteRecords(tx), device, entries)
        })
    }

    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let context = "reading audit entries";
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT node_id, seq, at, user_id, action, patient_id, record_id, prev_hash,
                         hash
                     FROM audit_log ORDER BY node_id, seq",
                )
                .map_err(StoreError::database(context))?;
            let rows = stmt
                .query_map([], |row| {
                    let text = |i: usize| row.get::<_, String>(i);
                    Ok([
                        text(0)?,
                        row.get::<_, i64>(1)?.to_string(),
                        text(2)?,
                        text(3)?,
                        text(4)?,
                        text(5)?,
                        text(6)?,
                        text(7)?,
                        text(8)?,
                    ])
                })
                .map_err(StoreError::database(context))?;
            let mut entries = Vec::new();
            for row in rows {
                let row = row.map_err(StoreError::database(context))?;
                entries.push(audit_from_text(&row).ok_or_else(|| StoreError::Corrupt {
                    what: format!("audit entry {} of {}", row[1], row[0]),
                    reason: "a stored value cannot be read".into(),
                })?);
            }
            Ok(entries)
        })
    }

    fn last_seq(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT coalesce(max(server_seq), 0) FROM change_log")
                .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)))
                .map(seq_from_sql)
                .map_err(StoreError::database("reading the last sequence number"))
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
        // Two walks, each in the order of its own index — the clinic's own records, and the
        // records of patients shared with it — merged by sequence number. (One query with OR
        // would collect and sort every matching row of the range for each page.)
        let clinic = clinic_id.to_string();
        let half = PageRange::new(after_seq, up_to_seq, max_count, (max_bytes / 2).max(1));
        let own = self.page("scope_clinic = ?4", &[&clinic], half)?;
        let shared = self.page(
            "patient_id IN (SELECT g.patient_id FROM patient_grants g WHERE g.clinic_id = ?4)
             AND scope_clinic <> ?4",
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
            "entity = ?4 AND clinic_id = ?5",
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
            "patient_id = ?4",
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
        let (filter, a, b): (&str, SqlValue, SqlValue) = match query {
            PatientQuery::Number { prefix, seq } => (
                "d.number_prefix = ?1 AND d.number_seq = ?2",
                SqlValue::Text(prefix.clone()),
                SqlValue::Integer(*seq),
            ),
            PatientQuery::NationalId(id) => (
                "d.national_id = ?1 AND d.national_id <> '' AND ?2 IS NULL",
                SqlValue::Text(id.trim().to_owned()),
                SqlValue::Null,
            ),
            PatientQuery::NameAndBirthYear {
                family_name,
                birth_year,
            } => (
                "d.family_name = ?1 COLLATE NOCASE AND substr(d.birth_date, 1, 4) = ?2",
                SqlValue::Text(family_name.trim().to_owned()),
                SqlValue::Text(format!("{birth_year:04}")),
            ),
        };
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT d.patient_id, d.clinic_id, c.name, d.number_prefix, d.number_seq,
                            d.family_name, d.given_name, d.birth_date, d.sex
                     FROM patient_directory d JOIN clinics c ON c.clinic_id = d.clinic_id
                     WHERE {filter}
                     ORDER BY d.family_name, d.given_name, d.patient_id LIMIT ?3"
                ))
                .map_err(StoreError::database(context))?;
            let rows = stmt
                .query_map(
                    params![a, b, i64::try_from(limit).unwrap_or(i64::MAX)],
                    directory_row,
                )
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(StoreError::database(context))?;
            Ok(rows.into_iter().filter_map(hit_from_row).collect())
        })
    }

    fn max_number_seq(&self, prefix: &str) -> Result<i64, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT coalesce(max(number_seq), 0) FROM patient_directory
                 WHERE number_prefix = ?1",
            )
            .and_then(|mut stmt| stmt.query_row([prefix], |row| row.get(0)))
            .map_err(StoreError::database("reading the last patient number"))
        })
    }

    fn patient_home(&self, patient_id: Uuid) -> Result<Option<ClinicId>, StoreError> {
        let home: Option<String> = self.read(|conn| {
            conn.prepare_cached(
                "SELECT scope_clinic FROM entities WHERE entity_id = ?1 AND entity = 'patient'",
            )
            .and_then(|mut stmt| {
                stmt.query_row([patient_id.hyphenated().to_string()], |row| row.get(0))
                    .optional()
            })
            .map_err(StoreError::database("finding a patient's clinic"))
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
        self.read(|conn| {
            scope::on_sqlite::may_see(
                conn,
                &clinic_id.to_string(),
                &patient_id.hyphenated().to_string(),
            )
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
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM entities
                                    WHERE entity_id = ?1 AND entity = 'patient')",
                    [&patient],
                    |row| row.get(0),
                )
                .map_err(StoreError::database(context))?;
            if !known {
                return Err(StoreError::UnknownPatient(patient_id));
            }
            tx.execute(
                "INSERT OR IGNORE INTO patient_grants
                     (patient_id, clinic_id, reason, device_id, granted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    patient,
                    device.clinic_id.to_string(),
                    reason.code(),
                    device.device_id.hyphenated().to_string(),
                    now_millis
                ],
            )
            .map_err(StoreError::database(context))?;
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
        self.read(|conn| {
            let rows: Vec<AccessRow> = conn
                .prepare_cached(
                    "SELECT at, device_id, clinic_id, kind, patient_id, reason FROM access_log
                     ORDER BY entry_id",
                )
                .and_then(|mut stmt| {
                    stmt.query_map([], |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                        ))
                    })?
                    .collect()
                })
                .map_err(StoreError::database(context))?;
            rows.into_iter().map(access_from_row).collect()
        })
    }

    fn blob_visible(&self, clinic_id: ClinicId, sha256: &BlobHash) -> Result<bool, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM blob_refs WHERE sha256 = ?1 AND {})",
                scope::on_sqlite::visible_to(2)
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params![sha256.as_str(), clinic_id.to_string()], |row| {
                    row.get(0)
                })
            })
            .map_err(StoreError::database("checking who may see a blob"))
        })
    }

    fn blob_written_by(&self, clinic_id: ClinicId, sha256: &BlobHash) -> Result<bool, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM blob_refs WHERE sha256 = ?1 AND writer_clinic = ?2)",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![sha256.as_str(), clinic_id.to_string()], |row| {
                    row.get(0)
                })
            })
            .map_err(StoreError::database("checking who may upload a blob"))
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

    fn open_blob(&self, sha256: &BlobHash) -> Result<Option<OpenedBlob>, StoreError> {
        self.blobs.open_blob(sha256)
    }

    fn partial_bytes(&self, device_id: Uuid) -> Result<u64, StoreError> {
        self.blobs.partial_bytes(device_id)
    }

    fn remove_stale_partials(&self, older_than: SystemTime) -> Result<usize, StoreError> {
        self.blobs.remove_stale_partials(older_than)
    }

    fn record_blob_stored(
        &self,
        device_id: Uuid,
        sha256: &BlobHash,
        size: u64,
    ) -> Result<(), StoreError> {
        self.write("recording who stored a blob", |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO blob_owners (sha256, device_id, size) VALUES (?1, ?2, ?3)",
                params![
                    sha256.as_str(),
                    device_id.hyphenated().to_string(),
                    i64::try_from(size).unwrap_or(i64::MAX)
                ],
            )
            .map(drop)
            .map_err(StoreError::database("recording who stored a blob"))
        })
    }

    fn stored_bytes(&self, device_id: Uuid) -> Result<u64, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(
                "SELECT coalesce(sum(size), 0) FROM blob_owners WHERE device_id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([device_id.hyphenated().to_string()], |row| {
                    row.get::<_, i64>(0)
                })
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(StoreError::database("counting a device's stored bytes"))
        })
    }

    fn revoke_enrollment_code(&self, code_hash: &str, now_millis: i64) -> Result<bool, StoreError> {
        let context = "revoking an enrollment code";
        self.write(context, |tx| {
            let changed = tx
                .execute(
                    "UPDATE enrollment_codes SET revoked_at = ?2
                     WHERE code_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL",
                    params![code_hash, now_millis],
                )
                .map_err(StoreError::database(context))?;
            Ok(changed > 0)
        })
    }

    fn device_changes(&self, device_id: Uuid) -> Result<Vec<DeviceChange>, StoreError> {
        let context = "listing a device's changes";
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT server_seq, {CHANGE_COLUMNS}, received_at, held_at IS NOT NULL
                     FROM change_log WHERE device_id = ?1 ORDER BY server_seq"
                ))
                .map_err(StoreError::database(context))?;
            let rows = stmt
                .query_map([device_id.hyphenated().to_string()], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        change_from_row(row, 1)?,
                        row.get::<_, i64>(8)?,
                        row.get::<_, bool>(9)?,
                    ))
                })
                .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
                .map_err(StoreError::database(context))?;
            rows.into_iter()
                .map(|(seq, change, received_at_millis, held)| {
                    Ok(DeviceChange {
                        seq: seq_from_sql(seq),
                        change: change.map_err(|reason| StoreError::Corrupt {
                            what: format!("change number {seq}"),
                            reason,
                        })?,
                        received_at_millis,
                        held,
                    })
                })
                .collect()
        })
    }

    fn hold_device_changes(&self, device_id: Uuid) -> Result<usize, StoreError> {
        let context = "holding a device's changes";
        let now = chrono::Utc::now().timestamp_millis();
        self.write(context, |tx| {
            let held = tx
                .execute(
                    "UPDATE change_log SET held_at = ?2 WHERE device_id = ?1 AND held_at IS NULL",
                    params![device_id.hyphenated().to_string(), now],
                )
                .map_err(StoreError::database(context))?;
            tx.execute(
                "DELETE FROM quarantine WHERE device_id = ?1",
                [device_id.hyphenated().to_string()],
            )
            .map_err(StoreError::database(context))?;
            Ok(held)
        })
    }
}

fn insert_access(tx: &rusqlite::Transaction<'_>, entry: &AccessEntry) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO access_log (at, device_id, clinic_id, kind, patient_id, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            entry.at_millis,
            entry.device_id.hyphenated().to_string(),
            entry.clinic_id.to_string(),
            entry.kind.code(),
            entry.patient_id.hyphenated().to_string(),
            entry.reason,
        ])
    })
    .map(drop)
    .map_err(StoreError::database("logging access"))
}

fn directory_row(row: &Row<'_>) -> rusqlite::Result<DirectoryRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
    ))
}

/// Moves quarantined changes stamped at or before `now_millis` into the log, in stamp order.
fn release_due(tx: &rusqlite::Transaction<'_>, now_millis: i64) -> Result<usize, StoreError> {
    let context = "releasing quarantined changes";
    // A change already in the log (pushed again once its stamp was within the allowed skew)
    // is not copied twice.
    let moved = tx
        .prepare_cached(&format!(
            "INSERT OR IGNORE INTO change_log ({CHANGE_COLUMNS}, device_id, received_at,
                 patient_id, scope_clinic)
             SELECT {CHANGE_COLUMNS}, device_id, received_at, patient_id, scope_clinic
             FROM quarantine
             WHERE hlc_millis <= ?1 ORDER BY hlc, change_id"
        ))
        .and_then(|mut stmt| stmt.execute([now_millis]))
        .map_err(StoreError::database(context))?;
    tx.prepare_cached("DELETE FROM quarantine WHERE hlc_millis <= ?1")
        .and_then(|mut stmt| stmt.execute([now_millis]))
        .map_err(StoreError::database(context))?;
    Ok(moved)
}

/// The push rules' questions answered by queries on the write transaction.
impl ChangeLog for SqliteRecords<'_, '_> {
    fn device_clock(&mut self, device_id: &str) -> Result<DeviceClock, StoreError> {
        self.0
            .query_row(
                "SELECT node_id, last_hlc, inherited_node FROM devices WHERE device_id = ?1",
                [device_id],
                |row| {
                    Ok(DeviceClock {
                        node: row.get(0)?,
                        last_hlc: row.get(1)?,
                        inherited: row.get(2)?,
                    })
                },
            )
            .map_err(StoreError::database("storing pushed changes"))
    }

    fn logged_seq(&mut self, change_id: &str) -> Result<Option<u64>, StoreError> {
        self.0
            .prepare_cached("SELECT server_seq FROM change_log WHERE change_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([change_id], |row| row.get::<_, i64>(0))
                    .optional()
            })
            .map(|seq| seq.map(seq_from_sql))
            .map_err(StoreError::database("storing pushed changes"))
    }

    fn quarantined_reason(&mut self, change_id: &str) -> Result<Option<String>, StoreError> {
        self.0
            .prepare_cached("SELECT reason FROM quarantine WHERE change_id = ?1")
            .and_then(|mut stmt| stmt.query_row([change_id], |row| row.get(0)).optional())
            .map_err(StoreError::database("storing pushed changes"))
    }

    fn node_elsewhere(&mut self, node: &str, clinic_id: &str) -> Result<bool, StoreError> {
        self.0
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM devices
                                WHERE node_id = ?1 AND clinic_id <> ?2 AND revoked_at IS NULL)",
                params![node, clinic_id],
                |row| row.get(0),
            )
            .map_err(StoreError::database("storing pushed changes"))
    }

    fn append(
        &mut self,
        change: Incoming<'_>,
        device_id: &str,
        now_millis: i64,
    ) -> Result<u64, StoreError> {
        let text = change.text;
        self.0
            .prepare_cached(&format!(
                "INSERT INTO change_log ({CHANGE_COLUMNS}, device_id, received_at,
                     patient_id, scope_clinic)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 RETURNING server_seq"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![
                        text.change_id,
                        text.entity,
                        text.entity_id,
                        text.fields_json,
                        text.hlc,
                        text.clinic_id,
                        text.supersedes_json,
                        device_id,
                        now_millis,
                        change.placement.patient_id,
                        change.placement.scope_clinic,
                    ],
                    |row| row.get::<_, i64>(0),
                )
            })
            .map(seq_from_sql)
            .map_err(StoreError::database("storing pushed changes"))
    }

    fn quarantine(
        &mut self,
        change: Incoming<'_>,
        device_id: &str,
        now_millis: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let text = change.text;
        self.0
            .prepare_cached(&format!(
                "INSERT INTO quarantine ({CHANGE_COLUMNS}, device_id, received_at,
                     hlc_millis, reason, patient_id, scope_clinic)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))
            .and_then(|mut stmt| {
                stmt.execute(params![
                    text.change_id,
                    text.entity,
                    text.entity_id,
                    text.fields_json,
                    text.hlc,
                    text.clinic_id,
                    text.supersedes_json,
                    device_id,
                    now_millis,
                    change.hlc_millis,
                    reason,
                    change.placement.patient_id,
                    change.placement.scope_clinic,
                ])
            })
            .map(drop)
            .map_err(StoreError::database("storing pushed changes"))
    }

    fn set_device_clock(
        &mut self,
        device_id: &str,
        node: Option<&str>,
        last_hlc: Option<&str>,
    ) -> Result<(), StoreError> {
        self.0
            .execute(
                "UPDATE devices SET node_id = ?2, last_hlc = ?3 WHERE device_id = ?1",
                params![device_id, node, last_hlc],
            )
            .map(drop)
            .map_err(StoreError::database("storing pushed changes"))
    }
}

/// The chain check's questions answered by queries on the write transaction.
impl ChainStore for SqliteRecords<'_, '_> {
    fn chain_node(&mut self, device_id: &str) -> Result<Option<String>, StoreError> {
        self.0
            .query_row(
                "SELECT node_id FROM audit_node WHERE device_id = ?1",
                [device_id],
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::database("storing audit entries"))
    }

    fn bind_chain_node(&mut self, device_id: &str, node: &str) -> Result<bool, StoreError> {
        self.0
            .execute(
                "INSERT OR IGNORE INTO audit_node (device_id, node_id) VALUES (?1, ?2)",
                params![device_id, node],
            )
            .map(|n| n > 0)
            .map_err(StoreError::database("storing audit entries"))
    }

    fn chain_end(&mut self, node: &str) -> Result<Option<(i64, String)>, StoreError> {
        self.0
            .query_row(
                "SELECT seq, hash FROM audit_log WHERE node_id = ?1 ORDER BY seq DESC LIMIT 1",
                [node],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(StoreError::database("storing audit entries"))
    }

    fn chain_hash(&mut self, node: &str, seq: i64) -> Result<Option<String>, StoreError> {
        self.0
            .prepare_cached("SELECT hash FROM audit_log WHERE node_id = ?1 AND seq = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![node, seq], |row| row.get(0))
                    .optional()
            })
            .map_err(StoreError::database("storing audit entries"))
    }

    fn add_chain_entry(
        &mut self,
        node: &str,
        entry: &AuditEntry,
        device_id: &str,
    ) -> Result<(), StoreError> {
        let [at, user, action, patient, record, prev_hash, hash] = chain::entry_columns(entry);
        self.0
            .prepare_cached(
                "INSERT INTO audit_log (node_id, seq, at, user_id, action, patient_id,
                     record_id, prev_hash, hash, device_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    node, entry.seq, at, user, action, patient, record, prev_hash, hash, device_id
                ])
            })
            .map(drop)
            .map_err(StoreError::database("storing audit entries"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::model::{ChangeId, EntityKind, HlcStamp, NodeId};
    use std::collections::BTreeMap;

    fn change(clinic: ClinicId, millis: i64) -> ChangeRecord {
        let mut fields = serde_json::Map::new();
        fields.insert("given_name".into(), "x".into());
        ChangeRecord {
            change_id: ChangeId::new(),
            entity: EntityKind::Patient,
            entity_id: Uuid::now_v7(),
            fields,
            hlc: HlcStamp {
                millis,
                counter: 0,
                node: NodeId("n".into()),
            },
            clinic_id: clinic,
            supersedes: BTreeMap::new(),
        }
    }

    fn store_with_device() -> (tempfile::TempDir, SqliteServerStore, Device) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteServerStore::open(dir.path()).unwrap();
        let clinic = Clinic {
            clinic_id: ClinicId::new(),
            name: "Test".into(),
            created_at_millis: 0,
        };
        store.add_clinic(&clinic, "code", None).unwrap();
        let new = NewDevice {
            device_id: Uuid::now_v7(),
            name: "desk".into(),
            token_hash: "token".into(),
            node_id: Some("n".into()),
            replaces: None,
        };
        let (device, _) = store.enroll_device("code", &new, 1).unwrap();
        assert!(matches!(
            store.enroll_device("code", &new, 2),
            Err(StoreError::CodeRefused)
        ));
        (dir, store, device)
    }

    #[test]
    fn quarantined_changes_are_released_when_the_clock_reaches_them() {
        let (_dir, store, device) = store_with_device();
        let now = 1_000_000_000;
        let hour = 3_600_000;
        let early = change(device.clinic_id, now + 2 * hour);
        let on_time = change(device.clinic_id, now);
        let acks = store
            .push_changes(&device, &[on_time.clone(), early.clone()], now, 600_000)
            .unwrap();
        assert_eq!(acks[0], Ack::Accepted { seq: 1 });
        assert!(matches!(acks[1], Ack::Quarantined { .. }));
        assert_eq!(store.quarantined().unwrap().len(), 1);
        // Retried: still quarantined, never twice.
        let again = store
            .push_changes(&device, std::slice::from_ref(&early), now, 600_000)
            .unwrap();
        assert!(matches!(again[0], Ack::Quarantined { .. }));
        assert_eq!(store.quarantined().unwrap().len(), 1);
        assert_eq!(store.release_quarantined(now + hour).unwrap(), 0);
        assert_eq!(store.release_quarantined(now + 2 * hour).unwrap(), 1);
        assert!(store.quarantined().unwrap().is_empty());
        let log = store
            .changes_between(device.clinic_id, 0, 10, 10, usize::MAX)
            .unwrap();
        assert_eq!(log, vec![(1, on_time), (2, early.clone())]);
        // Retried after release: the stored number.
        let later = store
            .push_changes(&device, &[early], now + 3 * hour, 600_000)
            .unwrap();
        assert_eq!(later, vec![Ack::Duplicate { seq: 2 }]);
        // A day ahead and more is refused, not held.
        let far = change(device.clinic_id, now + 25 * hour);
        let refused = store.push_changes(&device, &[far], now, 600_000).unwrap();
        assert!(
            matches!(&refused[0], Ack::Refused { reason } if reason.contains("more than a day"))
        );
        assert!(store.quarantined().unwrap().is_empty());
    }

    #[test]
    fn pages_stop_at_the_byte_budget_but_hold_at_least_one_change() {
        let (_dir, store, device) = store_with_device();
        let batch: Vec<_> = (0..5).map(|i| change(device.clinic_id, i)).collect();
        store.push_changes(&device, &batch, 10, 600_000).unwrap();
        assert_eq!(
            store
                .changes_between(device.clinic_id, 0, 5, 100, 1)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .changes_between(device.clinic_id, 0, 5, 100, usize::MAX)
                .unwrap()
                .len(),
            5
        );
        assert_eq!(
            store
                .changes_between(device.clinic_id, 2, 4, 100, usize::MAX)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn a_clinic_pages_through_its_own_and_its_shared_patients_in_order() {
        let (_dir, store, hill) = store_with_device();
        let river_clinic = Clinic {
            clinic_id: ClinicId::new(),
            name: "River".into(),
            created_at_millis: 0,
        };
        store.add_clinic(&river_clinic, "river-code", None).unwrap();
        let river_device = NewDevice {
            device_id: Uuid::now_v7(),
            name: "river desk".into(),
            token_hash: "river-token".into(),
            node_id: Some("r".into()),
            replaces: None,
        };
        let (river, _) = store.enroll_device("river-code", &river_device, 1).unwrap();
        // Interleaved: Hill, River, Hill, River, …
        let mut river_patients = Vec::new();
        for i in 0..5 {
            store
                .push_changes(&hill, &[change(hill.clinic_id, 10 + i)], 100, 600_000)
                .unwrap();
            let mut theirs = change(river.clinic_id, 10 + i);
            theirs.hlc.node = NodeId("r".into());
            river_patients.push(theirs.entity_id);
            store.push_changes(&river, &[theirs], 100, 600_000).unwrap();
        }
        store
            .share_patient(&hill, river_patients[3], ShareReason::Referred, 200)
            .unwrap();
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let page = store
                .changes_between(hill.clinic_id, cursor, 10, 2, usize::MAX)
                .unwrap();
            let Some(&(last, _)) = page.last() else { break };
            assert!(page.len() <= 2);
            seen.extend(page.iter().map(|(seq, _)| *seq));
            cursor = last;
        }
        // Hill's own changes are 1, 3, 5, 7, 9; River's patient 3 is change 8.
        assert_eq!(seen, vec![1, 3, 5, 7, 8, 9]);
    }
}
