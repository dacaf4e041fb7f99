//! The screens before the record: the first administrator's setup with the recovery key, signing
//! in (or recovering with the recovery key), the lock screen, and choosing a new password.
//!
//! While one of these is up, nothing of a patient is drawn. Each asks the app service to do the
//! work (set up, sign in, unlock, change the password); nothing here touches the store.

use super::widgets::{ERROR_TEXT, app_error_text};
use crate::app::{AppError, AppService, EncryptionState, FirstAdministrator, SignInStart};
use crate::model::{MIN_PASSWORD_CHARS, PasswordStrength, password_strength};
use crate::tr;
use egui::{Align, Layout, RichText, TextEdit, Ui};
use zeroize::Zeroizing;

/// What a gate screen finished with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GateDone {
    /// Still showing.
    Waiting,
    /// A user signed in (after setup, sign-in or recovery): start from the patient list.
    SignedIn,
    /// The locked user unlocked: back to where they were.
    Unlocked,
    /// Another user signed in at the lock screen: the first user's screen is closed.
    Switched,
    /// The new password was saved (or a voluntary change cancelled).
    PasswordDone,
}

/// The screen in front of the record, if any.
pub(super) enum Gate {
    /// Nothing in front: the record is shown.
    Open,
    /// The workstation's first administrator.
    Setup(SetupForm),
    /// The recovery key, shown once after setup.
    RecoveryKey(RecoveryKeyNote),
    /// Nobody signed in.
    SignIn(SignInForm),
    /// Signed in, screen locked.
    Locked(SignInForm),
    /// Choosing a new password (forced after a reset, or asked for).
    ChangePassword(PasswordForm),
}

impl Gate {
    /// The screen a service in this state needs first.
    pub(super) fn for_service(service: &AppService) -> Self {
        match service.session() {
            None if service.needs_setup().unwrap_or(false) => Self::Setup(SetupForm::default()),
            None => Self::SignIn(SignInForm::default()),
            Some(session) if session.is_locked() => Self::Locked(SignInForm::default()),
            Some(session) if session.user().must_change_password => {
                Self::ChangePassword(PasswordForm::forced())
            }
            Some(_) => Self::Open,
        }
    }

    /// Whether the record is shown.
    pub(super) fn is_open(&self) -> bool {
        matches!(self, Self::Open)
    }

    /// Draws the gate screen over the whole window.
    pub(super) fn ui(&mut self, ui: &mut Ui, service: &mut AppService) -> GateDone {
        let mut done = GateDone::Waiting;
        let mut next: Option<Gate> = None;
        egui::CentralPanel::default().show(ui, |ui| {
            ui.with_layout(Layout::top_down(Align::Center), |ui| {
                ui.add_space(48.0);
                ui.label(RichText::new(tr!("app-name")).heading().strong().size(28.0));
                ui.add_space(16.0);
                egui::Frame::group(ui.style())
                    .inner_margin(20.0)
                    .show(ui, |ui| {
                        ui.set_width(440.0);
                        ui.with_layout(Layout::top_down(Align::Min), |ui| match self {
                            Gate::Open => {}
                            Gate::Setup(form) => {
                                if let Some(key) = form.ui(ui, service) {
                                    next = Some(Gate::RecoveryKey(RecoveryKeyNote::new(key)));
                                }
                            }
                            Gate::RecoveryKey(note) => {
                                if note.ui(ui) {
                                    done = GateDone::SignedIn;
                                }
                            }
                            Gate::SignIn(form) => {
                                if form.sign_in_ui(ui, service) {
                                    done = GateDone::SignedIn;
                                }
                            }
                            Gate::Locked(form) => done = form.locked_ui(ui, service),
                            Gate::ChangePassword(form) => {
                                if form.ui(ui, service) {
                                    done = GateDone::PasswordDone;
                                }
                            }
                        });
                    });
            });
        });
        if let Some(next) = next {
            *self = next;
        }
        if done != GateDone::Waiting {
            // A user who must choose a new password does that before anything else.
            *self = Self::for_service(service);
        }
        done
    }
}

