//! Records read from a FHIR bundle, written as new records with their changes (they sync like
//! any other). What is already here is left as it is, so importing a bundle twice changes
//! nothing.

use super::{Store, StoreError};
use crate::fhir::ImportedPatient;
use crate::model::{AllergyStatus, EntityKind};

/// What an import wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordsImported {
    /// Patients registered.
    pub patients: usize,
    /// Visits added.
    pub visits: usize,
    /// Allergies added.
    pub allergies: usize,
    /// Problems added.
    pub problems: usize,
    /// Records that were here already, left as they are.
    pub already_here: usize,
}

impl Store {
    /// Writes `records` in one transaction: each patient, allergy, problem and visit not here
    /// yet (by id) as a new record; the rest left as they are.
    pub fn import_records(
        &mut self,
        records: &[ImportedPatient],
    ) -> Result<RecordsImported, StoreError> {
        let mut done = RecordsImported::default();
        let mut batch = self.batch()?;
        for record in records {
            let patient_id = record.patient.patient_id;
            if batch.exists(EntityKind::Patient, patient_id.0)? {
                done.already_here += 1;
            } else {
                let patient = batch.register_patient_numbered(
                    record.patient.clone(),
                    record.patient.number.as_ref(),
                )?;
                if record.allergy_status != AllergyStatus::NotAsked {
                    batch.set_allergy_status(&patient, record.allergy_status)?;
                }
                done.patients += 1;
            }
            for allergy in &record.allergies {
                if batch.exists(EntityKind::Allergy, allergy.allergy_id.0)? {
                    done.already_here += 1;
                } else {
                    batch.insert_allergy(allergy)?;
                    done.allergies += 1;
                }
            }
            for problem in &record.problems {
                if batch.exists(EntityKind::Problem, problem.problem_id.0)? {
                    done.already_here += 1;
                } else {
                    batch.insert_problem(problem)?;
                    done.problems += 1;
                }
            }
            for visit in &record.visits {
                if batch.exists(EntityKind::Encounter, visit.encounter_id.0)? {
                    done.already_here += 1;
                } else {
                    batch.insert_encounter(visit)?;
                    done.visits += 1;
                }
            }
        }
        batch.commit()?;
        Ok(done)
    }
}
