//! Who may do what: the clinic's roles, the actions a user can take, and the one table that says
//! which role allows which action.
//!
//! The app service asks [`Roles::allows`] before every command; the window asks the same question
//! to hide or disable what the signed-in user may not do. README's role × action table is this
//! table, written out (a test checks they agree).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A job at the clinic. A user may hold several.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Registers patients and keeps their details; sees the list and the allergy banner, never
    /// clinical notes.
    Receptionist,
    /// Takes vital signs and triages; reads charts.
    Nurse,
    /// Writes all clinical content; signs, amends and voids visits.
    Clinician,
    /// Manages users, roles, settings, the server connection, and reads the audit trail. Sees
    /// clinical content only when also a clinician.
    Administrator,
}

impl Role {
    /// Every role, in the order screens list them.
    pub const ALL: [Role; 4] = [
        Self::Receptionist,
        Self::Nurse,
        Self::Clinician,
        Self::Administrator,
    ];

    /// Stable code, as stored and synced.
    pub fn code(self) -> &'static str {
        match self {
            Self::Receptionist => "receptionist",
            Self::Nurse => "nurse",
            Self::Clinician => "clinician",
            Self::Administrator => "administrator",
        }
    }

    /// The word shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Self::Receptionist => "Receptionist",
            Self::Nurse => "Nurse",
            Self::Clinician => "Clinician",
            Self::Administrator => "Administrator",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Receptionist => 1,
            Self::Nurse => 2,
            Self::Clinician => 4,
            Self::Administrator => 8,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A text that names no role.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no role is called {0:?} (receptionist, nurse, clinician, administrator)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|role| role.code() == wanted)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The roles one user holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Roles {
    /// No role at all: allows nothing.
    pub const NONE: Roles = Roles(0);

    /// The set of `roles`.
    pub fn of(roles: &[Role]) -> Self {
        Self(roles.iter().fold(0, |bits, role| bits | role.bit()))
    }

    /// Whether the user holds `role`.
    pub fn has(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// True when no role is held.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles held, in [`Role::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |role| self.has(*role))
    }

    /// The roles as words, for a screen ("Nurse, Clinician").
    pub fn label(self) -> String {
        let labels: Vec<&str> = self.iter().map(Role::label).collect();
        if labels.is_empty() {
            "No role".to_owned()
        } else {
            labels.join(", ")
        }
    }

    /// The role a signature names: the one of the held roles that allows `action`, the most
    /// clinical first.
    pub fn acting_role(self, action: Action) -> Option<Role> {
        [
            Role::Clinician,
            Role::Nurse,
            Role::Receptionist,
            Role::Administrator,
        ]
        .into_iter()
        .find(|role| self.has(*role) && role_allows(*role, action))
    }

    /// Whether any held role allows `action`. This is the one place the rule is written.
    pub fn allows(self, action: Action) -> bool {
        self.iter().any(|role| role_allows(role, action))
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, role| bits | role.bit()))
    }
}

impl Serialize for Roles {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Role::code))
    }
}

impl<'de> Deserialize<'de> for Roles {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let codes = Vec::<String>::deserialize(deserializer)?;
        codes
            .iter()
            .map(|code| code.parse::<Role>())
            .collect::<Result<Roles, _>>()
            .map_err(serde::de::Error::custom)
    }
}

/// Something a signed-in user does. Every command of the app service is one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the patient list, search it, and see a patient's demographics and allergy banner.
    FindPatients,
    /// Look up a patient of another clinic at the district server and open their record here,
    /// with a reason.
    OpenFromDistrict,
    /// Register a patient or change their demographic details.
    EditDemographics,
    /// Read a chart's clinical content: visits, notes, problems, images.
    ReadClinical,
    /// Record vital signs and the reason for the visit (triage) in a visit draft.
    RecordVitals,
    /// Record or change an allergy, or whether the patient was asked.
    EditAllergies,
    /// Write clinical notes, diagnoses, prescriptions, lab results and problems; import images.
    WriteClinical,
    /// Sign a visit draft.
    SignVisit,
    /// Add an amendment to a signed visit.
    AmendVisit,
    /// Void a visit.
    VoidVisit,
    /// Create users, disable them, change their roles, reset their passwords.
    ManageUsers,
    /// Change the workstation's and the clinic's settings (auto-lock, server connection).
    ChangeSettings,
    /// Read the audit trail.
    ReadAudit,
    /// Send and receive the clinic's changes now.
    SyncNow,
    /// Write a backup of the workstation's records and images (encrypted as they are).
    Backup,
    /// Write patients' records out in a standard form (FHIR) for another system.
    ExportRecords,
    /// Read records written by another system (FHIR) into the store.
    ImportRecords,
    /// Make the clinic's reports (counts, no names).
    RunReports,
    /// Look through the store for patients registered twice.
    ReviewDuplicates,
    /// Merge a patient's second record into the first, or undo a merge.
    MergePatients,
}

