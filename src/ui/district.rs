//! "Find at the district server": looking up a patient registered at another clinic, and opening
//! their record here with a reason.
//!
//! A clinic's workstation holds its own patients only. When a search finds nobody, the clerk or
//! clinician may ask the district server — by the number on the patient's card, their national
//! id, or family name with year of birth (a name alone would find too many people) — and open the
//! patient found, saying why: referred, an emergency, or the patient moved here. The server logs
//! the lookup and the reason; from then on the record syncs to this clinic too. The dialog only
//! collects what the person chose: the window asks the app service whether the user may do it and
//! the sync thread talks to the server.

use super::widgets::{ERROR_TEXT, text_field_row};
use crate::model::{PatientId, PatientNumber};
use crate::sync::client::{PatientLookup, RemotePatient};
use crate::sync::wire::ShareReason;
use egui::{RichText, Ui};

/// How the person looks the patient up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    Number,
    NationalId,
    NameAndYear,
}

/// What the dialog asks the window to do.
#[derive(Clone, Debug, PartialEq)]
pub enum DistrictAction {
    /// Ask the server.
    Find(PatientLookup),
    /// Open this patient here, for this reason.
    Open {
        /// Who.
        patient_id: PatientId,
        /// Why.
        reason: ShareReason,
        /// How the window names them in its message.
        name: String,
    },
    /// Close the dialog.
    Close,
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Busy {
    Finding,
    Opening,
}

/// The dialog's state.
#[derive(Debug)]
pub struct DistrictDialog {
    way: Way,
    number: String,
    national_id: String,
    family_name: String,
    birth_year: String,
    found: Option<Vec<RemotePatient>>,
    selected: Option<usize>,
    reason: Option<ShareReason>,
    busy: Option<Busy>,
    error: Option<String>,
}

impl DistrictDialog {
    /// A dialog started from what was typed in the patient search: a patient number goes to the
    /// number field, digits to the national id, anything else to the family name.
    pub fn from_search(text: &str) -> Self {
        let text = text.trim();
        let mut dialog = Self {
            way: Way::NameAndYear,
            number: String::new(),
            national_id: String::new(),
            family_name: String::new(),
            birth_year: String::new(),
            found: None,
            selected: None,
            reason: None,
            busy: None,
            error: None,
        };
        if PatientNumber::parse(text).is_some() {
            dialog.way = Way::Number;
            dialog.number = text.to_owned();
        } else if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == ' ') {
            dialog.way = Way::NationalId;
            dialog.national_id = text.to_owned();
        } else {
            // "Achieng Amina" or "Achieng": the first word is taken as the family name.
            dialog.family_name = text.split_whitespace().next().unwrap_or("").to_owned();
        }
        dialog
    }

    /// The server's answer to a lookup.
    pub fn found(&mut self, result: Result<Vec<RemotePatient>, String>) {
        self.busy = None;
        match result {
            Ok(patients) => {
                self.selected = (patients.len() == 1).then_some(0);
                self.found = Some(patients);
                self.error = None;
            }
            Err(error) => self.error = Some(error),
        }
    }

    /// Opening failed: the dialog stays, with the reason.
    pub fn open_failed(&mut self, error: String) {
        self.busy = None;
        self.error = Some(error);
    }

    /// The request could not be made (not allowed, sync not running).
    pub fn refused(&mut self, error: String) {
        self.busy = None;
        self.error = Some(error);
    }

    /// The lookup as typed, or what is missing.
    fn lookup(&self) -> Result<PatientLookup, String> {
        match self.way {
            Way::Number => match PatientNumber::parse(self.number.trim()) {
                Some(number) => Ok(PatientLookup::Number(number.to_string())),
                None => Err("Enter the patient number as on their card, like HIL1-000042.".into()),
            },
            Way::NationalId if self.national_id.trim().is_empty() => {
                Err("Enter the national id.".into())
            }
            Way::NationalId => Ok(PatientLookup::NationalId(self.national_id.trim().into())),
            Way::NameAndYear => {
                let family_name = self.family_name.trim();
                if family_name.is_empty() {
                    return Err("Enter the family name.".into());
                }
                let this_year = chrono::Datelike::year(&chrono::Local::now().date_naive());
                match self.birth_year.trim().parse::<i32>() {
                    Ok(year) if (1880..=this_year).contains(&year) => {
                        Ok(PatientLookup::NameAndBirthYear {
                            family_name: family_name.to_owned(),
                            birth_year: year,
                        })
                    }
                    _ => Err(format!(
                        "Enter the year of birth (1880 to {this_year}): a name alone finds too many people."
                    )),
                }
            }
        }
    }

