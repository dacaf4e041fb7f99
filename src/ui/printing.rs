//! The Print dialog: which document (from a visit: prescription, visit summary, referral letter,
//! sick note; from the chart: the patient summary), on what paper, and where it goes: to the
//! system's PDF viewer, whose Print button reaches any printer the computer knows (on Windows,
//! straight to the default printer through the shell's print verb), or saved as a PDF file.
//!
//! The dialog only says what to print. The app service makes the document, checks the user may
//! print it and writes the audit entry; [`deliver`] then hands the finished PDF to the platform
//! on a thread of its own, so a slow viewer or a save dialog never holds up the window.

use super::widgets::{date_input_ui, error_label, parse_date};
use crate::app::{DocumentRequest, PrintedDocument};
use crate::documents::{Paper, Referral, SickNote};
use crate::model::{EncounterId, PatientId};
use chrono::NaiveDate;
use egui::{Id, RichText, TextEdit, Ui};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};

/// What a Print dialog is opened on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrintSource {
    /// A signed visit.
    Visit {
        /// Which.
        encounter_id: EncounterId,
        /// The day it was, the first day of a sick note.
        day: NaiveDate,
        /// Whether it prescribes anything.
        prescribes: bool,
    },
    /// A patient's chart.
    Patient(PatientId),
}

/// Where a printed document goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrintTarget {
    /// The system's PDF viewer (or, on Windows, the default printer).
    Printer,
    /// A PDF file the user names.
    File,
}

/// The documents of a visit, in the order the dialog offers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VisitDocument {
    Prescription,
    Summary,
    Referral,
    SickNote,
}

impl VisitDocument {
    const ALL: [VisitDocument; 4] = [
        Self::Prescription,
        Self::Summary,
        Self::Referral,
        Self::SickNote,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Prescription => "Prescription",
            Self::Summary => "Visit summary",
            Self::Referral => "Referral letter",
            Self::SickNote => "Sick note",
        }
    }
}

/// What the dialog asks for when closed with a choice.
pub enum PrintAction {
    /// Make and send this document.
    Print {
        /// Which document.
        request: DocumentRequest,
        /// On what paper.
        paper: Paper,
        /// Where to.
        target: PrintTarget,
    },
    /// Closed without printing.
    Close,
}

/// The Print dialog.
pub struct PrintDialog {
    source: PrintSource,
    document: VisitDocument,
    paper: Paper,
    referral_to: String,
    referral_reason: String,
    sick_from: String,
    sick_days: String,
    sick_remarks: String,
    error: Option<String>,
}

impl PrintDialog {
    /// A dialog for `source`; a visit's opens on its prescription if it has one.
    pub fn new(source: PrintSource) -> Self {
        let (document, from) = match source {
            PrintSource::Visit {
                prescribes, day, ..
            } => (
                if prescribes {
                    VisitDocument::Prescription
                } else {
                    VisitDocument::Summary
                },
                day.format("%Y-%m-%d").to_string(),
            ),
            PrintSource::Patient(_) => (VisitDocument::Summary, String::new()),
        };
        Self {
            source,
            document,
            paper: Paper::A4,
            referral_to: String::new(),
            referral_reason: String::new(),
            sick_from: from,
            sick_days: "1".into(),
            sick_remarks: String::new(),
            error: None,
        }
    }

    /// The document failed to print: say why, and keep what was typed.
    pub fn failed(&mut self, message: String) {
        self.error = Some(message);
    }