impl Action {
    /// Every action, in README's order.
    pub const ALL: [Action; 20] = [
        Self::FindPatients,
        Self::OpenFromDistrict,
        Self::EditDemographics,
        Self::ReadClinical,
        Self::RecordVitals,
        Self::EditAllergies,
        Self::WriteClinical,
        Self::SignVisit,
        Self::AmendVisit,
        Self::VoidVisit,
        Self::ManageUsers,
        Self::ChangeSettings,
        Self::ReadAudit,
        Self::SyncNow,
        Self::Backup,
        Self::ExportRecords,
        Self::ImportRecords,
        Self::RunReports,
        Self::ReviewDuplicates,
        Self::MergePatients,
    ];

    /// What the action is, in words for a refusal ("You may not sign a visit").
    pub fn label(self) -> &'static str {
        match self {
            Self::FindPatients => "find patients and see their details",
            Self::OpenFromDistrict => "open another clinic's patient, with a reason",
            Self::EditDemographics => "register patients and edit their details",
            Self::ReadClinical => "read clinical notes, visits and images",
            Self::RecordVitals => "record vital signs and triage",
            Self::EditAllergies => "record allergies",
            Self::WriteClinical => "write clinical notes, diagnoses and prescriptions",
            Self::SignVisit => "sign a visit",
            Self::AmendVisit => "amend a signed visit",
            Self::VoidVisit => "void a visit",
            Self::ManageUsers => "manage users and roles",
            Self::ChangeSettings => "change settings and the server connection",
            Self::ReadAudit => "read the audit trail",
            Self::SyncNow => "sync with the server",
            Self::Backup => "back up the workstation",
            Self::ExportRecords => "export patients' records for another system",
            Self::ImportRecords => "import records from another system",
            Self::RunReports => "make the clinic's monthly report",
            Self::ReviewDuplicates => "review patients registered twice",
            Self::MergePatients => "merge a patient's two records, or undo a merge",
        }
    }
}

/// The role × action table.
fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::Receptionist => matches!(
            action,
            FindPatients | OpenFromDistrict | EditDemographics | SyncNow
        ),
        Role::Nurse => matches!(
            action,
            FindPatients
                | OpenFromDistrict
                | EditDemographics
                | ReadClinical
                | RecordVitals
                | EditAllergies
                | SyncNow
        ),
        Role::Clinician => matches!(
            action,
            FindPatients
                | OpenFromDistrict
                | EditDemographics
                | ReadClinical
                | RecordVitals
                | EditAllergies
                | WriteClinical
                | SignVisit
                | AmendVisit
                | VoidVisit
                | SyncNow
                | ExportRecords
                | ImportRecords
                | RunReports
        ),
        Role::Administrator => matches!(
            action,
            FindPatients
                | ManageUsers
                | ChangeSettings
                | ReadAudit
                | SyncNow
                | Backup
                | RunReports
                | ReviewDuplicates
                | MergePatients
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_administrator_reads_no_clinical_content_without_the_clinician_role() {
        let admin = Roles::of(&[Role::Administrator]);
        assert!(admin.allows(Action::ManageUsers));
        assert!(!admin.allows(Action::ReadClinical));
        let both = Roles::of(&[Role::Administrator, Role::Clinician]);
        assert!(both.allows(Action::ReadClinical) && both.allows(Action::ManageUsers));
        assert!(!Roles::NONE.allows(Action::FindPatients));
    }

    #[test]
    fn roles_round_trip_through_json_and_refuse_unknown_names() {
        let roles = Roles::of(&[Role::Nurse, Role::Administrator]);
        let json = serde_json::to_value(roles).unwrap();
        assert_eq!(json, serde_json::json!(["nurse", "administrator"]));
        assert_eq!(serde_json::from_value::<Roles>(json).unwrap(), roles);
        assert!(serde_json::from_value::<Roles>(serde_json::json!(["surgeon"])).is_err());
    }

    #[test]
    fn a_signature_names_the_most_clinical_role_that_allows_it() {
        let roles = Roles::of(&[Role::Nurse, Role::Clinician, Role::Administrator]);
        assert_eq!(roles.acting_role(Action::SignVisit), Some(Role::Clinician));
        assert_eq!(
            roles.acting_role(Action::ManageUsers),
            Some(Role::Administrator)
        );
        assert_eq!(
            Roles::of(&[Role::Nurse]).acting_role(Action::SignVisit),
            None
        );
    }
}
