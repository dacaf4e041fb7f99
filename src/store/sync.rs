//! The store's side of sync: the outbox of local changes waiting for the server, the record of
//! what the server said about each, and the merge of changes pulled from other clinics.
//!
//! Every change this workstation knows — written here or pulled — is kept in `change_log`. The
//! value of a field is a pure function of those changes (`model::merge`), so every replica that
//! has seen the same changes shows the same record, whatever order they arrived in:
//! - a change *supersedes* the values its writer saw; the changes no other change supersedes are
//!   the field's *heads*;
//! - the head with the highest clock stamp is the value shown (ties cannot happen: stamps carry
//!   the node id);
//! - other heads with a different value are conflicts, kept for a person to resolve; resolving
//!   writes a change that supersedes every head;
//! - a signed visit is immutable: a change to its clinical fields stamped after the signing is
//!   not applied, and becomes a conflict that offers an amendment instead.

use super::write::{
    Fields, entity_changes, insert_row, parse_object, sql_value, table_of, update_row,
};
use super::{Store, StoreError, meta_get, meta_set, time_text};
use crate::model::merge::{EntityWrite, merge_entity};
use crate::model::{ChangeId, ChangeRecord, ClinicId, EntityKind, HlcStamp, Patient, PatientId};
use chrono::Utc;
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// What the server said about one pushed change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored (now or before) under this server sequence number.
    Stored {
        /// The server's sequence number.
        server_seq: u64,
    },
    /// Not stored; kept here and shown with the reason.
    Refused {
        /// Why, in the server's words.
        reason: String,
    },
    /// Held by the server until its clock reaches the change's stamp.
    Quarantined {
        /// Why, in the server's words.
        reason: String,
    },
}

/// A change the server refused or holds back, for the user to see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldChange {
    /// Which change.
    pub change_id: ChangeId,
    /// What kind of record.
    pub entity: EntityKind,
    /// Which record.
    pub entity_id: Uuid,
    /// "refused" or "quarantined".
    pub state: String,
    /// The server's reason.
    pub reason: String,
}

/// Why two values of one field are waiting for a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    /// Two workstations changed the field without seeing each other's change.
    Concurrent,
    /// The field of a signed visit was changed after the signing: offer an amendment.
    SignedVisit,
}

/// A value that lost, waiting for a person.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// What kind of record.
    pub entity: EntityKind,
    /// Which record.
    pub entity_id: Uuid,
    /// Which field.
    pub field: String,
    /// Why it is a conflict.
    pub kind: ConflictKind,
    /// The value shown now, and its stamp.
    pub kept_value: Value,
    /// Stamp of the shown value.
    pub kept_hlc: HlcStamp,
    /// The value that lost, and its stamp.
    pub other_value: Value,
    /// Stamp of the value that lost (who and when).
    pub other_hlc: HlcStamp,
    /// The clinic that wrote the value that lost.
    pub other_clinic: String,
}

/// What one pull page did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Changes new to this workstation.
    pub applied: usize,
    /// Changes already known (this workstation's own, or seen before).
    pub known: usize,
    /// Changes that could not be read; kept and reported.
    pub invalid: usize,
    /// Records whose changes wait for another record (retried on the next pull).
    pub unapplied: usize,
}

fn change_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<ChangeRecord>> {
    let change_id: String = row.get(0)?;
    let entity: String = row.get(1)?;
    let entity_id: String = row.get(2)?;
    let fields: String = row.get(3)?;
    let hlc: String = row.get(4)?;
    let clinic: String = row.get(5)?;
    let supersedes: String = row.get(6)?;
    let supersedes = parse_object(&supersedes)
        .into_iter()
        .map(|(field, stamps)| {
            let stamps = stamps
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|s| s.as_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            (field, stamps)
        })
        .collect();
    Ok((|| {
        Some(ChangeRecord {
            change_id: change_id.parse().ok()?,
            entity: entity.parse().ok()?,
            entity_id: entity_id.parse().ok()?,
            fields: parse_object(&fields),
            hlc: hlc.parse().ok()?,
            clinic_id: clinic.parse().ok()?,
            supersedes,
        })
    })())
}

/// Re-merges one entity from every change known for it and writes the result: the row, the field
/// heads and the open conflicts.
fn refold_entity(
    tx: &Transaction<'_>,
    kind: EntityKind,
    entity_id: &str,
) -> Result<(), StoreError> {
    let mut last_visits = LastVisits::new();
    refold_into(tx, kind, entity_id, &mut last_visits)?;
    raise_last_visits(tx, &last_visits)
}

