//! The monthly report a clinic sends its ministry: attendance by sex and age band, new and
//! repeat visits, diagnoses by ICD-10 code and chapter, notifiable conditions, malnutrition in
//! children under five by MUAC, and referrals — computed from the visits a workstation (or the
//! district server) holds, and written as CSV, as a DHIS2 `dataValueSets` JSON, and as blocks
//! for a PDF.
//!
//! This layer knows the model's types and nothing of the store or the window: the caller hands
//! it one [`VisitFact`] per visit of the month.

mod options;
pub use options::{ReportOptions, ReportOptionsError};

use crate::documents::Block;
use crate::model::Sex;
use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The notifiable conditions shipped with Outpost (`assets/reports/notifiable.csv`).
pub const DEFAULT_NOTIFIABLE: &str = include_str!("../../assets/reports/notifiable.csv");
/// The DHIS2 mapping shipped with Outpost (placeholder ids; `assets/reports/dhis2-mapping.csv`).
pub const DEFAULT_DHIS2_MAPPING: &str = include_str!("../../assets/reports/dhis2-mapping.csv");

/// Why a report could not be made or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    /// A month written other than as YYYY-MM.
    #[error("a month is written YYYY-MM (2026-11), not {0:?}")]
    Month(String),
    /// A line of the notifiable list or the mapping could not be read.
    #[error("line {line} of {file}: {problem}")]
    File {
        /// Which file.
        file: &'static str,
        /// Its line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// The PDF could not be made.
    #[error(transparent)]
    Document(#[from] crate::documents::DocumentError),
    /// An option of the command line that cannot be used.
    #[error("{0}")]
    Option(String),
}

/// The form a report is written in.
#[derive(Clone, Debug)]
pub enum ReportOutput {
    /// CSV, one cell a line.
    Csv,
    /// DHIS2 `dataValueSets` JSON through a mapping, for an organisation unit.
    Dhis2 {
        /// Cells to data elements.
        mapping: Dhis2Mapping,
        /// The organisation unit id.
        org_unit: String,
    },
    /// A PDF on this paper.
    Pdf(crate::documents::Paper),
}

impl ReportOutput {
    /// The output the command line's options name: `format` pdf, csv or dhis2; `paper` a4,
    /// letter or 80mm (for a PDF); the organisation unit and the mapping's CSV (for DHIS2).
    pub fn from_options(
        format: &str,
        paper: &str,
        org_unit: Option<&str>,
        mapping: &str,
    ) -> Result<Self, ReportError> {
        match format.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "pdf" => crate::documents::Paper::parse(paper)
                .map(Self::Pdf)
                .ok_or_else(|| {
                    ReportError::Option(format!("--paper is a4, letter or 80mm, not {paper:?}"))
                }),
            "dhis2" => {
                let Some(org_unit) = org_unit.map(str::trim).filter(|o| !o.is_empty()) else {
                    return Err(ReportError::Option(
                        "--format dhis2 needs --org-unit, the DHIS2 organisation unit id".into(),
                    ));
                };
                Ok(Self::Dhis2 {
                    mapping: Dhis2Mapping::parse(mapping)?,
                    org_unit: org_unit.to_owned(),
                })
            }
            other => Err(ReportError::Option(format!(
                "--format is pdf, csv or dhis2, not {other:?}"
            ))),
        }
    }

    /// The file extension.
    pub fn extension(&self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Dhis2 { .. } => "json",
            Self::Pdf(_) => "pdf",
        }
    }
}

/// The report written in `output`; a PDF's footer names `printed_by` and the time now.
pub fn output_bytes(
    report: &MonthlyReport,
    output: &ReportOutput,
    printed_by: &str,
) -> Result<Vec<u8>, ReportError> {
    Ok(match output {
        ReportOutput::Csv => csv(report).into_bytes(),
        ReportOutput::Dhis2 { mapping, org_unit } => {
            let mut text = serde_json::to_string_pretty(&dhis2(report, mapping, org_unit))
                .unwrap_or_default()
                .into_bytes();
            text.push(b'\n');
            text
        }
        ReportOutput::Pdf(paper) => crate::documents::render(
            &document(report),
            *paper,
            &crate::documents::Footer {
                printed_by: printed_by.to_owned(),
                printed_at: chrono::Utc::now().format("%-d %b %Y %H:%M UTC").to_string(),
            },
        )?,
    })
}

/// The start of `day` in this computer's time zone, as UTC.
pub fn local_midnight(day: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    chrono::Local
        .from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&chrono::Utc))
}

