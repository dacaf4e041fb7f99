//! What both command lines (`outpost report monthly`, `outpost-server report`) take to make a
//! monthly report, read into the month, the notifiable conditions and the form to write.

use super::{
    DEFAULT_DHIS2_MAPPING, DEFAULT_NOTIFIABLE, Month, Notifiable, ReportError, ReportOutput,
};
use std::path::{Path, PathBuf};

/// The options of a monthly report on the command line.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportOptions {
    /// The month, YYYY-MM.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: String,
    /// pdf, csv or dhis2 (a DHIS2 dataValueSets JSON).
    #[arg(long, default_value = "pdf")]
    pub format: String,
    /// The file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The notifiable conditions (CSV: condition, ICD-10 code prefixes separated by spaces);
    /// Outpost's list by default.
    #[arg(long, value_name = "FILE")]
    pub notifiable: Option<PathBuf>,
    /// The DHIS2 mapping (CSV: cell, dataElement, categoryOptionCombo); Outpost's placeholder
    /// ids by default.
    #[arg(long, value_name = "FILE")]
    pub dhis2_mapping: Option<PathBuf>,
    /// The DHIS2 organisation unit id (with --format dhis2).
    #[arg(long, value_name = "ID")]
    pub org_unit: Option<String>,
    /// a4, letter or 80mm (with --format pdf).
    #[arg(long, default_value = "a4")]
    pub paper: String,
}

/// Why the options could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReportOptionsError {
    /// An option, or a file it names, is wrong.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A file it names could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn read(file: Option<&Path>, default: &str) -> Result<String, ReportOptionsError> {
    match file {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ReportOptionsError::Read {
            path: path.to_owned(),
            source,
        }),
        None => Ok(default.to_owned()),
    }
}

impl ReportOptions {
    /// The month, the notifiable conditions and the output, read and checked before any
    /// record is.
    pub fn read(&self) -> Result<(Month, Vec<Notifiable>, ReportOutput), ReportOptionsError> {
        let month = Month::parse(&self.month)?;
        let conditions =
            Notifiable::parse_list(&read(self.notifiable.as_deref(), DEFAULT_NOTIFIABLE)?)?;
        let output = ReportOutput::from_options(
            &self.format,
            &self.paper,
            self.org_unit.as_deref(),
            &read(self.dhis2_mapping.as_deref(), DEFAULT_DHIS2_MAPPING)?,
        )?;
        Ok((month, conditions, output))
    }
}
