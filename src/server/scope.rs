//! Whose records are whose, in the SQLite store: which clinic may change a record, which clinics
//! may see it, and who each patient is for lookups from other clinics.
//!
//! Every record is placed once, at its first change: the clinic that wrote that change owns it
//! (only that clinic changes it later), and it belongs to a patient (a patient's allergies,
//! problems, visits, amendments and images) or, for a user, to no patient. A record is seen by the
//! clinic whose patient (or user) it is, and by clinics the patient was shared with.

use super::store::StoreError;
use crate::model::{ChangeRecord, EntityKind};
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::Value;

/// Where a change's record sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Placement {
    /// The patient whose record it is part of; `None` for users.
    pub(super) patient_id: Option<String>,
    /// The clinic whose patient (or user) it is.
    pub(super) scope_clinic: String,
}

/// Whether a clinic may see rows of `change_log` (or `blob_refs`): `?{n}` is the clinic's id.
pub(super) fn visible_to(n: usize) -> String {
    format!(
        "(scope_clinic = ?{n} OR patient_id IN
            (SELECT g.patient_id FROM patient_grants g WHERE g.clinic_id = ?{n}))"
    )
}

/// Whether `clinic_id` may see `patient_id`.
pub(super) fn may_see(
    conn: &rusqlite::Connection,
    clinic_id: &str,
    patient_id: &str,
) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM entities WHERE entity_id = ?2 AND entity = 'patient'
                                                  AND scope_clinic = ?1)
             OR EXISTS (SELECT 1 FROM patient_grants WHERE patient_id = ?2 AND clinic_id = ?1)",
    )
    .and_then(|mut stmt| stmt.query_row(params![clinic_id, patient_id], |row| row.get(0)))
    .map_err(StoreError::database("checking who may see a patient"))
}

fn text_field<'a>(change: &'a ChangeRecord, field: &str) -> Option<&'a str> {
    change.fields.get(field).and_then(Value::as_str)
}

/// Places a change: `Ok(Err(reason))` when the pushing clinic may not write it, which the
/// workstation is told. A record new to the server is registered here, so call this only for a
/// change that will be stored.
pub(super) fn place(
    tx: &Transaction<'_>,
    change: &ChangeRecord,
) -> Result<Result<Placement, String>, StoreError> {
    let context = "checking who may write a record";
    let entity_id = change.entity_id.hyphenated().to_string();
    let clinic = change.clinic_id.to_string();
    let known: Option<(String, String, Option<String>, String)> = tx
        .prepare_cached(
            "SELECT entity, owner_clinic, patient_id, scope_clinic FROM entities
             WHERE entity_id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([&entity_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()
        })
        .map_err(StoreError::database(context))?;
    if let Some((entity, owner, patient_id, scope_clinic)) = known {
        if entity != change.entity.as_str() {
            return Ok(Err(format!(
                "record {entity_id} is a {entity} on the server, not a {}",
                change.entity
            )));
        }
        if owner != clinic {
            return Ok(Err(format!(
                "this {} was written at another clinic, and only that clinic changes it; \
                 add to the patient's record here instead (a visit, an amendment)",
                change.entity
            )));
        }
        let parent = match change.entity {
            EntityKind::Allergy
            | EntityKind::Problem
            | EntityKind::Encounter
            | EntityKind::Attachment => text_field(change, "patient_id"),
            _ => None,
        };
        if let (Some(moved_to), Some(patient)) = (parent, patient_id.as_deref())
            && moved_to != patient
        {
            return Ok(Err(format!(
                "this {} belongs to another patient; a record cannot move between patients",
                change.entity
            )));
        }
        return Ok(Ok(Placement {
            patient_id,
            scope_clinic,
        }));
    }

    let placement = match change.entity {
        EntityKind::Patient => {
            if let Some(named) = text_field(change, "clinic_id")
                && named != clinic
            {
                return Ok(Err(
                    "a new patient must name the clinic that registers them".into(),
                ));
            }
            Placement {
                patient_id: Some(entity_id.clone()),
                scope_clinic: clinic.clone(),
            }
        }
        EntityKind::User => Placement {
            patient_id: None,
            scope_clinic: clinic.clone(),
        },
        EntityKind::Allergy
        | EntityKind::Problem
        | EntityKind::Encounter
        | EntityKind::Attachment => {
            let Some(patient) = text_field(change, "patient_id") else {
                return Ok(Err(format!(
                    "the first change of a new {} must name its patient",
                    change.entity
                )));
            };
            match parent_of(tx, "patient", patient)? {
                Some(scope_clinic) => {
                    if !may_see(tx, &clinic, patient)? {
                        return Ok(Err(format!(
                            "patient {patient} is not shared with this clinic: open them at the \
                             district server first, with a reason"
                        )));
                    }
                    Placement {
                        patient_id: Some(patient.to_owned()),
                        scope_clinic,
                    }
                }
                None => {
                    return Ok(Err(format!(
                        "patient {patient} is not on the server: their registration goes first"
                    )));
                }
            }
        }
        EntityKind::Amendment => {
            let Some(encounter) = text_field(change, "encounter_id") else {
                return Ok(Err(
                    "the first change of an amendment must name its visit".into()
                ));
            };
            let found: Option<(Option<String>, String)> = tx
                .prepare_cached(
                    "SELECT patient_id, scope_clinic FROM entities
                     WHERE entity_id = ?1 AND entity = 'encounter'",
                )
                .and_then(|mut stmt| {
                    stmt.query_row([encounter], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(StoreError::database(context))?;
            let Some((Some(patient), scope_clinic)) = found else {
                return Ok(Err(format!(
                    "visit {encounter} is not on the server: it goes before its amendments"
                )));
            };
            if !may_see(tx, &clinic, &patient)? {
                return Ok(Err(format!(
                    "the patient of visit {encounter} is not shared with this clinic"
                )));
            }
            Placement {
                patient_id: Some(patient),
                scope_clinic,
            }
        }
    };
    tx.prepare_cached(
        "INSERT INTO entities (entity_id, entity, owner_clinic, patient_id, scope_clinic)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            entity_id,
            change.entity.as_str(),
            clinic,
            placement.patient_id,
            placement.scope_clinic
        ])
    })
    .map_err(StoreError::database(context))?;
    Ok(Ok(placement))
}

/// The scope clinic of a record of `entity` with this id, if the server has it.
fn parent_of(tx: &Transaction<'_>, entity: &str, id: &str) -> Result<Option<String>, StoreError> {
    tx.prepare_cached("SELECT scope_clinic FROM entities WHERE entity_id = ?1 AND entity = ?2")
        .and_then(|mut stmt| stmt.query_row([id, entity], |row| row.get(0)).optional())
        .map_err(StoreError::database("checking who may write a record"))
}

/// What a stored change adds besides its row: who a patient is, and which blob a record refers
/// to.
pub(super) fn record_effects(
    tx: &Transaction<'_>,
    change: &ChangeRecord,
    placement: &Placement,
) -> Result<(), StoreError> {
    let context = "indexing a change";
    match change.entity {
        EntityKind::Patient => update_directory(tx, change),
        EntityKind::Attachment => {
            let (Some(sha256), Some(patient)) = (
                text_field(change, "blob_sha256"),
                placement.patient_id.as_deref(),
            ) else {
                return Ok(());
            };
            tx.prepare_cached(
                "INSERT OR IGNORE INTO blob_refs (sha256, patient_id, scope_clinic, writer_clinic)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    sha256,
                    patient,
                    placement.scope_clinic,
                    change.clinic_id.to_string()
                ])
            })
            .map(drop)
            .map_err(StoreError::database(context))
        }
        _ => Ok(()),
    }
}

