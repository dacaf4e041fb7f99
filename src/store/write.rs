//! The one write path. Every entity is turned into a map of column → value; the writer inserts or
//! updates its row and appends the change record (only the fields that changed, stamped by the
//! hybrid logical clock) to the outbox, all inside the caller's transaction.

use super::{Store, StoreError, meta_get, meta_set, time_text};
use crate::model::HlcStamp;
use crate::model::merge::{EntityWrite, merge_entity};
use crate::model::{
    AuditAction, AuditEvent, ChangeId, ClinicId, EntityKind, HybridClock, NodeId, PatientId, UserId,
};
use chrono::{DateTime, Utc};
use rusqlite::Transaction;
use rusqlite::types::Value as SqlValue;
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

impl Store {
    /// Starts a write: an immediate transaction with the workstation's clock (corrected by the
    /// server's), its clinic and the signed-in user as the actor.
    pub(crate) fn writer(&mut self) -> Result<Writer<'_, '_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("starting a transaction"))?;
        // The workstation's clock, corrected by what the server's clock said at the last sync, so
        // a computer whose date is wrong still stamps and dates its writes sensibly.
        let offset = meta_get(&tx, "clock_offset_millis")?
            .and_then(|o| o.parse::<i64>().ok())
            .unwrap_or(0);
        let millis = Utc::now().timestamp_millis().saturating_add(offset);
        Ok(Writer::new(
            tx,
            &mut self.clock,
            self.workstation.clinic_id,
            // Stored times have millisecond precision; use the same in memory.
            DateTime::from_timestamp_millis(millis).unwrap_or_default(),
            Actor {
                user_id: self.actor,
                node_id: self.workstation.node_id.clone(),
            },
        ))
    }
}

/// Column name → value, as stored and as carried in change records.
pub(crate) type Fields = serde_json::Map<String, Value>;

/// The table and id column that hold each kind of entity.
pub(crate) fn table_of(kind: EntityKind) -> (&'static str, &'static str) {
    match kind {
        EntityKind::Patient => ("patient", "patient_id"),
        EntityKind::Allergy => ("allergy", "allergy_id"),
        EntityKind::Problem => ("problem", "problem_id"),
        EntityKind::Encounter => ("encounter", "encounter_id"),
        EntityKind::Amendment => ("amendment", "amendment_id"),
        EntityKind::Attachment => ("attachment", "attachment_id"),
        EntityKind::User => ("user_account", "user_id"),
        EntityKind::Letterhead => ("letterhead", "letterhead_id"),
        EntityKind::QueueEntry => ("queue_entry", "queue_entry_id"),
        EntityKind::PatientMerge => ("patient_merge", "patient_merge_id"),
    }
}

/// Converts a field value to what SQLite stores: text, integer, real, or JSON text for lists.
pub(crate) fn sql_value(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => SqlValue::Text(value.to_string()),
    }
}

/// True for the values a new row holds when a field is not given.
/// Inserts a row of `kind`: its id, `columns`, and `now` as its creation and update time. The
/// one place a synced record's row is inserted (by the writer, and by the merge of pulled
/// changes).
pub(crate) fn insert_row(
    conn: &rusqlite::Connection,
    kind: EntityKind,
    entity_id: &str,
    columns: &[(&str, SqlValue)],
    now: &str,
) -> Result<(), StoreError> {
    let (table, id_column) = table_of(kind);
    let mut names = vec![id_column];
    let mut values = vec![SqlValue::Text(entity_id.to_owned())];
    for (column, value) in columns {
        names.push(column);
        values.push(value.clone());
    }
    names.extend(["created_at", "updated_at"]);
    values.extend([
        SqlValue::Text(now.to_owned()),
        SqlValue::Text(now.to_owned()),
    ]);
    let placeholders = (1..=values.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({placeholders})",
        names.join(", ")
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(values)))
        .map(drop)
        .map_err(StoreError::sqlite("saving a record"))
}

