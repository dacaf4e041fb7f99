//! A patient's chart: who they are, what they are allergic to, their visits, their problem list
//! and how their weight, blood pressure and temperature changed over time.
//!
//! A chart can hold hundreds of visits, so it reads the store once when it opens (and again after
//! a write), keeps what it read, and draws from that every frame.

use super::command::{Command, Screen, ViewContext};
use super::icd10_picker::{Icd10Choice, Icd10Picker};
use super::widgets::{
    OK_TEXT, WARNING_TEXT, allergy_banner_ui, date_input_ui, error_label, format_date, parse_date,
    section_ui, text_field_row, two_columns_or_stacked_ui,
};
use crate::app::Command as AppCommand;
use crate::model::{
    Action, Allergy, AllergySeverity, AllergyStatus, EncounterId, EncounterStatus, Patient,
    PatientId, Problem, ProblemId, ProblemStatus, age_on,
};
use crate::store::{Store, StoreError};
use crate::tr;
use chrono::{Datelike, NaiveDate};
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use egui_plot::{HoverPosition, Legend, Line, Plot, PlotPoints, Points};

/// Where a visit is in its life, as the chart lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VisitState {
    Draft,
    Signed,
    Voided,
}

/// One line of the visit list, prepared when the chart loads.
struct VisitLine {
    encounter_id: EncounterId,
    date: String,
    kind: &'static str,
    clinician: String,
    state: VisitState,
    /// The visit has amendments (its signed text is not the whole story).
    amended: bool,
    diagnosis: String,
    flags: String,
}

/// Measurements over time, x in days since the common era.
#[derive(Default)]
struct Trends {
    weight: Vec<[f64; 2]>,
    systolic: Vec<[f64; 2]>,
    diastolic: Vec<[f64; 2]>,
    temperature: Vec<[f64; 2]>,
}

impl Trends {
    fn is_empty(&self) -> bool {
        self.weight.is_empty()
            && self.systolic.is_empty()
            && self.diastolic.is_empty()
            && self.temperature.is_empty()
    }
}

/// Everything the chart shows, read once.
struct ChartData {
    patient: Patient,
    allergy_status: AllergyStatus,
    allergies: Vec<Allergy>,
    problems: Vec<Problem>,
    visits: Vec<VisitLine>,
    trends: Trends,
    studies: Vec<crate::store::StudyGroup>,
    /// For each study, why it may not be this patient's (worked out once, when read).
    study_warnings: Vec<Option<String>>,
    removed_studies: Vec<crate::store::StudyGroup>,
    /// Records merged into this one: the merge and the other record's number.
    merged: Vec<(crate::store::MergeRecord, String)>,
    /// A child's growth (under 19 years, with a date of birth and a sex the WHO tables know).
    growth: Option<super::growth::GrowthView>,
}

