//! The day's queue through the app service, on a hand-moved clock: a receptionist adds three
//! arrivals, a nurse's triage reorders them by the ETAT signs, a clinician sees the first in the
//! order and finishes; roles are checked; one patient has one open place; and the queue is the
//! same at another workstation of the clinic once they have synced through the real server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/district.rs"]
mod district;
#[path = "support/stores.rs"]
mod stores;
mod support;

use chrono::{TimeZone, Utc};
use outpost::app::{AppError, AppService, Clock, Command, ManualClock, Outcome};
use outpost::keys::KdfParams;
use outpost::model::{Patient, PatientId, Priority, QueueEntry, QueueState, Role, Sex, TriageSign};
use outpost::store::Store;
use std::sync::Arc;

fn register(service: &mut AppService, given: &str) -> PatientId {
    let mut p = Patient::blank(service.store().clinic_id());
    p.given_name = given.into();
    p.family_name = "Mwangi".into();
    p.sex = Sex::Female;
    match service.execute(Command::RegisterPatient(p)).unwrap() {
        Outcome::PatientRegistered(p) => p.patient_id,
        other => panic!("{other:?}"),
    }
}

fn entry(outcome: Outcome) -> QueueEntry {
    match outcome {
        Outcome::QueueChanged(entry) => entry,
        other => panic!("{other:?}"),
    }
}

fn order(service: &AppService, clock: &ManualClock) -> Vec<PatientId> {
    let day = clock.now().with_timezone(&chrono::Local).date_naive();
    service
        .store()
        .queue(day)
        .unwrap()
        .into_iter()
        .map(|e| e.patient_id)
        .collect()
}

