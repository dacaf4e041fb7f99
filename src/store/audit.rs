//! The audit trail as stored: entries appended inside the transaction of what they record, each
//! workstation's numbered from 1 and chained by SHA-256 (`model::audit`), read back by patient,
//! user, action and date, and verified link by link.
//!
//! Appending reads the chain's head inside an immediate transaction, so two connections of one
//! workstation (the window and its import thread) never fork the chain.

use super::{Store, StoreError, time_from_text, time_text};
use crate::model::{
    AuditAction, AuditEntry, AuditEvent, CHAIN_START, ChainBreak, EntityKind, NodeId, PatientId,
    UserId, hash_from_hex, hex, verify_chain,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

/// Appends `event` to this workstation's chain, in the caller's transaction.
pub(crate) fn append(
    conn: &Connection,
    node_id: &NodeId,
    at: DateTime<Utc>,
    event: AuditEvent,
) -> Result<AuditEntry, StoreError> {
    let head: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM audit_log WHERE node_id = ?1 ORDER BY seq DESC LIMIT 1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([&node_id.0], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(StoreError::sqlite("reading the audit trail"))?;
    let (seq, prev_hash) = match head {
        None => (1, CHAIN_START),
        Some((seq, hash)) => (
            seq + 1,
            hash_from_hex(&hash).ok_or(StoreError::Corrupt {
                what: "the audit trail's last hash",
            })?,
        ),
    };
    let entry = AuditEntry::seal(node_id.clone(), seq, at, event, prev_hash);
    conn.prepare_cached(
        "INSERT INTO audit_log
             (node_id, seq, at, user_id, action, patient_id, record_id, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            entry.node_id.0,
            entry.seq,
            time_text(entry.at),
            entry.event.user_id.map(|u| u.to_string()),
            entry.event.action.code(),
            entry.event.patient_id.map(|p| p.to_string()),
            entry.event.record_id.map(|r| r.hyphenated().to_string()),
            hex(&entry.prev_hash),
            hex(&entry.hash),
        ])
    })
    .map_err(StoreError::sqlite("writing the audit trail"))?;
    Ok(entry)
}

/// The patient whose record `entity_id` is, read from its row (an amendment's through its visit).
pub(crate) fn patient_of(
    conn: &Connection,
    kind: EntityKind,
    entity_id: Uuid,
) -> Result<Option<PatientId>, StoreError> {
    let sql = match kind {
        EntityKind::Patient | EntityKind::User | EntityKind::Letterhead => return Ok(None),
        EntityKind::Allergy => "SELECT patient_id FROM allergy WHERE allergy_id = ?1",
        EntityKind::Problem => "SELECT patient_id FROM problem WHERE problem_id = ?1",
        EntityKind::QueueEntry => "SELECT patient_id FROM queue_entry WHERE queue_entry_id = ?1",
        EntityKind::Encounter => "SELECT patient_id FROM encounter WHERE encounter_id = ?1",
        EntityKind::Attachment => "SELECT patient_id FROM attachment WHERE attachment_id = ?1",
        EntityKind::PatientMerge => {
            "SELECT patient_id FROM patient_merge WHERE patient_merge_id = ?1"
        }
        EntityKind::Amendment => {
            "SELECT e.patient_id FROM amendment a JOIN encounter e USING (encounter_id)
             WHERE a.amendment_id = ?1"
        }
    };
    let text: Option<String> = conn
        .prepare_cached(sql)
        .and_then(|mut stmt| {
            stmt.query_row([entity_id.hyphenated().to_string()], |row| row.get(0))
                .optional()
        })
        .map_err(StoreError::sqlite("reading the audit trail"))?;
    Ok(text.and_then(|t| t.parse().ok()))
}

/// Which entries to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// About this patient.
    pub patient_id: Option<PatientId>,
    /// By this user.
    pub user_id: Option<UserId>,
    /// Of this kind.
    pub action: Option<AuditAction>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// At most this many, newest first (0: no limit).
    pub limit: usize,
}

/// What verifying the whole trail found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    /// Workstations whose chains were checked.
    pub workstations: usize,
    /// Entries checked.
    pub entries: u64,
}

const ENTRY_COLUMNS: &str =
    "node_id, seq, at, user_id, action, patient_id, record_id, prev_hash, hash";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Result<AuditEntry, StoreError>> {
    let node_id: String = row.get(0)?;
    let seq: i64 = row.get(1)?;
    let at: String = row.get(2)?;
    let user_id: Option<String> = row.get(3)?;
    let action: String = row.get(4)?;
    let patient_id: Option<String> = row.get(5)?;
    let record_id: Option<String> = row.get(6)?;
    let prev_hash: String = row.get(7)?;
    let hash: String = row.get(8)?;
    let corrupt = |what| StoreError::Corrupt { what };
    Ok((|| {
        Ok(AuditEntry {
            node_id: NodeId(node_id),
            seq,
            at: time_from_text(&at).ok_or(corrupt("an audit entry's time"))?,
            event: AuditEvent {
                action: action
                    .parse()
                    .map_err(|_| corrupt("an audit entry's action"))?,
                user_id: user_id
                    .map(|u| u.parse())
                    .transpose()
                    .map_err(|_| corrupt("an audit entry's user"))?,
                patient_id: patient_id
                    .map(|p| p.parse())
                    .transpose()
                    .map_err(|_| corrupt("an audit entry's patient"))?,
                record_id: record_id
                    .map(|r| Uuid::parse_str(&r))
                    .transpose()
                    .map_err(|_| corrupt("an audit entry's record"))?,
            },
            prev_hash: hash_from_hex(&prev_hash).ok_or(corrupt("an audit entry's link"))?,
            hash: hash_from_hex(&hash).ok_or(corrupt("an audit entry's hash"))?,
        })
    })())
}

