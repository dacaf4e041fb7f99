//! Merging a patient's two records and undoing it: through the app service on a real store (the
//! chart, the list, the search, the allergy check and the audit trail follow the merge, and an
//! undo puts everything back), and between two workstations of a clinic through the real server
//! (the merge syncs, a visit written to the retired record elsewhere lands on the survivor, the
//! other workstation undoes it, and opposite merges made at once converge).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/district.rs"]
mod district;
#[path = "support/stores.rs"]
mod stores;
mod support;

use chrono::{NaiveDate, Utc};
use outpost::app::{AppError, AppService, Command, Outcome};
use outpost::model::{
    Action, Allergy, AuditAction, DateOfBirth, Encounter, MergeStatus, Patient, PatientId,
    Prescription, Problem, ProblemId, ProblemStatus, QueueEntry, Role, Sex,
};
use outpost::store::{AuditFilter, MergeRefusal, PatientSort, SearchHit, Store, StoreError};

fn person(store: &Store, given: &str, phone: &str) -> Patient {
    let mut p = Patient::blank(store.clinic_id());
    p.given_name = given.into();
    p.family_name = "Odhiambo".into();
    p.sex = Sex::Male;
    p.birth = Some(DateOfBirth::exact(
        NaiveDate::from_ymd_opt(1979, 6, 14).unwrap(),
    ));
    p.phone = phone.into();
    p.village = "Kisumu Ndogo".into();
    p
}

fn register(service: &mut AppService, given: &str, phone: &str) -> Patient {
    let p = person(service.store(), given, phone);
    match service.execute(Command::RegisterPatient(p)).unwrap() {
        Outcome::PatientRegistered(p) => p,
        other => panic!("{other:?}"),
    }
}

fn visit(service: &mut AppService, patient_id: PatientId, complaint: &str) -> Encounter {
    let clinician = service.user().unwrap().full_name.clone();
    let mut visit = Encounter::new_draft(patient_id, &clinician, Utc::now());
    visit.clinician_id = Some(service.user().unwrap().user_id);
    visit.chief_complaint = complaint.into();
    service
        .execute(Command::SaveEncounter(visit.clone()))
        .unwrap();
    visit
}

fn complaints(store: &Store, patient_id: PatientId) -> Vec<String> {
    let mut found: Vec<String> = store
        .encounters_for_patient(patient_id)
        .unwrap()
        .into_iter()
        .map(|e| e.chief_complaint)
        .collect();
    found.sort();
    found
}

fn listed(store: &Store) -> Vec<PatientId> {
    let order = store.patient_order(PatientSort::default(), false).unwrap();
    store
        .patient_rows(&order)
        .unwrap()
        .into_iter()
        .map(|r| r.patient_id)
        .collect()
}

fn found_by(store: &Store, text: &str) -> Vec<(PatientId, SearchHit)> {
    store
        .search_patients(text, 20)
        .unwrap()
        .rows
        .into_iter()
        .map(|(row, hit)| (row.patient_id, hit))
        .collect()
}

fn audited(service: &AppService, action: AuditAction) -> Vec<outpost::model::AuditEntry> {
    service
        .store()
        .audit_entries(&AuditFilter {
            action: Some(action),
            ..AuditFilter::default()
        })
        .unwrap()
}

