//! Visits (encounters): what was found, decided and prescribed. A visit is a draft until its
//! author signs it; a signed visit is read-only and corrected only by amendments; a wrong visit is
//! voided with a reason, never deleted.

use super::access::Role;
use super::ids::{AmendmentId, EncounterId, PatientId};
use super::user::UserId;
use super::validation::Validation;
use super::vitals::Vitals;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What kind of visit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncounterKind {
    /// A walk-in or booked outpatient visit.
    #[default]
    Outpatient,
    /// A follow-up of an earlier visit.
    FollowUp,
    /// Antenatal care.
    Antenatal,
    /// Child wellness (growth monitoring, immunisation).
    ChildWellness,
    /// Emergency.
    Emergency,
    /// A visit at the patient's home.
    HomeVisit,
}

impl EncounterKind {
    /// Every kind, in the order the editor offers them.
    pub const ALL: [EncounterKind; 6] = [
        Self::Outpatient,
        Self::FollowUp,
        Self::Antenatal,
        Self::ChildWellness,
        Self::Emergency,
        Self::HomeVisit,
    ];

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Outpatient => "outpatient",
            Self::FollowUp => "follow_up",
            Self::Antenatal => "antenatal",
            Self::ChildWellness => "child_wellness",
            Self::Emergency => "emergency",
            Self::HomeVisit => "home_visit",
        }
    }

    /// Reads a stored code.
    pub fn from_code(code: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .unwrap_or_default()
    }

    /// The words shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Self::Outpatient => "Outpatient",
            Self::FollowUp => "Follow-up",
            Self::Antenatal => "Antenatal",
            Self::ChildWellness => "Child wellness",
            Self::Emergency => "Emergency",
            Self::HomeVisit => "Home visit",
        }
    }
}

/// Where a visit is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum EncounterStatus {
    /// Still being written; its author may change anything.
    Draft,
    /// Signed: read-only; corrections are amendments.
    Signed {
        /// Who signed (their full name as it was then).
        signed_by: String,
        /// When.
        signed_at: DateTime<Utc>,
        /// The signer's user id (none on visits signed before accounts existed).
        #[serde(default)]
        signer_id: Option<UserId>,
        /// The role the signer signed in.
        #[serde(default)]
        signer_role: Option<Role>,
    },
    /// Voided: kept, but no longer part of the record.
    Voided {
        /// Who voided it.
        voided_by: String,
        /// When.
        voided_at: DateTime<Utc>,
        /// Why.
        reason: String,
        /// Who voided it, by user id.
        #[serde(default)]
        voided_by_id: Option<UserId>,
    },
}

impl EncounterStatus {
    /// Stable code of the state.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Signed { .. } => "signed",
            Self::Voided { .. } => "voided",
        }
    }
}

/// One diagnosis: ICD-10 coded, or free text when no code fits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// ICD-10 code, if coded.
    pub code: Option<String>,
    /// The diagnosis as written (the code's title, or free text).
    pub title: String,
    /// The primary diagnosis of the visit (at most one).
    pub primary: bool,
}

/// One prescribed medicine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prescription {
    /// Medicine ("Amoxicillin").
    pub medicine: String,
    /// Strength ("500 mg").
    pub strength: String,
    /// Dose ("1 capsule").
    pub dose: String,
    /// Route ("oral").
    pub route: String,
    /// Frequency ("3 times a day").
    pub frequency: String,
    /// Duration ("5 days").
    pub duration: String,
    /// Quantity dispensed ("15").
    pub quantity: String,
    /// Instructions for the patient.
    pub instructions: String,
    /// Taken "as directed": no dose, frequency or duration is written, on purpose.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub as_directed: bool,
}