/// A calendar month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    /// Its first day.
    first: NaiveDate,
}

impl Month {
    /// Its first and next month's first instant in this computer's time zone, as UTC: the
    /// visits that began in `[start, end)` are the month's.
    pub fn local_bounds(self) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
        (
            local_midnight(self.first_day()),
            local_midnight(self.next_first_day()),
        )
    }

    /// From `2026-11`.
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        let bad = || ReportError::Month(text.to_owned());
        let (year, month) = text.trim().split_once('-').ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        let first = NaiveDate::from_ymd_opt(year, month, 1)
            .filter(|_| (1900..=9999).contains(&year))
            .ok_or_else(bad)?;
        Ok(Self { first })
    }

    /// The month `date` is in.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            first: date.with_day(1).unwrap_or(date),
        }
    }

    /// Its first day.
    pub fn first_day(self) -> NaiveDate {
        self.first
    }

    /// The first day of the next month.
    pub fn next_first_day(self) -> NaiveDate {
        self.first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX)
    }

    /// DHIS2's period: `202611`.
    pub fn dhis2_period(self) -> String {
        self.first.format("%Y%m").to_string()
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
}

/// What the report needs of one signed visit of the month.
#[derive(Clone, Debug, PartialEq)]
pub struct VisitFact {
    /// The patient's sex.
    pub sex: Sex,
    /// Their age in whole months on the day of the visit, when their birth date is known.
    pub age_months: Option<u32>,
    /// The visit is the patient's first (at this clinic's records).
    pub first_visit: bool,
    /// Its diagnoses (as amended): ICD-10 code if coded, and title.
    pub diagnoses: Vec<(Option<String>, String)>,
    /// Mid-upper arm circumference, mm.
    pub muac_mm: Option<f64>,
    /// A referral letter was issued from the visit.
    pub referred: bool,
}

/// A notifiable condition: its name and the ICD-10 code prefixes that name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notifiable {
    /// "Malaria".
    pub name: String,
    /// "B50", "B51"…
    pub prefixes: Vec<String>,
}

impl Notifiable {
    /// The list in `text` (CSV: condition, code prefixes separated by spaces).
    pub fn parse_list(text: &str) -> Result<Vec<Self>, ReportError> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut out = Vec::new();
        for (n, row) in reader.records().enumerate() {
            let problem = |problem: String| ReportError::File {
                file: "the notifiable list",
                line: n + 2,
                problem,
            };
            let row = row.map_err(|e| problem(e.to_string()))?;
            let name = row.get(0).unwrap_or_default().trim().to_owned();
            let prefixes: Vec<String> = row
                .get(1)
                .unwrap_or_default()
                .split_whitespace()
                .map(|p| p.trim().to_ascii_uppercase())
                .collect();
            if name.is_empty() || prefixes.is_empty() {
                return Err(problem("a condition needs its name and its codes".into()));
            }
            out.push(Self { name, prefixes });
        }
        Ok(out)
    }

    /// The cell's id: `notifiable.malaria`.
    pub fn cell_id(&self) -> String {
        let mut slug = String::new();
        for c in self.name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        format!("notifiable.{}", slug.trim_end_matches('-'))
    }

    fn matches(&self, code: &str) -> bool {
        let code = code.trim().to_ascii_uppercase();
        self.prefixes.iter().any(|p| code.starts_with(p.as_str()))
    }
}

/// One number of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Stable id (`attendance.female.15to49`), what the DHIS2 mapping names.
    pub id: String,
    /// What it counts, in words.
    pub label: String,
    /// The count.
    pub value: u64,
}

/// A diagnosis code and how many visits had it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeCount {
    /// The ICD-10 code.
    pub code: String,
    /// Its title.
    pub title: String,
    /// Visits.
    pub visits: u64,
}

/// The monthly report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonthlyReport {
    /// Whose.
    pub clinic: String,
    /// Which month.
    pub month: Month,
    /// Every cell, in order.
    pub cells: Vec<Cell>,
    /// The most frequent diagnosis codes, most first (ties by code).
    pub top_diagnoses: Vec<CodeCount>,
    /// Visits of the month still drafts, not counted.
    pub drafts_left_out: u64,
}

impl MonthlyReport {
    /// The value of the cell `id`.
    pub fn value(&self, id: &str) -> Option<u64> {
        self.cells.iter().find(|c| c.id == id).map(|c| c.value)
    }
}

