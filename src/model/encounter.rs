//! Visits (encounters): what was found, decided and prescribed. A visit is a draft until its
//! author signs it; a signed visit is read-only and corrected only by amendments; a wrong visit is
//! voided with a reason, never deleted.

use super::access::Role;
use super::ids::{AmendmentId, EncounterId, PatientId};
use super::user::UserId;
use super::validation::Validation;
use super::vitals::{VitalRange, Vitals};
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

impl Diagnosis {
    /// How an amendment names this diagnosis: its code, or its title when it has none.
    pub fn key(&self) -> String {
        match &self.code {
            Some(code) => code.trim().to_owned(),
            None => self.title.trim().to_owned(),
        }
    }

    /// Whether an amendment naming `key` means this diagnosis (any case).
    pub fn has_key(&self, key: &str) -> bool {
        self.key().eq_ignore_ascii_case(key.trim())
    }

    /// "A09 Diarrhoea and gastroenteritis", or the title alone.
    pub fn label(&self) -> String {
        match &self.code {
            Some(code) => format!("{} {}", code.trim(), self.title.trim()),
            None => self.title.trim().to_owned(),
        }
    }
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
    /// The prescriber's answer to an allergy alert: prescribed anyway, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allergy_override: Option<AllergyOverride>,
}

/// A prescription written despite an allergy alert: the allergies it was warned of (their
/// substances as recorded) and the prescriber's reason. An allergy recorded later alerts again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllergyOverride {
    /// The medicine as it was written when the alert was answered: another medicine in the line
    /// is asked about again.
    pub medicine: String,
    /// The reason, as the prescriber wrote it.
    pub reason: String,
    /// The allergies the alert named, by substance as recorded.
    pub allergies: Vec<String>,
}

impl AllergyOverride {
    /// Whether this answer covers an alert about `medicine` and the allergy to `substance`.
    pub fn covers(&self, medicine: &str, substance: &str) -> bool {
        !self.reason.trim().is_empty()
            && self.medicine.trim().eq_ignore_ascii_case(medicine.trim())
            && self
                .allergies
                .iter()
                .any(|a| a.trim().eq_ignore_ascii_case(substance.trim()))
    }
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// What the amendment changes in the visit's structured parts, beside its text.
    #[serde(flatten)]
    pub corrections: Corrections,
}

/// The structured part of an amendment: medicines stopped, diagnoses withdrawn or added, vital
/// signs corrected. The signed visit is never changed; these are applied over it, oldest
/// amendment first, to give the visit as it stands ([`Encounter::as_amended`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Corrections {
    /// Medicines of the visit this amendment stops, by name as prescribed: from then on they no
    /// longer count as prescribed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stops: Vec<String>,
    /// Diagnoses withdrawn (recorded in error), by [`Diagnosis::key`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withdraws: Vec<String>,
    /// Diagnoses added (a correction is a withdrawal and an addition).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub adds: Vec<Diagnosis>,
    /// Vital signs corrected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vitals: Vec<VitalCorrection>,
}

impl Corrections {
    /// True when the amendment is text only.
    pub fn is_empty(&self) -> bool {
        self.stops.is_empty()
            && self.withdraws.is_empty()
            && self.adds.is_empty()
            && self.vitals.is_empty()
    }
}

/// One vital sign set right by an amendment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VitalCorrection {
    /// Which sign, by its key in [`crate::model::VITAL_RANGES`].
    pub field: String,
    /// The right value; `None` when the sign was not in fact measured.
    pub value: Option<f64>,
}

/// Who changed something by an amendment, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmendedBy {
    /// The amendment's author.
    pub author: String,
    /// When the amendment was written.
    pub at: DateTime<Utc>,
}

impl AmendedBy {
    fn of(amendment: &Amendment) -> Self {
        Self {
            author: amendment.author.clone(),
            at: amendment.created_at,
        }
    }
}

/// A prescription of a signed visit as it stands after the visit's amendments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentPrescription {
    /// The line as signed.
    pub prescription: Prescription,
    /// Who stopped it by an amendment, and when; `None` while it stands.
    pub stopped: Option<(String, DateTime<Utc>)>,
}

/// A diagnosis of a visit, signed or added by an amendment, with what amendments did to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentDiagnosis {
    /// The diagnosis as written.
    pub diagnosis: Diagnosis,
    /// The amendment that added it; `None` for a diagnosis signed with the visit.
    pub added: Option<AmendedBy>,
    /// The amendment that withdrew it; `None` while it stands.
    pub withdrawn: Option<AmendedBy>,
}

