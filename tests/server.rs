//! The sync server end to end: the real server on `127.0.0.1:0` over a real SQLite store in a
//! temp dir, called through `SyncClient` and, where a test must misbehave on purpose, through
//! the raw generated clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/stores.rs"]
mod stores;
use outpost::keys::DataKey;
use outpost::model::{ChangeId, ChangeRecord, ClinicId, EntityKind, HlcStamp, NodeId};
use outpost::server::{
    NewClinic, ServerConfig, ServerError, ServerStore, TlsIdentity, add_clinic, serve,
};
use outpost::store::{BlobFiles, BlobReader};
use outpost::sync::client::{
    Ack, BlobHash, ClientConfig, PullItem, RefusalKind, SyncClient, SyncError,
};
use outpost::sync::wire::{BLOB_CHUNK_BYTES, pb};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Request};
use uuid::Uuid;

const HOUR_MILLIS: i64 = 3_600_000;

struct TestServer {
    url: String,
    port: u16,
    store: Arc<dyn ServerStore>,
    dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start() -> TestServer {
    start_in(tempfile::tempdir().unwrap(), None).await
}

async fn start_in(dir: TempDir, tls: Option<TlsIdentity>) -> TestServer {
    let store = stores::open_server_store(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        tls,
        ..ServerConfig::default()
    };
    let served = store.clone();
    // The listener is bound already, so connections queue until the server accepts them.
    tokio::spawn(async move {
        serve(served, listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    TestServer {
        url: format!("{scheme}://127.0.0.1:{port}"),
        port,
        store,
        dir,
        stop: Some(stop),
    }
}

impl TestServer {
    fn add_clinic(&self, name: &str) -> NewClinic {
        add_clinic(
            self.store.as_ref(),
            name,
            now_millis(),
            outpost::server::DEFAULT_CODE_VALIDITY,
        )
        .unwrap()
    }

    async fn client(&self) -> SyncClient {
        SyncClient::connect(ClientConfig::new(&self.url))
            .await
            .unwrap()
    }

    /// A client enrolled with a fresh clinic's code, with its device token.
    async fn enrolled(&self, clinic: &NewClinic) -> (SyncClient, String) {
        let client = self.client().await;
        let device = client
            .enroll(&clinic.enrollment_code, "Front desk", "", None)
            .await
            .unwrap();
        let token = device.device_token.clone();
        (client.with_device_token(&token).unwrap(), token)
    }

    /// Another device of `clinic`, enrolled with a code of its own.
    async fn colleague(&self, clinic: &NewClinic) -> (SyncClient, String) {
        let code = outpost::server::new_enrollment_code(
            self.store.as_ref(),
            clinic.clinic.clinic_id,
            now_millis(),
            outpost::server::DEFAULT_CODE_VALIDITY,
        )
        .unwrap();
        let client = self.client().await;
        let device = client.enroll(&code, "Back room", "", None).await.unwrap();
        let token = device.device_token.clone();
        (client.with_device_token(&token).unwrap(), token)
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn change(clinic: ClinicId, millis: i64) -> ChangeRecord {
    let mut fields = serde_json::Map::new();
    fields.insert("given_name".into(), "Amina".into());
    fields.insert("village".into(), "Kisumu".into());
    ChangeRecord {
        change_id: ChangeId::new(),
        entity: EntityKind::Patient,
        entity_id: Uuid::now_v7(),
        fields,
        hlc: HlcStamp {
            millis,
            counter: 0,
            node: NodeId("desk-1".into()),
        },
        clinic_id: clinic,
        supersedes: BTreeMap::new(),
    }
}

/// A patient and a photo of theirs stored as `hash`: what the server needs before it takes the
/// blob from the clinic.
async fn refer_to(client: &SyncClient, clinic: ClinicId, hash: &BlobHash, size: usize) {
    let patient = change(clinic, now_millis());
    let mut photo = change(clinic, now_millis() + 1);
    photo.entity = EntityKind::Attachment;
    photo.fields = serde_json::Map::new();
    for (field, value) in [
        (
            "patient_id",
            serde_json::Value::from(patient.entity_id.to_string()),
        ),
        ("blob_sha256", hash.to_string().into()),
        ("byte_size", (size as i64).into()),
        ("media_type", "image/jpeg".into()),
        ("file_name", "photo.jpg".into()),
    ] {
        photo.fields.insert(field.into(), value);
    }
    let reply = client.push(&[patient, photo]).await.unwrap();
    assert!(
        reply.acks.iter().all(|a| matches!(a, Ack::Accepted { .. })),
        "{:?}",
        reply.acks
    );
}

fn changes(clinic: ClinicId, count: usize) -> Vec<ChangeRecord> {
    let now = now_millis();
    (0..count).map(|i| change(clinic, now + i as i64)).collect()
}

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// Every pulled item, in order.
async fn pull_all(client: &SyncClient, after: u64, page_size: u32) -> Vec<PullItem> {
    let mut pull = client.pull(after, page_size).await.unwrap();
    let mut items = Vec::new();
    while let Some(item) = pull.next().await.unwrap() {
        items.push(item);
    }
    items
}

fn pulled_seqs(items: &[PullItem]) -> Vec<u64> {
    items
        .iter()
        .flat_map(|item| match item {
            PullItem::Page(page) => page.iter().map(|(seq, _)| *seq).collect(),
            PullItem::Checkpoint { .. } => Vec::new(),
        })
        .collect()
}

fn checkpoint(items: &[PullItem]) -> u64 {
    match items.last() {
        Some(PullItem::Checkpoint { last_seq, .. }) => *last_seq,
        other => panic!("the pull did not end with a checkpoint: {other:?}"),
    }
}

/// Bytes that differ at every offset, so a misplaced chunk shows.
fn blob_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8)
        .collect()
}

#[tokio::test]
async fn an_enrollment_code_works_once() {
    let server = start().await;
    let clinic = server.add_clinic("Hill Clinic");
    let client = server.client().await;
    // Typed in lower case with spaces: still the code.
    let typed = clinic.enrollment_code.to_lowercase().replace('-', " ");
    let device = client.enroll(&typed, "Front desk", "", None).await.unwrap();
    assert_eq!(device.clinic_id, clinic.clinic.clinic_id);
    assert_eq!(device.clinic_name, "Hill Clinic");
    assert_eq!(device.device_token.len(), 64);

    let again = client
        .enroll(&clinic.enrollment_code, "Back office", "", None)
        .await;
    assert!(
        matches!(again, Err(SyncError::Unauthenticated { .. })),
        "{again:?}"
    );
    let devices = server.store.devices().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].device_id, device.device_id);
}

#[tokio::test]
async fn health_reports_the_services_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let server = start().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in [
        "",
        "outpost.sync.v1.Enrollment",
        "outpost.sync.v1.Sync",
        "outpost.sync.v1.Blobs",
    ] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.status(), ServingStatus::Serving, "{service}");
    }
}

