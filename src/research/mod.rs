//! The de-identified research extract: a period's signed visits as four CSV tables (visits,
//! diagnoses, vital signs, prescriptions) that name no one.
//!
//! - Each patient is a keyed pseudonym (`R` and 12 hexadecimal digits) derived from their
//!   record's id under the clinic's research key ([`ResearchKey`]), which never leaves the
//!   clinic: the same patient has the same pseudonym in every extract, and nobody without the
//!   key can compute or reverse it.
//! - Each patient's dates move by their own number of days (1 to 182 days either way, never 0,
//!   also derived from the key), so the intervals between one patient's visits survive and no
//!   visit's real date shows.
//! - Ages are the monthly report's bands at the visit; no birth date is written.
//! - Names, numbers, phones, addresses, next of kin and every free-text field (complaint,
//!   history, examination, plan, a prescription's instructions, uncoded diagnoses) are left out.
//! - The village is generalised: mapped to a larger area by the clinic's own list when given,
//!   and "other" when fewer than k patients of the extract live there.
//! - k-anonymity on the quasi-identifiers (sex, age band, place): a visit whose combination is
//!   shared by fewer than k patients is suppressed, with its diagnoses, vital signs and
//!   prescriptions, and the summary says how many.
//!
//! Pure: it takes the visits the store read and the key, and returns the tables.

use crate::keys::ResearchKey;
use crate::model::{Encounter, Patient, PatientId, Sex, SignedVisit, Vitals, age_on};
use crate::reports::age_band;
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The k of k-anonymity when none is given.
pub const DEFAULT_K: usize = 5;
/// The widest shift of a patient's dates, in days either way.
pub const MAX_SHIFT_DAYS: i64 = 182;
/// What a place becomes when too few patients live there.
pub const OTHER_PLACE: &str = "other";
/// What a place is when the record has none.
pub const UNKNOWN_PLACE: &str = "unknown";
/// The longest text kept of a prescription's fields.
const MAX_FIELD: usize = 60;

/// How an extract is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractOptions {
    /// The least number of patients that must share a visit's sex, age band and place.
    pub k: usize,
    /// The clinic's list of villages and the larger areas they belong to, by village folded to
    /// lower case; a village not in it stays itself before the k rule.
    pub places: HashMap<String, String>,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            k: DEFAULT_K,
            places: HashMap::new(),
        }
    }
}

/// Why a list of places could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlacesError {
    /// A line is not `village,area`.
    #[error("line {line} of the places list is not \"village,area\"")]
    Line {
        /// 1-based, counting the header.
        line: usize,
    },
}

impl ExtractOptions {
    /// Reads a places list: CSV with a header, `village,area` on each line.
    pub fn parse_places(text: &str) -> Result<HashMap<String, String>, PlacesError> {
        let mut places = HashMap::new();
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        for (n, record) in reader.records().enumerate() {
            let line = n + 2;
            let record = record.map_err(|_| PlacesError::Line { line })?;
            match (record.get(0), record.get(1), record.len()) {
                (Some(village), Some(area), 2)
                    if !village.trim().is_empty() && !area.trim().is_empty() =>
                {
                    places.insert(fold(village), area.trim().to_owned());
                }
                _ => return Err(PlacesError::Line { line }),
            }
        }
        Ok(places)
    }
}

fn fold(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// One visit of the extract.
#[derive(Clone, Debug, PartialEq)]
pub struct VisitRow {
    /// The visit's key in this extract (`V000001`…), which the other tables refer to.
    pub visit: String,
    /// The patient's pseudonym.
    pub patient: String,
    /// The visit's date, moved by the patient's shift.
    pub date: NaiveDate,
    /// The patient's age band at the visit (the monthly report's bands).
    pub age_band: &'static str,
    /// `female`, `male`, `intersex` or `unknown`.
    pub sex: &'static str,
    /// The place, generalised.
    pub place: String,
    /// The kind of visit (`outpatient`, `follow_up`…).
    pub kind: &'static str,
    /// The patient's first visit in the clinic's records.
    pub first_visit: bool,
}

/// A coded diagnosis of a visit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagnosisRow {
    /// The visit's key.
    pub visit: String,
    /// The ICD-10 code.
    pub code: String,
    /// The visit's main diagnosis.
    pub primary: bool,
}

/// A visit's vital signs.
#[derive(Clone, Debug, PartialEq)]
pub struct VitalsRow {
    /// The visit's key.
    pub visit: String,
    /// The values (as amended).
    pub vitals: Vitals,
}

/// A medicine prescribed at a visit (the instructions, free text, left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrescriptionRow {
    /// The visit's key.
    pub visit: String,
    /// Medicine, strength, dose, route, frequency, duration, quantity.
    pub fields: [String; 7],
}

