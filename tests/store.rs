//! The local store on real SQLite files: migrations, search, the change outbox's atomicity, the
//! rules of signed visits, ICD-10 and medicine look-ups, and the demo population.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, Utc};
use outpost::demo::{self, DemoOptions};
use outpost::model::{
    Allergy, AllergyStatus, Amendment, AmendmentId, DateOfBirth, Diagnosis, Encounter,
    EncounterStatus, Patient, Prescription, Sex, Vitals,
};
use outpost::store::{
    DATABASE_FILE, PatientSort, SCHEMA_VERSION, SearchHit, Store, StoreError, migrate_to,
    schema_version,
};
use rusqlite::Connection;

fn new_patient(store: &Store, given: &str, family: &str) -> Patient {
    let mut p = Patient::blank(store.clinic_id());
    p.given_name = given.into();
    p.family_name = family.into();
    p.sex = Sex::Female;
    p.birth = Some(DateOfBirth::exact(
        NaiveDate::from_ymd_opt(1990, 4, 12).unwrap(),
    ));
    p
}

fn names(store: &Store, query: &str) -> Vec<String> {
    store
        .search_patients(query, 50)
        .unwrap()
        .rows
        .into_iter()
        .map(|(row, _)| row.name)
        .collect()
}

fn outbox_count(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM change_log", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_new_file_is_migrated_to_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    let status = store.status().unwrap();
    assert_eq!(status.schema_version, SCHEMA_VERSION);
    assert_eq!(status.patients, 0);
    assert_eq!(status.database_path, dir.path().join(DATABASE_FILE));
    // Reopening is a no-op and keeps the workstation's identity.
    let clinic = store.clinic_id();
    drop(store);
    let store = Store::open_dir(dir.path()).unwrap();
    assert_eq!(store.clinic_id(), clinic);
}

#[test]
fn every_earlier_schema_version_migrates_with_its_data() {
    for version in 1..SCHEMA_VERSION {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATABASE_FILE);
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate_to(&mut conn, version).unwrap();
            assert_eq!(schema_version(&conn).unwrap(), version);
            // A patient written by that version, as that version wrote it.
            conn.execute(
                "INSERT INTO patient (patient_id, clinic_id, number_prefix, number_seq, given_name,
                     family_name, sex, birth_date, sort_name, created_at, updated_at)
                 VALUES ('0190f0c4-0000-7000-8000-000000000001',
                         '0190f0c4-0000-7000-8000-0000000000c1', 'OUT', 7, 'José', 'Núñez',
                         'male', '1980-01-02', 'nunez jose', '2026-01-01T00:00:00.000Z',
                         '2026-01-01T00:00:00.000Z')",
                [],
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.status().unwrap().schema_version, SCHEMA_VERSION);
        assert_eq!(names(&store, "jose"), vec!["Núñez, José".to_owned()]);
        // The new tables work on the migrated file.
        assert!(store.ensure_icd10().unwrap() > 90_000);
    }
}

#[test]
fn a_file_from_a_newer_outpost_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    match Store::open(&path) {
        Err(StoreError::NewerSchema { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {:?}", other.err()),
    }
}

#[test]
fn search_finds_by_name_prefix_any_case_and_accent_number_id_phone_and_village() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let mut jose = new_patient(&store, "José", "García");
    jose.phone = "+254 712 345 678".into();
    jose.national_id = "A1234567".into();
    jose.village = "Peñas Blancas".into();
    let jose = store.register_patient(jose).unwrap();
    store
        .register_patient(new_patient(&store, "Мария", "Иванова"))
        .unwrap();
    store
        .register_patient(new_patient(&store, "伟", "王"))
        .unwrap();
    let mut other = new_patient(&store, "Josephine", "Otieno");
    other.village = "Kakamega".into();
    store.register_patient(other).unwrap();

    assert_eq!(
        names(&store, "jose"),
        vec!["García, José", "Otieno, Josephine"]
    );
    assert_eq!(names(&store, "JOSÉ gar"), vec!["García, José"]);
    assert_eq!(names(&store, "garc"), vec!["García, José"]);
    assert_eq!(names(&store, "мар"), vec!["Иванова, Мария"]);
    assert_eq!(names(&store, "Ива"), vec!["Иванова, Мария"]);
    assert_eq!(names(&store, "王"), vec!["王, 伟"]);
    assert_eq!(names(&store, "penas"), vec!["García, José"]);
    assert_eq!(
        names(&store, "0712"),
        Vec::<String>::new(),
        "digits match from the start"
    );
    assert_eq!(names(&store, "254712"), vec!["García, José"]);
    assert_eq!(names(&store, "zzz"), Vec::<String>::new());
    assert!(names(&store, "  ").is_empty());
    assert!(
        names(&store, "\"*(OR)").is_empty(),
        "FTS syntax in the query is harmless"
    );

    let number = jose.number.clone().unwrap().to_string();
    assert_eq!(number, "OUT-000001");
    for query in [
        number.as_str(),
        "out-000001",
        "1",
        "A1234567",
        "+254 712-345-678",
    ] {
        let found = store.search_patients(query, 10).unwrap();
        let (first, hit) = found.rows.first().unwrap();
        assert_eq!(first.patient_id, jose.patient_id, "query {query:?}");
        assert_eq!(*hit, SearchHit::Exact, "query {query:?}");
    }
}

