//! The "Export images" dialog: a patient's studies (all, or one) written as a folder laid out as
//! a patient CD, with its DICOMDIR, for another hospital or to burn; de-identified if asked, for
//! teaching and second opinions. The app service checks and audits the export; it runs on the
//! "dicom-export" thread with its own store connection, with a progress bar and Cancel.

use super::widgets::{ERROR_TEXT, WARNING_TEXT};
use crate::app::{DicomExportError, DicomExportJob, DicomExported};
use crate::model::PatientId;
use crate::store::StudyGroup;
use egui::{Id, RichText, TextEdit, Ui};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};

enum JobMessage {
    Progress(usize),
    Finished(Result<DicomExported, DicomExportError>),
}

/// What the dialog is doing.
enum Stage {
    /// Choosing what and where.
    Choose,
    /// Writing, on its own thread.
    Running {
        messages: Receiver<JobMessage>,
        cancel: Arc<AtomicBool>,
        done: usize,
        total: usize,
    },
    /// Finished: what was written, or why not.
    Done(Result<DicomExported, String>),
}

/// The dialog, while open.
pub struct DicomExportDialog {
    patient_id: PatientId,
    /// (Study UID, how it reads), for the choice of one study.
    studies: Vec<(String, String)>,
    /// `None`: every study.
    study: Option<String>,
    deidentify: bool,
    folder: String,
    picker: Option<Receiver<Option<PathBuf>>>,
    stage: Stage,
    error: Option<String>,
}

/// What the dialog asks of the app after a frame.
pub enum DicomExportAction {
    /// Closed.
    Close,
    /// Check and start this export (the app service decides).
    Start {
        /// Whose studies.
        patient_id: PatientId,
        /// One study, or all.
        study_uid: Option<String>,
        /// De-identify them.
        deidentify: bool,
        /// Into this folder.
        folder: PathBuf,
    },
}

impl DicomExportDialog {
    /// The dialog for a patient's studies (as the chart lists them).
    pub fn new(patient_id: PatientId, studies: &[StudyGroup]) -> Self {
        let studies = studies
            .iter()
            .filter(|s| {
                s.series.iter().any(|series| {
                    series
                        .instances
                        .iter()
                        .any(|a| a.media_type == "application/dicom")
                })
            })
            .map(|s| {
                let mut parts = vec![
                    s.study_date
                        .map(|d| d.format("%-d %b %Y").to_string())
                        .unwrap_or_else(|| "No date".to_owned()),
                ];
                parts.extend(
                    [s.modalities.clone(), s.description.clone()]
                        .into_iter()
                        .filter(|p| !p.is_empty()),
                );
                (s.study_uid.clone(), parts.join(" · "))
            })
            .collect();
        Self {
            patient_id,
            studies,
            study: None,
            deidentify: false,
            folder: String::new(),
            picker: None,
            stage: Stage::Choose,
            error: None,
        }
    }

    /// The app service refused to start: say why, and let the person change their choice.
    pub fn refused(&mut self, message: String) {
        self.error = Some(message);
    }

    /// Runs the export the app service prepared, on its own thread.
    pub fn start(&mut self, job: DicomExportJob, ctx: Option<egui::Context>) {
        let (tx, messages) = channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let job_cancel = cancel.clone();
        let total = job.files();
        let spawned = std::thread::Builder::new()
            .name("dicom-export".to_owned())
            .spawn(move || {
                let wake = || {
                    if let Some(ctx) = &ctx {
                        ctx.request_repaint();
                    }
                };
                let result = job
                    .opener()
                    .open()
                    .map_err(DicomExportError::from)
                    .and_then(|store| {
                        job.run(
                            &store,
                            &mut |done| {
                                let _ = tx.send(JobMessage::Progress(done));
                                wake();
                            },
                            &job_cancel,
                        )
                    });
                let _ = tx.send(JobMessage::Finished(result));
                wake();
            });
        self.error = None;
        self.stage = match spawned {
            Ok(_) => Stage::Running {
                messages,
                cancel,
                done: 0,
                total,
            },
            Err(e) => Stage::Done(Err(format!("The export cannot start: {e}"))),
        };
    }

