//! Recording a visit: vital signs, complaint, findings, diagnoses, prescriptions, lab results,
//! plan and follow-up; then signing it, amending it, or voiding it.
//!
//! Power cuts are common where Outpost runs, so a draft saves itself three seconds after the last
//! change, when the clinician leaves the editor, and when the window closes; a save that fails
//! says why and keeps everything typed. Impossible values are refused beside their field, and
//! abnormal ones are flagged in the warning colour. Once signed, a visit is shown read-only and is
//! corrected only by amendments, which are listed with their author and time.

use super::amend::AmendForm;
use super::command::{Command, Screen, ViewContext};
use super::icd10_picker::{Icd10Choice, Icd10Picker};
use super::widgets::{
    ERROR_TEXT, OK_TEXT, VitalNote, WARNING_TEXT, allergy_banner_ui, confirm_buttons_ui,
    error_label, format_local_time, labelled_multiline, read_only_text, section_ui, two_columns_ui,
    vital_field_ui, warning_label,
};
use crate::app::Command as AppCommand;
use crate::model::{
    Action, Allergy, AllergyAlert, AllergyOverride, AllergyStatus, Amendment,
    DOSE_CHECK_UNDER_YEARS, Diagnosis, Encounter, EncounterId, EncounterKind, EncounterStatus,
    LabResult, Medicine, Patient, PatientId, Prescription, VITAL_RANGES, Vitals, age_on,
    allergy_alerts, dose_warning, has_dose_limits, medicine_list, unanswered_alerts,
    unanswered_line_alerts,
};
use crate::store::{MedicineSuggestion, Store, StoreError};
use chrono::{Local, NaiveDate, Utc};
use egui::{Id, RichText, TextEdit, Ui};
use std::time::Duration;

/// A draft saves itself this long after the last change.
const AUTOSAVE_DELAY_SECS: f64 = 3.0;
/// Medicine suggestions offered at most.
const MEDICINE_SUGGESTIONS: usize = 8;

/// What the save line says.
#[derive(Clone, Debug, PartialEq)]
enum SaveState {
    /// Nothing saved in this session yet.
    NotYet,
    /// Saved at this local time.
    Saved(String),
    /// The last attempt failed, for this reason.
    Failed(String),
}

/// A question the editor is asking in a modal window.
enum Dialog {
    /// Confirm signing.
    Sign,
    /// Write an amendment.
    Amend(Box<AmendForm>),
    /// Give the reason for voiding.
    Void {
        reason: String,
        error: Option<String>,
    },
    /// A prescription meets a recorded allergy: answer with a reason, or change the medicine.
    Allergy {
        /// The prescription line.
        row: usize,
        /// What it meets.
        alerts: Vec<AllergyAlert>,
        /// The reason to prescribe anyway, as typed.
        reason: String,
    },
}

/// Medicines offered for the prescription row being typed.
struct MedicineLookup {
    row: usize,
    prefix: String,
    suggestions: Vec<MedicineSuggestion>,
    /// Matches in the medicine list.
    listed: Vec<&'static Medicine>,
}

/// The visit editor screen.
pub struct VisitEditor {
    encounter: Encounter,
    patient_name: String,
    patient_facts: String,
    age_months: Option<u32>,
    allergy_status: AllergyStatus,
    allergies: Vec<Allergy>,
    amendments: Vec<Amendment>,
    vital_text: [String; VITAL_RANGES.len()],
    in_store: bool,
    /// Images linked to this visit.
    images: usize,
    dirty: bool,
    last_change: f64,
    autosave_blocked: bool,
    save_state: SaveState,
    diagnosis_picker: Icd10Picker,
    medicine_lookup: Option<MedicineLookup>,
    /// The prescription line whose medicine was just picked from the list: its forms and
    /// strengths are offered.
    choosing_form: Option<usize>,
    dialog: Option<Dialog>,
    action_error: Option<String>,
    /// The last row removed, until it is undone or another is removed.
    removed: Option<Removed>,
    /// The widget that had keyboard focus last frame, to scroll a newly focused one into view.
    focused: Option<egui::Id>,
    /// "Take over this draft?" is being asked.
    asking_take_over: bool,
}

/// A diagnosis, prescription or lab result just removed, with the list as it was before.
#[derive(Clone, Debug)]
enum Removed {
    Diagnoses {
        before: Vec<Diagnosis>,
        what: String,
    },
    Prescriptions {
        before: Vec<Prescription>,
        what: String,
    },
    LabResults {
        before: Vec<LabResult>,
        what: String,
    },
}

impl Removed {
    fn message(&self) -> String {
        match self {
            Self::Diagnoses { what, .. } => format!("Removed the diagnosis “{what}”."),
            Self::Prescriptions { what, .. } => format!("Removed the prescription “{what}”."),
            Self::LabResults { what, .. } => format!("Removed the lab result “{what}”."),
        }
    }
}

impl VisitEditor {
    /// A new draft visit for `patient_id` by `clinician`, not saved until something is typed.
    pub fn new_visit(
        store: &Store,
        patient_id: PatientId,
        clinician: &crate::model::Signer,
        today: NaiveDate,
    ) -> Result<Self, StoreError> {
        let mut encounter = Encounter::new_draft(patient_id, &clinician.full_name, Utc::now());
        encounter.clinician_id = clinician.user_id;
        Self::with_encounter(store, encounter, false, today)
    }

    /// An existing visit, read from the store.
    pub fn open(
        store: &Store,
        encounter_id: EncounterId,
        today: NaiveDate,
    ) -> Result<Self, StoreError> {
        let encounter = store.encounter(encounter_id)?;
        let mut editor = Self::with_encounter(store, encounter, true, today)?;
        editor.amendments = store.amendments(encounter_id)?;
        editor.refresh_images(store);
        Ok(editor)
    }

    /// Counts the images linked to this visit again (after an import).
    pub fn refresh_images(&mut self, store: &Store) {
        self.images = store
            .visit_image_count(self.encounter.patient_id, self.encounter.encounter_id)
            .unwrap_or(0);
    }

    fn with_encounter(
        store: &Store,
        encounter: Encounter,
        in_store: bool,
        today: NaiveDate,
    ) -> Result<Self, StoreError> {
        let patient = store.patient(encounter.patient_id)?;
        let age_months = patient
            .birth
            .and_then(|b| age_on(b.date, today))
            .map(|(years, months, _)| years * 12 + months);
        Ok(Self {
            vital_text: vital_texts(&encounter.vitals),
            patient_name: patient.display_name(),
            patient_facts: patient_facts(&patient, today),
            age_months,
            allergy_status: store.allergy_status(encounter.patient_id)?,
            allergies: store.allergies(encounter.patient_id)?,
            amendments: Vec::new(),
            encounter,
            in_store,
            images: 0,
            dirty: false,
            last_change: 0.0,
            autosave_blocked: false,
            save_state: SaveState::NotYet,
            diagnosis_picker: Icd10Picker::new("Find diagnosis"),
            medicine_lookup: None,
            choosing_form: None,
            dialog: None,
            action_error: None,
            removed: None,
            focused: None,
            asking_take_over: false,
        })
    }

    /// True once the visit is in the store (images can be linked to it).
    pub fn is_saved(&self) -> bool {
        self.in_store
    }

    /// The visit being edited.
    pub fn encounter_id(&self) -> EncounterId {
        self.encounter.encounter_id
    }

    /// Whose visit it is.
    pub fn patient_id(&self) -> PatientId {
        self.encounter.patient_id
    }

    /// The draft to save before leaving the editor: `Ok(None)` when there is nothing unsaved,
    /// `Err` with the reason when what is typed cannot be saved.
    pub fn unsaved_draft(&self) -> Result<Option<Encounter>, String> {
        if !self.encounter.is_draft() || !self.dirty {
            return Ok(None);
        }
        self.build().map(Some)
    }

    /// The store saved `saved`, built from what the editor holds now.
    pub fn draft_saved(&mut self, saved: &Encounter) {
        self.in_store = true;
        if self.build().as_ref() == Ok(saved) {
            self.dirty = false;
        }
        self.autosave_blocked = false;
        self.save_state = SaveState::Saved(Local::now().format("%H:%M:%S").to_string());
    }

