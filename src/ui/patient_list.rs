//! The start screen: every patient of the clinic, found instantly.
//!
//! A clerk types part of a name, a number, a phone or an ID and the list narrows as they type.
//! With an empty search box it shows the whole register in the chosen order. A clinic can hold a
//! million patients, so the list never loads them all: it keeps only the order (one integer per
//! patient, computed on a worker thread for a large register) and fetches the rows that scroll
//! into view, keeping a bounded cache of them.

use super::command::{Command, Screen, ViewContext};
use super::widgets::error_label;
use crate::model::{Action, Sex};
use crate::store::{PatientRow, PatientSearch, PatientSort, SearchHit, Store, StoreError};
use crate::tr;
use chrono::NaiveDate;
use egui::{Key, KeyboardShortcut, Modifiers, RichText, TextEdit, Ui};
use egui_extras::{Column, TableBuilder, TableRow};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

/// At most this many search results are shown; more means "keep typing".
const SEARCH_LIMIT: usize = 500;
/// Rows kept in memory at most; the cache starts afresh beyond this.
const ROW_CACHE_LIMIT: usize = 5_000;
/// Rows fetched at once when one scrolls into view uncached.
const PREFETCH_ROWS: usize = 64;

/// Ctrl+F: focus the search box.
pub const FIND_SHORTCUT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::F);
/// Ctrl+N: register a new patient.
pub const NEW_PATIENT_SHORTCUT: KeyboardShortcut =
    KeyboardShortcut::new(Modifiers::COMMAND, Key::N);

/// The order of the whole list.
enum Order {
    /// Not computed yet, or out of date after a write. The previous order, if any, is shown
    /// until the new one arrives.
    Stale(Option<Vec<i64>>),
    /// Being computed on the worker thread.
    Loading {
        receiver: Receiver<Result<Vec<i64>, StoreError>>,
        previous: Option<Vec<i64>>,
    },
    /// Ready.
    Ready(Vec<i64>),
    /// Could not be computed.
    Failed(String),
}

/// The results of the search for `text`.
struct SearchView {
    text: String,
    rows: Vec<(PatientRow, SearchHit)>,
    truncated: bool,
    error: Option<String>,
}

/// The patient list screen.
pub struct PatientList {
    query: String,
    focus_search: bool,
    sort: PatientSort,
    descending: bool,
    order: Order,
    cache: HashMap<i64, PatientRow>,
    search: Option<SearchView>,
    selected: Option<i64>,
    scroll_to_selected: bool,
    search_has_focus: bool,
    error: Option<String>,
}

impl Default for PatientList {
    fn default() -> Self {
        Self::new()
    }
}

impl PatientList {
    /// The list, sorted by name, with the search box focused.
    pub fn new() -> Self {
        Self {
            query: String::new(),
            focus_search: true,
            sort: PatientSort::Name,
            descending: false,
            order: Order::Stale(None),
            cache: HashMap::new(),
            search: None,
            selected: None,
            scroll_to_selected: false,
            search_has_focus: false,
            error: None,
        }
    }

    /// True once the list has its order and can show rows.
    pub fn is_ready(&self) -> bool {
        matches!(self.order, Order::Ready(_))
    }

    /// Puts the cursor in the search box on the next frame.
    pub fn focus_search(&mut self) {
        self.focus_search = true;
    }