    fn poll(&mut self) {
        if let Some(picker) = &self.picker {
            match picker.try_recv() {
                Ok(picked) => {
                    if let Some(folder) = picked {
                        self.folder = folder.display().to_string();
                    }
                    self.picker = None;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.picker = None,
            }
        }
        let Stage::Running { messages, done, .. } = &mut self.stage else {
            return;
        };
        loop {
            match messages.try_recv() {
                Ok(JobMessage::Progress(n)) => *done = n,
                Ok(JobMessage::Finished(result)) => {
                    self.stage = Stage::Done(result.map_err(|e| e.to_string()));
                    return;
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.stage = Stage::Done(Err("The export stopped unexpectedly.".to_owned()));
                    return;
                }
            }
        }
    }

    fn pick_folder(&mut self, ctx: &egui::Context) {
        let (tx, rx) = channel();
        let wake = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("folder-picker".to_owned())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_title("Folder for the exported images")
                    .pick_folder();
                let _ = tx.send(picked);
                wake.request_repaint();
            });
        match spawned {
            Ok(_) => self.picker = Some(rx),
            Err(e) => self.error = Some(format!("The folder picker cannot open: {e}")),
        }
    }

    /// Shows the dialog; returns what the app should do.
    pub fn ui(&mut self, ui: &Ui) -> Option<DicomExportAction> {
        self.poll();
        let mut action = None;
        let mut pick = false;
        let mut back = false;
        egui::Modal::new(Id::unique("dicom_export_dialog")).show(ui.ctx(), |ui| {
            ui.set_width(520.0);
            ui.label(RichText::new("Export images").heading().strong());
            ui.add_space(6.0);
            match &mut self.stage {
                Stage::Choose => {
                    ui.label(
                        "The images are written as a patient CD: a folder with a DICOMDIR that \
                         other viewers open. Burn the folder's contents to a CD as they are.",
                    );
                    ui.add_space(6.0);
                    ui.label(RichText::new("Studies").strong());
                    ui.radio_value(
                        &mut self.study,
                        None,
                        format!("All studies ({})", self.studies.len()),
                    );
                    egui::ScrollArea::vertical()
                        .max_height(260.0)
                        .auto_shrink([false, true])
                        .show(ui, |ui| {
                            for (uid, line) in &self.studies {
                                ui.radio_value(&mut self.study, Some(uid.clone()), line);
                            }
                        });
                    ui.add_space(6.0);
                    ui.checkbox(
                        &mut self.deidentify,
                        "De-identify (for teaching or a second opinion)",
                    );
                    if self.deidentify {
                        ui.label(
                            RichText::new(
                                "Names, ids and birth date are taken out, dates are moved by one \
                                 number of days, UIDs are replaced. Text burned into the pixels \
                                 is not: the files that may carry it are named when it is done.",
                            )
                            .weak(),
                        );
                    }
                    ui.add_space(6.0);
                    let label = ui.label(RichText::new("Folder (empty or new)").strong());
                    ui.horizontal(|ui| {
                        ui.add(
                            TextEdit::singleline(&mut self.folder)
                                .desired_width(380.0)
                                .hint_text("/media/cdrom-staging/patient"),
                        )
                        .labelled_by(label.id);
                        if ui
                            .add_enabled(self.picker.is_none(), egui::Button::new("Choose…"))
                            .clicked()
                        {
                            pick = true;
                        }
                    });
                    if let Some(error) = &self.error {
                        ui.label(RichText::new(error).color(ERROR_TEXT));
                    }
                    ui.add_space(8.0);
                    ui.horizontal(|ui| {
                        let folder = self.folder.trim();
                        if ui
                            .add_enabled(!folder.is_empty(), egui::Button::new("Export"))
                            .clicked()
                        {
                            action = Some(DicomExportAction::Start {
                                patient_id: self.patient_id,
                                study_uid: self.study.clone(),
                                deidentify: self.deidentify,
                                folder: PathBuf::from(folder),
                            });
                        }
                        if ui.button("Cancel").clicked() {
                            action = Some(DicomExportAction::Close);
                        }
                    });
                }
                Stage::Running {
                    cancel,
                    done,
                    total,
                    ..
                } => {
                    ui.label(format!("Writing image {done} of {total}…"));
                    ui.add(
                        egui::ProgressBar::new(*done as f32 / (*total).max(1) as f32)
                            .show_percentage(),
                    );
                    if cancel.load(Ordering::Relaxed) {
                        ui.label("Cancelling…");
                    } else if ui.button("Cancel").clicked() {
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
                Stage::Done(result) => {
                    let failed = result.is_err();
                    match result {
                        Ok(exported) => done_ui(ui, exported, &self.folder),
                        Err(message) => {
                            ui.label(
                                RichText::new(format!("Not exported: {message}")).color(ERROR_TEXT),
                            );
                        }
                    }
                    ui.add_space(8.0);
                    ui.horizontal(|ui| {
                        if failed && ui.button("Back").clicked() {
                            back = true;
                        }
                        if ui.button("Close").clicked() {
                            action = Some(DicomExportAction::Close);
                        }
                    });
                }
            }
        });
        if pick {
            self.pick_folder(ui.ctx());
        }
        if back {
            self.stage = Stage::Choose;
        }
        action
    }
}

fn done_ui(ui: &mut Ui, exported: &DicomExported, folder: &str) {
    ui.label(format!(
        "Exported {} image file(s) in {} stud(ies) to {}.",
        exported.files,
        exported.studies,
        folder.trim()
    ));
    if !exported.changes.is_empty() {
        ui.label(format!(
            "De-identified: {} attribute(s) changed, listed in {}.",
            exported.changes.len(),
            crate::app::DEIDENTIFICATION_LIST
        ));
        for file in &exported.burned_in {
            ui.label(
                RichText::new(format!(
                    "⚠ {file} says its pixels carry text (it may show the patient's name): \
                     look at it before sharing."
                ))
                .color(WARNING_TEXT),
            );
        }
        if exported.burned_in_not_stated > 0 {
            ui.label(
                RichText::new(format!(
                    "{} file(s) do not say whether their pixels carry text: look at them \
                     before sharing.",
                    exported.burned_in_not_stated
                ))
                .color(WARNING_TEXT),
            );
        }
    }
    for (file, reason) in &exported.skipped {
        ui.label(RichText::new(format!("Not exported: {file}: {reason}")).color(WARNING_TEXT));
    }
}