    /// The store refused the draft: say why, keep everything typed, and wait for the next change
    /// before trying again.
    pub fn save_failed(&mut self, error: &crate::app::AppError) {
        self.save_state = SaveState::Failed(super::widgets::app_error_text(error));
        self.autosave_blocked = true;
    }

    /// The visit was signed or voided: show it as the store now holds it, read-only.
    pub fn replace_encounter(&mut self, encounter: Encounter) {
        self.vital_text = vital_texts(&encounter.vitals);
        self.encounter = encounter;
        self.in_store = true;
        self.dirty = false;
        self.dialog = None;
        self.action_error = None;
        self.medicine_lookup = None;
    }

    /// Signing, voiding or amending failed.
    pub fn action_failed(&mut self, error: &crate::app::AppError) {
        let text = super::widgets::app_error_text(error);
        match &mut self.dialog {
            Some(Dialog::Amend(form)) => form.error = Some(text),
            Some(Dialog::Void { error, .. }) => *error = Some(text),
            Some(Dialog::Sign | Dialog::Allergy { .. }) | None => {
                self.dialog = None;
                self.action_error = Some(format!("The visit was not signed: {text}"));
            }
        }
    }

    /// An amendment was added: show the list as the store holds it.
    pub fn amendments_changed(&mut self, amendments: Vec<Amendment>) {
        self.amendments = amendments;
        self.dialog = None;
        self.action_error = None;
    }

    /// The encounter as it would be saved: vitals read from their fields, blank rows left out.
    fn build(&self) -> Result<Encounter, String> {
        let mut encounter = self.encounter.clone();
        let mut vitals = Vitals::default();
        for (range, text) in VITAL_RANGES.iter().zip(&self.vital_text) {
            match parse_vital(text) {
                Ok(value) => {
                    if let Some(slot) = vitals.get_mut(range.field) {
                        *slot = value;
                    }
                }
                Err(()) => {
                    return Err(format!("{}: {}", range.label, not_a_number(range.unit)));
                }
            }
        }
        encounter.vitals = vitals;
        encounter
            .prescriptions
            .retain(|p| !is_blank_prescription(p));
        encounter
            .lab_results
            .retain(|l| !(l.test.trim().is_empty() && l.value.trim().is_empty()));
        let validation = encounter.validate();
        if !validation.is_valid() {
            return Err(validation.summary());
        }
        if let Some((_, alert)) = unanswered_alerts(&encounter, &self.allergies).first() {
            return Err(format!(
                "{} meets the allergy to {}: answer the allergy alert, or change the medicine.",
                alert.medicine, alert.allergy
            ));
        }
        Ok(encounter)
    }

    /// The weight typed in this visit, in kg.
    fn weight_kg(&self) -> Option<f64> {
        VITAL_RANGES
            .iter()
            .zip(&self.vital_text)
            .find(|(range, _)| range.field == "weight_kg")
            .and_then(|(_, text)| parse_vital(text).ok().flatten())
    }

    /// Whether the patient is a child whose doses the table checks.
    fn dose_checked(&self) -> bool {
        self.age_months
            .is_some_and(|months| months < DOSE_CHECK_UNDER_YEARS * 12)
    }

    /// Opens the allergy alert for prescription line `row` if it has one no reason answers yet.
    fn ask_about_alerts(&mut self, row: usize) {
        if self.dialog.is_some() {
            return;
        }
        let Some(line) = self.encounter.prescriptions.get(row) else {
            return;
        };
        let alerts = unanswered_line_alerts(line, &self.allergies);
        if !alerts.is_empty() {
            self.dialog = Some(Dialog::Allergy {
                row,
                alerts,
                reason: String::new(),
            });
        }
    }

