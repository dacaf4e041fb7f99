//! Visits: drafts saved as the clinician types, signing, amendments and voiding; the medicines a
//! clinic has prescribed before.

use super::merges::CHART_OF;
use super::write::{Fields, Writer};
use super::{Store, StoreError, time_from_text, time_text};
use crate::model::{
    Amendment, Corrections, Encounter, EncounterId, EncounterKind, EncounterStatus, EntityKind,
    PatientId, Signer,
};
use rusqlite::{OptionalExtension, Row, params};
use serde_json::{Value, json};

/// A medicine offered in the prescription editor, with how often this clinic prescribed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicineSuggestion {
    /// The medicine as last written.
    pub medicine: String,
    /// Times prescribed in signed visits.
    pub uses: i64,
}

pub(crate) fn encounter_fields(e: &Encounter) -> Fields {
    let (signed_by, signed_at, signed_by_id, signed_role) = match &e.status {
        EncounterStatus::Signed {
            signed_by,
            signed_at,
            signer_id,
            signer_role,
        } => (
            Some(signed_by.clone()),
            Some(time_text(*signed_at)),
            signer_id.map(|id| id.to_string()),
            signer_role.map(|role| role.code()),
        ),
        _ => (None, None, None, None),
    };
    let (voided_by, voided_at, void_reason, voided_by_id) = match &e.status {
        EncounterStatus::Voided {
            voided_by,
            voided_at,
            reason,
            voided_by_id,
        } => (
            Some(voided_by.clone()),
            Some(time_text(*voided_at)),
            Some(reason.clone()),
            voided_by_id.map(|id| id.to_string()),
        ),
        _ => (None, None, None, None),
    };
    match json!({
        "patient_id": e.patient_id.to_string(),
        "started_at": time_text(e.started_at),
        "kind": e.kind.code(),
        "clinician": e.clinician.trim(),
        "clinician_id": e.clinician_id.map(|id| id.to_string()),
        "chief_complaint": e.chief_complaint,
        "history": e.history,
        "examination": e.examination,
        "vitals": e.vitals,
        "diagnoses": e.diagnoses,
        "prescriptions": e.prescriptions,
        "lab_results": e.lab_results,
        "plan": e.plan,
        "follow_up": e.follow_up.map(|d| d.to_string()),
        "status": e.status.code(),
        "signed_by": signed_by,
        "signed_at": signed_at,
        "voided_by": voided_by,
        "voided_at": voided_at,
        "void_reason": void_reason,
        "signed_by_id": signed_by_id,
        "signed_role": signed_role,
        "voided_by_id": voided_by_id,
    }) {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

const ENCOUNTER_COLUMNS: &str = "encounter_id, patient_id, started_at, kind, clinician, \
    chief_complaint, history, examination, vitals, diagnoses, prescriptions, lab_results, plan, \
    follow_up, status, signed_by, signed_at, voided_by, voided_at, void_reason, clinician_id, \
    signed_by_id, signed_role, voided_by_id";

fn encounter_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Encounter, StoreError>> {
    let text = |i: usize| row.get::<_, String>(i);
    let opt = |i: usize| row.get::<_, Option<String>>(i);
    let (encounter_id, patient_id, started_at, kind, clinician) =
        (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?);
    let (complaint, history, examination, vitals, diagnoses, prescriptions, labs, plan) = (
        text(5)?,
        text(6)?,
        text(7)?,
        text(8)?,
        text(9)?,
        text(10)?,
        text(11)?,
        text(12)?,
    );
    let (follow_up, status) = (opt(13)?, text(14)?);
    let (signed_by, signed_at, voided_by, voided_at, void_reason) =
        (opt(15)?, opt(16)?, opt(17)?, opt(18)?, opt(19)?);
    let (clinician_id, signed_by_id, signed_role, voided_by_id) =
        (opt(20)?, opt(21)?, opt(22)?, opt(23)?);
    let corrupt = |what| StoreError::Corrupt { what };
    // An id that cannot be read names nobody rather than making the visit unreadable.
    let user = |id: Option<String>| id.and_then(|id| id.parse().ok());
    let build = || -> Result<Encounter, StoreError> {
        let status = match status.as_str() {
            "signed" => EncounterStatus::Signed {
                signed_by: signed_by.unwrap_or_default(),
                signed_at: signed_at
                    .as_deref()
                    .and_then(time_from_text)
                    .ok_or(corrupt("a signing time"))?,
                signer_id: user(signed_by_id),
                signer_role: signed_role.and_then(|role| role.parse().ok()),
            },
            "voided" => EncounterStatus::Voided {
                voided_by: voided_by.unwrap_or_default(),
                voided_at: voided_at
                    .as_deref()
                    .and_then(time_from_text)
                    .ok_or(corrupt("a voiding time"))?,
                reason: void_reason.unwrap_or_default(),
                voided_by_id: user(voided_by_id),
            },
            _ => EncounterStatus::Draft,
        };
        Ok(Encounter {
            encounter_id: encounter_id.parse().map_err(|_| corrupt("a visit id"))?,
            patient_id: patient_id.parse().map_err(|_| corrupt("a patient id"))?,
            started_at: time_from_text(&started_at).ok_or(corrupt("a visit time"))?,
            kind: EncounterKind::from_code(&kind),
            clinician,
            clinician_id: user(clinician_id),
            chief_complaint: complaint,
            history,
            examination,
            vitals: serde_json::from_str(&vitals).map_err(|_| corrupt("vitals"))?,
            diagnoses: serde_json::from_str(&diagnoses).map_err(|_| corrupt("diagnoses"))?,
            prescriptions: serde_json::from_str(&prescriptions)
                .map_err(|_| corrupt("prescriptions"))?,
            lab_results: serde_json::from_str(&labs).map_err(|_| corrupt("lab results"))?,
            plan,
            follow_up: match follow_up {
                Some(d) => Some(d.parse().map_err(|_| corrupt("a follow-up date"))?),
                None => None,
            },
            status,
        })
    };
    Ok(build())
}

/// An amendment's corrections from their JSON columns; an entry that does not read is an error,
/// not a silently smaller correction.
fn corrections_from_columns(
    stops: &str,
    withdraws: &str,
    adds: &str,
    vitals: &str,
) -> Result<Corrections, StoreError> {
    let corrupt = |what| move |_| StoreError::Corrupt { what };
    Ok(Corrections {
        stops: serde_json::from_str(stops).map_err(corrupt("the medicines an amendment stops"))?,
        withdraws: serde_json::from_str(withdraws)
            .map_err(corrupt("the diagnoses an amendment withdraws"))?,
        adds: serde_json::from_str(adds).map_err(corrupt("the diagnoses an amendment adds"))?,
        vitals: serde_json::from_str(vitals)
            .map_err(corrupt("the vital signs an amendment corrects"))?,
    })
}

/// The columns [`AmendmentRow::read`] reads, in order.
const AMENDMENT_COLUMNS: &str = "amendment.amendment_id, amendment.encounter_id,
    amendment.text, amendment.reason, amendment.author, amendment.amended_at,
    amendment.author_id, amendment.stops, amendment.withdraws, amendment.adds, amendment.vitals";

/// An amendment's row as stored, before its ids, time and corrections are read.
struct AmendmentRow {
    id: String,
    encounter_id: String,
    text: String,
    reason: String,
    author: String,
    at: String,
    author_id: Option<String>,
    stops: String,
    withdraws: String,
    adds: String,
    vitals: String,
}

impl AmendmentRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            encounter_id: row.get(1)?,
            text: row.get(2)?,
            reason: row.get(3)?,
            author: row.get(4)?,
            at: row.get(5)?,
            author_id: row.get(6)?,
            stops: row.get(7)?,
            withdraws: row.get(8)?,
            adds: row.get(9)?,
            vitals: row.get(10)?,
        })
    }

    fn into_amendment(self) -> Result<Amendment, StoreError> {
        let corrupt = |what| move |_| StoreError::Corrupt { what };
        Ok(Amendment {
            amendment_id: self.id.parse().map_err(corrupt("an amendment id"))?,
            encounter_id: self
                .encounter_id
                .parse()
                .map_err(corrupt("an amendment's visit id"))?,
            text: self.text,
            reason: self.reason,
            author: self.author,
            author_id: self.author_id.and_then(|id| id.parse().ok()),
            created_at: time_from_text(&self.at).ok_or(StoreError::Corrupt {
                what: "an amendment time",
            })?,
            corrections: corrections_from_columns(
                &self.stops,
                &self.withdraws,
                &self.adds,
                &self.vitals,
            )?,
        })
    }
}

