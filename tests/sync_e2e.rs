//! Workstations and clinics syncing through the real server: workstations on real SQLite files,
//! the server on `127.0.0.1:0` over its own SQLite store, real gRPC in between. Workstations of
//! one clinic share everything; another clinic sees a patient once it opened them with a reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/district.rs"]
mod district;
#[path = "support/stores.rs"]
mod stores;
mod support;

use chrono::{NaiveDate, Utc};
use district::{Server, enrolled, start_server, sync, workstation};
use outpost::model::{DateOfBirth, Diagnosis, Encounter, Patient, Sex};
use outpost::store::{ConflictKind, Store};
use outpost::sync::client::SyncClient;
use outpost::sync::engine;
use tempfile::TempDir;

/// Another workstation of `of`'s clinic, enrolled with a code of its own.
async fn colleague(server: &Server, dir: &TempDir, of: &Store, name: &str) -> Store {
    let code = another_code(server, of.clinic_id());
    let clinic = engine::clinic_name(of).unwrap().unwrap();
    enrolled(server, dir, name, &code, &clinic).await
}

/// An enrollment code for another workstation of `clinic`.
fn another_code(server: &Server, clinic: outpost::model::ClinicId) -> String {
    outpost::server::new_enrollment_code(
        server.store.as_ref(),
        clinic,
        Utc::now().timestamp_millis(),
        outpost::server::DEFAULT_CODE_VALIDITY,
    )
    .unwrap()
}

/// Change records of patients and their records still in a workstation's log.
fn record_changes_in_log(store: &Store) -> i64 {
    let conn = rusqlite::Connection::open(store.status().unwrap().database_path).unwrap();
    conn.query_row(
        "SELECT count(*) FROM change_log WHERE entity <> 'user'",
        [],
        |row| row.get(0),
    )
    .unwrap()
}

