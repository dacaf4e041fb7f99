//! What `outpost status` prints: counts and sync state, never a patient. An encrypted database
//! cannot be counted without a password, so the workstation writes its counts to `status.json`
//! beside the database whenever they change in a way worth knowing (a sign-out or lock, a sync
//! round, the end of the program), and `status` reads them from there, saying when they were
//! taken.

use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file the counts are kept in, beside the database.
pub const STATUS_FILE: &str = "status.json";

/// Counts and sync state of one workstation's store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// When they were counted.
    pub counted_at: DateTime<Utc>,
    /// The database file's schema version.
    pub schema_version: u32,
    /// Patients not voided.
    pub patients: i64,
    /// Visits not voided.
    pub visits: i64,
    /// Changes the server has not acknowledged.
    pub pending_changes: i64,
    /// The server this workstation is enrolled with.
    pub server: Option<String>,
    /// When a sync round last finished without error.
    pub last_sync: Option<DateTime<Utc>>,
    /// Conflicts waiting for a person.
    pub open_conflicts: usize,
    /// Changes the server holds back (stamped ahead of its clock).
    pub held_changes: usize,
}

impl StatusReport {
    /// Counts `store` now.
    pub fn of(store: &Store, now: DateTime<Utc>) -> Result<Self, StoreError> {
        let counts = store.status()?;
        Ok(Self {
            counted_at: now,
            schema_version: counts.schema_version,
            patients: counts.patients,
            visits: counts.visits,
            pending_changes: counts.pending_changes,
            server: crate::sync::engine::server_url(store)?,
            last_sync: crate::sync::engine::last_sync(store)?,
            open_conflicts: store.conflicts()?.len(),
            held_changes: store.held_changes()?.len(),
        })
    }

    /// The counts last written into `data_dir`, if any.
    pub fn load(data_dir: &Path) -> Result<Option<Self>, StoreError> {
        let path = data_dir.join(STATUS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|_| StoreError::Corrupt {
                        what: "the status file status.json",
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Writes the counts into `data_dir` (to a temporary name, then renamed: a reader sees the
    /// old file or the new one).
    pub fn save(&self, data_dir: &Path) -> Result<(), StoreError> {
        let path = data_dir.join(STATUS_FILE);
        let temporary = data_dir.join(format!("{STATUS_FILE}.new"));
        let text = serde_json::to_vec_pretty(self).map_err(|_| StoreError::Corrupt {
            what: "the status file status.json",
        })?;
        std::fs::write(&temporary, text).map_err(|source| StoreError::Io {
            path: temporary.clone(),
            source,
        })?;
        std::fs::rename(&temporary, &path).map_err(|source| StoreError::Io { path, source })
    }

    /// Counts `store` and writes the counts beside it.
    pub fn refresh(store: &Store) -> Result<(), StoreError> {
        Self::of(store, Utc::now())?.save(store.data_dir())
    }

    /// The `key: value` lines of `outpost status`.
    pub fn lines(&self) -> Vec<String> {
        vec![
            format!("schema version: {}", self.schema_version),
            format!("patients: {}", self.patients),
            format!("visits: {}", self.visits),
            format!("pending changes: {}", self.pending_changes),
            format!("server: {}", self.server.as_deref().unwrap_or("none")),
            format!(
                "last sync: {}",
                self.last_sync
                    .map_or("never".to_owned(), |t| t.to_rfc3339())
            ),
            format!("open conflicts: {}", self.open_conflicts),
            format!("held changes: {}", self.held_changes),
            format!("counted at: {}", self.counted_at.to_rfc3339()),
        ]
    }
}
