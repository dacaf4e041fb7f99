//! The Today screen: the day's queue as every workstation of the clinic sees it — arrivals in
//! the order they are seen (emergencies, then urgent, then the rest as they came), how long each
//! has waited, their priority and where they are — with what the signed-in user may do: triage
//! (a nurse), see the next patient or finish (a clinician), mark someone as gone home unseen.
//!
//! The queue is read from the store every frame (a day's queue is a few dozen rows), so what
//! another room does shows as soon as it syncs. Changes go to the app service as commands.

use super::command::{Command, Screen, ViewContext};
use super::widgets::{ERROR_TEXT, OK_TEXT, WARNING_TEXT, section_ui};
use crate::app::Command as AppCommand;
use crate::model::{Action, Priority, QueueEntry, QueueEntryId, QueueState, TriageSign};
use crate::store::FollowUp;
use crate::tr;
use egui::{Color32, RichText, Ui};
use std::collections::BTreeSet;

/// The triage form open on one arrival.
struct Triage {
    queue_entry_id: QueueEntryId,
    signs: BTreeSet<TriageSign>,
}

/// Days after its day a follow-up may still be kept before it counts as missed, unless
/// changed on the screen.
const DEFAULT_GRACE_DAYS: i64 = 7;

/// The follow-ups shown, as read for a day.
struct FollowUps {
    day: chrono::NaiveDate,
    expected: Vec<FollowUp>,
    missed: Vec<FollowUp>,
}

/// The Today screen.
pub struct TodayScreen {
    triage: Option<Triage>,
    error: Option<String>,
    grace_days: i64,
    /// Read when the screen opens and again after a change (a follow-up list is a few queries
    /// per patient, too many for every frame).
    follow_ups: Option<FollowUps>,
}

impl Default for TodayScreen {
    fn default() -> Self {
        Self {
            triage: None,
            error: None,
            grace_days: DEFAULT_GRACE_DAYS,
            follow_ups: None,
        }
    }
}

fn priority_text(priority: Option<Priority>) -> RichText {
    match priority {
        Some(Priority::Emergency) => RichText::new(tr!("today-priority-emergency"))
            .strong()
            .color(Color32::WHITE)
            .background_color(ERROR_TEXT),
        Some(Priority::Urgent) => RichText::new(tr!("today-priority-urgent"))
            .strong()
            .color(WARNING_TEXT),
        Some(Priority::Routine) => RichText::new(tr!("today-priority-routine")),
        None => RichText::new(tr!("today-not-triaged")).weak(),
    }
}

impl TodayScreen {
    /// The screen.
    pub fn open() -> Self {
        Self::default()
    }

    /// Something changed: the follow-up lists are read again.
    pub fn changed(&mut self) {
        self.follow_ups = None;
    }

    fn follow_ups(&mut self, cx: &ViewContext<'_>) -> Option<&FollowUps> {
        let stale = self.follow_ups.as_ref().is_none_or(|f| f.day != cx.today);
        if stale {
            let from = cx.today - chrono::TimeDelta::days(crate::app::MISSED_LOOKBACK_DAYS);
            match cx.store.follow_ups(from, cx.today) {
                Ok(all) => {
                    let (expected, rest): (Vec<_>, Vec<_>) =
                        all.into_iter().partition(|f| f.due == cx.today);
                    let missed = rest
                        .into_iter()
                        .filter(|f| f.missed(cx.today, self.grace_days))
                        .collect();
                    self.follow_ups = Some(FollowUps {
                        day: cx.today,
                        expected,
                        missed,
                    });
                }
                Err(error) => {
                    self.error = Some(tr!("today-follow-ups-failed", error = error.to_string()));
                    self.follow_ups = None;
                }
            }
        }
        self.follow_ups.as_ref()
    }

