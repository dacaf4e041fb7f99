//! FHIR R4 out and in: a demo clinic's records exported as a Bundle and as NDJSON, checked by an
//! independent validator (PyPI `fhir.resources`, `tests/fhir/validate.py`), imported into an
//! empty workstation and exported again to the same resources; a bundle written by another
//! system (PyPI `carebundle`) imports, with what is not kept listed; importing twice changes
//! nothing. The validator's virtualenv is made by `.ci/pyenv` (`bash .ci/test` runs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use outpost::app::{AppError, AppService, ExportScope};
use outpost::demo::{DEMO_ACCOUNTS, DemoOptions};
use outpost::imaging::{ImportOptions, import_paths};
use outpost::model::{EncounterStatus, Role};
use outpost::store::PatientSort;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::python;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fhir")
        .join(name)
}

/// Runs the independent validator on `path`; panics with its report unless it finds nothing.
fn validate(path: &Path) -> String {
    let out = Command::new(python())
        .arg(script("validate.py"))
        .arg(path)
        .output()
        .expect("the validator runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the validator found problems in {}:\n{report}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// A workstation in `dir` with demo records (and `prepare`'s) and the demo clinician signed in.
fn clinic(
    dir: &Path,
    patients: usize,
    prepare: impl FnOnce(&mut outpost::store::Store),
) -> AppService {
    let options = DemoOptions {
        patients,
        visits: 1..=4,
        seed: 21,
    };
    support::demo_clinic(dir, (patients > 0).then_some(&options), prepare)
}

/// The resources of a bundle by full URL.
fn entries(bundle: &Value) -> BTreeMap<String, Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["fullUrl"].as_str().unwrap().to_owned(),
                e["resource"].clone(),
            )
        })
        .collect()
}

fn count(resources: &BTreeMap<String, Value>, kind: &str) -> usize {
    resources
        .values()
        .filter(|r| r["resourceType"] == kind)
        .count()
}

