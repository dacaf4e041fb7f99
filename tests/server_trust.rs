//! The server trusts no workstation: each attack of issue 9, run against a real server on
//! `127.0.0.1:0` by a client that speaks the protocol the way an attacker would — forged and
//! backdated stamps, other clinics' ids, other devices' nodes and hashes, stalled uploads —
//! next to real workstations on real SQLite files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/stores.rs"]
mod stores;
use chrono::{NaiveDate, Utc};
use outpost::model::{
    Attachment, ChangeId, ChangeRecord, ClinicId, DateOfBirth, Encounter, EntityKind, HlcStamp,
    NodeId, Patient, Sex, Signer,
};
use outpost::server::{
    DEFAULT_CODE_VALIDITY, NewClinic, ServerConfig, ServerStore, add_clinic, new_enrollment_code,
    serve,
};
use outpost::store::{ConflictKind, Store};
use outpost::sync::client::{Ack, BlobHash, ClientConfig, PullItem, SyncClient, SyncError};
use outpost::sync::engine;
use outpost::sync::wire::pb;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Request};
use uuid::Uuid;

struct Server {
    url: String,
    store: Arc<dyn ServerStore>,
    dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start_with(config: ServerConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = stores::open_server_store(&dir.path().join("server"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = store.clone();
    tokio::spawn(async move {
        serve(served, listener, config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Server {
        url,
        store,
        dir,
        stop: Some(stop),
    }
}

async fn start() -> Server {
    start_with(ServerConfig::default()).await
}

/// A device enrolled by hand, as a stock gRPC client would: its token and its client.
struct Device {
    token: String,
    client: SyncClient,
    clinic: ClinicId,
    node: String,
}

impl Server {
    fn clinic(&self, name: &str) -> NewClinic {
        add_clinic(
            self.store.as_ref(),
            name,
            Utc::now().timestamp_millis(),
            DEFAULT_CODE_VALIDITY,
        )
        .unwrap()
    }

    fn code(&self, clinic: ClinicId) -> String {
        new_enrollment_code(
            self.store.as_ref(),
            clinic,
            Utc::now().timestamp_millis(),
            DEFAULT_CODE_VALIDITY,
        )
        .unwrap()
    }

    async fn device(&self, code: &str, node: &str) -> Device {
        let client = SyncClient::connect(ClientConfig::new(&self.url))
            .await
            .unwrap();
        let enrolled = client.enroll(code, "Attacker", node, None).await.unwrap();
        Device {
            token: enrolled.device_token.clone(),
            client: client.with_device_token(&enrolled.device_token).unwrap(),
            clinic: enrolled.clinic_id,
            node: node.to_owned(),
        }
    }

    /// A workstation of a new clinic, enrolled by the app's own engine.
    async fn workstation(&self, name: &str) -> Store {
        let code = self.clinic(name).enrollment_code;
        self.enrolled_workstation(name, &code).await
    }

    async fn enrolled_workstation(&self, name: &str, code: &str) -> Store {
        let mut store = Store::open_dir(&self.dir.path().join(name)).unwrap();
        engine::enroll(&mut store, &self.url, code, name, None, false)
            .await
            .unwrap();
        store
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }
}

async fn sync(store: &mut Store) -> engine::SyncReport {
    let client = SyncClient::connect(engine::client_config(store).unwrap())
        .await
        .unwrap();
    engine::sync_once(store, &client, |_| {}).await.unwrap()
}

fn amina(store: &Store) -> Patient {
    let mut p = Patient::blank(store.clinic_id());
    p.given_name = "Amina".into();
    p.family_name = "Achieng".into();
    p.sex = Sex::Female;
    p.birth = Some(DateOfBirth::exact(
        NaiveDate::from_ymd_opt(1988, 2, 29).unwrap(),
    ));
    p
}

fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A change as an attacker writes it: any record, fields, stamp and clinic.
fn forged(
    entity: EntityKind,
    entity_id: Uuid,
    fields: &[(&str, Value)],
    stamp: HlcStamp,
    clinic: ClinicId,
) -> ChangeRecord {
    ChangeRecord {
        change_id: ChangeId::new(),
        entity,
        entity_id,
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        hlc: stamp,
        clinic_id: clinic,
        supersedes: BTreeMap::new(),
    }
}

fn stamp(millis: i64, node: &str) -> HlcStamp {
    HlcStamp {
        millis,
        counter: 0,
        node: NodeId(node.to_owned()),
    }
}

fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

/// Pushes one change and checks that it is refused for a reason that says `why`.
async fn push_refused(device: &Device, change: ChangeRecord, why: &str) {
    let reply = device.client.push(&[change]).await.unwrap();
    assert!(
        refused_reason(&reply.acks[0]).contains(why),
        "{:?}",
        reply.acks
    );
}

/// Changes a pull brings, in all its pages.
async fn pulled(mut pull: outpost::sync::client::PullStream) -> usize {
    let mut count = 0;
    while let Some(item) = pull.next().await.unwrap() {
        if let PullItem::Page(page) = item {
            count += page.len();
        }
    }
    count
}

fn refused_reason(ack: &Ack) -> &str {
    match ack {
        Ack::Refused { reason } => reason,
        other => panic!("not refused: {other:?}"),
    }
}

/// A patient and a photo of theirs stored as `hash`, pushed by `device`.
async fn refer_to(device: &Device, hashes: &[(BlobHash, usize)]) {
    let patient = Uuid::now_v7();
    let start = now_millis();
    let mut batch = vec![forged(
        EntityKind::Patient,
        patient,
        &[
            ("given_name", "Photo".into()),
            ("family_name", "Owner".into()),
        ],
        stamp(start, &device.node),
        device.clinic,
    )];
    for (i, (hash, size)) in hashes.iter().enumerate() {
        batch.push(forged(
            EntityKind::Attachment,
            Uuid::now_v7(),
            &[
                ("patient_id", patient.to_string().into()),
                ("blob_sha256", hash.to_string().into()),
                ("byte_size", (*size as i64).into()),
                ("media_type", "image/jpeg".into()),
                ("file_name", "photo.jpg".into()),
            ],
            stamp(start + 1 + i as i64, &device.node),
            device.clinic,
        ));
    }
    let reply = device.client.push(&batch).await.unwrap();
    assert!(
        reply.acks.iter().all(|a| matches!(a, Ack::Accepted { .. })),
        "{:?}",
        reply.acks
    );
}

fn upload_chunk(hash: &BlobHash, offset: usize, total: usize, data: &[u8]) -> pb::BlobChunk {
    pb::BlobChunk {
        sha256: hash.to_string(),
        offset: offset as u64,
        total_size: total as u64,
        data: data.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backdated_edit_of_a_signed_visit_is_refused_or_a_conflict_never_silent() {
    let server = start().await;
    let mut hill = server.workstation("Hill Clinic").await;
    let patient = hill.register_patient(amina(&hill)).unwrap();
    let mut visit = Encounter::new_draft(patient.patient_id, "Dr Achieng", Utc::now());
    visit.chief_complaint = "Cough".into();
    visit.plan = "Amoxicillin 500 mg three times a day for 5 days".into();
    hill.save_encounter(&visit).unwrap();
    hill.sign_encounter(visit.encounter_id, &Signer::named("Dr Achieng"))
        .unwrap();
    assert_eq!(sync(&mut hill).await.pushed, 3);

    // What the attacker needs: the stamps of the draft's plan and of the signing.
    let hill_device: Uuid = hill
        .sync_setting("device_id")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let log = server.store.device_changes(hill_device).unwrap();
    let of_visit: Vec<&ChangeRecord> = log
        .iter()
        .map(|c| &c.change)
        .filter(|c| c.entity_id == visit.encounter_id.0)
        .collect();
    let draft = of_visit[0].hlc.clone();
    let signing = of_visit[1].hlc.clone();
    assert_eq!(of_visit[1].fields["status"], "signed");
    let forge = |node: &str, clinic: ClinicId| {
        let mut change = forged(
            EntityKind::Encounter,
            visit.encounter_id.0,
            &[("plan", "Double the dose".into())],
            stamp(signing.millis - 1, node),
            clinic,
        );
        change.supersedes.insert("plan".into(), vec![draft.clone()]);
        change
    };

    // Another clinic's device: its own stamp, its own clinic — refused, with the reason.
    let river = server.clinic("River Clinic");
    let outsider = server.device(&river.enrollment_code, "river-desk").await;
    push_refused(
        &outsider,
        forge("river-desk", outsider.clinic),
        "only that clinic changes it",
    )
    .await;
    // Claiming Hill's clinic id: the whole call is denied.
    let denied = outsider
        .client
        .push(&[forge("river-desk", hill.clinic_id())])
        .await;
    assert!(
        matches!(denied, Err(SyncError::PermissionDenied { .. })),
        "{denied:?}"
    );

    // A second device of Hill itself (a stolen credential, say): a change stamped with the
    // workstation's own node is refused; one with its own node, 1 ms before the signing, is
    // stored — and becomes a conflict for a person, never the signed text.
    let rogue = server.device(&server.code(hill.clinic_id()), "rogue").await;
    let hill_node = hill.workstation().node_id.0.clone();
    push_refused(
        &rogue,
        forge(&hill_node, hill.clinic_id()),
        "a workstation pushes only its own changes",
    )
    .await;
    let reply = rogue
        .client
        .push(&[forge("rogue", hill.clinic_id())])
        .await
        .unwrap();
    assert!(
        matches!(reply.acks[0], Ack::Accepted { .. }),
        "{:?}",
        reply.acks
    );
    sync(&mut hill).await;
    let at_hill = hill.encounter(visit.encounter_id).unwrap();
    assert!(!at_hill.is_draft(), "still signed");
    assert_eq!(
        at_hill.plan, "Amoxicillin 500 mg three times a day for 5 days",
        "the signed text stays"
    );
    let conflicts = hill.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "plan");
    assert_eq!(conflicts[0].kind, ConflictKind::Concurrent);
    assert_eq!(conflicts[0].other_value, "Double the dose");

    // The rogue device's stamps only move forward: going back again is refused.
    let mut earlier = forge("rogue", hill.clinic_id());
    earlier.hlc.millis = signing.millis - 3_600_000;
    push_refused(&rogue, earlier, "only move forward").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clinics_records_and_images_stay_hidden_until_shared_with_a_reason() {
    let server = start().await;
    let mut hill = server.workstation("Hill Clinic").await;
    let patient = hill.register_patient(amina(&hill)).unwrap();
    let photo_bytes = b"a photo of a rash".repeat(1_000);
    let hash = BlobHash::of_bytes(&photo_bytes);
    hill.put_blob(&hash, &photo_bytes).unwrap();
    hill.add_attachment(&Attachment::file(
        patient.patient_id,
        hash.clone(),
        photo_bytes.len() as i64,
        "image/jpeg",
        "rash.jpg",
        Utc::now(),
    ))
    .unwrap();
    let report = sync(&mut hill).await;
    assert_eq!((report.pushed, report.blobs_uploaded), (2, 1));

    let river = server.clinic("River Clinic");
    let outsider = server.device(&river.enrollment_code, "river-desk").await;
    // Nothing of Hill's comes down, whatever the cursor.
    assert_eq!(pulled(outsider.client.pull(0, 0).await.unwrap()).await, 0);
    // The image: "missing", nothing stored, not found — as if it did not exist.
    let missing = outsider
        .client
        .missing_blobs(std::slice::from_ref(&hash))
        .await
        .unwrap();
    assert_eq!(missing, vec![hash.clone()]);
    let status = outsider.client.blob_status(&hash).await.unwrap();
    assert_eq!((status.stored_offset, status.complete), (0, false));
    let files = outpost::store::BlobFiles::new(server.dir.path().join("river-blobs"), None);
    let download = outsider
        .client
        .download_blob(&hash, &files, |_, _| {})
        .await;
    assert!(
        matches!(download, Err(SyncError::NotFound { .. })),
        "{download:?}"
    );
    // Asking for the patient's record by id is denied; uploading the image is too.
    let mut sync_rpc = pb::sync_client::SyncClient::new(server.channel().await);
    let status = sync_rpc
        .pull(authed(
            &outsider.token,
            pb::PullRequest {
                patient_id: patient.patient_id.to_string(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let mut blobs = pb::blobs_client::BlobsClient::new(server.channel().await);
    let status = blobs
        .upload_blob(authed(
            &outsider.token,
            tokio_stream::iter([upload_chunk(&hash, 0, photo_bytes.len(), &photo_bytes)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(server.store.access_log().unwrap().is_empty());

    // Opened with a reason, the record and the image follow.
    outsider
        .client
        .share_patient(patient.patient_id.0, "emergency")
        .await
        .unwrap();
    let record = outsider.client.pull_patient(patient.patient_id.0, 0);
    assert_eq!(pulled(record.await.unwrap()).await, 2);
    let size = outsider
        .client
        .download_blob(&hash, &files, |_, _| {})
        .await
        .unwrap();
    assert_eq!(size, photo_bytes.len() as u64);
    let log = server.store.access_log().unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].reason, "emergency");
    assert_eq!(log[0].clinic_id, river.clinic.clinic_id);
    // A reason that is none of the known ones is refused.
    let status = sync_rpc
        .share_patient(authed(
            &outsider.token,
            pb::SharePatientRequest {
                patient_id: patient.patient_id.to_string(),
                reason: "curious".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_upload_does_not_stop_the_owners_upload() {
    let server = start().await;
    let hill = server.clinic("Hill Clinic");
    let owner = server.device(&hill.enrollment_code, "owner").await;
    let data: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let hash = BlobHash::of_bytes(&data);
    refer_to(&owner, &[(hash.clone(), data.len())]).await;
    let mut blobs = pb::blobs_client::BlobsClient::new(server.channel().await);
    let half = data.len() / 2;
    let reply = blobs
        .upload_blob(authed(
            &owner.token,
            tokio_stream::iter([
                upload_chunk(&hash, 0, data.len(), &data[..1024 * 1024]),
                upload_chunk(&hash, 1024 * 1024, data.len(), &data[1024 * 1024..half]),
            ]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.stored_offset, half as u64);

    // A device of another clinic may not write the blob at all.
    let river = server.clinic("River Clinic");
    let outsider = server.device(&river.enrollment_code, "river").await;
    let status = blobs
        .upload_blob(authed(
            &outsider.token,
            tokio_stream::iter([upload_chunk(&hash, 0, data.len(), &[0xff])]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // A device of the same clinic writes one wrong byte, then a whole wrong blob: its own
    // partial upload, which the hash check throws away — the owner's bytes are untouched.
    let rogue = server
        .device(&server.code(hill.clinic.clinic_id), "rogue")
        .await;
    let reply = blobs
        .upload_blob(authed(
            &rogue.token,
            tokio_stream::iter([upload_chunk(&hash, 0, data.len(), &[0xff])]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.stored_offset, 1, "the rogue's own partial upload");
    let mut wrong = data.clone();
    wrong[0] = 0xff;
    let status = blobs
        .upload_blob(authed(
            &rogue.token,
            tokio_stream::iter([
                upload_chunk(&hash, 1, data.len(), &wrong[1..1024 * 1024]),
                upload_chunk(
                    &hash,
                    1024 * 1024,
                    data.len(),
                    &wrong[1024 * 1024..2 * 1024 * 1024],
                ),
                upload_chunk(
                    &hash,
                    2 * 1024 * 1024,
                    data.len(),
                    &wrong[2 * 1024 * 1024..],
                ),
            ]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        rogue.client.blob_status(&hash).await.unwrap().stored_offset,
        0
    );
    assert_eq!(
        owner.client.blob_status(&hash).await.unwrap().stored_offset,
        half as u64
    );

    // The owner resumes where it was and finishes; the blob is the owner's bytes.
    let source = server.dir.path().join("photo.bin");
    std::fs::write(&source, &data).unwrap();
    owner
        .client
        .upload_blob(
            &hash,
            outpost::store::BlobReader::plain_file(&source).unwrap(),
            |_, _| {},
        )
        .await
        .unwrap();
    let files = outpost::store::BlobFiles::new(server.dir.path().join("back"), None);
    rogue
        .client
        .download_blob(&hash, &files, |_, _| {})
        .await
        .unwrap();
    assert_eq!(files.read(&hash).unwrap().unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_stalled_uploads_do_not_delay_another_devices_pull() {
    const STALLED: usize = 300;
    let server = start().await;
    let mut hill = server.workstation("Hill Clinic").await;
    let rogue = server.device(&server.code(hill.clinic_id()), "rogue").await;
    let hashes: Vec<(BlobHash, usize)> = (0..STALLED)
        .map(|i| (BlobHash::of_bytes(format!("blob {i}").as_bytes()), 1_000))
        .collect();
    refer_to(&rogue, &hashes).await;

    // Every upload sends one byte, then nothing: the senders are kept, so no call ends.
    let channel = server.channel().await;
    let mut calls = tokio::task::JoinSet::new();
    let mut senders = Vec::new();
    for (hash, size) in &hashes {
        let (tx, rx) = mpsc::channel(1);
        tx.send(upload_chunk(hash, 0, *size, &[1])).await.unwrap();
        senders.push(tx);
        let mut blobs = pb::blobs_client::BlobsClient::new(channel.clone());
        let request = authed(&rogue.token, ReceiverStream::new(rx));
        calls.spawn(async move { blobs.upload_blob(request).await.map(drop) });
    }
    // All but the few a device may hold are turned away at once.
    let mut refused = 0;
    while refused < STALLED - 4 {
        let Some(done) = calls.join_next().await else {
            break;
        };
        match done.unwrap() {
            Err(status) if status.code() == Code::ResourceExhausted => refused += 1,
            other => panic!("a stalled upload ended otherwise: {other:?}"),
        }
    }
    assert_eq!(refused, STALLED - 4);
    assert_eq!(calls.len(), 4, "four stalled uploads are held open");

    // Meanwhile the clinic's workstation syncs as usual: it pushes, and pulls everything the
    // rogue device pushed.
    hill.register_patient(amina(&hill)).unwrap();
    let report = sync(&mut hill).await;
    assert_eq!(report.pushed, 1);
    assert_eq!(report.pulled.applied, STALLED + 1, "{report:?}");

    drop(senders);
    while let Some(done) = calls.join_next().await {
        done.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_blobs_far_future_stamps_and_stale_partials_are_refused_or_cleaned() {
    let server = start().await;
    let hill = server.clinic("Hill Clinic");
    let device = server.device(&hill.enrollment_code, "desk").await;
    let mut blobs = pb::blobs_client::BlobsClient::new(server.channel().await);

    // A blob no record refers to is not stored.
    let stray = b"not an image of anyone".to_vec();
    let stray_hash = BlobHash::of_bytes(&stray);
    let status = blobs
        .upload_blob(authed(
            &device.token,
            tokio_stream::iter([upload_chunk(&stray_hash, 0, stray.len(), &stray)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("no record of this clinic"),
        "{status:?}"
    );

    // A thousand changes stamped centuries ahead: refused, and nothing held for ever.
    let centuries = now_millis() + 300 * 365 * 86_400_000;
    let batch: Vec<ChangeRecord> = (0..1_000)
        .map(|i| {
            forged(
                EntityKind::Patient,
                Uuid::now_v7(),
                &[("given_name", "Future".into())],
                stamp(centuries + i, "desk"),
                hill.clinic.clinic_id,
            )
        })
        .collect();
    let reply = device.client.push(&batch).await.unwrap();
    assert!(
        reply
            .acks
            .iter()
            .all(|a| refused_reason(a).contains("more than a day"))
    );
    assert!(server.store.quarantined().unwrap().is_empty());
    assert_eq!(server.store.last_seq().unwrap(), 0);

    // A partial upload nobody finished is removed after a day.
    let data = vec![7u8; 10_000];
    let hash = BlobHash::of_bytes(&data);
    refer_to(&device, &[(hash.clone(), data.len())]).await;
    blobs
        .upload_blob(authed(
            &device.token,
            tokio_stream::iter([upload_chunk(&hash, 0, data.len(), &data[..4_000])]),
        ))
        .await
        .unwrap();
    assert_eq!(
        device
            .client
            .blob_status(&hash)
            .await
            .unwrap()
            .stored_offset,
        4_000
    );
    let day = std::time::Duration::from_secs(24 * 3600);
    assert_eq!(
        server
            .store
            .remove_stale_partials(std::time::SystemTime::now() - day)
            .unwrap(),
        0,
        "a fresh partial upload stays"
    );
    let partial_root = server.dir.path().join("server/blobs/partial");
    let device_dir = std::fs::read_dir(&partial_root)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let partial = device_dir.join(hash.as_str());
    std::fs::File::options()
        .write(true)
        .open(&partial)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - 2 * day)
        .unwrap();
    assert_eq!(
        server
            .store
            .remove_stale_partials(std::time::SystemTime::now() - day)
            .unwrap(),
        1
    );
    assert!(!partial.exists());
    assert_eq!(
        device
            .client
            .blob_status(&hash)
            .await
            .unwrap()
            .stored_offset,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workstations_node_belongs_to_one_clinic() {
    let server = start().await;
    let hill = server.clinic("Hill Clinic");
    let river = server.clinic("River Clinic");
    let _desk = server.device(&hill.enrollment_code, "hill-desk").await;
    // Enrolling Hill's node with River: refused.
    let client = SyncClient::connect(ClientConfig::new(&server.url))
        .await
        .unwrap();
    let taken = client
        .enroll(&river.enrollment_code, "Attacker", "hill-desk", None)
        .await;
    assert!(
        matches!(&taken, Err(SyncError::Refused { reason, .. }) if reason.contains("another clinic")),
        "{taken:?}"
    );
    // A River device that never said its node cannot take Hill's at its first push either.
    let outsider = server
        .device(&server.code(river.clinic.clinic_id), "")
        .await;
    let reply = outsider
        .client
        .push(&[forged(
            EntityKind::Patient,
            Uuid::now_v7(),
            &[("given_name", "X".into())],
            stamp(now_millis(), "hill-desk"),
            river.clinic.clinic_id,
        )])
        .await
        .unwrap();
    assert!(refused_reason(&reply.acks[0]).contains("another clinic"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_guesses_are_slowed_and_codes_can_be_revoked() {
    let server = start().await;
    let hill = server.clinic("Hill Clinic");
    let client = SyncClient::connect(ClientConfig::new(&server.url))
        .await
        .unwrap();
    for _ in 0..5 {
        let wrong = client.enroll("AAAA-BBBB-CCCC", "Guesser", "", None).await;
        assert!(
            matches!(wrong, Err(SyncError::Unauthenticated { .. })),
            "{wrong:?}"
        );
    }
    // Even the right code waits now, from this address.
    let slowed = client
        .enroll(&hill.enrollment_code, "Guesser", "", None)
        .await;
    assert!(
        matches!(&slowed, Err(SyncError::Refused { reason, .. }) if reason.contains("wait")),
        "{slowed:?}"
    );

    // On another server: a revoked code enrolls nobody.
    let other = start().await;
    let clinic = other.clinic("Lake Clinic");
    assert!(
        other
            .store
            .revoke_enrollment_code(
                &outpost::server::secret_hash(&clinic.enrollment_code),
                now_millis()
            )
            .unwrap()
    );
    let client = SyncClient::connect(ClientConfig::new(&other.url))
        .await
        .unwrap();
    let revoked = client
        .enroll(&clinic.enrollment_code, "Desk", "", None)
        .await;
    assert!(
        matches!(revoked, Err(SyncError::Unauthenticated { .. })),
        "{revoked:?}"
    );
}

#[tokio::test]
async fn the_client_refuses_plain_http_to_another_computer() {
    for url in [
        "http://192.0.2.10:7443",
        "http://clinic-server.example:7443",
    ] {
        let refused = SyncClient::connect_lazy(ClientConfig::new(url));
        assert!(
            matches!(&refused, Err(SyncError::Settings { reason }) if reason.contains("use https://")),
            "{url}: {:?}",
            refused.err()
        );
    }
    for url in [
        "http://127.0.0.1:7443",
        "http://localhost:7443",
        "http://[::1]:7443",
    ] {
        assert!(
            SyncClient::connect_lazy(ClientConfig::new(url)).is_ok(),
            "{url}"
        );
    }
}

#[tokio::test]
async fn health_answers_without_a_credential_and_reflection_can_be_turned_off() {
    let server = start_with(ServerConfig {
        reflection: false,
        ..ServerConfig::default()
    })
    .await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut reflection =
        tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
            server.channel().await,
        );
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let status = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_devices_changes_are_listed_and_can_be_held_back() {
    let server = start().await;
    let hill = server.clinic("Hill Clinic");
    let lost = server.device(&hill.enrollment_code, "lost-laptop").await;
    let batch: Vec<ChangeRecord> = (0..3)
        .map(|i| {
            forged(
                EntityKind::Patient,
                Uuid::now_v7(),
                &[("given_name", format!("Pushed {i}").into())],
                stamp(now_millis() + i, "lost-laptop"),
                hill.clinic.clinic_id,
            )
        })
        .collect();
    lost.client.push(&batch).await.unwrap();
    let device_id = server.store.devices().unwrap()[0].device_id;
    server.store.revoke_device(device_id, now_millis()).unwrap();
    let listed = server.store.device_changes(device_id).unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|c| !c.held));
    assert_eq!(server.store.hold_device_changes(device_id).unwrap(), 3);
    assert!(
        server
            .store
            .device_changes(device_id)
            .unwrap()
            .iter()
            .all(|c| c.held)
    );

    // A new workstation of the clinic does not receive them.
    let mut fresh = server
        .enrolled_workstation("Hill ward", &server.code(hill.clinic.clinic_id))
        .await;
    let report = sync(&mut fresh).await;
    assert_eq!(report.pulled.applied, 0, "{report:?}");
    assert_eq!(fresh.status().unwrap().patients, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_stores_images_up_to_its_quota() {
    let server = start_with(ServerConfig {
        max_stored_bytes_per_device: 10_000,
        ..ServerConfig::default()
    })
    .await;
    let hill = server.clinic("Hill Clinic");
    let device = server.device(&hill.enrollment_code, "desk").await;
    let first = vec![1u8; 8_000];
    let second = vec![2u8; 8_000];
    let (first_hash, second_hash) = (BlobHash::of_bytes(&first), BlobHash::of_bytes(&second));
    refer_to(
        &device,
        &[
            (first_hash.clone(), first.len()),
            (second_hash.clone(), second.len()),
        ],
    )
    .await;
    let mut blobs = pb::blobs_client::BlobsClient::new(server.channel().await);
    let upload = |hash: &BlobHash, data: &[u8]| {
        authed(
            &device.token,
            tokio_stream::iter([upload_chunk(hash, 0, data.len(), data)]),
        )
    };
    let stored = blobs
        .upload_blob(upload(&first_hash, &first))
        .await
        .unwrap();
    assert!(stored.into_inner().complete);
    let over = blobs
        .upload_blob(upload(&second_hash, &second))
        .await
        .unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted);
    assert!(over.message().contains("quota"), "{over:?}");
    // Uploading what is stored already costs nothing.
    let again = blobs
        .upload_blob(upload(&first_hash, &first))
        .await
        .unwrap();
    assert!(again.into_inner().complete);
}
