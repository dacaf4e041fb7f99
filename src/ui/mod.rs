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

mod amend;
mod audit;
mod auth;
mod chart;
mod command;
mod conflicts;
mod dicom_export;
mod district;
mod duplicates;
mod fonts;
mod growth;
mod icd10_picker;
mod import_dialog;
mod patient_editor;
mod patient_list;
mod printing;
mod reports;
mod sync_panel;
mod today;
mod users;
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
pub use widgets::{DateOrder, parse_date, parse_date_in};

use crate::app::{AppService, Command as AppCommand, Outcome};
use crate::model::{Action, Signer};
use crate::store::{Store, StoreError, StoreStatus};
use crate::tr;
use chrono::NaiveDate;
use egui::{FontId, RichText, TextStyle, Ui};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;
use sync_panel::SyncPanel;
use widgets::{ERROR_TEXT, app_error_text, store_error_text};

/// Above this many patients, the list's order and the status counts are computed on worker
/// threads instead of inside a frame.
const BACKGROUND_WORK_ABOVE: i64 = 20_000;
/// Locks the screen from anywhere.
pub const LOCK_SHORTCUT: egui::KeyboardShortcut =
    egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, egui::Key::L);

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

/// Opens the window (about 1280 × 800) over the app service and runs until it is closed.
pub fn run(
    service: AppService,
    print_command: Option<Vec<String>>,
    language: crate::i18n::Language,
) -> eframe::Result {
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
            Ok(Box::new(
                OutpostApp::new(service)
                    .with_print_command(print_command)
                    .with_language(language),
            ))
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
    Users(Box<users::UsersScreen>),
    Audit(Box<audit::AuditScreen>),
    Reports(Box<reports::ReportsScreen>),
    Today(Box<today::TodayScreen>),
    Duplicates(Box<duplicates::DuplicatesScreen>),
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

/// What the user picked in their menu.
enum UserMenu {
    Lock,
    Switch,
    ChangePassword,
    Language(crate::i18n::Language),
    SignOut,
}

/// Leaving a screen whose changes could not be kept: where to go once the user agrees.
struct LeaveRequest {
    /// The screen to open, or `None` to close the window.
    target: Option<Screen>,
    /// What would be lost.
    reason: String,
}

/// The whole application: the app service, the screens and the bars around them.
pub struct OutpostApp {
    service: AppService,
    /// The signed-in user as records name them (refreshed at each sign-in).
    signer: Signer,
    /// Setting up, signing in, unlocking or choosing a new password: shown instead of
    /// everything else.
    gate: auth::Gate,
    /// The store generation the workers were started for (`None` before the first sign-in).
    store_attached: Option<u64>,
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
    /// "Find at the district server", while open.
    district: Option<district::DistrictDialog>,
    /// The patient being opened from the district, and why (for the message when it is done).
    district_opening: Option<(String, crate::sync::wire::ShareReason)>,
    /// The daily backup being written on its own thread.
    backup_job: Option<Receiver<Result<std::path::PathBuf, String>>>,
    /// After a daily backup failed (a USB drive not plugged in), when to try again.
    backup_retry_at: Option<std::time::Instant>,
    /// The Print dialog, while open.
    print_dialog: Option<printing::PrintDialog>,
    /// The "Export images" dialog, while open.
    dicom_export: Option<dicom_export::DicomExportDialog>,
    /// Printed documents on their way to the printer or a file: each answers with a message.
    print_jobs: Vec<Receiver<(String, bool)>>,
    /// The command Print runs with the PDF's path added (`None`: the system's print path).
    print_command: Option<Vec<String>>,
    /// The language before anyone chose one (`--lang`).
    default_language: crate::i18n::Language,
    /// The language the window speaks: the signed-in user's choice, or the default.
    language: crate::i18n::Language,
}

impl OutpostApp {
    /// The app over `service`: the setup or sign-in screen first unless someone is already
    /// signed in, then the patient list. Starts loading the ICD-10 list in the background if the
    /// store does not have it yet.
    pub fn new(service: AppService) -> Self {
        let gate = auth::Gate::for_service(&service);
        let mut app = Self {
            sync: SyncPanel::new(service.store()),
            service,
            signer: Signer {
                user_id: None,
                full_name: String::new(),
                role: None,
            },
            gate,
            store_attached: None,
            list: PatientList::new(),
            screen: ActiveScreen::List,
            status: None,
            status_refresh: StatusRefresh::Idle,
            status_stale: false,
            patient_count: 0,
            message: None,
            icd10: Icd10State::Failed("the database is not open yet".to_owned()),
            leave: None,
            close_confirmed: false,
            ctx: None,
            picker: None,
            import: None,
            district: None,
            district_opening: None,
            backup_job: None,
            backup_retry_at: None,
            print_dialog: None,
            dicom_export: None,
            print_jobs: Vec::new(),
            print_command: None,
            default_language: crate::i18n::Language::default(),
            language: crate::i18n::Language::default(),
        };
        app.refresh_signer();
        app.attach_store();
        app
    }

    /// Print runs `command` (a program and its first arguments) with the PDF's path added, in
    /// place of the system's print path: `lp -d receipt` for a receipt printer.
    pub fn with_print_command(mut self, command: Option<Vec<String>>) -> Self {
        self.print_command = command.filter(|c| !c.is_empty());
        self
    }

    /// Starts what works on the store with connections of its own (the sync thread, the
    /// ICD-10 load, the counts) once the store is the workstation's database and someone is
    /// signed in — and again whenever the service replaces its connection. Before that the
    /// database may be closed, or about to be encrypted in place.
    fn attach_store(&mut self) {
        let generation = self.service.store_generation();
        if !self.gate.is_open()
            || !self.service.is_open()
            || self.store_attached == Some(generation)
        {
            return;
        }
        self.store_attached = Some(generation);
        printing::clear_spool(&printing::spool_dir(self.service.store().data_dir()));
        let store = self.service.store();
        self.icd10 = match store.search_icd10("A00", 1) {
            Ok(found) if !found.is_empty() => Icd10State::Ready,
            _ => spawn_icd10_load(store),
        };
        // A new panel: the old one's sync thread ends with its channel.
        self.sync = SyncPanel::new(store);
        // One count up front decides whether the counts and the list's order are computed here
        // or on worker threads.
        match self.service.store().patient_count() {
            Ok(count) => self.patient_count = count,
            Err(error) => self.set_message(
                format!("Cannot count the patients: {}", store_error_text(&error)),
                true,
            ),
        }
        self.list.invalidate();
        self.refresh_status();
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
        self.service.store()
    }

    /// The app service (tests read its session).
    pub fn service(&self) -> &AppService {
        &self.service
    }

    /// Blocks until the encryption of a plain workstation started at sign-in has ended; the next
    /// frame shows the outcome (tests wait for the event this way, not for time).
    pub fn wait_for_encryption(&mut self) {
        self.service.wait_for_encryption();
    }

    /// The signed-in user as records will name them.
    fn refresh_signer(&mut self) {
        if let Some(user) = self.service.user() {
            self.signer = Signer {
                user_id: Some(user.user_id),
                full_name: user.full_name.clone(),
                role: user.roles.acting_role(Action::SignVisit),
            };
        }
        self.language = self
            .service
            .user_language()
            .unwrap_or(self.default_language);
    }

    /// Speaks `language` until a user who chose another signs in (`--lang`).
    pub fn with_language(mut self, language: crate::i18n::Language) -> Self {
        self.default_language = language;
        self.refresh_signer();
        self
    }

    /// Draws the whole window: top bar, status bar, the current screen, and any question.
    pub fn show(&mut self, ui: &mut Ui) {
        crate::i18n::set_language(self.language);
        if self.ctx.is_none() {
            self.ctx = Some(ui.ctx().clone());
        }
        self.attach_store();
        if self.store_attached.is_some() {
            self.sync
                .ensure_worker(ui.ctx(), &self.service.store().opener());
        }
        self.poll_icd10(ui);
        self.daily_backup(ui);
        self.poll_status(ui);
        self.poll_sync();
        if !self.gate.is_open() {
            self.gate_ui(ui);
            return;
        }
        if self.idle_lock(ui) {
            return;
        }
        self.shortcuts(ui);

        let today = chrono::Local::now().date_naive();
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));

        let roles = self
            .service
            .user()
            .map(|user| user.roles)
            .unwrap_or_default();
        let mut cx = ViewContext::new(
            self.service.store(),
            today,
            &self.signer,
            roles,
            matches!(self.icd10, Icd10State::Ready),
            self.patient_count,
        );
        cx.enrolled = self.sync.is_enrolled();
        let list = &mut self.list;
        let screen = &mut self.screen;
        egui::CentralPanel::default().show(ui, |ui| match screen {
            ActiveScreen::List => list.ui(ui, &mut cx),
            ActiveScreen::Chart(chart) => chart.ui(ui, &mut cx),
            ActiveScreen::PatientEditor(editor) => editor.ui(ui, &mut cx),
            ActiveScreen::Visit(editor) => editor.ui(ui, &mut cx),
            ActiveScreen::Conflicts(conflicts) => conflicts.ui(ui, &mut cx),
            ActiveScreen::Viewer(viewer) => viewer.ui(ui, &mut cx),
            ActiveScreen::Users(users) => users.ui(ui, &mut cx),
            ActiveScreen::Audit(audit) => audit.ui(ui, &mut cx),
            ActiveScreen::Reports(reports) => reports.ui(ui, &mut cx),
            ActiveScreen::Today(today) => today.ui(ui, &mut cx),
            ActiveScreen::Duplicates(screen) => screen.ui(ui, &mut cx),
        });
        let mut commands = cx.into_commands();
        commands.extend(self.dropped_files(ui));
        self.poll_picker();
        self.import_dialog_ui(ui, today);

        self.sync.dialog_ui(ui);
        self.district_dialog_ui(ui);
        self.print_dialog_ui(ui);
        self.dicom_export_ui(ui);
        self.leave_dialog_ui(ui);
        for command in commands {
            self.apply(command, today);
        }
    }

    /// The setup, sign-in, lock or new-password screen, instead of the record.
    fn gate_ui(&mut self, ui: &mut Ui) {
        match self.gate.ui(ui, &mut self.service) {
            auth::GateDone::Waiting => {}
            auth::GateDone::SignedIn | auth::GateDone::Switched => {
                // Whoever signs in starts at the list: the screen of a user who locked it is
                // theirs (their draft was saved when the screen locked).
                self.refresh_signer();
                self.screen = ActiveScreen::List;
                self.list.invalidate();
                self.list.focus_search();
                self.message = None;
                self.attach_store();
                self.refresh_status();
            }
            auth::GateDone::Unlocked | auth::GateDone::PasswordDone => self.refresh_signer(),
        }
    }

    /// Locks the screen after the idle time, and on Ctrl+L. Returns whether it locked.
    fn idle_lock(&mut self, ui: &Ui) -> bool {
        let active = ui.input(|i| !i.events.is_empty());
        if active {
            self.service.touch();
        }
        let asked = ui.input_mut(|i| i.consume_shortcut(&LOCK_SHORTCUT));
        if asked || self.service.idle_lock_due() {
            self.lock_now();
            ui.ctx().request_repaint();
            return true;
        }
        // Wake up now and then to notice the idle time passing.
        ui.ctx().request_repaint_after(Duration::from_secs(15));
        false
    }

    /// Keeps what can be kept (a visit draft is saved as its author's), then locks.
    fn lock_now(&mut self) {
        if self.keep_changes().is_err() {
            tracing::info!("the screen locked with changes that cannot be saved yet");
        }
        match self.service.lock() {
            Ok(()) => self.gate = auth::Gate::Locked(auth::SignInForm::default()),
            Err(error) => self.set_message(app_error_text(&error), true),
        }
    }

    /// Ctrl+F finds a patient, Ctrl+N registers one, from any screen; Esc leaves a chart for the
    /// list (a first Esc leaves a text field, and one with a dialog open closes the dialog).
    fn shortcuts(&mut self, ui: &Ui) {
        let (find, new) = ui.input_mut(|i| {
            (
                i.consume_shortcut(&FIND_SHORTCUT),
                i.consume_shortcut(&NEW_PATIENT_SHORTCUT),
            )
        });
        let today = chrono::Local::now().date_naive();
        let escape = ui.input(|i| i.key_pressed(egui::Key::Escape))
            && !ui.ctx().egui_wants_keyboard_input()
            && ui.ctx().memory(|m| m.top_modal_layer().is_none())
            && self.district.is_none()
            && self.import.is_none()
            && self.leave.is_none();
        if escape && matches!(self.screen, ActiveScreen::Chart(_)) {
            self.request_open(Screen::PatientList, today);
        }
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
            ui.label(RichText::new(tr!("app-name")).heading().strong());
            ui.add_space(16.0);
            if ui
                .selectable_label(
                    matches!(self.screen, ActiveScreen::List),
                    tr!("nav-patients"),
                )
                .clicked()
            {
                self.request_open(Screen::PatientList, chrono::Local::now().date_naive());
            }
            if self.sync.conflict_count() > 0
                && ui
                    .selectable_label(
                        matches!(self.screen, ActiveScreen::Conflicts(_)),
                        tr!("nav-conflicts", count = self.sync.conflict_count()),
                    )
                    .on_hover_text(tr!("nav-conflicts-hint"))
                    .clicked()
            {
                self.request_open(Screen::Conflicts, chrono::Local::now().date_naive());
            }
            if self.service.allows(Action::ManageUsers)
                && ui
                    .selectable_label(
                        matches!(self.screen, ActiveScreen::Users(_)),
                        tr!("nav-users"),
                    )
                    .on_hover_text(tr!("nav-users-hint"))
                    .clicked()
            {
                self.request_open(Screen::Users, chrono::Local::now().date_naive());
            }
            if self.service.allows(Action::FindPatients)
                && ui
                    .selectable_label(
                        matches!(self.screen, ActiveScreen::Today(_)),
                        tr!("nav-today"),
                    )
                    .on_hover_text(tr!("nav-today-hint"))
                    .clicked()
            {
                self.request_open(Screen::Today, chrono::Local::now().date_naive());
            }
            if self.service.allows(Action::RunReports)
                && ui
                    .selectable_label(
                        matches!(self.screen, ActiveScreen::Reports(_)),
                        tr!("nav-reports"),
                    )
                    .on_hover_text(tr!("nav-reports-hint"))
                    .clicked()
            {
                self.request_open(Screen::Reports, chrono::Local::now().date_naive());
            }
            if self.service.allows(Action::ReviewDuplicates)
                && ui
                    .selectable_label(
                        matches!(self.screen, ActiveScreen::Duplicates(_)),
                        tr!("nav-duplicates"),
                    )
                    .on_hover_text(tr!("nav-duplicates-hint"))
                    .clicked()
            {
                self.request_open(Screen::Duplicates, chrono::Local::now().date_naive());
            }
            if self.service.allows(Action::ReadAudit)
                && ui
                    .selectable_label(
                        matches!(self.screen, ActiveScreen::Audit(_)),
                        tr!("nav-audit"),
                    )
                    .on_hover_text(tr!("nav-audit-hint"))
                    .clicked()
            {
                self.request_open(
                    Screen::Audit { patient_id: None },
                    chrono::Local::now().date_naive(),
                );
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                self.sync.top_bar_button_ui(ui);
                ui.separator();
                self.user_menu_ui(ui);
            });
        });
        ui.add_space(4.0);
    }

    /// "Signed in as" with the user's menu: lock, switch user, change password, sign out.
    fn user_menu_ui(&mut self, ui: &mut Ui) {
        let Some(user) = self.service.user() else {
            return;
        };
        let roles: Vec<String> = user
            .roles
            .iter()
            .map(|role| crate::i18n::tr(&format!("role-{}", role.code())))
            .collect();
        let title = format!("{} · {}", user.full_name, roles.join(", "));
        let mut chosen = None;
        ui.menu_button(title, |ui| {
            if ui
                .add(
                    egui::Button::new(tr!("menu-lock"))
                        .shortcut_text(ui.ctx().format_shortcut(&LOCK_SHORTCUT)),
                )
                .clicked()
            {
                chosen = Some(UserMenu::Lock);
            }
            if ui.button(tr!("menu-switch-user")).clicked() {
                chosen = Some(UserMenu::Switch);
            }
            if ui.button(tr!("menu-change-password")).clicked() {
                chosen = Some(UserMenu::ChangePassword);
            }
            ui.menu_button(tr!("menu-language"), |ui| {
                for language in crate::i18n::Language::ALL {
                    if ui
                        .radio(self.language == language, language.native_name())
                        .clicked()
                    {
                        chosen = Some(UserMenu::Language(language));
                    }
                }
            });
            if ui.button(tr!("menu-sign-out")).clicked() {
                chosen = Some(UserMenu::SignOut);
            }
        });
        ui.label(tr!("signed-in-as"));
        match chosen {
            None => {}
            Some(UserMenu::Lock) => self.lock_now(),
            Some(UserMenu::Switch) => {
                self.lock_now();
                self.gate = auth::Gate::Locked(auth::SignInForm::switching());
            }
            Some(UserMenu::ChangePassword) => {
                self.gate = auth::Gate::ChangePassword(auth::PasswordForm::voluntary());
            }
            Some(UserMenu::Language(language)) => {
                self.run(
                    AppCommand::SetLanguage(language),
                    chrono::Local::now().date_naive(),
                );
            }
            Some(UserMenu::SignOut) => self.sign_out(),
        }
    }

    /// Saves what can be saved, signs out, and shows the sign-in screen.
    fn sign_out(&mut self) {
        if let Err(reason) = self.keep_changes() {
            self.leave = Some(LeaveRequest {
                target: Some(Screen::PatientList),
                reason,
            });
            return;
        }
        if let Err(error) = self.service.sign_out() {
            self.set_message(app_error_text(&error), true);
        }
        self.screen = ActiveScreen::List;
        self.gate = auth::Gate::for_service(&self.service);
    }

    fn status_bar_ui(&mut self, ui: &mut Ui) {
        ui.add_space(2.0);
        ui.horizontal(|ui| {
            let path = self.service.store().path().display().to_string();
            ui.label(RichText::new(path).small().weak())
                .on_hover_text(tr!("status-database-file"));
            ui.separator();
            let patients = tr!(
                "status-patients",
                count = self.patient_count,
                shown = widgets::format_count(self.patient_count)
            );
            ui.label(RichText::new(patients).small());
            ui.separator();
            // Those who can back up see when it last happened; a week without is a warning.
            if self.service.allows(crate::model::Action::Backup) {
                let text = match self.service.last_backup() {
                    Some(at) => tr!(
                        "status-last-backup",
                        date = widgets::format_date(at.with_timezone(&chrono::Local).date_naive())
                    ),
                    None => tr!("status-no-backup"),
                };
                let text = RichText::new(text).small();
                ui.label(if self.service.backup_overdue() {
                    text.color(widgets::WARNING_TEXT)
                } else {
                    text
                })
                .on_hover_text(tr!(
                    "status-backup-hint",
                    days = crate::app::BACKUP_WARNING_DAYS
                ));
                ui.separator();
            }
            let pending = self.status.as_ref().map(|status| status.pending_changes);
            if self.sync.status_ui(ui, pending) {
                self.request_open(Screen::Conflicts, chrono::Local::now().date_naive());
            }
            match &self.icd10 {
                Icd10State::Loading(_) => {
                    ui.separator();
                    ui.label(RichText::new(tr!("status-icd10-loading")).small().weak());
                }
                Icd10State::Failed(error) => {
                    ui.separator();
                    ui.label(
                        RichText::new(tr!("status-icd10-failed", error = error.clone()))
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
            match self
                .service
                .execute(AppCommand::SaveEncounter(draft.clone()))
            {
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
                        app_error_text(&error)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Opens `target` at once (the current screen's changes were kept or discarded). Opening a
    /// chart or images asks the app service, which checks the user's role and records it.
    fn open_now(&mut self, target: Screen, today: NaiveDate) {
        // A record merged into another opens as the one whose chart shows it.
        let target = match target {
            Screen::Chart(patient_id) => Screen::Chart(
                self.service
                    .store()
                    .survivor_of(patient_id)
                    .unwrap_or(patient_id),
            ),
            other => other,
        };
        let allowed = match &target {
            Screen::Chart(patient_id) => self.service.open_chart(*patient_id),
            Screen::Imaging { patient_id, .. } => self.service.view_images(*patient_id),
            Screen::NewPatient | Screen::EditPatient(_) => {
                self.service.authorize(Action::EditDemographics).map(drop)
            }
            Screen::NewVisit(_) => self.service.authorize(Action::RecordVitals).map(drop),
            Screen::Visit(_) => self.service.authorize(Action::ReadClinical).map(drop),
            Screen::Users => self.service.authorize(Action::ManageUsers).map(drop),
            Screen::Audit { .. } => self.service.authorize(Action::ReadAudit).map(drop),
            Screen::Reports => self.service.authorize(Action::RunReports).map(drop),
            Screen::Today => self.service.authorize(Action::FindPatients).map(drop),
            Screen::Duplicates => self.service.authorize(Action::ReviewDuplicates).map(drop),
            Screen::PatientList | Screen::Conflicts => Ok(()),
        };
        if let Err(error) = allowed {
            self.set_message(app_error_text(&error), true);
            return;
        }
        let store = self.service.store();
        let opened = match target {
            Screen::PatientList => {
                self.list.focus_search();
                Ok(ActiveScreen::List)
            }
            Screen::NewPatient => Ok(ActiveScreen::PatientEditor(Box::new(
                PatientEditor::new_patient(store.clinic_id()),
            ))),
            Screen::EditPatient(patient_id) => store.patient(patient_id).map(|patient| {
                ActiveScreen::PatientEditor(Box::new(PatientEditor::edit(patient, today)))
            }),
            Screen::Chart(patient_id) => Ok(ActiveScreen::Chart(Box::new(PatientChart::open(
                store,
                patient_id,
                today,
                self.service.allows(Action::ReadClinical),
            )))),
            Screen::NewVisit(patient_id) => {
                VisitEditor::new_visit(store, patient_id, &self.signer, today)
                    .map(|editor| ActiveScreen::Visit(Box::new(editor)))
            }
            Screen::Visit(encounter_id) => VisitEditor::open(store, encounter_id, today)
                .map(|editor| ActiveScreen::Visit(Box::new(editor))),
            Screen::Conflicts => Ok(ActiveScreen::Conflicts(Box::new(ConflictsScreen::open(
                store,
            )))),
            Screen::Imaging {
                patient_id,
                study_uid,
            } => {
                let ctx = self.ctx.clone().unwrap_or_default();
                Ok(ActiveScreen::Viewer(Box::new(ImageViewer::open(
                    store,
                    &ctx,
                    patient_id,
                    study_uid.as_deref(),
                ))))
            }
            Screen::Users => Ok(ActiveScreen::Users(Box::new(users::UsersScreen::open(
                store,
                self.service.auto_lock_minutes(),
                self.service.backup_schedule(),
            )))),
            Screen::Audit { patient_id } => Ok(ActiveScreen::Audit(Box::new(
                audit::AuditScreen::open(store, patient_id),
            ))),
            Screen::Reports => Ok(ActiveScreen::Reports(Box::new(
                reports::ReportsScreen::open(today),
            ))),
            Screen::Today => Ok(ActiveScreen::Today(Box::new(today::TodayScreen::open()))),
            Screen::Duplicates => {
                let ctx = self.ctx.clone().unwrap_or_default();
                Ok(ActiveScreen::Duplicates(Box::new(
                    duplicates::DuplicatesScreen::open(store.opener(), &ctx),
                )))
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
            Command::FindAtDistrict { text } => match self.service.may_open_from_district() {
                Ok(()) => self.district = Some(district::DistrictDialog::from_search(&text)),
                Err(error) => {
                    self.set_message(format!("Not done: {}", app_error_text(&error)), true)
                }
            },
            Command::Print(source) => match self.service.authorize(Action::ReadClinical) {
                Ok(_) => self.print_dialog = Some(printing::PrintDialog::new(source)),
                Err(error) => {
                    self.set_message(format!("Not done: {}", app_error_text(&error)), true)
                }
            },
            Command::ExportImages(patient_id) => {
                let studies = self
                    .service
                    .authorize(Action::ExportRecords)
                    .map(|_| ())
                    .and_then(|()| Ok(self.service.store().studies(patient_id)?));
                match studies {
                    Ok(studies) => {
                        self.dicom_export =
                            Some(dicom_export::DicomExportDialog::new(patient_id, &studies));
                    }
                    Err(error) => {
                        self.set_message(format!("Not done: {}", app_error_text(&error)), true)
                    }
                }
            }
            Command::PrintMissedFollowUps { grace_days } => {
                match self.service.missed_follow_ups_pdf(
                    today,
                    grace_days,
                    crate::documents::Paper::A4,
                ) {
                    Ok(bytes) => self.print_jobs.push(printing::save_in_background(
                        bytes,
                        format!("missed-follow-ups-{today}.pdf"),
                        "PDF",
                        "pdf",
                        self.ctx.clone(),
                    )),
                    Err(error) => {
                        self.set_message(format!("Not printed: {}", app_error_text(&error)), true)
                    }
                }
            }
            Command::MakeReport(month) => match self.make_report(month) {
                Ok(report) => {
                    if let ActiveScreen::Reports(screen) = &mut self.screen {
                        screen.show(report);
                    }
                }
                Err(message) => self.report_failed(message),
            },
            Command::SaveReport {
                report,
                format,
                org_unit,
            } => match report_bytes(&report, format, &org_unit, &self.signer.full_name) {
                Ok((bytes, kind, extension)) => {
                    let file_name = format!("monthly-report-{}.{extension}", report.month);
                    self.print_jobs.push(printing::save_in_background(
                        bytes,
                        file_name,
                        kind,
                        extension,
                        self.ctx.clone(),
                    ));
                }
                Err(message) => self.report_failed(message),
            },
            Command::Do(command) => self.run(*command, today),
        }
    }

    /// The monthly report of `month`, made by the app service, with Outpost's list of notifiable
    /// conditions.
    fn make_report(
        &mut self,
        month: crate::reports::Month,
    ) -> Result<crate::reports::MonthlyReport, String> {
        let notifiable = crate::reports::Notifiable::parse_list(crate::reports::DEFAULT_NOTIFIABLE)
            .map_err(|e| e.to_string())?;
        self.service
            .monthly_report(month, &notifiable)
            .map_err(|e| format!("No report: {}", app_error_text(&e)))
    }

    fn report_failed(&mut self, message: String) {
        match &mut self.screen {
            ActiveScreen::Reports(screen) => screen.failed(message),
            _ => self.set_message(message, true),
        }
    }

    /// The Print dialog, while open: the app service makes the document (checking the user may,
    /// and writing the audit entry), then it goes to the printer or a file on its own thread.
    fn print_dialog_ui(&mut self, ui: &Ui) {
        self.print_jobs.retain(|job| match job.try_recv() {
            Ok((message, error)) => {
                self.message = Some((message, error));
                false
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => true,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => false,
        });
        let Some(action) = self.print_dialog.as_mut().and_then(|dialog| dialog.ui(ui)) else {
            return;
        };
        let printing::PrintAction::Print {
            request,
            paper,
            target,
        } = action
        else {
            self.print_dialog = None;
            return;
        };
        match self.service.print(&request, paper) {
            Ok(document) => {
                self.print_dialog = None;
                let spool = printing::spool_dir(self.service.store().data_dir());
                self.print_jobs.push(printing::deliver(
                    document,
                    target,
                    spool,
                    self.print_command.clone(),
                    self.ctx.clone(),
                ));
            }
            Err(error) => {
                if let Some(dialog) = &mut self.print_dialog {
                    dialog.failed(format!("Not printed: {}", app_error_text(&error)));
                }
            }
        }
    }

    /// The "Export images" dialog, while open: the app service checks and audits the export,
    /// which then runs on the dialog's own thread.
    fn dicom_export_ui(&mut self, ui: &Ui) {
        let Some(action) = self.dicom_export.as_mut().and_then(|dialog| dialog.ui(ui)) else {
            return;
        };
        match action {
            dicom_export::DicomExportAction::Close => self.dicom_export = None,
            dicom_export::DicomExportAction::Start {
                patient_id,
                study_uid,
                deidentify,
                folder,
            } => {
                let prepared = self.service.prepare_dicom_export(
                    patient_id,
                    study_uid.as_deref(),
                    deidentify,
                    &folder,
                );
                if let Some(dialog) = &mut self.dicom_export {
                    match prepared {
                        Ok(job) => dialog.start(job, self.ctx.clone()),
                        Err(error) => dialog.refused(app_error_text(&error)),
                    }
                }
            }
        }
    }

    /// The district lookup, while open: passes what the person asked for to the sync thread,
    /// after the app service has checked that they may.
    fn district_dialog_ui(&mut self, ui: &Ui) {
        let Some(action) = self.district.as_mut().and_then(|dialog| dialog.ui(ui)) else {
            return;
        };
        let refusal = match action {
            district::DistrictAction::Close => {
                self.district = None;
                return;
            }
            _ => self.service.may_open_from_district().err(),
        };
        let sent = match (refusal, action) {
            (Some(error), _) => Err(app_error_text(&error)),
            (None, district::DistrictAction::Find(lookup)) => {
                Ok(self.sync.find_at_district(lookup))
            }
            (
                None,
                district::DistrictAction::Open {
                    patient_id,
                    reason,
                    name,
                },
            ) => {
                tracing::info!(patient_id = %patient_id, reason = reason.code(), "opening a patient from the district");
                self.district_opening = Some((name, reason));
                Ok(self.sync.open_shared(patient_id, reason))
            }
            (None, district::DistrictAction::Close) => Ok(true),
        };
        let error = match sent {
            Ok(true) => return,
            Ok(false) => "Sync is not running, so the district server cannot be asked.".to_owned(),
            Err(error) => error,
        };
        if let Some(dialog) = &mut self.district {
            dialog.refused(error);
        }
    }

    /// Runs a change through the app service (which checks the user's role and writes the audit
    /// entry) and tells the screen how it went.
    fn run(&mut self, command: AppCommand, today: NaiveDate) {
        // What the screen needs to hear back, kept before the command is consumed.
        let removing = match &command {
            AppCommand::SetImagesRemoved { removed, .. } => Some(*removed),
            _ => None,
        };
        let amended = match &command {
            AppCommand::AddAmendment(amendment) => Some(amendment.encounter_id),
            _ => None,
        };
        let saved_draft = match &command {
            AppCommand::SaveEncounter(encounter) => Some(encounter.clone()),
            _ => None,
        };
        let is_chart_write = matches!(
            command,
            AppCommand::SaveAllergy(_)
                | AppCommand::SetAllergyStatus { .. }
                | AppCommand::SaveProblem(_)
        );
        let error = match self.service.execute(command) {
            Ok(outcome) => {
                self.outcome(outcome, removing, amended, saved_draft, today);
                return;
            }
            Err(error) => error,
        };
        tracing::info!(%error, "a change was not made");
        match &mut self.screen {
            ActiveScreen::PatientEditor(editor) => editor.save_failed(&error),
            ActiveScreen::Visit(editor) if saved_draft.is_some() => editor.save_failed(&error),
            ActiveScreen::Visit(editor) => editor.action_failed(&error),
            ActiveScreen::Conflicts(conflicts) => conflicts.action_failed(&error),
            ActiveScreen::Users(users) => users.action_failed(&error),
            ActiveScreen::Chart(chart) if is_chart_write => chart.write_failed(&error),
            ActiveScreen::Duplicates(screen) => screen.merge_failed(app_error_text(&error)),
            _ => self.set_message(format!("Not done: {}", app_error_text(&error)), true),
        }
    }

    /// Shows what a change did, on the screen that asked for it.
    fn outcome(
        &mut self,
        outcome: Outcome,
        removing: Option<bool>,
        amended: Option<crate::model::EncounterId>,
        saved_draft: Option<crate::model::Encounter>,
        today: NaiveDate,
    ) {
        match outcome {
            Outcome::ImagesRemoved(count) => {
                self.set_message(
                    if removing == Some(true) {
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
            Outcome::ImageRequested => {
                self.sync.sync_now();
                self.set_message(
                    "The image will be downloaded as soon as the server can be reached.",
                    false,
                );
            }
            Outcome::PatientRegistered(patient) => {
                tracing::info!(patient_id = %patient.patient_id, "registered a patient");
                let number = patient.number.map(|n| n.to_string()).unwrap_or_default();
                self.set_message(format!("Registered patient {number}."), false);
                self.after_write();
                self.open_now(Screen::Chart(patient.patient_id), today);
            }
            Outcome::PatientSaved(_) => {
                self.set_message("The patient's details were saved.", false);
                self.after_write();
                if let ActiveScreen::PatientEditor(editor) = &self.screen {
                    let patient_id = editor.patient_id();
                    self.open_now(Screen::Chart(patient_id), today);
                }
            }
            Outcome::DraftTakenOver(encounter) => {
                self.set_message(
                    "The draft is yours now; the hand-over is in the audit trail.",
                    false,
                );
                self.after_write();
                self.open_now(Screen::Visit(encounter.encounter_id), today);
            }
            Outcome::DraftSaved(changed) => {
                if let (ActiveScreen::Visit(editor), Some(draft)) = (&mut self.screen, &saved_draft)
                {
                    editor.draft_saved(draft);
                }
                if changed {
                    // Drafts save every few seconds while typing: the counts are refreshed once
                    // the editor is left rather than after each save.
                    self.list.invalidate();
                    self.status_stale = true;
                    self.sync.local_change();
                }
            }
            Outcome::VisitSigned(signed) => {
                tracing::info!(encounter_id = %signed.encounter_id, "signed a visit");
                self.set_message("The visit was signed.", false);
                if let ActiveScreen::Visit(editor) = &mut self.screen {
                    editor.replace_encounter(signed);
                }
                self.after_write();
            }
            Outcome::VisitVoided(voided) => {
                tracing::info!(encounter_id = %voided.encounter_id, "voided a visit");
                self.set_message("The visit was voided.", false);
                if let ActiveScreen::Visit(editor) = &mut self.screen {
                    editor.replace_encounter(voided);
                }
                self.after_write();
            }
            Outcome::AmendmentAdded(amendments) => {
                self.set_message("The amendment was added.", false);
                match (&mut self.screen, amended) {
                    (ActiveScreen::Visit(editor), _) => editor.amendments_changed(amendments),
                    (ActiveScreen::Conflicts(conflicts), Some(encounter_id)) => {
                        conflicts.amendment_added(encounter_id);
                    }
                    _ => {}
                }
                self.after_write();
            }
            Outcome::ConflictAmended => {
                self.set_message("The amendment was added and the conflict settled.", false);
                if let ActiveScreen::Conflicts(conflicts) = &mut self.screen {
                    conflicts.action_succeeded();
                }
                self.after_write();
            }
            Outcome::ConflictSettled => {
                self.set_message("The conflict was settled.", false);
                if let ActiveScreen::Conflicts(conflicts) = &mut self.screen {
                    conflicts.action_succeeded();
                }
                self.after_write();
            }
            Outcome::ChartSaved => {
                if let ActiveScreen::Chart(chart) = &mut self.screen {
                    chart.write_succeeded();
                    chart.reload(self.service.store(), today);
                }
                self.after_write();
            }
            Outcome::QueueChanged(entry) => {
                if let ActiveScreen::Today(screen) = &mut self.screen {
                    screen.changed();
                }
                if !matches!(self.screen, ActiveScreen::Today(_)) {
                    let name = self
                        .service
                        .store()
                        .patient(entry.patient_id)
                        .map(|p| p.display_name())
                        .unwrap_or_default();
                    self.set_message(
                        format!("{name} is in today's queue: {}.", entry.state.label()),
                        false,
                    );
                }
                self.after_write();
            }
            Outcome::PatientsMerged(merge) => {
                tracing::info!(merge_id = %merge.merge_id, "merged two records");
                let store = self.service.store();
                let number = |id| {
                    store
                        .patient(id)
                        .map(|p| widgets::patient_number(&p))
                        .unwrap_or_default()
                };
                let message = tr!(
                    "merge-done",
                    retired = number(merge.retired),
                    survivor = number(merge.survivor)
                );
                if let ActiveScreen::Duplicates(screen) = &mut self.screen {
                    screen.merged(&merge, store);
                }
                self.set_message(message, false);
                self.after_write();
            }
            Outcome::MergeUndone(merge) => {
                tracing::info!(merge_id = %merge.merge_id, "undid a merge");
                let number = self
                    .service
                    .store()
                    .patient(merge.retired)
                    .map(|p| widgets::patient_number(&p))
                    .unwrap_or_default();
                self.set_message(tr!("merge-undone", number = number), false);
                match &mut self.screen {
                    ActiveScreen::Duplicates(screen) => {
                        let ctx = self.ctx.clone().unwrap_or_default();
                        screen.undone(self.service.store().opener(), &ctx);
                    }
                    ActiveScreen::Chart(chart) => chart.reload(self.service.store(), today),
                    _ => {}
                }
                self.after_write();
            }
            Outcome::LanguageSet(language) => {
                self.language = language;
                crate::i18n::set_language(language);
                self.set_message(
                    tr!("language-saved", language = language.native_name()),
                    false,
                );
            }
            Outcome::UserCreated(_) | Outcome::UserChanged | Outcome::SettingSaved => {
                if let ActiveScreen::Users(users) = &mut self.screen {
                    users.changed(self.service.store());
                }
                self.after_write();
            }
            Outcome::ClinicKeyAdopted(changed) => {
                if let ActiveScreen::Users(users) = &mut self.screen {
                    users.changed(self.service.store());
                }
                self.set_message(
                    if changed {
                        "This workstation's records and images are now encrypted with the clinic's key."
                    } else {
                        "This workstation already uses the clinic's key."
                    },
                    false,
                );
                self.after_write();
            }
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
            self.service.store(),
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

    /// Whose chart is open, if a chart is the screen shown (tests watch it).
    pub fn chart_patient(&self) -> Option<crate::model::PatientId> {
        match &self.screen {
            ActiveScreen::Chart(chart) => Some(chart.patient_id()),
            _ => None,
        }
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
                    editor.refresh_images(self.service.store());
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
        self.sync.reload(self.service.store());
        if let ActiveScreen::Conflicts(conflicts) = &mut self.screen {
            conflicts.reload(self.service.store());
        }
    }

    /// Takes what the sync thread reported and refreshes what it changed.
    fn poll_sync(&mut self) {
        let update = self.sync.poll();
        if let Some(clinic_name) = &update.enrolled_in {
            // Enrolling re-labelled this workstation's records as the clinic's: this connection
            // must see the clinic it joined before it writes again.
            match self.service.reopen_store() {
                Ok(()) => {}
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
        if let Some(found) = update.found
            && let Some(dialog) = &mut self.district
        {
            dialog.found(found);
        }
        match update.opened {
            Some(Ok(patient_id)) => self.opened_from_district(patient_id),
            Some(Err(error)) => match &mut self.district {
                Some(dialog) => dialog.open_failed(error),
                None => self.set_message(format!("Not opened: {error}"), true),
            },
            None => {}
        }
        if update.round_finished || update.enrolled_in.is_some() {
            self.refresh_status();
            self.refresh_sync_views();
        }
        if update.pulled {
            self.list.invalidate();
            let today = chrono::Local::now().date_naive();
            if let ActiveScreen::Chart(chart) = &mut self.screen {
                chart.reload(self.service.store(), today);
            }
        }
    }

    /// Another clinic's patient arrived: in the audit trail, then on screen.
    fn opened_from_district(&mut self, patient_id: crate::model::PatientId) {
        self.district = None;
        let (name, reason) = self
            .district_opening
            .take()
            .map(|(name, reason)| (name, reason.label()))
            .unwrap_or_default();
        if let Err(error) = self.service.opened_from_district(patient_id) {
            self.set_message(format!("Not done: {}", app_error_text(&error)), true);
            return;
        }
        self.list.invalidate();
        self.refresh_status();
        self.set_message(
            format!("Opened {name} from the district server. Reason: {reason}."),
            false,
        );
        let today = chrono::Local::now().date_naive();
        self.open_now(Screen::Chart(patient_id), today);
    }

    /// Counts patients and changes waiting to sync. On a large store the counts take seconds, so
    /// they are taken on the "store-status" thread; a refresh asked for meanwhile runs after it.
    fn refresh_status(&mut self) {
        if self.patient_count <= BACKGROUND_WORK_ABOVE {
            match self.service.store().status() {
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
                let opener = self.service.store().opener();
                let spawned = std::thread::Builder::new()
                    .name("store-status".to_owned())
                    .spawn(move || {
                        let result = opener.open().and_then(|store| store.status());
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

    /// Starts the daily backup when it is due, on its own thread (copying the images may take
    /// a while), and records it when the thread is done. A failure is said in the status bar and
    /// tried again an hour later.
    fn daily_backup(&mut self, ui: &Ui) {
        if let Some(job) = &self.backup_job {
            let Ok(result) = job.try_recv() else {
                return;
            };
            self.backup_job = None;
            match result {
                Ok(folder) => match self.service.record_scheduled_backup() {
                    Ok(()) => self.set_message(
                        format!("Daily backup written to {}", folder.display()),
                        false,
                    ),
                    Err(e) => self.set_message(
                        format!(
                            "The daily backup was written but not recorded: {}",
                            widgets::app_error_text(&e)
                        ),
                        true,
                    ),
                },
                Err(error) => {
                    self.backup_retry_at =
                        Some(std::time::Instant::now() + Duration::from_secs(3600));
                    self.set_message(
                        format!("The daily backup failed (tried again in an hour): {error}"),
                        true,
                    );
                }
            }
            return;
        }
        if self
            .backup_retry_at
            .is_some_and(|at| std::time::Instant::now() < at)
        {
            return;
        }
        let Some((opener, target, keep)) = self.service.scheduled_backup_due() else {
            return;
        };
        let (done, job) = std::sync::mpsc::channel();
        let wake = ui.ctx().clone();
        let spawned = std::thread::Builder::new()
            .name("backup".to_owned())
            .spawn(move || {
                let result = opener
                    .open()
                    .and_then(|store| store.backup_to(&target))
                    .and_then(|report| {
                        if let Some(folder) = report.folder.parent() {
                            crate::store::prune_backups(folder, keep as usize)?;
                        }
                        Ok(report.folder)
                    })
                    .map_err(|e| e.to_string());
                let _ = done.send(result);
                wake.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.backup_job = Some(job);
                self.set_message("Writing the daily backup…", false);
            }
            Err(e) => {
                self.backup_retry_at = Some(std::time::Instant::now() + Duration::from_secs(3600));
                self.set_message(format!("The daily backup cannot start: {e}"), true);
            }
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

/// A report as the bytes of a file in `format`, with the file kind's name and extension.
fn report_bytes(
    report: &crate::reports::MonthlyReport,
    format: reports::ReportFormat,
    org_unit: &str,
    printed_by: &str,
) -> Result<(Vec<u8>, &'static str, &'static str), String> {
    let (output, kind) = match format {
        reports::ReportFormat::Csv => (crate::reports::ReportOutput::Csv, "CSV"),
        reports::ReportFormat::Dhis2 => (
            crate::reports::ReportOutput::Dhis2 {
                mapping: crate::reports::Dhis2Mapping::parse(crate::reports::DEFAULT_DHIS2_MAPPING)
                    .map_err(|e| e.to_string())?,
                org_unit: org_unit.to_owned(),
            },
            "DHIS2 JSON",
        ),
        reports::ReportFormat::Pdf => (
            crate::reports::ReportOutput::Pdf(crate::documents::Paper::A4),
            "PDF",
        ),
    };
    crate::reports::output_bytes(report, &output, printed_by)
        .map(|bytes| (bytes, kind, output.extension()))
        .map_err(|e| e.to_string())
}

impl Drop for OutpostApp {
    fn drop(&mut self) {
        // Documents handed to the viewer do not outlive the window.
        if self.service.is_open() {
            printing::clear_spool(&printing::spool_dir(self.service.store().data_dir()));
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
    let opener = store.opener();
    let spawned = std::thread::Builder::new()
        .name("icd10-load".to_owned())
        .spawn(move || {
            let result = opener.open().and_then(|mut store| store.ensure_icd10());
            // The window may have closed meanwhile: then nobody listens.
            let _ = sender.send(result);
        });
    match spawned {
        Ok(_) => Icd10State::Loading(receiver),
        Err(error) => Icd10State::Failed(format!("cannot start loading them: {error}")),
    }
}
