//! The Conflicts screen: values from two workstations that disagree, each waiting for a person to
//! decide which one the record keeps.
//!
//! Sync never throws a value away on its own. When two clinics change the same field without
//! seeing each other's change, the store keeps one and lists the other here with who wrote it and
//! when; the clerk keeps the shown value, takes the other one, or types a new one, and the
//! decision goes out as an ordinary change. A signed visit cannot change, so a value that arrived
//! after the signing can only be added to it as an amendment.
//!
//! The list is read from the store when the screen opens and after each decision or sync round,
//! never inside a frame.

use super::command::{Command, Screen, ViewContext};
use super::widgets::{
    ERROR_TEXT, WARNING_TEXT, error_label, format_local_time, labelled_multiline, store_error_text,
    text_field_row,
};
use crate::app::Command as AppCommand;
use crate::model::Amendment;
use crate::model::{AmendmentId, EncounterId, EntityKind, HlcStamp, Patient, PatientId};
use crate::store::{Conflict, ConflictKind, Store};
use chrono::{DateTime, Utc};
use egui::{RichText, Ui};
use serde_json::Value;
use std::collections::BTreeMap;

/// Fields a person may type a new value for.
const TEXT_FIELDS: &[&str] = &[
    "given_name",
    "family_name",
    "other_script_name",
    "phone",
    "village",
    "national_id",
    "kin_name",
    "kin_phone",
    "notes",
    "substance",
    "reaction",
    "title",
    "clinician",
    "chief_complaint",
    "history",
    "examination",
    "plan",
];

/// The reason given for an amendment that carries a value which arrived after signing.
const AMENDMENT_REASON: &str =
    "A change arrived from another workstation after the visit was signed.";

/// One conflict as the screen shows it.
struct ConflictRow {
    conflict: Conflict,
    /// Whose record it is: a patient's name, or "record not found".
    patient: String,
    field_label: String,
    kept_text: String,
    other_text: String,
    kept_when: String,
    other_who: String,
    /// A new value may be typed.
    is_text: bool,
    /// The value being typed after "Edit…".
    edit: Option<String>,
    /// The amendment being written after "Add as amendment…".
    amendment: Option<String>,
    /// An amendment with the other value was added during this visit to the screen.
    amended: bool,
}

/// The Conflicts screen.
pub struct ConflictsScreen {
    rows: Vec<ConflictRow>,
    load_error: Option<String>,
    action_error: Option<String>,
}

impl ConflictsScreen {
    /// The screen with the conflicts `store` holds now.
    pub fn open(store: &Store) -> Self {
        let mut screen = Self {
            rows: Vec::new(),
            load_error: None,
            action_error: None,
        };
        screen.reload(store);
        screen
    }

    /// Reads the conflicts again (after a decision or a sync round). Edits in progress survive
    /// for conflicts still open.
    pub fn reload(&mut self, store: &Store) {
        let conflicts = match store.conflicts() {
            Ok(conflicts) => conflicts,
            Err(error) => {
                self.load_error = Some(format!(
                    "The conflicts cannot be read: {}",
                    store_error_text(&error)
                ));
                return;
            }
        };
        self.load_error = None;
        let mut previous: Vec<ConflictRow> = std::mem::take(&mut self.rows);
        let owners = patients_of(store, &conflicts);
        self.rows = conflicts
            .into_iter()
            .map(|conflict| {
                let carried = previous
                    .iter()
                    .position(|row| same_conflict(&row.conflict, &conflict))
                    .map(|index| previous.swap_remove(index));
                let patient = owners
                    .get(&(conflict.entity.as_str(), conflict.entity_id))
                    .map(patient_label)
                    .unwrap_or_else(|| "record not found".to_owned());
                let is_text = conflict.kind == ConflictKind::Concurrent
                    && TEXT_FIELDS.contains(&conflict.field.as_str())
                    && is_text_value(&conflict.kept_value)
                    && is_text_value(&conflict.other_value);
                ConflictRow {
                    patient,
                    field_label: field_label(&conflict.field),
                    kept_text: value_text(&conflict.kept_value),
                    other_text: value_text(&conflict.other_value),
                    kept_when: format!("Written {}", stamp_text(&conflict.kept_hlc)),
                    other_who: format!(
                        "From clinic {}, workstation {}, {}",
                        short_id(&conflict.other_clinic),
                        short_id(&conflict.other_hlc.node.0),
                        stamp_text(&conflict.other_hlc)
                    ),
                    is_text,
                    edit: carried.as_ref().and_then(|row| row.edit.clone()),
                    amendment: carried.as_ref().and_then(|row| row.amendment.clone()),
                    amended: carried.is_some_and(|row| row.amended),
                    conflict,
                }
            })
            .collect();
    }

