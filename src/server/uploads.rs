//! One upload per blob at a time, with take-over.
//!
//! Two uploads appending to the same partial file would corrupt it, so each blob has a slot and
//! an upload holds the slot's turn while it writes. On a rural line a connection often dies
//! without either side noticing for a while; the workstation then retries while the server still
//! holds the old upload's turn. So a new upload asks the holder to stop and waits briefly for the
//! turn instead of being refused: the newest upload of a blob wins.

use crate::sync::wire::BlobHash;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedMutexGuard, watch};
use tonic::Status;

/// How long a new upload waits for the one it takes over from to let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(15);

/// The slots of blobs being uploaded.
#[derive(Default)]
pub(crate) struct UploadSlots {
    slots: Mutex<HashMap<BlobHash, Arc<Slot>>>,
}

struct Slot {
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Bumped by every upload that wants the turn; the holder stops when it changes.
    generation: watch::Sender<u64>,
}

/// The right to write one blob, held for the length of one upload call.
pub(crate) struct UploadTurn {
    slots: Arc<UploadSlots>,
    sha256: BlobHash,
    slot: Arc<Slot>,
    generation: u64,
    changes: watch::Receiver<u64>,
    _guard: OwnedMutexGuard<()>,
}

impl UploadSlots {
    /// Waits for the turn to upload `sha256`, asking the current holder (if any) to stop.
    pub(crate) async fn take_turn(
        self: &Arc<Self>,
        sha256: &BlobHash,
    ) -> Result<UploadTurn, Status> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(sha256.clone()).or_insert_with(|| {
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
            sha256: sha256.clone(),
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
            slots.remove(&self.sha256);
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
        let mut first = slots.take_turn(&hash).await.unwrap();
        let second = {
            let slots = Arc::clone(&slots);
            let hash = hash.clone();
            tokio::spawn(async move { slots.take_turn(&hash).await.map(|_| ()) })
        };
        // The first upload is told to stop, and lets go.
        first.taken_over().await;
        drop(first);
        second.await.unwrap().unwrap();
        assert!(slots.slots.lock().unwrap().is_empty());
    }
}
