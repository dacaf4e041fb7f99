//! FHIR R4 bundles read back into Outpost's records: ours, and those other systems write. What
//! Outpost does not keep is listed with the reason, never silently dropped.

use super::{
    BMI, BP_DIASTOLIC, BP_PANEL, BP_SYSTOLIC, EXTENSION_BASE, ICD10_SYSTEM, LOINC,
    NATIONAL_ID_SYSTEM, NO_KNOWN_ALLERGY, NUMBER_SYSTEM, VITAL_CODES, derived_id,
};
use crate::model::{
    Allergy, AllergyId, AllergySeverity, AllergyStatus, DateOfBirth, Diagnosis, Encounter,
    EncounterId, EncounterKind, EncounterStatus, LabResult, Patient, PatientId, PatientNumber,
    Prescription, Problem, ProblemId, ProblemStatus, Role, Sex, UserId,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Why a file could not be read as a bundle at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not JSON.
    #[error("the file is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not a FHIR Bundle.
    #[error("the file is not a FHIR Bundle (its resourceType is {0:?})")]
    NotABundle(String),
}

/// A resource, or part of one, that was not kept, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// `Type/id` (or the entry's fullUrl).
    pub resource: String,
    /// Why.
    pub reason: String,
}

/// One patient's record as read from a bundle.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedPatient {
    /// Demographics; the number is the one the bundle gave, kept if it is free here.
    pub patient: Patient,
    /// Whether they were asked about allergies.
    pub allergy_status: AllergyStatus,
    /// Allergies.
    pub allergies: Vec<Allergy>,
    /// Problem list.
    pub problems: Vec<Problem>,
    /// Visits.
    pub visits: Vec<Encounter>,
}

/// One entry, indexed.
struct Entry<'a> {
    key: String,
    kind: &'a str,
    resource: &'a Value,
}

/// An id for a resource: its own when it is a UUID, else one made from where it came from.
fn id_of(entry: &Entry<'_>) -> Uuid {
    entry
        .resource
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .unwrap_or_else(|| derived_id(Uuid::NAMESPACE_URL, &format!("fhir:{}", entry.key)))
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = value;
    for key in path {
        v = v.get(*key)?;
    }
    v.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// The words of a CodeableConcept: its text, or its first coding's display or code.
fn concept_text(concept: &Value) -> Option<String> {
    if let Some(t) = text(concept, &["text"]) {
        return Some(t.to_owned());
    }
    concept
        .get("coding")
        .and_then(Value::as_array)
        .and_then(|codings| {
            codings
                .iter()
                .find_map(|c| text(c, &["display"]).or_else(|| text(c, &["code"])))
        })
        .map(str::to_owned)
}

/// The code of `system` in a CodeableConcept.
fn coding<'a>(concept: &'a Value, system: &str) -> Option<&'a Value> {
    concept
        .get("coding")?
        .as_array()?
        .iter()
        .find(|c| c.get("system").and_then(Value::as_str) == Some(system))
}

fn codes(concept: &Value) -> Vec<&str> {
    concept
        .get("coding")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(|c| c.get("code").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

fn extension<'a>(resource: &'a Value, name: &str) -> Option<&'a Value> {
    let url = format!("{EXTENSION_BASE}{name}");
    resource
        .get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(url.as_str()))
}

fn sub_extension<'a>(ext: &'a Value, url: &str) -> Option<&'a Value> {
    ext.get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(url))
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    parse_date(text).map(|(d, _)| d.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// A FHIR date (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`); true when only part of it was given.
fn parse_date(text: &str) -> Option<(NaiveDate, bool)> {
    let day = text.get(..10).unwrap_or(text);
    if let Ok(d) = NaiveDate::parse_from_str(day, "%Y-%m-%d") {
        return Some((d, false));
    }
    if let Ok(d) = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d") {
        return Some((d, true));
    }
    NaiveDate::parse_from_str(&format!("{text}-01-01"), "%Y-%m-%d")
        .ok()
        .map(|d| (d, true))
}

