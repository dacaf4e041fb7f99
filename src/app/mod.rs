//! The app service: the one place where a user's action becomes a change to the store.
//!
//! It knows who is signed in ([`Session`]), checks every command against the signed-in user's
//! roles ([`Command::action`] and [`crate::model::Roles::allows`]), runs it through the store
//! (record, change record and audit entry in one transaction, see `store::write`), and answers
//! with a typed [`Outcome`] or [`AppError`]. It also signs users in and out with no network,
//! locks the screen when idle, and records in the audit trail what is read as well as what is
//! written (a chart opened, images viewed).
//!
//! The window and the command line both drive it; tests drive it directly, without egui.
//!
//! Architecture invariant: `app` knows nothing of egui, SQL or the network. Screens read through
//! [`AppService::store`] (a shared reference: the store's queries) and change nothing but
//! through [`AppService::execute`] and the session methods here.

mod clock;
mod command;
mod dicom_export;
mod error;
mod follow_ups;
mod printing;
mod records;
mod reports;
mod research;
mod status;

pub use clock::{Clock, ManualClock, SystemClock};
pub use command::{Command, LogoChange, Outcome};
pub use dicom_export::{
    DEIDENTIFICATION_LIST, DicomExportError, DicomExportJob, DicomExported, deidentification_list,
};
pub use error::{AppError, LoginError};
pub use follow_ups::MISSED_LOOKBACK_DAYS;
pub use printing::{DocumentRequest, PrintedDocument};
pub use records::{ExportScope, FhirImported};
pub use research::ResearchError;

pub use status::{STATUS_FILE, StatusReport};

use crate::keys::{
    DataKey, KdfParams, KeyError, KeySlot, RecoveryKey, open_forward, recovery_slot_owner,
    seal_forward, user_slot_owner,
};
use crate::model::{
    Action, AuditAction, AuditEvent, PatientId, Role, Roles, Signer, UserAccount, UserId,
    password_strength,
};
use crate::store::{BackupReport, Keyring, MigrationProgress, Store, StoreError};
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Wrong passwords accepted in a row before each further try must wait.
pub const FREE_LOGIN_FAILURES: u32 = 5;
/// The longest wait after wrong passwords.
const MAX_LOGIN_WAIT_SECONDS: i64 = 300;
/// The idle time before the screen locks, unless an administrator sets another.
pub const DEFAULT_AUTO_LOCK_MINUTES: u32 = 10;

const AUTO_LOCK_SETTING: &str = "auto_lock_minutes";
/// When this workstation's last backup was written (RFC 3339).
const LAST_BACKUP_SETTING: &str = "last_backup_at";

/// A backup older than this is shown in the warning colour.
pub const BACKUP_WARNING_DAYS: i64 = 7;
/// The folder daily backups go into (empty: no daily backup).
const BACKUP_FOLDER_SETTING: &str = "backup_folder";
/// How many daily backups are kept.
const BACKUP_KEEP_SETTING: &str = "backup_keep";
/// Daily backups kept unless the administrator says otherwise.
pub const DEFAULT_BACKUP_KEEP: u32 = 7;
/// The most daily backups an administrator may ask to keep.
pub const MAX_BACKUP_KEEP: u32 = 365;

/// Where and how many daily backups are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSchedule {
    /// The folder (a USB drive, a network share); each backup is a new folder in it, named by
    /// its date and time.
    pub folder: PathBuf,
    /// How many of the newest backups stay; older ones are removed.
    pub keep: u32,
}

/// A number the store's settings hold, or `default` when it is missing or unreadable.
fn number_setting(store: &Store, key: &str, default: u32) -> u32 {
    store
        .setting(key)
        .ok()
        .flatten()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The daily backup the store's settings describe, if any.
fn read_backup_schedule(store: &Store) -> Option<BackupSchedule> {
    let folder = store.setting(BACKUP_FOLDER_SETTING).ok().flatten()?;
    if folder.trim().is_empty() {
        return None;
    }
    let keep = number_setting(store, BACKUP_KEEP_SETTING, DEFAULT_BACKUP_KEEP);
    Some(BackupSchedule {
        folder: PathBuf::from(folder),
        keep,
    })
}

/// When the store says its last backup was written.
fn read_last_backup(store: &Store) -> Option<DateTime<Utc>> {
    store
        .setting(LAST_BACKUP_SETTING)
        .ok()
        .flatten()
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}
const RECOVERY_SLOT_SETTING: &str = "recovery_slot";
/// What the recovery slot is bound to: the clinic's id when it was sealed (enrolling gives the
/// workstation another clinic id later; the slot keeps its own).
const RECOVERY_OWNER_SETTING: &str = "recovery_owner";

/// The signed-in user and what their sign-in unlocked.
pub struct Session {
    user: UserAccount,
    data_key: DataKey,
    locked: bool,
}

impl Session {
    /// Who is signed in.
    pub fn user(&self) -> &UserAccount {
        &self.user
    }

    /// Whether the screen is locked (the user is still signed in; their work waits).
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// The data key the sign-in unlocked (what opens the clinic's encrypted data).
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    fn signer(&self, action: Action) -> Signer {
        Signer {
            user_id: Some(self.user.user_id),
            full_name: self.user.full_name.clone(),
            role: self.user.roles.acting_role(action),
        }
    }
}

/// How [`AppService::begin_sign_in`] began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInStart {
    /// The user is signed in.
    SignedIn,
    /// The password is right; the workstation's plain files are being encrypted first.
    Encrypting,
}

/// How the encryption of a plain workstation goes ([`AppService::poll_encryption`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EncryptionState {
    /// Still running; the latest step, if one was reported.
    Running(Option<MigrationProgress>),
    /// Done, and the user is signed in.
    SignedIn,
}

/// The encryption of a plain workstation at sign-in, on the service's "encrypt" thread.
struct Encryption {
    progress: std::sync::mpsc::Receiver<MigrationProgress>,
    finished: std::sync::mpsc::Receiver<Result<(), StoreError>>,
    last: Option<MigrationProgress>,
    /// The thread's result, once received.
    result: Option<Result<(), StoreError>>,
    user_id: UserId,
    data_key: DataKey,
}

fn thread_stopped() -> StoreError {
    StoreError::Encrypting {
        step: "encrypting",
        detail: "the encrypt thread stopped".into(),
    }
}

/// What the first administrator types on the setup screen.
#[derive(Clone, Debug)]
pub struct FirstAdministrator {
    /// Their full name.
    pub full_name: String,
    /// What they type to sign in.
    pub user_name: String,
    /// Their password or passphrase.
    pub password: String,
    /// The password again.
    pub confirm: String,
    /// Whether they also see patients (many small clinics' administrator is their clinician).
    pub also_clinician: bool,
}

