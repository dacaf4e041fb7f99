//! Patients: registration, edits, allergies, problems, search and the ordered patient list.

use super::merges::CHART_OF;
use super::write::Fields;
use super::{ReadOnlyStore, Store, StoreError, time_from_text};
use crate::model::{
    Allergy, AllergySeverity, AllergyStatus, ClinicId, DateOfBirth, EntityKind, NextOfKin, Patient,
    PatientId, PatientNumber, Problem, ProblemStatus, Sex, digits_of,
};
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Value, json};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// One line of the patient list or of search results.
#[derive(Clone, Debug, PartialEq)]
pub struct PatientRow {
    /// The row's key in the patient table (stable for the life of the file).
    pub patient_rowid: i64,
    /// Global id.
    pub patient_id: PatientId,
    /// "OUT-000123".
    pub number: String,
    /// "Family, Given".
    pub name: String,
    /// Name in another script.
    pub other_script_name: String,
    /// Sex.
    pub sex: Sex,
    /// Date of birth.
    pub birth: Option<DateOfBirth>,
    /// Village or address.
    pub village: String,
    /// Phone.
    pub phone: String,
    /// Start of the most recent visit.
    pub last_visit_at: Option<DateTime<Utc>>,
}

/// Why a search result is in the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchHit {
    /// The query is this patient's number, national ID or phone exactly.
    Exact,
    /// Words of the query begin words of the name, number, phone, ID or village.
    Words,
}

/// The result of a patient search.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatientSearch {
    /// Matching patients: exact matches first, then by name.
    pub rows: Vec<(PatientRow, SearchHit)>,
    /// True when more patients match than were returned: the user should type more.
    pub truncated: bool,
}

/// Orders of the patient list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PatientSort {
    /// By family name, then given name.
    #[default]
    Name,
    /// By patient number.
    Number,
    /// By sex.
    Sex,
    /// By age (youngest first when ascending).
    Age,
    /// By village.
    Village,
    /// By phone.
    Phone,
    /// By last visit.
    LastVisit,
}

impl PatientSort {
    fn order_by(self) -> &'static str {
        match self {
            Self::Name => "sort_name",
            Self::Number => "number_prefix, number_seq",
            Self::Sex => "sex, sort_name",
            // Newest birth date first is the youngest first.
            Self::Age => "birth_date DESC",
            Self::Village => "village",
            Self::Phone => "phone_digits",
            Self::LastVisit => "last_visit_at",
        }
    }
}