fn patient(store: &Store, given: &str) -> Patient {
    let mut p = Patient::blank(store.clinic_id());
    p.given_name = given.into();
    p.family_name = "Achieng".into();
    p.sex = Sex::Female;
    p.birth = Some(DateOfBirth::exact(
        NaiveDate::from_ymd_opt(1988, 2, 29).unwrap(),
    ));
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clinic_sees_a_patient_only_once_opened_with_a_reason_and_adds_its_own_visit() {
    use outpost::server::{AccessKind, ShareReason};
    use outpost::sync::client::{PatientLookup, SyncError};
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = workstation(&server, &dir, "Hill Clinic").await;
    let mut b = workstation(&server, &dir, "River Clinic").await;

    // Each workstation numbers its patients under the prefix the server gave it.
    assert_eq!(a.workstation().number_prefix, "HIL1");
    assert_eq!(b.workstation().number_prefix, "RIV1");

    // Registered before the first sync: everything written offline goes up.
    let amina = a.register_patient(patient(&a, "Amina")).unwrap();
    assert_eq!(amina.number.as_ref().unwrap().to_string(), "HIL1-000001");
    let mut visit = Encounter::new_draft(amina.patient_id, "Dr Achieng", Utc::now());
    visit.chief_complaint = "Fever".into();
    visit.diagnoses.push(Diagnosis {
        code: Some("B54".into()),
        title: "Unspecified malaria".into(),
        primary: true,
    });
    a.save_encounter(&visit).unwrap();
    a.sign_encounter(
        visit.encounter_id,
        &outpost::model::Signer::named("Dr Achieng"),
    )
    .unwrap();
    let up = sync(&mut a).await;
    assert_eq!(up.pushed, 3, "registration, draft and signing: {up:?}");
    assert_eq!(a.status().unwrap().pending_changes, 0);

    // River's sync brings nothing of Hill's patients.
    let down = sync(&mut b).await;
    assert_eq!(down.pulled.applied, 0, "{down:?}");
    assert!(b.patient(amina.patient_id).is_err());
    assert!(b.search_patients("amin", 5).unwrap().rows.is_empty());

    // River looks her up at the district server by name and year of birth, then opens her
    // record for a referral.
    let client = SyncClient::connect(engine::client_config(&b).unwrap())
        .await
        .unwrap();
    let refused = client.pull_patient(amina.patient_id.0, 0).await;
    let refused = match refused {
        Ok(mut stream) => stream.next().await.map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(
        matches!(refused, Err(SyncError::PermissionDenied { .. })),
        "{refused:?}"
    );
    let found = engine::find_at_district(
        &client,
        &PatientLookup::NameAndBirthYear {
            family_name: "achieng".into(),
            birth_year: 1988,
        },
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].patient_id, amina.patient_id.0);
    assert_eq!(found[0].number, "HIL1-000001");
    assert_eq!(found[0].clinic_name, "Hill Clinic");
    assert!(!found[0].visible);
    let name_alone = engine::find_at_district(
        &client,
        &PatientLookup::NameAndBirthYear {
            family_name: "achieng".into(),
            birth_year: 0,
        },
    )
    .await;
    assert!(name_alone.is_err(), "a name alone finds too many people");
    let opened =
        engine::open_shared_patient(&mut b, &client, amina.patient_id.0, ShareReason::Referred)
            .await
            .unwrap();
    assert_eq!(opened, 3);

    // The patient appears at River, searchable, with the signed visit read-only.
    assert_eq!(b.patient(amina.patient_id).unwrap(), amina);
    assert_eq!(b.search_patients("amin", 5).unwrap().rows.len(), 1);
    let at_b = b.encounter(visit.encounter_id).unwrap();
    assert!(!at_b.is_draft());
    let mut edit = at_b.clone();
    edit.plan = "Changed at River".into();
    assert!(
        b.save_encounter(&edit).is_err(),
        "signed means read-only at River too"
    );

    // River adds its own visit; Hill's record of her is Hill's to change.
    let mut own_visit = Encounter::new_draft(amina.patient_id, "Dr Otieno", Utc::now());
    own_visit.chief_complaint = "Follow-up of the referral".into();
    b.save_encounter(&own_visit).unwrap();
    let mut edited = b.patient(amina.patient_id).unwrap();
    edited.village = "Siaya".into();
    b.update_patient(&edited).unwrap();
    let report = sync(&mut b).await;
    assert_eq!((report.pushed, report.refused), (1, 1), "{report:?}");
    let held = b.held_changes().unwrap();
    assert!(
        held[0].reason.contains("only that clinic"),
        "{}",
        held[0].reason
    );
    let report = sync(&mut a).await;
    assert_eq!(
        report.pulled.applied, 1,
        "River's visit reaches Hill: {report:?}"
    );
    assert_eq!(
        a.encounter(own_visit.encounter_id).unwrap().chief_complaint,
        "Follow-up of the referral"
    );
    assert_ne!(a.patient(amina.patient_id).unwrap().village, "Siaya");

    // From now on her record syncs to both: Hill's next change reaches River with the rest.
    let mut moved = a.patient(amina.patient_id).unwrap();
    moved.phone = "0711 000 111".into();
    a.update_patient(&moved).unwrap();
    sync(&mut a).await;
    let report = sync(&mut b).await;
    assert!(report.pulled.applied >= 1, "{report:?}");
    assert_eq!(b.patient(amina.patient_id).unwrap().phone, "0711 000 111");

    // Every read across the boundary is in the server's access log, with the reason.
    let log = server.store.access_log().unwrap();
    let kinds: Vec<(AccessKind, &str)> = log.iter().map(|e| (e.kind, e.reason.as_str())).collect();
    assert_eq!(
        kinds,
        vec![
            (AccessKind::Lookup, "by name and year of birth"),
            (AccessKind::Shared, "referred"),
            (AccessKind::Opened, ""),
        ]
    );
    assert!(
        log.iter()
            .all(|e| e.patient_id == amina.patient_id.0 && e.clinic_id == b.clinic_id())
    );

    // A second round with nothing new moves nothing.
    let quiet = sync(&mut a).await;
    assert_eq!((quiet.pushed, quiet.pulled.applied), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_converge_through_the_server_with_a_conflict_for_the_loser() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = workstation(&server, &dir, "Hill Clinic").await;
    let mut b = colleague(&server, &dir, &a, "Hill back room").await;
    let amina = a.register_patient(patient(&a, "Amina")).unwrap();
    sync(&mut a).await;
    sync(&mut b).await;
    sync(&mut a).await;
    // Acknowledged and pulled back, the registration left both logs: the edits below merge with
    // what the compacted record keeps.
    for store in [&a, &b] {
        assert_eq!(record_changes_in_log(store), 0);
    }

    let mut at_a = a.patient(amina.patient_id).unwrap();
    at_a.phone = "0711 111 111".into();
    at_a.notes = "Prefers morning visits".into();
    a.update_patient(&at_a).unwrap();
    let mut at_b = b.patient(amina.patient_id).unwrap();
    at_b.phone = "0722 222 222".into();
    at_b.village = "Siaya".into();
    b.update_patient(&at_b).unwrap();

    sync(&mut a).await;
    sync(&mut b).await;
    sync(&mut a).await;
    let (pa, pb) = (
        a.patient(amina.patient_id).unwrap(),
        b.patient(amina.patient_id).unwrap(),
    );
    assert_eq!(pa, pb);
    assert_eq!(pa.notes, "Prefers morning visits");
    assert_eq!(pa.village, "Siaya");
    assert_eq!(pa.phone, "0722 222 222");
    for store in [&a, &b] {
        let conflicts = store.conflicts().unwrap();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].kind, ConflictKind::Concurrent);
        assert_eq!(conflicts[0].other_value, "0711 111 111");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workstation_whose_clock_is_hours_ahead_is_held_days_ahead_refused_and_nothing_is_lost() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = workstation(&server, &dir, "Hill Clinic").await;
    let amina = a.register_patient(patient(&a, "Amina")).unwrap();
    sync(&mut a).await;

    // A's saved clock is two hours ahead (its wall clock was wrong when it last wrote).
    let ahead = Utc::now().timestamp_millis() + 2 * 3_600_000;
    let node = a.workstation().node_id.clone();
    let path = a.path().to_owned();
    drop(a);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = 'hlc_last'",
            [format!("{ahead:018}-000000-{node}")],
        )
        .unwrap();
    let mut a = Store::open(&path).unwrap();
    let mut edited = a.patient(amina.patient_id).unwrap();
    edited.phone = "0733 333 333".into();
    a.update_patient(&edited).unwrap();
    let report = sync(&mut a).await;
    assert_eq!(report.quarantined, 1, "{report:?}");
    let held = a.held_changes().unwrap();
    assert_eq!(held.len(), 1);
    assert!(held[0].reason.contains("ahead"), "{}", held[0].reason);
    // Kept here, not lost, and not passed on to other clinics yet.
    assert_eq!(a.patient(amina.patient_id).unwrap().phone, "0733 333 333");
    assert_eq!(server.store.last_seq().unwrap(), 1);

    // Two days ahead is no wrong clock the server waits for: the change is refused, and kept
    // here with the reason.
    let days = Utc::now().timestamp_millis() + 2 * 86_400_000;
    let path = a.path().to_owned();
    drop(a);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = 'hlc_last'",
            [format!("{days:018}-000000-{node}")],
        )
        .unwrap();
    let mut a = Store::open(&path).unwrap();
    let mut edited = a.patient(amina.patient_id).unwrap();
    edited.village = "Siaya".into();
    a.update_patient(&edited).unwrap();
    let report = sync(&mut a).await;
    assert_eq!(report.refused, 1, "{report:?}");
    let held = a.held_changes().unwrap();
    assert_eq!(held.len(), 2);
    assert!(
        held[1].reason.contains("more than a day"),
        "{}",
        held[1].reason
    );
    assert!(server.store.quarantined().unwrap().len() == 1);
    assert_eq!(server.store.last_seq().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_and_a_cut_pull_lose_nothing_and_duplicate_nothing() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = workstation(&server, &dir, "Hill Clinic").await;
    let mut b = colleague(&server, &dir, &a, "Hill back room").await;
    let forms: Vec<Patient> = (0..12)
        .map(|i| patient(&a, &format!("Patient{i}")))
        .collect();
    let mut batch = a.batch().unwrap();
    for form in forms {
        batch.register_patient(form).unwrap();
    }
    batch.commit().unwrap();

    // The server stores a push, but the answer never reaches the workstation (the line drops, or
    // the workstation restarts before recording it).
    let client = SyncClient::connect(engine::client_config(&a).unwrap())
        .await
        .unwrap();
    let pending = a.pending_changes(100).unwrap();
    assert_eq!(pending.len(), 12);
    client.push(&pending).await.unwrap();
    drop(client);
    let path = a.path().to_owned();
    drop(a);
    let mut a = Store::open(&path).unwrap();
    assert_eq!(
        a.status().unwrap().pending_changes,
        12,
        "still waiting after the restart"
    );
    let retry = sync(&mut a).await;
    assert_eq!(retry.pushed, 12, "answered as already stored: {retry:?}");
    assert_eq!(a.status().unwrap().pending_changes, 0);
    assert_eq!(
        server.store.last_seq().unwrap(),
        12,
        "no change stored twice"
    );

    // B's pull is cut after its first page; the next round resumes from the cursor.
    let client = SyncClient::connect(engine::client_config(&b).unwrap())
        .await
        .unwrap();
    let mut stream = client.pull(b.sync_cursor().unwrap(), 5).await.unwrap();
    let Some(outpost::sync::client::PullItem::Page(first)) = stream.next().await.unwrap() else {
        panic!("expected a page first");
    };
    let last = first.last().unwrap().0;
    b.apply_remote_page(&first, last).unwrap();
    drop(stream);
    assert_eq!(b.status().unwrap().patients, 5);
    let rest = sync(&mut b).await;
    assert_eq!(
        rest.pulled.applied, 7,
        "only what was not applied yet: {rest:?}"
    );
    assert_eq!(b.status().unwrap().patients, 12);
    assert_eq!(b.sync_cursor().unwrap(), 12);
}