    /// The request as filled in, or why it is not ready.
    fn request(&self) -> Result<DocumentRequest, String> {
        let (encounter_id, day) = match self.source {
            PrintSource::Patient(patient_id) => {
                return Ok(DocumentRequest::PatientSummary(patient_id));
            }
            PrintSource::Visit {
                encounter_id, day, ..
            } => (encounter_id, day),
        };
        Ok(match self.document {
            VisitDocument::Prescription => DocumentRequest::Prescription(encounter_id),
            VisitDocument::Summary => DocumentRequest::VisitSummary(encounter_id),
            VisitDocument::Referral => {
                if self.referral_to.trim().is_empty() {
                    return Err("Say to whom the patient is referred.".into());
                }
                if self.referral_reason.trim().is_empty() {
                    return Err("Say why the patient is referred.".into());
                }
                DocumentRequest::Referral {
                    encounter_id,
                    referral: Referral {
                        to: self.referral_to.trim().to_owned(),
                        reason: self.referral_reason.trim().to_owned(),
                    },
                }
            }
            VisitDocument::SickNote => {
                let from = parse_date(&self.sick_from)?
                    .ok_or_else(|| "Enter the first day off.".to_owned())?;
                if from < day {
                    return Err("A sick note starts on the day of the visit or later.".into());
                }
                let days: u32 = self
                    .sick_days
                    .trim()
                    .parse()
                    .ok()
                    .filter(|d| (1..=crate::documents::SICK_NOTE_MAX_DAYS as u32).contains(d))
                    .ok_or_else(|| {
                        format!(
                            "Enter the number of days, 1 to {}.",
                            crate::documents::SICK_NOTE_MAX_DAYS
                        )
                    })?;
                let to = from
                    .checked_add_days(chrono::Days::new(u64::from(days) - 1))
                    .ok_or_else(|| "That is too many days.".to_owned())?;
                DocumentRequest::SickNote {
                    encounter_id,
                    note: SickNote {
                        from,
                        to,
                        remarks: self.sick_remarks.trim().to_owned(),
                    },
                }
            }
        })
    }

    /// Draws the dialog; answers what to do once a button is pressed.
    pub fn ui(&mut self, ui: &Ui) -> Option<PrintAction> {
        let mut action = None;
        let ready = self.request();
        let modal = egui::Modal::new(Id::unique("print_dialog")).show(ui.ctx(), |ui| {
            ui.set_width(480.0);
            ui.label(RichText::new("Print").heading().strong());
            ui.add_space(6.0);
            match self.source {
                PrintSource::Patient(_) => {
                    ui.label("Patient summary: problems, allergies, recent medicines, the last visits and trends.");
                }
                PrintSource::Visit { prescribes, .. } => {
                    ui.horizontal_wrapped(|ui| {
                        for document in VisitDocument::ALL {
                            let enabled = prescribes || document != VisitDocument::Prescription;
                            ui.add_enabled_ui(enabled, |ui| {
                                ui.radio_value(&mut self.document, document, document.label())
                            })
                            .response
                            .on_disabled_hover_text("This visit prescribes nothing");
                        }
                    });
                }
            }
            ui.add_space(6.0);
            match self.document {
                VisitDocument::Referral if matches!(self.source, PrintSource::Visit { .. }) => {
                    let label = ui.label(RichText::new("Refer to").strong());
                    ui.add(
                        TextEdit::singleline(&mut self.referral_to)
                            .hint_text("District Hospital, surgical outpatients")
                            .desired_width(f32::INFINITY),
                    )
                    .labelled_by(label.id);
                    let label = ui.label(RichText::new("Reason for referral").strong());
                    ui.add(
                        TextEdit::multiline(&mut self.referral_reason)
                            .desired_rows(3)
                            .desired_width(f32::INFINITY),
                    )
                    .labelled_by(label.id);
                }
                VisitDocument::SickNote if matches!(self.source, PrintSource::Visit { .. }) => {
                    let label = ui.label(RichText::new("First day off").strong());
                    let today = match self.source {
                        PrintSource::Visit { day, .. } => day,
                        PrintSource::Patient(_) => NaiveDate::MIN,
                    };
                    date_input_ui(ui, label.id, "sick_note_from", &mut self.sick_from, today, 2000..=2100);
                    ui.horizontal(|ui| {
                        let label = ui.label(RichText::new("Days").strong());
                        ui.add(TextEdit::singleline(&mut self.sick_days).desired_width(48.0))
                            .labelled_by(label.id);
                    });
                    let label = ui.label(RichText::new("Remarks (optional)").strong());
                    ui.add(
                        TextEdit::singleline(&mut self.sick_remarks)
                            .desired_width(f32::INFINITY),
                    )
                    .labelled_by(label.id);
                    ui.label(RichText::new("A sick note names no diagnosis.").weak());
                }
                _ => {}
            }
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                ui.label(RichText::new("Paper").strong());
                ui.radio_value(&mut self.paper, Paper::A4, "A4");
                ui.radio_value(&mut self.paper, Paper::Letter, "Letter");
                ui.radio_value(&mut self.paper, Paper::Receipt80, "80 mm receipt");
            });
            if let Err(reason) = &ready {
                ui.label(RichText::new(reason).weak());
            }
            error_label(ui, self.error.as_deref());
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                let print = ui
                    .add_enabled(ready.is_ok(), egui::Button::new(RichText::new("Print").strong()))
                    .on_hover_text(PRINT_HINT);
                let save = ui.add_enabled(ready.is_ok(), egui::Button::new("Save as PDF…"));
                let target = if print.clicked() {
                    Some(PrintTarget::Printer)
                } else if save.clicked() {
                    Some(PrintTarget::File)
                } else {
                    None
                };
                if let (Some(target), Ok(request)) = (target, &ready) {
                    self.error = None;
                    action = Some(PrintAction::Print {
                        request: request.clone(),
                        paper: self.paper,
                        target,
                    });
                }
                if ui.button("Cancel").clicked() {
                    ui.close();
                }
            });
        });
        if modal.should_close() && action.is_none() {
            action = Some(PrintAction::Close);
        }
        action
    }
}

