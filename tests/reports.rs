//! The monthly report, cell by cell, against a small population counted by hand: eight patients,
//! ten visits around November 2026 (one in October, one in December, one voided, one a draft).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{NaiveDate, TimeZone, Utc};
use outpost::app::{AppError, AppService, DocumentRequest};
use outpost::demo::DEMO_ACCOUNTS;
use outpost::documents::{Paper, Referral};
use outpost::model::{
    DateOfBirth, Diagnosis, Encounter, EncounterId, EncounterStatus, Patient, Role, Sex,
};
use outpost::reports::{Dhis2Mapping, Month, Notifiable};
use std::collections::BTreeMap;

fn at(day: (i32, u32, u32)) -> chrono::DateTime<Utc> {
    // Noon UTC: the same day in every time zone a clinic is in.
    Utc.with_ymd_and_hms(day.0, day.1, day.2, 12, 0, 0).unwrap()
}

fn signed(mut visit: Encounter) -> Encounter {
    visit.status = EncounterStatus::Signed {
        signed_by: "Dr Test".into(),
        signed_at: visit.started_at,
        signer_id: None,
        signer_role: Some(Role::Clinician),
    };
    visit
}

fn visit(patient: &Patient, day: (i32, u32, u32), codes: &[&str], muac: Option<f64>) -> Encounter {
    let mut v = Encounter::new_draft(patient.patient_id, "Dr Test", at(day));
    v.diagnoses = codes
        .iter()
        .enumerate()
        .map(|(i, code)| Diagnosis {
            code: (!code.starts_with('~')).then(|| (*code).to_owned()),
            title: format!("title of {code}"),
            primary: i == 0,
        })
        .collect();
    v.vitals.muac_mm = muac;
    v
}

/// The population; answers the visit of the referral letter.
fn population(store: &mut outpost::store::Store) -> EncounterId {
    let person = |sex: Sex, born: Option<(i32, u32, u32)>, name: &str| {
        let mut p = Patient::blank(store.clinic_id());
        p.given_name = name.into();
        p.family_name = "Test".into();
        p.sex = sex;
        p.birth =
            born.map(|(y, m, d)| DateOfBirth::exact(NaiveDate::from_ymd_opt(y, m, d).unwrap()));
        p
    };
    let people = [
        person(Sex::Female, Some((2026, 3, 1)), "One"),
        person(Sex::Male, Some((2023, 5, 20)), "Two"),
        person(Sex::Female, Some((2015, 1, 1)), "Three"),
        person(Sex::Female, Some((1990, 6, 1)), "Four"),
        person(Sex::Male, Some((1960, 1, 1)), "Five"),
        person(Sex::Unknown, None, "Six"),
        person(Sex::Male, Some((2024, 11, 1)), "Seven"),
        person(Sex::Female, Some((1980, 2, 2)), "Eight"),
    ];
    let mut batch = store.batch().unwrap();
    let p: Vec<Patient> = people
        .into_iter()
        .map(|p| batch.register_patient(p).unwrap())
        .collect();
    let referred = signed(visit(&p[2], (2026, 11, 14), &["A09"], None));
    let mut voided = visit(&p[7], (2026, 11, 6), &["B54"], None);
    voided.status = EncounterStatus::Voided {
        voided_by: "Dr Test".into(),
        voided_at: at((2026, 11, 6)),
        reason: "wrong patient".into(),
        voided_by_id: None,
    };
    for v in [
        signed(visit(&p[0], (2026, 11, 10), &["B54"], Some(110.0))),
        signed(visit(&p[1], (2026, 10, 20), &["J06.9"], None)),
        signed(visit(
            &p[1],
            (2026, 11, 12),
            &["B50.9", "J18.9"],
            Some(120.0),
        )),
        referred.clone(),
        signed(visit(&p[3], (2026, 11, 3), &["O80", "Z34.90"], None)),
        signed(visit(&p[3], (2026, 11, 20), &["I10"], None)),
        signed(visit(&p[4], (2026, 11, 5), &["A15.0"], None)),
        visit(&p[4], (2026, 11, 25), &["I10"], None),
        signed(visit(&p[5], (2026, 11, 8), &["~free text only"], None)),
        signed(visit(&p[6], (2026, 11, 9), &["B05"], Some(130.0))),
        voided,
        signed(visit(&p[7], (2026, 12, 1), &["B54"], None)),
    ] {
        batch.insert_encounter(&v).unwrap();
    }
    batch.commit().unwrap();
    referred.encounter_id
}