/// Reads a bundle's patients and their records. Entries that are not kept are in the list of
/// skipped ones, each with its reason.
pub fn read_bundle(
    bytes: &[u8],
    today: NaiveDate,
) -> Result<(Vec<ImportedPatient>, Vec<Skipped>), ImportError> {
    let bundle: Value =
        serde_json::from_slice(bytes).map_err(|e| ImportError::NotJson(e.to_string()))?;
    let kind = bundle
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != "Bundle" {
        return Err(ImportError::NotABundle(kind.to_owned()));
    }
    let mut skipped = Vec::new();
    let mut entries = Vec::new();
    for (n, entry) in bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let Some(resource) = entry.get("resource") else {
            skipped.push(Skipped {
                resource: format!("entry {}", n + 1),
                reason: "the entry has no resource".into(),
            });
            continue;
        };
        let kind = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = resource.get("id").and_then(Value::as_str);
        let key = match (entry.get("fullUrl").and_then(Value::as_str), id) {
            (Some(url), _) => url.to_owned(),
            (None, Some(id)) => format!("{kind}/{id}"),
            (None, None) => format!("entry {}", n + 1),
        };
        entries.push(Entry {
            key,
            kind,
            resource,
        });
    }
    // References resolve by fullUrl, by `Type/id`, and by a fullUrl's trailing `Type/id`.
    let mut by_reference: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        by_reference.insert(e.key.clone(), i);
        if let Some(id) = e.resource.get("id").and_then(Value::as_str) {
            by_reference.insert(format!("{}/{id}", e.kind), i);
        }
    }
    let resolve = |value: Option<&Value>| -> Option<usize> {
        let reference = value?.get("reference")?.as_str()?;
        by_reference.get(reference).copied().or_else(|| {
            let mut parts = reference.rsplitn(3, '/');
            let id = parts.next()?;
            let kind = parts.next()?;
            by_reference.get(&format!("{kind}/{id}")).copied()
        })
    };
    let name_of = |i: usize| -> Option<(String, Option<Uuid>)> {
        let r = entries[i].resource;
        let id = r
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok());
        let name = r.get("name")?.as_array()?.first()?;
        if let Some(t) = text(name, &["text"]) {
            return Some((t.to_owned(), id));
        }
        let given: Vec<&str> = name
            .get("given")
            .and_then(Value::as_array)
            .map(|g| g.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut parts: Vec<&str> = name
            .get("prefix")
            .and_then(Value::as_array)
            .map(|p| p.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.extend(given);
        if let Some(family) = text(name, &["family"]) {
            parts.push(family);
        }
        (!parts.is_empty()).then(|| (parts.join(" "), id))
    };

    let mut patients: BTreeMap<usize, ImportedPatient> = BTreeMap::new();
    let mut encounter_of: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut used = BTreeSet::new();
    for (i, e) in entries.iter().enumerate() {
        if e.kind != "Patient" {
            continue;
        }
        used.insert(i);
        match read_patient(e, today) {
            Ok(patient) => {
                patients.insert(
                    i,
                    ImportedPatient {
                        patient,
                        allergy_status: AllergyStatus::NotAsked,
                        allergies: Vec::new(),
                        problems: Vec::new(),
                        visits: Vec::new(),
                    },
                );
            }
            Err(reason) => skipped.push(Skipped {
                resource: e.key.clone(),
                reason,
            }),
        }
    }
    let patient_entries: BTreeSet<usize> = patients.keys().copied().collect();
    let patient_of = |r: &Value| -> Option<usize> {
        resolve(r.get("subject"))
            .or_else(|| resolve(r.get("patient")))
            .filter(|i| patient_entries.contains(i))
    };
    // Visits first: the rest attach to them.
    for (i, e) in entries.iter().enumerate() {
        if e.kind != "Encounter" {
            continue;
        }
        used.insert(i);
        let Some(p) = patient_of(e.resource) else {
            skipped.push(Skipped {
                resource: e.key.clone(),
                reason: "its patient is not in the bundle".into(),
            });
            continue;
        };
        match read_encounter(e, patients[&p].patient.patient_id, &resolve, &name_of) {
            Ok(visit) => {
                let Some(record) = patients.get_mut(&p) else {
                    continue;
                };
                encounter_of.insert(i, (p, record.visits.len()));
                record.visits.push(visit);
            }
            Err(reason) => skipped.push(Skipped {
                resource: e.key.clone(),
                reason,
            }),
        }
    }
    // Diagnosis ranks as the Encounters list them.
    let mut ranks: BTreeMap<usize, u64> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.kind == "Encounter") {
        for d in e
            .resource
            .get("diagnosis")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let (Some(c), Some(rank)) = (
                resolve(d.get("condition")),
                d.get("rank").and_then(Value::as_u64),
            ) {
                ranks.insert(c, rank);
            }
        }
    }
    for (i, e) in entries.iter().enumerate() {
        let r = e.resource;
        let skip = |reason: &str, skipped: &mut Vec<Skipped>| {
            skipped.push(Skipped {
                resource: e.key.clone(),
                reason: reason.to_owned(),
            });
        };
        match e.kind {
            "Patient" | "Encounter" => continue,
            "Practitioner" => {
                // Kept as the names on the visits.
                used.insert(i);
                continue;
            }
            "AllergyIntolerance" => {
                used.insert(i);
                let Some(p) = patient_of(r) else {
                    skip("its patient is not in the bundle", &mut skipped);
                    continue;
                };
                let Some(record) = patients.get_mut(&p) else {
                    continue;
                };
                let code = r.get("code").cloned().unwrap_or(Value::Null);
                if codes(&code).contains(&NO_KNOWN_ALLERGY) {
                    if record.allergies.is_empty() {
                        record.allergy_status = AllergyStatus::NoKnownAllergies;
                    }
                    continue;
                }
                let Some(substance) = concept_text(&code) else {
                    skip("it names no substance", &mut skipped);
                    continue;
                };
                let status = r.get("clinicalStatus").map(codes).unwrap_or_default();
                let reaction = r
                    .get("reaction")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first());
                let severity = match reaction.and_then(|x| text(x, &["severity"])) {
                    Some("mild") => AllergySeverity::Mild,
                    Some("severe") => AllergySeverity::Severe,
                    Some(_) => AllergySeverity::Moderate,
                    None if text(r, &["criticality"]) == Some("high") => AllergySeverity::Severe,
                    None => AllergySeverity::Moderate,
                };
                let manifestation = reaction
                    .and_then(|x| x.get("manifestation"))
                    .and_then(Value::as_array)
                    .and_then(|m| m.first())
                    .and_then(concept_text)
                    .filter(|m| m != "not recorded")
                    .unwrap_or_default();
                record.allergy_status = AllergyStatus::Recorded;
                record.allergies.push(Allergy {
                    allergy_id: AllergyId(id_of(e)),
                    patient_id: record.patient.patient_id,
                    substance,
                    reaction: manifestation,
                    severity,
                    active: !status.iter().any(|s| *s == "inactive" || *s == "resolved"),
                });
            }
            "Condition" => {
                used.insert(i);
                let Some(p) = patient_of(r) else {
                    skip("its patient is not in the bundle", &mut skipped);
                    continue;
                };
                let code = r.get("code").cloned().unwrap_or(Value::Null);
                let icd = coding(&code, ICD10_SYSTEM)
                    .and_then(|c| c.get("code"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let Some(title) = concept_text(&code).or_else(|| icd.clone()) else {
                    skip("it names no condition", &mut skipped);
                    continue;
                };
                let categories: Vec<&str> = r
                    .get("category")
                    .and_then(Value::as_array)
                    .map(|c| c.iter().flat_map(codes).collect())
                    .unwrap_or_default();
                let visit = resolve(r.get("encounter")).and_then(|v| encounter_of.get(&v).copied());
                let Some(record) = patients.get_mut(&p) else {
                    continue;
                };
                match visit {
                    Some((_, n)) if !categories.contains(&"problem-list-item") => {
                        let Some(visit) = record.visits.get_mut(n) else {
                            continue;
                        };
                        let primary =
                            ranks.get(&i) == Some(&1) && !visit.diagnoses.iter().any(|d| d.primary);
                        visit.diagnoses.push(Diagnosis {
                            code: icd,
                            title,
                            primary,
                        });
                    }
                    _ => {
                        let status = r.get("clinicalStatus").map(codes).unwrap_or_default();
                        record.problems.push(Problem {
                            problem_id: ProblemId(id_of(e)),
                            patient_id: record.patient.patient_id,
                            code: icd,
                            title,
                            onset: text(r, &["onsetDateTime"])
                                .and_then(parse_date)
                                .map(|(d, _)| d),
                            status: if status
                                .iter()
                                .any(|s| matches!(*s, "resolved" | "inactive" | "remission"))
                            {
                                ProblemStatus::Resolved
                            } else {
                                ProblemStatus::Active
                            },
                        });
                    }
                }
            }
            "Observation" => {
                used.insert(i);
                let Some(visit) =
                    resolve(r.get("encounter")).and_then(|v| encounter_of.get(&v).copied())
                else {
                    skip("an observation outside a visit is not kept", &mut skipped);
                    continue;
                };
                let Some(record) = patients.get_mut(&visit.0) else {
                    continue;
                };
                let Some(encounter) = record.visits.get_mut(visit.1) else {
                    continue;
                };
                if let Err(reason) = read_observation(r, encounter) {
                    skip(&reason, &mut skipped);
                }
            }
            "MedicationRequest" => {
                used.insert(i);
                let Some(visit) =
                    resolve(r.get("encounter")).and_then(|v| encounter_of.get(&v).copied())
                else {
                    skip("a prescription outside a visit is not kept", &mut skipped);
                    continue;
                };
                let Some(record) = patients.get_mut(&visit.0) else {
                    continue;
                };
                let Some(encounter) = record.visits.get_mut(visit.1) else {
                    continue;
                };
                match read_prescription(r) {
                    Some(line) => encounter.prescriptions.push(line),
                    None => skip("it names no medicine", &mut skipped),
                }
            }
            "ImagingStudy" | "DocumentReference" | "Media" | "Binary" => {
                used.insert(i);
                skip(
                    "images come in as DICOM files or photos, through the image import",
                    &mut skipped,
                );
            }
            other => {
                used.insert(i);
                skip(
                    &format!("Outpost does not keep {other} resources"),
                    &mut skipped,
                );
            }
        }
    }
    // A visit's diagnoses with none ranked first: the first leads.
    let mut out: Vec<ImportedPatient> = patients.into_values().collect();
    for record in &mut out {
        for visit in &mut record.visits {
            if !visit.diagnoses.is_empty() && !visit.diagnoses.iter().any(|d| d.primary) {
                visit.diagnoses[0].primary = true;
            }
        }
    }
    Ok((out, skipped))
}