/// Age bands, as the ministry's forms have them.
pub const AGE_BANDS: [(&str, &str); 6] = [
    ("under1", "under 1 year"),
    ("1to4", "1–4 years"),
    ("5to14", "5–14 years"),
    ("15to49", "15–49 years"),
    ("50plus", "50 years and over"),
    ("unknown", "age not known"),
];

/// The id of the age band (of [`AGE_BANDS`]) that an age in whole months falls in.
pub fn age_band(age_months: Option<u32>) -> &'static str {
    match age_months.map(|m| m / 12) {
        None => "unknown",
        Some(_) if age_months.is_some_and(|m| m < 12) => "under1",
        Some(0..=4) => "1to4",
        Some(5..=14) => "5to14",
        Some(15..=49) => "15to49",
        Some(_) => "50plus",
    }
}

/// The ICD-10-CM chapters: number, first and last code (three characters), title.
pub const CHAPTERS: [(&str, &str, &str, &str); 22] = [
    (
        "I",
        "A00",
        "B99",
        "Certain infectious and parasitic diseases",
    ),
    ("II", "C00", "D49", "Neoplasms"),
    (
        "III",
        "D50",
        "D89",
        "Diseases of the blood and immune mechanism",
    ),
    (
        "IV",
        "E00",
        "E89",
        "Endocrine, nutritional and metabolic diseases",
    ),
    ("V", "F01", "F99", "Mental and behavioural disorders"),
    ("VI", "G00", "G99", "Diseases of the nervous system"),
    ("VII", "H00", "H59", "Diseases of the eye and adnexa"),
    (
        "VIII",
        "H60",
        "H95",
        "Diseases of the ear and mastoid process",
    ),
    ("IX", "I00", "I99", "Diseases of the circulatory system"),
    ("X", "J00", "J99", "Diseases of the respiratory system"),
    ("XI", "K00", "K95", "Diseases of the digestive system"),
    (
        "XII",
        "L00",
        "L99",
        "Diseases of the skin and subcutaneous tissue",
    ),
    (
        "XIII",
        "M00",
        "M99",
        "Diseases of the musculoskeletal system",
    ),
    ("XIV", "N00", "N99", "Diseases of the genitourinary system"),
    (
        "XV",
        "O00",
        "O9A",
        "Pregnancy, childbirth and the puerperium",
    ),
    ("XVI", "P00", "P96", "Conditions of the perinatal period"),
    ("XVII", "Q00", "Q99", "Congenital malformations"),
    (
        "XVIII",
        "R00",
        "R99",
        "Symptoms, signs and abnormal findings",
    ),
    ("XIX", "S00", "T88", "Injury and poisoning"),
    ("XX", "V00", "Y99", "External causes of morbidity"),
    ("XXI", "Z00", "Z99", "Factors influencing health status"),
    ("XXII", "U00", "U85", "Codes for special purposes"),
];

/// The chapter a code is in.
pub fn chapter_of(code: &str) -> Option<&'static str> {
    let head: String = code.trim().to_ascii_uppercase().chars().take(3).collect();
    if head.len() < 3 {
        return None;
    }
    CHAPTERS
        .iter()
        .find(|(_, first, last, _)| head.as_str() >= *first && head.as_str() <= *last)
        .map(|(number, ..)| *number)
}

/// How many diagnosis codes the report lists.
pub const TOP_DIAGNOSES: usize = 10;

