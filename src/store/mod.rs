//! The local database: one SQLite file per workstation that holds every record the clinic has,
//! works with no network at all, and never loses a write.
//!
//! It owns the schema and its migrations, the queries the app needs (patient search with FTS5,
//! the patient list in any sort order, charts, ICD-10 and medicine look-ups), and the change
//! outbox that sync pushes: every write appends its change record in the same transaction as the
//! data, so the two commit together or not at all.

mod audit;
mod backup;
mod batch;
mod blobfile;
mod compact;
mod duplicates;
mod encounters;
mod encryption;
mod error;
mod fhir;
mod icd10;
mod imaging;
mod keyring;
mod letterhead;
mod merges;
mod patients;
mod queue;
mod reports;
mod schema;
mod sync;
mod users;
mod write;

pub use audit::{AuditFilter, AuditReport, write_audit_csv};
pub use backup::{
    BACKUP_NAME_FORMAT, BackupCheck, BackupProblem, BackupReport, MANIFEST_FILE, RESTORED_MARKER,
    RestoreReport, prune_backups, restore_backup, verify_backup, write_manifest,
};
pub use batch::Batch;
pub use blobfile::{BlobDownload, BlobFiles, BlobReader};
pub use compact::CompactReport;
pub use duplicates::{DuplicateCandidate, DuplicatePair};
pub use encounters::MedicineSuggestion;
pub(crate) use encounters::encounter_fields;
pub use encryption::{EncryptStep, FileState, MigrationProgress, encrypt_in_place, file_state};
pub use error::StoreError;
pub use fhir::RecordsImported;
pub use icd10::Icd10Code;
pub use imaging::{SeriesGroup, StudyGroup, group_studies};
pub use keyring::{KEYRING_FILE, Keyring, KeyringUser};
pub use merges::{MergeRecord, MergeRefusal, RecordCounts};
pub(crate) use patients::patient_fields;
pub use patients::{PatientRow, PatientSearch, PatientSort, SearchHit, WholeRecord, fold_for_sort};
pub use queue::FollowUp;
pub use schema::{SCHEMA_VERSION, migrate_to, schema_version};
pub use sync::{ApplyReport, Conflict, ConflictKind, HeldChange, PushOutcome};

use crate::keys::{BlobKey, DataKey};
use crate::model::{ClinicId, HlcStamp, HybridClock, NodeId, UserId};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// The file name of the database inside a data directory.
pub const DATABASE_FILE: &str = "outpost.sqlite3";

/// Set once every image file of an encrypted store is sealed.
const BLOBS_SEALED: &str = "blobs_sealed";
/// The workstation's key before it took its clinic's, until its image files are sealed again.
const PREVIOUS_KEY: &str = "previous_data_key";

/// Who this workstation is: its node id for the clock, the clinic it writes for, and the prefix of
/// the patient numbers it hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workstation {
    /// Node id used in clock stamps.
    pub node_id: NodeId,
    /// The clinic this workstation belongs to.
    pub clinic_id: ClinicId,
    /// Prefix of patient numbers ("OUT" gives "OUT-000123").
    pub number_prefix: String,
}

/// Counts for `outpost status` and the status bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreStatus {
    /// Patients not voided nor merged into another record.
    pub patients: i64,
    /// Visits not voided.
    pub visits: i64,
    /// Change records not yet acknowledged by a server.
    pub pending_changes: i64,
    /// Schema version of the file.
    pub schema_version: u32,
    /// Where the file is.
    pub database_path: PathBuf,
}

/// How to open a store's file again (another thread's connection): the path and, for an
/// encrypted file, its key.
#[derive(Clone, Debug)]
pub struct StoreOpener {
    path: PathBuf,
    key: Option<DataKey>,
}

impl StoreOpener {
    /// A new connection, as the store that made this opener has.
    pub fn open(&self) -> Result<Store, StoreError> {
        Store::open_with(&self.path, self.key.as_ref())
    }

    /// A read-only connection for another thread.
    pub fn open_reader(&self) -> Result<ReadOnlyStore, StoreError> {
        let conn = open_connection(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            self.key.as_ref(),
        )?;
        Ok(ReadOnlyStore { conn })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// An open store. Writes take `&mut self`; each user action is one transaction.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The data key of an encrypted file (kept for the store's other connections).
    key: Option<DataKey>,
    /// The key this workstation had before it took its clinic's, while image files sealed with
    /// it remain.
    previous_key: Option<DataKey>,
    /// The image files' keys derived from `key` and `previous_key`, once.
    blob_keys: (Option<BlobKey>, Option<BlobKey>),
    workstation: Workstation,
    clock: HybridClock,
    /// The signed-in user whose writes the audit trail names.
    actor: Option<UserId>,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open_dir(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        Self::open(&data_dir.join(DATABASE_FILE))
    }

    /// Opens (creating if needed) the plain database file at `path` and brings its schema up to
    /// date. A workstation's records are opened with [`Store::open_keyed`]; a plain file serves
    /// tests of the store alone and files from before encryption.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, None)
    }

