//! Allergies and the problem list: shared, editable facts about a patient that merge field by field.

use super::ids::{AllergyId, PatientId, ProblemId};
use super::validation::Validation;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Whether anyone has asked the patient about allergies. "No known allergies" is a statement a
/// clinician made; "not asked" is the absence of one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllergyStatus {
    /// Nobody has asked yet.
    #[default]
    NotAsked,
    /// Asked: the patient has no known allergies.
    NoKnownAllergies,
    /// Asked: allergies are recorded in the list.
    Recorded,
}

impl AllergyStatus {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotAsked => "not_asked",
            Self::NoKnownAllergies => "no_known_allergies",
            Self::Recorded => "recorded",
        }
    }

    /// Reads a stored code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "no_known_allergies" => Self::NoKnownAllergies,
            "recorded" => Self::Recorded,
            _ => Self::NotAsked,
        }
    }
}

/// How severe a reaction is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllergySeverity {
    /// Mild.
    Mild,
    /// Moderate.
    #[default]
    Moderate,
    /// Severe (e.g. anaphylaxis).
    Severe,
}

impl AllergySeverity {
    /// Every value, mildest first.
    pub const ALL: [AllergySeverity; 3] = [Self::Mild, Self::Moderate, Self::Severe];

    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Mild => "mild",
            Self::Moderate => "moderate",
            Self::Severe => "severe",
        }
    }

    /// Reads a stored code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "mild" => Self::Mild,
            "severe" => Self::Severe,
            _ => Self::Moderate,
        }
    }

    /// The word shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Self::Mild => "Mild",
            Self::Moderate => "Moderate",
            Self::Severe => "Severe",
        }
    }
}

/// One allergy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Allergy {
    /// Id.
    pub allergy_id: AllergyId,
    /// Whose allergy.
    pub patient_id: PatientId,
    /// What the patient reacts to ("Penicillin").
    pub substance: String,
    /// What happens ("rash", "anaphylaxis").
    pub reaction: String,
    /// How severe.
    pub severity: AllergySeverity,
    /// False once a clinician marks it no longer relevant.
    pub active: bool,
}

impl Allergy {
    /// A new active allergy for `patient_id`.
    pub fn new(patient_id: PatientId, substance: &str) -> Self {
        Self {
            allergy_id: AllergyId::new(),
            patient_id,
            substance: substance.trim().to_owned(),
            reaction: String::new(),
            severity: AllergySeverity::Moderate,
            active: true,
        }
    }

    /// Checks the record.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if self.substance.trim().is_empty() {
            v.push("substance", "Enter what the patient is allergic to.");
        }
        v
    }
}

/// Active or resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemStatus {
    /// Still a problem.
    #[default]
    Active,
    /// No longer a problem.
    Resolved,
}

impl ProblemStatus {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Resolved => "resolved",
        }
    }

    /// Reads a stored code.
    pub fn from_code(code: &str) -> Self {
        if code == "resolved" {
            Self::Resolved
        } else {
            Self::Active
        }
    }
}

/// One entry of the problem list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Id.
    pub problem_id: ProblemId,
    /// Whose problem.
    pub patient_id: PatientId,
    /// ICD-10 code, if coded.
    pub code: Option<String>,
    /// Title ("Type 2 diabetes mellitus without complications").
    pub title: String,
    /// When it began, if known.
    pub onset: Option<NaiveDate>,
    /// Active or resolved.
    pub status: ProblemStatus,
}

impl Problem {
    /// Checks the record.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if self.title.trim().is_empty() {
            v.push("title", "Enter the problem, or pick an ICD-10 code.");
        }
        v
    }
}
