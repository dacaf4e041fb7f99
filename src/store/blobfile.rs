//! The blob folder's files: image bytes named by their SHA-256 (`blobs/ab/abcdef…`), sealed at
//! rest with the clinic's key when the store is encrypted.
//!
//! A sealed file is a 32-byte header (`OPSEAL1\0`, a random 16-byte nonce prefix, the plain
//! length) and the plain bytes in chunks of [`BLOB_CHUNK`], each sealed by
//! [`BlobKey::seal_chunk`] with the header and the blob's name as associated data. A chunk opens
//! only in its own place of its own file, the last chunk is marked (a cut file is noticed), and a
//! reader decrypts only the chunks it reads ([`BlobReader`] is `Read + Seek`).
//!
//! Every file is written under a temporary name in the same folder (sealed, too), flushed and
//! renamed, so a crash leaves at worst an unreferenced file. A download in progress keeps the
//! whole chunks it sealed, and resumes after them. A plain file (written before the store was
//! encrypted, or by a store without a key) is still read, its hash checked; [`BlobFiles::seal_all`]
//! seals such files in place.

use super::StoreError;
use crate::keys::{BLOB_CHUNK, BLOB_CHUNK_TAG, BlobKey};
use crate::model::BlobHash;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The first bytes of a sealed file.
const MAGIC: &[u8; 8] = b"OPSEAL1\0";
/// Magic, nonce prefix, plain length.
const HEADER_LEN: usize = 8 + 16 + 8;
/// A sealed chunk on disk (all but the last).
const SEALED_CHUNK: u64 = (BLOB_CHUNK + BLOB_CHUNK_TAG) as u64;

/// The blob folder of a store, and the key its files are sealed with (none: plain files).
#[derive(Clone, Debug)]
pub struct BlobFiles {
    root: PathBuf,
    key: Option<BlobKey>,
    /// While the workstation moves to its clinic's key: the key files not yet sealed again were
    /// sealed with.
    previous: Option<BlobKey>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn damaged(_: impl Sized) -> StoreError {
    StoreError::Corrupt {
        what: "an image file in the blob folder (damaged, cut, or sealed with another key)",
    }
}

/// The header of a sealed file.
#[derive(Clone, Copy, Debug)]
struct Header {
    prefix: [u8; 16],
    plain_len: u64,
}

impl Header {
    fn bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(MAGIC);
        out[8..24].copy_from_slice(&self.prefix);
        out[24..].copy_from_slice(&self.plain_len.to_be_bytes());
        out
    }

    fn parse(bytes: &[u8; HEADER_LEN]) -> Option<Self> {
        if &bytes[..8] != MAGIC {
            return None;
        }
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&bytes[8..24]);
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[24..]);
        Some(Self {
            prefix,
            plain_len: u64::from_be_bytes(len),
        })
    }

    fn random(plain_len: u64) -> Result<Self, StoreError> {
        let mut prefix = [0u8; 16];
        getrandom::fill(&mut prefix).map_err(|e| StoreError::Io {
            path: PathBuf::from("(random source)"),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Self { prefix, plain_len })
    }

    /// Chunks in the file (an empty blob has one, empty).
    fn chunks(&self) -> u64 {
        self.plain_len.div_ceil(BLOB_CHUNK as u64).max(1)
    }

    /// The associated data of every chunk: the header and the blob's name.
    fn aad(&self, blob: &BlobHash) -> Vec<u8> {
        let mut aad = self.bytes().to_vec();
        aad.extend_from_slice(blob.as_str().as_bytes());
        aad
    }
}

/// Reads the sealed header at the start of `file`, if it has one (leaves the file after it).
fn read_header(file: &mut File) -> std::io::Result<Option<Header>> {
    let mut bytes = [0u8; HEADER_LEN];
    let mut read = 0;
    while read < HEADER_LEN {
        match file.read(&mut bytes[read..])? {
            0 => return Ok(None),
            n => read += n,
        }
    }
    Ok(Header::parse(&bytes))
}

fn sync_folder(dir: &Path) {
    // A rename is durable once its folder is flushed; not every platform can flush a folder.
    if let Ok(folder) = File::open(dir) {
        let _ = folder.sync_all();
    }
}

