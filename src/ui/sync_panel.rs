//! Sync on the desktop: the "sync" worker thread, the sync part of the status bar and the
//! "Connect to server" dialog.
//!
//! Talking to the server takes seconds, or up to a time-out when the line is down, so none of it
//! happens inside a frame. A named "sync" thread owns its own store connection and a
//! current-thread tokio runtime; the window sends it [`SyncRequest`]s (sync now, a local change
//! was written, test an address, enroll) and it answers with [`SyncEvent`]s over a channel,
//! waking the window with `request_repaint`. The thread syncs every minute while enrolled and a
//! few seconds after a local change, so a clerk never has to remember to press a button.
//!
//! [`SyncPanel`] owns what the window shows about sync: the state of the last round, the counts of
//! conflicts and held changes, and the dialog that connects the workstation to a server.

use super::widgets::{ERROR_TEXT, OK_TEXT, format_count, store_error_text, text_field_row};
use crate::model::PatientId;
use crate::store::StoreOpener;
use crate::store::{HeldChange, Store};
use crate::sync::client::{ClientConfig, PatientLookup, RemotePatient, SyncClient};
use crate::sync::engine::{self, EngineError, SyncProgress, SyncReport};
use crate::sync::wire::ShareReason;
use crate::tr;
use chrono::{DateTime, Local, Utc};
use egui::{RichText, Ui};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

/// Time between rounds while nothing else asks for one.
const ROUND_INTERVAL: Duration = Duration::from_secs(60);
/// Wait after a local change before sending it, so a burst of edits goes up in one round.
const AFTER_LOCAL_CHANGE: Duration = Duration::from_secs(5);
/// How long "Test connection" waits for the server.
const TEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The workstation name offered when the computer's host name is unknown.
const DEFAULT_WORKSTATION_NAME: &str = "Workstation";

/// Where the server is and how to trust it.
#[derive(Clone, Debug)]
struct ServerAddress {
    /// `http://host:port` or `https://host:port`.
    url: String,
    /// The PEM file of the server's certificate authority, for `https://`.
    certificate_path: Option<PathBuf>,
    /// The server certificate's pin, when the enrollment code typed carries one.
    pin: Option<crate::sync::code::CertificatePin>,
}

/// What the window asks of the sync thread.
#[derive(Debug)]
enum SyncRequest {
    /// Run a round now.
    SyncNow,
    /// A local change was written: send it soon.
    LocalChange,
    /// Try to reach a server without enrolling.
    Test(ServerAddress),
    /// Trade an enrollment code for this workstation's credential, then sync.
    Enroll {
        address: ServerAddress,
        code: String,
        device_name: String,
        /// A workstation restored from a backup replaces the one it came from.
        take_over: bool,
    },
    /// Look a patient up at the district server.
    Find(PatientLookup),
    /// Open another clinic's patient here, for a reason.
    OpenShared {
        patient_id: PatientId,
        reason: ShareReason,
    },
    /// The window is closing.
    Stop,
}

/// How a round ended.
#[derive(Clone, Debug)]
enum RoundOutcome {
    /// Everything pending was sent and everything new received.
    Done(SyncReport),
    /// The server could not be reached: work goes on offline.
    Offline(String),
    /// Something else stopped the round.
    Failed(String),
}

/// What the sync thread tells the window.
#[derive(Debug)]
enum SyncEvent {
    /// A round began.
    RoundStarted,
    /// A round moved on.
    Progress(SyncProgress),
    /// A round ended.
    RoundFinished(RoundOutcome),
    /// The answer to "Test connection".
    Tested(Result<(), String>),
    /// The answer to "Connect": the clinic's name, or why not.
    Enrolled(Result<String, String>),
    /// The patients the district server found, or why not.
    Found(Result<Vec<RemotePatient>, String>),
    /// Another clinic's patient opened here, or why not.
    Opened(Result<PatientId, String>),
}

/// The window's end of the sync thread. Dropping it tells the thread to stop after the round it
/// is in, and waits a little for that (a round is a transaction or two on the store and a call
/// to the server): a process that exits while the thread is inside the database's cipher can
/// crash in the library's clean-up, though nothing written is lost. A round that takes longer
/// (a slow line) is left to finish on its own.
struct SyncWorker {
    requests: Sender<SyncRequest>,
    events: Receiver<SyncEvent>,
    stopped: Receiver<()>,
}

