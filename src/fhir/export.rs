//! A patient's record as FHIR R4 resources.

use super::{
    BMI, BP_DIASTOLIC, BP_PANEL, BP_SYSTOLIC, EXTENSION_BASE, ICD10_SYSTEM, LOINC,
    NATIONAL_ID_SYSTEM, NO_KNOWN_ALLERGY, NUMBER_SYSTEM, SNOMED, UCUM, VITAL_CODES, derived_id,
};
use crate::model::{
    Allergy, AllergySeverity, AllergyStatus, Attachment, Encounter, EncounterStatus, Patient,
    Prescription, Problem, ProblemStatus, Sex,
};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// An image of the record as exported: the attachment, and its SOP Class UID when its file was
/// here to read (an instance without one is left out of its ImagingStudy: R4 requires it).
#[derive(Clone, Debug)]
pub struct ExportedImage<'a> {
    /// The attachment.
    pub attachment: &'a Attachment,
    /// Its SOP Class UID, read from the file.
    pub sop_class_uid: Option<String>,
}

/// Everything exported of one patient.
#[derive(Clone, Debug)]
pub struct PatientRecord<'a> {
    /// Demographics.
    pub patient: &'a Patient,
    /// Whether they were asked about allergies.
    pub allergy_status: AllergyStatus,
    /// Their allergies.
    pub allergies: &'a [Allergy],
    /// Their problem list.
    pub problems: &'a [Problem],
    /// Their visits, as amended (voided ones are left out).
    pub visits: &'a [Encounter],
    /// Their images (removed ones left out by the caller).
    pub images: &'a [ExportedImage<'a>],
}

/// A reference to the resource `id` (of type `_kind`, for the reader) inside the same bundle.
fn reference(_kind: &str, id: Uuid) -> Value {
    json!({ "reference": format!("urn:uuid:{id}") })
}

fn ext(name: &str) -> String {
    format!("{EXTENSION_BASE}{name}")
}

fn date_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Every resource of one patient's record, Practitioners of its signers included (the same
/// Practitioner may come from several patients: [`bundle`] keeps one of each).
pub fn patient_resources(record: &PatientRecord<'_>) -> Vec<Value> {
    let patient = record.patient;
    let pid = patient.patient_id.0;
    let mut out = vec![patient_resource(patient)];
    let mut practitioners: BTreeMap<Uuid, Value> = BTreeMap::new();
    if record.allergy_status == AllergyStatus::NoKnownAllergies
        && !record.allergies.iter().any(|a| a.active)
    {
        out.push(json!({
            "resourceType": "AllergyIntolerance",
            "id": derived_id(pid, "no-known-allergy").to_string(),
            "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active"),
            "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed"),
            "code": { "coding": [{ "system": SNOMED, "code": NO_KNOWN_ALLERGY, "display": "No known allergy" }], "text": "No known allergies" },
            "patient": reference("Patient", pid),
        }));
    }
    // A record merged into this patient's has its allergies and problems written to it: they
    // are this patient's (the chart shows them), so they name this patient.
    for allergy in record.allergies {
        out.push(allergy_resource(allergy, pid));
    }
    for problem in record.problems {
        out.push(problem_resource(problem, pid));
    }
    for visit in record.visits {
        if matches!(visit.status, EncounterStatus::Voided { .. }) {
            continue;
        }
        let (author, signer) = visit_practitioners(visit);
        for (id, name) in author.iter().chain(signer.iter()) {
            practitioners.entry(*id).or_insert_with(|| {
                json!({
                    "resourceType": "Practitioner",
                    "id": id.to_string(),
                    "name": [{ "text": name }],
                })
            });
        }
        out.extend(visit_resources(
            patient,
            visit,
            author.map(|a| a.0),
            signer.map(|s| s.0),
        ));
    }
    out.extend(image_resources(patient, record.images));
    out.extend(practitioners.into_values());
    out
}

fn concept(system: &str, code: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code }] })
}

