//! Whose records are whose, for every server store: which clinic may change a record, which
//! clinics may see it, and who each patient is for lookups from other clinics.
//!
//! Every record is placed once, at its first change: the clinic that wrote that change owns it
//! (only that clinic changes it later), and it belongs to a patient (a patient's allergies,
//! problems, visits, amendments and images) or, for a user, to no patient. A record is seen by the
//! clinic whose patient (or user) it is, and by clinics the patient was shared with.
//!
//! The rules are written once, over [`Records`]: what a store knows of the records and grants
//! inside the transaction that stores a push. SQLite answers each question with a query
//! ([`on_sqlite`]); PostgreSQL answers from what it fetched for the whole batch at once.

use super::store::StoreError;
use crate::model::{ChangeRecord, EntityKind};
use serde_json::Value;

/// Where a change's record sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Placement {
    /// The patient whose record it is part of; `None` for users.
    pub(super) patient_id: Option<String>,
    /// The clinic whose patient (or user) it is.
    pub(super) scope_clinic: String,
}

/// A record the server has placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct KnownEntity {
    /// Its kind (`patient`, `encounter`, …).
    pub(super) entity: String,
    /// The clinic that wrote its first change: the only one that changes it.
    pub(super) owner_clinic: String,
    /// The patient whose record it is part of; `None` for users.
    pub(super) patient_id: Option<String>,
    /// The clinic whose patient (or user) it is.
    pub(super) scope_clinic: String,
}

/// One value of the patient directory, as a change wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum DirectoryValue {
    /// A text field.
    Text(String),
    /// A number (the patient number's sequence).
    Integer(i64),
}

/// The directory fields a patient change writes, in the order of [`DIRECTORY_FIELDS`]; `None`
/// where the change leaves the field as it was.
pub(super) type DirectoryValues = [Option<DirectoryValue>; DIRECTORY_FIELDS.len()];

/// What the rules need to know of the store, inside the transaction that stores a push.
pub(super) trait Records {
    /// The record with this id, if the server has placed it.
    fn entity(&mut self, entity_id: &str) -> Result<Option<KnownEntity>, StoreError>;
    /// Whether the patient was shared with the clinic.
    fn granted(&mut self, clinic_id: &str, patient_id: &str) -> Result<bool, StoreError>;
    /// Places a record new to the server.
    fn add_entity(&mut self, entity_id: &str, known: KnownEntity) -> Result<(), StoreError>;
    /// Records that a record of `patient_id` written by `writer_clinic` refers to a blob.
    fn add_blob_ref(
        &mut self,
        sha256: &str,
        patient_id: &str,
        scope_clinic: &str,
        writer_clinic: &str,
    ) -> Result<(), StoreError>;
    /// Writes a patient's directory entry (made if missing, for `clinic_id`): each field with a
    /// value takes it, the others keep theirs.
    fn update_directory(
        &mut self,
        patient_id: &str,
        clinic_id: &str,
        values: &DirectoryValues,
    ) -> Result<(), StoreError>;
}

/// Whether `clinic_id` may see `patient_id`: it registered them, or they were shared with it.
pub(super) fn may_see(
    records: &mut impl Records,
    clinic_id: &str,
    patient_id: &str,
) -> Result<bool, StoreError> {
    let home = records
        .entity(patient_id)?
        .is_some_and(|p| p.entity == "patient" && p.scope_clinic == clinic_id);
    Ok(home || records.granted(clinic_id, patient_id)?)
}

fn text_field<'a>(change: &'a ChangeRecord, field: &str) -> Option<&'a str> {
    change.fields.get(field).and_then(Value::as_str)
}