/// How long closing the window waits for a sync round in progress.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl SyncWorker {
    /// Starts the "sync" thread with its own connection to the store.
    fn spawn(opener: StoreOpener, ctx: egui::Context) -> std::io::Result<Self> {
        let (request_sender, request_receiver) = std::sync::mpsc::channel();
        let (event_sender, event_receiver) = std::sync::mpsc::channel();
        let (stopped_sender, stopped) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("sync".to_owned())
            .spawn(move || {
                let events = EventSender {
                    sender: event_sender,
                    ctx,
                };
                worker_main(&opener, &request_receiver, &events);
                // Everything of the thread (its store, its runtime) is dropped by now.
                drop(events);
                let _ = stopped_sender.send(());
            })?;
        Ok(Self {
            requests: request_sender,
            events: event_receiver,
            stopped,
        })
    }

    /// Sends a request; false when the thread has stopped.
    fn send(&self, request: SyncRequest) -> bool {
        self.requests.send(request).is_ok()
    }
}

impl Drop for SyncWorker {
    fn drop(&mut self) {
        // The thread may have stopped already: then there is nobody to tell, and the wait ends
        // at once (its end of the channel is gone).
        let _ = self.requests.send(SyncRequest::Stop);
        let _ = self.stopped.recv_timeout(STOP_WAIT);
    }
}

/// Sends events to the window and wakes it.
struct EventSender {
    sender: Sender<SyncEvent>,
    ctx: egui::Context,
}

impl EventSender {
    fn send(&self, event: SyncEvent) {
        // The window may have closed meanwhile: then nobody listens.
        let _ = self.sender.send(event);
        self.ctx.request_repaint();
    }
}

/// The sync thread: waits for requests or the next round, runs rounds, answers.
fn worker_main(opener: &StoreOpener, requests: &Receiver<SyncRequest>, events: &EventSender) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::warn!(%error, "cannot start the sync runtime");
            events.send(SyncEvent::RoundFinished(RoundOutcome::Failed(format!(
                "Sync cannot start: {error}"
            ))));
            return;
        }
    };
    let mut store = match opener.open() {
        Ok(store) => store,
        Err(error) => {
            tracing::warn!(%error, "the sync thread cannot open the store");
            events.send(SyncEvent::RoundFinished(RoundOutcome::Failed(format!(
                "Sync cannot open the database: {}",
                store_error_text(&error)
            ))));
            return;
        }
    };
    let mut enrolled = matches!(engine::server_url(&store), Ok(Some(_)));
    // An enrolled workstation catches up as soon as the window opens.
    let mut next_round = enrolled.then(Instant::now);
    loop {
        let request = match next_round {
            Some(at) => match requests.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(request) => Some(request),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match requests.recv() {
                Ok(request) => Some(request),
                Err(_) => return,
            },
        };
        match request {
            None | Some(SyncRequest::SyncNow) => {
                if enrolled {
                    run_round(&runtime, &mut store, events);
                    next_round = Some(Instant::now() + ROUND_INTERVAL);
                } else {
                    events.send(SyncEvent::RoundFinished(RoundOutcome::Failed(
                        EngineError::NotEnrolled.to_string(),
                    )));
                }
            }
            Some(SyncRequest::LocalChange) => {
                if enrolled {
                    let soon = Instant::now() + AFTER_LOCAL_CHANGE;
                    next_round = Some(next_round.map_or(soon, |at| at.min(soon)));
                }
            }
            Some(SyncRequest::Test(address)) => {
                let result = runtime.block_on(test_connection(&address));
                events.send(SyncEvent::Tested(result));
            }
            Some(SyncRequest::Enroll {
                address,
                code,
                device_name,
                take_over,
            }) => {
                let result =
                    runtime.block_on(enroll(&mut store, &address, &code, &device_name, take_over));
                let succeeded = result.is_ok();
                events.send(SyncEvent::Enrolled(result));
                if succeeded {
                    enrolled = true;
                    run_round(&runtime, &mut store, events);
                    next_round = Some(Instant::now() + ROUND_INTERVAL);
                }
            }
            Some(SyncRequest::Find(lookup)) => {
                let result = runtime.block_on(async {
                    let client = SyncClient::connect(engine::client_config(&store)?).await?;
                    engine::find_at_district(&client, &lookup).await
                });
                events.send(SyncEvent::Found(result.map_err(|e| e.to_string())));
            }
            Some(SyncRequest::OpenShared { patient_id, reason }) => {
                let result = runtime.block_on(async {
                    let client = SyncClient::connect(engine::client_config(&store)?).await?;
                    engine::open_shared_patient(&mut store, &client, patient_id.0, reason).await
                });
                events.send(SyncEvent::Opened(
                    result.map(|_| patient_id).map_err(|e| e.to_string()),
                ));
            }
            Some(SyncRequest::Stop) => return,
        }
    }
}