    /// A decision could not be written: say why.
    pub fn action_failed(&mut self, error: &crate::app::AppError) {
        self.action_error = Some(super::widgets::app_error_text(error));
    }

    /// A decision was written.
    pub fn action_succeeded(&mut self) {
        self.action_error = None;
    }

    /// An amendment was added to `encounter_id`: its rows say so.
    pub fn amendment_added(&mut self, encounter_id: EncounterId) {
        self.action_error = None;
        for row in &mut self.rows {
            if row.conflict.entity == EntityKind::Encounter
                && row.conflict.entity_id == encounter_id.0
                && row.amendment.is_some()
            {
                row.amendment = None;
                row.amended = true;
            }
        }
    }

    /// Draws the list.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        ui.label(RichText::new("Conflicts").heading().strong());
        ui.label(
            "Two workstations changed the same detail without seeing each other's change. \
             Choose the value each record keeps.",
        );
        ui.add_space(6.0);
        error_label(ui, self.load_error.as_deref());
        error_label(ui, self.action_error.as_deref());
        if self.rows.is_empty() && self.load_error.is_none() {
            ui.label(RichText::new("No conflicts: every record agrees.").weak());
            if ui.button("Back to patients").clicked() {
                cx.send(Command::Open(Screen::PatientList));
            }
            return;
        }
        egui::ScrollArea::vertical()
            .id_salt("conflicts_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for (index, row) in self.rows.iter_mut().enumerate() {
                    ui.push_id(("conflict", index), |ui| row_ui(ui, row, cx));
                    ui.add_space(8.0);
                }
            });
    }
}

/// One conflict: whose, which field, both values, and the decisions.
fn row_ui(ui: &mut Ui, row: &mut ConflictRow, cx: &mut ViewContext<'_>) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.label(RichText::new(format!("{} — {}", row.patient, row.field_label)).strong());
        egui::Grid::new("values")
            .num_columns(3)
            .spacing([16.0, 4.0])
            .show(ui, |ui| {
                ui.label(RichText::new("Shown value").weak());
                ui.label(&row.kept_text);
                ui.label(RichText::new(&row.kept_when).small().weak());
                ui.end_row();
                ui.label(RichText::new("Other value").weak());
                ui.label(&row.other_text);
                ui.label(RichText::new(&row.other_who).small().weak());
                ui.end_row();
            });
        ui.add_space(4.0);
        match row.conflict.kind {
            ConflictKind::Concurrent => concurrent_ui(ui, row, cx),
            ConflictKind::SignedVisit => signed_visit_ui(ui, row, cx),
        }
    });
}

