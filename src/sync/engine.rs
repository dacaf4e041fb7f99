//! The client engine: one sync round pushes the outbox and pulls everyone else's changes.
//!
//! Push sends pending changes in batches and marks each one only after the server's answer, so a
//! cut line means the batch is sent again, and the server's per-change-id storage makes that
//! harmless. Pull applies each page and advances the cursor in one transaction, so a cut stream
//! resumes after the last page applied. Either way nothing is lost and nothing is applied twice.

use crate::model::ClinicId;
use crate::store::{ApplyReport, PushOutcome, Store, StoreError};
use crate::sync::client::{
    ClientConfig, PatientLookup, PullItem, RemotePatient, SyncClient, SyncError, push_batches,
};
use crate::sync::code::{EnrollmentCode, PINNED_SERVER_NAME};
use crate::sync::pin::fetch_pinned_certificate;
use crate::sync::wire::{Ack, ShareReason};
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

/// Changes read from the outbox per push round.
const PUSH_ROUND: usize = 500;
/// Audit entries per `PushAudit`.
const AUDIT_BATCH: usize = 500;
/// Changes per pulled page.
const PULL_PAGE: u32 = 500;
/// Pulled changes applied in one transaction, at most (a few pages).
const APPLY_BATCH: usize = 5_000;
/// Log rows looked at per compaction transaction after a round, and at most how many such
/// transactions a round runs (the rest waits for the next round): a user's save waits at most
/// one of them.
const COMPACT_PASS: usize = 5_000;
const COMPACT_PASSES: usize = 20;

/// Settings keys in the store.
mod keys {
    pub const SERVER_URL: &str = "server_url";
    pub const DEVICE_TOKEN: &str = "device_token";
    pub const DEVICE_ID: &str = "device_id";
    pub const CLINIC_NAME: &str = "clinic_name";
    pub const CA_CERTIFICATE: &str = "ca_certificate_pem";
    /// The name the trusted certificate is checked under, when it was pinned at enrollment.
    pub const TLS_DOMAIN: &str = "tls_domain_name";
    pub const LAST_SYNC: &str = "last_sync_at";
    pub const LAST_ERROR: &str = "last_error";
}

/// Why a sync round stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The server could not be reached or refused the call.
    #[error(transparent)]
    Server(#[from] SyncError),
    /// The local store failed.
    #[error("the local database failed during sync: {0}")]
    Store(#[from] StoreError),
    /// The enrollment code as typed is not a code.
    #[error(transparent)]
    Code(#[from] crate::sync::code::CodeError),
    /// The server's certificate is not the one the enrollment code names, or it could not be
    /// reached to tell.
    #[error(transparent)]
    Pin(#[from] crate::sync::pin::PinError),
    /// This data folder was restored from a backup and has not enrolled since: syncing as the
    /// workstation it was backed up from would make one workstation two.
    #[error(
        "This workstation was restored from a backup: enroll it again with a new code \
         (`outpost sync --server URL --enroll CODE`, with --take-over to replace the workstation \
         it was backed up from) before it syncs."
    )]
    RestoredCopy,
    /// `--take-over` on a workstation that has no earlier device to take over.
    #[error(
        "Only a workstation restored from a backup of an enrolled workstation takes over a device."
    )]
    NothingToTakeOver,
    /// The workstation has not been connected to a server yet.
    #[error("This workstation is not connected to a server yet: use Connect to server.")]
    NotEnrolled,
}

impl EngineError {
    /// True when the network is the problem: work goes on offline.
    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Server(e) if e.is_network())
            || matches!(self, Self::Pin(crate::sync::pin::PinError::Unreachable(_)))
    }
}

/// What a sync round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Local changes the server stored (now or before).
    pub pushed: usize,
    /// Local changes the server refused (kept here with the reason).
    pub refused: usize,
    /// Local changes the server holds back (this workstation's clock is ahead).
    pub quarantined: usize,
    /// Changes from other workstations applied here.
    pub pulled: ApplyReport,
    /// The cursor after the round.
    pub cursor: u64,
    /// Images sent to the server.
    pub blobs_uploaded: usize,
    /// Images fetched from the server.
    pub blobs_downloaded: usize,
    /// Images the server does not take: no record of this clinic that it holds refers to them
    /// (the record was refused, or is still to come). Kept here and offered again next round.
    pub blobs_held_back: usize,
    /// Audit entries the server took.
    pub audit_sent: usize,
    /// Acknowledged change records folded into their records and deleted from the log.
    pub compacted: usize,
}

