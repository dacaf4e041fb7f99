//! The administrator's Audit screen: who did what, when, at which workstation, to whose record,
//! filtered by patient, user, action and date. Entries hold ids; names are looked up here, when
//! they are shown.

use super::command::{Command, Screen, ViewContext};
use super::widgets::{ERROR_TEXT, format_local_time, parse_date, store_error_text};
use crate::model::{AuditAction, AuditEntry, PatientId, UserAccount, UserId};
use crate::store::{AuditFilter, Store};
use egui::{RichText, TextEdit, Ui};
use egui_extras::{Column, TableBuilder};
use std::collections::HashMap;

/// How many entries the screen shows at most (the newest).
const SHOWN: usize = 500;

/// The Audit screen.
pub struct AuditScreen {
    patient_id: Option<PatientId>,
    user_id: Option<UserId>,
    action: Option<AuditAction>,
    from: String,
    until: String,
    users: Vec<UserAccount>,
    entries: Result<Vec<AuditEntry>, String>,
    /// Patient numbers and names by id, read once per reload.
    patients: HashMap<PatientId, String>,
}

impl AuditScreen {
    /// The screen, about one patient if given.
    pub fn open(store: &Store, patient_id: Option<PatientId>) -> Self {
        let mut screen = Self {
            patient_id,
            user_id: None,
            action: None,
            from: String::new(),
            until: String::new(),
            users: store.users().unwrap_or_default(),
            entries: Ok(Vec::new()),
            patients: HashMap::new(),
        };
        screen.reload(store);
        screen
    }