impl ChartData {
    /// Reads the chart; without `clinical`, only what a receptionist sees (demographics and
    /// allergies): visits, problems and images are not even read.
    fn load(
        store: &Store,
        patient_id: PatientId,
        today: NaiveDate,
        clinical: bool,
    ) -> Result<Self, StoreError> {
        let patient = store.patient(patient_id)?;
        let age_months = patient
            .birth
            .and_then(|b| age_on(b.date, today))
            .map(|(years, months, _)| years * 12 + months);
        let amendments = if clinical {
            store.amendments_for_patient(patient_id)?
        } else {
            Default::default()
        };
        // Lists and trends show each visit as it stands after its amendments.
        let encounters: Vec<(crate::model::Encounter, bool)> = if clinical {
            store
                .encounters_for_patient(patient_id)?
                .into_iter()
                .map(|e| match amendments.get(&e.encounter_id) {
                    Some(amended) => (e.as_amended(amended), true),
                    None => (e, false),
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut trends = Trends::default();
        // Newest first from the store; the plots want time order.
        for (encounter, _) in encounters.iter().rev() {
            if matches!(encounter.status, EncounterStatus::Voided { .. }) {
                continue;
            }
            let x = f64::from(
                encounter
                    .started_at
                    .with_timezone(&chrono::Local)
                    .date_naive()
                    .num_days_from_ce(),
            );
            let vitals = &encounter.vitals;
            for (series, value) in [
                (&mut trends.weight, vitals.weight_kg),
                (&mut trends.systolic, vitals.systolic_mmhg),
                (&mut trends.diastolic, vitals.diastolic_mmhg),
                (&mut trends.temperature, vitals.temperature_c),
            ] {
                if let Some(value) = value {
                    series.push([x, value]);
                }
            }
        }
        let visits = encounters
            .iter()
            .map(|(e, amended)| VisitLine {
                amended: *amended,
                encounter_id: e.encounter_id,
                date: format_date(e.started_at.with_timezone(&chrono::Local).date_naive()),
                kind: e.kind.label(),
                clinician: e.clinician.clone(),
                state: match e.status {
                    EncounterStatus::Draft => VisitState::Draft,
                    EncounterStatus::Signed { .. } => VisitState::Signed,
                    EncounterStatus::Voided { .. } => VisitState::Voided,
                },
                diagnosis: e.main_diagnosis().map(|d| d.label()).unwrap_or_default(),
                flags: e
                    .vitals
                    .flags(age_months)
                    .iter()
                    .map(|f| f.label())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect();
        let studies = if clinical {
            store.studies(patient_id)?
        } else {
            Vec::new()
        };
        let study_warnings = studies.iter().map(|s| other_person(s, &patient)).collect();
        let mut merged = Vec::new();
        for record in store.merges_of(patient_id)? {
            if record.merge.survivor == patient_id
                && record.status == crate::model::MergeStatus::Applied
            {
                let number = store
                    .patient(record.merge.retired)
                    .map(|p| super::widgets::patient_number(&p))
                    .unwrap_or_default();
                merged.push((record, number));
            }
        }
        let growth = if clinical {
            super::growth::GrowthView::of(&patient, encounters.iter().map(|(e, _)| e), today)
        } else {
            None
        };
        Ok(Self {
            growth,
            merged,
            allergy_status: store.allergy_status(patient_id)?,
            allergies: store.allergies(patient_id)?,
            problems: if clinical {
                store.problems(patient_id)?
            } else {
                Vec::new()
            },
            studies,
            study_warnings,
            removed_studies: if clinical {
                store.removed_studies(patient_id)?
            } else {
                Vec::new()
            },
            patient,
            visits,
            trends,
        })
    }
}

/// The chart screen.
pub struct PatientChart {
    patient_id: PatientId,
    /// Whether the user may read clinical content (else only demographics and allergies).
    clinical: bool,
    data: Result<ChartData, String>,
    problem_picker: Icd10Picker,
    problem_onset: String,
    problem_error: Option<String>,
    allergy_substance: String,
    allergy_reaction: String,
    allergy_severity: AllergySeverity,
    allergy_error: Option<String>,
    action_error: Option<String>,
    /// The growth chart shown (none: the one for the child's age).
    growth_indicator: Option<crate::model::Indicator>,
    /// True until the first frame: a chart opens at its top, wherever the last chart was
    /// scrolled to (egui keeps a scroll area's offset by its id).
    opening: bool,
}

impl PatientChart {
    /// Opens the chart of `patient_id`, reading it from the store (its clinical content only for
    /// a user who may read it).
    pub fn open(store: &Store, patient_id: PatientId, today: NaiveDate, clinical: bool) -> Self {
        let mut chart = Self {
            patient_id,
            clinical,
            data: Err(String::new()),
            problem_picker: Icd10Picker::new(&tr!("chart-find-problem")),
            problem_onset: String::new(),
            problem_error: None,
            allergy_substance: String::new(),
            allergy_reaction: String::new(),
            allergy_severity: AllergySeverity::Moderate,
            allergy_error: None,
            action_error: None,
            growth_indicator: None,
            opening: true,
        };
        chart.reload(store, today);
        chart
    }

    /// Whose chart this is.
    pub fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    /// Reads the chart again (after a write).
    pub fn reload(&mut self, store: &Store, today: NaiveDate) {
        self.data = ChartData::load(store, self.patient_id, today, self.clinical)
            .map_err(|e| tr!("chart-cannot-read", error = e.to_string()));
    }

    /// Shows a write that failed.
    pub fn write_failed(&mut self, error: &crate::app::AppError) {
        self.action_error = Some(tr!(
            "chart-not-saved",
            error = super::widgets::app_error_text(error)
        ));
    }

    /// A write succeeded: the last failure no longer applies.
    pub fn write_succeeded(&mut self) {
        self.action_error = None;
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let data = match &self.data {
            Ok(data) => data,
            Err(error) => {
                error_label(ui, Some(error));
                if ui.button(tr!("chart-back")).clicked() {
                    cx.send(Command::Open(Screen::PatientList));
                }
                return;
            }
        };
        header_ui(ui, data, cx);
        ui.add_space(6.0);
        allergy_banner_ui(ui, data.allergy_status, &data.allergies);
        if let Some(growth) = &data.growth {
            growth.banner_ui(ui);
        }
        error_label(ui, self.action_error.as_deref());
        ui.add_space(6.0);

        let mut area = egui::ScrollArea::vertical()
            .id_salt("chart_scroll")
            .auto_shrink([false, false]);
        if std::mem::take(&mut self.opening) {
            area = area.vertical_scroll_offset(0.0);
        }
        area.show(ui, |ui| {
            if !self.clinical {
                ui.label(RichText::new(tr!("chart-clinical-only")).weak());
                ui.add_space(6.0);
                self.allergies_ui(ui, cx);
                return;
            }
            // The problem and allergy forms need about 440 points; narrower, they go below.
            two_columns_or_stacked_ui(ui, 0.6, 440.0, |ui, column| {
                if column == 0 {
                    if let Ok(data) = &self.data {
                        visits_ui(ui, data, cx);
                        ui.add_space(8.0);
                        imaging_ui(ui, self.patient_id, data, cx);
                        ui.add_space(8.0);
                        trends_ui(ui, &data.trends);
                        if let Some(growth) = &data.growth {
                            ui.add_space(8.0);
                            growth.chart_ui(ui, &mut self.growth_indicator);
                        }
                    }
                } else {
                    self.problems_ui(ui, cx);
                    ui.add_space(8.0);
                    self.allergies_ui(ui, cx);
                }
            });
        });
    }

    fn problems_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let Ok(data) = &self.data else {
            return;
        };
        let patient_id = self.patient_id;
        let can_edit = cx.allows(Action::WriteClinical);
        let mut resolve: Option<Problem> = None;
        section_ui(ui, &tr!("chart-problems"), |ui| {
            if data.problems.is_empty() {
                ui.label(RichText::new(tr!("chart-no-problems")).weak());
            }
            for problem in &data.problems {
                ui.push_id(problem.problem_id.0, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        if let Some(code) = &problem.code {
                            ui.label(RichText::new(code).monospace());
                        }
                        let active = problem.status == ProblemStatus::Active;
                        let title = RichText::new(&problem.title);
                        ui.label(if active {
                            title.strong()
                        } else {
                            title.weak().strikethrough()
                        });
                        if let Some(onset) = problem.onset {
                            ui.label(
                                RichText::new(tr!("chart-since", date = format_date(onset))).weak(),
                            );
                        }
                        if active {
                            if can_edit && ui.small_button(tr!("chart-mark-resolved")).clicked() {
                                resolve = Some(problem.clone());
                            }
                        } else {
                            ui.label(RichText::new("resolved").weak());
                        }
                    });
                });
            }
            if can_edit {
                ui.separator();
                ui.label(RichText::new(tr!("chart-add-problem")).strong());
                let onset_label = ui.label(tr!("chart-onset"));
                if date_input_ui(
                    ui,
                    onset_label.id,
                    "problem_onset",
                    &mut self.problem_onset,
                    cx.today,
                    1900..=2100,
                ) {
                    self.problem_error = None;
                }
                let onset = match parse_date(&self.problem_onset) {
                    Ok(Some(date)) if date > cx.today => {
                        Err("The onset date is in the future.".to_owned())
                    }
                    other => other,
                };
                if let Err(message) = &onset {
                    error_label(ui, Some(message));
                }
                if let Some(choice) = self.problem_picker.ui(ui, cx) {
                    match onset {
                        Ok(onset) => {
                            let (code, title) = match choice {
                                Icd10Choice::Code(code) => (Some(code.code), code.title),
                                Icd10Choice::FreeText(text) => (None, text),
                            };
                            cx.send(Command::change(AppCommand::SaveProblem(Problem {
                                problem_id: ProblemId::new(),
                                patient_id,
                                code,
                                title,
                                onset,
                                status: ProblemStatus::Active,
                            })));
                            self.problem_onset.clear();
                            self.problem_error = None;
                        }
                        Err(_) => {
                            self.problem_error =
                                Some("Correct the onset date, then pick the problem again.".into());
                        }
                    }
                }
                error_label(ui, self.problem_error.as_deref());
            }
        });
        if let Some(mut problem) = resolve {
            problem.status = ProblemStatus::Resolved;
            cx.send(Command::change(AppCommand::SaveProblem(problem)));
        }
    }

    fn allergies_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let Ok(data) = &self.data else {
            return;
        };
        let patient_id = self.patient_id;
        let can_edit = cx.allows(Action::EditAllergies);
        let mut deactivate: Option<Allergy> = None;
        section_ui(ui, &tr!("chart-allergies"), |ui| {
            if data.allergies.is_empty() {
                let text = match data.allergy_status {
                    AllergyStatus::NoKnownAllergies => tr!("chart-no-known-allergies"),
                    _ => tr!("chart-none-recorded"),
                };
                ui.label(RichText::new(text).weak());
            }
            for allergy in &data.allergies {
                ui.push_id(allergy.allergy_id.0, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        let substance = RichText::new(&allergy.substance);
                        if allergy.active {
                            ui.label(substance.strong().color(WARNING_TEXT));
                        } else {
                            ui.label(substance.weak().strikethrough());
                        }
                        if !allergy.reaction.trim().is_empty() {
                            ui.label(&allergy.reaction);
                        }
                        ui.label(RichText::new(allergy.severity.label()).weak());
                        if allergy.active {
                            if can_edit && ui.small_button(tr!("chart-mark-inactive")).clicked() {
                                deactivate = Some(allergy.clone());
                            }
                        } else {
                            ui.label(RichText::new(tr!("chart-inactive")).weak());
                        }
                    });
                });
            }
            let any_active = data.allergies.iter().any(|a| a.active);
            if can_edit && !any_active && data.allergy_status != AllergyStatus::NoKnownAllergies {
                if ui
                    .button(tr!("chart-nka-button"))
                    .on_hover_text(tr!("chart-nka-hint"))
                    .clicked()
                {
                    cx.send(Command::change(AppCommand::SetAllergyStatus {
                        patient_id,
                        status: AllergyStatus::NoKnownAllergies,
                    }));
                }
            } else if data.allergy_status == AllergyStatus::NoKnownAllergies {
                ui.label(RichText::new(tr!("chart-nka-asked")).color(OK_TEXT));
            }
            if can_edit {
                ui.separator();
                ui.label(RichText::new(tr!("chart-add-allergy-title")).strong());
                egui::Grid::new("new_allergy")
                    .num_columns(2)
                    .spacing([8.0, 6.0])
                    .show(ui, |ui| {
                        text_field_row(
                            ui,
                            &tr!("chart-substance"),
                            &mut self.allergy_substance,
                            220.0,
                        );
                        ui.end_row();
                        text_field_row(
                            ui,
                            &tr!("chart-reaction"),
                            &mut self.allergy_reaction,
                            220.0,
                        );
                        ui.end_row();
                        let label = ui.label(tr!("chart-severity"));
                        egui::ComboBox::from_id_salt("allergy_severity")
                            .selected_text(self.allergy_severity.label())
                            .show_ui(ui, |ui| {
                                for severity in AllergySeverity::ALL {
                                    super::widgets::pick(
                                        ui,
                                        &mut self.allergy_severity,
                                        severity,
                                        severity.label(),
                                    );
                                }
                            })
                            .response
                            .labelled_by(label.id);
                        ui.end_row();
                    });
                let ready = !self.allergy_substance.trim().is_empty();
                if ui
                    .add_enabled(ready, egui::Button::new(tr!("chart-add-allergy")))
                    .clicked()
                {
                    let mut allergy = Allergy::new(patient_id, &self.allergy_substance);
                    allergy.reaction = self.allergy_reaction.trim().to_owned();
                    allergy.severity = self.allergy_severity;
                    let validation = allergy.validate();
                    if validation.is_valid() {
                        cx.send(Command::change(AppCommand::SaveAllergy(allergy)));
                        self.allergy_substance.clear();
                        self.allergy_reaction.clear();
                        self.allergy_severity = AllergySeverity::Moderate;
                        self.allergy_error = None;
                    } else {
                        self.allergy_error = Some(validation.summary());
                    }
                }
                error_label(ui, self.allergy_error.as_deref());
            }
        });
        if let Some(mut allergy) = deactivate {
            allergy.active = false;
            cx.send(Command::change(AppCommand::SaveAllergy(allergy)));
        }
    }
}

