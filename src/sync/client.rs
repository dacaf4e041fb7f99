//! The workstation's transport to the central server: a gRPC client of the sync protocol that
//! speaks in domain types.
//!
//! [`SyncClient`] enrolls the workstation, pushes change batches, pulls pages of changes after a
//! cursor, and moves blobs with resume in both directions. It keeps no state of its own beyond
//! the connection and the device credential; what to push, and where the cursor is, belong to the
//! sync engine and the store. Errors ([`SyncError`]) tell a network problem (try again later)
//! from a refusal (something must change first), in words a nurse can read.

pub use super::wire::{Ack, BlobHash};

use super::wire::{
    BLOB_CHUNK_BYTES, MAX_BLOB_BYTES, MAX_MESSAGE_BYTES, MAX_MISSING_QUERY, MAX_PUSH_CHANGES,
    WireError, pb,
};
use crate::model::{ChangeRecord, ClinicId};
use crate::store::{BlobFiles, BlobReader, StoreError};
use prost::Message as _;
use std::future::Future;
use std::io::{Read as _, Seek as _};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Response, Status, Streaming};
use uuid::Uuid;

/// Where and how to reach the server.
#[derive(Clone)]
pub struct ClientConfig {
    /// `http://host:port` (loopback servers only) or `https://host:port`.
    pub server_url: String,
    /// PEM of the certificate authority that signed the server's certificate (the server's own
    /// certificate when it is self-signed). Required for `https://`.
    pub ca_certificate_pem: Option<Vec<u8>>,
    /// The name the server's certificate is issued for, when it differs from the URL's host.
    pub tls_domain_name: Option<String>,
    /// The device credential from enrollment; sent with every call.
    pub device_token: Option<String>,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long to wait for the answer to a single request, and for the next message of a
    /// stream.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the credential.
        f.debug_struct("ClientConfig")
            .field("server_url", &self.server_url)
            .field("tls_domain_name", &self.tls_domain_name)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A configuration for `server_url` with default timeouts, no CA certificate and no
    /// credential.
    pub fn new(server_url: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            ca_certificate_pem: None,
            tls_domain_name: None,
            device_token: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// How a clinic asks the district server for a patient it does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatientLookup {
    /// The number on the patient's card (`HIL1-000042`).
    Number(String),
    /// The national id.
    NationalId(String),
    /// Family name with year of birth.
    NameAndBirthYear {
        /// Family name.
        family_name: String,
        /// Year of birth.
        birth_year: i32,
    },
}

/// A patient found at the district server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemotePatient {
    /// Their id.
    pub patient_id: Uuid,
    /// Their number, or empty.
    pub number: String,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Year of birth, when known.
    pub birth_year: Option<i32>,
    /// Sex code.
    pub sex: String,
    /// The clinic that registered them.
    pub clinic_name: String,
    /// Whether this clinic sees them already.
    pub visible: bool,
}

/// What kind of refusal the server gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// Over a size limit (`RESOURCE_EXHAUSTED`, `OUT_OF_RANGE`).
    TooLarge,
    /// Malformed or not acceptable (`INVALID_ARGUMENT`).
    Invalid,
    /// Out of order: for uploads, ask where to resume (`FAILED_PRECONDITION`).
    OutOfOrder,
    /// Busy with the same thing for another caller; try again shortly (`ABORTED`).
    Busy,
}

