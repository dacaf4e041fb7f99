//! Registering a patient and correcting their details.
//!
//! A registration is often done at a busy desk, so every field says at once what is wrong with
//! it ("There is no 31 February 2000."), Save is possible only when the record is valid, a failed
//! save keeps everything typed, and leaving with unsaved changes asks first. A date of birth is
//! either exact or estimated from a stated age ("about 40"), as many patients do not know theirs.

use super::command::{Command, Screen, ViewContext};
use super::widgets::{date_input_ui, error_label, parse_date};
use crate::app::Command as AppCommand;
use crate::model::{ClinicId, DateOfBirth, Patient, PatientId, Sex, Validation, age_on};
use chrono::{Datelike, NaiveDate};
use egui::{RichText, TextEdit, Ui};

/// How the date of birth is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BirthMode {
    /// A known date.
    Exact,
    /// Estimated from the age the patient states.
    Estimated,
}

/// Everything the form holds, compared with the saved state to know whether anything changed.
#[derive(Clone, Debug, PartialEq)]
struct Form {
    patient: Patient,
    birth_mode: BirthMode,
    birth_text: String,
    age_text: String,
}

/// The patient editor screen, for a new patient or a registered one.
pub struct PatientEditor {
    form: Form,
    saved: Form,
    is_new: bool,
    save_error: Option<String>,
    /// Put the cursor in the first field on the first frame.
    focus_first: bool,
    /// Patients already registered who are likely this one, for the record as last looked up.
    duplicates: Vec<crate::store::DuplicateCandidate>,
    looked_up: Option<Patient>,
}

impl PatientEditor {
    /// An empty registration form.
    pub fn new_patient(clinic_id: ClinicId) -> Self {
        let form = Form {
            patient: Patient::blank(clinic_id),
            birth_mode: BirthMode::Exact,
            birth_text: String::new(),
            age_text: String::new(),
        };
        Self {
            saved: form.clone(),
            form,
            is_new: true,
            save_error: None,
            focus_first: true,
            duplicates: Vec::new(),
            looked_up: None,
        }
    }

    /// The form for a registered patient's details.
    pub fn edit(patient: Patient, today: NaiveDate) -> Self {
        let (birth_mode, birth_text, age_text) = match patient.birth {
            Some(birth) if birth.estimated => (
                BirthMode::Estimated,
                String::new(),
                age_on(birth.date, today)
                    .map(|(years, _, _)| years.to_string())
                    .unwrap_or_default(),
            ),
            Some(birth) => (
                BirthMode::Exact,
                birth.date.format("%Y-%m-%d").to_string(),
                String::new(),
            ),
            None => (BirthMode::Exact, String::new(), String::new()),
        };
        let form = Form {
            patient,
            birth_mode,
            birth_text,
            age_text,
        };
        Self {
            saved: form.clone(),
            form,
            is_new: false,
            save_error: None,
            focus_first: true,
            duplicates: Vec::new(),
            looked_up: None,
        }
    }

    /// The patient being edited (a new id for a registration).
    pub fn patient_id(&self) -> PatientId {
        self.form.patient.patient_id
    }

    /// True when something was typed that is not saved.
    pub fn has_unsaved_changes(&self) -> bool {
        self.form != self.saved
    }

    /// The store refused the record: say why and keep everything typed.
    pub fn save_failed(&mut self, error: &crate::app::AppError) {
        self.save_error = Some(format!(
            "The patient was not saved: {}",
            super::widgets::app_error_text(error)
        ));
    }

    /// Where Back and Cancel go.
    fn back_target(&self) -> Screen {
        if self.is_new {
            Screen::PatientList
        } else {
            Screen::Chart(self.form.patient.patient_id)
        }
    }