/// A labelled single-line field; `password` hides what is typed.
fn field(ui: &mut Ui, label: &str, text: &mut String, password: bool) -> egui::Response {
    let label = ui.label(label);
    let response = ui
        .add(
            TextEdit::singleline(text)
                .password(password)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
    ui.add_space(4.0);
    response
}

fn error_ui(ui: &mut Ui, error: &Option<String>) {
    if let Some(error) = error {
        ui.label(RichText::new(error).color(ERROR_TEXT));
    }
}

fn strength_ui(ui: &mut Ui, password: &str, names: &[&str]) {
    if password.is_empty() {
        ui.label(
            RichText::new(tr!("auth-password-rule", count = MIN_PASSWORD_CHARS))
                .small()
                .weak(),
        );
        return;
    }
    let strength = password_strength(password, names);
    let text = RichText::new(strength.hint()).small();
    ui.label(match strength {
        PasswordStrength::TooShort | PasswordStrength::Weak => text.color(ERROR_TEXT),
        _ => text,
    });
}

fn enter_pressed(ui: &Ui, field: &egui::Response) -> bool {
    field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
}

/// The first administrator's details.
#[derive(Default)]
pub(super) struct SetupForm {
    full_name: String,
    user_name: String,
    password: Zeroizing<String>,
    confirm: Zeroizing<String>,
    also_clinician: bool,
    error: Option<String>,
}

impl SetupForm {
    /// The form; returns the recovery key once the administrator was created.
    fn ui(&mut self, ui: &mut Ui, service: &mut AppService) -> Option<Zeroizing<String>> {
        ui.label(RichText::new(tr!("auth-setup-title")).heading());
        ui.label(tr!("auth-setup-intro"));
        ui.add_space(8.0);
        let mut changed = field(ui, &tr!("auth-full-name"), &mut self.full_name, false).changed();
        changed |= field(ui, &tr!("auth-user-name"), &mut self.user_name, false).changed();
        changed |= field(ui, &tr!("auth-password"), &mut self.password, true).changed();
        strength_ui(ui, &self.password, &[&self.user_name, &self.full_name]);
        let confirm = field(ui, &tr!("auth-password-again"), &mut self.confirm, true);
        if changed || confirm.changed() {
            // What was refused has been corrected, or is being: the strength hint speaks now.
            self.error = None;
        }
        ui.checkbox(&mut self.also_clinician, tr!("auth-also-clinician"));
        ui.add_space(8.0);
        error_ui(ui, &self.error);
        if ui.button(tr!("auth-create-admin")).clicked() || enter_pressed(ui, &confirm) {
            let admin = FirstAdministrator {
                full_name: self.full_name.clone(),
                user_name: self.user_name.clone(),
                password: self.password.to_string(),
                confirm: self.confirm.to_string(),
                also_clinician: self.also_clinician,
            };
            match service.set_up(admin) {
                Ok(key) => return Some(key.display()),
                Err(error) => self.error = Some(setup_error_text(&error)),
            }
        }
        None
    }
}

fn setup_error_text(error: &AppError) -> String {
    match error {
        AppError::Store(crate::store::StoreError::Invalid(validation)) => validation.summary(),
        other => app_error_text(other),
    }
}

/// The recovery key, shown once, confirmed by typing its last group back.
pub(super) struct RecoveryKeyNote {
    key: Zeroizing<String>,
    typed: String,
    error: Option<String>,
}

impl RecoveryKeyNote {
    fn new(key: Zeroizing<String>) -> Self {
        Self {
            key,
            typed: String::new(),
            error: None,
        }
    }

    /// True once the user typed the last group back.
    fn ui(&mut self, ui: &mut Ui) -> bool {
        ui.label(RichText::new(tr!("auth-recovery-key-title")).heading());
        ui.label(tr!("auth-recovery-key-intro"));
        ui.add_space(8.0);
        ui.add(
            egui::Label::new(
                RichText::new(self.key.as_str())
                    .monospace()
                    .size(18.0)
                    .strong(),
            )
            .extend(),
        );
        ui.add_space(8.0);
        let field = field(
            ui,
            &tr!("auth-recovery-key-confirm"),
            &mut self.typed,
            false,
        );
        error_ui(ui, &self.error);
        if ui.button(tr!("auth-written-down")).clicked() || enter_pressed(ui, &field) {
            let last = self.key.rsplit('-').next().unwrap_or_default();
            if self.typed.trim().eq_ignore_ascii_case(last) {
                return true;
            }
            self.error = Some(tr!("auth-not-last-group"));
        }
        false
    }
}

/// Signing in, unlocking, or recovering with the recovery key.
#[derive(Default)]
pub(super) struct SignInForm {
    user_name: String,
    password: Zeroizing<String>,
    /// At the lock screen: signing in as another user instead.
    switching: bool,
    /// Recovering: the recovery key and the new password.
    recovering: bool,
    recovery_key: Zeroizing<String>,
    new_password: Zeroizing<String>,
    confirm: Zeroizing<String>,
    error: Option<String>,
    /// The workstation's plain files are being encrypted before the sign-in ends.
    encrypting: bool,
}

impl SignInForm {
    /// The lock screen opened to sign in as another user.
    pub(super) fn switching() -> Self {
        Self {
            switching: true,
            ..Self::default()
        }
    }

    /// Nobody signed in. True once someone is.
    fn sign_in_ui(&mut self, ui: &mut Ui, service: &mut AppService) -> bool {
        if self.recovering {
            return self.recovery_ui(ui, service);
        }
        if self.encrypting {
            return self.encrypting_ui(ui, service);
        }
        ui.label(RichText::new(tr!("auth-sign-in-title")).heading());
        ui.add_space(8.0);
        self.user_password_ui(ui, service)
    }

    fn user_password_ui(&mut self, ui: &mut Ui, service: &mut AppService) -> bool {
        let user = field(ui, &tr!("auth-user-name"), &mut self.user_name, false);
        if self.user_name.is_empty() && !user.has_focus() && self.error.is_none() {
            user.request_focus();
        }
        let password = field(ui, &tr!("auth-password"), &mut self.password, true);
        error_ui(ui, &self.error);
        let mut signed_in = false;
        ui.horizontal(|ui| {
            if ui.button(tr!("auth-sign-in")).clicked() || enter_pressed(ui, &password) {
                let ctx = ui.ctx().clone();
                let wake = move || ctx.request_repaint();
                match service.begin_sign_in(&self.user_name, &self.password, wake) {
                    Ok(SignInStart::SignedIn) => signed_in = true,
                    Ok(SignInStart::Encrypting) => {
                        self.password = Zeroizing::new(String::new());
                        self.error = None;
                        self.encrypting = true;
                    }
                    Err(error) => {
                        self.password = Zeroizing::new(String::new());
                        self.error = Some(app_error_text(&error));
                    }
                }
            }
            if ui.link(tr!("auth-forgotten")).clicked() {
                self.recovering = true;
                self.error = None;
            }
        });
        signed_in
    }

    /// The progress of the encryption of a workstation from before encryption, at its first
    /// sign-in. True once it is done and the user is signed in.
    fn encrypting_ui(&mut self, ui: &mut Ui, service: &mut AppService) -> bool {
        ui.label(RichText::new(tr!("auth-encrypting-title")).heading());
        ui.label(tr!("auth-encrypting-intro"));
        ui.add_space(8.0);
        match service.poll_encryption() {
            Some(Ok(EncryptionState::Running(step))) => {
                let (fraction, label) = step.map_or(
                    (0.0, crate::store::MigrationProgress::starting_label()),
                    |step| (step.fraction(), step.label()),
                );
                ui.add(egui::ProgressBar::new(fraction).show_percentage());
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(label);
                });
                false
            }
            Some(Ok(EncryptionState::SignedIn)) => {
                self.encrypting = false;
                true
            }
            Some(Err(error)) => {
                self.encrypting = false;
                self.error = Some(app_error_text(&error));
                false
            }
            None => {
                self.encrypting = false;
                false
            }
        }
    }

    fn recovery_ui(&mut self, ui: &mut Ui, service: &mut AppService) -> bool {
        ui.label(RichText::new(tr!("auth-recover-title")).heading());
        ui.label(tr!("auth-recover-intro"));
        ui.add_space(8.0);
        field(ui, &tr!("auth-recovery-key"), &mut self.recovery_key, false);
        field(ui, &tr!("auth-user-name"), &mut self.user_name, false);
        field(ui, &tr!("auth-new-password"), &mut self.new_password, true);
        strength_ui(ui, &self.new_password, &[&self.user_name]);
        field(ui, &tr!("auth-new-password-again"), &mut self.confirm, true);
        error_ui(ui, &self.error);
        let mut done = false;
        ui.horizontal(|ui| {
            if ui.button(tr!("auth-set-new-password")).clicked() {
                match service.recover(
                    &self.recovery_key,
                    &self.user_name,
                    &self.new_password,
                    &self.confirm,
                ) {
                    Ok(()) => done = true,
                    Err(error) => self.error = Some(app_error_text(&error)),
                }
            }
            if ui.button(tr!("auth-back-to-sign-in")).clicked() {
                self.recovering = false;
                self.error = None;
            }
        });
        done
    }

    /// The lock screen: the locked user's password, or another user's sign-in.
    fn locked_ui(&mut self, ui: &mut Ui, service: &mut AppService) -> GateDone {
        let name = service
            .session()
            .map(|s| s.user().full_name.clone())
            .unwrap_or_default();
        ui.label(RichText::new(tr!("auth-locked-title")).heading());
        if self.switching {
            ui.label(tr!("auth-switching", name = name.clone()));
            ui.add_space(8.0);
            if self.user_password_ui(ui, service) {
                return GateDone::Switched;
            }
            if ui.button(tr!("auth-back")).clicked() {
                self.switching = false;
                self.error = None;
            }
            return GateDone::Waiting;
        }
        ui.label(tr!("auth-locked-intro", name = name.clone()));
        ui.add_space(8.0);
        let password = field(ui, &tr!("auth-password"), &mut self.password, true);
        if !password.has_focus() && self.error.is_none() {
            password.request_focus();
        }
        error_ui(ui, &self.error);
        let mut done = GateDone::Waiting;
        ui.horizontal(|ui| {
            if ui.button(tr!("auth-unlock")).clicked() || enter_pressed(ui, &password) {
                match service.unlock(&self.password) {
                    Ok(()) => done = GateDone::Unlocked,
                    Err(error) => {
                        self.password = Zeroizing::new(String::new());
                        self.error = Some(app_error_text(&error));
                    }
                }
            }
            if ui.button(tr!("auth-someone-else")).clicked() {
                self.switching = true;
                self.error = None;
            }
        });
        done
    }
}

