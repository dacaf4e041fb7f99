//! What several documents share: the clinic's letterhead, the lines that say who the patient is,
//! their allergies, and who signed.

use super::{Block, Picture};
use crate::model::{Allergy, AllergyStatus, Encounter, EncounterStatus, Patient};
use chrono::NaiveDate;

/// What heads every document a clinic prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Letterhead {
    /// The clinic's name.
    pub clinic_name: String,
    /// Its address (may be empty).
    pub address: String,
    /// Its phone number (may be empty).
    pub phone: String,
    /// Its logo, drawn above the name.
    pub logo: Option<Picture>,
}

impl Letterhead {
    pub(super) fn blocks(&self) -> Vec<Block> {
        let mut blocks = Vec::new();
        if let Some(logo) = &self.logo {
            blocks.push(Block::Pictures {
                pictures: vec![Picture {
                    caption: String::new(),
                    ..logo.clone()
                }],
                height: 48.0,
            });
        }
        blocks.push(Block::Title(self.clinic_name.clone()));
        let contact: Vec<&str> = [self.address.as_str(), self.phone.as_str()]
            .into_iter()
            .filter(|s| !s.trim().is_empty())
            .collect();
        if !contact.is_empty() {
            blocks.push(Block::Small(contact.join(" · ")));
        }
        blocks.push(Block::Rule);
        blocks
    }
}

/// Who a document is about: the patient, and what they are allergic to.
#[derive(Clone, Copy, Debug)]
pub struct PatientFacts<'a> {
    /// The patient.
    pub patient: &'a Patient,
    /// Whether they were asked about allergies.
    pub allergy_status: AllergyStatus,
    /// Their allergies (inactive ones are left out).
    pub allergies: &'a [Allergy],
}

impl PatientFacts<'_> {
    /// "Patient: Name   OUT-000123" and "Female · born 3 Mar 1990 (36 y)", as of `on`.
    pub(super) fn identity(&self, on: NaiveDate) -> Vec<Block> {
        let patient = self.patient;
        let number = patient
            .number
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let born = match &patient.birth {
            Some(birth) if birth.estimated => format!(
                "born about {} ({})",
                birth.date.format("%Y"),
                birth.age_label(on)
            ),
            Some(birth) => format!(
                "born {} ({})",
                birth.date.format("%-d %b %Y"),
                birth.age_label(on)
            ),
            None => "date of birth not known".into(),
        };
        vec![
            Block::Text(format!("Patient: {}   {number}", patient.display_name())),
            Block::Text(format!("{} · {born}", patient.sex.label())),
        ]
    }

    /// The patient's village and phone, when known.
    pub(super) fn contact(&self) -> Option<Block> {
        let parts: Vec<String> = [
            self.patient.village.trim().to_owned(),
            if self.patient.phone.trim().is_empty() {
                String::new()
            } else {
                format!("phone {}", self.patient.phone.trim())
            },
        ]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
        (!parts.is_empty()).then(|| Block::Small(parts.join(" · ")))
    }

    /// The allergies in capitals when there are any; "none known" or "not asked" otherwise (on
    /// a prescription, `dispensing`, with a word to the dispenser).
    pub(super) fn allergy_line(&self, dispensing: bool) -> Block {
        let active: Vec<String> = self
            .allergies
            .iter()
            .filter(|a| a.active)
            .map(|a| {
                if a.reaction.trim().is_empty() {
                    format!("{} ({})", a.substance, a.severity.label().to_lowercase())
                } else {
                    format!(
                        "{} ({}, {})",
                        a.substance,
                        a.reaction,
                        a.severity.label().to_lowercase()
                    )
                }
            })
            .collect();
        Block::Text(match (self.allergy_status, active.is_empty()) {
            (_, false) => format!("ALLERGIES: {}", active.join("; ")),
            (AllergyStatus::NoKnownAllergies, true) => "Allergies: none known".into(),
            _ if dispensing => "Allergies: NOT ASKED — ask before dispensing".into(),
            _ => "Allergies: NOT ASKED".into(),
        })
    }
}

/// The visit's date as a reader sees it.
pub(super) fn visit_date(visit: &Encounter) -> String {
    visit.started_at.format("%-d %b %Y").to_string()
}

/// Refuses a voided visit; a draft passes (a summary of a draft says so).
pub(super) fn not_voided(visit: &Encounter) -> Result<(), super::DocumentError> {
    match visit.status {
        EncounterStatus::Voided { .. } => Err(super::DocumentError::Voided),
        _ => Ok(()),
    }
}

/// Who signed the visit, in what role and when; for a draft, that it is not signed.
pub(super) fn signature(visit: &Encounter, label: &str) -> Vec<Block> {
    match &visit.status {
        EncounterStatus::Signed {
            signed_by,
            signed_at,
            signer_role,
            ..
        } => {
            let role = signer_role
                .map(|r| format!(", {}", r.label().to_lowercase()))
                .unwrap_or_default();
            vec![
                Block::Text(format!("{label}: {signed_by}{role}")),
                Block::Small(format!(
                    "Signed {}",
                    signed_at.format("%-d %b %Y %H:%M UTC")
                )),
            ]
        }
        _ => vec![
            Block::Text(format!("{label}: {}", visit.clinician)),
            Block::Small("NOT SIGNED: a draft, which may still change".into()),
        ],
    }
}

/// A prescription line as two blocks: the medicine, then how it is taken.
pub(super) fn medicine_blocks(number: usize, line: &crate::model::Prescription) -> Vec<Block> {
    let mut blocks = vec![Block::Text(format!(
        "{number}. {} {}",
        line.medicine, line.strength
    ))];
    let how = if line.as_directed {
        vec![line.route.clone(), "as directed".into()]
    } else {
        vec![
            line.dose.clone(),
            line.route.clone(),
            line.frequency.clone(),
            if line.duration.trim().is_empty() {
                String::new()
            } else {
                format!("for {}", line.duration)
            },
        ]
    };
    let mut details: Vec<String> = how.into_iter().filter(|s| !s.trim().is_empty()).collect();
    if !line.quantity.trim().is_empty() {
        details.push(format!("quantity {}", line.quantity));
    }
    if !details.is_empty() {
        blocks.push(Block::Small(details.join(" · ")));
    }
    if !line.instructions.trim().is_empty() {
        blocks.push(Block::Small(line.instructions.clone()));
    }
    blocks
}
