//! The Reports screen: the monthly report of a month chosen here, counted from this
//! workstation's records, with a chart of the visits by age band and sex, the cells, the top
//! diagnoses, and buttons that save it as PDF, CSV or DHIS2 JSON.
//!
//! The screen only asks: the app service makes the report (checking the user may, and writing
//! the audit entry) and hands it back through [`ReportsScreen::show`]; a save writes the report
//! shown, not a new count.

use super::command::{Command, ViewContext};
use super::widgets::{ERROR_TEXT, section_ui};
use crate::reports::{AGE_BANDS, Month, MonthlyReport};
use chrono::NaiveDate;
use egui::{RichText, TextEdit, Ui};
use egui_plot::{Bar, BarChart, Legend, Plot};

/// What a report is saved as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// The report's pages.
    Pdf,
    /// One row per cell.
    Csv,
    /// DHIS2 dataValueSets, for the organisation unit typed.
    Dhis2,
}

/// The Reports screen.
pub struct ReportsScreen {
    month: String,
    org_unit: String,
    report: Option<MonthlyReport>,
    error: Option<String>,
}

impl ReportsScreen {
    /// The screen on last month (the one a clinic reports at the start of this one).
    pub fn open(today: NaiveDate) -> Self {
        let last = Month::of(today)
            .first_day()
            .pred_opt()
            .map_or_else(|| Month::of(today), Month::of);
        Self {
            month: last.to_string(),
            org_unit: String::new(),
            report: None,
            error: None,
        }
    }

    /// The report the app service made.
    pub fn show(&mut self, report: MonthlyReport) {
        self.report = Some(report);
        self.error = None;
    }

    /// The report could not be made or saved.
    pub fn failed(&mut self, message: String) {
        self.error = Some(message);
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        ui.label(RichText::new("Monthly report").heading().strong());
        ui.label(
            "Counted from the signed visits this workstation holds; drafts are not counted. \
             No names leave the clinic in a report.",
        );
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            let label = ui.label("Month (YYYY-MM)");
            ui.add(TextEdit::singleline(&mut self.month).desired_width(90.0))
                .labelled_by(label.id);
            if ui.button("Previous").clicked()
                && let Ok(month) = Month::parse(&self.month)
                && let Some(day) = month.first_day().pred_opt()
            {
                self.month = Month::of(day).to_string();
            }
            if ui.button("Next").clicked()
                && let Ok(month) = Month::parse(&self.month)
            {
                self.month = Month::of(month.next_first_day()).to_string();
            }
            if ui.button(RichText::new("Make report").strong()).clicked() {
                match Month::parse(&self.month) {
                    Ok(month) => cx.send(Command::MakeReport(month)),
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
        });
        if let Some(error) = &self.error {
            ui.label(RichText::new(error).color(ERROR_TEXT));
        }
        let Some(report) = &self.report else {
            return;
        };
        let month = report.month;
        ui.add_space(6.0);
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(format!(
                    "{}, {} — {} visits, {} new patients",
                    report.clinic,
                    month.first_day().format("%B %Y"),
                    report.value("attendance.total").unwrap_or(0),
                    report.value("visits.new").unwrap_or(0),
                ))
                .strong(),
            );
            if report.drafts_left_out > 0 {
                ui.label(
                    RichText::new(format!(
                        "· {} still drafts, not counted",
                        report.drafts_left_out
                    ))
                    .color(super::widgets::WARNING_TEXT),
                );
            }
        });
        ui.horizontal_wrapped(|ui| {
            if ui.button("Save as PDF…").clicked() {
                cx.send(Command::SaveReport {
                    report: Box::new(report.clone()),
                    format: ReportFormat::Pdf,
                    org_unit: String::new(),
                });
            }
            if ui.button("Save as CSV…").clicked() {
                cx.send(Command::SaveReport {
                    report: Box::new(report.clone()),
                    format: ReportFormat::Csv,
                    org_unit: String::new(),
                });
            }
            let label = ui.label("DHIS2 organisation unit");
            ui.add(TextEdit::singleline(&mut self.org_unit).desired_width(120.0))
                .labelled_by(label.id);
            let ready = !self.org_unit.trim().is_empty();
            if ui
                .add_enabled(ready, egui::Button::new("Save for DHIS2…"))
                .on_disabled_hover_text("Type the clinic's DHIS2 organisation unit id first")
                .clicked()
            {
                cx.send(Command::SaveReport {
                    report: Box::new(report.clone()),
                    format: ReportFormat::Dhis2,
                    org_unit: self.org_unit.trim().to_owned(),
                });
            }
        });
        egui::ScrollArea::vertical().show(ui, |ui| {
            section_ui(ui, "Visits by age band and sex", |ui| chart_ui(ui, report));
            section_ui(ui, "Top diagnoses", |ui| {
                if report.top_diagnoses.is_empty() {
                    ui.label(RichText::new("No coded diagnoses this month.").weak());
                }
                for (rank, code) in report.top_diagnoses.iter().enumerate() {
                    ui.label(format!(
                        "{}. {} {} — {}",
                        rank + 1,
                        code.code,
                        code.title,
                        code.visits
                    ));
                }
            });
            section_ui(ui, "Every cell", |ui| {
                egui::Grid::new("report_cells")
                    .striped(true)
                    .num_columns(2)
                    .show(ui, |ui| {
                        for cell in &report.cells {
                            ui.label(&cell.label);
                            ui.label(RichText::new(cell.value.to_string()).strong());
                            ui.end_row();
                        }
                    });
            });
        });
    }
}

/// Visits per age band, a bar each for female, male and other.
fn chart_ui(ui: &mut Ui, report: &MonthlyReport) {
    let sexes = [
        ("female", "Female", egui::Color32::from_rgb(185, 28, 28)),
        ("male", "Male", egui::Color32::from_rgb(37, 99, 235)),
        (
            "other",
            "Other or not known",
            egui::Color32::from_rgb(120, 120, 120),
        ),
    ];
    let charts: Vec<BarChart> = sexes
        .iter()
        .enumerate()
        .map(|(s, (key, name, colour))| {
            let bars = AGE_BANDS
                .iter()
                .enumerate()
                .map(|(b, (band, label))| {
                    let value = report
                        .value(&format!("attendance.{key}.{band}"))
                        .unwrap_or(0);
                    Bar::new(b as f64 + (s as f64 - 1.0) * 0.27, value as f64)
                        .width(0.25)
                        .name(format!("{name}, {label}"))
                })
                .collect();
            BarChart::new(*name, bars).color(*colour)
        })
        .collect();
    Plot::new("report_attendance")
        .height(200.0)
        .legend(Legend::default())
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .x_axis_formatter(|mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() > 0.01 || i < 0.0 {
                return String::new();
            }
            AGE_BANDS
                .get(i as usize)
                .map(|(_, label)| (*label).to_owned())
                .unwrap_or_default()
        })
        .show(ui, |plot| {
            for chart in charts {
                plot.bar_chart(chart);
            }
        });
}