impl Store {
    /// Records an event that is not a record write (a sign-in, a chart opened), in its own
    /// transaction.
    pub fn record_audit(&mut self, event: AuditEvent) -> Result<AuditEntry, StoreError> {
        let node_id = self.workstation.node_id.clone();
        let writer = self.writer()?;
        let entry = append(writer.tx(), &node_id, writer.now(), event)?;
        writer.commit()?;
        Ok(entry)
    }

    /// This workstation's entries the server does not hold yet, in order.
    pub fn audit_unsent(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.query_entries(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM audit_log INDEXED BY audit_unsent
                 WHERE node_id = ?1 AND sent = 0 ORDER BY seq LIMIT ?2"
            ),
            params![
                self.workstation.node_id.0,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
        )
    }

    /// Marks this workstation's entries up to `through` as held by the server.
    pub fn mark_audit_sent(&self, through: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE audit_log SET sent = 1 WHERE node_id = ?1 AND seq <= ?2 AND sent = 0",
                params![self.workstation.node_id.0, through],
            )
            .map(drop)
            .map_err(StoreError::sqlite("recording the audit entries sent"))
    }

    /// Entries matching `filter`, newest first.
    pub fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM audit_log WHERE 1 = 1");
        let mut values: Vec<String> = Vec::new();
        let mut condition = |sql: &mut String, clause: &str, value: String| {
            values.push(value);
            sql.push_str(&format!(" AND {clause} ?{}", values.len()));
        };
        if let Some(patient_id) = filter.patient_id {
            condition(&mut sql, "patient_id =", patient_id.to_string());
        }
        if let Some(user_id) = filter.user_id {
            condition(&mut sql, "user_id =", user_id.to_string());
        }
        if let Some(action) = filter.action {
            condition(&mut sql, "action =", action.code().to_owned());
        }
        if let Some(from) = filter.from {
            condition(&mut sql, "at >=", time_text(from));
        }
        if let Some(until) = filter.until {
            condition(&mut sql, "at <", time_text(until));
        }
        sql.push_str(" ORDER BY at DESC, node_id, seq DESC");
        if filter.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", filter.limit));
        }
        self.query_entries(&sql, rusqlite::params_from_iter(values))
    }

    /// Every workstation's chain, in order: the trail as `verify` and `export` read it.
    pub fn audit_chains(&self) -> Result<Vec<AuditEntry>, StoreError> {
        self.query_entries(
            &format!("SELECT {ENTRY_COLUMNS} FROM audit_log ORDER BY node_id, seq"),
            [],
        )
    }

    /// Recomputes every workstation's chain; the first broken link is the error.
    pub fn verify_audit(&self) -> Result<Result<AuditReport, ChainBreak>, StoreError> {
        let entries = self.audit_chains()?;
        let mut report = AuditReport {
            workstations: 0,
            entries: 0,
        };
        for chain in entries.chunk_by(|a, b| a.node_id == b.node_id) {
            match verify_chain(chain) {
                Ok(count) => {
                    report.workstations += 1;
                    report.entries += count;
                }
                Err(broken) => return Ok(Err(broken)),
            }
        }
        Ok(Ok(report))
    }

    fn query_entries(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(sql)
            .map_err(StoreError::sqlite("reading the audit trail"))?;
        let rows = stmt
            .query_map(params, entry_from_row)
            .map_err(StoreError::sqlite("reading the audit trail"))?;
        let mut entries = Vec::new();
        for row in rows {
            entries.push(row.map_err(StoreError::sqlite("reading the audit trail"))??);
        }
        Ok(entries)
    }
}

/// Writes entries as CSV with a header row: workstation, number, time, user, action, patient,
/// record, and the two hashes (so a reader can check the chain).
pub fn write_audit_csv(
    entries: &[AuditEntry],
    out: &mut dyn std::io::Write,
) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "workstation",
        "seq",
        "at",
        "user_id",
        "action",
        "patient_id",
        "record_id",
        "prev_hash",
        "hash",
    ])?;
    for entry in entries {
        writer.write_record([
            entry.node_id.0.clone(),
            entry.seq.to_string(),
            time_text(entry.at),
            entry
                .event
                .user_id
                .map(|u| u.to_string())
                .unwrap_or_default(),
            entry.event.action.code().to_owned(),
            entry
                .event
                .patient_id
                .map(|p| p.to_string())
                .unwrap_or_default(),
            entry
                .event
                .record_id
                .map(|r| r.hyphenated().to_string())
                .unwrap_or_default(),
            hex(&entry.prev_hash),
            hex(&entry.hash),
        ])?;
    }
    writer.flush()?;
    Ok(())
}
