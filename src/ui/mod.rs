//! The desktop window (eframe/egui): the patient list, charts, the patient editor, the visit
//! editor, and sync with the clinic's server (status, connecting, conflicts).
//!
//! [`OutpostApp`] owns the store and the current screen. Each frame it draws the top bar, the
//! status bar and the screen; the screen reads through a [`ViewContext`] and asks for changes
//! with [`Command`]s, which the app applies to the store after the frame and reports back to the
//! screen. Slow work (ordering a million patients, loading the ICD-10 list) runs on named worker
//! threads with their own connections, so no frame waits on it; so does sync, on the "sync"
//! thread, which every write wakes.
//!
//! Architecture invariant: nothing here writes SQL or touches rusqlite; every write goes through
//! [`OutpostApp`]'s command handling and the store's own methods.

mod chart;
mod command;
mod conflicts;
mod fonts;
mod icd10_picker;
mod import_dialog;
mod patient_editor;
mod patient_list;
mod sync_panel;
mod viewer;
mod visit_editor;
mod widgets;

pub use chart::PatientChart;
pub use command::{Command, Screen, ViewContext};
pub use conflicts::ConflictsScreen;
pub use fonts::font_definitions;
pub use icd10_picker::{Icd10Choice, Icd10Picker};
pub use import_dialog::ImportDialog;
pub use patient_editor::PatientEditor;
pub use patient_list::{FIND_SHORTCUT, NEW_PATIENT_SHORTCUT, PatientList};
pub use viewer::{ImageViewer, ViewTransform};
pub use visit_editor::VisitEditor;
pub use widgets::parse_date;

use crate::store::{Store, StoreError, StoreStatus};
use chrono::NaiveDate;
use egui::{FontId, RichText, TextEdit, TextStyle, Ui};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;
use sync_panel::SyncPanel;
use widgets::{ERROR_TEXT, store_error_text};

/// The signed-in user when none was ever set.
const DEFAULT_USER: &str = "Clinician";
/// Above this many patients, the list's order and the status counts are computed on worker
/// threads instead of inside a frame.
const BACKGROUND_WORK_ABOVE: i64 = 20_000;
/// The setting that holds the signed-in user's name.
const USER_SETTING: &str = "user_name";

/// Installs the fonts, the light theme and legible text sizes. Call once on a new context.
pub fn setup_context(ctx: &egui::Context) {
    fonts::install(ctx);
    ctx.set_theme(egui::Theme::Light);
    ctx.all_styles_mut(|style| {
        style.text_styles = [
            (TextStyle::Heading, FontId::proportional(20.0)),
            (TextStyle::Body, FontId::proportional(15.0)),
            (TextStyle::Button, FontId::proportional(15.0)),
            (TextStyle::Monospace, FontId::monospace(14.0)),
            (TextStyle::Small, FontId::proportional(12.0)),
        ]
        .into();
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.spacing.button_padding = egui::vec2(8.0, 4.0);
        style.spacing.interact_size.y = 26.0;
    });
    ctx.style_mut_of(egui::Theme::Light, |style| {
        // Text fields and buttons need an outline to be seen on the white sections.
        let outline = egui::Stroke::new(1.0, egui::Color32::from_gray(185));
        style.visuals.widgets.inactive.bg_stroke = outline;
        style.visuals.widgets.noninteractive.bg_stroke =
            egui::Stroke::new(1.0, egui::Color32::from_gray(215));
        style.visuals.extreme_bg_color = egui::Color32::WHITE;
        style.visuals.panel_fill = egui::Color32::from_rgb(246, 247, 249);
        style.visuals.selection.bg_fill = egui::Color32::from_rgb(191, 219, 254);
        style.visuals.selection.stroke =
            egui::Stroke::new(1.0, egui::Color32::from_rgb(30, 64, 175));
    });
}