/// [`refold_entity`], a new visit raising its patient's last visit in `last_visits`.
fn refold_into(
    tx: &Transaction<'_>,
    kind: EntityKind,
    entity_id: &str,
    last_visits: &mut LastVisits,
) -> Result<(), StoreError> {
    let merged = merge_entity(kind, &entity_changes(tx, kind, entity_id)?);
    let (table, id_column) = table_of(kind);
    let exists: bool = tx
        .prepare_cached(&format!(
            "SELECT count(*) FROM {table} WHERE {id_column} = ?1"
        ))
        .and_then(|mut stmt| stmt.query_row([entity_id], |row| row.get::<_, i64>(0)))
        .map(|n| n > 0)
        .map_err(StoreError::sqlite("merging changes"))?;
    write_merged(tx, kind, entity_id, &merged, exists, None, last_visits)?;
    if exists {
        // A record new to this workstation has no heads or conflicts to replace.
        exec(
            tx,
            "DELETE FROM sync_conflict WHERE entity = ?1 AND entity_id = ?2",
            params![kind.as_str(), entity_id],
        )
        .map_err(StoreError::sqlite("merging changes"))?;
    }
    let mut conflict = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO sync_conflict (entity, entity_id, field, kind, kept_hlc,
                 kept_value, other_hlc, other_value, other_clinic)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(StoreError::sqlite("merging changes"))?;
    for (field, merge) in &merged.fields {
        for (stamp, value, clinic) in &merge.losers {
            conflict
                .execute(params![
                    kind.as_str(),
                    entity_id,
                    field,
                    "concurrent",
                    merge.winner.0.to_string(),
                    merge.winner.1.to_string(),
                    stamp.to_string(),
                    value.to_string(),
                    clinic,
                ])
                .map_err(StoreError::sqlite("merging changes"))?;
        }
    }
    for (field, stamp, value, clinic) in &merged.after_signing {
        let kept = merged.fields.get(field);
        let kept_value = kept.map(|m| m.winner.1.clone()).unwrap_or(Value::Null);
        if kept_value == *value {
            continue;
        }
        conflict
            .execute(params![
                kind.as_str(),
                entity_id,
                field,
                "signed_visit",
                // A field never written before the signing was fixed, empty, by the signing.
                kept.map(|m| &m.winner.0)
                    .or(merged.signing_stamp.as_ref())
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                kept_value.to_string(),
                stamp.to_string(),
                value.to_string(),
                clinic,
            ])
            .map_err(StoreError::sqlite("merging changes"))?;
    }
    Ok(())
}

/// What logging a pulled change found.
enum Logged {
    /// New here, and readable.
    New,
    /// New here, and unreadable: kept as 'invalid', reported and never applied.
    Unreadable,
    /// Known already: this workstation's own change coming back, or a repeat. Its server number
    /// is recorded.
    Known,
}

/// Stores one pulled change in the log.
fn log_remote(
    tx: &Transaction<'_>,
    server_seq: u64,
    change: &ChangeRecord,
) -> Result<Logged, StoreError> {
    let seq = i64::try_from(server_seq).ok();
    let valid = change.check_fields();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO change_log (change_id, entity, entity_id, fields, hlc, clinic_id,
                 supersedes, origin, server_seq, push_state, push_note)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'remote', ?8, ?9, ?10)
             ON CONFLICT (change_id) DO NOTHING",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                change.change_id.to_string(),
                change.entity.as_str(),
                change.entity_id.hyphenated().to_string(),
                Value::Object(change.fields.clone()).to_string(),
                change.hlc.to_string(),
                change.clinic_id.to_string(),
                serde_json::to_string(&change.supersedes).unwrap_or_else(|_| "{}".into()),
                seq,
                if valid.is_ok() { "remote" } else { "invalid" },
                valid.as_ref().err().cloned().unwrap_or_default(),
            ])
        })
        .map_err(StoreError::sqlite("applying pulled changes"))?;
    if inserted == 0 {
        exec(
            tx,
            "UPDATE change_log SET server_seq = coalesce(server_seq, ?2),
                 push_state = CASE WHEN push_state IN ('pending', 'quarantined')
                                   THEN 'sent' ELSE push_state END
             WHERE change_id = ?1 AND (server_seq IS NULL OR push_state <> 'sent')",
            params![change.change_id.to_string(), seq],
        )
        .map_err(StoreError::sqlite("applying pulled changes"))?;
        return Ok(Logged::Known);
    }
    Ok(if valid.is_ok() {
        Logged::New
    } else {
        Logged::Unreadable
    })
}

