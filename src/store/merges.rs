//! Merging a patient's two records, and undoing it (see `model::patient_merge`): a merge is a
//! synced record; where each patient's records show is derived from all of them into the local
//! `patient.merged_into` column, which the chart's reads, the list and the search follow.

use super::write::Fields;
use super::{Store, StoreError, time_from_text};
use crate::model::{
    EntityKind, HlcStamp, MergeStatus, PatientId, PatientMerge, PatientMergeId, resolve_merges,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

/// In a query whose `?1` is a patient id: the patients whose records show in that patient's chart
/// (itself and every record merged into it).
pub(crate) const CHART_OF: &str =
    "(SELECT ?1 UNION ALL SELECT patient_id FROM patient WHERE merged_into = ?1)";

/// Why a merge was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MergeRefusal {
    /// Both sides are one record.
    #[error("a record cannot be merged into itself")]
    SameRecord,
    /// A side was merged into another record already.
    #[error("one of the records was merged into another already: merge into that one instead")]
    AlreadyMerged,
    /// A side was voided.
    #[error("one of the records was voided")]
    Voided,
    /// The merge was undone already.
    #[error("this merge was undone already")]
    AlreadyUndone,
}

/// A merge as the store holds it, with what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeRecord {
    /// The merge.
    pub merge: PatientMerge,
    /// Why it was made, as typed.
    pub reason: String,
    /// Who made it (full name, as shown).
    pub made_by: String,
    /// When it was made, by the workstation's clock.
    pub made_on: chrono::DateTime<chrono::Utc>,
    /// Whether it applies (an undone or overtaken merge does not).
    pub status: MergeStatus,
}

/// A merge row as stored, before its ids are read.
struct MergeRow {
    id: String,
    survivor: String,
    retired: String,
    made_at: String,
    reason: String,
    made_by: String,
    undone: bool,
    created: String,
}

/// A merge as stored: the merge, why, by whom and when it was written here.
struct StoredMerge {
    merge: PatientMerge,
    reason: String,
    made_by: String,
    created: String,
}

fn all_merges(conn: &Connection) -> Result<Vec<StoredMerge>, StoreError> {
    let rows: Vec<MergeRow> = conn
        .prepare_cached(
            "SELECT patient_merge_id, patient_id, retired_id, made_at, reason, made_by, undone,
                    created_at
             FROM patient_merge",
        )
        .and_then(|mut stmt| {
            stmt.query_map([], |row| {
                Ok(MergeRow {
                    id: row.get(0)?,
                    survivor: row.get(1)?,
                    retired: row.get(2)?,
                    made_at: row.get(3)?,
                    reason: row.get(4)?,
                    made_by: row.get(5)?,
                    undone: row.get(6)?,
                    created: row.get(7)?,
                })
            })?
            .collect()
        })
        .map_err(StoreError::sqlite("reading merges"))?;
    let corrupt = |what| StoreError::Corrupt { what };
    rows.into_iter()
        .map(|row| {
            Ok(StoredMerge {
                merge: PatientMerge {
                    merge_id: row.id.parse().map_err(|_| corrupt("a merge id"))?,
                    survivor: row.survivor.parse().map_err(|_| corrupt("a patient id"))?,
                    retired: row.retired.parse().map_err(|_| corrupt("a patient id"))?,
                    made_at: row
                        .made_at
                        .parse::<HlcStamp>()
                        .map_err(|_| corrupt("a merge's stamp"))?,
                    undone: row.undone,
                },
                reason: row.reason,
                made_by: row.made_by,
                created: row.created,
            })
        })
        .collect()
}