/// What the extract holds and what it left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    /// The k applied.
    pub k: usize,
    /// Patients in the extract.
    pub patients: usize,
    /// Visits in the extract.
    pub visits: usize,
    /// Visits suppressed because fewer than k patients shared their sex, age band and place.
    pub suppressed_visits: usize,
    /// Patients all of whose visits were suppressed.
    pub suppressed_patients: usize,
    /// Villages written as "other" (fewer than k patients).
    pub places_generalised: usize,
    /// Diagnoses left out because they had no ICD-10 code (free text).
    pub uncoded_diagnoses: usize,
    /// The fewest patients sharing a combination of sex, age band and place among the visits
    /// written (at least k, unless nothing was written).
    pub smallest_group: usize,
}

/// The tables of an extract.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResearchExtract {
    /// Visits.
    pub visits: Vec<VisitRow>,
    /// Coded diagnoses.
    pub diagnoses: Vec<DiagnosisRow>,
    /// Vital signs (visits that recorded any).
    pub vitals: Vec<VitalsRow>,
    /// Prescriptions.
    pub prescriptions: Vec<PrescriptionRow>,
    /// What it holds and left out.
    pub summary: ExtractSummary,
}

/// The patient's pseudonym under `key`.
pub fn pseudonym(key: &ResearchKey, patient_id: PatientId) -> String {
    let derived = key.derive(b"patient pseudonym", patient_id.to_string().as_bytes());
    format!(
        "R{}",
        data_encoding::HEXUPPER.encode(derived.get(..6).unwrap_or_default())
    )
}

/// The patient's date shift under `key`, in days: 1 to [`MAX_SHIFT_DAYS`] either way, never 0,
/// so no visit keeps its real date.
pub fn date_shift(key: &ResearchKey, patient_id: PatientId) -> i64 {
    let derived = key.derive(b"patient date shift", patient_id.to_string().as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(derived.get(..8).unwrap_or(&[0; 8]));
    let step = (u64::from_le_bytes(bytes) % (2 * MAX_SHIFT_DAYS as u64)) as i64;
    if step < MAX_SHIFT_DAYS {
        -(step + 1)
    } else {
        step - MAX_SHIFT_DAYS + 1
    }
}

fn sex_code(sex: Sex) -> &'static str {
    sex.code()
}

/// A prescription's field, cleaned: no control characters, spaces collapsed, cut to a length.
fn field(text: &str) -> String {
    let clean: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD)
        .collect();
    clean
}

/// An ICD-10 code as written in the extract, or None when the text is not one.
fn icd10(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    let mut chars = code.chars();
    let letter = chars.next()?;
    let valid = letter.is_ascii_uppercase()
        && code.len() >= 3
        && code.len() <= 8
        && code
            .chars()
            .skip(1)
            .all(|c| c.is_ascii_alphanumeric() || c == '.')
        && code.chars().skip(1).take(2).all(|c| c.is_ascii_digit());
    valid.then_some(code)
}

struct Prepared<'a> {
    pseudonym: String,
    patient_id: PatientId,
    date: NaiveDate,
    age_band: &'static str,
    sex: &'static str,
    place: String,
    visit: &'a Encounter,
    first_visit: bool,
}

