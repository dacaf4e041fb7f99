//! Many new records in one transaction: demo data, imports, and the bulk setup of benchmarks.
//! Each record still gets its own change record, exactly as a one-at-a-time write would.

use super::encounters::{encounter_fields, record_medicines, refresh_last_visit};
use super::patients::{allergy_fields, patient_derived, patient_fields, problem_fields};
use super::write::{Fields, Writer};
use super::{Store, StoreError};
use crate::model::{
    Allergy, AllergyStatus, Encounter, EncounterStatus, EntityKind, Patient, PatientNumber, Problem,
};
use serde_json::json;

/// An open batch of new records; nothing is visible to others until [`Batch::commit`].
pub struct Batch<'store> {
    writer: Writer<'store, 'store>,
    prefix: String,
    clinic_id: crate::model::ClinicId,
    next_seq: i64,
}

impl Store {
    /// Starts a batch of new records in one transaction.
    pub fn batch(&mut self) -> Result<Batch<'_>, StoreError> {
        let prefix = self.workstation.number_prefix.clone();
        let clinic_id = self.workstation.clinic_id;
        let writer = self.writer()?;
        let next_seq: i64 = writer
            .tx()
            .query_row(
                "SELECT coalesce(max(number_seq), 0) + 1 FROM patient WHERE number_prefix = ?1",
                [&prefix],
                |row| row.get(0),
            )
            .map_err(StoreError::sqlite("numbering patients"))?;
        Ok(Batch {
            writer,
            prefix,
            clinic_id,
            next_seq,
        })
    }
}

fn refuse_invalid(validation: crate::model::Validation) -> Result<(), StoreError> {
    if validation.is_valid() {
        Ok(())
    } else {
        Err(StoreError::Invalid(validation))
    }
}

impl Batch<'_> {
    /// Registers a patient with the next number of this workstation's clinic.
    pub fn register_patient(&mut self, patient: Patient) -> Result<Patient, StoreError> {
        let number = PatientNumber {
            prefix: self.prefix.clone(),
            seq: self.next_seq,
        };
        self.insert_patient(patient, number)
    }

    /// Writes a new patient under `number`; the next number given is after it.
    fn insert_patient(
        &mut self,
        mut patient: Patient,
        number: PatientNumber,
    ) -> Result<Patient, StoreError> {
        refuse_invalid(patient.validate(self.writer.now().date_naive()))?;
        patient.clinic_id = self.clinic_id;
        let seq = number.seq;
        patient.number = Some(number);
        let derived = patient_derived(&patient);
        self.writer.insert(
            EntityKind::Patient,
            patient.patient_id.0,
            patient_fields(&patient),
            &derived,
        )?;
        self.next_seq = self.next_seq.max(seq + 1);
        Ok(patient)
    }

    /// Records whether a new patient was asked about allergies.
    pub fn set_allergy_status(
        &mut self,
        patient: &Patient,
        status: AllergyStatus,
    ) -> Result<(), StoreError> {
        self.writer.update(
            EntityKind::Patient,
            patient.patient_id.0,
            &Fields::from_iter([(
                "allergy_status".to_owned(),
                json!(AllergyStatus::NotAsked.code()),
            )]),
            Fields::from_iter([("allergy_status".to_owned(), json!(status.code()))]),
            &[],
        )?;
        Ok(())
    }

    /// Adds a new allergy.
    pub fn insert_allergy(&mut self, allergy: &Allergy) -> Result<(), StoreError> {
        refuse_invalid(allergy.validate())?;
        self.writer.insert(
            EntityKind::Allergy,
            allergy.allergy_id.0,
            allergy_fields(allergy),
            &[],
        )
    }

    /// Adds a new problem-list entry.
    pub fn insert_problem(&mut self, problem: &Problem) -> Result<(), StoreError> {
        refuse_invalid(problem.validate())?;
        self.writer.insert(
            EntityKind::Problem,
            problem.problem_id.0,
            problem_fields(problem),
            &[],
        )
    }

    /// Adds a visit in any state (a signed one counts its medicines, as signing does).
    pub fn insert_encounter(&mut self, encounter: &Encounter) -> Result<(), StoreError> {
        refuse_invalid(encounter.validate())?;
        self.writer.insert(
            EntityKind::Encounter,
            encounter.encounter_id.0,
            encounter_fields(encounter),
            &[],
        )?;
        if matches!(encounter.status, EncounterStatus::Signed { .. }) {
            record_medicines(&self.writer, encounter)?;
        }
        refresh_last_visit(&self.writer, encounter.patient_id)
    }

    /// Registers a patient under `number` when it is this workstation's clinic's and no patient
    /// has it yet (a record coming back from an export), else with the next number.
    pub fn register_patient_numbered(
        &mut self,
        patient: Patient,
        number: Option<&PatientNumber>,
    ) -> Result<Patient, StoreError> {
        let keep = match number {
            Some(n) if n.prefix == self.prefix && n.seq > 0 => !self.exists_number(n)?,
            _ => false,
        };
        match number {
            Some(number) if keep => self.insert_patient(patient, number.clone()),
            _ => self.register_patient(patient),
        }
    }

    fn exists_number(&self, number: &PatientNumber) -> Result<bool, StoreError> {
        self.writer
            .tx()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM patient WHERE number_prefix = ?1 AND number_seq = ?2)",
                rusqlite::params![number.prefix, number.seq],
                |row| row.get(0),
            )
            .map_err(StoreError::sqlite("numbering patients"))
    }

    /// Whether a record of `kind` with `id` is in the store (or this batch).
    pub fn exists(&self, kind: EntityKind, id: uuid::Uuid) -> Result<bool, StoreError> {
        let (table, column) = super::write::table_of(kind);
        self.writer
            .tx()
            .query_row(
                &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} = ?1)"),
                [id.hyphenated().to_string()],
                |row| row.get(0),
            )
            .map_err(StoreError::sqlite("looking a record up"))
    }

    /// Makes the whole batch visible at once.
    pub fn commit(self) -> Result<(), StoreError> {
        self.writer.commit()
    }
}
