//! How a screen reads and how it asks for changes.
//!
//! Screens never write to the store. Each frame they get a [`ViewContext`] with read-only access
//! to the store and the facts every screen needs (today's date, who is signed in), and they push
//! [`Command`]s into it. [`crate::ui::OutpostApp`] applies the commands after the frame is drawn
//! and tells the screen how it went, so every write happens in one place, in one order, and a
//! failed write can never leave a screen half-updated.

use crate::model::{
    Allergy, AllergyStatus, Amendment, Encounter, EncounterId, Patient, PatientId, Problem,
};
use crate::store::{Conflict, Store};
use chrono::NaiveDate;

/// A place the window can show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    /// The patient list with the search box (the start screen).
    PatientList,
    /// The registration form for a new patient.
    NewPatient,
    /// The form for a registered patient's details.
    EditPatient(PatientId),
    /// A patient's chart.
    Chart(PatientId),
    /// A new visit for a patient.
    NewVisit(PatientId),
    /// An existing visit (editable while a draft, read-only once signed or voided).
    Visit(EncounterId),
    /// The values from two workstations that wait for a decision.
    Conflicts,
    /// A patient's images, at one study if given.
    Imaging {
        /// Whose.
        patient_id: PatientId,
        /// The study to show first.
        study_uid: Option<String>,
    },
}

/// A change a screen asks for.
#[derive(Clone, Debug)]
pub enum Command {
    /// Go to another screen (asking first if the current one has unsaved changes).
    Open(Screen),
    /// Ask for image files (or a folder, such as a patient CD) to import into a patient's record.
    PickImages {
        /// Whose record.
        patient_id: PatientId,
        /// The visit the images belong to, if any.
        encounter_id: Option<EncounterId>,
        /// Pick a folder rather than files.
        folder: bool,
    },
    /// Hide images from the record (`removed: true`) or bring them back (`false`). Nothing is
    /// deleted.
    SetImagesRemoved {
        /// The images (attachments).
        attachment_ids: Vec<crate::model::AttachmentId>,
        /// Hide or restore.
        removed: bool,
    },
    /// Download an image imported at another clinic (at the next sync, started now).
    FetchImage(crate::model::BlobHash),
    /// Import files and folders into a patient's record.
    ImportImages {
        /// Whose record.
        patient_id: PatientId,
        /// The visit the images belong to, if any.
        encounter_id: Option<EncounterId>,
        /// What to import.
        paths: Vec<std::path::PathBuf>,
    },
    /// Register a new patient, then open their chart.
    RegisterPatient(Patient),
    /// Save edits to a registered patient, then open their chart.
    SavePatient(Patient),
    /// Save a draft visit (new or edited).
    SaveEncounter(Encounter),
    /// Save the draft as it stands, then sign it as `signer`.
    SignEncounter {
        /// The draft as the editor holds it.
        encounter: Encounter,
        /// Who signs (the signed-in user).
        signer: String,
    },
    /// Add an amendment to a signed visit.
    AddAmendment(Amendment),
    /// Carry a value that arrived after its visit was signed into an amendment, settling the
    /// conflict.
    AmendFromConflict {
        /// The conflict whose value the amendment carries.
        conflict: Box<crate::store::Conflict>,
        /// The amendment.
        amendment: Amendment,
    },
    /// Void a visit with a reason.
    VoidEncounter {
        /// Which visit.
        encounter_id: EncounterId,
        /// Who voids it (the signed-in user).
        voided_by: String,
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
    /// Settle a sync conflict: the field takes `value` on every workstation.
    ResolveConflict {
        /// The conflict decided.
        conflict: Conflict,
        /// The value the field keeps (the shown one, the other one, or a typed one).
        value: serde_json::Value,
    },
}

/// What a screen may read during one frame, and where it puts the commands it sends.
pub struct ViewContext<'a> {
    /// The store, read-only.
    pub store: &'a Store,
    /// Today's date on this workstation.
    pub today: NaiveDate,
    /// The signed-in user: the clinician of new visits, the signer and amendment author.
    pub user_name: &'a str,
    /// True once the ICD-10 list is in the store and can be searched.
    pub icd10_ready: bool,
    /// Patients in the store, as last counted (refreshed after writes, not every frame).
    pub patient_count: i64,
    commands: Vec<Command>,
}

impl<'a> ViewContext<'a> {
    /// A context for one frame.
    pub fn new(
        store: &'a Store,
        today: NaiveDate,
        user_name: &'a str,
        icd10_ready: bool,
        patient_count: i64,
    ) -> Self {
        Self {
            store,
            today,
            user_name,
            icd10_ready,
            patient_count,
            commands: Vec::new(),
        }
    }

    /// Asks for a change; it is applied after the frame.
    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// The commands sent during the frame, in order.
    pub fn into_commands(self) -> Vec<Command> {
        self.commands
    }
}
