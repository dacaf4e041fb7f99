//! The records API as other programs use it: the real server on `127.0.0.1:0` (SQLite, and
//! PostgreSQL when `bash .ci/test` runs it again), a workstation that registered a patient and
//! signed a visit, and service accounts calling `outpost.records.v1` over real gRPC — the
//! Python example client generated from the `.proto` with grpcio-tools, and Rust's tonic client
//! for the rules: scopes, clinics, credentials, bad input, the change feed, the access log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/district.rs"]
mod district;
#[path = "support/stores.rs"]
mod stores;
mod support;

use chrono::{NaiveDate, Utc};
use district::{Server, start_server, sync, workstation};
use outpost::model::{DateOfBirth, Diagnosis, Encounter, EncounterStatus, Patient, Sex};
use outpost::server::records_pb::{self as pb, records_client::RecordsClient};
use outpost::server::{AccessKind, ServerStore, ServiceScope, add_service_account};
use outpost::store::Store;
use outpost::sync::engine;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use support::python;
use tonic::transport::Channel;
use tonic::{Code, Request};

/// A patient with a signed visit for malaria, synced to the server.
async fn patient_with_a_visit(store: &mut Store, family: &str) -> Patient {
    let mut p = Patient::blank(store.clinic_id());
    p.given_name = "Amina".into();
    p.family_name = family.into();
    p.sex = Sex::Female;
    p.birth = Some(DateOfBirth::exact(
        NaiveDate::from_ymd_opt(1988, 2, 29).unwrap(),
    ));
    let p = store.register_patient(p).unwrap();
    let mut visit = Encounter::new_draft(p.patient_id, "Dr Achieng", Utc::now());
    visit.chief_complaint = "Fever".into();
    visit.diagnoses.push(Diagnosis {
        code: Some("B54".into()),
        title: "Unspecified malaria".into(),
        primary: true,
    });
    visit.vitals.temperature_c = Some(38.9);
    store.save_encounter(&visit).unwrap();
    store
        .sign_encounter(
            visit.encounter_id,
            &outpost::model::Signer::named("Dr Achieng"),
        )
        .unwrap();
    sync(store).await;
    p
}

fn token(
    store: &Arc<dyn ServerStore>,
    clinic: outpost::model::ClinicId,
    scope: ServiceScope,
) -> (uuid::Uuid, String) {
    let added = add_service_account(
        store.as_ref(),
        clinic,
        "District laboratory",
        scope,
        Utc::now().timestamp_millis(),
    )
    .unwrap();
    (added.account.device_id, added.token)
}

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn client(server: &Server) -> RecordsClient<Channel> {
    RecordsClient::connect(server.url.clone()).await.unwrap()
}

fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {key:?} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_finds_a_patient_and_posts_a_lab_result() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut hill = workstation(&server, &dir, "Hill Clinic").await;
    let amina = patient_with_a_visit(&mut hill, "Achieng").await;
    let number = amina.number.clone().unwrap().to_string();
    let (_, token) = token(&server.store, hill.clinic_id(), ServiceScope::ReadWrite);

    // The client, generated from the .proto as README says.
    let generated = dir.path().join("generated");
    std::fs::create_dir_all(&generated).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let protoc = Command::new(python())
        .args(["-m", "grpc_tools.protoc", "-I"])
        .arg(root.join("src/server/proto"))
        .arg(format!("--python_out={}", generated.display()))
        .arg(format!("--grpc_python_out={}", generated.display()))
        .arg("records.proto")
        .output()
        .unwrap();
    assert!(
        protoc.status.success(),
        "{}",
        String::from_utf8_lossy(&protoc.stderr)
    );
    let token_file = dir.path().join("token.txt");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let request_id = uuid::Uuid::now_v7().to_string();
    let run = || {
        let output = Command::new(python())
            .arg(root.join("examples/python/records_client.py"))
            .args(["--server", &server.address, "--token-file"])
            .arg(&token_file)
            .args([
                "--number",
                &number,
                "--test",
                "Haemoglobin",
                "--value",
                "9.8",
                "--unit",
                "g/dL",
                "--abnormal",
                "--request-id",
                &request_id,
            ])
            .env("PYTHONPATH", &generated)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        text
    };
    // Blocking work off the runtime that serves.
    let first = tokio::task::block_in_place(run);
    assert_eq!(field(&first, "patient"), amina.patient_id.to_string());
    assert_eq!(field(&first, "name"), "Amina Achieng");
    assert_eq!(field(&first, "visits"), "1");
    let visit_id: outpost::model::EncounterId = field(&first, "lab result visit").parse().unwrap();

    // The clinic's workstation receives it as a draft visit in the laboratory's name.
    sync(&mut hill).await;
    let visits = hill.encounters_for_patient(amina.patient_id).unwrap();
    let lab = visits.iter().find(|v| v.encounter_id == visit_id).unwrap();
    assert!(matches!(lab.status, EncounterStatus::Draft));
    assert_eq!(lab.clinician, "District laboratory");
    assert_eq!(lab.lab_results.len(), 1);
    let result = &lab.lab_results[0];
    assert_eq!(
        (
            result.test.as_str(),
            result.value.as_str(),
            result.unit.as_str(),
            result.abnormal
        ),
        ("Haemoglobin", "9.8", "g/dL", true)
    );

    // The same request again adds nothing.
    let again = tokio::task::block_in_place(run);
    assert_eq!(field(&again, "lab result visit"), visit_id.to_string());
    assert_eq!(field(&again, "visits"), "2");
    sync(&mut hill).await;
    assert_eq!(
        hill.encounters_for_patient(amina.patient_id).unwrap().len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_read_and_write_by_the_rules_of_their_clinic() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut hill = workstation(&server, &dir, "Hill Clinic").await;
    let mut river = workstation(&server, &dir, "River Clinic").await;
    let amina = patient_with_a_visit(&mut hill, "Achieng").await;
    let other = patient_with_a_visit(&mut river, "Odhiambo").await;
    let (writer_id, writer) = token(&server.store, hill.clinic_id(), ServiceScope::ReadWrite);
    let (reader_id, reader) = token(&server.store, hill.clinic_id(), ServiceScope::Read);
    let mut records = client(&server).await;

    // The record, typed: the patient, her signed visit with its diagnosis and temperature.
    let record = records
        .get_patient(authed(
            &reader,
            pb::GetPatientRequest {
                patient_id: amina.patient_id.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let patient = record.patient.unwrap();
    assert_eq!(
        (
            patient.given_name.as_str(),
            patient.family_name.as_str(),
            patient.birth_date.as_str()
        ),
        ("Amina", "Achieng", "1988-02-29")
    );
    assert_eq!(record.visits.len(), 1);
    let visit = &record.visits[0];
    assert_eq!(visit.status, "signed");
    assert_eq!(visit.diagnoses[0].code, "B54");
    assert_eq!(visit.vitals.as_ref().unwrap().temperature_c, Some(38.9));

    // The record as a FHIR Bundle, which the independent validator accepts.
    let bundle = records
        .get_patient_bundle(authed(
            &reader,
            pb::GetPatientRequest {
                patient_id: amina.patient_id.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let file = dir.path().join("amina.json");
    std::fs::write(&file, &bundle.json).unwrap();
    let validated = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir/validate.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        validated.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
    let parsed: serde_json::Value = serde_json::from_str(&bundle.json).unwrap();
    assert!(
        parsed["entry"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["resource"]["resourceType"] == "Encounter")
    );

    // Search finds the clinic's patient by number, never the other clinic's.
    let search = |token: &str, number: String| {
        authed(
            token,
            pb::SearchPatientsRequest {
                by: Some(pb::search_patients_request::By::Number(number)),
            },
        )
    };
    let found = records
        .search_patients(search(&reader, amina.number.clone().unwrap().to_string()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.patients.len(), 1);
    assert_eq!(found.patients[0].patient_id, amina.patient_id.to_string());
    let hidden = records
        .search_patients(search(&reader, other.number.clone().unwrap().to_string()))
        .await
        .unwrap()
        .into_inner();
    assert!(hidden.patients.is_empty());
    let refused = records
        .get_patient(authed(
            &reader,
            pb::GetPatientRequest {
                patient_id: other.patient_id.to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // A read-only account writes nothing.
    let lab = |request_id: &str, patient: &Patient| pb::CreateObservationRequest {
        request_id: request_id.to_owned(),
        patient_id: patient.patient_id.to_string(),
        results: vec![pb::LabResult {
            test: "Malaria RDT".into(),
            value: "positive".into(),
            unit: String::new(),
            abnormal: true,
        }],
        taken_at: "2026-11-20T09:30:00Z".into(),
    };
    let id = uuid::Uuid::now_v7().to_string();
    let refused = records
        .create_observation(authed(&reader, lab(&id, &amina)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // Nor on another clinic's patient, even with read-write.
    let refused = records
        .create_observation(authed(&writer, lab(&id, &other)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    // Bad input is named.
    let mut bad = lab(&id, &amina);
    bad.taken_at = "yesterday".into();
    let refused = records
        .create_observation(authed(&writer, bad))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("taken_at"),
        "{}",
        refused.message()
    );

    // A new patient, registered twice with one request id: one patient.
    let new_patient = |request_id: &str| pb::CreatePatientRequest {
        request_id: request_id.to_owned(),
        family_name: "Wanjiru".into(),
        given_name: "Grace".into(),
        sex: "female".into(),
        birth_date: "2019-06-01".into(),
        birth_date_estimated: true,
        village: "Kosti".into(),
        phone: String::new(),
        national_id: String::new(),
    };
    let request_id = uuid::Uuid::now_v7().to_string();
    let created = records
        .create_patient(authed(&writer, new_patient(&request_id)))
        .await
        .unwrap()
        .into_inner();
    let again = records
        .create_patient(authed(&writer, new_patient(&request_id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.patient_id, again.patient_id);
    assert_eq!(created.number, again.number);
    let mut wrong = new_patient(&uuid::Uuid::now_v7().to_string());
    wrong.birth_date = "2019-02-31".into();
    let refused = records
        .create_patient(authed(&writer, wrong))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let mut wrong = new_patient(&uuid::Uuid::now_v7().to_string());
    wrong.family_name = String::new();
    wrong.given_name = String::new();
    let refused = records
        .create_patient(authed(&writer, wrong))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let posted = records
        .create_observation(authed(
            &writer,
            pb::CreateObservationRequest {
                patient_id: created.patient_id.clone(),
                ..lab(&uuid::Uuid::now_v7().to_string(), &amina)
            },
        ))
        .await
        .unwrap()
        .into_inner();
    sync(&mut hill).await;
    let grace: outpost::model::PatientId = created.patient_id.parse().unwrap();
    let registered = hill.patient(grace).unwrap();
    assert_eq!(
        (registered.given_name.as_str(), registered.village.as_str()),
        ("Grace", "Kosti")
    );
    assert!(registered.birth.unwrap().estimated);
    // Numbered under the account's own prefix, as a workstation of the clinic numbers.
    let number = registered.number.unwrap();
    assert_eq!(number.seq, 1);
    assert!(number.prefix.starts_with("HIL"), "{number}");
    assert_ne!(number.prefix, amina.number.clone().unwrap().prefix);
    assert_eq!(number.to_string(), created.number);
    let visits = hill.encounters_for_patient(grace).unwrap();
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0].encounter_id.to_string(), posted.visit_id);
    // River's workstation sees none of it.
    sync(&mut river).await;
    assert!(river.patient(grace).is_err());

    // The change feed, page by page from 0, holds every change of the clinic once, in order,
    // the lab result and the new patient among them, and nothing of River's.
    let mut after = 0;
    let mut seqs = Vec::new();
    let mut entities = Vec::new();
    loop {
        let page = records
            .list_changes(authed(&reader, pb::ListChangesRequest { after, limit: 2 }))
            .await
            .unwrap()
            .into_inner();
        assert!(page.changes.len() <= 2);
        seqs.extend(page.changes.iter().map(|c| c.seq));
        entities.extend(
            page.changes
                .iter()
                .map(|c| (c.entity.clone(), c.entity_id.clone())),
        );
        assert!(page.cursor >= after);
        after = page.cursor;
        if !page.more {
            break;
        }
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(entities.contains(&("patient".into(), created.patient_id.clone())));
    assert!(entities.contains(&("encounter".into(), posted.visit_id.clone())));
    assert!(
        !entities
            .iter()
            .any(|(_, id)| *id == other.patient_id.to_string())
    );
    let last = server.store.last_seq().unwrap();
    let expected = server
        .store
        .changes_between(hill.clinic_id(), 0, last, usize::MAX, usize::MAX)
        .unwrap();
    assert_eq!(seqs, expected.iter().map(|(s, _)| *s).collect::<Vec<_>>());

    // Credentials: a workstation's is refused here, a service account's at the sync service,
    // a revoked one everywhere.
    let workstation_token = engine::client_config(&hill).unwrap().device_token.unwrap();
    let refused = records
        .get_patient(authed(
            &workstation_token,
            pb::GetPatientRequest {
                patient_id: amina.patient_id.to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let mut sync_client =
        outpost::sync::wire::pb::sync_client::SyncClient::connect(server.url.clone())
            .await
            .unwrap();
    let refused = sync_client
        .find_patients(authed(
            &reader,
            outpost::sync::wire::pb::FindPatientsRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    server
        .store
        .revoke_device(reader_id, Utc::now().timestamp_millis())
        .unwrap();
    let refused = records
        .get_patient(authed(
            &reader,
            pb::GetPatientRequest {
                patient_id: amina.patient_id.to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);

    // The access log names the accounts: the reads, the search and the writes.
    let log = server.store.access_log().unwrap();
    let by = |device: uuid::Uuid, kind: AccessKind| {
        log.iter()
            .filter(|e| e.device_id == device && e.kind == kind)
            .count()
    };
    assert!(by(reader_id, AccessKind::Read) >= 2, "{log:?}");
    assert_eq!(by(reader_id, AccessKind::Lookup), 1);
    // Two registrations (the second the same request again) and one lab result.
    assert_eq!(by(writer_id, AccessKind::Written), 3, "{log:?}");
}
