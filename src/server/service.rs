//! The gRPC services of the sync protocol — enrollment, sync and blobs — over a [`ServerStore`].
//!
//! This is where the server's rules live: every call but enrollment carries a valid device
//! credential; a device pushes only its own clinic's changes, stamped by its own node (the store
//! checks stamps and who owns each record); a device sees only what its clinic may see, blobs
//! included; one device cannot hold more than a few uploads and downloads open, nor spoil
//! another's upload; wrong enrollment codes slow their sender down; sizes stay within the
//! protocol's limits; bad input gets a status with a reason instead of a panic. Store calls run on
//! tokio's blocking pool so the async runtime never waits on disk. Logs carry ids and counts only.

use super::enrollment::{normalize_code, random_token, secret_hash};
use super::store::{
    AccessEntry, AccessKind, BlobState, BlobUpload, Device, NewDevice, PatientQuery, ServerStore,
    ShareReason, StoreError,
};
use super::throttle::EnrollThrottle;
use super::uploads::UploadSlots;
use crate::model::{ChangeRecord, EntityKind, PatientNumber};
use crate::sync::wire::{
    self, Ack, BLOB_CHUNK_BYTES, BlobHash, DEFAULT_PAGE_SIZE, MAX_BLOB_BYTES,
    MAX_FIELDS_JSON_BYTES, MAX_MISSING_QUERY, MAX_PAGE_BYTES, MAX_PAGE_SIZE, MAX_PUSH_CHANGES, pb,
};
use chrono::Utc;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

/// Longest device name accepted at enrollment, in characters.
const MAX_DEVICE_NAME: usize = 100;

/// Pull pages (and download chunks) produced ahead of a slow reader.
const STREAM_BUFFER: usize = 2;

/// Patients a lookup answers at most.
const MAX_LOOKUP_HITS: usize = 20;

/// Bytes one device may hold in unfinished uploads.
pub(crate) const MAX_PARTIAL_BYTES_PER_DEVICE: u64 = 4 * 1024 * 1024 * 1024;

/// The three sync services, sharing one store.
#[derive(Clone)]
pub(crate) struct SyncService {
    store: Arc<dyn ServerStore>,
    max_skew_millis: i64,
    upload_idle: Duration,
    max_stored_bytes: u64,
    uploads: Arc<UploadSlots>,
    throttle: Arc<EnrollThrottle>,
}

pub(crate) fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// The longest a call waits for one piece of store work (a busy database, a slow disk) before it
/// answers `DEADLINE_EXCEEDED`; the workstation tries again later.
const STORE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs store work on the blocking pool and turns its error into a status.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, Status>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::time::timeout(STORE_TIMEOUT, tokio::task::spawn_blocking(work)).await {
        Ok(Ok(result)) => result.map_err(status_from_store),
        Ok(Err(join)) => {
            tracing::error!(error = %join, "a storage task failed");
            Err(Status::internal(
                "the server failed to complete the request",
            ))
        }
        Err(_) => {
            tracing::warn!("a storage task took longer than the request may wait");
            Err(Status::deadline_exceeded(
                "the server is busy and did not finish in time; try again later",
            ))
        }
    }
}

/// The status a store error becomes. Failures of the server's own storage are logged here,
/// once, and the workstation is told only that the server has a problem.
pub(crate) fn status_from_store(error: StoreError) -> Status {
    match error {
        StoreError::CodeRefused => Status::unauthenticated(error.to_string()),
        StoreError::HashMismatch { .. } | StoreError::PastEnd { .. } => {
            Status::invalid_argument(error.to_string())
        }
        StoreError::Incomplete { .. } | StoreError::AuditRefused(_) => {
            Status::failed_precondition(error.to_string())
        }
        StoreError::UnknownClinic(_)
        | StoreError::UnknownDevice(_)
        | StoreError::UnknownPatient(_) => Status::not_found(error.to_string()),
        StoreError::NodeTaken => Status::failed_precondition(error.to_string()),
        StoreError::Database { .. }
        | StoreError::Io { .. }
        | StoreError::Corrupt { .. }
        | StoreError::SchemaTooNew { .. }
        | StoreError::Random(_) => {
            tracing::error!(error = %error, "server storage failed");
            Status::internal("the server could not read or write its storage; try again later")
        }
    }
}

fn parse_hash(text: &str) -> Result<BlobHash, Status> {
    text.parse()
        .map_err(|e: wire::BlobHashError| Status::invalid_argument(e.to_string()))
}