/// Name, identifiers and demographics, with the chart's actions.
/// The patient's imaging: one line per study, with import buttons (files can also be dropped on
/// the window).
/// Why a study may not be this patient's: its files name another person, or it is dated before
/// the patient was born.
fn other_person(study: &crate::store::StudyGroup, patient: &Patient) -> Option<String> {
    let file = study.series.first()?.instances.first()?;
    let identity = crate::imaging::SourceIdentity {
        patient_id: file.source_patient_id.clone(),
        patient_name: file.source_patient_name.clone(),
        birth_date: file.source_birth_date,
        sex: file.source_sex.clone(),
    };
    let mut reasons: Vec<String> = identity
        .differences(patient)
        .into_iter()
        .map(|d| format!("different {d}"))
        .collect();
    if let (Some(date), Some(birth)) = (study.study_date, patient.birth)
        && date < birth.date
        && !birth.estimated
    {
        reasons.push("dated before the patient's birth".to_owned());
    }
    if reasons.is_empty() {
        return None;
    }
    let who = crate::imaging::person_name_display(&identity.patient_name);
    Some(if who.trim().is_empty() {
        format!(
            "⚠ This study may not be this patient's: {}",
            reasons.join(", ")
        )
    } else {
        format!("⚠ The files name {who}: {}", reasons.join(", "))
    })
}