/// The app service over one workstation's store. When it is dropped (the program ends) it
/// leaves the counts for `outpost status` beside the database.
pub struct AppService {
    /// The workstation's database once it is open; before a sign-in opens an encrypted one,
    /// an empty store in memory that holds nothing.
    store: Store,
    /// Whether `store` is the workstation's database.
    opened: bool,
    /// Counts the times `store` was replaced by another connection (opened, encrypted,
    /// rekeyed): a window's workers with connections of their own start again when it moves.
    store_generation: u64,
    /// The folder of the database and its key file.
    data_dir: PathBuf,
    session: Option<Session>,
    clock: Arc<dyn Clock>,
    kdf: KdfParams,
    last_activity: DateTime<Utc>,
    /// The idle time before the screen locks, as last read from the settings.
    auto_lock_minutes: u32,
    /// When the last backup was written, as last read from the settings.
    last_backup: Option<DateTime<Utc>>,
    /// The daily backup, as last read from the settings.
    backup_schedule: Option<BackupSchedule>,
    /// A plain workstation being encrypted at sign-in.
    encryption: Option<Encryption>,
}

/// What compacting the store did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactOutcome {
    /// Records folded and change records removed.
    pub report: crate::store::CompactReport,
    /// The database file's size before and after.
    pub bytes_before: u64,
    /// After (the space given back).
    pub bytes_after: u64,
    /// Change records still in the log (waiting for the server, in conflict, user accounts).
    pub log_left: i64,
}

impl AppService {
    /// The service over the workstation in `data_dir`, nobody signed in, on the system clock.
    /// An encrypted database stays closed until a sign-in opens it; a plain one (a workstation
    /// not set up yet, or from before encryption) opens now and is encrypted at setup or at the
    /// first sign-in.
    pub fn open_dir(data_dir: &Path) -> Result<Self, StoreError> {
        Self::open_dir_with_clock(data_dir, Arc::new(SystemClock))
    }

    /// [`AppService::open_dir`] with another clock.
    pub fn open_dir_with_clock(data_dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(crate::store::DATABASE_FILE);
        if crate::store::file_state(&path)? == crate::store::FileState::Encrypted {
            let mut service = Self::with_clock(Store::open_in_memory()?, clock);
            service.opened = false;
            service.data_dir = data_dir.to_owned();
            Ok(service)
        } else {
            Ok(Self::with_clock(Store::open(&path)?, clock))
        }
    }

    /// The service over a store already open (plain or encrypted), nobody signed in, on the
    /// system clock.
    pub fn new(store: Store) -> Self {
        Self::with_clock(store, Arc::new(SystemClock))
    }

    /// The service with another clock (tests move it by hand).
    pub fn with_clock(store: Store, clock: Arc<dyn Clock>) -> Self {
        let last_activity = clock.now();
        let data_dir = store.data_dir().to_owned();
        let auto_lock_minutes =
            number_setting(&store, AUTO_LOCK_SETTING, DEFAULT_AUTO_LOCK_MINUTES);
        Self {
            auto_lock_minutes,
            last_backup: read_last_backup(&store),
            backup_schedule: read_backup_schedule(&store),
            store,
            opened: true,
            store_generation: 0,
            data_dir,
            session: None,
            clock,
            kdf: KdfParams::INTERACTIVE,
            last_activity,
            encryption: None,
        }
    }

    /// Seals new password slots with `kdf` (tests use [`KdfParams::TEST_ONLY`] to stay fast;
    /// every slot records its own parameters).
    pub fn with_kdf(mut self, kdf: KdfParams) -> Self {
        self.kdf = kdf;
        self
    }

