//! How a screen reads and how it asks for changes.
//!
//! Screens never write to the store. Each frame they get a [`ViewContext`] with read-only access
//! to the store and the facts every screen needs (today's date, who is signed in and what they
//! may do), and they push [`Command`]s into it. [`crate::ui::OutpostApp`] hands the changes to the
//! app service after the frame is drawn and tells the screen how it went, so every write happens
//! in one place, in one order, with the user's roles checked, and a failed write can never leave a
//! screen half-updated.

use crate::app::Command as AppCommand;
use crate::model::{Action, EncounterId, PatientId, Roles, Signer};
use crate::store::Store;
use chrono::NaiveDate;

/// A place the window can show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    /// The patient list with the search box (the start screen).
    PatientList,
    /// The day's queue.
    Today,
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
    /// The clinic's users (administrators).
    Users,
    /// The audit trail (administrators), about one patient if given.
    Audit {
        /// Whose record.
        patient_id: Option<PatientId>,
    },
    /// The monthly report.
    Reports,
    /// Patients likely registered twice (administrators).
    Duplicates,
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
    /// Import files and folders into a patient's record.
    ImportImages {
        /// Whose record.
        patient_id: PatientId,
        /// The visit the images belong to, if any.
        encounter_id: Option<EncounterId>,
        /// What to import.
        paths: Vec<std::path::PathBuf>,
    },
    /// Look for a patient at the district server, starting from what was typed in the search.
    FindAtDistrict {
        /// The search text that found nobody here.
        text: String,
    },
    /// Open the Print dialog on a visit or a chart.
    Print(super::printing::PrintSource),
    /// Open the dialog that exports a patient's images as a patient CD.
    ExportImages(PatientId),
    /// Save the list of missed follow-ups (not seen within `grace_days`) as a PDF to print.
    PrintMissedFollowUps {
        /// Days after the due day a patient may still come.
        grace_days: i64,
    },
    /// Make the monthly report of a month and show it.
    MakeReport(crate::reports::Month),
    /// Save the monthly report shown as a file the user names.
    SaveReport {
        /// The report, as made and shown.
        report: Box<crate::reports::MonthlyReport>,
        /// In what form.
        format: super::reports::ReportFormat,
        /// The DHIS2 organisation unit (for DHIS2).
        org_unit: String,
    },
    /// A change to the record, run by the app service for the signed-in user.
    Do(Box<AppCommand>),
}

impl Command {
    /// A change to the record, run by the app service for the signed-in user.
    pub fn change(command: AppCommand) -> Self {
        Self::Do(Box::new(command))
    }
}

/// What a screen may read during one frame, and where it puts the commands it sends.
pub struct ViewContext<'a> {
    /// The store, read-only.
    pub store: &'a Store,
    /// Today's date on this workstation.
    pub today: NaiveDate,
    /// The signed-in user's full name, as screens show it.
    pub user_name: &'a str,
    /// The signed-in user as a signature names them.
    pub signer: &'a Signer,
    /// What the signed-in user may do.
    pub roles: Roles,
    /// True once the ICD-10 list is in the store and can be searched.
    pub icd10_ready: bool,
    /// Patients in the store, as last counted (refreshed after writes, not every frame).
    pub patient_count: i64,
    /// Whether the workstation is enrolled with a district server (which can be asked for
    /// patients of other clinics).
    pub enrolled: bool,
    commands: Vec<Command>,
}

impl<'a> ViewContext<'a> {
    /// A context for one frame.
    pub fn new(
        store: &'a Store,
        today: NaiveDate,
        signer: &'a Signer,
        roles: Roles,
        icd10_ready: bool,
        patient_count: i64,
    ) -> Self {
        Self {
            store,
            today,
            user_name: &signer.full_name,
            signer,
            roles,
            icd10_ready,
            patient_count,
            enrolled: false,
            commands: Vec::new(),
        }
    }

    /// Whether the signed-in user may do `action` (what to show, hide or disable).
    pub fn allows(&self, action: Action) -> bool {
        self.roles.allows(action)
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
