//! The database encrypted at rest with SQLCipher, keyed by the clinic's data key.
//!
//! Every connection to an encrypted file gives the raw key first (`PRAGMA key = "x'…'"`, no
//! second key derivation: the data key is already random). SQLCipher encrypts every page of the
//! file and of its WAL; temporary tables stay in memory (`temp_store = MEMORY`), so nothing of a
//! patient reaches the disk in clear.
//!
//! A file written before encryption existed is encrypted in place by [`encrypt_in_place`]:
//! `sqlcipher_export` writes an encrypted copy beside it, which is flushed and renamed over the
//! original. A power cut at any moment leaves either the old file or the new one, both whole.

use super::StoreError;
use crate::keys::DataKey;
use rusqlite::Connection;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The first bytes of every unencrypted SQLite file.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What a database file on disk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileState {
    /// No file yet (or an empty one).
    Missing,
    /// A plain SQLite file, readable by anyone.
    Plain,
    /// Anything else: an encrypted file (or not a database at all).
    Encrypted,
}

/// Tells a plain SQLite file from an encrypted one by its first 16 bytes.
pub fn file_state(path: &Path) -> Result<FileState, StoreError> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileState::Missing),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let mut header = [0u8; 16];
    let mut read = 0;
    while read < header.len() {
        match file.read(&mut header[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(match read {
        0 => FileState::Missing,
        16 if &header == PLAIN_HEADER => FileState::Plain,
        _ => FileState::Encrypted,
    })
}

/// The statement that keys a connection: first on every connection to an encrypted file.
fn key_pragma(schema: &str, key: &DataKey) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "PRAGMA {schema}.key = \"x'{}'\";",
        key.sqlcipher_hex().as_str()
    ))
}

/// Keys `conn` with `key` and checks the key opens the file.
pub(super) fn apply_key(conn: &Connection, path: &Path, key: &DataKey) -> Result<(), StoreError> {
    conn.execute_batch(&key_pragma("main", key))
        .map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
    // SQLCipher reads the first page only when something asks: a wrong key fails here.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| {
        row.get::<_, i64>(0)
    })
    .map(drop)
    .map_err(|_| StoreError::WrongKey {
        path: path.to_owned(),
    })
}

/// Writes an encrypted copy of the database open on `conn` (plain or encrypted) to the new file
/// `dest`, keyed with `key`, schema version included. The copy is not flushed yet.
pub(super) fn export_encrypted(
    conn: &Connection,
    dest: &Path,
    key: &DataKey,
) -> Result<(), StoreError> {
    let fail = |step: &'static str| {
        move |e: rusqlite::Error| StoreError::Encrypting {
            step,
            detail: e.to_string(),
        }
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(fail("reading the schema version"))?;
    let dest_text = dest.to_str().ok_or(StoreError::Encrypting {
        step: "naming the copy",
        detail: "the folder's path is not valid text".into(),
    })?;
    conn.execute("ATTACH DATABASE ?1 AS encrypted KEY ''", [dest_text])
        .map_err(fail("creating the encrypted copy"))?;
    let exported = conn
        .execute_batch(&key_pragma("encrypted", key))
        .map_err(fail("keying the encrypted copy"))
        .and_then(|()| {
            conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))
                .map_err(fail("writing the encrypted copy"))
        })
        .and_then(|()| {
            // sqlcipher_export copies the schema and rows, not the schema version.
            conn.execute_batch(&format!("PRAGMA encrypted.user_version = {version};"))
                .map_err(fail("writing the encrypted copy"))
        });
    let detached = conn
        .execute_batch("DETACH DATABASE encrypted;")
        .map_err(fail("closing the encrypted copy"));
    exported.and(detached)
}

/// The steps of [`encrypt_in_place`], in order, for progress and for tests that stop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncryptStep {
    /// Every change in the WAL written into the file.
    Checkpointed,
    /// The encrypted copy written beside the file.
    Copied,
    /// The copy flushed to the disk.
    Flushed,
    /// The plain file's emptied WAL removed.
    WalRemoved,
    /// The copy renamed over the plain file.
    Replaced,
}

impl EncryptStep {
    /// Every step, in order.
    pub const ALL: [EncryptStep; 5] = [
        Self::Checkpointed,
        Self::Copied,
        Self::Flushed,
        Self::WalRemoved,
        Self::Replaced,
    ];

    /// The step that follows this one.
    pub fn next(self) -> Option<Self> {
        let index = Self::ALL.iter().position(|s| *s == self)?;
        Self::ALL.get(index + 1).copied()
    }

    /// The step in words, for a progress line.
    pub fn label(self) -> &'static str {
        match self {
            Self::Checkpointed => "saving pending writes",
            Self::Copied => "writing the encrypted copy",
            Self::Flushed => "flushing it to the disk",
            Self::WalRemoved => "removing the old journal",
            Self::Replaced => "putting the encrypted copy in place",
        }
    }
}

/// How far the move of a plain workstation to encryption has come, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationProgress {
    /// A step of the database's encryption done.
    Database(EncryptStep),
    /// The encrypted copy of the database being written: bytes so far, of about as many as the
    /// plain file has.
    Copying {
        /// Bytes written.
        written: u64,
        /// The plain file's size.
        of: u64,
    },
    /// Image files looked at (and sealed where plain), of all in the blob folder.
    Images {
        /// Files done.
        done: usize,
        /// Files in all.
        of: usize,
    },
}

