//! The administrator's Users screen: the clinic's users with their roles, adding a user with a
//! first password, changing roles, disabling and enabling, resetting a password, the idle
//! lock time, the daily backup and the clinic's letterhead.

use super::command::{Command, ViewContext};
use super::widgets::{ERROR_TEXT, app_error_text, store_error_text};
use crate::app::{AppError, Command as AppCommand, DEFAULT_AUTO_LOCK_MINUTES};
use crate::model::{PasswordStrength, Role, Roles, UserAccount, UserId, password_strength};
use crate::store::Store;
use egui::{RichText, TextEdit, Ui};

/// The Users screen.
pub struct UsersScreen {
    users: Result<Vec<UserAccount>, String>,
    new_user: NewUser,
    /// The user whose password is being reset, with the temporary password typed.
    reset: Option<(UserId, String)>,
    /// The user about to be disabled (asked first).
    confirm_disable: Option<UserId>,
    auto_lock: String,
    /// The daily backup's folder (empty: none) and how many to keep, as typed.
    backup_folder: String,
    backup_keep: String,
    /// The system's folder picker, open on its own thread.
    folder_picker: Option<std::sync::mpsc::Receiver<Option<std::path::PathBuf>>>,
    /// Taking the clinic's key: a clinic user's name and password.
    clinic_user: String,
    clinic_password: String,
    letterhead: LetterheadForm,
    error: Option<String>,
    message: Option<String>,
}

/// The letterhead as typed, and what becomes of its logo.
#[derive(Default)]
struct LetterheadForm {
    clinic_name: String,
    address: String,
    phone: String,
    /// Whether the stored letterhead has a logo.
    has_logo: bool,
    /// The change to the logo, with the name of a file chosen.
    logo: Option<(crate::app::LogoChange, String)>,
    /// The system's file picker, open on its own thread: the file's name and bytes, or why it
    /// could not be read.
    picker: Option<std::sync::mpsc::Receiver<Option<Result<LogoFile, String>>>>,
}

/// A logo file as picked: its name and bytes.
type LogoFile = (String, Vec<u8>);

/// The largest logo file read.
const MAX_LOGO_FILE: u64 = 20 * 1024 * 1024;

impl LetterheadForm {
    fn read(store: &Store) -> Self {
        match store.letterhead() {
            Ok(Some(set)) => Self {
                clinic_name: set.clinic_name,
                address: set.address,
                phone: set.phone,
                has_logo: !set.logo_png.is_empty(),
                ..Self::default()
            },
            _ => Self {
                clinic_name: crate::sync::engine::clinic_name(store)
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
                ..Self::default()
            },
        }
    }
}

#[derive(Default)]
struct NewUser {
    full_name: String,
    user_name: String,
    password: String,
    roles: [bool; 4],
}

impl UsersScreen {
    /// The screen, with the users as stored.
    pub fn open(
        store: &Store,
        auto_lock_minutes: u32,
        backup: Option<&crate::app::BackupSchedule>,
    ) -> Self {
        Self {
            backup_folder: backup
                .map(|b| b.folder.display().to_string())
                .unwrap_or_default(),
            backup_keep: backup
                .map_or(crate::app::DEFAULT_BACKUP_KEEP, |b| b.keep)
                .to_string(),
            folder_picker: None,
            users: store.users().map_err(|e| store_error_text(&e)),
            new_user: NewUser::default(),
            reset: None,
            confirm_disable: None,
            auto_lock: auto_lock_minutes.to_string(),
            clinic_user: String::new(),
            clinic_password: String::new(),
            letterhead: LetterheadForm::read(store),
            error: None,
            message: None,
        }
    }

    /// A change was saved: read the users again.
    pub fn changed(&mut self, store: &Store) {
        self.users = store.users().map_err(|e| store_error_text(&e));
        self.error = None;
        self.message = Some("Saved.".to_owned());
        self.reset = None;
        self.confirm_disable = None;
        self.new_user = NewUser::default();
        self.letterhead = LetterheadForm::read(store);
    }

