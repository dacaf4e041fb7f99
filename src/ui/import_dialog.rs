//! The import dialog: files picked, dropped or on a CD go into a patient's record on the "import"
//! thread (with its own store connection), with a progress bar and Cancel. Before anything is
//! written the dialog shows whose images they are by the files' own patient identity, beside the
//! chart's patient, and asks before linking images that name someone else.

use super::widgets::{ERROR_TEXT, WARNING_TEXT};
use crate::imaging::{
    ImportEvent, ImportFailure, ImportOptions, ImportSummary, SourceIdentity, collect_files,
    import_paths, inspect_identities, person_name_display,
};
use crate::model::{EncounterId, Patient, PatientId};
use crate::store::Store;
use egui::{RichText, Ui};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

enum JobMessage {
    Progress(ImportEvent),
    Identities {
        identities: Vec<(SourceIdentity, usize)>,
        files: usize,
    },
    Finished {
        summary: ImportSummary,
        collect_failures: Vec<ImportFailure>,
    },
    Failed(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Working,
    AskLink,
    Done,
}

/// A running (or finished) import and its window.
pub struct ImportDialog {
    patient_id: PatientId,
    patient: Option<Patient>,
    messages: Receiver<JobMessage>,
    go: Sender<bool>,
    cancel: Arc<AtomicBool>,
    stage: Stage,
    progress: Option<ImportEvent>,
    identities: Vec<(SourceIdentity, usize)>,
    files: usize,
    summary: Option<(ImportSummary, Vec<ImportFailure>)>,
    error: Option<String>,
}

/// What the dialog asks of the app after a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Still open.
    Open,
    /// Closed by the user: reload what shows the patient's images.
    Closed,
}

impl ImportDialog {
    /// Starts importing `paths` into the patient's record.
    pub fn start(
        store: &Store,
        ctx: &egui::Context,
        patient_id: PatientId,
        encounter_id: Option<EncounterId>,
        paths: Vec<PathBuf>,
    ) -> Self {
        let (message_tx, messages) = channel();
        let (go, go_rx) = channel::<bool>();
        let cancel = Arc::new(AtomicBool::new(false));
        let opener = store.opener();
        // The import writes as the signed-in user: its records are in the audit trail as theirs.
        let actor = store.actor();
        let job_cancel = cancel.clone();
        let wake = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("import".to_owned())
            .spawn(move || {
                let target = (patient_id, encounter_id);
                run_job(
                    &opener,
                    actor,
                    target,
                    &paths,
                    &job_cancel,
                    &go_rx,
                    &message_tx,
                    &wake,
                );
            });
        let mut dialog = Self {
            patient_id,
            patient: store.patient(patient_id).ok(),
            messages,
            go,
            cancel,
            stage: Stage::Working,
            progress: None,
            identities: Vec::new(),
            files: 0,
            summary: None,
            error: None,
        };
        if let Err(e) = spawned {
            dialog.error = Some(format!("The import cannot start: {e}"));
            dialog.stage = Stage::Done;
        }
        dialog
    }

    /// The patient the images go to.
    pub fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    /// True once the import has ended (finished, cancelled or failed).
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// The result, once done.
    pub fn summary(&self) -> Option<&ImportSummary> {
        self.summary.as_ref().map(|(s, _)| s)
    }

    fn poll(&mut self) {
        while let Ok(message) = self.messages.try_recv() {
            match message {
                JobMessage::Progress(event) => self.progress = Some(event),
                JobMessage::Identities { identities, files } => {
                    self.files = files;
                    let differs = self.patient.as_ref().is_some_and(|p| {
                        identities.iter().any(|(i, _)| !i.differences(p).is_empty())
                    });
                    self.identities = identities;
                    if differs {
                        self.stage = Stage::AskLink;
                    } else {
                        let _ = self.go.send(true);
                    }
                }
                JobMessage::Finished {
                    summary,
                    collect_failures,
                } => {
                    self.summary = Some((summary, collect_failures));
                    self.stage = Stage::Done;
                }
                JobMessage::Failed(error) => {
                    self.error = Some(error);
                    self.stage = Stage::Done;
                }
            }
        }
    }

    /// Draws the dialog.
    pub fn ui(&mut self, ctx: &egui::Context) -> ImportOutcome {
        self.poll();
        let mut outcome = ImportOutcome::Open;
        egui::Modal::new(egui::Id::unique("import_dialog")).show(ctx, |ui| {
            ui.set_width(560.0);
            ui.heading("Import images");
            if let Some(patient) = &self.patient {
                let number = patient
                    .number
                    .as_ref()
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                ui.label(format!(
                    "Into the record of {} {}  {number}",
                    patient.given_name, patient.family_name
                ));
            }
            ui.add_space(6.0);
            self.identities_ui(ui);
            match self.stage {
                Stage::Working => self.progress_ui(ui),
                Stage::AskLink => {
                    ui.label(
                        RichText::new(
                            "These images name a different patient. Link them to this chart anyway?",
                        )
                        .color(WARNING_TEXT)
                        .strong(),
                    );
                    ui.horizontal(|ui| {
                        if ui.button("Link to this patient").clicked() {
                            let _ = self.go.send(true);
                            self.stage = Stage::Working;
                        }
                        if ui.button("Do not import").clicked() {
                            let _ = self.go.send(false);
                            self.stage = Stage::Working;
                        }
                    });
                }
                Stage::Done => {
                    if self.done_ui(ui) {
                        outcome = ImportOutcome::Closed;
                    }
                }
            }
        });
        outcome
    }