    /// Sends the draft to be saved, or says why it cannot be.
    fn save_now(&mut self, cx: &mut ViewContext<'_>) {
        match self.build() {
            Ok(encounter) => cx.send(Command::change(AppCommand::SaveEncounter(encounter))),
            Err(reason) => {
                self.save_state = SaveState::Failed(reason);
                self.autosave_blocked = true;
            }
        }
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let before = (self.encounter.clone(), self.vital_text.clone());
        let draft = self.encounter.is_draft();

        self.header_ui(ui, cx);
        ui.add_space(6.0);
        allergy_banner_ui(ui, self.allergy_status, &self.allergies);
        ui.add_space(4.0);
        self.toolbar_ui(ui, cx);
        error_label(ui, self.action_error.as_deref());
        // Another clinician's draft is read here, and written only after a hand-over; a nurse
        // still records the vital signs in it.
        let someone_elses = draft
            && self.in_store
            && !cx.signer.is_author_of(&self.encounter)
            && cx.allows(Action::WriteClinical);
        if someone_elses {
            self.take_over_ui(ui, cx);
        }
        if draft {
            self.undo_ui(ui);
        }
        ui.add_space(6.0);

        // A widget that just took the keyboard focus (Tab) is scrolled into view, so nobody
        // presses Space on a button they cannot see.
        let focused = ui.memory(|m| m.focused());
        let newly_focused = focused.filter(|id| Some(*id) != self.focused);
        self.focused = focused;
        egui::ScrollArea::vertical()
            .id_salt("visit_editor")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if draft {
                    ui.add_enabled_ui(!someone_elses, |ui| self.draft_ui(ui, cx));
                } else {
                    self.read_only_ui(ui);
                }
                if let Some(rect) = newly_focused
                    .and_then(|id| ui.ctx().read_response(id))
                    .map(|r| r.rect)
                {
                    ui.scroll_to_rect(rect, None);
                }
            });

        self.dialog_ui(ui, cx);

        if draft && self.encounter.is_draft() {
            let now = ui.input(|i| i.time);
            if (self.encounter.clone(), self.vital_text.clone()) != before {
                self.dirty = true;
                self.last_change = now;
                self.autosave_blocked = false;
            }
            // Ctrl+S saves at once, even a draft whose autosave waits for a correction (it then
            // says again what is wrong).
            let save_key = ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::S));
            if save_key {
                self.save_now(cx);
            } else if self.dirty && !self.autosave_blocked {
                let due = self.last_change + AUTOSAVE_DELAY_SECS;
                if now >= due {
                    self.save_now(cx);
                } else {
                    ui.ctx().request_repaint_after(
                        Duration::try_from_secs_f64(due - now)
                            .unwrap_or(Duration::from_millis(250)),
                    );
                }
            }
        }
    }

    fn header_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        // On a short screen (a 1024 × 640 clinic monitor) the header is one line, so the visit
        // itself keeps most of the height.
        let compact = ui.available_height() < 700.0;
        egui::Frame::new()
            .fill(super::widgets::NEUTRAL_FILL)
            .corner_radius(6)
            .inner_margin(if compact { 6 } else { 12 })
            .show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    let started = format!(
                        "Started {}",
                        format_local_time(self.encounter.started_at)
                    );
                    if compact {
                        ui.label(
                            RichText::new(format!("Visit: {}", self.patient_name)).strong(),
                        );
                        ui.label(RichText::new(&self.patient_facts).weak());
                        ui.label(RichText::new(started).weak());
                        status_ui(ui, &self.encounter.status);
                    } else {
                        ui.vertical(|ui| {
                            ui.label(
                                RichText::new(format!("Visit: {}", self.patient_name))
                                    .heading()
                                    .strong(),
                            );
                            ui.label(&self.patient_facts);
                            ui.label(RichText::new(started).weak());
                            status_ui(ui, &self.encounter.status);
                        });
                    }
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::TOP), |ui| {
                        if ui.button("Back to chart").clicked() {
                            cx.send(Command::Open(Screen::Chart(self.encounter.patient_id)));
                        }
                        if ui
                            .add_enabled(self.in_store, egui::Button::new("Attach images…"))
                            .on_hover_text("Import images (DICOM, a CD, photos) linked to this visit; files can also be dropped here")
                            .on_disabled_hover_text("Save the visit first")
                            .clicked()
                        {
                            cx.send(Command::PickImages {
                                patient_id: self.encounter.patient_id,
                                encounter_id: Some(self.encounter.encounter_id),
                                folder: false,
                            });
                        }
                        if self.images > 0
                            && ui
                                .button(format!("View images ({})", self.images))
                                .clicked()
                        {
                            cx.send(Command::Open(Screen::Imaging {
                                patient_id: self.encounter.patient_id,
                                study_uid: None,
                            }));
                        }
                    });
                });
            });
    }

    /// Save, sign, amend and void, with the save line.
    fn toolbar_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let state = self.encounter.status.code();
        ui.horizontal(|ui| match state {
            "draft" => {
                if ui.button("Save draft").clicked() {
                    self.save_now(cx);
                }
                if cx.allows(Action::SignVisit) && ui.button("Sign visit…").clicked() {
                    self.dialog = Some(Dialog::Sign);
                }
                if cx.allows(Action::VoidVisit)
                    && ui
                        .add_enabled(self.in_store, egui::Button::new("Void visit…"))
                        .on_disabled_hover_text("A visit that was never saved needs no voiding")
                        .clicked()
                {
                    self.dialog = Some(Dialog::Void {
                        reason: String::new(),
                        error: None,
                    });
                }
                ui.add_space(12.0);
                match (&self.save_state, self.dirty) {
                    (SaveState::Failed(reason), _) => {
                        ui.label(
                            RichText::new(format!("Draft not saved: {reason}")).color(ERROR_TEXT),
                        );
                    }
                    (SaveState::Saved(time), false) => {
                        ui.label(RichText::new(format!("Draft saved {time}")).color(OK_TEXT));
                    }
                    (_, true) => {
                        ui.label(RichText::new("Saving shortly…").weak());
                    }
                    (SaveState::NotYet, false) if self.in_store => {
                        ui.label(RichText::new("Draft").weak());
                    }
                    (SaveState::NotYet, false) => {
                        ui.label(RichText::new("New visit: saved as soon as you type").weak());
                    }
                }
            }
            "signed" => {
                if cx.allows(Action::ReadClinical)
                    && ui
                        .button("Print…")
                        .on_hover_text("Prescription, visit summary, referral letter or sick note")
                        .clicked()
                {
                    // What is printed is the visit as amended: a stopped medicine is not on it.
                    let current = self.encounter.as_amended(&self.amendments);
                    cx.send(Command::Print(super::printing::PrintSource::Visit {
                        encounter_id: current.encounter_id,
                        day: current
                            .started_at
                            .with_timezone(&chrono::Local)
                            .date_naive(),
                        prescribes: !current.prescriptions.is_empty(),
                    }));
                }
                if cx.allows(Action::AmendVisit) && ui.button("Amend…").clicked() {
                    self.dialog = Some(Dialog::Amend(Box::new(AmendForm::new(
                        &self.encounter,
                        &self.amendments,
                        self.age_months,
                    ))));
                }
                if cx.allows(Action::VoidVisit) && ui.button("Void visit…").clicked() {
                    self.dialog = Some(Dialog::Void {
                        reason: String::new(),
                        error: None,
                    });
                }
            }
            _ => {
                ui.label(
                    RichText::new("This visit is void and no longer part of the record.").weak(),
                );
            }
        });
    }

    /// The editable form of a draft.
    fn draft_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let clinical = cx.allows(Action::WriteClinical);
        two_columns_ui(ui, 0.45, |ui, column| {
            if column == 0 {
                section_ui(ui, "Visit", |ui| {
                    egui::Grid::new("visit_facts")
                        .num_columns(2)
                        .spacing([12.0, 8.0])
                        .show(ui, |ui| {
                            let label = ui.label("Kind of visit");
                            egui::ComboBox::from_id_salt("visit_kind")
                                .selected_text(self.encounter.kind.label())
                                .show_ui(ui, |ui| {
                                    for kind in EncounterKind::ALL {
                                        super::widgets::pick(
                                            ui,
                                            &mut self.encounter.kind,
                                            kind,
                                            kind.label(),
                                        );
                                    }
                                })
                                .response
                                .labelled_by(label.id);
                            ui.end_row();
                            // The author is whoever first saved the visit, never typed.
                            ui.label("Clinician");
                            ui.label(RichText::new(self.encounter.clinician.trim()).strong());
                            ui.end_row();
                        });
                    if !cx.signer.is_author_of(&self.encounter) {
                        ui.label(
                            RichText::new(format!(
                                "Only {} can sign this visit.",
                                self.encounter.clinician.trim()
                            ))
                            .weak(),
                        );
                    }
                });
                ui.add_space(8.0);
                section_ui(ui, "Vital signs", |ui| self.vitals_ui(ui));
            } else {
                section_ui(ui, "Complaint and findings", |ui| {
                    labelled_multiline(
                        ui,
                        "Chief complaint",
                        &mut self.encounter.chief_complaint,
                        2,
                    );
                    // A nurse triages: the reason for the visit and vital signs, nothing more.
                    ui.add_enabled_ui(clinical, |ui| {
                        ui.add_space(4.0);
                        labelled_multiline(ui, "History", &mut self.encounter.history, 4);
                        ui.add_space(4.0);
                        labelled_multiline(ui, "Examination", &mut self.encounter.examination, 4);
                    });
                });
            }
        });
        if !clinical {
            ui.label(
                RichText::new("Diagnoses, prescriptions and the plan are written by a clinician.")
                    .weak(),
            );
        }
        ui.add_enabled_ui(clinical, |ui| {
            ui.add_space(8.0);
            section_ui(ui, "Diagnoses", |ui| self.diagnoses_ui(ui, cx));
            ui.add_space(8.0);
            section_ui(ui, "Prescriptions", |ui| self.prescriptions_ui(ui, cx));
            ui.add_space(8.0);
            section_ui(ui, "Lab results", |ui| self.lab_results_ui(ui));
            ui.add_space(8.0);
            section_ui(ui, "Plan and follow-up", |ui| self.plan_ui(ui, cx.today));
        });
    }

    fn vitals_ui(&mut self, ui: &mut Ui) {
        let age_months = self.age_months;
        vital_fields_ui(
            ui,
            "vitals",
            &mut self.vital_text,
            age_months,
            |ui, vitals| {
                bmi_row_ui(ui, vitals, age_months, true);
            },
        );
    }

    /// Whose draft this is, and the hand-over to the signed-in clinician.
    fn take_over_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let author = self.encounter.clinician.trim().to_owned();
        ui.horizontal_wrapped(|ui| {
            if self.asking_take_over {
                ui.label(
                    RichText::new(format!(
                        "Take over {author}'s draft? It becomes yours, and the hand-over is recorded."
                    ))
                    .strong(),
                );
                if ui.button("Take over").clicked() {
                    self.asking_take_over = false;
                    cx.send(Command::change(AppCommand::TakeOverDraft(
                        self.encounter.encounter_id,
                    )));
                }
                if ui.button("Cancel").clicked() {
                    self.asking_take_over = false;
                }
            } else {
                ui.label(
                    RichText::new(format!("This draft is {author}'s: you can read it.")).weak(),
                );
                if ui.button("Take over this draft…").clicked() {
                    self.asking_take_over = true;
                }
            }
        });
    }

    /// "Removed …  Undo" after a row was removed; Ctrl+Z (outside a text field) undoes it too.
    fn undo_ui(&mut self, ui: &mut Ui) {
        let Some(removed) = &self.removed else {
            return;
        };
        let mut undo = !ui.ctx().egui_wants_keyboard_input()
            && ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z));
        ui.horizontal(|ui| {
            ui.label(RichText::new(removed.message()).color(WARNING_TEXT));
            undo |= ui
                .button("Undo")
                .on_hover_text(ui.ctx().format_shortcut(&egui::KeyboardShortcut::new(
                    egui::Modifiers::COMMAND,
                    egui::Key::Z,
                )))
                .clicked();
        });
        if undo && let Some(removed) = self.removed.take() {
            match removed {
                Removed::Diagnoses { before, .. } => self.encounter.diagnoses = before,
                Removed::Prescriptions { before, .. } => self.encounter.prescriptions = before,
                Removed::LabResults { before, .. } => self.encounter.lab_results = before,
            }
        }
    }

    fn diagnoses_ui(&mut self, ui: &mut Ui, cx: &ViewContext<'_>) {
        let mut remove: Option<usize> = None;
        let mut make_primary: Option<usize> = None;
        if self.encounter.diagnoses.is_empty() {
            ui.label(RichText::new("No diagnosis yet.").weak());
        }
        for (index, diagnosis) in self.encounter.diagnoses.iter().enumerate() {
            ui.push_id(("diagnosis", index), |ui| {
                ui.horizontal(|ui| {
                    if ui.radio(diagnosis.primary, "Primary").clicked() {
                        make_primary = Some(index);
                    }
                    if let Some(code) = &diagnosis.code {
                        ui.label(RichText::new(code).monospace().strong());
                    }
                    ui.label(&diagnosis.title);
                    if ui.small_button("Remove").clicked() {
                        remove = Some(index);
                    }
                });
            });
        }
        if let Some(index) = make_primary {
            for (i, diagnosis) in self.encounter.diagnoses.iter_mut().enumerate() {
                diagnosis.primary = i == index;
            }
        }
        if let Some(index) = remove
            && index < self.encounter.diagnoses.len()
        {
            let before = self.encounter.diagnoses.clone();
            let removed = self.encounter.diagnoses.remove(index);
            self.removed = Some(Removed::Diagnoses {
                before,
                what: match &removed.code {
                    Some(code) => format!("{code} {}", removed.title),
                    None => removed.title.clone(),
                },
            });
            if removed.primary
                && let Some(first) = self.encounter.diagnoses.first_mut()
            {
                first.primary = true;
            }
        }
        ui.add_space(4.0);
        if let Some(choice) = self.diagnosis_picker.ui(ui, cx) {
            let (code, title) = match choice {
                Icd10Choice::Code(code) => (Some(code.code), code.title),
                Icd10Choice::FreeText(text) => (None, text),
            };
            let primary = !self.encounter.diagnoses.iter().any(|d| d.primary);
            self.encounter.diagnoses.push(Diagnosis {
                code,
                title,
                primary,
            });
        }
    }

    fn prescriptions_ui(&mut self, ui: &mut Ui, cx: &ViewContext<'_>) {
        const COLUMNS: [(&str, f32); 8] = [
            ("Medicine", 180.0),
            ("Strength", 80.0),
            ("Dose", 90.0),
            ("Route", 70.0),
            ("Frequency", 110.0),
            ("Duration", 80.0),
            ("Quantity", 60.0),
            ("Instructions", 170.0),
        ];
        let mut remove: Option<usize> = None;
        let mut lookup_request: Option<(usize, String)> = None;
        let mut left_medicine: Option<usize> = None;
        if self.encounter.prescriptions.is_empty() {
            ui.label(RichText::new("No prescriptions.").weak());
        } else {
            egui::ScrollArea::horizontal()
                .id_salt("prescriptions_scroll")
                .show(ui, |ui| {
                    egui::Grid::new("prescriptions")
                        .num_columns(COLUMNS.len() + 2)
                        .spacing([6.0, 6.0])
                        .striped(true)
                        .show(ui, |ui| {
                            let header: Vec<Id> = COLUMNS
                                .iter()
                                .map(|(title, _)| ui.label(RichText::new(*title).strong()).id)
                                .collect();
                            ui.label("");
                            ui.label("");
                            ui.end_row();
                            for (index, prescription) in
                                self.encounter.prescriptions.iter_mut().enumerate()
                            {
                                let fields: [&mut String; 8] = [
                                    &mut prescription.medicine,
                                    &mut prescription.strength,
                                    &mut prescription.dose,
                                    &mut prescription.route,
                                    &mut prescription.frequency,
                                    &mut prescription.duration,
                                    &mut prescription.quantity,
                                    &mut prescription.instructions,
                                ];
                                for (column, (text, (&label_id, (_, width)))) in fields
                                    .into_iter()
                                    .zip(header.iter().zip(COLUMNS.iter()))
                                    .enumerate()
                                {
                                    let response = ui
                                        .add(
                                            TextEdit::singleline(text)
                                                .id_salt(("prescription", index, column))
                                                .desired_width(*width)
                                                .min_size(egui::vec2(*width, 0.0)),
                                        )
                                        .labelled_by(label_id);
                                    if column == 0
                                        && response.has_focus()
                                        && (response.changed() || response.gained_focus())
                                    {
                                        lookup_request = Some((index, text.clone()));
                                    }
                                    if column == 0 && response.lost_focus() {
                                        left_medicine = Some(index);
                                    }
                                }
                                ui.checkbox(&mut prescription.as_directed, "As directed")
                                    .on_hover_text(
                                        "No dose, frequency or duration is written, on purpose",
                                    );
                                if ui
                                    .small_button("Remove")
                                    .on_hover_text("Remove this prescription")
                                    .clicked()
                                {
                                    remove = Some(index);
                                }
                                ui.end_row();
                            }
                        });
                });
        }
        if let Some((row, prefix)) = lookup_request {
            self.look_up_medicines(cx.store, row, prefix);
        }
        if let Some(row) = left_medicine {
            self.ask_about_alerts(row);
        }
        self.prescription_notes_ui(ui);
        if let Some(index) = remove
            && index < self.encounter.prescriptions.len()
        {
            let before = self.encounter.prescriptions.clone();
            let removed = self.encounter.prescriptions.remove(index);
            self.removed = Some(Removed::Prescriptions {
                before,
                what: removed.medicine.trim().to_owned(),
            });
            self.medicine_lookup = None;
        }
        self.medicine_suggestions_ui(ui);
        self.forms_ui(ui);
        if ui.button("Add prescription").clicked() {
            self.encounter.prescriptions.push(Prescription {
                route: "oral".to_owned(),
                ..Prescription::default()
            });
        }
    }

    fn look_up_medicines(&mut self, store: &Store, row: usize, prefix: String) {
        let prefix_trimmed = prefix.trim();
        if prefix_trimmed.is_empty() {
            self.medicine_lookup = None;
            return;
        }
        if self
            .medicine_lookup
            .as_ref()
            .is_some_and(|l| l.row == row && l.prefix == prefix_trimmed)
        {
            return;
        }
        // A failed look-up only means no suggestions; typing goes on.
        let suggestions = store
            .suggest_medicines(prefix_trimmed, MEDICINE_SUGGESTIONS)
            .unwrap_or_default();
        self.medicine_lookup = Some(MedicineLookup {
            row,
            prefix: prefix_trimmed.to_owned(),
            suggestions,
            listed: medicine_list().search(prefix_trimmed, MEDICINE_SUGGESTIONS),
        });
    }

    /// Under the prescriptions: each line's allergy alert (with the way to answer it), the
    /// answer given, and a child's dose above the table's range.
    fn prescription_notes_ui(&mut self, ui: &mut Ui) {
        let weight = self.weight_kg();
        let child = self.dose_checked();
        let mut answer: Option<usize> = None;
        for (index, line) in self.encounter.prescriptions.iter().enumerate() {
            let alerts = allergy_alerts(line, &self.allergies);
            let unanswered = unanswered_line_alerts(line, &self.allergies);
            for alert in &unanswered {
                ui.horizontal_wrapped(|ui| {
                    ui.label(
                        RichText::new(format!("⚠ Allergy alert: {}", alert.message()))
                            .color(ERROR_TEXT)
                            .strong(),
                    );
                });
            }
            if !unanswered.is_empty()
                && ui
                    .button(format!(
                        "Answer the allergy alert for {}…",
                        line.medicine.trim()
                    ))
                    .clicked()
            {
                answer = Some(index);
            }
            if let Some(given) = &line.allergy_override
                && !alerts.is_empty()
            {
                ui.label(
                    RichText::new(format!(
                        "{} prescribed despite the allergy to {}: {}",
                        line.medicine.trim(),
                        given.allergies.join(", "),
                        given.reason.trim()
                    ))
                    .color(WARNING_TEXT),
                );
            }
            if child && !line.as_directed && has_dose_limits(&line.medicine) {
                match weight {
                    Some(kg) => {
                        if let Some(warning) = dose_warning(line, kg) {
                            warning_label(
                                ui,
                                &format!("Dose above the range: {}", warning.message),
                            );
                        }
                    }
                    None => {
                        ui.label(
                            RichText::new(format!(
                                "Weigh the child to check the dose of {}.",
                                line.medicine.trim()
                            ))
                            .weak(),
                        );
                    }
                }
            }
        }
        if let Some(row) = answer {
            self.dialog = None;
            self.ask_about_alerts(row);
        }
    }

    /// The forms and strengths of a medicine just picked from the list; one click fills the
    /// strength and the route.
    fn forms_ui(&mut self, ui: &mut Ui) {
        let Some(row) = self.choosing_form else {
            return;
        };
        let Some(medicine) = self
            .encounter
            .prescriptions
            .get(row)
            .and_then(|line| medicine_list().find(&line.medicine))
        else {
            self.choosing_form = None;
            return;
        };
        if medicine.forms.is_empty() {
            self.choosing_form = None;
            return;
        }
        let mut chosen: Option<&str> = None;
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("{} comes as:", medicine.display_name())).weak());
            for form in &medicine.forms {
                if ui.small_button(form).clicked() {
                    chosen = Some(form);
                }
            }
            if ui
                .small_button("Other")
                .on_hover_text("Type the strength")
                .clicked()
            {
                self.choosing_form = None;
            }
        });
        if let Some(form) = chosen
            && let Some(line) = self.encounter.prescriptions.get_mut(row)
        {
            let (strength, route) = strength_and_route(form);
            line.strength = strength;
            line.route = route.to_owned();
            self.choosing_form = None;
        }
    }

    fn medicine_suggestions_ui(&mut self, ui: &mut Ui) {
        let Some(lookup) = &self.medicine_lookup else {
            return;
        };
        let Some(current) = self.encounter.prescriptions.get(lookup.row) else {
            return;
        };
        let offered: Vec<&MedicineSuggestion> = lookup
            .suggestions
            .iter()
            .filter(|s| s.medicine != current.medicine)
            .collect();
        // A medicine of the list prescribed here before is offered once, among those.
        let listed: Vec<&Medicine> = lookup
            .listed
            .iter()
            .copied()
            .filter(|m| {
                let name = m.display_name();
                name != current.medicine
                    && !offered
                        .iter()
                        .any(|s| s.medicine.trim().eq_ignore_ascii_case(&name))
            })
            .collect();
        if offered.is_empty() && listed.is_empty() {
            return;
        }
        let mut chosen: Option<(String, bool)> = None;
        if !offered.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new("Prescribed here before:").weak());
                for suggestion in offered {
                    if ui
                        .small_button(&suggestion.medicine)
                        .on_hover_text(format!("Prescribed {} times", suggestion.uses))
                        .clicked()
                    {
                        chosen = Some((
                            suggestion.medicine.clone(),
                            medicine_list().find(&suggestion.medicine).is_some(),
                        ));
                    }
                }
            });
        }
        if !listed.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new("Medicine list:").weak());
                for medicine in listed {
                    if ui
                        .small_button(medicine.display_name())
                        .on_hover_text(format!(
                            "{} ({})",
                            medicine.group,
                            if medicine.synonyms.is_empty() {
                                medicine.forms.join(", ")
                            } else {
                                format!("also {}", medicine.synonyms.join(", "))
                            }
                        ))
                        .clicked()
                    {
                        chosen = Some((medicine.display_name(), true));
                    }
                }
            });
        }
        if let Some((medicine, from_list)) = chosen {
            let row = lookup.row;
            if let Some(prescription) = self.encounter.prescriptions.get_mut(row) {
                prescription.medicine = medicine;
            }
            self.medicine_lookup = None;
            self.choosing_form = from_list.then_some(row);
            self.ask_about_alerts(row);
        }
    }

    fn lab_results_ui(&mut self, ui: &mut Ui) {
        let mut remove: Option<usize> = None;
        if self.encounter.lab_results.is_empty() {
            ui.label(RichText::new("No lab results.").weak());
        } else {
            egui::Grid::new("lab_results")
                .num_columns(5)
                .spacing([6.0, 6.0])
                .striped(true)
                .show(ui, |ui| {
                    let test = ui.label(RichText::new("Test").strong()).id;
                    let value = ui.label(RichText::new("Value").strong()).id;
                    let unit = ui.label(RichText::new("Unit").strong()).id;
                    ui.label("");
                    ui.label("");
                    ui.end_row();
                    for (index, lab) in self.encounter.lab_results.iter_mut().enumerate() {
                        for (text, label_id, width, column) in [
                            (&mut lab.test, test, 200.0, 0),
                            (&mut lab.value, value, 100.0, 1),
                            (&mut lab.unit, unit, 80.0, 2),
                        ] {
                            ui.add(
                                TextEdit::singleline(text)
                                    .id_salt(("lab", index, column))
                                    .desired_width(width)
                                    .min_size(egui::vec2(width, 0.0)),
                            )
                            .labelled_by(label_id);
                        }
                        ui.push_id(("lab_abnormal", index), |ui| {
                            ui.checkbox(&mut lab.abnormal, "Abnormal");
                        });
                        if ui
                            .small_button("Remove")
                            .on_hover_text("Remove this lab result")
                            .clicked()
                        {
                            remove = Some(index);
                        }
                        ui.end_row();
                    }
                });
        }
        if let Some(index) = remove
            && index < self.encounter.lab_results.len()
        {
            let before = self.encounter.lab_results.clone();
            let removed = self.encounter.lab_results.remove(index);
            self.removed = Some(Removed::LabResults {
                before,
                what: removed.test.trim().to_owned(),
            });
        }
        if ui.button("Add lab result").clicked() {
            self.encounter.lab_results.push(LabResult::default());
        }
    }

    fn plan_ui(&mut self, ui: &mut Ui, today: NaiveDate) {
        labelled_multiline(ui, "Plan", &mut self.encounter.plan, 3);
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            let label = ui.label("Follow-up date");
            match self.encounter.follow_up {
                Some(date) => {
                    let Some(mut picked) = super::widgets::jiff_from_chrono(date) else {
                        self.encounter.follow_up = None;
                        return;
                    };
                    let response = ui
                        .add(
                            egui_extras::DatePickerButton::new(&mut picked)
                                .id_salt("follow_up_picker")
                                .show_icon(false)
                                .calendar_week(false)
                                .highlight_weekends(false)
                                .format("%d %B %Y"),
                        )
                        .labelled_by(label.id);
                    if response.changed()
                        && let Some(date) = super::widgets::chrono_from_jiff(picked)
                    {
                        self.encounter.follow_up = Some(date);
                    }
                    if ui.button("Clear").on_hover_text("No follow-up").clicked() {
                        self.encounter.follow_up = None;
                    }
                }
                None => {
                    ui.label(RichText::new("None").weak());
                    if ui.button("Set follow-up date").clicked() {
                        self.encounter.follow_up = Some(
                            today
                                .checked_add_days(chrono::Days::new(7))
                                .unwrap_or(today),
                        );
                    }
                }
            }
        });
        if let Some(follow_up) = self.encounter.follow_up
            && follow_up < self.encounter.started_at.with_timezone(&Local).date_naive()
        {
            error_label(ui, Some("The follow-up date is before the visit."));
        }
    }

    /// A signed or voided visit: everything as text, amendments first so no correction is missed.
    fn read_only_ui(&self, ui: &mut Ui) {
        let encounter = &self.encounter;
        if !self.amendments.is_empty() {
            section_ui(
                ui,
                &format!("Amendments ({})", self.amendments.len()),
                |ui| {
                    // Every diagnosis the visit has had, to name the ones withdrawn.
                    let known: Vec<Diagnosis> = encounter
                        .current_diagnoses(&self.amendments)
                        .into_iter()
                        .map(|c| c.diagnosis)
                        .collect();
                    for amendment in &self.amendments {
                        egui::Frame::new()
                            .fill(super::widgets::WARNING_FILL)
                            .corner_radius(4)
                            .inner_margin(8)
                            .show(ui, |ui| {
                                ui.set_width(ui.available_width());
                                ui.label(
                                    RichText::new(format!(
                                        "Amendment by {}, {}",
                                        amendment.author,
                                        format_local_time(amendment.created_at)
                                    ))
                                    .strong(),
                                );
                                if !amendment.text.is_empty() {
                                    ui.label(&amendment.text);
                                }
                                for line in correction_lines(amendment, &known) {
                                    ui.label(line);
                                }
                                ui.label(
                                    RichText::new(format!("Reason: {}", amendment.reason)).weak(),
                                );
                            });
                        ui.add_space(4.0);
                    }
                },
            );
            ui.add_space(8.0);
        }
        two_columns_ui(ui, 0.45, |ui, column| {
            if column == 0 {
                section_ui(ui, "Visit", |ui| {
                    ui.label(format!("Kind of visit: {}", encounter.kind.label()));
                    ui.label(format!("Clinician: {}", encounter.clinician));
                });
                ui.add_space(8.0);
                section_ui(ui, "Vital signs", |ui| {
                    // As they stand after the amendments; a corrected value shows what it
                    // replaced, struck through, with who corrected it and when.
                    let current = encounter.as_amended(&self.amendments);
                    let changes = encounter.vital_changes(&self.amendments);
                    if current.vitals.is_empty() && changes.is_empty() {
                        ui.label(RichText::new("Not recorded").weak());
                        return;
                    }
                    let flags = current.vitals.flags(self.age_months);
                    egui::Grid::new("vitals_read_only")
                        .num_columns(3)
                        .spacing([10.0, 6.0])
                        .show(ui, |ui| {
                            for range in &VITAL_RANGES {
                                let value = current.vitals.get(range.field);
                                let corrected: Vec<_> =
                                    changes.iter().filter(|c| c.field == range.field).collect();
                                if value.is_none() && corrected.is_empty() {
                                    continue;
                                }
                                ui.label(range.label);
                                ui.horizontal(|ui| {
                                    for change in &corrected {
                                        let was = change
                                            .was
                                            .map(|v| format!("{v} {}", range.unit))
                                            .unwrap_or_else(|| "not recorded".to_owned());
                                        ui.label(RichText::new(was).strikethrough().weak());
                                    }
                                    match value {
                                        Some(value) => ui.label(format!("{value} {}", range.unit)),
                                        None => ui.label(RichText::new("not recorded").weak()),
                                    };
                                });
                                let names: Vec<&str> = flags
                                    .iter()
                                    .filter(|f| f.field() == range.field)
                                    .map(|f| f.label())
                                    .collect();
                                match corrected.last() {
                                    None if names.is_empty() => {
                                        ui.label("");
                                    }
                                    None => warning_label(ui, &names.join(", ")),
                                    Some(last) => {
                                        ui.vertical(|ui| {
                                            if !names.is_empty() {
                                                warning_label(ui, &names.join(", "));
                                            }
                                            ui.label(
                                                RichText::new(format!(
                                                    "corrected by {}, {}",
                                                    last.by.author,
                                                    format_local_time(last.by.at)
                                                ))
                                                .color(WARNING_TEXT),
                                            );
                                        });
                                    }
                                }
                                ui.end_row();
                            }
                            bmi_row_ui(ui, &current.vitals, self.age_months, false);
                        });
                });
            } else {
                section_ui(ui, "Complaint and findings", |ui| {
                    read_only_text(ui, "Chief complaint", &encounter.chief_complaint);
                    read_only_text(ui, "History", &encounter.history);
                    read_only_text(ui, "Examination", &encounter.examination);
                });
            }
        });
        ui.add_space(8.0);
        section_ui(ui, "Diagnoses", |ui| {
            // As they stand: a withdrawn diagnosis stays visible, struck through, with who
            // withdrew it and when; one an amendment added says so.
            let diagnoses = encounter.current_diagnoses(&self.amendments);
            if diagnoses.is_empty() {
                ui.label(RichText::new("None recorded").weak());
            }
            for current in diagnoses {
                let diagnosis = &current.diagnosis;
                let withdrawn = current.withdrawn.is_some();
                let text = |t: RichText| {
                    if withdrawn {
                        t.strikethrough().weak()
                    } else {
                        t
                    }
                };
                ui.horizontal_wrapped(|ui| {
                    if let Some(code) = &diagnosis.code {
                        ui.label(text(RichText::new(code).monospace().strong()));
                    }
                    ui.label(text(RichText::new(&diagnosis.title)));
                    if diagnosis.primary && !withdrawn {
                        ui.label(RichText::new("(primary)").weak());
                    }
                    for (what, by) in [("added", &current.added), ("withdrawn", &current.withdrawn)]
                    {
                        if let Some(by) = by {
                            ui.label(
                                RichText::new(format!(
                                    "{what} by {}, {}",
                                    by.author,
                                    format_local_time(by.at)
                                ))
                                .color(WARNING_TEXT),
                            );
                        }
                    }
                });
            }
        });
        ui.add_space(8.0);
        section_ui(ui, "Prescriptions", |ui| {
            if encounter.prescriptions.is_empty() {
                ui.label(RichText::new("None").weak());
            }
            // As it stands: a medicine an amendment stopped stays visible, struck through, with
            // who stopped it and when.
            for current in encounter.current_prescriptions(&self.amendments) {
                let p = &current.prescription;
                let details = [&p.strength, &p.dose, &p.route, &p.frequency, &p.duration]
                    .iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ");
                let stopped = current.stopped.is_some();
                let text = |t: RichText| if stopped { t.strikethrough().weak() } else { t };
                ui.horizontal_wrapped(|ui| {
                    ui.label(text(RichText::new(&p.medicine).strong()));
                    ui.label(text(RichText::new(details)));
                    if !p.quantity.trim().is_empty() {
                        ui.label(text(RichText::new(format!(
                            "Quantity {}",
                            p.quantity.trim()
                        ))));
                    }
                    if !p.instructions.trim().is_empty() {
                        ui.label(text(RichText::new(p.instructions.trim()).italics()));
                    }
                    if let Some((by, at)) = &current.stopped {
                        ui.label(
                            RichText::new(format!("stopped by {by}, {}", format_local_time(*at)))
                                .color(WARNING_TEXT),
                        );
                    }
                });
            }
        });
        ui.add_space(8.0);
        section_ui(ui, "Lab results", |ui| {
            if encounter.lab_results.is_empty() {
                ui.label(RichText::new("None").weak());
            }
            for lab in &encounter.lab_results {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(&lab.test).strong());
                    let value = format!("{} {}", lab.value, lab.unit);
                    if lab.abnormal {
                        warning_label(ui, &format!("{} (abnormal)", value.trim()));
                    } else {
                        ui.label(value.trim());
                    }
                });
            }
        });
        ui.add_space(8.0);
        section_ui(ui, "Plan and follow-up", |ui| {
            read_only_text(ui, "Plan", &encounter.plan);
            match encounter.follow_up {
                Some(date) => ui.label(format!(
                    "Follow-up on {}",
                    super::widgets::format_date(date)
                )),
                None => ui.label(RichText::new("No follow-up").weak()),
            };
        });
    }

    /// The open modal, if any.
    fn dialog_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        // Nothing to work out in the frames without a dialog.
        if self.dialog.is_none() {
            return;
        }
        // What signing would need, checked before the dialog borrows the editor.
        let sign_check = matches!(self.dialog, Some(Dialog::Sign)).then(|| {
            self.build().and_then(|e| {
                let v = e.validate_for_signing();
                if v.is_valid() {
                    Ok(e)
                } else {
                    Err(v.summary())
                }
            })
        });
        let summary = if matches!(self.dialog, Some(Dialog::Sign)) {
            self.encounter.signing_summary()
        } else {
            Vec::new()
        };
        // A child's doses above the range are said again before signing.
        let dose_warnings: Vec<String> = match (self.weight_kg(), &self.dialog) {
            (Some(kg), Some(Dialog::Sign)) if self.dose_checked() => self
                .encounter
                .prescriptions
                .iter()
                .filter_map(|p| dose_warning(p, kg))
                .map(|w| format!("Dose above the range: {}", w.message))
                .collect(),
            _ => Vec::new(),
        };
        let author = self.encounter.clinician.trim().to_owned();
        let is_author = cx.signer.is_author_of(&self.encounter);
        let encounter_id = self.encounter.encounter_id;
        let mut allergy_decision: Option<(usize, AllergyDecision)> = None;
        let Some(dialog) = &mut self.dialog else {
            return;
        };
        let close = match dialog {
            Dialog::Allergy {
                row,
                alerts,
                reason,
            } => {
                let modal =
                    egui::Modal::new(Id::unique("allergy_alert_modal")).show(ui.ctx(), |ui| {
                        ui.set_width(520.0);
                        ui.label(
                            RichText::new("⚠ Allergy alert")
                                .heading()
                                .strong()
                                .color(ERROR_TEXT),
                        );
                        ui.add_space(6.0);
                        for alert in alerts.iter() {
                            ui.label(RichText::new(alert.message()).strong());
                        }
                        ui.add_space(6.0);
                        ui.label(
                            "To prescribe it anyway, write why. The reason is kept in the visit \
                             and the audit trail.",
                        );
                        let label = ui.label("Reason to prescribe anyway");
                        ui.add(
                            TextEdit::multiline(reason)
                                .desired_rows(2)
                                .desired_width(f32::INFINITY),
                        )
                        .labelled_by(label.id);
                        ui.add_space(8.0);
                        ui.horizontal(|ui| {
                            if ui
                                .add_enabled(
                                    !reason.trim().is_empty(),
                                    egui::Button::new(RichText::new("Prescribe anyway").strong()),
                                )
                                .on_disabled_hover_text("Write the reason first")
                                .clicked()
                            {
                                allergy_decision = Some((
                                    *row,
                                    AllergyDecision::PrescribeAnyway(AllergyOverride {
                                        medicine: alerts
                                            .first()
                                            .map(|a| a.medicine.clone())
                                            .unwrap_or_default(),
                                        reason: reason.trim().to_owned(),
                                        allergies: alerts
                                            .iter()
                                            .map(|a| a.allergy.clone())
                                            .collect(),
                                    }),
                                ));
                            }
                            if ui.button("Change the medicine").clicked() {
                                allergy_decision = Some((*row, AllergyDecision::Change));
                            }
                            if ui.button("Remove this prescription").clicked() {
                                allergy_decision = Some((*row, AllergyDecision::Remove));
                            }
                        });
                    });
                modal.should_close() || allergy_decision.is_some()
            }
            Dialog::Sign => {
                let problems = sign_check.unwrap_or_else(|| Err(String::new()));
                let may_sign = is_author && cx.allows(crate::model::Action::SignVisit);
                let mut sign: Option<Encounter> = None;
                let modal = egui::Modal::new(Id::unique("sign_visit_modal")).show(ui.ctx(), |ui| {
                    ui.set_width(460.0);
                    ui.label(RichText::new("Sign visit").heading().strong());
                    ui.add_space(6.0);
                    ui.label(
                        "Sign this visit? A signed visit cannot be changed; corrections are added as amendments.",
                    );
                    ui.add_space(6.0);
                    egui::Frame::new()
                        .fill(super::widgets::NEUTRAL_FILL)
                        .corner_radius(4)
                        .inner_margin(8)
                        .show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            ui.label(RichText::new("What you are signing").strong());
                            for line in &summary {
                                ui.label(line);
                            }
                        });
                    for warning in &dose_warnings {
                        warning_label(ui, warning);
                    }
                    if let Err(reason) = &problems {
                        error_label(ui, Some(&format!("Before signing: {reason}")));
                    }
                    if !may_sign {
                        error_label(
                            ui,
                            Some(&format!(
                                "Only {author} can sign this visit; you are signed in as {}.",
                                cx.user_name
                            )),
                        );
                    }
                    ui.add_space(8.0);
                    ui.horizontal(|ui| {
                        let ready = problems.is_ok() && may_sign;
                        if ui
                            .add_enabled(ready, egui::Button::new(RichText::new("Sign").strong()))
                            .clicked()
                            && let Ok(encounter) = &problems
                        {
                            sign = Some(encounter.clone());
                            ui.close();
                        }
                        if ui.button("Cancel").clicked() {
                            ui.close();
                        }
                    });
                });
                if let Some(encounter) = sign {
                    cx.send(Command::change(AppCommand::SignEncounter(encounter)));
                }
                modal.should_close()
            }
            Dialog::Amend(form) => {
                let mut add = false;
                let modal =
                    egui::Modal::new(Id::unique("amend_visit_modal")).show(ui.ctx(), |ui| {
                        ui.set_width(520.0);
                        ui.label(RichText::new("Amend visit").heading().strong());
                        ui.label(
                            "The signed visit stays as it is; the amendment is added beside it.",
                        );
                        ui.add_space(6.0);
                        // A small screen scrolls the form; the buttons stay in sight below it.
                        let height = (ui.ctx().content_rect().height() - 200.0).max(160.0);
                        egui::ScrollArea::vertical()
                            .max_height(height)
                            .auto_shrink([false, true])
                            .show(ui, |ui| form.ui(ui, cx));
                        error_label(ui, form.error.as_deref());
                        ui.add_space(8.0);
                        add = confirm_buttons_ui(
                            ui,
                            "Add amendment",
                            form.ready(),
                            "Write the correction or choose what it changes, and the reason",
                        );
                    });
                if add {
                    // The app service writes the signed-in user as the author.
                    match form.build(cx.user_name) {
                        Ok(amendment) => {
                            form.error = None;
                            cx.send(Command::change(AppCommand::AddAmendment(amendment)));
                        }
                        Err(message) => form.error = Some(message),
                    }
                }
                modal.should_close()
            }
            Dialog::Void { reason, error } => {
                let mut void = false;
                let modal = egui::Modal::new(Id::unique("void_visit_modal")).show(ui.ctx(), |ui| {
                    ui.set_width(460.0);
                    ui.label(RichText::new("Void visit").heading().strong());
                    ui.label(
                        "A void visit stays in the record, marked void, and no longer counts. Use it for a visit recorded for the wrong patient or by mistake.",
                    );
                    ui.add_space(6.0);
                    let label = ui.label(RichText::new("Reason").strong());
                    ui.add(TextEdit::singleline(reason).desired_width(f32::INFINITY))
                        .labelled_by(label.id);
                    error_label(ui, error.as_deref());
                    ui.add_space(8.0);
                    void = confirm_buttons_ui(
                        ui,
                        "Void this visit",
                        !reason.trim().is_empty(),
                        "Say why the visit is being voided",
                    );
                });
                if void {
                    cx.send(Command::change(AppCommand::VoidEncounter {
                        encounter_id,
                        reason: reason.trim().to_owned(),
                    }));
                }
                modal.should_close()
            }
        };
        if close {
            self.dialog = None;
        }
        match allergy_decision {
            Some((row, AllergyDecision::PrescribeAnyway(answer))) => {
                if let Some(line) = self.encounter.prescriptions.get_mut(row) {
                    line.allergy_override = Some(answer);
                }
            }
            Some((row, AllergyDecision::Remove)) if row < self.encounter.prescriptions.len() => {
                let before = self.encounter.prescriptions.clone();
                let removed = self.encounter.prescriptions.remove(row);
                self.removed = Some(Removed::Prescriptions {
                    before,
                    what: removed.medicine.trim().to_owned(),
                });
                self.medicine_lookup = None;
                self.choosing_form = None;
            }
            // Changing the medicine is done in its field; the line stays flagged until then.
            Some((_, AllergyDecision::Change | AllergyDecision::Remove)) | None => {}
        }
    }
}

