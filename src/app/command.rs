//! What a user can ask the app service to change, what each needs permission for, and what it
//! answers.

use crate::model::{
    Action, Allergy, AllergyStatus, Amendment, AttachmentId, BlobHash, Encounter, EncounterId,
    EntityKind, Patient, PatientId, PatientMerge, PatientMergeId, Problem, QueueEntry,
    QueueEntryId, Roles, TriageSign, UserId,
};
use crate::store::Conflict;

/// A change a user asks for. [`crate::app::AppService::execute`] checks the signed-in user's
/// roles against [`Command::action`], then runs it.
#[derive(Clone, Debug)]
pub enum Command {
    /// Register a new patient (the number is given by the store).
    RegisterPatient(Patient),
    /// Save edits to a registered patient's details.
    SavePatient(Patient),
    /// Save a visit draft, new or edited. A new draft's author is the signed-in user.
    SaveEncounter(Encounter),
    /// Save the draft as it stands, then sign it as the signed-in user.
    SignEncounter(Encounter),
    /// Make another clinician's draft the signed-in user's own (a hand-over, in the audit trail).
    TakeOverDraft(EncounterId),
    /// Add an amendment to a signed visit; its author is the signed-in user.
    AddAmendment(Amendment),
    /// Carry a value that arrived after its visit was signed into an amendment, settling the
    /// conflict.
    AmendFromConflict {
        /// The conflict whose value the amendment carries.
        conflict: Box<Conflict>,
        /// The amendment.
        amendment: Amendment,
    },
    /// Void a visit with a reason.
    VoidEncounter {
        /// Which visit.
        encounter_id: EncounterId,
        /// Why.
        reason: String,
    },
    /// Add or edit an allergy.
    SaveAllergy(Allergy),
    /// Record whether the patient was asked about allergies.
    SetAllergyStatus {
        /// Whose status.
        patient_id: PatientId,
        /// The new status.
        status: AllergyStatus,
    },
    /// Add or edit a problem-list entry.
    SaveProblem(Problem),
    /// A patient has arrived: add them to today's queue (once; a patient already waiting or
    /// being seen keeps their place).
    AddToQueue(PatientId),
    /// Triage an arrival: the signs found give its priority.
    TriageQueueEntry {
        /// Which arrival.
        queue_entry_id: QueueEntryId,
        /// The signs found (none: routine).
        signs: Vec<TriageSign>,
    },
    /// The signed-in clinician starts seeing the patient.
    SeeQueueEntry(QueueEntryId),
    /// The patient has been seen.
    FinishQueueEntry(QueueEntryId),
    /// The patient went home without being seen.
    QueueEntryLeft(QueueEntryId),
    /// Merge a patient's second record into the first: the survivor's chart shows both, the
    /// retired record leaves the list (its number finds the survivor). Reversible.
    MergePatients {
        /// The record that stays.
        survivor: PatientId,
        /// The record that no longer shows on its own.
        retired: PatientId,
        /// Why they are one person (as checked: same national ID, the patient confirmed…).
        reason: String,
    },
    /// Undo a merge: each record shows where it was written again.
    UndoMerge(PatientMergeId),
    /// Settle a sync conflict: the field takes `value` on every workstation.
    ResolveConflict {
        /// The conflict decided.
        conflict: Box<Conflict>,
        /// The value the field keeps.
        value: serde_json::Value,
    },
    /// Hide images from the record or bring them back. Nothing is deleted.
    SetImagesRemoved {
        /// The images.
        attachment_ids: Vec<AttachmentId>,
        /// Hide or restore.
        removed: bool,
    },
    /// Download an image imported at another clinic at the next sync.
    FetchImage(BlobHash),
    /// Create a user with a first password they must change at their first sign-in.
    CreateUser {
        /// What they type to sign in.
        user_name: String,
        /// Their full name.
        full_name: String,
        /// What they may do.
        roles: Roles,
        /// The first password, given to them by the administrator.
        password: String,
    },
    /// Change a user's roles.
    SetUserRoles {
        /// Whose.
        user_id: UserId,
        /// The new roles.
        roles: Roles,
    },
    /// Disable a user (they can no longer sign in) or enable them again.
    SetUserDisabled {
        /// Whose.
        user_id: UserId,
        /// Disable or enable.
        disabled: bool,
    },
    /// Give a user a new password that they must change at their next sign-in.
    ResetPassword {
        /// Whose.
        user_id: UserId,
        /// The temporary password.
        password: String,
    },
    /// Set the clinic's letterhead, which syncs to the clinic's workstations.
    SaveLetterhead {
        /// The clinic's name as printed.
        clinic_name: String,
        /// Its address.
        address: String,
        /// Its phone number.
        phone: String,
        /// What becomes of the logo.
        logo: LogoChange,
    },
    /// The language the window speaks to the signed-in user, on this workstation.
    SetLanguage(crate::i18n::Language),
    /// Set how long the window waits, untouched, before it locks itself.
    SetAutoLockMinutes(u32),
    /// Back this workstation up every day into a folder, keeping the newest few; `None` turns
    /// the daily backup off.
    SetBackupSchedule(Option<super::BackupSchedule>),
    /// Take the clinic's key in place of this workstation's own (see
    /// [`crate::app::AppService::adopt_clinic_key`]).
    AdoptClinicKey {
        /// One of the clinic's users.
        user_name: String,
        /// Their password.
        password: String,
    },
}

