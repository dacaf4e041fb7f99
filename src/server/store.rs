//! The server's storage, as a trait: clinics, enrollment codes, devices, the change log with its
//! quarantine, and blobs.
//!
//! The gRPC service talks only to [`ServerStore`], so another back end (PostgreSQL next to the
//! embedded SQLite one) can follow without touching the service. Methods are synchronous; the
//! service calls them on tokio's blocking pool. Secrets never reach a store: it keeps and compares
//! only SHA-256 hashes of enrollment codes and device tokens.

use crate::model::{AuditEntry, ChangeRecord, ClinicId, EntityKind};
pub use crate::sync::wire::ShareReason;
use crate::sync::wire::{Ack, BlobHash};
use std::io::{Read, Seek};
use std::path::PathBuf;
use uuid::Uuid;

/// A clinic enrolled on the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clinic {
    /// The clinic's id: the author of records written at its workstations.
    pub clinic_id: ClinicId,
    /// Its name, as the administrator typed it.
    pub name: String,
    /// When it was added (Unix milliseconds).
    pub created_at_millis: i64,
}

/// A workstation holding a device credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device's id.
    pub device_id: Uuid,
    /// The clinic it belongs to; it may push only that clinic's changes.
    pub clinic_id: ClinicId,
    /// The name the workstation gave itself when it enrolled.
    pub name: String,
    /// When it enrolled (Unix milliseconds).
    pub created_at_millis: i64,
    /// When its credential was revoked, if it was.
    pub revoked_at_millis: Option<i64>,
    /// The clock node of the workstation: every change it pushes is stamped with it. Bound at
    /// enrollment (or, for a workstation enrolled before nodes were bound, at its first push).
    pub node_id: Option<String>,
    /// For a service account (another program calling the records API), what it may do; `None`
    /// for a workstation.
    pub service: Option<ServiceScope>,
}

/// What a service account may do through the records API, for its one clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceScope {
    /// Search, read records and follow changes.
    Read,
    /// That, and create patients and lab results.
    ReadWrite,
}

impl ServiceScope {
    /// The stable code stored and typed (`read`, `read-write`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadWrite => "read-write",
        }
    }

    /// The scope of a code.
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Read, Self::ReadWrite]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// A service account about to be added: its token exists only as a hash.
#[derive(Clone, Debug)]
pub struct NewServiceAccount {
    /// A fresh id.
    pub device_id: Uuid,
    /// The clinic whose records it reads (and writes).
    pub clinic_id: ClinicId,
    /// What it is, as the administrator names it ("District laboratory").
    pub name: String,
    /// SHA-256 (hex) of the token handed to the program.
    pub token_hash: String,
    /// The clock node its writes are stamped with.
    pub node_id: String,
    /// What it may do.
    pub scope: ServiceScope,
}

/// A device about to be enrolled: its credential exists only as a hash.
#[derive(Clone, Debug)]
pub struct NewDevice {
    /// A fresh id.
    pub device_id: Uuid,
    /// The name the workstation gave itself.
    pub name: String,
    /// SHA-256 (hex) of the device token handed to the workstation.
    pub token_hash: String,
    /// The workstation's clock node, when it said (older workstations do not).
    pub node_id: Option<String>,
    /// The device this one takes over (a workstation restored from its backup): revoked in the
    /// same transaction; it must be of the clinic the code is for.
    pub replaces: Option<Uuid>,
}

/// What a clinic asks the district server for when its own records do not have a patient.
/// Names alone are too broad: a family name goes with a birth year.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatientQuery {
    /// The patient's number, as printed on their card (`HIL1-000042`).
    Number {
        /// The workstation prefix.
        prefix: String,
        /// The number within it.
        seq: i64,
    },
    /// The national id, exactly.
    NationalId(String),
    /// Family name (any case) and year of birth.
    NameAndBirthYear {
        /// Family name.
        family_name: String,
        /// Year of birth.
        birth_year: i32,
    },
}

/// A patient found at the district server: enough to tell who it is, nothing clinical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientHit {
    /// The patient's id.
    pub patient_id: Uuid,
    /// The clinic that registered them.
    pub clinic_id: ClinicId,
    /// That clinic's name.
    pub clinic_name: String,
    /// Their number (`HIL1-000042`), or empty.
    pub number: String,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Year of birth, when known.
    pub birth_year: Option<i32>,
    /// Sex code.
    pub sex: String,
}