/// One round with the server, reporting progress as it goes.
fn run_round(runtime: &tokio::runtime::Runtime, store: &mut Store, events: &EventSender) {
    events.send(SyncEvent::RoundStarted);
    let result = runtime.block_on(async {
        let config = engine::client_config(store)?;
        let client = SyncClient::connect(config).await?;
        engine::sync_once(store, &client, |progress| {
            events.send(SyncEvent::Progress(progress));
        })
        .await
    });
    let outcome = match result {
        Ok(report) => {
            tracing::info!(
                pushed = report.pushed,
                pulled = report.pulled.applied,
                "sync round done"
            );
            RoundOutcome::Done(report)
        }
        Err(error) if error.is_offline() => {
            tracing::info!(%error, "server unreachable");
            RoundOutcome::Offline(error.to_string())
        }
        Err(error) => {
            tracing::warn!(%error, "sync round failed");
            RoundOutcome::Failed(error.to_string())
        }
    };
    events.send(SyncEvent::RoundFinished(outcome));
}

/// Reads the certificate file named in `address`, if any.
fn certificate(address: &ServerAddress) -> Result<Option<Vec<u8>>, String> {
    let Some(path) = &address.certificate_path else {
        return Ok(None);
    };
    std::fs::read(path).map(Some).map_err(|error| {
        format!(
            "The certificate file {} cannot be read: {error}",
            path.display()
        )
    })
}

async fn test_connection(address: &ServerAddress) -> Result<(), String> {
    if let Some(pin) = &address.pin
        && address.certificate_path.is_none()
        && address.url.trim().starts_with("https://")
    {
        // The code names the server's certificate: meeting it is the test.
        return crate::sync::pin::fetch_pinned_certificate(&address.url, pin, TEST_TIMEOUT)
            .await
            .map(drop)
            .map_err(|error| error.to_string());
    }
    let mut config = ClientConfig::new(address.url.trim());
    config.ca_certificate_pem = certificate(address)?;
    config.connect_timeout = TEST_TIMEOUT;
    SyncClient::connect(config)
        .await
        .map(|_| ())
        .map_err(|error| error.to_string())
}

async fn enroll(
    store: &mut Store,
    address: &ServerAddress,
    code: &str,
    device_name: &str,
    take_over: bool,
) -> Result<String, String> {
    let pem = certificate(address)?;
    engine::enroll(
        store,
        &address.url,
        code.trim(),
        device_name.trim(),
        pem,
        take_over,
    )
    .await
    .map_err(|error| error.to_string())
}

/// What the window must refresh after the events of a frame.
#[derive(Debug, Default)]
pub(crate) struct SyncUpdate {
    /// A round ended: counts, lists and conflicts may have changed.
    pub round_finished: bool,
    /// Changes from other workstations arrived.
    pub pulled: bool,
    /// The workstation was enrolled, in the clinic of this name: its store connection must be
    /// reopened to see the clinic it joined.
    pub enrolled_in: Option<String>,
    /// A message for the status bar, and whether it is an error.
    pub message: Option<(String, bool)>,
    /// What a lookup at the district server found.
    pub found: Option<Result<Vec<RemotePatient>, String>>,
    /// Another clinic's patient was opened here (or why not).
    pub opened: Option<Result<PatientId, String>>,
}

/// Where the current or last round stands.
#[derive(Clone, Debug)]
enum RoundState {
    /// No round has run since the window opened.
    NotYet,
    /// A round is running.
    Running(Option<SyncProgress>),
    /// The last round ended so.
    Finished(RoundOutcome),
}

/// Is a test or an enrollment waiting for its answer?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialogBusy {
    Testing,
    Connecting,
}

/// The "Connect to server" dialog. Typed values survive a failed attempt.
#[derive(Debug)]
struct ConnectDialog {
    server_url: String,
    code: String,
    device_name: String,
    certificate_path: String,
    /// This computer holds a restored backup and replaces the workstation it came from.
    take_over: bool,
    busy: Option<DialogBusy>,
    /// The outcome of the last test or attempt, and whether it is an error.
    result: Option<(String, bool)>,
}

