//! Backups of a workstation: a new folder that is itself a data folder (the database, its key
//! file and the blob folder), so a backup opens with `--data-dir` and the same passwords or the
//! recovery key, and nothing in it is readable without one.
//!
//! The database is written with `sqlcipher_export` under the clinic's key (a plain store, one not
//! set up yet, is copied with `VACUUM INTO`); every image is read back through its hash check and
//! written sealed again, so a backup never copies a damaged file unnoticed. Each file is written
//! under a temporary name, flushed and renamed.

use super::blobfile::BlobFiles;
use super::{DATABASE_FILE, KEYRING_FILE, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The file in a backup's folder that lists every other file with its size and SHA-256.
pub const MANIFEST_FILE: &str = "manifest.json";

/// How a backup's folder is named: its date and time (UTC), so names sort as times do.
pub const BACKUP_NAME_FORMAT: &str = "%Y-%m-%d-%H%M%S";

/// Removes all but the newest `keep` backups in `folder`: only folders named as backups are
/// named ([`BACKUP_NAME_FORMAT`]) that hold a manifest, so nothing else there is touched.
/// Returns how many were removed.
pub fn prune_backups(folder: &Path, keep: usize) -> Result<usize, StoreError> {
    let mut backups: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(io_error(folder))? {
        let path = entry.map_err(io_error(folder))?.path();
        let named = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| chrono::NaiveDateTime::parse_from_str(n, BACKUP_NAME_FORMAT).is_ok());
        if named && path.join(MANIFEST_FILE).is_file() {
            backups.push(path);
        }
    }
    backups.sort();
    let old = backups.len().saturating_sub(keep.max(1));
    for path in backups.iter().take(old) {
        std::fs::remove_dir_all(path).map_err(io_error(path))?;
    }
    Ok(old)
}

/// The file that marks a data folder restored from a backup, until it enrolls again.
pub const RESTORED_MARKER: &str = "restored-from-backup.json";

/// What a restore wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreReport {
    /// The new data folder.
    pub folder: PathBuf,
    /// Files copied.
    pub files: usize,
    /// When the backup was written.
    pub backup_written: String,
}

/// Restores the backup in `backup` into the new data folder `dest` (which must not exist, or be
/// empty), after checking every file against the manifest. The copy is marked as restored: it
/// works offline at once, and syncs only after it enrolls again, as a new workstation or taking
/// over the one it was backed up from (see `sync::engine::enroll`).
pub fn restore_backup(backup: &Path, dest: &Path) -> Result<RestoreReport, StoreError> {
    let check = verify_backup(backup)?;
    if !check.problems.is_empty() {
        return Err(StoreError::BackupNotWhole {
            problems: check.problems,
        });
    }
    if !is_missing_or_empty(dest)? {
        return Err(StoreError::InvalidSetting(format!(
            "{} is not empty: a backup is restored into a new folder",
            dest.display()
        )));
    }
    let text = std::fs::read(backup.join(MANIFEST_FILE)).map_err(io_error(backup))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| StoreError::BackupNotWhole {
            problems: vec![BackupProblem::BadManifest(e.to_string())],
        })?;
    for file in &manifest.files {
        let from = backup.join(&file.path);
        let to = dest.join(&file.path);
        if let Some(folder) = to.parent() {
            std::fs::create_dir_all(folder).map_err(io_error(folder))?;
        }
        std::fs::copy(&from, &to).map_err(io_error(&to))?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&to)
            .and_then(|f| f.sync_all())
            .map_err(io_error(&to))?;
    }
    let marker = serde_json::json!({
        "backup_written": manifest.created_at,
        "restored_at": super::time_text(chrono::Utc::now()),
    });
    let marker_path = dest.join(RESTORED_MARKER);
    std::fs::write(&marker_path, marker.to_string()).map_err(io_error(&marker_path))?;
    Ok(RestoreReport {
        folder: dest.to_owned(),
        files: manifest.files.len(),
        backup_written: manifest.created_at,
    })
}