fn concurrent_ui(ui: &mut Ui, row: &mut ConflictRow, cx: &mut ViewContext<'_>) {
    let resolve = |cx: &mut ViewContext<'_>, row: &ConflictRow, value: Value| {
        cx.send(Command::change(AppCommand::ResolveConflict {
            conflict: Box::new(row.conflict.clone()),
            value,
        }));
    };
    ui.horizontal(|ui| {
        if ui
            .button("Keep shown value")
            .on_hover_text(format!("Keep \"{}\"", row.kept_text))
            .clicked()
        {
            resolve(cx, row, row.conflict.kept_value.clone());
        }
        if ui
            .button("Use other value")
            .on_hover_text(format!("Use \"{}\"", row.other_text))
            .clicked()
        {
            resolve(cx, row, row.conflict.other_value.clone());
        }
        if row.is_text && row.edit.is_none() && ui.button("Edit…").clicked() {
            row.edit = Some(match &row.conflict.kept_value {
                Value::String(text) => text.clone(),
                _ => String::new(),
            });
        }
    });
    if row.edit.is_some() {
        let mut save = None;
        let mut cancel = false;
        ui.horizontal(|ui| {
            if let Some(edit) = &mut row.edit {
                text_field_row(ui, "New value", edit, 280.0);
                if ui.button("Use this value").clicked() {
                    save = Some(edit.trim().to_owned());
                }
            }
            if ui.button("Cancel edit").clicked() {
                cancel = true;
            }
        });
        if let Some(value) = save {
            resolve(cx, row, Value::String(value));
        }
        if cancel {
            row.edit = None;
        }
    }
}

fn signed_visit_ui(ui: &mut Ui, row: &mut ConflictRow, cx: &mut ViewContext<'_>) {
    ui.label(RichText::new("This visit was signed before the change arrived.").color(WARNING_TEXT));
    ui.label(
        RichText::new("A signed visit cannot change; add the other value as an amendment.")
            .small()
            .weak(),
    );
    let encounter_id = EncounterId(row.conflict.entity_id);
    if row.amended {
        ui.label(RichText::new("An amendment with the other value was added.").weak());
    }
    ui.horizontal(|ui| {
        if row.amendment.is_none() && ui.button("Add as amendment…").clicked() {
            row.amendment = Some(format!(
                "Other value of {}: {}",
                row.field_label, row.other_text
            ));
        }
        if ui.button("Open visit").clicked() {
            cx.send(Command::Open(Screen::Visit(encounter_id)));
        }
    });
    let mut add = None;
    let mut cancel = false;
    if let Some(text) = &mut row.amendment {
        labelled_multiline(ui, "Amendment text", text, 3);
        if text.trim().is_empty() {
            ui.label(RichText::new("Write the correction.").color(ERROR_TEXT));
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!text.trim().is_empty(), egui::Button::new("Add amendment"))
                .clicked()
            {
                add = Some(text.trim().to_owned());
            }
            if ui.button("Cancel amendment").clicked() {
                cancel = true;
            }
        });
    }
    if let Some(text) = add {
        cx.send(Command::change(AppCommand::AmendFromConflict {
            conflict: Box::new(row.conflict.clone()),
            amendment: Amendment {
                amendment_id: AmendmentId::new(),
                encounter_id,
                text,
                reason: AMENDMENT_REASON.to_owned(),
                author: cx.user_name.to_owned(),
                author_id: None,
                created_at: Utc::now(),
                corrections: Default::default(),
            },
        }));
    }
    if cancel {
        row.amendment = None;
    }
}