impl ConnectDialog {
    fn new() -> Self {
        let device_name = ["HOSTNAME", "COMPUTERNAME"]
            .iter()
            .filter_map(|key| std::env::var(key).ok())
            .map(|name| name.trim().to_owned())
            .find(|name| !name.is_empty())
            .unwrap_or_else(|| DEFAULT_WORKSTATION_NAME.to_owned());
        Self {
            server_url: String::new(),
            code: String::new(),
            device_name,
            certificate_path: String::new(),
            take_over: false,
            busy: None,
            result: None,
        }
    }

    fn address(&self) -> Result<ServerAddress, String> {
        let url = self.server_url.trim();
        if url.is_empty() {
            return Err("Enter the server address, for example http://127.0.0.1:7777.".into());
        }
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err("The server address starts with http:// or https://.".into());
        }
        let certificate = self.certificate_path.trim();
        Ok(ServerAddress {
            url: url.to_owned(),
            certificate_path: (!certificate.is_empty()).then(|| PathBuf::from(certificate)),
            pin: crate::sync::code::EnrollmentCode::parse(&self.code)
                .ok()
                .and_then(|code| code.pin),
        })
    }
}

/// The sync state the window shows, and its end of the sync thread.
pub(crate) struct SyncPanel {
    worker: Option<SyncWorker>,
    /// Why the thread could not start, once it failed.
    worker_error: Option<String>,
    enrolled: bool,
    clinic_name: Option<String>,
    last_sync: Option<DateTime<Utc>>,
    round: RoundState,
    held: Vec<HeldChange>,
    conflicts: usize,
    dialog: Option<ConnectDialog>,
}

impl SyncPanel {
    /// The panel for `store`, as its settings stand. The thread starts with the first frame.
    pub fn new(store: &Store) -> Self {
        let mut panel = Self {
            worker: None,
            worker_error: None,
            enrolled: false,
            clinic_name: None,
            last_sync: None,
            round: RoundState::NotYet,
            held: Vec::new(),
            conflicts: 0,
            dialog: None,
        };
        panel.reload(store);
        panel
    }

    /// Re-reads the enrollment, the last sync time and the counts from the store.
    pub fn reload(&mut self, store: &Store) {
        self.enrolled = matches!(engine::server_url(store), Ok(Some(_)));
        self.clinic_name = engine::clinic_name(store).ok().flatten();
        self.last_sync = engine::last_sync(store).ok().flatten();
        self.held = store.held_changes().unwrap_or_default();
        self.conflicts = store.conflicts().map(|c| c.len()).unwrap_or_default();
    }

    /// The number of conflicts waiting for a decision.
    pub fn conflict_count(&self) -> usize {
        self.conflicts
    }

    /// True while a round is running.
    pub fn is_syncing(&self) -> bool {
        matches!(self.round, RoundState::Running(_))
    }

    /// Starts the sync thread with its own connection if it is not running yet.
    pub fn ensure_worker(&mut self, ctx: &egui::Context, opener: &StoreOpener) {
        if self.worker.is_some() || self.worker_error.is_some() {
            return;
        }
        match SyncWorker::spawn(opener.clone(), ctx.clone()) {
            Ok(worker) => self.worker = Some(worker),
            Err(error) => {
                tracing::warn!(%error, "cannot start the sync thread");
                self.worker_error = Some(format!("Sync cannot start: {error}"));
            }
        }
    }

    /// A local change was written: it goes to the server in a few seconds.
    pub fn local_change(&mut self) {
        self.request(SyncRequest::LocalChange);
    }

    /// Runs a round now.
    pub fn sync_now(&mut self) {
        if self.request(SyncRequest::SyncNow) {
            self.round = RoundState::Running(None);
        }
    }

    fn request(&mut self, request: SyncRequest) -> bool {
        let sent = self.worker.as_ref().is_some_and(|w| w.send(request));
        if !sent && self.worker.take().is_some() {
            self.worker_error = Some("Sync stopped unexpectedly; restart Outpost.".to_owned());
        }
        sent
    }