/// Places a change: `Ok(Err(reason))` when the pushing clinic may not write it, which the
/// workstation is told. A record new to the server is registered here, so call this only for a
/// change that will be stored.
pub(super) fn place(
    records: &mut impl Records,
    change: &ChangeRecord,
) -> Result<Result<Placement, String>, StoreError> {
    let entity_id = change.entity_id.hyphenated().to_string();
    let clinic = change.clinic_id.to_string();
    if let Some(KnownEntity {
        entity,
        owner_clinic: owner,
        patient_id,
        scope_clinic,
    }) = records.entity(&entity_id)?
    {
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
            | EntityKind::Attachment
            | EntityKind::QueueEntry
            | EntityKind::PatientMerge => text_field(change, "patient_id"),
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

    if change.entity == EntityKind::PatientMerge {
        // A merge is placed under its survivor; the record it retires must be one this clinic
        // may see as well.
        let Some(retired) = text_field(change, "retired_id") else {
            return Ok(Err("a merge must name the record it retires".into()));
        };
        let known = records
            .entity(retired)?
            .is_some_and(|p| p.entity == "patient");
        if !known || !may_see(records, &clinic, retired)? {
            return Ok(Err(format!(
                "patient {retired} is not on the server or not shared with this clinic: \
                 a merge joins two records this clinic holds"
            )));
        }
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
        EntityKind::User | EntityKind::Letterhead => Placement {
            patient_id: None,
            scope_clinic: clinic.clone(),
        },
        EntityKind::Allergy
        | EntityKind::Problem
        | EntityKind::Encounter
        | EntityKind::Attachment
        | EntityKind::QueueEntry
        | EntityKind::PatientMerge => {
            let Some(patient) = text_field(change, "patient_id") else {
                return Ok(Err(format!(
                    "the first change of a new {} must name its patient",
                    change.entity
                )));
            };
            match records.entity(patient)?.filter(|p| p.entity == "patient") {
                Some(KnownEntity { scope_clinic, .. }) => {
                    if !may_see(records, &clinic, patient)? {
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
            let found = records
                .entity(encounter)?
                .filter(|e| e.entity == "encounter");
            let Some(KnownEntity {
                patient_id: Some(patient),
                scope_clinic,
                ..
            }) = found
            else {
                return Ok(Err(format!(
                    "visit {encounter} is not on the server: it goes before its amendments"
                )));
            };
            if !may_see(records, &clinic, &patient)? {
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
    records.add_entity(
        &entity_id,
        KnownEntity {
            entity: change.entity.as_str().to_owned(),
            owner_clinic: clinic,
            patient_id: placement.patient_id.clone(),
            scope_clinic: placement.scope_clinic.clone(),
        },
    )?;
    Ok(Ok(placement))
}

/// What a stored change adds besides its row: who a patient is, and which blob a record refers
/// to.
pub(super) fn record_effects(
    records: &mut impl Records,
    change: &ChangeRecord,
    placement: &Placement,
) -> Result<(), StoreError> {
    match change.entity {
        EntityKind::Patient => match directory_values(change) {
            Some(values) => records.update_directory(
                &change.entity_id.hyphenated().to_string(),
                &change.clinic_id.to_string(),
                &values,
            ),
            None => Ok(()),
        },
        EntityKind::Attachment => {
            let (Some(sha256), Some(patient)) = (
                text_field(change, "blob_sha256"),
                placement.patient_id.as_deref(),
            ) else {
                return Ok(());
            };
            records.add_blob_ref(
                sha256,
                patient,
                &placement.scope_clinic,
                &change.clinic_id.to_string(),
            )
        }
        _ => Ok(()),
    }
}

/// Fields of the directory, each the last value pushed.
pub(super) const DIRECTORY_FIELDS: [&str; 7] = [
    "number_prefix",
    "number_seq",
    "family_name",
    "given_name",
    "birth_date",
    "national_id",
    "sex",
];

/// The directory fields a patient change writes; `None` when it writes none of them.
pub(super) fn directory_values(change: &ChangeRecord) -> Option<DirectoryValues> {
    let values = DIRECTORY_FIELDS.map(|field| match change.fields.get(field) {
        Some(Value::String(text)) => Some(DirectoryValue::Text(text.clone())),
        Some(Value::Number(n)) => n.as_i64().map(DirectoryValue::Integer),
        _ => None,
    });
    values.iter().any(Option::is_some).then_some(values)
}

/// The rules' questions answered by queries on a SQLite transaction.
pub(super) mod on_sqlite {
    use super::{
        DIRECTORY_FIELDS, DirectoryValue, DirectoryValues, KnownEntity, Records, directory_values,
    };
    use crate::model::{ChangeRecord, EntityKind};
    use crate::server::store::StoreError;
    use rusqlite::{OptionalExtension, Transaction, params};
    use serde_json::Value;

    /// Whether a clinic may see rows of `change_log` (or `blob_refs`): `?{n}` is the clinic's id.
    pub(in crate::server) fn visible_to(n: usize) -> String {
        format!(
            "(scope_clinic = ?{n} OR patient_id IN
                (SELECT g.patient_id FROM patient_grants g WHERE g.clinic_id = ?{n}))"
        )
    }

    /// Whether `clinic_id` may see `patient_id`, outside a push.
    pub(in crate::server) fn may_see(
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

    /// [`Records`] on a SQLite write transaction.
    pub(in crate::server) struct SqliteRecords<'a, 'c>(pub(in crate::server) &'a Transaction<'c>);

    impl Records for SqliteRecords<'_, '_> {
        fn entity(&mut self, entity_id: &str) -> Result<Option<KnownEntity>, StoreError> {
            self.0
                .prepare_cached(
                    "SELECT entity, owner_clinic, patient_id, scope_clinic FROM entities
                     WHERE entity_id = ?1",
                )
                .and_then(|mut stmt| {
                    stmt.query_row([entity_id], |row| {
                        Ok(KnownEntity {
                            entity: row.get(0)?,
                            owner_clinic: row.get(1)?,
                            patient_id: row.get(2)?,
                            scope_clinic: row.get(3)?,
                        })
                    })
                    .optional()
                })
                .map_err(StoreError::database("checking who may write a record"))
        }

        fn granted(&mut self, clinic_id: &str, patient_id: &str) -> Result<bool, StoreError> {
            self.0
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM patient_grants
                                    WHERE patient_id = ?2 AND clinic_id = ?1)",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![clinic_id, patient_id], |row| row.get(0))
                })
                .map_err(StoreError::database("checking who may see a patient"))
        }

        fn add_entity(&mut self, entity_id: &str, known: KnownEntity) -> Result<(), StoreError> {
            self.0
                .prepare_cached(
                    "INSERT INTO entities (entity_id, entity, owner_clinic, patient_id,
                                           scope_clinic)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        entity_id,
                        known.entity,
                        known.owner_clinic,
                        known.patient_id,
                        known.scope_clinic
                    ])
                })
                .map(drop)
                .map_err(StoreError::database("checking who may write a record"))
        }

        fn add_blob_ref(
            &mut self,
            sha256: &str,
            patient_id: &str,
            scope_clinic: &str,
            writer_clinic: &str,
        ) -> Result<(), StoreError> {
            self.0
                .prepare_cached(
                    "INSERT OR IGNORE INTO blob_refs (sha256, patient_id, scope_clinic,
                                                      writer_clinic)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![sha256, patient_id, scope_clinic, writer_clinic])
                })
                .map(drop)
                .map_err(StoreError::database("indexing a change"))
        }

        fn update_directory(
            &mut self,
            patient_id: &str,
            clinic_id: &str,
            values: &DirectoryValues,
        ) -> Result<(), StoreError> {
            let context = "updating the patient directory";
            self.0
                .prepare_cached(
                    "INSERT OR IGNORE INTO patient_directory (patient_id, clinic_id)
                     VALUES (?1, ?2)",
                )
                .and_then(|mut stmt| stmt.execute(params![patient_id, clinic_id]))
                .map_err(StoreError::database(context))?;
            // One statement for all the fields: a field the change does not write is NULL here
            // and keeps its value.
            let values: Vec<rusqlite::types::Value> = values
                .iter()
                .map(|value| match value {
                    Some(DirectoryValue::Text(text)) => rusqlite::types::Value::Text(text.clone()),
                    Some(DirectoryValue::Integer(n)) => rusqlite::types::Value::Integer(*n),
                    None => rusqlite::types::Value::Null,
                })
                .collect();
            let sets: Vec<String> = DIRECTORY_FIELDS
                .iter()
                .enumerate()
                .map(|(i, field)| format!("{field} = coalesce(?{}, {field})", i + 2))
                .collect();
            // The names come from the fixed list, never from the change.
            let sql = format!(
                "UPDATE patient_directory SET {} WHERE patient_id = ?1",
                sets.join(", ")
            );
            let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&patient_id];
            bound.extend(values.iter().map(|v| v as &dyn rusqlite::ToSql));
            self.0
                .prepare_cached(&sql)
                .and_then(|mut stmt| stmt.execute(bound.as_slice()))
                .map(drop)
                .map_err(StoreError::database(context))
        }
    }

    /// Fills the directory from the patient changes already in the log (a server that kept its
    /// log before the directory existed).
    pub(in crate::server) fn fill_directory(tx: &Transaction<'_>) -> Result<(), StoreError> {
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
        let mut records = SqliteRecords(tx);
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
            if let Some(values) = directory_values(&change) {
                records.update_directory(
                    &change.entity_id.hyphenated().to_string(),
                    &change.clinic_id.to_string(),
                    &values,
                )?;
            }
        }
        Ok(())
    }
}