impl MigrationProgress {
    /// The progress as a fraction for a bar: the database is the first half (most of it the
    /// copy), the image files the second.
    pub fn fraction(self) -> f32 {
        match self {
            Self::Database(step) => match step {
                EncryptStep::Checkpointed => 0.05,
                EncryptStep::Copied => 0.45,
                EncryptStep::Flushed => 0.47,
                EncryptStep::WalRemoved => 0.48,
                EncryptStep::Replaced => 0.5,
            },
            Self::Copying { written, of } => {
                0.05 + 0.4 * (written as f32 / of.max(1) as f32).min(1.0)
            }
            Self::Images { done, of } => 0.5 + 0.5 * done as f32 / of.max(1) as f32,
        }
    }

    /// What is being done now, in words (the step after the one reported).
    pub fn label(self) -> String {
        match self {
            Self::Database(step) => match step.next() {
                Some(next) => format!("Encrypting the records: {}", next.label()),
                None => "Encrypting the image files".to_owned(),
            },
            Self::Copying { written, of } => format!(
                "Encrypting the records: writing the encrypted copy ({} of {} MB)",
                written / 1_000_000,
                of / 1_000_000
            ),
            Self::Images { done, of } => format!("Encrypting the image files: {done} of {of}"),
        }
    }

    /// What the window says before the first step is reported.
    pub fn starting_label() -> String {
        format!(
            "Encrypting the records: {}",
            EncryptStep::Checkpointed.label()
        )
    }
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Encrypts the plain database at `path` with `key`, in place. `after_step` is called after each
/// step (a progress line; a test returns an error there to stop the work as a power cut would);
/// `copying(written, of)` four times a second while the encrypted copy is written, with its size
/// so far and the plain file's (the longest step, which SQLite cannot report on itself).
/// A copy left half-written by an earlier, interrupted run is discarded first.
pub fn encrypt_in_place(
    path: &Path,
    key: &DataKey,
    after_step: impl FnMut(EncryptStep) -> Result<(), StoreError>,
    copying: impl Fn(u64, u64) + Sync,
) -> Result<(), StoreError> {
    move_to_key(path, None, key, after_step, copying)
}

/// Re-encrypts the database at `path` from `old` to `new`, in place, by the same steps as
/// [`encrypt_in_place`]: a power cut at any moment leaves the file whole under one key or the
/// other.
pub fn rekey_in_place(
    path: &Path,
    old: &DataKey,
    new: &DataKey,
    after_step: impl FnMut(EncryptStep) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    move_to_key(path, Some(old), new, after_step, |_, _| {})
}

/// Writes the database at `path` (plain, or encrypted with `from`) encrypted with `key` beside
/// itself, flushes it, and renames it over the original.
fn move_to_key(
    path: &Path,
    from: Option<&DataKey>,
    key: &DataKey,
    mut after_step: impl FnMut(EncryptStep) -> Result<(), StoreError>,
    copying: impl Fn(u64, u64) + Sync,
) -> Result<(), StoreError> {
    let fail = |step: &'static str| {
        move |e: rusqlite::Error| StoreError::Encrypting {
            step,
            detail: e.to_string(),
        }
    };
    let io = |step: &'static str| {
        move |e: std::io::Error| StoreError::Encrypting {
            step,
            detail: e.to_string(),
        }
    };
    let copy = sidecar(path, ".encrypting");
    match std::fs::remove_file(&copy) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("discarding an earlier copy")(e)),
    }
    {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        if let Some(from) = from {
            apply_key(&conn, path, from)?;
        }
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(fail("saving pending writes"))?;
        after_step(EncryptStep::Checkpointed)?;
        let plain_size = std::fs::metadata(path).map_or(0, |m| m.len());
        let (finished, ended) = std::sync::mpsc::channel::<()>();
        let copy_path = &copy;
        let copying = &copying;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                // Until the export ends (its sender dropped), the copy's size every 250 ms.
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    ended.recv_timeout(std::time::Duration::from_millis(250))
                {
                    if let Ok(meta) = std::fs::metadata(copy_path) {
                        copying(meta.len().min(plain_size), plain_size);
                    }
                }
            });
            let exported = export_encrypted(&conn, &copy, key);
            drop(finished);
            exported
        })?;
    }
    after_step(EncryptStep::Copied)?;
    // Windows flushes only a file opened for writing (opening it so does not change it).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&copy)
        .and_then(|file| file.sync_all())
        .map_err(io("flushing the encrypted copy"))?;
    after_step(EncryptStep::Flushed)?;
    // The WAL was emptied by the checkpoint: without it the old file is whole by itself, and
    // an old WAL must not sit beside the new file.
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(sidecar(path, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing the old journal")(e)),
        }
    }
    after_step(EncryptStep::WalRemoved)?;
    std::fs::rename(&copy, path).map_err(io("putting the encrypted copy in place"))?;
    if let Some(dir) = path.parent() {
        // The rename is durable once the folder is flushed.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    after_step(EncryptStep::Replaced)?;
    Ok(())
}