fn read_patient(e: &Entry<'_>, today: NaiveDate) -> Result<Patient, String> {
    let r = e.resource;
    let mut patient = Patient::blank(crate::model::ClinicId(Uuid::nil()));
    patient.patient_id = PatientId(id_of(e));
    for identifier in r
        .get("identifier")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let system = text(identifier, &["system"]).unwrap_or_default();
        let Some(value) = text(identifier, &["value"]) else {
            continue;
        };
        if let Some(prefix) = system.strip_prefix(NUMBER_SYSTEM) {
            patient.number = PatientNumber::parse(value).filter(|n| n.prefix == prefix);
        } else if system == NATIONAL_ID_SYSTEM {
            patient.national_id = value.to_owned();
        }
    }
    let names: Vec<&Value> = r
        .get("name")
        .and_then(Value::as_array)
        .map(|n| n.iter().collect())
        .unwrap_or_default();
    let main = names
        .iter()
        .find(|n| text(n, &["use"]) == Some("official"))
        .or_else(|| {
            names
                .iter()
                .find(|n| n.get("family").is_some() || n.get("given").is_some())
        })
        .or(names.first());
    if let Some(name) = main {
        patient.family_name = text(name, &["family"]).unwrap_or_default().to_owned();
        patient.given_name = name
            .get("given")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        if patient.family_name.is_empty() && patient.given_name.is_empty() {
            patient.given_name = text(name, &["text"]).unwrap_or_default().to_owned();
        }
    }
    if let Some(other) = names.iter().find(|n| {
        !std::ptr::eq(**n, main.copied().unwrap_or(&Value::Null))
            && n.get("family").is_none()
            && n.get("given").is_none()
    }) {
        patient.other_script_name = text(other, &["text"]).unwrap_or_default().to_owned();
    }
    patient.sex = match text(r, &["gender"]) {
        Some("female") => Sex::Female,
        Some("male") => Sex::Male,
        Some("other") => Sex::Intersex,
        _ => Sex::Unknown,
    };
    if let Some((date, partial)) = text(r, &["birthDate"]).and_then(parse_date) {
        let estimated = partial
            || extension(r, "birth-date-estimated")
                .and_then(|x| x.get("valueBoolean"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
        patient.birth = Some(DateOfBirth { date, estimated });
    }
    if let Some(phone) = r
        .get("telecom")
        .and_then(Value::as_array)
        .and_then(|t| t.iter().find(|c| text(c, &["system"]) == Some("phone")))
        .and_then(|c| text(c, &["value"]))
    {
        patient.phone = phone.to_owned();
    }
    if let Some(address) = r
        .get("address")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        patient.village = text(address, &["city"])
            .or_else(|| text(address, &["text"]))
            .or_else(|| {
                address
                    .get("line")
                    .and_then(Value::as_array)
                    .and_then(|l| l.first())
                    .and_then(Value::as_str)
            })
            .unwrap_or_default()
            .to_owned();
    }
    if let Some(contact) = r
        .get("contact")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    {
        patient.next_of_kin.name = text(contact, &["name", "text"])
            .map(str::to_owned)
            .or_else(|| {
                let name = contact.get("name")?;
                let family = text(name, &["family"]).unwrap_or_default();
                let given = name
                    .get("given")
                    .and_then(Value::as_array)
                    .and_then(|g| g.first())
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Some(format!("{given} {family}").trim().to_owned())
            })
            .unwrap_or_default();
        patient.next_of_kin.phone = contact
            .get("telecom")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .and_then(|c| text(c, &["value"]))
            .unwrap_or_default()
            .to_owned();
    }
    if let Some(notes) = extension(r, "patient-notes").and_then(|x| text(x, &["valueString"])) {
        patient.notes = notes.to_owned();
    }
    // A phone number as another system writes it may not be one Outpost accepts: it is left
    // out rather than the patient.
    let validation = patient.validate(today);
    if !validation.is_valid() {
        let mut fixed = patient.clone();
        for field in ["phone", "kin_phone"] {
            if validation.errors.iter().any(|e| e.field == field) {
                if field == "phone" {
                    fixed.phone.clear();
                } else {
                    fixed.next_of_kin.phone.clear();
                }
            }
        }
        let again = fixed.validate(today);
        if !again.is_valid() {
            return Err(format!("the patient cannot be kept: {}", again.summary()));
        }
        return Ok(fixed);
    }
    Ok(patient)
}