impl BlobFiles {
    /// The blob folder `root`, its files sealed with `key` (plain without one).
    pub fn new(root: PathBuf, key: Option<BlobKey>) -> Self {
        Self {
            root,
            key,
            previous: None,
        }
    }

    /// These files, some of them still sealed with `previous` (read with it, and sealed again
    /// with the current key by [`BlobFiles::seal_all`]).
    pub fn with_previous(mut self, previous: Option<BlobKey>) -> Self {
        self.previous = previous;
        self
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether new files are sealed.
    pub fn is_sealed(&self) -> bool {
        self.key.is_some()
    }

    /// Where a blob's file is (or will be).
    pub fn path(&self, blob: &BlobHash) -> PathBuf {
        let name = blob.as_str();
        self.root.join(name.get(..2).unwrap_or("00")).join(name)
    }

    /// True when the blob's file is here.
    pub fn contains(&self, blob: &BlobHash) -> bool {
        self.path(blob).is_file()
    }

    /// Stores `bytes` as `blob` unless it is here already. Complete and flushed on return.
    pub fn write(&self, blob: &BlobHash, bytes: &[u8]) -> Result<(), StoreError> {
        if BlobHash::of_bytes(bytes) != *blob {
            return Err(StoreError::InvalidSetting(
                "the blob's bytes do not match its name".to_owned(),
            ));
        }
        let path = self.path(blob);
        if path.is_file() {
            return Ok(());
        }
        let temp = temporary_path(&path, ".part");
        self.write_file(blob, &temp, bytes)?;
        std::fs::rename(&temp, &path).map_err(io_error(&path))?;
        if let Some(dir) = path.parent() {
            sync_folder(dir);
        }
        Ok(())
    }

    /// Writes `bytes` (sealed if this folder seals) to `path`, flushed.
    fn write_file(&self, blob: &BlobHash, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        let mut file = File::create(path).map_err(io_error(path))?;
        match &self.key {
            None => file.write_all(bytes).map_err(io_error(path))?,
            Some(key) => {
                let header = Header::random(bytes.len() as u64)?;
                let aad = header.aad(blob);
                let mut out = Vec::with_capacity(bytes.len() + HEADER_LEN + 64);
                out.extend_from_slice(&header.bytes());
                let chunks = header.chunks();
                for index in 0..chunks {
                    let start = (index as usize).saturating_mul(BLOB_CHUNK);
                    let end = start.saturating_add(BLOB_CHUNK).min(bytes.len());
                    let plain = bytes.get(start..end).unwrap_or_default();
                    let sealed = key
                        .seal_chunk(&header.prefix, index, index + 1 == chunks, &aad, plain)
                        .map_err(damaged)?;
                    out.extend_from_slice(&sealed);
                }
                file.write_all(&out).map_err(io_error(path))?;
            }
        }
        file.sync_all().map_err(io_error(path))
    }

    /// Opens a blob for reading (`None` when it is not here). Nothing is decrypted yet.
    pub fn open(&self, blob: &BlobHash) -> Result<Option<BlobReader>, StoreError> {
        let path = self.path(blob);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let header = read_header(&mut file).map_err(io_error(&path))?;
        let inner = match header {
            None => {
                let len = file.metadata().map_err(io_error(&path))?.len();
                file.seek(SeekFrom::Start(0)).map_err(io_error(&path))?;
                Inner::Plain { file, len }
            }
            Some(header) => {
                let Some(key) = self.key.clone() else {
                    return Err(StoreError::Corrupt {
                        what: "an image file sealed with a key this store was not opened with",
                    });
                };
                let mut reader = SealedReader {
                    file,
                    key,
                    aad: header.aad(blob),
                    header,
                    position: 0,
                    chunk: None,
                };
                // A file not sealed again yet after a change of key opens with the one before.
                if reader.load(0).is_err()
                    && let Some(previous) = self.previous.clone()
                {
                    let current = std::mem::replace(&mut reader.key, previous);
                    if reader.load(0).is_err() {
                        reader.key = current;
                    }
                }
                Inner::Sealed(Box::new(reader))
            }
        };
        Ok(Some(BlobReader { inner }))
    }

    /// The bytes of a blob, checked against its name; `None` when it is not here.
    pub fn read(&self, blob: &BlobHash) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(blob);
        let Some(mut reader) = self.open(blob)? else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(usize::try_from(reader.len()).unwrap_or(0));
        reader
            .read_to_end(&mut bytes)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::InvalidData => damaged(()),
                _ => StoreError::Io {
                    path: path.clone(),
                    source,
                },
            })?;
        if BlobHash::of_bytes(&bytes) != *blob {
            return Err(StoreError::Corrupt {
                what: "an image file in the blob folder (its contents do not match its name)",
            });
        }
        Ok(Some(bytes))
    }

    /// Seals every file of the folder that is plain, or sealed with the previous key, in place
    /// (each written sealed beside it, flushed and renamed over it: a power cut leaves the old
    /// file or the new one). Returns how many. Without a key there is nothing to do.
    /// `progress(done, of)` is called after each file looked at.
    pub fn seal_all(&self, mut progress: impl FnMut(usize, usize)) -> Result<usize, StoreError> {
        if self.key.is_none() {
            return Ok(0);
        }
        let mut sealed = 0;
        let mut files = Vec::new();
        let shards = match std::fs::read_dir(&self.root) {
            Ok(shards) => shards,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(StoreError::Io {
                    path: self.root.clone(),
                    source,
                });
            }
        };
        for shard in shards {
            let shard = shard.map_err(io_error(&self.root))?.path();
            if !shard.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(&shard).map_err(io_error(&shard))? {
                files.push(entry.map_err(io_error(&shard))?.path());
            }
        }
        let total = files.len();
        for (done, path) in files.iter().enumerate() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Ok(blob) = name.parse::<BlobHash>() {
                if self.seal_one(&blob, path)? {
                    sealed += 1;
                }
            } else if name.ends_with(".part")
                || name.ends_with(".partial")
                || name.ends_with(".sealing")
            {
                // A temporary file left by an interrupted write, download or sealing: what it
                // held is written or downloaded again, and a plain one must not stay.
                let mut file = File::open(path).map_err(io_error(path))?;
                if name.ends_with(".sealing")
                    || read_header(&mut file).map_err(io_error(path))?.is_none()
                {
                    drop(file);
                    std::fs::remove_file(path).map_err(io_error(path))?;
                }
            }
            progress(done + 1, total);
        }
        Ok(sealed)
    }

    /// Seals one file in place, plain or sealed with the previous key; false when it is sealed
    /// with the current key already.
    fn seal_one(&self, blob: &BlobHash, path: &Path) -> Result<bool, StoreError> {
        let mut file = File::open(path).map_err(io_error(path))?;
        let sealed = read_header(&mut file).map_err(io_error(path))?;
        drop(file);
        let bytes = match sealed {
            None => std::fs::read(path).map_err(io_error(path))?,
            Some(_) => {
                let current = BlobFiles::new(self.root.clone(), self.key.clone());
                if let Some(Inner::Sealed(mut reader)) = current.open(blob)?.map(|r| r.inner)
                    && reader.load(0).is_ok()
                {
                    return Ok(false);
                }
                if self.previous.is_none() {
                    return Ok(false);
                }
                self.read(blob)?.unwrap_or_default()
            }
        };
        if BlobHash::of_bytes(&bytes) != *blob {
            return Err(StoreError::Corrupt {
                what: "an image file in the blob folder (its contents do not match its name)",
            });
        }
        let temp = temporary_path(path, ".sealing");
        self.write_file(blob, &temp, &bytes)?;
        std::fs::rename(&temp, path).map_err(io_error(path))?;
        if let Some(dir) = path.parent() {
            sync_folder(dir);
        }
        Ok(true)
    }

    /// Starts (or resumes) the download of `blob` into this folder: the whole chunks an
    /// interrupted download sealed are kept, their plain bytes hashed again.
    pub fn download(&self, blob: &BlobHash) -> Result<BlobDownload, StoreError> {
        let dest = self.path(blob);
        let partial = temporary_path(&dest, ".partial");
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        }
        let mut download = BlobDownload {
            files: self.clone(),
            blob: blob.clone(),
            dest,
            partial,
            file: None,
            header: None,
            hasher: Sha256::new(),
            held: 0,
            pending: Vec::new(),
        };
        download.resume()?;
        Ok(download)
    }
}