/// What a device did across a clinic's boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessKind {
    /// Looked patients up at the district server (one entry per patient found).
    Lookup,
    /// Opened another clinic's patient with a reason: the record syncs to it from now on.
    Shared,
    /// Downloaded a shared patient's whole record.
    Opened,
    /// A service account read a patient's record (or their changes) through the records API.
    Read,
    /// A service account wrote to a patient's record through the records API.
    Written,
}

impl AccessKind {
    /// The stable code in the log.
    pub fn code(self) -> &'static str {
        match self {
            Self::Lookup => "lookup",
            Self::Shared => "shared",
            Self::Opened => "opened",
            Self::Read => "read",
            Self::Written => "written",
        }
    }

    /// The kind read from its code.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::Lookup,
            Self::Shared,
            Self::Opened,
            Self::Read,
            Self::Written,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// One entry of the server's access log: a read that crossed a clinic's boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    /// When (Unix milliseconds).
    pub at_millis: i64,
    /// Which device.
    pub device_id: Uuid,
    /// Its clinic.
    pub clinic_id: ClinicId,
    /// What it did.
    pub kind: AccessKind,
    /// Which patient.
    pub patient_id: Uuid,
    /// The reason given (for a lookup, what was searched by).
    pub reason: String,
}

/// A change a device pushed, as the administrator reviews a revoked device's work.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceChange {
    /// Its place in the log.
    pub seq: u64,
    /// The change.
    pub change: ChangeRecord,
    /// When the server received it (Unix milliseconds).
    pub received_at_millis: i64,
    /// Whether an administrator has held it back: it is no longer passed on to workstations.
    pub held: bool,
}

/// A change kept back because its stamp was too far in the server's future.
#[derive(Clone, Debug, PartialEq)]
pub struct QuarantinedChange {
    /// The change, as pushed.
    pub change: ChangeRecord,
    /// Which device pushed it.
    pub device_id: Uuid,
    /// When the server received it (Unix milliseconds).
    pub received_at_millis: i64,
    /// What the workstation was told.
    pub reason: String,
}

/// How much of a blob the server holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobState {
    /// Nothing.
    Missing,
    /// The first `stored` bytes of an upload that was cut; not visible yet.
    Partial {
        /// Bytes held.
        stored: u64,
    },
    /// Every byte, hash checked: visible to downloads.
    Complete {
        /// The blob's size.
        size: u64,
    },
}

/// One upload of one blob in progress: bytes are appended at [`BlobUpload::offset`] and the hash
/// is checked by [`BlobUpload::finish`] before the blob becomes visible.
pub trait BlobUpload: Send {
    /// Bytes stored so far (where the next chunk must start).
    fn offset(&self) -> u64;
    /// Appends `data` at the offset and returns the new offset.
    fn append(&mut self, data: &[u8]) -> Result<u64, StoreError>;
    /// Checks the SHA-256 of every byte against the blob's name and makes the blob visible. On a
    /// mismatch the stored bytes are discarded and [`StoreError::HashMismatch`] returned.
    fn finish(self: Box<Self>) -> Result<(), StoreError>;
}

/// A stored blob opened for reading.
pub trait BlobRead: Read + Seek + Send {}

impl<T: Read + Seek + Send> BlobRead for T {}

/// A complete blob opened for reading, with its size.
pub type OpenedBlob = (u64, Box<dyn BlobRead>);

