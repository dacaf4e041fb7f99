//! Small pieces every screen uses the same way: labelled fields, date fields, vital-sign fields,
//! inline messages, framed sections, the allergy banner and the colours that carry meaning.
//!
//! They exist so that a field always has a visible label linked to it (screen readers and the UI
//! tests find fields by that label), a date is typed and checked the same way everywhere, and a
//! warning looks like a warning on every screen.

use crate::model::{Allergy, AllergyStatus, VitalRange};
use crate::store::StoreError;
use chrono::{DateTime, Datelike, Local, NaiveDate, Utc};
use egui::{Color32, Id, Response, RichText, TextEdit, Ui};
use std::ops::RangeInclusive;

/// Text that warns: allergies, abnormal vitals.
pub const WARNING_TEXT: Color32 = Color32::from_rgb(146, 64, 14);
/// Background of a warning banner.
pub const WARNING_FILL: Color32 = Color32::from_rgb(254, 243, 199);
/// Outline of a warning banner.
pub const WARNING_STROKE: Color32 = Color32::from_rgb(217, 119, 6);
/// Text of an error the user must fix.
pub const ERROR_TEXT: Color32 = Color32::from_rgb(185, 28, 28);
/// Text that confirms (saved, no known allergies).
pub const OK_TEXT: Color32 = Color32::from_rgb(21, 110, 55);
/// Background of a confirming banner.
pub const OK_FILL: Color32 = Color32::from_rgb(220, 245, 228);
/// Background of a neutral banner.
pub const NEUTRAL_FILL: Color32 = Color32::from_rgb(238, 240, 243);
/// Background of a framed section.
pub const SECTION_FILL: Color32 = Color32::WHITE;
/// Outline of a framed section.
pub const SECTION_STROKE: Color32 = Color32::from_rgb(214, 218, 224);

/// A framed section with a heading, for grouping the parts of a screen.
pub fn section_ui<R>(ui: &mut Ui, title: &str, add_contents: impl FnOnce(&mut Ui) -> R) -> R {
    egui::Frame::new()
        .fill(SECTION_FILL)
        .stroke((1.0, SECTION_STROKE))
        .corner_radius(6)
        .inner_margin(12)
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(RichText::new(title).heading());
            ui.add_space(4.0);
            add_contents(ui)
        })
        .inner
}

/// A store error in words for the person at the keyboard: a refused record lists what is wrong
/// with it, anything else says what failed.
/// What the app service refused or failed, in words for the user.
pub fn app_error_text(error: &crate::app::AppError) -> String {
    match error {
        crate::app::AppError::Store(error) => store_error_text(error),
        other => other.to_string(),
    }
}