/// Lower case without accents, for sorting names: "Álvarez" sorts with "alvarez".
pub fn fold_for_sort(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

pub(crate) fn patient_fields(p: &Patient) -> Fields {
    let number = p.number.as_ref();
    let fields = json!({
        "clinic_id": p.clinic_id.to_string(),
        "number_prefix": number.map(|n| n.prefix.clone()),
        "number_seq": number.map(|n| n.seq),
        "given_name": p.given_name.trim(),
        "family_name": p.family_name.trim(),
        "other_script_name": p.other_script_name.trim(),
        "sex": p.sex.code(),
        "birth_date": p.birth.map(|b| b.date.to_string()),
        "birth_estimated": p.birth.is_some_and(|b| b.estimated),
        "phone": p.phone.trim(),
        "village": p.village.trim(),
        "national_id": p.national_id.trim(),
        "kin_name": p.next_of_kin.name.trim(),
        "kin_phone": p.next_of_kin.phone.trim(),
        "notes": p.notes,
    });
    match fields {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

pub(super) fn patient_derived(p: &Patient) -> [(&'static str, SqlValue); 3] {
    [
        (
            "sort_name",
            SqlValue::Text(fold_for_sort(&format!(
                "{} {}",
                p.family_name.trim(),
                p.given_name.trim()
            ))),
        ),
        ("phone_digits", SqlValue::Text(digits_of(&p.phone))),
        (
            "match_keys",
            SqlValue::Text(super::duplicates::match_keys(p)),
        ),
    ]
}

const PATIENT_COLUMNS: &str = "patient_id, clinic_id, number_prefix, number_seq, given_name, \
    family_name, other_script_name, sex, birth_date, birth_estimated, phone, village, national_id, \
    kin_name, kin_phone, notes";

fn patient_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Patient, StoreError>> {
    let patient_id: String = row.get(0)?;
    let clinic_id: String = row.get(1)?;
    let birth_date: Option<String> = row.get(8)?;
    let corrupt = |what| StoreError::Corrupt { what };
    let build = || -> Result<Patient, StoreError> {
        Ok(Patient {
            patient_id: patient_id.parse().map_err(|_| corrupt("a patient id"))?,
            clinic_id: clinic_id.parse().map_err(|_| corrupt("a clinic id"))?,
            number: Some(PatientNumber {
                prefix: row.get(2).map_err(|_| corrupt("a patient number"))?,
                seq: row.get(3).map_err(|_| corrupt("a patient number"))?,
            }),
            given_name: row.get(4).map_err(|_| corrupt("a name"))?,
            family_name: row.get(5).map_err(|_| corrupt("a name"))?,
            other_script_name: row.get(6).map_err(|_| corrupt("a name"))?,
            sex: Sex::from_code(&row.get::<_, String>(7).map_err(|_| corrupt("sex"))?),
            birth: match birth_date {
                Some(text) => Some(DateOfBirth {
                    date: text.parse().map_err(|_| corrupt("a date of birth"))?,
                    estimated: row.get(9).map_err(|_| corrupt("a date of birth"))?,
                }),
                None => None,
            },
            phone: row.get(10).map_err(|_| corrupt("a phone"))?,
            village: row.get(11).map_err(|_| corrupt("a village"))?,
            national_id: row.get(12).map_err(|_| corrupt("a national ID"))?,
            next_of_kin: NextOfKin {
                name: row.get(13).map_err(|_| corrupt("next of kin"))?,
                phone: row.get(14).map_err(|_| corrupt("next of kin"))?,
            },
            notes: row.get(15).map_err(|_| corrupt("notes"))?,
        })
    };
    Ok(build())
}

/// The live (not voided) patients among `rowids`, with their row keys, in no set order; records
/// merged into another are left out unless `with_merged`.
pub(super) fn patients_by_rowid(
    conn: &rusqlite::Connection,
    rowids: &[i64],
    with_merged: bool,
) -> Result<Vec<(i64, Patient)>, StoreError> {
    let list = serde_json::to_string(rowids).map_err(|_| StoreError::Corrupt {
        what: "a list of row keys",
    })?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {PATIENT_COLUMNS}, patient_rowid FROM patient
             WHERE patient_rowid IN (SELECT value FROM json_each(?1)) AND voided = 0
               AND (?2 OR merged_into IS NULL)"
        ))
        .map_err(StoreError::sqlite("reading patients"))?;
    let rows = stmt
        .query_map(params![list, with_merged], |row| {
            let rowid: i64 = row.get(16)?;
            Ok(patient_from_row(row)?.map(|p| (rowid, p)))
        })
        .map_err(StoreError::sqlite("reading patients"))?;
    let mut found = Vec::new();
    for row in rows {
        found.push(row.map_err(StoreError::sqlite("reading patients"))??);
    }
    Ok(found)
}

const ROW_COLUMNS: &str = "patient_rowid, patient_id, number_prefix, number_seq, family_name, \
    given_name, other_script_name, sex, birth_date, birth_estimated, village, phone, last_visit_at";

fn list_row(row: &Row<'_>) -> rusqlite::Result<PatientRow> {
    let family: String = row.get(4)?;
    let given: String = row.get(5)?;
    let name = match (family.is_empty(), given.is_empty()) {
        (true, _) => given,
        (_, true) => family,
        _ => format!("{family}, {given}"),
    };
    let birth_date: Option<String> = row.get(8)?;
    let last_visit: Option<String> = row.get(12)?;
    let patient_id: String = row.get(1)?;
    Ok(PatientRow {
        patient_rowid: row.get(0)?,
        patient_id: patient_id.parse().unwrap_or(PatientId(uuid::Uuid::nil())),
        number: PatientNumber {
            prefix: row.get(2)?,
            seq: row.get(3)?,
        }
        .to_string(),
        name,
        other_script_name: row.get(6)?,
        sex: Sex::from_code(&row.get::<_, String>(7)?),
        birth: birth_date
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .map(|date| DateOfBirth {
                date,
                estimated: row.get(9).unwrap_or(false),
            }),
        village: row.get(10)?,
        phone: row.get(11)?,
        last_visit_at: last_visit.as_deref().and_then(time_from_text),
    })
}

/// The FTS5 query for what the user typed: every word must begin a word of the record.
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// Reads shared by the writer's connection and read-only connections.
pub(crate) fn patient_order(
    conn: &Connection,
    sort: PatientSort,
    descending: bool,
) -> Result<Vec<i64>, StoreError> {
    let direction = if descending { " DESC" } else { "" };
    let mut order = sort.order_by().to_owned();
    // Reverse the whole order, including columns that carry their own direction.
    if descending {
        order = order
            .split(", ")
            .map(|c| match c.strip_suffix(" DESC") {
                Some(col) => col.to_owned(),
                None => format!("{c}{direction}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
    }
    let sql = format!(
        "SELECT patient_rowid FROM patient WHERE voided = 0 AND merged_into IS NULL
         ORDER BY {order}, patient_rowid"
    );
    let mut stmt = conn
        .prepare(&sql)
        .map_err(StoreError::sqlite("ordering the patient list"))?;
    let ids = stmt
        .query_map([], |row| row.get(0))
        .and_then(Iterator::collect)
        .map_err(StoreError::sqlite("ordering the patient list"))?;
    Ok(ids)
}

pub(crate) fn rows_by_rowid(
    conn: &Connection,
    rowids: &[i64],
) -> Result<Vec<PatientRow>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM patient WHERE patient_rowid = ?1"
        ))
        .map_err(StoreError::sqlite("reading the patient list"))?;
    let mut rows = Vec::with_capacity(rowids.len());
    for rowid in rowids {
        if let Some(row) = stmt
            .query_row([rowid], list_row)
            .optional()
            .map_err(StoreError::sqlite("reading the patient list"))?
        {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The row key of the patient whose chart shows `rowid`'s records (itself unless merged).
fn survivor_rowid(conn: &Connection, rowid: i64) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "SELECT coalesce(
             (SELECT s.patient_rowid FROM patient s WHERE s.patient_id = p.merged_into),
             p.patient_rowid)
         FROM patient p WHERE p.patient_rowid = ?1",
    )
    .and_then(|mut stmt| stmt.query_row([rowid], |row| row.get(0)))
    .map_err(StoreError::sqlite("searching patients"))
}

pub(crate) fn search(
    conn: &Connection,
    text: &str,
    limit: usize,
) -> Result<PatientSearch, StoreError> {
    let text = text.trim();
    let mut result = PatientSearch::default();
    if text.is_empty() {
        return Ok(result);
    }
    // Exact identifiers first: number, national ID, phone.
    let digits = digits_of(text);
    let mut lookups: Vec<(&str, Vec<SqlValue>)> = Vec::new();
    if let Some(number) = PatientNumber::parse(text) {
        lookups.push((
            "SELECT patient_rowid FROM patient
             WHERE number_prefix = ?1 AND number_seq = ?2 AND voided = 0",
            vec![SqlValue::Text(number.prefix), SqlValue::Integer(number.seq)],
        ));
    }
    if !digits.is_empty()
        && digits.len() == text.len()
        && digits.len() <= 9
        && let Ok(seq) = digits.parse::<i64>()
    {
        lookups.push((
            "SELECT patient_rowid FROM patient WHERE number_seq = ?1 AND voided = 0",
            vec![SqlValue::Integer(seq)],
        ));
    }
    lookups.push((
        "SELECT patient_rowid FROM patient
         WHERE national_id = ?1 AND national_id <> '' AND voided = 0",
        vec![SqlValue::Text(text.to_owned())],
    ));
    if digits.len() >= 6 {
        lookups.push((
            "SELECT patient_rowid FROM patient
             WHERE phone_digits = ?1 AND phone_digits <> '' AND voided = 0",
            vec![SqlValue::Text(digits.clone())],
        ));
    }
    let mut exact: Vec<i64> = Vec::new();
    for (sql, values) in lookups {
        let found: Vec<i64> = conn
            .prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_map(rusqlite::params_from_iter(values), |row| row.get(0))?
                    .collect()
            })
            .map_err(StoreError::sqlite("searching patients"))?;
        for rowid in found {
            // A record merged into another is found by its number, phone or ID: as the survivor.
            let rowid = survivor_rowid(conn, rowid)?;
            if !exact.contains(&rowid) {
                exact.push(rowid);
            }
        }
    }

    // A patient number's prefix ("OUT-") is shared by a whole clinic: search its digits only.
    let word_text = match PatientNumber::parse(text) {
        Some(_) => text
            .rsplit_once('-')
            .map_or(text, |(_, digits)| digits)
            .to_owned(),
        None => text.to_owned(),
    };
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let mut words: Vec<i64> = Vec::new();
    let phone_like = digits.len() >= 3
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
    if phone_like {
        // Digits are a phone number or an ID being typed: the beginning of either, straight from
        // their indexes (a word search would intersect many short digit groups).
        let upper = format!("{digits}:");
        for sql in [
            "SELECT patient_rowid FROM patient
             WHERE phone_digits >= ?1 AND phone_digits < ?2 AND phone_digits <> '' AND voided = 0
               AND merged_into IS NULL
             LIMIT ?3",
            "SELECT patient_rowid FROM patient
             WHERE national_id >= ?1 AND national_id < ?2 AND national_id <> '' AND voided = 0
               AND merged_into IS NULL
             LIMIT ?3",
        ] {
            let found: Vec<i64> = conn
                .prepare_cached(sql)
                .and_then(|mut stmt| {
                    stmt.query_map(params![digits, upper, fetch], |row| row.get(0))?
                        .collect()
                })
                .map_err(StoreError::sqlite("searching patients"))?;
            for rowid in found {
                if !words.contains(&rowid) {
                    words.push(rowid);
                }
            }
        }
    } else if let Some(query) = fts_query(&word_text) {
        let mut stmt = conn
            .prepare_cached(
                "SELECT f.rowid FROM patient_fts f JOIN patient p ON p.patient_rowid = f.rowid
                 WHERE patient_fts MATCH ?1 AND p.voided = 0 AND p.merged_into IS NULL
                 LIMIT ?2",
            )
            .map_err(StoreError::sqlite("searching patients"))?;
        words = stmt
            .query_map(params![query, fetch], |row| row.get(0))
            .and_then(Iterator::collect)
            .map_err(StoreError::sqlite("searching patients"))?;
    }
    result.truncated = words.len() > limit;
    words.retain(|rowid| !exact.contains(rowid));
    let mut word_rows = rows_by_rowid(conn, &words)?;
    word_rows.sort_by_cached_key(|r| fold_for_sort(&r.name));
    result.rows = rows_by_rowid(conn, &exact)?
        .into_iter()
        .map(|r| (r, SearchHit::Exact))
        .chain(word_rows.into_iter().map(|r| (r, SearchHit::Words)))
        .take(limit)
        .collect();
    Ok(result)
}