impl Prescription {
    /// What a complete prescription line has and this one lacks ("dose", "frequency",
    /// "duration"); nothing when it is marked "as directed".
    pub fn missing(&self) -> Vec<&'static str> {
        if self.as_directed {
            return Vec::new();
        }
        [
            ("dose", &self.dose),
            ("frequency", &self.frequency),
            ("duration", &self.duration),
        ]
        .into_iter()
        .filter(|(_, value)| value.trim().is_empty())
        .map(|(name, _)| name)
        .collect()
    }

    /// The line as a pharmacist reads it: "Amoxicillin 500 mg — 1 capsule oral, 3 times a day,
    /// for 5 days".
    pub fn summary(&self) -> String {
        let name = [self.medicine.trim(), self.strength.trim()]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if self.as_directed {
            return format!("{name} — as directed");
        }
        let how = [
            [self.dose.trim(), self.route.trim()]
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            self.frequency.trim().to_owned(),
            if self.duration.trim().is_empty() {
                String::new()
            } else {
                format!("for {}", self.duration.trim())
            },
        ]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
        if how.is_empty() {
            name
        } else {
            format!("{name} — {how}")
        }
    }
}

/// One lab test and its result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabResult {
    /// Test ("Haemoglobin", "Malaria RDT").
    pub test: String,
    /// Result value as reported ("9.8", "positive").
    pub value: String,
    /// Unit ("g/dL").
    pub unit: String,
    /// Marked abnormal.
    pub abnormal: bool,
}

/// The person a signature, a void or an amendment names: the signed-in user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// Their user id (none only for records written before accounts existed).
    pub user_id: Option<UserId>,
    /// Their full name, as the record shows it.
    pub full_name: String,
    /// The role they act in.
    pub role: Option<Role>,
}

impl Signer {
    /// A person known by name only (records written before accounts existed, and tests of the
    /// store on its own).
    pub fn named(full_name: &str) -> Self {
        Self {
            user_id: None,
            full_name: full_name.to_owned(),
            role: None,
        }
    }

    /// Whether this person wrote `encounter` (by user id; by name for visits written before
    /// accounts existed).
    pub fn is_author_of(&self, encounter: &Encounter) -> bool {
        match (encounter.clinician_id, self.user_id) {
            (Some(author), Some(me)) => author == me,
            (Some(_), None) => false,
            (None, _) => encounter
                .clinician
                .trim()
                .eq_ignore_ascii_case(self.full_name.trim()),
        }
    }
}

/// A correction to a signed visit. The signed original stays as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    /// Id.
    pub amendment_id: AmendmentId,
    /// Which visit.
    pub encounter_id: EncounterId,
    /// The correction.
    pub text: String,
    /// Why it was needed.
    pub reason: String,
    /// Who wrote it.
    pub author: String,
    /// Who wrote it, by user id.
    #[serde(default)]
    pub author_id: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Medicines of the visit this amendment stops, by name as prescribed: from then on they no
    /// longer count as prescribed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stops: Vec<String>,
}

/// A prescription of a signed visit as it stands after the visit's amendments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentPrescription {
    /// The line as signed.
    pub prescription: Prescription,
    /// Who stopped it by an amendment, and when; `None` while it stands.
    pub stopped: Option<(String, DateTime<Utc>)>,
}

impl Encounter {
    /// The prescriptions as they stand after `amendments`: each one as signed, with who stopped
    /// it and when if an amendment did. The signed lines are never changed; what lists and
    /// documents use is the ones not stopped.
    pub fn current_prescriptions(&self, amendments: &[Amendment]) -> Vec<CurrentPrescription> {
        self.prescriptions
            .iter()
            .map(|p| CurrentPrescription {
                prescription: p.clone(),
                stopped: amendments
                    .iter()
                    .filter(|a| {
                        a.stops
                            .iter()
                            .any(|m| m.trim().eq_ignore_ascii_case(p.medicine.trim()))
                    })
                    .min_by_key(|a| a.created_at)
                    .map(|a| (a.author.clone(), a.created_at)),
            })
            .collect()
    }
}

impl Amendment {
    /// Checks the record.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if self.text.trim().is_empty() {
            v.push("amendment_text", "Write the correction.");
        }
        if self.reason.trim().is_empty() {
            v.push("amendment_reason", "Say why the visit needs correcting.");
        }
        v
    }
}