/// The records of a page that are new here and whole in it: every change readable, no row, no
/// change logged, not waiting for another record. Each with the indices of its changes.
fn fresh_records(
    tx: &Transaction<'_>,
    changes: &[(u64, ChangeRecord)],
) -> Result<BTreeMap<(EntityKind, String), Vec<usize>>, StoreError> {
    let mut by_record: BTreeMap<(EntityKind, String), Vec<usize>> = BTreeMap::new();
    let mut unreadable = BTreeSet::new();
    for (i, (_, change)) in changes.iter().enumerate() {
        if !super::compact::compactable(change.entity) {
            continue;
        }
        let key = (change.entity, change.entity_id.hyphenated().to_string());
        if change.check_fields().is_err() {
            unreadable.insert(key.clone());
        }
        by_record.entry(key).or_default().push(i);
    }
    let mut fresh = BTreeMap::new();
    for (key, indices) in by_record {
        if unreadable.contains(&key) {
            continue;
        }
        let (kind, entity_id) = &key;
        let (table, id_column) = table_of(*kind);
        let known: bool = tx
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM {table} WHERE {id_column} = ?2)
                     OR EXISTS (SELECT 1 FROM change_log WHERE entity = ?1 AND entity_id = ?2)"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(params![kind.as_str(), entity_id], |row| row.get(0))
            })
            .map_err(StoreError::sqlite("applying pulled changes"))?;
        if !known {
            fresh.insert(key, indices);
        }
    }
    Ok(fresh)
}

/// A pulled change as the merge reads it.
fn entity_write(change: &ChangeRecord) -> EntityWrite {
    EntityWrite {
        hlc: change.hlc.clone(),
        fields: change.fields.clone(),
        clinic: change.clinic_id.to_string(),
        supersedes: change
            .supersedes
            .iter()
            .map(|(field, stamps)| {
                let stamps: Vec<Value> =
                    stamps.iter().map(|s| Value::from(s.to_string())).collect();
                (field.clone(), Value::from(stamps))
            })
            .collect(),
    }
}

/// Writes a record new here, whose every change is `writes`, straight in compacted form: its row
/// with the history the merge still needs, and no change logged. `false` when it must take the
/// ordinary path: it is not settled (a conflict, a change after a signing), or its row cannot be
/// written yet (its patient has not arrived); nothing was written then.
fn write_new_settled(
    tx: &Transaction<'_>,
    kind: EntityKind,
    entity_id: &str,
    writes: &[EntityWrite],
    names: &mut super::compact::NameTable<'_>,
    last_visits: &mut LastVisits,
) -> Result<bool, StoreError> {
    let merged = merge_entity(kind, writes);
    let row: Fields = kind
        .fields()
        .iter()
        .map(|(name, _)| {
            let value = match merged.fields.get(*name) {
                Some(merge) => merge.winner.1.clone(),
                None => kind.field_default(name),
            };
            ((*name).to_owned(), value)
        })
        .collect();
    let Some(state) = super::compact::settle(kind, writes, &row, names)? else {
        return Ok(false);
    };
    let state = serde_json::to_string(&state).map_err(|_| super::compact::corrupt())?;
    let winner = |field: &str| merged.fields.get(field).map(|m| &m.winner.1);
    Ok(insert_settled(
        tx,
        kind,
        entity_id,
        winner,
        &state,
        last_visits,
    ))
}

/// Writes a record's row as `merged` gives it (inserting it when it does not `exist`). See
/// [`write_row`].
fn write_merged(
    tx: &Transaction<'_>,
    kind: EntityKind,
    entity_id: &str,
    merged: &crate::model::merge::EntityMerge,
    exists: bool,
    state: Option<&str>,
    last_visits: &mut LastVisits,
) -> Result<(), StoreError> {
    let winner = |field: &str| merged.fields.get(field).map(|m| &m.winner.1);
    write_row(tx, kind, entity_id, winner, exists, state, last_visits)
}

/// The latest new visit of each patient in a page: their last visit, raised once at the end.
type LastVisits = BTreeMap<String, String>;