    /// Forgets what was read from the store, after a write changed patients or visits.
    pub fn invalidate(&mut self) {
        let previous = match std::mem::replace(&mut self.order, Order::Stale(None)) {
            Order::Ready(ids) => Some(ids),
            Order::Loading { previous, .. } | Order::Stale(previous) => previous,
            Order::Failed(_) => None,
        };
        self.order = Order::Stale(previous);
        self.cache.clear();
        self.search = None;
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        self.update_order(ui, cx);

        let mut open: Option<i64> = None;
        // Whether the search box took this frame's Enter.
        let mut enter_taken = false;
        let moved = self.keyboard_selection(ui);

        ui.horizontal(|ui| {
            let label = ui.label(RichText::new(tr!("list-search")).strong());
            let response = ui
                .add(
                    TextEdit::singleline(&mut self.query)
                        .hint_text(tr!("list-search-hint"))
                        .desired_width(360.0),
                )
                .labelled_by(label.id)
                .on_hover_text(ui.ctx().format_shortcut(&FIND_SHORTCUT));
            if std::mem::take(&mut self.focus_search) {
                response.request_focus();
            }
            self.search_has_focus = response.has_focus();
            if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
                // Enter opens the patient meant: the one chosen, or the only one that matches.
                // With several and none chosen it chooses the first and opens nothing, so a
                // second Enter (or ↑/↓ first) opens a patient the clerk has seen.
                match self.selected.or_else(|| self.only_visible_rowid()) {
                    Some(rowid) => open = Some(rowid),
                    None => {
                        self.selected = self.first_visible_rowid();
                        self.scroll_to_selected = true;
                    }
                }
                enter_taken = true;
            }
            ui.add_space(12.0);
            if ui
                .button(tr!("list-new-patient"))
                .on_hover_text(ui.ctx().format_shortcut(&NEW_PATIENT_SHORTCUT))
                .clicked()
            {
                cx.send(Command::Open(Screen::NewPatient));
            }
            if ui
                .add_enabled(
                    self.selected.is_some(),
                    egui::Button::new(tr!("list-open-chart")),
                )
                .on_hover_text(tr!("list-open-chart-hint"))
                .clicked()
            {
                open = self.selected;
            }
        });
        if !enter_taken
            && !ui.ctx().egui_wants_keyboard_input()
            && ui.input(|i| i.key_pressed(Key::Enter))
        {
            open = open.or(self.selected);
        }

        self.update_search(cx.store);
        ui.add_space(4.0);
        self.summary_ui(ui, cx);
        error_label(ui, self.error.as_deref());
        ui.add_space(4.0);

