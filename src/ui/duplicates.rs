//! The administrator's worklist of patients likely registered twice: every pair of the store
//! scoring as a likely duplicate, the most alike first, with why and a way to each chart.
//!
//! Looking through the whole store is a look-up per patient, so it runs on its own thread over
//! its own connection (`StoreOpener`) and the window stays responsive; the list says when it was
//! made and can be made again.
//!
//! An administrator merges a pair from here (**Merge…**: which record stays, and why), and can
//! undo the merge at once or later from the surviving chart.

use super::command::{Command, Screen, ViewContext};
use super::widgets::{ERROR_TEXT, WARNING_TEXT, born_text, patient_number};
use crate::app::Command as AppCommand;
use crate::model::{Action, Patient, PatientId, PatientMerge};
use crate::store::{DuplicatePair, RecordCounts, StoreOpener};
use crate::tr;
use egui::{Id, RichText, TextEdit, Ui};
use std::sync::mpsc::{Receiver, TryRecvError, channel};

/// Where the worklist is.
enum State {
    /// Being made on its thread.
    Looking(Receiver<Result<Vec<DuplicatePair>, String>>),
    /// Made, at this local time.
    Found {
        pairs: Vec<DuplicatePair>,
        at: String,
    },
    /// It could not be made.
    Failed(String),
}

/// The merge being decided.
struct MergeDialog {
    first: Patient,
    second: Patient,
    /// What was written to each, counted when the dialog opened.
    counts: [RecordCounts; 2],
    /// Which stays: the first (true) or the second.
    keep_first: bool,
    reason: String,
    error: Option<String>,
}

impl MergeDialog {
    fn new(pair: &DuplicatePair, cx: &ViewContext<'_>) -> Self {
        let counts = [&pair.first, &pair.second]
            .map(|p| cx.store.record_counts(p.patient_id).unwrap_or_default());
        Self {
            // The record with more visits stays; on a tie, the one registered first.
            keep_first: counts[0].visits >= counts[1].visits,
            first: pair.first.clone(),
            second: pair.second.clone(),
            counts,
            reason: String::new(),
            error: None,
        }
    }

    fn survivor_and_retired(&self) -> (&Patient, &Patient) {
        if self.keep_first {
            (&self.first, &self.second)
        } else {
            (&self.second, &self.first)
        }
    }
}

/// The duplicates worklist screen.
pub struct DuplicatesScreen {
    state: State,
    merging: Option<MergeDialog>,
    /// The last merge made here, with the numbers it joined (retired, survivor), to undo at once.
    last_merge: Option<(PatientMerge, String, String)>,
}

/// Starts looking through the store on a thread; `ctx` is woken when it is done.
fn look(opener: StoreOpener, ctx: egui::Context) -> State {
    let (send, receive) = channel();
    let started = std::thread::Builder::new()
        .name("duplicates".into())
        .spawn(move || {
            let found = opener
                .open()
                .and_then(|store| store.duplicate_pairs())
                .map_err(|e| super::widgets::store_error_text(&e));
            // The screen may have been left; then nobody listens.
            let _ = send.send(found);
            ctx.request_repaint();
        });
    match started {
        Ok(_) => State::Looking(receive),
        Err(e) => State::Failed(tr!("dup-search-failed-start", error = e.to_string())),
    }
}

fn describe(p: &Patient) -> String {
    let born = tr!("dup-born", date = born_text(p));
    let facts: Vec<&str> = [
        p.sex.label(),
        born.as_str(),
        p.village.trim(),
        p.phone.trim(),
    ]
    .into_iter()
    .filter(|f| !f.is_empty())
    .collect();
    format!(
        "{}  {} · {}",
        patient_number(p),
        p.display_name(),
        facts.join(" · ")
    )
}

