//! Records leaving as FHIR and coming in from FHIR, for the signed-in user who may; each patient
//! exported is an entry of the audit trail, and what an import writes is audited record by
//! record, as any write is.

use super::{AppError, AppService};
use crate::fhir::{self, ExportedImage, PatientRecord, Skipped};
use crate::model::{Action, AuditAction, AuditEvent, PatientId};
use crate::store::RecordsImported;

/// Whose records an export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportScope {
    /// One patient.
    Patient(PatientId),
    /// Every patient on this workstation.
    All,
}

/// What an import did: the records written, and what it did not keep, with the reasons.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FhirImported {
    /// What was written.
    pub written: RecordsImported,
    /// What was not kept, and why.
    pub skipped: Vec<Skipped>,
}

impl AppService {
    /// The FHIR resources of the patients in `scope` (visits as amended, voided ones left out),
    /// for a Bundle ([`fhir::bundle`]) or NDJSON ([`fhir::ndjson`]).
    pub fn export_fhir(&mut self, scope: ExportScope) -> Result<Vec<serde_json::Value>, AppError> {
        let user_id = self.authorize(Action::ExportRecords)?.user.user_id;
        let patients = match scope {
            ExportScope::Patient(patient_id) => vec![patient_id],
            ExportScope::All => {
                let order = self
                    .store
                    .patient_order(crate::store::PatientSort::Number, false)?;
                self.store
                    .patient_rows(&order)?
                    .into_iter()
                    .map(|row| row.patient_id)
                    .collect()
            }
        };
        let mut resources = Vec::new();
        for patient_id in patients {
            resources.extend(self.patient_fhir(patient_id)?);
            self.store.record_audit(
                AuditEvent::new(AuditAction::Export, Some(user_id)).patient(patient_id),
            )?;
        }
        Ok(resources)
    }

    fn patient_fhir(&self, patient_id: PatientId) -> Result<Vec<serde_json::Value>, AppError> {
        let record = self.store.whole_record(patient_id)?;
        let images: Vec<ExportedImage<'_>> = record
            .attachments
            .iter()
            .map(|attachment| ExportedImage {
                attachment,
                sop_class_uid: (attachment.media_type == "application/dicom")
                    .then(|| self.store.read_blob(&attachment.blob).ok().flatten())
                    .flatten()
                    .and_then(|bytes| crate::imaging::read_header(&bytes).ok())
                    .map(|info| info.sop_class_uid)
                    .filter(|uid| !uid.is_empty()),
            })
            .collect();
        Ok(fhir::patient_resources(&PatientRecord {
            patient: &record.patient,
            allergy_status: record.allergy_status,
            allergies: &record.allergies,
            problems: &record.problems,
            visits: &record.visits,
            images: &images,
        }))
    }

    /// Reads a FHIR Bundle (ours or another system's) into the store as new records, which
    /// sync like any other; what is here already stays as it is, so importing twice changes
    /// nothing.
    pub fn import_fhir(&mut self, bytes: &[u8]) -> Result<FhirImported, AppError> {
        self.authorize(Action::ImportRecords)?;
        let today = self.clock.now().date_naive();
        let (records, skipped) = fhir::read_bundle(bytes, today)?;
        let written = self.store.import_records(&records)?;
        Ok(FhirImported { written, skipped })
    }
}