pub fn store_error_text(error: &StoreError) -> String {
    let text = match error {
        StoreError::Invalid(validation) => validation.summary(),
        other => other.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// [`two_columns_ui`], or the right column below the left one when the window is too narrow to
/// give the right column `min_right` points (a 1024-pixel clinic screen): nothing is cut off.
pub fn two_columns_or_stacked_ui(
    ui: &mut Ui,
    left_share: f32,
    min_right: f32,
    mut add_column: impl FnMut(&mut Ui, usize),
) {
    let spacing = ui.spacing().item_spacing.x * 2.0;
    let right = (ui.available_width() - spacing).max(0.0) * (1.0 - left_share);
    if right >= min_right {
        two_columns_ui(ui, left_share, add_column);
    } else {
        add_column(ui, 0);
        ui.add_space(8.0);
        add_column(ui, 1);
    }
}

/// Two columns side by side, the left one taking `left_share` of the width; `add_column` is
/// called with 0 for the left column and 1 for the right. Unlike `Ui::columns`, widgets keep their
/// natural width instead of stretching.
pub fn two_columns_ui(ui: &mut Ui, left_share: f32, mut add_column: impl FnMut(&mut Ui, usize)) {
    let spacing = ui.spacing().item_spacing.x * 2.0;
    let width = (ui.available_width() - spacing).max(0.0);
    let left_width = (width * left_share).floor();
    let layout = egui::Layout::top_down(egui::Align::Min);
    ui.horizontal_top(|ui| {
        ui.allocate_ui_with_layout(egui::vec2(left_width, 0.0), layout, |ui| {
            ui.set_width(left_width);
            add_column(ui, 0);
        });
        ui.add_space(spacing / 2.0);
        let right_width = ui.available_width();
        ui.allocate_ui_with_layout(egui::vec2(right_width, 0.0), layout, |ui| {
            ui.set_width(right_width);
            add_column(ui, 1);
        });
    });
}

/// One choice of a drop-down list: picking it — with the mouse, or with Enter or Space — sets
/// the value and closes the list.
pub fn pick<V: PartialEq>(
    ui: &mut Ui,
    current: &mut V,
    value: V,
    text: impl Into<egui::WidgetText>,
) -> Response {
    let response = ui.selectable_value(current, value, text);
    if response.clicked() {
        ui.close();
    }
    response
}

/// A message about a field, in the error colour; nothing when there is no message.
pub fn error_label(ui: &mut Ui, message: Option<&str>) {
    if let Some(message) = message {
        ui.label(RichText::new(message).color(ERROR_TEXT));
    }
}

/// A warning (an abnormal but possible value), in the warning colour.
pub fn warning_label(ui: &mut Ui, message: &str) {
    ui.label(
        RichText::new(format!("⚠ {message}"))
            .color(WARNING_TEXT)
            .strong(),
    );
}

/// The action row of a confirmation dialog: the action (enabled only when `ready`, saying `hint`
/// on hover otherwise) and Cancel, which closes the dialog. True when the action was clicked.
pub fn confirm_buttons_ui(ui: &mut Ui, action: &str, ready: bool, hint: &str) -> bool {
    ui.horizontal(|ui| {
        let confirmed = ui
            .add_enabled(ready, egui::Button::new(RichText::new(action).strong()))
            .on_disabled_hover_text(hint)
            .clicked();
        if ui.button("Cancel").clicked() {
            ui.close();
        }
        confirmed
    })
    .inner
}

/// A visible label and a one-line text field linked to it, side by side (two cells in a grid).
pub fn text_field_row(ui: &mut Ui, label: &str, text: &mut String, width: f32) -> Response {
    let label = ui.label(label);
    ui.add(
        TextEdit::singleline(text)
            .desired_width(width)
            .min_size(egui::vec2(width, 0.0)),
    )
    .labelled_by(label.id)
}

/// A visible label and a multi-line text field linked to it, the label above the field.
pub fn labelled_multiline(ui: &mut Ui, label: &str, text: &mut String, rows: usize) -> Response {
    let label = ui.label(RichText::new(label).strong());
    ui.add(
        TextEdit::multiline(text)
            .desired_rows(rows)
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label.id)
}

/// Read-only text under a heading, for signed visits.
pub fn read_only_text(ui: &mut Ui, label: &str, text: &str) {
    ui.label(RichText::new(label).strong());
    if text.trim().is_empty() {
        ui.label(RichText::new("Not recorded").weak());
    } else {
        ui.label(text);
    }
    ui.add_space(4.0);
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Which comes first in a date written with the year last: the day (03/04/2000 is 3 April, most
/// of the world) or the month (March 4, in the United States and a few other places).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateOrder {
    /// DD/MM/YYYY.
    DayFirst,
    /// MM/DD/YYYY.
    MonthFirst,
}

impl DateOrder {
    /// The order of a locale name such as `en_US.UTF-8` or `fr_FR`: month first only where the
    /// region writes dates that way.
    pub fn of_locale(locale: &str) -> Self {
        let region = locale
            .split(['.', '@'])
            .next()
            .and_then(|l| l.split(['_', '-']).nth(1))
            .unwrap_or("");
        match region {
            "US" | "PH" | "FM" | "MH" | "PW" | "AS" | "GU" | "MP" | "UM" | "VI" => Self::MonthFirst,
            _ => Self::DayFirst,
        }
    }

    /// This computer's order, from `LC_ALL`, `LC_TIME` or `LANG` (day first when none is set),
    /// read once: every date field asks in every frame.
    pub fn system() -> Self {
        static ORDER: std::sync::OnceLock<DateOrder> = std::sync::OnceLock::new();
        *ORDER.get_or_init(|| {
            ["LC_ALL", "LC_TIME", "LANG"]
                .iter()
                .filter_map(|name| std::env::var(name).ok())
                .find(|value| !value.is_empty())
                .map_or(Self::DayFirst, |locale| Self::of_locale(&locale))
        })
    }

    /// How a person is told to write a date in this order.
    pub fn pattern(self) -> &'static str {
        match self {
            Self::DayFirst => "YYYY-MM-DD or DD/MM/YYYY",
            Self::MonthFirst => "YYYY-MM-DD or MM/DD/YYYY",
        }
    }
}

/// Reads a date typed as `YYYY-MM-DD`, or with the year last in this computer's order
/// ([`DateOrder::system`]). Empty text is no date. The error says what is wrong in plain words,
/// e.g. "There is no 31 February 2000."
pub fn parse_date(text: &str) -> Result<Option<NaiveDate>, String> {
    parse_date_in(text, DateOrder::system())
}

/// [`parse_date`] in a given order: `DD/MM/YYYY` (also `DD.MM.YYYY`, `DD-MM-YYYY`) or
/// `MM/DD/YYYY`.
pub fn parse_date_in(text: &str, order: DateOrder) -> Result<Option<NaiveDate>, String> {
    let format = format!("Write the date as {}.", order.pattern());
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parts: Vec<&str> = text.split(['-', '/', '.']).map(str::trim).collect();
    let &[first, second, third] = parts.as_slice() else {
        return Err(format);
    };
    let number = |part: &str| -> Option<u32> {
        if part.is_empty() || part.len() > 4 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (year, month, day) = if first.len() == 4 {
        (first, second, third)
    } else if third.len() == 4 {
        match order {
            DateOrder::DayFirst => (third, second, first),
            DateOrder::MonthFirst => (third, first, second),
        }
    } else {
        return Err(format);
    };
    let (Some(year), Some(month), Some(day)) = (number(year), number(month), number(day)) else {
        return Err(format);
    };
    let Some(month_name) = month.checked_sub(1).and_then(|m| MONTHS.get(m as usize)) else {
        return Err(format!(
            "There is no month {month}: months go from 1 to 12."
        ));
    };
    let year = i32::try_from(year).map_err(|_| format.clone())?;
    NaiveDate::from_ymd_opt(year, month, day)
        .map(Some)
        .ok_or_else(|| format!("There is no {day} {month_name} {year}."))
}

/// A count with thousands separated as the window's language does: "1,000,000".
pub fn format_count(count: i64) -> String {
    crate::i18n::format_count(count)
}

/// A date as people read it, in the window's language: "17 May 1990", "17 mai 1990".
pub fn format_date(date: NaiveDate) -> String {
    crate::i18n::format_date(date)
}

/// A moment in local time: "2026-11-23 14:05".
pub fn format_local_time(time: DateTime<Utc>) -> String {
    time.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The date picker's date for a chrono date.
pub fn jiff_from_chrono(date: NaiveDate) -> Option<jiff::civil::Date> {
    jiff::civil::Date::new(
        i16::try_from(date.year()).ok()?,
        i8::try_from(date.month()).ok()?,
        i8::try_from(date.day()).ok()?,
    )
    .ok()
}

/// A chrono date for the date picker's date.
pub fn chrono_from_jiff(date: jiff::civil::Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        i32::from(date.year()),
        u32::try_from(date.month()).ok()?,
        u32::try_from(date.day()).ok()?,
    )
}

/// A date field: a text box accepting `YYYY-MM-DD` or `DD/MM/YYYY` (named by the label
/// `label_id`) with a calendar button beside it that fills the box. The calendar opens at the
/// typed date, or at `fallback` while the box holds none. Returns true when the text changed.
pub fn date_input_ui(
    ui: &mut Ui,
    label_id: Id,
    id_salt: &'static str,
    text: &mut String,
    fallback: NaiveDate,
    years: RangeInclusive<i16>,
) -> bool {
    ui.horizontal(|ui| {
        let mut changed = ui
            .add(
                TextEdit::singleline(text)
                    .hint_text(DateOrder::system().pattern())
                    .desired_width(220.0)
                    .min_size(egui::vec2(220.0, 0.0)),
            )
            .labelled_by(label_id)
            .changed();
        // How the date was read, as it is typed: 03/04/2000 shows which of two days it is.
        if let Ok(Some(date)) = parse_date(text) {
            ui.label(RichText::new(format!("= {}", format_date(date))).weak());
        }
        let shown = parse_date(text).ok().flatten().unwrap_or(fallback);
        if let Some(mut picked) = jiff_from_chrono(shown) {
            let response = ui
                .add(
                    egui_extras::DatePickerButton::new(&mut picked)
                        .id_salt(id_salt)
                        .show_icon(false)
                        .calendar_week(false)
                        .highlight_weekends(false)
                        .start_end_years(years)
                        // The field beside it already shows the date: the button only names
                        // what it does.
                        .format("Calendar"),
                )
                .on_hover_text("Pick the date from a calendar");
            if response.changed()
                && let Some(date) = chrono_from_jiff(picked)
            {
                *text = date.format("%Y-%m-%d").to_string();
                changed = true;
            }
        }
        changed
    })
    .inner
}

/// What to show beside a vital sign.
#[derive(Clone, Debug, PartialEq)]
pub enum VitalNote {
    /// Nothing to say.
    Fine,
    /// The value is impossible or unreadable: the message says what to enter.
    Invalid(String),
    /// The value is possible but abnormal: the flags' names.
    Flagged(String),
}

/// One vital sign as four grid cells: its name (linked to the field), the field, the unit, and
/// the message or flag beside it.
pub fn vital_field_ui(
    ui: &mut Ui,
    range: &VitalRange,
    text: &mut String,
    note: &VitalNote,
) -> Response {
    let label = ui.label(range.label);
    let response = ui
        .add(
            TextEdit::singleline(text)
                .desired_width(80.0)
                .min_size(egui::vec2(80.0, 0.0)),
        )
        .labelled_by(label.id);
    ui.label(RichText::new(range.unit).weak());
    let text = match note {
        VitalNote::Fine => RichText::new(""),
        VitalNote::Invalid(message) => RichText::new(message).color(ERROR_TEXT),
        VitalNote::Flagged(flags) => RichText::new(format!("⚠ {flags}"))
            .color(WARNING_TEXT)
            .strong(),
    };
    // A long message wraps in its own width instead of widening the whole grid; the scope keeps
    // the row's own layout, so the note sits on its row's line, not half a row below.
    ui.scope(|ui| {
        ui.set_max_width(VITAL_NOTE_WIDTH);
        ui.add(egui::Label::new(text).wrap());
    });
    response
}

/// The width of the message beside a vital sign.
const VITAL_NOTE_WIDTH: f32 = 230.0;

/// How loudly the allergy banner speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BannerTone {
    /// A recorded allergy: red, the substances named — the one thing nobody may miss.
    Danger,
    /// Allergies not asked yet: a quieter prompt to ask.
    Prompt,
    /// Asked, and none known.
    Ok,
    /// Allergies recorded once, none active now.
    Neutral,
}

/// The allergy banner's tone and words for a patient.
pub fn allergy_banner(status: AllergyStatus, allergies: &[Allergy]) -> (BannerTone, String) {
    let active: Vec<&Allergy> = allergies.iter().filter(|a| a.active).collect();
    if !active.is_empty() {
        let list = active
            .iter()
            .map(|a| {
                let mut item = format!("{} ({}", a.substance, a.severity.label().to_lowercase());
                if !a.reaction.trim().is_empty() {
                    item.push_str(": ");
                    item.push_str(a.reaction.trim());
                }
                item.push(')');
                item
            })
            .collect::<Vec<_>>()
            .join(", ");
        return (BannerTone::Danger, format!("⚠ Allergic to: {list}"));
    }
    match status {
        AllergyStatus::NoKnownAllergies => (BannerTone::Ok, "✓ No known allergies".to_owned()),
        AllergyStatus::NotAsked => (
            BannerTone::Prompt,
            "Allergies not asked yet — ask the patient before prescribing".to_owned(),
        ),
        AllergyStatus::Recorded => (BannerTone::Neutral, "No active allergies".to_owned()),
    }
}

/// A red fill for the allergy banner.
const DANGER_FILL: Color32 = Color32::from_rgb(254, 226, 226);

/// The allergy banner shown above a chart or visit: red with the substances named when the
/// patient has an allergy, a quiet prompt when nobody has asked.
pub fn allergy_banner_ui(ui: &mut Ui, status: AllergyStatus, allergies: &[Allergy]) {
    let (tone, words) = allergy_banner(status, allergies);
    let (fill, stroke, text) = match tone {
        BannerTone::Danger => (
            DANGER_FILL,
            ERROR_TEXT,
            RichText::new(words).color(ERROR_TEXT).strong(),
        ),
        BannerTone::Prompt => (
            NEUTRAL_FILL,
            WARNING_STROKE,
            RichText::new(words).color(WARNING_TEXT).italics(),
        ),
        BannerTone::Ok => (
            OK_FILL,
            OK_TEXT,
            RichText::new(words).color(OK_TEXT).strong(),
        ),
        BannerTone::Neutral => (NEUTRAL_FILL, SECTION_STROKE, RichText::new(words)),
    };
    egui::Frame::new()
        .fill(fill)
        .stroke((if tone == BannerTone::Danger { 2.0 } else { 1.0 }, stroke))
        .corner_radius(6)
        .inner_margin(egui::Margin::symmetric(12, 8))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.label(text);
        });
}