impl Store {
    /// True for a data folder restored from a backup that has not enrolled since.
    pub fn is_restored_copy(&self) -> bool {
        self.data_dir().join(RESTORED_MARKER).is_file()
    }

    /// After a restored copy enrolled: pull everything again from the start (changes already
    /// here are recognised by their id), and drop the restored mark.
    pub fn finish_restore(&mut self) -> Result<(), StoreError> {
        self.set_sync_setting("cursor", "0")?;
        let marker = self.data_dir().join(RESTORED_MARKER);
        match std::fs::remove_file(&marker) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&marker)(e)),
        }
    }
}

/// The manifest's format, for a later reader.
const MANIFEST_FORMAT: u32 = 1;

/// A backup's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    created_at: String,
    encrypted: bool,
    files: Vec<ManifestFile>,
}

/// One file of a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ManifestFile {
    /// Relative to the backup's folder, with `/` between folders.
    path: String,
    bytes: u64,
    sha256: String,
}

/// What is wrong with a backup.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackupProblem {
    /// No manifest: not a backup, or one cut short before it finished.
    #[error("there is no {MANIFEST_FILE}: this is not a finished backup")]
    NoManifest,
    /// The manifest cannot be read.
    #[error("{MANIFEST_FILE} cannot be read: {0}")]
    BadManifest(String),
    /// A file the manifest lists is gone.
    #[error("{0} is missing")]
    Missing(String),
    /// A file's size or content is not what was written.
    #[error("{0} has changed since the backup was written (damaged, or edited)")]
    Changed(String),
}

/// The outcome of checking a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupCheck {
    /// Files the manifest lists.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// When the backup was written (as the manifest says).
    pub created_at: String,
    /// Whether it is encrypted.
    pub encrypted: bool,
    /// Everything wrong; empty when the backup is whole.
    pub problems: Vec<BackupProblem>,
}

/// Checks the backup in `dir` against its manifest: every file there, with its size and SHA-256.
/// Reads every byte; needs no password (the files are checked as written, encrypted or not).
pub fn verify_backup(dir: &Path) -> Result<BackupCheck, StoreError> {
    let path = dir.join(MANIFEST_FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(BackupCheck {
                files: 0,
                bytes: 0,
                created_at: String::new(),
                encrypted: false,
                problems: vec![BackupProblem::NoManifest],
            });
        }
        Err(e) => return Err(io_error(&path)(e)),
    };
    let manifest: Manifest = match serde_json::from_slice(&text) {
        Ok(manifest) => manifest,
        Err(e) => {
            return Ok(BackupCheck {
                files: 0,
                bytes: 0,
                created_at: String::new(),
                encrypted: false,
                problems: vec![BackupProblem::BadManifest(e.to_string())],
            });
        }
    };
    let mut problems = Vec::new();
    for file in &manifest.files {
        // Only plain relative paths: a manifest never sends the check outside the folder.
        let relative = Path::new(&file.path);
        if relative.is_absolute()
            || relative
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            problems.push(BackupProblem::BadManifest(format!(
                "{:?} is not a path inside the backup",
                file.path
            )));
            continue;
        }
        match hash_file(&dir.join(relative)) {
            Ok(None) => problems.push(BackupProblem::Missing(file.path.clone())),
            Ok(Some((bytes, sha256))) if bytes == file.bytes && sha256 == file.sha256 => {}
            Ok(Some(_)) => problems.push(BackupProblem::Changed(file.path.clone())),
            Err(e) => return Err(e),
        }
    }
    Ok(BackupCheck {
        files: manifest.files.len(),
        bytes: manifest.files.iter().map(|f| f.bytes).sum(),
        created_at: manifest.created_at,
        encrypted: manifest.encrypted,
        problems,
    })
}