/// The extract of `visits` under `key`.
pub fn extract(
    visits: &[SignedVisit],
    key: &ResearchKey,
    options: &ExtractOptions,
) -> ResearchExtract {
    let k = options.k.max(1);
    let mut summary = ExtractSummary {
        k,
        ..ExtractSummary::default()
    };
    // Places: the clinic's areas first, then "other" where fewer than k patients live.
    let place_of = |patient: &Patient| {
        let village = fold(&patient.village);
        if village.is_empty() {
            return UNKNOWN_PLACE.to_owned();
        }
        options.places.get(&village).cloned().unwrap_or_else(|| {
            patient
                .village
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    let mut residents: BTreeMap<String, BTreeSet<PatientId>> = BTreeMap::new();
    for visit in visits {
        residents
            .entry(fold(&place_of(&visit.patient)))
            .or_default()
            .insert(visit.patient.patient_id);
    }
    summary.places_generalised = residents
        .iter()
        .filter(|(place, ids)| ids.len() < k && place.as_str() != UNKNOWN_PLACE)
        .count();
    let mut prepared: Vec<Prepared<'_>> = visits
        .iter()
        .map(|v| {
            let patient = &v.patient;
            let day = v
                .visit
                .started_at
                .with_timezone(&chrono::Local)
                .date_naive();
            let shift = date_shift(key, patient.patient_id);
            let place = place_of(patient);
            let place = if residents.get(&fold(&place)).map_or(0, BTreeSet::len) < k {
                OTHER_PLACE.to_owned()
            } else {
                place
            };
            Prepared {
                pseudonym: pseudonym(key, patient.patient_id),
                patient_id: patient.patient_id,
                date: day
                    .checked_add_signed(chrono::TimeDelta::days(shift))
                    .unwrap_or(day),
                age_band: age_band(
                    patient
                        .birth
                        .and_then(|b| age_on(b.date, day))
                        .map(|(years, months, _)| years * 12 + months),
                ),
                sex: sex_code(patient.sex),
                place,
                visit: &v.visit,
                first_visit: v.first_visit,
            }
        })
        .collect();
    // k-anonymity: the patients sharing each combination of the quasi-identifiers.
    let mut groups: HashMap<(&'static str, &'static str, String), BTreeSet<PatientId>> =
        HashMap::new();
    for p in &prepared {
        groups
            .entry((p.sex, p.age_band, p.place.clone()))
            .or_default()
            .insert(p.patient_id);
    }
    let all_patients: BTreeSet<PatientId> = prepared.iter().map(|p| p.patient_id).collect();
    let before = prepared.len();
    prepared.retain(|p| {
        groups
            .get(&(p.sex, p.age_band, p.place.clone()))
            .is_some_and(|g| g.len() >= k)
    });
    summary.suppressed_visits = before - prepared.len();
    let kept_patients: BTreeSet<PatientId> = prepared.iter().map(|p| p.patient_id).collect();
    summary.patients = kept_patients.len();
    summary.suppressed_patients = all_patients.len() - kept_patients.len();
    summary.smallest_group = groups
        .values()
        .map(BTreeSet::len)
        .filter(|&n| n >= k)
        .min()
        .filter(|_| !prepared.is_empty())
        .unwrap_or(0);
    // Keys in the order of the shifted dates, which tells nothing of the real order.
    prepared.sort_by(|a, b| (a.date, &a.pseudonym).cmp(&(b.date, &b.pseudonym)));
    let mut out = ResearchExtract::default();
    for (n, p) in prepared.iter().enumerate() {
        let visit = format!("V{:06}", n + 1);
        for diagnosis in &p.visit.diagnoses {
            match diagnosis.code.as_deref().and_then(icd10) {
                Some(code) => out.diagnoses.push(DiagnosisRow {
                    visit: visit.clone(),
                    code,
                    primary: diagnosis.primary,
                }),
                None => summary.uncoded_diagnoses += 1,
            }
        }
        if p.visit.vitals != Vitals::default() {
            out.vitals.push(VitalsRow {
                visit: visit.clone(),
                vitals: p.visit.vitals,
            });
        }
        for rx in &p.visit.prescriptions {
            out.prescriptions.push(PrescriptionRow {
                visit: visit.clone(),
                fields: [
                    field(&rx.medicine).to_lowercase(),
                    field(&rx.strength),
                    field(&rx.dose),
                    field(&rx.route),
                    field(&rx.frequency),
                    field(&rx.duration),
                    field(&rx.quantity),
                ],
            });
        }
        out.visits.push(VisitRow {
            visit,
            patient: p.pseudonym.clone(),
            date: p.date,
            age_band: p.age_band,
            sex: p.sex,
            place: p.place.clone(),
            kind: p.visit.kind.code(),
            first_visit: p.first_visit,
        });
    }
    summary.visits = out.visits.len();
    out.summary = summary;
    out
}

/// The fewest patients sharing a combination of sex, age band and place among `visits` (0 when
/// there are none): what an outside check of k-anonymity computes.
pub fn smallest_group(visits: &[VisitRow]) -> usize {
    let mut groups: HashMap<(&str, &str, &str), BTreeSet<&str>> = HashMap::new();
    for v in visits {
        groups
            .entry((v.sex, v.age_band, v.place.as_str()))
            .or_default()
            .insert(v.patient.as_str());
    }
    groups.values().map(BTreeSet::len).min().unwrap_or(0)
}

fn number(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The extract as files: `visits.csv`, `diagnoses.csv`, `vitals.csv`, `prescriptions.csv` and
/// `extract.txt` (what it is, k, and what was suppressed).
pub fn files(
    extract: &ResearchExtract,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(&'static str, Vec<u8>)>, csv::Error> {
    let table = |header: &[&str], rows: Vec<Vec<String>>| -> Result<Vec<u8>, csv::Error> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(header)?;
        for row in rows {
            writer.write_record(&row)?;
        }
        writer.into_inner().map_err(|e| e.into_error().into())
    };
    let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
    let visits = table(
        &[
            "visit",
            "patient",
            "date_shifted",
            "age_band",
            "sex",
            "place",
            "kind",
            "first_visit",
        ],
        extract
            .visits
            .iter()
            .map(|v| {
                vec![
                    v.visit.clone(),
                    v.patient.clone(),
                    v.date.to_string(),
                    v.age_band.to_owned(),
                    v.sex.to_owned(),
                    v.place.clone(),
                    v.kind.to_owned(),
                    flag(v.first_visit),
                ]
            })
            .collect(),
    )?;
    let diagnoses = table(
        &["visit", "icd10", "primary"],
        extract
            .diagnoses
            .iter()
            .map(|d| vec![d.visit.clone(), d.code.clone(), flag(d.primary)])
            .collect(),
    )?;
    let vitals = table(
        &[
            "visit",
            "temperature_c",
            "pulse_bpm",
            "respiratory_rate",
            "systolic_mmhg",
            "diastolic_mmhg",
            "spo2_percent",
            "weight_kg",
            "height_cm",
            "muac_mm",
        ],
        extract
            .vitals
            .iter()
            .map(|r| {
                let v = &r.vitals;
                vec![
                    r.visit.clone(),
                    number(v.temperature_c),
                    number(v.pulse_bpm),
                    number(v.respiratory_rate),
                    number(v.systolic_mmhg),
                    number(v.diastolic_mmhg),
                    number(v.spo2_percent),
                    number(v.weight_kg),
                    number(v.height_cm),
                    number(v.muac_mm),
                ]
            })
            .collect(),
    )?;
    let prescriptions = table(
        &[
            "visit",
            "medicine",
            "strength",
            "dose",
            "route",
            "frequency",
            "duration",
            "quantity",
        ],
        extract
            .prescriptions
            .iter()
            .map(|p| {
                let mut row = vec![p.visit.clone()];
                row.extend(p.fields.iter().cloned());
                row
            })
            .collect(),
    )?;
    let s = &extract.summary;
    let about = format!(
        "Outpost research extract: signed visits from {from} to {to} (the dates in the tables \
         are shifted per patient).\n\
         Patients: a keyed pseudonym each (the key stays in the clinic). Ages: bands at the visit. \
         Places: generalised (\"{OTHER_PLACE}\" where fewer than k patients live).\n\
         Names, numbers, phones, addresses and free text are not in it.\n\
         k-anonymity on sex, age band and place: k = {k}.\n\
         Patients: {patients}. Visits: {visits}.\n\
         Suppressed (group smaller than k): {sv} visit(s); {sp} patient(s) have no visit left.\n\
         Villages written as \"{OTHER_PLACE}\": {pg}. Diagnoses without an ICD-10 code left out: {ud}.\n\
         Smallest group of patients sharing sex, age band and place: {sg}.\n",
        k = s.k,
        patients = s.patients,
        visits = s.visits,
        sv = s.suppressed_visits,
        sp = s.suppressed_patients,
        pg = s.places_generalised,
        ud = s.uncoded_diagnoses,
        sg = s.smallest_group,
    );
    Ok(vec![
        ("visits.csv", visits),
        ("diagnoses.csv", diagnoses),
        ("vitals.csv", vitals),
        ("prescriptions.csv", prescriptions),
        ("extract.txt", about.into_bytes()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_and_shifts_are_keyed_stable_and_bounded() {
        let a = ResearchKey::from_bytes([1; 32]);
        let b = ResearchKey::from_bytes([2; 32]);
        let patient = PatientId::new();
        assert_eq!(pseudonym(&a, patient), pseudonym(&a, patient));
        assert_ne!(pseudonym(&a, patient), pseudonym(&b, patient));
        assert_ne!(pseudonym(&a, patient), pseudonym(&a, PatientId::new()));
        assert_eq!(pseudonym(&a, patient).len(), 13);
        let shifts: BTreeSet<i64> = (0..500).map(|_| date_shift(&a, PatientId::new())).collect();
        assert!(
            shifts
                .iter()
                .all(|s| (-MAX_SHIFT_DAYS..=MAX_SHIFT_DAYS).contains(s))
        );
        assert!(shifts.len() > 200, "shifts spread: {}", shifts.len());
    }

    #[test]
    fn codes_fields_and_places() {
        assert_eq!(icd10(" b54 ").as_deref(), Some("B54"));
        assert_eq!(icd10("J06.9").as_deref(), Some("J06.9"));
        assert_eq!(icd10("malaria"), None);
        assert_eq!(icd10("B5"), None);
        assert_eq!(field("  Amoxicillin\t 500 mg\n"), "Amoxicillin 500 mg");
        assert_eq!(field(&"x".repeat(100)).len(), MAX_FIELD);
        let places =
            ExtractOptions::parse_places("village,area\nPeñas Blancas,North\n Kosti ,River\n")
                .expect("a list");
        assert_eq!(
            places.get("peñas blancas").map(String::as_str),
            Some("North")
        );
        assert_eq!(places.get("kosti").map(String::as_str), Some("River"));
        assert_eq!(
            ExtractOptions::parse_places("village,area\nonly one\n"),
            Err(PlacesError::Line { line: 2 })
        );
    }
}