/// Choosing a new password.
pub(super) struct PasswordForm {
    forced: bool,
    current: Zeroizing<String>,
    new: Zeroizing<String>,
    confirm: Zeroizing<String>,
    error: Option<String>,
}

impl PasswordForm {
    /// After an administrator set the password: no way round it.
    pub(super) fn forced() -> Self {
        Self {
            forced: true,
            current: Zeroizing::new(String::new()),
            new: Zeroizing::new(String::new()),
            confirm: Zeroizing::new(String::new()),
            error: None,
        }
    }

    /// Asked for from the user menu.
    pub(super) fn voluntary() -> Self {
        Self {
            forced: false,
            ..Self::forced()
        }
    }

    /// True when the password was changed, or the change cancelled.
    fn ui(&mut self, ui: &mut Ui, service: &mut AppService) -> bool {
        ui.label(RichText::new(tr!("auth-new-password-title")).heading());
        if self.forced {
            ui.label(tr!("auth-forced-intro"));
        }
        ui.add_space(8.0);
        let names: Vec<String> = service
            .session()
            .map(|s| vec![s.user().user_name.clone(), s.user().full_name.clone()])
            .unwrap_or_default();
        field(ui, &tr!("auth-current-password"), &mut self.current, true);
        field(ui, &tr!("auth-new-password"), &mut self.new, true);
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        strength_ui(ui, &self.new, &name_refs);
        let confirm = field(ui, &tr!("auth-new-password-again"), &mut self.confirm, true);
        error_ui(ui, &self.error);
        let mut done = false;
        ui.horizontal(|ui| {
            if ui.button(tr!("auth-save-new-password")).clicked() || enter_pressed(ui, &confirm) {
                match service.change_password(&self.current, &self.new, &self.confirm) {
                    Ok(()) => done = true,
                    Err(error) => self.error = Some(app_error_text(&error)),
                }
            }
            if !self.forced && ui.button(tr!("auth-cancel")).clicked() {
                done = true;
            }
        });
        done
    }
}
