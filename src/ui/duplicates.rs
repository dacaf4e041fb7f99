//! The administrator's worklist of patients likely registered twice: every pair of the store
//! scoring as a likely duplicate, the most alike first, with why and a way to each chart.
//!
//! Looking through the whole store is a look-up per patient, so it runs on its own thread over
//! its own connection (`StoreOpener`) and the window stays responsive; the list says when it was
//! made and can be made again.

use super::command::{Command, Screen, ViewContext};
use super::widgets::{ERROR_TEXT, WARNING_TEXT, born_text, patient_number};
use crate::model::Patient;
use crate::store::{DuplicatePair, StoreOpener};
use egui::{RichText, Ui};
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

/// The duplicates worklist screen.
pub struct DuplicatesScreen {
    state: State,
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
        Err(e) => State::Failed(format!("The search could not start: {e}")),
    }
}

fn describe(p: &Patient) -> String {
    let number = patient_number(p);
    let born = born_text(p);
    format!(
        "{number}  {} · {} · born {born} · {} · {}",
        p.display_name(),
        p.sex.label(),
        p.village.trim(),
        p.phone.trim()
    )
}

impl DuplicatesScreen {
    /// Opens the screen and starts looking.
    pub fn open(opener: StoreOpener, ctx: &egui::Context) -> Self {
        Self {
            state: look(opener, ctx.clone()),
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
                    self.state = State::Failed("The search stopped unexpectedly.".into())
                }
            }
        }
        ui.horizontal(|ui| {
            ui.label(
                RichText::new("Patients likely registered twice")
                    .heading()
                    .strong(),
            );
            ui.add_space(16.0);
            let looking = matches!(self.state, State::Looking(_));
            if ui
                .add_enabled(!looking, egui::Button::new("Look again"))
                .clicked()
            {
                self.state = look(cx.store.opener(), ui.ctx().clone());
            }
        });
        ui.label(
            RichText::new(
                "Pairs scoring 10 or more: names alike (also across scripts and by sound), the \
                 date of birth or age, sex, phone, national ID and village compared.",
            )
            .weak(),
        );
        ui.add_space(8.0);
        match &self.state {
            State::Looking(_) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Looking through the patients…");
                });
            }
            State::Failed(message) => {
                ui.label(RichText::new(message).color(ERROR_TEXT));
            }
            State::Found { pairs, at } if pairs.is_empty() => {
                ui.label(format!("No likely duplicates (looked at {at})."));
            }
            State::Found { pairs, at } => {
                let count = match pairs.len() {
                    1 => "1 pair".to_owned(),
                    n => format!("{n} pairs"),
                };
                ui.label(format!("{count} (looked at {at})."));
                ui.add_space(4.0);
                let mut open = None;
                egui::ScrollArea::vertical()
                    .auto_shrink([false, false])
                    .show(ui, |ui| {
                        egui::Grid::new("duplicate_pairs")
                            .num_columns(3)
                            .striped(true)
                            .spacing([12.0, 6.0])
                            .show(ui, |ui| {
                                for pair in pairs {
                                    ui.label(
                                        RichText::new(format!("{:.1}", pair.likeness.score))
                                            .color(WARNING_TEXT)
                                            .strong(),
                                    );
                                    ui.vertical(|ui| {
                                        ui.label(describe(&pair.first));
                                        ui.label(describe(&pair.second));
                                        ui.label(
                                            RichText::new(pair.likeness.reasons.join(", ")).weak(),
                                        );
                                    });
                                    ui.vertical(|ui| {
                                        for p in [&pair.first, &pair.second] {
                                            let number = patient_number(p);
                                            if ui.button(format!("Open {number}")).clicked() {
                                                open = Some(p.patient_id);
                                            }
                                        }
                                    });
                                    ui.end_row();
                                }
                            });
                    });
                if let Some(patient_id) = open {
                    cx.send(Command::Open(Screen::Chart(patient_id)));
                }
            }
        }
    }
}