    /// Takes what the sync thread reported since the last frame.
    pub fn poll(&mut self) -> SyncUpdate {
        let mut update = SyncUpdate::default();
        loop {
            let event = match self.worker.as_ref().map(|w| w.events.try_recv()) {
                None | Some(Err(TryRecvError::Empty)) => break,
                Some(Ok(event)) => event,
                Some(Err(TryRecvError::Disconnected)) => {
                    self.worker = None;
                    self.worker_error =
                        Some("Sync stopped unexpectedly; restart Outpost.".to_owned());
                    break;
                }
            };
            self.handle(event, &mut update);
        }
        update
    }

    fn handle(&mut self, event: SyncEvent, update: &mut SyncUpdate) {
        match event {
            SyncEvent::RoundStarted => self.round = RoundState::Running(None),
            SyncEvent::Progress(progress) => self.round = RoundState::Running(Some(progress)),
            SyncEvent::RoundFinished(outcome) => {
                if let RoundOutcome::Done(report) = &outcome {
                    update.pulled |= report.pulled.applied > 0;
                }
                self.round = RoundState::Finished(outcome);
                update.round_finished = true;
            }
            SyncEvent::Found(result) => update.found = Some(result),
            SyncEvent::Opened(result) => {
                update.pulled |= result.is_ok();
                update.opened = Some(result);
            }
            SyncEvent::Tested(result) => {
                if let Some(dialog) = &mut self.dialog {
                    dialog.busy = None;
                    dialog.result = Some(match result {
                        Ok(()) => (
                            "The server answered: the connection works.".to_owned(),
                            false,
                        ),
                        Err(error) => (error, true),
                    });
                }
            }
            SyncEvent::Enrolled(result) => match result {
                Ok(clinic_name) => {
                    self.enrolled = true;
                    self.clinic_name = Some(clinic_name.clone());
                    self.dialog = None;
                    update.message = Some((format!("Connected to {clinic_name}."), false));
                    update.enrolled_in = Some(clinic_name);
                }
                Err(error) => match &mut self.dialog {
                    Some(dialog) => {
                        dialog.busy = None;
                        dialog.result = Some((error, true));
                    }
                    None => {
                        update.message = Some((format!("Not connected: {error}"), true));
                    }
                },
            },
        }
    }

    /// Whether this workstation is enrolled with a server (the district can be asked).
    pub fn is_enrolled(&self) -> bool {
        self.enrolled
    }

    /// Asks the district server for a patient; false when sync is not running.
    pub fn find_at_district(&mut self, lookup: PatientLookup) -> bool {
        self.request(SyncRequest::Find(lookup))
    }

    /// Opens another clinic's patient here; false when sync is not running.
    pub fn open_shared(&mut self, patient_id: PatientId, reason: ShareReason) -> bool {
        self.request(SyncRequest::OpenShared { patient_id, reason })
    }

    /// The top-bar button: "Connect to server…" until enrolled, "Sync now" after.
    pub fn top_bar_button_ui(&mut self, ui: &mut Ui) {
        if self.enrolled {
            let syncing = self.is_syncing();
            let button = ui
                .add_enabled(!syncing, egui::Button::new(tr!("sync-now")))
                .on_hover_text(match &self.clinic_name {
                    Some(name) => tr!("sync-now-with", name = name.clone()),
                    None => tr!("sync-now-hint"),
                })
                .on_disabled_hover_text(tr!("sync-running"));
            if button.clicked() {
                self.sync_now();
            }
        } else if ui
            .button(tr!("sync-connect"))
            .on_hover_text(tr!("sync-connect-hint"))
            .clicked()
        {
            self.dialog = Some(ConnectDialog::new());
        }
    }