/// Recomputes where every patient shows from every merge, writing only what moved.
pub(crate) fn refresh_merged_into(conn: &Connection) -> Result<(), StoreError> {
    let merges: Vec<PatientMerge> = all_merges(conn)?.into_iter().map(|m| m.merge).collect();
    let map = resolve_merges(&merges);
    let current: Vec<(String, String)> = conn
        .prepare_cached("SELECT patient_id, merged_into FROM patient WHERE merged_into IS NOT NULL")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(StoreError::sqlite("reading merged records"))?;
    let mut set = conn
        .prepare_cached("UPDATE patient SET merged_into = ?2 WHERE patient_id = ?1")
        .map_err(StoreError::sqlite("recording merged records"))?;
    for (patient, _) in &current {
        let still = patient
            .parse::<PatientId>()
            .ok()
            .is_some_and(|p| map.shows_under.contains_key(&p));
        if !still {
            set.execute(params![patient, Option::<String>::None])
                .map_err(StoreError::sqlite("recording merged records"))?;
        }
    }
    for (retired, survivor) in &map.shows_under {
        let (retired, survivor) = (retired.to_string(), survivor.to_string());
        if !current.iter().any(|(p, s)| *p == retired && *s == survivor) {
            set.execute(params![retired, survivor])
                .map_err(StoreError::sqlite("recording merged records"))?;
        }
    }
    Ok(())
}

impl Store {
    /// The patient whose chart shows `patient_id`'s records: itself, unless it was merged.
    pub fn survivor_of(&self, patient_id: PatientId) -> Result<PatientId, StoreError> {
        let into: Option<Option<String>> = self
            .conn
            .prepare_cached("SELECT merged_into FROM patient WHERE patient_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_row([patient_id.to_string()], |row| row.get(0))
                    .optional()
            })
            .map_err(StoreError::sqlite("reading merged records"))?;
        Ok(into
            .flatten()
            .and_then(|p| p.parse().ok())
            .unwrap_or(patient_id))
    }

    /// The records merged into `survivor` (directly or through a chain), not itself.
    pub fn merged_into(&self, survivor: PatientId) -> Result<Vec<PatientId>, StoreError> {
        let rows: Vec<String> = self
            .conn
            .prepare_cached("SELECT patient_id FROM patient WHERE merged_into = ?1")
            .and_then(|mut stmt| {
                stmt.query_map([survivor.to_string()], |row| row.get(0))?
                    .collect()
            })
            .map_err(StoreError::sqlite("reading merged records"))?;
        Ok(rows.iter().filter_map(|p| p.parse().ok()).collect())
    }

    /// Every merge that names `patient_id` on either side, newest first, with its status.
    pub fn merges_of(&self, patient_id: PatientId) -> Result<Vec<MergeRecord>, StoreError> {
        let all = all_merges(&self.conn)?;
        let map = resolve_merges(&all.iter().map(|m| m.merge.clone()).collect::<Vec<_>>());
        let mut found: Vec<MergeRecord> = all
            .into_iter()
            .filter(|m| m.merge.survivor == patient_id || m.merge.retired == patient_id)
            .map(
                |StoredMerge {
                     merge,
                     reason,
                     made_by,
                     created,
                 }| MergeRecord {
                    status: map
                        .status
                        .get(&merge.merge_id)
                        .copied()
                        .unwrap_or(MergeStatus::Undone),
                    made_on: time_from_text(&created).unwrap_or_default(),
                    merge,
                    reason,
                    made_by,
                },
            )
            .collect();
        found.sort_by(|a, b| b.merge.made_at.cmp(&a.merge.made_at));
        Ok(found)
    }

    /// Merges `retired` into `survivor`: from now on `survivor`'s chart shows both records, and
    /// `retired` leaves the list (its number still finds the survivor). Nothing moves, so
    /// [`Store::undo_merge`] puts everything back.
    pub fn merge_patients(
        &mut self,
        survivor: PatientId,
        retired: PatientId,
        reason: &str,
        made_by: &str,
    ) -> Result<PatientMerge, StoreError> {
        let refuse = |why| Err(StoreError::MergeRefused(why));
        if survivor == retired {
            return refuse(MergeRefusal::SameRecord);
        }
        for side in [survivor, retired] {
            let voided: Option<bool> = self
                .conn
                .prepare_cached("SELECT voided FROM patient WHERE patient_id = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row([side.to_string()], |row| row.get(0))
                        .optional()
                })
                .map_err(StoreError::sqlite("reading a patient"))?;
            match voided {
                None => {
                    return Err(StoreError::NotFound {
                        what: "patient",
                        id: side.to_string(),
                    });
                }
                Some(true) => return refuse(MergeRefusal::Voided),
                Some(false) => {}
            }
            if self.survivor_of(side)? != side {
                return refuse(MergeRefusal::AlreadyMerged);
            }
        }
        let merge_id = PatientMergeId::new();
        let mut writer = self.writer()?;
        let made_at = writer.stamp();
        let mut fields = Fields::new();
        fields.insert("patient_id".into(), json!(survivor.to_string()));
        fields.insert("retired_id".into(), json!(retired.to_string()));
        fields.insert("made_at".into(), json!(made_at.to_string()));
        fields.insert("reason".into(), json!(reason.trim()));
        fields.insert("made_by".into(), json!(made_by));
        writer.insert(EntityKind::PatientMerge, merge_id.0, fields, &[])?;
        refresh_merged_into(writer.tx())?;
        writer.commit()?;
        Ok(PatientMerge {
            merge_id,
            retired,
            survivor,
            made_at,
            undone: false,
        })
    }

    /// Undoes a merge: each record shows where it was written again, including what was added
    /// to either since.
    pub fn undo_merge(&mut self, merge_id: PatientMergeId) -> Result<PatientMerge, StoreError> {
        let Some(StoredMerge { mut merge, .. }) = all_merges(&self.conn)?
            .into_iter()
            .find(|m| m.merge.merge_id == merge_id)
        else {
            return Err(StoreError::NotFound {
                what: "merge",
                id: merge_id.to_string(),
            });
        };
        if merge.undone {
            return Err(StoreError::MergeRefused(MergeRefusal::AlreadyUndone));
        }
        let mut writer = self.writer()?;
        writer.update(
            EntityKind::PatientMerge,
            merge_id.0,
            &Fields::from_iter([("undone".to_owned(), json!(false))]),
            Fields::from_iter([("undone".to_owned(), json!(true))]),
            &[],
        )?;
        refresh_merged_into(writer.tx())?;
        writer.commit()?;
        merge.undone = true;
        Ok(merge)
    }
}

