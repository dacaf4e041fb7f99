//! The sick note (a medical certificate): the patient was seen on the visit's day and is unfit
//! for work or school from one day to another. It names no diagnosis: an employer or a school is
//! told that the patient is unwell, not what they have.

use super::parts::{Letterhead, PatientFacts, signature, visit_date};
use super::{Block, DocumentError};
use crate::model::{Encounter, EncounterStatus};
use chrono::NaiveDate;

/// The longest sick note, in days.
pub const MAX_DAYS: i64 = 90;

/// The days a sick note covers, and anything the clinician adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SickNote {
    /// The first day off.
    pub from: NaiveDate,
    /// The last day off (the same as `from` for one day).
    pub to: NaiveDate,
    /// A remark for the reader ("light duties for a week after"), or empty.
    pub remarks: String,
}

impl SickNote {
    /// The number of days, counting both ends.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }
}

/// The sick note of a signed `visit`.
pub fn sick_note(
    letterhead: &Letterhead,
    facts: PatientFacts<'_>,
    visit: &Encounter,
    note: &SickNote,
) -> Result<Vec<Block>, DocumentError> {
    if !matches!(visit.status, EncounterStatus::Signed { .. }) {
        return Err(DocumentError::NotSigned);
    }
    if note.to < note.from || note.days() > MAX_DAYS {
        return Err(DocumentError::SickNoteDates);
    }
    let mut blocks = letterhead.blocks();
    blocks.push(Block::Heading("Medical certificate".into()));
    blocks.extend(facts.identity(visit.started_at.date_naive()));
    blocks.push(Block::Rule);
    let days = note.days();
    let span = if days == 1 {
        format!("on {}", note.from.format("%A %-d %B %Y"))
    } else {
        format!(
            "from {} to {} inclusive ({days} days)",
            note.from.format("%A %-d %B %Y"),
            note.to.format("%A %-d %B %Y")
        )
    };
    blocks.push(Block::Text(format!(
        "This is to certify that {} was seen at {} on {} and, in my opinion, is not fit for \
         work or school {span}.",
        facts.patient.display_name(),
        letterhead.clinic_name,
        visit_date(visit)
    )));
    if !note.remarks.trim().is_empty() {
        blocks.push(Block::Text(note.remarks.trim().to_owned()));
    }
    blocks.push(Block::Rule);
    blocks.extend(signature(visit, "Clinician"));
    Ok(blocks)
}