/// What a letterhead's save does to its logo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogoChange {
    /// Keep the logo it has (or its lack of one).
    Keep,
    /// No logo.
    Remove,
    /// This image file's bytes (PNG or JPEG), scaled down to fit a letterhead.
    Set(Vec<u8>),
}

/// What a command did.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The patient as registered, with their number.
    PatientRegistered(Patient),
    /// The patient's details were saved (false: nothing had changed).
    PatientSaved(bool),
    /// The draft was saved (false: nothing had changed).
    DraftSaved(bool),
    /// The draft is the signed-in user's now.
    DraftTakenOver(Encounter),
    /// The visit as signed.
    VisitSigned(Encounter),
    /// The visit's amendments, the new one included.
    AmendmentAdded(Vec<Amendment>),
    /// The amendment was added and the conflict settled.
    ConflictAmended,
    /// The visit as voided.
    VisitVoided(Encounter),
    /// An allergy, the allergy status or a problem was saved.
    ChartSaved,
    /// The queue entry as it stands now.
    QueueChanged(QueueEntry),
    /// The two records were merged.
    PatientsMerged(PatientMerge),
    /// The merge was undone.
    MergeUndone(PatientMerge),
    /// The conflict was settled.
    ConflictSettled,
    /// This many images were hidden or restored.
    ImagesRemoved(usize),
    /// The image will be fetched at the next sync.
    ImageRequested,
    /// The user was created.
    UserCreated(UserId),
    /// The user was changed.
    UserChanged,
    /// The setting was saved.
    SettingSaved,
    /// The signed-in user's language was set.
    LanguageSet(crate::i18n::Language),
    /// The workstation took the clinic's key (false: it had it already).
    ClinicKeyAdopted(bool),
}

impl Command {
    /// What the command needs permission for. `stored` is the visit as saved, for a draft save:
    /// a save that changes only the vital signs and the reason for the visit is triage, which a
    /// nurse may do; anything else is clinical writing.
    pub fn action(&self, stored: Option<&Encounter>) -> Action {
        match self {
            Self::RegisterPatient(_) | Self::SavePatient(_) => Action::EditDemographics,
            Self::SaveEncounter(encounter) => {
                if is_triage_only(stored, encounter) {
                    Action::RecordVitals
                } else {
                    Action::WriteClinical
                }
            }
            Self::SignEncounter(_) => Action::SignVisit,
            Self::TakeOverDraft(_) => Action::WriteClinical,
            Self::AddAmendment(_) | Self::AmendFromConflict { .. } => Action::AmendVisit,
            Self::VoidEncounter { .. } => Action::VoidVisit,
            Self::SaveAllergy(_) | Self::SetAllergyStatus { .. } => Action::EditAllergies,
            Self::SaveProblem(_) | Self::SetImagesRemoved { .. } => Action::WriteClinical,
            Self::AddToQueue(_) | Self::QueueEntryLeft(_) => Action::EditDemographics,
            Self::TriageQueueEntry { .. } => Action::RecordVitals,
            Self::SeeQueueEntry(_) | Self::FinishQueueEntry(_) => Action::WriteClinical,
            Self::MergePatients { .. } | Self::UndoMerge(_) => Action::MergePatients,
            Self::ResolveConflict { conflict, .. } => match conflict.entity {
                EntityKind::Patient | EntityKind::QueueEntry => Action::EditDemographics,
                EntityKind::Allergy => Action::EditAllergies,
                EntityKind::User => Action::ManageUsers,
                EntityKind::Letterhead => Action::ChangeSettings,
                EntityKind::PatientMerge => Action::MergePatients,
                EntityKind::Problem
                | EntityKind::Encounter
                | EntityKind::Amendment
                | EntityKind::Attachment => Action::WriteClinical,
            },
            Self::FetchImage(_) => Action::ReadClinical,
            Self::SetLanguage(_) => Action::FindPatients,
            Self::CreateUser { .. }
            | Self::SetUserRoles { .. }
            | Self::SetUserDisabled { .. }
            | Self::ResetPassword { .. } => Action::ManageUsers,
            Self::SetAutoLockMinutes(_)
            | Self::AdoptClinicKey { .. }
            | Self::SaveLetterhead { .. } => Action::ChangeSettings,
            Self::SetBackupSchedule(_) => Action::Backup,
        }
    }
}

/// True when `encounter` differs from what is stored (or from an empty draft) only in its vital
/// signs, reason for visit, kind and start time.
fn is_triage_only(stored: Option<&Encounter>, encounter: &Encounter) -> bool {
    let mut base = match stored {
        Some(stored) => stored.clone(),
        None => {
            let mut blank = Encounter::new_draft(
                encounter.patient_id,
                &encounter.clinician,
                encounter.started_at,
            );
            blank.encounter_id = encounter.encounter_id;
            blank.clinician_id = encounter.clinician_id;
            blank
        }
    };
    base.vitals = encounter.vitals;
    base.chief_complaint = encounter.chief_complaint.clone();
    base.kind = encounter.kind;
    base.started_at = encounter.started_at;
    base == *encounter
}