/// The token of `authorization: Bearer <token>`.
fn bearer_token(metadata: &MetadataMap) -> Result<&str, Status> {
    let Some(value) = metadata.get("authorization") else {
        return Err(Status::unauthenticated(
            "no device credential was sent: enroll this workstation with a code from the administrator",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256);
    token.ok_or_else(|| {
        Status::unauthenticated("the device credential is not in the form `Bearer <token>`")
    })
}

/// The device or service account making a call, by its credential: missing, unknown or revoked
/// credentials are `UNAUTHENTICATED`.
pub(crate) async fn authenticate(
    store: &Arc<dyn ServerStore>,
    metadata: &MetadataMap,
) -> Result<Device, Status> {
    let token_hash = secret_hash(bearer_token(metadata)?);
    let store = Arc::clone(store);
    let device = blocking(move || store.device_by_token_hash(&token_hash)).await?;
    match device {
        None => Err(Status::unauthenticated(
            "this server does not recognise the credential: enroll this workstation again, or \
             ask the administrator for a service account",
        )),
        Some(device) if device.revoked_at_millis.is_some() => {
            tracing::info!(device_id = %device.device_id, "call from a revoked device refused");
            Err(Status::unauthenticated(
                "this credential was revoked by the administrator",
            ))
        }
        Some(device) => Ok(device),
    }
}

impl SyncService {
    pub(crate) fn new(
        store: Arc<dyn ServerStore>,
        max_skew_millis: i64,
        upload_idle: Duration,
        max_stored_bytes: u64,
    ) -> Self {
        Self {
            store,
            max_skew_millis,
            upload_idle,
            max_stored_bytes,
            uploads: Arc::new(UploadSlots::default()),
            throttle: Arc::new(EnrollThrottle::default()),
        }
    }

    /// The workstation making a call, by its credential: missing, unknown or revoked credentials
    /// are `UNAUTHENTICATED`; a service account's is `PERMISSION_DENIED` (it calls the records
    /// API, not the workstations' sync).
    async fn device(&self, metadata: &MetadataMap) -> Result<Device, Status> {
        let device = authenticate(&self.store, metadata).await?;
        if device.service.is_some() {
            return Err(Status::permission_denied(
                "this credential is a service account's: it calls the records API \
                 (outpost.records.v1), not the workstations' sync",
            ));
        }
        Ok(device)
    }

    /// Checks that `device`'s clinic may see the patient, and logs the read when the patient is
    /// another clinic's.
    async fn open_patient(&self, device: &Device, patient: uuid::Uuid) -> Result<(), Status> {
        let store = Arc::clone(&self.store);
        let device = device.clone();
        let now = now_millis();
        let allowed = blocking(move || {
            if !store.may_see_patient(device.clinic_id, patient)? {
                return Ok(false);
            }
            if store.patient_home(patient)? != Some(device.clinic_id) {
                store.log_access(&[AccessEntry {
                    at_millis: now,
                    device_id: device.device_id,
                    clinic_id: device.clinic_id,
                    kind: AccessKind::Opened,
                    patient_id: patient,
                    reason: String::new(),
                }])?;
            }
            Ok(true)
        })
        .await?;
        if allowed {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "this patient is not shared with this clinic: find them at the district server and open them with a reason",
            ))
        }
    }
}

/// The store's question for a lookup, and how it was asked (for the access log).
pub(crate) fn patient_query(
    request: pb::FindPatientsRequest,
) -> Result<(PatientQuery, &'static str), Status> {
    let pb::FindPatientsRequest {
        number,
        national_id,
        family_name,
        birth_year,
    } = request;
    let (number, national_id, family_name) =
        (number.trim(), national_id.trim(), family_name.trim());
    let ways = [
        !number.is_empty(),
        !national_id.is_empty(),
        !family_name.is_empty(),
    ]
    .iter()
    .filter(|w| **w)
    .count();
    if ways != 1 {
        return Err(Status::invalid_argument(
            "look a patient up by exactly one of: number, national id, or family name with year of birth",
        ));
    }
    if !number.is_empty() {
        let parsed = PatientNumber::parse(number).ok_or_else(|| {
            Status::invalid_argument(format!(
                "{number:?} is not a patient number like HIL1-000042"
            ))
        })?;
        return Ok((
            PatientQuery::Number {
                prefix: parsed.prefix,
                seq: parsed.seq,
            },
            "by number",
        ));
    }
    if !national_id.is_empty() {
        if national_id.chars().count() > 64 {
            return Err(Status::invalid_argument(
                "a national id has at most 64 characters",
            ));
        }
        return Ok((
            PatientQuery::NationalId(national_id.to_owned()),
            "by national id",
        ));
    }
    if family_name.chars().count() > 100 {
        return Err(Status::invalid_argument(
            "a family name has at most 100 characters",
        ));
    }
    if !(1850..=2200).contains(&birth_year) {
        return Err(Status::invalid_argument(
            "a family name alone finds too many people: give the year of birth too",
        ));
    }
    Ok((
        PatientQuery::NameAndBirthYear {
            family_name: family_name.to_owned(),
            birth_year,
        },
        "by name and year of birth",
    ))
}