fn patient_resource(patient: &Patient) -> Value {
    let mut r = Map::new();
    r.insert("resourceType".into(), json!("Patient"));
    r.insert("id".into(), json!(patient.patient_id.to_string()));
    let mut identifiers = Vec::new();
    if let Some(number) = &patient.number {
        identifiers.push(json!({
            "use": "usual",
            "type": { "text": "Clinic number" },
            "system": format!("{NUMBER_SYSTEM}{}", number.prefix),
            "value": number.to_string(),
        }));
    }
    if !patient.national_id.trim().is_empty() {
        identifiers.push(json!({
            "use": "official",
            "type": { "text": "National ID" },
            "system": NATIONAL_ID_SYSTEM,
            "value": patient.national_id.trim(),
        }));
    }
    if !identifiers.is_empty() {
        r.insert("identifier".into(), Value::Array(identifiers));
    }
    let mut names = Vec::new();
    let mut name = Map::new();
    name.insert("use".into(), json!("official"));
    if !patient.family_name.trim().is_empty() {
        name.insert("family".into(), json!(patient.family_name.trim()));
    }
    if !patient.given_name.trim().is_empty() {
        name.insert("given".into(), json!([patient.given_name.trim()]));
    }
    name.insert("text".into(), json!(patient.display_name()));
    names.push(Value::Object(name));
    if !patient.other_script_name.trim().is_empty() {
        // The name as written in another script: a name of its own, its text only.
        names.push(json!({ "use": "usual", "text": patient.other_script_name.trim() }));
    }
    r.insert("name".into(), Value::Array(names));
    if !patient.phone.trim().is_empty() {
        r.insert(
            "telecom".into(),
            json!([{ "system": "phone", "value": patient.phone.trim() }]),
        );
    }
    r.insert(
        "gender".into(),
        json!(match patient.sex {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Intersex => "other",
            Sex::Unknown => "unknown",
        }),
    );
    if let Some(birth) = &patient.birth {
        r.insert(
            "birthDate".into(),
            json!(birth.date.format("%Y-%m-%d").to_string()),
        );
        if birth.estimated {
            r.insert(
                "extension".into(),
                json!([{ "url": ext("birth-date-estimated"), "valueBoolean": true }]),
            );
        }
    }
    if !patient.village.trim().is_empty() {
        r.insert(
            "address".into(),
            json!([{ "use": "home", "city": patient.village.trim(), "text": patient.village.trim() }]),
        );
    }
    let kin = &patient.next_of_kin;
    if !kin.name.trim().is_empty() || !kin.phone.trim().is_empty() {
        let mut contact = Map::new();
        contact.insert(
            "relationship".into(),
            json!([concept(
                "http://terminology.hl7.org/CodeSystem/v2-0131",
                "N"
            )]),
        );
        if !kin.name.trim().is_empty() {
            contact.insert("name".into(), json!({ "text": kin.name.trim() }));
        }
        if !kin.phone.trim().is_empty() {
            contact.insert(
                "telecom".into(),
                json!([{ "system": "phone", "value": kin.phone.trim() }]),
            );
        }
        r.insert("contact".into(), json!([Value::Object(contact)]));
    }
    if !patient.notes.trim().is_empty() {
        r.insert(
            "extension".into(),
            Value::Array(
                r.get("extension")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .chain([
                        json!({ "url": ext("patient-notes"), "valueString": patient.notes.trim() }),
                    ])
                    .collect(),
            ),
        );
    }
    Value::Object(r)
}

fn allergy_resource(allergy: &Allergy, pid: Uuid) -> Value {
    let mut r = json!({
        "resourceType": "AllergyIntolerance",
        "id": allergy.allergy_id.to_string(),
        "clinicalStatus": concept(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
            if allergy.active { "active" } else { "inactive" },
        ),
        "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed"),
        "code": { "text": allergy.substance },
        "patient": reference("Patient", pid),
        "criticality": if allergy.severity == AllergySeverity::Severe { "high" } else { "low" },
    });
    let severity = match allergy.severity {
        AllergySeverity::Mild => "mild",
        AllergySeverity::Moderate => "moderate",
        AllergySeverity::Severe => "severe",
    };
    let mut reaction = json!({ "severity": severity });
    if !allergy.reaction.trim().is_empty() {
        reaction["manifestation"] = json!([{ "text": allergy.reaction.trim() }]);
    } else {
        reaction["manifestation"] = json!([{ "text": "not recorded" }]);
    }
    r["reaction"] = json!([reaction]);
    r
}