#[test]
fn a_clinic_morning_arrivals_triage_and_the_clinician_sees_the_first() {
    let dir = tempfile::tempdir().unwrap();
    // Half past seven in the morning, local time, so the day is the same in every time zone
    // the test runs in.
    let morning = chrono::Local
        .with_ymd_and_hms(2026, 12, 4, 7, 30, 0)
        .unwrap()
        .with_timezone(&Utc);
    let clock = ManualClock::new(morning);
    let store = Store::open_dir(dir.path()).unwrap();
    let mut service =
        AppService::with_clock(store, Arc::new(clock.clone())).with_kdf(KdfParams::TEST_ONLY);
    service
        .set_up(outpost::app::FirstAdministrator {
            full_name: "Dr Achieng".into(),
            user_name: "achieng".into(),
            password: support::PASSWORD.into(),
            confirm: support::PASSWORD.into(),
            also_clinician: true,
        })
        .unwrap();
    support::add_user(
        &mut service,
        "rose",
        "Rose Reception",
        &[Role::Receptionist],
    );
    support::add_user(&mut service, "nuru", "Nurse Nuru", &[Role::Nurse]);
    let amina = register(&mut service, "Amina");
    let baraka = register(&mut service, "Baraka");
    let chausiku = register(&mut service, "Chausiku");

    // Reception: three arrivals, ten minutes apart.
    service.sign_in("rose", support::PASSWORD).unwrap();
    let mut entries = Vec::new();
    for patient in [amina, baraka, chausiku] {
        entries.push(entry(
            service.execute(Command::AddToQueue(patient)).unwrap(),
        ));
        clock.advance(chrono::Duration::minutes(10));
    }
    assert_eq!(order(&service, &clock), [amina, baraka, chausiku]);
    assert!(entries.iter().all(|e| e.state == QueueState::Arrived));
    // Amina again (she went out and came back): the same place in the queue.
    let again = entry(service.execute(Command::AddToQueue(amina)).unwrap());
    assert_eq!(again.queue_entry_id, entries[0].queue_entry_id);
    assert_eq!(order(&service, &clock).len(), 3);
    // Reception does not triage.
    assert!(matches!(
        service.execute(Command::TriageQueueEntry {
            queue_entry_id: entries[0].queue_entry_id,
            signs: vec![],
        }),
        Err(AppError::Forbidden(_))
    ));

    // The nurse: Amina routine, Baraka in severe pain (urgent), Chausiku convulsing
    // (emergency). The queue reorders.
    service.sign_in("nuru", support::PASSWORD).unwrap();
    for (e, signs) in [
        (&entries[0], vec![]),
        (&entries[1], vec![TriageSign::SeverePain]),
        (
            &entries[2],
            vec![TriageSign::Convulsions, TriageSign::VeryHighFever],
        ),
    ] {
        service
            .execute(Command::TriageQueueEntry {
                queue_entry_id: e.queue_entry_id,
                signs,
            })
            .unwrap();
    }
    assert_eq!(order(&service, &clock), [chausiku, baraka, amina]);
    let day = clock.now().with_timezone(&chrono::Local).date_naive();
    let queue = service.store().queue(day).unwrap();
    assert_eq!(
        queue.iter().map(|e| e.priority).collect::<Vec<_>>(),
        [
            Some(Priority::Emergency),
            Some(Priority::Urgent),
            Some(Priority::Routine)
        ]
    );
    assert_eq!(queue[2].minutes_waited(clock.now()), 30);
    // A nurse does not see patients as a clinician.
    assert!(matches!(
        service.execute(Command::SeeQueueEntry(queue[0].queue_entry_id)),
        Err(AppError::Forbidden(_))
    ));

    // The clinician takes the first: Chausiku, with Dr Achieng; then done.
    service.sign_in("achieng", support::PASSWORD).unwrap();
    let first = service.store().queue(day).unwrap()[0].clone();
    assert_eq!(first.patient_id, chausiku);
    let seeing = entry(
        service
            .execute(Command::SeeQueueEntry(first.queue_entry_id))
            .unwrap(),
    );
    assert_eq!(seeing.state, QueueState::WithClinician);
    assert_eq!(seeing.clinician, "Dr Achieng");
    // Waiting first, then being seen.
    assert_eq!(order(&service, &clock), [baraka, amina, chausiku]);
    let done = entry(
        service
            .execute(Command::FinishQueueEntry(first.queue_entry_id))
            .unwrap(),
    );
    assert_eq!(done.state, QueueState::Done);
    // Amina leaves without being seen.
    service.sign_in("rose", support::PASSWORD).unwrap();
    service
        .execute(Command::QueueEntryLeft(entries[0].queue_entry_id))
        .unwrap();
    let states: Vec<(PatientId, QueueState)> = service
        .store()
        .queue(day)
        .unwrap()
        .into_iter()
        .map(|e| (e.patient_id, e.state))
        .collect();
    assert_eq!(
        states,
        [
            (baraka, QueueState::Triaged),
            (chausiku, QueueState::Done),
            (amina, QueueState::LeftUnseen)
        ]
    );
    // Each step is a change record that syncs: three arrivals (the second arrival of Amina
    // wrote nothing), three triages, seeing, finishing, leaving.
    let path = service.store().status().unwrap().database_path;
    let key = service.session().unwrap().data_key().clone();
    let changes: i64 = support::keyed_connection(&path, &key)
        .query_row(
            "SELECT count(*) FROM change_log WHERE entity = 'queue_entry'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(changes, 3 + 3 + 1 + 1 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rooms_see_one_queue() {
    let server = district::start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut front = district::workstation(&server, &dir, "Hill Clinic").await;
    let code = outpost::server::new_enrollment_code(
        server.store.as_ref(),
        front.clinic_id(),
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let mut room = district::enrolled(&server, &dir, "Room 2", &code, "Hill Clinic").await;

    let mut p = Patient::blank(front.clinic_id());
    p.given_name = "Amina".into();
    p.family_name = "Mwangi".into();
    let amina = front.register_patient(p).unwrap();
    let day = Utc::now().with_timezone(&chrono::Local).date_naive();
    let arrival = front
        .add_to_queue(&QueueEntry::arrival(amina.patient_id, day, Utc::now()))
        .unwrap();
    district::sync(&mut front).await;
    district::sync(&mut room).await;
    let seen_there = room.queue(day).unwrap();
    assert_eq!(seen_there.len(), 1);
    assert_eq!(seen_there[0].queue_entry_id, arrival.queue_entry_id);

    // Triage in the second room comes back to the front desk.
    let mut triaged = seen_there[0].clone();
    triaged.signs = vec![TriageSign::TinyBaby];
    triaged.priority = Some(Priority::Urgent);
    triaged.state = QueueState::Triaged;
    assert!(room.save_queue_entry(&triaged).unwrap());
    district::sync(&mut room).await;
    district::sync(&mut front).await;
    assert_eq!(front.queue(day).unwrap(), vec![triaged.clone()]);

    // Folded into its record once the server has it (sync compacts after each round), the
    // entry reads the same, and takes a further change.
    front.compact_all(100, |_, _| {}).unwrap();
    let compacted: bool = rusqlite::Connection::open(front.status().unwrap().database_path)
        .unwrap()
        .query_row(
            "SELECT merge_state IS NOT NULL FROM queue_entry",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(compacted);
    assert_eq!(front.queue(day).unwrap(), vec![triaged.clone()]);
    let mut seen = triaged;
    seen.state = QueueState::WithClinician;
    seen.clinician = "Dr Achieng".into();
    assert!(front.save_queue_entry(&seen).unwrap());
    district::sync(&mut front).await;
    district::sync(&mut room).await;
    assert_eq!(room.queue(day).unwrap(), vec![seen]);
}

/// A signed visit `ago` days ago (noon UTC) asking the patient back on `due_in` days from it.
fn visit_with_follow_up(
    patient: &Patient,
    ago: i64,
    due_in: Option<i64>,
    today: chrono::NaiveDate,
) -> outpost::model::Encounter {
    let day = today - chrono::TimeDelta::days(ago);
    let at = Utc.from_utc_datetime(&day.and_hms_opt(12, 0, 0).unwrap());
    let mut v = outpost::model::Encounter::new_draft(patient.patient_id, "Dr Test", at);
    v.diagnoses = vec![outpost::model::Diagnosis {
        code: Some("I10".into()),
        title: "Essential (primary) hypertension".into(),
        primary: true,
    }];
    v.follow_up = due_in.map(|d| day + chrono::TimeDelta::days(d));
    v.status = outpost::model::EncounterStatus::Signed {
        signed_by: "Dr Test".into(),
        signed_at: at,
        signer_id: None,
        signer_role: Some(Role::Clinician),
    };
    v
}

#[test]
fn follow_ups_expected_today_and_missed_with_their_phones_printed() {
    let dir = tempfile::tempdir().unwrap();
    // Noon UTC is the same calendar day in the time zones clinics are in.
    let today = Utc::now().with_timezone(&chrono::Local).date_naive();
    let mut people = Vec::new();
    let mut service = support::demo_clinic(dir.path(), None, |store| {
        let clinic = store.clinic_id();
        let mut batch = store.batch().unwrap();
        for (given, phone) in [
            ("Asha", "+255 700 000 001"),
            ("Bakari", "+255 700 000 002"),
            ("Cheupe", "+255 700 000 003"),
            ("Dalila", ""),
        ] {
            let mut p = Patient::blank(clinic);
            p.given_name = given.into();
            p.family_name = "Juma".into();
            p.phone = phone.into();
            people.push(batch.register_patient(p).unwrap());
        }
        for v in [
            // Asha: asked back 3 days ago, not seen since.
            visit_with_follow_up(&people[0], 10, Some(7), today),
            // Bakari: asked back 5 days ago, came the day after.
            visit_with_follow_up(&people[1], 12, Some(7), today),
            visit_with_follow_up(&people[1], 4, None, today),
            // Cheupe: asked back today.
            visit_with_follow_up(&people[2], 14, Some(14), today),
            // Dalila: asked back 20 days ago, came 5 days late.
            visit_with_follow_up(&people[3], 30, Some(10), today),
            visit_with_follow_up(&people[3], 15, None, today),
        ] {
            batch.insert_encounter(&v).unwrap();
        }
        batch.commit().unwrap();
    });
    let names = |list: &[outpost::store::FollowUp]| {
        list.iter()
            .map(|f| f.patient.given_name.clone())
            .collect::<Vec<_>>()
    };
    let expected = service.store().follow_ups(today, today).unwrap();
    assert_eq!(names(&expected), ["Cheupe"]);
    assert_eq!(expected[0].reason, "Essential (primary) hypertension");
    // Two days of grace: Asha (none since) and Dalila (five days late) missed theirs.
    let missed = service.missed_follow_ups(today, 2).unwrap();
    assert_eq!(names(&missed), ["Dalila", "Asha"]);
    // A week of grace: Asha's week is not over, and Dalila came within it.
    assert!(service.missed_follow_ups(today, 7).unwrap().is_empty());

    // The printed list names them with their phones (or says there is none), not the others;
    // the print is audited.
    let audited = |service: &AppService| {
        service
            .store()
            .audit_entries(&outpost::store::AuditFilter {
                action: Some(outpost::model::AuditAction::Print),
                ..Default::default()
            })
            .unwrap()
            .len()
    };
    let before = audited(&service);
    let pdf = service
        .missed_follow_ups_pdf(today, 2, outpost::documents::Paper::A4)
        .unwrap();
    assert_eq!(audited(&service), before + 1);
    let file = dir.path().join("missed.pdf");
    std::fs::write(&file, pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    let text = String::from_utf8_lossy(&text.stdout);
    for word in ["Juma, Asha", "+255 700 000 001", "Juma, Dalila", "no phone"] {
        assert!(text.contains(word), "{word} in {text}");
    }
    for word in ["Bakari", "Cheupe"] {
        assert!(!text.contains(word), "{word} in {text}");
    }
}