    /// Opens (creating if needed) the database file at `path` encrypted with `key`. A plain file
    /// found there is encrypted in place first.
    pub fn open_keyed(path: &Path, key: &DataKey) -> Result<Self, StoreError> {
        Self::open_keyed_with_progress(path, key, &|_| {})
    }

    /// Whether opening the file at `path` with a key has work to do first: the database is still
    /// plain (and so are its image files).
    pub fn needs_migration(path: &Path) -> Result<bool, StoreError> {
        Ok(file_state(path)? == FileState::Plain)
    }

    /// [`Store::open_keyed`], telling `progress` how the move to encryption goes: the database
    /// encrypted in place, then each plain image file sealed. Each step is safe to interrupt
    /// (a power cut leaves every file whole, plain or encrypted), and the next open goes on
    /// where it stopped.
    pub fn open_keyed_with_progress(
        path: &Path,
        key: &DataKey,
        progress: &(dyn Fn(MigrationProgress) + Sync),
    ) -> Result<Self, StoreError> {
        if file_state(path)? == FileState::Plain {
            tracing::info!("encrypting the database in place");
            encrypt_in_place(
                path,
                key,
                |step| {
                    progress(MigrationProgress::Database(step));
                    Ok(())
                },
                |written, of| progress(MigrationProgress::Copying { written, of }),
            )?;
        }
        let mut store = Self::open_with(path, Some(key))?;
        if meta_get(&store.conn, BLOBS_SEALED)?.is_none() || store.previous_key.is_some() {
            let sealed = store
                .blob_files()
                .seal_all(|done, of| progress(MigrationProgress::Images { done, of }))?;
            tracing::info!(sealed, "image files sealed");
            meta_set(&store.conn, BLOBS_SEALED, "1")?;
            store
                .conn
                .execute("DELETE FROM meta WHERE key = ?1", [PREVIOUS_KEY])
                .map_err(StoreError::sqlite("forgetting the previous key"))?;
            store.previous_key = None;
            store.blob_keys.1 = None;
        }
        Ok(store)
    }

    /// Moves the encrypted database at `path` from the key `old` to `new` in place (the
    /// workstation takes its clinic's key): the file is exported under the new key, flushed and
    /// renamed over the old one, as [`encrypt_in_place`] does. The old key is kept inside the
    /// file until [`Store::open_keyed`] with the new one has sealed every image file again.
    /// `after_step` may stop the work (tests); run again, it goes on.
    pub fn rekey(
        path: &Path,
        old: &DataKey,
        new: &DataKey,
        after_step: impl FnMut(EncryptStep) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        {
            let store = Self::open_with(path, Some(old))?;
            meta_set(&store.conn, PREVIOUS_KEY, &old.sqlcipher_hex())?;
        }
        encryption::rekey_in_place(path, old, new, after_step)
    }