        if let Some(rowid) = self.table_ui(ui, cx, moved) {
            open = Some(rowid);
        }
        if let Some(rowid) = open {
            self.open_chart(rowid, cx);
        }
    }

    /// The line above the table: how many patients, matches, or why nothing shows.
    fn summary_ui(&self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        let text = match (&self.search, &self.order) {
            (Some(search), _) => match &search.error {
                Some(error) => {
                    error_label(
                        ui,
                        Some(&tr!("list-search-failed", error = error.to_string())),
                    );
                    return;
                }
                None if search.truncated => {
                    tr!(
                        "list-too-many",
                        limit = super::widgets::format_count(SEARCH_LIMIT as i64)
                    )
                }
                None if search.rows.is_empty() => {
                    ui.horizontal(|ui| {
                        ui.label(
                            RichText::new(tr!("list-no-match", text = search.text.clone())).weak(),
                        );
                        if cx.enrolled
                            && cx.allows(Action::OpenFromDistrict)
                            && ui
                                .button(tr!("list-find-at-district"))
                                .on_hover_text(tr!("list-find-at-district-hint"))
                                .clicked()
                        {
                            cx.send(Command::FindAtDistrict {
                                text: search.text.clone(),
                            });
                        }
                    });
                    return;
                }
                None => tr!(
                    "list-matches",
                    count = search.rows.len(),
                    shown = super::widgets::format_count(search.rows.len() as i64)
                ),
            },
            (None, Order::Failed(error)) => {
                error_label(
                    ui,
                    Some(&tr!("list-cannot-show", error = error.to_string())),
                );
                return;
            }
            (None, Order::Loading { previous: None, .. } | Order::Stale(None)) => {
                tr!("list-loading")
            }
            (None, _) if cx.patient_count == 0 => {
                tr!("list-empty")
            }
            (None, _) => tr!(
                "list-registered",
                count = cx.patient_count,
                shown = super::widgets::format_count(cx.patient_count)
            ),
        };
        ui.label(RichText::new(text).weak());
    }

    /// Starts, polls or finishes the computation of the list's order.
    fn update_order(&mut self, ui: &Ui, cx: &ViewContext<'_>) {
        match &mut self.order {
            Order::Stale(previous) => {
                let previous = previous.take();
                self.order = if cx.patient_count > super::BACKGROUND_WORK_ABOVE {
                    match spawn_order(cx.store, self.sort, self.descending, ui.ctx().clone()) {
                        Some(receiver) => Order::Loading { receiver, previous },
                        None => order_now(cx.store, self.sort, self.descending),
                    }
                } else {
                    order_now(cx.store, self.sort, self.descending)
                };
                if matches!(self.order, Order::Loading { .. }) {
                    ui.ctx().request_repaint_after(Duration::from_millis(100));
                }
            }
            Order::Loading { receiver, .. } => match receiver.try_recv() {
                Ok(Ok(ids)) => {
                    self.cache.clear();
                    self.order = Order::Ready(ids);
                }
                Ok(Err(error)) => self.order = Order::Failed(error.to_string()),
                Err(TryRecvError::Empty) => {
                    ui.ctx().request_repaint_after(Duration::from_millis(100));
                }
                Err(TryRecvError::Disconnected) => {
                    self.order = Order::Failed("the worker thread stopped".to_owned());
                }
            },
            Order::Ready(_) | Order::Failed(_) => {}
        }
    }

    /// Runs the search when the text changed.
    fn update_search(&mut self, store: &Store) {
        let text = self.query.trim();
        if text.is_empty() {
            self.search = None;
            return;
        }
        if self.search.as_ref().is_some_and(|s| s.text == text) {
            return;
        }
        let mut view = match store.search_patients(text, SEARCH_LIMIT) {
            Ok(PatientSearch { rows, truncated }) => SearchView {
                text: text.to_owned(),
                rows,
                truncated,
                error: None,
            },
            Err(error) => SearchView {
                text: text.to_owned(),
                rows: Vec::new(),
                truncated: false,
                error: Some(error.to_string()),
            },
        };
        if self.sorted_by_user() {
            sort_rows(&mut view.rows, self.sort, self.descending);
        }
        self.search = Some(view);
        self.selected = None;
    }

    /// True when the user chose an order; search results otherwise stay in relevance order.
    fn sorted_by_user(&self) -> bool {
        self.sort != PatientSort::Name || self.descending
    }

    /// Up and Down move the selection (while no other field has the keyboard).
    fn keyboard_selection(&mut self, ui: &Ui) -> bool {
        if ui.ctx().egui_wants_keyboard_input() && !self.search_has_focus {
            return false;
        }
        let (down, up) = ui.input_mut(|i| {
            (
                i.consume_key(Modifiers::NONE, Key::ArrowDown),
                i.consume_key(Modifiers::NONE, Key::ArrowUp),
            )
        });
        if !down && !up {
            return false;
        }
        let search_ids: Vec<i64>;
        let ids: &[i64] = match &self.search {
            Some(search) => {
                search_ids = search.rows.iter().map(|(r, _)| r.patient_rowid).collect();
                &search_ids
            }
            None => self.current_order().unwrap_or(&[]),
        };
        let position = self
            .selected
            .and_then(|selected| ids.iter().position(|&id| id == selected));
        let next = match (position, down) {
            (None, _) => ids.first().copied(),
            (Some(p), true) => ids.get(p + 1).or(ids.get(p)).copied(),
            (Some(p), false) => ids.get(p.saturating_sub(1)).copied(),
        };
        if next.is_some() {
            self.selected = next;
            self.scroll_to_selected = true;
        }
        true
    }

    /// The patient shown when exactly one is shown.
    fn only_visible_rowid(&self) -> Option<i64> {
        match &self.search {
            Some(search) if search.rows.len() == 1 && !search.truncated => {
                search.rows.first().map(|(r, _)| r.patient_rowid)
            }
            Some(_) => None,
            None => match self.current_order() {
                Some([only]) => Some(*only),
                _ => None,
            },
        }
    }

    fn first_visible_rowid(&self) -> Option<i64> {
        match &self.search {
            Some(search) => search.rows.first().map(|(r, _)| r.patient_rowid),
            None => self.current_order().and_then(|ids| ids.first().copied()),
        }
    }

    fn current_order(&self) -> Option<&[i64]> {
        match &self.order {
            Order::Ready(ids) => Some(ids),
            Order::Loading {
                previous: Some(ids),
                ..
            }
            | Order::Stale(Some(ids)) => Some(ids),
            _ => None,
        }
    }

    fn open_chart(&mut self, rowid: i64, cx: &mut ViewContext<'_>) {
        let cached = self.cache.get(&rowid).map(|r| r.patient_id).or_else(|| {
            self.search.as_ref().and_then(|s| {
                s.rows
                    .iter()
                    .find(|(r, _)| r.patient_rowid == rowid)
                    .map(|(r, _)| r.patient_id)
            })
        });
        let patient_id = match cached {
            Some(id) => Some(id),
            None => match cx.store.patient_rows(&[rowid]) {
                Ok(rows) => rows.first().map(|r| r.patient_id),
                Err(error) => {
                    self.error = Some(tr!("list-cannot-open", error = error.to_string()));
                    None
                }
            },
        };
        if let Some(patient_id) = patient_id {
            self.selected = Some(rowid);
            cx.send(Command::Open(Screen::Chart(patient_id)));
        }
    }

    /// The table. Returns the row key of a patient to open (double click).
    fn table_ui(&mut self, ui: &mut Ui, cx: &ViewContext<'_>, moved: bool) -> Option<i64> {
        let today = cx.today;
        let row_height = ui.text_style_height(&egui::TextStyle::Body) + 10.0;
        let mut sort_clicked: Option<PatientSort> = None;
        let mut clicked: Option<i64> = None;
        let mut opened: Option<i64> = None;
        let (sort, descending) = (self.sort, self.descending);
        let arrow = |column: PatientSort| -> &'static str {
            match (column == sort, descending) {
                (true, false) => " ▲",
                (true, true) => " ▼",
                (false, _) => "",
            }
        };
        let searching = self.search.is_some();
        let show_arrows = !searching || self.sorted_by_user();

        let Self {
            order,
            cache,
            search,
            selected,
            scroll_to_selected,
            error,
            ..
        } = self;
        let order_ids: &[i64] = match order {
            Order::Ready(ids)
            | Order::Loading {
                previous: Some(ids),
                ..
            }
            | Order::Stale(Some(ids)) => ids,
            _ => &[],
        };
        let total_rows = match search {
            Some(search) => search.rows.len(),
            None => order_ids.len(),
        };
        let selected_index = if std::mem::take(scroll_to_selected) || moved {
            selected.and_then(|id| match search {
                Some(search) => search.rows.iter().position(|(r, _)| r.patient_rowid == id),
                None => order_ids.iter().position(|&r| r == id),
            })
        } else {
            None
        };

        // The columns share the width there is, so all of them show on a 1024-pixel screen:
        // number, sex, age and the last visit take what they need, name, village and phone the
        // rest (the name most).
        let fixed = 110.0 + 50.0 + 70.0 + 140.0 + 7.0 * ui.spacing().item_spacing.x;
        let rest = (ui.available_width() - fixed).max(300.0);
        let share = |part: f32, most: f32| (rest * part).min(most);
        ui.scope(|ui| {
            // A label must not swallow the click meant for its row.
            ui.style_mut().interaction.selectable_labels = false;
            let mut table = TableBuilder::new(ui)
                .id_salt(("patient_list", (rest / 50.0).round() as i32))
                .striped(true)
                .resizable(true)
                .sense(egui::Sense::click())
                .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
                .column(Column::initial(110.0).at_least(90.0))
                .column(
                    Column::initial(share(0.45, 320.0))
                        .at_least(140.0)
                        .clip(true),
                )
                .column(Column::initial(50.0).at_least(45.0))
                .column(Column::initial(70.0).at_least(60.0))
                .column(
                    Column::initial(share(0.28, 200.0))
                        .at_least(80.0)
                        .clip(true),
                )
                .column(
                    Column::initial(share(0.27, 170.0))
                        .at_least(80.0)
                        .clip(true),
                )
                .column(Column::remainder().at_least(100.0).clip(true))
                .min_scrolled_height(0.0)
                .auto_shrink([false, false]);
            if let Some(index) = selected_index {
                table = table.scroll_to_row(index, None);
            }
            table
                .header(row_height + 4.0, |mut header| {
                    for (title, column) in [
                        (tr!("list-column-number"), PatientSort::Number),
                        (tr!("list-column-name"), PatientSort::Name),
                        (tr!("list-column-sex"), PatientSort::Sex),
                        (tr!("list-column-age"), PatientSort::Age),
                        (tr!("list-column-village"), PatientSort::Village),
                        (tr!("list-column-phone"), PatientSort::Phone),
                        (tr!("list-column-last-visit"), PatientSort::LastVisit),
                    ] {
                        header.col(|ui| {
                            let suffix = if show_arrows { arrow(column) } else { "" };
                            let button = egui::Button::new(
                                RichText::new(format!("{title}{suffix}")).strong(),
                            )
                            .frame(false);
                            if ui
                                .add(button)
                                .on_hover_text(tr!("list-sort-by", column = title.to_lowercase()))
                                .clicked()
                            {
                                sort_clicked = Some(column);
                            }
                        });
                    }
                })
                .body(|body| {
                    body.rows(row_height, total_rows, |mut row| {
                        let index = row.index();
                        let (patient, exact) = match search {
                            Some(search) => match search.rows.get(index) {
                                Some((patient, hit)) => (patient, *hit == SearchHit::Exact),
                                None => return,
                            },
                            None => {
                                let Some(&rowid) = order_ids.get(index) else {
                                    return;
                                };
                                if !cache.contains_key(&rowid)
                                    && let Err(e) = prefetch(cx.store, cache, order_ids, index)
                                {
                                    *error = Some(tr!("list-cannot-read", error = e.to_string()));
                                }
                                match cache.get(&rowid) {
                                    Some(patient) => (patient, false),
                                    None => return,
                                }
                            }
                        };
                        row.set_selected(*selected == Some(patient.patient_rowid));
                        patient_cells(&mut row, patient, exact, today);
                        let response = row.response();
                        if response.double_clicked() {
                            opened = Some(patient.patient_rowid);
                        } else if response.clicked() {
                            clicked = Some(patient.patient_rowid);
                        }
                    });
                });
        });

        if let Some(rowid) = clicked {
            self.selected = Some(rowid);
        }
        if let Some(column) = sort_clicked {
            self.set_sort(column);
        }
        opened
    }

    /// Sorts by `column`, or reverses the order when it already is the sort column.
    fn set_sort(&mut self, column: PatientSort) {
        if self.sort == column {
            self.descending = !self.descending;
        } else {
            self.sort = column;
            self.descending = false;
        }
        if let Some(search) = &mut self.search {
            sort_rows(&mut search.rows, self.sort, self.descending);
        }
        let previous = match std::mem::replace(&mut self.order, Order::Stale(None)) {
            Order::Ready(ids) => Some(ids),
            Order::Loading { previous, .. } | Order::Stale(previous) => previous,
            Order::Failed(_) => None,
        };
        self.order = Order::Stale(previous);
        self.scroll_to_selected = true;
    }
}