/// How the prescriber answered an allergy alert.
enum AllergyDecision {
    /// Prescribe it, for this reason.
    PrescribeAnyway(AllergyOverride),
    /// Leave the line as it is to change its medicine.
    Change,
    /// Remove the line.
    Remove,
}

/// What an amendment changes in the record, in words, one line each; `known` names the
/// diagnoses it withdraws.
fn correction_lines(amendment: &Amendment, known: &[Diagnosis]) -> Vec<String> {
    let c = &amendment.corrections;
    let mut lines = Vec::new();
    for medicine in &c.stops {
        lines.push(format!("Stopped {medicine}."));
    }
    for key in &c.withdraws {
        let name = known
            .iter()
            .find(|d| d.has_key(key))
            .map_or_else(|| key.clone(), Diagnosis::label);
        lines.push(format!("Withdrew the diagnosis {name}."));
    }
    for added in &c.adds {
        let primary = if added.primary {
            " as the primary one"
        } else {
            ""
        };
        lines.push(format!("Added the diagnosis {}{primary}.", added.label()));
    }
    for correction in &c.vitals {
        let Some(range) = crate::model::VitalRange::of(&correction.field) else {
            continue;
        };
        lines.push(match correction.value {
            Some(value) => format!("Corrected {}: {value} {}.", range.label, range.unit),
            None => format!("{}: not in fact measured.", range.label),
        });
    }
    lines
}