/// How many records of each kind were written to one patient (not counting records merged into
/// it): what a merge dialog says will show together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordCounts {
    /// Visits, voided ones left out.
    pub visits: i64,
    /// Allergies.
    pub allergies: i64,
    /// Problem-list entries.
    pub problems: i64,
    /// Images, removed ones left out.
    pub images: i64,
}

impl RecordCounts {
    /// In words: "3 visits, 1 allergy, no problems, 2 images".
    pub fn describe(&self) -> String {
        let part = |n: i64, one: &str, many: &str| match n {
            0 => format!("no {many}"),
            1 => format!("1 {one}"),
            n => format!("{n} {many}"),
        };
        [
            part(self.visits, "visit", "visits"),
            part(self.allergies, "allergy", "allergies"),
            part(self.problems, "problem", "problems"),
            part(self.images, "image", "images"),
        ]
        .join(", ")
    }
}

impl Store {
    /// What was written to `patient_id` itself (see [`RecordCounts`]).
    pub fn record_counts(&self, patient_id: PatientId) -> Result<RecordCounts, StoreError> {
        let count = |sql: &str| -> Result<i64, StoreError> {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut stmt| stmt.query_row([patient_id.to_string()], |row| row.get(0)))
                .map_err(StoreError::sqlite("counting a patient's records"))
        };
        Ok(RecordCounts {
            visits: count(
                "SELECT count(*) FROM encounter WHERE patient_id = ?1 AND status <> 'voided'",
            )?,
            allergies: count("SELECT count(*) FROM allergy WHERE patient_id = ?1")?,
            problems: count("SELECT count(*) FROM problem WHERE patient_id = ?1")?,
            images: count("SELECT count(*) FROM attachment WHERE patient_id = ?1 AND removed = 0")?,
        })
    }
}