#[test]
fn search_says_when_there_are_more_matches_than_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let mut batch = store.batch().unwrap();
    let clinic = outpost::model::ClinicId::new();
    for i in 0..30 {
        let mut p = Patient::blank(clinic);
        p.given_name = format!("Amina{i}");
        p.family_name = "Odhiambo".into();
        batch.register_patient(p).unwrap();
    }
    batch.commit().unwrap();
    let found = store.search_patients("odh", 10).unwrap();
    assert_eq!(found.rows.len(), 10);
    assert!(found.truncated);
    let found = store.search_patients("odh", 30).unwrap();
    assert_eq!(found.rows.len(), 30);
    assert!(!found.truncated);
}

#[test]
fn a_write_and_its_change_record_commit_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let mut store = Store::open(&path).unwrap();
    let saved = store
        .register_patient(new_patient(&store, "Amina", "Odhiambo"))
        .unwrap();
    assert_eq!(outbox_count(&path), 1);

    // Make the outbox refuse every new change, as a full disk or a crash mid-transaction would.
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_changes BEFORE INSERT ON change_log
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .unwrap();
    let refused = store.register_patient(new_patient(&store, "Baraka", "Wekesa"));
    assert!(
        matches!(refused, Err(StoreError::Sqlite { .. })),
        "{refused:?}"
    );
    assert_eq!(
        store.patient_count().unwrap(),
        1,
        "no patient without its change"
    );

    let mut edited = saved.clone();
    edited.phone = "+254 700 000 001".into();
    assert!(store.update_patient(&edited).is_err());
    assert_eq!(
        store.patient(saved.patient_id).unwrap().phone,
        "",
        "edit rolled back"
    );
    assert_eq!(outbox_count(&path), 1);

    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TRIGGER refuse_changes")
        .unwrap();
    assert!(store.update_patient(&edited).unwrap());
    assert_eq!(
        store.patient(saved.patient_id).unwrap().phone,
        "+254 700 000 001"
    );
    assert_eq!(outbox_count(&path), 2);
}