/// Progress of a running round, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SyncProgress {
    /// Pushed `done` of `total` changes waiting at the start.
    Pushing {
        /// Sent so far.
        done: usize,
        /// Waiting when the round began.
        total: usize,
    },
    /// Applied pulled changes up to server sequence `cursor`.
    Pulling {
        /// Changes applied so far in this round.
        applied: usize,
        /// The cursor so far.
        cursor: u64,
        /// How far through the pull, 0 to 1, when the server said where it ends.
        fraction: Option<f32>,
        /// The time the rest should take at the pace so far, once there is a pace.
        left: Option<Duration>,
    },
    /// Moving images (blobs) to or from the server.
    Blobs {
        /// Images sent or fetched so far.
        done: usize,
    },
}

/// How this workstation reaches its server, from the store's settings.
pub fn client_config(store: &Store) -> Result<ClientConfig, EngineError> {
    if store.is_restored_copy() {
        return Err(EngineError::RestoredCopy);
    }
    let url = store
        .sync_setting(keys::SERVER_URL)?
        .ok_or(EngineError::NotEnrolled)?;
    let token = store
        .sync_setting(keys::DEVICE_TOKEN)?
        .ok_or(EngineError::NotEnrolled)?;
    let mut config = ClientConfig::new(url);
    config.device_token = Some(token);
    config.ca_certificate_pem = store
        .sync_setting(keys::CA_CERTIFICATE)?
        .map(String::into_bytes);
    config.tls_domain_name = store.sync_setting(keys::TLS_DOMAIN)?;
    Ok(config)
}

/// The server this workstation syncs with, if any.
pub fn server_url(store: &Store) -> Result<Option<String>, StoreError> {
    store.sync_setting(keys::SERVER_URL)
}

/// When the last round finished without error.
pub fn last_sync(store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store
        .sync_setting(keys::LAST_SYNC)?
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc)))
}

/// The clinic this workstation was enrolled in, by name.
pub fn clinic_name(store: &Store) -> Result<Option<String>, StoreError> {
    store.sync_setting(keys::CLINIC_NAME)
}

/// Trades a one-time enrollment code for this workstation's credential and joins its clinic.
/// `ca_certificate_pem` is the certificate authority of an `https://` server with a certificate
/// of its own; a code that carries the server's certificate pin needs none (the certificate is
/// met, checked against the pin and kept before the code is sent), and neither does a server
/// whose certificate the system's roots trust.
///
/// A data folder restored from a backup enrolls with a clock node of its own: as a new
/// workstation beside the one it was copied from, or, with `take_over`, in its place: the server
/// revokes that device and accepts from this one the changes the old node stamped and never
/// sent. Either way it then pulls everything again from the start, so what
/// was pushed after the backup comes back, each change once.
pub async fn enroll(
    store: &mut Store,
    server_url: &str,
    code: &str,
    device_name: &str,
    ca_certificate_pem: Option<Vec<u8>>,
    take_over: bool,
) -> Result<String, EngineError> {
    let code = EnrollmentCode::parse(code)?;
    let restored = store.is_restored_copy();
    let replaces = if take_over {
        let old = store
            .sync_setting(keys::DEVICE_ID)?
            .and_then(|id| id.parse::<uuid::Uuid>().ok());
        match (restored, old) {
            (true, Some(old)) => Some(old),
            _ => return Err(EngineError::NothingToTakeOver),
        }
    } else {
        None
    };
    let server_url = server_url.trim();
    let mut config = ClientConfig::new(server_url);
    config.ca_certificate_pem = ca_certificate_pem;
    if let Some(pin) = &code.pin
        && server_url.starts_with("https://")
        && config.ca_certificate_pem.is_none()
    {
        let pem = fetch_pinned_certificate(server_url, pin, config.connect_timeout).await?;
        config.ca_certificate_pem = Some(pem);
        config.tls_domain_name = Some(PINNED_SERVER_NAME.to_owned());
    }
    let client = SyncClient::connect(config.clone()).await?;
    if restored {
        // A clock node of its own, so the restored copy never stamps (or chains audit entries)
        // as the workstation it was copied from, which may still be in use. Taking over, the
        // server lets it also send the changes the old node stamped and never sent.
        store.renew_node()?;
    }
    let node = store.workstation().node_id.0.clone();
    let enrolled = client
        .enroll(&code.secret, device_name, &node, replaces)
        .await?;
    store.adopt_clinic(ClinicId(enrolled.clinic_id.0))?;
    if !enrolled.number_prefix.is_empty() {
        // Patients registered from now on are numbered under this workstation's own prefix;
        // numbers already given keep theirs.
        store.set_number_prefix(&enrolled.number_prefix)?;
    }
    store.set_sync_setting(keys::SERVER_URL, server_url)?;
    store.set_sync_setting(keys::DEVICE_TOKEN, &enrolled.device_token)?;
    store.set_sync_setting(keys::DEVICE_ID, &enrolled.device_id.to_string())?;
    store.set_sync_setting(keys::CLINIC_NAME, &enrolled.clinic_name)?;
    // What this server is trusted by replaces whatever an earlier server was.
    match &config.ca_certificate_pem {
        Some(pem) => {
            store.set_sync_setting(keys::CA_CERTIFICATE, &String::from_utf8_lossy(pem))?;
        }
        None => store.clear_sync_setting(keys::CA_CERTIFICATE)?,
    }
    match &config.tls_domain_name {
        Some(domain) => store.set_sync_setting(keys::TLS_DOMAIN, domain)?,
        None => store.clear_sync_setting(keys::TLS_DOMAIN)?,
    }
    if restored {
        // Everything again from the start: what was pushed after the backup comes back, and
        // what is already here is recognised by its change id.
        store.finish_restore()?;
    }
    tracing::info!(device_id = %enrolled.device_id, "workstation enrolled");
    // The clinic's users come first, so that one of them can sign in here (a new
    // workstation's database is encrypted with the clinic's key when they do).
    let client = SyncClient::connect(client_config(store)?).await?;
    pull_clinic_users(store, &client).await?;
    Ok(enrolled.clinic_name)
}