/// Why a sync call failed. The messages are meant for the people at the workstation.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No connection, or no answer in time: work goes on offline and sync tries again later.
    #[error("Server unreachable: {detail}")]
    Unreachable {
        /// What happened, as the network layer put it.
        detail: String,
    },
    /// The device credential is missing, unknown or revoked, or the enrollment code is wrong.
    #[error("The server did not accept this computer's enrollment: {reason}")]
    Unauthenticated {
        /// The server's reason.
        reason: String,
    },
    /// The server does not allow what was asked.
    #[error("The server does not allow this: {reason}")]
    PermissionDenied {
        /// The server's reason.
        reason: String,
    },
    /// The server refused the request as it was made.
    #[error("The server refused the request: {reason}")]
    Refused {
        /// What kind of refusal.
        kind: RefusalKind,
        /// The server's reason.
        reason: String,
    },
    /// The server does not hold what was asked for.
    #[error("The server does not have it: {reason}")]
    NotFound {
        /// The server's reason.
        reason: String,
    },
    /// The server failed on its side.
    #[error("The server has a problem: {reason}")]
    ServerProblem {
        /// The server's words.
        reason: String,
    },
    /// The server answered something this program does not understand.
    #[error("The server gave an answer this program does not understand: {reason}")]
    BadResponse {
        /// What was wrong with it.
        reason: String,
    },
    /// The server presented a certificate this workstation does not trust (not the one pinned
    /// at enrollment, or not signed by a trusted authority): the connection was refused before
    /// anything was sent. Not a network failure: it is not retried as one.
    #[error("The server is not the one this workstation trusts: {reason}")]
    UntrustedServer {
        /// What was wrong with the certificate.
        reason: String,
    },
    /// The server's address or certificate settings are not usable.
    #[error("The server settings are not valid: {reason}")]
    Settings {
        /// What is wrong.
        reason: String,
    },
    /// The image files on this computer could not be read or written.
    #[error("The image files on this computer: {0}")]
    LocalFiles(#[from] StoreError),
    /// A local file could not be read or written.
    #[error("Could not read or write {}: {source}", path.display())]
    File {
        /// Which file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

impl SyncError {
    /// True when the failure is the network's (try again later), not a refusal.
    pub fn is_network(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    fn bad(reason: impl Into<String>) -> Self {
        Self::BadResponse {
            reason: reason.into(),
        }
    }
}

impl From<WireError> for SyncError {
    fn from(error: WireError) -> Self {
        Self::bad(error.to_string())
    }
}

/// The certificate problem behind a failed connection, if that is what it was: rustls's own
/// error, found in the chain of sources (tokio-rustls wraps it in an I/O error).
fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(cause) = next {
        let rustls_error = cause.downcast_ref::<rustls::Error>().or_else(|| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(problem)) = rustls_error {
            return Some(format!(
                "its certificate was refused ({problem:?}); if the server's certificate was \
                 replaced on purpose, enroll this workstation again with a new code"
            ));
        }
        next = cause.source();
    }
    None
}

impl From<Status> for SyncError {
    fn from(status: Status) -> Self {
        if let Some(reason) = certificate_problem(&status) {
            return Self::UntrustedServer { reason };
        }
        let reason = status.message().to_owned();
        // A status with a source was made on this side from a transport failure; the server
        // sends statuses without one.
        let local = std::error::Error::source(&status).is_some();
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => Self::Unreachable {
                detail: if reason.is_empty() {
                    "the connection failed".to_owned()
                } else {
                    reason
                },
            },
            Code::Unknown | Code::Internal if local => Self::Unreachable {
                detail: format!("the connection was interrupted ({reason})"),
            },
            Code::Unauthenticated => Self::Unauthenticated { reason },
            Code::PermissionDenied => Self::PermissionDenied { reason },
            Code::ResourceExhausted | Code::OutOfRange => Self::Refused {
                kind: RefusalKind::TooLarge,
                reason,
            },
            Code::InvalidArgument => Self::Refused {
                kind: RefusalKind::Invalid,
                reason,
            },
            Code::FailedPrecondition => Self::Refused {
                kind: RefusalKind::OutOfOrder,
                reason,
            },
            Code::Aborted => Self::Refused {
                kind: RefusalKind::Busy,
                reason,
            },
            Code::NotFound => Self::NotFound { reason },
            Code::Ok
            | Code::Unknown
            | Code::Internal
            | Code::AlreadyExists
            | Code::Unimplemented
            | Code::DataLoss => Self::ServerProblem { reason },
        }
    }
}

/// What enrollment gave the workstation.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolledDevice {
    /// The device's id on the server.
    pub device_id: Uuid,
    /// The credential to keep (encrypted) and send with every call.
    pub device_token: String,
    /// The clinic the workstation now belongs to.
    pub clinic_id: ClinicId,
    /// The clinic's name.
    pub clinic_name: String,
    /// The server's clock at enrollment (Unix milliseconds).
    pub server_time_millis: i64,
    /// The prefix of the patient numbers this workstation hands out ("HIL2"); empty from a
    /// server that does not assign one.
    pub number_prefix: String,
}