fn imaging_ui(ui: &mut Ui, patient_id: PatientId, data: &ChartData, cx: &mut ViewContext<'_>) {
    section_ui(ui, &tr!("chart-images"), |ui| {
        let can_import = cx.allows(Action::WriteClinical);
        ui.horizontal_wrapped(|ui| {
            if can_import && ui.button(tr!("chart-import-files")).clicked() {
                cx.send(Command::PickImages {
                    patient_id,
                    encounter_id: None,
                    folder: false,
                });
            }
            if can_import && ui.button(tr!("chart-import-folder")).clicked() {
                cx.send(Command::PickImages {
                    patient_id,
                    encounter_id: None,
                    folder: true,
                });
            }
            if !data.studies.is_empty() && ui.button(tr!("chart-view-images")).clicked() {
                cx.send(Command::Open(Screen::Imaging {
                    patient_id,
                    study_uid: None,
                }));
            }
            let has_dicom = data.studies.iter().flat_map(|s| &s.series).any(|series| {
                series
                    .instances
                    .iter()
                    .any(|a| a.media_type == "application/dicom")
            });
            if has_dicom
                && cx.allows(Action::ExportRecords)
                && ui
                    .button(tr!("chart-export-images"))
                    .on_hover_text(tr!("chart-export-images-hint"))
                    .clicked()
            {
                cx.send(Command::ExportImages(patient_id));
            }
        });
        if data.studies.is_empty() {
            ui.label(RichText::new(tr!("chart-no-images")).weak());
        }
        for (study, warning) in data.studies.iter().zip(&data.study_warnings) {
            let images: i64 = study.series.iter().map(|s| s.frame_count()).sum();
            let mut parts = vec![
                study
                    .study_date
                    .map(format_date)
                    .unwrap_or_else(|| "No date".to_owned()),
            ];
            parts.extend(
                [study.modalities.clone(), study.description.clone()]
                    .into_iter()
                    .filter(|p| !p.is_empty()),
            );
            parts.push(format!("{} series, {images} image(s)", study.series.len()));
            let line = parts.join(" · ");
            if ui.link(line).clicked() {
                cx.send(Command::Open(Screen::Imaging {
                    patient_id,
                    study_uid: Some(study.study_uid.clone()),
                }));
            }
            if let Some(warning) = warning {
                ui.label(RichText::new(warning).color(WARNING_TEXT));
            }
        }
        let removed: usize = data
            .removed_studies
            .iter()
            .flat_map(|s| &s.series)
            .map(|s| s.instances.len())
            .sum();
        if removed > 0 {
            egui::CollapsingHeader::new(format!("Removed images ({removed})"))
                .id_salt("removed_images")
                .show(ui, |ui| {
                    for series in data.removed_studies.iter().flat_map(|s| &s.series) {
                        ui.horizontal(|ui| {
                            ui.label(format!(
                                "{} {} — {} image(s)",
                                series.modality,
                                series.description,
                                series.instances.len()
                            ));
                            if ui.small_button("Restore").clicked() {
                                cx.send(Command::change(AppCommand::SetImagesRemoved {
                                    attachment_ids: series
                                        .instances
                                        .iter()
                                        .map(|a| a.attachment_id)
                                        .collect(),
                                    removed: false,
                                }));
                            }
                        });
                    }
                });
        }
    });
}