/// Fetches the records of the clinic's users alone (names, roles and key slots: nothing of a
/// patient), leaving the pull cursor where it is. Returns how many changes were new here.
pub async fn pull_clinic_users(
    store: &mut Store,
    client: &SyncClient,
) -> Result<usize, EngineError> {
    let mut stream = client.pull_users(PULL_PAGE).await?;
    let mut applied = 0;
    while let Some(item) = stream.next().await? {
        if let PullItem::Page(changes) = item {
            applied += store.apply_remote_out_of_order(&changes)?.applied;
        }
    }
    Ok(applied)
}

/// Looks a patient up at the district server: by number, national id, or family name with year
/// of birth. Every patient of another clinic found is in the server's access log.
pub async fn find_at_district(
    client: &SyncClient,
    lookup: &PatientLookup,
) -> Result<Vec<RemotePatient>, EngineError> {
    Ok(client.find_patients(lookup).await?)
}

/// Opens another clinic's patient at this clinic, for `reason`: the server records the grant
/// and the reason, and the patient's whole record comes down now (from then on it syncs with the
/// rest). Returns how many changes were new here.
pub async fn open_shared_patient(
    store: &mut Store,
    client: &SyncClient,
    patient_id: uuid::Uuid,
    reason: ShareReason,
) -> Result<usize, EngineError> {
    client.share_patient(patient_id, reason.code()).await?;
    let mut stream = client.pull_patient(patient_id, PULL_PAGE).await?;
    let mut applied = 0;
    while let Some(item) = stream.next().await? {
        if let PullItem::Page(changes) = item {
            applied += store.apply_remote_out_of_order(&changes)?.applied;
        }
    }
    tracing::info!(patient_id = %patient_id, applied, "shared patient opened");
    Ok(applied)
}

/// One round: push everything pending, then pull everything new.
pub async fn sync_once(
    store: &mut Store,
    client: &SyncClient,
    mut progress: impl FnMut(SyncProgress),
) -> Result<SyncReport, EngineError> {
    let result = sync_round(store, client, &mut progress).await;
    let note = match &result {
        Ok(_) => {
            store.set_sync_setting(keys::LAST_SYNC, &Utc::now().to_rfc3339())?;
            String::new()
        }
        Err(error) => error.to_string(),
    };
    store.set_sync_setting(keys::LAST_ERROR, &note)?;
    result
}