/// A visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encounter {
    /// Id.
    pub encounter_id: EncounterId,
    /// Whose visit.
    pub patient_id: PatientId,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// What kind.
    pub kind: EncounterKind,
    /// The clinician who sees the patient (the author, who signs).
    pub clinician: String,
    /// The author's user id (none on visits written before accounts existed).
    #[serde(default)]
    pub clinician_id: Option<UserId>,
    /// Chief complaint, in the patient's words.
    pub chief_complaint: String,
    /// History of the present illness.
    pub history: String,
    /// Examination findings.
    pub examination: String,
    /// Vital signs.
    pub vitals: Vitals,
    /// Diagnoses, primary first.
    pub diagnoses: Vec<Diagnosis>,
    /// Prescriptions.
    pub prescriptions: Vec<Prescription>,
    /// Lab tests and results.
    pub lab_results: Vec<LabResult>,
    /// Plan.
    pub plan: String,
    /// Date to come back, if any.
    pub follow_up: Option<NaiveDate>,
    /// Draft, signed or voided.
    pub status: EncounterStatus,
}

impl Encounter {
    /// A new draft visit for `patient_id` by `clinician`, starting `now`.
    pub fn new_draft(patient_id: PatientId, clinician: &str, now: DateTime<Utc>) -> Self {
        Self {
            encounter_id: EncounterId::new(),
            patient_id,
            started_at: now,
            kind: EncounterKind::Outpatient,
            clinician: clinician.to_owned(),
            clinician_id: None,
            chief_complaint: String::new(),
            history: String::new(),
            examination: String::new(),
            vitals: Vitals::default(),
            diagnoses: Vec::new(),
            prescriptions: Vec::new(),
            lab_results: Vec::new(),
            plan: String::new(),
            follow_up: None,
            status: EncounterStatus::Draft,
        }
    }

    /// True while the visit may still be edited.
    pub fn is_draft(&self) -> bool {
        self.status == EncounterStatus::Draft
    }

    /// The primary diagnosis, or the first one.
    pub fn main_diagnosis(&self) -> Option<&Diagnosis> {
        self.diagnoses
            .iter()
            .find(|d| d.primary)
            .or_else(|| self.diagnoses.first())
    }

    /// Checks the visit as it would be saved (a draft may be incomplete, but never impossible).
    pub fn validate(&self) -> Validation {
        let mut v = self.vitals.validate();
        if self.clinician.trim().is_empty() {
            v.push("clinician", "Enter the clinician's name.");
        }
        if self.diagnoses.iter().filter(|d| d.primary).count() > 1 {
            v.push("diagnoses", "Only one diagnosis can be primary.");
        }
        if self.diagnoses.iter().any(|d| d.title.trim().is_empty()) {
            v.push("diagnoses", "A diagnosis needs a title or an ICD-10 code.");
        }
        if self
            .prescriptions
            .iter()
            .any(|p| p.medicine.trim().is_empty())
        {
            v.push("prescriptions", "Every prescription needs a medicine.");
        }
        if self.lab_results.iter().any(|l| l.test.trim().is_empty()) {
            v.push("lab_results", "Every lab result needs the test's name.");
        }
        if let Some(follow_up) = self.follow_up
            && follow_up < self.started_at.date_naive()
        {
            v.push("follow_up", "The follow-up date is before the visit.");
        }
        v
    }

    /// Checks what signing needs beyond a valid draft: something clinical was recorded.
    pub fn validate_for_signing(&self) -> Validation {
        let mut v = self.validate();
        if self.chief_complaint.trim().is_empty() && self.diagnoses.is_empty() {
            v.push(
                "chief_complaint",
                "Record at least a complaint or a diagnosis before signing.",
            );
        }
        let incomplete: Vec<String> = self
            .prescriptions
            .iter()
            .filter(|p| !p.missing().is_empty())
            .map(|p| format!("{} (no {})", p.medicine.trim(), p.missing().join(", no ")))
            .collect();
        if !incomplete.is_empty() {
            v.push(
                "prescriptions",
                format!(
                    "Complete each prescription before signing, or mark it “as directed”: {}.",
                    incomplete.join("; ")
                ),
            );
        }
        v
    }