/// The patient each conflict's record belongs to, keyed by (entity, id). Patients and visits are
/// read directly; an allergy or problem is found among the allergies and problems of the patients
/// already known from the other conflicts.
fn patients_of(
    store: &Store,
    conflicts: &[Conflict],
) -> BTreeMap<(&'static str, uuid::Uuid), Patient> {
    let mut owners = BTreeMap::new();
    let mut patients: BTreeMap<PatientId, Patient> = BTreeMap::new();
    for conflict in conflicts {
        let patient_id = match conflict.entity {
            EntityKind::Patient => Some(PatientId(conflict.entity_id)),
            EntityKind::Encounter => store
                .encounter(EncounterId(conflict.entity_id))
                .ok()
                .map(|encounter| encounter.patient_id),
            EntityKind::QueueEntry => store
                .queue_entry(crate::model::QueueEntryId(conflict.entity_id))
                .ok()
                .map(|entry| entry.patient_id),
            EntityKind::Allergy
            | EntityKind::Problem
            | EntityKind::Amendment
            | EntityKind::Attachment
            | EntityKind::User
            | EntityKind::Letterhead
            | EntityKind::PatientMerge => None,
        };
        let Some(patient_id) = patient_id else {
            continue;
        };
        let patient = match patients.get(&patient_id) {
            Some(patient) => Some(patient.clone()),
            None => store.patient(patient_id).ok(),
        };
        if let Some(patient) = patient {
            patients.insert(patient_id, patient.clone());
            owners.insert((conflict.entity.as_str(), conflict.entity_id), patient);
        }
    }
    let wanted: Vec<&Conflict> = conflicts
        .iter()
        .filter(|c| matches!(c.entity, EntityKind::Allergy | EntityKind::Problem))
        .collect();
    if wanted.is_empty() {
        return owners;
    }
    for (patient_id, patient) in &patients {
        let allergies = store.allergies(*patient_id).unwrap_or_default();
        let problems = store.problems(*patient_id).unwrap_or_default();
        for conflict in &wanted {
            let found = match conflict.entity {
                EntityKind::Allergy => allergies
                    .iter()
                    .any(|a| a.allergy_id.0 == conflict.entity_id),
                EntityKind::Problem => problems
                    .iter()
                    .any(|p| p.problem_id.0 == conflict.entity_id),
                _ => false,
            };
            if found {
                owners.insert(
                    (conflict.entity.as_str(), conflict.entity_id),
                    patient.clone(),
                );
            }
        }
    }
    owners
}

fn same_conflict(a: &Conflict, b: &Conflict) -> bool {
    a.entity == b.entity
        && a.entity_id == b.entity_id
        && a.field == b.field
        && a.other_hlc == b.other_hlc
}

/// "López, José (HC-000012)".
fn patient_label(patient: &Patient) -> String {
    match &patient.number {
        Some(number) => format!("{} ({number})", patient.display_name()),
        None => patient.display_name(),
    }
}

fn is_text_value(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Null)
}

/// A value as text; nothing as "(empty)".
fn value_text(value: &Value) -> String {
    match value {
        Value::Null => "(empty)".to_owned(),
        Value::String(text) if text.trim().is_empty() => "(empty)".to_owned(),
        Value::String(text) => text.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Number(number) => number.to_string(),
        other => other.to_string(),
    }
}

/// The first eight characters of an id, enough to tell clinics and workstations apart.
fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// When a stamp was written, in local time.
fn stamp_text(stamp: &HlcStamp) -> String {
    match DateTime::<Utc>::from_timestamp_millis(stamp.millis) {
        Some(at) => format_local_time(at),
        None => "at an unknown time".to_owned(),
    }
}

/// A field's name as people say it.
fn field_label(field: &str) -> String {
    let known = match field {
        "given_name" => "Given name",
        "family_name" => "Family name",
        "other_script_name" => "Name in another script",
        "sex" => "Sex",
        "birth_date" => "Date of birth",
        "birth_estimated" => "Date of birth is estimated",
        "phone" => "Phone",
        "village" => "Village / address",
        "national_id" => "National ID",
        "kin_name" => "Next of kin",
        "kin_phone" => "Next of kin's phone",
        "notes" => "Notes",
        "substance" => "Allergy substance",
        "reaction" => "Allergic reaction",
        "severity" => "Allergy severity",
        "active" => "Active",
        "code" => "ICD-10 code",
        "title" => "Problem",
        "onset" => "Onset",
        "status" => "Status",
        "clinician" => "Clinician",
        "started_at" => "Visit time",
        "kind" => "Visit kind",
        "chief_complaint" => "Chief complaint",
        "history" => "History",
        "examination" => "Examination",
        "vitals" => "Vital signs",
        "diagnoses" => "Diagnoses",
        "prescriptions" => "Prescriptions",
        "lab_results" => "Lab results",
        "plan" => "Plan",
        "follow_up" => "Follow-up date",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let spaced = field.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => spaced,
    }
}
