//! Printed documents, read back as a person and a dispensary would: the PDF's text through
//! poppler's `pdftotext`, and its pages rendered to PNG by `pdftoppm`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use outpost::app::{AppError, AppService, DocumentRequest};
use outpost::demo::{DEMO_ACCOUNTS, DemoOptions};
use outpost::documents::{DocumentError, Paper, Referral, SickNote};
use outpost::imaging::{ImportOptions, import_paths};
use outpost::model::{AuditAction, Encounter, EncounterStatus, Patient};
use outpost::store::{AuditFilter, PatientSort};
use std::path::Path;
use std::process::Command;

/// A demo workstation with a clinician signed in.
fn clinic(dir: &Path) -> AppService {
    clinic_with(dir, |_| {})
}

/// A demo workstation, changed by `prepare` before the clinician signs in.
fn clinic_with(dir: &Path, prepare: impl FnOnce(&mut outpost::store::Store)) -> AppService {
    let options = DemoOptions {
        patients: 40,
        visits: 1..=3,
        seed: 11,
    };
    support::demo_clinic(dir, Some(&options), prepare)
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

/// Writes `pdf` as `name`.pdf in `dir`, renders its first page with `pdftoppm`, keeps both
/// where `OUTPOST_KEEP_DOCUMENTS` says, and answers the text `pdftotext` reads from it.
fn read_back(dir: &Path, name: &str, pdf: &[u8]) -> String {
    let file = dir.join(format!("{name}.pdf"));
    std::fs::write(&file, pdf).unwrap();
    let text = pdftotext(&file);
    let png = dir.join(name);
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
        let keep = Path::new(&keep);
        std::fs::copy(&file, keep.join(format!("{name}.pdf"))).unwrap();
        std::fs::copy(png.with_extension("png"), keep.join(format!("{name}.png"))).unwrap();
    }
    text
}

/// Text as `pdftotext` lays it out, with runs of white space made one space (a long line is
/// wrapped where the page needs).
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A signed visit with vital signs, diagnoses and medicines, of a patient with allergies.
fn a_full_signed_visit(service: &AppService) -> (Patient, Encounter) {
    let store = service.store();
    let order = store.patient_order(PatientSort::Number, false).unwrap();
    for row in store.patient_rows(&order).unwrap() {
        for visit in store.encounters_for_patient(row.patient_id).unwrap() {
            if matches!(visit.status, EncounterStatus::Signed { .. })
                && !visit.prescriptions.is_empty()
                && !visit.diagnoses.is_empty()
                && visit.vitals.temperature_c.is_some()
            {
                return (store.patient(row.patient_id).unwrap(), visit);
            }
        }
    }
    panic!("the demo has a full signed visit");
}

/// How many images `pdfimages -list` lists (their transparency masks not counted).
fn images_listed(listing: &str) -> usize {
    listing
        .lines()
        .skip(2)
        .filter(|line| line.split_whitespace().nth(2) == Some("image"))
        .count()
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

#[test]
fn a_visit_summary_shows_vitals_with_flags_diagnoses_with_codes_and_the_follow_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(&dir.path().join("clinic"));
    let (patient, visit) = a_full_signed_visit(&service);
    for (paper, name) in [
        (Paper::A4, "visit-summary-a4"),
        (Paper::Receipt80, "visit-summary-80mm"),
    ] {
        let printed = service
            .print(&DocumentRequest::VisitSummary(visit.encounter_id), paper)
            .unwrap();
        assert!(printed.file_name.starts_with("visit-summary-"));
        assert!(!printed.file_name.contains(patient.family_name.as_str()));
        let text = flat(&read_back(dir.path(), name, &printed.pdf));
        assert!(text.contains("Visit summary"), "{text}");
        assert!(text.contains("Temperature"), "{text}");
        for diagnosis in &visit.diagnoses {
            if let Some(code) = &diagnosis.code {
                assert!(text.contains(code.as_str()), "{code} in {text}");
            }
        }
        let follow_up = match visit.follow_up {
            Some(date) => date.format("Come back on: %A %-d %B %Y").to_string(),
            None => "No follow-up visit booked.".to_owned(),
        };
        assert!(text.contains(&follow_up), "{follow_up} in {text}");
        if visit.vitals.temperature_c.unwrap() >= 37.5 {
            assert!(text.contains("FEVER"), "{text}");
        } else {
            assert!(!text.contains("FEVER"), "{text}");
        }
    }
}

