//! A child's growth in the chart: the WHO z-scores of the latest measures with flags for wasting,
//! stunting and underweight under the banner, and the growth chart (the −3…+3 SD curves of the
//! WHO standards with the child's points) for each indicator.

use super::widgets::{ERROR_TEXT, WARNING_TEXT, format_date, section_ui};
use crate::model::{
    ChartAxis, DAYS_PER_MONTH, Encounter, EncounterStatus, GrowthFlag, GrowthMeasure, GrowthSex,
    GrowthStandards, Indicator, Patient, ZScores, growth_flags, implausible, who_standards,
};
use crate::tr;
use chrono::NaiveDate;
use egui::{Color32, RichText, Ui};
use egui_plot::{Corner, Legend, Line, Plot, PlotPoints, Points};

/// The oldest a patient is shown a growth chart: 19 years, in months.
const LAST_MONTH: f64 = 228.0;

/// One day's measures and their scores.
#[derive(Clone, Debug)]
struct Point {
    day: NaiveDate,
    measure: GrowthMeasure,
    z: ZScores,
}

/// What the chart shows of a child's growth, worked out when the chart loads.
pub struct GrowthView {
    standards: &'static GrowthStandards,
    sex: GrowthSex,
    /// The child's age today, in months.
    age_months: f64,
    /// Measures by day, oldest first.
    points: Vec<Point>,
}

