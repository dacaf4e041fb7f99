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
use std::path::{Path, PathBuf};

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
        if dest.exists()
            && std::fs::read_dir(dest)
                .map_err(io_error(dest))?
                .next()
                .is_some()
        {
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
        if let Ok(folder) = std::fs::File::open(dest) {
            let _ = folder.sync_all();
        }
        Ok(BackupReport {
            folder: dest.to_owned(),
            images,
            encrypted: self.key.is_some(),
        })
    }
}