    /// What signing fixes, in lines a clinician checks before signing: the diagnoses, the
    /// prescriptions, abnormal lab results and the follow-up.
    pub fn signing_summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.diagnoses.is_empty() {
            lines.push("Diagnoses: none".to_owned());
        }
        for d in &self.diagnoses {
            let code = d
                .code
                .as_deref()
                .map(|c| format!("{c} "))
                .unwrap_or_default();
            let primary = if d.primary { " (primary)" } else { "" };
            lines.push(format!("Diagnosis: {code}{}{primary}", d.title.trim()));
        }
        if self.prescriptions.is_empty() {
            lines.push("Prescriptions: none".to_owned());
        }
        for p in &self.prescriptions {
            lines.push(format!("Prescription: {}", p.summary()));
        }
        for lab in self.lab_results.iter().filter(|l| l.abnormal) {
            lines.push(format!(
                "Abnormal result: {} {} {}",
                lab.test.trim(),
                lab.value.trim(),
                lab.unit.trim()
            ));
        }
        if let Some(date) = self.follow_up {
            lines.push(format!("Follow-up: {date}"));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_with_two_primary_diagnoses_is_refused() {
        let mut e = Encounter::new_draft(PatientId::new(), "Dr Achieng", Utc::now());
        for _ in 0..2 {
            e.diagnoses.push(Diagnosis {
                code: Some("B54".into()),
                title: "Unspecified malaria".into(),
                primary: true,
            });
        }
        assert!(e.validate().message_for("diagnoses").is_some());
        e.diagnoses[1].primary = false;
        assert!(e.validate().is_valid());
    }

    #[test]
    fn signing_needs_a_complaint_or_a_diagnosis() {
        let mut e = Encounter::new_draft(PatientId::new(), "Dr Achieng", Utc::now());
        assert!(!e.validate_for_signing().is_valid());
        e.chief_complaint = "Cough for 3 days".into();
        assert!(e.validate_for_signing().is_valid());
    }

    #[test]
    fn a_prescription_without_dose_frequency_or_duration_is_not_signed_unless_as_directed() {
        let mut e = Encounter::new_draft(PatientId::new(), "Dr Achieng", Utc::now());
        e.chief_complaint = "Cough".into();
        e.prescriptions.push(Prescription {
            medicine: "Amoxicillin".into(),
            strength: "500 mg".into(),
            route: "oral".into(),
            ..Prescription::default()
        });
        let refused = e.validate_for_signing();
        let message = refused.message_for("prescriptions").unwrap_or_default();
        assert!(
            message.contains("Amoxicillin (no dose, no frequency, no duration)"),
            "{message}"
        );
        e.prescriptions[0].as_directed = true;
        assert!(e.validate_for_signing().is_valid());
        e.prescriptions[0].as_directed = false;
        e.prescriptions[0].dose = "1 capsule".into();
        e.prescriptions[0].frequency = "3 times a day".into();
        e.prescriptions[0].duration = "5 days".into();
        assert!(e.validate_for_signing().is_valid());
        assert!(
            e.signing_summary().contains(
                &"Prescription: Amoxicillin 500 mg — 1 capsule oral, 3 times a day, for 5 days"
                    .to_owned()
            )
        );
    }

    #[test]
    fn an_amendment_stops_a_prescription_and_the_signed_line_stays() {
        let mut e = Encounter::new_draft(PatientId::new(), "Dr Achieng", Utc::now());
        for medicine in ["Amoxicillin", "Paracetamol"] {
            e.prescriptions.push(Prescription {
                medicine: medicine.into(),
                as_directed: true,
                ..Prescription::default()
            });
        }
        let stop = Amendment {
            amendment_id: AmendmentId::new(),
            encounter_id: e.encounter_id,
            text: "Rash after the first dose".into(),
            reason: "Adverse reaction".into(),
            author: "Dr Otieno".into(),
            author_id: None,
            created_at: Utc::now(),
            stops: vec!["amoxicillin".into()],
        };
        let current = e.current_prescriptions(&[stop]);
        assert_eq!(current.len(), 2, "the signed lines stay");
        assert_eq!(
            current[0].stopped.as_ref().map(|(by, _)| by.as_str()),
            Some("Dr Otieno")
        );
        assert!(current[1].stopped.is_none());
    }
}
