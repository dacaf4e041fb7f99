//! The key file beside an encrypted database (`keys.json`): what signing in needs before the
//! database can be opened. It holds each user's key slot (the data key sealed with their
//! password), whether they are disabled, and the clinic's recovery slot — and nothing of a
//! patient. The database holds the same slots (users are synced records); the file is rewritten
//! from it whenever a user changes here or arrives from another workstation.
//!
//! It is written to a temporary file, flushed and renamed, so a power cut leaves the old file or
//! the new one.

use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The key file's name in a data folder.
pub const KEYRING_FILE: &str = "keys.json";

/// One user as the key file knows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyringUser {
    /// The user's id (what their slot is bound to).
    pub user_id: String,
    /// What they type to sign in.
    pub user_name: String,
    /// A disabled user's slot is left out of the file.
    pub key_slot: String,
}

/// The key file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keyring {
    /// What the recovery slot is bound to (the clinic's id when it was sealed).
    pub recovery_owner: String,
    /// The recovery slot (the data key sealed with the recovery key), if set up.
    pub recovery_slot: Option<String>,
    /// The users who may sign in here.
    pub users: Vec<KeyringUser>,
    /// Wrong passwords in a row on this workstation (the wait before the next try grows).
    #[serde(default)]
    pub failed_sign_ins: u32,
    /// When the last wrong password was typed (RFC 3339).
    #[serde(default)]
    pub last_failed_at: Option<String>,
    /// After this workstation took its clinic's key in place of its own: the clinic's key sealed
    /// with the workstation's old key. A slot (or the recovery key) that still opens the old key
    /// opens the clinic's through it, and is sealed again with the clinic's key at its owner's
    /// next sign-in.
    #[serde(default)]
    pub forward_slot: Option<String>,
    /// While that move is under way: the old key sealed with the clinic's, so that a clinic user
    /// who signs in first can finish it. Removed when the move is done.
    #[serde(default)]
    pub moving_from_slot: Option<String>,
    /// Wrong passwords typed while the database was closed (the user's id, when the name was
    /// known), waiting to be written into the audit trail when it opens.
    #[serde(default)]
    pub unrecorded_failures: Vec<Option<String>>,
}

impl Keyring {
    /// The key file of `data_dir`, or an empty one when there is none yet.
    pub fn load(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(KEYRING_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| StoreError::Corrupt {
                what: "the key file keys.json",
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Writes the key file of `data_dir` atomically.
    pub fn save(&self, data_dir: &Path) -> Result<(), StoreError> {
        let path = data_dir.join(KEYRING_FILE);
        // A name of its own for each save: the window and the sync thread may both save at once,
        // and one must not rename the other's half-written file (or find it gone).
        static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let save = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = data_dir.join(format!("{KEYRING_FILE}.{}-{save}.new", std::process::id()));
        let io = |path: PathBuf| move |source| StoreError::Io { path, source };
        let text = serde_json::to_vec_pretty(self).map_err(|_| StoreError::Corrupt {
            what: "the key file keys.json",
        })?;
        {
            use std::io::Write as _;
            let mut file = std::fs::File::create(&temporary).map_err(io(temporary.clone()))?;
            file.write_all(&text).map_err(io(temporary.clone()))?;
            file.sync_all().map_err(io(temporary.clone()))?;
        }
        std::fs::rename(&temporary, &path).map_err(io(path.clone()))?;
        if let Ok(dir) = std::fs::File::open(data_dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The users called `user_name` (normally one).
    pub fn users_named(&self, user_name: &str) -> Vec<&KeyringUser> {
        let wanted = crate::model::UserAccount::normalise_user_name(user_name);
        self.users
            .iter()
            .filter(|u| u.user_name == wanted)
            .collect()
    }
}

impl Store {
    /// The data folder (where the database, its key file and its blobs are).
    pub fn data_dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("."))
    }

    /// Rewrites the key file from the users and the recovery slot in the database: the enabled
    /// users' slots only, so a disabled user cannot even try their password here.
    pub fn write_keyring(&self) -> Result<(), StoreError> {
        let users = self
            .users()?
            .into_iter()
            .filter(|u| !u.disabled && !u.key_slot.is_empty())
            .map(|u| KeyringUser {
                user_id: u.user_id.to_string(),
                user_name: u.user_name,
                key_slot: u.key_slot,
            })
            .collect();
        let mut keyring = Keyring::load(self.data_dir())?;
        keyring.recovery_owner = self
            .setting("recovery_owner")?
            .unwrap_or_else(|| self.clinic_id().to_string());
        keyring.recovery_slot = self.setting("recovery_slot")?;
        keyring.users = users;
        keyring.save(self.data_dir())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn saves_from_two_threads_at_once_all_succeed_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let dir = dir.path().to_owned();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let keyring = Keyring {
                            recovery_owner: format!("thread {t}, save {i}"),
                            ..Keyring::default()
                        };
                        keyring.save(&dir).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(
            Keyring::load(dir.path())
                .unwrap()
                .recovery_owner
                .contains("save 49")
        );
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "only keys.json is left");
    }
}
