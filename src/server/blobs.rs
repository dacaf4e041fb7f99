//! Blobs (images, documents) as files in a folder, for every server store: the database keeps
//! who refers to a blob and who stored it, the folder keeps the bytes.
//!
//! A complete, checked blob lives at `<first two hex digits>/<sha256>`; an upload in progress at
//! `partial/<device id>/<sha256>`, where a cut upload resumes. Each device's upload is its own, so
//! no device can block or spoil another's. A blob becomes visible by a rename, which is atomic, and
//! blobs are named by their content: several server processes can share one folder (a network
//! file system on the district's storage) with no lock between them, since two that finish the
//! same blob write the same bytes under the same name.

use super::store::{BlobState, BlobUpload, OpenedBlob, StoreError};
use crate::sync::wire::BlobHash;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use uuid::Uuid;

/// The folder of a store's blobs.
#[derive(Clone, Debug)]
pub(super) struct BlobFolder {
    root: PathBuf,
}

impl BlobFolder {
    /// Opens (creating if needed) the blob folder at `root`.
    pub(super) fn open(root: PathBuf) -> Result<Self, StoreError> {
        let partial_dir = root.join("partial");
        fs::create_dir_all(&partial_dir).map_err(StoreError::io(&partial_dir))?;
        Ok(Self { root })
    }

    fn partial_dir(&self, device_id: Uuid) -> PathBuf {
        self.root
            .join("partial")
            .join(device_id.hyphenated().to_string())
    }

    fn partial_path(&self, device_id: Uuid, sha256: &BlobHash) -> PathBuf {
        self.partial_dir(device_id).join(sha256.as_str())
    }

    fn complete_path(&self, sha256: &BlobHash) -> PathBuf {
        let name = sha256.as_str();
        self.root.join(name.get(..2).unwrap_or("00")).join(name)
    }

    /// Copies every complete blob into `dest` (laid out as this folder is); unfinished uploads
    /// are left out. Blobs never change once complete, so a copy taken while the server serves
    /// holds every blob a database snapshot taken before it names. Returns how many.
    pub(super) fn copy_complete_to(&self, dest: &Path) -> Result<usize, StoreError> {
        let mut blobs = 0;
        for shard in fs::read_dir(&self.root).map_err(StoreError::io(&self.root))? {
            let shard = shard.map_err(StoreError::io(&self.root))?;
            if shard.file_name() == "partial" || !shard.path().is_dir() {
                continue;
            }
            let to_shard = dest.join(shard.file_name());
            fs::create_dir_all(&to_shard).map_err(StoreError::io(&to_shard))?;
            for blob in fs::read_dir(shard.path()).map_err(StoreError::io(shard.path()))? {
                let blob = blob.map_err(StoreError::io(shard.path()))?;
                let to = to_shard.join(blob.file_name());
                fs::copy(blob.path(), &to).map_err(StoreError::io(&to))?;
                blobs += 1;
            }
        }
        Ok(blobs)
    }

    pub(super) fn blob_state(
        &self,
        device_id: Uuid,
        sha256: &BlobHash,
    ) -> Result<BlobState, StoreError> {
        let complete = self.complete_path(sha256);
        if let Some(size) = file_len(&complete)? {
            return Ok(BlobState::Complete { size });
        }
        let partial = self.partial_path(device_id, sha256);
        Ok(match file_len(&partial)? {
            Some(stored) => BlobState::Partial { stored },
            None => BlobState::Missing,
        })
    }

    pub(super) fn begin_upload(
        &self,
        device_id: Uuid,
        sha256: &BlobHash,
        total_size: u64,
    ) -> Result<Box<dyn BlobUpload>, StoreError> {
        let partial = self.partial_path(device_id, sha256);
        if let Some(dir) = partial.parent() {
            fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)
            .map_err(StoreError::io(&partial))?;
        let mut stored = file.metadata().map_err(StoreError::io(&partial))?.len();
        if stored > total_size {
            // Bytes beyond the declared size cannot belong to this blob: start again.
            file.set_len(0).map_err(StoreError::io(&partial))?;
            stored = 0;
        }
        // Hash what is held already, so the bytes that follow are hashed as they arrive and
        // the check at the end needs no second pass over the file.
        let mut hasher = Sha256::new();
        file.seek(SeekFrom::Start(0))
            .map_err(StoreError::io(&partial))?;
        let copied = std::io::copy(&mut (&mut file).take(stored), &mut HashWriter(&mut hasher))
            .map_err(StoreError::io(&partial))?;
        if copied != stored {
            // The file shrank under us; resume from what was actually read.
            file.set_len(copied).map_err(StoreError::io(&partial))?;
            stored = copied;
        }
        file.seek(SeekFrom::Start(stored))
            .map_err(StoreError::io(&partial))?;
        Ok(Box::new(FileUpload {
            sha256: sha256.clone(),
            file,
            hasher,
            offset: stored,
            total_size,
            partial,
            complete: self.complete_path(sha256),
        }))
    }

