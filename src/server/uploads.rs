//! One upload per blob and device at a time, with take-over, and a cap on what one device holds
//! open.
//!
//! Each device's partial upload of a blob is its own file. Two uploads appending to the same
//! partial file would corrupt it, so each (device, blob) has a slot and an upload holds the
//! slot's turn while it writes. A device holds at most a few slots (and downloads) at once, so
//! no device can take the server's file handles from the others. On a rural line a connection often dies
//! without either side noticing for a while; the workstation then retries while the server still
//! holds the old upload's turn. So a new upload asks the holder to stop and waits briefly for the
//! turn instead of being refused: the newest upload of a blob wins.

use crate::sync::wire::BlobHash;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedMutexGuard, watch};
use tonic::Status;
use uuid::Uuid;

/// How long a new upload waits for the one it takes over from to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(15);

/// Uploads one device may have open at once.
pub(crate) const MAX_UPLOADS_PER_DEVICE: usize = 4;

/// Downloads one device may have open at once.
pub(crate) const MAX_DOWNLOADS_PER_DEVICE: usize = 8;

type SlotKey = (Uuid, BlobHash);

/// The slots of blobs being uploaded, and the downloads open, per device.
#[derive(Default)]
pub(crate) struct UploadSlots {
    slots: Mutex<HashMap<SlotKey, Arc<Slot>>>,
    downloads: Mutex<HashMap<Uuid, usize>>,
}

/// A download in progress; dropping it frees its place.
pub(crate) struct DownloadPermit {
    slots: Arc<UploadSlots>,
    device_id: Uuid,
}

impl Drop for DownloadPermit {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .downloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.device_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.device_id);
            }
        }
    }
}

struct Slot {
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Bumped by every upload that wants the turn; the holder stops when it changes.
    generation: watch::Sender<u64>,
}

/// The right to write one blob, held for the length of one upload call.
pub(crate) struct UploadTurn {
    slots: Arc<UploadSlots>,
    key: SlotKey,
    slot: Arc<Slot>,
    generation: u64,
    changes: watch::Receiver<u64>,
    _guard: OwnedMutexGuard<()>,
}

impl UploadSlots {
    /// A place for one more download of `device_id`, or `RESOURCE_EXHAUSTED`.
    pub(crate) fn start_download(
        self: &Arc<Self>,
        device_id: Uuid,
    ) -> Result<DownloadPermit, Status> {
        let mut open = self
            .downloads
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(device_id).or_insert(0);
        if *count >= MAX_DOWNLOADS_PER_DEVICE {
            return Err(Status::resource_exhausted(format!(
                "this workstation has {MAX_DOWNLOADS_PER_DEVICE} downloads open already; \
                 finish one first"
            )));
        }
        *count += 1;
        Ok(DownloadPermit {
            slots: Arc::clone(self),
            device_id,
        })
    }

    /// Waits for the turn of `device_id` to upload `sha256`, asking its own earlier upload of
    /// the blob (if any) to stop. A device with [`MAX_UPLOADS_PER_DEVICE`] other uploads open is
    /// refused.
    pub(crate) async fn take_turn(
        self: &Arc<Self>,
        device_id: Uuid,
        sha256: &BlobHash,
    ) -> Result<UploadTurn, Status> {
        let key = (device_id, sha256.clone());
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if !slots.contains_key(&key) {
                let open = slots.keys().filter(|(d, _)| *d == device_id).count();
                if open >= MAX_UPLOADS_PER_DEVICE {
                    return Err(Status::resource_exhausted(format!(
                        "this workstation has {MAX_UPLOADS_PER_DEVICE} uploads open already; \
                         finish one first"
                    )));
                }
            }
            Arc::clone(slots.entry(key.clone()).or_insert_with(|| {
                Arc::new(Slot {
                    turn: Arc::new(tokio::sync::Mutex::new(())),
                    generation: watch::Sender::new(0),
                })
            }))
        };
        let mut generation = 0;
        slot.generation.send_modify(|g| {
            *g = g.wrapping_add(1);
            generation = *g;
        });
        let guard = tokio::time::timeout(TAKEOVER_WAIT, Arc::clone(&slot.turn).lock_owned())
            .await
            .map_err(|_| {
                Status::aborted("another upload of this blob is still running; try again shortly")
            })?;
        let changes = slot.generation.subscribe();
        Ok(UploadTurn {
            slots: Arc::clone(self),
            key,
            slot,
            generation,
            changes,
            _guard: guard,
        })
    }
}

impl UploadTurn {
    /// Completes when a newer upload of the same blob asks for the turn.
    pub(crate) async fn taken_over(&mut self) {
        loop {
            if *self.changes.borrow_and_update() != self.generation {
                return;
            }
            if self.changes.changed().await.is_err() {
                // The slot is gone, so nobody can ask for the turn.
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Drop for UploadTurn {
    fn drop(&mut self) {
        let mut slots = self
            .slots
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Only the map and this turn refer to the slot: nobody waits, so forget the blob.
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn a_new_upload_takes_over_and_the_slot_is_forgotten_after() {
        let slots = Arc::new(UploadSlots::default());
        let hash = BlobHash::of_bytes(b"x");
        let device = Uuid::now_v7();
        let mut first = slots.take_turn(device, &hash).await.unwrap();
        let second = {
            let slots = Arc::clone(&slots);
            let hash = hash.clone();
            tokio::spawn(async move { slots.take_turn(device, &hash).await.map(|_| ()) })
        };
        // The first upload is told to stop, and lets go.
        first.taken_over().await;
        drop(first);
        second.await.unwrap().unwrap();
        assert!(slots.slots.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_device_holds_a_few_uploads_and_downloads_and_others_are_not_counted() {
        let slots = Arc::new(UploadSlots::default());
        let device = Uuid::now_v7();
        let mut held = Vec::new();
        for i in 0..MAX_UPLOADS_PER_DEVICE {
            let hash = BlobHash::of_bytes(&[u8::try_from(i).unwrap()]);
            held.push(slots.take_turn(device, &hash).await.unwrap());
        }
        let one_more = BlobHash::of_bytes(b"more");
        let refused = slots.take_turn(device, &one_more).await.err().unwrap();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        // Another device is not held back by this one.
        let other = slots.take_turn(Uuid::now_v7(), &one_more).await.unwrap();
        drop(other);
        held.pop();
        drop(slots.take_turn(device, &one_more).await.unwrap());

        let downloads: Vec<_> = (0..MAX_DOWNLOADS_PER_DEVICE)
            .map(|_| slots.start_download(device).unwrap())
            .collect();
        assert!(slots.start_download(device).is_err());
        drop(downloads);
        assert!(slots.start_download(device).is_ok());
        assert!(slots.downloads.lock().unwrap().is_empty());
    }
}
