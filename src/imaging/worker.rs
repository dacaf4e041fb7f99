//! The decode worker: a named thread that reads blobs and decodes frames off the UI thread, and
//! the frame cache it fills, bounded in bytes so a 1,000-image study never takes gigabytes.
//!
//! The UI asks for a frame with [`DecodeWorker::request`], shows it at once when
//! [`DecodeWorker::cached`] has it, and collects finished work with [`DecodeWorker::poll`].

use super::frame::Frame;
use super::{DicomFile, DicomInfo, TagRow, decode_photo};
use crate::model::{AttachmentKind, BlobHash};
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

/// What to decode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageSource {
    /// The file.
    pub blob: BlobHash,
    /// DICOM or photo.
    pub kind: AttachmentKind,
}

/// One request: a frame of a file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DecodeRequest {
    /// The file.
    pub source: ImageSource,
    /// Frame index (0 for photos).
    pub frame: u32,
}

/// The answer to a request.
#[derive(Clone, Debug)]
pub struct DecodedImage {
    /// What was asked.
    pub request: DecodeRequest,
    /// The frame, or why it cannot be shown.
    pub frame: Result<Arc<Frame>, String>,
    /// The file's header facts (DICOM only).
    pub info: Option<Arc<DicomInfo>>,
    /// Every tag of the file (DICOM only).
    pub tags: Option<Arc<Vec<TagRow>>>,
}

/// Decoded frames, least recently used dropped first once the cap is reached.
pub struct FrameCache {
    cap_bytes: usize,
    used_bytes: usize,
    tick: u64,
    entries: HashMap<(BlobHash, u32), (Arc<Frame>, u64)>,
}

impl FrameCache {
    /// An empty cache holding at most `cap_bytes` of frames.
    pub fn new(cap_bytes: usize) -> Self {
        Self {
            cap_bytes,
            used_bytes: 0,
            tick: 0,
            entries: HashMap::new(),
        }
    }

    /// A cached frame (and marks it recently used).
    pub fn get(&mut self, blob: &BlobHash, frame: u32) -> Option<Arc<Frame>> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(&(blob.clone(), frame))?;
        entry.1 = tick;
        Some(entry.0.clone())
    }

    /// Adds a frame, dropping the least recently used ones to stay under the cap.
    pub fn insert(&mut self, blob: BlobHash, index: u32, frame: Arc<Frame>) {
        self.tick += 1;
        let size = frame.memory_bytes();
        if let Some((old, _)) = self.entries.insert((blob, index), (frame, self.tick)) {
            self.used_bytes = self.used_bytes.saturating_sub(old.memory_bytes());
        }
        self.used_bytes += size;
        while self.used_bytes > self.cap_bytes && self.entries.len() > 1 {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some((frame, _)) = self.entries.remove(&oldest) {
                self.used_bytes = self.used_bytes.saturating_sub(frame.memory_bytes());
            }
        }
    }

    /// Bytes held.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The UI's handle on the decode thread.
pub struct DecodeWorker {
    requests: Sender<DecodeRequest>,
    answers: Receiver<DecodedImage>,
    cache: Arc<Mutex<FrameCache>>,
    pending: HashSet<DecodeRequest>,
}

/// How the worker reads a blob's bytes: `Ok(None)` when this workstation does not hold it.
pub type BlobSource = Box<dyn Fn(&BlobHash) -> Result<Option<Vec<u8>>, String> + Send>;

impl DecodeWorker {
    /// Starts the thread reading (and, when sealed, decrypting) blobs from `files`, with a
    /// frame cache of `cache_bytes`; `wake` is called after each answer (the UI asks for a
    /// repaint). Decrypted bytes stay in memory: nothing is written to a temporary file.
    pub fn start(
        files: crate::store::BlobFiles,
        cache_bytes: usize,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let reader: BlobSource = Box::new(move |blob| files.read(blob).map_err(|e| e.to_string()));
        Self::start_with(reader, cache_bytes, wake)
    }

    /// Starts the thread with any blob reader.
    pub fn start_with(
        reader: BlobSource,
        cache_bytes: usize,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let (request_tx, request_rx) = channel::<DecodeRequest>();
        let (answer_tx, answer_rx) = channel::<DecodedImage>();
        let cache = Arc::new(Mutex::new(FrameCache::new(cache_bytes)));
        let thread_cache = cache.clone();
        let spawned = std::thread::Builder::new()
            .name("decode".to_owned())
            .spawn(move || run(reader, request_rx, answer_tx, thread_cache, wake));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the decode thread");
        }
        Self {
            requests: request_tx,
            answers: answer_rx,
            cache,
            pending: HashSet::new(),
        }
    }

    /// Asks for a frame unless it is cached or already asked for.
    pub fn request(&mut self, request: DecodeRequest) {
        if self.cached(&request.source.blob, request.frame).is_some()
            || self.pending.contains(&request)
        {
            return;
        }
        if self.requests.send(request.clone()).is_ok() {
            self.pending.insert(request);
        }
    }

    /// A frame, if decoded already.
    pub fn cached(&self, blob: &BlobHash, frame: u32) -> Option<Arc<Frame>> {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(blob, frame)
    }

    /// True while a request is being worked on.
    pub fn is_busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Finished work since the last call.
    pub fn poll(&mut self) -> Vec<DecodedImage> {
        let answers: Vec<DecodedImage> = self.answers.try_iter().collect();
        for answer in &answers {
            self.pending.remove(&answer.request);
        }
        answers
    }

    /// Bytes the frame cache holds.
    pub fn cache_bytes(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .used_bytes()
    }
}