impl DuplicatesScreen {
    /// Opens the screen and starts looking.
    pub fn open(opener: StoreOpener, ctx: &egui::Context) -> Self {
        Self {
            state: look(opener, ctx.clone()),
            merging: None,
            last_merge: None,
        }
    }

    /// The merge asked for was made: its pair leaves the list, and it can be undone from here.
    pub fn merged(&mut self, merge: &PatientMerge, cx_store: &crate::store::Store) {
        let number = |id: PatientId| {
            cx_store
                .patient(id)
                .map(|p| patient_number(&p))
                .unwrap_or_default()
        };
        if let State::Found { pairs, .. } = &mut self.state {
            pairs.retain(|pair| {
                ![pair.first.patient_id, pair.second.patient_id].contains(&merge.retired)
            });
        }
        self.merging = None;
        self.last_merge = Some((merge.clone(), number(merge.retired), number(merge.survivor)));
    }

    /// The merge was refused: the dialog stays open with what was typed, and says why.
    pub fn merge_failed(&mut self, message: String) {
        match &mut self.merging {
            Some(dialog) => dialog.error = Some(message),
            None => self.last_merge = None,
        }
    }

    /// The last merge was undone; the list is made again to show the pair.
    pub fn undone(&mut self, opener: StoreOpener, ctx: &egui::Context) {
        self.last_merge = None;
        self.state = look(opener, ctx.clone());
    }