#[test]
fn a_merge_shows_both_records_in_one_chart_and_its_undo_puts_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = support::signed_in(Store::open_dir(dir.path()).unwrap());
    let first = register(&mut service, "Otieno", "0722 111 222");
    let second = register(&mut service, "Otiano", "0733 999 888");
    let (a, b) = (first.patient_id, second.patient_id);
    visit(&mut service, a, "Cough");
    visit(&mut service, b, "Headache");
    let mut allergy = Allergy::new(b, "Penicillin");
    allergy.reaction = "rash".into();
    service.execute(Command::SaveAllergy(allergy)).unwrap();
    service
        .execute(Command::SaveProblem(Problem {
            problem_id: ProblemId::new(),
            patient_id: b,
            code: Some("I10".into()),
            title: "Essential (primary) hypertension".into(),
            onset: None,
            status: ProblemStatus::Active,
        }))
        .unwrap();
    let before = service.store().patient_count().unwrap();

    // A merge needs a reason, two different records, and the role.
    let merge = |reason: &str, survivor, retired| Command::MergePatients {
        survivor,
        retired,
        reason: reason.into(),
    };
    assert!(matches!(
        service.execute(merge("  ", a, b)),
        Err(AppError::MergeReasonRequired)
    ));
    assert!(matches!(
        service.execute(merge("same man", a, a)),
        Err(AppError::Store(StoreError::MergeRefused(
            MergeRefusal::SameRecord
        )))
    ));
    support::add_user(&mut service, "wekesa", "Nurse Wekesa", &[Role::Nurse]);
    service.sign_in("wekesa", support::PASSWORD).unwrap();
    assert!(matches!(
        service.execute(merge("same man", a, b)),
        Err(AppError::Forbidden(Action::MergePatients))
    ));
    service.sign_in("achieng", support::PASSWORD).unwrap();

    let Outcome::PatientsMerged(made) = service
        .execute(merge("Same national ID card shown at both visits", a, b))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!((made.survivor, made.retired), (a, b));
    let store = service.store();
    // One chart shows both records; the retired one leaves the list and the count, and its
    // number and phone find the survivor.
    assert_eq!(complaints(store, a), ["Cough", "Headache"]);
    assert_eq!(store.allergies(a).unwrap()[0].substance, "Penicillin");
    assert_eq!(
        store.allergies(a).unwrap()[0].patient_id,
        b,
        "a record keeps the patient it was written to"
    );
    assert_eq!(store.problems(a).unwrap().len(), 1);
    assert_eq!(store.survivor_of(b).unwrap(), a);
    assert_eq!(store.merged_into(a).unwrap(), [b]);
    assert!(!listed(store).contains(&b) && listed(store).contains(&a));
    assert_eq!(store.patient_count().unwrap(), before - 1);
    let number = second.number.unwrap().to_string();
    assert_eq!(found_by(store, &number), [(a, SearchHit::Exact)]);
    assert_eq!(found_by(store, "0733999888"), [(a, SearchHit::Exact)]);
    assert!(
        found_by(store, "Otiano").is_empty(),
        "the name leaves the list"
    );
    // The merge is in the audit trail, under the survivor.
    let entries = audited(&service, AuditAction::PatientsMerged);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event.patient_id, Some(a));
    assert_eq!(entries[0].event.record_id, Some(made.merge_id.0));

    // The allergy written to the retired record stops amoxicillin in the survivor's chart.
    let mut draft = Encounter::new_draft(a, "Dr Achieng", Utc::now());
    draft.clinician_id = Some(service.user().unwrap().user_id);
    draft.prescriptions.push(Prescription {
        medicine: "Amoxicillin".into(),
        ..Prescription::default()
    });
    assert!(matches!(
        service.execute(Command::SaveEncounter(draft)),
        Err(AppError::AllergyAlert(_))
    ));
    // Arriving today under either record is one place in the queue, the survivor's.
    let Outcome::QueueChanged(arrived) = service.execute(Command::AddToQueue(b)).unwrap() else {
        panic!()
    };
    assert_eq!(arrived.patient_id, a);
    // Exported for another system, the survivor's record holds what was written to either, and
    // every reference names a patient the export holds (the retired record is not exported).
    let resources = service.export_fhir(outpost::app::ExportScope::All).unwrap();
    let patients: Vec<String> = resources
        .iter()
        .filter(|r| r["resourceType"] == "Patient")
        .map(|r| format!("urn:uuid:{}", r["id"].as_str().unwrap()))
        .collect();
    assert_eq!(patients, [format!("urn:uuid:{a}")]);
    let mut referenced = 0;
    for resource in &resources {
        for field in ["patient", "subject"] {
            if let Some(reference) = resource[field]["reference"].as_str() {
                assert!(patients.iter().any(|p| p == reference), "{resource}");
                referenced += 1;
            }
        }
    }
    assert!(
        referenced >= 4,
        "visits, the allergy and the problem: {referenced}"
    );
    // A merged record is not merged again, nor merged into.
    assert!(matches!(
        service.execute(merge("again", a, b)),
        Err(AppError::Store(StoreError::MergeRefused(
            MergeRefusal::AlreadyMerged
        )))
    ));

    // What is written to the survivor after the merge stays with it when the merge is undone.
    visit(&mut service, a, "Follow-up of the cough");
    let Outcome::MergeUndone(undone) = service.execute(Command::UndoMerge(made.merge_id)).unwrap()
    else {
        panic!()
    };
    assert!(undone.undone);
    let store = service.store();
    assert_eq!(complaints(store, a), ["Cough", "Follow-up of the cough"]);
    assert_eq!(complaints(store, b), ["Headache"]);
    assert!(store.allergies(a).unwrap().is_empty());
    assert_eq!(store.allergies(b).unwrap().len(), 1);
    assert_eq!(store.survivor_of(b).unwrap(), b);
    assert!(listed(store).contains(&b));
    assert_eq!(store.patient_count().unwrap(), before);
    assert_eq!(found_by(store, &number), [(b, SearchHit::Exact)]);
    assert_eq!(audited(&service, AuditAction::MergeUndone).len(), 1);
    assert!(matches!(
        service.execute(Command::UndoMerge(made.merge_id)),
        Err(AppError::Store(StoreError::MergeRefused(
            MergeRefusal::AlreadyUndone
        )))
    ));
}

