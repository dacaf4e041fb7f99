//! The ICD-10 picker shared by the visit editor (diagnoses) and the chart (problem list).
//!
//! Coding a diagnosis must be as quick as typing it, so the picker searches the 98,000 codes as
//! the clinician types (by code prefix or by the beginnings of words of the title) and offers the
//! typed words as free text when no code fits. It searches only when the text changes, never
//! every frame. From the search box, ↓ and ↑ move through the results and Enter picks the one
//! highlighted, so a code is picked without the mouse.

use super::command::ViewContext;
use crate::store::Icd10Code;
use egui::{RichText, TextEdit, Ui};

/// How many codes a search offers.
const RESULT_LIMIT: usize = 30;

/// What the user picked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Icd10Choice {
    /// A code from the list.
    Code(Icd10Code),
    /// The typed text, as a diagnosis without a code.
    FreeText(String),
}

/// A search box with its results.
pub struct Icd10Picker {
    label: String,
    query: String,
    /// The text the results belong to, and whether the list was loaded when they were found.
    searched: Option<(String, bool)>,
    results: Vec<Icd10Code>,
    /// The result ↓/↑ moved to, which Enter picks.
    highlighted: Option<usize>,
    error: Option<String>,
}

impl Icd10Picker {
    /// A picker whose search box is named `label`.
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            query: String::new(),
            searched: None,
            results: Vec::new(),
            highlighted: None,
            error: None,
        }
    }

    /// Draws the search box and its results; returns what the user picked this frame.
    pub fn ui(&mut self, ui: &mut Ui, cx: &ViewContext<'_>) -> Option<Icd10Choice> {
        let mut choice = None;
        let mut moved = false;
        ui.horizontal_wrapped(|ui| {
            let label = ui.label(self.label.as_str());
            let width = (ui.available_width() - 12.0).clamp(120.0, 280.0);
            let search = ui
                .add(
                    TextEdit::singleline(&mut self.query)
                        .hint_text("Code or words, e.g. B54 or malaria")
                        .desired_width(width),
                )
                .labelled_by(label.id);
            if search.has_focus() && !self.results.is_empty() {
                let (down, up) = ui.input_mut(|i| {
                    (
                        i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowDown),
                        i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowUp),
                    )
                });
                let last = self.results.len() - 1;
                if down {
                    self.highlighted = Some(self.highlighted.map_or(0, |h| (h + 1).min(last)));
                    moved = true;
                }
                if up {
                    self.highlighted = self.highlighted.map(|h| h.saturating_sub(1));
                    moved = true;
                }
            }
            if search.lost_focus()
                && ui.input(|i| i.key_pressed(egui::Key::Enter))
                && let Some(code) = self.highlighted.and_then(|h| self.results.get(h))
            {
                choice = Some(Icd10Choice::Code(code.clone()));
                // Straight on to the next diagnosis.
                search.request_focus();
            }
            let typed = self.query.trim();
            if ui
                .add_enabled(!typed.is_empty(), egui::Button::new("Add as free text"))
                .clicked()
            {
                choice = Some(Icd10Choice::FreeText(typed.to_owned()));
            }
        });
        self.refresh(cx);

        let typed = !self.query.trim().is_empty();
        if !cx.icd10_ready {
            ui.label(RichText::new("Loading ICD-10 codes…").weak());
        } else if let Some(error) = &self.error {
            super::widgets::error_label(ui, Some(error));
        } else if typed && self.results.is_empty() {
            ui.label(RichText::new("No ICD-10 code matches: add it as free text.").weak());
        } else if typed {
            // Tall enough for the results (up to about eight lines), whatever space is left
            // below in the page.
            let row = ui.spacing().interact_size.y + ui.spacing().item_spacing.y;
            let height = (row * self.results.len() as f32).min(row * 8.0);
            egui::ScrollArea::vertical()
                .id_salt((self.label.as_str(), "results"))
                .min_scrolled_height(height)
                .max_height(height)
                .auto_shrink([false, true])
                .show(ui, |ui| {
                    for (index, code) in self.results.iter().enumerate() {
                        let highlighted = self.highlighted == Some(index);
                        let row = ui.selectable_label(
                            highlighted,
                            format!("{} — {}", code.code, code.title),
                        );
                        if highlighted && moved {
                            row.scroll_to_me(None);
                        }
                        if row.clicked() {
                            choice = Some(Icd10Choice::Code(code.clone()));
                        }
                    }
                });
        }
        if choice.is_some() {
            self.query.clear();
        }
        choice
    }

    /// Searches again when the text changed or the list finished loading since the last search.
    fn refresh(&mut self, cx: &ViewContext<'_>) {
        let current = (self.query.trim().to_owned(), cx.icd10_ready);
        if self.searched.as_ref() == Some(&current) {
            return;
        }
        self.results.clear();
        self.highlighted = None;
        self.error = None;
        if cx.icd10_ready && !current.0.is_empty() {
            match cx.store.search_icd10(&current.0, RESULT_LIMIT) {
                Ok(found) => self.results = found,
                Err(error) => self.error = Some(format!("Cannot search ICD-10 codes: {error}")),
            }
        }
        self.searched = Some(current);
    }
}
