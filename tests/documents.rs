//! Printed documents, read back as a person and a dispensary would: the PDF's text through
//! poppler's `pdftotext`, and its pages rendered to PNG by `pdftoppm`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outpost::app::{AppError, AppService};
use outpost::demo::{self, DEMO_ACCOUNTS, DemoOptions};
use outpost::documents::{DocumentError, Paper};
use outpost::model::{AuditAction, Encounter, EncounterStatus, Patient};
use outpost::store::{AuditFilter, PatientSort};
use std::path::Path;
use std::process::Command;

/// A demo workstation with a clinician signed in.
fn clinic(dir: &Path) -> AppService {
    let mut service = AppService::open_dir(dir).unwrap();
    demo::create_accounts(&mut service).unwrap();
    let mut store = service.into_store().unwrap();
    let options = DemoOptions {
        patients: 40,
        visits: 1..=3,
        seed: 11,
    };
    demo::generate(&mut store, &options, |_, _| {}).unwrap();
    let mut service = AppService::new(store);
    let clinician = &DEMO_ACCOUNTS[1];
    service
        .sign_in(clinician.user_name, clinician.password)
        .unwrap();
    service
}

/// A patient whose name is written in Arabic script, and their signed visit with prescriptions.
fn arabic_patient_with_a_prescription(service: &AppService) -> (Patient, Encounter) {
    let store = service.store();
    let order = store.patient_order(PatientSort::Number, false).unwrap();
    for row in store.patient_rows(&order).unwrap() {
        let patient = store.patient(row.patient_id).unwrap();
        if !patient
            .family_name
            .chars()
            .any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
        {
            continue;
        }
        for visit in store.encounters_for_patient(patient.patient_id).unwrap() {
            if matches!(visit.status, EncounterStatus::Signed { .. })
                && !visit.prescriptions.is_empty()
            {
                return (patient, visit);
            }
        }
    }
    panic!("the demo has a patient named in Arabic with a signed prescription");
}

fn pdftotext(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    assert!(out.status.success(), "pdftotext read the file");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_signed_visits_prescription_prints_on_a4_and_an_80_mm_roll() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(&dir.path().join("clinic"));
    let (patient, visit) = arabic_patient_with_a_prescription(&service);
    for (paper, name) in [(Paper::A4, "a4"), (Paper::Receipt80, "80mm")] {
        let pdf = service
            .print_prescription(visit.encounter_id, paper)
            .unwrap();
        let file = dir.path().join(format!("prescription-{name}.pdf"));
        std::fs::write(&file, &pdf).unwrap();
        let text = pdftotext(&file);
        assert!(text.contains("Prescription"), "{text}");
        assert!(text.contains("Page 1 of 1"), "{text}");
        assert!(
            text.contains(DEMO_ACCOUNTS[1].full_name),
            "printed by: {text}"
        );
        for line in &visit.prescriptions {
            assert!(
                text.contains(line.medicine.as_str()),
                "{} in {text}",
                line.medicine
            );
        }
        // The name in its own script, read back from the embedded font's glyphs.
        assert!(
            text.contains(patient.family_name.as_str()),
            "{} in {text}",
            patient.family_name
        );
        // The page renders.
        let png = dir.path().join(format!("prescription-{name}"));
        let rendered = Command::new("pdftoppm")
            .args(["-png", "-r", "72", "-singlefile"])
            .arg(&file)
            .arg(&png)
            .status()
            .expect("pdftoppm (poppler-utils) runs");
        assert!(rendered.success());
        let size = std::fs::metadata(png.with_extension("png")).unwrap().len();
        assert!(size > 1_000, "a page with something on it");
        if let Some(keep) = std::env::var_os("OUTPOST_KEEP_DOCUMENTS") {
            std::fs::copy(
                &file,
                Path::new(&keep).join(format!("prescription-{name}.pdf")),
            )
            .unwrap();
            std::fs::copy(
                png.with_extension("png"),
                Path::new(&keep).join(format!("prescription-{name}.png")),
            )
            .unwrap();
        }
    }
    // Each print is in the audit trail, with the patient.
    let prints: Vec<_> = service
        .store()
        .audit_entries(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.event.action == AuditAction::Print)
        .collect();
    assert_eq!(prints.len(), 2);
    assert!(
        prints
            .iter()
            .all(|e| e.event.patient_id == Some(patient.patient_id))
    );
}

#[test]
fn a_receptionist_may_not_print_a_prescription() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(dir.path());
    let (_, visit) = arabic_patient_with_a_prescription(&service);
    let receptionist = DEMO_ACCOUNTS
        .iter()
        .find(|a| a.role == outpost::model::Role::Receptionist)
        .expect("the demo has a receptionist");
    service
        .sign_in(receptionist.user_name, receptionist.password)
        .unwrap();
    let refused = service.print_prescription(visit.encounter_id, Paper::A4);
    assert!(
        matches!(refused, Err(AppError::Forbidden(_))),
        "{refused:?}"
    );
}

#[test]
fn a_draft_visit_has_no_prescription_to_print() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(dir.path());
    let store = service.store();
    let order = store.patient_order(PatientSort::Number, false).unwrap();
    let draft = store
        .patient_rows(&order)
        .unwrap()
        .into_iter()
        .flat_map(|row| store.encounters_for_patient(row.patient_id).unwrap())
        .find(|visit| matches!(visit.status, EncounterStatus::Draft));
    let Some(draft) = draft else {
        panic!("the demo has a draft visit");
    };
    let refused = service.print_prescription(draft.encounter_id, Paper::A4);
    assert!(matches!(
        refused,
        Err(AppError::Document(DocumentError::NotSigned))
    ));
}