/// Two workstations of one clinic, the second a colleague of the first.
async fn clinic(server: &district::Server, dir: &tempfile::TempDir) -> (AppService, AppService) {
    let front = district::workstation(server, dir, "Lake Clinic").await;
    let code = outpost::server::new_enrollment_code(
        server.store.as_ref(),
        front.clinic_id(),
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap();
    let mut front = support::signed_in(front);
    district::sync(front.store_for(Action::SyncNow).unwrap()).await;
    let mut back = district::enrolled(server, dir, "Room 2", &code, "Lake Clinic").await;
    district::sync(&mut back).await;
    // The administrator's account came with the pull: they sign in here too.
    (front, support::signed_in(back))
}

async fn sync(service: &mut AppService) {
    district::sync(service.store_for(Action::SyncNow).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_syncs_takes_a_visit_written_elsewhere_and_is_undone_at_the_other_workstation() {
    let server = district::start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut front, mut back) = clinic(&server, &dir).await;
    let kept = register(&mut front, "Otieno", "0722 111 222");
    let twice = register(&mut front, "Otiano", "0733 999 888");
    let (a, b) = (kept.patient_id, twice.patient_id);
    sync(&mut front).await;
    sync(&mut back).await;
    assert_eq!(back.store().patient(b).unwrap().given_name, "Otiano");

    // The front desk merges; the back room, not yet told, sees the second record and writes a
    // visit to it.
    let Outcome::PatientsMerged(merge) = front
        .execute(Command::MergePatients {
            survivor: a,
            retired: b,
            reason: "Same man: his card shows both numbers".into(),
        })
        .unwrap()
    else {
        panic!()
    };
    visit(&mut back, b, "Malaria test");
    sync(&mut front).await;
    sync(&mut back).await;
    sync(&mut front).await;
    for (place, service) in [("front", &front), ("back", &back)] {
        let store = service.store();
        assert_eq!(store.survivor_of(b).unwrap(), a, "{place}");
        assert_eq!(complaints(store, a), ["Malaria test"], "{place}");
        assert!(!listed(store).contains(&b), "{place}");
        assert_eq!(
            found_by(store, &twice.number.as_ref().unwrap().to_string()),
            [(a, SearchHit::Exact)],
            "{place}"
        );
    }
    // The visit stays the retired record's own: the server took it, nothing was held back.
    assert_eq!(back.store().encounters_for_patient(b).unwrap().len(), 1);
    assert!(back.store().held_changes().unwrap().is_empty());

    // The back room undoes the merge; the front desk hears of it.
    back.execute(Command::UndoMerge(merge.merge_id)).unwrap();
    sync(&mut back).await;
    sync(&mut front).await;
    for (place, service) in [("front", &front), ("back", &back)] {
        let store = service.store();
        assert_eq!(store.survivor_of(b).unwrap(), b, "{place}");
        assert!(complaints(store, a).is_empty(), "{place}");
        assert_eq!(complaints(store, b), ["Malaria test"], "{place}");
        assert!(listed(store).contains(&b), "{place}");
    }
    assert!(front.store().held_changes().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opposite_merges_made_at_once_converge_on_the_earlier() {
    let server = district::start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut front, mut back) = clinic(&server, &dir).await;
    let x = register(&mut front, "Otieno", "0722 111 222").patient_id;
    let y = register(&mut front, "Otiano", "0733 999 888").patient_id;
    let day = Utc::now().with_timezone(&chrono::Local).date_naive();
    front
        .store_for(Action::EditDemographics)
        .unwrap()
        .add_to_queue(&QueueEntry::arrival(y, day, Utc::now()))
        .unwrap();
    sync(&mut front).await;
    sync(&mut back).await;

    // Each keeps a different record, neither having heard of the other's merge.
    let reason = "One person";
    front
        .execute(Command::MergePatients {
            survivor: x,
            retired: y,
            reason: reason.into(),
        })
        .unwrap();
    back.execute(Command::MergePatients {
        survivor: y,
        retired: x,
        reason: reason.into(),
    })
    .unwrap();
    for _ in 0..2 {
        sync(&mut front).await;
        sync(&mut back).await;
    }
    let front_view = (
        front.store().survivor_of(x).unwrap(),
        front.store().survivor_of(y).unwrap(),
    );
    let back_view = (
        back.store().survivor_of(x).unwrap(),
        back.store().survivor_of(y).unwrap(),
    );
    assert_eq!(front_view, back_view, "both workstations show one record");
    let survivor = front_view.0;
    assert_eq!(
        survivor, front_view.1,
        "both records show under one survivor"
    );
    // The earlier merge (by the hybrid clock) stands; the other, which would close a circle, is
    // passed over, on both.
    for service in [&front, &back] {
        let mut statuses: Vec<MergeStatus> = service
            .store()
            .merges_of(x)
            .unwrap()
            .into_iter()
            .map(|m| m.status)
            .collect();
        statuses.sort_by_key(|s| format!("{s:?}"));
        assert_eq!(statuses, [MergeStatus::Applied, MergeStatus::Circular]);
    }
    assert_eq!(listed(front.store()), listed(back.store()));
    assert_eq!(listed(front.store()), [survivor]);
    // The queue entry written to Otiano's record shows as the survivor on both.
    assert_eq!(front.store().queue(day).unwrap()[0].patient_id, survivor);
    assert_eq!(back.store().queue(day).unwrap()[0].patient_id, survivor);
}