/// `path` with `suffix` added to its name, hidden (a leading dot) in the same folder.
fn temporary_path(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("blob");
    path.with_file_name(format!(".{name}{suffix}"))
}

/// A blob's plain bytes, read and decrypted chunk by chunk (`Read + Seek`).
#[derive(Debug)]
pub struct BlobReader {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Plain { file: File, len: u64 },
    Sealed(Box<SealedReader>),
}

struct SealedReader {
    file: File,
    key: BlobKey,
    header: Header,
    aad: Vec<u8>,
    position: u64,
    /// The chunk last opened: its index and plain bytes.
    chunk: Option<(u64, Vec<u8>)>,
}

impl std::fmt::Debug for SealedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedReader")
            .field("plain_len", &self.header.plain_len)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl SealedReader {
    /// Opens chunk `index` (kept for the next read).
    fn load(&mut self, index: u64) -> std::io::Result<()> {
        if self.chunk.as_ref().is_some_and(|(i, _)| *i == index) {
            return Ok(());
        }
        let chunks = self.header.chunks();
        let last = index + 1 == chunks;
        let plain = if last {
            self.header.plain_len - index * BLOB_CHUNK as u64
        } else {
            BLOB_CHUNK as u64
        };
        let mut sealed = vec![0u8; plain as usize + BLOB_CHUNK_TAG];
        self.file
            .seek(SeekFrom::Start(HEADER_LEN as u64 + index * SEALED_CHUNK))?;
        self.file.read_exact(&mut sealed).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is cut short")
            } else {
                e
            }
        })?;
        let opened = self
            .key
            .open_chunk(&self.header.prefix, index, last, &self.aad, &sealed)
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "a chunk does not open")
            })?;
        self.chunk = Some((index, opened));
        Ok(())
    }
}