type Resolver<'a> = dyn Fn(Option<&Value>) -> Option<usize> + 'a;
/// A Practitioner's name, and its id when that is a UUID (a user of an Outpost clinic).
type Namer<'a> = dyn Fn(usize) -> Option<(String, Option<Uuid>)> + 'a;

fn read_encounter(
    e: &Entry<'_>,
    patient_id: PatientId,
    resolve: &Resolver<'_>,
    name_of: &Namer<'_>,
) -> Result<Encounter, String> {
    let r = e.resource;
    let status = text(r, &["status"]).unwrap_or("unknown");
    if matches!(status, "cancelled" | "entered-in-error") {
        return Err(format!("a visit with the status {status} is not kept"));
    }
    let start = text(r, &["period", "start"])
        .and_then(parse_time)
        .or_else(|| text(r, &["period", "end"]).and_then(parse_time))
        .ok_or_else(|| "the visit has no date".to_owned())?;
    // Each as (name, id when it is a UUID).
    let mut author: Option<(String, Option<Uuid>)> = None;
    let mut signer: Option<(String, Option<Uuid>)> = None;
    for p in r
        .get("participant")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(i) = resolve(p.get("individual")) else {
            continue;
        };
        let Some(name) = name_of(i) else {
            continue;
        };
        let types: Vec<&str> = p
            .get("type")
            .and_then(Value::as_array)
            .map(|t| t.iter().flat_map(codes).collect())
            .unwrap_or_default();
        let who = name;
        if types.contains(&"PPRF") {
            signer = Some(who);
        } else if author.is_none() {
            author = Some(who);
        }
    }
    let kind = r
        .get("type")
        .and_then(Value::as_array)
        .and_then(|t| t.first())
        .and_then(|t| coding(t, &format!("{EXTENSION_BASE}encounter-kind")))
        .and_then(|c| text(c, &["code"]))
        .map(EncounterKind::from_code)
        .unwrap_or_else(|| match text(r, &["class", "code"]) {
            Some("EMER") => EncounterKind::Emergency,
            Some("HH") => EncounterKind::HomeVisit,
            _ => EncounterKind::Outpatient,
        });
    let clinician = author
        .as_ref()
        .map(|a| a.0.clone())
        .or_else(|| signer.as_ref().map(|s| s.0.clone()))
        .unwrap_or_else(|| "Imported record".to_owned());
    let mut visit = Encounter::new_draft(patient_id, &clinician, start);
    visit.encounter_id = EncounterId(id_of(e));
    visit.clinician_id = author.as_ref().and_then(|a| a.1).map(UserId);
    visit.kind = kind;
    visit.chief_complaint = r
        .get("reasonCode")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(concept_text)
        .unwrap_or_default();
    for (name, slot) in [
        ("encounter-history", &mut visit.history),
        ("encounter-examination", &mut visit.examination),
        ("encounter-plan", &mut visit.plan),
    ] {
        if let Some(t) = extension(r, name).and_then(|x| text(x, &["valueString"])) {
            *slot = t.to_owned();
        }
    }
    visit.follow_up = extension(r, "encounter-follow-up")
        .and_then(|x| text(x, &["valueDate"]))
        .and_then(parse_date)
        .map(|(d, _)| d);
    if status == "finished" {
        let signature = extension(r, "encounter-signature");
        let signed_at = signature
            .and_then(|s| sub_extension(s, "signedAt"))
            .and_then(|s| text(s, &["valueDateTime"]))
            .and_then(parse_time)
            .or_else(|| text(r, &["period", "end"]).and_then(parse_time))
            .unwrap_or(start);
        let signer_role = signature
            .and_then(|s| sub_extension(s, "role"))
            .and_then(|s| text(s, &["valueCode"]))
            .and_then(|c| c.parse::<Role>().ok());
        visit.status = EncounterStatus::Signed {
            signed_by: signer
                .as_ref()
                .map(|s| s.0.clone())
                .unwrap_or_else(|| clinician.clone()),
            signed_at,
            signer_id: signer.as_ref().and_then(|s| s.1).map(UserId),
            signer_role,
        };
    }
    Ok(visit)
}