    pub(super) fn open_blob(&self, sha256: &BlobHash) -> Result<Option<OpenedBlob>, StoreError> {
        let path = self.complete_path(sha256);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path)(e)),
        };
        let size = file.metadata().map_err(StoreError::io(&path))?.len();
        Ok(Some((size, Box::new(file))))
    }

    pub(super) fn partial_bytes(&self, device_id: Uuid) -> Result<u64, StoreError> {
        let dir = self.partial_dir(device_id);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(StoreError::io(&dir)(e)),
        };
        let mut total = 0u64;
        for entry in entries {
            let entry = entry.map_err(StoreError::io(&dir))?;
            let len = entry
                .metadata()
                .map_err(StoreError::io(entry.path()))?
                .len();
            total = total.saturating_add(len);
        }
        Ok(total)
    }

    pub(super) fn remove_stale_partials(
        &self,
        older_than: SystemTime,
    ) -> Result<usize, StoreError> {
        let root = self.root.join("partial");
        let mut removed = 0;
        for device_dir in fs::read_dir(&root).map_err(StoreError::io(&root))? {
            let device_dir = device_dir.map_err(StoreError::io(&root))?.path();
            if !device_dir.is_dir() {
                // A partial upload kept by an older server, before uploads were per device.
                if modified_before(&device_dir, older_than)? {
                    fs::remove_file(&device_dir).map_err(StoreError::io(&device_dir))?;
                    removed += 1;
                }
                continue;
            }
            for file in fs::read_dir(&device_dir).map_err(StoreError::io(&device_dir))? {
                let file = file.map_err(StoreError::io(&device_dir))?.path();
                if modified_before(&file, older_than)? {
                    match fs::remove_file(&file) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(StoreError::io(&file)(e)),
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// Whether a file was last written before `time`.
fn modified_before(path: &Path, time: SystemTime) -> Result<bool, StoreError> {
    match fs::metadata(path).and_then(|m| m.modified()) {
        Ok(modified) => Ok(modified < time),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io(path)(e)),
    }
}

fn file_len(path: &Path) -> Result<Option<u64>, StoreError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(meta.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(path)(e)),
    }
}

/// Feeds bytes copied into it to a SHA-256.
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An upload into `blobs/partial/<sha256>`.
struct FileUpload {
    sha256: BlobHash,
    file: File,
    hasher: Sha256,
    offset: u64,
    total_size: u64,
    partial: PathBuf,
    complete: PathBuf,
}

impl BlobUpload for FileUpload {
    fn offset(&self) -> u64 {
        self.offset
    }

    fn append(&mut self, data: &[u8]) -> Result<u64, StoreError> {
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let end = self.offset.saturating_add(len);
        if end > self.total_size {
            return Err(StoreError::PastEnd {
                sha256: self.sha256.clone(),
                offset: end,
                total_size: self.total_size,
            });
        }
        self.file
            .write_all(data)
            .map_err(StoreError::io(&self.partial))?;
        self.hasher.update(data);
        self.offset = end;
        Ok(end)
    }

    fn finish(self: Box<Self>) -> Result<(), StoreError> {
        let upload = *self;
        if upload.offset != upload.total_size {
            return Err(StoreError::Incomplete {
                sha256: upload.sha256,
                offset: upload.offset,
                total_size: upload.total_size,
            });
        }
        let actual = BlobHash::from_digest(&upload.hasher.finalize());
        if actual != upload.sha256 {
            drop(upload.file);
            fs::remove_file(&upload.partial).map_err(StoreError::io(&upload.partial))?;
            return Err(StoreError::HashMismatch {
                sha256: upload.sha256,
                actual,
            });
        }
        upload
            .file
            .sync_all()
            .map_err(StoreError::io(&upload.partial))?;
        drop(upload.file);
        let dir = upload
            .complete
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
        fs::rename(&upload.partial, &upload.complete).map_err(StoreError::io(&upload.complete))?;
        // The rename itself must survive a power cut before the blob is reported stored.
        sync_dir(&dir)?;
        Ok(())
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(dir))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    // Directories cannot be opened for syncing here; the rename is durable on its own.
    Ok(())
}