/// Fields of the directory, each the last value pushed.
const DIRECTORY_FIELDS: &[&str] = &[
    "number_prefix",
    "number_seq",
    "family_name",
    "given_name",
    "birth_date",
    "national_id",
    "sex",
];

fn update_directory(tx: &Transaction<'_>, change: &ChangeRecord) -> Result<(), StoreError> {
    let context = "updating the patient directory";
    let patient = change.entity_id.hyphenated().to_string();
    tx.prepare_cached(
        "INSERT OR IGNORE INTO patient_directory (patient_id, clinic_id) VALUES (?1, ?2)",
    )
    .and_then(|mut stmt| stmt.execute(params![patient, change.clinic_id.to_string()]))
    .map_err(StoreError::database(context))?;
    // One statement for all the fields: a field the change does not write is NULL here and
    // keeps its value.
    let values: Vec<rusqlite::types::Value> = DIRECTORY_FIELDS
        .iter()
        .map(|field| match change.fields.get(*field) {
            Some(Value::String(text)) => rusqlite::types::Value::Text(text.clone()),
            Some(Value::Number(n)) => n.as_i64().map_or(
                rusqlite::types::Value::Null,
                rusqlite::types::Value::Integer,
            ),
            _ => rusqlite::types::Value::Null,
        })
        .collect();
    if values
        .iter()
        .all(|v| matches!(v, rusqlite::types::Value::Null))
    {
        return Ok(());
    }
    let sets: Vec<String> = DIRECTORY_FIELDS
        .iter()
        .enumerate()
        .map(|(i, field)| format!("{field} = coalesce(?{}, {field})", i + 2))
        .collect();
    // The names come from the fixed list above, never from the change.
    let sql = format!(
        "UPDATE patient_directory SET {} WHERE patient_id = ?1",
        sets.join(", ")
    );
    let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&patient];
    bound.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
    tx.prepare_cached(&sql)
        .and_then(|mut stmt| stmt.execute(bound.as_slice()))
        .map(drop)
        .map_err(StoreError::database(context))
}

/// Fills the directory from the patient changes already in the log (a server that kept its log
/// before the directory existed).
pub(super) fn fill_directory(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let context = "filling the patient directory";
    let changes: Vec<(String, String, String)> = tx
        .prepare(
            "SELECT entity_id, clinic_id, fields_json FROM change_log
             WHERE entity = 'patient' ORDER BY server_seq",
        )
        .and_then(|mut stmt| {
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        })
        .map_err(StoreError::database(context))?;
    for (entity_id, clinic_id, fields_json) in changes {
        let (Ok(entity_id), Ok(clinic_id), Ok(Value::Object(fields))) = (
            entity_id.parse(),
            clinic_id.parse(),
            serde_json::from_str::<Value>(&fields_json),
        ) else {
            continue;
        };
        let change = ChangeRecord {
            change_id: crate::model::ChangeId::new(),
            entity: EntityKind::Patient,
            entity_id,
            fields,
            hlc: crate::model::HlcStamp {
                millis: 0,
                counter: 0,
                node: crate::model::NodeId(String::new()),
            },
            clinic_id,
            supersedes: Default::default(),
        };
        update_directory(tx, &change)?;
    }
    Ok(())
}