/// Sets `columns` of the row of `kind` with `entity_id`; returns how many rows it touched (0: no
/// such row). The one place a synced record's row is updated.
pub(crate) fn update_row(
    conn: &rusqlite::Connection,
    kind: EntityKind,
    entity_id: &str,
    columns: &[(&str, SqlValue)],
) -> Result<usize, StoreError> {
    if columns.is_empty() {
        return Ok(0);
    }
    super::compact::freeze(conn, kind, entity_id)?;
    let (table, id_column) = table_of(kind);
    let mut sets = Vec::new();
    let mut values = Vec::new();
    for (column, value) in columns {
        values.push(value.clone());
        sets.push(format!("{column} = ?{}", values.len()));
    }
    values.push(SqlValue::Text(entity_id.to_owned()));
    let sql = format!(
        "UPDATE {table} SET {} WHERE {id_column} = ?{}",
        sets.join(", "),
        values.len()
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(values)))
        .map_err(StoreError::sqlite("saving changes"))
}

fn is_default(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        // Booleans are kept: their column defaults differ (an allergy starts active).
        Value::Number(_) | Value::Bool(_) => false,
    }
}

/// Who a unit of work is done for, and where: what its audit entries name.
#[derive(Clone, Debug)]
pub(crate) struct Actor {
    /// The signed-in user; `None` for work no person asked for here (demo data), which is not
    /// audited.
    pub(crate) user_id: Option<UserId>,
    /// This workstation.
    pub(crate) node_id: NodeId,
}

/// A unit of work: one user action, one transaction. Each record it writes is also an entry of
/// the audit trail, committed with it.
pub(crate) struct Writer<'conn, 'clock> {
    tx: Transaction<'conn>,
    clock: &'clock mut HybridClock,
    clinic_id: ClinicId,
    now: DateTime<Utc>,
    wrote_change: bool,
    actor: Actor,
    audit: Vec<AuditEvent>,
}

impl<'conn, 'clock> Writer<'conn, 'clock> {
    pub(crate) fn new(
        tx: Transaction<'conn>,
        clock: &'clock mut HybridClock,
        clinic_id: ClinicId,
        now: DateTime<Utc>,
        actor: Actor,
    ) -> Self {
        // Another connection (the sync thread) may have moved the clock on: start from the
        // latest stamp saved in the file.
        if let Ok(Some(saved)) = super::meta_get(&tx, "hlc_last")
            && let Ok(saved) = saved.parse::<crate::model::HlcStamp>()
            && saved > clock.last_stamp()
        {
            clock.observe(&saved, now.timestamp_millis());
        }
        Self {
            tx,
            clock,
            clinic_id,
            now,
            wrote_change: false,
            actor,
            audit: Vec::new(),
        }
    }