    /// The store, to read. Every change goes through [`AppService::execute`].
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store back, nobody signed in (for work that needs no user, such as a sync run by the
    /// command line).
    pub fn into_store(mut self) -> Result<Store, StoreError> {
        self.save_status_quietly();
        let empty = Store::open_in_memory()?;
        self.opened = false;
        let mut store = std::mem::replace(&mut self.store, empty);
        store.set_actor(None);
        Ok(store)
    }

    /// Replaces the store's connection (after enrolling re-labelled its records).
    pub fn reopen_store(&mut self) -> Result<(), StoreError> {
        let mut store = self.store.opener().open()?;
        store.set_actor(self.store.actor());
        self.store = store;
        self.store_generation += 1;
        Ok(())
    }

    /// Moves each time the store's connection is replaced (see [`AppService::reopen_store`]):
    /// connections opened from an earlier [`Store::opener`] may hold another key.
    pub fn store_generation(&self) -> u64 {
        self.store_generation
    }

    /// Writes the counts `outpost status` prints beside the database (nothing of a patient), if
    /// the database is open.
    pub fn save_status(&self) -> Result<(), StoreError> {
        if !self.opened {
            return Ok(());
        }
        StatusReport::of(&self.store, self.clock.now())?.save(&self.data_dir)
    }

    /// The time by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The signed-in session, locked or not.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The signed-in user, if the screen is not locked.
    pub fn user(&self) -> Option<&UserAccount> {
        self.session.as_ref().filter(|s| !s.locked).map(|s| &s.user)
    }

    /// Whether the signed-in (unlocked) user may do `action`: what the window asks to hide or
    /// disable controls. [`AppService::execute`] asks the same.
    pub fn allows(&self, action: Action) -> bool {
        self.user()
            .is_some_and(|user| !user.must_change_password && user.roles.allows(action))
    }

    /// True until the first administrator is created.
    pub fn needs_setup(&self) -> Result<bool, StoreError> {
        if !self.opened {
            // An encrypted database was set up; its key file says who may open it.
            return Ok(false);
        }
        Ok(self.store.user_count()? == 0 && Keyring::load(&self.data_dir)?.users.is_empty())
    }

    /// Whether the workstation's database is open (after the first sign-in of this run, or at
    /// once for a workstation not set up yet).
    pub fn is_open(&self) -> bool {
        self.opened
    }

    /// Closes the workstation's database (its file is about to be replaced), leaving the empty
    /// store in memory; returns the user its writes were naming.
    fn close_store(&mut self) -> Result<Option<UserId>, StoreError> {
        let actor = self.store.actor();
        self.store = Store::open_in_memory()?;
        self.opened = false;
        Ok(actor)
    }

    /// Makes the open store the workstation's database encrypted with `key`: opens it if it is
    /// closed, and encrypts a plain one in place.
    fn open_keyed(&mut self, key: &DataKey) -> Result<(), AppError> {
        let path = self.data_dir.join(crate::store::DATABASE_FILE);
        if self.opened && self.store.is_encrypted() {
            // Open already: the key must be the one it is open with.
            if self.store.is_keyed_with(key) {
                return Ok(());
            }
            return Err(StoreError::WrongKey { path }.into());
        }
        let actor = self.close_store()?;
        let mut store = Store::open_keyed(&path, key)?;
        store.set_actor(actor);
        self.auto_lock_minutes =
            number_setting(&store, AUTO_LOCK_SETTING, DEFAULT_AUTO_LOCK_MINUTES);
        self.last_backup = read_last_backup(&store);
        self.backup_schedule = read_backup_schedule(&store);
        self.store = store;
        self.opened = true;
        self.store_generation += 1;
        // Wrong passwords typed while the database was closed go into the trail now.
        let mut keyring = Keyring::load(&self.data_dir)?;
        if !keyring.unrecorded_failures.is_empty() {
            for user_id in std::mem::take(&mut keyring.unrecorded_failures) {
                let user_id = user_id.and_then(|id| id.parse().ok());
                self.store
                    .record_audit(AuditEvent::new(AuditAction::LoginFailed, user_id))?;
            }
            keyring.save(&self.data_dir)?;
        }
        Ok(())
    }

    /// The key that opens the workstation now for one a slot gave: the clinic's key, through
    /// the forward slot, for the key this workstation had before it took its clinic's.
    fn forwarded(&self, key: DataKey) -> Result<DataKey, StoreError> {
        let keyring = Keyring::load(&self.data_dir)?;
        Ok(keyring
            .forward_slot
            .and_then(|slot| open_forward(&slot, &key).ok())
            .unwrap_or(key))
    }

    /// Opens the workstation's database with the key a slot gave (through the forward slot if
    /// it is the workstation's old key), and finishes a move to the clinic's key that a power
    /// cut left half done. Returns the key that opened it.
    fn open_workstation(&mut self, key: &DataKey) -> Result<DataKey, AppError> {
        let key = self.forwarded(key.clone())?;
        match self.open_keyed(&key) {
            Ok(()) => {
                // A move to this key cut after its rename is done now (opening sealed the
                // images again): the old key need not be kept any longer.
                let mut keyring = Keyring::load(&self.data_dir)?;
                if keyring
                    .moving_from_slot
                    .as_ref()
                    .is_some_and(|slot| open_forward(slot, &key).is_ok())
                {
                    keyring.moving_from_slot = None;
                    keyring.save(&self.data_dir)?;
                }
                Ok(key)
            }
            Err(AppError::Store(StoreError::WrongKey { .. })) => {
                let keyring = Keyring::load(&self.data_dir)?;
                let Some(old) = keyring
                    .moving_from_slot
                    .and_then(|slot| open_forward(&slot, &key).ok())
                else {
                    return Err(LoginError::WrongKey.into());
                };
                self.move_to_key(&old, &key)?;
                Ok(key)
            }
            Err(other) => Err(other),
        }
    }

    /// Re-encrypts the workstation from `old` to `new` (its database in place, then its image
    /// files) and opens it with `new`.
    fn move_to_key(&mut self, old: &DataKey, new: &DataKey) -> Result<(), AppError> {
        let path = self.data_dir.join(crate::store::DATABASE_FILE);
        let actor = self.close_store()?;
        Store::rekey(&path, old, new, |_| Ok(()))?;
        self.open_keyed(new)?;
        self.store.set_actor(actor);
        let mut keyring = Keyring::load(&self.data_dir)?;
        keyring.moving_from_slot = None;
        keyring.save(&self.data_dir)?;
        Ok(())
    }

    /// Makes this workstation's key its clinic's: a workstation set up before it enrolled has
    /// a key of its own, and the clinic's users, who arrived with the enrollment, cannot open
    /// it. `user_name` is one of the clinic's users, whose password opens the clinic's key.
    /// The database and the image files are encrypted again with that key, safely at every
    /// step; this workstation's own users keep their passwords (their slots open the clinic's
    /// key through a forward slot, and are sealed again with it at their next sign-in, from
    /// which they sign in at the clinic's other workstations too). An administrator's action.
    /// Returns false when the keys were the same already.
    pub fn adopt_clinic_key(&mut self, user_name: &str, password: &str) -> Result<bool, AppError> {
        let session = self.authorize(Action::ChangeSettings)?;
        let own = session.data_key.clone();
        let admin = session.user.user_id;
        self.refuse_if_throttled()?;
        let mut clinic_key = None;
        let candidates = self.store.users_named(user_name)?;
        for user in &candidates {
            if let Ok(key) = open_user_slot(user, password) {
                clinic_key = Some(key);
                break;
            }
        }
        let Some(clinic_key) = clinic_key else {
            self.login_failed(candidates.first().map(|u| u.user_id))?;
            return Err(LoginError::WrongPassword.into());
        };
        self.clear_failures()?;
        if clinic_key == own {
            return Ok(false);
        }
        let mut keyring = Keyring::load(&self.data_dir)?;
        keyring.forward_slot = Some(seal_forward(&clinic_key, &own)?.to_text());
        keyring.moving_from_slot = Some(seal_forward(&own, &clinic_key)?.to_text());
        keyring.save(&self.data_dir)?;
        self.move_to_key(&own, &clinic_key)?;
        if let Some(session) = &mut self.session {
            session.data_key = clinic_key;
        }
        self.store
            .record_audit(AuditEvent::new(AuditAction::SettingChanged, Some(admin)))?;
        Ok(true)
    }

    /// Sets the workstation up: a new data key, the first administrator sealing it with their
    /// password, and the recovery key (returned, to be shown once) sealing it too. Signs the
    /// administrator in.
    pub fn set_up(&mut self, admin: FirstAdministrator) -> Result<RecoveryKey, AppError> {
        if !self.needs_setup()? {
            return Err(AppError::AlreadySetUp);
        }
        check_new_password(
            &admin.password,
            &admin.confirm,
            &[&admin.user_name, &admin.full_name],
        )?;
        let data_key = DataKey::generate()?;
        let recovery = RecoveryKey::generate()?;
        let clinic = self.store.clinic_id().to_string();
        let recovery_slot = KeySlot::seal(
            &data_key,
            recovery.secret(),
            &recovery_slot_owner(&clinic),
            KdfParams::RECOVERY,
        )?;
        let mut roles = vec![Role::Administrator];
        if admin.also_clinician {
            roles.push(Role::Clinician);
        }
        let user_id = UserId::new();
        let user = UserAccount {
            user_id,
            user_name: UserAccount::normalise_user_name(&admin.user_name),
            full_name: admin.full_name.trim().to_owned(),
            roles: Roles::of(&roles),
            disabled: false,
            must_change_password: false,
            key_slot: KeySlot::seal(
                &data_key,
                admin.password.as_bytes(),
                &user_slot_owner(&user_id.to_string()),
                self.kdf,
            )?
            .to_text(),
        };
        // From here on nothing is written in clear.
        self.open_keyed(&data_key)?;
        // The administrator creates themselves: the audit trail names them from the start.
        self.store.set_actor(Some(user_id));
        let saved = self
            .store
            .set_setting(RECOVERY_OWNER_SETTING, &clinic)
            .and_then(|()| {
                self.store
                    .set_setting(RECOVERY_SLOT_SETTING, &recovery_slot.to_text())
            })
            .and_then(|()| self.store.save_user(&user));
        if let Err(error) = saved {
            self.store.set_actor(None);
            return Err(error.into());
        }
        self.start_session(user, data_key)?;
        Ok(recovery)
    }

    /// Signs `user_name` in with `password`, offline: the password opens the user's key slot.
    /// After [`FREE_LOGIN_FAILURES`] wrong passwords in a row each try waits longer (up to five
    /// minutes). Every try is in the audit trail.
    pub fn sign_in(&mut self, user_name: &str, password: &str) -> Result<(), AppError> {
        let (user_id, data_key) = self.check_password(user_name, password)?;
        self.finish_sign_in(user_id, data_key, Some(password))
    }

    /// [`AppService::sign_in`] for the window: when the workstation's files are still plain
    /// (from before encryption), their encryption runs on the service's "encrypt" thread and
    /// this returns [`SignInStart::Encrypting`] at once; [`AppService::poll_encryption`] tells
    /// the progress and finishes the sign-in. `wake` is called whenever there is news.
    pub fn begin_sign_in(
        &mut self,
        user_name: &str,
        password: &str,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Result<SignInStart, AppError> {
        if self.encryption.is_some() {
            return Err(AppError::Encrypting);
        }
        let (user_id, data_key) = self.check_password(user_name, password)?;
        let path = self.data_dir.join(crate::store::DATABASE_FILE);
        if !(self.opened && !self.store.is_encrypted() && Store::needs_migration(&path)?) {
            self.finish_sign_in(user_id, data_key, Some(password))?;
            return Ok(SignInStart::SignedIn);
        }
        self.close_store()?;
        let (progress_tx, progress) = std::sync::mpsc::channel();
        let (finished_tx, finished) = std::sync::mpsc::channel();
        let key = data_key.clone();
        let wake = Arc::new(wake);
        let wake_done = wake.clone();
        let spawned = std::thread::Builder::new()
            .name("encrypt".to_owned())
            .spawn(move || {
                let report = |step| {
                    let _ = progress_tx.send(step);
                    wake();
                };
                let result = Store::open_keyed_with_progress(&path, &key, &report).map(drop);
                let _ = finished_tx.send(result);
                wake_done();
            });
        if let Err(error) = spawned {
            return Err(StoreError::Io {
                path: self.data_dir.clone(),
                source: error,
            }
            .into());
        }
        self.encryption = Some(Encryption {
            progress,
            finished,
            last: None,
            result: None,
            user_id,
            data_key,
        });
        Ok(SignInStart::Encrypting)
    }

    /// How the encryption started by [`AppService::begin_sign_in`] goes: `None` when none is
    /// running; the latest progress while it runs; [`EncryptionState::SignedIn`] once it is done
    /// and the user is signed in. An error ends it (every file is whole, plain or encrypted, and
    /// the next sign-in goes on where it stopped).
    pub fn poll_encryption(&mut self) -> Option<Result<EncryptionState, AppError>> {
        let encryption = self.encryption.as_mut()?;
        while let Ok(step) = encryption.progress.try_recv() {
            encryption.last = Some(step);
        }
        if encryption.result.is_none() {
            match encryption.finished.try_recv() {
                Ok(result) => encryption.result = Some(result),
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    return Some(Ok(EncryptionState::Running(encryption.last)));
                }
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    encryption.result = Some(Err(thread_stopped()));
                }
            }
        }
        let result = encryption.result.take().unwrap_or(Ok(()));
        Some(self.end_encryption(result))
    }