impl BlobReader {
    /// Opens a plain file that is not in a blob folder (an upload's source in tests and tools).
    pub fn plain_file(path: &Path) -> Result<Self, StoreError> {
        let file = File::open(path).map_err(io_error(path))?;
        let len = file.metadata().map_err(io_error(path))?.len();
        Ok(Self {
            inner: Inner::Plain { file, len },
        })
    }

    /// The blob's plain length.
    pub fn len(&self) -> u64 {
        match &self.inner {
            Inner::Plain { len, .. } => *len,
            Inner::Sealed(reader) => reader.header.plain_len,
        }
    }

    /// True for an empty blob.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let reader = match &mut self.inner {
            Inner::Plain { file, .. } => return file.read(buf),
            Inner::Sealed(reader) => reader,
        };
        if reader.position >= reader.header.plain_len || buf.is_empty() {
            return Ok(0);
        }
        let index = reader.position / BLOB_CHUNK as u64;
        reader.load(index)?;
        let offset = (reader.position - index * BLOB_CHUNK as u64) as usize;
        let Some((_, plain)) = &reader.chunk else {
            return Ok(0);
        };
        let available = plain.get(offset..).unwrap_or_default();
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        reader.position += n as u64;
        Ok(n)
    }
}

impl Seek for BlobReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let reader = match &mut self.inner {
            Inner::Plain { file, .. } => return file.seek(to),
            Inner::Sealed(reader) => reader,
        };
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(delta) => reader.header.plain_len.checked_add_signed(delta),
            SeekFrom::Current(delta) => reader.position.checked_add_signed(delta),
        };
        let target = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        reader.position = target;
        Ok(target)
    }
}

/// A download in progress into a blob folder: plain bytes go in, sealed whole chunks go to the
/// `.partial` file beside the blob's place; [`BlobDownload::finish`] checks the hash and moves
/// the file into place.
#[derive(Debug)]
pub struct BlobDownload {
    files: BlobFiles,
    blob: BlobHash,
    dest: PathBuf,
    partial: PathBuf,
    file: Option<File>,
    /// The sealed file's header, once the blob's size is known.
    header: Option<Header>,
    hasher: Sha256,
    /// Plain bytes held: written to the file, or waiting in `pending`.
    held: u64,
    /// Plain bytes of the chunk not yet sealed.
    pending: Vec<u8>,
}

