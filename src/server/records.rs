//! The records API (`outpost.records.v1`): other programs read a clinic's records and add
//! patients and lab results as a service account of that clinic.
//!
//! The server keeps changes, not records. A patient's record is read by replaying their changes
//! into a throwaway workstation store in memory — the same merge and the same reading of records
//! a workstation does, not a second implementation — and answered as typed messages or as the
//! FHIR Bundle `outpost export fhir` writes. Writes are change records stamped by the account's
//! own clock node and pushed through the same rules as a workstation's push (whose record it
//! is, signed visits never change, stamps only move forward); a lab result arrives as a draft
//! visit in the account's name for a clinician to review and sign. Every read and write is an
//! entry of the server's access log.

use super::service::{authenticate, blocking, now_millis};
use super::store::{AccessEntry, AccessKind, Device, ServerStore, ServiceScope};
use crate::model::{
    ChangeId, ChangeRecord, DateOfBirth, Encounter, EntityKind, HlcStamp, HybridClock, LabResult,
    NodeId, Patient, PatientId, PatientNumber, Sex,
};
use crate::sync::wire::pb::FindPatientsRequest;
use crate::sync::wire::{Ack, MAX_PAGE_BYTES};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The generated messages and service of `records.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("outpost.records.v1");
}

/// The encoded file descriptor set of `records.proto`, for the reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("outpost_records_v1_descriptor");

/// Patients one search answers at most.
const MAX_SEARCH_HITS: usize = 50;
/// Changes one page of the feed holds at most, and when the caller names no limit.
const MAX_FEED_PAGE: u32 = 500;
const DEFAULT_FEED_PAGE: u32 = 100;
/// Lab results one call may add.
const MAX_RESULTS: usize = 100;
/// The longest text of one field a caller may send.
const MAX_TEXT: usize = 500;
/// Name-based ids of a caller's requests: `uuid v5(namespace, account ‖ request ‖ what)`.
const REQUEST_NAMESPACE: Uuid = Uuid::from_u128(0x6f75_7470_6f73_7472_6563_6f72_6473_0001);

/// The records service over the server's store.
#[derive(Clone)]
pub(crate) struct RecordsService {
    store: Arc<dyn ServerStore>,
    max_skew_millis: i64,
    /// Each service account's clock, by account: stamps its writes with its own node.
    clocks: Arc<Mutex<HashMap<Uuid, HybridClock>>>,
    /// Held while a patient is numbered and pushed, so two registrations in this process never
    /// take the same number.
    numbering: Arc<tokio::sync::Mutex<()>>,
}

impl RecordsService {
    pub(crate) fn new(store: Arc<dyn ServerStore>, max_skew_millis: i64) -> Self {
        Self {
            store,
            max_skew_millis,
            clocks: Arc::default(),
            numbering: Arc::default(),
        }
    }

    /// The service account making the call; a workstation's credential is refused.
    async fn account(&self, metadata: &MetadataMap) -> Result<(Device, ServiceScope), Status> {
        let device = authenticate(&self.store, metadata).await?;
        match device.service {
            Some(scope) => Ok((device, scope)),
            None => Err(Status::permission_denied(
                "this credential is a workstation's: the records API is for service accounts \
                 (outpost-server service-account add)",
            )),
        }
    }

    async fn writer(&self, metadata: &MetadataMap) -> Result<Device, Status> {
        let (device, scope) = self.account(metadata).await?;
        if scope != ServiceScope::ReadWrite {
            return Err(Status::permission_denied(
                "this service account may only read (its scope is `read`)",
            ));
        }
        Ok(device)
    }

    /// Checks that the account's clinic may see the patient, logs the access, and returns the
    /// patient's every change.
    async fn patient_changes(
        &self,
        device: &Device,
        patient_id: Uuid,
        kind: AccessKind,
        reason: &str,
    ) -> Result<Vec<(u64, ChangeRecord)>, Status> {
        let store = Arc::clone(&self.store);
        let device = device.clone();
        let reason = reason.to_owned();
        let changes = blocking(move || {
            if !store.may_see_patient(device.clinic_id, patient_id)? {
                return Ok(None);
            }
            store.log_access(&[AccessEntry {
                at_millis: now_millis(),
                device_id: device.device_id,
                clinic_id: device.clinic_id,
                kind,
                patient_id,
                reason,
            }])?;
            let last = store.last_seq()?;
            let mut all = Vec::new();
            let mut after = 0;
            loop {
                let page = store.patient_changes_between(
                    patient_id,
                    after,
                    last,
                    usize::MAX,
                    MAX_PAGE_BYTES,
                )?;
                let Some((seq, _)) = page.last() else {
                    break;
                };
                after = *seq;
                all.extend(page);
            }
            Ok(Some(all))
        })
        .await?;
        changes.ok_or_else(|| {
            Status::permission_denied(
                "this patient is not one of this clinic's, nor shared with it",
            )
        })
    }

    /// The patient's record, replayed into a workstation store in memory.
    async fn whole_record(
        &self,
        device: &Device,
        patient_id: Uuid,
        reason: &str,
    ) -> Result<crate::store::WholeRecord, Status> {
        let changes = self
            .patient_changes(device, patient_id, AccessKind::Read, reason)
            .await?;
        tokio::task::spawn_blocking(move || replay(&changes, PatientId(patient_id)))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "replaying a record failed");
                Status::internal("the server failed to read the record")
            })?
    }

    /// The next patient number of the account: its own prefix (the clinic's letters and its
    /// place among the clinic's devices, as a workstation's), after the highest one in use.
    async fn next_number(&self, device: &Device) -> Result<PatientNumber, Status> {
        let store = Arc::clone(&self.store);
        let account = device.clone();
        blocking(move || {
            let clinic = store
                .clinics()?
                .into_iter()
                .find(|c| c.clinic_id == account.clinic_id)
                .ok_or(super::store::StoreError::UnknownClinic(account.clinic_id))?;
            let ordinal = super::service::device_ordinal(&store.devices()?, &account);
            let prefix = super::service::number_prefix(&clinic.name, ordinal);
            let seq = store.max_number_seq(&prefix)? + 1;
            Ok(PatientNumber { prefix, seq })
        })
        .await
    }

    /// The account's next stamp, from its own clock node.
    fn stamp(&self, device: &Device) -> Result<HlcStamp, Status> {
        let node = device
            .node_id
            .clone()
            .ok_or_else(|| Status::failed_precondition("this service account has no clock node"))?;
        let mut clocks = self.clocks.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(clocks
            .entry(device.device_id)
            .or_insert_with(|| HybridClock::new(NodeId(node)))
            .tick(now_millis()))
    }

    /// Pushes a change of the account through the rules a workstation's push meets; true when
    /// the server had it already (the same request sent again).
    async fn push(&self, device: &Device, change: ChangeRecord) -> Result<bool, Status> {
        let store = Arc::clone(&self.store);
        let pusher = device.clone();
        let skew = self.max_skew_millis;
        let acks =
            blocking(move || store.push_changes(&pusher, &[change], now_millis(), skew)).await?;
        match acks.into_iter().next() {
            Some(Ack::Accepted { .. } | Ack::Quarantined { .. }) => Ok(false),
            Some(Ack::Duplicate { .. }) => Ok(true),
            Some(Ack::Refused { reason }) => Err(Status::failed_precondition(reason)),
            None => Err(Status::internal("the server did not answer for the change")),
        }
    }

    async fn log(&self, device: &Device, patient_id: Uuid, kind: AccessKind, reason: &str) {
        let store = Arc::clone(&self.store);
        let entry = AccessEntry {
            at_millis: now_millis(),
            device_id: device.device_id,
            clinic_id: device.clinic_id,
            kind,
            patient_id,
            reason: reason.to_owned(),
        };
        if let Err(status) = blocking(move || store.log_access(&[entry])).await {
            tracing::error!(code = ?status.code(), "an access log entry could not be written");
        }
    }
}

/// Replays a patient's changes into a workstation store in memory and reads their record.
fn replay(
    changes: &[(u64, ChangeRecord)],
    patient_id: PatientId,
) -> Result<crate::store::WholeRecord, Status> {
    let internal = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "replaying a record failed");
        Status::internal("the server failed to read the record")
    };
    let mut store = crate::store::Store::open_in_memory().map_err(internal)?;
    store.apply_remote_out_of_order(changes).map_err(internal)?;
    match store.whole_record(patient_id) {
        Ok(record) => Ok(record),
        Err(crate::store::StoreError::NotFound { .. }) => Err(Status::not_found(
            "the server has no record of this patient",
        )),
        Err(e) => Err(internal(e)),
    }
}

fn parse_id(text: &str, what: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(text.trim())
        .map_err(|_| Status::invalid_argument(format!("{what} is not a UUID: {text:?}")))
}

fn text(value: &str, what: &str) -> Result<String, Status> {
    let value = value.trim();
    if value.chars().count() > MAX_TEXT {
        return Err(Status::invalid_argument(format!(
            "{what} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(value.to_owned())
}

/// The id a request's record gets: the same for the same account and request id, so a retried
/// call writes nothing new.
fn request_uuid(device: &Device, request_id: &str, what: &str) -> Result<Uuid, Status> {
    let request = parse_id(request_id, "request_id")?;
    let name = format!("{}/{}/{what}", device.device_id, request);
    Ok(Uuid::new_v5(&REQUEST_NAMESPACE, name.as_bytes()))
}

fn date_text(date: Option<chrono::NaiveDate>) -> String {
    date.map(|d| d.to_string()).unwrap_or_default()
}

fn patient_message(p: &Patient) -> pb::Patient {
    pb::Patient {
        patient_id: p.patient_id.to_string(),
        number: p
            .number
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        family_name: p.family_name.clone(),
        given_name: p.given_name.clone(),
        other_script_name: p.other_script_name.clone(),
        sex: p.sex.code().to_owned(),
        birth_date: date_text(p.birth.map(|b| b.date)),
        birth_date_estimated: p.birth.is_some_and(|b| b.estimated),
        village: p.village.clone(),
        phone: p.phone.clone(),
        national_id: p.national_id.clone(),
    }
}

fn visit_message(v: &Encounter) -> pb::Visit {
    let vitals = &v.vitals;
    pb::Visit {
        visit_id: v.encounter_id.to_string(),
        started_at: v.started_at.to_rfc3339(),
        kind: v.kind.code().to_owned(),
        status: v.status.code().to_owned(),
        clinician: v.clinician.clone(),
        chief_complaint: v.chief_complaint.clone(),
        vitals: Some(pb::Vitals {
            temperature_c: vitals.temperature_c,
            pulse_bpm: vitals.pulse_bpm,
            respiratory_rate: vitals.respiratory_rate,
            systolic_mmhg: vitals.systolic_mmhg,
            diastolic_mmhg: vitals.diastolic_mmhg,
            spo2_percent: vitals.spo2_percent,
            weight_kg: vitals.weight_kg,
            height_cm: vitals.height_cm,
            muac_mm: vitals.muac_mm,
        }),
        diagnoses: v
            .diagnoses
            .iter()
            .map(|d| pb::Diagnosis {
                code: d.code.clone().unwrap_or_default(),
                title: d.title.clone(),
                primary: d.primary,
            })
            .collect(),
        prescriptions: v
            .prescriptions
            .iter()
            .map(|p| pb::Prescription {
                medicine: p.medicine.clone(),
                strength: p.strength.clone(),
                dose: p.dose.clone(),
                route: p.route.clone(),
                frequency: p.frequency.clone(),
                duration: p.duration.clone(),
                quantity: p.quantity.clone(),
                instructions: p.instructions.clone(),
            })
            .collect(),
        lab_results: v
            .lab_results
            .iter()
            .map(|r| pb::LabResult {
                test: r.test.clone(),
                value: r.value.clone(),
                unit: r.unit.clone(),
                abnormal: r.abnormal,
            })
            .collect(),
        plan: v.plan.clone(),
        follow_up: date_text(v.follow_up),
    }
}

fn record_message(record: &crate::store::WholeRecord) -> pb::PatientRecord {
    pb::PatientRecord {
        patient: Some(patient_message(&record.patient)),
        allergy_status: record.allergy_status.code().to_owned(),
        allergies: record
            .allergies
            .iter()
            .map(|a| pb::Allergy {
                substance: a.substance.clone(),
                reaction: a.reaction.clone(),
                severity: a.severity.code().to_owned(),
            })
            .collect(),
        problems: record
            .problems
            .iter()
            .map(|p| pb::Problem {
                code: p.code.clone().unwrap_or_default(),
                title: p.title.clone(),
                status: p.status.code().to_owned(),
                onset: date_text(p.onset),
            })
            .collect(),
        visits: record.visits.iter().map(visit_message).collect(),
    }
}

/// The patient id a change is about: the record's own for a patient, its `patient_id` field
/// for the records that belong to one.
fn change_patient(change: &ChangeRecord) -> Option<Uuid> {
    match change.entity {
        EntityKind::Patient => Some(change.entity_id),
        _ => change
            .fields
            .get("patient_id")
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok()),
    }
}

#[tonic::async_trait]
impl pb::records_server::Records for RecordsService {
    async fn search_patients(
        &self,
        request: Request<pb::SearchPatientsRequest>,
    ) -> Result<Response<pb::SearchPatientsResponse>, Status> {
        let (device, _) = self.account(request.metadata()).await?;
        // The same look-ups, and the same checks, as a workstation's at the district server.
        let lookup = match request.into_inner().by {
            Some(pb::search_patients_request::By::Number(number)) => FindPatientsRequest {
                number,
                ..FindPatientsRequest::default()
            },
            Some(pb::search_patients_request::By::NationalId(national_id)) => FindPatientsRequest {
                national_id,
                ..FindPatientsRequest::default()
            },
            Some(pb::search_patients_request::By::Name(name)) => FindPatientsRequest {
                family_name: name.family_name,
                birth_year: name.birth_year,
                ..FindPatientsRequest::default()
            },
            None => FindPatientsRequest::default(),
        };
        let (query, said) = super::service::patient_query(lookup)?;
        let store = Arc::clone(&self.store);
        let searcher = device.clone();
        let hits = blocking(move || {
            let hits = store.find_patients(&query, MAX_SEARCH_HITS)?;
            let mut seen = Vec::new();
            for hit in hits {
                if store.may_see_patient(searcher.clinic_id, hit.patient_id)? {
                    seen.push(hit);
                }
            }
            let entries: Vec<AccessEntry> = seen
                .iter()
                .map(|hit| AccessEntry {
                    at_millis: now_millis(),
                    device_id: searcher.device_id,
                    clinic_id: searcher.clinic_id,
                    kind: AccessKind::Lookup,
                    patient_id: hit.patient_id,
                    reason: format!("records API search {said}"),
                })
                .collect();
            store.log_access(&entries)?;
            Ok(seen)
        })
        .await?;
        Ok(Response::new(pb::SearchPatientsResponse {
            patients: hits
                .into_iter()
                .map(|hit| pb::PatientSummary {
                    patient_id: hit.patient_id.hyphenated().to_string(),
                    number: hit.number,
                    family_name: hit.family_name,
                    given_name: hit.given_name,
                    birth_year: hit.birth_year.unwrap_or(0),
                    sex: hit.sex,
                })
                .collect(),
        }))
    }

    async fn get_patient(
        &self,
        request: Request<pb::GetPatientRequest>,
    ) -> Result<Response<pb::PatientRecord>, Status> {
        let (device, _) = self.account(request.metadata()).await?;
        let patient_id = parse_id(&request.get_ref().patient_id, "patient_id")?;
        let record = self
            .whole_record(&device, patient_id, "records API: the record")
            .await?;
        Ok(Response::new(record_message(&record)))
    }

    async fn get_patient_bundle(
        &self,
        request: Request<pb::GetPatientRequest>,
    ) -> Result<Response<pb::FhirBundle>, Status> {
        let (device, _) = self.account(request.metadata()).await?;
        let patient_id = parse_id(&request.get_ref().patient_id, "patient_id")?;
        let record = self
            .whole_record(&device, patient_id, "records API: the record as FHIR")
            .await?;
        // Image files stay at the server; their studies are listed without the SOP class the
        // workstation reads from the file.
        let images: Vec<crate::fhir::ExportedImage<'_>> = record
            .attachments
            .iter()
            .map(|attachment| crate::fhir::ExportedImage {
                attachment,
                sop_class_uid: None,
            })
            .collect();
        let resources = crate::fhir::patient_resources(&crate::fhir::PatientRecord {
            patient: &record.patient,
            allergy_status: record.allergy_status,
            allergies: &record.allergies,
            problems: &record.problems,
            visits: &record.visits,
            images: &images,
        });
        let bundle = crate::fhir::bundle(resources, chrono::Utc::now());
        Ok(Response::new(pb::FhirBundle {
            json: bundle.to_string(),
        }))
    }

    async fn list_changes(
        &self,
        request: Request<pb::ListChangesRequest>,
    ) -> Result<Response<pb::ListChangesResponse>, Status> {
        let (device, _) = self.account(request.metadata()).await?;
        let request = request.into_inner();
        let limit = match request.limit {
            0 => DEFAULT_FEED_PAGE,
            n => n.min(MAX_FEED_PAGE),
        } as usize;
        let store = Arc::clone(&self.store);
        let reader = device.clone();
        let after = request.after;
        let (page, last) = blocking(move || {
            let last = store.last_seq()?;
            let page =
                store.changes_between(reader.clinic_id, after, last, limit, MAX_PAGE_BYTES)?;
            Ok((page, last))
        })
        .await?;
        let full = page.len() >= limit;
        let cursor = match (full, page.last()) {
            (true, Some((seq, _))) => *seq,
            _ => last.max(after),
        };
        let patients: BTreeSet<Uuid> = page.iter().filter_map(|(_, c)| change_patient(c)).collect();
        for patient in patients {
            self.log(&device, patient, AccessKind::Read, "records API: changes")
                .await;
        }
        Ok(Response::new(pb::ListChangesResponse {
            changes: page
                .into_iter()
                .map(|(seq, change)| pb::RecordChange {
                    seq,
                    entity: change.entity.as_str().to_owned(),
                    entity_id: change.entity_id.hyphenated().to_string(),
                    fields_json: serde_json::Value::Object(change.fields).to_string(),
                    stamp: change.hlc.to_string(),
                })
                .collect(),
            cursor,
            more: cursor < last,
        }))
    }

    async fn create_patient(
        &self,
        request: Request<pb::CreatePatientRequest>,
    ) -> Result<Response<pb::CreatePatientResponse>, Status> {
        let device = self.writer(request.metadata()).await?;
        let r = request.into_inner();
        let patient_uuid = request_uuid(&device, &r.request_id, "patient")?;
        let mut patient = Patient::blank(device.clinic_id);
        patient.patient_id = PatientId(patient_uuid);
        patient.family_name = text(&r.family_name, "family_name")?;
        patient.given_name = text(&r.given_name, "given_name")?;
        patient.sex = match r.sex.trim() {
            "" => Sex::Unknown,
            code @ ("female" | "male" | "intersex" | "unknown") => Sex::from_code(code),
            _ => {
                return Err(Status::invalid_argument(
                    "sex is female, male, intersex or unknown",
                ));
            }
        };
        if !r.birth_date.trim().is_empty() {
            let date = r
                .birth_date
                .trim()
                .parse::<chrono::NaiveDate>()
                .map_err(|_| {
                    Status::invalid_argument(format!(
                        "birth_date is a date as YYYY-MM-DD, not {:?}",
                        r.birth_date
                    ))
                })?;
            patient.birth = Some(DateOfBirth {
                date,
                estimated: r.birth_date_estimated,
            });
        }
        patient.village = text(&r.village, "village")?;
        patient.phone = text(&r.phone, "phone")?;
        patient.national_id = text(&r.national_id, "national_id")?;
        let today = chrono::Utc::now().date_naive();
        let validation = patient.validate(today);
        if !validation.is_valid() {
            return Err(Status::invalid_argument(validation.summary()));
        }
        let numbering = self.numbering.lock().await;
        let number = self.next_number(&device).await?;
        patient.number = Some(number.clone());
        let change = ChangeRecord {
            change_id: ChangeId(request_uuid(&device, &r.request_id, "patient change")?),
            entity: EntityKind::Patient,
            entity_id: patient_uuid,
            fields: crate::store::patient_fields(&patient),
            hlc: self.stamp(&device)?,
            clinic_id: device.clinic_id,
            supersedes: BTreeMap::new(),
        };
        let sent_before = self.push(&device, change).await?;
        drop(numbering);
        self.log(
            &device,
            patient_uuid,
            AccessKind::Written,
            "records API: patient registered",
        )
        .await;
        // The same request again: the patient keeps the number the first one gave.
        let number = if sent_before {
            self.whole_record(
                &device,
                patient_uuid,
                "records API: patient registered again",
            )
            .await?
            .patient
            .number
            .map_or_else(String::new, |n| n.to_string())
        } else {
            number.to_string()
        };
        Ok(Response::new(pb::CreatePatientResponse {
            patient_id: patient_uuid.hyphenated().to_string(),
            number,
        }))
    }

    async fn create_observation(
        &self,
        request: Request<pb::CreateObservationRequest>,
    ) -> Result<Response<pb::CreateObservationResponse>, Status> {
        let device = self.writer(request.metadata()).await?;
        let r = request.into_inner();
        let patient_id = parse_id(&r.patient_id, "patient_id")?;
        if r.results.is_empty() || r.results.len() > MAX_RESULTS {
            return Err(Status::invalid_argument(format!(
                "send 1 to {MAX_RESULTS} results"
            )));
        }
        let mut results = Vec::with_capacity(r.results.len());
        for result in &r.results {
            let test = text(&result.test, "a result's test")?;
            let value = text(&result.value, "a result's value")?;
            if test.is_empty() || value.is_empty() {
                return Err(Status::invalid_argument(
                    "each result names its test and its value",
                ));
            }
            results.push(LabResult {
                test,
                value,
                unit: text(&result.unit, "a result's unit")?,
                abnormal: result.abnormal,
            });
        }
        let taken_at = match r.taken_at.trim() {
            "" => chrono::Utc::now(),
            t => chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| {
                    Status::invalid_argument(format!(
                        "taken_at is a time as RFC 3339 (2026-11-20T09:30:00Z), not {t:?}"
                    ))
                })?
                .with_timezone(&chrono::Utc),
        };
        let store = Arc::clone(&self.store);
        let clinic = device.clinic_id;
        let allowed = blocking(move || store.may_see_patient(clinic, patient_id)).await?;
        if !allowed {
            return Err(Status::permission_denied(
                "this patient is not one of this clinic's, nor shared with it",
            ));
        }
        let visit_uuid = request_uuid(&device, &r.request_id, "observation")?;
        let mut visit = Encounter::new_draft(PatientId(patient_id), &device.name, taken_at);
        visit.encounter_id = crate::model::EncounterId(visit_uuid);
        visit.chief_complaint = format!("Lab results from {}", device.name);
        visit.lab_results = results;
        let change = ChangeRecord {
            change_id: ChangeId(request_uuid(&device, &r.request_id, "observation change")?),
            entity: EntityKind::Encounter,
            entity_id: visit_uuid,
            fields: crate::store::encounter_fields(&visit),
            hlc: self.stamp(&device)?,
            clinic_id: device.clinic_id,
            supersedes: BTreeMap::new(),
        };
        self.push(&device, change).await?;
        self.log(
            &device,
            patient_id,
            AccessKind::Written,
            "records API: lab results",
        )
        .await;
        Ok(Response::new(pb::CreateObservationResponse {
            visit_id: visit_uuid.hyphenated().to_string(),
        }))
    }
}