    /// The record as it would be saved on `today`, and everything wrong with it (including dates
    /// that cannot be read).
    fn build(&self, today: NaiveDate) -> (Patient, Validation) {
        let mut problems = Validation::default();
        let mut patient = self.form.patient.clone();
        match self.form.birth_mode {
            BirthMode::Exact => match parse_date(&self.form.birth_text) {
                Ok(date) => patient.birth = date.map(DateOfBirth::exact),
                Err(message) => {
                    patient.birth = None;
                    problems.push("birth", message);
                }
            },
            BirthMode::Estimated => {
                let text = self.form.age_text.trim();
                patient.birth = None;
                if text == self.saved.age_text.trim()
                    && self.saved.birth_mode == BirthMode::Estimated
                    && !text.is_empty()
                {
                    // Unchanged: keep the stored estimate rather than re-estimating it today.
                    patient.birth = self.saved.patient.birth;
                } else if !text.is_empty() {
                    match text.parse::<u32>() {
                        Ok(years) if years <= 130 => {
                            patient.birth = DateOfBirth::estimated_from_age(years, today);
                        }
                        Ok(_) => problems.push("birth", "An age above 130 years is not possible."),
                        Err(_) => problems.push("birth", "Enter the age in whole years, e.g. 40."),
                    }
                }
            }
        }
        problems.errors.extend(patient.validate(today).errors);
        (patient, problems)
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let (patient, validation) = self.build(cx.today);
        let touched = self.has_unsaved_changes();
        let message = |field: &str| -> Option<String> {
            // "Enter a name" before anything was typed would only nag.
            if field == "name" && !touched {
                return None;
            }
            validation.message_for(field).map(str::to_owned)
        };

        let title = if self.is_new {
            "New patient".to_owned()
        } else {
            match &self.form.patient.number {
                Some(number) => format!("Edit patient {number}"),
                None => "Edit patient".to_owned(),
            }
        };
        ui.label(RichText::new(title).heading().strong());
        ui.add_space(8.0);

        // Before a registration is saved, the patients already here who are likely the same
        // person, looked up again as the clerk types.
        if self.is_new && self.looked_up.as_ref() != Some(&patient) {
            // A failed look-up only means no warning; registering goes on.
            self.duplicates = cx.store.likely_duplicates(&patient, 5).unwrap_or_default();
            self.looked_up = Some(patient.clone());
        }
        egui::ScrollArea::vertical()
            .id_salt("patient_editor")
            .auto_shrink([false, true])
            .max_height((ui.available_height() - 60.0).max(120.0))
            .show(ui, |ui| {
                // On a wide screen the likely duplicates stand beside the form, where the clerk
                // looks; on a narrow one under it (inside the scrolled part, so Save stays in
                // sight).
                let beside = ui.available_width() >= 1200.0;
                ui.horizontal_top(|ui| {
                    ui.vertical(|ui| {
                        egui::Frame::new()
                            .fill(super::widgets::SECTION_FILL)
                            .stroke((1.0, super::widgets::SECTION_STROKE))
                            .corner_radius(6)
                            .inner_margin(14)
                            .show(ui, |ui| {
                                self.form_ui(ui, cx.today, &message);
                            });
                        if !beside && !self.duplicates.is_empty() {
                            ui.add_space(8.0);
                            self.duplicates_ui(ui, cx);
                        }
                    });
                    if beside && !self.duplicates.is_empty() {
                        ui.add_space(8.0);
                        ui.vertical(|ui| self.duplicates_ui(ui, cx));
                    }
                });
            });

        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let valid = validation.is_valid();
            let save_label = if self.duplicates.is_empty() {
                "Save patient"
            } else {
                "Save as a new patient"
            };
            let save = ui
                .add_enabled(valid, egui::Button::new(RichText::new(save_label).strong()))
                .on_disabled_hover_text("Correct the marked fields first");
            if save.clicked() && valid {
                self.save_error = None;
                cx.send(if self.is_new {
                    Command::change(AppCommand::RegisterPatient(patient))
                } else {
                    Command::change(AppCommand::SavePatient(patient))
                });
            }
            if ui.button("Cancel").clicked() {
                cx.send(Command::Open(self.back_target()));
            }
            if !valid && touched {
                ui.label(RichText::new("Correct the marked fields to save.").weak());
            }
        });
        error_label(ui, self.save_error.as_deref());
    }

    /// The likely duplicates of the registration being typed, each with why and a way to its
    /// chart.
    fn duplicates_ui(&self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        egui::Frame::new()
            .fill(super::widgets::WARNING_FILL)
            .stroke((1.0, super::widgets::WARNING_TEXT))
            .corner_radius(6)
            .inner_margin(10)
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.label(
                    RichText::new("⚠ This may be a patient already registered")
                        .color(super::widgets::WARNING_TEXT)
                        .strong(),
                );
                ui.label("Open their chart instead if it is the same person.");
                ui.add_space(4.0);
                for candidate in &self.duplicates {
                    let p = &candidate.patient;
                    let number = super::widgets::patient_number(p);
                    let born = super::widgets::born_text(p);
                    ui.separator();
                    ui.horizontal(|ui| {
                        if ui.button(format!("Open chart of {number}")).clicked() {
                            cx.send(Command::Open(Screen::Chart(p.patient_id)));
                        }
                        ui.vertical(|ui| {
                            ui.label(
                                RichText::new(format!("{number}  {}", p.display_name())).strong(),
                            );
                            ui.label(format!(
                                "born {born} · {} · {}",
                                p.village.trim(),
                                p.phone.trim()
                            ));
                            ui.label(RichText::new(candidate.likeness.reasons.join(", ")).weak());
                        });
                    });
                }
            });
    }

    /// The fields, each with its message beside it.
    fn form_ui(&mut self, ui: &mut Ui, today: NaiveDate, message: &dyn Fn(&str) -> Option<String>) {
        let form = &mut self.form;
        let focus_first = &mut self.focus_first;
        egui::Grid::new("patient_form")
            .num_columns(3)
            .spacing([12.0, 8.0])
            .min_col_width(120.0)
            .show(ui, |ui| {
                let field = |ui: &mut Ui, label: &str, text: &mut String, hint: &str| {
                    let label = ui.label(label);
                    ui.add(
                        TextEdit::singleline(text)
                            .hint_text(hint)
                            .desired_width(320.0)
                            .min_size(egui::vec2(320.0, 0.0)),
                    )
                    .labelled_by(label.id)
                };

                let given = field(ui, "Given name", &mut form.patient.given_name, "");
                if std::mem::take(focus_first) {
                    given.request_focus();
                }
                error_label(
                    ui,
                    message("given_name").or_else(|| message("name")).as_deref(),
                );
                ui.end_row();

                field(ui, "Family name", &mut form.patient.family_name, "");
                error_label(ui, message("family_name").as_deref());
                ui.end_row();

                field(
                    ui,
                    "Name in another script",
                    &mut form.patient.other_script_name,
                    "e.g. Arabic, Devanagari, Cyrillic",
                );
                error_label(ui, message("other_script_name").as_deref());
                ui.end_row();

                let label = ui.label("Sex");
                egui::ComboBox::from_id_salt("patient_sex")
                    .selected_text(form.patient.sex.label())
                    .show_ui(ui, |ui| {
                        for sex in Sex::ALL {
                            super::widgets::pick(ui, &mut form.patient.sex, sex, sex.label());
                        }
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();

                ui.label("Birth date is");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut form.birth_mode, BirthMode::Exact, "Exact date");
                    ui.radio_value(
                        &mut form.birth_mode,
                        BirthMode::Estimated,
                        "Estimated from age",
                    );
                });
                ui.end_row();

                match form.birth_mode {
                    BirthMode::Exact => {
                        let label = ui.label("Date of birth");
                        date_input_ui(
                            ui,
                            label.id,
                            "birth_date_picker",
                            &mut form.birth_text,
                            today,
                            1890..=i16::try_from(today.year()).unwrap_or(i16::MAX),
                        );
                    }
                    BirthMode::Estimated => {
                        let label = ui.label("Age in years");
                        ui.horizontal(|ui| {
                            ui.add(
                                TextEdit::singleline(&mut form.age_text)
                                    .hint_text("e.g. 40")
                                    .desired_width(80.0)
                                    .min_size(egui::vec2(80.0, 0.0)),
                            )
                            .labelled_by(label.id);
                            if let Ok(years) = form.age_text.trim().parse::<u32>()
                                && let Some(birth) = DateOfBirth::estimated_from_age(years, today)
                            {
                                ui.label(
                                    RichText::new(format!("born about {}", birth.date.year()))
                                        .weak(),
                                );
                            }
                        });
                    }
                }
                error_label(ui, message("birth").as_deref());
                ui.end_row();

                field(
                    ui,
                    "Phone",
                    &mut form.patient.phone,
                    "e.g. +254 712 345 678",
                );
                error_label(ui, message("phone").as_deref());
                ui.end_row();

                field(ui, "Village / address", &mut form.patient.village, "");
                error_label(ui, message("village").as_deref());
                ui.end_row();

                field(ui, "National ID", &mut form.patient.national_id, "");
                error_label(ui, message("national_id").as_deref());
                ui.end_row();

                field(
                    ui,
                    "Next of kin",
                    &mut form.patient.next_of_kin.name,
                    "Name",
                );
                ui.label("");
                ui.end_row();

                field(
                    ui,
                    "Next of kin phone",
                    &mut form.patient.next_of_kin.phone,
                    "",
                );
                error_label(ui, message("kin_phone").as_deref());
                ui.end_row();

                let label = ui.label("Notes");
                ui.add(
                    TextEdit::multiline(&mut form.patient.notes)
                        .desired_rows(3)
                        .desired_width(320.0)
                        .min_size(egui::vec2(320.0, 0.0)),
                )
                .labelled_by(label.id);
                error_label(ui, message("notes").as_deref());
                ui.end_row();
            });
    }
}