#[tokio::test]
async fn reflection_lists_the_services_on_v1_and_v1alpha() {
    let server = start().await;
    let expected = [
        "outpost.sync.v1.Enrollment",
        "outpost.sync.v1.Sync",
        "outpost.sync.v1.Blobs",
        "grpc.health.v1.Health",
    ];

    {
        use tonic_reflection::pb::v1::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new(server.channel().await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut replies = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let reply = replies.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("not a service list: {reply:?}");
        };
        let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
        for name in expected {
            assert!(
                names.iter().any(|n| n == name),
                "v1 lacks {name}: {names:?}"
            );
        }
    }
    {
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut client = ServerReflectionClient::new(server.channel().await);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut replies = client
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let reply = replies.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("not a service list: {reply:?}");
        };
        let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
        for name in expected {
            assert!(
                names.iter().any(|n| n == name),
                "v1alpha lacks {name}: {names:?}"
            );
        }
    }
}

#[tokio::test]
async fn calls_without_a_valid_credential_are_unauthenticated() {
    let server = start().await;
    let clinic = server.add_clinic("Hill Clinic");
    let (client, _) = server.enrolled(&clinic).await;
    let batch = changes(clinic.clinic.clinic_id, 1);
    client.push(&batch).await.unwrap();

    let anonymous = server.client().await;
    let wrong = server
        .client()
        .await
        .with_device_token(&"0".repeat(64))
        .unwrap();
    for (who, caller) in [("no credential", &anonymous), ("wrong credential", &wrong)] {
        let push = caller.push(&batch).await;
        assert!(
            matches!(push, Err(SyncError::Unauthenticated { .. })),
            "{who}: {push:?}"
        );
        let pull = caller.pull(0, 0).await;
        assert!(
            matches!(pull, Err(SyncError::Unauthenticated { .. })),
            "{who}: {pull:?}"
        );
        let status = caller.blob_status(&BlobHash::of_bytes(b"x")).await;
        assert!(
            matches!(status, Err(SyncError::Unauthenticated { .. })),
            "{who}: {status:?}"
        );
    }

    let device = server.store.devices().unwrap()[0].device_id;
    server.store.revoke_device(device, now_millis()).unwrap();
    let revoked = client.push(&changes(clinic.clinic.clinic_id, 1)).await;
    match revoked {
        Err(SyncError::Unauthenticated { reason }) => {
            assert!(reason.contains("revoked"), "{reason}")
        }
        other => panic!("a revoked device was let in: {other:?}"),
    }
}