impl std::fmt::Debug for EnrolledDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrolledDevice")
            .field("device_id", &self.device_id)
            .field("clinic_id", &self.clinic_id)
            .field("clinic_name", &self.clinic_name)
            .finish_non_exhaustive()
    }
}

/// The server's answer to a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushReply {
    /// One answer per change, in the order the changes were given.
    pub acks: Vec<Ack>,
    /// The server's clock when it answered (Unix milliseconds).
    pub server_time_millis: i64,
}

/// One item of a pull.
#[derive(Clone, Debug, PartialEq)]
pub enum PullItem {
    /// Changes in server sequence order, each with its sequence number.
    Page(Vec<(u64, ChangeRecord)>),
    /// The end of the pull: everything up to `last_seq` has been sent.
    Checkpoint {
        /// The cursor to keep.
        last_seq: u64,
        /// The server's clock (Unix milliseconds).
        server_time_millis: i64,
    },
}

/// How much of a blob the server holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteBlobStatus {
    /// Bytes held (the whole size when complete).
    pub stored_offset: u64,
    /// True once the blob is stored and its hash checked.
    pub complete: bool,
}

/// The sync protocol's client. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct SyncClient {
    enrollment: pb::enrollment_client::EnrollmentClient<Channel>,
    sync: pb::sync_client::SyncClient<Channel>,
    blobs: pb::blobs_client::BlobsClient<Channel>,
    health: tonic_health::pb::health_client::HealthClient<Channel>,
    authorization: Option<MetadataValue<Ascii>>,
    request_timeout: Duration,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("enrolled", &self.authorization.is_some())
            .finish_non_exhaustive()
    }
}

fn endpoint(config: &ClientConfig) -> Result<Endpoint, SyncError> {
    let settings = |reason: String| SyncError::Settings { reason };
    let mut endpoint = Endpoint::from_shared(config.server_url.clone())
        .map_err(|e| {
            settings(format!(
                "{:?} is not a server address: {e}",
                config.server_url
            ))
        })?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .http2_adaptive_window(true)
        // Notice a dead line during long transfers instead of waiting for ever.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true);
    let https = config.server_url.starts_with("https://");
    if https {
        // The certificate pinned at enrollment or given by the administrator is the only root
        // trusted; without one, the system's roots (a server with a public certificate).
        let mut tls = match &config.ca_certificate_pem {
            Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)),
            None => ClientTlsConfig::new().with_native_roots(),
        };
        if let Some(domain) = &config.tls_domain_name {
            tls = tls.domain_name(domain.clone());
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| settings(format!("the TLS settings are not usable: {e}")))?;
    } else if !config.server_url.starts_with("http://") {
        return Err(settings(format!(
            "{:?} must start with https:// (or http:// for this computer only)",
            config.server_url
        )));
    } else if !is_loopback_host(endpoint.uri().host().unwrap_or_default()) {
        // Enrollment codes, credentials and patient records never cross a network in clear.
        return Err(settings(format!(
            "{:?} would send patient records unencrypted over the network: use https:// \
             (http:// is only for a server on this computer)",
            config.server_url
        )));
    }
    Ok(endpoint)
}

/// Whether a URL's host is this computer: `localhost` or a loopback address.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn authorization(token: &str) -> Result<MetadataValue<Ascii>, SyncError> {
    MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| SyncError::Unauthenticated {
        reason: "the stored device credential is damaged; enroll this workstation again".into(),
    })
}

