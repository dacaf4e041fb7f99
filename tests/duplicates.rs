//! Likely duplicates on a real store: the demo population with duplicates planted the way a
//! second registration differs (misspelt names, names the other way round, an estimated age,
//! a phone written another way or left out…), measured for recall (each planted duplicate found
//! when its second record is typed) and precision (of the pairs the worklist shows, how many were
//! planted); and the blocking keys of a store from before them are filled when it opens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outpost::demo::{self, DemoOptions};
use outpost::model::{Patient, Sex};
use outpost::store::Store;
use std::collections::HashSet;

#[test]
fn planted_duplicates_are_found_and_the_worklist_is_mostly_right() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let options = DemoOptions {
        patients: 2_000,
        visits: 0..=0,
        seed: 7,
    };
    demo::generate(&mut store, &options, |_, _| {}).unwrap();
    let planted = demo::plant_duplicates(&mut store, 100, 11).unwrap();
    assert_eq!(planted.len(), 100);

    // Recall: typing the second record again finds the first among the likely duplicates.
    let mut found = 0;
    for pair in &planted {
        let second = store.patient(pair.duplicate).unwrap();
        let candidates = store.likely_duplicates(&second, 10).unwrap();
        if candidates
            .iter()
            .any(|c| c.patient.patient_id == pair.original)
        {
            found += 1;
        } else {
            let first = store.patient(pair.original).unwrap();
            let raw = outpost::model::likeness(
                &outpost::model::Comparable::of(&first),
                &outpost::model::Comparable::of(&second),
            );
            eprintln!(
                "  missed: {} {:?} {} / {} {:?} {} ({:.1}: {})",
                first.display_name(),
                first.birth.map(|b| (b.date, b.estimated)),
                first.phone,
                second.display_name(),
                second.birth.map(|b| (b.date, b.estimated)),
                second.phone,
                raw.score,
                raw.reasons.join(", ")
            );
        }
    }
    let recall = f64::from(found) / planted.len() as f64;

    // Precision: the administrator's worklist over the whole store.
    let planted_pairs: HashSet<(_, _)> = planted
        .iter()
        .flat_map(|p| [(p.original, p.duplicate), (p.duplicate, p.original)])
        .collect();
    let pairs = store.duplicate_pairs().unwrap();
    let right = pairs
        .iter()
        .filter(|p| planted_pairs.contains(&(p.first.patient_id, p.second.patient_id)))
        .count();
    let precision = right as f64 / pairs.len().max(1) as f64;
    let worklist_recall = right as f64 / planted.len() as f64;
    eprintln!(
        "2,000 demo patients + 100 planted duplicates: recall {recall:.2} ({found}/100), \
         worklist {} pairs, {right} planted: precision {precision:.2}, recall {worklist_recall:.2}",
        pairs.len()
    );
    for p in pairs
        .iter()
        .filter(|p| !planted_pairs.contains(&(p.first.patient_id, p.second.patient_id)))
    {
        eprintln!(
            "  not planted: {} / {} ({:.1}: {})",
            p.first.display_name(),
            p.second.display_name(),
            p.likeness.score,
            p.likeness.reasons.join(", ")
        );
    }
    assert!(recall >= 0.9, "recall {recall}");
    assert!(precision >= 0.9, "precision {precision}");
    assert!(worklist_recall >= 0.9, "worklist recall {worklist_recall}");
}

#[test]
fn a_registration_typed_finds_the_patient_already_here() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let mut first = Patient::blank(store.clinic_id());
    first.given_name = "Wanjiru".into();
    first.family_name = "Kamau".into();
    first.sex = Sex::Female;
    first.birth = Some(outpost::model::DateOfBirth::exact(
        chrono::NaiveDate::from_ymd_opt(1991, 7, 2).unwrap(),
    ));
    first.phone = "+254 722 123 456".into();
    let first = store.register_patient(first).unwrap();

    // As the clerk types: a family name alone finds nobody yet; with the given name (misspelt)
    // and the phone, she is found.
    let mut typed = Patient::blank(store.clinic_id());
    typed.family_name = "Kamau".into();
    assert!(store.likely_duplicates(&typed, 5).unwrap().is_empty());
    typed.given_name = "Wanjirru".into();
    typed.phone = "0722123456".into();
    let found = store.likely_duplicates(&typed, 5).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].patient.patient_id, first.patient_id);
    assert!(found[0].likeness.reasons.contains(&"same phone".to_owned()));
    // Her own record is not her duplicate.
    assert!(store.likely_duplicates(&first, 5).unwrap().is_empty());
    // A voided record is not offered.
}