/// One patient's cells.
fn patient_cells(row: &mut TableRow<'_, '_>, patient: &PatientRow, exact: bool, today: NaiveDate) {
    row.col(|ui| {
        let number = RichText::new(&patient.number).monospace();
        ui.label(if exact { number.strong() } else { number });
    });
    row.col(|ui| {
        ui.label(RichText::new(&patient.name).strong());
        if !patient.other_script_name.trim().is_empty() {
            ui.label(RichText::new(&patient.other_script_name).weak());
        }
    });
    row.col(|ui| {
        ui.label(patient.sex.letter())
            .on_hover_text(patient.sex.label());
    });
    row.col(|ui| {
        match patient.birth {
            Some(birth) => ui.label(birth.age_label(today)),
            None => ui.label(RichText::new("unknown").weak()),
        };
    });
    row.col(|ui| {
        ui.label(&patient.village);
    });
    row.col(|ui| {
        ui.label(&patient.phone);
    });
    row.col(|ui| {
        match patient.last_visit_at {
            Some(at) => ui.label(super::widgets::format_date(
                at.with_timezone(&chrono::Local).date_naive(),
            )),
            None => ui.label(RichText::new("never").weak()),
        };
    });
}

/// Reads the uncached rows from `index` on, so scrolling reads a block at a time.
fn prefetch(
    store: &Store,
    cache: &mut HashMap<i64, PatientRow>,
    order: &[i64],
    index: usize,
) -> Result<(), StoreError> {
    let end = index.saturating_add(PREFETCH_ROWS).min(order.len());
    let Some(block) = order.get(index..end) else {
        return Ok(());
    };
    let missing: Vec<i64> = block
        .iter()
        .copied()
        .filter(|id| !cache.contains_key(id))
        .collect();
    if cache.len() + missing.len() > ROW_CACHE_LIMIT {
        cache.clear();
    }
    for row in store.patient_rows(&missing)? {
        cache.insert(row.patient_rowid, row);
    }
    Ok(())
}