/// A vital sign an amendment corrected: the value it had before, and who corrected it.
#[derive(Clone, Debug, PartialEq)]
pub struct VitalChange {
    /// Which sign, by its key in [`crate::model::VITAL_RANGES`].
    pub field: String,
    /// The value before the correction.
    pub was: Option<f64>,
    /// The value after it.
    pub now: Option<f64>,
    /// Who corrected it, and when.
    pub by: AmendedBy,
}

/// Amendments oldest first, the order their corrections apply in (ties by id, so every
/// workstation applies them alike).
fn in_order(amendments: &[Amendment]) -> Vec<&Amendment> {
    let mut ordered: Vec<&Amendment> = amendments.iter().collect();
    ordered.sort_by_key(|a| (a.created_at, a.amendment_id.0));
    ordered
}

impl Encounter {
    /// The prescriptions as they stand after `amendments`: each one as signed, with who stopped
    /// it and when if an amendment did. The signed lines are never changed; what lists and
    /// documents use is the ones not stopped.
    pub fn current_prescriptions(&self, amendments: &[Amendment]) -> Vec<CurrentPrescription> {
        let ordered = in_order(amendments);
        self.prescriptions
            .iter()
            .map(|p| CurrentPrescription {
                prescription: p.clone(),
                stopped: ordered
                    .iter()
                    .find(|a| {
                        a.corrections
                            .stops
                            .iter()
                            .any(|m| m.trim().eq_ignore_ascii_case(p.medicine.trim()))
                    })
                    .map(|a| (a.author.clone(), a.created_at)),
            })
            .collect()
    }

    /// Every diagnosis the visit has had: those signed with it, then those amendments added, in
    /// order, each marked with the amendment that withdrew it, if one did. A withdrawal names a
    /// diagnosis by its key and takes the first standing one with that key.
    pub fn current_diagnoses(&self, amendments: &[Amendment]) -> Vec<CurrentDiagnosis> {
        let mut all: Vec<CurrentDiagnosis> = self
            .diagnoses
            .iter()
            .map(|d| CurrentDiagnosis {
                diagnosis: d.clone(),
                added: None,
                withdrawn: None,
            })
            .collect();
        for amendment in in_order(amendments) {
            for key in &amendment.corrections.withdraws {
                if let Some(standing) = all
                    .iter_mut()
                    .find(|c| c.withdrawn.is_none() && c.diagnosis.has_key(key))
                {
                    standing.withdrawn = Some(AmendedBy::of(amendment));
                }
            }
            for added in &amendment.corrections.adds {
                if added.primary {
                    // One primary at a time: the newest says which.
                    for c in all.iter_mut() {
                        c.diagnosis.primary = false;
                    }
                }
                all.push(CurrentDiagnosis {
                    diagnosis: added.clone(),
                    added: Some(AmendedBy::of(amendment)),
                    withdrawn: None,
                });
            }
        }
        all
    }

    /// The vital signs corrected by `amendments`, oldest first, each with the value it had.
    pub fn vital_changes(&self, amendments: &[Amendment]) -> Vec<VitalChange> {
        let mut vitals = self.vitals;
        let mut changes = Vec::new();
        for amendment in in_order(amendments) {
            for correction in &amendment.corrections.vitals {
                let Some(slot) = vitals.get_mut(&correction.field) else {
                    continue;
                };
                changes.push(VitalChange {
                    field: correction.field.clone(),
                    was: *slot,
                    now: correction.value,
                    by: AmendedBy::of(amendment),
                });
                *slot = correction.value;
            }
        }
        changes
    }

    /// The visit as it stands after `amendments`: stopped medicines gone, withdrawn diagnoses
    /// gone and added ones in, vital signs corrected. This is what lists, trends, documents and
    /// exports use; the signed original stays as it was.
    pub fn as_amended(&self, amendments: &[Amendment]) -> Encounter {
        if amendments.iter().all(|a| a.corrections.is_empty()) {
            return self.clone();
        }
        let mut current = self.clone();
        current.prescriptions = self
            .current_prescriptions(amendments)
            .into_iter()
            .filter(|c| c.stopped.is_none())
            .map(|c| c.prescription)
            .collect();
        current.diagnoses = self
            .current_diagnoses(amendments)
            .into_iter()
            .filter(|c| c.withdrawn.is_none())
            .map(|c| c.diagnosis)
            .collect();
        if !current.diagnoses.is_empty() && !current.diagnoses.iter().any(|d| d.primary) {
            // The primary diagnosis was withdrawn with no new primary: the first standing one
            // leads, as in an editor.
            current.diagnoses[0].primary = true;
        }
        for change in self.vital_changes(amendments) {
            if let Some(slot) = current.vitals.get_mut(&change.field) {
                *slot = change.now;
            }
        }
        current
    }
}