#[test]
fn a_referral_letter_carries_the_reason_the_findings_and_the_visits_images() {
    let dir = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom");
    let mut chosen = None;
    let mut service = clinic_with(&dir.path().join("clinic"), |store| {
        let order = store.patient_order(PatientSort::Number, false).unwrap();
        let visit = store
            .patient_rows(&order)
            .unwrap()
            .into_iter()
            .flat_map(|row| store.encounters_for_patient(row.patient_id).unwrap())
            .find(|v| matches!(v.status, EncounterStatus::Signed { .. }))
            .expect("a signed visit");
        let options = ImportOptions {
            encounter_id: Some(visit.encounter_id),
            ..ImportOptions::for_patient(visit.patient_id)
        };
        let summary = import_paths(
            store,
            &[samples.join("CT_small.dcm"), samples.join("MR_small.dcm")],
            &options,
            |_| {},
        );
        assert_eq!(summary.imported, 2, "{:?}", summary.failures);
        chosen = Some(visit);
    });
    let visit = chosen.unwrap();
    let referral = Referral {
        to: "District Hospital, surgical outpatients".into(),
        reason: "suspected appendicitis for a surgical opinion".into(),
    };
    for (paper, name) in [
        (Paper::A4, "referral-a4"),
        (Paper::Receipt80, "referral-80mm"),
    ] {
        let printed = service
            .print(
                &DocumentRequest::Referral {
                    encounter_id: visit.encounter_id,
                    referral: referral.clone(),
                },
                paper,
            )
            .unwrap();
        let text = flat(&read_back(dir.path(), name, &printed.pdf));
        assert!(text.contains("Referral letter"), "{text}");
        assert!(
            text.contains("District Hospital, surgical outpatients"),
            "{text}"
        );
        assert!(text.contains("suspected appendicitis"), "{text}");
        assert!(text.contains("Images"), "{text}");
        // Two images, each drawn once: pdfimages lists them.
        let file = dir.path().join(format!("{name}.pdf"));
        let listed = Command::new("pdfimages")
            .arg("-list")
            .arg(&file)
            .output()
            .unwrap();
        let listing = String::from_utf8(listed.stdout).unwrap();
        let images = images_listed(&listing);
        assert_eq!(images, 2, "{listing}");
    }
    // Without a reason there is no letter.
    let refused = service.print(
        &DocumentRequest::Referral {
            encounter_id: visit.encounter_id,
            referral: Referral {
                reason: " ".into(),
                ..referral
            },
        },
        Paper::A4,
    );
    assert!(
        matches!(refused, Err(AppError::Document(DocumentError::Missing(_)))),
        "{refused:?}"
    );
}

#[test]
fn a_sick_note_names_the_days_and_no_diagnosis() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(&dir.path().join("clinic"));
    let (patient, visit) = a_full_signed_visit(&service);
    let from = visit.started_at.date_naive();
    let note = SickNote {
        from,
        to: from + chrono::Duration::days(2),
        remarks: "Light duties for a week after.".into(),
    };
    for (paper, name) in [
        (Paper::A4, "sick-note-a4"),
        (Paper::Receipt80, "sick-note-80mm"),
    ] {
        let printed = service
            .print(
                &DocumentRequest::SickNote {
                    encounter_id: visit.encounter_id,
                    note: note.clone(),
                },
                paper,
            )
            .unwrap();
        let text = flat(&read_back(dir.path(), name, &printed.pdf));
        assert!(text.contains("Medical certificate"), "{text}");
        assert!(text.contains("(3 days)"), "{text}");
        assert!(text.contains(&patient.given_name), "{text}");
        for diagnosis in &visit.diagnoses {
            assert!(
                !text.contains(diagnosis.title.trim()),
                "no diagnosis: {text}"
            );
        }
    }
    let backwards = service.print(
        &DocumentRequest::SickNote {
            encounter_id: visit.encounter_id,
            note: SickNote {
                from,
                to: from - chrono::Duration::days(1),
                remarks: String::new(),
            },
        },
        Paper::A4,
    );
    assert!(matches!(
        backwards,
        Err(AppError::Document(DocumentError::SickNoteDates))
    ));
}