pub(super) fn allergy_fields(a: &Allergy) -> Fields {
    match json!({
        "patient_id": a.patient_id.to_string(),
        "substance": a.substance.trim(),
        "reaction": a.reaction.trim(),
        "severity": a.severity.code(),
        "active": a.active,
    }) {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

pub(super) fn problem_fields(p: &Problem) -> Fields {
    match json!({
        "patient_id": p.patient_id.to_string(),
        "code": p.code,
        "title": p.title.trim(),
        "onset": p.onset.map(|d| d.to_string()),
        "status": p.status.code(),
    }) {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

impl Store {
    /// Registers a new patient, giving them the next number of this workstation's clinic.
    pub fn register_patient(&mut self, patient: Patient) -> Result<Patient, StoreError> {
        let mut batch = self.batch()?;
        let patient = batch.register_patient(patient)?;
        batch.commit()?;
        Ok(patient)
    }

    /// Saves edits to a registered patient. Returns whether anything changed.
    pub fn update_patient(&mut self, patient: &Patient) -> Result<bool, StoreError> {
        let validation = patient.validate(Utc::now().date_naive());
        if !validation.is_valid() {
            return Err(StoreError::Invalid(validation));
        }
        let old = self.patient(patient.patient_id)?;
        let mut patient = patient.clone();
        // The number and clinic are assigned once and never edited.
        patient.number = old.number.clone();
        patient.clinic_id = old.clinic_id;
        let derived = patient_derived(&patient);
        let mut writer = self.writer()?;
        let changed = writer.update(
            EntityKind::Patient,
            patient.patient_id.0,
            &patient_fields(&old),
            patient_fields(&patient),
            &derived,
        )?;
        writer.commit()?;
        Ok(changed)
    }

    /// A patient's whole record as it stands: demographics, allergies, problems, visits as
    /// amended (voided ones left out) and images (removed ones left out). What FHIR exports and
    /// the server's records API answer with.
    pub fn whole_record(&self, patient_id: PatientId) -> Result<WholeRecord, StoreError> {
        let amendments = self.amendments_for_patient(patient_id)?;
        let visits = self
            .encounters_for_patient(patient_id)?
            .into_iter()
            .filter(|e| !matches!(e.status, crate::model::EncounterStatus::Voided { .. }))
            .map(|e| match amendments.get(&e.encounter_id) {
                Some(amended) => e.as_amended(amended),
                None => e,
            })
            .collect();
        Ok(WholeRecord {
            patient: self.patient(patient_id)?,
            allergy_status: self.allergy_status(patient_id)?,
            allergies: self.allergies(patient_id)?,
            problems: self.problems(patient_id)?,
            visits,
            attachments: self.attachments(patient_id, false)?,
        })
    }

    /// One patient's demographics.
    pub fn patient(&self, patient_id: PatientId) -> Result<Patient, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {PATIENT_COLUMNS} FROM patient WHERE patient_id = ?1"),
                [patient_id.to_string()],
                patient_from_row,
            )
            .optional()
            .map_err(StoreError::sqlite("reading a patient"))?
            .ok_or_else(|| StoreError::NotFound {
                what: "patient",
                id: patient_id.to_string(),
            })?
    }

    /// Whether anyone asked the patient about allergies.
    pub fn allergy_status(&self, patient_id: PatientId) -> Result<AllergyStatus, StoreError> {
        let code: Option<String> = self
            .conn
            .query_row(
                "SELECT allergy_status FROM patient WHERE patient_id = ?1",
                [patient_id.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(StoreError::sqlite("reading allergies"))?;
        code.map(|c| AllergyStatus::from_code(&c))
            .ok_or_else(|| StoreError::NotFound {
                what: "patient",
                id: patient_id.to_string(),
            })
    }

    /// Records that the patient was asked and has no known allergies (or resets to not asked).
    pub fn set_allergy_status(
        &mut self,
        patient_id: PatientId,
        status: AllergyStatus,
    ) -> Result<(), StoreError> {
        let old = self.allergy_status(patient_id)?;
        let mut writer = self.writer()?;
        writer.update(
            EntityKind::Patient,
            patient_id.0,
            &Fields::from_iter([("allergy_status".to_owned(), json!(old.code()))]),
            Fields::from_iter([("allergy_status".to_owned(), json!(status.code()))]),
            &[],
        )?;
        writer.commit()
    }

    /// The patient's allergies, active first.
    pub fn allergies(&self, patient_id: PatientId) -> Result<Vec<Allergy>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT allergy_id, substance, reaction, severity, active, patient_id FROM allergy
                 WHERE patient_id IN {CHART_OF} ORDER BY active DESC, created_at"
            ))
            .map_err(StoreError::sqlite("reading allergies"))?;
        let rows = stmt
            .query_map([patient_id.to_string()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, bool>(4)?,
                    row.get::<_, String>(5)?,
                ))
            })
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(StoreError::sqlite("reading allergies"))?;
        rows.into_iter()
            .map(|(id, substance, reaction, severity, active, owner)| {
                Ok(Allergy {
                    allergy_id: id.parse().map_err(|_| StoreError::Corrupt {
                        what: "an allergy id",
                    })?,
                    // Whose record it was written in (a record merged into this one, perhaps).
                    patient_id: owner.parse().unwrap_or(patient_id),
                    substance,
                    reaction,
                    severity: AllergySeverity::from_code(&severity),
                    active,
                })
            })
            .collect()
    }

    /// Adds or edits an allergy. Adding one also records that the patient was asked.
    pub fn save_allergy(&mut self, allergy: &Allergy) -> Result<(), StoreError> {
        let validation = allergy.validate();
        if !validation.is_valid() {
            return Err(StoreError::Invalid(validation));
        }
        let existing = self
            .allergies(allergy.patient_id)?
            .into_iter()
            .find(|a| a.allergy_id == allergy.allergy_id);
        let status = self.allergy_status(allergy.patient_id)?;
        let mut writer = self.writer()?;
        match existing {
            Some(old) => {
                writer.update(
                    EntityKind::Allergy,
                    allergy.allergy_id.0,
                    &allergy_fields(&old),
                    allergy_fields(allergy),
                    &[],
                )?;
            }
            None => writer.insert(
                EntityKind::Allergy,
                allergy.allergy_id.0,
                allergy_fields(allergy),
                &[],
            )?,
        }
        if status != AllergyStatus::Recorded {
            writer.update(
                EntityKind::Patient,
                allergy.patient_id.0,
                &Fields::from_iter([("allergy_status".to_owned(), json!(status.code()))]),
                Fields::from_iter([(
                    "allergy_status".to_owned(),
                    json!(AllergyStatus::Recorded.code()),
                )]),
                &[],
            )?;
        }
        writer.commit()
    }

    /// The patient with `number`, if one is here.
    pub fn patient_by_number(
        &self,
        number: &crate::model::PatientNumber,
    ) -> Result<Option<PatientId>, StoreError> {
        let id: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT patient_id FROM patient WHERE number_prefix = ?1 AND number_seq = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![number.prefix, number.seq], |row| row.get(0))
                    .optional()
            })
            .map_err(StoreError::sqlite("finding a patient by number"))?;
        id.map(|id| {
            id.parse().map_err(|_| StoreError::Corrupt {
                what: "a patient id",
            })
        })
        .transpose()
    }

    /// The patient's problem list, active first.
    pub fn problems(&self, patient_id: PatientId) -> Result<Vec<Problem>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT problem_id, code, title, onset, status, patient_id FROM problem
                 WHERE patient_id IN {CHART_OF} ORDER BY status = 'resolved', created_at"
            ))
            .map_err(StoreError::sqlite("reading problems"))?;
        let rows = stmt
            .query_map([patient_id.to_string()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                ))
            })
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(StoreError::sqlite("reading problems"))?;
        rows.into_iter()
            .map(|(id, code, title, onset, status, owner)| {
                Ok(Problem {
                    problem_id: id.parse().map_err(|_| StoreError::Corrupt {
                        what: "a problem id",
                    })?,
                    patient_id: owner.parse().unwrap_or(patient_id),
                    code,
                    title,
                    onset: onset.and_then(|d| d.parse().ok()),
                    status: ProblemStatus::from_code(&status),
                })
            })
            .collect()
    }

    /// Adds or edits a problem-list entry.
    pub fn save_problem(&mut self, problem: &Problem) -> Result<(), StoreError> {
        let validation = problem.validate();
        if !validation.is_valid() {
            return Err(StoreError::Invalid(validation));
        }
        let existing = self
            .problems(problem.patient_id)?
            .into_iter()
            .find(|p| p.problem_id == problem.problem_id);
        let mut writer = self.writer()?;
        match existing {
            Some(old) => {
                writer.update(
                    EntityKind::Problem,
                    problem.problem_id.0,
                    &problem_fields(&old),
                    problem_fields(problem),
                    &[],
                )?;
            }
            None => writer.insert(
                EntityKind::Problem,
                problem.problem_id.0,
                problem_fields(problem),
                &[],
            )?,
        }
        writer.commit()
    }

    /// Finds patients by number, national ID, phone, or the beginnings of words of their name
    /// (any script, case and accents ignored), phone, ID or village. At most `limit` rows.
    pub fn search_patients(&self, text: &str, limit: usize) -> Result<PatientSearch, StoreError> {
        search(&self.conn, text, limit)
    }

    /// Every patient's row key, in the order of `sort`.
    pub fn patient_order(
        &self,
        sort: PatientSort,
        descending: bool,
    ) -> Result<Vec<i64>, StoreError> {
        patient_order(&self.conn, sort, descending)
    }

    /// The list rows for the given row keys, in that order.
    pub fn patient_rows(&self, rowids: &[i64]) -> Result<Vec<PatientRow>, StoreError> {
        rows_by_rowid(&self.conn, rowids)
    }

    /// Compacts the search index and refreshes the query planner's statistics: worth running
    /// after a bulk load (demo data, an import), which leaves the index in many small pieces.
    pub fn optimize(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch(
                "INSERT INTO patient_fts (patient_fts) VALUES ('optimize');
                 PRAGMA optimize;",
            )
            .map_err(StoreError::sqlite("optimising the search index"))
    }

    /// The clinic this workstation writes for.
    pub fn clinic_id(&self) -> ClinicId {
        self.workstation.clinic_id
    }

    /// Records how far the server's clock is from this computer's (`server - local`, in
    /// milliseconds). Differences under two minutes are network delay and count as none.
    pub fn set_clock_offset(&self, offset_millis: i64) -> Result<(), StoreError> {
        let offset = if offset_millis.abs() < 120_000 {
            0
        } else {
            offset_millis
        };
        super::meta_set(&self.conn, "clock_offset_millis", &offset.to_string())
    }

    /// How far this computer's clock is behind the server's (negative: ahead), as last measured.
    pub fn clock_offset(&self) -> Result<i64, StoreError> {
        Ok(super::meta_get(&self.conn, "clock_offset_millis")?
            .and_then(|o| o.parse().ok())
            .unwrap_or(0))
    }
}