#[test]
fn an_export_validates_round_trips_and_imports_twice_without_change() {
    let dir = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom");
    let mut service = clinic(&dir.path().join("clinic"), 40, |store| {
        // A CT image attached to a signed visit: the ImagingStudy carries its UIDs.
        let order = store.patient_order(PatientSort::Number, false).unwrap();
        let visit = store
            .patient_rows(&order)
            .unwrap()
            .into_iter()
            .flat_map(|row| store.encounters_for_patient(row.patient_id).unwrap())
            .find(|v| matches!(v.status, EncounterStatus::Signed { .. }))
            .unwrap();
        let options = ImportOptions {
            encounter_id: Some(visit.encounter_id),
            ..ImportOptions::for_patient(visit.patient_id)
        };
        let summary = import_paths(store, &[samples.join("CT_small.dcm")], &options, |_| {});
        assert_eq!(summary.imported, 1, "{:?}", summary.failures);
    });
    let resources = service.export_fhir(ExportScope::All).unwrap();
    let bundle = outpost::fhir::bundle(resources.clone(), chrono::Utc::now());
    let file = dir.path().join("clinic.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&bundle).unwrap()).unwrap();
    let report = validate(&file);
    assert!(report.contains("0 problems"), "{report}");
    let ndjson = dir.path().join("ndjson");
    std::fs::create_dir_all(&ndjson).unwrap();
    for (kind, lines) in outpost::fhir::ndjson(resources) {
        std::fs::write(ndjson.join(format!("{kind}.ndjson")), lines).unwrap();
    }
    validate(&ndjson);

    let first = entries(&bundle);
    assert_eq!(count(&first, "Patient"), 40);
    for kind in [
        "Encounter",
        "Observation",
        "Condition",
        "MedicationRequest",
        "Practitioner",
        "AllergyIntolerance",
        "ImagingStudy",
    ] {
        assert!(count(&first, kind) > 0, "{kind}");
    }
    let study = first
        .values()
        .find(|r| r["resourceType"] == "ImagingStudy")
        .unwrap();
    let instance = &study["series"][0]["instance"][0];
    assert_eq!(
        instance["sopClass"]["code"], "urn:oid:1.2.840.10008.5.1.4.1.1.2",
        "a CT image"
    );
    assert!(
        instance["uid"]
            .as_str()
            .unwrap()
            .starts_with("1.3.6.1.4.1.5962")
    );
    // The vital signs carry their LOINC codes and UCUM units.
    let temperature = first
        .values()
        .find(|r| r["code"]["coding"][0]["code"] == "8310-5")
        .unwrap();
    assert_eq!(temperature["valueQuantity"]["code"], "Cel");
    assert_eq!(
        temperature["valueQuantity"]["system"],
        "http://unitsofmeasure.org"
    );

    // Into an empty workstation, and out again: the same resources (the image itself is not in
    // a bundle: it travels as its DICOM file).
    let bytes = std::fs::read(&file).unwrap();
    let mut empty = clinic(&dir.path().join("empty"), 0, |_| {});
    let imported = empty.import_fhir(&bytes).unwrap();
    assert_eq!(imported.written.patients, 40);
    assert_eq!(
        imported.skipped.len(),
        1,
        "only the ImagingStudy is not kept: {:?}",
        imported.skipped
    );
    assert!(imported.skipped[0].reason.contains("image import"));
    let again = outpost::fhir::bundle(
        empty.export_fhir(ExportScope::All).unwrap(),
        chrono::Utc::now(),
    );
    let second = entries(&again);
    let without_images: BTreeMap<String, Value> = first
        .into_iter()
        .filter(|(_, r)| r["resourceType"] != "ImagingStudy")
        .collect();
    assert_eq!(second.len(), without_images.len());
    for (url, resource) in &without_images {
        assert_eq!(second.get(url), Some(resource), "{url}");
    }
    // Twice: nothing changes.
    let pending = empty.store().pending_count().unwrap();
    let twice = empty.import_fhir(&bytes).unwrap();
    assert_eq!(
        (
            twice.written.patients,
            twice.written.visits,
            twice.written.problems
        ),
        (0, 0, 0)
    );
    assert!(twice.written.already_here > 0);
    assert_eq!(empty.store().pending_count().unwrap(), pending);
}

#[test]
fn a_bundle_written_by_another_system_imports_and_says_what_it_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.json");
    let made = Command::new(python())
        .arg(script("outside_bundle.py"))
        .arg(&outside)
        .args(["--seed", "7"])
        .output()
        .expect("the generator runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let bytes = std::fs::read(&outside).unwrap();
    let mut service = clinic(&dir.path().join("clinic"), 0, |_| {});
    let imported = service.import_fhir(&bytes).unwrap();
    assert_eq!(imported.written.patients, 1, "{imported:?}");
    assert!(imported.written.visits > 0, "{imported:?}");
    // What it leaves is what Outpost has no record for (its DiagnosticReports), each named.
    let source: Value = serde_json::from_slice(&bytes).unwrap();
    let of_kind = |kind: &str| {
        source["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource"]["resourceType"] == kind)
            .count()
    };
    assert_eq!(
        imported.skipped.len(),
        of_kind("DiagnosticReport"),
        "{:?}",
        imported.skipped
    );
    assert!(
        imported
            .skipped
            .iter()
            .all(|s| s.reason == "Outpost does not keep DiagnosticReport resources")
    );
    assert_eq!(imported.written.problems, of_kind("Condition"));
    assert_eq!(imported.written.allergies, of_kind("AllergyIntolerance"));
    let store = service.store();
    let order = store.patient_order(PatientSort::Number, false).unwrap();
    let rows = store.patient_rows(&order).unwrap();
    assert_eq!(rows.len(), 1);
    let patient = store.patient(rows[0].patient_id).unwrap();
    // The visit has its vital signs (SpO₂ among them, coded as pulse oximetry) and lab results,
    // and the prescriptions.
    let visits = store.encounters_for_patient(patient.patient_id).unwrap();
    let visit = &visits[0];
    assert!(visit.vitals.spo2_percent.is_some() && visit.vitals.pulse_bpm.is_some());
    assert!(visit.vitals.systolic_mmhg.is_some() && visit.vitals.diastolic_mmhg.is_some());
    assert!(!visit.lab_results.is_empty());
    assert_eq!(visit.prescriptions.len(), of_kind("MedicationRequest"));
    assert!(matches!(visit.status, EncounterStatus::Signed { .. }));
    let family = source["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .map(|e| {
            e["resource"]["name"][0]["family"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .unwrap();
    assert_eq!(patient.family_name, family);
    // The imported records sync like any other: each is a pending change.
    assert!(store.pending_count().unwrap() > 0);
    let twice = service.import_fhir(&bytes).unwrap();
    assert_eq!((twice.written.patients, twice.written.visits), (0, 0));
}

#[test]
fn only_a_clinician_exports_or_imports_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(dir.path(), 3, |_| {});
    for role in [Role::Receptionist, Role::Nurse, Role::Administrator] {
        let account = DEMO_ACCOUNTS.iter().find(|a| a.role == role).unwrap();
        service
            .sign_in(account.user_name, account.password)
            .unwrap();
        let refused = service.export_fhir(ExportScope::All);
        assert!(matches!(refused, Err(AppError::Forbidden(_))), "{role:?}");
        let refused = service.import_fhir(b"{}");
        assert!(matches!(refused, Err(AppError::Forbidden(_))), "{role:?}");
    }
    let clinician = &DEMO_ACCOUNTS[1];
    service
        .sign_in(clinician.user_name, clinician.password)
        .unwrap();
    let not_a_bundle = service.import_fhir(br#"{"resourceType": "Patient"}"#);
    assert!(
        matches!(not_a_bundle, Err(AppError::Fhir(_))),
        "{not_a_bundle:?}"
    );
    let not_json = service.import_fhir(b"<Bundle/>");
    assert!(matches!(not_json, Err(AppError::Fhir(_))), "{not_json:?}");
}