    /// The sync part of the status bar. Returns true when the conflicts link was clicked.
    pub fn status_ui(&self, ui: &mut Ui, pending_changes: Option<i64>) -> bool {
        let waiting = |n: i64| tr!("sync-waiting", count = n, shown = format_count(n));
        let pending_label = |ui: &mut Ui| {
            if let Some(pending) = pending_changes {
                ui.separator();
                let text = match pending {
                    0 => tr!("sync-all-synced"),
                    n => tr!("sync-to-sync", waiting = waiting(n)),
                };
                ui.label(RichText::new(text).small());
            }
        };
        if let Some(error) = &self.worker_error {
            ui.label(RichText::new(error).small().color(ERROR_TEXT));
            pending_label(ui);
        } else if !self.enrolled {
            ui.label(RichText::new(tr!("sync-not-connected")).small().weak());
            pending_label(ui);
        } else {
            match &self.round {
                RoundState::Running(progress) => self.progress_ui(ui, *progress),
                RoundState::Finished(RoundOutcome::Offline(detail)) => {
                    let text = match pending_changes {
                        Some(n) if n > 0 => {
                            tr!("sync-offline-waiting", waiting = waiting(n))
                        }
                        _ => tr!("sync-offline"),
                    };
                    ui.label(RichText::new(text).small().color(ERROR_TEXT))
                        .on_hover_text(detail);
                }
                RoundState::Finished(RoundOutcome::Failed(error)) => {
                    ui.label(
                        RichText::new(tr!("sync-failed", error = error.clone()))
                            .small()
                            .color(ERROR_TEXT),
                    );
                    pending_label(ui);
                }
                RoundState::Finished(RoundOutcome::Done(_)) | RoundState::NotYet => {
                    let text = match self.last_sync {
                        Some(at) => tr!("sync-online", time = short_time(at)),
                        None => tr!("sync-not-yet"),
                    };
                    let label = ui.label(RichText::new(text).small().color(OK_TEXT));
                    if let Some(name) = &self.clinic_name {
                        label.on_hover_text(tr!("sync-with", name = name.clone()));
                    }
                    pending_label(ui);
                }
            }
        }

        let mut open_conflicts = false;
        if self.conflicts > 0 {
            ui.separator();
            let text = tr!(
                "sync-conflicts",
                count = self.conflicts,
                shown = format_count(i64::try_from(self.conflicts).unwrap_or(i64::MAX))
            );
            open_conflicts = ui
                .link(RichText::new(text).small().color(ERROR_TEXT))
                .on_hover_text(tr!("sync-conflicts-hint"))
                .clicked();
        }
        if !self.held.is_empty() {
            ui.separator();
            let text = tr!(
                "sync-held",
                count = self.held.len(),
                shown = format_count(i64::try_from(self.held.len()).unwrap_or(i64::MAX))
            );
            let reasons = self
                .held
                .iter()
                .map(|held| format!("{} {}: {}", held.entity, held.state, held.reason))
                .collect::<Vec<_>>()
                .join("\n");
            ui.label(RichText::new(text).small().color(ERROR_TEXT))
                .on_hover_text(reasons);
        }
        open_conflicts
    }

    fn progress_ui(&self, ui: &mut Ui, progress: Option<SyncProgress>) {
        match progress {
            Some(SyncProgress::Pushing { done, total }) if total > 0 => {
                ui.label(
                    RichText::new(tr!(
                        "sync-pushing",
                        done = format_count(i64::try_from(done).unwrap_or(i64::MAX)),
                        total = format_count(i64::try_from(total).unwrap_or(i64::MAX))
                    ))
                    .small(),
                );
                let fraction = (done as f32 / total as f32).clamp(0.0, 1.0);
                ui.add(egui::ProgressBar::new(fraction).desired_width(120.0));
            }
            Some(SyncProgress::Pulling {
                applied,
                fraction,
                left,
                ..
            }) => {
                let received = tr!(
                    "sync-received",
                    count = format_count(i64::try_from(applied).unwrap_or(i64::MAX))
                );
                let text = match left {
                    Some(left) => format!("{received}, {}", engine::time_left_text(left)),
                    None => received,
                };
                ui.label(RichText::new(text).small());
                if let Some(fraction) = fraction {
                    ui.add(egui::ProgressBar::new(fraction).desired_width(120.0));
                }
            }
            Some(SyncProgress::Blobs { done }) => {
                ui.label(RichText::new(tr!("sync-images", count = done)).small());
            }
            _ => {
                ui.label(RichText::new(tr!("syncing")).small());
            }
        }
    }