#[tonic::async_trait]
impl pb::enrollment_server::Enrollment for SyncService {
    async fn enroll(
        &self,
        request: Request<pb::EnrollRequest>,
    ) -> Result<Response<pb::EnrollResponse>, Status> {
        let addr = request.remote_addr().map(|a| a.ip());
        if let Some(addr) = addr
            && let Err(wait) = self.throttle.check(addr, Instant::now())
        {
            tracing::warn!(%addr, "enrollment refused: too many wrong codes from this address");
            return Err(Status::resource_exhausted(format!(
                "too many wrong enrollment codes were sent from this address: wait {} minutes and \
                 check the code with the administrator",
                wait.as_secs().div_ceil(60).max(1)
            )));
        }
        let pb::EnrollRequest {
            enrollment_code,
            device_name,
            node_id,
            replaces_device_id,
        } = request.into_inner();
        let replaces = match replaces_device_id.trim() {
            "" => None,
            id => Some(id.parse::<Uuid>().map_err(|_| {
                Status::invalid_argument("the device to take over is not a device id")
            })?),
        };
        let node_id = node_id.trim().to_owned();
        if node_id.len() > 64
            || !node_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Status::invalid_argument(
                "the workstation's node id must be up to 64 letters, digits and dashes",
            ));
        }
        let wrong_code = |throttle: &EnrollThrottle| {
            if let Some(addr) = addr {
                let failures = throttle.failed(addr, Instant::now());
                tracing::warn!(%addr, failures, "a wrong enrollment code was sent");
            }
            Status::unauthenticated(StoreError::CodeRefused.to_string())
        };
        let device_name = device_name.trim().to_owned();
        if device_name.is_empty()
            || device_name.chars().count() > MAX_DEVICE_NAME
            || device_name.chars().any(char::is_control)
        {
            return Err(Status::invalid_argument(format!(
                "the device name must be 1 to {MAX_DEVICE_NAME} printable characters"
            )));
        }
        let Some(code) = normalize_code(&enrollment_code) else {
            return Err(wrong_code(&self.throttle));
        };
        let token = random_token().map_err(status_from_store)?;
        let new_device = NewDevice {
            device_id: Uuid::now_v7(),
            name: device_name,
            token_hash: secret_hash(&token),
            node_id: (!node_id.is_empty()).then_some(node_id),
            replaces,
        };
        let store = Arc::clone(&self.store);
        let now = now_millis();
        let enrolled =
            blocking(move || store.enroll_device(&secret_hash(&code), &new_device, now)).await;
        let (device, clinic) = match enrolled {
            Ok(enrolled) => enrolled,
            Err(status) if status.code() == tonic::Code::Unauthenticated => {
                return Err(wrong_code(&self.throttle));
            }
            Err(status) => return Err(status),
        };
        tracing::info!(device_id = %device.device_id, clinic_id = %clinic.clinic_id, "device enrolled");
        // The device's place among its clinic's devices (ids are time-ordered), so each
        // workstation of a clinic numbers its patients under its own prefix.
        let store = Arc::clone(&self.store);
        let devices = blocking(move || store.devices()).await?;
        let ordinal = device_ordinal(&devices, &device);
        Ok(Response::new(pb::EnrollResponse {
            device_id: device.device_id.hyphenated().to_string(),
            device_token: token,
            clinic_id: clinic.clinic_id.to_string(),
            number_prefix: number_prefix(&clinic.name, ordinal),
            clinic_name: clinic.name,
            server_time_millis: now,
        }))
    }
}

