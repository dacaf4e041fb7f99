//! The day's queue, read and written like any synced record: an arrival, its triage, and where
//! the patient is, so the clinic's workstations show one queue.

use super::write::Fields;
use super::{Store, StoreError, time_from_text, time_text};
use crate::model::{
    EntityKind, PatientId, Priority, QueueEntry, QueueEntryId, QueueState, TriageSign, queue_order,
};
use chrono::NaiveDate;
use rusqlite::OptionalExtension;
use serde_json::{Value, json};

fn queue_fields(entry: &QueueEntry) -> Fields {
    let mut f = Fields::new();
    f.insert("patient_id".into(), json!(entry.patient_id.to_string()));
    f.insert("day".into(), json!(entry.day.to_string()));
    f.insert("arrived_at".into(), json!(time_text(entry.arrived_at)));
    f.insert("state".into(), json!(entry.state.code()));
    f.insert(
        "priority".into(),
        entry.priority.map_or(Value::Null, |p| json!(p.code())),
    );
    f.insert(
        "signs".into(),
        Value::Array(entry.signs.iter().map(|s| json!(s.code())).collect()),
    );
    f.insert("clinician".into(), json!(entry.clinician));
    f
}

/// The patient is read as the one whose chart shows them: an arrival of a record merged into
/// another (on a workstation that had not heard of the merge) shows as the survivor.
const QUEUE_COLUMNS: &str = "queue_entry_id,
    coalesce((SELECT p.merged_into FROM patient p WHERE p.patient_id = queue_entry.patient_id),
             queue_entry.patient_id),
    day, arrived_at, state, priority, signs, clinician";

type QueueRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
);

fn queue_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<QueueRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
    ))
}

fn entry_from_row(
    (id, patient, day, arrived, state, priority, signs, clinician): QueueRow,
) -> Result<QueueEntry, StoreError> {
    let corrupt = |what| StoreError::Corrupt { what };
    let signs: Vec<String> = serde_json::from_str(&signs).unwrap_or_default();
    Ok(QueueEntry {
        queue_entry_id: id.parse().map_err(|_| corrupt("a queue entry id"))?,
        patient_id: patient.parse().map_err(|_| corrupt("a patient id"))?,
        day: day.parse().map_err(|_| corrupt("a queue entry's day"))?,
        arrived_at: time_from_text(&arrived).ok_or(corrupt("a queue entry's arrival"))?,
        state: QueueState::from_code(&state),
        priority: priority.as_deref().and_then(Priority::from_code),
        signs: signs
            .iter()
            .filter_map(|s| TriageSign::from_code(s))
            .collect(),
        clinician,
    })
}

impl Store {
    /// The queue of `day`, in the order it is seen (see [`QueueEntry::order_key`]).
    pub fn queue(&self, day: NaiveDate) -> Result<Vec<QueueEntry>, StoreError> {
        let rows: Vec<QueueRow> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {QUEUE_COLUMNS} FROM queue_entry WHERE day = ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_map([day.to_string()], queue_row)?
                    .collect::<Result<_, _>>()
            })
            .map_err(StoreError::sqlite("reading the queue"))?;
        let mut entries = rows
            .into_iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        queue_order(&mut entries);
        Ok(entries)
    }

    /// One queue entry.
    pub fn queue_entry(&self, id: QueueEntryId) -> Result<QueueEntry, StoreError> {
        let row: Option<QueueRow> = self
            .conn
            .prepare_cached(&format!(
                "SELECT {QUEUE_COLUMNS} FROM queue_entry WHERE queue_entry_id = ?1"
            ))
            .and_then(|mut stmt| stmt.query_row([id.to_string()], queue_row).optional())
            .map_err(StoreError::sqlite("reading a queue entry"))?;
        match row {
            Some(row) => entry_from_row(row),
            None => Err(StoreError::NotFound {
                what: "queue entry",
                id: id.to_string(),
            }),
        }
    }

    /// The patient's entry of `day` that is still open (waiting or being seen), if any.
    pub fn open_queue_entry(
        &self,
        patient_id: PatientId,
        day: NaiveDate,
    ) -> Result<Option<QueueEntry>, StoreError> {
        Ok(self.queue(day)?.into_iter().find(|e| {
            e.patient_id == patient_id
                && !matches!(e.state, QueueState::Done | QueueState::LeftUnseen)
        }))
    }

    /// Records an arrival; a patient already waiting or being seen that day keeps their entry.
    pub fn add_to_queue(&mut self, entry: &QueueEntry) -> Result<QueueEntry, StoreError> {
        let mut entry = entry.clone();
        entry.patient_id = self.survivor_of(entry.patient_id)?;
        let entry = &entry;
        if let Some(open) = self.open_queue_entry(entry.patient_id, entry.day)? {
            return Ok(open);
        }
        self.patient(entry.patient_id)?;
        let mut writer = self.writer()?;
        writer.insert(
            EntityKind::QueueEntry,
            entry.queue_entry_id.0,
            queue_fields(entry),
            &[],
        )?;
        writer.commit()?;
        Ok(entry.clone())
    }

    /// Saves a change to an entry (its triage, its state, who sees them). Returns whether
    /// anything changed.
    pub fn save_queue_entry(&mut self, entry: &QueueEntry) -> Result<bool, StoreError> {
        let old = self.queue_entry(entry.queue_entry_id)?;
        let mut writer = self.writer()?;
        let changed = writer.update(
            EntityKind::QueueEntry,
            entry.queue_entry_id.0,
            &queue_fields(&old),
            queue_fields(entry),
            &[],
        )?;
        writer.commit()?;
        Ok(changed)
    }
}