    fn filter(&self) -> Result<AuditFilter, String> {
        let day_start = |text: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
            Ok(parse_date(text)?
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
                .map(|t| t.with_timezone(&chrono::Utc)))
        };
        Ok(AuditFilter {
            patient_id: self.patient_id,
            user_id: self.user_id,
            action: self.action,
            from: day_start(&self.from)?,
            // "Until" includes the whole day.
            until: day_start(&self.until)?.map(|t| t + chrono::Duration::days(1)),
            limit: SHOWN,
        })
    }

    fn reload(&mut self, store: &Store) {
        self.entries = self.filter().and_then(|filter| {
            store
                .audit_entries(&filter)
                .map_err(|e| store_error_text(&e))
        });
        self.patients.clear();
        if let Ok(entries) = &self.entries {
            for patient_id in entries.iter().filter_map(|e| e.event.patient_id) {
                if self.patients.contains_key(&patient_id) {
                    continue;
                }
                let label = match store.patient(patient_id) {
                    Ok(p) => format!(
                        "{} {}",
                        p.number.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                        p.display_name()
                    ),
                    Err(_) => "(not on this workstation)".to_owned(),
                };
                self.patients.insert(patient_id, label);
            }
        }
    }

    fn user_name(&self, user_id: Option<UserId>) -> String {
        match user_id {
            None => "—".to_owned(),
            Some(id) => self
                .users
                .iter()
                .find(|u| u.user_id == id)
                .map(|u| u.full_name.clone())
                .unwrap_or_else(|| format!("user {}", short(&id.to_string()))),
        }
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        ui.label(RichText::new("Audit trail").heading().strong());
        let mut changed = false;
        ui.horizontal_wrapped(|ui| {
            if let Some(patient_id) = self.patient_id {
                let label = self
                    .patients
                    .get(&patient_id)
                    .cloned()
                    .or_else(|| cx.store.patient(patient_id).ok().map(|p| p.display_name()))
                    .unwrap_or_default();
                ui.label(format!("Who opened or changed the record of {label}"));
                if ui.button("All patients").clicked() {
                    self.patient_id = None;
                    changed = true;
                }
                ui.separator();
            }
            let label = ui.label("User");
            egui::ComboBox::from_id_salt("audit_user")
                .selected_text(match self.user_id {
                    None => "Anyone".to_owned(),
                    some => self.user_name(some),
                })
                .show_ui(ui, |ui| {
                    changed |=
                        super::widgets::pick(ui, &mut self.user_id, None, "Anyone").changed();
                    for user in &self.users {
                        changed |= super::widgets::pick(
                            ui,
                            &mut self.user_id,
                            Some(user.user_id),
                            &user.full_name,
                        )
                        .changed();
                    }
                })
                .response
                .labelled_by(label.id);
            let label = ui.label("Action");
            egui::ComboBox::from_id_salt("audit_action")
                .selected_text(self.action.map_or("Any", |a| action_label(a)))
                .show_ui(ui, |ui| {
                    changed |= super::widgets::pick(ui, &mut self.action, None, "Any").changed();
                    for action in AuditAction::ALL {
                        changed |= super::widgets::pick(
                            ui,
                            &mut self.action,
                            Some(action),
                            action_label(action),
                        )
                        .changed();
                    }
                })
                .response
                .labelled_by(label.id);
            for (text, label) in [(&mut self.from, "From"), (&mut self.until, "Until")] {
                let label = ui.label(label);
                let response = ui
                    .add(
                        TextEdit::singleline(text)
                            .hint_text("DD/MM/YYYY")
                            .desired_width(100.0),
                    )
                    .labelled_by(label.id);
                changed |= response.lost_focus();
            }
        });
        if changed {
            self.reload(cx.store);
        }
        let entries = match &self.entries {
            Ok(entries) => entries,
            Err(error) => {
                ui.label(RichText::new(error).color(ERROR_TEXT));
                return;
            }
        };
        ui.label(
            RichText::new(if entries.len() >= SHOWN {
                format!("The newest {SHOWN} entries; narrow the filters to see older ones.")
            } else {
                format!("{} entries.", entries.len())
            })
            .weak(),
        );
        let mut open_patient = None;
        TableBuilder::new(ui)
            .striped(true)
            .column(Column::exact(140.0))
            .column(Column::exact(200.0))
            .column(Column::exact(170.0))
            .column(Column::remainder().at_least(200.0))
            .column(Column::exact(110.0))
            .header(22.0, |mut header| {
                for title in ["Time", "User", "Action", "Patient", "Workstation"] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(22.0, entries.len(), |mut row| {
                    let Some(entry) = entries.get(row.index()) else {
                        return;
                    };
                    row.col(|ui| {
                        ui.label(format_local_time(entry.at));
                    });
                    row.col(|ui| {
                        ui.label(self.user_name(entry.event.user_id));
                    });
                    row.col(|ui| {
                        ui.label(action_label(entry.event.action));
                    });
                    row.col(|ui| {
                        if let Some(patient_id) = entry.event.patient_id {
                            let text = self.patients.get(&patient_id).cloned().unwrap_or_default();
                            if ui.link(text).clicked() {
                                open_patient = Some(patient_id);
                            }
                        }
                    });
                    row.col(|ui| {
                        ui.label(RichText::new(short(&entry.node_id.0)).monospace());
                    });
                });
            });
        if let Some(patient_id) = open_patient {
            cx.send(Command::Open(Screen::Audit {
                patient_id: Some(patient_id),
            }));
        }
    }
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// An action as the screen names it.
pub fn action_label(action: AuditAction) -> &'static str {
    match action {
        AuditAction::Login => "Signed in",
        AuditAction::LoginFailed => "Sign-in refused",
        AuditAction::Lock => "Locked the screen",
        AuditAction::SignOut => "Signed out",
        AuditAction::ChartOpened => "Opened the chart",
        AuditAction::ImagesViewed => "Viewed images",
        AuditAction::RecordCreated => "Created a record",
        AuditAction::RecordChanged => "Changed a record",
        AuditAction::VisitSigned => "Signed a visit",
        AuditAction::VisitAmended => "Amended a visit",
        AuditAction::VisitVoided => "Voided a visit",
        AuditAction::Export => "Exported records",
        AuditAction::Print => "Printed",
        AuditAction::UserCreated => "Created a user",
        AuditAction::UserChanged => "Changed a user",
        AuditAction::PasswordChanged => "Changed their password",
        AuditAction::PasswordReset => "Reset a password",
        AuditAction::SettingChanged => "Changed a setting",
        AuditAction::Sync => "Synced",
        AuditAction::OpenedFromDistrict => "Opened from the district server",
        AuditAction::DraftTakenOver => "Took over a draft visit",
        AuditAction::StoreCompacted => "Compacted the records' history",
        AuditAction::ReferralIssued => "Issued a referral letter",
        AuditAction::AllergyAlertOverridden => "Prescribed despite an allergy alert",
        AuditAction::PatientsMerged => "Merged two records of one patient",
        AuditAction::MergeUndone => "Undid a merge of two records",
    }
}