    /// Draws the dialog; returns what the person asked for.
    pub fn ui(&mut self, ui: &Ui) -> Option<DistrictAction> {
        let mut action = None;
        let modal =
            egui::Modal::new(egui::Id::unique("district_lookup_modal")).show(ui.ctx(), |ui| {
                ui.set_width(620.0);
                ui.label(
                    RichText::new("Find at the district server")
                        .heading()
                        .strong(),
                );
                ui.label(
                    "Patients registered at another clinic. Opening one here is recorded at the \
                 server with your reason, and their record then comes to this clinic too.",
                );
                ui.add_space(8.0);
                ui.horizontal(|ui| {
                    ui.label("Look up by");
                    ui.radio_value(&mut self.way, Way::Number, "Patient number");
                    ui.radio_value(&mut self.way, Way::NationalId, "National id");
                    ui.radio_value(
                        &mut self.way,
                        Way::NameAndYear,
                        "Family name and year of birth",
                    );
                });
                egui::Grid::new("district_lookup_fields")
                    .num_columns(2)
                    .spacing([12.0, 8.0])
                    .show(ui, |ui| match self.way {
                        Way::Number => {
                            text_field_row(ui, "Patient number", &mut self.number, 200.0);
                            ui.end_row();
                        }
                        Way::NationalId => {
                            text_field_row(ui, "National id", &mut self.national_id, 200.0);
                            ui.end_row();
                        }
                        Way::NameAndYear => {
                            text_field_row(ui, "Family name", &mut self.family_name, 200.0);
                            ui.end_row();
                            text_field_row(ui, "Year of birth", &mut self.birth_year, 80.0);
                            ui.end_row();
                        }
                    });
                ui.add_space(4.0);
                let idle = self.busy.is_none();
                if ui
                    .add_enabled(
                        idle,
                        egui::Button::new(RichText::new("Search the district").strong()),
                    )
                    .clicked()
                {
                    match self.lookup() {
                        Ok(lookup) => {
                            self.busy = Some(Busy::Finding);
                            self.error = None;
                            action = Some(DistrictAction::Find(lookup));
                        }
                        Err(error) => self.error = Some(error),
                    }
                }
                ui.add_space(6.0);
                self.results_ui(ui);
                match &self.busy {
                    Some(Busy::Finding) => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Asking the district server…");
                        });
                    }
                    Some(Busy::Opening) => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Opening the record and bringing it here…");
                        });
                    }
                    None => {}
                }
                if let Some(error) = &self.error {
                    ui.label(RichText::new(error).color(ERROR_TEXT));
                }
                ui.add_space(8.0);
                ui.horizontal(|ui| {
                    let chosen = self
                        .selected
                        .and_then(|i| self.found.as_ref()?.get(i))
                        .filter(|p| !p.visible);
                    let ready = idle && chosen.is_some() && self.reason.is_some();
                    if ui
                        .add_enabled(
                            ready,
                            egui::Button::new(RichText::new("Open here").strong()),
                        )
                        .on_disabled_hover_text("Choose a patient and the reason first")
                        .clicked()
                        && let (Some(patient), Some(reason)) = (chosen, self.reason)
                    {
                        self.busy = Some(Busy::Opening);
                        self.error = None;
                        action = Some(DistrictAction::Open {
                            patient_id: PatientId(patient.patient_id),
                            reason,
                            name: format!("{}, {}", patient.family_name, patient.given_name),
                        });
                    }
                    if ui.button("Close").clicked() {
                        action = Some(DistrictAction::Close);
                    }
                });
            });
        if modal.should_close() && action.is_none() && self.busy.is_none() {
            action = Some(DistrictAction::Close);
        }
        action
    }

    /// The patients found, one to choose, and the reason.
    fn results_ui(&mut self, ui: &mut Ui) {
        let Some(found) = &self.found else {
            return;
        };
        if found.is_empty() {
            ui.label("Nobody in the district matches.");
            return;
        }
        egui::Grid::new("district_results")
            .num_columns(4)
            .striped(true)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                for heading in ["Name", "Number", "Born", "Registered at"] {
                    ui.label(RichText::new(heading).strong());
                }
                ui.end_row();
                for (i, patient) in found.iter().enumerate() {
                    let name = format!("{}, {}", patient.family_name, patient.given_name);
                    ui.radio_value(&mut self.selected, Some(i), name);
                    ui.label(&patient.number);
                    ui.label(
                        patient
                            .birth_year
                            .map(|y| y.to_string())
                            .unwrap_or_default(),
                    );
                    if patient.visible {
                        ui.label(format!("{} (already here)", patient.clinic_name));
                    } else {
                        ui.label(&patient.clinic_name);
                    }
                    ui.end_row();
                }
            });
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            ui.label("Reason");
            for reason in ShareReason::ALL {
                ui.radio_value(&mut self.reason, Some(reason), reason.label());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_text_picks_the_way_of_looking_up() {
        assert_eq!(DistrictDialog::from_search("HIL1-000042").way, Way::Number);
        assert_eq!(
            DistrictDialog::from_search("29 004 771").way,
            Way::NationalId
        );
        let by_name = DistrictDialog::from_search("Achieng Amina");
        assert_eq!(by_name.way, Way::NameAndYear);
        assert_eq!(by_name.family_name, "Achieng");
        assert!(by_name.lookup().is_err(), "the year of birth is asked for");
    }
}
