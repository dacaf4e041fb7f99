//! The research extract against a population built by hand: who is kept, who is suppressed and
//! why, what the files hold and what they must not (names, numbers, phones, villages of fewer
//! than k patients, free text, real dates), each checked from the CSV files as written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{NaiveDate, TimeZone, Utc};
use outpost::app::{AppError, AppService, ResearchError};
use outpost::model::{
    DateOfBirth, Diagnosis, Encounter, EncounterStatus, Patient, PatientId, Prescription, Role, Sex,
};
use outpost::research::{ExtractOptions, date_shift, pseudonym};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn at(day: (i32, u32, u32)) -> chrono::DateTime<Utc> {
    // Noon UTC: the same day in every time zone a clinic is in.
    Utc.with_ymd_and_hms(day.0, day.1, day.2, 12, 0, 0).unwrap()
}

fn day(d: (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.0, d.1, d.2).unwrap()
}

/// A signed visit with a coded and an uncoded diagnosis, vital signs, a prescription and free
/// text that must not leave.
fn visit(patient: &Patient, on: (i32, u32, u32)) -> Encounter {
    let mut v = Encounter::new_draft(patient.patient_id, "Dr Test", at(on));
    v.chief_complaint = format!("SECRET complaint of {}", patient.given_name);
    v.history = "SECRET history: lives with her brother Omar".into();
    v.plan = "SECRET plan".into();
    v.diagnoses = vec![
        Diagnosis {
            code: Some("B54".into()),
            title: "Unspecified malaria".into(),
            primary: true,
        },
        Diagnosis {
            code: None,
            title: "SECRET worry about the neighbour".into(),
            primary: false,
        },
    ];
    v.vitals.temperature_c = Some(38.5);
    v.vitals.weight_kg = Some(61.0);
    v.prescriptions = vec![Prescription {
        medicine: "Artemether-lumefantrine".into(),
        strength: "20/120 mg".into(),
        dose: "4 tablets".into(),
        route: "oral".into(),
        frequency: "twice a day".into(),
        duration: "3 days".into(),
        quantity: "24".into(),
        instructions: "SECRET take with milk, ask Omar".into(),
        as_directed: false,
        allergy_override: None,
    }];
    v.status = EncounterStatus::Signed {
        signed_by: "Dr Test".into(),
        signed_at: v.started_at,
        signer_id: None,
        signer_role: Some(Role::Clinician),
    };
    v
}

struct Person {
    patient: Patient,
    /// The visit days inside the period.
    inside: Vec<NaiveDate>,
}

/// Eighteen patients:
/// - six women aged 15–49 in Kosti (one with a second visit, one with a visit after the period);
/// - five men of 50 and over in Kosti;
/// - five women aged 15–49, two in Rabak and one each in Tendelti, Um Ruwaba and Jebelein:
///   fewer than five patients live in each of those villages, so all five are "other", a group
///   of five;
/// - one boy aged 1–4 in Kosti: alone in his group, suppressed;
/// - one man of 50 and over in Rabak (so "other"): alone in his group, suppressed.
fn population(store: &mut outpost::store::Store) -> Vec<Person> {
    let clinic = store.clinic_id();
    let mut batch = store.batch().unwrap();
    let mut people = Vec::new();
    let mut n = 0;
    let mut add = |batch: &mut outpost::store::Batch<'_>,
                   sex: Sex,
                   born: (i32, u32, u32),
                   village: &str,
                   days: &[(i32, u32, u32)]| {
        n += 1;
        let mut p = Patient::blank(clinic);
        p.given_name = format!("Zainab{n}");
        p.family_name = format!("Osman{n}");
        p.other_script_name = "زينب عثمان".into();
        p.sex = sex;
        p.birth = Some(DateOfBirth::exact(day(born)));
        p.village = village.into();
        p.phone = format!("+249 912 000 {n:03}");
        p.national_id = format!("NID-77{n:04}");
        let p = batch.register_patient(p).unwrap();
        let mut inside = Vec::new();
        for &d in days {
            batch.insert_encounter(&visit(&p, d)).unwrap();
            if day(d) <= day((2026, 11, 30)) {
                inside.push(day(d));
            }
        }
        people.push(Person { patient: p, inside });
    };
    for i in 0..6u32 {
        let days: Vec<(i32, u32, u32)> = match i {
            0 => vec![(2026, 11, 2), (2026, 11, 20)],
            1 => vec![(2026, 11, 3), (2026, 12, 15)],
            _ => vec![(2026, 11, 4 + i)],
        };
        add(&mut batch, Sex::Female, (1990, 1, 1 + i), "Kosti", &days);
    }
    for i in 0..5u32 {
        add(
            &mut batch,
            Sex::Male,
            (1950, 2, 1 + i),
            "Kosti",
            &[(2026, 11, 12 + i)],
        );
    }
    for (i, village) in ["Rabak", "Rabak", "Tendelti", "Um Ruwaba", "Jebelein"]
        .iter()
        .enumerate()
    {
        let i = i as u32;
        add(
            &mut batch,
            Sex::Female,
            (1995, 3, 1 + i),
            village,
            &[(2026, 11, 18 + i)],
        );
    }
    add(
        &mut batch,
        Sex::Male,
        (2023, 6, 1),
        "Kosti",
        &[(2026, 11, 25)],
    );
    add(
        &mut batch,
        Sex::Male,
        (1940, 6, 1),
        "Rabak",
        &[(2026, 11, 26)],
    );
    batch.commit().unwrap();
    people
}