fn clinic(dir: &std::path::Path) -> AppService {
    let mut referred = None;
    let mut service = support::demo_clinic(dir, None, |store| referred = Some(population(store)));
    let referred = referred.unwrap();
    // The referral letter is what makes a referral.
    service
        .print(
            &DocumentRequest::Referral {
                encounter_id: referred,
                referral: Referral {
                    to: "District Hospital".into(),
                    reason: "persistent diarrhoea".into(),
                },
            },
            Paper::A4,
        )
        .unwrap();
    service
}

#[test]
fn every_cell_of_the_monthly_report_is_the_hand_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(dir.path());
    let notifiable = Notifiable::parse_list(outpost::reports::DEFAULT_NOTIFIABLE).unwrap();
    let report = service
        .monthly_report(Month::parse("2026-11").unwrap(), &notifiable)
        .unwrap();
    let mut expected: BTreeMap<&str, u64> = BTreeMap::from([
        ("attendance.total", 8),
        ("attendance.female.under1", 1),
        ("attendance.male.1to4", 2),
        ("attendance.female.5to14", 1),
        ("attendance.female.15to49", 2),
        ("attendance.male.50plus", 1),
        ("attendance.other.unknown", 1),
        ("visits.new", 6),
        ("visits.repeat", 2),
        ("chapter.I", 5),
        ("chapter.IX", 1),
        ("chapter.X", 1),
        ("chapter.XV", 1),
        ("chapter.XXI", 1),
        ("notifiable.malaria", 2),
        ("notifiable.tuberculosis", 1),
        ("notifiable.measles", 1),
        ("malnutrition.screened", 3),
        ("malnutrition.sam", 1),
        ("malnutrition.mam", 1),
        ("referrals", 1),
    ]);
    for cell in &report.cells {
        let want = expected.remove(cell.id.as_str()).unwrap_or(0);
        assert_eq!(cell.value, want, "{} ({})", cell.id, cell.label);
    }
    assert!(expected.is_empty(), "cells not in the report: {expected:?}");
    assert_eq!(report.drafts_left_out, 1);
    let top: Vec<(&str, u64)> = report
        .top_diagnoses
        .iter()
        .map(|c| (c.code.as_str(), c.visits))
        .collect();
    assert_eq!(
        top,
        [
            ("A09", 1),
            ("A15.0", 1),
            ("B05", 1),
            ("B50.9", 1),
            ("B54", 1),
            ("I10", 1),
            ("J18.9", 1),
            ("O80", 1),
            ("Z34.90", 1)
        ]
    );

    // As CSV, DHIS2 dataValueSets, and a PDF.
    let csv = outpost::reports::csv(&report);
    assert!(
        csv.lines().any(|l| l == "attendance.total,Visits: all,8"),
        "{csv}"
    );
    let mapping = Dhis2Mapping::parse(outpost::reports::DEFAULT_DHIS2_MAPPING).unwrap();
    let sets = outpost::reports::dhis2(&report, &mapping, "DiszpKrYNg8");
    assert_eq!(sets["period"], "202611");
    assert_eq!(sets["orgUnit"], "DiszpKrYNg8");
    let values = sets["dataValues"].as_array().unwrap();
    assert_eq!(values.len(), report.cells.len(), "every cell is mapped");
    let (total_element, _) = &mapping.cells["attendance.total"];
    let total = values
        .iter()
        .find(|v| v["dataElement"] == total_element.as_str())
        .unwrap();
    assert_eq!(total["value"], "8");
    let pdf = outpost::documents::render(
        &outpost::reports::document(&report),
        Paper::A4,
        &outpost::documents::Footer {
            printed_by: "Dr Test".into(),
            printed_at: "today".into(),
        },
    )
    .unwrap();
    let file = dir.path().join("report.pdf");
    std::fs::write(&file, pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Monthly report, November 2026"), "{text}");
    if let Some(keep) = std::env::var_os("OUTPOST_KEEP_DOCUMENTS") {
        std::fs::copy(
            &file,
            std::path::Path::new(&keep).join("monthly-report-a4.pdf"),
        )
        .unwrap();
    }
}

#[test]
fn a_nurse_may_not_make_the_report_and_a_bad_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = clinic(dir.path());
    let nurse = DEMO_ACCOUNTS
        .iter()
        .find(|a| a.role == Role::Nurse)
        .unwrap();
    service.sign_in(nurse.user_name, nurse.password).unwrap();
    let refused = service.monthly_report(Month::parse("2026-11").unwrap(), &[]);
    assert!(matches!(refused, Err(AppError::Forbidden(_))));
    assert!(Month::parse("2026-13").is_err());
    assert!(Month::parse("November").is_err());
    assert!(Notifiable::parse_list("condition,icd10_prefixes\nMalaria,\n").is_err());
    assert!(
        Dhis2Mapping::parse("cell,dataElement,categoryOptionCombo\nreferrals,short,HllvX50cXC0\n")
            .is_err()
    );
}