    fn identities_ui(&self, ui: &mut Ui) {
        if self.identities.is_empty() {
            return;
        }
        ui.label(RichText::new("Patient named in the files").strong());
        for (identity, count) in &self.identities {
            let differences = self
                .patient
                .as_ref()
                .map(|p| identity.differences(p))
                .unwrap_or_default();
            let text = format!(
                "{} — ID {}, born {}, sex {} ({count} file(s))",
                person_name_display(&identity.patient_name),
                if identity.patient_id.is_empty() {
                    "-"
                } else {
                    &identity.patient_id
                },
                identity
                    .birth_date
                    .map_or("-".to_owned(), super::widgets::format_date),
                if identity.sex.is_empty() {
                    "-"
                } else {
                    &identity.sex
                },
            );
            if differences.is_empty() {
                ui.label(text);
            } else {
                ui.label(
                    RichText::new(format!("{text}: {} differ", differences.join(", ")))
                        .color(WARNING_TEXT),
                );
            }
        }
        ui.add_space(6.0);
    }

    fn progress_ui(&mut self, ui: &mut Ui) {
        let (label, fraction) = match self.progress {
            Some(ImportEvent::Inspecting { done, total }) => (
                format!("Reading {done} of {total} file(s)…"),
                done as f32 / total.max(1) as f32,
            ),
            Some(ImportEvent::Importing { done, total }) => (
                format!("Importing {done} of {total} file(s)…"),
                done as f32 / total.max(1) as f32,
            ),
            None => ("Looking for files…".to_owned(), 0.0),
        };
        ui.add(
            egui::ProgressBar::new(fraction)
                .show_percentage()
                .text(label),
        );
        if ui.button("Cancel").clicked() {
            self.cancel.store(true, Ordering::Relaxed);
            let _ = self.go.send(false);
        }
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(100));
    }

    fn done_ui(&self, ui: &mut Ui) -> bool {
        if let Some(error) = &self.error {
            ui.colored_label(ERROR_TEXT, error);
        }
        if let Some((summary, collect_failures)) = &self.summary {
            let mut line = format!(
                "Imported {} file(s) in {} stud(ies), {} series.",
                summary.imported,
                summary.studies.len(),
                summary.series.len()
            );
            if summary.skipped > 0 {
                line.push_str(&format!(
                    " {} were already in the record and were skipped.",
                    summary.skipped
                ));
            }
            if summary.cancelled && summary.imported == 0 {
                line = "Nothing was imported.".to_owned();
            } else if summary.cancelled {
                line.push_str(" Cancelled: the files imported before stay in the record.");
            }
            ui.label(line);
            let failures: Vec<&ImportFailure> = collect_failures
                .iter()
                .chain(summary.failures.iter())
                .collect();
            if !failures.is_empty() {
                ui.label(
                    RichText::new(format!("{} file(s) could not be imported:", failures.len()))
                        .color(ERROR_TEXT),
                );
                egui::ScrollArea::vertical()
                    .max_height(180.0)
                    .id_salt("import_failures")
                    .show(ui, |ui| {
                        for failure in failures {
                            let name = failure
                                .file
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_else(|| failure.file.display().to_string());
                            ui.label(format!("{name}: {}", failure.reason));
                        }
                    });
            }
        } else if self.error.is_none() {
            ui.label("Nothing was imported.");
        }
        ui.button("Close").clicked()
    }
}

#[allow(clippy::too_many_arguments)]
fn run_job(
    opener: &crate::store::StoreOpener,
    actor: Option<crate::model::UserId>,
    (patient_id, encounter_id): (PatientId, Option<EncounterId>),
    paths: &[PathBuf],
    cancel: &Arc<AtomicBool>,
    go: &Receiver<bool>,
    messages: &Sender<JobMessage>,
    wake: &egui::Context,
) {
    let send = |message: JobMessage| {
        let _ = messages.send(message);
        wake.request_repaint();
    };
    let mut store = match opener.open() {
        Ok(mut store) => {
            store.set_actor(actor);
            store
        }
        Err(e) => {
            send(JobMessage::Failed(format!(
                "The record cannot be opened: {e}"
            )));
            return;
        }
    };
    let (files, collect_failures) = collect_files(paths);
    let mut last_sent = std::time::Instant::now();
    let mut progress = |event: ImportEvent| {
        // A message per file would flood the window on a fast disk: about twenty a second is enough.
        if last_sent.elapsed() > std::time::Duration::from_millis(50) {
            last_sent = std::time::Instant::now();
            send(JobMessage::Progress(event));
        }
    };
    let identities = inspect_identities(&files, cancel, &mut progress);
    send(JobMessage::Identities {
        identities,
        files: files.len(),
    });
    let proceed = go.recv().unwrap_or(false) && !cancel.load(Ordering::Relaxed);
    let summary = if proceed {
        let options = ImportOptions {
            patient_id,
            encounter_id,
            cancel: cancel.clone(),
        };
        import_paths(&mut store, &files, &options, &mut progress)
    } else {
        ImportSummary {
            cancelled: true,
            ..ImportSummary::default()
        }
    };
    send(JobMessage::Finished {
        summary,
        collect_failures,
    });
}