#[test]
fn a_patient_summary_lists_problems_allergies_visits_and_plots_trends() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(&dir.path().join("clinic"));
    // The patient with the most visits.
    let store = service.store();
    let order = store.patient_order(PatientSort::Number, false).unwrap();
    let (patient_id, visits) = store
        .patient_rows(&order)
        .unwrap()
        .into_iter()
        .map(|row| {
            let n = store.encounters_for_patient(row.patient_id).unwrap().len();
            (row.patient_id, n)
        })
        .max_by_key(|(_, n)| *n)
        .unwrap();
    assert!(visits >= 2);
    let recorded: Vec<Encounter> = store
        .encounters_for_patient(patient_id)
        .unwrap()
        .into_iter()
        .filter(|v| !matches!(v.status, EncounterStatus::Voided { .. }))
        .collect();
    let weighed = recorded.iter().any(|v| v.vitals.weight_kg.is_some());
    let pressure = recorded.iter().any(|v| v.vitals.systolic_mmhg.is_some());
    assert!(
        weighed || pressure,
        "the demo patient has measurements to plot"
    );
    for (paper, name) in [
        (Paper::A4, "patient-summary-a4"),
        (Paper::Receipt80, "patient-summary-80mm"),
    ] {
        let printed = service
            .print(&DocumentRequest::PatientSummary(patient_id), paper)
            .unwrap();
        let text = flat(&read_back(dir.path(), name, &printed.pdf));
        for heading in ["Patient summary", "Problems", "Last visits"] {
            assert!(text.contains(heading), "{heading} in {text}");
        }
        assert_eq!(text.contains("Trends"), weighed || pressure, "{text}");
        assert_eq!(text.contains("Weight (kg)"), weighed, "{text}");
        assert_eq!(text.contains("Blood pressure (mmHg)"), pressure, "{text}");
    }
    let prints = service
        .store()
        .audit_entries(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.event.action == AuditAction::Print && e.event.patient_id == Some(patient_id))
        .count();
    assert_eq!(prints, 2);
}

#[test]
fn the_letterhead_an_administrator_sets_heads_what_is_printed() {
    use outpost::app::{Command as AppCommand, LogoChange};
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(&dir.path().join("clinic"));
    let (_, visit) = arabic_patient_with_a_prescription(&service);
    let letterhead = AppCommand::SaveLetterhead {
        clinic_name: "Mlima Health Centre".into(),
        address: "PO Box 40, Mlima".into(),
        phone: "+255 22 123 4567".into(),
        logo: LogoChange::Set(
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/icons/outpost.png"))
                .unwrap(),
        ),
    };
    // Only an administrator sets it.
    let refused = service.execute(letterhead.clone());
    assert!(
        matches!(refused, Err(AppError::Forbidden(_))),
        "{refused:?}"
    );
    let admin = DEMO_ACCOUNTS
        .iter()
        .find(|a| a.role == outpost::model::Role::Administrator)
        .unwrap();
    service.sign_in(admin.user_name, admin.password).unwrap();
    service.execute(letterhead).unwrap();
    // A file that is no image is refused, and the letterhead stays as it was.
    let refused = service.execute(AppCommand::SaveLetterhead {
        clinic_name: "Mlima Health Centre".into(),
        address: String::new(),
        phone: String::new(),
        logo: LogoChange::Set(b"not an image".to_vec()),
    });
    assert!(matches!(refused, Err(AppError::Logo(_))), "{refused:?}");
    let clinician = &DEMO_ACCOUNTS[1];
    service
        .sign_in(clinician.user_name, clinician.password)
        .unwrap();
    let printed = service
        .print(
            &DocumentRequest::Prescription(visit.encounter_id),
            Paper::A4,
        )
        .unwrap();
    let text = flat(&read_back(dir.path(), "letterhead-a4", &printed.pdf));
    for part in [
        "Mlima Health Centre",
        "PO Box 40, Mlima",
        "+255 22 123 4567",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let listed = Command::new("pdfimages")
        .arg("-list")
        .arg(dir.path().join("letterhead-a4.pdf"))
        .output()
        .unwrap();
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(images_listed(&listing), 1, "the logo: {listing}");
}