fn problem_resource(problem: &Problem, pid: Uuid) -> Value {
    let mut r = json!({
        "resourceType": "Condition",
        "id": problem.problem_id.to_string(),
        "clinicalStatus": concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical",
            if problem.status == ProblemStatus::Active { "active" } else { "resolved" },
        ),
        "category": [concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")],
        "code": code_of(problem.code.as_deref(), &problem.title),
        "subject": reference("Patient", pid),
    });
    if let Some(onset) = problem.onset {
        r["onsetDateTime"] = json!(onset.format("%Y-%m-%d").to_string());
    }
    r
}

/// An ICD-10-CM coded concept, or text alone.
fn code_of(code: Option<&str>, title: &str) -> Value {
    match code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => json!({
            "coding": [{ "system": ICD10_SYSTEM, "code": code, "display": title.trim() }],
            "text": title.trim(),
        }),
        None => json!({ "text": title.trim() }),
    }
}

/// The visit's author and signer as Practitioners: their user ids, or an id made from the name
/// for records from before accounts existed.
#[allow(clippy::type_complexity)]
fn visit_practitioners(visit: &Encounter) -> (Option<(Uuid, String)>, Option<(Uuid, String)>) {
    let by_name = |name: &str| derived_id(Uuid::NAMESPACE_URL, &format!("practitioner:{name}"));
    let author = (!visit.clinician.trim().is_empty()).then(|| {
        (
            visit
                .clinician_id
                .map_or_else(|| by_name(visit.clinician.trim()), |u| u.0),
            visit.clinician.trim().to_owned(),
        )
    });
    let signer = match &visit.status {
        EncounterStatus::Signed {
            signed_by,
            signer_id,
            ..
        } => Some((
            signer_id.map_or_else(|| by_name(signed_by.trim()), |u| u.0),
            signed_by.trim().to_owned(),
        )),
        _ => None,
    };
    (author, signer)
}