    /// A change was refused.
    pub fn action_failed(&mut self, error: &AppError) {
        self.message = None;
        self.error = Some(match error {
            AppError::Store(crate::store::StoreError::Invalid(validation)) => validation.summary(),
            other => app_error_text(other),
        });
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        ui.label(RichText::new("Users").heading().strong());
        ui.label("Users created here can sign in at every workstation of the clinic after its next sync.");
        ui.add_space(6.0);
        if let Some(error) = &self.error {
            ui.label(RichText::new(error).color(ERROR_TEXT));
        } else if let Some(message) = &self.message {
            ui.label(message);
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            match &self.users {
                Ok(users) => {
                    let users = users.clone();
                    for user in &users {
                        self.user_row_ui(ui, cx, user);
                        ui.separator();
                    }
                }
                Err(error) => {
                    ui.label(RichText::new(error).color(ERROR_TEXT));
                }
            }
            ui.add_space(8.0);
            self.new_user_ui(ui, cx);
            ui.add_space(12.0);
            self.settings_ui(ui, cx);
            ui.add_space(8.0);
            self.letterhead_ui(ui, cx);
            ui.add_space(8.0);
            self.clinic_key_ui(ui, cx);
        });
    }

    fn user_row_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>, user: &UserAccount) {
        ui.horizontal(|ui| {
            let name = RichText::new(&user.full_name).strong();
            ui.label(if user.disabled {
                name.strikethrough()
            } else {
                name
            });
            ui.label(RichText::new(format!("({})", user.user_name)).weak());
            if user.disabled {
                ui.label(RichText::new("Disabled").color(ERROR_TEXT));
            } else if user.must_change_password {
                ui.label(RichText::new("Must choose a new password").weak());
            }
        });
        ui.horizontal(|ui| {
            let mut roles: Vec<Role> = user.roles.iter().collect();
            let before = roles.clone();
            for role in Role::ALL {
                let mut held = roles.contains(&role);
                if ui
                    .checkbox(&mut held, format!("{} ({})", role.label(), user.user_name))
                    .changed()
                {
                    if held {
                        roles.push(role);
                    } else {
                        roles.retain(|r| *r != role);
                    }
                }
            }
            if roles != before {
                cx.send(Command::change(AppCommand::SetUserRoles {
                    user_id: user.user_id,
                    roles: Roles::of(&roles),
                }));
            }
        });
        ui.horizontal(|ui| {
            if user.disabled {
                if ui.button(format!("Enable {}", user.user_name)).clicked() {
                    cx.send(Command::change(AppCommand::SetUserDisabled {
                        user_id: user.user_id,
                        disabled: false,
                    }));
                }
            } else if self.confirm_disable == Some(user.user_id) {
                ui.label(format!(
                    "Disable {}? They can no longer sign in anywhere after each workstation's next sync.",
                    user.full_name
                ));
                if ui.button("Disable").clicked() {
                    cx.send(Command::change(AppCommand::SetUserDisabled {
                        user_id: user.user_id,
                        disabled: true,
                    }));
                }
                if ui.button("Keep").clicked() {
                    self.confirm_disable = None;
                }
            } else if ui.button(format!("Disable {}", user.user_name)).clicked() {
                self.confirm_disable = Some(user.user_id);
            }
            match &mut self.reset {
                Some((user_id, password)) if *user_id == user.user_id => {
                    let label = ui.label("Temporary password");
                    ui.add(
                        TextEdit::singleline(password)
                            .password(true)
                            .desired_width(180.0),
                    )
                    .labelled_by(label.id);
                    if ui.button("Set password").clicked() {
                        cx.send(Command::change(AppCommand::ResetPassword {
                            user_id: user.user_id,
                            password: password.clone(),
                        }));
                    }
                    if ui.button("Cancel").clicked() {
                        self.reset = None;
                    }
                }
                _ => {
                    if ui
                        .button(format!("Reset password of {}", user.user_name))
                        .clicked()
                    {
                        self.reset = Some((user.user_id, String::new()));
                    }
                }
            }
        });
    }

    fn new_user_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        ui.label(RichText::new("Add a user").strong());
        let form = &mut self.new_user;
        egui::Grid::new("new_user_grid")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                let label = ui.label("Full name");
                ui.add(TextEdit::singleline(&mut form.full_name).desired_width(260.0))
                    .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("New user name");
                ui.add(TextEdit::singleline(&mut form.user_name).desired_width(260.0))
                    .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("First password");
                ui.add(
                    TextEdit::singleline(&mut form.password)
                        .password(true)
                        .desired_width(260.0),
                )
                .labelled_by(label.id);
                ui.end_row();
            });
        if !form.password.is_empty() {
            let strength = password_strength(&form.password, &[&form.user_name, &form.full_name]);
            let hint = RichText::new(strength.hint()).small();
            ui.label(if strength <= PasswordStrength::Weak {
                hint.color(ERROR_TEXT)
            } else {
                hint
            });
        }
        ui.horizontal(|ui| {
            for (held, role) in form.roles.iter_mut().zip(Role::ALL) {
                ui.checkbox(held, role.label());
            }
        });
        ui.label(
            RichText::new("The user chooses their own password when they first sign in.")
                .small()
                .weak(),
        );
        if ui.button("Add user").clicked() {
            let roles: Vec<Role> = form
                .roles
                .iter()
                .zip(Role::ALL)
                .filter(|(held, _)| **held)
                .map(|(_, role)| role)
                .collect();
            cx.send(Command::change(AppCommand::CreateUser {
                user_name: form.user_name.clone(),
                full_name: form.full_name.clone(),
                roles: Roles::of(&roles),
                password: form.password.clone(),
            }));
        }
    }

    /// Taking the clinic's key: for a workstation used before it was connected to the clinic's
    /// server, whose records are still under a key of its own.
    fn clinic_key_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        egui::CollapsingHeader::new("The clinic's key").show(ui, |ui| {
            ui.label(
                "A workstation used before it was connected to the clinic's server encrypts its \
                 records with a key of its own, which the clinic's users cannot open. One of the \
                 clinic's users types their password here once; the records and images are then \
                 encrypted again with the clinic's key. This workstation's users keep their \
                 passwords.",
            );
            let name = ui.label("Clinic user name");
            ui.add(TextEdit::singleline(&mut self.clinic_user).desired_width(220.0))
                .labelled_by(name.id);
            let password = ui.label("Their password");
            ui.add(
                TextEdit::singleline(&mut self.clinic_password)
                    .password(true)
                    .desired_width(220.0),
            )
            .labelled_by(password.id);
            if ui.button("Take the clinic's key").clicked() {
                cx.send(Command::change(AppCommand::AdoptClinicKey {
                    user_name: self.clinic_user.trim().to_owned(),
                    password: std::mem::take(&mut self.clinic_password),
                }));
            }
        });
    }

    fn settings_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        ui.label(RichText::new("Settings").strong());
        ui.horizontal(|ui| {
            let label = ui.label("Lock the screen after this many idle minutes");
            ui.add(TextEdit::singleline(&mut self.auto_lock).desired_width(60.0))
                .labelled_by(label.id);
            if ui.button("Save").clicked() {
                match self.auto_lock.trim().parse::<u32>() {
                    Ok(minutes) if (1..=24 * 60).contains(&minutes) => {
                        cx.send(Command::change(AppCommand::SetAutoLockMinutes(minutes)));
                    }
                    _ => {
                        self.error = Some(format!(
                            "Enter a number of minutes from 1 to 1440 (the default is {DEFAULT_AUTO_LOCK_MINUTES})."
                        ));
                    }
                }
            }
        });
        ui.add_space(6.0);
        ui.label(RichText::new("Daily backup").strong());
        ui.label(
            RichText::new(
                "Once a day, while someone is signed in, a backup is written into a new folder \
                 here (a USB drive or a network folder); the newest are kept, older ones removed.",
            )
            .weak(),
        );
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Backup folder");
            ui.add(TextEdit::singleline(&mut self.backup_folder).desired_width(280.0))
                .labelled_by(label.id);
            if let Some(picked) = self.folder_picker.as_ref().and_then(|p| p.try_recv().ok()) {
                self.folder_picker = None;
                if let Some(folder) = picked {
                    self.backup_folder = folder.display().to_string();
                }
            }
            let picking = self.folder_picker.is_some();
            if ui
                .add_enabled(!picking, egui::Button::new("Choose…"))
                .clicked()
            {
                // The system's picker blocks its thread, so it gets one of its own.
                let (tx, rx) = std::sync::mpsc::channel();
                let wake = ui.ctx().clone();
                let spawned = std::thread::Builder::new()
                    .name("folder-picker".to_owned())
                    .spawn(move || {
                        let picked = rfd::FileDialog::new()
                            .set_title("Folder for the daily backup")
                            .pick_folder();
                        let _ = tx.send(picked);
                        wake.request_repaint();
                    });
                match spawned {
                    Ok(_) => self.folder_picker = Some(rx),
                    Err(e) => self.error = Some(format!("The folder picker cannot open: {e}")),
                }
            }
            let label = ui.label("Backups kept");
            ui.add(TextEdit::singleline(&mut self.backup_keep).desired_width(40.0))
                .labelled_by(label.id);
            if ui.button("Save backup settings").clicked() {
                let folder = self.backup_folder.trim();
                let max = crate::app::MAX_BACKUP_KEEP;
                match self.backup_keep.trim().parse::<u32>() {
                    _ if folder.is_empty() => {
                        cx.send(Command::change(AppCommand::SetBackupSchedule(None)));
                    }
                    Ok(keep) if (1..=max).contains(&keep) => {
                        cx.send(Command::change(AppCommand::SetBackupSchedule(Some(
                            crate::app::BackupSchedule {
                                folder: std::path::PathBuf::from(folder),
                                keep,
                            },
                        ))));
                    }
                    _ => {
                        self.error =
                            Some(format!("Enter how many backups to keep, from 1 to {max}."));
                    }
                }
            }
        });
    }

    /// The clinic's letterhead: what heads every printed document, at every workstation of the
    /// clinic once it syncs.
    fn letterhead_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let form = &mut self.letterhead;
        ui.label(RichText::new("Clinic letterhead").strong());
        ui.label(
            RichText::new(
                "Heads every prescription, summary, letter and note this clinic prints, at each \
                 of its workstations after their next sync.",
            )
            .weak(),
        );
        egui::Grid::new("letterhead_grid")
            .num_columns(2)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                for (label, text, hint) in [
                    (
                        "Clinic name",
                        &mut form.clinic_name,
                        "Kibera Community Clinic",
                    ),
                    ("Address", &mut form.address, "PO Box 123, Kibera"),
                    ("Phone", &mut form.phone, "+254 700 000000"),
                ] {
                    let label = ui.label(label);
                    ui.add(
                        TextEdit::singleline(text)
                            .hint_text(hint)
                            .desired_width(320.0),
                    )
                    .labelled_by(label.id);
                    ui.end_row();
                }
            });
        if let Some(picked) = form.picker.as_ref().and_then(|p| p.try_recv().ok()) {
            form.picker = None;
            match picked {
                Some(Ok((name, bytes))) => {
                    form.logo = Some((crate::app::LogoChange::Set(bytes), name));
                }
                Some(Err(why)) => self.error = Some(why),
                None => {}
            }
        }
        ui.horizontal_wrapped(|ui| {
            let state = match &form.logo {
                Some((crate::app::LogoChange::Set(_), name)) => {
                    format!("Logo: {name} (not saved yet)")
                }
                Some((crate::app::LogoChange::Remove, _)) => "Logo: removed (not saved yet)".into(),
                _ if form.has_logo => "Logo: set".into(),
                _ => "Logo: none".into(),
            };
            ui.label(state);
            if ui
                .add_enabled(form.picker.is_none(), egui::Button::new("Choose logo…"))
                .on_hover_text("A PNG or JPEG image; it is made small enough to sync")
                .clicked()
            {
                let (tx, rx) = std::sync::mpsc::channel();
                let wake = ui.ctx().clone();
                let spawned = std::thread::Builder::new()
                    .name("logo-picker".to_owned())
                    .spawn(move || {
                        let picked = rfd::FileDialog::new()
                            .set_title("Clinic logo")
                            .add_filter("PNG or JPEG", &["png", "jpg", "jpeg"])
                            .pick_file()
                            .map(|path| read_logo_file(&path));
                        let _ = tx.send(picked);
                        wake.request_repaint();
                    });
                match spawned {
                    Ok(_) => form.picker = Some(rx),
                    Err(e) => self.error = Some(format!("The file picker cannot open: {e}")),
                }
            }
            if (form.has_logo || matches!(form.logo, Some((crate::app::LogoChange::Set(_), _))))
                && ui.button("Remove logo").clicked()
            {
                form.logo = Some((crate::app::LogoChange::Remove, String::new()));
            }
        });
        if ui.button("Save letterhead").clicked() {
            let logo = form
                .logo
                .as_ref()
                .map_or(crate::app::LogoChange::Keep, |(change, _)| change.clone());
            cx.send(Command::change(AppCommand::SaveLetterhead {
                clinic_name: form.clinic_name.trim().to_owned(),
                address: form.address.trim().to_owned(),
                phone: form.phone.trim().to_owned(),
                logo,
            }));
        }
    }
}

/// A logo file's name and bytes, or why it cannot be read.
fn read_logo_file(path: &std::path::Path) -> Result<LogoFile, String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{name} cannot be read: {e}"))?
        .len();
    if size > MAX_LOGO_FILE {
        return Err(format!("{name} is too large for a logo (at most 20 MB)."));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{name} cannot be read: {e}"))?;
    Ok((name, bytes))
}