    /// Blocks until the encryption started by [`AppService::begin_sign_in`] has ended (the next
    /// [`AppService::poll_encryption`] then finishes the sign-in): for the command line and for
    /// tests, which wait for the event rather than for time.
    pub fn wait_for_encryption(&mut self) {
        if let Some(encryption) = self.encryption.as_mut()
            && encryption.result.is_none()
        {
            encryption.result = Some(
                encryption
                    .finished
                    .recv()
                    .unwrap_or_else(|_| Err(thread_stopped())),
            );
        }
    }

    fn end_encryption(
        &mut self,
        result: Result<(), StoreError>,
    ) -> Result<EncryptionState, AppError> {
        let Some(encryption) = self.encryption.take() else {
            return Err(AppError::NotSignedIn);
        };
        if let Err(error) = result {
            // Back to the file as it is now, plain or encrypted, for the next try.
            let path = self.data_dir.join(crate::store::DATABASE_FILE);
            if !Store::needs_migration(&path)? {
                self.opened = false;
            } else {
                self.store = Store::open(&path)?;
                self.opened = true;
            }
            return Err(error.into());
        }
        self.finish_sign_in(encryption.user_id, encryption.data_key, None)?;
        Ok(EncryptionState::SignedIn)
    }

    /// The user whose password opens their key slot, and the data key it holds; refuses (and
    /// counts) a wrong password.
    fn check_password(
        &mut self,
        user_name: &str,
        password: &str,
    ) -> Result<(UserId, DataKey), AppError> {
        self.refuse_if_throttled()?;
        // Who may try: the open database's users, or the key file's before it is open.
        let candidates: Vec<(UserId, String)> = if self.opened {
            self.store
                .users_named(user_name)?
                .into_iter()
                .map(|u| (u.user_id, u.key_slot))
                .collect()
        } else {
            Keyring::load(&self.data_dir)?
                .users_named(user_name)
                .into_iter()
                .filter_map(|u| Some((u.user_id.parse().ok()?, u.key_slot.clone())))
                .collect()
        };
        let mut opened = None;
        for (user_id, slot) in &candidates {
            match open_slot(*user_id, slot, password) {
                Ok(key) => {
                    opened = Some((*user_id, key));
                    break;
                }
                Err(KeyError::WrongSecret) => {}
                Err(other) => {
                    tracing::warn!(%user_id, error = %other, "a user's key slot cannot be read");
                }
            }
        }
        if candidates.is_empty() {
            // The same work as a real check, so the answer's timing does not say whether the
            // user name exists.
            let _ = KeySlot::seal(&DataKey::generate()?, password.as_bytes(), "", self.kdf);
        }
        let Some((user_id, data_key)) = opened else {
            let user_id = candidates.first().map(|(id, _)| *id);
            self.login_failed(user_id)?;
            return Err(LoginError::WrongPassword.into());
        };
        Ok((user_id, data_key))
    }

    /// Opens the database with the data key a password opened and starts the user's session,
    /// unless they are disabled. A slot that still holds the workstation's key from before it
    /// took its clinic's is sealed again with the clinic's (`password` is what opened it).
    fn finish_sign_in(
        &mut self,
        user_id: UserId,
        data_key: DataKey,
        password: Option<&str>,
    ) -> Result<(), AppError> {
        let opened_with = self.open_workstation(&data_key)?;
        let mut user = self.store.user(user_id)?;
        if opened_with != data_key
            && !user.disabled
            && let Some(password) = password
        {
            user.key_slot = self.seal_for(&user, &opened_with, password)?;
            self.store.set_actor(Some(user_id));
            self.store.save_user(&user)?;
            self.store.set_actor(None);
        }
        let data_key = opened_with;
        if user.disabled {
            self.login_failed(Some(user.user_id))?;
            return Err(LoginError::Disabled.into());
        }
        self.clear_failures()?;
        self.start_session(user, data_key)
    }

    /// Locks the screen: the user stays signed in, nothing of a patient is shown until they (or
    /// another user) sign in again.
    pub fn lock(&mut self) -> Result<(), AppError> {
        let Some(session) = &mut self.session else {
            return Err(AppError::NotSignedIn);
        };
        if session.locked {
            return Ok(());
        }
        session.locked = true;
        let user_id = session.user.user_id;
        self.store
            .record_audit(AuditEvent::new(AuditAction::Lock, Some(user_id)))?;
        self.save_status_quietly();
        Ok(())
    }