fn header_ui(ui: &mut Ui, data: &ChartData, cx: &mut ViewContext<'_>) {
    let patient = &data.patient;
    egui::Frame::new()
        .fill(super::widgets::NEUTRAL_FILL)
        .corner_radius(6)
        .inner_margin(12)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                ui.vertical(|ui| {
                    ui.label(RichText::new(patient.display_name()).heading().strong());
                    if !patient.other_script_name.trim().is_empty() {
                        ui.label(RichText::new(&patient.other_script_name).size(18.0));
                    }
                    let mut facts: Vec<String> = Vec::new();
                    if let Some(number) = &patient.number {
                        facts.push(number.to_string());
                    }
                    match patient.birth {
                        Some(birth) if birth.estimated => facts.push(tr!(
                            "chart-born-estimated",
                            age = birth.age_label(cx.today),
                            date = format_date(birth.date)
                        )),
                        Some(birth) => facts.push(tr!(
                            "chart-born",
                            age = birth.age_label(cx.today),
                            date = format_date(birth.date)
                        )),
                        None => facts.push(tr!("chart-age-unknown")),
                    }
                    facts.push(patient.sex.label().to_owned());
                    if !patient.village.trim().is_empty() {
                        facts.push(patient.village.clone());
                    }
                    if !patient.phone.trim().is_empty() {
                        facts.push(tr!("chart-phone", phone = patient.phone.clone()));
                    }
                    ui.label(facts.join("  ·  "));
                    let kin = &patient.next_of_kin;
                    if !kin.name.trim().is_empty() || !kin.phone.trim().is_empty() {
                        ui.label(
                            RichText::new(tr!(
                                "chart-next-of-kin",
                                name = kin.name.trim().to_owned(),
                                phone = kin.phone.trim().to_owned()
                            ))
                            .weak(),
                        );
                    }
                    if !patient.national_id.trim().is_empty() {
                        ui.label(
                            RichText::new(tr!(
                                "chart-national-id",
                                id = patient.national_id.clone()
                            ))
                            .weak(),
                        );
                    }
                });
                ui.with_layout(egui::Layout::right_to_left(egui::Align::TOP), |ui| {
                    if ui.button(tr!("chart-back")).clicked() {
                        cx.send(Command::Open(Screen::PatientList));
                    }
                    if cx.allows(Action::RecordVitals)
                        && ui.button(tr!("chart-new-visit")).clicked()
                    {
                        cx.send(Command::Open(Screen::NewVisit(patient.patient_id)));
                    }
                    if cx.allows(Action::EditDemographics)
                        && ui
                            .button(tr!("chart-arrived-today"))
                            .on_hover_text(tr!("chart-arrived-today-hint"))
                            .clicked()
                    {
                        cx.send(Command::change(AppCommand::AddToQueue(patient.patient_id)));
                    }
                    if cx.allows(Action::ReadAudit)
                        && ui
                            .button(tr!("chart-who-opened"))
                            .on_hover_text(tr!("chart-who-opened-hint"))
                            .clicked()
                    {
                        cx.send(Command::Open(Screen::Audit {
                            patient_id: Some(patient.patient_id),
                        }));
                    }
                    if cx.allows(Action::ReadClinical)
                        && ui
                            .button(tr!("chart-print-summary"))
                            .on_hover_text(tr!("chart-print-summary-hint"))
                            .clicked()
                    {
                        cx.send(Command::Print(super::printing::PrintSource::Patient(
                            patient.patient_id,
                        )));
                    }
                    if cx.allows(Action::EditDemographics)
                        && ui.button(tr!("chart-edit-patient")).clicked()
                    {
                        cx.send(Command::Open(Screen::EditPatient(patient.patient_id)));
                    }
                });
            });
            if !patient.notes.trim().is_empty() {
                ui.label(
                    RichText::new(tr!("chart-notes", notes = patient.notes.trim().to_owned()))
                        .weak(),
                );
            }
            for (record, number) in &data.merged {
                ui.horizontal_wrapped(|ui| {
                    let when =
                        format_date(record.made_on.with_timezone(&chrono::Local).date_naive());
                    ui.label(
                        RichText::new(tr!(
                            "merge-also-registered",
                            number = number.clone(),
                            date = when,
                            name = record.made_by.clone(),
                            reason = record.reason.clone()
                        ))
                        .color(WARNING_TEXT),
                    );
                    if cx.allows(Action::MergePatients)
                        && ui
                            .button(tr!("merge-undo-of", number = number.clone()))
                            .on_hover_text(tr!("merge-undo-hint"))
                            .clicked()
                    {
                        cx.send(Command::change(AppCommand::UndoMerge(
                            record.merge.merge_id,
                        )));
                    }
                });
            }
        });
}