impl GrowthView {
    /// For a patient under 19 years with a known date of birth and sex (else none), from the
    /// weights and lengths of their visits (voided ones left out).
    pub fn of<'a>(
        patient: &Patient,
        visits: impl IntoIterator<Item = &'a Encounter>,
        today: NaiveDate,
    ) -> Option<Self> {
        let birth = patient.birth?.date;
        let sex = GrowthSex::of(patient.sex)?;
        let age_days = (today - birth).num_days();
        let age_months = age_days as f64 / DAYS_PER_MONTH;
        if !(0.0..=LAST_MONTH).contains(&age_months) {
            return None;
        }
        let standards = who_standards()
            .inspect_err(|e| tracing::warn!(error = %e, "the WHO growth tables cannot be read"))
            .ok()?;
        let mut points: Vec<Point> = visits
            .into_iter()
            .filter(|v| !matches!(v.status, EncounterStatus::Voided { .. }))
            .filter(|v| v.vitals.weight_kg.is_some() || v.vitals.height_cm.is_some())
            .filter_map(|v| {
                let day = v.started_at.with_timezone(&chrono::Local).date_naive();
                let measure = GrowthMeasure {
                    sex,
                    age_days: (day - birth).num_days(),
                    weight_kg: v.vitals.weight_kg,
                    length_cm: v.vitals.height_cm,
                };
                (measure.age_days >= 0).then(|| Point {
                    day,
                    z: standards.z_scores(&measure),
                    measure,
                })
            })
            .collect();
        points.sort_by_key(|p| p.day);
        Some(Self {
            standards,
            sex,
            age_months,
            points,
        })
    }

    /// The chart shown first: weight-for-length/height under 5, BMI-for-age after.
    pub fn first_indicator(&self) -> Indicator {
        if self.age_months < 60.0 {
            Indicator::WeightForLength
        } else {
            Indicator::BmiForAge
        }
    }

    /// The latest day with any z-score.
    fn latest(&self) -> Option<&Point> {
        self.points
            .iter()
            .rev()
            .find(|p| Indicator::ALL.iter().any(|i| p.z.get(*i).is_some()))
    }

    /// The flags of the latest measures.
    pub fn flags(&self) -> Vec<GrowthFlag> {
        self.latest()
            .map(|p| growth_flags(&p.z, p.measure.age_months()))
            .unwrap_or_default()
    }

    /// The line under the chart's banner: flags in colour, then the latest z-scores.
    pub fn banner_ui(&self, ui: &mut Ui) {
        let Some(latest) = self.latest() else {
            return;
        };
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(tr!("growth-banner")).strong());
            let flags = self.flags();
            if flags.is_empty() {
                ui.label(RichText::new(tr!("growth-no-flags")).weak());
            }
            for flag in flags {
                let severe = flag.severe();
                ui.label(
                    RichText::new(format!("⚠ {}", flag_text(flag)))
                        .strong()
                        .color(if severe { ERROR_TEXT } else { WARNING_TEXT }),
                );
            }
            let scores: Vec<String> = Indicator::ALL
                .iter()
                .filter_map(|i| {
                    latest.z.get(*i).map(|z| {
                        let check = if implausible(*i, z) {
                            format!(" {}", tr!("growth-check"))
                        } else {
                            String::new()
                        };
                        let sign = if z > 0.0 { "+" } else { "" };
                        format!(
                            "{} {sign}{}{check}",
                            crate::i18n::tr(&format!("growth-{}-short", Indicator::code(*i))),
                            crate::i18n::format_number(z, 2)
                        )
                    })
                })
                .collect();
            ui.label(tr!(
                "growth-scores-on",
                scores = scores.join(" · "),
                date = format_date(latest.day)
            ));
        });
    }

    /// The growth chart section.
    pub fn chart_ui(&self, ui: &mut Ui, selected: &mut Option<Indicator>) {
        section_ui(ui, &tr!("growth-chart-title"), |ui| {
            let mut indicator = selected
                .filter(|i| self.applies(*i))
                .unwrap_or(self.first_indicator());
            ui.horizontal_wrapped(|ui| {
                for choice in Indicator::ALL {
                    if self.applies(choice) {
                        ui.selectable_value(
                            &mut indicator,
                            choice,
                            crate::i18n::tr(&format!("growth-{}", Indicator::code(choice))),
                        );
                    }
                }
            });
            *selected = Some(indicator);
            let axis = GrowthStandards::axis(indicator);
            let (x_name, y_name) = match (axis, indicator) {
                (ChartAxis::LengthCm, _) => (tr!("growth-axis-length"), tr!("growth-axis-weight")),
                (_, Indicator::WeightForAge) => (tr!("growth-axis-age"), tr!("growth-axis-weight")),
                (_, Indicator::LengthForAge) => (tr!("growth-axis-age"), tr!("growth-axis-length")),
                (_, _) => (tr!("growth-axis-age"), tr!("growth-axis-bmi")),
            };
            let child: Vec<[f64; 2]> = self
                .points
                .iter()
                .filter(|p| p.z.get(indicator).is_some())
                .filter_map(|p| {
                    let y = match indicator {
                        Indicator::WeightForAge | Indicator::WeightForLength => p.measure.weight_kg,
                        Indicator::LengthForAge => p.measure.length_cm,
                        Indicator::BmiForAge => p.measure.bmi(),
                    }?;
                    let x = match axis {
                        ChartAxis::AgeMonths => p.measure.age_months(),
                        ChartAxis::LengthCm => p.measure.length_cm?,
                    };
                    Some([x, y])
                })
                .collect();
            if child.is_empty() {
                ui.label(RichText::new(tr!("growth-no-measures")).weak());
            }
            let curves: [(f64, String, Color32); 5] = [
                (
                    3.0,
                    tr!("growth-sd", sd = "+3"),
                    Color32::from_rgb(185, 28, 28),
                ),
                (
                    2.0,
                    tr!("growth-sd", sd = "+2"),
                    Color32::from_rgb(217, 119, 6),
                ),
                (0.0, tr!("growth-median"), Color32::from_rgb(22, 163, 74)),
                (
                    -2.0,
                    tr!("growth-sd", sd = "-2"),
                    Color32::from_rgb(217, 119, 6),
                ),
                (
                    -3.0,
                    tr!("growth-sd", sd = "-3"),
                    Color32::from_rgb(185, 28, 28),
                ),
            ];
            let this_child = tr!("growth-this-child");
            let age = self.age_months;
            let standards = self.standards;
            let sex = self.sex;
            // The part of the chart a clinician reads for this child, as WHO's printed charts cut
            // it: birth to 2 years or to 5, 5 to 19; by length, to 90 cm while the child is short.
            let (low, high) = standards.x_range(indicator, age);
            let widest = child.iter().map(|p| p[0]).fold(age, f64::max);
            let high = match axis {
                ChartAxis::AgeMonths if age < 24.0 => high.min(24.0),
                ChartAxis::LengthCm if widest < 85.0 => high.min(90.0),
                _ => high,
            };
            let within = |points: Vec<[f64; 2]>| -> Vec<[f64; 2]> {
                points
                    .into_iter()
                    .filter(|p| p[0] >= low && p[0] <= high)
                    .collect()
            };
            Plot::new(("growth_chart", Indicator::code(indicator)))
                .height(260.0)
                .legend(
                    Legend::default()
                        .position(Corner::LeftTop)
                        .follow_insertion_order(true),
                )
                .allow_zoom(false)
                .allow_drag(false)
                .allow_scroll(false)
                .allow_boxed_zoom(false)
                .x_axis_label(x_name)
                .y_axis_label(y_name)
                .show(ui, |plot_ui| {
                    for (sd, name, colour) in curves {
                        plot_ui.line(
                            Line::new(
                                name,
                                PlotPoints::from(within(standards.curve(indicator, sex, age, sd))),
                            )
                            .color(colour)
                            .width(if sd == 0.0 { 2.0 } else { 1.2 }),
                        );
                    }
                    if !child.is_empty() {
                        plot_ui.line(
                            Line::new(this_child.clone(), PlotPoints::from(child.clone()))
                                .color(Color32::from_rgb(37, 99, 235))
                                .width(2.0),
                        );
                        plot_ui.points(
                            Points::new(this_child, PlotPoints::from(child))
                                .color(Color32::from_rgb(37, 99, 235))
                                .radius(4.0),
                        );
                    }
                });
            ui.label(
                RichText::new(if age < 60.0 {
                    tr!("growth-standards-2006")
                } else {
                    tr!("growth-reference-2007")
                })
                .weak(),
            );
        });
    }

    /// Whether an indicator has a chart at the child's age.
    fn applies(&self, indicator: Indicator) -> bool {
        match indicator {
            Indicator::WeightForAge => self.age_months <= 120.0,
            Indicator::WeightForLength => self.age_months < 60.0,
            Indicator::LengthForAge | Indicator::BmiForAge => true,
        }
    }
}

/// A flag in the window's language.
fn flag_text(flag: GrowthFlag) -> String {
    crate::i18n::tr(&format!("growth-flag-{}", flag.code()))
}
