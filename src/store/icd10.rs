//! The ICD-10 code list shipped with Outpost (`assets/icd10/`), loaded into the store on first use
//! and searched by code prefix or by the beginnings of words of the title.

use super::{Store, StoreError};
use rusqlite::params;

/// The code list, as shipped: `code,title` with RFC 4180 quoting.
const ICD10_CSV: &[u8] = include_bytes!("../../assets/icd10/icd10cm_codes.csv");

/// One ICD-10 code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Icd10Code {
    /// Dotted code, e.g. "B54" or "E11.9".
    pub code: String,
    /// Title.
    pub title: String,
}

/// True for text that reads as the start of a code: a letter, a digit, then digits, letters or dots.
fn looks_like_code(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.clone().next().is_none_or(|c| c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '.')
}

/// Matches of a word search ranked before the best are returned.
const MAX_RANKED: i64 = 2_000;

/// Codes that most primary-care clinics sign most often, offered first among the matches of a
/// search until the clinic's own signed visits say otherwise: falciparum and unspecified malaria,
/// diarrhoea, upper respiratory infection, pneumonia, bronchitis, urinary infection, gastritis,
/// hypertension, type 2 diabetes, pulmonary tuberculosis, HIV, anaemia, dermatitis,
/// conjunctivitis, fever, intestinal worms, low back pain, constipation.
const COMMON_CODES: &[&str] = &[
    "B50", "B54", "A09", "J06.9", "J18.9", "J20.9", "N39.0", "K29.70", "I10", "E11.9", "A15.0",
    "B20", "D64.9", "L30.9", "H10.9", "R50.9", "B82.9", "M54.5", "K59.00",
];

/// Whether a title starts with the words typed, in order ("pneum" → "Pneumonia, unspecified").
fn title_starts_with(title: &str, typed: &[String]) -> bool {
    let mut words = title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase);
    !typed.is_empty()
        && typed
            .iter()
            .all(|t| words.next().is_some_and(|w| w.starts_with(t.as_str())))
}

impl Store {
    /// How often this clinic signed each diagnosis code.
    fn diagnosis_usage(&self) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT code, uses FROM diagnosis_usage")
            .map_err(StoreError::sqlite("reading diagnosis usage"))?;
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(StoreError::sqlite("reading diagnosis usage"))
    }

    /// Loads the bundled code list if this store does not have it yet. Returns the number of codes.
    pub fn ensure_icd10(&mut self) -> Result<usize, StoreError> {
        let have: i64 = self
            .conn
            .query_row("SELECT count(*) FROM icd10", [], |row| row.get(0))
            .map_err(StoreError::sqlite("counting ICD-10 codes"))?;
        if have > 0 {
            return Ok(usize::try_from(have).unwrap_or(0));
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("loading ICD-10 codes"))?;
        let mut loaded = 0;
        {
            let mut insert = tx
                .prepare("INSERT INTO icd10 (code, title) VALUES (?1, ?2)")
                .map_err(StoreError::sqlite("loading ICD-10 codes"))?;
            let mut reader = csv::Reader::from_reader(ICD10_CSV);
            for record in reader.records() {
                let record = record.map_err(|e| StoreError::Asset {
                    what: "ICD-10 code list",
                    detail: e.to_string(),
                })?;
                let (Some(code), Some(title)) = (record.get(0), record.get(1)) else {
                    continue;
                };
                insert
                    .execute(params![code, title])
                    .map_err(StoreError::sqlite("loading ICD-10 codes"))?;
                loaded += 1;
            }
        }
        tx.execute("INSERT INTO icd10_fts (icd10_fts) VALUES ('rebuild')", [])
            .map_err(StoreError::sqlite("indexing ICD-10 codes"))?;
        tx.commit()
            .map_err(StoreError::sqlite("loading ICD-10 codes"))?;
        Ok(loaded)
    }

    /// Codes whose code starts with `text` ("J18", "e11.") — shortest (most general) first — or
    /// whose title has words starting with every word of `text` ("pneum bact"), ranked: the
    /// codes this clinic signs most, the commonest in primary care, titles that start with the
    /// words typed, then the most general.
    pub fn search_icd10(&self, text: &str, limit: usize) -> Result<Vec<Icd10Code>, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let row = |row: &rusqlite::Row<'_>| {
            Ok(Icd10Code {
                code: row.get(0)?,
                title: row.get(1)?,
            })
        };
        let map_err = StoreError::sqlite("searching ICD-10 codes");
        if looks_like_code(text) {
            let prefix = text.to_ascii_uppercase();
            let upper = format!("{prefix}\u{7f}");
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT code, title FROM icd10 WHERE code >= ?1 AND code < ?2
                     ORDER BY length(code), code LIMIT ?3",
                )
                .map_err(StoreError::sqlite("searching ICD-10 codes"))?;
            let found: Vec<Icd10Code> = stmt
                .query_map(params![prefix, upper, limit], row)
                .and_then(Iterator::collect)
                .map_err(StoreError::sqlite("searching ICD-10 codes"))?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(8)
            .map(|w| format!("\"{w}\"*"))
            .collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let query = format!("title : ({})", words.join(" "));
        // Every match (a word like "malaria" has a few hundred), ranked here: the codes this
        // clinic signs most, then the commonest in primary care, then titles that start with the
        // words typed, then the most general (shortest) codes.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT i.code, i.title FROM icd10_fts f JOIN icd10 i ON i.icd10_rowid = f.rowid
                 WHERE icd10_fts MATCH ?1 ORDER BY length(i.code), f.rank LIMIT ?2",
            )
            .map_err(StoreError::sqlite("searching ICD-10 codes"))?;
        let found: Vec<Icd10Code> = stmt
            .query_map(params![query, MAX_RANKED], row)
            .and_then(Iterator::collect)
            .map_err(map_err)?;
        let usage = self.diagnosis_usage()?;
        let typed: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut ranked: Vec<(usize, Icd10Code)> = found.into_iter().enumerate().collect();
        ranked.sort_by_key(|(position, code)| {
            (
                std::cmp::Reverse(usage.get(&code.code).copied().unwrap_or(0)),
                COMMON_CODES
                    .iter()
                    .position(|c| *c == code.code)
                    .unwrap_or(usize::MAX),
                !title_starts_with(&code.title, &typed),
                *position,
            )
        });
        Ok(ranked
            .into_iter()
            .map(|(_, code)| code)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect())
    }
}