/// The report of `month` from its signed visits' `facts`.
pub fn monthly(
    clinic: &str,
    month: Month,
    facts: &[VisitFact],
    drafts_left_out: u64,
    notifiable: &[Notifiable],
) -> MonthlyReport {
    let mut cells = Vec::new();
    let mut push = |id: String, label: String, value: u64| cells.push(Cell { id, label, value });
    let sexes = [
        ("female", "Female"),
        ("male", "Male"),
        ("other", "Other or not known"),
    ];
    let sex_key = |sex: Sex| match sex {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Intersex | Sex::Unknown => "other",
    };
    for (sex, sex_label) in sexes {
        for (age, age_label) in AGE_BANDS {
            let value = facts
                .iter()
                .filter(|f| sex_key(f.sex) == sex && age_band(f.age_months) == age)
                .count() as u64;
            push(
                format!("attendance.{sex}.{age}"),
                format!("Visits: {sex_label}, {age_label}"),
                value,
            );
        }
    }
    push(
        "attendance.total".into(),
        "Visits: all".into(),
        facts.len() as u64,
    );
    let new = facts.iter().filter(|f| f.first_visit).count() as u64;
    push(
        "visits.new".into(),
        "New patients (first visit)".into(),
        new,
    );
    push(
        "visits.repeat".into(),
        "Repeat visits".into(),
        facts.len() as u64 - new,
    );
    // Each code once per visit.
    let mut per_code: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut per_chapter: BTreeMap<&str, u64> = BTreeMap::new();
    for fact in facts {
        let mut codes: Vec<(&str, &str)> = fact
            .diagnoses
            .iter()
            .filter_map(|(code, title)| code.as_deref().map(|c| (c.trim(), title.as_str())))
            .collect();
        codes.sort();
        codes.dedup_by_key(|(c, _)| c.to_ascii_uppercase());
        let mut chapters: Vec<&str> = Vec::new();
        for (code, title) in codes {
            let entry = per_code
                .entry(code.to_ascii_uppercase())
                .or_insert_with(|| (title.trim().to_owned(), 0));
            entry.1 += 1;
            if let Some(chapter) = chapter_of(code)
                && !chapters.contains(&chapter)
            {
                chapters.push(chapter);
            }
        }
        for chapter in chapters {
            *per_chapter.entry(chapter).or_default() += 1;
        }
    }
    for (number, first, last, title) in CHAPTERS {
        push(
            format!("chapter.{number}"),
            format!("Visits with a diagnosis in chapter {number} ({first}–{last}): {title}"),
            per_chapter.get(number).copied().unwrap_or(0),
        );
    }
    for condition in notifiable {
        let value = facts
            .iter()
            .filter(|f| {
                f.diagnoses
                    .iter()
                    .any(|(code, _)| code.as_deref().is_some_and(|c| condition.matches(c)))
            })
            .count() as u64;
        push(
            condition.cell_id(),
            format!("Notifiable: {}", condition.name),
            value,
        );
    }
    let children: Vec<&VisitFact> = facts
        .iter()
        .filter(|f| f.age_months.is_some_and(|m| (6..60).contains(&m)))
        .collect();
    let screened: Vec<f64> = children.iter().filter_map(|f| f.muac_mm).collect();
    push(
        "malnutrition.screened".into(),
        "Children 6–59 months with MUAC measured".into(),
        screened.len() as u64,
    );
    push(
        "malnutrition.sam".into(),
        "… severe acute malnutrition (MUAC under 115 mm)".into(),
        screened.iter().filter(|m| **m < 115.0).count() as u64,
    );
    push(
        "malnutrition.mam".into(),
        "… moderate acute malnutrition (MUAC 115–124 mm)".into(),
        screened
            .iter()
            .filter(|m| (115.0..125.0).contains(*m))
            .count() as u64,
    );
    push(
        "referrals".into(),
        "Visits with a referral letter".into(),
        facts.iter().filter(|f| f.referred).count() as u64,
    );
    let mut top: Vec<CodeCount> = per_code
        .into_iter()
        .map(|(code, (title, visits))| CodeCount {
            code,
            title,
            visits,
        })
        .collect();
    top.sort_by(|a, b| b.visits.cmp(&a.visits).then_with(|| a.code.cmp(&b.code)));
    top.truncate(TOP_DIAGNOSES);
    MonthlyReport {
        clinic: clinic.to_owned(),
        month,
        cells,
        top_diagnoses: top,
        drafts_left_out,
    }
}

/// The report as CSV: one row per cell (id, label, value), then the top diagnoses.
pub fn csv(report: &MonthlyReport) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut rows: Vec<[String; 3]> = vec![["cell".into(), "label".into(), "value".into()]];
    for cell in &report.cells {
        rows.push([cell.id.clone(), cell.label.clone(), cell.value.to_string()]);
    }
    for (rank, code) in report.top_diagnoses.iter().enumerate() {
        rows.push([
            format!("top.{}.{}", rank + 1, code.code),
            code.title.clone(),
            code.visits.to_string(),
        ]);
    }
    for row in rows {
        // Writing to memory cannot fail.
        let _ = writer.write_record(&row);
    }
    writer
        .into_inner()
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

/// A DHIS2 mapping: cell id → (data element, category option combination).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dhis2Mapping {
    /// By cell id.
    pub cells: BTreeMap<String, (String, String)>,
}