/// Puts an observation into its visit: a vital sign by its LOINC code, or a lab result.
fn read_observation(r: &Value, visit: &mut Encounter) -> Result<(), String> {
    let code = r.get("code").cloned().unwrap_or(Value::Null);
    // Every LOINC code it carries (SpO₂ comes as 59408-5 beside 2708-6), the first known one
    // decides.
    let loinc: Vec<&str> = code
        .get("coding")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter(|c| c.get("system").and_then(Value::as_str) == Some(LOINC))
                .filter_map(|c| c.get("code").and_then(Value::as_str))
                .map(|c| {
                    if c == SPO2_PULSE_OXIMETRY {
                        "2708-6"
                    } else {
                        c
                    }
                })
                .filter(|c| {
                    VITAL_CODES.iter().any(|v| v.loinc == *c) || [BP_PANEL, BMI].contains(c)
                })
                .collect()
        })
        .unwrap_or_default();
    let quantity = |q: Option<&Value>, ucum: &str| -> Result<f64, String> {
        let q = q.ok_or_else(|| "it has no value".to_owned())?;
        let value = q
            .get("value")
            .and_then(Value::as_f64)
            .ok_or_else(|| "it has no number".to_owned())?;
        match q.get("code").and_then(Value::as_str) {
            Some(code) if code != ucum => Err(format!(
                "its unit {code} is not {ucum}, the unit Outpost keeps"
            )),
            _ => Ok(value),
        }
    };
    if let Some(code) = loinc.first() {
        if let Some(vital) = VITAL_CODES.iter().find(|v| v.loinc == *code) {
            let value = quantity(r.get("valueQuantity"), vital.ucum)?;
            return set_vital(visit, vital.field, value);
        }
        if *code == BP_PANEL {
            for component in r
                .get("component")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let part = component.get("code").cloned().unwrap_or(Value::Null);
                let field = match codes(&part).first() {
                    Some(&BP_SYSTOLIC) => "systolic_mmhg",
                    Some(&BP_DIASTOLIC) => "diastolic_mmhg",
                    _ => continue,
                };
                let value = quantity(component.get("valueQuantity"), "mm[Hg]")?;
                set_vital(visit, field, value)?;
            }
            return Ok(());
        }
        if *code == BMI {
            // Computed from weight and height.
            return Ok(());
        }
    }
    let categories: Vec<&str> = r
        .get("category")
        .and_then(Value::as_array)
        .map(|c| c.iter().flat_map(codes).collect())
        .unwrap_or_default();
    if categories.contains(&"vital-signs") {
        return Err("a vital sign Outpost does not record".into());
    }
    let Some(test) = concept_text(&code) else {
        return Err("the observation names nothing".into());
    };
    let (value, unit) = if let Some(q) = r.get("valueQuantity") {
        (
            q.get("value").map(|v| v.to_string()).unwrap_or_default(),
            text(q, &["unit"])
                .or_else(|| text(q, &["code"]))
                .unwrap_or_default()
                .to_owned(),
        )
    } else if let Some(s) = text(r, &["valueString"]) {
        (
            s.to_owned(),
            extension(r, "lab-unit")
                .and_then(|x| text(x, &["valueString"]))
                .unwrap_or_default()
                .to_owned(),
        )
    } else if let Some(c) = r.get("valueCodeableConcept").and_then(concept_text) {
        (c, String::new())
    } else {
        return Err("the observation has no value Outpost keeps".into());
    };
    let abnormal = r
        .get("interpretation")
        .and_then(Value::as_array)
        .map(|i| {
            i.iter()
                .flat_map(codes)
                .any(|c| matches!(c, "A" | "AA" | "H" | "HH" | "L" | "LL" | "POS"))
        })
        .unwrap_or(false);
    visit.lab_results.push(LabResult {
        test,
        value,
        unit,
        abnormal,
    });
    Ok(())
}