/// Writes a record's row with each field's value from `winner` (the default where it has none),
/// inserting it when it does not `exist`, with its compacted history `state` when it is written
/// straight in compacted form; a new visit raises its patient's last visit in `last_visits`.
fn write_row<'v>(
    tx: &Transaction<'_>,
    kind: EntityKind,
    entity_id: &str,
    winner: impl Fn(&str) -> Option<&'v Value>,
    exists: bool,
    state: Option<&str>,
    last_visits: &mut LastVisits,
) -> Result<(), StoreError> {
    let now = time_text(Utc::now());
    // Only known columns are ever written: the names come from the model's field lists. A field
    // no valid change writes holds its default.
    let mut columns: Vec<(&'static str, SqlValue)> = kind
        .fields()
        .iter()
        .filter_map(|(name, field_kind)| {
            let value = match winner(name) {
                Some(value) => sql_value(value),
                // A new row's ids come from its changes; without one it cannot be written.
                None if *field_kind == crate::model::FieldKind::Id => return None,
                None => sql_value(&kind.field_default(name)),
            };
            Some((*name, value))
        })
        .collect();
    let text_of = |field: &str| -> String {
        winner(field)
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    if kind == EntityKind::Patient && !columns.is_empty() {
        // The search and sort columns, written with the row rather than after it.
        let mut patient = Patient::blank(ClinicId(Uuid::nil()));
        patient.family_name = text_of("family_name");
        patient.given_name = text_of("given_name");
        patient.phone = text_of("phone");
        // What duplicates are looked for by, too.
        patient.other_script_name = text_of("other_script_name");
        patient.village = text_of("village");
        patient.national_id = text_of("national_id");
        patient.sex = crate::model::Sex::from_code(&text_of("sex"));
        patient.birth = text_of("birth_date")
            .parse()
            .ok()
            .map(|date| crate::model::DateOfBirth {
                date,
                estimated: winner("birth_estimated")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
            });
        columns.extend(super::patients::patient_derived(&patient));
    }
    if let Some(state) = state {
        columns.push(("merge_state", SqlValue::Text(state.to_owned())));
    }
    if exists {
        update_row(tx, kind, entity_id, &columns)?;
    } else if !columns.is_empty() {
        insert_row(tx, kind, entity_id, &columns, &now)?;
    }
    if kind == EntityKind::Encounter {
        let started_at = text_of("started_at");
        if exists || text_of("status") == "voided" || started_at.is_empty() {
            refresh_last_visit(tx, entity_id)?;
        } else {
            // A new visit can only make the last visit later.
            let latest = last_visits.entry(text_of("patient_id")).or_default();
            if *latest < started_at {
                *latest = started_at;
            }
        }
    }
    Ok(())
}

/// Raises each patient's last visit to their latest new visit of the page.
fn raise_last_visits(tx: &Transaction<'_>, last_visits: &LastVisits) -> Result<(), StoreError> {
    for (patient_id, started_at) in last_visits {
        exec(
            tx,
            "UPDATE patient SET last_visit_at = ?2
             WHERE patient_id = ?1 AND (last_visit_at IS NULL OR last_visit_at < ?2)",
            params![patient_id, started_at],
        )
        .map_err(StoreError::sqlite("updating the last visit"))?;
    }
    Ok(())
}

/// Writes a record new here whose changes supersede nothing and write no field twice (most of a
/// first pull: one change, or a registration and a later field of its own): its row straight
/// from the changes, with the history the merge still needs. `false` when its row cannot be
/// written yet (its patient has not arrived); nothing was written then.
fn write_new_whole(
    tx: &Transaction<'_>,
    changes: &[&ChangeRecord],
    entity_id: &str,
    names: &mut super::compact::NameTable<'_>,
    last_visits: &mut LastVisits,
) -> Result<bool, StoreError> {
    let Some(kind) = changes.first().map(|c| c.entity) else {
        return Ok(false);
    };
    let Some(state) = super::compact::settle_disjoint(changes, names)? else {
        return Ok(false);
    };
    let winner = |field: &str| changes.iter().find_map(|c| c.fields.get(field));
    Ok(insert_settled(
        tx,
        kind,
        entity_id,
        winner,
        &state,
        last_visits,
    ))
}

/// Inserts a record new here with its compacted `state`; `false` when its row cannot be written
/// yet (its patient has not arrived). The insert is the statement that can fail, and a failed
/// statement changes nothing; the record's new visit counts only once it is written.
fn insert_settled<'v>(
    tx: &Transaction<'_>,
    kind: EntityKind,
    entity_id: &str,
    winner: impl Fn(&str) -> Option<&'v Value>,
    state: &str,
    last_visits: &mut LastVisits,
) -> bool {
    let mut visits = LastVisits::new();
    if write_row(tx, kind, entity_id, winner, false, Some(state), &mut visits).is_err() {
        return false;
    }
    raise_in(last_visits, visits);
    true
}

/// Whether a record's changes supersede nothing and no two write one field: each field then has
/// one value, its only writer's. A visit takes the merge whenever more than one change wrote it
/// (a change after its signing must not simply apply).
fn writes_each_field_once(changes: &[&ChangeRecord]) -> bool {
    let Some(first) = changes.first() else {
        return false;
    };
    if first.entity == EntityKind::Encounter && changes.len() > 1 {
        return false;
    }
    let mut seen = BTreeSet::new();
    changes.iter().all(|change| {
        change.supersedes.values().all(Vec::is_empty)
            && change
                .fields
                .keys()
                .all(|field| seen.insert(field.as_str()))
    })
}

/// Adds a record's new visits to the page's.
fn raise_in(last_visits: &mut LastVisits, visits: LastVisits) {
    for (patient_id, started_at) in visits {
        let latest = last_visits.entry(patient_id).or_default();
        if *latest < started_at {
            *latest = started_at;
        }
    }
}

/// Recomputes a patient's last visit from their visits, after a visit changed.
fn refresh_last_visit(tx: &Transaction<'_>, encounter_id: &str) -> Result<(), StoreError> {
    let patient: Option<String> = tx
        .prepare_cached("SELECT patient_id FROM encounter WHERE encounter_id = ?1")
        .and_then(|mut stmt| stmt.query_row([encounter_id], |row| row.get(0)).optional())
        .map_err(StoreError::sqlite("updating the last visit"))?;
    if let Some(patient_id) = patient.and_then(|p| p.parse::<PatientId>().ok()) {
        exec(
            tx,
            "UPDATE patient SET last_visit_at = (
                 SELECT max(started_at) FROM encounter
                 WHERE patient_id = ?1 AND status <> 'voided')
             WHERE patient_id = ?1",
            [patient_id.to_string()],
        )
        .map_err(StoreError::sqlite("updating the last visit"))?;
    }
    Ok(())
}