impl Amendment {
    /// Checks the record.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if self.text.trim().is_empty() && self.corrections.is_empty() {
            v.push("amendment_text", "Write the correction.");
        }
        if self
            .corrections
            .adds
            .iter()
            .any(|d| d.title.trim().is_empty())
        {
            v.push(
                "amendment_diagnoses",
                "A diagnosis needs a title or an ICD-10 code.",
            );
        }
        if self.corrections.adds.iter().filter(|d| d.primary).count() > 1 {
            v.push("amendment_diagnoses", "Only one diagnosis can be primary.");
        }
        for correction in &self.corrections.vitals {
            match (VitalRange::of(&correction.field), correction.value) {
                (None, _) => v.push(
                    "amendment_vitals",
                    "An amendment corrects an unknown vital sign.",
                ),
                (Some(range), Some(value)) => {
                    if let Some(message) = range.refuse(value) {
                        v.push("amendment_vitals", message);
                    }
                }
                (Some(_), None) => {}
            }
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
            if let Some(answer) = &p.allergy_override {
                lines.push(format!(
                    "Allergy alert overridden ({}): {}",
                    answer.allergies.join(", "),
                    answer.reason.trim()
                ));
            }
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

/// A signed visit, as amended, with its patient: what reports and research extracts are made
/// from.
#[derive(Clone, Debug)]
pub struct SignedVisit {
    /// The patient, as registered now.
    pub patient: super::Patient,
    /// The visit as it stands (amendments applied).
    pub visit: Encounter,
    /// The visit is the patient's first signed one in this workstation's records.
    pub first_visit: bool,
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
            corrections: Corrections {
                stops: vec!["amoxicillin".into()],
                ..Corrections::default()
            },
        };
        let current = e.current_prescriptions(&[stop]);
        assert_eq!(current.len(), 2, "the signed lines stay");
        assert_eq!(
            current[0].stopped.as_ref().map(|(by, _)| by.as_str()),
            Some("Dr Otieno")
        );
        assert!(current[1].stopped.is_none());
    }

    fn amendment(e: &Encounter, author: &str, minutes: i64, corrections: Corrections) -> Amendment {
        Amendment {
            amendment_id: AmendmentId::new(),
            encounter_id: e.encounter_id,
            text: String::new(),
            reason: "Recorded in error".into(),
            author: author.into(),
            author_id: None,
            created_at: e.started_at + chrono::Duration::minutes(minutes),
            corrections,
        }
    }

    #[test]
    fn an_amendment_corrects_a_diagnosis_and_the_signed_one_stays_withdrawn() {
        let mut e = Encounter::new_draft(PatientId::new(), "Dr Achieng", Utc::now());
        e.diagnoses = vec![
            Diagnosis {
                code: Some("B54".into()),
                title: "Unspecified malaria".into(),
                primary: true,
            },
            Diagnosis {
                code: None,
                title: "Dehydration".into(),
                primary: false,
            },
        ];
        // Negative test result: malaria withdrawn, viral fever added as the primary diagnosis.
        let correct = amendment(
            &e,
            "Dr Otieno",
            30,
            Corrections {
                withdraws: vec!["b54".into()],
                adds: vec![Diagnosis {
                    code: Some("A99".into()),
                    title: "Unspecified viral haemorrhagic fever".into(),
                    primary: true,
                }],
                ..Corrections::default()
            },
        );
        // A later amendment withdraws the free-text one by its title.
        let later = amendment(
            &e,
            "Dr Achieng",
            60,
            Corrections {
                withdraws: vec!["dehydration".into()],
                ..Corrections::default()
            },
        );
        // Given newest first, applied oldest first.
        let amendments = [later, correct];
        let all = e.current_diagnoses(&amendments);
        assert_eq!(all.len(), 3, "withdrawn diagnoses stay listed");
        assert_eq!(all[0].diagnosis.key(), "B54");
        assert_eq!(
            all[0].withdrawn.as_ref().map(|w| w.author.as_str()),
            Some("Dr Otieno")
        );
        assert_eq!(
            all[1].withdrawn.as_ref().map(|w| w.author.as_str()),
            Some("Dr Achieng")
        );
        assert_eq!(
            all[2].added.as_ref().map(|w| w.author.as_str()),
            Some("Dr Otieno")
        );
        assert!(all[2].withdrawn.is_none());
        let current = e.as_amended(&amendments);
        assert_eq!(current.diagnoses.len(), 1);
        assert_eq!(
            current.main_diagnosis().map(Diagnosis::label).as_deref(),
            Some("A99 Unspecified viral haemorrhagic fever")
        );
        assert_eq!(e.diagnoses.len(), 2, "the signed visit is not changed");
    }

    #[test]
    fn withdrawing_the_primary_diagnosis_makes_the_next_one_lead() {
        let mut e = Encounter::new_draft(PatientId::new(), "Dr Achieng", Utc::now());
        for (code, primary) in [("J18.9", true), ("J45.9", false)] {
            e.diagnoses.push(Diagnosis {
                code: Some(code.into()),
                title: code.into(),
                primary,
            });
        }
        let withdraw = amendment(
            &e,
            "Dr Otieno",
            5,
            Corrections {
                withdraws: vec!["J18.9".into()],
                ..Corrections::default()
            },
        );
        let current = e.as_amended(&[withdraw]);
        assert_eq!(current.diagnoses.len(), 1);
        assert!(current.diagnoses[0].primary);
    }

    #[test]
    fn an_amendment_corrects_a_vital_sign_and_keeps_the_value_it_replaced() {
        let mut e = Encounter::new_draft(PatientId::new(), "Dr Achieng", Utc::now());
        e.vitals.temperature_c = Some(39.8);
        e.vitals.weight_kg = Some(72.0);
        let first = amendment(
            &e,
            "Nurse Wanjiru",
            10,
            Corrections {
                vitals: vec![VitalCorrection {
                    field: "weight_kg".into(),
                    value: Some(27.0),
                }],
                ..Corrections::default()
            },
        );
        let second = amendment(
            &e,
            "Dr Otieno",
            20,
            Corrections {
                vitals: vec![
                    VitalCorrection {
                        field: "weight_kg".into(),
                        value: Some(27.5),
                    },
                    VitalCorrection {
                        field: "temperature_c".into(),
                        value: None,
                    },
                ],
                ..Corrections::default()
            },
        );
        let amendments = [second, first];
        let changes = e.vital_changes(&amendments);
        let seen: Vec<(&str, Option<f64>, Option<f64>, &str)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.was, c.now, c.by.author.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("weight_kg", Some(72.0), Some(27.0), "Nurse Wanjiru"),
                ("weight_kg", Some(27.0), Some(27.5), "Dr Otieno"),
                ("temperature_c", Some(39.8), None, "Dr Otieno"),
            ]
        );
        let current = e.as_amended(&amendments);
        assert_eq!(current.vitals.weight_kg, Some(27.5));
        assert_eq!(current.vitals.temperature_c, None);
        assert!(
            current.vitals.flags(None).is_empty(),
            "the fever flag goes with the corrected temperature"
        );
    }

    #[test]
    fn an_amendment_with_an_impossible_correction_is_refused() {
        let e = Encounter::new_draft(PatientId::new(), "Dr Achieng", Utc::now());
        let mut a = amendment(
            &e,
            "Dr Otieno",
            1,
            Corrections {
                vitals: vec![VitalCorrection {
                    field: "temperature_c".into(),
                    value: Some(375.0),
                }],
                ..Corrections::default()
            },
        );
        let refused = a.validate();
        assert!(
            refused
                .message_for("amendment_vitals")
                .is_some_and(|m| m.contains("Temperature of 375 °C is not possible")),
            "{refused:?}"
        );
        a.corrections.vitals[0].value = Some(37.5);
        assert!(
            a.validate().is_valid(),
            "text may be empty when something is corrected"
        );
        a.corrections.vitals[0].field = "shoe_size".into();
        assert!(a.validate().message_for("amendment_vitals").is_some());
        a.corrections = Corrections::default();
        assert!(
            a.validate().message_for("amendment_text").is_some(),
            "an amendment that changes nothing says so in words"
        );
    }
}