#[cfg(windows)]
const PRINT_HINT: &str = "Send to the default printer";
#[cfg(not(windows))]
const PRINT_HINT: &str = "Open in the system's PDF viewer, to print from there";

/// Hands `document` to the platform on a thread of its own: to the printer path, or to a file
/// the user picks. The answer is a message for the status bar (true: an error).
pub fn deliver(
    document: PrintedDocument,
    target: PrintTarget,
    spool: PathBuf,
    command: Option<Vec<String>>,
    wake: Option<egui::Context>,
) -> Receiver<(String, bool)> {
    let (tx, rx) = channel();
    let spawned = std::thread::Builder::new()
        .name("print".to_owned())
        .spawn(move || {
            let answer = match target {
                PrintTarget::Printer => send_to_printer(&document, &spool, command.as_deref()),
                PrintTarget::File => save_as(&document),
            };
            let _ = tx.send(answer);
            if let Some(ctx) = wake {
                ctx.request_repaint();
            }
        });
    if let Err(e) = spawned {
        let (tx, rx) = channel();
        let _ = tx.send((format!("Not printed: {e}"), true));
        return rx;
    }
    rx
}

/// Writes the PDF into the spool folder and opens it with the platform's print path.
fn send_to_printer(
    document: &PrintedDocument,
    spool: &Path,
    command: Option<&[String]>,
) -> (String, bool) {
    let file = spool.join(&document.file_name);
    let written = std::fs::create_dir_all(spool).and_then(|()| write_private(&file, &document.pdf));
    if let Err(e) = written {
        return (
            format!("Not printed: the PDF could not be written ({e})."),
            true,
        );
    }
    let sent = match command {
        Some([program, args @ ..]) => {
            run(std::process::Command::new(program).args(args).arg(&file))
        }
        _ => open_for_printing(&file),
    };
    match sent {
        Ok(()) => (
            format!("{} sent to the printer.", title_of(&document.file_name)),
            false,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
            "Not printed: this computer has no program set up to open PDFs. Use “Save as PDF…” \
             instead, or start Outpost with --print-command."
                .to_owned(),
            true,
        ),
        Err(e) => (
            format!(
                "Not printed: the system could not open the PDF ({e}). Use “Save as PDF…” instead."
            ),
            true,
        ),
    }
}