impl BlobDownload {
    /// Plain bytes held (where the download resumes).
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Takes up what an earlier download left: plain bytes as they are, or a sealed file's whole
    /// chunks that open (the rest is cut off).
    fn resume(&mut self) -> Result<(), StoreError> {
        let path = self.partial.clone();
        let mut file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        match (
            &self.files.key,
            read_header(&mut file).map_err(io_error(&path))?,
        ) {
            (Some(key), Some(header)) => {
                let aad = header.aad(&self.blob);
                let mut index = 0u64;
                let mut sealed = vec![0u8; SEALED_CHUNK as usize];
                // Only whole chunks that are not the last were written by `write`.
                while index + 1 < header.chunks() {
                    if file.read_exact(&mut sealed).is_err() {
                        break;
                    }
                    let Ok(plain) = key.open_chunk(&header.prefix, index, false, &aad, &sealed)
                    else {
                        break;
                    };
                    self.hasher.update(&plain);
                    index += 1;
                }
                let keep = HEADER_LEN as u64 + index * SEALED_CHUNK;
                file.set_len(keep).map_err(io_error(&path))?;
                file.seek(SeekFrom::Start(keep)).map_err(io_error(&path))?;
                self.held = index * BLOB_CHUNK as u64;
                self.header = Some(header);
                self.file = Some(file);
            }
            (None, None) => {
                file.seek(SeekFrom::Start(0)).map_err(io_error(&path))?;
                let mut buffer = vec![0u8; BLOB_CHUNK];
                loop {
                    let n = file.read(&mut buffer).map_err(io_error(&path))?;
                    if n == 0 {
                        break;
                    }
                    self.hasher.update(&buffer[..n]);
                    self.held += n as u64;
                }
                self.file = Some(file);
            }
            // A partial file of the other kind (the store was encrypted meanwhile): start again.
            _ => {
                drop(file);
                self.restart()?;
            }
        }
        Ok(())
    }

