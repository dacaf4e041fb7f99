//! The prescription a patient takes to the dispensary: the clinic, the patient, the date, each
//! medicine with its dose, route, frequency, duration and quantity, the patient's allergies, and
//! the prescriber's name and role from the visit's signature.

use super::{Block, DocumentError};
use crate::model::{Allergy, AllergyStatus, Encounter, EncounterStatus, Patient};

/// What heads every document a clinic prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Letterhead {
    /// The clinic's name.
    pub clinic_name: String,
    /// Its address (may be empty).
    pub address: String,
    /// Its phone number (may be empty).
    pub phone: String,
}

impl Letterhead {
    fn blocks(&self) -> Vec<Block> {
        let mut blocks = vec![Block::Title(self.clinic_name.clone())];
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

/// The prescription of a signed `visit` of `patient`, whose allergies are `allergies` (asked:
/// `allergy_status`).
pub fn prescription(
    letterhead: &Letterhead,
    patient: &Patient,
    allergy_status: AllergyStatus,
    allergies: &[Allergy],
    visit: &Encounter,
) -> Result<Vec<Block>, DocumentError> {
    let EncounterStatus::Signed {
        signed_by,
        signed_at,
        signer_role,
        ..
    } = &visit.status
    else {
        return Err(DocumentError::NotSigned);
    };
    if visit.prescriptions.is_empty() {
        return Err(DocumentError::NothingPrescribed);
    }
    let mut blocks = letterhead.blocks();
    blocks.push(Block::Heading("Prescription".into()));
    let number = patient
        .number
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    blocks.push(Block::Text(format!(
        "Patient: {}   {number}",
        patient.display_name()
    )));
    let born = match &patient.birth {
        Some(birth) if birth.estimated => format!("born about {}", birth.date.format("%Y")),
        Some(birth) => format!("born {}", birth.date.format("%-d %b %Y")),
        None => "date of birth not known".into(),
    };
    blocks.push(Block::Text(format!("{} · {born}", patient.sex.label())));
    blocks.push(Block::Text(format!(
        "Date: {}",
        visit.started_at.format("%-d %b %Y")
    )));
    let active: Vec<String> = allergies
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
    blocks.push(Block::Text(match (allergy_status, active.is_empty()) {
        (_, false) => format!("ALLERGIES: {}", active.join("; ")),
        (AllergyStatus::NoKnownAllergies, true) => "Allergies: none known".into(),
        _ => "Allergies: NOT ASKED — ask before dispensing".into(),
    }));
    blocks.push(Block::Rule);
    for (i, line) in visit.prescriptions.iter().enumerate() {
        blocks.push(Block::Text(format!(
            "{}. {} {}",
            i + 1,
            line.medicine,
            line.strength
        )));
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
        blocks.push(Block::Small(details.join(" · ")));
        if !line.instructions.trim().is_empty() {
            blocks.push(Block::Small(line.instructions.clone()));
        }
    }
    blocks.push(Block::Rule);
    let role = signer_role
        .map(|r| format!(", {}", r.label().to_lowercase()))
        .unwrap_or_default();
    blocks.push(Block::Text(format!("Prescriber: {signed_by}{role}")));
    blocks.push(Block::Small(format!(
        "Signed {}",
        signed_at.format("%-d %b %Y %H:%M UTC")
    )));
    Ok(blocks)
}