#[derive(Clone, Debug)]
enum Step {
    /// Replica `r` edits field `f` of the shared patient to value `v`.
    Edit(usize, usize, u8),
    /// Replica `r` runs a whole round.
    Sync(usize),
    /// Replica `r` pushes, but the answer is lost (the line drops, the workstation restarts).
    LostReply(usize),
    /// Replica `r` pulls one small page, then the stream is cut.
    CutPull(usize),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0..3usize, 0..3usize, 0..3u8).prop_map(|(r, f, v)| Step::Edit(r, f, v)),
        3 => (0..3usize).prop_map(Step::Sync),
        1 => (0..3usize).prop_map(Step::LostReply),
        1 => (0..3usize).prop_map(Step::CutPull),
    ]
}

async fn run_steps(steps: Vec<Step>) {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = vec![workstation(&server, &dir, "Hill").await];
    for name in ["Hill back room", "Hill ward"] {
        let replica = colleague(&server, &dir, &replicas[0], name).await;
        replicas.push(replica);
    }
    let form = patient(&replicas[0], "Amina");
    let shared = replicas[0].register_patient(form).unwrap();
    for replica in replicas.iter_mut() {
        sync(replica).await;
    }
    let mut written = 1;
    for step in steps {
        match step {
            Step::Edit(r, f, v) => {
                let store = &mut replicas[r];
                let mut p = store.patient(shared.patient_id).unwrap();
                let value = format!("value {v} from {r}");
                match f {
                    0 => p.village = value,
                    1 => p.notes = value,
                    _ => p.next_of_kin.name = value,
                }
                if store.update_patient(&p).unwrap() {
                    written += 1;
                }
            }
            Step::Sync(r) => {
                sync(&mut replicas[r]).await;
            }
            Step::LostReply(r) => {
                let store = &replicas[r];
                let client = SyncClient::connect(engine::client_config(store).unwrap())
                    .await
                    .unwrap();
                let pending = store.pending_changes(100).unwrap();
                if !pending.is_empty() {
                    client.push(&pending).await.unwrap();
                }
            }
            Step::CutPull(r) => {
                let store = &mut replicas[r];
                let client = SyncClient::connect(engine::client_config(store).unwrap())
                    .await
                    .unwrap();
                let mut stream = client.pull(store.sync_cursor().unwrap(), 1).await.unwrap();
                if let Some(outpost::sync::client::PullItem::Page(page)) =
                    stream.next().await.unwrap()
                    && let Some(last) = page.last().map(|(seq, _)| *seq)
                {
                    store.apply_remote_page(&page, last).unwrap();
                }
            }
        }
    }
    for _ in 0..2 {
        for replica in replicas.iter_mut() {
            sync(replica).await;
        }
    }
    // What the server holds, as a new workstation of the clinic sees it: pulled page by page
    // and never compacted, so it merges from every change (each round of the replicas above
    // compacted what the server had acknowledged). Pages applied out of order are always
    // logged whole, never written in compacted form.
    let mut fresh = colleague(&server, &dir, &replicas[0], "Observer").await;
    let client = SyncClient::connect(engine::client_config(&fresh).unwrap())
        .await
        .unwrap();
    let mut stream = client.pull(fresh.sync_cursor().unwrap(), 7).await.unwrap();
    while let Some(item) = stream.next().await.unwrap() {
        if let outpost::sync::client::PullItem::Page(page) = item {
            fresh.apply_remote_out_of_order(&page).unwrap();
        }
    }

    let expected = fresh.patient(shared.patient_id).unwrap();
    let expected_conflicts = fresh.conflicts().unwrap();
    for store in &replicas {
        assert_eq!(store.patient(shared.patient_id).unwrap(), expected);
        assert_eq!(store.conflicts().unwrap(), expected_conflicts);
        assert_eq!(store.status().unwrap().pending_changes, 0);
        assert!(store.held_changes().unwrap().is_empty());
        if expected_conflicts.is_empty() {
            // Settled: the patient's changes left the log.
            assert!(store.change_log_size().unwrap() < fresh.change_log_size().unwrap());
        }
    }
    assert_eq!(
        server.store.last_seq().unwrap(),
        written,
        "every change stored exactly once"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, ..Default::default() })]

    /// Three workstations, random edits, random rounds, lost replies and cut pulls: every
    /// workstation and the server end with the same record and conflicts, and each change is
    /// stored once.
    #[test]
    fn every_replica_and_the_server_converge(steps in proptest::collection::vec(step(), 1..25)) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(run_steps(steps));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_upload_cut_anywhere_resumes_from_the_servers_offset() {
    use outpost::sync::client::BlobHash;
    use outpost::sync::wire::{BLOB_CHUNK_BYTES, pb};
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = workstation(&server, &dir, "Hill Clinic").await;
    let owner = a.register_patient(patient(&a, "Amina")).unwrap();
    let token = a.sync_setting("device_token").unwrap().unwrap();
    let client = SyncClient::connect(engine::client_config(&a).unwrap())
        .await
        .unwrap();
    let channel = tonic::transport::Channel::from_shared(server.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    for round in 0..6 {
        let size = rng.usize(1..4 * BLOB_CHUNK_BYTES);
        let data: Vec<u8> = (0..size).map(|_| rng.u8(..)).collect();
        let hash = BlobHash::of_bytes(&data);
        // The server takes only blobs a record of the clinic refers to.
        let photo = outpost::model::Attachment::file(
            owner.patient_id,
            hash.clone(),
            size as i64,
            "image/jpeg",
            "photo.jpg",
            Utc::now(),
        );
        a.add_attachment(&photo).unwrap();
        assert_eq!(sync(&mut a).await.pushed, if round == 0 { 2 } else { 1 });
        let cut = rng.usize(1..size);
        // The line drops after `cut` bytes, sent in chunks of random sizes.
        let mut chunks = Vec::new();
        let mut offset = 0;
        while offset < cut {
            let end = (offset + rng.usize(1..=BLOB_CHUNK_BYTES)).min(cut);
            chunks.push(pb::BlobChunk {
                sha256: hash.to_string(),
                offset: offset as u64,
                total_size: size as u64,
                data: data[offset..end].to_vec(),
            });
            offset = end;
        }
        let mut request = tonic::Request::new(tokio_stream::iter(chunks));
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let reply = pb::blobs_client::BlobsClient::new(channel.clone())
            .upload_blob(request)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.stored_offset, cut as u64, "round {round}");
        let status = client.blob_status(&hash).await.unwrap();
        assert_eq!(status.stored_offset, cut as u64);
        assert!(!status.complete);

        // The workstation resumes from the server's offset: nothing before it is sent again.
        let files = outpost::store::BlobFiles::new(dir.path().join(format!("blobs{round}")), None);
        files.write(&hash, &data).unwrap();
        let mut first_progress = None;
        client
            .upload_blob(&hash, files.open(&hash).unwrap().unwrap(), |done, _| {
                first_progress.get_or_insert(done);
            })
            .await
            .unwrap();
        if let Some(first) = first_progress {
            assert!(first >= cut as u64, "resumed at {first}, stored {cut}");
            assert!(
                first - cut as u64 <= BLOB_CHUNK_BYTES as u64,
                "at most one chunk re-sent"
            );
        }
        assert!(client.blob_status(&hash).await.unwrap().complete);
        let back = outpost::store::BlobFiles::new(dir.path().join(format!("back{round}")), None);
        client.download_blob(&hash, &back, |_, _| {}).await.unwrap();
        assert_eq!(back.read(&hash).unwrap().unwrap(), data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workstation_whose_clock_is_days_behind_is_corrected_by_the_server() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = workstation(&server, &dir, "Hill Clinic").await;
    let mut b = colleague(&server, &dir, &a, "Hill back room").await;
    let amina = a.register_patient(patient(&a, "Amina")).unwrap();
    sync(&mut a).await;
    sync(&mut b).await;

    // A's clock runs two days behind (as its last correction says), B's is right.
    a.set_clock_offset(-2 * 86_400_000).unwrap();
    let mut at_a = a.patient(amina.patient_id).unwrap();
    at_a.village = "Written at A, clock behind".into();
    a.update_patient(&at_a).unwrap();
    let mut at_b = b.patient(amina.patient_id).unwrap();
    at_b.village = "Written at B".into();
    b.update_patient(&at_b).unwrap();
    sync(&mut a).await;
    sync(&mut b).await;
    sync(&mut a).await;
    // The two edits were concurrent: the stamps decide, the loser is kept as a conflict.
    assert_eq!(
        a.patient(amina.patient_id).unwrap(),
        b.patient(amina.patient_id).unwrap()
    );
    assert_eq!(a.patient(amina.patient_id).unwrap().village, "Written at B");
    assert_eq!(a.conflicts().unwrap().len(), 1);

    // Syncing told A the server's time: its next edit is stamped right and wins as it should.
    assert_eq!(a.clock_offset().unwrap(), 0, "corrected");
    let mut again = a.patient(amina.patient_id).unwrap();
    again.village = "Corrected at A".into();
    a.update_patient(&again).unwrap();
    sync(&mut a).await;
    sync(&mut b).await;
    assert_eq!(
        b.patient(amina.patient_id).unwrap().village,
        "Corrected at A"
    );
    assert!(
        b.conflicts().unwrap().is_empty(),
        "a later edit that saw both values settles them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_images_reach_another_workstation_and_download_when_asked() {
    use outpost::imaging::{ImportOptions, collect_files, import_paths};
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut a = workstation(&server, &dir, "Hill Clinic").await;
    let mut b = colleague(&server, &dir, &a, "Hill back room").await;
    let registered = a.register_patient(patient(&a, "Wanjiru")).unwrap();
    let cd = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom/dicomdir_cd");
    let (files, _) = collect_files(&[cd]);
    let summary = import_paths(
        &mut a,
        &files,
        &ImportOptions::for_patient(registered.patient_id),
        |_| {},
    );
    assert_eq!(summary.imported, files.len());

    let report = sync(&mut a).await;
    assert_eq!(report.blobs_uploaded, files.len(), "every image went up");
    assert!(a.blobs_to_upload().unwrap().is_empty());
    // A second round sends nothing again.
    assert_eq!(sync(&mut a).await.blobs_uploaded, 0);

    sync(&mut b).await;
    let studies = b.studies(registered.patient_id).unwrap();
    assert_eq!(
        studies,
        a.studies(registered.patient_id).unwrap(),
        "same studies and series"
    );
    let first = studies[0].series[0].instances[0].blob.clone();
    // The rows came with sync; the bytes wait until someone asks (or the patient has a visit).
    assert!(!b.has_blob(&first));
    b.request_blob(&first).unwrap();
    let report = sync(&mut b).await;
    assert_eq!(report.blobs_downloaded, 1);
    assert_eq!(
        b.read_blob(&first).unwrap().unwrap(),
        a.read_blob(&first).unwrap().unwrap()
    );
    assert!(
        b.blobs_to_download(chrono::Local::now().date_naive())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_added_at_one_workstation_signs_in_at_another_offline_until_disabled() {
    use outpost::app::{AppError, AppService, Command, LoginError};
    use outpost::keys::KdfParams;
    use outpost::model::{Action, Role};
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let front = workstation(&server, &dir, "Hill Clinic").await;
    let mut front = support::signed_in(front);
    support::add_user(&mut front, "peter", "Nurse Peter", &[Role::Nurse]);

    // A second workstation of the same clinic, with no user of its own.
    let code = another_code(&server, front.store().clinic_id());
    let mut back = Store::open_dir(&dir.path().join("hill-back")).unwrap();
    engine::enroll(&mut back, &server.url, &code, "Back room", None, false)
        .await
        .unwrap();
    sync(front.store_for(Action::SyncNow).unwrap()).await;
    sync(&mut back).await;

    // The server's network is gone from here on: signing in needs none.
    let mut back = AppService::new(back).with_kdf(KdfParams::TEST_ONLY);
    assert!(!back.needs_setup().unwrap());
    back.sign_in("peter", support::PASSWORD).unwrap();
    assert_eq!(
        back.session().unwrap().data_key(),
        front.session().unwrap().data_key(),
        "the data key is the clinic's"
    );
    assert!(back.allows(Action::RecordVitals) && !back.allows(Action::SignVisit));
    back.sign_out().unwrap();

    let peter = front.store().users_named("peter").unwrap()[0].user_id;
    front
        .execute(Command::SetUserDisabled {
            user_id: peter,
            disabled: true,
        })
        .unwrap();
    // Until the back room syncs, it still knows Peter as enabled.
    back.sign_in("peter", support::PASSWORD).unwrap();
    back.sign_out().unwrap();
    sync(front.store_for(Action::SyncNow).unwrap()).await;
    // The back room syncs on its own (its sync runs with nobody signed in).
    let mut store = back.into_store().unwrap();
    sync(&mut store).await;
    let mut back = AppService::new(store).with_kdf(KdfParams::TEST_ONLY);
    assert!(matches!(
        back.sign_in("peter", support::PASSWORD),
        Err(AppError::Login(LoginError::Disabled))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_reaches_the_server_which_refuses_a_rewritten_chain() {
    use outpost::app::Command;
    use outpost::model::{Action, AuditAction, verify_chain};
    use outpost::sync::client::SyncError;
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let store = workstation(&server, &dir, "Hill Clinic").await;
    let mut service = support::signed_in(store);
    service
        .execute(Command::RegisterPatient(patient(service.store(), "Amina")))
        .unwrap();
    let report = sync(service.store_for(Action::SyncNow).unwrap()).await;
    let local = service.store().audit_chains().unwrap();
    assert!(report.audit_sent >= 3, "{report:?}");
    let held = server.store.audit_entries().unwrap();
    assert_eq!(
        held, local,
        "the server holds the workstation's chain as it is"
    );
    assert_eq!(verify_chain(&held), Ok(held.len() as u64));
    assert!(local.iter().any(|e| e.event.action == AuditAction::Sync));
    // A quiet round adds nothing.
    let quiet = sync(service.store_for(Action::SyncNow).unwrap()).await;
    assert_eq!(quiet.audit_sent, 0);
    assert_eq!(server.store.audit_entries().unwrap(), local);

    // The same device sends a rewritten entry, an entry past a gap, and another node's chain.
    let client = SyncClient::connect(engine::client_config(service.store()).unwrap())
        .await
        .unwrap();
    let mut rewritten = local[1].clone();
    rewritten.event.action = AuditAction::Export;
    rewritten.hash = rewritten.computed_hash();
    let refused = client.push_audit(&[rewritten]).await;
    assert!(
        matches!(&refused, Err(SyncError::Refused { reason, .. }) if reason.contains("rewritten")),
        "{refused:?}"
    );
    let mut forged = local.last().unwrap().clone();
    forged.seq += 5;
    forged.hash = forged.computed_hash();
    let refused = client.push_audit(&[forged]).await;
    assert!(
        matches!(&refused, Err(SyncError::Refused { reason, .. }) if reason.contains("missing")),
        "{refused:?}"
    );
    let mut other = local[0].clone();
    other.node_id = outpost::model::NodeId("someone-else".into());
    other.hash = other.computed_hash();
    let refused = client.push_audit(&[other]).await;
    assert!(
        matches!(&refused, Err(SyncError::Refused { reason, .. }) if reason.contains("another workstation")),
        "{refused:?}"
    );
    // Nothing of it was kept.
    assert_eq!(server.store.audit_entries().unwrap(), local);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workstation_set_up_before_it_enrolled_takes_the_clinics_key_and_its_users_join() {
    use outpost::app::{AppError, AppService, LoginError};
    use outpost::keys::KdfParams;
    use outpost::model::{Action, BlobHash, Role};
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let front = workstation(&server, &dir, "Hill Clinic").await;
    let mut front = support::signed_in(front);
    sync(front.store_for(Action::SyncNow).unwrap()).await;

    // A workstation used on its own first: its own administrator, key, patient and image.
    let outpost_dir = dir.path().join("outpost");
    let mut own = AppService::open_dir(&outpost_dir)
        .unwrap()
        .with_kdf(KdfParams::TEST_ONLY);
    own.set_up(outpost::app::FirstAdministrator {
        full_name: "Bwire Otieno".into(),
        user_name: "bwire".into(),
        password: support::PASSWORD.into(),
        confirm: support::PASSWORD.into(),
        also_clinician: true,
    })
    .unwrap();
    support::add_user(&mut own, "mercy", "Nurse Mercy", &[Role::Nurse]);
    let registered = patient(own.store(), "Auma");
    let registered = match own
        .execute(outpost::app::Command::RegisterPatient(registered))
        .unwrap()
    {
        outpost::app::Outcome::PatientRegistered(p) => p,
        other => panic!("{other:?}"),
    };
    let image = b"pixels of a photo taken at the outpost".repeat(5_000);
    let blob = BlobHash::of_bytes(&image);
    own.store_for(Action::WriteClinical)
        .unwrap()
        .put_blob(&blob, &image)
        .unwrap();
    let own_key = own.session().unwrap().data_key().clone();
    let clinic_key = front.session().unwrap().data_key().clone();
    assert_ne!(own_key, clinic_key);

    // It enrolls: the clinic's users arrive, but their key does not open its records yet.
    let code = another_code(&server, front.store().clinic_id());
    engine::enroll(
        own.store_to_enroll().unwrap(),
        &server.url,
        &code,
        "Outpost room",
        None,
        false,
    )
    .await
    .unwrap();
    own.sign_out().unwrap();
    assert!(matches!(
        own.sign_in("achieng", support::PASSWORD),
        Err(AppError::Login(LoginError::WrongKey))
    ));

    // Its administrator takes the clinic's key, proved by a clinic user's password.
    own.sign_in("bwire", support::PASSWORD).unwrap();
    assert!(matches!(
        own.adopt_clinic_key("achieng", "not the password"),
        Err(AppError::Login(LoginError::WrongPassword))
    ));
    assert!(own.adopt_clinic_key("achieng", support::PASSWORD).unwrap());
    assert_eq!(own.session().unwrap().data_key(), &clinic_key);
    assert!(!own.adopt_clinic_key("achieng", support::PASSWORD).unwrap());
    own.sign_out().unwrap();
    drop(own);

    // From now on the clinic's users open it, offline, with every record and image; its own
    // users keep their passwords.
    let mut own = AppService::open_dir(&outpost_dir)
        .unwrap()
        .with_kdf(KdfParams::TEST_ONLY);
    own.sign_in("achieng", support::PASSWORD).unwrap();
    assert_eq!(
        own.store()
            .patient(registered.patient_id)
            .unwrap()
            .given_name,
        "Auma"
    );
    assert_eq!(own.store().read_blob(&blob).unwrap().unwrap(), image);
    let sealed = std::fs::read(own.store().blob_path(&blob)).unwrap();
    let clinic_files =
        outpost::store::BlobFiles::new(own.store().blob_dir(), Some(clinic_key.blob_key()));
    assert_eq!(clinic_files.read(&blob).unwrap().unwrap(), image);
    assert!(!sealed.windows(20).any(|w| w == &image[..20]));
    own.sign_out().unwrap();
    own.sign_in("mercy", support::PASSWORD).unwrap();
    assert_eq!(own.session().unwrap().data_key(), &clinic_key);
    own.sign_out().unwrap();

    // Mercy's slot now holds the clinic's key: after a sync she signs in at the front desk.
    let mut store = own.into_store().unwrap();
    sync(&mut store).await;
    sync(front.store_for(Action::SyncNow).unwrap()).await;
    front.sign_out().unwrap();
    front.sign_in("mercy", support::PASSWORD).unwrap();
    assert_eq!(
        front
            .store()
            .patient(registered.patient_id)
            .unwrap()
            .given_name,
        "Auma"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workstation_restored_from_its_backup_takes_over_and_nothing_is_lost_or_doubled() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut front = workstation(&server, &dir, "Hill Clinic").await;
    let old_device: uuid::Uuid = front
        .sync_setting("device_id")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    // Before the backup: one patient sent, one written and not sent yet.
    let sent = front.register_patient(patient(&front, "Sent")).unwrap();
    sync(&mut front).await;
    let unsent = front.register_patient(patient(&front, "Unsent")).unwrap();
    let backup = dir.path().join("backup");
    front.backup_to(&backup).unwrap();
    // After the backup: the unsent one goes, and another is written and sent.
    let later = front.register_patient(patient(&front, "Later")).unwrap();
    sync(&mut front).await;
    let stored_before = server.store.device_changes(old_device).unwrap().len();

    // The workstation's disk dies; its backup is restored on another computer.
    let restored_dir = dir.path().join("restored");
    let report = outpost::store::restore_backup(&backup, &restored_dir).unwrap();
    assert!(report.files >= 1, "the database at least");
    let mut restored = Store::open_dir(&restored_dir).unwrap();
    assert!(restored.is_restored_copy());
    assert_eq!(restored.patient_count().unwrap(), 2, "what the backup held");
    // It works at once, but does not sync as the workstation it was copied from.
    assert!(matches!(
        engine::client_config(&restored),
        Err(engine::EngineError::RestoredCopy)
    ));
    // Taking over needs a copy restored from an enrolled workstation.
    let mut fresh = Store::open_dir(&dir.path().join("fresh")).unwrap();
    let code = another_code(&server, front.clinic_id());
    assert!(matches!(
        engine::enroll(&mut fresh, &server.url, &code, "New", None, true).await,
        Err(engine::EngineError::NothingToTakeOver)
    ));

    // It takes over the old workstation with a new code.
    engine::enroll(
        &mut restored,
        &server.url,
        &code,
        "Front desk (restored)",
        None,
        true,
    )
    .await
    .unwrap();
    assert!(!restored.is_restored_copy());
    sync(&mut restored).await;
    // Everything, once: the patient pushed after the backup came back from the server.
    assert_eq!(restored.patient_count().unwrap(), 3);
    for p in [&sent, &unsent, &later] {
        assert_eq!(
            restored.patient(p.patient_id).unwrap().given_name,
            p.given_name
        );
    }
    // Nothing stored twice: what the restored copy sent again, the server already had.
    let new_device: uuid::Uuid = restored
        .sync_setting("device_id")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert!(server.store.device_changes(new_device).unwrap().is_empty());
    assert_eq!(
        server.store.device_changes(old_device).unwrap().len(),
        stored_before
    );
    assert_ne!(
        restored.workstation().node_id,
        front.workstation().node_id,
        "its own clock node from now on"
    );
    // The old workstation is revoked: if it comes back, it cannot sync as a second one.
    let devices = server.store.devices().unwrap();
    let old = devices.iter().find(|d| d.device_id == old_device).unwrap();
    assert!(old.revoked_at_millis.is_some());
    let client = SyncClient::connect(engine::client_config(&front).unwrap())
        .await
        .unwrap();
    assert!(matches!(
        engine::sync_once(&mut front, &client, |_| {}).await,
        Err(engine::EngineError::Server(
            outpost::sync::client::SyncError::Unauthenticated { .. }
        ))
    ));

    // A workstation whose disk dies right after its backup, with a change it never sent: taking
    // over, the restored copy sends it, stamped as the old workstation stamped it.
    let mut ward = colleague(&server, &dir, &front, "ward").await;
    sync(&mut ward).await;
    let orphan = ward.register_patient(patient(&ward, "Orphan")).unwrap();
    let ward_backup = dir.path().join("ward-backup");
    ward.backup_to(&ward_backup).unwrap();
    drop(ward);
    let ward_restored_dir = dir.path().join("ward-restored");
    outpost::store::restore_backup(&ward_backup, &ward_restored_dir).unwrap();
    let mut ward_restored = Store::open_dir(&ward_restored_dir).unwrap();
    let code = another_code(&server, front.clinic_id());
    engine::enroll(&mut ward_restored, &server.url, &code, "Ward", None, true)
        .await
        .unwrap();
    let report = sync(&mut ward_restored).await;
    assert_eq!(report.refused, 0, "{report:?}");
    sync(&mut restored).await;
    assert_eq!(
        restored.patient(orphan.patient_id).unwrap().given_name,
        "Orphan",
        "the change only the backup held reached the clinic"
    );

    // Restored again, beside a workstation still in use: a new workstation with its own node.
    let beside_dir = dir.path().join("beside");
    outpost::store::restore_backup(&backup, &beside_dir).unwrap();
    let mut beside = Store::open_dir(&beside_dir).unwrap();
    let code = another_code(&server, front.clinic_id());
    engine::enroll(&mut beside, &server.url, &code, "Second desk", None, false)
        .await
        .unwrap();
    assert_ne!(beside.workstation().node_id, front.workstation().node_id);
    sync(&mut beside).await;
    assert_eq!(beside.patient_count().unwrap(), 4);
    let active = server
        .store
        .devices()
        .unwrap()
        .into_iter()
        .filter(|d| d.revoked_at_millis.is_none())
        .count();
    assert_eq!(
        active, 3,
        "the two restored in place of theirs, and the one beside"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinics_letterhead_reaches_its_other_workstations_and_no_other_clinic() {
    use outpost::app::{Command, LogoChange};
    use outpost::model::Action;
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let front = workstation(&server, &dir, "Hill Clinic").await;
    let mut front = support::signed_in(front);
    let mut back = colleague(&server, &dir, front.store(), "hill-back").await;
    let mut elsewhere = workstation(&server, &dir, "River Clinic").await;

    // A logo far larger than a letterhead keeps.
    let logo = image::RgbImage::from_fn(1200, 800, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut png = Vec::new();
    logo.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    front
        .execute(Command::SaveLetterhead {
            clinic_name: "Hill Clinic".into(),
            address: "PO Box 12, Hill Road".into(),
            phone: "+254 700 111222".into(),
            logo: LogoChange::Set(png),
        })
        .unwrap();
    let set = front.store().letterhead().unwrap().unwrap();
    let small = image::load_from_memory(&set.logo_png).unwrap();
    assert!(small.width() <= outpost::model::LOGO_PIXELS);
    assert_eq!(
        small.width() * 2,
        small.height() * 3,
        "the logo keeps its shape"
    );

    sync(front.store_for(Action::SyncNow).unwrap()).await;
    sync(&mut back).await;
    sync(&mut elsewhere).await;
    assert_eq!(back.letterhead().unwrap(), Some(set.clone()));
    assert_eq!(elsewhere.letterhead().unwrap(), None);

    // A change at the back room comes back to the front desk: one letterhead, edited.
    let mut back = support::signed_in(back);
    back.execute(Command::SaveLetterhead {
        clinic_name: "Hill Clinic".into(),
        address: "PO Box 12, Hill Road".into(),
        phone: "+254 700 333444".into(),
        logo: LogoChange::Keep,
    })
    .unwrap();
    sync(back.store_for(Action::SyncNow).unwrap()).await;
    sync(front.store_for(Action::SyncNow).unwrap()).await;
    let now = front.store().letterhead().unwrap().unwrap();
    assert_eq!(now.phone, "+254 700 333444");
    assert_eq!(now.letterhead_id, set.letterhead_id);
    assert_eq!(now.logo_png, set.logo_png);
}
