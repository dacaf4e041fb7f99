//! The visit summary a patient takes home: why they came, the vital signs with what is abnormal
//! flagged, the diagnoses with their ICD-10 codes, the medicines, the tests, the plan and the
//! date to come back.

use super::parts::{Letterhead, PatientFacts, medicine_blocks, not_voided, signature, visit_date};
use super::{Block, DocumentError};
use crate::model::{Encounter, VITAL_RANGES, age_on};

/// The summary of `visit` (as amended), which must not be voided; a draft's says it is one.
pub fn visit_summary(
    letterhead: &Letterhead,
    facts: PatientFacts<'_>,
    visit: &Encounter,
) -> Result<Vec<Block>, DocumentError> {
    not_voided(visit)?;
    let day = visit.started_at.date_naive();
    let mut blocks = letterhead.blocks();
    blocks.push(Block::Heading("Visit summary".into()));
    blocks.extend(facts.identity(day));
    blocks.push(Block::Text(format!(
        "Date: {} · {} · seen by {}",
        visit_date(visit),
        visit.kind.label(),
        visit.clinician
    )));
    blocks.push(facts.allergy_line(false));
    blocks.push(Block::Rule);
    if !visit.chief_complaint.trim().is_empty() {
        blocks.push(Block::Heading("Reason for the visit".into()));
        blocks.push(Block::Text(visit.chief_complaint.trim().to_owned()));
    }
    blocks.extend(vital_blocks(facts, visit));
    blocks.extend(diagnosis_blocks(visit));
    if !visit.prescriptions.is_empty() {
        blocks.push(Block::Heading("Medicines".into()));
        for (i, line) in visit.prescriptions.iter().enumerate() {
            blocks.extend(medicine_blocks(i + 1, line));
        }
    }
    blocks.extend(lab_blocks(visit));
    if !visit.plan.trim().is_empty() {
        blocks.push(Block::Heading("Plan".into()));
        blocks.push(Block::Text(visit.plan.trim().to_owned()));
    }
    blocks.push(Block::Text(match visit.follow_up {
        Some(date) => format!("Come back on: {}", date.format("%A %-d %B %Y")),
        None => "No follow-up visit booked.".into(),
    }));
    blocks.push(Block::Rule);
    blocks.extend(signature(visit, "Clinician"));
    Ok(blocks)
}

/// The vital signs measured, one per line, with BMI and each abnormal finding flagged.
pub(super) fn vital_blocks(facts: PatientFacts<'_>, visit: &Encounter) -> Vec<Block> {
    let vitals = &visit.vitals;
    if vitals.is_empty() {
        return Vec::new();
    }
    let age_months = facts
        .patient
        .birth
        .and_then(|b| age_on(b.date, visit.started_at.date_naive()))
        .map(|(years, months, _)| years * 12 + months);
    let flags = vitals.flags(age_months);
    let flagged = |field: &str| {
        let words: Vec<&str> = flags
            .iter()
            .filter(|f| f.field() == field)
            .map(|f| f.label())
            .collect();
        if words.is_empty() {
            String::new()
        } else {
            format!("   ⚠ {}", words.join(", ").to_uppercase())
        }
    };
    let mut blocks = vec![Block::Heading("Vital signs".into())];
    for range in &VITAL_RANGES {
        if range.field == "diastolic_mmhg" {
            continue;
        }
        let Some(value) = vitals.get(range.field) else {
            continue;
        };
        let text = if range.field == "systolic_mmhg" {
            match vitals.diastolic_mmhg {
                Some(d) => format!("Blood pressure: {}/{} mmHg", number(value), number(d)),
                None => format!("Systolic BP: {} mmHg", number(value)),
            }
        } else {
            format!("{}: {} {}", range.label, number(value), range.unit)
        };
        blocks.push(Block::Text(format!("{text}{}", flagged(range.field))));
    }
    if vitals.systolic_mmhg.is_none()
        && let Some(d) = vitals.diastolic_mmhg
    {
        blocks.push(Block::Text(format!("Diastolic BP: {} mmHg", number(d))));
    }
    if let Some(bmi) = vitals.bmi() {
        blocks.push(Block::Text(format!("BMI: {bmi:.1}{}", flagged("bmi"))));
    }
    blocks
}

/// The diagnoses, primary first, each with its ICD-10 code.
pub(super) fn diagnosis_blocks(visit: &Encounter) -> Vec<Block> {
    if visit.diagnoses.is_empty() {
        return Vec::new();
    }
    let mut ordered: Vec<&crate::model::Diagnosis> = visit.diagnoses.iter().collect();
    ordered.sort_by_key(|d| !d.primary);
    let mut blocks = vec![Block::Heading("Diagnoses".into())];
    for d in ordered {
        let code = d
            .code
            .as_deref()
            .map(|c| format!("{} ", c.trim()))
            .unwrap_or_default();
        let primary = if d.primary { " (main)" } else { "" };
        blocks.push(Block::Text(format!("{code}{}{primary}", d.title.trim())));
    }
    blocks
}

/// The tests and their results, abnormal ones marked.
pub(super) fn lab_blocks(visit: &Encounter) -> Vec<Block> {
    if visit.lab_results.is_empty() {
        return Vec::new();
    }
    let mut blocks = vec![Block::Heading("Tests".into())];
    for lab in &visit.lab_results {
        let mark = if lab.abnormal { "   ⚠ ABNORMAL" } else { "" };
        blocks.push(Block::Text(
            format!(
                "{}: {} {}",
                lab.test.trim(),
                lab.value.trim(),
                lab.unit.trim()
            )
            .trim_end()
            .to_owned()
                + mark,
        ));
    }
    blocks
}

/// A measurement without a needless ".0".
pub(super) fn number(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}