    fn merge_dialog(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let Some(dialog) = &mut self.merging else {
            return;
        };
        let mut close = false;
        egui::Modal::new(Id::unique("merge_patients_modal")).show(ui.ctx(), |ui| {
            ui.set_width(560.0);
            ui.label(RichText::new(tr!("merge-title")).heading().strong());
            ui.add_space(6.0);
            ui.label(tr!("merge-which"));
            for (keep_first, patient, counts) in [
                (true, &dialog.first, dialog.counts[0]),
                (false, &dialog.second, dialog.counts[1]),
            ] {
                ui.radio_value(
                    &mut dialog.keep_first,
                    keep_first,
                    tr!("merge-keep", number = patient_number(patient)),
                );
                ui.indent(("merge_side", keep_first), |ui| {
                    ui.label(describe(patient));
                    ui.label(RichText::new(counts.describe()).weak());
                });
            }
            let (survivor, retired) = dialog.survivor_and_retired();
            let (survivor_number, retired_number) =
                (patient_number(survivor), patient_number(retired));
            let (survivor, retired) = (survivor.patient_id, retired.patient_id);
            ui.add_space(6.0);
            ui.label(tr!(
                "merge-explain",
                retired = retired_number.clone(),
                survivor = survivor_number.clone()
            ));
            ui.add_space(6.0);
            let label = ui.label(tr!("merge-why"));
            ui.add(
                TextEdit::singleline(&mut dialog.reason)
                    .hint_text(tr!("merge-why-hint"))
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
            if let Some(error) = &dialog.error {
                ui.label(RichText::new(error).color(ERROR_TEXT));
            }
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                let ready = !dialog.reason.trim().is_empty();
                if ui
                    .add_enabled(
                        ready,
                        egui::Button::new(RichText::new(tr!("merge-do")).strong()),
                    )
                    .on_disabled_hover_text(tr!("merge-why-first"))
                    .clicked()
                {
                    dialog.error = None;
                    cx.send(Command::change(AppCommand::MergePatients {
                        survivor,
                        retired,
                        reason: dialog.reason.trim().to_owned(),
                    }));
                }
                if ui.button(tr!("merge-cancel")).clicked() {
                    close = true;
                }
            });
        });
        if close {
            self.merging = None;
        }
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        if let State::Looking(receive) = &self.state {
            match receive.try_recv() {
                Ok(Ok(pairs)) => {
                    self.state = State::Found {
                        pairs,
                        at: chrono::Local::now().format("%H:%M").to_string(),
                    }
                }
                Ok(Err(message)) => self.state = State::Failed(message),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.state = State::Failed(tr!("dup-search-stopped"))
                }
            }
        }
        ui.horizontal(|ui| {
            ui.label(RichText::new(tr!("dup-title")).heading().strong());
            ui.add_space(16.0);
            let looking = matches!(self.state, State::Looking(_));
            if ui
                .add_enabled(!looking, egui::Button::new(tr!("dup-look-again")))
                .clicked()
            {
                self.state = look(cx.store.opener(), ui.ctx().clone());
            }
        });
        ui.label(RichText::new(tr!("dup-rule")).weak());
        if let Some((merge, retired, survivor)) = &self.last_merge {
            ui.add_space(4.0);
            let undo_id = merge.merge_id;
            let survivor_id = merge.survivor;
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(tr!(
                        "dup-merged",
                        retired = retired.clone(),
                        survivor = survivor.clone()
                    ))
                    .strong(),
                );
                if ui
                    .button(tr!("dup-open", number = survivor.clone()))
                    .clicked()
                {
                    cx.send(Command::Open(Screen::Chart(survivor_id)));
                }
                if ui.button(tr!("dup-undo")).clicked() {
                    cx.send(Command::change(AppCommand::UndoMerge(undo_id)));
                }
            });
        }
        ui.add_space(8.0);
        let may_merge = cx.allows(Action::MergePatients);
        let mut merge = None;
        match &self.state {
            State::Looking(_) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(tr!("dup-looking"));
                });
            }
            State::Failed(message) => {
                ui.label(RichText::new(message).color(ERROR_TEXT));
            }
            State::Found { pairs, at } if pairs.is_empty() => {
                ui.label(tr!("dup-none", time = at.clone()));
            }
            State::Found { pairs, at } => {
                ui.label(tr!(
                    "dup-pairs",
                    count = pairs.len(),
                    shown = crate::i18n::format_count(pairs.len() as i64),
                    time = at.clone()
                ));
                ui.add_space(4.0);
                let mut open = None;
                egui::ScrollArea::vertical()
                    .auto_shrink([false, false])
                    .show(ui, |ui| {
                        // One row per pair: the score, both records and why, then the
                        // buttons at the right; the records' lines wrap in what is left.
                        for (index, pair) in pairs.iter().enumerate() {
                            if index > 0 {
                                ui.separator();
                            }
                            ui.horizontal_top(|ui| {
                                ui.add_sized(
                                    [40.0, 20.0],
                                    egui::Label::new(
                                        RichText::new(format!("{:.1}", pair.likeness.score))
                                            .color(WARNING_TEXT)
                                            .strong(),
                                    ),
                                );
                                let buttons = 300.0;
                                let text_width = (ui.available_width() - buttons).max(200.0);
                                ui.vertical(|ui| {
                                    ui.set_width(text_width);
                                    ui.label(describe(&pair.first));
                                    ui.label(describe(&pair.second));
                                    ui.label(
                                        RichText::new(pair.likeness.reasons.join(", ")).weak(),
                                    );
                                });
                                ui.vertical(|ui| {
                                    for p in [&pair.first, &pair.second] {
                                        let number = patient_number(p);
                                        if ui
                                            .button(tr!("dup-open", number = number.clone()))
                                            .clicked()
                                        {
                                            open = Some(p.patient_id);
                                        }
                                    }
                                    if may_merge
                                        && ui
                                            .button(tr!(
                                                "dup-merge-pair",
                                                first = patient_number(&pair.first),
                                                second = patient_number(&pair.second)
                                            ))
                                            .clicked()
                                    {
                                        merge = Some(MergeDialog::new(pair, cx));
                                    }
                                });
                            });
                        }
                    });
                if let Some(patient_id) = open {
                    cx.send(Command::Open(Screen::Chart(patient_id)));
                }
            }
        }
        if merge.is_some() {
            self.merging = merge;
        }
        self.merge_dialog(ui, cx);
    }
}