    /// Unlocks with the locked user's password, back to where they were.
    pub fn unlock(&mut self, password: &str) -> Result<(), AppError> {
        self.refuse_if_throttled()?;
        let Some(session) = &self.session else {
            return Err(AppError::NotSignedIn);
        };
        let user_id = session.user.user_id;
        // The user may have been disabled or changed their password at another workstation
        // since: read them again.
        let user = self.store.user(user_id)?;
        match open_user_slot(&user, password) {
            Ok(data_key) if !user.disabled => {
                self.clear_failures()?;
                let data_key = self.forwarded(data_key)?;
                self.start_session(user, data_key)
            }
            Ok(_) => {
                self.login_failed(Some(user_id))?;
                Err(LoginError::Disabled.into())
            }
            Err(KeyError::WrongSecret) => {
                self.login_failed(Some(user_id))?;
                Err(LoginError::WrongPassword.into())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Signs the current user out.
    pub fn sign_out(&mut self) -> Result<(), AppError> {
        if let Some(session) = self.session.take() {
            self.store.record_audit(AuditEvent::new(
                AuditAction::SignOut,
                Some(session.user.user_id),
            ))?;
        }
        self.store.set_actor(None);
        self.save_status_quietly();
        Ok(())
    }

    /// [`AppService::save_status`] where a failure must not stop what the user asked for.
    fn save_status_quietly(&self) {
        if let Err(error) = self.save_status() {
            tracing::warn!(%error, "cannot write the status file");
        }
    }

    /// Notes that the user did something (a key, a click): the idle lock counts from here.
    pub fn touch(&mut self) {
        self.last_activity = self.clock.now();
    }

    /// How long the window may stay untouched before it locks.
    pub fn auto_lock_minutes(&self) -> u32 {
        self.auto_lock_minutes
    }

    /// When this workstation's last backup was written, if ever.
    pub fn last_backup(&self) -> Option<DateTime<Utc>> {
        self.last_backup
    }

    /// The daily backup, if an administrator set one up.
    pub fn backup_schedule(&self) -> Option<&BackupSchedule> {
        self.backup_schedule.as_ref()
    }

    /// The daily backup to write now, if one is due: someone is signed in (the store is open
    /// with its key) and the last backup is a day old or more. Gives what a worker thread needs:
    /// a way to open the store, the new folder, and how many backups to keep.
    pub fn scheduled_backup_due(&self) -> Option<(crate::store::StoreOpener, PathBuf, u32)> {
        let schedule = self.backup_schedule.as_ref()?;
        self.user()?;
        let now = self.clock.now();
        let due = self
            .last_backup
            .is_none_or(|at| now.signed_duration_since(at) >= chrono::Duration::hours(24));
        due.then(|| {
            (
                self.store.opener(),
                schedule
                    .folder
                    .join(now.format(crate::store::BACKUP_NAME_FORMAT).to_string()),
                schedule.keep,
            )
        })
    }

    /// A daily backup was written by the worker: remembered, and in the audit trail (with no
    /// user: the schedule, not whoever is at the keyboard, wrote it).
    pub fn record_scheduled_backup(&mut self) -> Result<(), AppError> {
        self.backup_written(None)
    }

    /// A backup was written, by `user_id` or by the schedule: in the audit trail, and
    /// remembered as the last one.
    fn backup_written(&mut self, user_id: Option<UserId>) -> Result<(), AppError> {
        self.store
            .record_audit(AuditEvent::new(AuditAction::Export, user_id))?;
        let now = self.clock.now();
        self.store.set_setting(
            LAST_BACKUP_SETTING,
            &now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )?;
        self.last_backup = Some(now);
        Ok(())
    }

    /// Whether the last backup is missing or older than [`BACKUP_WARNING_DAYS`].
    pub fn backup_overdue(&self) -> bool {
        self.last_backup.is_none_or(|at| {
            self.clock.now().signed_duration_since(at) > chrono::Duration::days(BACKUP_WARNING_DAYS)
        })
    }

    /// Whether an unlocked session was left untouched for the auto-lock time: the window saves
    /// what it can, then calls [`AppService::lock`].
    pub fn idle_lock_due(&self) -> bool {
        let unlocked = self.session.as_ref().is_some_and(|s| !s.locked);
        let minutes = i64::from(self.auto_lock_minutes());
        unlocked
            && minutes > 0
            && self.clock.now() - self.last_activity >= chrono::Duration::minutes(minutes)
    }

    /// Changes the signed-in user's own password: the current one must be right; the new one
    /// seals a new slot, and nothing else is re-encrypted.
    pub fn change_password(
        &mut self,
        current: &str,
        new: &str,
        confirm: &str,
    ) -> Result<(), AppError> {
        let Some(session) = &self.session else {
            return Err(AppError::NotSignedIn);
        };
        let mut user = self.store.user(session.user.user_id)?;
        let data_key = match open_user_slot(&user, current) {
            Ok(key) => self.forwarded(key)?,
            Err(KeyError::WrongSecret) => return Err(LoginError::WrongPassword.into()),
            Err(other) => return Err(other.into()),
        };
        check_new_password(new, confirm, &[&user.user_name, &user.full_name])?;
        user.key_slot = self.seal_for(&user, &data_key, new)?;
        user.must_change_password = false;
        self.store.save_user(&user)?;
        if let Some(session) = &mut self.session {
            session.user = user;
        }
        Ok(())
    }

    /// Opens the clinic's data with the recovery key when every password is forgotten, gives
    /// `user_name` the new password, and signs them in.
    pub fn recover(
        &mut self,
        recovery_key: &str,
        user_name: &str,
        new: &str,
        confirm: &str,
    ) -> Result<(), AppError> {
        self.refuse_if_throttled()?;
        let key = RecoveryKey::parse(recovery_key)?;
        let keyring = Keyring::load(&self.data_dir)?;
        let (slot_text, clinic) = if self.opened {
            (
                self.store.setting(RECOVERY_SLOT_SETTING)?,
                self.store
                    .setting(RECOVERY_OWNER_SETTING)?
                    .unwrap_or_else(|| self.store.clinic_id().to_string()),
            )
        } else {
            (
                keyring.recovery_slot.clone(),
                keyring.recovery_owner.clone(),
            )
        };
        let slot_text = slot_text.ok_or(LoginError::WrongRecoveryKey)?;
        let owner = recovery_slot_owner(&clinic);
        let data_key = match KeySlot::from_text(&slot_text)?.open(key.secret(), &owner) {
            Ok(data_key) => data_key,
            Err(KeyError::WrongSecret) => {
                self.login_failed(None)?;
                return Err(LoginError::WrongRecoveryKey.into());
            }
            Err(other) => return Err(other.into()),
        };
        let data_key = self.open_workstation(&data_key)?;
        let mut user = self
            .store
            .users_named(user_name)?
            .into_iter()
            .next()
            .ok_or(LoginError::WrongPassword)?;
        check_new_password(new, confirm, &[&user.user_name, &user.full_name])?;
        user.key_slot = self.seal_for(&user, &data_key, new)?;
        user.must_change_password = false;
        self.store.set_actor(Some(user.user_id));
        self.store.save_user(&user)?;
        self.clear_failures()?;
        self.start_session(user, data_key)
    }

    /// Checks that the signed-in user may do `action`, and returns their session.
    pub fn authorize(&self, action: Action) -> Result<&Session, AppError> {
        let session = self
            .session
            .as_ref()
            .filter(|s| !s.locked)
            .ok_or(AppError::NotSignedIn)?;
        if session.user.must_change_password {
            return Err(AppError::MustChangePassword);
        }
        if !session.user.roles.allows(action) {
            return Err(AppError::Forbidden(action));
        }
        Ok(session)
    }

    /// The store, to write to directly after `action` was authorized: for long work the service
    /// hands over whole (an import of many files), whose writes are still audited as the user's.
    pub fn store_for(&mut self, action: Action) -> Result<&mut Store, AppError> {
        self.authorize(action)?;
        Ok(&mut self.store)
    }

    /// The store, to enroll the workstation with a server: an administrator's action, or
    /// anyone's on a workstation not set up yet (its database holds nothing of a patient).
    pub fn store_to_enroll(&mut self) -> Result<&mut Store, AppError> {
        if !self.needs_setup()? {
            self.authorize(Action::ChangeSettings)?;
        }
        Ok(&mut self.store)
    }

    /// Writes a backup of the workstation (its records, key file and images, encrypted as they
    /// are here) into `dest`, or into a new folder under `backups` in the data folder. An
    /// administrator's action, in the audit trail as an export.
    pub fn backup(&mut self, dest: Option<&Path>) -> Result<BackupReport, AppError> {
        let user_id = self.authorize(Action::Backup)?.user.user_id;
        let folder = match dest {
            Some(dest) => dest.to_owned(),
            None => self.data_dir.join("backups").join(
                self.clock
                    .now()
                    .format(crate::store::BACKUP_NAME_FORMAT)
                    .to_string(),
            ),
        };
        let report = self.store.backup_to(&folder)?;
        self.backup_written(Some(user_id))?;
        Ok(report)
    }

    /// Folds every change the server has acknowledged into its record and gives the freed
    /// space back to the disk; `progress` hears how many log rows were looked at of how many.
    /// Sync compacts a little after every round; this does all of it at once (an
    /// administrator's action, like a backup: the database file is rewritten).
    pub fn compact(&mut self, progress: impl FnMut(u64, u64)) -> Result<CompactOutcome, AppError> {
        let user_id = self.authorize(Action::Backup)?.user.user_id;
        let before = self.store.file_size()?;
        let report = self.store.compact_all(20_000, progress)?;
        self.store.reclaim_space()?;
        self.store
            .record_audit(AuditEvent::new(AuditAction::StoreCompacted, Some(user_id)))?;
        Ok(CompactOutcome {
            report,
            bytes_before: before,
            bytes_after: self.store.file_size()?,
            log_left: self.store.change_log_size()?,
        })
    }

    /// The whole audit trail, every workstation's chain in order, for an export: an
    /// administrator's action, itself in the trail as an export.
    pub fn export_audit(&mut self) -> Result<Vec<crate::model::AuditEntry>, AppError> {
        let user_id = self.authorize(Action::ReadAudit)?.user.user_id;
        let entries = self.store.audit_chains()?;
        self.store
            .record_audit(AuditEvent::new(AuditAction::Export, Some(user_id)))?;
        Ok(entries)
    }

    /// The language the signed-in user chose on this workstation, if any.
    pub fn user_language(&self) -> Option<crate::i18n::Language> {
        let user = self.user()?;
        self.store
            .setting(&language_setting(user.user_id))
            .ok()
            .flatten()
            .and_then(|code| crate::i18n::Language::from_code(&code))
    }

    /// Opens a patient's record for reading: needs permission to find patients, and is in the
    /// audit trail.
    pub fn open_chart(&mut self, patient_id: PatientId) -> Result<(), AppError> {
        let user_id = self.authorize(Action::FindPatients)?.user.user_id;
        self.store.record_audit(
            AuditEvent::new(AuditAction::ChartOpened, Some(user_id)).patient(patient_id),
        )?;
        Ok(())
    }

    /// Checks that the signed-in user may look patients up at the district server and open
    /// another clinic's patient here.
    pub fn may_open_from_district(&self) -> Result<(), AppError> {
        self.authorize(Action::OpenFromDistrict).map(drop)
    }

    /// Records in the audit trail that another clinic's patient was opened here (the server's
    /// access log holds the reason, and the grant).
    pub fn opened_from_district(&mut self, patient_id: PatientId) -> Result<(), AppError> {
        let user_id = self.authorize(Action::OpenFromDistrict)?.user.user_id;
        self.store.record_audit(
            AuditEvent::new(AuditAction::OpenedFromDistrict, Some(user_id)).patient(patient_id),
        )?;
        Ok(())
    }

    /// Opens a patient's images: needs permission to read clinical content, and is in the
    /// audit trail.
    pub fn view_images(&mut self, patient_id: PatientId) -> Result<(), AppError> {
        let user_id = self.authorize(Action::ReadClinical)?.user.user_id;
        self.store.record_audit(
            AuditEvent::new(AuditAction::ImagesViewed, Some(user_id)).patient(patient_id),
        )?;
        Ok(())
    }

    /// Refuses a visit with a prescription that meets one of the patient's recorded allergies
    /// and no reason answering the alert.
    fn refuse_unanswered_alerts(
        &self,
        encounter: &crate::model::Encounter,
    ) -> Result<(), AppError> {
        let allergies = self.store.allergies(encounter.patient_id)?;
        let unanswered = crate::model::unanswered_alerts(encounter, &allergies);
        if unanswered.is_empty() {
            Ok(())
        } else {
            Err(AppError::AllergyAlert(
                unanswered.into_iter().map(|(_, alert)| alert).collect(),
            ))
        }
    }

    /// Audits each prescription of `saved` prescribed despite an allergy alert that was not so
    /// before (`stored`): the reason itself is in the visit.
    fn audit_overrides(
        &mut self,
        saved: &crate::model::Encounter,
        stored: Option<&crate::model::Encounter>,
        user_id: Option<UserId>,
    ) -> Result<(), AppError> {
        let before: Vec<_> = stored
            .map(|s| {
                s.prescriptions
                    .iter()
                    .filter_map(|p| p.allergy_override.clone().map(|o| (p.medicine.clone(), o)))
                    .collect()
            })
            .unwrap_or_default();
        for line in &saved.prescriptions {
            let Some(answer) = &line.allergy_override else {
                continue;
            };
            if !before.contains(&(line.medicine.clone(), answer.clone())) {
                self.store.record_audit(
                    AuditEvent::new(AuditAction::AllergyAlertOverridden, user_id)
                        .patient(saved.patient_id)
                        .record(saved.encounter_id.0),
                )?;
            }
        }
        Ok(())
    }

    /// Runs one command for the signed-in user, if their roles allow it.
    pub fn execute(&mut self, command: Command) -> Result<Outcome, AppError> {
        let stored = match &command {
            Command::SaveEncounter(encounter) | Command::SignEncounter(encounter) => {
                match self.store.encounter(encounter.encounter_id) {
                    Ok(stored) => Some(stored),
                    Err(StoreError::NotFound { .. }) => None,
                    Err(other) => return Err(other.into()),
                }
            }
            _ => None,
        };
        let action = command.action(stored.as_ref());
        let session = self.authorize(action)?;
        let signer = session.signer(action);
        // A draft is its author's: clinical writing in someone else's draft waits for a
        // hand-over (triage — vital signs and the reason for the visit — does not).
        if let (Command::SaveEncounter(_), Some(draft)) = (&command, stored.as_ref())
            && action == Action::WriteClinical
            && draft.is_draft()
            && !signer.is_author_of(draft)
        {
            return Err(AppError::NotYourDraft {
                author: draft.clinician.trim().to_owned(),
            });
        }
        Ok(match command {
            Command::RegisterPatient(patient) => {
                Outcome::PatientRegistered(self.store.register_patient(patient)?)
            }
            Command::SavePatient(patient) => {
                Outcome::PatientSaved(self.store.update_patient(&patient)?)
            }
            Command::SaveEncounter(mut encounter) => {
                keep_author(&mut encounter, stored.as_ref(), &signer);
                // Saving a draft whose prescriptions did not change prescribes nothing new (a
                // nurse's vital signs); signing checks every line.
                if stored
                    .as_ref()
                    .is_none_or(|s| s.prescriptions != encounter.prescriptions)
                {
                    self.refuse_unanswered_alerts(&encounter)?;
                }
                let saved = self.store.save_encounter(&encounter)?;
                self.audit_overrides(&encounter, stored.as_ref(), signer.user_id)?;
                Outcome::DraftSaved(saved)
            }
            Command::TakeOverDraft(encounter_id) => {
                Outcome::DraftTakenOver(self.store.take_over_draft(encounter_id, &signer)?)
            }
            Command::SignEncounter(mut encounter) => {
                keep_author(&mut encounter, stored.as_ref(), &signer);
                self.refuse_unanswered_alerts(&encounter)?;
                self.store.save_encounter(&encounter)?;
                self.audit_overrides(&encounter, stored.as_ref(), signer.user_id)?;
                Outcome::VisitSigned(self.store.sign_encounter(encounter.encounter_id, &signer)?)
            }
            Command::AddAmendment(mut amendment) => {
                amendment.author = signer.full_name.clone();
                amendment.author_id = signer.user_id;
                self.store.add_amendment(&amendment)?;
                Outcome::AmendmentAdded(self.store.amendments(amendment.encounter_id)?)
            }
            Command::AmendFromConflict {
                conflict,
                mut amendment,
            } => {
                amendment.author = signer.full_name.clone();
                amendment.author_id = signer.user_id;
                self.store.amend_from_conflict(&conflict, &amendment)?;
                Outcome::ConflictAmended
            }
            Command::VoidEncounter {
                encounter_id,
                reason,
            } => Outcome::VisitVoided(self.store.void_encounter(encounter_id, &signer, &reason)?),
            Command::SaveAllergy(allergy) => {
                self.store.save_allergy(&allergy)?;
                Outcome::ChartSaved
            }
            Command::SetAllergyStatus { patient_id, status } => {
                self.store.set_allergy_status(patient_id, status)?;
                Outcome::ChartSaved
            }
            Command::SaveProblem(problem) => {
                self.store.save_problem(&problem)?;
                Outcome::ChartSaved
            }
            Command::AddToQueue(patient_id) => {
                let now = self.clock.now();
                let day = now.with_timezone(&chrono::Local).date_naive();
                let arrival = crate::model::QueueEntry::arrival(patient_id, day, now);
                Outcome::QueueChanged(self.store.add_to_queue(&arrival)?)
            }
            Command::TriageQueueEntry {
                queue_entry_id,
                mut signs,
            } => {
                let mut entry = self.store.queue_entry(queue_entry_id)?;
                signs.sort();
                signs.dedup();
                entry.priority = Some(crate::model::triage_priority(&signs));
                entry.signs = signs;
                if entry.state == crate::model::QueueState::Arrived {
                    entry.state = crate::model::QueueState::Triaged;
                }
                self.store.save_queue_entry(&entry)?;
                Outcome::QueueChanged(entry)
            }
            Command::SeeQueueEntry(queue_entry_id) => {
                let mut entry = self.store.queue_entry(queue_entry_id)?;
                entry.state = crate::model::QueueState::WithClinician;
                entry.clinician = signer.full_name.clone();
                self.store.save_queue_entry(&entry)?;
                Outcome::QueueChanged(entry)
            }
            Command::FinishQueueEntry(queue_entry_id) => {
                let mut entry = self.store.queue_entry(queue_entry_id)?;
                entry.state = crate::model::QueueState::Done;
                if entry.clinician.is_empty() {
                    entry.clinician = signer.full_name.clone();
                }
                self.store.save_queue_entry(&entry)?;
                Outcome::QueueChanged(entry)
            }
            Command::QueueEntryLeft(queue_entry_id) => {
                let mut entry = self.store.queue_entry(queue_entry_id)?;
                entry.state = crate::model::QueueState::LeftUnseen;
                self.store.save_queue_entry(&entry)?;
                Outcome::QueueChanged(entry)
            }
            Command::MergePatients {
                survivor,
                retired,
                reason,
            } => {
                if reason.trim().is_empty() {
                    return Err(AppError::MergeReasonRequired);
                }
                Outcome::PatientsMerged(self.store.merge_patients(
                    survivor,
                    retired,
                    &reason,
                    &signer.full_name,
                )?)
            }
            Command::SetLanguage(language) => {
                if let Some(user_id) = signer.user_id {
                    self.store
                        .set_setting(&language_setting(user_id), language.code())?;
                }
                Outcome::LanguageSet(language)
            }
            Command::UndoMerge(merge_id) => Outcome::MergeUndone(self.store.undo_merge(merge_id)?),
            Command::ResolveConflict { conflict, value } => {
                self.store.resolve_conflict(&conflict, value)?;
                Outcome::ConflictSettled
            }
            Command::SetImagesRemoved {
                attachment_ids,
                removed,
            } => Outcome::ImagesRemoved(
                self.store
                    .set_attachments_removed(&attachment_ids, removed)?,
            ),
            Command::FetchImage(blob) => {
                self.store.request_blob(&blob)?;
                Outcome::ImageRequested
            }
            Command::CreateUser {
                user_name,
                full_name,
                roles,
                password,
            } => {
                let data_key = self.session_key()?;
                check_new_password(&password, &password, &[&user_name, &full_name])?;
                let mut user = UserAccount {
                    user_id: UserId::new(),
                    user_name: UserAccount::normalise_user_name(&user_name),
                    full_name: full_name.trim().to_owned(),
                    roles,
                    disabled: false,
                    // The administrator knows this password: the user replaces it.
                    must_change_password: true,
                    key_slot: String::new(),
                };
                user.key_slot = self.seal_for(&user, &data_key, &password)?;
                self.store.save_user(&user)?;
                Outcome::UserCreated(user.user_id)
            }
            Command::SetUserRoles { user_id, roles } => {
                let mut user = self.store.user(user_id)?;
                user.roles = roles;
                self.refuse_losing_last_administrator(&user)?;
                self.store.save_user(&user)?;
                Outcome::UserChanged
            }
            Command::SetUserDisabled { user_id, disabled } => {
                let mut user = self.store.user(user_id)?;
                user.disabled = disabled;
                self.refuse_losing_last_administrator(&user)?;
                self.store.save_user(&user)?;
                Outcome::UserChanged
            }
            Command::ResetPassword { user_id, password } => {
                let data_key = self.session_key()?;
                let mut user = self.store.user(user_id)?;
                check_new_password(&password, &password, &[&user.user_name, &user.full_name])?;
                user.key_slot = self.seal_for(&user, &data_key, &password)?;
                user.must_change_password = true;
                self.store.save_user(&user)?;
                Outcome::UserChanged
            }
            Command::SaveLetterhead {
                clinic_name,
                address,
                phone,
                logo,
            } => {
                let old = self.store.letterhead()?.unwrap_or_default();
                let logo_png = match logo {
                    LogoChange::Keep => old.logo_png.clone(),
                    LogoChange::Remove => Vec::new(),
                    LogoChange::Set(bytes) => printing::logo_png(&bytes)?,
                };
                self.store
                    .save_letterhead(&crate::model::ClinicLetterhead {
                        letterhead_id: old.letterhead_id,
                        clinic_name,
                        address,
                        phone,
                        logo_png,
                    })?;
                Outcome::SettingSaved
            }
            Command::SetAutoLockMinutes(minutes) => {
                let minutes = minutes.clamp(1, 24 * 60);
                self.store
                    .set_setting(AUTO_LOCK_SETTING, &minutes.to_string())?;
                self.store
                    .record_audit(AuditEvent::new(AuditAction::SettingChanged, signer.user_id))?;
                self.auto_lock_minutes = minutes;
                Outcome::SettingSaved
            }
            Command::SetBackupSchedule(schedule) => {
                let schedule = schedule.map(|s| BackupSchedule {
                    keep: s.keep.clamp(1, MAX_BACKUP_KEEP),
                    ..s
                });
                let folder = schedule
                    .as_ref()
                    .map(|s| s.folder.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.store.set_setting(BACKUP_FOLDER_SETTING, &folder)?;
                if let Some(s) = &schedule {
                    self.store
                        .set_setting(BACKUP_KEEP_SETTING, &s.keep.to_string())?;
                }
                self.store
                    .record_audit(AuditEvent::new(AuditAction::SettingChanged, signer.user_id))?;
                self.backup_schedule = schedule;
                Outcome::SettingSaved
            }
            Command::AdoptClinicKey {
                user_name,
                password,
            } => Outcome::ClinicKeyAdopted(self.adopt_clinic_key(&user_name, &password)?),
        })
    }

    fn session_key(&self) -> Result<DataKey, AppError> {
        self.session
            .as_ref()
            .map(|s| s.data_key.clone())
            .ok_or(AppError::NotSignedIn)
    }

    fn seal_for(
        &self,
        user: &UserAccount,
        data_key: &DataKey,
        password: &str,
    ) -> Result<String, AppError> {
        Ok(KeySlot::seal(
            data_key,
            password.as_bytes(),
            &user_slot_owner(&user.user_id.to_string()),
            self.kdf,
        )?
        .to_text())
    }

    /// Refuses a change that would leave no enabled administrator.
    fn refuse_losing_last_administrator(&self, changed: &UserAccount) -> Result<(), AppError> {
        let remaining = self
            .store
            .users()?
            .into_iter()
            .map(|u| {
                if u.user_id == changed.user_id {
                    changed.clone()
                } else {
                    u
                }
            })
            .filter(|u| !u.disabled && u.roles.has(Role::Administrator))
            .count();
        if remaining == 0 {
            return Err(AppError::LastAdministrator);
        }
        Ok(())
    }

    fn start_session(&mut self, user: UserAccount, data_key: DataKey) -> Result<(), AppError> {
        let user_id = user.user_id;
        self.store.set_actor(Some(user_id));
        self.session = Some(Session {
            user,
            data_key,
            locked: false,
        });
        self.last_activity = self.clock.now();
        self.store
            .record_audit(AuditEvent::new(AuditAction::Login, Some(user_id)))?;
        Ok(())
    }

    /// Wrong passwords in a row on this workstation, and when the last was typed (kept in the
    /// key file, readable before the database is open).
    fn failures(&self) -> Result<(u32, Option<DateTime<Utc>>), StoreError> {
        let keyring = Keyring::load(&self.data_dir)?;
        let at = keyring
            .last_failed_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        Ok((keyring.failed_sign_ins, at))
    }

    fn refuse_if_throttled(&self) -> Result<(), AppError> {
        let (count, at) = self.failures()?;
        if let (Some(wait), Some(at)) = (login_wait_seconds(count), at) {
            let ready = at + chrono::Duration::seconds(wait);
            let now = self.clock.now();
            if now < ready {
                let wait_seconds = (ready - now).num_seconds().max(1);
                return Err(LoginError::Throttled { wait_seconds }.into());
            }
        }
        Ok(())
    }

    fn login_failed(&mut self, user_id: Option<UserId>) -> Result<(), StoreError> {
        let mut keyring = Keyring::load(&self.data_dir)?;
        keyring.failed_sign_ins += 1;
        keyring.last_failed_at = Some(self.clock.now().to_rfc3339());
        if !self.opened {
            // Written into the audit trail when the database is next opened.
            keyring
                .unrecorded_failures
                .push(user_id.map(|id| id.to_string()));
        }
        keyring.save(&self.data_dir)?;
        if self.opened {
            self.store
                .record_audit(AuditEvent::new(AuditAction::LoginFailed, user_id))?;
        }
        Ok(())
    }

    fn clear_failures(&mut self) -> Result<(), StoreError> {
        let mut keyring = Keyring::load(&self.data_dir)?;
        if keyring.failed_sign_ins == 0 {
            return Ok(());
        }
        keyring.failed_sign_ins = 0;
        keyring.last_failed_at = None;
        keyring.save(&self.data_dir)
    }
}

/// How long the next try waits after `failures` wrong passwords in a row: nothing for the first
/// [`FREE_LOGIN_FAILURES`], then 5 s, doubling, up to five minutes.
pub fn login_wait_seconds(failures: u32) -> Option<i64> {
    let over = failures.checked_sub(FREE_LOGIN_FAILURES)?;
    Some((5_i64 << over.min(12)).min(MAX_LOGIN_WAIT_SECONDS))
}

/// A visit's author is who first saved it: a new visit is the signed-in user's, and no later save
/// changes its author.
fn keep_author(
    encounter: &mut crate::model::Encounter,
    stored: Option<&crate::model::Encounter>,
    signer: &Signer,
) {
    match stored {
        Some(stored) => {
            encounter.clinician = stored.clinician.clone();
            encounter.clinician_id = stored.clinician_id;
        }
        None => {
            encounter.clinician = signer.full_name.clone();
            encounter.clinician_id = signer.user_id;
        }
    }
}

impl Drop for AppService {
    fn drop(&mut self) {
        self.save_status_quietly();
    }
}

fn open_user_slot(user: &UserAccount, password: &str) -> Result<DataKey, KeyError> {
    open_slot(user.user_id, &user.key_slot, password)
}

/// Opens a user's key slot (its text) with their password.
fn open_slot(user_id: UserId, slot: &str, password: &str) -> Result<DataKey, KeyError> {
    KeySlot::from_text(slot)?.open(password.as_bytes(), &user_slot_owner(&user_id.to_string()))
}

fn check_new_password(password: &str, confirm: &str, names: &[&str]) -> Result<(), AppError> {
    if password != confirm {
        return Err(AppError::PasswordsDiffer);
    }
    let strength = password_strength(password, names);
    if !strength.is_accepted() {
        return Err(AppError::WeakPassword(strength));
    }
    Ok(())
}

/// The local setting that keeps a user's language.
fn language_setting(user_id: crate::model::UserId) -> String {
    format!("language.{user_id}")
}