async fn sync_round(
    store: &mut Store,
    client: &SyncClient,
    progress: &mut impl FnMut(SyncProgress),
) -> Result<SyncReport, EngineError> {
    let mut report = SyncReport::default();
    let total = usize::try_from(store.pending_count()?).unwrap_or(usize::MAX);
    loop {
        let pending = store.pending_changes(PUSH_ROUND)?;
        if pending.is_empty() {
            break;
        }
        let mut answered = 0;
        for batch in push_batches(&pending) {
            let reply = client.push(batch).await?;
            store.set_clock_offset(reply.server_time_millis - Utc::now().timestamp_millis())?;
            let outcomes: Vec<_> = batch
                .iter()
                .zip(reply.acks)
                .map(|(change, ack)| {
                    let outcome = match ack {
                        Ack::Accepted { seq } | Ack::Duplicate { seq } => {
                            report.pushed += 1;
                            PushOutcome::Stored { server_seq: seq }
                        }
                        Ack::Refused { reason } => {
                            report.refused += 1;
                            PushOutcome::Refused { reason }
                        }
                        Ack::Quarantined { reason } => {
                            report.quarantined += 1;
                            PushOutcome::Quarantined { reason }
                        }
                    };
                    (change.change_id, outcome)
                })
                .collect();
            answered += outcomes.len();
            store.record_push_outcomes(&outcomes)?;
            progress(SyncProgress::Pushing {
                done: report.pushed + report.refused + report.quarantined,
                total,
            });
        }
        if answered == 0 {
            // A server that answers nothing would loop forever; the next round tries again.
            break;
        }
    }

    let start = store.sync_cursor()?;
    let mut stream = client.pull(start, PULL_PAGE).await?;
    let began = Instant::now();
    // Pages are applied a few at a time, in one transaction each: a commit (and the search
    // index's flush) per page costs more than the page's rows on a first pull. The cursor moves
    // with each transaction, so a cut line resumes after the last one committed.
    let mut batch: Vec<(u64, crate::model::ChangeRecord)> = Vec::new();
    while let Some(item) = stream.next().await? {
        match item {
            PullItem::Page(changes) => {
                batch.extend(changes);
                if batch.len() >= APPLY_BATCH {
                    let pace = Pace {
                        start,
                        ends_at: stream.ends_at(),
                        elapsed: began.elapsed(),
                    };
                    apply_batch(store, &mut batch, &mut report, pace, progress)?;
                }
            }
            PullItem::Checkpoint {
                last_seq,
                server_time_millis,
            } => {
                let pace = Pace {
                    start,
                    ends_at: stream.ends_at(),
                    elapsed: began.elapsed(),
                };
                apply_batch(store, &mut batch, &mut report, pace, progress)?;
                store.set_clock_offset(server_time_millis - Utc::now().timestamp_millis())?;
                if last_seq > store.sync_cursor()? {
                    store.apply_remote_page(&[], last_seq)?;
                }
                report.cursor = store.sync_cursor()?;
            }
        }
    }
    // What the server has acknowledged and the pull brought back leaves the log.
    for _ in 0..COMPACT_PASSES {
        let pass = store.compact_log(COMPACT_PASS)?;
        report.compacted += pass.changes_removed;
        if pass.finished {
            break;
        }
    }
    sync_blobs(store, client, &mut report, progress).await?;
    if report.pushed + report.pulled.applied + report.blobs_uploaded + report.blobs_downloaded > 0 {
        // A round that moved something is in the trail (quiet rounds would fill it with
        // nothing); it goes up with the next round.
        store.record_audit(crate::model::AuditEvent::new(
            crate::model::AuditAction::Sync,
            store.actor(),
        ))?;
    }
    sync_audit(store, client, &mut report).await?;
    Ok(report)
}

/// Where a pull stands: the cursor it started from, where it ends, and how long it has run.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// The cursor the pull started from.
    pub start: u64,
    /// The log's last number when the pull began, when the server said.
    pub ends_at: Option<u64>,
    /// Time since the pull began.
    pub elapsed: Duration,
}

impl Pace {
    /// How far through the pull `cursor` is (0 to 1), and the time the rest should take at the
    /// pace so far: `None` until the server said where the pull ends, and the time left `None`
    /// until some of it is done.
    pub fn estimate(&self, cursor: u64) -> (Option<f32>, Option<Duration>) {
        let Some(end) = self.ends_at.filter(|end| *end > self.start) else {
            return (None, None);
        };
        let done = cursor.clamp(self.start, end) - self.start;
        let fraction = done as f64 / (end - self.start) as f64;
        let left = (fraction > 0.0).then(|| {
            Duration::from_secs_f64(self.elapsed.as_secs_f64() * (1.0 - fraction) / fraction)
        });
        (Some(fraction as f32), left)
    }
}

/// The time a pull has left, as a person says it: "less than a minute", "about 3 minutes",
/// "about 1 h 20 min".
pub fn time_left_text(left: Duration) -> String {
    let minutes = (left.as_secs() + 30) / 60;
    match minutes {
        0 => "less than a minute left".to_owned(),
        1 => "about a minute left".to_owned(),
        2..=59 => format!("about {minutes} minutes left"),
        _ => format!("about {} h {} min left", minutes / 60, minutes % 60),
    }
}