    /// Throws away what is held and starts from the first byte.
    pub fn restart(&mut self) -> Result<(), StoreError> {
        self.file = None;
        self.header = None;
        self.hasher = Sha256::new();
        self.held = 0;
        self.pending.clear();
        match std::fs::remove_file(&self.partial) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io {
                path: self.partial.clone(),
                source,
            }),
        }
    }

    /// Adds the next plain bytes of a blob of `total` bytes.
    pub fn append(&mut self, total: u64, data: &[u8]) -> Result<(), StoreError> {
        if self.held.saturating_add(data.len() as u64) > total {
            return Err(damaged("more bytes than the blob has"));
        }
        let path = self.partial.clone();
        if self.file.is_none() {
            let mut file = File::create(&path).map_err(io_error(&path))?;
            if self.files.key.is_some() {
                let header = Header::random(total)?;
                file.write_all(&header.bytes()).map_err(io_error(&path))?;
                self.header = Some(header);
            }
            self.file = Some(file);
        }
        if let Some(header) = &self.header
            && header.plain_len != total
        {
            return Err(damaged("the blob's size changed"));
        }
        self.hasher.update(data);
        self.held += data.len() as u64;
        match (&self.files.key, self.file.as_mut()) {
            (None, Some(file)) => file.write_all(data).map_err(io_error(&path))?,
            (Some(_), Some(_)) => {
                self.pending.extend_from_slice(data);
                // A whole chunk is sealed as soon as bytes are known to follow it (only the
                // last chunk waits for `finish`).
                while self.pending.len() > BLOB_CHUNK
                    || (self.pending.len() == BLOB_CHUNK && self.held < total)
                {
                    self.seal_pending(BLOB_CHUNK, false)?;
                }
            }
            (_, None) => {}
        }
        Ok(())
    }

    /// Seals the first `len` pending bytes as the next chunk.
    fn seal_pending(&mut self, len: usize, last: bool) -> Result<(), StoreError> {
        let (Some(key), Some(header), Some(file)) =
            (&self.files.key, &self.header, self.file.as_mut())
        else {
            return Ok(());
        };
        let written = self.held - self.pending.len() as u64;
        let index = written / BLOB_CHUNK as u64;
        let sealed = key
            .seal_chunk(
                &header.prefix,
                index,
                last,
                &header.aad(&self.blob),
                self.pending.get(..len).unwrap_or_default(),
            )
            .map_err(damaged)?;
        file.write_all(&sealed).map_err(io_error(&self.partial))?;
        self.pending.drain(..len.min(self.pending.len()));
        Ok(())
    }

    /// Ends a complete download: checks the bytes against the blob's name (a mismatch discards
    /// them), flushes the file and moves it into place. Returns the plain size.
    pub fn finish(mut self) -> Result<u64, StoreError> {
        if self.file.is_none() {
            // An empty blob: nothing arrived, and nothing had to.
            self.append(0, &[])?;
        }
        if let Some(header) = self.header
            && self.held != header.plain_len
        {
            return Err(damaged("the download is not complete"));
        }
        let actual = BlobHash::from_digest(&std::mem::take(&mut self.hasher).finalize());
        if actual != self.blob {
            self.restart()?;
            return Err(StoreError::Corrupt {
                what: "a downloaded image (its bytes do not match its name; it was discarded)",
            });
        }
        let pending = self.pending.len();
        if self.header.is_some() {
            self.seal_pending(pending, true)?;
        }
        let path = self.partial.clone();
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(io_error(&path))?;
        }
        std::fs::rename(&path, &self.dest).map_err(io_error(&self.dest))?;
        if let Some(dir) = self.dest.parent() {
            sync_folder(dir);
        }
        Ok(self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::DataKey;

    fn folders() -> (tempfile::TempDir, BlobFiles, BlobFiles) {
        let dir = tempfile::tempdir().unwrap();
        let key = DataKey::generate().unwrap().blob_key();
        let sealed = BlobFiles::new(dir.path().join("sealed"), Some(key));
        let plain = BlobFiles::new(dir.path().join("plain"), None);
        (dir, sealed, plain)
    }

    fn bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn sealed_files_read_back_whole_and_from_any_place_and_hide_their_bytes() {
        let (_dir, sealed, _) = folders();
        for len in [
            0,
            1,
            BLOB_CHUNK - 1,
            BLOB_CHUNK,
            BLOB_CHUNK + 1,
            3 * BLOB_CHUNK + 77,
        ] {
            let data = bytes(len);
            let blob = BlobHash::of_bytes(&data);
            sealed.write(&blob, &data).unwrap();
            let on_disk = std::fs::read(sealed.path(&blob)).unwrap();
            assert!(on_disk.starts_with(MAGIC));
            if len >= 64 {
                assert!(!on_disk.windows(64).any(|w| w == &data[..64]));
            }
            assert_eq!(sealed.read(&blob).unwrap().unwrap(), data);
            let mut reader = sealed.open(&blob).unwrap().unwrap();
            assert_eq!(reader.len(), len as u64);
            if len > 10 {
                let at = len - 10;
                reader.seek(SeekFrom::Start(at as u64)).unwrap();
                let mut tail = Vec::new();
                reader.read_to_end(&mut tail).unwrap();
                assert_eq!(tail, data[at..]);
            }
        }
    }

    #[test]
    fn a_changed_or_cut_sealed_file_or_another_key_is_refused() {
        let (_dir, sealed, _) = folders();
        let data = bytes(2 * BLOB_CHUNK + 5);
        let blob = BlobHash::of_bytes(&data);
        sealed.write(&blob, &data).unwrap();
        let path = sealed.path(&blob);
        let original = std::fs::read(&path).unwrap();

        let mut changed = original.clone();
        changed[HEADER_LEN + 10] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        assert!(matches!(
            sealed.read(&blob),
            Err(StoreError::Corrupt { .. })
        ));

        // Cut after the second chunk: the remaining chunks open, but the last is missing.
        std::fs::write(&path, &original[..HEADER_LEN + 2 * SEALED_CHUNK as usize]).unwrap();
        assert!(matches!(
            sealed.read(&blob),
            Err(StoreError::Corrupt { .. })
        ));

        std::fs::write(&path, &original).unwrap();
        let other = BlobFiles::new(
            sealed.root().to_owned(),
            Some(DataKey::generate().unwrap().blob_key()),
        );
        assert!(matches!(other.read(&blob), Err(StoreError::Corrupt { .. })));
        let keyless = BlobFiles::new(sealed.root().to_owned(), None);
        assert!(matches!(
            keyless.read(&blob),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(sealed.read(&blob).unwrap().unwrap(), data);
    }

    #[test]
    fn plain_files_are_read_then_sealed_in_place() {
        let (_dir, sealed, _) = folders();
        let plain = BlobFiles::new(sealed.root().to_owned(), None);
        let data = bytes(BLOB_CHUNK + 3);
        let blob = BlobHash::of_bytes(&data);
        plain.write(&blob, &data).unwrap();
        // A plain temporary file left by an interrupted write.
        let leftover = temporary_path(&plain.path(&blob), ".part");
        std::fs::write(&leftover, &data).unwrap();
        assert_eq!(sealed.read(&blob).unwrap().unwrap(), data);
        assert_eq!(sealed.seal_all(|_, _| {}).unwrap(), 1);
        assert!(
            std::fs::read(sealed.path(&blob))
                .unwrap()
                .starts_with(MAGIC)
        );
        assert!(!leftover.exists());
        assert_eq!(sealed.read(&blob).unwrap().unwrap(), data);
        assert_eq!(sealed.seal_all(|_, _| {}).unwrap(), 0);
    }

    #[test]
    fn files_of_the_previous_key_are_read_then_sealed_again_with_the_new_one() {
        let (_dir, old, _) = folders();
        let data = bytes(2 * BLOB_CHUNK + 9);
        let blob = BlobHash::of_bytes(&data);
        old.write(&blob, &data).unwrap();
        let new_key = DataKey::generate().unwrap().blob_key();
        let moved = BlobFiles::new(old.root().to_owned(), Some(new_key.clone()))
            .with_previous(old.key.clone());
        assert_eq!(moved.read(&blob).unwrap().unwrap(), data);
        assert_eq!(moved.seal_all(|_, _| {}).unwrap(), 1);
        let only_new = BlobFiles::new(old.root().to_owned(), Some(new_key));
        assert_eq!(only_new.read(&blob).unwrap().unwrap(), data);
        assert!(old.read(&blob).is_err());
        assert_eq!(moved.seal_all(|_, _| {}).unwrap(), 0);
    }

    #[test]
    fn a_cut_download_resumes_after_its_whole_chunks_in_both_kinds_of_folder() {
        let (_dir, sealed, plain) = folders();
        for files in [sealed, plain] {
            let data = bytes(3 * BLOB_CHUNK + 123);
            let blob = BlobHash::of_bytes(&data);
            let total = data.len() as u64;
            let mut first = files.download(&blob).unwrap();
            assert_eq!(first.held(), 0);
            let cut = 2 * BLOB_CHUNK + 500;
            for piece in data[..cut].chunks(10_000) {
                first.append(total, piece).unwrap();
            }
            drop(first);
            let mut again = files.download(&blob).unwrap();
            let held = again.held() as usize;
            if files.is_sealed() {
                // The sealed file keeps whole chunks; the 500 bytes after them come again.
                assert_eq!(held, 2 * BLOB_CHUNK);
            } else {
                assert_eq!(held, cut);
            }
            again.append(total, &data[held..]).unwrap();
            assert_eq!(again.finish().unwrap(), total);
            assert_eq!(files.read(&blob).unwrap().unwrap(), data);
        }
    }

    #[test]
    fn a_download_whose_bytes_are_not_its_name_is_discarded() {
        let (_dir, sealed, _) = folders();
        let blob = BlobHash::of_bytes(b"what was asked for");
        let mut download = sealed.download(&blob).unwrap();
        download.append(9, b"something").unwrap();
        assert!(matches!(download.finish(), Err(StoreError::Corrupt { .. })));
        assert!(!sealed.contains(&blob));
        assert_eq!(sealed.download(&blob).unwrap().held(), 0);
    }
}