/// The DICOM file parsed last, with its facts and tags, so the frames of a multi-frame file are
/// not parsed again.
type OpenFile = (BlobHash, Arc<DicomFile>, Arc<DicomInfo>, Arc<Vec<TagRow>>);

fn run(
    reader: BlobSource,
    requests: Receiver<DecodeRequest>,
    answers: Sender<DecodedImage>,
    cache: Arc<Mutex<FrameCache>>,
    wake: impl Fn(),
) {
    let mut open: Option<OpenFile> = None;
    while let Ok(first) = requests.recv() {
        // Take everything queued and work newest first: when the user scrolls quickly, the frame
        // on screen now matters more than the ones passed on the way.
        let mut queue = vec![first];
        queue.extend(requests.try_iter());
        while let Some(request) = queue.pop() {
            let answer = decode_one(&reader, &request, &mut open, &cache);
            if answers.send(answer).is_err() {
                return;
            }
            wake();
            queue.extend(requests.try_iter());
        }
    }
}

fn decode_one(
    reader: &BlobSource,
    request: &DecodeRequest,
    open: &mut Option<OpenFile>,
    cache: &Mutex<FrameCache>,
) -> DecodedImage {
    let blob = &request.source.blob;
    let mut answer = DecodedImage {
        request: request.clone(),
        frame: Err(String::new()),
        info: None,
        tags: None,
    };
    let cached = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(blob, request.frame);
    let frame: Result<Frame, String> = match request.source.kind {
        AttachmentKind::Photo => {
            if let Some(frame) = cached {
                answer.frame = Ok(frame);
                return answer;
            }
            match reader(blob) {
                Ok(Some(bytes)) => decode_photo(&bytes).map_err(|e| e.to_string()),
                Ok(None) => Err(NOT_HERE.to_owned()),
                Err(e) => Err(e),
            }
        }
        AttachmentKind::Dicom => {
            let file = match open.as_ref().filter(|(b, ..)| b == blob) {
                Some((_, file, info, tags)) => Ok((file.clone(), info.clone(), tags.clone())),
                None => match reader(blob) {
                    Ok(Some(bytes)) => DicomFile::parse(&bytes)
                        .map(|file| {
                            let info = Arc::new(file.info().clone());
                            let tags = Arc::new(file.tags());
                            let file = Arc::new(file);
                            *open = Some((blob.clone(), file.clone(), info.clone(), tags.clone()));
                            (file, info, tags)
                        })
                        .map_err(|e| e.to_string()),
                    Ok(None) => Err(NOT_HERE.to_owned()),
                    Err(e) => Err(e),
                },
            };
            match file {
                Ok((file, info, tags)) => {
                    answer.info = Some(info);
                    answer.tags = Some(tags);
                    if let Some(frame) = cached {
                        answer.frame = Ok(frame);
                        return answer;
                    }
                    file.decode_frame(request.frame).map_err(|e| e.to_string())
                }
                Err(e) => Err(e),
            }
        }
    };
    answer.frame = frame.map(|frame| {
        let frame = Arc::new(frame);
        cache.lock().unwrap_or_else(PoisonError::into_inner).insert(
            blob.clone(),
            request.frame,
            frame.clone(),
        );
        frame
    });
    answer
}

/// Shown for an image imported at another clinic whose bytes have not reached this workstation.
pub const NOT_HERE: &str =
    "this image is not on this workstation yet: it is downloaded from the server at the next sync";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::Pixels;

    fn frame(bytes: usize) -> Arc<Frame> {
        Arc::new(Frame {
            width: bytes as u32,
            height: 1,
            pixels: Pixels::Rgb(vec![0; bytes]),
        })
    }

    #[test]
    fn the_cache_stays_under_its_cap_dropping_the_oldest() {
        let per = frame(1000).memory_bytes();
        let mut cache = FrameCache::new(per * 3);
        let blob = BlobHash::of_bytes(b"x");
        for i in 0..3 {
            cache.insert(blob.clone(), i, frame(1000));
        }
        assert!(cache.get(&blob, 0).is_some());
        cache.insert(blob.clone(), 3, frame(1000));
        assert_eq!(cache.len(), 3);
        assert!(cache.used_bytes() <= per * 3);
        // Frame 1 was the least recently used (0 was read after it).
        assert!(cache.get(&blob, 1).is_none());
        assert!(cache.get(&blob, 0).is_some());
        assert!(cache.get(&blob, 3).is_some());
    }
}