/// Oxygen saturation by pulse oximetry, which the vital-signs profile pairs with 2708-6.
const SPO2_PULSE_OXIMETRY: &str = "59408-5";

fn set_vital(visit: &mut Encounter, field: &str, value: f64) -> Result<(), String> {
    let range = crate::model::VitalRange::of(field).ok_or("an unknown vital sign")?;
    if let Some(message) = range.refuse(value) {
        return Err(message);
    }
    if let Some(slot) = visit.vitals.get_mut(field) {
        *slot = Some(value);
    }
    Ok(())
}

fn read_prescription(r: &Value) -> Option<Prescription> {
    let medicine = r
        .get("medicationCodeableConcept")
        .and_then(concept_text)
        .or_else(|| text(r, &["medicationReference", "display"]).map(str::to_owned))?;
    let ours = extension(r, "prescription");
    let part = |name: &str| {
        ours.and_then(|x| sub_extension(x, name))
            .and_then(|x| text(x, &["valueString"]))
            .unwrap_or_default()
            .to_owned()
    };
    let dosage = r
        .get("dosageInstruction")
        .and_then(Value::as_array)
        .and_then(|d| d.first());
    let mut line = Prescription {
        medicine,
        strength: part("strength"),
        dose: part("dose"),
        route: dosage
            .and_then(|d| d.get("route"))
            .and_then(concept_text)
            .unwrap_or_default(),
        frequency: part("frequency"),
        duration: part("duration"),
        quantity: part("quantity"),
        instructions: dosage
            .and_then(|d| text(d, &["patientInstruction"]))
            .unwrap_or_default()
            .to_owned(),
        as_directed: ours
            .and_then(|x| sub_extension(x, "asDirected"))
            .and_then(|x| x.get("valueBoolean"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        allergy_override: None,
    };
    if ours.is_none() {
        // Another system's prescription: its words, as it wrote them.
        line.frequency = dosage
            .and_then(|d| d.get("timing"))
            .and_then(|t| t.get("code"))
            .and_then(concept_text)
            .unwrap_or_default();
        if let Some(text) = dosage.and_then(|d| text(d, &["text"])) {
            line.instructions = text.to_owned();
        }
        if let Some(q) = r
            .get("dispenseRequest")
            .and_then(|d| d.get("quantity"))
            .and_then(|q| q.get("value"))
        {
            line.quantity = q.to_string();
        }
        if line.frequency.is_empty() && line.dose.is_empty() {
            line.as_directed = true;
        }
    }
    Some(line)
}