    /// The transaction, for reads and local bookkeeping inside the unit of work.
    pub(crate) fn tx(&self) -> &Transaction<'conn> {
        &self.tx
    }

    /// The time of this unit of work.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// A fresh stamp of the hybrid clock: later than every stamp this workstation has written or
    /// seen, so what it orders follows what the user saw.
    pub(crate) fn stamp(&mut self) -> crate::model::HlcStamp {
        self.clock.tick(self.now.timestamp_millis())
    }

    /// Inserts a new entity with `fields` (plus local `derived` columns, which are not synced).
    pub(crate) fn insert(
        &mut self,
        kind: EntityKind,
        entity_id: Uuid,
        fields: Fields,
        derived: &[(&'static str, SqlValue)],
    ) -> Result<(), StoreError> {
        let columns: Vec<(&str, SqlValue)> = fields
            .iter()
            .map(|(column, value)| (column.as_str(), sql_value(value)))
            .chain(
                derived
                    .iter()
                    .map(|(column, value)| (*column, value.clone())),
            )
            .collect();
        insert_row(
            &self.tx,
            kind,
            &entity_id.hyphenated().to_string(),
            &columns,
            &time_text(self.now),
        )?;
        // A new record's empty fields are the defaults every replica starts from: leave them out
        // of the change record.
        let fields: Fields = fields
            .into_iter()
            .filter(|(_, value)| !is_default(value))
            .collect();
        let action = match kind {
            EntityKind::Amendment => AuditAction::VisitAmended,
            EntityKind::User => AuditAction::UserCreated,
            EntityKind::Letterhead => AuditAction::SettingChanged,
            EntityKind::PatientMerge => AuditAction::PatientsMerged,
            _ => AuditAction::RecordCreated,
        };
        self.audit_write(action, kind, entity_id, &fields)?;
        self.append_change(kind, entity_id, fields)
    }

    /// Updates an entity from `old` to `new`, writing and recording only the fields that differ.
    /// Returns whether anything changed.
    pub(crate) fn update(
        &mut self,
        kind: EntityKind,
        entity_id: Uuid,
        old: &Fields,
        new: Fields,
        derived: &[(&'static str, SqlValue)],
    ) -> Result<bool, StoreError> {
        let changed: Fields = new
            .into_iter()
            .filter(|(column, value)| old.get(column) != Some(value))
            .collect();
        if changed.is_empty() {
            return Ok(false);
        }
        let now = time_text(self.now);
        let columns: Vec<(&str, SqlValue)> = changed
            .iter()
            .map(|(c, v)| (c.as_str(), sql_value(v)))
            .chain(derived.iter().map(|(c, v)| (*c, v.clone())))
            .chain([("updated_at", SqlValue::Text(now))])
            .collect();
        let entity = entity_id.hyphenated().to_string();
        if update_row(&self.tx, kind, &entity, &columns)? == 0 {
            return Err(StoreError::NotFound {
                what: table_of(kind).0,
                id: entity_id.to_string(),
            });
        }
        let status = changed.get("status").and_then(Value::as_str);
        let action = match (kind, status) {
            (EntityKind::Encounter, Some("signed")) => AuditAction::VisitSigned,
            (EntityKind::Encounter, _) if changed.contains_key("clinician") => {
                AuditAction::DraftTakenOver
            }
            (EntityKind::Encounter, Some("voided")) => AuditAction::VisitVoided,
            (EntityKind::User, _) if changed.contains_key("key_slot") => {
                if changed.get("must_change_password") == Some(&Value::Bool(true)) {
                    AuditAction::PasswordReset
                } else {
                    AuditAction::PasswordChanged
                }
            }
            (EntityKind::User, _) => AuditAction::UserChanged,
            (EntityKind::Letterhead, _) => AuditAction::SettingChanged,
            (EntityKind::PatientMerge, _) if changed.get("undone") == Some(&Value::Bool(true)) => {
                AuditAction::MergeUndone
            }
            _ => AuditAction::RecordChanged,
        };
        self.audit_write(action, kind, entity_id, &changed)?;
        self.append_change(kind, entity_id, changed)?;
        Ok(true)
    }

    /// Writes `fields` to an existing entity and records the change even when a value is the one
    /// already shown: used to settle a conflict, where the change's point is to supersede every
    /// current value of the field.
    pub(crate) fn write_fields(
        &mut self,
        kind: EntityKind,
        entity_id: Uuid,
        fields: Fields,
    ) -> Result<(), StoreError> {
        let (table, id_column) = table_of(kind);
        super::compact::freeze(&self.tx, kind, &entity_id.hyphenated().to_string())?;
        for (column, value) in &fields {
            if kind.field_kind(column).is_none() {
                return Err(StoreError::InvalidSetting(format!(
                    "{kind} has no field {column}"
                )));
            }
            self.tx
                .execute(
                    &format!(
                        "UPDATE {table} SET {column} = ?1, updated_at = ?2 WHERE {id_column} = ?3"
                    ),
                    rusqlite::params![
                        sql_value(value),
                        time_text(self.now),
                        entity_id.hyphenated().to_string()
                    ],
                )
                .map_err(StoreError::sqlite("saving changes"))?;
        }
        self.audit_write(AuditAction::RecordChanged, kind, entity_id, &fields)?;
        self.append_change(kind, entity_id, fields)
    }

    /// Queues the audit entry of a record write: the record, and the patient whose record it is.
    fn audit_write(
        &mut self,
        action: AuditAction,
        kind: EntityKind,
        entity_id: Uuid,
        fields: &Fields,
    ) -> Result<(), StoreError> {
        if self.actor.user_id.is_none() {
            return Ok(());
        }
        let patient_id = match kind {
            EntityKind::Patient => Some(PatientId(entity_id)),
            EntityKind::User | EntityKind::Letterhead => None,
            _ => match fields.get("patient_id").and_then(Value::as_str) {
                Some(text) => text.parse().ok(),
                None => super::audit::patient_of(&self.tx, kind, entity_id)?,
            },
        };
        let mut event = AuditEvent::new(action, self.actor.user_id).record(entity_id);
        event.patient_id = patient_id;
        self.audit.push(event);
        Ok(())
    }

    fn append_change(
        &mut self,
        kind: EntityKind,
        entity_id: Uuid,
        fields: Fields,
    ) -> Result<(), StoreError> {
        let stamp = self.clock.tick(self.now.timestamp_millis());
        let entity_text = entity_id.hyphenated().to_string();
        // What this write replaces: the current values (heads) of each field it writes. A write
        // that saw every value of a field also settles any conflict on it.
        let heads = current_heads(&self.tx, kind, &entity_text, fields.keys().cloned())?;
        let mut supersedes = serde_json::Map::new();
        {
            let mut settle = self
                .tx
                .prepare_cached(
                    "DELETE FROM sync_conflict WHERE entity = ?1 AND entity_id = ?2 AND field = ?3",
                )
                .map_err(StoreError::sqlite("settling conflicts"))?;
            for (field, stamps) in heads {
                settle
                    .execute(rusqlite::params![kind.as_str(), entity_text, field])
                    .map_err(StoreError::sqlite("settling conflicts"))?;
                let stamps: Vec<String> = stamps.iter().map(ToString::to_string).collect();
                supersedes.insert(field, Value::from(stamps));
            }
        }
        let fields_json = Value::Object(fields).to_string();
        self.tx
            .prepare_cached(
                "INSERT INTO change_log
                     (change_id, entity, entity_id, fields, hlc, clinic_id, supersedes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut stmt| {
                stmt.execute(rusqlite::params![
                    ChangeId::new().to_string(),
                    kind.as_str(),
                    entity_text,
                    fields_json,
                    stamp.to_string(),
                    self.clinic_id.to_string(),
                    Value::Object(supersedes).to_string(),
                ])
            })
            .map_err(StoreError::sqlite("recording the change for sync"))?;
        self.wrote_change = true;
        Ok(())
    }

    /// Commits the unit of work, with the clock's last stamp so it survives a restart and its
    /// audit entries.
    pub(crate) fn commit(self) -> Result<(), StoreError> {
        if self.wrote_change {
            let last = self.clock.last_stamp();
            meta_set(&self.tx, "hlc_last", &last.to_string())?;
        }
        for event in self.audit {
            super::audit::append(&self.tx, &self.actor.node_id, self.now, event)?;
        }
        self.tx
            .commit()
            .map_err(StoreError::sqlite("committing the transaction"))
    }
}

/// A JSON object stored as text (a change's fields or supersedes); empty if it is not one.
pub(super) fn parse_object(text: &str) -> Fields {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Fields::new(),
    }
}

/// Every change that counts towards an entity's value: those in the log, and those a compacted
/// record stands for.
pub(crate) fn entity_changes(
    conn: &rusqlite::Connection,
    kind: EntityKind,
    entity_id: &str,
) -> Result<Vec<EntityWrite>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT hlc, fields, clinic_id, supersedes FROM change_log
             WHERE entity = ?1 AND entity_id = ?2 AND push_state NOT IN ('refused', 'invalid')",
        )
        .map_err(StoreError::sqlite("merging changes"))?;
    let rows: Vec<(String, String, String, String)> = stmt
        .query_map(rusqlite::params![kind.as_str(), entity_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .and_then(Iterator::collect)
        .map_err(StoreError::sqlite("merging changes"))?;
    let mut writes = super::compact::settled_changes(conn, kind, entity_id)?;
    writes.extend(
        rows.into_iter()
            .filter_map(|(hlc, fields, clinic, supersedes)| {
                Some(EntityWrite {
                    hlc: hlc.parse().ok()?,
                    fields: parse_object(&fields),
                    clinic,
                    supersedes: parse_object(&supersedes),
                })
            }),
    );
    Ok(writes)
}

/// The stamps of the current values (the heads) of each of `fields` of an entity: what a new
/// write of those fields supersedes.
pub(super) fn current_heads(
    conn: &rusqlite::Connection,
    kind: EntityKind,
    entity_id: &str,
    fields: impl Iterator<Item = String>,
) -> Result<BTreeMap<String, Vec<HlcStamp>>, StoreError> {
    let merged = merge_entity(kind, &entity_changes(conn, kind, entity_id)?);
    Ok(fields
        .filter_map(|field| {
            let heads = merged.fields.get(&field)?.heads.clone();
            Some((field, heads))
        })
        .collect())
}