impl ReadOnlyStore {
    /// See [`Store::search_patients`].
    pub fn search_patients(&self, text: &str, limit: usize) -> Result<PatientSearch, StoreError> {
        search(&self.conn, text, limit)
    }

    /// See [`Store::patient_order`].
    pub fn patient_order(
        &self,
        sort: PatientSort,
        descending: bool,
    ) -> Result<Vec<i64>, StoreError> {
        patient_order(&self.conn, sort, descending)
    }

    /// See [`Store::patient_rows`].
    pub fn patient_rows(&self, rowids: &[i64]) -> Result<Vec<PatientRow>, StoreError> {
        rows_by_rowid(&self.conn, rowids)
    }
}

/// A patient's whole record ([`Store::whole_record`]).
#[derive(Clone, Debug)]
pub struct WholeRecord {
    /// Demographics.
    pub patient: Patient,
    /// Whether they were asked about allergies.
    pub allergy_status: AllergyStatus,
    /// Their allergies.
    pub allergies: Vec<Allergy>,
    /// Their problem list.
    pub problems: Vec<Problem>,
    /// Their visits, as amended, voided ones left out.
    pub visits: Vec<crate::model::Encounter>,
    /// Their images, removed ones left out.
    pub attachments: Vec<crate::model::Attachment>,
}
