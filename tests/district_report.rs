//! The monthly report at the server: two clinics' workstations sync their visits (and a referral
//! letter's audit entry) to the real server, and the district's report counts every cell as the
//! two workstations' own reports added together; one clinic's report is that clinic's
//! workstation's. `outpost-server report` writes it as CSV. SQLite, then PostgreSQL when
//! `bash .ci/test` runs it again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/district.rs"]
mod district;
#[path = "support/stores.rs"]
mod stores;

use chrono::{NaiveDate, TimeZone, Utc};
use district::{start_server, sync, workstation};
use outpost::model::{
    AuditAction, AuditEvent, DateOfBirth, Diagnosis, Encounter, Patient, Sex, Signer,
};
use outpost::reports::{Month, MonthlyReport, Notifiable};
use outpost::server::district_report;
use outpost::store::Store;
use std::collections::BTreeMap;
use std::path::Path;

/// A patient born on `born` with a visit on `day` (noon UTC) for `codes`, signed unless
/// `draft`; answers the visit.
fn visit(
    store: &mut Store,
    sex: Sex,
    born: (i32, u32, u32),
    day: (i32, u32, u32),
    codes: &[&str],
    muac: Option<f64>,
    draft: bool,
) -> Encounter {
    let mut p = Patient::blank(store.clinic_id());
    p.given_name = "Test".into();
    p.family_name = format!("Person{}", store.status().unwrap().patients);
    p.sex = sex;
    p.birth = Some(DateOfBirth::exact(
        NaiveDate::from_ymd_opt(born.0, born.1, born.2).unwrap(),
    ));
    let p = store.register_patient(p).unwrap();
    let at = Utc.with_ymd_and_hms(day.0, day.1, day.2, 12, 0, 0).unwrap();
    let mut v = Encounter::new_draft(p.patient_id, "Dr Test", at);
    v.diagnoses = codes
        .iter()
        .enumerate()
        .map(|(i, code)| Diagnosis {
            code: Some((*code).to_owned()),
            title: format!("title of {code}"),
            primary: i == 0,
        })
        .collect();
    v.vitals.muac_mm = muac;
    store.save_encounter(&v).unwrap();
    if !draft {
        store
            .sign_encounter(v.encounter_id, &Signer::named("Dr Test"))
            .unwrap();
    }
    v
}

fn workstation_report(store: &Store, month: Month, notifiable: &[Notifiable]) -> MonthlyReport {
    let (start, end) = month.local_bounds();
    let (facts, drafts) = store.report_facts(start, end).unwrap();
    outpost::reports::monthly("here", month, &facts, drafts, notifiable)
}

fn cells(report: &MonthlyReport) -> BTreeMap<String, u64> {
    report
        .cells
        .iter()
        .map(|c| (c.id.clone(), c.value))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_district_report_is_its_clinics_reports_added_up() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut hill = workstation(&server, &dir, "Hill Clinic").await;
    let mut river = workstation(&server, &dir, "River Clinic").await;
    let nov = (2026, 11, 10);
    visit(
        &mut hill,
        Sex::Female,
        (2024, 5, 1),
        nov,
        &["B54"],
        Some(110.0),
        false,
    );
    let referred = visit(
        &mut hill,
        Sex::Male,
        (1980, 1, 1),
        (2026, 11, 12),
        &["A09"],
        None,
        false,
    );
    visit(
        &mut hill,
        Sex::Female,
        (1995, 3, 3),
        (2026, 11, 20),
        &["O80", "Z34.90"],
        None,
        false,
    );
    visit(
        &mut hill,
        Sex::Male,
        (1970, 3, 3),
        (2026, 11, 21),
        &["I10"],
        None,
        true,
    );
    visit(
        &mut river,
        Sex::Male,
        (2023, 2, 2),
        (2026, 11, 3),
        &["B05"],
        Some(120.0),
        false,
    );
    visit(
        &mut river,
        Sex::Female,
        (1960, 6, 6),
        (2026, 11, 28),
        &["A15.0"],
        None,
        false,
    );
    visit(
        &mut river,
        Sex::Female,
        (1990, 6, 6),
        (2026, 10, 28),
        &["B54"],
        None,
        false,
    );
    // A referral letter issued from one of Hill's visits, in its audit trail.
    hill.record_audit(
        AuditEvent::new(AuditAction::ReferralIssued, None)
            .patient(referred.patient_id)
            .record(referred.encounter_id.0),
    )
    .unwrap();
    sync(&mut hill).await;
    sync(&mut river).await;

    let month = Month::parse("2026-11").unwrap();
    let notifiable = Notifiable::parse_list(outpost::reports::DEFAULT_NOTIFIABLE).unwrap();
    let at_hill = workstation_report(&hill, month, &notifiable);
    let at_river = workstation_report(&river, month, &notifiable);
    assert_eq!(at_hill.value("attendance.total"), Some(3));
    assert_eq!(at_river.value("attendance.total"), Some(2));
    assert_eq!(at_hill.value("referrals"), Some(1));

    let district = district_report(server.store.as_ref(), month, None, &notifiable).unwrap();
    let mut expected = cells(&at_hill);
    for (id, value) in cells(&at_river) {
        *expected.entry(id).or_default() += value;
    }
    assert_eq!(cells(&district), expected);
    assert_eq!(
        district.drafts_left_out,
        at_hill.drafts_left_out + at_river.drafts_left_out
    );
    assert_eq!(district.drafts_left_out, 1);
    assert_eq!(district.clinic, "District: 2 clinic(s)");

    let hill_only = district_report(
        server.store.as_ref(),
        month,
        Some(hill.clinic_id()),
        &notifiable,
    )
    .unwrap();
    assert_eq!(cells(&hill_only), cells(&at_hill));
    assert_eq!(hill_only.clinic, "Hill Clinic");

    // The command line writes the same report.
    let out = dir.path().join("district.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_outpost-server"))
        .args(["report", "--month", "2026-11", "--format", "csv", "--out"])
        .arg(&out)
        .arg("--data-dir")
        .arg(server.dir.path())
        .args(stores::binary_args(server.dir.path()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("visits: 5"));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        outpost::reports::csv(&district)
    );
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_outpost-server"))
        .args(["report", "--month", "2026-13", "--out"])
        .arg(dir.path().join("no.pdf"))
        .arg("--data-dir")
        .arg(server.dir.path())
        .args(stores::binary_args(server.dir.path()))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("YYYY-MM"));
    assert!(!Path::new(&dir.path().join("no.pdf")).exists());
}