/// Splits changes into batches the server accepts: at most [`MAX_PUSH_CHANGES`] each, and small
/// enough to fit in one message.
pub fn push_batches(changes: &[ChangeRecord]) -> Vec<&[ChangeRecord]> {
    // Half the message limit leaves room for the message's own framing.
    let budget = MAX_MESSAGE_BYTES / 2;
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, change) in changes.iter().enumerate() {
        let size = pb::Change::from(change).encoded_len() + 8;
        let count = i - start;
        if count > 0 && (count >= MAX_PUSH_CHANGES || bytes + size > budget) {
            if let Some(batch) = changes.get(start..i) {
                batches.push(batch);
            }
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if let Some(batch) = changes.get(start..).filter(|b| !b.is_empty()) {
        batches.push(batch);
    }
    batches
}

impl SyncClient {
    /// Connects to the server now, so an unreachable server shows at once.
    pub async fn connect(config: ClientConfig) -> Result<Self, SyncError> {
        let channel =
            endpoint(&config)?
                .connect()
                .await
                .map_err(|e| match certificate_problem(&e) {
                    Some(reason) => SyncError::UntrustedServer { reason },
                    None => SyncError::Unreachable {
                        detail: transport_detail(&e),
                    },
                })?;
        Self::with_channel(channel, &config)
    }

    /// A client that connects on its first call (and reconnects after a cut). Must be made
    /// inside a tokio runtime.
    pub fn connect_lazy(config: ClientConfig) -> Result<Self, SyncError> {
        let channel = endpoint(&config)?.connect_lazy();
        Self::with_channel(channel, &config)
    }

    fn with_channel(channel: Channel, config: &ClientConfig) -> Result<Self, SyncError> {
        let authorization = config
            .device_token
            .as_deref()
            .map(authorization)
            .transpose()?;
        Ok(Self {
            enrollment: pb::enrollment_client::EnrollmentClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            sync: pb::sync_client::SyncClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            blobs: pb::blobs_client::BlobsClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
            health: tonic_health::pb::health_client::HealthClient::new(channel),
            authorization,
            request_timeout: config.request_timeout,
        })
    }

    /// The same connection, sending `device_token` with every call from now on.
    pub fn with_device_token(mut self, device_token: &str) -> Result<Self, SyncError> {
        self.authorization = Some(authorization(device_token)?);
        Ok(self)
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }

    /// A single request with the request timeout, which the server is told too.
    async fn unary<T, F>(&self, call: F) -> Result<T, SyncError>
    where
        F: Future<Output = Result<Response<T>, Status>>,
    {
        match tokio::time::timeout(self.request_timeout, call).await {
            Ok(result) => Ok(result?.into_inner()),
            Err(_) => Err(self.timed_out()),
        }
    }

    fn timed_out(&self) -> SyncError {
        SyncError::Unreachable {
            detail: format!(
                "no answer within {} seconds",
                self.request_timeout.as_secs()
            ),
        }
    }

    fn timed_request<T>(&self, message: T) -> Request<T> {
        let mut request = self.request(message);
        request.set_timeout(self.request_timeout);
        request
    }

    /// Whether the server reports itself serving through the standard gRPC health service (it
    /// does not while its database does not answer).
    pub async fn serving(&self) -> Result<bool, SyncError> {
        use tonic_health::pb::health_check_response::ServingStatus;
        let request = self.timed_request(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        });
        let mut client = self.health.clone();
        let reply = self.unary(client.check(request)).await?;
        Ok(reply.status == ServingStatus::Serving as i32)
    }

    /// Trades a one-time enrollment code for a device credential. Send the credential with
    /// later calls through [`SyncClient::with_device_token`] (or [`ClientConfig::device_token`]).
    /// `node_id` is the workstation's clock node: the server accepts changes stamped by it alone
    /// from the credential it hands out.
    pub async fn enroll(
        &self,
        enrollment_code: &str,
        device_name: &str,
        node_id: &str,
        replaces: Option<Uuid>,
    ) -> Result<EnrolledDevice, SyncError> {
        let request = self.timed_request(pb::EnrollRequest {
            enrollment_code: enrollment_code.to_owned(),
            device_name: device_name.to_owned(),
            node_id: node_id.to_owned(),
            replaces_device_id: replaces.map(|id| id.to_string()).unwrap_or_default(),
        });
        let mut client = self.enrollment.clone();
        let reply = self.unary(client.enroll(request)).await?;
        Ok(EnrolledDevice {
            device_id: reply
                .device_id
                .parse()
                .map_err(|_| SyncError::bad("the device id is not a UUID"))?,
            device_token: reply.device_token,
            clinic_id: reply
                .clinic_id
                .parse()
                .map_err(|_| SyncError::bad("the clinic id is not a UUID"))?,
            clinic_name: reply.clinic_name,
            server_time_millis: reply.server_time_millis,
            number_prefix: reply.number_prefix,
        })
    }

    /// Pushes one batch of changes (see [`push_batches`] for the limits) and returns the
    /// server's answer for each, in order.
    /// Sends this workstation's audit entries (in order, from the first the server lacks);
    /// answers the highest number the server holds. A chain that does not continue the
    /// server's copy is refused (`OutOfOrder`) with the reason.
    pub async fn push_audit(&self, entries: &[crate::model::AuditEntry]) -> Result<i64, SyncError> {
        let request = self.timed_request(pb::AuditPushRequest {
            entries: entries.iter().map(pb::AuditEntry::from).collect(),
        });
        let mut client = self.sync.clone();
        let reply = self.unary(client.push_audit(request)).await?;
        Ok(reply.held_through)
    }

    /// Sends a batch of changes; answers one acknowledgement per change, in order.
    pub async fn push(&self, changes: &[ChangeRecord]) -> Result<PushReply, SyncError> {
        if changes.len() > MAX_PUSH_CHANGES {
            return Err(SyncError::Refused {
                kind: RefusalKind::TooLarge,
                reason: format!(
                    "a push may carry at most {MAX_PUSH_CHANGES} changes, not {}",
                    changes.len()
                ),
            });
        }
        let request = self.timed_request(pb::PushRequest {
            changes: changes.iter().map(pb::Change::from).collect(),
        });
        let mut client = self.sync.clone();
        let reply = self.unary(client.push(request)).await?;
        if reply.acks.len() != changes.len() {
            return Err(SyncError::bad(format!(
                "{} answers for {} changes",
                reply.acks.len(),
                changes.len()
            )));
        }
        let acks = changes
            .iter()
            .zip(&reply.acks)
            .map(|(change, ack)| {
                if ack.change_id != change.change_id.to_string() {
                    return Err(SyncError::bad(format!(
                        "the answer for change {} names another change",
                        change.change_id
                    )));
                }
                Ok(Ack::try_from(ack)?)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PushReply {
            acks,
            server_time_millis: reply.server_time_millis,
        })
    }

    /// Starts pulling the changes after `after_seq`, `page_size` per page (0: the server's
    /// choice). Read the items with [`PullStream::next`].
    pub async fn pull(&self, after_seq: u64, page_size: u32) -> Result<PullStream, SyncError> {
        self.pull_of(after_seq, page_size, String::new(), None)
            .await
    }

    /// A pull of the changes to this clinic's users alone (what a new workstation needs before
    /// anyone can sign in there).
    pub async fn pull_users(&self, page_size: u32) -> Result<PullStream, SyncError> {
        self.pull_of(0, page_size, "user".to_owned(), None).await
    }

    /// A pull of one patient's whole record (a patient just shared with this clinic). The pages'
    /// sequence numbers are the server's; the checkpoint is not a cursor for the regular pull.
    pub async fn pull_patient(
        &self,
        patient_id: Uuid,
        page_size: u32,
    ) -> Result<PullStream, SyncError> {
        self.pull_of(0, page_size, String::new(), Some(patient_id))
            .await
    }

    /// Looks patients up across the district (see [`PatientLookup`]).
    pub async fn find_patients(
        &self,
        lookup: &PatientLookup,
    ) -> Result<Vec<RemotePatient>, SyncError> {
        let mut message = pb::FindPatientsRequest::default();
        match lookup {
            PatientLookup::Number(number) => message.number = number.clone(),
            PatientLookup::NationalId(id) => message.national_id = id.clone(),
            PatientLookup::NameAndBirthYear {
                family_name,
                birth_year,
            } => {
                message.family_name = family_name.clone();
                message.birth_year = *birth_year;
            }
        }
        let request = self.timed_request(message);
        let mut client = self.sync.clone();
        let reply = self.unary(client.find_patients(request)).await?;
        reply
            .patients
            .into_iter()
            .map(|hit| {
                Ok(RemotePatient {
                    patient_id: hit
                        .patient_id
                        .parse()
                        .map_err(|_| SyncError::bad("a patient id is not a UUID"))?,
                    number: hit.number,
                    family_name: hit.family_name,
                    given_name: hit.given_name,
                    birth_year: (hit.birth_year != 0).then_some(hit.birth_year),
                    sex: hit.sex,
                    clinic_name: hit.clinic_name,
                    visible: hit.visible,
                })
            })
            .collect()
    }

    /// Opens another clinic's patient for this clinic, with the reason (a code of
    /// `outpost::server::ShareReason`: "referred", "emergency", "patient_moved").
    pub async fn share_patient(&self, patient_id: Uuid, reason: &str) -> Result<(), SyncError> {
        let request = self.timed_request(pb::SharePatientRequest {
            patient_id: patient_id.hyphenated().to_string(),
            reason: reason.to_owned(),
        });
        let mut client = self.sync.clone();
        self.unary(client.share_patient(request)).await?;
        Ok(())
    }

    async fn pull_of(
        &self,
        after_seq: u64,
        page_size: u32,
        only_entity: String,
        patient: Option<Uuid>,
    ) -> Result<PullStream, SyncError> {
        let request = self.request(pb::PullRequest {
            after_seq,
            page_size,
            only_entity,
            patient_id: patient
                .map(|p| p.hyphenated().to_string())
                .unwrap_or_default(),
        });
        let mut client = self.sync.clone();
        let stream = self.unary(client.pull(request)).await?;
        Ok(PullStream {
            inner: stream,
            last_seq: after_seq,
            ends_at: None,
            finished: false,
            idle_timeout: self.request_timeout,
        })
    }

    /// Which of these blobs the server lacks (or holds only in part).
    pub async fn missing_blobs(&self, hashes: &[BlobHash]) -> Result<Vec<BlobHash>, SyncError> {
        let mut missing = Vec::new();
        for batch in hashes.chunks(MAX_MISSING_QUERY) {
            let request = self.timed_request(pb::MissingBlobsRequest {
                sha256: batch.iter().map(ToString::to_string).collect(),
            });
            let mut client = self.blobs.clone();
            let reply = self.unary(client.missing_blobs(request)).await?;
            for name in reply.missing {
                let hash: BlobHash = name
                    .parse()
                    .map_err(|e: super::wire::BlobHashError| SyncError::bad(e.to_string()))?;
                missing.push(hash);
            }
        }
        Ok(missing)
    }

    /// How much of a blob the server holds.
    pub async fn blob_status(&self, sha256: &BlobHash) -> Result<RemoteBlobStatus, SyncError> {
        let request = self.timed_request(pb::BlobStatusRequest {
            sha256: sha256.to_string(),
        });
        let mut client = self.blobs.clone();
        let reply = self.unary(client.blob_status(request)).await?;
        Ok(RemoteBlobStatus {
            stored_offset: reply.stored_offset,
            complete: reply.complete,
        })
    }

    /// Uploads `source` (a blob's plain bytes, read and decrypted as they go) as blob `sha256`,
    /// resuming from what the server already holds, in chunks of [`BLOB_CHUNK_BYTES`].
    /// `on_progress(bytes_held, total)` is called as chunks go out. The server checks the hash
    /// before the blob becomes visible.
    pub async fn upload_blob(
        &self,
        sha256: &BlobHash,
        mut source: BlobReader,
        mut on_progress: impl FnMut(u64, u64),
    ) -> Result<(), SyncError> {
        let total = source.len();
        if total > MAX_BLOB_BYTES {
            return Err(SyncError::Refused {
                kind: RefusalKind::TooLarge,
                reason: format!("a blob may have at most {MAX_BLOB_BYTES} bytes, not {total}"),
            });
        }
        // A second try covers an upload that lost its place (the server discarded bytes it
        // held, or another upload moved on meanwhile).
        let mut tries = 0;
        loop {
            tries += 1;
            let status = self.blob_status(sha256).await?;
            if status.complete {
                on_progress(total, total);
                return Ok(());
            }
            let start = if status.stored_offset <= total {
                status.stored_offset
            } else {
                0
            };
            let result = self
                .upload_from(sha256, &mut source, start, total, &mut on_progress)
                .await;
            match result {
                Err(SyncError::Refused {
                    kind: RefusalKind::OutOfOrder,
                    ..
                }) if tries < 2 => continue,
                other => return other,
            }
        }
    }

    async fn upload_from(
        &self,
        sha256: &BlobHash,
        source: &mut BlobReader,
        start: u64,
        total: u64,
        on_progress: &mut impl FnMut(u64, u64),
    ) -> Result<(), SyncError> {
        let local = |source: std::io::Error| SyncError::File {
            path: PathBuf::from(format!("blob {sha256}")),
            source,
        };
        source
            .seek(std::io::SeekFrom::Start(start))
            .map_err(local)?;
        on_progress(start, total);
        let (tx, rx) = mpsc::channel(2);
        let mut client = self.blobs.clone();
        let call = client.upload_blob(self.request(ReceiverStream::new(rx)));
        let produce = async move {
            let mut offset = start;
            loop {
                let len = usize::try_from((total - offset).min(BLOB_CHUNK_BYTES as u64))
                    .unwrap_or(BLOB_CHUNK_BYTES);
                let mut data = vec![0u8; len];
                // A chunk is read (and decrypted) from the local disk between two sends.
                source.read_exact(&mut data).map_err(local)?;
                let chunk = pb::BlobChunk {
                    sha256: sha256.to_string(),
                    offset,
                    total_size: total,
                    data,
                };
                if tx.send(chunk).await.is_err() {
                    // The call ended; its result says why.
                    return Ok::<(), SyncError>(());
                }
                offset += len as u64;
                on_progress(offset, total);
                if offset >= total {
                    return Ok(());
                }
            }
        };
        let (reply, produced) = tokio::join!(call, produce);
        let reply = reply?.into_inner();
        produced?;
        if !reply.complete {
            return Err(SyncError::bad(format!(
                "the server holds {} of {total} bytes after the upload",
                reply.stored_offset
            )));
        }
        Ok(())
    }

    /// Downloads blob `sha256` into `files`, resuming after what an earlier, cut download held.
    /// The bytes are checked against the name before the file is moved into place (sealed, when
    /// the folder seals). `on_progress(bytes_held, total)` is called as chunks arrive. Returns
    /// the size.
    pub async fn download_blob(
        &self,
        sha256: &BlobHash,
        files: &BlobFiles,
        mut on_progress: impl FnMut(u64, u64),
    ) -> Result<u64, SyncError> {
        let mut download = files.download(sha256)?;
        let mut tries = 0;
        let mut stream = loop {
            tries += 1;
            let request = self.request(pb::DownloadBlobRequest {
                sha256: sha256.to_string(),
                offset: download.held(),
            });
            let mut client = self.blobs.clone();
            match self.unary(client.download_blob(request)).await {
                // More bytes here than the blob has: what is held is not this blob.
                Err(SyncError::Refused {
                    kind: RefusalKind::TooLarge,
                    ..
                }) if download.held() > 0 && tries < 2 => download.restart()?,
                other => break other?,
            }
        };

        let mut total = None;
        loop {
            let message = match tokio::time::timeout(self.request_timeout, stream.message()).await {
                Ok(message) => message?,
                Err(_) => return Err(self.timed_out()),
            };
            let Some(chunk) = message else { break };
            let held = download.held();
            if chunk.sha256 != sha256.as_str() || chunk.offset != held {
                return Err(SyncError::bad(format!(
                    "a chunk of blob {sha256} arrived out of place"
                )));
            }
            if *total.get_or_insert(chunk.total_size) != chunk.total_size {
                return Err(SyncError::bad(
                    "the blob's size changed during the download",
                ));
            }
            let end = held.saturating_add(chunk.data.len() as u64);
            if end > chunk.total_size {
                return Err(SyncError::bad(
                    "the server sent more bytes than the blob has",
                ));
            }
            download.append(chunk.total_size, &chunk.data)?;
            on_progress(end, chunk.total_size);
            if end == chunk.total_size {
                break;
            }
        }
        let held = download.held();
        if total != Some(held) {
            // What arrived stays in the partial file for the next try.
            return Err(SyncError::Unreachable {
                detail: format!("the download of blob {sha256} stopped after {held} bytes"),
            });
        }
        match download.finish() {
            Ok(size) => Ok(size),
            Err(StoreError::Corrupt { .. }) => Err(SyncError::bad(format!(
                "the bytes of blob {sha256} do not match its name; the download was discarded"
            ))),
            Err(other) => Err(other.into()),
        }
    }
}

/// The pull in progress: pages of changes, then a checkpoint.
pub struct PullStream {
    inner: Streaming<pb::PullResponse>,
    last_seq: u64,
    ends_at: Option<u64>,
    finished: bool,
    idle_timeout: Duration,
}

impl std::fmt::Debug for PullStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullStream")
            .field("last_seq", &self.last_seq)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl PullStream {
    /// Where the pull ends (the log's last number when it began), once a page said so.
    pub fn ends_at(&self) -> Option<u64> {
        self.ends_at
    }

    /// The next page or the checkpoint; `None` after the checkpoint. Sequence numbers are
    /// checked to rise, so a page is never applied twice or out of order.
    pub async fn next(&mut self) -> Result<Option<PullItem>, SyncError> {
        if self.finished {
            return Ok(None);
        }
        let message = match tokio::time::timeout(self.idle_timeout, self.inner.message()).await {
            Ok(message) => message?,
            Err(_) => {
                return Err(SyncError::Unreachable {
                    detail: format!("no answer within {} seconds", self.idle_timeout.as_secs()),
                });
            }
        };
        let Some(message) = message else {
            return Err(SyncError::Unreachable {
                detail: "the pull ended before its checkpoint".into(),
            });
        };
        match message.item {
            None => Err(SyncError::bad("an empty pull message")),
            Some(pb::pull_response::Item::Page(page)) => {
                if page.up_to_seq > 0 {
                    self.ends_at = Some(page.up_to_seq);
                }
                let mut changes = Vec::with_capacity(page.changes.len());
                for sequenced in page.changes {
                    if sequenced.server_seq <= self.last_seq {
                        return Err(SyncError::bad(format!(
                            "change number {} came after number {}",
                            sequenced.server_seq, self.last_seq
                        )));
                    }
                    let change = sequenced
                        .change
                        .ok_or(WireError::Missing("the change of a pulled page entry"))?;
                    let change = ChangeRecord::try_from(change)?;
                    self.last_seq = sequenced.server_seq;
                    changes.push((sequenced.server_seq, change));
                }
                Ok(Some(PullItem::Page(changes)))
            }
            Some(pb::pull_response::Item::Checkpoint(checkpoint)) => {
                if checkpoint.last_seq < self.last_seq {
                    return Err(SyncError::bad(format!(
                        "the checkpoint ({}) is behind the changes sent ({})",
                        checkpoint.last_seq, self.last_seq
                    )));
                }
                self.finished = true;
                self.last_seq = checkpoint.last_seq;
                Ok(Some(PullItem::Checkpoint {
                    last_seq: checkpoint.last_seq,
                    server_time_millis: checkpoint.server_time_millis,
                }))
            }
        }
    }
}

/// A transport error's chain in one line (e.g. "tcp connect error: Connection refused").
fn transport_detail(error: &tonic::transport::Error) -> String {
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::model::{ChangeId, EntityKind, HlcStamp, NodeId};

    fn change() -> ChangeRecord {
        let mut fields = serde_json::Map::new();
        fields.insert("notes".into(), "n".repeat(10_000).into());
        ChangeRecord {
            change_id: ChangeId::new(),
            entity: EntityKind::Patient,
            entity_id: Uuid::now_v7(),
            fields,
            hlc: HlcStamp {
                millis: 1,
                counter: 0,
                node: NodeId("n".into()),
            },
            clinic_id: ClinicId::new(),
            supersedes: Default::default(),
        }
    }

    #[test]
    fn batches_respect_the_count_and_size_limits() {
        let changes: Vec<_> = (0..2_500).map(|_| change()).collect();
        let batches = push_batches(&changes);
        assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), 2_500);
        assert!(batches.iter().all(|b| b.len() <= MAX_PUSH_CHANGES));
        assert!(batches.iter().all(|b| !b.is_empty()));
        assert!(push_batches(&[]).is_empty());
    }

    #[test]
    fn statuses_become_errors_people_can_read() {
        let e = SyncError::from(Status::unavailable("tcp connect error"));
        assert!(e.is_network());
        assert!(e.to_string().starts_with("Server unreachable"));
        let e = SyncError::from(Status::resource_exhausted("too big"));
        assert!(matches!(
            e,
            SyncError::Refused {
                kind: RefusalKind::TooLarge,
                ..
            }
        ));
        let e = SyncError::from(Status::unauthenticated("revoked"));
        assert!(matches!(e, SyncError::Unauthenticated { .. }));
        let e = SyncError::from(Status::internal("disk"));
        assert!(matches!(e, SyncError::ServerProblem { .. }));
    }
}