/// Draft, signed or voided, with who and when.
fn status_ui(ui: &mut Ui, status: &EncounterStatus) {
    match status {
        EncounterStatus::Draft => {
            ui.label(RichText::new("Draft").italics().color(WARNING_TEXT));
        }
        EncounterStatus::Signed {
            signed_by,
            signed_at,
            signer_role,
            ..
        } => {
            let role = signer_role
                .map(|role| format!(" ({})", role.label()))
                .unwrap_or_default();
            ui.label(
                RichText::new(format!(
                    "Signed by {signed_by}{role}, {}",
                    format_local_time(*signed_at)
                ))
                .color(OK_TEXT)
                .strong(),
            );
        }
        EncounterStatus::Voided {
            voided_by,
            voided_at,
            reason,
            ..
        } => {
            ui.label(
                RichText::new(format!(
                    "Voided by {voided_by}, {}: {reason}",
                    format_local_time(*voided_at)
                ))
                .color(ERROR_TEXT)
                .strong(),
            );
        }
    }
}

/// The BMI derived from weight and height, with its flag: one grid row. The editor's grid has a
/// column of its own for units (`unit_column`); the read-only grid writes the unit after the value.
fn bmi_row_ui(ui: &mut Ui, vitals: &Vitals, age_months: Option<u32>, unit_column: bool) {
    let Some(bmi) = vitals.bmi() else {
        return;
    };
    ui.label("BMI");
    if unit_column {
        ui.label(format!("{bmi:.1}"));
        ui.label(RichText::new("kg/m²").weak());
    } else {
        ui.label(format!("{bmi:.1} kg/m²"));
    }
    let flags: Vec<&str> = vitals
        .flags(age_months)
        .iter()
        .filter(|f| f.field() == "bmi")
        .map(|f| f.label())
        .collect();
    if flags.is_empty() {
        ui.label("");
    } else {
        warning_label(ui, &flags.join(", "));
    }
    ui.end_row();
}