    /// The "Connect to server" dialog, while it is open.
    pub fn dialog_ui(&mut self, ui: &mut Ui) {
        let Some(dialog) = &mut self.dialog else {
            return;
        };
        let mut request = None;
        let modal = egui::Modal::new(egui::Id::unique("connect_server_modal")).show(ui.ctx(), |ui| {
            ui.set_width(520.0);
            ui.label(RichText::new("Connect to server").heading().strong());
            ui.add_space(4.0);
            ui.label("Ask the clinic's administrator for the server address and a one-time enrollment code.");
            ui.add_space(8.0);
            egui::Grid::new("connect_server_fields")
                .num_columns(2)
                .spacing([12.0, 8.0])
                .show(ui, |ui| {
                    text_field_row(ui, "Server address", &mut dialog.server_url, 300.0);
                    ui.end_row();
                    text_field_row(ui, "Enrollment code", &mut dialog.code, 300.0);
                    ui.end_row();
                    text_field_row(ui, "Workstation name", &mut dialog.device_name, 300.0);
                    ui.end_row();
                    text_field_row(
                        ui,
                        "Server certificate (PEM file path)",
                        &mut dialog.certificate_path,
                        300.0,
                    );
                    ui.end_row();
                });
            ui.label(
                RichText::new(
                    "Leave the certificate empty when the code has eight groups (it names the \
                     server's certificate) or the server's certificate is from a public authority.",
                )
                    .small()
                    .weak(),
            );
            ui.checkbox(
                &mut dialog.take_over,
                "Restored from a backup: replace the workstation it came from",
            )
            .on_hover_text(
                "The server stops accepting the old workstation, and this one sends what the \
                 old one wrote and never sent. Leave it off to add this computer beside it.",
            );
            ui.add_space(8.0);
            match dialog.busy {
                Some(DialogBusy::Testing) => {
                    ui.label("Trying the server…");
                }
                Some(DialogBusy::Connecting) => {
                    ui.label("Connecting…");
                }
                None => {
                    if let Some((message, is_error)) = &dialog.result {
                        let text = RichText::new(message);
                        ui.label(if *is_error {
                            text.color(ERROR_TEXT)
                        } else {
                            text.color(OK_TEXT)
                        });
                    }
                }
            }
            ui.add_space(8.0);
            let idle = dialog.busy.is_none();
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(idle, egui::Button::new(RichText::new("Connect").strong()))
                    .clicked()
                {
                    match dialog.address() {
                        Ok(_) if dialog.code.trim().is_empty() => {
                            dialog.result = Some(("Enter the enrollment code.".to_owned(), true));
                        }
                        Ok(_) if dialog.device_name.trim().is_empty() => {
                            dialog.result =
                                Some(("Enter a name for this workstation.".to_owned(), true));
                        }
                        Ok(address) => {
                            request = Some(SyncRequest::Enroll {
                                address,
                                code: dialog.code.trim().to_owned(),
                                device_name: dialog.device_name.trim().to_owned(),
                                take_over: dialog.take_over,
                            });
                            dialog.busy = Some(DialogBusy::Connecting);
                        }
                        Err(error) => dialog.result = Some((error, true)),
                    }
                }
                if ui
                    .add_enabled(idle, egui::Button::new("Test connection"))
                    .clicked()
                {
                    match dialog.address() {
                        Ok(address) => {
                            request = Some(SyncRequest::Test(address));
                            dialog.busy = Some(DialogBusy::Testing);
                        }
                        Err(error) => dialog.result = Some((error, true)),
                    }
                }
                if ui.button("Cancel").clicked() {
                    ui.close();
                }
            });
        });
        if let Some(request) = request
            && !self.request(request)
            && let Some(dialog) = &mut self.dialog
        {
            dialog.busy = None;
            dialog.result = Some((
                self.worker_error
                    .clone()
                    .unwrap_or_else(|| "Sync is not running.".to_owned()),
                true,
            ));
        }
        if modal.should_close() {
            self.dialog = None;
        }
    }
}

/// The time of the last sync: "14:02" today, "23 Nov 14:02" before.
fn short_time(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&Local);
    if local.date_naive() == Local::now().date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%-d %b %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable as _;

    /// The status bar during a long first pull: what came, a bar, and the time left.
    #[test]
    fn a_long_pull_shows_how_far_it_is_and_the_time_left() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_dir(dir.path()).unwrap();
        let mut panel = SyncPanel::new(&store);
        panel.enrolled = true;
        panel.round = RoundState::Running(Some(SyncProgress::Pulling {
            applied: 45_000,
            cursor: 45_000,
            fraction: Some(0.45),
            left: Some(std::time::Duration::from_secs(170)),
        }));
        let harness = Harness::new_ui(|ui| {
            ui.horizontal(|ui| {
                panel.status_ui(ui, Some(0));
            });
        });
        harness.get_by_label("Syncing… 45,000 received, about 3 minutes left");
        assert!(
            harness
                .query_all(
                    egui_kittest::kittest::by().role(egui::accesskit::Role::ProgressIndicator)
                )
                .next()
                .is_some(),
            "a progress bar"
        );
    }
}