    fn follow_ups_ui(&mut self, ui: &mut Ui, queue: &[QueueEntry], cx: &mut ViewContext<'_>) {
        let grace_before = self.grace_days;
        let mut grace = self.grace_days;
        let Some(lists) = self.follow_ups(cx) else {
            return;
        };
        let mut commands = Vec::new();
        section_ui(
            ui,
            &tr!("today-expected", count = lists.expected.len()),
            |ui| {
                if lists.expected.is_empty() {
                    ui.label(RichText::new(tr!("today-none-expected")).weak());
                }
                for f in &lists.expected {
                    ui.horizontal(|ui| {
                        let number = f
                            .patient
                            .number
                            .as_ref()
                            .map(|n| format!("  {n}"))
                            .unwrap_or_default();
                        if ui
                            .link(format!("{}{number}", f.patient.display_name()))
                            .clicked()
                        {
                            commands.push(Command::Open(Screen::Chart(f.patient.patient_id)));
                        }
                        if !f.reason.is_empty() {
                            ui.label(RichText::new(&f.reason).weak());
                        }
                        let arrived = queue.iter().any(|e| e.patient_id == f.patient.patient_id);
                        if arrived {
                            ui.label(RichText::new(tr!("today-arrived-already")).color(OK_TEXT));
                        } else if cx.allows(Action::EditDemographics)
                            && ui.small_button(tr!("today-arrived")).clicked()
                        {
                            commands.push(Command::change(AppCommand::AddToQueue(
                                f.patient.patient_id,
                            )));
                        }
                    });
                }
            },
        );
        section_ui(ui, &tr!("today-missed", count = lists.missed.len()), |ui| {
            ui.horizontal(|ui| {
                let label = ui.label(tr!("today-not-seen-within"));
                ui.add(egui::DragValue::new(&mut grace).range(0..=60))
                    .labelled_by(label.id);
                ui.label(tr!("today-days-after"));
                if ui.button(tr!("today-print-list")).clicked() {
                    commands.push(Command::PrintMissedFollowUps { grace_days: grace });
                }
            });
            egui::Grid::new("missed_follow_ups")
                .striped(true)
                .num_columns(4)
                .show(ui, |ui| {
                    for f in &lists.missed {
                        if ui.link(f.patient.display_name()).clicked() {
                            commands.push(Command::Open(Screen::Chart(f.patient.patient_id)));
                        }
                        ui.label(if f.patient.phone.trim().is_empty() {
                            tr!("today-no-phone")
                        } else {
                            f.patient.phone.clone()
                        });
                        ui.label(tr!("today-due", date = super::widgets::format_date(f.due)));
                        ui.label(RichText::new(&f.reason).weak());
                        ui.end_row();
                    }
                });
        });
        for command in commands {
            cx.send(command);
        }
        if grace != grace_before {
            self.grace_days = grace;
            self.follow_ups = None;
        }
    }