/// Opens the window (about 1280 × 800) on `store` and runs until it is closed.
pub fn run(store: Store) -> eframe::Result {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Outpost")
            .with_app_id("outpost")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([900.0, 600.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Outpost",
        options,
        Box::new(|cc| {
            setup_context(&cc.egui_ctx);
            Ok(Box::new(OutpostApp::new(store)))
        }),
    )
}

/// The screen being shown. The patient list lives on in [`OutpostApp`] so its search and scroll
/// position survive a visit to a chart.
enum ActiveScreen {
    List,
    Chart(Box<PatientChart>),
    PatientEditor(Box<PatientEditor>),
    Visit(Box<VisitEditor>),
    Conflicts(Box<ConflictsScreen>),
    Viewer(Box<ImageViewer>),
}

/// Whether the ICD-10 list can be searched yet.
enum Icd10State {
    Ready,
    Loading(Receiver<Result<usize, StoreError>>),
    Failed(String),
}

/// The counts of the status bar, when they are taken on a worker thread.
enum StatusRefresh {
    Idle,
    Running {
        receiver: Receiver<Result<StoreStatus, StoreError>>,
        /// A write happened while counting: count again when done.
        again: bool,
    },
}

/// Leaving a screen whose changes could not be kept: where to go once the user agrees.
struct LeaveRequest {
    /// The screen to open, or `None` to close the window.
    target: Option<Screen>,
    /// What would be lost.
    reason: String,
}

/// The whole application: the store, the screens and the bars around them.
pub struct OutpostApp {
    store: Store,
    user_name: String,
    user_name_edit: String,
    list: PatientList,
    screen: ActiveScreen,
    status: Option<StoreStatus>,
    status_refresh: StatusRefresh,
    status_stale: bool,
    patient_count: i64,
    message: Option<(String, bool)>,
    icd10: Icd10State,
    leave: Option<LeaveRequest>,
    close_confirmed: bool,
    sync: SyncPanel,
    /// The window's context, kept for screens that start workers of their own (the viewer).
    ctx: Option<egui::Context>,
    /// A file picker open on its own thread, for a patient's images.
    picker: Option<(
        crate::model::PatientId,
        Option<crate::model::EncounterId>,
        Receiver<Vec<std::path::PathBuf>>,
    )>,
    /// A running or finished import.
    import: Option<ImportDialog>,
}

impl OutpostApp {
    /// The app on `store`, starting at the patient list. Starts loading the ICD-10 list in the
    /// background if the store does not have it yet.
    pub fn new(store: Store) -> Self {
        let user_name = match store.setting(USER_SETTING) {
            Ok(Some(name)) if !name.trim().is_empty() => name,
            _ => DEFAULT_USER.to_owned(),
        };
        let icd10 = match store.search_icd10("A00", 1) {
            Ok(found) if !found.is_empty() => Icd10State::Ready,
            _ => spawn_icd10_load(&store),
        };
        let sync = SyncPanel::new(&store);
        let mut app = Self {
            store,
            user_name_edit: user_name.clone(),
            user_name,
            list: PatientList::new(),
            screen: ActiveScreen::List,
            status: None,
            status_refresh: StatusRefresh::Idle,
            status_stale: false,
            patient_count: 0,
            message: None,
            icd10,
            leave: None,
            close_confirmed: false,
            sync,
            ctx: None,
            picker: None,
            import: None,
        };
        // One count up front decides whether the counts and the list's order are computed here
        // or on worker threads.
        match app.store.patient_count() {
            Ok(count) => app.patient_count = count,
            Err(error) => app.set_message(
                format!("Cannot count the patients: {}", store_error_text(&error)),
                true,
            ),
        }
        app.refresh_status();
        app
    }

    /// True once the patient list has its order and can show rows.
    pub fn list_ready(&self) -> bool {
        self.list.is_ready()
    }

    /// Opens a screen as a user's command would (asking first if the current one has unsaved
    /// changes).
    pub fn open(&mut self, target: Screen) {
        self.request_open(target, chrono::Local::now().date_naive());
    }

    /// The store (tests assert through it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Draws the whole window: top bar, status bar, the current screen, and any question.
    pub fn show(&mut self, ui: &mut Ui) {
        if self.ctx.is_none() {
            self.ctx = Some(ui.ctx().clone());
        }
        self.sync.ensure_worker(ui.ctx(), self.store.path());
        self.poll_icd10(ui);
        self.poll_status(ui);
        self.poll_sync();
        self.shortcuts(ui);

        let today = chrono::Local::now().date_naive();
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));

        let mut cx = ViewContext::new(
            &self.store,
            today,
            &self.user_name,
            matches!(self.icd10, Icd10State::Ready),
            self.patient_count,
        );
        let list = &mut self.list;
        let screen = &mut self.screen;
        egui::CentralPanel::default().show(ui, |ui| match screen {
            ActiveScreen::List => list.ui(ui, &mut cx),
            ActiveScreen::Chart(chart) => chart.ui(ui, &mut cx),
            ActiveScreen::PatientEditor(editor) => editor.ui(ui, &mut cx),
            ActiveScreen::Visit(editor) => editor.ui(ui, &mut cx),
            ActiveScreen::Conflicts(conflicts) => conflicts.ui(ui, &mut cx),
            ActiveScreen::Viewer(viewer) => viewer.ui(ui, &mut cx),
        });
        let mut commands = cx.into_commands();
        commands.extend(self.dropped_files(ui));
        self.poll_picker();
        self.import_dialog_ui(ui, today);

        self.sync.dialog_ui(ui);
        self.leave_dialog_ui(ui);
        for command in commands {
            self.apply(command, today);
        }
    }

    /// Ctrl+F finds a patient, Ctrl+N registers one, from any screen.
    fn shortcuts(&mut self, ui: &Ui) {
        let (find, new) = ui.input_mut(|i| {
            (
                i.consume_shortcut(&FIND_SHORTCUT),
                i.consume_shortcut(&NEW_PATIENT_SHORTCUT),
            )
        });
        let today = chrono::Local::now().date_naive();
        if find {
            self.list.focus_search();
            if !matches!(self.screen, ActiveScreen::List) {
                self.request_open(Screen::PatientList, today);
            }
        }
        if new {
            self.request_open(Screen::NewPatient, today);
        }
    }

    fn top_bar_ui(&mut self, ui: &mut Ui) {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Outpost").heading().strong());
            ui.add_space(16.0);
            if ui
                .selectable_label(matches!(self.screen, ActiveScreen::List), "Patients")
                .on_hover_text("The patient list")
                .clicked()
            {
                self.request_open(Screen::PatientList, chrono::Local::now().date_naive());
            }
            if self.sync.conflict_count() > 0
                && ui
                    .selectable_label(
                        matches!(self.screen, ActiveScreen::Conflicts(_)),
                        format!("Conflicts ({})", self.sync.conflict_count()),
                    )
                    .on_hover_text("Values from two workstations that need a decision")
                    .clicked()
            {
                self.request_open(Screen::Conflicts, chrono::Local::now().date_naive());
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                self.sync.top_bar_button_ui(ui);
                ui.separator();
                let field = ui.add(
                    TextEdit::singleline(&mut self.user_name_edit)
                        .hint_text("Your name")
                        .desired_width(180.0),
                );
                let label = ui.label("Signed in as");
                let field = field.labelled_by(label.id);
                if field.lost_focus() {
                    // Enter here only confirms the name; it must not also open a chart.
                    ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Enter));
                    self.commit_user_name();
                }
            });
        });
        ui.add_space(4.0);
    }

    /// Saves the name typed in "Signed in as".
    fn commit_user_name(&mut self) {
        let name = self.user_name_edit.trim().to_owned();
        if name == self.user_name {
            return;
        }
        if name.is_empty() {
            self.user_name_edit = self.user_name.clone();
            self.set_message("Enter your name to sign in.", true);
            return;
        }
        match self.store.set_setting(USER_SETTING, &name) {
            Ok(()) => {
                self.user_name = name;
                self.user_name_edit = self.user_name.clone();
                self.set_message(format!("Signed in as {}.", self.user_name), false);
            }
            Err(error) => {
                self.set_message(
                    format!("Your name was not saved: {}", store_error_text(&error)),
                    true,
                );
            }
        }
    }

    fn status_bar_ui(&mut self, ui: &mut Ui) {
        ui.add_space(2.0);
        ui.horizontal(|ui| {
            let path = self.store.path().display().to_string();
            ui.label(RichText::new(path).small().weak())
                .on_hover_text("The database file");
            ui.separator();
            let patients = match self.patient_count {
                1 => "1 patient".to_owned(),
                n => format!("{} patients", widgets::format_count(n)),
            };
            ui.label(RichText::new(patients).small());
            ui.separator();
            let pending = self.status.as_ref().map(|status| status.pending_changes);
            if self.sync.status_ui(ui, pending) {
                self.request_open(Screen::Conflicts, chrono::Local::now().date_naive());
            }
            match &self.icd10 {
                Icd10State::Loading(_) => {
                    ui.separator();
                    ui.label(RichText::new("Loading ICD-10 codes…").small().weak());
                }
                Icd10State::Failed(error) => {
                    ui.separator();
                    ui.label(
                        RichText::new(format!("ICD-10 codes unavailable: {error}"))
                            .small()
                            .color(ERROR_TEXT),
                    );
                }
                Icd10State::Ready => {}
            }
            if let Some((message, is_error)) = &self.message {
                ui.separator();
                let text = RichText::new(message).small();
                ui.label(if *is_error {
                    text.color(ERROR_TEXT)
                } else {
                    text
                });
            }
        });
        ui.add_space(2.0);
    }

    /// "Discard unsaved changes?" when leaving a screen whose changes could not be kept.
    fn leave_dialog_ui(&mut self, ui: &mut Ui) {
        let Some(leave) = &self.leave else {
            return;
        };
        let mut discard = false;
        let modal =
            egui::Modal::new(egui::Id::unique("discard_changes_modal")).show(ui.ctx(), |ui| {
                ui.set_width(420.0);
                ui.label(RichText::new("Discard unsaved changes?").heading().strong());
                ui.add_space(6.0);
                ui.label(&leave.reason);
                ui.add_space(8.0);
                ui.horizontal(|ui| {
                    if ui.button("Discard changes").clicked() {
                        discard = true;
                        ui.close();
                    }
                    if ui.button("Keep editing").clicked() {
                        ui.close();
                    }
                });
            });
        if discard && let Some(leave) = self.leave.take() {
            match leave.target {
                Some(target) => self.open_now(target, chrono::Local::now().date_naive()),
                None => {
                    self.close_confirmed = true;
                    ui.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        } else if modal.should_close() {
            self.leave = None;
        }
    }

    /// Goes to `target` once the current screen's changes are kept, or asks first.
    fn request_open(&mut self, target: Screen, today: NaiveDate) {
        match self.keep_changes() {
            Ok(()) => self.open_now(target, today),
            Err(reason) => {
                self.leave = Some(LeaveRequest {
                    target: Some(target),
                    reason,
                })
            }
        }
    }

    /// Keeps the current screen's changes before it is left: a visit draft is saved; a patient
    /// form cannot save itself half-done, so its changes are reported. `Err` says what would be
    /// lost.
    fn keep_changes(&mut self) -> Result<(), String> {
        let draft = match &self.screen {
            ActiveScreen::PatientEditor(editor) if editor.has_unsaved_changes() => {
                return Err("The patient's details were changed and not saved.".to_owned());
            }
            ActiveScreen::Visit(editor) => editor
                .unsaved_draft()
                .map_err(|reason| format!("The visit cannot be saved as it is: {reason}"))?,
            _ => None,
        };
        if let Some(draft) = draft {
            match self.store.save_encounter(&draft) {
                Ok(_) => {
                    tracing::info!(encounter_id = %draft.encounter_id, "saved a visit draft on leaving");
                    if let ActiveScreen::Visit(editor) = &mut self.screen {
                        editor.draft_saved(&draft);
                    }
                    self.after_write();
                }
                Err(error) => {
                    return Err(format!(
                        "The visit could not be saved: {}",
                        store_error_text(&error)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Opens `target` at once (the current screen's changes were kept or discarded).
    fn open_now(&mut self, target: Screen, today: NaiveDate) {
        let opened = match target {
            Screen::PatientList => {
                self.list.focus_search();
                Ok(ActiveScreen::List)
            }
            Screen::NewPatient => Ok(ActiveScreen::PatientEditor(Box::new(
                PatientEditor::new_patient(self.store.clinic_id()),
            ))),
            Screen::EditPatient(patient_id) => self.store.patient(patient_id).map(|patient| {
                ActiveScreen::PatientEditor(Box::new(PatientEditor::edit(patient, today)))
            }),
            Screen::Chart(patient_id) => Ok(ActiveScreen::Chart(Box::new(PatientChart::open(
                &self.store,
                patient_id,
                today,
            )))),
            Screen::NewVisit(patient_id) => {
                VisitEditor::new_visit(&self.store, patient_id, &self.user_name, today)
                    .map(|editor| ActiveScreen::Visit(Box::new(editor)))
            }
            Screen::Visit(encounter_id) => VisitEditor::open(&self.store, encounter_id, today)
                .map(|editor| ActiveScreen::Visit(Box::new(editor))),
            Screen::Conflicts => Ok(ActiveScreen::Conflicts(Box::new(ConflictsScreen::open(
                &self.store,
            )))),
            Screen::Imaging {
                patient_id,
                study_uid,
            } => {
                let ctx = self.ctx.clone().unwrap_or_default();
                Ok(ActiveScreen::Viewer(Box::new(ImageViewer::open(
                    &self.store,
                    &ctx,
                    patient_id,
                    study_uid.as_deref(),
                ))))
            }
        };
        if std::mem::take(&mut self.status_stale) {
            self.refresh_status();
        }
        match opened {
            Ok(screen) => self.screen = screen,
            Err(error) => self.set_message(
                format!("That cannot be opened: {}", store_error_text(&error)),
                true,
            ),
        }
    }

    /// Applies one command to the store and tells the screen how it went.
    fn apply(&mut self, command: Command, today: NaiveDate) {
        match command {
            Command::Open(target) => self.request_open(target, today),
            Command::PickImages {
                patient_id,
                encounter_id,
                folder,
            } => self.pick_images(patient_id, encounter_id, folder),
            Command::ImportImages {
                patient_id,
                encounter_id,
                paths,
            } => self.start_import(patient_id, encounter_id, paths),
            Command::SetImagesRemoved {
                attachment_ids,
                removed,
            } => match self.store.set_attachments_removed(&attachment_ids, removed) {
                Ok(count) => {
                    self.set_message(
                        if removed {
                            format!(
                                "Removed {count} image(s) from the record. They can be restored from the chart (Removed images)."
                            )
                        } else {
                            format!("Restored {count} image(s).")
                        },
                        false,
                    );
                    self.after_write();
                    let patient = self.imaging_patient().map(|(p, _)| p);
                    match (&self.screen, patient) {
                        (ActiveScreen::Viewer(_), Some(patient_id)) => self.open_now(
                            Screen::Imaging {
                                patient_id,
                                study_uid: None,
                            },
                            today,
                        ),
                        (ActiveScreen::Chart(_), Some(patient_id)) => {
                            self.open_now(Screen::Chart(patient_id), today)
                        }
                        _ => {}
                    }
                }
                Err(error) => {
                    self.set_message(format!("Not changed: {}", store_error_text(&error)), true)
                }
            },
            Command::FetchImage(blob) => match self.store.request_blob(&blob) {
                Ok(()) => {
                    self.sync.sync_now();
                    self.set_message(
                        "The image will be downloaded as soon as the server can be reached.",
                        false,
                    );
                }
                Err(error) => self.set_message(
                    format!(
                        "The image cannot be requested: {}",
                        store_error_text(&error)
                    ),
                    true,
                ),
            },
            Command::RegisterPatient(patient) => match self.store.register_patient(patient) {
                Ok(patient) => {
                    tracing::info!(patient_id = %patient.patient_id, "registered a patient");
                    let number = patient.number.map(|n| n.to_string()).unwrap_or_default();
                    self.set_message(format!("Registered patient {number}."), false);
                    self.after_write();
                    self.open_now(Screen::Chart(patient.patient_id), today);
                }
                Err(error) => {
                    if let ActiveScreen::PatientEditor(editor) = &mut self.screen {
                        editor.save_failed(&error);
                    }
                }
            },
            Command::SavePatient(patient) => match self.store.update_patient(&patient) {
                Ok(_) => {
                    tracing::info!(patient_id = %patient.patient_id, "saved a patient's details");
                    self.set_message("The patient's details were saved.", false);
                    self.after_write();
                    self.open_now(Screen::Chart(patient.patient_id), today);
                }
                Err(error) => {
                    if let ActiveScreen::PatientEditor(editor) = &mut self.screen {
                        editor.save_failed(&error);
                    }
                }
            },
            Command::SaveEncounter(encounter) => {
                let result = self.store.save_encounter(&encounter);
                if let ActiveScreen::Visit(editor) = &mut self.screen {
                    match &result {
                        Ok(_) => editor.draft_saved(&encounter),
                        Err(error) => editor.save_failed(error),
                    }
                }
                match result {
                    Ok(true) => {
                        tracing::debug!(encounter_id = %encounter.encounter_id, "saved a visit draft");
                        // Drafts save every few seconds while typing: the counts are refreshed
                        // once the editor is left rather than after each save.
                        self.list.invalidate();
                        self.status_stale = true;
                        self.sync.local_change();
                    }
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(encounter_id = %encounter.encounter_id, %error, "a visit draft was not saved");
                    }
                }
            }
            Command::SignEncounter { encounter, signer } => {
                let result = self
                    .store
                    .save_encounter(&encounter)
                    .and_then(|_| self.store.sign_encounter(encounter.encounter_id, &signer));
                match result {
                    Ok(signed) => {
                        tracing::info!(encounter_id = %signed.encounter_id, "signed a visit");
                        self.set_message("The visit was signed.", false);
                        if let ActiveScreen::Visit(editor) = &mut self.screen {
                            editor.replace_encounter(signed);
                        }
                        self.after_write();
                    }
                    Err(error) => {
                        if let ActiveScreen::Visit(editor) = &mut self.screen {
                            editor.action_failed(&error);
                        }
                    }
                }
            }
            Command::AddAmendment(amendment) => {
                let encounter_id = amendment.encounter_id;
                match self
                    .store
                    .add_amendment(&amendment)
                    .and_then(|_| self.store.amendments(encounter_id))
                {
                    Ok(amendments) => {
                        tracing::info!(%encounter_id, "added an amendment");
                        self.set_message("The amendment was added.", false);
                        match &mut self.screen {
                            ActiveScreen::Visit(editor) => editor.amendments_changed(amendments),
                            ActiveScreen::Conflicts(conflicts) => {
                                conflicts.amendment_added(encounter_id);
                            }
                            _ => {}
                        }
                        self.after_write();
                    }
                    Err(error) => match &mut self.screen {
                        ActiveScreen::Visit(editor) => editor.action_failed(&error),
                        ActiveScreen::Conflicts(conflicts) => conflicts.action_failed(&error),
                        _ => self.set_message(
                            format!("The amendment was not added: {}", store_error_text(&error)),
                            true,
                        ),
                    },
                }
            }
            Command::VoidEncounter {
                encounter_id,
                voided_by,
                reason,
            } => match self.store.void_encounter(encounter_id, &voided_by, &reason) {
                Ok(voided) => {
                    tracing::info!(%encounter_id, "voided a visit");
                    self.set_message("The visit was voided.", false);
                    if let ActiveScreen::Visit(editor) = &mut self.screen {
                        editor.replace_encounter(voided);
                    }
                    self.after_write();
                }
                Err(error) => {
                    if let ActiveScreen::Visit(editor) = &mut self.screen {
                        editor.action_failed(&error);
                    }
                }
            },
            Command::SaveAllergy(allergy) => {
                let result = self.store.save_allergy(&allergy);
                self.chart_write_done(result, today);
            }
            Command::SetAllergyStatus { patient_id, status } => {
                let result = self.store.set_allergy_status(patient_id, status);
                self.chart_write_done(result, today);
            }
            Command::SaveProblem(problem) => {
                let result = self.store.save_problem(&problem);
                self.chart_write_done(result, today);
            }
            Command::ResolveConflict { conflict, value } => {
                match self.store.resolve_conflict(&conflict, value) {
                    Ok(()) => {
                        tracing::info!(entity = %conflict.entity, entity_id = %conflict.entity_id, field = %conflict.field, "resolved a conflict");
                        self.set_message("The conflict was settled.", false);
                        if let ActiveScreen::Conflicts(conflicts) = &mut self.screen {
                            conflicts.action_succeeded();
                        }
                        self.after_write();
                    }
                    Err(error) => {
                        if let ActiveScreen::Conflicts(conflicts) = &mut self.screen {
                            conflicts.action_failed(&error);
                        } else {
                            self.set_message(
                                format!(
                                    "The conflict was not settled: {}",
                                    store_error_text(&error)
                                ),
                                true,
                            );
                        }
                    }
                }
            }
            Command::AmendFromConflict {
                conflict,
                amendment,
            } => match self.store.amend_from_conflict(&conflict, &amendment) {
                Ok(_) => {
                    tracing::info!(encounter_id = %amendment.encounter_id, "carried a late change into an amendment");
                    self.set_message("The amendment was added and the conflict settled.", false);
                    if let ActiveScreen::Conflicts(conflicts) = &mut self.screen {
                        conflicts.action_succeeded();
                    }
                    self.after_write();
                }
                Err(error) => {
                    if let ActiveScreen::Conflicts(conflicts) = &mut self.screen {
                        conflicts.action_failed(&error);
                    } else {
                        self.set_message(
                            format!("The amendment was not added: {}", store_error_text(&error)),
                            true,
                        );
                    }
                }
            },
        }
    }

    /// After a write from the chart: reload it, or show why nothing changed.
    fn chart_write_done(&mut self, result: Result<(), StoreError>, today: NaiveDate) {
        if let ActiveScreen::Chart(chart) = &mut self.screen {
            match &result {
                Ok(()) => {
                    chart.write_succeeded();
                    chart.reload(&self.store, today);
                }
                Err(error) => chart.write_failed(error),
            }
        }
        if result.is_ok() {
            self.after_write();
        }
    }

    /// Counts and lists that a write may have changed; the sync thread sends the change soon.
    /// The patient (and visit) dropped images go to on the current screen, if any.
    fn imaging_patient(
        &self,
    ) -> Option<(crate::model::PatientId, Option<crate::model::EncounterId>)> {
        match &self.screen {
            ActiveScreen::Chart(chart) => Some((chart.patient_id(), None)),
            ActiveScreen::Viewer(viewer) => Some((viewer.patient_id(), None)),
            ActiveScreen::Visit(editor) => Some((
                editor.patient_id(),
                editor.is_saved().then(|| editor.encounter_id()),
            )),
            _ => None,
        }
    }

    /// Files dropped on the window import into the open chart's patient.
    fn dropped_files(&mut self, ui: &Ui) -> Vec<Command> {
        let dropped: Vec<std::path::PathBuf> = ui.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if dropped.is_empty() {
            return Vec::new();
        }
        match self.imaging_patient() {
            Some((patient_id, encounter_id)) => vec![Command::ImportImages {
                patient_id,
                encounter_id,
                paths: dropped,
            }],
            None => {
                self.set_message("Open a patient's chart, then drop the images on it.", true);
                Vec::new()
            }
        }
    }

    /// Opens the system's file picker on its own thread (it can take minutes).
    fn pick_images(
        &mut self,
        patient_id: crate::model::PatientId,
        encounter_id: Option<crate::model::EncounterId>,
        folder: bool,
    ) {
        if self.picker.is_some() {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let wake = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("file-picker".to_owned())
            .spawn(move || {
                let dialog = rfd::FileDialog::new().set_title("Import images");
                let picked = if folder {
                    dialog.pick_folder().map(|f| vec![f]).unwrap_or_default()
                } else {
                    dialog
                        .add_filter("DICOM and photos", &["dcm", "dicom", "jpg", "jpeg", "png"])
                        .add_filter("All files", &["*"])
                        .pick_files()
                        .unwrap_or_default()
                };
                let _ = tx.send(picked);
                if let Some(ctx) = wake {
                    ctx.request_repaint();
                }
            });
        match spawned {
            Ok(_) => self.picker = Some((patient_id, encounter_id, rx)),
            Err(e) => self.set_message(format!("The file picker cannot open: {e}"), true),
        }
    }

    fn poll_picker(&mut self) {
        let Some((patient_id, encounter_id, rx)) = &self.picker else {
            return;
        };
        let (patient_id, encounter_id) = (*patient_id, *encounter_id);
        match rx.try_recv() {
            Ok(paths) => {
                self.picker = None;
                if !paths.is_empty() {
                    self.start_import(patient_id, encounter_id, paths);
                }
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => self.picker = None,
        }
    }

    /// Starts importing into a patient's record (one import at a time).
    pub fn start_import(
        &mut self,
        patient_id: crate::model::PatientId,
        encounter_id: Option<crate::model::EncounterId>,
        paths: Vec<std::path::PathBuf>,
    ) {
        if self.import.as_ref().is_some_and(|d| !d.is_done()) {
            self.set_message("An import is already running; wait for it to finish.", true);
            return;
        }
        let ctx = self.ctx.clone().unwrap_or_default();
        self.import = Some(ImportDialog::start(
            &self.store,
            &ctx,
            patient_id,
            encounter_id,
            paths,
        ));
    }

    /// The running import, if any (tests watch it).
    pub fn import_dialog(&self) -> Option<&ImportDialog> {
        self.import.as_ref()
    }

    /// The open viewer, if any (tests watch it).
    pub fn viewer(&self) -> Option<&ImageViewer> {
        match &self.screen {
            ActiveScreen::Viewer(viewer) => Some(viewer),
            _ => None,
        }
    }

    fn import_dialog_ui(&mut self, ui: &Ui, today: NaiveDate) {
        let Some(dialog) = &mut self.import else {
            return;
        };
        if dialog.ui(ui.ctx()) == import_dialog::ImportOutcome::Closed {
            let patient_id = dialog.patient_id();
            let imported = dialog.summary().is_some_and(|s| s.imported > 0);
            self.import = None;
            if imported {
                self.after_write();
            }
            // Show the new images where the user is.
            let reopen = match &mut self.screen {
                ActiveScreen::Viewer(_) => Some(Screen::Imaging {
                    patient_id,
                    study_uid: None,
                }),
                ActiveScreen::Chart(_) => Some(Screen::Chart(patient_id)),
                // A visit editor may hold typing not saved yet: count its images in place.
                ActiveScreen::Visit(editor) => {
                    editor.refresh_images(&self.store);
                    None
                }
                _ => None,
            };
            if let Some(screen) = reopen {
                self.open_now(screen, today);
            }
        }
    }

    fn after_write(&mut self) {
        self.list.invalidate();
        self.refresh_status();
        self.sync.local_change();
        self.refresh_sync_views();
    }

    /// Conflict and held-change counts, and the Conflicts screen, as the store holds them now.
    fn refresh_sync_views(&mut self) {
        self.sync.reload(&self.store);
        if let ActiveScreen::Conflicts(conflicts) = &mut self.screen {
            conflicts.reload(&self.store);
        }
    }

    /// Takes what the sync thread reported and refreshes what it changed.
    fn poll_sync(&mut self) {
        let update = self.sync.poll();
        if let Some(clinic_name) = &update.enrolled_in {
            // Enrolling re-labelled this workstation's records as the clinic's: this connection
            // must see the clinic it joined before it writes again.
            match Store::open(self.store.path()) {
                Ok(store) => self.store = store,
                Err(error) => self.set_message(
                    format!(
                        "Connected to {clinic_name}, but the database must be reopened: {}",
                        store_error_text(&error)
                    ),
                    true,
                ),
            }
        }
        if let Some((message, is_error)) = update.message {
            self.set_message(message, is_error);
        }
        if update.round_finished || update.enrolled_in.is_some() {
            self.refresh_status();
            self.refresh_sync_views();
        }
        if update.pulled {
            self.list.invalidate();
            let today = chrono::Local::now().date_naive();
            if let ActiveScreen::Chart(chart) = &mut self.screen {
                chart.reload(&self.store, today);
            }
        }
    }

    /// Counts patients and changes waiting to sync. On a large store the counts take seconds, so
    /// they are taken on the "store-status" thread; a refresh asked for meanwhile runs after it.
    fn refresh_status(&mut self) {
        if self.patient_count <= BACKGROUND_WORK_ABOVE {
            match self.store.status() {
                Ok(status) => {
                    self.patient_count = status.patients;
                    self.status = Some(status);
                }
                Err(error) => self.set_message(
                    format!("Cannot count the records: {}", store_error_text(&error)),
                    true,
                ),
            }
            return;
        }
        match &mut self.status_refresh {
            StatusRefresh::Running { again, .. } => *again = true,
            StatusRefresh::Idle => {
                let (sender, receiver) = std::sync::mpsc::channel();
                let path = self.store.path().to_owned();
                let spawned = std::thread::Builder::new()
                    .name("store-status".to_owned())
                    .spawn(move || {
                        let result = Store::open(&path).and_then(|store| store.status());
                        // The window may have closed meanwhile: then nobody listens.
                        let _ = sender.send(result);
                    });
                match spawned {
                    Ok(_) => {
                        self.status_refresh = StatusRefresh::Running {
                            receiver,
                            again: false,
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot start the store-status thread");
                    }
                }
            }
        }
    }

    fn poll_status(&mut self, ui: &Ui) {
        let StatusRefresh::Running { receiver, again } = &self.status_refresh else {
            return;
        };
        let again = *again;
        match receiver.try_recv() {
            Err(TryRecvError::Empty) => {
                ui.ctx().request_repaint_after(Duration::from_millis(250));
                return;
            }
            Ok(Ok(status)) => {
                self.patient_count = status.patients;
                self.status = Some(status);
            }
            Ok(Err(error)) => self.set_message(
                format!("Cannot count the records: {}", store_error_text(&error)),
                true,
            ),
            Err(TryRecvError::Disconnected) => {}
        }
        self.status_refresh = StatusRefresh::Idle;
        if again {
            self.refresh_status();
        }
    }

    fn set_message(&mut self, message: impl Into<String>, is_error: bool) {
        self.message = Some((message.into(), is_error));
    }

    fn poll_icd10(&mut self, ui: &Ui) {
        let Icd10State::Loading(receiver) = &self.icd10 else {
            return;
        };
        match receiver.try_recv() {
            Ok(Ok(codes)) => {
                tracing::info!(codes, "ICD-10 codes loaded");
                self.icd10 = Icd10State::Ready;
            }
            Ok(Err(error)) => {
                self.icd10 = Icd10State::Failed(store_error_text(&error));
            }
            Err(TryRecvError::Empty) => {
                ui.ctx().request_repaint_after(Duration::from_millis(250));
            }
            Err(TryRecvError::Disconnected) => {
                self.icd10 = Icd10State::Failed("the loading thread stopped".to_owned());
            }
        }
    }

    /// On a request to close the window: save a visit draft, or ask before losing changes.
    fn handle_close_request(&mut self, ui: &Ui) {
        if self.close_confirmed || !ui.input(|i| i.viewport().close_requested()) {
            return;
        }
        if let Err(reason) = self.keep_changes() {
            ui.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.leave = Some(LeaveRequest {
                target: None,
                reason,
            });
        }
    }
}

impl eframe::App for OutpostApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.handle_close_request(ui);
        self.show(ui);
    }
}

/// Loads the ICD-10 list on the "icd10-load" thread with its own connection.
fn spawn_icd10_load(store: &Store) -> Icd10State {
    let (sender, receiver) = std::sync::mpsc::channel();
    let path = store.path().to_owned();
    let spawned = std::thread::Builder::new()
        .name("icd10-load".to_owned())
        .spawn(move || {
            let result = Store::open(&path).and_then(|mut store| store.ensure_icd10());
            // The window may have closed meanwhile: then nobody listens.
            let _ = sender.send(result);
        });
    match spawned {
        Ok(_) => Icd10State::Loading(receiver),
        Err(error) => Icd10State::Failed(format!("cannot start loading them: {error}")),
    }
}