impl Dhis2Mapping {
    /// Reads CSV: cell, dataElement, categoryOptionCombo.
    pub fn parse(text: &str) -> Result<Self, ReportError> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut cells = BTreeMap::new();
        for (n, row) in reader.records().enumerate() {
            let problem = |problem: String| ReportError::File {
                file: "the DHIS2 mapping",
                line: n + 2,
                problem,
            };
            let row = row.map_err(|e| problem(e.to_string()))?;
            let field = |i: usize| row.get(i).unwrap_or_default().trim().to_owned();
            let (cell, element, combo) = (field(0), field(1), field(2));
            let uid = |s: &str| {
                s.len() == 11
                    && s.starts_with(|c: char| c.is_ascii_alphabetic())
                    && s.chars().all(|c| c.is_ascii_alphanumeric())
            };
            if cell.is_empty() || !uid(&element) || !uid(&combo) {
                return Err(problem(
                    "a row is a cell id and two DHIS2 ids of 11 letters and digits".into(),
                ));
            }
            cells.insert(cell, (element, combo));
        }
        Ok(Self { cells })
    }
}

/// The report as DHIS2's `dataValueSets` JSON for `org_unit`: every cell the mapping names.
pub fn dhis2(report: &MonthlyReport, mapping: &Dhis2Mapping, org_unit: &str) -> Value {
    let values: Vec<Value> = report
        .cells
        .iter()
        .filter_map(|cell| {
            let (element, combo) = mapping.cells.get(&cell.id)?;
            Some(json!({
                "dataElement": element,
                "categoryOptionCombo": combo,
                "value": cell.value.to_string(),
            }))
        })
        .collect();
    json!({
        "period": report.month.dhis2_period(),
        "orgUnit": org_unit,
        "completeDate": report.month.next_first_day().format("%Y-%m-%d").to_string(),
        "dataValues": values,
    })
}

/// The report as a document's blocks (for [`crate::documents::render`]).
pub fn document(report: &MonthlyReport) -> Vec<Block> {
    let mut blocks = vec![
        Block::Title(report.clinic.clone()),
        Block::Heading(format!(
            "Monthly report, {}",
            report.month.first_day().format("%B %Y")
        )),
    ];
    if report.drafts_left_out > 0 {
        blocks.push(Block::Small(if report.drafts_left_out == 1 {
            "1 visit of the month is still a draft and is not counted.".to_owned()
        } else {
            format!(
                "{} visits of the month are still drafts and are not counted.",
                report.drafts_left_out
            )
        }));
    }
    blocks.push(Block::Rule);
    let value = |id: &str| report.value(id).unwrap_or(0);
    blocks.push(Block::Heading("Attendance".into()));
    blocks.push(Block::Text(format!(
        "Visits: {} · new patients: {} · repeat visits: {}",
        value("attendance.total"),
        value("visits.new"),
        value("visits.repeat")
    )));
    for (sex, label) in [
        ("female", "Female"),
        ("male", "Male"),
        ("other", "Other or not known"),
    ] {
        let parts: Vec<String> = AGE_BANDS
            .iter()
            .map(|(age, age_label)| {
                format!("{age_label}: {}", value(&format!("attendance.{sex}.{age}")))
            })
            .collect();
        blocks.push(Block::Text(format!("{label} — {}", parts.join(" · "))));
    }
    blocks.push(Block::Heading("Top diagnoses".into()));
    if report.top_diagnoses.is_empty() {
        blocks.push(Block::Text("No coded diagnoses.".into()));
    }
    for (rank, code) in report.top_diagnoses.iter().enumerate() {
        blocks.push(Block::Text(format!(
            "{}. {} {} — {} {}",
            rank + 1,
            code.code,
            code.title,
            code.visits,
            if code.visits == 1 { "visit" } else { "visits" }
        )));
    }
    blocks.push(Block::Heading("Diagnoses by ICD-10 chapter".into()));
    for (number, _, _, title) in CHAPTERS {
        let n = value(&format!("chapter.{number}"));
        if n > 0 {
            blocks.push(Block::Text(format!("{number}. {title}: {n}")));
        }
    }
    blocks.push(Block::Heading("Notifiable conditions".into()));
    for cell in report
        .cells
        .iter()
        .filter(|c| c.id.starts_with("notifiable."))
    {
        blocks.push(Block::Text(format!(
            "{}: {}",
            cell.label.trim_start_matches("Notifiable: "),
            cell.value
        )));
    }
    blocks.push(Block::Heading("Children 6–59 months: MUAC".into()));
    blocks.push(Block::Text(format!(
        "Measured: {} · severe acute malnutrition (< 115 mm): {} · moderate (115–124 mm): {}",
        value("malnutrition.screened"),
        value("malnutrition.sam"),
        value("malnutrition.mam")
    )));
    blocks.push(Block::Heading("Referrals".into()));
    blocks.push(Block::Text(format!(
        "Visits with a referral letter: {}",
        value("referrals")
    )));
    blocks
}