#[test]
fn change_records_carry_only_the_changed_fields_with_increasing_stamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let mut store = Store::open(&path).unwrap();
    let mut p = store
        .register_patient(new_patient(&store, "Amina", "Odhiambo"))
        .unwrap();
    p.village = "Siaya".into();
    store.update_patient(&p).unwrap();
    assert!(
        !store.update_patient(&p).unwrap(),
        "saving unchanged data writes nothing"
    );
    drop(store);
    // The clock survives a restart: the next stamp sorts after everything before it.
    let mut store = Store::open(&path).unwrap();
    p.phone = "0712345678".into();
    store.update_patient(&p).unwrap();

    let conn = Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("SELECT entity, fields, hlc FROM change_log ORDER BY change_seq")
        .unwrap();
    let rows: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|(entity, _, _)| entity == "patient"));
    let first: serde_json::Value = serde_json::from_str(&rows[0].1).unwrap();
    assert_eq!(first["given_name"], "Amina");
    assert_eq!(rows[1].1, r#"{"village":"Siaya"}"#);
    assert_eq!(rows[2].1, r#"{"phone":"0712345678"}"#);
    assert!(rows[0].2 < rows[1].2 && rows[1].2 < rows[2].2, "{rows:?}");
}

#[test]
fn invalid_records_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let mut p = new_patient(&store, "Amina", "Odhiambo");
    p.birth = Some(DateOfBirth::exact(
        Utc::now().date_naive() + chrono::Duration::days(3),
    ));
    match store.register_patient(p) {
        Err(StoreError::Invalid(v)) => assert!(v.message_for("birth").is_some()),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(store.patient_count().unwrap(), 0);

    let patient = store
        .register_patient(new_patient(&store, "Amina", "Odhiambo"))
        .unwrap();
    let mut visit = Encounter::new_draft(patient.patient_id, "Dr Achieng", Utc::now());
    visit.vitals = Vitals {
        temperature_c: Some(3.0),
        ..Vitals::default()
    };
    let refused = store.save_encounter(&visit).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("Temperature of 3 °C is not possible"),
        "{refused}"
    );
    assert!(
        store
            .encounters_for_patient(patient.patient_id)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_signed_visit_is_read_only_and_takes_amendments() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let patient = store
        .register_patient(new_patient(&store, "Amina", "Odhiambo"))
        .unwrap();
    let mut visit = Encounter::new_draft(patient.patient_id, "Dr Achieng", Utc::now());
    visit.chief_complaint = "Fever for 3 days".into();
    visit.vitals.temperature_c = Some(38.9);
    visit.diagnoses.push(Diagnosis {
        code: Some("B54".into()),
        title: "Unspecified malaria".into(),
        primary: true,
    });
    visit.prescriptions.push(Prescription {
        medicine: "Artemether/lumefantrine".into(),
        strength: "20/120 mg".into(),
        dose: "4 tablets".into(),
        frequency: "twice a day".into(),
        duration: "3 days".into(),
        ..Prescription::default()
    });
    assert!(store.save_encounter(&visit).unwrap());
    visit.plan = "Review in 3 days".into();
    assert!(
        store.save_encounter(&visit).unwrap(),
        "a draft can still change"
    );

    let refused = store.sign_encounter(
        visit.encounter_id,
        &outpost::model::Signer::named("Nurse Peter"),
    );
    assert!(
        matches!(refused, Err(StoreError::NotAuthor { .. })),
        "{refused:?}"
    );
    let signed = store
        .sign_encounter(
            visit.encounter_id,
            &outpost::model::Signer::named("Dr Achieng"),
        )
        .unwrap();
    assert!(matches!(signed.status, EncounterStatus::Signed { .. }));
    assert_eq!(store.encounter(visit.encounter_id).unwrap(), signed);

    let mut edit = signed.clone();
    edit.plan = "Changed after signing".into();
    assert!(matches!(
        store.save_encounter(&edit),
        Err(StoreError::ReadOnly { .. })
    ));
    edit.status = EncounterStatus::Draft;
    assert!(
        matches!(
            store.save_encounter(&edit),
            Err(StoreError::ReadOnly { .. })
        ),
        "a signed visit cannot be turned back into a draft"
    );
    assert_eq!(
        store.encounter(visit.encounter_id).unwrap().plan,
        "Review in 3 days"
    );

    let amendment = Amendment {
        amendment_id: AmendmentId::new(),
        encounter_id: visit.encounter_id,
        text: "Temperature was 38.4 °C, not 38.9 °C.".into(),
        reason: "Transcription error".into(),
        author: "Dr Achieng".into(),
        author_id: None,
        created_at: Utc::now(),
        corrections: Default::default(),
    };
    let stored = store.add_amendment(&amendment).unwrap();
    assert_eq!(stored.text, amendment.text);
    assert_eq!(
        store.amendments(visit.encounter_id).unwrap(),
        vec![stored.clone()]
    );

    // A correction that would leave the visit impossible is refused, naming the field; the
    // signed visit and its amendments stay as they were.
    let mut impossible = amendment.clone();
    impossible.amendment_id = AmendmentId::new();
    impossible.corrections.vitals = vec![
        outpost::model::VitalCorrection {
            field: "systolic_mmhg".into(),
            value: Some(120.0),
        },
        outpost::model::VitalCorrection {
            field: "diastolic_mmhg".into(),
            value: Some(190.0),
        },
    ];
    match store.add_amendment(&impossible) {
        Err(StoreError::Invalid(v)) => assert!(v.message_for("diastolic_mmhg").is_some(), "{v:?}"),
        other => panic!("expected the correction to be refused, got {other:?}"),
    }
    let mut correct = amendment.clone();
    correct.amendment_id = AmendmentId::new();
    correct.text = String::new();
    correct.corrections.vitals = vec![outpost::model::VitalCorrection {
        field: "temperature_c".into(),
        value: Some(38.4),
    }];
    let corrected = store.add_amendment(&correct).unwrap();
    assert_eq!(
        store.amendments(visit.encounter_id).unwrap(),
        vec![stored, corrected.clone()]
    );
    let by_visit = store.amendments_for_patient(patient.patient_id).unwrap();
    let signed_now = store.encounter(visit.encounter_id).unwrap();
    assert_eq!(
        signed_now.vitals.temperature_c,
        Some(38.9),
        "the signed value stays"
    );
    assert_eq!(
        signed_now
            .as_amended(&by_visit[&visit.encounter_id])
            .vitals
            .temperature_c,
        Some(38.4)
    );

    // The clinic's medicines are offered first, by prefix and any case.
    let offered = store.suggest_medicines("artem", 5).unwrap();
    assert_eq!(
        offered.first().map(|m| m.medicine.as_str()),
        Some("Artemether/lumefantrine")
    );
    assert!(store.suggest_medicines("zz", 5).unwrap().is_empty());

    // Voiding needs a reason and keeps the visit.
    assert!(
        store
            .void_encounter(
                visit.encounter_id,
                &outpost::model::Signer::named("Dr Achieng"),
                " "
            )
            .is_err()
    );
    let voided = store
        .void_encounter(
            visit.encounter_id,
            &outpost::model::Signer::named("Dr Achieng"),
            "Entered for the wrong patient",
        )
        .unwrap();
    assert!(matches!(voided.status, EncounterStatus::Voided { .. }));
    assert_eq!(
        store
            .encounters_for_patient(patient.patient_id)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn allergies_distinguish_not_asked_from_no_known_allergies() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let patient = store
        .register_patient(new_patient(&store, "Amina", "Odhiambo"))
        .unwrap();
    assert_eq!(
        store.allergy_status(patient.patient_id).unwrap(),
        AllergyStatus::NotAsked
    );
    store
        .set_allergy_status(patient.patient_id, AllergyStatus::NoKnownAllergies)
        .unwrap();
    assert_eq!(
        store.allergy_status(patient.patient_id).unwrap(),
        AllergyStatus::NoKnownAllergies
    );
    let mut allergy = Allergy::new(patient.patient_id, "Penicillin");
    allergy.reaction = "Hives".into();
    store.save_allergy(&allergy).unwrap();
    assert_eq!(
        store.allergy_status(patient.patient_id).unwrap(),
        AllergyStatus::Recorded
    );
    allergy.active = false;
    store.save_allergy(&allergy).unwrap();
    assert_eq!(store.allergies(patient.patient_id).unwrap(), vec![allergy]);
    assert!(
        store
            .save_allergy(&Allergy::new(patient.patient_id, " "))
            .is_err()
    );
}

#[test]
fn icd10_codes_are_found_by_code_prefix_and_by_words() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    assert_eq!(store.ensure_icd10().unwrap(), 98_147);
    assert_eq!(store.ensure_icd10().unwrap(), 98_147, "loaded once");
    let by_code = store.search_icd10("j18", 5).unwrap();
    assert_eq!(by_code.first().map(|c| c.code.as_str()), Some("J18"));
    assert!(by_code.iter().all(|c| c.code.starts_with("J18")));
    let by_words = store.search_icd10("malar unspec", 10).unwrap();
    assert_eq!(by_words.first().map(|c| c.code.as_str()), Some("B54"));
    let e11 = store.search_icd10("E11.9", 3).unwrap();
    assert_eq!(
        e11.first().map(|c| c.title.as_str()),
        Some("Type 2 diabetes mellitus without complications")
    );
    assert!(store.search_icd10("qqqq", 5).unwrap().is_empty());
    assert!(store.search_icd10("\"", 5).unwrap().is_empty());
}

#[test]
fn the_patient_list_orders_by_each_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    for (given, family, year) in [
        ("Zawadi", "Álvarez", 2001),
        ("Amina", "Odhiambo", 1960),
        ("Baraka", "Barasa", 2020),
    ] {
        let mut p = new_patient(&store, given, family);
        p.birth = Some(DateOfBirth::exact(
            NaiveDate::from_ymd_opt(year, 1, 1).unwrap(),
        ));
        store.register_patient(p).unwrap();
    }
    let names_in = |sort, descending| -> Vec<String> {
        let order = store.patient_order(sort, descending).unwrap();
        store
            .patient_rows(&order)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    assert_eq!(
        names_in(PatientSort::Name, false),
        ["Álvarez, Zawadi", "Barasa, Baraka", "Odhiambo, Amina"]
    );
    assert_eq!(
        names_in(PatientSort::Name, true),
        ["Odhiambo, Amina", "Barasa, Baraka", "Álvarez, Zawadi"]
    );
    assert_eq!(
        names_in(PatientSort::Age, false),
        ["Barasa, Baraka", "Álvarez, Zawadi", "Odhiambo, Amina"]
    );
    assert_eq!(
        names_in(PatientSort::Number, true),
        ["Barasa, Baraka", "Odhiambo, Amina", "Álvarez, Zawadi"]
    );
    let reader = store.opener().open_reader().unwrap();
    assert_eq!(
        reader.patient_order(PatientSort::Name, false).unwrap(),
        store.patient_order(PatientSort::Name, false).unwrap()
    );
}

#[test]
fn the_demo_population_is_reproducible_and_uses_real_codes() {
    let options = DemoOptions {
        patients: 60,
        visits: 3..=10,
        seed: 7,
    };
    let mut populations = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_dir(dir.path()).unwrap();
        let mut reported = Vec::new();
        let summary = demo::generate(&mut store, &options, |done, total| {
            reported.push((done, total))
        })
        .unwrap();
        assert_eq!(summary.patients, 60);
        assert!((180..=600).contains(&summary.visits), "{summary:?}");
        assert_eq!(reported.last(), Some(&(60, 60)));
        let status = store.status().unwrap();
        assert_eq!(status.patients, 60);
        assert_eq!(status.visits as usize, summary.visits);
        store.ensure_icd10().unwrap();
        let order = store.patient_order(PatientSort::Number, false).unwrap();
        let rows = store.patient_rows(&order).unwrap();
        for row in rows.iter().take(10) {
            for visit in store.encounters_for_patient(row.patient_id).unwrap() {
                assert!(visit.validate().is_valid(), "{:?}", visit.validate());
                for d in &visit.diagnoses {
                    let code = d.code.as_deref().unwrap();
                    let found = store.search_icd10(code, 1).unwrap();
                    assert_eq!(
                        found.first().map(|c| (c.code.as_str(), c.title.as_str())),
                        Some((code, d.title.as_str()))
                    );
                }
            }
        }
        populations.push(
            rows.into_iter()
                .map(|r| (r.number, r.name, r.village))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(populations[0], populations[1]);
}

#[test]
fn icd10_words_rank_the_common_codes_and_this_clinics_own_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    store.ensure_icd10().unwrap();
    let codes = |store: &Store, text: &str| -> Vec<String> {
        store
            .search_icd10(text, 6)
            .unwrap()
            .into_iter()
            .map(|c| c.code)
            .collect()
    };
    // Falciparum malaria is the commonest in most clinics; "unspecified malaria" next.
    let malaria = codes(&store, "malaria");
    assert_eq!(malaria[..2], ["B50", "B54"], "{malaria:?}");
    assert_eq!(codes(&store, "malar unspec")[0], "B54");
    // A title that starts with the words typed comes before one that only contains them.
    let pneumonia = codes(&store, "pneumonia");
    assert_eq!(pneumonia[0], "J18.9", "{pneumonia:?}");

    // The codes this clinic signs most come first.
    let patient = store
        .register_patient(new_patient(&store, "Amina", "Achieng"))
        .unwrap();
    for _ in 0..2 {
        let mut visit = Encounter::new_draft(patient.patient_id, "Dr Achieng", Utc::now());
        visit.chief_complaint = "Fever".into();
        visit.diagnoses.push(Diagnosis {
            code: Some("B53.0".into()),
            title: "Plasmodium ovale malaria".into(),
            primary: true,
        });
        store.save_encounter(&visit).unwrap();
        store
            .sign_encounter(
                visit.encounter_id,
                &outpost::model::Signer::named("Dr Achieng"),
            )
            .unwrap();
    }
    assert_eq!(codes(&store, "malaria")[0], "B53.0");
}

#[test]
fn the_images_of_a_patient_seen_today_are_fetched_ahead_and_no_others() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let today = chrono::Local::now().date_naive();
    let start_of = |date: NaiveDate| date.and_hms_opt(9, 30, 0).unwrap().and_utc();
    let mut blobs = Vec::new();
    for (given, visit_day) in [
        ("Amina", today),
        ("Baraka", today.pred_opt().unwrap()),
        ("Chebet", today.succ_opt().unwrap()),
    ] {
        let patient = store
            .register_patient(new_patient(&store, given, "Otieno"))
            .unwrap();
        let visit = outpost::model::Encounter::new_draft(
            patient.patient_id,
            "Dr Achieng",
            start_of(visit_day),
        );
        store.save_encounter(&visit).unwrap();
        // The record of an image whose bytes are not on this workstation.
        let hash = outpost::sync::client::BlobHash::of_bytes(given.as_bytes());
        store
            .add_attachment(&outpost::model::Attachment::file(
                patient.patient_id,
                hash.clone(),
                5,
                "image/jpeg",
                "photo.jpg",
                Utc::now(),
            ))
            .unwrap();
        blobs.push(hash);
    }
    assert_eq!(
        store.blobs_to_download(today).unwrap(),
        vec![blobs[0].clone()],
        "only the patient with a visit today"
    );
}