/// Asks where to save the PDF and writes it there.
fn save_as(document: &PrintedDocument) -> (String, bool) {
    save_bytes(&document.pdf, &document.file_name, "PDF", "pdf")
}

/// Asks where to save `bytes` (offering `file_name`) and writes them there.
pub fn save_bytes(bytes: &[u8], file_name: &str, kind: &str, extension: &str) -> (String, bool) {
    let Some(path) = rfd::FileDialog::new()
        .set_title(format!("Save as {kind}"))
        .set_file_name(file_name)
        .add_filter(kind, &[extension])
        .save_file()
    else {
        return ("Not saved: no file was chosen.".into(), false);
    };
    match std::fs::write(&path, bytes) {
        Ok(()) => (format!("Saved {}.", path.display()), false),
        Err(e) => (format!("Not saved: {} ({e}).", path.display()), true),
    }
}

/// Saves `bytes` on a thread of its own (the system's save dialog blocks it); the answer is a
/// message for the status bar.
pub fn save_in_background(
    bytes: Vec<u8>,
    file_name: String,
    kind: &'static str,
    extension: &'static str,
    wake: Option<egui::Context>,
) -> Receiver<(String, bool)> {
    let (tx, rx) = channel();
    let spawned = std::thread::Builder::new()
        .name("save".to_owned())
        .spawn(move || {
            let _ = tx.send(save_bytes(&bytes, &file_name, kind, extension));
            if let Some(ctx) = wake {
                ctx.request_repaint();
            }
        });
    if let Err(e) = spawned {
        let (tx, rx) = channel();
        let _ = tx.send((format!("Not saved: {e}"), true));
        return rx;
    }
    rx
}

/// "Prescription" from "prescription-2026-11-03.pdf".
fn title_of(file_name: &str) -> String {
    let kind = file_name
        .trim_end_matches(".pdf")
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
    let mut words = kind.replace('-', " ");
    if let Some(first) = words.get(..1) {
        words = first.to_uppercase() + &words[1..];
    }
    words
}

/// Writes `bytes` to `file`, readable by its owner only where the system has such a thing.
fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(file)?.write_all(bytes)
}

/// Opens `file` with the platform's print path: the shell's print verb on Windows (the default
/// printer, through the PDF reader the system has), the default viewer elsewhere.
fn open_for_printing(file: &Path) -> std::io::Result<()> {
    #[cfg(windows)]
    let mut command = {
        let mut command = std::process::Command::new("powershell");
        command
            .args(["-NoProfile", "-NonInteractive", "-Command"])
            .arg(format!(
                "Start-Process -FilePath '{}' -Verb Print",
                file.display().to_string().replace('\'', "''")
            ));
        command
    };
    #[cfg(target_os = "macos")]
    let mut command = {
        let mut command = std::process::Command::new("open");
        command.arg(file);
        command
    };
    #[cfg(not(any(windows, target_os = "macos")))]
    let mut command = {
        let mut command = std::process::Command::new("xdg-open");
        command.arg(file);
        command
    };
    run(&mut command)
}

/// Runs `command` to its end: an error unless it ends well.
fn run(command: &mut std::process::Command) -> std::io::Result<()> {
    let status = command.status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("it ended with {status}")))
    }
}

/// The folder printed PDFs wait in for the viewer, beside the workstation's database (a folder
/// of this user's only), emptied when the window starts and closes, so a patient's document
/// does not stay on the disk.
pub fn spool_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("print-spool")
}

/// Removes what the spool folder holds.
pub fn clear_spool(spool: &Path) {
    if let Ok(entries) = std::fs::read_dir(spool) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