/// A follow-up a signed visit asked for: who, when, and whether they have come back.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowUp {
    /// The patient.
    pub patient: crate::model::Patient,
    /// The visit that asked for it.
    pub visit_id: crate::model::EncounterId,
    /// Its main diagnosis, as written (empty when none).
    pub reason: String,
    /// The day the patient was asked to come back.
    pub due: NaiveDate,
    /// The first day on or after `due` the patient was seen (a visit, not voided), if any.
    pub came_back: Option<NaiveDate>,
}

impl FollowUp {
    /// Missed: the patient was not seen within `grace_days` after the day, and those days are
    /// over by `today`.
    pub fn missed(&self, today: NaiveDate, grace_days: i64) -> bool {
        let Some(last_chance) = self
            .due
            .checked_add_signed(chrono::TimeDelta::days(grace_days))
        else {
            return false;
        };
        today > last_chance && self.came_back.is_none_or(|day| day > last_chance)
    }
}

impl Store {
    /// The follow-ups signed visits asked for on the days `from..=to`, by day then name, each
    /// with the first day the patient was seen again on or after it.
    pub fn follow_ups(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<FollowUp>, StoreError> {
        let rows: Vec<(String, String)> = self
            .conn
            .prepare_cached(
                "SELECT encounter_id, follow_up FROM encounter
                 WHERE status = 'signed' AND follow_up >= ?1 AND follow_up <= ?2
                 ORDER BY follow_up",
            )
            .and_then(|mut stmt| {
                stmt.query_map([from.to_string(), to.to_string()], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect()
            })
            .map_err(StoreError::sqlite("reading follow-ups"))?;
        let mut out = Vec::new();
        for (id, due) in rows {
            let (Ok(visit_id), Ok(due)) = (
                id.parse::<crate::model::EncounterId>(),
                due.parse::<NaiveDate>(),
            ) else {
                continue;
            };
            let visit = self.encounter(visit_id)?;
            let patient_id = self.survivor_of(visit.patient_id)?;
            let patient = self.patient(patient_id)?;
            let came_back = self
                .encounters_for_patient(patient_id)?
                .into_iter()
                .filter(|e| !matches!(e.status, crate::model::EncounterStatus::Voided { .. }))
                .map(|e| e.started_at.with_timezone(&chrono::Local).date_naive())
                .filter(|day| *day >= due)
                .min();
            out.push(FollowUp {
                reason: visit
                    .diagnoses
                    .iter()
                    .find(|d| d.primary)
                    .or(visit.diagnoses.first())
                    .map(|d| d.title.clone())
                    .unwrap_or_default(),
                patient,
                visit_id,
                due,
                came_back,
            });
        }
        out.sort_by(|a, b| {
            (a.due, a.patient.display_name()).cmp(&(b.due, b.patient.display_name()))
        });
        Ok(out)
    }
}