/// The vital-sign fields in a grid, each with its note (impossible, or flagged), then `after`
/// with the values as read (the BMI row).
pub(super) fn vital_fields_ui(
    ui: &mut Ui,
    id: &str,
    texts: &mut [String; VITAL_RANGES.len()],
    age_months: Option<u32>,
    after: impl FnOnce(&mut Ui, &Vitals),
) {
    let (vitals, notes) = vitals_and_notes(texts, age_months);
    egui::Grid::new(id)
        .num_columns(4)
        .spacing([10.0, 6.0])
        .show(ui, |ui| {
            for ((range, text), note) in VITAL_RANGES.iter().zip(texts.iter_mut()).zip(&notes) {
                vital_field_ui(ui, range, text, note);
                ui.end_row();
            }
            after(ui, &vitals);
        });
}

/// The vitals as typed (unreadable fields left out) and what to show beside each field.
pub(super) fn vitals_and_notes(
    texts: &[String; VITAL_RANGES.len()],
    age_months: Option<u32>,
) -> (Vitals, Vec<VitalNote>) {
    let mut vitals = Vitals::default();
    let mut notes: Vec<VitalNote> = vec![VitalNote::Fine; VITAL_RANGES.len()];
    for ((range, text), note) in VITAL_RANGES.iter().zip(texts).zip(notes.iter_mut()) {
        match parse_vital(text) {
            Ok(value) => {
                if let Some(slot) = vitals.get_mut(range.field) {
                    *slot = value;
                }
            }
            Err(()) => *note = VitalNote::Invalid(not_a_number(range.unit)),
        }
    }
    let validation = vitals.validate();
    let flags = vitals.flags(age_months);
    for (range, note) in VITAL_RANGES.iter().zip(notes.iter_mut()) {
        if *note != VitalNote::Fine {
            continue;
        }
        if let Some(message) = validation.message_for(range.field) {
            *note = VitalNote::Invalid(message.to_owned());
            continue;
        }
        let names: Vec<&str> = flags
            .iter()
            .filter(|f| f.field() == range.field)
            .map(|f| f.label())
            .collect();
        if !names.is_empty() {
            *note = VitalNote::Flagged(names.join(", "));
        }
    }
    (vitals, notes)
}

