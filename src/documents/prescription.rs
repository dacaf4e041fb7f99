//! The prescription a patient takes to the dispensary: the clinic, the patient, the date, each
//! medicine with its dose, route, frequency, duration and quantity, the patient's allergies, and
//! the prescriber's name and role from the visit's signature.

use super::parts::{Letterhead, PatientFacts, medicine_blocks, signature, visit_date};
use super::{Block, DocumentError};
use crate::model::{Encounter, EncounterStatus};

/// The prescription of a signed `visit` (as amended: stopped medicines are not on it).
pub fn prescription(
    letterhead: &Letterhead,
    facts: PatientFacts<'_>,
    visit: &Encounter,
) -> Result<Vec<Block>, DocumentError> {
    if !matches!(visit.status, EncounterStatus::Signed { .. }) {
        return Err(DocumentError::NotSigned);
    }
    if visit.prescriptions.is_empty() {
        return Err(DocumentError::NothingPrescribed);
    }
    let mut blocks = letterhead.blocks();
    blocks.push(Block::Heading("Prescription".into()));
    blocks.extend(facts.identity(visit.started_at.date_naive()));
    blocks.push(Block::Text(format!("Date: {}", visit_date(visit))));
    blocks.push(facts.allergy_line(true));
    blocks.push(Block::Rule);
    for (i, line) in visit.prescriptions.iter().enumerate() {
        blocks.extend(medicine_blocks(i + 1, line));
    }
    blocks.push(Block::Rule);
    blocks.extend(signature(visit, "Prescriber"));
    Ok(blocks)
}