/// The visits, newest first, in a virtualised table: a chart with hundreds stays quick.
fn visits_ui(ui: &mut Ui, data: &ChartData, cx: &mut ViewContext<'_>) {
    section_ui(ui, &tr!("chart-visits", count = data.visits.len()), |ui| {
        if data.visits.is_empty() {
            ui.label(RichText::new(tr!("chart-no-visits")).weak());
            return;
        }
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 8.0;
        let mut open: Option<EncounterId> = None;
        ui.scope(|ui| {
            ui.style_mut().interaction.selectable_labels = false;
            TableBuilder::new(ui)
                .id_salt("chart_visits")
                .striped(true)
                .sense(egui::Sense::click())
                .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
                .column(Column::exact(150.0).clip(true))
                .column(Column::exact(95.0).clip(true))
                .column(Column::exact(120.0).clip(true))
                .column(Column::exact(76.0).clip(true))
                .column(Column::remainder().at_least(120.0).clip(true))
                .column(Column::exact(120.0).clip(true))
                .max_scroll_height(320.0)
                .header(row_height, |mut header| {
                    for title in [
                        tr!("chart-column-date"),
                        tr!("chart-column-kind"),
                        tr!("chart-column-clinician"),
                        tr!("chart-column-status"),
                        tr!("chart-column-diagnosis"),
                        tr!("chart-column-flags"),
                    ] {
                        header.col(|ui| {
                            ui.strong(title);
                        });
                    }
                })
                .body(|body| {
                    body.rows(row_height, data.visits.len(), |mut row| {
                        let Some(visit) = data.visits.get(row.index()) else {
                            return;
                        };
                        let voided = visit.state == VisitState::Voided;
                        let text = |t: &str| {
                            let text = RichText::new(t);
                            if voided {
                                text.weak().strikethrough()
                            } else {
                                text
                            }
                        };
                        row.col(|ui| {
                            ui.label(text(&visit.date));
                        });
                        row.col(|ui| {
                            ui.label(text(visit.kind));
                        });
                        row.col(|ui| {
                            ui.label(text(&visit.clinician));
                        });
                        row.col(|ui| {
                            match visit.state {
                                VisitState::Draft => ui.label(
                                    RichText::new(tr!("chart-draft"))
                                        .italics()
                                        .color(WARNING_TEXT),
                                ),
                                // Only a signed visit takes amendments; the word fits the
                                // column where "Signed, amended" did not.
                                VisitState::Signed if visit.amended => ui
                                    .label(RichText::new(tr!("chart-amended")).color(WARNING_TEXT))
                                    .on_hover_text(tr!("chart-amended-hint")),
                                VisitState::Signed => {
                                    ui.label(RichText::new(tr!("chart-signed")).color(OK_TEXT))
                                }
                                VisitState::Voided => {
                                    ui.label(RichText::new(tr!("chart-voided")).weak())
                                }
                            };
                        });
                        row.col(|ui| {
                            ui.label(text(&visit.diagnosis));
                        });
                        row.col(|ui| {
                            if !visit.flags.is_empty() {
                                ui.label(
                                    RichText::new(format!("⚠ {}", visit.flags)).color(WARNING_TEXT),
                                );
                            }
                        });
                        if row.response().clicked() {
                            open = Some(visit.encounter_id);
                        }
                    });
                });
        });
        if let Some(encounter_id) = open {
            cx.send(Command::Open(Screen::Visit(encounter_id)));
        }
    });
}