fn amendment_fields(a: &Amendment) -> Fields {
    match json!({
        "encounter_id": a.encounter_id.to_string(),
        "text": a.text.trim(),
        "reason": a.reason.trim(),
        "author": a.author.trim(),
        "author_id": a.author_id.map(|id| id.to_string()),
        "amended_at": time_text(a.created_at),
        "stops": a.corrections.stops.iter().map(|m| m.trim()).collect::<Vec<_>>(),
        "withdraws": a.corrections.withdraws.iter().map(|k| k.trim()).collect::<Vec<_>>(),
        "adds": a.corrections.adds,
        "vitals": a.corrections.vitals,
    }) {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

/// Keeps the patient list's "last visit" column true after a visit is written.
pub(super) fn refresh_last_visit(
    writer: &Writer<'_, '_>,
    patient_id: PatientId,
) -> Result<(), StoreError> {
    writer
        .tx()
        .execute(
            "UPDATE patient SET last_visit_at = (
                 SELECT max(started_at) FROM encounter
                 WHERE patient_id = ?1 AND status <> 'voided')
             WHERE patient_id = ?1",
            [patient_id.to_string()],
        )
        .map(drop)
        .map_err(StoreError::sqlite("updating the last visit"))
}

/// Counts the medicines of a signed visit, so the prescription editor offers them first.
/// Counts each coded diagnosis of a signed visit, so the diagnosis search offers the clinic's
/// own codes first.
pub(super) fn record_diagnoses(
    writer: &Writer<'_, '_>,
    encounter: &Encounter,
) -> Result<(), StoreError> {
    let now = time_text(writer.now());
    for code in encounter.diagnoses.iter().filter_map(|d| d.code.as_deref()) {
        writer
            .tx()
            .prepare_cached(
                "INSERT INTO diagnosis_usage (code, uses, last_used_at) VALUES (?1, 1, ?2)
                 ON CONFLICT (code) DO UPDATE SET
                     uses = uses + 1, last_used_at = excluded.last_used_at",
            )
            .and_then(|mut stmt| stmt.execute(params![code.trim(), now]))
            .map_err(StoreError::sqlite("counting signed diagnoses"))?;
    }
    Ok(())
}

pub(super) fn record_medicines(
    writer: &Writer<'_, '_>,
    encounter: &Encounter,
) -> Result<(), StoreError> {
    let now = time_text(writer.now());
    for prescription in &encounter.prescriptions {
        let medicine = prescription.medicine.trim();
        writer
            .tx()
            .prepare_cached(
                "INSERT INTO medicine_usage (medicine_key, medicine, uses, last_used_at)
                 VALUES (?1, ?2, 1, ?3)
                 ON CONFLICT (medicine_key) DO UPDATE SET
                     medicine = excluded.medicine, uses = uses + 1,
                     last_used_at = excluded.last_used_at",
            )
            .and_then(|mut stmt| stmt.execute(params![medicine.to_lowercase(), medicine, now]))
            .map_err(StoreError::sqlite("counting prescribed medicines"))?;
    }
    Ok(())
}

impl Store {
    /// Saves a draft visit (new or edited). Returns whether anything changed. A signed or voided
    /// visit is refused: correct it with an amendment.
    pub fn save_encounter(&mut self, encounter: &Encounter) -> Result<bool, StoreError> {
        if !encounter.is_draft() {
            return Err(StoreError::ReadOnly {
                state: encounter.status.code(),
            });
        }
        let validation = encounter.validate();
        if !validation.is_valid() {
            return Err(StoreError::Invalid(validation));
        }
        let old = self.find_encounter(encounter.encounter_id)?;
        if let Some(old) = &old {
            if !old.is_draft() {
                return Err(StoreError::ReadOnly {
                    state: old.status.code(),
                });
            }
            if old.patient_id != encounter.patient_id {
                return Err(StoreError::InvalidSetting(
                    "A visit cannot be moved to another patient.".into(),
                ));
            }
        }
        let mut writer = self.writer()?;
        let changed = match old {
            Some(old) => writer.update(
                EntityKind::Encounter,
                encounter.encounter_id.0,
                &encounter_fields(&old),
                encounter_fields(encounter),
                &[],
            )?,
            None => {
                writer.insert(
                    EntityKind::Encounter,
                    encounter.encounter_id.0,
                    encounter_fields(encounter),
                    &[],
                )?;
                true
            }
        };
        if changed {
            refresh_last_visit(&writer, encounter.patient_id)?;
        }
        writer.commit()?;
        Ok(changed)
    }

    /// Signs a draft as `signer`, who must be its author. The saved draft is what gets signed.
    pub fn sign_encounter(
        &mut self,
        encounter_id: EncounterId,
        signer: &Signer,
    ) -> Result<Encounter, StoreError> {
        let old = self.encounter(encounter_id)?;
        if !old.is_draft() {
            return Err(StoreError::ReadOnly {
                state: old.status.code(),
            });
        }
        if !signer.is_author_of(&old) {
            return Err(StoreError::NotAuthor {
                author: old.clinician.clone(),
            });
        }
        let validation = old.validate_for_signing();
        if !validation.is_valid() {
            return Err(StoreError::Invalid(validation));
        }
        let mut signed = old.clone();
        let mut writer = self.writer()?;
        signed.status = EncounterStatus::Signed {
            signed_by: signer.full_name.trim().to_owned(),
            signed_at: writer.now(),
            signer_id: signer.user_id,
            signer_role: signer.role,
        };
        // The signing writes every field as the signer saw it, superseding exactly the values
        // shown: a change made elsewhere that the signer never saw stays a conflict for a
        // person, whatever its stamp, and never silently becomes signed content.
        writer.update(
            EntityKind::Encounter,
            encounter_id.0,
            &Fields::new(),
            encounter_fields(&signed),
            &[],
        )?;
        record_medicines(&writer, &signed)?;
        record_diagnoses(&writer, &signed)?;
        writer.commit()?;
        Ok(signed)
    }

    /// Makes a draft `by`'s own: its author becomes `by`, which the audit trail records as a
    /// hand-over. Only a draft is handed over.
    pub fn take_over_draft(
        &mut self,
        encounter_id: EncounterId,
        by: &Signer,
    ) -> Result<Encounter, StoreError> {
        let old = self.encounter(encounter_id)?;
        if !old.is_draft() {
            return Err(StoreError::ReadOnly {
                state: old.status.code(),
            });
        }
        let mut taken = old.clone();
        taken.clinician = by.full_name.trim().to_owned();
        taken.clinician_id = by.user_id;
        let mut writer = self.writer()?;
        writer.update(
            EntityKind::Encounter,
            encounter_id.0,
            &encounter_fields(&old),
            encounter_fields(&taken),
            &[],
        )?;
        writer.commit()?;
        Ok(taken)
    }

    /// Voids a visit (draft or signed) with a reason. It stays in the record, marked void.
    pub fn void_encounter(
        &mut self,
        encounter_id: EncounterId,
        by: &Signer,
        reason: &str,
    ) -> Result<Encounter, StoreError> {
        if reason.trim().is_empty() {
            let mut v = crate::model::Validation::default();
            v.push("void_reason", "Say why the visit is being voided.");
            return Err(StoreError::Invalid(v));
        }
        let old = self.encounter(encounter_id)?;
        if matches!(old.status, EncounterStatus::Voided { .. }) {
            return Err(StoreError::ReadOnly { state: "voided" });
        }
        let mut voided = old.clone();
        let mut writer = self.writer()?;
        voided.status = EncounterStatus::Voided {
            voided_by: by.full_name.trim().to_owned(),
            voided_at: writer.now(),
            reason: reason.trim().to_owned(),
            voided_by_id: by.user_id,
        };
        // Who signed it stays on record: voiding writes the void, not the signing away.
        let mut fields = encounter_fields(&voided);
        for signing in ["signed_by", "signed_at", "signed_by_id", "signed_role"] {
            fields.remove(signing);
        }
        writer.update(
            EntityKind::Encounter,
            encounter_id.0,
            &encounter_fields(&old),
            fields,
            &[],
        )?;
        refresh_last_visit(&writer, old.patient_id)?;
        writer.commit()?;
        Ok(voided)
    }

    /// Adds an amendment to a signed visit, dated now. Returns it as stored.
    pub fn add_amendment(&mut self, amendment: &Amendment) -> Result<Amendment, StoreError> {
        self.add_amendment_then(amendment, |_| Ok(()))
    }

    /// Adds an amendment and runs `then` in the same transaction.
    pub(super) fn add_amendment_then(
        &mut self,
        amendment: &Amendment,
        then: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError>,
    ) -> Result<Amendment, StoreError> {
        let validation = amendment.validate();
        if !validation.is_valid() {
            return Err(StoreError::Invalid(validation));
        }
        let encounter = self.encounter(amendment.encounter_id)?;
        if !matches!(encounter.status, EncounterStatus::Signed { .. }) {
            return Err(StoreError::InvalidSetting(
                "Only a signed visit takes amendments; a draft can still be edited.".into(),
            ));
        }
        if !amendment.corrections.vitals.is_empty() {
            // Each corrected value is possible on its own; the visit as it would stand must be
            // too (diastolic below systolic).
            let mut all = self.amendments(amendment.encounter_id)?;
            all.push(amendment.clone());
            let standing = encounter.as_amended(&all).vitals.validate();
            if !standing.is_valid() {
                return Err(StoreError::Invalid(standing));
            }
        }
        let mut writer = self.writer()?;
        let mut amendment = amendment.clone();
        amendment.created_at = writer.now();
        writer.insert(
            EntityKind::Amendment,
            amendment.amendment_id.0,
            amendment_fields(&amendment),
            &[],
        )?;
        then(writer.tx())?;
        writer.commit()?;
        Ok(amendment)
    }

    /// One visit.
    pub fn encounter(&self, encounter_id: EncounterId) -> Result<Encounter, StoreError> {
        self.find_encounter(encounter_id)?
            .ok_or_else(|| StoreError::NotFound {
                what: "visit",
                id: encounter_id.to_string(),
            })
    }

    fn find_encounter(&self, encounter_id: EncounterId) -> Result<Option<Encounter>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ENCOUNTER_COLUMNS} FROM encounter WHERE encounter_id = ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([encounter_id.to_string()], encounter_from_row)
                    .optional()
            })
            .map_err(StoreError::sqlite("reading a visit"))?
            .transpose()
    }

    /// Every visit of a patient, newest first (voided ones included, marked).
    pub fn encounters_for_patient(
        &self,
        patient_id: PatientId,
    ) -> Result<Vec<Encounter>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ENCOUNTER_COLUMNS} FROM encounter WHERE patient_id IN {CHART_OF}
                 ORDER BY started_at DESC"
            ))
            .map_err(StoreError::sqlite("reading visits"))?;
        let rows = stmt
            .query_map([patient_id.to_string()], encounter_from_row)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(StoreError::sqlite("reading visits"))?;
        rows.into_iter().collect()
    }

    /// The amendments of a patient's visits, oldest first, by visit; a visit with none is absent.
    pub fn amendments_for_patient(
        &self,
        patient_id: PatientId,
    ) -> Result<std::collections::HashMap<EncounterId, Vec<Amendment>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {AMENDMENT_COLUMNS} FROM amendment
                 JOIN encounter e ON e.encounter_id = amendment.encounter_id
                 WHERE e.patient_id IN {CHART_OF} ORDER BY amendment.amended_at"
            ))
            .map_err(StoreError::sqlite("reading amendments"))?;
        let rows = stmt
            .query_map([patient_id.to_string()], AmendmentRow::read)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(StoreError::sqlite("reading amendments"))?;
        let mut by_visit: std::collections::HashMap<EncounterId, Vec<Amendment>> =
            Default::default();
        for row in rows {
            let amendment = row.into_amendment()?;
            by_visit
                .entry(amendment.encounter_id)
                .or_default()
                .push(amendment);
        }
        Ok(by_visit)
    }

    /// The amendments of a visit, oldest first.
    pub fn amendments(&self, encounter_id: EncounterId) -> Result<Vec<Amendment>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {AMENDMENT_COLUMNS} FROM amendment
                 WHERE amendment.encounter_id = ?1 ORDER BY amended_at"
            ))
            .map_err(StoreError::sqlite("reading amendments"))?;
        let rows = stmt
            .query_map([encounter_id.to_string()], AmendmentRow::read)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(StoreError::sqlite("reading amendments"))?;
        rows.into_iter().map(AmendmentRow::into_amendment).collect()
    }

    /// Medicines this clinic prescribed before whose name starts with `prefix` (any case), most
    /// used first.
    pub fn suggest_medicines(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<MedicineSuggestion>, StoreError> {
        let key = prefix.trim().to_lowercase();
        let upper = format!("{key}\u{10FFFF}");
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT medicine, uses FROM medicine_usage
                 WHERE medicine_key >= ?1 AND medicine_key < ?2
                 ORDER BY uses DESC, medicine_key LIMIT ?3",
            )
            .map_err(StoreError::sqlite("suggesting medicines"))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        stmt.query_map(params![key, upper, limit], |row| {
            Ok(MedicineSuggestion {
                medicine: row.get(0)?,
                uses: row.get(1)?,
            })
        })
        .and_then(Iterator::collect)
        .map_err(StoreError::sqlite("suggesting medicines"))
    }
}