/// The order computed on this thread (small registers).
fn order_now(store: &Store, sort: PatientSort, descending: bool) -> Order {
    match store.patient_order(sort, descending) {
        Ok(ids) => Order::Ready(ids),
        Err(error) => Order::Failed(error.to_string()),
    }
}

/// Computes the order on the "patient-order" thread with its own read-only connection; `None`
/// when the thread cannot start.
fn spawn_order(
    store: &Store,
    sort: PatientSort,
    descending: bool,
    ctx: egui::Context,
) -> Option<Receiver<Result<Vec<i64>, StoreError>>> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let opener = store.opener();
    let spawned = std::thread::Builder::new()
        .name("patient-order".to_owned())
        .spawn(move || {
            let started = std::time::Instant::now();
            let result = opener
                .open_reader()
                .and_then(|reader| reader.patient_order(sort, descending));
            if let Ok(ids) = &result {
                tracing::debug!(
                    patients = ids.len(),
                    elapsed_ms = started.elapsed().as_millis(),
                    "computed the patient list order"
                );
            }
            // The list may have asked for another order meanwhile: then nobody listens.
            let _ = sender.send(result);
            ctx.request_repaint();
        });
    match spawned {
        Ok(_) => Some(receiver),
        Err(error) => {
            tracing::warn!(%error, "cannot start the patient-order thread; ordering inline");
            None
        }
    }
}

/// Sorts search results in memory the way [`Store::patient_order`] sorts the register.
fn sort_rows(rows: &mut [(PatientRow, SearchHit)], sort: PatientSort, descending: bool) {
    fn sex_rank(sex: Sex) -> u8 {
        match sex {
            Sex::Female => 0,
            Sex::Intersex => 1,
            Sex::Male => 2,
            Sex::Unknown => 3,
        }
    }
    rows.sort_by(|(a, _), (b, _)| {
        let ordering = match sort {
            PatientSort::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            PatientSort::Number => a.number.cmp(&b.number),
            PatientSort::Sex => sex_rank(a.sex)
                .cmp(&sex_rank(b.sex))
                .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase())),
            // Youngest first: the latest birth date first.
            PatientSort::Age => b.birth.map(|d| d.date).cmp(&a.birth.map(|d| d.date)),
            PatientSort::Village => a.village.to_lowercase().cmp(&b.village.to_lowercase()),
            PatientSort::Phone => a.phone.cmp(&b.phone),
            PatientSort::LastVisit => a.last_visit_at.cmp(&b.last_visit_at),
        };
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
}