fn visit_resources(
    patient: &Patient,
    visit: &Encounter,
    author: Option<Uuid>,
    signer: Option<Uuid>,
) -> Vec<Value> {
    let eid = visit.encounter_id.0;
    let pid = patient.patient_id.0;
    let signed = matches!(visit.status, EncounterStatus::Signed { .. });
    let start = date_time(visit.started_at);
    let mut out = Vec::new();
    let mut encounter = json!({
        "resourceType": "Encounter",
        "id": eid.to_string(),
        "status": if signed { "finished" } else { "in-progress" },
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": if visit.kind == crate::model::EncounterKind::HomeVisit { "HH" } else if visit.kind == crate::model::EncounterKind::Emergency { "EMER" } else { "AMB" },
        },
        "type": [{ "coding": [{ "system": format!("{EXTENSION_BASE}encounter-kind"), "code": visit.kind.code(), "display": visit.kind.label() }], "text": visit.kind.label() }],
        "subject": reference("Patient", pid),
        "period": { "start": start },
    });
    let mut participants = Vec::new();
    if let Some(author) = author {
        participants.push(json!({
            "type": [concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "ATND")],
            "individual": reference("Practitioner", author),
        }));
    }
    let mut extensions = Vec::new();
    if !visit.chief_complaint.trim().is_empty() {
        encounter["reasonCode"] = json!([{ "text": visit.chief_complaint.trim() }]);
    }
    for (name, text) in [
        ("history", &visit.history),
        ("examination", &visit.examination),
        ("plan", &visit.plan),
    ] {
        if !text.trim().is_empty() {
            extensions.push(
                json!({ "url": ext(&format!("encounter-{name}")), "valueString": text.trim() }),
            );
        }
    }
    if let Some(date) = visit.follow_up {
        extensions.push(json!({ "url": ext("encounter-follow-up"), "valueDate": date.format("%Y-%m-%d").to_string() }));
    }
    if let EncounterStatus::Signed {
        signed_at,
        signer_role,
        ..
    } = &visit.status
    {
        let mut signature =
            vec![json!({ "url": "signedAt", "valueDateTime": date_time(*signed_at) })];
        if let Some(role) = signer_role {
            signature.push(json!({ "url": "role", "valueCode": role.code() }));
        }
        extensions.push(json!({ "url": ext("encounter-signature"), "extension": signature }));
        if let Some(signer) = signer {
            participants.push(json!({
                "type": [concept("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "PPRF")],
                "individual": reference("Practitioner", signer),
            }));
        }
    }
    if !participants.is_empty() {
        encounter["participant"] = Value::Array(participants);
    }
    if !extensions.is_empty() {
        encounter["extension"] = Value::Array(extensions);
    }
    // Diagnoses, primary first, ranked.
    let mut diagnoses: Vec<&crate::model::Diagnosis> = visit.diagnoses.iter().collect();
    diagnoses.sort_by_key(|d| !d.primary);
    let mut listed = Vec::new();
    for (rank, diagnosis) in diagnoses.iter().enumerate() {
        let id = derived_id(eid, &format!("diagnosis:{}", diagnosis.key()));
        listed.push(json!({
            "condition": reference("Condition", id),
            "rank": rank + 1,
        }));
        out.push(json!({
            "resourceType": "Condition",
            "id": id.to_string(),
            "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active"),
            "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status", if signed { "confirmed" } else { "provisional" }),
            "category": [concept("http://terminology.hl7.org/CodeSystem/condition-category", "encounter-diagnosis")],
            "code": code_of(diagnosis.code.as_deref(), &diagnosis.title),
            "subject": reference("Patient", pid),
            "encounter": reference("Encounter", eid),
            "recordedDate": start,
        }));
    }
    if !listed.is_empty() {
        encounter["diagnosis"] = Value::Array(listed);
    }
    out.insert(0, encounter);

    // Vital signs.
    let status = if signed { "final" } else { "preliminary" };
    let observation = |id: Uuid, code: Value| {
        json!({
            "resourceType": "Observation",
            "id": id.to_string(),
            "status": status,
            "category": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs" }] }],
            "code": code,
            "subject": reference("Patient", pid),
            "encounter": reference("Encounter", eid),
            "effectiveDateTime": start,
        })
    };
    let quantity = |value: f64, unit: &str, ucum: &str| json!({ "value": value, "unit": unit, "system": UCUM, "code": ucum });
    for code in &VITAL_CODES {
        let Some(value) = visit.vitals.get(code.field) else {
            continue;
        };
        let mut o = observation(
            derived_id(eid, &format!("vital:{}", code.field)),
            json!({ "coding": [{ "system": LOINC, "code": code.loinc, "display": code.display }], "text": code.display }),
        );
        o["valueQuantity"] = quantity(value, code.unit, code.ucum);
        out.push(o);
    }
    if visit.vitals.systolic_mmhg.is_some() || visit.vitals.diastolic_mmhg.is_some() {
        let mut o = observation(
            derived_id(eid, "vital:blood_pressure"),
            json!({ "coding": [{ "system": LOINC, "code": BP_PANEL, "display": "Blood pressure panel with all children optional" }], "text": "Blood pressure" }),
        );
        let mut components = Vec::new();
        for (value, loinc, display) in [
            (
                visit.vitals.systolic_mmhg,
                BP_SYSTOLIC,
                "Systolic blood pressure",
            ),
            (
                visit.vitals.diastolic_mmhg,
                BP_DIASTOLIC,
                "Diastolic blood pressure",
            ),
        ] {
            if let Some(value) = value {
                components.push(json!({
                    "code": { "coding": [{ "system": LOINC, "code": loinc, "display": display }] },
                    "valueQuantity": quantity(value, "mmHg", "mm[Hg]"),
                }));
            }
        }
        o["component"] = Value::Array(components);
        out.push(o);
    }
    if let Some(bmi) = visit.vitals.bmi() {
        let mut o = observation(
            derived_id(eid, "vital:bmi"),
            json!({ "coding": [{ "system": LOINC, "code": BMI, "display": "Body mass index (BMI) [Ratio]" }], "text": "BMI" }),
        );
        o["valueQuantity"] = quantity((bmi * 10.0).round() / 10.0, "kg/m2", "kg/m2");
        out.push(o);
    }
    for (n, lab) in visit.lab_results.iter().enumerate() {
        let mut o = observation(
            derived_id(eid, &format!("lab:{n}")),
            json!({ "text": lab.test.trim() }),
        );
        o["category"] = json!([{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory", "display": "Laboratory" }] }]);
        let value = lab.value.trim();
        match value.parse::<f64>() {
            Ok(number) if number.is_finite() && number.to_string() == value => {
                let mut q = json!({ "value": number });
                if !lab.unit.trim().is_empty() {
                    q["unit"] = json!(lab.unit.trim());
                }
                o["valueQuantity"] = q;
            }
            _ => {
                o["valueString"] = json!(value);
                if !lab.unit.trim().is_empty() {
                    o["extension"] =
                        json!([{ "url": ext("lab-unit"), "valueString": lab.unit.trim() }]);
                }
            }
        }
        if lab.abnormal {
            o["interpretation"] = json!([concept(
                "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                "A"
            )]);
        }
        out.push(o);
    }
    for (n, line) in visit.prescriptions.iter().enumerate() {
        out.push(medication_request(
            derived_id(eid, &format!("prescription:{n}")),
            pid,
            eid,
            signed,
            &start,
            author,
            line,
        ));
    }
    out
}

fn medication_request(
    id: Uuid,
    pid: Uuid,
    eid: Uuid,
    signed: bool,
    start: &str,
    author: Option<Uuid>,
    line: &Prescription,
) -> Value {
    let mut parts = Vec::new();
    for (name, text) in [
        ("strength", &line.strength),
        ("dose", &line.dose),
        ("frequency", &line.frequency),
        ("duration", &line.duration),
        ("quantity", &line.quantity),
    ] {
        if !text.trim().is_empty() {
            parts.push(json!({ "url": name, "valueString": text.trim() }));
        }
    }
    if line.as_directed {
        parts.push(json!({ "url": "asDirected", "valueBoolean": true }));
    }
    let mut dosage = json!({ "text": line.summary() });
    if !line.route.trim().is_empty() {
        dosage["route"] = json!({ "text": line.route.trim() });
    }
    if !line.instructions.trim().is_empty() {
        dosage["patientInstruction"] = json!(line.instructions.trim());
    }
    if !line.frequency.trim().is_empty() {
        dosage["timing"] = json!({ "code": { "text": line.frequency.trim() } });
    }
    let mut r = json!({
        "resourceType": "MedicationRequest",
        "id": id.to_string(),
        "status": if signed { "active" } else { "draft" },
        "intent": "order",
        "medicationCodeableConcept": { "text": line.medicine.trim() },
        "subject": reference("Patient", pid),
        "encounter": reference("Encounter", eid),
        "authoredOn": start,
        "dosageInstruction": [dosage],
    });
    if !parts.is_empty() {
        r["extension"] = json!([{ "url": ext("prescription"), "extension": parts }]);
    }
    if let Some(author) = author {
        r["requester"] = reference("Practitioner", author);
    }
    if let Ok(quantity) = line.quantity.trim().parse::<f64>()
        && quantity.is_finite()
        && quantity >= 0.0
    {
        r["dispenseRequest"] = json!({ "quantity": { "value": quantity } });
    }
    r
}

/// DICOM studies as ImagingStudy (series and instance UIDs); photos as DocumentReference.
fn image_resources(patient: &Patient, images: &[ExportedImage<'_>]) -> Vec<Value> {
    let pid = patient.patient_id.0;
    let mut out = Vec::new();
    let mut studies: BTreeMap<&str, Vec<&ExportedImage<'_>>> = BTreeMap::new();
    for image in images {
        let a = image.attachment;
        if a.media_type == "application/dicom" && !a.study_uid.is_empty() {
            studies.entry(a.study_uid.as_str()).or_default().push(image);
        } else {
            let mut content = json!({
                "contentType": a.media_type,
                "title": a.file_name,
                "size": a.byte_size,
                "url": format!("urn:outpost:blob:sha256:{}", a.blob),
            });
            content["creation"] = json!(date_time(a.imported_at));
            let mut r = json!({
                "resourceType": "DocumentReference",
                "id": a.attachment_id.to_string(),
                "status": "current",
                "type": { "text": "Photo" },
                "subject": reference("Patient", pid),
                "date": date_time(a.imported_at),
                "content": [{ "attachment": content }],
            });
            if let Some(visit) = a.encounter_id {
                r["context"] = json!({ "encounter": [reference("Encounter", visit.0)] });
            }
            out.push(r);
        }
    }
    for (uid, files) in studies {
        let first = files[0].attachment;
        let mut series: BTreeMap<&str, Vec<&ExportedImage<'_>>> = BTreeMap::new();
        for f in &files {
            series
                .entry(f.attachment.series_uid.as_str())
                .or_default()
                .push(f);
        }
        let mut series_json = Vec::new();
        let mut instances_total = 0;
        for (series_uid, files) in &series {
            let a = files[0].attachment;
            let mut s = json!({
                "uid": series_uid,
                "modality": { "system": "http://dicom.nema.org/resources/ontology/DCM", "code": if a.modality.is_empty() { "OT" } else { a.modality.as_str() } },
                "numberOfInstances": files.len(),
            });
            if let Some(n) = a.series_number.and_then(|n| u32::try_from(n).ok()) {
                s["number"] = json!(n);
            }
            if !a.series_description.trim().is_empty() {
                s["description"] = json!(a.series_description.trim());
            }
            if !a.body_part.trim().is_empty() {
                s["bodySite"] = json!({ "display": a.body_part.trim() });
            }
            let mut instances = Vec::new();
            for f in files {
                let Some(class) = &f.sop_class_uid else {
                    continue;
                };
                let mut i = json!({
                    "uid": f.attachment.sop_uid,
                    "sopClass": { "system": "urn:ietf:rfc:3986", "code": format!("urn:oid:{class}") },
                });
                if let Some(n) = f
                    .attachment
                    .instance_number
                    .and_then(|n| u32::try_from(n).ok())
                {
                    i["number"] = json!(n);
                }
                instances.push(i);
            }
            instances_total += files.len();
            if !instances.is_empty() {
                s["instance"] = Value::Array(instances);
            }
            series_json.push(s);
        }
        let mut r = json!({
            "resourceType": "ImagingStudy",
            "id": derived_id(pid, &format!("study:{uid}")).to_string(),
            "identifier": [{ "system": "urn:dicom:uid", "value": format!("urn:oid:{uid}") }],
            "status": "available",
            "subject": reference("Patient", pid),
            "numberOfSeries": series.len(),
            "numberOfInstances": instances_total,
            "series": series_json,
        });
        if let Some(date) = first.study_date {
            r["started"] = json!(date.format("%Y-%m-%d").to_string());
        }
        if !first.study_description.trim().is_empty() {
            r["description"] = json!(first.study_description.trim());
        }
        if let Some(visit) = first.encounter_id {
            r["encounter"] = reference("Encounter", visit.0);
        }
        out.push(r);
    }
    out
}

/// A `collection` Bundle of `resources`, each once (by type and id), each entry's `fullUrl` its
/// `urn:uuid:`.
pub fn bundle(resources: Vec<Value>, timestamp: chrono::DateTime<chrono::Utc>) -> Value {
    let mut seen = std::collections::BTreeSet::new();
    let mut entries = Vec::new();
    for resource in resources {
        let key = (
            resource["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            resource["id"].as_str().unwrap_or_default().to_owned(),
        );
        if !seen.insert(key.clone()) {
            continue;
        }
        entries.push(json!({ "fullUrl": format!("urn:uuid:{}", key.1), "resource": resource }));
    }
    json!({
        "resourceType": "Bundle",
        "id": Uuid::now_v7().to_string(),
        "type": "collection",
        "timestamp": date_time(timestamp),
        "entry": entries,
    })
}

/// Bulk NDJSON, as FHIR Bulk Data writes it: per resource type, one resource per line, each
/// once; references are `Type/id`.
pub fn ndjson(resources: Vec<Value>) -> BTreeMap<String, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    for r in &resources {
        if let (Some(kind), Some(id)) = (r["resourceType"].as_str(), r["id"].as_str()) {
            kinds.insert(format!("urn:uuid:{id}"), format!("{kind}/{id}"));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for mut r in resources {
        let kind = r["resourceType"].as_str().unwrap_or_default().to_owned();
        let id = r["id"].as_str().unwrap_or_default().to_owned();
        if !seen.insert((kind.clone(), id)) {
            continue;
        }
        relative_references(&mut r, &kinds);
        let file = types.entry(kind).or_default();
        file.push_str(&r.to_string());
        file.push('\n');
    }
    types
}

/// Rewrites every `reference` of `urn:uuid:` form to `Type/id`.
fn relative_references(value: &mut Value, kinds: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "reference"
                    && let Some(text) = v.as_str()
                    && let Some(relative) = kinds.get(text)
                {
                    *v = json!(relative);
                } else {
                    relative_references(v, kinds);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                relative_references(v, kinds);
            }
        }
        _ => {}
    }
}