/// A patient's number as shown ("OUT-000123"; empty before one is given).
pub fn patient_number(p: &crate::model::Patient) -> String {
    p.number
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// A patient's birth as a list shows it: "12 Nov 2018", "about 1 Jul 1975", or "no birth date".
pub fn born_text(p: &crate::model::Patient) -> String {
    p.birth
        .map(|b| {
            let prefix = if b.estimated { "about " } else { "" };
            format!("{prefix}{}", b.date.format("%-d %b %Y"))
        })
        .unwrap_or_else(|| "no birth date".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    #[test]
    fn dates_read_in_both_orders() {
        assert_eq!(
            parse_date_in("1990-05-17", DateOrder::DayFirst),
            Ok(Some(d(1990, 5, 17)))
        );
        assert_eq!(
            parse_date_in("17/05/1990", DateOrder::DayFirst),
            Ok(Some(d(1990, 5, 17)))
        );
        assert_eq!(
            parse_date_in(" 7.5.1990 ", DateOrder::DayFirst),
            Ok(Some(d(1990, 5, 7)))
        );
        assert_eq!(parse_date_in("", DateOrder::DayFirst), Ok(None));
    }

    #[test]
    fn impossible_dates_say_what_is_wrong() {
        assert_eq!(
            parse_date_in("31/02/2000", DateOrder::DayFirst),
            Err("There is no 31 February 2000.".to_owned())
        );
        assert_eq!(
            parse_date_in("2000-13-01", DateOrder::DayFirst),
            Err("There is no month 13: months go from 1 to 12.".to_owned())
        );
        assert!(parse_date_in("yesterday", DateOrder::DayFirst).is_err());
    }

    #[test]
    fn the_order_of_day_and_month_follows_the_locale() {
        assert_eq!(DateOrder::of_locale("en_US.UTF-8"), DateOrder::MonthFirst);
        assert_eq!(DateOrder::of_locale("en_GB.UTF-8"), DateOrder::DayFirst);
        assert_eq!(DateOrder::of_locale("sw_KE"), DateOrder::DayFirst);
        assert_eq!(DateOrder::of_locale("C.UTF-8"), DateOrder::DayFirst);
        assert_eq!(
            parse_date_in("03/04/2000", DateOrder::DayFirst),
            Ok(Some(d(2000, 4, 3)))
        );
        assert_eq!(
            parse_date_in("03/04/2000", DateOrder::MonthFirst),
            Ok(Some(d(2000, 3, 4)))
        );
        assert!(
            parse_date_in("31/12/2000", DateOrder::MonthFirst)
                .unwrap_err()
                .contains("no month 31")
        );
        assert!(parse_date_in("12/05/90", DateOrder::DayFirst).is_err());
        assert!(parse_date_in("99999/1/1", DateOrder::DayFirst).is_err());
    }

    #[test]
    fn counts_are_grouped_in_thousands() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1,000");
        assert_eq!(format_count(1_000_000), "1,000,000");
        assert_eq!(format_count(-12345), "-12,345");
    }

    #[test]
    fn picker_dates_convert_both_ways() {
        let date = d(2024, 2, 29);
        let picked = jiff_from_chrono(date);
        assert_eq!(picked.and_then(chrono_from_jiff), Some(date));
    }

    #[test]
    fn a_recorded_allergy_is_red_and_named_and_not_asked_is_a_quieter_prompt() {
        let penicillin = Allergy {
            reaction: "Rash".into(),
            ..Allergy::new(crate::model::PatientId::new(), "Penicillin")
        };
        let (tone, words) =
            allergy_banner(AllergyStatus::Recorded, std::slice::from_ref(&penicillin));
        assert_eq!(tone, BannerTone::Danger);
        assert!(words.contains("Penicillin"), "{words}");
        let (tone, words) = allergy_banner(AllergyStatus::NotAsked, &[]);
        assert_eq!(tone, BannerTone::Prompt);
        assert!(words.contains("not asked"), "{words}");
        let inactive = Allergy {
            active: false,
            ..penicillin
        };
        assert_eq!(
            allergy_banner(AllergyStatus::Recorded, &[inactive]).0,
            BannerTone::Neutral
        );
        assert_eq!(
            allergy_banner(AllergyStatus::NoKnownAllergies, &[]).0,
            BannerTone::Ok
        );
    }
}
