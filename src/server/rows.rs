//! Stored rows read back into the store's types, the same for every server store.

use super::store::{
    AccessEntry, AccessKind, Clinic, Device, NewServiceAccount, PatientHit, ServiceScope,
    StoreError,
};
use crate::model::{AuditEntry, ChangeRecord};
use crate::sync::wire::ChangeText;

/// A change read back from its stored text columns (the wire's text form): what was accepted
/// from the wire reads back the same.
pub(super) fn change_from_text(text: ChangeText) -> Result<ChangeRecord, String> {
    let label = text.change_id.clone();
    ChangeRecord::try_from(text).map_err(|e| format!("change {label}: {e}"))
}

/// Two pages of the same range, each in sequence order, as one: only up to the lower of their
/// last sequence numbers (beyond it either may have left out rows), and at most `max_count`.
pub(super) fn merge_pages(
    a: Vec<(u64, ChangeRecord)>,
    b: Vec<(u64, ChangeRecord)>,
    max_count: usize,
) -> Vec<(u64, ChangeRecord)> {
    let bound = match (a.last(), b.last()) {
        (Some((x, _)), Some((y, _))) => (*x).min(*y),
        (Some((x, _)), None) | (None, Some((x, _))) => *x,
        (None, None) => return Vec::new(),
    };
    let mut merged: Vec<(u64, ChangeRecord)> = a
        .into_iter()
        .chain(b)
        .filter(|(seq, _)| *seq <= bound)
        .collect();
    merged.sort_by_key(|(seq, _)| *seq);
    merged.truncate(max_count.max(1));
    merged
}

/// Which part of the log a page covers: `after_seq < seq <= up_to_seq`, at most `max_count`
/// changes and about `max_bytes` of change text.
#[derive(Clone, Copy)]
pub(super) struct PageRange {
    pub(super) after_seq: u64,
    pub(super) up_to_seq: u64,
    pub(super) max_count: usize,
    pub(super) max_bytes: usize,
}

impl PageRange {
    pub(super) fn new(after_seq: u64, up_to_seq: u64, max_count: usize, max_bytes: usize) -> Self {
        Self {
            after_seq,
            up_to_seq,
            max_count,
            max_bytes,
        }
    }
}

pub(super) fn seq_to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

pub(super) fn seq_from_sql(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

pub(super) fn clinic_from_parts(
    (id, name, created): (String, String, i64),
) -> Result<Clinic, StoreError> {
    Ok(Clinic {
        clinic_id: id.parse().map_err(|_| StoreError::Corrupt {
            what: "clinic".into(),
            reason: "the clinic id is not a UUID".into(),
        })?,
        name,
        created_at_millis: created,
    })
}

pub(super) type DeviceRow = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

pub(super) fn device_from_parts(
    (id, clinic, name, created, revoked, node_id, service): DeviceRow,
) -> Result<Device, StoreError> {
    let corrupt = |reason: &str| StoreError::Corrupt {
        what: format!("device {}", id.chars().take(40).collect::<String>()),
        reason: reason.to_owned(),
    };
    Ok(Device {
        device_id: id
            .parse()
            .map_err(|_| corrupt("the device id is not a UUID"))?,
        clinic_id: clinic
            .parse()
            .map_err(|_| corrupt("the clinic id is not a UUID"))?,
        name,
        created_at_millis: created,
        revoked_at_millis: revoked,
        node_id,
        service: match service {
            None => None,
            Some(code) => Some(
                ServiceScope::from_code(&code)
                    .ok_or_else(|| corrupt("the service account's scope is not known"))?,
            ),
        },
    })
}

/// The device a new service account is, as stored.
pub(super) fn service_device(account: &NewServiceAccount, now_millis: i64) -> Device {
    Device {
        device_id: account.device_id,
        clinic_id: account.clinic_id,
        name: account.name.clone(),
        created_at_millis: now_millis,
        revoked_at_millis: None,
        node_id: Some(account.node_id.clone()),
        service: Some(account.scope),
    }
}

pub(super) type AccessRow = (i64, String, String, String, String, String);

pub(super) fn access_from_row(
    (at, device, clinic, kind, patient, reason): AccessRow,
) -> Result<AccessEntry, StoreError> {
    let corrupt = |why: &str| StoreError::Corrupt {
        what: "access log entry".into(),
        reason: format!("the {why} cannot be read"),
    };
    Ok(AccessEntry {
        at_millis: at,
        device_id: device.parse().map_err(|_| corrupt("device id"))?,
        clinic_id: clinic.parse().map_err(|_| corrupt("clinic id"))?,
        kind: AccessKind::from_code(&kind).ok_or_else(|| corrupt("kind"))?,
        patient_id: patient.parse().map_err(|_| corrupt("patient id"))?,
        reason,
    })
}

pub(super) type DirectoryRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
    String,
    Option<String>,
    String,
);

pub(super) fn hit_from_row(
    (id, clinic, clinic_name, prefix, seq, family_name, given_name, birth, sex): DirectoryRow,
) -> Option<PatientHit> {
    Some(PatientHit {
        patient_id: id.parse().ok()?,
        clinic_id: clinic.parse().ok()?,
        clinic_name,
        number: match seq {
            Some(seq) if !prefix.is_empty() => format!("{prefix}-{seq:06}"),
            _ => String::new(),
        },
        family_name,
        given_name,
        birth_year: birth.and_then(|b| b.get(..4)?.parse().ok()),
        sex,
    })
}

/// An audit entry from its stored text columns.
pub(super) fn audit_from_text(row: &[String; 9]) -> Option<AuditEntry> {
    use crate::model::{AuditEvent, NodeId, hash_from_hex};
    let uuid = |text: &str| -> Option<Option<uuid::Uuid>> {
        if text.is_empty() {
            Some(None)
        } else {
            uuid::Uuid::parse_str(text).ok().map(Some)
        }
    };
    Some(AuditEntry {
        node_id: NodeId(row[0].clone()),
        seq: row[1].parse().ok()?,
        at: chrono::DateTime::parse_from_rfc3339(&row[2])
            .ok()?
            .with_timezone(&chrono::Utc),
        event: AuditEvent {
            user_id: uuid(&row[3])?.map(crate::model::UserId),
            action: row[4].parse().ok()?,
            patient_id: uuid(&row[5])?.map(crate::model::PatientId),
            record_id: uuid(&row[6])?,
        },
        prev_hash: hash_from_hex(&row[7])?,
        hash: hash_from_hex(&row[8])?,
    })
}