/// Weight, blood pressure and temperature across visits.
fn trends_ui(ui: &mut Ui, trends: &Trends) {
    section_ui(ui, &tr!("chart-trends"), |ui| {
        if trends.is_empty() {
            ui.label(RichText::new(tr!("chart-no-vitals")).weak());
            return;
        }
        let plots = [
            TrendPlot {
                title: tr!("chart-weight"),
                id: "trend_weight",
                series: vec![Series {
                    name: tr!("chart-weight"),
                    points: &trends.weight,
                    colour: egui::Color32::from_rgb(37, 99, 235),
                }],
            },
            TrendPlot {
                title: tr!("chart-blood-pressure"),
                id: "trend_bp",
                series: vec![
                    Series {
                        name: tr!("chart-systolic"),
                        points: &trends.systolic,
                        colour: egui::Color32::from_rgb(185, 28, 28),
                    },
                    Series {
                        name: tr!("chart-diastolic"),
                        points: &trends.diastolic,
                        colour: egui::Color32::from_rgb(124, 58, 237),
                    },
                ],
            },
            TrendPlot {
                title: tr!("chart-temperature"),
                id: "trend_temperature",
                series: vec![Series {
                    name: tr!("chart-temperature"),
                    points: &trends.temperature,
                    colour: egui::Color32::from_rgb(217, 119, 6),
                }],
            },
        ];
        for TrendPlot { title, id, series } in plots {
            if series.iter().all(|s| s.points.is_empty()) {
                continue;
            }
            ui.label(RichText::new(title).strong());
            let mut plot = Plot::new(id)
                .height(140.0)
                .allow_zoom(false)
                .allow_drag(false)
                .allow_scroll(false)
                .allow_boxed_zoom(false)
                .x_axis_formatter(|mark, _range| date_from_axis(mark.value))
                .label_formatter(|position| match position {
                    HoverPosition::NearDataPoint {
                        plot_name,
                        position,
                        ..
                    } => Some(format!(
                        "{plot_name}: {:.1}\n{}",
                        position.y,
                        date_from_axis(position.x)
                    )),
                    HoverPosition::Elsewhere { .. } => None,
                });
            if series.len() > 1 {
                plot = plot.legend(Legend::default());
            }
            plot.show(ui, |plot_ui| {
                for Series {
                    name,
                    points,
                    colour,
                } in series
                {
                    plot_ui.line(
                        Line::new(name.clone(), PlotPoints::from(points.to_vec()))
                            .color(colour)
                            .width(2.0),
                    );
                    plot_ui.points(
                        Points::new(name, PlotPoints::from(points.to_vec()))
                            .color(colour)
                            .radius(3.0),
                    );
                }
            });
            ui.add_space(6.0);
        }
    });
}

/// One plot of the trends section.
struct TrendPlot<'a> {
    title: String,
    id: &'static str,
    series: Vec<Series<'a>>,
}

/// One line of a trend plot.
struct Series<'a> {
    name: String,
    points: &'a [[f64; 2]],
    colour: egui::Color32,
}

/// The date at a position on a trend plot's x axis (days since the common era).
fn date_from_axis(value: f64) -> String {
    if !value.is_finite() {
        return String::new();
    }
    // `as` saturates, so a zoomed-out axis can never overflow.
    NaiveDate::from_num_days_from_ce_opt(value.round() as i32)
        .map(|d| d.format("%d %b %Y").to_string())
        .unwrap_or_default()
}