/// Reads a vital sign as typed; a decimal comma is accepted. `Err` when it is not a number.
/// The strength and route a form of the medicine list stands for: "tablet 500 mg" → ("500 mg",
/// "oral"); "powder for injection 1 g" → ("1 g", "IV/IM").
fn strength_and_route(form: &str) -> (String, &'static str) {
    let strength = form
        .find(|c: char| c.is_ascii_digit())
        .map(|at| form[at..].trim().to_owned())
        .unwrap_or_default();
    let lowered = form.to_lowercase();
    let route = if lowered.contains("injection") || lowered.contains("infusion") {
        "IV/IM"
    } else if lowered.contains("suppositor") || lowered.contains("rectal") {
        "rectal"
    } else if lowered.contains("inhal") || lowered.contains("nebul") {
        "inhaled"
    } else if lowered.contains("eye") {
        "eye"
    } else if ["cream", "ointment", "gel", "lotion", "solution for skin"]
        .iter()
        .any(|w| lowered.contains(w))
    {
        "topical"
    } else if lowered.contains("pessary") || lowered.contains("vaginal") {
        "vaginal"
    } else {
        "oral"
    };
    (strength, route)
}

pub(super) fn parse_vital(text: &str) -> Result<Option<f64>, ()> {
    let text = text.trim().replace(',', ".");
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        _ => Err(()),
    }
}

