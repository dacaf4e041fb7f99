//! The referral letter to another clinic or the district hospital: to whom, why, what was found,
//! what was given, and the key images as thumbnails.

use super::parts::{Letterhead, PatientFacts, medicine_blocks, signature, visit_date};
use super::visit_summary::{diagnosis_blocks, lab_blocks, vital_blocks};
use super::{Block, DocumentError, Picture};
use crate::model::{Encounter, EncounterStatus};

/// Where a patient is sent and why, as the referring clinician writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Referral {
    /// To whom: a hospital, a department, a named colleague.
    pub to: String,
    /// Why the patient is referred.
    pub reason: String,
}

/// The referral letter of a signed `visit`, with `images` (thumbnails, captioned) at the end.
pub fn referral(
    letterhead: &Letterhead,
    facts: PatientFacts<'_>,
    visit: &Encounter,
    referral: &Referral,
    images: Vec<Picture>,
) -> Result<Vec<Block>, DocumentError> {
    if !matches!(visit.status, EncounterStatus::Signed { .. }) {
        return Err(DocumentError::NotSigned);
    }
    if referral.to.trim().is_empty() {
        return Err(DocumentError::Missing(
            "say to whom the patient is referred",
        ));
    }
    if referral.reason.trim().is_empty() {
        return Err(DocumentError::Missing("say why the patient is referred"));
    }
    let mut blocks = letterhead.blocks();
    blocks.push(Block::Heading("Referral letter".into()));
    blocks.push(Block::Text(format!("To: {}", referral.to.trim())));
    blocks.push(Block::Text(format!("Date: {}", visit_date(visit))));
    blocks.extend(facts.identity(visit.started_at.date_naive()));
    if let Some(contact) = facts.contact() {
        blocks.push(contact);
    }
    blocks.push(facts.allergy_line(false));
    blocks.push(Block::Rule);
    blocks.push(Block::Text("Dear colleague,".into()));
    blocks.push(Block::Text(format!(
        "Thank you for seeing this patient, whom I saw on {} and refer to you for: {}",
        visit_date(visit),
        referral.reason.trim()
    )));
    let findings: Vec<(&str, &str)> = [
        ("Presenting complaint", visit.chief_complaint.as_str()),
        ("History", visit.history.as_str()),
        ("Examination", visit.examination.as_str()),
    ]
    .into_iter()
    .filter(|(_, text)| !text.trim().is_empty())
    .collect();
    if !findings.is_empty() {
        blocks.push(Block::Heading("Findings".into()));
        for (label, text) in findings {
            blocks.push(Block::Text(format!("{label}: {}", text.trim())));
        }
    }
    blocks.extend(vital_blocks(facts, visit));
    blocks.extend(diagnosis_blocks(visit));
    blocks.extend(lab_blocks(visit));
    blocks.push(Block::Heading("What was given".into()));
    if visit.prescriptions.is_empty() {
        blocks.push(Block::Text("No medicines were given.".into()));
    }
    for (i, line) in visit.prescriptions.iter().enumerate() {
        blocks.extend(medicine_blocks(i + 1, line));
    }
    if !visit.plan.trim().is_empty() {
        blocks.push(Block::Text(format!("Plan: {}", visit.plan.trim())));
    }
    if !images.is_empty() {
        blocks.push(Block::Heading("Images".into()));
        blocks.push(Block::Pictures {
            pictures: images,
            height: 110.0,
        });
    }
    blocks.push(Block::Rule);
    blocks.push(Block::Text("Yours sincerely,".into()));
    blocks.extend(signature(visit, "Referring clinician"));
    Ok(blocks)
}