    /// Shows the day's queue.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let queue = match cx.store.queue(cx.today) {
            Ok(queue) => queue,
            Err(error) => {
                ui.label(
                    RichText::new(tr!("today-queue-failed", error = error.to_string()))
                        .color(ERROR_TEXT),
                );
                return;
            }
        };
        let now = chrono::Utc::now();
        let waiting = queue.iter().filter(|e| e.state.is_waiting()).count();
        let seeing = queue
            .iter()
            .filter(|e| e.state == QueueState::WithClinician)
            .count();
        let done = queue.iter().filter(|e| e.state == QueueState::Done).count();
        let left = queue
            .iter()
            .filter(|e| e.state == QueueState::LeftUnseen)
            .count();
        ui.horizontal(|ui| {
            ui.label(
                RichText::new(tr!(
                    "today-title",
                    date = super::widgets::format_date(cx.today)
                ))
                .heading()
                .strong(),
            );
            ui.add_space(16.0);
            ui.label(tr!(
                "today-counts",
                waiting = crate::i18n::format_count(waiting as i64),
                seeing = crate::i18n::format_count(seeing as i64),
                done = crate::i18n::format_count(done as i64),
                left = crate::i18n::format_count(left as i64),
            ));
        });
        if cx.allows(Action::WriteClinical)
            && let Some(next) = queue.iter().find(|e| e.state.is_waiting())
            && ui
                .button(tr!("today-see-next"))
                .on_hover_text(tr!("today-see-next-hint"))
                .clicked()
        {
            cx.send(Command::change(AppCommand::SeeQueueEntry(
                next.queue_entry_id,
            )));
            cx.send(Command::Open(Screen::Chart(next.patient_id)));
        }
        if let Some(error) = &self.error {
            ui.label(RichText::new(error).color(ERROR_TEXT));
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            self.queue_ui(ui, &queue, now, cx);
            ui.add_space(8.0);
            self.follow_ups_ui(ui, &queue, cx);
        });
        self.triage_ui(ui, &queue, cx);
    }

    fn queue_ui(
        &mut self,
        ui: &mut Ui,
        queue: &[QueueEntry],
        now: chrono::DateTime<chrono::Utc>,
        cx: &mut ViewContext<'_>,
    ) {
        if queue.is_empty() {
            ui.label(RichText::new(tr!("today-nobody")).weak());
            return;
        }
        section_ui(ui, &tr!("today-queue"), |ui| {
            egui::Grid::new("today_queue")
                .striped(true)
                .num_columns(7)
                .spacing([16.0, 6.0])
                .show(ui, |ui| {
                    for heading in [
                        "#".to_owned(),
                        tr!("today-column-patient"),
                        tr!("today-column-arrived"),
                        tr!("today-column-waited"),
                        tr!("today-column-priority"),
                        tr!("today-column-where"),
                        String::new(),
                    ] {
                        ui.label(RichText::new(heading).strong());
                    }
                    ui.end_row();
                    for (place, entry) in queue.iter().enumerate() {
                        self.row_ui(ui, place + 1, entry, now, cx);
                        ui.end_row();
                    }
                });
        });
    }

    fn row_ui(
        &mut self,
        ui: &mut Ui,
        place: usize,
        entry: &QueueEntry,
        now: chrono::DateTime<chrono::Utc>,
        cx: &mut ViewContext<'_>,
    ) {
        let patient = cx.store.patient(entry.patient_id).ok();
        ui.label(place.to_string());
        let name = patient
            .as_ref()
            .map(|p| {
                let number = p
                    .number
                    .as_ref()
                    .map(|n| format!("  {n}"))
                    .unwrap_or_default();
                format!("{}{number}", p.display_name())
            })
            .unwrap_or_else(|| tr!("today-not-here-yet"));
        if ui.link(name).clicked() {
            cx.send(Command::Open(Screen::Chart(entry.patient_id)));
        }
        ui.label(
            entry
                .arrived_at
                .with_timezone(&chrono::Local)
                .format("%H:%M")
                .to_string(),
        );
        if entry.state.is_waiting() {
            ui.label(tr!(
                "today-minutes",
                minutes = crate::i18n::format_count(entry.minutes_waited(now))
            ));
        } else {
            ui.label("");
        }
        ui.label(priority_text(entry.priority));
        match entry.state {
            QueueState::WithClinician => {
                ui.label(tr!("today-with", name = entry.clinician.clone()))
            }
            QueueState::Done => ui.label(RichText::new(tr!("today-seen")).color(OK_TEXT)),
            state => ui.label(crate::i18n::tr(&format!("queue-state-{}", state.code()))),
        };
        ui.horizontal(|ui| {
            if entry.state.is_waiting()
                && cx.allows(Action::RecordVitals)
                && ui.small_button(tr!("today-triage")).clicked()
            {
                self.triage = Some(Triage {
                    queue_entry_id: entry.queue_entry_id,
                    signs: entry.signs.iter().copied().collect(),
                });
            }
            if entry.state.is_waiting()
                && cx.allows(Action::WriteClinical)
                && ui.small_button(tr!("today-see")).clicked()
            {
                cx.send(Command::change(AppCommand::SeeQueueEntry(
                    entry.queue_entry_id,
                )));
                cx.send(Command::Open(Screen::Chart(entry.patient_id)));
            }
            if entry.state == QueueState::WithClinician
                && cx.allows(Action::WriteClinical)
                && ui.small_button(tr!("today-done")).clicked()
            {
                cx.send(Command::change(AppCommand::FinishQueueEntry(
                    entry.queue_entry_id,
                )));
            }
            if entry.state.is_waiting()
                && cx.allows(Action::EditDemographics)
                && ui
                    .small_button(tr!("today-left"))
                    .on_hover_text(tr!("today-left-hint"))
                    .clicked()
            {
                cx.send(Command::change(AppCommand::QueueEntryLeft(
                    entry.queue_entry_id,
                )));
            }
        });
    }

    fn triage_ui(&mut self, ui: &mut Ui, queue: &[QueueEntry], cx: &mut ViewContext<'_>) {
        let Some(triage) = &mut self.triage else {
            return;
        };
        let Some(entry) = queue
            .iter()
            .find(|e| e.queue_entry_id == triage.queue_entry_id)
        else {
            self.triage = None;
            return;
        };
        let name = cx
            .store
            .patient(entry.patient_id)
            .map(|p| p.display_name())
            .unwrap_or_default();
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("triage_dialog")).show(ui.ctx(), |ui| {
            ui.set_width(640.0);
            ui.label(
                RichText::new(tr!("today-triage-title", name = name.clone()))
                    .heading()
                    .strong(),
            );
            ui.label(tr!("today-triage-rule"));
            ui.columns(2, |columns| {
                columns[0].label(
                    RichText::new(tr!("today-emergency-signs"))
                        .strong()
                        .color(ERROR_TEXT),
                );
                columns[1].label(
                    RichText::new(tr!("today-priority-signs"))
                        .strong()
                        .color(WARNING_TEXT),
                );
                for sign in TriageSign::ALL {
                    let column = if sign.is_emergency() { 0 } else { 1 };
                    let mut on = triage.signs.contains(&sign);
                    let label = crate::i18n::tr(&format!("triage-sign-{}", sign.code()));
                    if columns[column].checkbox(&mut on, label).changed() {
                        if on {
                            triage.signs.insert(sign);
                        } else {
                            triage.signs.remove(&sign);
                        }
                    }
                }
            });
            let signs: Vec<TriageSign> = triage.signs.iter().copied().collect();
            ui.horizontal(|ui| {
                ui.label(tr!("today-priority"));
                ui.label(priority_text(Some(crate::model::triage_priority(&signs))));
            });
            ui.horizontal(|ui| {
                if ui.button(tr!("today-save-triage")).clicked() {
                    cx.send(Command::change(AppCommand::TriageQueueEntry {
                        queue_entry_id: triage.queue_entry_id,
                        signs,
                    }));
                    close = true;
                }
                if ui.button(tr!("today-cancel")).clicked() {
                    close = true;
                }
            });
        });
        if close || modal.should_close() {
            self.triage = None;
        }
    }
}