    /// An empty store in memory, holding nothing: what the app service reads before a sign-in
    /// opens the workstation's encrypted file.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::open_with(Path::new(":memory:"), None)
    }

    fn open_with(path: &Path, key: Option<&DataKey>) -> Result<Self, StoreError> {
        let mut conn = open_connection(path, OpenFlags::default(), key)?;
        migrate_to(&mut conn, SCHEMA_VERSION)?;
        let workstation = load_or_create_workstation(&mut conn)?;
        let last: Option<HlcStamp> = meta_get(&conn, "hlc_last")?.and_then(|s| s.parse().ok());
        let clock = HybridClock::resume(workstation.node_id.clone(), last.as_ref());
        let previous_key = match key {
            Some(_) => meta_get(&conn, PREVIOUS_KEY)?.and_then(|hex| DataKey::from_hex(&hex)),
            None => None,
        };
        let mut store = Self {
            conn,
            path: path.to_owned(),
            key: key.cloned(),
            blob_keys: (
                key.map(DataKey::blob_key),
                previous_key.as_ref().map(DataKey::blob_key),
            ),
            previous_key,
            workstation,
            clock,
            actor: None,
        };
        store.refresh_match_keys()?;
        Ok(store)
    }

    /// Names the user whose writes follow, for the audit trail (`None`: nobody is signed in, and
    /// writes such as demo data are not audited).
    pub fn set_actor(&mut self, user_id: Option<UserId>) {
        self.actor = user_id;
    }

    /// The user named by [`Store::set_actor`].
    pub fn actor(&self) -> Option<UserId> {
        self.actor
    }

    /// How to open this file again on another thread (with its key, if encrypted). WAL lets
    /// other connections read while this one writes.
    pub fn opener(&self) -> StoreOpener {
        StoreOpener {
            path: self.path.clone(),
            key: self.key.clone(),
        }
    }

    /// Whether the file is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.key.is_some()
    }

    /// Whether the file is encrypted with `key`.
    pub fn is_keyed_with(&self, key: &DataKey) -> bool {
        self.key.as_ref() == Some(key)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Who this workstation is.
    pub fn workstation(&self) -> &Workstation {
        &self.workstation
    }

    /// Gives this workstation a new clock node (a data folder restored from a backup that
    /// enrolls as a new workstation beside the one it was copied from): changes from now on are
    /// stamped with it; the stamps already written keep theirs.
    pub fn renew_node(&mut self) -> Result<NodeId, StoreError> {
        let node = NodeId(crate::model::new_uuid().simple().to_string());
        meta_set(&self.conn, "node_id", &node.0)?;
        let last: Option<HlcStamp> = meta_get(&self.conn, "hlc_last")?.and_then(|s| s.parse().ok());
        self.clock = HybridClock::resume(node.clone(), last.as_ref());
        self.workstation.node_id = node.clone();
        Ok(node)
    }

    /// Sets the prefix of patient numbers handed out from now on.
    pub fn set_number_prefix(&mut self, prefix: &str) -> Result<(), StoreError> {
        let prefix = prefix.trim().to_ascii_uppercase();
        if prefix.is_empty()
            || prefix.len() > 8
            || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(StoreError::InvalidSetting(
                "The patient number prefix is 1 to 8 letters or digits.".into(),
            ));
        }
        meta_set(&self.conn, "number_prefix", &prefix)?;
        self.workstation.number_prefix = prefix;
        Ok(())
    }

    /// A setting of this workstation (e.g. the signed-in user's name).
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        meta_get(&self.conn, &format!("setting.{key}"))
    }

    /// Stores a setting of this workstation.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        meta_set(&self.conn, &format!("setting.{key}"), value)
    }

    /// Counts for the status bar and `outpost status`.
    pub fn status(&self) -> Result<StoreStatus, StoreError> {
        let count = |sql: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(sql, [], |row| row.get(0))
                .map_err(StoreError::sqlite("counting records"))
        };
        Ok(StoreStatus {
            patients: count(
                "SELECT count(*) FROM patient WHERE voided = 0 AND merged_into IS NULL",
            )?,
            visits: count("SELECT count(*) FROM encounter WHERE status <> 'voided'")?,
            pending_changes: self.pending_count()?,
            schema_version: schema_version(&self.conn)?,
            database_path: self.path.clone(),
        })
    }

    /// Local changes waiting for the server: a cheap count from the outbox's own index.
    pub fn pending_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM change_log INDEXED BY change_log_pending
                 WHERE push_state = 'pending'",
                [],
                |row| row.get(0),
            )
            .map_err(StoreError::sqlite(
                "counting changes waiting for the server",
            ))
    }

    /// Patients not voided nor merged: a cheap count for the status bar.
    pub fn patient_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM patient WHERE voided = 0 AND merged_into IS NULL",
                [],
                |row| row.get(0),
            )
            .map_err(StoreError::sqlite("counting patients"))
    }
}

/// A read-only connection for another thread.
pub struct ReadOnlyStore {
    conn: Connection,
}

fn open_connection(
    path: &Path,
    flags: OpenFlags,
    key: Option<&DataKey>,
) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    if let Some(key) = key {
        encryption::apply_key(&conn, path, key)?;
    }
    // WAL lets the list's reader run beside the writer; NORMAL sync in WAL mode is durable across
    // a crash of the app (a power cut may lose the last transaction, never corrupt the file).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;",
    )
    .map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    // Writes build their statements per table; keep them all prepared.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
        row.get(0)
    })
    .optional()
    .map_err(StoreError::sqlite("reading a setting"))
}

fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map(drop)
    .map_err(StoreError::sqlite("writing a setting"))
}

fn load_or_create_workstation(conn: &mut Connection) -> Result<Workstation, StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(StoreError::sqlite("reading the workstation identity"))?;
    let get_or_init = |key: &str, init: String| -> Result<String, StoreError> {
        if let Some(value) = meta_get(&tx, key)? {
            return Ok(value);
        }
        meta_set(&tx, key, &init)?;
        Ok(init)
    };
    let node_id = get_or_init("node_id", crate::model::new_uuid().simple().to_string())?;
    let clinic_id = get_or_init("clinic_id", ClinicId::new().to_string())?;
    let number_prefix = get_or_init("number_prefix", "OUT".to_owned())?;
    tx.commit()
        .map_err(StoreError::sqlite("saving the workstation identity"))?;
    let clinic_id = clinic_id.parse().map_err(|_| StoreError::Corrupt {
        what: "the clinic id in the settings",
    })?;
    Ok(Workstation {
        node_id: NodeId(node_id),
        clinic_id,
        number_prefix,
    })
}

/// Times are stored as RFC 3339 UTC text with milliseconds, which sorts in time order.
pub(crate) fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads a stored time; `None` for text that is not one.
pub(crate) fn time_from_text(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
