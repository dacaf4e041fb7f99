//! The patient summary, printed from the chart: problems, allergies, the medicines of recent
//! visits, the last visits, and small plots of weight and blood pressure over time.

use super::parts::{Letterhead, PatientFacts, medicine_blocks};
use super::{Block, DocumentError, Plot, Series};
use crate::model::{Encounter, EncounterStatus, Problem, ProblemStatus};
use chrono::NaiveDate;

/// How many visits the summary lists.
const LAST_VISITS: usize = 5;
/// How far back "recent medicines" go, in days.
const RECENT_DAYS: i64 = 90;

/// What a patient summary is made of, read from the chart.
#[derive(Clone, Copy, Debug)]
pub struct PatientSummary<'a> {
    /// Who, with their allergies.
    pub facts: PatientFacts<'a>,
    /// The problem list.
    pub problems: &'a [Problem],
    /// Every visit as amended, in any order; voided ones are left out.
    pub visits: &'a [Encounter],
    /// The day the summary is printed.
    pub today: NaiveDate,
}

/// The patient summary.
pub fn patient_summary(
    letterhead: &Letterhead,
    summary: &PatientSummary<'_>,
) -> Result<Vec<Block>, DocumentError> {
    let facts = summary.facts;
    let mut visits: Vec<&Encounter> = summary
        .visits
        .iter()
        .filter(|v| !matches!(v.status, EncounterStatus::Voided { .. }))
        .collect();
    visits.sort_by_key(|v| std::cmp::Reverse(v.started_at));
    let mut blocks = letterhead.blocks();
    blocks.push(Block::Heading("Patient summary".into()));
    blocks.extend(facts.identity(summary.today));
    if let Some(contact) = facts.contact() {
        blocks.push(contact);
    }
    blocks.push(facts.allergy_line(false));
    blocks.push(Block::Rule);

    blocks.push(Block::Heading("Problems".into()));
    let active: Vec<&Problem> = summary
        .problems
        .iter()
        .filter(|p| p.status == ProblemStatus::Active)
        .collect();
    if active.is_empty() {
        blocks.push(Block::Text("No active problems.".into()));
    }
    for problem in active {
        let code = problem
            .code
            .as_deref()
            .map(|c| format!("{} ", c.trim()))
            .unwrap_or_default();
        let since = problem
            .onset
            .map(|d| format!(" (since {})", d.format("%b %Y")))
            .unwrap_or_default();
        blocks.push(Block::Text(format!(
            "{code}{}{since}",
            problem.title.trim()
        )));
    }

    blocks.push(Block::Heading(format!(
        "Medicines of the last {RECENT_DAYS} days"
    )));
    let since = summary.today - chrono::Duration::days(RECENT_DAYS);
    let mut any = false;
    for visit in visits.iter().filter(|v| {
        matches!(v.status, EncounterStatus::Signed { .. }) && v.started_at.date_naive() >= since
    }) {
        for line in &visit.prescriptions {
            any = true;
            let mut lines = medicine_blocks(0, line);
            if let Some(Block::Text(first)) = lines.first_mut() {
                *first = format!(
                    "{} {} (prescribed {})",
                    line.medicine.trim(),
                    line.strength.trim(),
                    visit.started_at.format("%-d %b %Y")
                );
            }
            blocks.extend(lines);
        }
    }
    if !any {
        blocks.push(Block::Text("None prescribed.".into()));
    }

    blocks.push(Block::Heading("Last visits".into()));
    if visits.is_empty() {
        blocks.push(Block::Text("No visits yet.".into()));
    }
    for visit in visits.iter().take(LAST_VISITS) {
        let diagnosis = visit
            .main_diagnosis()
            .map(crate::model::Diagnosis::label)
            .unwrap_or_else(|| "no diagnosis".into());
        let draft = if visit.is_draft() { " (draft)" } else { "" };
        blocks.push(Block::Text(format!(
            "{} · {} · {diagnosis}{draft}",
            visit.started_at.format("%-d %b %Y"),
            visit.kind.label()
        )));
        blocks.push(Block::Small(format!("seen by {}", visit.clinician)));
    }
    if visits.len() > LAST_VISITS {
        blocks.push(Block::Small(format!(
            "and {} earlier visits",
            visits.len() - LAST_VISITS
        )));
    }

    let series = |name: &str, value: fn(&Encounter) -> Option<f64>| Series {
        name: name.to_owned(),
        points: visits
            .iter()
            .rev()
            .filter_map(|v| value(v).map(|x| (v.started_at.date_naive(), x)))
            .collect(),
    };
    let plots = [
        Plot {
            title: "Weight (kg)".into(),
            series: vec![series("Weight", |v| v.vitals.weight_kg)],
        },
        Plot {
            title: "Blood pressure (mmHg)".into(),
            series: vec![
                series("Systolic", |v| v.vitals.systolic_mmhg),
                series("Diastolic", |v| v.vitals.diastolic_mmhg),
            ],
        },
    ];
    let plots: Vec<Plot> = plots
        .into_iter()
        .filter(|p| p.series.iter().any(|s| !s.points.is_empty()))
        .collect();
    if !plots.is_empty() {
        blocks.push(Block::Heading("Trends".into()));
        blocks.extend(plots.into_iter().map(Block::Plot));
    }
    Ok(blocks)
}