/// Checks the size limits of one pushed change before it is parsed.
fn check_change_size(index: usize, change: &pb::Change) -> Result<(), Status> {
    for (name, text) in [
        ("fields_json", &change.fields_json),
        ("supersedes_json", &change.supersedes_json),
    ] {
        if text.len() > MAX_FIELDS_JSON_BYTES {
            return Err(Status::resource_exhausted(format!(
                "change {index} of the batch ({}): {name} has {} bytes; the limit is {MAX_FIELDS_JSON_BYTES}",
                change.change_id.chars().take(40).collect::<String>(),
                text.len()
            )));
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl pb::sync_server::Sync for SyncService {
    async fn push(
        &self,
        request: Request<pb::PushRequest>,
    ) -> Result<Response<pb::PushResponse>, Status> {
        let device = self.device(request.metadata()).await?;
        let changes = request.into_inner().changes;
        if changes.len() > MAX_PUSH_CHANGES {
            return Err(Status::resource_exhausted(format!(
                "a push may carry at most {MAX_PUSH_CHANGES} changes, not {}",
                changes.len()
            )));
        }
        // Every change is read and checked before anything is stored: one malformed or foreign
        // change fails the whole call and nothing of it is kept.
        let mut records = Vec::with_capacity(changes.len());
        for (index, change) in changes.into_iter().enumerate() {
            check_change_size(index, &change)?;
            let record = ChangeRecord::try_from(change).map_err(|e| {
                Status::invalid_argument(format!("change {index} of the batch: {e}"))
            })?;
            if record.clinic_id != device.clinic_id {
                tracing::warn!(
                    device_id = %device.device_id,
                    change_id = %record.change_id,
                    "push refused: a change claims another clinic"
                );
                return Err(Status::permission_denied(format!(
                    "change {} claims clinic {}, but this workstation belongs to clinic {}",
                    record.change_id, record.clinic_id, device.clinic_id
                )));
            }
            records.push(record);
        }
        // Changes that do not fit their record's fields are refused one by one; the rest of
        // the batch is stored.
        let mut answers: Vec<Option<Ack>> = records
            .iter()
            .map(|r| r.check_fields().err().map(|reason| Ack::Refused { reason }))
            .collect();
        let ids: Vec<String> = records.iter().map(|r| r.change_id.to_string()).collect();
        let valid: Vec<ChangeRecord> = records
            .into_iter()
            .zip(&answers)
            .filter(|(_, answer)| answer.is_none())
            .map(|(record, _)| record)
            .collect();
        let now = now_millis();
        let store = Arc::clone(&self.store);
        let skew = self.max_skew_millis;
        let stored_device = device.clone();
        let mut stored = blocking(move || store.push_changes(&stored_device, &valid, now, skew))
            .await?
            .into_iter();
        for answer in answers.iter_mut().filter(|a| a.is_none()) {
            *answer = stored.next();
        }
        let mut counts = [0usize; 4];
        let mut acks = Vec::with_capacity(ids.len());
        for (id, answer) in ids.iter().zip(answers) {
            let Some(ack) = answer else {
                return Err(status_from_store(StoreError::Corrupt {
                    what: format!("answer for change {id}"),
                    reason: "the store answered fewer changes than it was given".into(),
                }));
            };
            let slot = match ack {
                Ack::Accepted { .. } => 0,
                Ack::Duplicate { .. } => 1,
                Ack::Quarantined { .. } => 2,
                Ack::Refused { .. } => 3,
            };
            if let Some(count) = counts.get_mut(slot) {
                *count += 1;
            }
            acks.push(ack.to_wire(id));
        }
        let [accepted, duplicate, quarantined, refused] = counts;
        tracing::info!(
            device_id = %device.device_id,
            accepted, duplicate, quarantined, refused,
            "push"
        );
        Ok(Response::new(pb::PushResponse {
            acks,
            server_time_millis: now,
        }))
    }

    async fn push_audit(
        &self,
        request: Request<pb::AuditPushRequest>,
    ) -> Result<Response<pb::AuditPushResponse>, Status> {
        let device = self.device(request.metadata()).await?;
        let entries = request.into_inner().entries;
        if entries.len() > wire::MAX_PUSH_AUDIT {
            return Err(Status::resource_exhausted(format!(
                "an audit push may carry at most {} entries, not {}",
                wire::MAX_PUSH_AUDIT,
                entries.len()
            )));
        }
        let entries = entries
            .into_iter()
            .map(crate::model::AuditEntry::try_from)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let count = entries.len();
        let store = Arc::clone(&self.store);
        let stored_device = device.clone();
        let held_through = blocking(move || store.append_audit(&stored_device, &entries)).await?;
        tracing::info!(device_id = %device.device_id, entries = count, held_through, "audit push");
        Ok(Response::new(pb::AuditPushResponse { held_through }))
    }

    async fn find_patients(
        &self,
        request: Request<pb::FindPatientsRequest>,
    ) -> Result<Response<pb::FindPatientsResponse>, Status> {
        let device = self.device(request.metadata()).await?;
        let (query, asked_by) = patient_query(request.into_inner())?;
        let store = Arc::clone(&self.store);
        let clinic_id = device.clinic_id;
        let now = now_millis();
        let device_id = device.device_id;
        let patients = blocking(move || {
            let hits = store.find_patients(&query, MAX_LOOKUP_HITS)?;
            let mut answers = Vec::with_capacity(hits.len());
            let mut crossed = Vec::new();
            for hit in hits {
                let visible = store.may_see_patient(clinic_id, hit.patient_id)?;
                if hit.clinic_id != clinic_id {
                    crossed.push(AccessEntry {
                        at_millis: now,
                        device_id,
                        clinic_id,
                        kind: AccessKind::Lookup,
                        patient_id: hit.patient_id,
                        reason: asked_by.to_owned(),
                    });
                }
                answers.push(pb::PatientHit {
                    patient_id: hit.patient_id.hyphenated().to_string(),
                    number: hit.number,
                    family_name: hit.family_name,
                    given_name: hit.given_name,
                    birth_year: hit.birth_year.unwrap_or(0),
                    sex: hit.sex,
                    clinic_name: hit.clinic_name,
                    visible,
                });
            }
            store.log_access(&crossed)?;
            Ok(answers)
        })
        .await?;
        tracing::info!(device_id = %device.device_id, found = patients.len(), "patient lookup");
        Ok(Response::new(pb::FindPatientsResponse { patients }))
    }

    async fn share_patient(
        &self,
        request: Request<pb::SharePatientRequest>,
    ) -> Result<Response<pb::SharePatientResponse>, Status> {
        let device = self.device(request.metadata()).await?;
        let pb::SharePatientRequest { patient_id, reason } = request.into_inner();
        let patient_id: uuid::Uuid = patient_id
            .trim()
            .parse()
            .map_err(|_| Status::invalid_argument("patient_id is not an id"))?;
        let Some(reason) = ShareReason::from_code(reason.trim()) else {
            return Err(Status::invalid_argument(
                "say why the patient is opened here: \"referred\", \"emergency\" or \"patient_moved\"",
            ));
        };
        let store = Arc::clone(&self.store);
        let sharing = device.clone();
        let now = now_millis();
        blocking(move || {
            if store.may_see_patient(sharing.clinic_id, patient_id)? {
                // Shared already, or the clinic's own: nothing to grant.
                return Ok(());
            }
            store.share_patient(&sharing, patient_id, reason, now)
        })
        .await?;
        tracing::info!(device_id = %device.device_id, patient_id = %patient_id, reason = reason.code(), "patient shared");
        Ok(Response::new(pb::SharePatientResponse {}))
    }

    type PullStream = ReceiverStream<Result<pb::PullResponse, Status>>;

    async fn pull(
        &self,
        request: Request<pb::PullRequest>,
    ) -> Result<Response<Self::PullStream>, Status> {
        let device = self.device(request.metadata()).await?;
        let pb::PullRequest {
            after_seq,
            page_size,
            only_entity,
            patient_id,
        } = request.into_inner();
        let one_patient = match patient_id.trim() {
            "" => None,
            text => Some(text.parse::<uuid::Uuid>().map_err(|_| {
                Status::invalid_argument(format!("patient_id {text:?} is not an id"))
            })?),
        };
        // A new workstation asks for its clinic's users alone, before anyone can sign in there.
        let only_users = match only_entity.as_str() {
            "" => false,
            "user" => true,
            other => {
                return Err(Status::invalid_argument(format!(
                    "a pull may ask for \"user\" changes alone, not {other:?}"
                )));
            }
        };
        let clinic_id = device.clinic_id;
        if let Some(patient) = one_patient {
            self.open_patient(&device, patient).await?;
        }
        let page_size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        let page_size = usize::try_from(page_size).unwrap_or(1);
        let store = Arc::clone(&self.store);
        let now = now_millis();
        // The pull ends at the log's end as it is now, so a busy log cannot keep it going.
        let up_to = blocking(move || {
            store.release_quarantined(now)?;
            store.last_seq()
        })
        .await?;

        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let store = Arc::clone(&self.store);
        tokio::spawn(async move {
            let mut cursor = after_seq;
            let mut sent = 0usize;
            while cursor < up_to {
                let from = cursor;
                let page_store = Arc::clone(&store);
                let page = blocking(move || {
                    if let Some(patient) = one_patient {
                        page_store.patient_changes_between(
                            patient,
                            from,
                            up_to,
                            page_size,
                            MAX_PAGE_BYTES,
                        )
                    } else if only_users {
                        page_store.clinic_changes_between(
                            EntityKind::User,
                            clinic_id,
                            from,
                            up_to,
                            page_size,
                            MAX_PAGE_BYTES,
                        )
                    } else {
                        page_store.changes_between(
                            clinic_id,
                            from,
                            up_to,
                            page_size,
                            MAX_PAGE_BYTES,
                        )
                    }
                })
                .await;
                let page = match page {
                    Ok(page) => page,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                };
                let Some(&(last, _)) = page.last() else { break };
                cursor = last;
                sent += page.len();
                let changes = page
                    .iter()
                    .map(|(seq, change)| pb::SequencedChange {
                        server_seq: *seq,
                        change: Some(pb::Change::from(change)),
                    })
                    .collect();
                let item = pb::pull_response::Item::Page(pb::ChangePage {
                    changes,
                    up_to_seq: up_to,
                });
                if tx
                    .send(Ok(pb::PullResponse { item: Some(item) }))
                    .await
                    .is_err()
                {
                    // The workstation hung up; it resumes from its cursor next time.
                    return;
                }
            }
            let checkpoint = pb::Checkpoint {
                last_seq: cursor,
                server_time_millis: now_millis(),
            };
            let item = pb::pull_response::Item::Checkpoint(checkpoint);
            let _ = tx.send(Ok(pb::PullResponse { item: Some(item) })).await;
            tracing::info!(device_id = %device.device_id, after_seq, last_seq = cursor, sent, "pull");
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Checks one upload chunk against the first chunk of the call and the limits.
fn check_chunk(chunk: &pb::BlobChunk, sha256: &BlobHash, total_size: u64) -> Result<(), Status> {
    if chunk.sha256 != sha256.as_str() || chunk.total_size != total_size {
        return Err(Status::invalid_argument(
            "every chunk of an upload must name the same sha256 and total_size",
        ));
    }
    if chunk.data.len() > BLOB_CHUNK_BYTES {
        return Err(Status::resource_exhausted(format!(
            "a chunk may hold at most {BLOB_CHUNK_BYTES} bytes, not {}",
            chunk.data.len()
        )));
    }
    let len = u64::try_from(chunk.data.len()).unwrap_or(u64::MAX);
    if chunk
        .offset
        .checked_add(len)
        .is_none_or(|end| end > total_size)
    {
        return Err(Status::invalid_argument(format!(
            "a chunk at byte {} with {len} bytes runs past the blob's size of {total_size} bytes",
            chunk.offset
        )));
    }
    Ok(())
}

/// Runs `work` on an upload on the blocking pool, handing the upload back.
async fn with_upload<T, F>(
    upload: Box<dyn BlobUpload>,
    work: F,
) -> Result<(Box<dyn BlobUpload>, T), Status>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn BlobUpload) -> Result<T, StoreError> + Send + 'static,
{
    blocking(move || {
        let mut upload = upload;
        let value = work(upload.as_mut())?;
        Ok((upload, value))
    })
    .await
}

#[tonic::async_trait]
impl pb::blobs_server::Blobs for SyncService {
    async fn missing_blobs(
        &self,
        request: Request<pb::MissingBlobsRequest>,
    ) -> Result<Response<pb::MissingBlobsResponse>, Status> {
        let device = self.device(request.metadata()).await?;
        let names = request.into_inner().sha256;
        if names.len() > MAX_MISSING_QUERY {
            return Err(Status::resource_exhausted(format!(
                "ask about at most {MAX_MISSING_QUERY} blobs at a time, not {}",
                names.len()
            )));
        }
        let hashes = names
            .iter()
            .map(|n| parse_hash(n))
            .collect::<Result<Vec<_>, _>>()?;
        let store = Arc::clone(&self.store);
        let missing = blocking(move || {
            let mut missing = Vec::new();
            for hash in hashes {
                // A blob no record of the clinic's refers to is "missing" whether the server
                // holds it or not: the answer tells nothing about other clinics' images.
                let seen = store.blob_visible(device.clinic_id, &hash)?
                    && matches!(
                        store.blob_state(device.device_id, &hash)?,
                        BlobState::Complete { .. }
                    );
                if !seen {
                    missing.push(hash.to_string());
                }
            }
            Ok(missing)
        })
        .await?;
        Ok(Response::new(pb::MissingBlobsResponse { missing }))
    }

    async fn blob_status(
        &self,
        request: Request<pb::BlobStatusRequest>,
    ) -> Result<Response<pb::BlobStatusResponse>, Status> {
        let device = self.device(request.metadata()).await?;
        let hash = parse_hash(&request.into_inner().sha256)?;
        let store = Arc::clone(&self.store);
        let state = blocking(move || {
            if store.blob_visible(device.clinic_id, &hash)? {
                store.blob_state(device.device_id, &hash)
            } else {
                Ok(BlobState::Missing)
            }
        })
        .await?;
        let (stored_offset, complete) = match state {
            BlobState::Missing => (0, false),
            BlobState::Partial { stored } => (stored, false),
            BlobState::Complete { size } => (size, true),
        };
        Ok(Response::new(pb::BlobStatusResponse {
            stored_offset,
            complete,
        }))
    }

    async fn upload_blob(
        &self,
        request: Request<Streaming<pb::BlobChunk>>,
    ) -> Result<Response<pb::UploadBlobResponse>, Status> {
        let device = self.device(request.metadata()).await?;
        let mut chunks = request.into_inner();
        let Some(first) = chunks.message().await? else {
            return Err(Status::invalid_argument(
                "an upload needs at least one chunk",
            ));
        };
        let sha256 = parse_hash(&first.sha256)?;
        let total_size = first.total_size;
        if total_size > MAX_BLOB_BYTES {
            return Err(Status::resource_exhausted(format!(
                "a blob may have at most {MAX_BLOB_BYTES} bytes, not {total_size}"
            )));
        }
        check_chunk(&first, &sha256, total_size)?;
        let answer = |stored_offset, complete| {
            Response::new(pb::UploadBlobResponse {
                sha256: sha256.to_string(),
                stored_offset,
                complete,
            })
        };

        let store = Arc::clone(&self.store);
        let state_hash = sha256.clone();
        let (clinic_id, device_id) = (device.clinic_id, device.device_id);
        let (written, state, partial_bytes, stored_bytes) = blocking(move || {
            Ok((
                store.blob_written_by(clinic_id, &state_hash)?,
                store.blob_state(device_id, &state_hash)?,
                store.partial_bytes(device_id)?,
                store.stored_bytes(device_id)?,
            ))
        })
        .await?;
        if !written {
            tracing::warn!(device_id = %device.device_id, sha256 = %sha256, "upload of a blob no record of the clinic refers to was refused");
            return Err(Status::permission_denied(format!(
                "no record of this clinic refers to blob {sha256}: push the record that refers to \
                 it first"
            )));
        }
        let held = match state {
            BlobState::Partial { stored } => stored,
            _ => 0,
        };
        if partial_bytes
            .saturating_sub(held)
            .saturating_add(total_size)
            > MAX_PARTIAL_BYTES_PER_DEVICE
        {
            return Err(Status::resource_exhausted(format!(
                "this workstation's unfinished uploads would hold more than {} GiB on the server: \
                 finish them first",
                MAX_PARTIAL_BYTES_PER_DEVICE >> 30
            )));
        }
        if !matches!(state, BlobState::Complete { .. })
            && stored_bytes.saturating_add(total_size) > self.max_stored_bytes
        {
            tracing::warn!(device_id = %device.device_id, stored_bytes, total_size, "upload refused: the device's storage quota is used up");
            return Err(Status::resource_exhausted(format!(
                "this workstation has stored {} MB of images on the server, and this one would \
                 pass its quota of {} MB: ask the server's administrator",
                stored_bytes / 1_000_000,
                self.max_stored_bytes / 1_000_000
            )));
        }
        if let BlobState::Complete { size } = state {
            if size != total_size {
                return Err(Status::invalid_argument(format!(
                    "blob {sha256} is stored with {size} bytes, not {total_size}"
                )));
            }
            return Ok(answer(size, true));
        }

        // One upload of a blob per device at a time; a new one takes over from one whose
        // connection was cut without the server noticing yet.
        let mut turn = self.uploads.take_turn(device.device_id, &sha256).await?;
        let store = Arc::clone(&self.store);
        let begin_hash = sha256.clone();
        let mut upload =
            blocking(move || store.begin_upload(device_id, &begin_hash, total_size)).await?;
        let resumed_at = upload.offset();

        let mut next = Some(first);
        while let Some(chunk) = next.take() {
            check_chunk(&chunk, &sha256, total_size)?;
            let stored = upload.offset();
            if chunk.offset > stored {
                return Err(Status::failed_precondition(format!(
                    "the chunk starts at byte {} but the server holds {stored} bytes of blob {sha256}: resume from byte {stored}",
                    chunk.offset
                )));
            }
            // A chunk that starts before the stored offset is a re-send: skip what is held.
            let overlap = usize::try_from(stored - chunk.offset).unwrap_or(usize::MAX);
            if overlap < chunk.data.len() {
                let mut data = chunk.data;
                data.drain(..overlap);
                (upload, _) = with_upload(upload, move |u| u.append(&data)).await?;
            }
            if upload.offset() == total_size {
                let store = Arc::clone(&self.store);
                let stored_hash = sha256.clone();
                blocking(move || {
                    upload.finish()?;
                    store.record_blob_stored(device_id, &stored_hash, total_size)
                })
                .await?;
                tracing::info!(device_id = %device.device_id, sha256 = %sha256, total_size, "blob stored");
                return Ok(answer(total_size, true));
            }
            next = tokio::select! {
                message = chunks.message() => message?,
                () = turn.taken_over() => {
                    return Err(Status::aborted("a newer upload of this blob took over"));
                }
                () = tokio::time::sleep(self.upload_idle) => {
                    // A stalled upload lets go of its file; what arrived is kept to resume.
                    tracing::info!(device_id = %device.device_id, sha256 = %sha256, stored = upload.offset(), "blob upload idle: closed");
                    return Err(Status::deadline_exceeded(format!(
                        "no data came for {} seconds: the upload was closed; resume from byte {}",
                        self.upload_idle.as_secs(),
                        upload.offset()
                    )));
                }
            };
        }
        // The workstation ended the call early; what arrived is kept for it to resume.
        let stored = upload.offset();
        tracing::info!(device_id = %device.device_id, sha256 = %sha256, resumed_at, stored, total_size, "blob upload paused");
        Ok(answer(stored, false))
    }

    type DownloadBlobStream = ReceiverStream<Result<pb::BlobChunk, Status>>;

    async fn download_blob(
        &self,
        request: Request<pb::DownloadBlobRequest>,
    ) -> Result<Response<Self::DownloadBlobStream>, Status> {
        let device = self.device(request.metadata()).await?;
        let pb::DownloadBlobRequest { sha256, offset } = request.into_inner();
        let sha256 = parse_hash(&sha256)?;
        let permit = self.uploads.start_download(device.device_id)?;
        let store = Arc::clone(&self.store);
        let open_hash = sha256.clone();
        let clinic_id = device.clinic_id;
        let opened = blocking(move || {
            if store.blob_visible(clinic_id, &open_hash)? {
                store.open_blob(&open_hash)
            } else {
                Ok(None)
            }
        })
        .await?;
        let Some((size, mut reader)) = opened else {
            return Err(Status::not_found(format!(
                "the server does not hold blob {sha256}"
            )));
        };
        if offset > size {
            return Err(Status::out_of_range(format!(
                "blob {sha256} has {size} bytes; a download cannot start at byte {offset}"
            )));
        }
        tracing::info!(device_id = %device.device_id, sha256 = %sha256, offset, size, "blob download");
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::task::spawn_blocking(move || {
            // The download's place is held until its last chunk is sent (or the reader left).
            let _permit = permit;
            let send = |item| tx.blocking_send(item).is_ok();
            if let Err(e) = reader.seek(SeekFrom::Start(offset)) {
                tracing::error!(sha256 = %sha256, error = %e, "reading a blob failed");
                send(Err(Status::internal("the server could not read the blob")));
                return;
            }
            let mut position = offset;
            loop {
                let mut data = vec![0u8; BLOB_CHUNK_BYTES];
                let mut filled = 0;
                while filled < data.len() {
                    let Some(free) = data.get_mut(filled..) else {
                        break;
                    };
                    match reader.read(free) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            tracing::error!(sha256 = %sha256, error = %e, "reading a blob failed");
                            send(Err(Status::internal("the server could not read the blob")));
                            return;
                        }
                    }
                }
                data.truncate(filled);
                let chunk = pb::BlobChunk {
                    sha256: sha256.to_string(),
                    offset: position,
                    total_size: size,
                    data,
                };
                position += u64::try_from(filled).unwrap_or(0);
                // Even a download from the very end sends one (empty) chunk, so the
                // workstation learns the size.
                if !send(Ok(chunk)) || filled == 0 || position >= size {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The device's place among its clinic's devices, from 1 (ids are time-ordered): what its
/// patient numbers' prefix is made of.
pub(crate) fn device_ordinal(devices: &[Device], device: &Device) -> usize {
    let mut ids: Vec<Uuid> = devices
        .iter()
        .filter(|d| d.clinic_id == device.clinic_id)
        .map(|d| d.device_id)
        .collect();
    ids.sort();
    ids.iter()
        .position(|id| *id == device.device_id)
        .map_or(ids.len() + 1, |i| i + 1)
}

/// "Hill Clinic", 2 → "HIL2": up to three letters of the clinic's name and the device's place.
pub(crate) fn number_prefix(clinic_name: &str, ordinal: usize) -> String {
    let letters: String = clinic_name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(3)
        .collect::<String>()
        .to_ascii_uppercase();
    let letters = if letters.is_empty() {
        "CL".to_owned()
    } else {
        letters
    };
    format!("{letters}{ordinal}")
}

#[cfg(test)]
mod number_prefix_tests {
    use super::number_prefix;

    #[test]
    fn prefixes_read_as_the_clinic_and_the_workstation() {
        assert_eq!(number_prefix("Hill Clinic", 2), "HIL2");
        assert_eq!(number_prefix("Ōita 診療所", 1), "ITA1");
        assert_eq!(number_prefix("診療所", 3), "CL3");
    }
}
