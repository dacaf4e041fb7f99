//! The clinic's domain: patients, their allergies and problems, visits (encounters) with vitals,
//! diagnoses, prescriptions and lab results, and the hybrid logical clock and change records that
//! sync carries between clinics.
//!
//! This module owns the rules a record must obey (ranges, required fields, what a signed visit may
//! still accept) and does no I/O at all, so the store, the UI and the sync engine all share one
//! definition of what is valid.

mod access;
mod age;
mod attachment;
mod audit;
mod blob;
mod change;
mod clinical;
mod duplicates;
mod encounter;
mod growth;
mod hlc;
mod ids;
mod letterhead;
mod medicines;
pub mod merge;
mod patient;
mod patient_merge;
mod queue;
mod safety;
mod user;
mod validation;
mod vitals;

pub use access::{Action, Role, Roles, UnknownRole};
pub use age::{age_label, age_on};
pub use attachment::{Attachment, AttachmentKind};
pub use audit::{
    AuditAction, AuditEntry, AuditEvent, CHAIN_START, ChainBreak, ChainHash, hash_from_hex, hex,
    verify_chain,
};
pub use blob::{BlobHash, BlobHashError};
pub use change::{ChangeRecord, EntityKind, FieldKind, MAX_FIELD_TEXT};
pub use clinical::{Allergy, AllergySeverity, AllergyStatus, Problem, ProblemStatus};
pub use duplicates::{
    Comparable, LIKELY, Likeness, blocking_keys, name_tokens, phonetic, score as likeness,
};
pub use encounter::{
    AllergyOverride, AmendedBy, Amendment, Corrections, CurrentDiagnosis, CurrentPrescription,
    Diagnosis, Encounter, EncounterKind, EncounterStatus, LabResult, Prescription, SignedVisit,
    Signer, VitalChange, VitalCorrection,
};
pub use growth::{
    ChartAxis, DAYS_PER_MONTH, GrowthFlag, GrowthMeasure, GrowthSex, GrowthStandards, Indicator,
    Lms, ZScores, growth_flags, implausible, who_standards,
};
pub use hlc::{HlcStamp, HybridClock, NodeId};
pub use ids::{
    AllergyId, AmendmentId, AttachmentId, ChangeId, ClinicId, EncounterId, PatientId,
    PatientMergeId, ProblemId, QueueEntryId, new_uuid,
};
pub use letterhead::{ClinicLetterhead, LOGO_PIXELS};
pub use medicines::{
    Composition, DrugClass, Medicine, MedicineList, MedicineListError, medicine_list, normalise,
};
pub use patient::{DateOfBirth, NextOfKin, Patient, PatientNumber, Sex, digits_of};
pub use patient_merge::{MergeMap, MergeStatus, PatientMerge, resolve_merges};
pub use queue::{Priority, QueueEntry, QueueState, TriageSign, queue_order, triage_priority};
pub use safety::{
    AlertKind, AllergyAlert, DOSE_CHECK_UNDER_YEARS, DoseLimit, DoseWarning, allergy_alerts,
    dose_limits, dose_mg, dose_warning, doses_per_day, has_dose_limits, parse_dose_limits,
    unanswered_alerts, unanswered_line_alerts,
};
pub use user::{MIN_PASSWORD_CHARS, PasswordStrength, UserAccount, UserId, password_strength};
pub use validation::{FieldError, Validation};
pub use vitals::{VITAL_RANGES, VitalFlag, VitalRange, Vitals};