/// Writes the manifest of the backup in `dest`, last: the size and SHA-256 of every file as
/// written, read back from the disk, so [`verify_backup`] can tell a whole backup from a damaged
/// or partial one. The server's backups use it too.
pub fn write_manifest(dest: &Path, encrypted: bool) -> Result<(), StoreError> {
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        created_at: super::time_text(chrono::Utc::now()),
        encrypted,
        files: list_files(dest)?,
    };
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| {
        StoreError::InvalidSetting(format!("the backup's manifest could not be written: {e}"))
    })?;
    let part = dest.join(format!(".{MANIFEST_FILE}.part"));
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&part).map_err(io_error(&part))?;
        file.write_all(&text).map_err(io_error(&part))?;
        file.sync_all().map_err(io_error(&part))?;
    }
    let final_path = dest.join(MANIFEST_FILE);
    std::fs::rename(&part, &final_path).map_err(io_error(&final_path))?;
    if let Ok(folder) = std::fs::File::open(dest) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// True when `dir` does not exist or holds nothing: a backup or a restore writes only there.
fn is_missing_or_empty(dir: &Path) -> Result<bool, StoreError> {
    if !dir.exists() {
        return Ok(true);
    }
    Ok(std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .next()
        .is_none())
}

/// Every file under `root` (but the manifest), sorted, with its size and SHA-256.
fn list_files(root: &Path) -> Result<Vec<ManifestFile>, StoreError> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).map_err(io_error(&folder))? {
            let entry = entry.map_err(io_error(&folder))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(io_error(&path))?;
            if kind.is_dir() {
                folders.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if relative == MANIFEST_FILE || relative.ends_with(".part") {
                continue;
            }
            if let Some((bytes, sha256)) = hash_file(&path)? {
                files.push(ManifestFile {
                    path: relative,
                    bytes,
                    sha256,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The size and SHA-256 (hex) of a file; `None` when it does not exist.
fn hash_file(path: &Path) -> Result<Option<(u64, String)>, StoreError> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        hasher.update(buffer.get(..n).unwrap_or_default());
        bytes += n as u64;
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Some((bytes, sha256)))
}

/// What a backup wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup's folder.
    pub folder: PathBuf,
    /// Image files copied.
    pub images: usize,
    /// Whether the backup is encrypted (the store was).
    pub encrypted: bool,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Store {
    /// Writes a backup into the folder `dest`, which must not exist yet (or be empty).
    pub fn backup_to(&self, dest: &Path) -> Result<BackupReport, StoreError> {
        if !is_missing_or_empty(dest)? {
            return Err(StoreError::InvalidSetting(format!(
                "{} is not empty: a backup goes into a new folder",
                dest.display()
            )));
        }
        std::fs::create_dir_all(dest).map_err(io_error(dest))?;
        let database = dest.join(DATABASE_FILE);
        let temporary = dest.join(format!(".{DATABASE_FILE}.part"));
        match &self.key {
            Some(key) => super::encryption::export_encrypted(&self.conn, &temporary, key)?,
            None => {
                let text = temporary.to_str().ok_or(StoreError::InvalidSetting(
                    "the backup folder's path is not valid text".into(),
                ))?;
                self.conn
                    .execute("VACUUM INTO ?1", [text])
                    .map_err(StoreError::sqlite("writing the backup"))?;
            }
        }
        // Windows flushes only a file opened for writing (opening it so does not change it).
        std::fs::OpenOptions::new()
            .write(true)
            .open(&temporary)
            .and_then(|file| file.sync_all())
            .map_err(io_error(&temporary))?;
        std::fs::rename(&temporary, &database).map_err(io_error(&database))?;

        let keyring = self.data_dir().join(KEYRING_FILE);
        if keyring.is_file() {
            let copy = dest.join(KEYRING_FILE);
            std::fs::copy(&keyring, &copy).map_err(io_error(&copy))?;
        }

        let source = self.blob_files();
        let target = BlobFiles::new(dest.join("blobs"), self.blob_keys.0.clone());
        let mut images = 0;
        for blob in self.blobs_where("1 = 1 ORDER BY sha256", "listing image files")? {
            if let Some(bytes) = source.read(&blob)? {
                target.write(&blob, &bytes)?;
                images += 1;
            }
        }
        write_manifest(dest, self.key.is_some())?;
        Ok(BackupReport {
            folder: dest.to_owned(),
            images,
            encrypted: self.key.is_some(),
        })
    }
}
