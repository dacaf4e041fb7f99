//! The amendment form: a correction in words, and what it changes in the signed visit's
//! structured parts (stop a medicine, withdraw or add a diagnosis, correct a vital sign). The
//! signed visit itself is never edited; the form builds an [`Amendment`] for the app service.

use super::command::ViewContext;
use super::icd10_picker::{Icd10Choice, Icd10Picker};
use super::visit_editor::{parse_vital, vital_fields_ui, vital_texts};
use super::widgets::labelled_multiline;
use crate::model::{
    Amendment, AmendmentId, Corrections, Diagnosis, Encounter, EncounterId, VITAL_RANGES,
    VitalCorrection, Vitals,
};
use chrono::Utc;
use egui::{RichText, TextEdit, Ui};

/// What the amendment dialog holds while it is open.
pub(super) struct AmendForm {
    encounter_id: EncounterId,
    text: String,
    reason: String,
    /// Medicines still standing, which the amendment may stop.
    medicines: Vec<String>,
    stops: Vec<String>,
    /// Diagnoses still standing, which the amendment may withdraw.
    diagnoses: Vec<Diagnosis>,
    /// Keys of the standing diagnoses to withdraw.
    withdraws: Vec<String>,
    adds: Vec<Diagnosis>,
    picker: Icd10Picker,
    /// The vital signs as they stand, and the fields showing them.
    vitals_before: Vitals,
    vital_text: [String; VITAL_RANGES.len()],
    age_months: Option<u32>,
    /// Why the last attempt failed; the form keeps everything typed.
    pub(super) error: Option<String>,
}

impl AmendForm {
    /// A blank amendment of `encounter` as it stands after `amendments`.
    pub(super) fn new(
        encounter: &Encounter,
        amendments: &[Amendment],
        age_months: Option<u32>,
    ) -> Self {
        let current = encounter.as_amended(amendments);
        Self {
            encounter_id: encounter.encounter_id,
            text: String::new(),
            reason: String::new(),
            medicines: current
                .prescriptions
                .iter()
                .map(|p| p.medicine.trim().to_owned())
                .filter(|m| !m.is_empty())
                .collect(),
            stops: Vec::new(),
            diagnoses: current.diagnoses.clone(),
            withdraws: Vec::new(),
            adds: Vec::new(),
            picker: Icd10Picker::new("Add a diagnosis"),
            vitals_before: current.vitals,
            vital_text: vital_texts(&current.vitals),
            age_months,
            error: None,
        }
    }

    /// Draws the form's fields.
    pub(super) fn ui(&mut self, ui: &mut Ui, cx: &ViewContext<'_>) {
        labelled_multiline(ui, "Correction", &mut self.text, 3);
        ui.add_space(4.0);
        let label = ui.label(RichText::new("Reason").strong());
        ui.add(TextEdit::singleline(&mut self.reason).desired_width(f32::INFINITY))
            .labelled_by(label.id);
        if !self.medicines.is_empty() {
            ui.add_space(6.0);
            ui.label(RichText::new("Stop a prescribed medicine").strong());
            for medicine in &self.medicines {
                let mut stop = self.stops.contains(medicine);
                if ui.checkbox(&mut stop, format!("Stop {medicine}")).changed() {
                    if stop {
                        self.stops.push(medicine.clone());
                    } else {
                        self.stops.retain(|m| m != medicine);
                    }
                }
            }
        }
        ui.add_space(6.0);
        ui.label(RichText::new("Correct the diagnoses").strong());
        for diagnosis in &self.diagnoses {
            let key = diagnosis.key();
            let mut withdraw = self.withdraws.contains(&key);
            let label = format!("Withdraw {}", diagnosis.label());
            if ui.checkbox(&mut withdraw, label).changed() {
                if withdraw {
                    self.withdraws.push(key);
                } else {
                    self.withdraws.retain(|k| *k != key);
                }
            }
        }
        let mut remove = None;
        let primary_goes = self.primary_goes();
        for (index, added) in self.adds.iter().enumerate() {
            ui.push_id(("amend_add", index), |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new(format!("Add {}", added.label())).strong());
                    if index == 0 && primary_goes {
                        ui.label(RichText::new("(becomes primary)").weak());
                    }
                    if ui.small_button("Remove").clicked() {
                        remove = Some(index);
                    }
                });
            });
        }
        if let Some(index) = remove {
            self.adds.remove(index);
        }
        if let Some(choice) = self.picker.ui(ui, cx) {
            let (code, title) = match choice {
                Icd10Choice::Code(code) => (Some(code.code), code.title),
                Icd10Choice::FreeText(text) => (None, text),
            };
            self.adds.push(Diagnosis {
                code,
                title,
                primary: false,
            });
        }
        ui.add_space(6.0);
        egui::CollapsingHeader::new(RichText::new("Correct a vital sign").strong())
            .id_salt("amend_vitals")
            .show(ui, |ui| {
                vital_fields_ui(
                    ui,
                    "amend_vitals_grid",
                    &mut self.vital_text,
                    self.age_months,
                    |_, _| {},
                );
            });
    }

    /// Whether the standing primary diagnosis is withdrawn (or there is none), so the first
    /// added one leads.
    fn primary_goes(&self) -> bool {
        !self
            .diagnoses
            .iter()
            .any(|d| d.primary && !self.withdraws.contains(&d.key()))
    }

    /// True when "Add amendment" may be pressed: a reason, and a correction in words or in the
    /// record.
    pub(super) fn ready(&self) -> bool {
        !self.reason.trim().is_empty()
            && (!self.text.trim().is_empty()
                || !self.stops.is_empty()
                || !self.withdraws.is_empty()
                || !self.adds.is_empty()
                || self.vital_text != vital_texts(&self.vitals_before))
    }

    /// The amendment as written; `Err` says what to fix (a vital sign that is not a number).
    /// The author and the time are written by the app service.
    pub(super) fn build(&self, author: &str) -> Result<Amendment, String> {
        let mut vitals = Vec::new();
        for (range, text) in VITAL_RANGES.iter().zip(&self.vital_text) {
            let value = parse_vital(text)
                .map_err(|()| format!("{}: enter a number in {}.", range.label, range.unit))?;
            if value != self.vitals_before.get(range.field) {
                vitals.push(VitalCorrection {
                    field: range.field.to_owned(),
                    value,
                });
            }
        }
        let mut adds = self.adds.clone();
        if self.primary_goes()
            && let Some(first) = adds.first_mut()
        {
            first.primary = true;
        }
        Ok(Amendment {
            amendment_id: AmendmentId::new(),
            encounter_id: self.encounter_id,
            text: self.text.trim().to_owned(),
            reason: self.reason.trim().to_owned(),
            author: author.to_owned(),
            author_id: None,
            created_at: Utc::now(),
            corrections: Corrections {
                stops: self.stops.clone(),
                withdraws: self.withdraws.clone(),
                adds,
                vitals,
            },
        })
    }
}