/// The rows of a CSV file, by header.
fn rows(dir: &Path, name: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(dir.join(name)).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn write(
    service: &mut AppService,
    options: &ExtractOptions,
    out: &Path,
) -> outpost::research::ExtractSummary {
    let (from, to) = (day((2026, 11, 1)), day((2026, 11, 30)));
    let extract = service.research_extract(from, to, options).unwrap();
    std::fs::create_dir_all(out).unwrap();
    for (name, bytes) in outpost::research::files(&extract, from, to).unwrap() {
        std::fs::write(out.join(name), bytes).unwrap();
    }
    extract.summary
}

#[test]
fn the_extract_keeps_the_groups_of_five_and_nothing_that_names_anyone() {
    let dir = tempfile::tempdir().unwrap();
    let mut people = Vec::new();
    let mut service = support::demo_clinic(&dir.path().join("clinic"), None, |store| {
        people = population(store)
    });
    let key = service.session().unwrap().data_key().research_key();
    let out = dir.path().join("extract");
    let summary = write(&mut service, &ExtractOptions::default(), &out);

    // By hand: 6 + 5 + 5 patients kept with 7 + 5 + 5 visits in November; the boy and the man
    // from Rabak suppressed; Rabak, Tendelti, Um Ruwaba and Jebelein written as "other".
    assert_eq!(summary.k, 5);
    assert_eq!(summary.patients, 16);
    assert_eq!(summary.visits, 17);
    assert_eq!(summary.suppressed_visits, 2);
    assert_eq!(summary.suppressed_patients, 2);
    assert_eq!(summary.places_generalised, 4);
    assert_eq!(summary.uncoded_diagnoses, 17);
    assert_eq!(summary.smallest_group, 5);

    let visits = rows(&out, "visits.csv");
    assert_eq!(visits.len(), 17);
    // k-anonymity, counted from the file: every (sex, age band, place) is shared by five or
    // more patients.
    let mut groups: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
    for v in &visits {
        groups
            .entry((v["sex"].clone(), v["age_band"].clone(), v["place"].clone()))
            .or_default()
            .insert(v["patient"].clone());
    }
    let sizes: BTreeMap<_, usize> = groups.iter().map(|(g, p)| (g.clone(), p.len())).collect();
    let group = |sex: &str, band: &str, place: &str| {
        sizes
            .get(&(sex.to_owned(), band.to_owned(), place.to_owned()))
            .copied()
    };
    assert_eq!(group("female", "15to49", "Kosti"), Some(6));
    assert_eq!(group("male", "50plus", "Kosti"), Some(5));
    assert_eq!(group("female", "15to49", "other"), Some(5));
    assert_eq!(sizes.len(), 3, "{sizes:?}");

    // Each patient is their keyed pseudonym, and each date is the real one moved by that
    // patient's shift, never the real date itself.
    let by_pseudonym: BTreeMap<String, &Person> = people
        .iter()
        .map(|p| (pseudonym(&key, p.patient.patient_id), p))
        .collect();
    let mut seen: BTreeMap<PatientId, Vec<NaiveDate>> = BTreeMap::new();
    for v in &visits {
        let person = by_pseudonym[&v["patient"]];
        let shifted: NaiveDate = v["date_shifted"].parse().unwrap();
        seen.entry(person.patient.patient_id)
            .or_default()
            .push(shifted - chrono::TimeDelta::days(date_shift(&key, person.patient.patient_id)));
        assert!(
            !person.inside.contains(&shifted),
            "a real date in the extract"
        );
    }
    for (patient_id, mut days) in seen {
        days.sort();
        let person = people
            .iter()
            .find(|p| p.patient.patient_id == patient_id)
            .unwrap();
        assert_eq!(days, person.inside, "shifted back, the real visit days");
    }
    // The first woman's two visits keep their 18 days apart.
    let first = pseudonym(&key, people[0].patient.patient_id);
    let mut hers: Vec<NaiveDate> = visits
        .iter()
        .filter(|v| v["patient"] == first)
        .map(|v| v["date_shifted"].parse().unwrap())
        .collect();
    hers.sort();
    assert_eq!(hers.len(), 2);
    assert_eq!((hers[1] - hers[0]).num_days(), 18);

    // The other tables: only the kept visits' rows, codes only, no instructions.
    let keys: BTreeSet<String> = visits.iter().map(|v| v["visit"].clone()).collect();
    let diagnoses = rows(&out, "diagnoses.csv");
    assert_eq!(diagnoses.len(), 17);
    assert!(
        diagnoses
            .iter()
            .all(|d| keys.contains(&d["visit"]) && d["icd10"] == "B54")
    );
    let vitals = rows(&out, "vitals.csv");
    assert_eq!(vitals.len(), 17);
    assert!(
        vitals
            .iter()
            .all(|v| v["temperature_c"] == "38.5" && v["muac_mm"].is_empty())
    );
    let prescriptions = rows(&out, "prescriptions.csv");
    assert_eq!(prescriptions.len(), 17);
    assert!(
        prescriptions
            .iter()
            .all(|p| p["medicine"] == "artemether-lumefantrine"
                && p["frequency"] == "twice a day"
                && !p.contains_key("instructions"))
    );

    // Nothing that names anyone, anywhere in the files.
    let mut all = String::new();
    for name in [
        "visits.csv",
        "diagnoses.csv",
        "vitals.csv",
        "prescriptions.csv",
        "extract.txt",
    ] {
        all.push_str(&std::fs::read_to_string(out.join(name)).unwrap());
    }
    for word in [
        "Zainab",
        "Osman",
        "زينب",
        "+249",
        "NID-77",
        "OUT-0",
        "SECRET",
        "Omar",
        "Rabak",
        "Tendelti",
        "Um Ruwaba",
        "Jebelein",
        "1990-01",
    ] {
        assert!(!all.contains(word), "{word} in the extract");
    }
    // No record's id either.
    for person in &people {
        assert!(!all.contains(&person.patient.patient_id.to_string()));
    }

    // The same patients get the same pseudonyms in a second extract.
    let again = dir.path().join("again");
    write(&mut service, &ExtractOptions::default(), &again);
    let first_run: BTreeSet<String> = visits.iter().map(|v| v["patient"].clone()).collect();
    let second_run: BTreeSet<String> = rows(&again, "visits.csv")
        .iter()
        .map(|v| v["patient"].clone())
        .collect();
    assert_eq!(first_run, second_run);
}

#[test]
fn a_places_list_and_k_change_who_is_kept_and_bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = support::demo_clinic(&dir.path().join("clinic"), None, |store| {
        population(store);
    });
    // The clinic's areas: every village here is in "White Nile", so the places are one area;
    // the man from Rabak now joins the men of 50 and over (six), and only the boy is alone.
    let places = ExtractOptions::parse_places(
        "village,area\nKosti,White Nile\nRabak,White Nile\nTendelti,White Nile\nUm Ruwaba,White Nile\nJebelein,White Nile\n",
    )
    .unwrap();
    let options = ExtractOptions { k: 5, places };
    let summary = write(&mut service, &options, &dir.path().join("areas"));
    assert_eq!(
        (
            summary.patients,
            summary.visits,
            summary.suppressed_visits,
            summary.places_generalised
        ),
        (17, 18, 1, 0)
    );
    let visits = rows(&dir.path().join("areas"), "visits.csv");
    assert!(visits.iter().all(|v| v["place"] == "White Nile"));
    // k = 7: the eleven women 15–49 stay, the six men go.
    let strict = ExtractOptions { k: 7, ..options };
    let summary = write(&mut service, &strict, &dir.path().join("strict"));
    assert_eq!((summary.patients, summary.smallest_group), (11, 11));

    let (nov1, nov30) = (day((2026, 11, 1)), day((2026, 11, 30)));
    assert!(matches!(
        service.research_extract(nov30, nov1, &ExtractOptions::default()),
        Err(AppError::Research(ResearchError::EmptyPeriod { .. }))
    ));
    assert!(matches!(
        service.research_extract(
            nov1,
            nov30,
            &ExtractOptions {
                k: 1,
                ..Default::default()
            }
        ),
        Err(AppError::Research(ResearchError::SmallK(1)))
    ));
    let receptionist = &outpost::demo::DEMO_ACCOUNTS[3];
    service.sign_out().unwrap();
    service
        .sign_in(receptionist.user_name, receptionist.password)
        .unwrap();
    assert!(matches!(
        service.research_extract(nov1, nov30, &ExtractOptions::default()),
        Err(AppError::Forbidden(_))
    ));
}