/// Applies the pulled changes gathered in `batch` (emptying it) in one transaction.
fn apply_batch(
    store: &mut Store,
    batch: &mut Vec<(u64, crate::model::ChangeRecord)>,
    report: &mut SyncReport,
    pace: Pace,
    progress: &mut impl FnMut(SyncProgress),
) -> Result<(), EngineError> {
    let Some(last) = batch.last().map(|(seq, _)| *seq) else {
        return Ok(());
    };
    let applied = store.apply_remote_page(batch, last)?;
    batch.clear();
    report.pulled.applied += applied.applied;
    report.pulled.known += applied.known;
    report.pulled.invalid += applied.invalid;
    report.pulled.unapplied += applied.unapplied;
    report.cursor = last;
    let (fraction, left) = pace.estimate(last);
    progress(SyncProgress::Pulling {
        applied: report.pulled.applied,
        cursor: last,
        fraction,
        left,
    });
    Ok(())
}

/// Sends the audit entries the server does not hold yet, in order, in batches.
async fn sync_audit(
    store: &mut Store,
    client: &SyncClient,
    report: &mut SyncReport,
) -> Result<(), EngineError> {
    loop {
        let unsent = store.audit_unsent(AUDIT_BATCH)?;
        let Some(last) = unsent.last().map(|e| e.seq) else {
            return Ok(());
        };
        let held_through = client.push_audit(&unsent).await?;
        store.mark_audit_sent(held_through)?;
        report.audit_sent += unsent.iter().filter(|e| e.seq <= held_through).count();
        if held_through < last {
            // The server took less than was sent: the next round tries again.
            return Ok(());
        }
    }
}

/// Uploads the blobs (images) the server lacks, then downloads the ones wanted here: asked for by
/// a user, or of a patient with a visit today. Both resume where a cut transfer stopped.
async fn sync_blobs(
    store: &mut Store,
    client: &SyncClient,
    report: &mut SyncReport,
    progress: &mut impl FnMut(SyncProgress),
) -> Result<(), EngineError> {
    let local = store.blobs_to_upload()?;
    if !local.is_empty() {
        let mut missing = Vec::new();
        for chunk in local.chunks(500) {
            missing.extend(client.missing_blobs(chunk).await?);
        }
        for blob in &local {
            if missing.contains(blob) {
                let Some(source) = store.blob_files().open(blob)? else {
                    continue;
                };
                match client.upload_blob(blob, source, |_, _| {}).await {
                    Ok(()) => {}
                    Err(SyncError::PermissionDenied { .. }) => {
                        report.blobs_held_back += 1;
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                }
                report.blobs_uploaded += 1;
                progress(SyncProgress::Blobs {
                    done: report.blobs_uploaded + report.blobs_downloaded,
                });
            }
            store.mark_blob_uploaded(blob)?;
        }
    }
    let today = chrono::Local::now().date_naive();
    for blob in store.blobs_to_download(today)? {
        match client
            .download_blob(&blob, &store.blob_files(), |_, _| {})
            .await
        {
            Ok(size) => {
                store.record_downloaded_blob(&blob, size)?;
                report.blobs_downloaded += 1;
                progress(SyncProgress::Blobs {
                    done: report.blobs_uploaded + report.blobs_downloaded,
                });
            }
            // Not on the server yet (its workstation has not uploaded it): next round.
            Err(SyncError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_estimates_the_time_left_from_its_pace() {
        let pace = Pace {
            start: 1_000,
            ends_at: Some(11_000),
            elapsed: Duration::from_secs(30),
        };
        let (fraction, left) = pace.estimate(3_500);
        assert_eq!(fraction, Some(0.25));
        assert_eq!(
            left,
            Some(Duration::from_secs(90)),
            "a quarter in 30 s: 90 s to go"
        );
        assert_eq!(pace.estimate(11_000), (Some(1.0), Some(Duration::ZERO)));
        // Nothing done yet: a place, no time.
        assert_eq!(pace.estimate(1_000), (Some(0.0), None));
        // A cursor past the end (the log grew) counts as the end.
        assert_eq!(pace.estimate(12_000).0, Some(1.0));
        // An older server says nothing of the end.
        let unknown = Pace {
            ends_at: None,
            ..pace
        };
        assert_eq!(unknown.estimate(5_000), (None, None));
    }

    #[test]
    fn the_time_left_reads_as_people_say_it() {
        assert_eq!(
            time_left_text(Duration::from_secs(20)),
            "less than a minute left"
        );
        assert_eq!(
            time_left_text(Duration::from_secs(75)),
            "about a minute left"
        );
        assert_eq!(
            time_left_text(Duration::from_secs(170)),
            "about 3 minutes left"
        );
        assert_eq!(
            time_left_text(Duration::from_secs(4_800)),
            "about 1 h 20 min left"
        );
    }
}