/// Runs a statement through the connection's statement cache: the merge runs the same few
/// statements for every record of a page.
fn exec(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

const CHANGE_COLUMNS: &str = "change_id, entity, entity_id, fields, hlc, clinic_id, supersedes";

impl Store {
    /// Local changes not yet stored by the server, oldest first.
    pub fn pending_changes(&self, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CHANGE_COLUMNS} FROM change_log INDEXED BY change_log_pending
                 WHERE push_state = 'pending'
                 ORDER BY change_seq LIMIT ?1"
            ))
            .map_err(StoreError::sqlite("reading the outbox"))?;
        let rows: Vec<Option<ChangeRecord>> = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], change_from_row)
            .and_then(Iterator::collect)
            .map_err(StoreError::sqlite("reading the outbox"))?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// Records what the server said about pushed changes, all in one transaction. A refused
    /// change stays in the log, marked, and no longer counts towards the record's value.
    pub fn record_push_outcomes(
        &mut self,
        outcomes: &[(ChangeId, PushOutcome)],
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("recording the server's answer"))?;
        let now = time_text(Utc::now());
        let mut refused_entities = BTreeSet::new();
        for (change_id, outcome) in outcomes {
            let (state, seq, note) = match outcome {
                PushOutcome::Stored { server_seq } => {
                    ("sent", i64::try_from(*server_seq).ok(), String::new())
                }
                PushOutcome::Refused { reason } => ("refused", None, reason.clone()),
                PushOutcome::Quarantined { reason } => ("quarantined", None, reason.clone()),
            };
            let entity: Option<(String, String)> = tx
                .prepare_cached(
                    "UPDATE change_log SET push_state = ?2, server_seq = coalesce(?3, server_seq),
                         push_note = ?4, acked_at = ?5
                     WHERE change_id = ?1 AND origin = 'local'
                     RETURNING entity, entity_id",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![change_id.to_string(), state, seq, note, now],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                })
                .map_err(StoreError::sqlite("recording the server's answer"))?;
            if let (Some(entity), "refused") = (entity, state) {
                refused_entities.insert(entity);
            }
        }
        for (entity, entity_id) in refused_entities {
            if let Ok(kind) = entity.parse::<EntityKind>() {
                refold_entity(&tx, kind, &entity_id)?;
            }
        }
        tx.commit()
            .map_err(StoreError::sqlite("recording the server's answer"))
    }

    /// Local changes the server refused or holds back, with its reasons.
    pub fn held_changes(&self) -> Result<Vec<HeldChange>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT change_id, entity, entity_id, push_state, push_note
                 FROM change_log INDEXED BY change_log_held
                 WHERE origin = 'local' AND push_state IN ('refused', 'quarantined')
                 ORDER BY change_seq",
            )
            .map_err(StoreError::sqlite("reading held changes"))?;
        let rows: Vec<(String, String, String, String, String)> = stmt
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .and_then(Iterator::collect)
            .map_err(StoreError::sqlite("reading held changes"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, entity, entity_id, state, reason)| {
                Some(HeldChange {
                    change_id: id.parse().ok()?,
                    entity: entity.parse().ok()?,
                    entity_id: entity_id.parse().ok()?,
                    state,
                    reason,
                })
            })
            .collect())
    }

    /// The last server sequence number applied here (0 before the first pull).
    pub fn sync_cursor(&self) -> Result<u64, StoreError> {
        Ok(meta_get(&self.conn, "sync.cursor")?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// Applies one page of pulled changes and moves the cursor to `cursor`, in one transaction:
    /// a cut line resumes from the last page applied, and nothing is applied twice.
    pub fn apply_remote_page(
        &mut self,
        changes: &[(u64, ChangeRecord)],
        cursor: u64,
    ) -> Result<ApplyReport, StoreError> {
        self.apply_remote(changes, Some(cursor))
    }

    /// Applies changes pulled out of order (a clinic's users, fetched before the first full
    /// pull), leaving the cursor where it is: the full pull brings them again, as known.
    pub fn apply_remote_out_of_order(
        &mut self,
        changes: &[(u64, ChangeRecord)],
    ) -> Result<ApplyReport, StoreError> {
        self.apply_remote(changes, None)
    }

    fn apply_remote(
        &mut self,
        changes: &[(u64, ChangeRecord)],
        cursor: Option<u64>,
    ) -> Result<ApplyReport, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("applying pulled changes"))?;
        let mut report = ApplyReport::default();
        let mut dirty: BTreeSet<(EntityKind, String)> = BTreeSet::new();
        let wall = Utc::now().timestamp_millis();
        // Records new here whose every change is in this page (a new workstation's first pull,
        // mostly) are written straight in compacted form, their changes never logged; the rest
        // take the ordinary path.
        let fresh = match cursor {
            Some(_) => fresh_records(&tx, changes)?,
            None => BTreeMap::new(),
        };
        for (server_seq, change) in changes {
            let entity_id = change.entity_id.hyphenated().to_string();
            if fresh.contains_key(&(change.entity, entity_id.clone())) {
                self.clock.observe(&change.hlc, wall);
                report.applied += 1;
                continue;
            }
            if change.check_fields().is_ok()
                && super::compact::state_knows(&tx, change.entity, &entity_id, &change.hlc)?
            {
                // Pulled before, and folded into its record since.
                report.known += 1;
                continue;
            }
            match log_remote(&tx, *server_seq, change)? {
                Logged::New => {
                    self.clock.observe(&change.hlc, wall);
                    dirty.insert((change.entity, entity_id));
                    report.applied += 1;
                }
                Logged::Unreadable => report.invalid += 1,
                Logged::Known => report.known += 1,
            }
        }
        // Records that waited for others are tried again with this page.
        let waiting: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare_cached("SELECT entity, entity_id FROM sync_unapplied")
                .map_err(StoreError::sqlite("applying pulled changes"))?;
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(StoreError::sqlite("applying pulled changes"))?
        };
        let mut was_waiting = BTreeSet::new();
        for (entity, entity_id) in waiting {
            if let Ok(kind) = entity.parse::<EntityKind>() {
                was_waiting.insert((kind, entity_id.clone()));
                dirty.insert((kind, entity_id));
            }
        }
        // Parents before children, so a record's references exist when it is written.
        let mut ordered: Vec<(EntityKind, String)> = dirty.into_iter().collect();
        ordered.extend(fresh.keys().cloned());
        ordered.sort_by_key(|(kind, _)| match kind {
            EntityKind::Patient | EntityKind::User | EntityKind::Letterhead => 0,
            EntityKind::Allergy
            | EntityKind::Problem
            | EntityKind::Encounter
            | EntityKind::QueueEntry
            | EntityKind::PatientMerge => 1,
            EntityKind::Amendment | EntityKind::Attachment => 2,
        });
        let mut names = super::compact::NameTable::new(&tx);
        // No savepoint per record: a record's first write is the statement that can fail (a
        // reference to a record not received yet), and a failed statement changes nothing. A
        // savepoint would also make the search index flush at every record.
        let mut last_visits = LastVisits::new();
        for (kind, entity_id) in ordered {
            if let Some(indices) = fresh.get(&(kind, entity_id.clone())) {
                let whole: Vec<&ChangeRecord> = indices.iter().map(|i| &changes[*i].1).collect();
                let written = if writes_each_field_once(&whole) {
                    write_new_whole(&tx, &whole, &entity_id, &mut names, &mut last_visits)?
                } else {
                    let writes: Vec<EntityWrite> = indices
                        .iter()
                        .map(|i| entity_write(&changes[*i].1))
                        .collect();
                    write_new_settled(&tx, kind, &entity_id, &writes, &mut names, &mut last_visits)?
                };
                if written {
                    continue;
                }
                // Not settled, or waiting for another record: logged, and merged as any other.
                for i in indices {
                    log_remote(&tx, changes[*i].0, &changes[*i].1)?;
                }
            }
            match refold_into(&tx, kind, &entity_id, &mut last_visits) {
                Ok(()) => {
                    if was_waiting.contains(&(kind, entity_id.clone())) {
                        exec(
                            &tx,
                            "DELETE FROM sync_unapplied WHERE entity = ?1 AND entity_id = ?2",
                            params![kind.as_str(), entity_id],
                        )
                        .map_err(StoreError::sqlite("applying pulled changes"))?;
                    }
                }
                Err(error) => {
                    tracing::warn!(entity = kind.as_str(), %entity_id, %error, "a pulled record waits for another");
                    exec(
                        &tx,
                        "INSERT OR REPLACE INTO sync_unapplied (entity, entity_id, reason)
                         VALUES (?1, ?2, ?3)",
                        params![kind.as_str(), entity_id, error.to_string()],
                    )
                    .map_err(StoreError::sqlite("applying pulled changes"))?;
                    report.unapplied += 1;
                }
            }
        }
        drop(names);
        raise_last_visits(&tx, &last_visits)?;
        if changes
            .iter()
            .any(|(_, c)| c.entity == EntityKind::PatientMerge)
        {
            super::merges::refresh_merged_into(&tx)?;
        }
        if let Some(cursor) = cursor {
            meta_set(&tx, "sync.cursor", &cursor.to_string())?;
        }
        meta_set(&tx, "hlc_last", &self.clock.last_stamp().to_string())?;
        tx.commit()
            .map_err(StoreError::sqlite("applying pulled changes"))?;
        if changes.iter().any(|(_, c)| c.entity == EntityKind::User) {
            // A user added, changed or disabled elsewhere: the key file follows.
            self.write_keyring()?;
        }
        Ok(report)
    }

    /// Conflicts waiting for a decision, newest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT entity, entity_id, field, kind, kept_hlc, kept_value, other_hlc,
                        other_value, other_clinic
                 FROM sync_conflict c
                 WHERE NOT EXISTS (
                     SELECT 1 FROM sync_settled s
                     WHERE s.entity = c.entity AND s.entity_id = c.entity_id
                       AND s.field = c.field AND s.other_hlc = c.other_hlc)
                 ORDER BY other_hlc DESC",
            )
            .map_err(StoreError::sqlite("reading conflicts"))?;
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = stmt
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                ))
            })
            .and_then(Iterator::collect)
            .map_err(StoreError::sqlite("reading conflicts"))?;
        Ok(rows
            .into_iter()
            .filter_map(
                |(entity, id, field, kind, kept_hlc, kept, other_hlc, other, clinic)| {
                    Some(Conflict {
                        entity: entity.parse().ok()?,
                        entity_id: id.parse().ok()?,
                        field,
                        kind: if kind == "signed_visit" {
                            ConflictKind::SignedVisit
                        } else {
                            ConflictKind::Concurrent
                        },
                        kept_value: serde_json::from_str(&kept).ok()?,
                        kept_hlc: kept_hlc.parse().ok()?,
                        other_value: serde_json::from_str(&other).ok()?,
                        other_hlc: other_hlc.parse().ok()?,
                        other_clinic: clinic,
                    })
                },
            )
            .collect())
    }

    /// Resolves a concurrent-edit conflict by writing `value` to the field as a change that
    /// supersedes every current value of it (keep mine, keep theirs, or an edited value).
    pub fn resolve_conflict(
        &mut self,
        conflict: &Conflict,
        value: Value,
    ) -> Result<(), StoreError> {
        if conflict.kind == ConflictKind::SignedVisit {
            return Err(StoreError::InvalidSetting(
                "A signed visit cannot change: add an amendment with the other value instead."
                    .into(),
            ));
        }
        let probe = ChangeRecord {
            change_id: ChangeId::new(),
            entity: conflict.entity,
            entity_id: conflict.entity_id,
            fields: Fields::from_iter([(conflict.field.clone(), value.clone())]),
            hlc: conflict.kept_hlc.clone(),
            clinic_id: self.workstation.clinic_id,
            supersedes: BTreeMap::new(),
        };
        probe.check_fields().map_err(StoreError::InvalidSetting)?;
        let entity_id = conflict.entity_id;
        let mut writer = self.writer()?;
        // The writer supersedes every head of the field, which closes the conflict everywhere.
        writer.write_fields(conflict.entity, entity_id, probe.fields)?;
        refold_entity(
            writer.tx(),
            conflict.entity,
            &entity_id.hyphenated().to_string(),
        )?;
        writer.commit()
    }

    /// Adds `amendment` to a signed visit and settles the conflict whose late value it carries,
    /// in one transaction: the signed visit stays as it was, the value is kept in the amendment.
    pub fn amend_from_conflict(
        &mut self,
        conflict: &Conflict,
        amendment: &crate::model::Amendment,
    ) -> Result<crate::model::Amendment, StoreError> {
        if conflict.kind != ConflictKind::SignedVisit
            || conflict.entity != EntityKind::Encounter
            || conflict.entity_id != amendment.encounter_id.0
        {
            return Err(StoreError::InvalidSetting(
                "Only a change that arrived after its visit was signed becomes an amendment."
                    .into(),
            ));
        }
        self.add_amendment_then(amendment, |tx| {
            exec(
                tx,
                "INSERT OR IGNORE INTO sync_settled (entity, entity_id, field, other_hlc, settled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    conflict.entity.as_str(),
                    conflict.entity_id.hyphenated().to_string(),
                    conflict.field,
                    conflict.other_hlc.to_string(),
                    time_text(Utc::now()),
                ],
            )
            .map(drop)
            .map_err(StoreError::sqlite("settling a conflict"))
        })
    }

    /// A sync setting (server address, device credential…).
    pub fn sync_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        meta_get(&self.conn, &format!("sync.{key}"))
    }

    /// Stores a sync setting.
    pub fn set_sync_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        meta_set(&self.conn, &format!("sync.{key}"), value)
    }

    /// Forgets a sync setting (a certificate of a server this workstation no longer uses).
    pub fn clear_sync_setting(&self, key: &str) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM meta WHERE key = ?1", [format!("sync.{key}")])
            .map(drop)
            .map_err(StoreError::sqlite("writing a setting"))
    }

    /// Joins the clinic the server enrolled this workstation in: records written here so far
    /// are re-labelled as that clinic's, so the server accepts them as this device's own.
    pub fn adopt_clinic(&mut self, clinic_id: ClinicId) -> Result<(), StoreError> {
        let old = self.workstation.clinic_id;
        if old == clinic_id {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("joining the clinic"))?;
        let (old_text, new_text) = (old.to_string(), clinic_id.to_string());
        let compacted: Vec<String> = tx
            .prepare(
                "SELECT patient_id FROM patient WHERE clinic_id = ?1 AND merge_state IS NOT NULL",
            )
            .and_then(|mut stmt| {
                stmt.query_map([&old_text], |row| row.get(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(StoreError::sqlite("joining the clinic"))?;
        for patient_id in compacted {
            super::compact::freeze(&tx, EntityKind::Patient, &patient_id)?;
        }
        exec(
            &tx,
            "UPDATE patient SET clinic_id = ?2 WHERE clinic_id = ?1",
            params![old_text, new_text],
        )
        .map_err(StoreError::sqlite("joining the clinic"))?;
        exec(
            &tx,
            "UPDATE change_log SET clinic_id = ?2,
                 fields = CASE WHEN json_extract(fields, '$.clinic_id') = ?1
                               THEN json_set(fields, '$.clinic_id', ?2) ELSE fields END
             WHERE origin = 'local' AND push_state = 'pending'",
            params![old_text, new_text],
        )
        .map_err(StoreError::sqlite("joining the clinic"))?;
        meta_set(&tx, "clinic_id", &new_text)?;
        tx.commit()
            .map_err(StoreError::sqlite("joining the clinic"))?;
        self.workstation.clinic_id = clinic_id;
        Ok(())
    }
}