/// Everything the central service keeps.
///
/// **Invariant for implementations:** server sequence numbers start at 1, only grow, and a
/// reader never sees a number before every lower number is visible too — a pull that saw seq
/// *n* must never miss a change numbered below *n*. (SQLite gives this by serialising writers;
/// PostgreSQL needs a lock around numbering.)
pub trait ServerStore: Send + Sync {
    /// Adds a clinic with its first one-time enrollment code (given as a hash).
    fn add_clinic(
        &self,
        clinic: &Clinic,
        code_hash: &str,
        code_expires_at_millis: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Adds another one-time enrollment code for an existing clinic.
    fn add_enrollment_code(
        &self,
        clinic_id: ClinicId,
        code_hash: &str,
        now_millis: i64,
        expires_at_millis: Option<i64>,
    ) -> Result<(), StoreError>;

    /// Every clinic, oldest first.
    fn clinics(&self) -> Result<Vec<Clinic>, StoreError>;

    /// Every device, oldest first.
    fn devices(&self) -> Result<Vec<Device>, StoreError>;

    /// Revokes a device's credential; its later calls are refused. Revoking twice keeps the
    /// first time.
    fn revoke_device(&self, device_id: Uuid, now_millis: i64) -> Result<Device, StoreError>;

    /// Uses up an enrollment code and records the device, in one transaction. A code that is
    /// unknown, used or expired gives [`StoreError::CodeRefused`].
    fn enroll_device(
        &self,
        code_hash: &str,
        device: &NewDevice,
        now_millis: i64,
    ) -> Result<(Device, Clinic), StoreError>;

    /// Adds a service account of a clinic: a credential for another program, with its scope.
    /// [`StoreError::UnknownClinic`] when there is no such clinic.
    fn add_service_account(
        &self,
        account: &NewServiceAccount,
        now_millis: i64,
    ) -> Result<Device, StoreError>;

    /// The device holding the token with this hash, revoked or not.
    fn device_by_token_hash(&self, token_hash: &str) -> Result<Option<Device>, StoreError>;

    /// Stores a batch of changes from `device` in one transaction and answers for each, in
    /// order: [`Ack::Accepted`] with a new sequence number, [`Ack::Duplicate`] with the number
    /// the change id already has, or [`Ack::Quarantined`] for a change stamped more than
    /// `max_skew_millis` after `now_millis` (kept apart, answered the same way when retried).
    /// Releases quarantined changes that have come due first.
    fn push_changes(
        &self,
        device: &Device,
        changes: &[ChangeRecord],
        now_millis: i64,
        max_skew_millis: i64,
    ) -> Result<Vec<Ack>, StoreError>;

    /// Moves quarantined changes whose stamp is at or before `now_millis` into the log, in stamp
    /// order. Returns how many moved.
    fn release_quarantined(&self, now_millis: i64) -> Result<usize, StoreError>;

    /// Changes held in quarantine, by stamp.
    fn quarantined(&self) -> Result<Vec<QuarantinedChange>, StoreError>;

    /// Appends audit entries of `device`'s workstation to the server's copy of its chain, after
    /// checking each hash and link: entries the server holds already must come back unchanged,
    /// new ones must follow on. A device's entries all name one workstation (the first it sent).
    /// Returns the highest number held; a chain that does not fit is
    /// [`StoreError::AuditRefused`] and nothing of the batch is kept.
    fn append_audit(&self, device: &Device, entries: &[AuditEntry]) -> Result<i64, StoreError>;

    /// The server's copy of every workstation's audit chain, by workstation and number.
    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError>;

    /// The highest sequence number in the log (0 when empty).
    fn last_seq(&self) -> Result<u64, StoreError>;

    /// Changes with `after_seq < seq <= up_to_seq` that `clinic_id` may see — its own patients
    /// and users, and the patients shared with it — in sequence order: at most `max_count`, and
    /// no more once `max_bytes` of change text are gathered (but always at least one). Changes an
    /// administrator held back are left out.
    fn changes_between(
        &self,
        clinic_id: ClinicId,
        after_seq: u64,
        up_to_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, ChangeRecord)>, StoreError>;

    /// [`ServerStore::changes_between`], of one kind of record of one clinic only.
    fn clinic_changes_between(
        &self,
        entity: EntityKind,
        clinic_id: ClinicId,
        after_seq: u64,
        up_to_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, ChangeRecord)>, StoreError>;

    /// [`ServerStore::changes_between`], of one patient only (the caller checked the clinic may
    /// see them).
    fn patient_changes_between(
        &self,
        patient_id: Uuid,
        after_seq: u64,
        up_to_seq: u64,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, ChangeRecord)>, StoreError>;

    /// Patients anywhere in the district that match, up to `limit`, with their clinic's name.
    fn find_patients(
        &self,
        query: &PatientQuery,
        limit: usize,
    ) -> Result<Vec<PatientHit>, StoreError>;

    /// The highest patient number with this prefix in the district's directory (0 when none):
    /// a service account numbers the patients it registers after it.
    fn max_number_seq(&self, prefix: &str) -> Result<i64, StoreError>;

    /// The clinic that registered the patient, if the server has them.
    fn patient_home(&self, patient_id: Uuid) -> Result<Option<ClinicId>, StoreError>;

    /// Whether `clinic_id` may see the patient: it registered them, or they were shared with it.
    fn may_see_patient(&self, clinic_id: ClinicId, patient_id: Uuid) -> Result<bool, StoreError>;

    /// Shares another clinic's patient with `device`'s clinic for `reason`, and logs it. Sharing
    /// again keeps the first grant (and logs again). [`StoreError::UnknownPatient`] when the
    /// server has no such patient.
    fn share_patient(
        &self,
        device: &Device,
        patient_id: Uuid,
        reason: ShareReason,
        now_millis: i64,
    ) -> Result<(), StoreError>;

    /// Adds entries to the access log.
    fn log_access(&self, entries: &[AccessEntry]) -> Result<(), StoreError>;

    /// The access log, oldest first.
    fn access_log(&self) -> Result<Vec<AccessEntry>, StoreError>;

    /// Whether a record `clinic_id` may see refers to the blob.
    fn blob_visible(&self, clinic_id: ClinicId, sha256: &BlobHash) -> Result<bool, StoreError>;

    /// Whether a record written by `clinic_id` refers to the blob (only those are uploaded).
    fn blob_written_by(&self, clinic_id: ClinicId, sha256: &BlobHash) -> Result<bool, StoreError>;

    /// How much of a blob is stored: complete, or what `device_id`'s own upload holds.
    fn blob_state(&self, device_id: Uuid, sha256: &BlobHash) -> Result<BlobState, StoreError>;

    /// Starts (or resumes, from the bytes it already sent) `device_id`'s upload of a blob of
    /// `total_size` bytes. Each device's partial upload is its own: another device's upload of
    /// the same blob neither blocks nor touches it. Held bytes beyond `total_size` are
    /// discarded. The caller makes sure one upload of a blob per device runs at a time.
    fn begin_upload(
        &self,
        device_id: Uuid,
        sha256: &BlobHash,
        total_size: u64,
    ) -> Result<Box<dyn BlobUpload>, StoreError>;

    /// Records that `device_id` stored a complete blob of `size` bytes (the first to store it
    /// counts it against its quota).
    fn record_blob_stored(
        &self,
        device_id: Uuid,
        sha256: &BlobHash,
        size: u64,
    ) -> Result<(), StoreError>;

    /// Bytes of the complete blobs `device_id` stored.
    fn stored_bytes(&self, device_id: Uuid) -> Result<u64, StoreError>;

    /// Bytes held in `device_id`'s partial uploads.
    fn partial_bytes(&self, device_id: Uuid) -> Result<u64, StoreError>;

    /// Removes partial uploads last written before `older_than`. Returns how many.
    fn remove_stale_partials(&self, older_than: std::time::SystemTime)
    -> Result<usize, StoreError>;

    /// Makes an unused enrollment code unusable. Returns whether there was one to revoke.
    fn revoke_enrollment_code(&self, code_hash: &str, now_millis: i64) -> Result<bool, StoreError>;

    /// Every change `device_id` pushed, oldest first.
    fn device_changes(&self, device_id: Uuid) -> Result<Vec<DeviceChange>, StoreError>;

    /// Holds back every change `device_id` pushed: pulls no longer pass them on. Returns how many
    /// were newly held.
    fn hold_device_changes(&self, device_id: Uuid) -> Result<usize, StoreError>;

    /// A complete blob and its size; `None` when it is not (fully) stored.
    fn open_blob(&self, sha256: &BlobHash) -> Result<Option<OpenedBlob>, StoreError>;
}

/// Changes stamped further than this ahead of the server's clock are refused, not held: no
/// workstation's clock is a day wrong by accident, and a change held for years would sit in the
/// quarantine for ever.
pub const FAR_FUTURE_MILLIS: i64 = 24 * 3_600_000;

/// How far a device's stamps may fall behind the highest it pushed before (a restored backup, a
/// clock set back): beyond this a change is refused as backdated.
pub const STAMP_TOLERANCE_MILLIS: i64 = 10 * 60_000;

/// What the workstation is told about a change stamped too far ahead.
pub fn far_future_reason(ahead_millis: i64) -> String {
    format!(
        "This change is dated {} ahead of the server's clock, more than a day: it was refused. \
         Set this computer's date and time, and make the change again.",
        plain_duration(ahead_millis)
    )
}

/// What the workstation is told about a change kept in quarantine, in plain words.
pub fn quarantine_reason(ahead_millis: i64, max_skew_millis: i64) -> String {
    format!(
        "This change is dated {} ahead of the server's clock (more than {} is not accepted). \
         Check the date and time of this computer. The server keeps the change and passes it on \
         when its clock reaches that time.",
        plain_duration(ahead_millis),
        plain_duration(max_skew_millis)
    )
}

/// A duration as a person says it: "2 days", "3 hours", "10 minutes".
fn plain_duration(millis: i64) -> String {
    let minutes = millis / 60_000;
    // Rounded to the nearest unit: a clock 2 days ahead, read a moment later, is still "2 days".
    let (count, unit) = if minutes >= 36 * 60 {
        ((minutes + 12 * 60) / (24 * 60), "days")
    } else if minutes >= 90 {
        ((minutes + 30) / 60, "hours")
    } else if minutes == 1 {
        (1, "minute")
    } else {
        (minutes.max(0), "minutes")
    };
    format!("{count} {unit}")
}

/// Why a store operation failed. Messages carry ids and paths, never patient data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("server database: {context}: {source}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// The database's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// Which file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer version of the server.
    #[error(
        "the server database has schema version {found}, newer than this program knows ({known}): use a newer outpost-server"
    )]
    SchemaTooNew {
        /// The database's version.
        found: i64,
        /// The newest this program knows.
        known: i64,
    },
    /// A stored row cannot be read back.
    #[error("stored {what} cannot be read: {reason}")]
    Corrupt {
        /// Which row (ids only).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The enrollment code is unknown, used, or expired.
    #[error("the enrollment code is not valid: it is mistyped, already used, or expired")]
    CodeRefused,
    /// Audit entries that do not continue the chain the server holds.
    #[error("the audit trail was refused: {0}")]
    AuditRefused(String),
    /// No clinic has this id.
    #[error("no clinic has the id {0}")]
    UnknownClinic(ClinicId),
    /// No device has this id.
    #[error("no device has the id {0}")]
    UnknownDevice(Uuid),
    /// The server has no patient with this id.
    #[error("the district server has no patient with the id {0}")]
    UnknownPatient(Uuid),
    /// The workstation's clock node belongs to a device of another clinic.
    #[error(
        "this workstation is enrolled with another clinic already; an administrator revokes that enrollment first"
    )]
    NodeTaken,
    /// A chunk was appended past the blob's declared size.
    #[error("blob {sha256}: {offset} bytes would run past its size of {total_size} bytes")]
    PastEnd {
        /// Which blob.
        sha256: BlobHash,
        /// Where the write would end.
        offset: u64,
        /// The declared size.
        total_size: u64,
    },
    /// An upload was finished before every byte arrived.
    #[error("blob {sha256}: only {offset} of {total_size} bytes are stored")]
    Incomplete {
        /// Which blob.
        sha256: BlobHash,
        /// Bytes stored.
        offset: u64,
        /// The declared size.
        total_size: u64,
    },
    /// The bytes received do not have the SHA-256 the blob is named by; they were discarded.
    #[error(
        "blob {sha256}: the bytes received have a different SHA-256 ({actual}); the upload was discarded"
    )]
    HashMismatch {
        /// The name the upload claimed.
        sha256: BlobHash,
        /// The hash of what arrived.
        actual: BlobHash,
    },
    /// The system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

impl StoreError {
    /// Wraps a database error with what the store was doing.
    pub fn database(context: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Database {
            context,
            source: Box::new(source),
        }
    }

    /// Wraps an I/O error with the path involved.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(plain_duration(10 * 60_000), "10 minutes");
        assert_eq!(plain_duration(60_000), "1 minute");
        assert_eq!(plain_duration(3 * 3_600_000 + 5), "3 hours");
        assert_eq!(plain_duration(2 * 86_400_000 + 60_000), "2 days");
        assert_eq!(
            plain_duration(2 * 86_400_000 - 5),
            "2 days",
            "a moment short still reads 2 days"
        );
        assert_eq!(plain_duration(3 * 3_600_000 - 5), "3 hours");
        assert!(quarantine_reason(2 * 86_400_000, 600_000).contains("2 days ahead"));
    }
}