#[tokio::test]
async fn pushing_another_clinics_change_is_denied_and_stores_nothing() {
    let server = start().await;
    let hill = server.add_clinic("Hill Clinic");
    let river = server.add_clinic("River Clinic");
    let (client, _) = server.enrolled(&hill).await;
    let batch = vec![
        change(hill.clinic.clinic_id, now_millis()),
        change(river.clinic.clinic_id, now_millis()),
    ];
    let push = client.push(&batch).await;
    match push {
        Err(SyncError::PermissionDenied { reason }) => {
            assert!(
                reason.contains(&river.clinic.clinic_id.to_string()),
                "{reason}"
            )
        }
        other => panic!("a foreign change was let in: {other:?}"),
    }
    assert_eq!(server.store.last_seq().unwrap(), 0);
    assert!(server.store.quarantined().unwrap().is_empty());
}

#[tokio::test]
async fn oversized_batches_changes_and_chunks_are_resource_exhausted() {
    let server = start().await;
    let clinic = server.add_clinic("Hill Clinic");
    let (_, token) = server.enrolled(&clinic).await;
    let mut sync = pb::sync_client::SyncClient::new(server.channel().await);

    let too_many: Vec<pb::Change> = changes(clinic.clinic.clinic_id, 1_001)
        .iter()
        .map(pb::Change::from)
        .collect();
    let status = sync
        .push(authed(&token, pb::PushRequest { changes: too_many }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    let mut big = change(clinic.clinic.clinic_id, now_millis());
    big.fields
        .insert("notes".into(), "x".repeat(300 * 1024).into());
    let status = sync
        .push(authed(
            &token,
            pb::PushRequest {
                changes: vec![pb::Change::from(&big)],
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("fields_json"), "{status:?}");

    let mut blobs = pb::blobs_client::BlobsClient::new(server.channel().await);
    let data = vec![7u8; BLOB_CHUNK_BYTES + 1];
    let chunk = pb::BlobChunk {
        sha256: BlobHash::of_bytes(&data).to_string(),
        offset: 0,
        total_size: data.len() as u64,
        data,
    };
    let status = blobs
        .upload_blob(authed(&token, tokio_stream::iter([chunk])))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(server.store.last_seq().unwrap(), 0);
}

#[tokio::test]
async fn malformed_changes_are_invalid_arguments_and_the_server_keeps_serving() {
    let server = start().await;
    let clinic = server.add_clinic("Hill Clinic");
    let (client, token) = server.enrolled(&clinic).await;
    let mut sync = pb::sync_client::SyncClient::new(server.channel().await);
    let good = pb::Change::from(&change(clinic.clinic.clinic_id, now_millis()));

    type Spoiler = fn(&mut pb::Change);
    let spoilers: [(Spoiler, &str); 4] = [
        (
            |c| c.change_id = "not-a-uuid".into(),
            "change_id is not a UUID",
        ),
        (|c| c.entity_id = "42".into(), "entity_id is not a UUID"),
        (
            |c| c.fields_json = "[\"a\"]".into(),
            "fields_json is not a JSON object",
        ),
        (|c| c.hlc = "tuesday".into(), "hlc is not a clock stamp"),
    ];
    for (spoil, reason) in spoilers {
        let mut bad = good.clone();
        spoil(&mut bad);
        let status = sync
            .push(authed(
                &token,
                pb::PushRequest {
                    changes: vec![good.clone(), bad],
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(reason), "{status:?}");
        assert!(
            status.message().contains("change 1 of the batch"),
            "{status:?}"
        );
    }
    assert_eq!(server.store.last_seq().unwrap(), 0);

    // A change that is well formed but does not fit its record is refused on its own.
    let mut unknown_field = change(clinic.clinic.clinic_id, now_millis());
    unknown_field
        .fields
        .insert("favourite_colour".into(), "blue".into());
    let fine = change(clinic.clinic.clinic_id, now_millis());
    let reply = client.push(&[unknown_field, fine]).await.unwrap();
    assert!(
        matches!(reply.acks[0], Ack::Refused { ref reason } if reason.contains("favourite_colour"))
    );
    assert_eq!(reply.acks[1], Ack::Accepted { seq: 1 });
}

#[tokio::test]
async fn a_retried_batch_is_stored_once() {
    let server = start().await;
    let clinic = server.add_clinic("Hill Clinic");
    let (client, _) = server.enrolled(&clinic).await;
    let batch = changes(clinic.clinic.clinic_id, 3);
    let first = client.push(&batch).await.unwrap();
    assert_eq!(
        first.acks,
        vec![
            Ack::Accepted { seq: 1 },
            Ack::Accepted { seq: 2 },
            Ack::Accepted { seq: 3 }
        ]
    );
    assert!((first.server_time_millis - now_millis()).abs() < 60_000);
    let second = client.push(&batch).await.unwrap();
    assert_eq!(
        second.acks,
        vec![
            Ack::Duplicate { seq: 1 },
            Ack::Duplicate { seq: 2 },
            Ack::Duplicate { seq: 3 }
        ]
    );
    assert_eq!(server.store.last_seq().unwrap(), 3);
    let items = pull_all(&client, 0, 0).await;
    assert_eq!(pulled_seqs(&items), vec![1, 2, 3]);
    let PullItem::Page(page) = &items[0] else {
        panic!("no page first")
    };
    let pulled: Vec<_> = page.iter().map(|(_, c)| c.clone()).collect();
    assert_eq!(pulled, batch);
}

#[tokio::test]
async fn pulls_come_in_pages_and_resume_from_a_cursor() {
    let server = start().await;
    let hill = server.add_clinic("Hill Clinic");
    let (writer, _) = server.enrolled(&hill).await;
    let (reader, _) = server.colleague(&hill).await;
    writer
        .push(&changes(hill.clinic.clinic_id, 25))
        .await
        .unwrap();

    let items = pull_all(&reader, 0, 10).await;
    let sizes: Vec<usize> = items
        .iter()
        .filter_map(|i| match i {
            PullItem::Page(page) => Some(page.len()),
            PullItem::Checkpoint { .. } => None,
        })
        .collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    assert_eq!(pulled_seqs(&items), (1..=25).collect::<Vec<_>>());
    assert_eq!(checkpoint(&items), 25);

    // A pull cut after seq 12 resumes with the rest: nothing skipped, nothing repeated.
    let rest = pull_all(&reader, 12, 5).await;
    assert_eq!(pulled_seqs(&rest), (13..=25).collect::<Vec<_>>());
    assert_eq!(checkpoint(&rest), 25);

    // Each page says where the pull ends, so a workstation can tell how far through it is.
    let mut pull = reader.pull(0, 10).await.unwrap();
    assert_eq!(pull.ends_at(), None, "nothing said before the first page");
    pull.next().await.unwrap();
    assert_eq!(pull.ends_at(), Some(25));

    // Nothing new: only the checkpoint, at the cursor.
    let nothing = pull_all(&reader, 25, 0).await;
    assert_eq!(nothing.len(), 1);
    assert_eq!(checkpoint(&nothing), 25);
}

#[tokio::test]
async fn a_change_stamped_hours_ahead_is_quarantined_kept_and_not_passed_on() {
    let server = start().await;
    let hill = server.add_clinic("Hill Clinic");
    let (writer, _) = server.enrolled(&hill).await;
    let (reader, _) = server.colleague(&hill).await;
    let on_time = change(hill.clinic.clinic_id, now_millis());
    let ahead = change(hill.clinic.clinic_id, now_millis() + 3 * HOUR_MILLIS);

    let reply = writer
        .push(&[on_time.clone(), ahead.clone()])
        .await
        .unwrap();
    assert_eq!(reply.acks[0], Ack::Accepted { seq: 1 });
    match &reply.acks[1] {
        Ack::Quarantined { reason } => assert!(reason.contains("3 hours ahead"), "{reason}"),
        other => panic!("not quarantined: {other:?}"),
    }

    let items = pull_all(&reader, 0, 0).await;
    let PullItem::Page(page) = &items[0] else {
        panic!("no page")
    };
    assert_eq!(page, &vec![(1, on_time)]);
    assert_eq!(checkpoint(&items), 1);

    let held = server.store.quarantined().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].change, ahead);

    // Retried: quarantined again, never stored twice.
    let again = writer.push(&[ahead]).await.unwrap();
    assert!(matches!(again.acks[0], Ack::Quarantined { .. }));
    assert_eq!(server.store.quarantined().unwrap().len(), 1);
    assert_eq!(server.store.last_seq().unwrap(), 1);
}

#[tokio::test]
async fn a_cut_upload_resumes_from_the_stored_offset_and_downloads_round_trip() {
    let server = start().await;
    let clinic = server.add_clinic("Hill Clinic");
    let (client, token) = server.enrolled(&clinic).await;
    let mib = BLOB_CHUNK_BYTES;
    let data = blob_bytes(5 * mib + 1234);
    let hash = BlobHash::of_bytes(&data);
    refer_to(&client, clinic.clinic.clinic_id, &hash, data.len()).await;
    let total = data.len() as u64;
    let chunk = |from: usize, to: usize| pb::BlobChunk {
        sha256: hash.to_string(),
        offset: from as u64,
        total_size: total,
        data: data[from..to].to_vec(),
    };
    let mut blobs = pb::blobs_client::BlobsClient::new(server.channel().await);

    // A first call stops after two and a half chunks.
    let first = [
        chunk(0, mib),
        chunk(mib, 2 * mib),
        chunk(2 * mib, 2 * mib + mib / 2),
    ];
    let reply = blobs
        .upload_blob(authed(&token, tokio_stream::iter(first)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.stored_offset, (2 * mib + mib / 2) as u64);
    assert!(!reply.complete);
    assert_eq!(
        client
            .missing_blobs(std::slice::from_ref(&hash))
            .await
            .unwrap(),
        vec![hash.clone()]
    );

    // A re-sent chunk that overlaps what is stored only adds the new bytes.
    let reply = blobs
        .upload_blob(authed(
            &token,
            tokio_stream::iter([chunk(2 * mib, 3 * mib)]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.stored_offset, (3 * mib) as u64);

    // A chunk after a gap is refused, naming where to resume.
    let status = blobs
        .upload_blob(authed(
            &token,
            tokio_stream::iter([chunk(4 * mib, 5 * mib)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains(&format!("{}", 3 * mib)),
        "{status:?}"
    );

    // A call whose line died unnoticed: the server got one more chunk and still holds the call.
    let (tx, rx) = mpsc::channel(4);
    let lingering = tokio::spawn({
        let mut blobs = blobs.clone();
        let request = authed(&token, ReceiverStream::new(rx));
        async move { blobs.upload_blob(request).await }
    });
    tx.send(chunk(3 * mib, 4 * mib)).await.unwrap();
    let mut held = 0;
    for _ in 0..10_000 {
        held = client.blob_status(&hash).await.unwrap().stored_offset;
        if held == (4 * mib) as u64 {
            break;
        }
    }
    assert_eq!(held, (4 * mib) as u64);

    // The workstation resumes from what the server holds, taking over from the dead call;
    // nothing before the stored offset is sent again.
    let source = server.dir.path().join("upload.bin");
    std::fs::write(&source, &data).unwrap();
    let mut progress = Vec::new();
    client
        .upload_blob(
            &hash,
            BlobReader::plain_file(&source).unwrap(),
            |done, of| progress.push((done, of)),
        )
        .await
        .unwrap();
    assert_eq!(progress[0], ((4 * mib) as u64, total), "{progress:?}");
    let old = lingering.await.unwrap().unwrap_err();
    assert_eq!(old.code(), Code::Aborted, "{old:?}");
    drop(tx);
    assert_eq!(progress.last(), Some(&(total, total)));
    let status = client.blob_status(&hash).await.unwrap();
    assert!(status.complete);
    assert_eq!(status.stored_offset, total);
    assert!(
        client
            .missing_blobs(std::slice::from_ref(&hash))
            .await
            .unwrap()
            .is_empty()
    );

    // Download into a sealed blob folder, resuming after the whole chunks a cut download sealed.
    let key = DataKey::generate().unwrap().blob_key();
    let files = BlobFiles::new(server.dir.path().join("down"), Some(key));
    let mut cut = files.download(&hash).unwrap();
    cut.append(total, &data[..mib + 100]).unwrap();
    drop(cut);
    let mut progress = Vec::new();
    let size = client
        .download_blob(&hash, &files, |done, of| progress.push((done, of)))
        .await
        .unwrap();
    assert_eq!(size, total);
    assert!(progress[0].0 > mib as u64, "{progress:?}");
    assert_eq!(files.read(&hash).unwrap().unwrap(), data);
    let on_disk = std::fs::read(files.path(&hash)).unwrap();
    assert!(!on_disk.windows(32).any(|w| w == &data[..32]));
    let leftovers = std::fs::read_dir(files.path(&hash).parent().unwrap())
        .unwrap()
        .count();
    assert_eq!(leftovers, 1, "the partial file was moved into place");
}

#[tokio::test]
async fn a_blob_with_the_wrong_hash_is_refused_and_never_visible() {
    let server = start().await;
    let clinic = server.add_clinic("Hill Clinic");
    let (client, _) = server.enrolled(&clinic).await;
    let data = blob_bytes(3 * BLOB_CHUNK_BYTES / 2);
    let claimed = BlobHash::of_bytes(b"something else");
    refer_to(&client, clinic.clinic.clinic_id, &claimed, data.len()).await;
    let source = server.dir.path().join("photo.jpg");
    std::fs::write(&source, &data).unwrap();

    let upload = client
        .upload_blob(
            &claimed,
            BlobReader::plain_file(&source).unwrap(),
            |_, _| {},
        )
        .await;
    assert!(
        matches!(
            upload,
            Err(SyncError::Refused {
                kind: RefusalKind::Invalid,
                ..
            })
        ),
        "{upload:?}"
    );
    assert_eq!(
        client
            .missing_blobs(std::slice::from_ref(&claimed))
            .await
            .unwrap(),
        vec![claimed.clone()]
    );
    assert_eq!(client.blob_status(&claimed).await.unwrap().stored_offset, 0);
    let files = BlobFiles::new(server.dir.path().join("here"), None);
    let download = client.download_blob(&claimed, &files, |_, _| {}).await;
    assert!(
        matches!(download, Err(SyncError::NotFound { .. })),
        "{download:?}"
    );

    // A malformed name never reaches the file system.
    let mut blobs = pb::blobs_client::BlobsClient::new(server.channel().await);
    let (_, token) = server.enrolled(&server.add_clinic("Other")).await;
    let status = blobs
        .blob_status(authed(
            &token,
            pb::BlobStatusRequest {
                sha256: "../../server.sqlite3".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // An empty blob is a blob too.
    let empty = server.dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let empty_hash = BlobHash::of_bytes(b"");
    refer_to(&client, clinic.clinic.clinic_id, &empty_hash, 0).await;
    client
        .upload_blob(
            &empty_hash,
            BlobReader::plain_file(&empty).unwrap(),
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(
        client
            .download_blob(&empty_hash, &files, |_, _| {})
            .await
            .unwrap(),
        0
    );
    assert_eq!(files.read(&empty_hash).unwrap().unwrap(), b"");
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate_works_end_to_end() {
    let certified = rcgen::generate_simple_self_signed(vec!["outpost.test".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let tls = TlsIdentity::from_pem(cert_pem.clone(), certified.signing_key.serialize_pem());
    let server = start_in(tempfile::tempdir().unwrap(), Some(tls)).await;
    let clinic = server.add_clinic("Hill Clinic");

    let mut config = ClientConfig::new(&server.url);
    config.ca_certificate_pem = Some(cert_pem.into_bytes());
    config.tls_domain_name = Some("outpost.test".into());
    let client = SyncClient::connect(config.clone()).await.unwrap();
    let device = client
        .enroll(&clinic.enrollment_code, "Desk", "", None)
        .await
        .unwrap();
    config.device_token = Some(device.device_token);
    let client = SyncClient::connect(config).await.unwrap();
    let batch = changes(clinic.clinic.clinic_id, 2);
    let reply = client.push(&batch).await.unwrap();
    assert_eq!(reply.acks[1], Ack::Accepted { seq: 2 });
    assert_eq!(pulled_seqs(&pull_all(&client, 0, 0).await), vec![1, 2]);

    // Plain text to a TLS server gets nowhere.
    let plain = format!("http://127.0.0.1:{}", server.port);
    let refused = match SyncClient::connect(ClientConfig::new(plain)).await {
        Ok(client) => client
            .enroll("AAAA-AAAA-AAAA", "Desk", "", None)
            .await
            .map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(
        matches!(refused, Err(SyncError::Unreachable { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn without_tls_only_loopback_is_served() {
    let store: Arc<dyn ServerStore> =
        stores::open_server_store(tempfile::tempdir().unwrap().path());
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let result = serve(store, listener, ServerConfig::default(), async {}).await;
    assert!(
        matches!(result, Err(ServerError::PlainTextNotLoopback { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_reported_as_such() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let result = SyncClient::connect(ClientConfig::new(format!("http://127.0.0.1:{port}"))).await;
    let error = result.unwrap_err();
    assert!(error.is_network(), "{error:?}");
    assert!(
        error.to_string().starts_with("Server unreachable"),
        "{error}"
    );
}

fn run_server_binary(args: &[&str], data_dir: &Path) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_outpost-server"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .args(stores::binary_args(data_dir))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "outpost-server {args:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_binarys_clinic_add_prints_a_code_that_enrolls() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_server_binary(&["clinic", "add", "Hill Clinic"], dir.path());
    let code = out
        .lines()
        .find_map(|line| line.strip_prefix("Enrollment code:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no code in:\n{out}"))
        .to_owned();
    let listed = run_server_binary(&["clinic", "list"], dir.path());
    assert!(listed.contains("Hill Clinic"), "{listed}");

    let server = start_in(dir, None).await;
    let client = server.client().await;
    let device = client.enroll(&code, "Front desk", "", None).await.unwrap();
    assert_eq!(device.clinic_name, "Hill Clinic");

    let devices = run_server_binary(&["device", "list"], server.dir.path());
    assert!(devices.contains(&device.device_id.to_string()), "{devices}");
    assert!(devices.contains("active"), "{devices}");
    run_server_binary(
        &["device", "revoke", &device.device_id.to_string()],
        server.dir.path(),
    );
    let client = client.with_device_token(&device.device_token).unwrap();
    let push = client.push(&changes(device.clinic_id, 1)).await;
    assert!(
        matches!(push, Err(SyncError::Unauthenticated { .. })),
        "{push:?}"
    );
}

/// The runtime stage of the container image as `packaging/container/Dockerfile` writes it.
struct Image {
    env: Vec<(String, String)>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    healthcheck: Vec<String>,
}

/// Reads the image's ENV, ENTRYPOINT, CMD and HEALTHCHECK from the Dockerfile's last stage.
fn container_image() -> Image {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/container/Dockerfile"),
    )
    .unwrap();
    // Continuation lines joined, comments dropped, the last stage only.
    let joined = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let stage = joined.rsplit("\nFROM ").next().unwrap();
    let mut image = Image {
        env: Vec::new(),
        entrypoint: Vec::new(),
        cmd: Vec::new(),
        healthcheck: Vec::new(),
    };
    let json = |s: &str| -> Vec<String> { serde_json::from_str(s.trim()).unwrap() };
    for line in stage.lines() {
        if let Some(rest) = line.strip_prefix("ENV ") {
            for pair in rest.split_whitespace() {
                let (key, value) = pair.split_once('=').unwrap();
                image.env.push((key.to_owned(), value.to_owned()));
            }
        } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            image.entrypoint = json(rest);
        } else if let Some(rest) = line.strip_prefix("CMD ") {
            image.cmd = json(rest);
        } else if let Some(rest) = line.strip_prefix("HEALTHCHECK ") {
            image.healthcheck = json(rest.split_once("CMD ").unwrap().1);
        }
    }
    image
}

#[test]
fn the_container_images_command_line_serves_and_passes_its_health_check() {
    let image = container_image();
    assert_eq!(image.entrypoint, ["outpost-server"]);
    assert_eq!(
        image.healthcheck.first().map(String::as_str),
        Some("outpost-server")
    );
    let binary = env!("CARGO_BIN_EXE_outpost-server");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("volume");

    // The certificate is made once, outside, and mounted from secrets where `serve` looks.
    let made = std::process::Command::new(binary)
        .args(["init", "--name", "server.example", "--data-dir"])
        .arg(dir.path().join("secrets-init"))
        .output()
        .unwrap();
    assert!(made.status.success());
    std::fs::create_dir_all(data.join("tls")).unwrap();
    for file in ["server.crt", "server.key"] {
        std::fs::copy(
            dir.path().join("secrets-init/tls").join(file),
            data.join("tls").join(file),
        )
        .unwrap();
    }

    // The image's environment, with the volume here and a port the system picks; compose's
    // database variables when the tests run on PostgreSQL.
    let mut env: Vec<(String, String)> = image
        .env
        .iter()
        .map(|(key, value)| match key.as_str() {
            "OUTPOST_DATA_DIR" => (key.clone(), data.display().to_string()),
            "OUTPOST_LISTEN" => {
                let mut listen: std::net::SocketAddr = value.parse().unwrap();
                listen.set_port(0);
                (key.clone(), listen.to_string())
            }
            _ => (key.clone(), value.clone()),
        })
        .collect();
    assert!(env.iter().any(|(k, _)| k == "OUTPOST_LISTEN"));
    if let Some(url) = stores::postgres_database(&data) {
        let secret = dir.path().join("db_password");
        std::fs::write(&secret, "not-needed-with-trust\n").unwrap();
        env.push(("OUTPOST_DATABASE_URL".into(), url));
        env.push((
            "OUTPOST_DATABASE_PASSWORD_FILE".into(),
            secret.display().to_string(),
        ));
    }
    let command = |args: &[String], env: &[(String, String)]| {
        let mut command = std::process::Command::new(binary);
        command
            .args(args)
            .env_remove("OUTPOST_CONFIG")
            .envs(env.iter().map(|(k, v)| (k, v)));
        command
    };

    let (server, listening) = stores::start_server(&mut command(
        &[&image.entrypoint[1..], &image.cmd[..]].concat(),
        &env,
    ));
    let bound = listening
        .strip_suffix(" with TLS")
        .unwrap_or_else(|| panic!("not serving with TLS: {listening:?}"))
        .to_owned();

    // The health check, as the image runs it, where the server really listens.
    let mut here = env.clone();
    for (key, value) in &mut here {
        if key == "OUTPOST_LISTEN" {
            *value = bound.clone();
        }
    }
    let check = command(&image.healthcheck[1..], &here).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("serving"));

    // `docker compose exec server outpost-server clinic add …` gives a code with the pin.
    let added = command(&["clinic".into(), "add".into(), "Hill Clinic".into()], &env)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&added.stdout);
    let code = out
        .lines()
        .find_map(|l| l.strip_prefix("Enrollment code:"))
        .unwrap()
        .trim()
        .to_owned();
    let parsed = outpost::sync::code::EnrollmentCode::parse(&code).unwrap();
    assert!(parsed.pin.is_some(), "{code}");

    drop(server);
    let down = command(&image.healthcheck[1..], &here).output().unwrap();
    assert_eq!(
        down.status.code(),
        Some(1),
        "a stopped server fails the check"
    );
}