fn not_a_number(unit: &str) -> String {
    format!("Enter a number in {unit}.")
}

/// The text fields for stored vitals.
pub(super) fn vital_texts(vitals: &Vitals) -> [String; VITAL_RANGES.len()] {
    VITAL_RANGES.map(|range| {
        vitals
            .get(range.field)
            .map(|v| v.to_string())
            .unwrap_or_default()
    })
}

/// A prescription row nobody typed into (only the default route).
fn is_blank_prescription(p: &Prescription) -> bool {
    [
        &p.medicine,
        &p.strength,
        &p.dose,
        &p.frequency,
        &p.duration,
        &p.quantity,
        &p.instructions,
    ]
    .iter()
    .all(|s| s.trim().is_empty())
}

/// Number, age and sex for the editor's header.
fn patient_facts(patient: &Patient, today: NaiveDate) -> String {
    let mut facts = Vec::new();
    if let Some(number) = &patient.number {
        facts.push(number.to_string());
    }
    if let Some(birth) = patient.birth {
        facts.push(birth.age_label(today));
    }
    facts.push(patient.sex.label().to_owned());
    facts.join("  ·  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vitals_accept_a_decimal_comma_and_refuse_words() {
        assert_eq!(parse_vital(" 38,5 "), Ok(Some(38.5)));
        assert_eq!(parse_vital(""), Ok(None));
        assert_eq!(parse_vital("high"), Err(()));
        assert_eq!(parse_vital("NaN"), Err(()));
    }

    #[test]
    fn impossible_and_abnormal_vitals_get_their_notes() {
        let mut texts: [String; VITAL_RANGES.len()] = Default::default();
        texts[0] = "93".to_owned();
        texts[1] = "130".to_owned();
        let (_, notes) = vitals_and_notes(&texts, Some(30 * 12));
        assert_eq!(
            notes[0],
            VitalNote::Invalid("Temperature of 93 °C is not possible: enter 25–45 °C.".into())
        );
        assert_eq!(notes[1], VitalNote::Flagged("Tachycardia".into()));
    }
}
