//! Encryption at rest, tried as someone holding the disk would: every file of a demo's data
//! folder (with images, a backup, and the WAL of a running workstation) searched for the
//! patients' names; the sqlite3 shell on the database; the recovery key and backups; and the
//! move of a plain workstation to encryption stopped after every step, as a power cut would.

#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use outpost::app::{AppService, EncryptionState, SignInStart};
use outpost::keys::DataKey;
use outpost::model::{BlobHash, Patient, Sex};
use outpost::store::{
    BlobFiles, DATABASE_FILE, EncryptStep, FileState, MigrationProgress, PatientSort, Store,
    StoreError, encrypt_in_place, file_state,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const OUTPOST: &str = env!("CARGO_BIN_EXE_outpost");

fn run(args: &[&str]) -> Output {
    support::run(OUTPOST, args)
}

/// Every file under `dir`, with its bytes.
fn every_file(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else {
            let bytes = std::fs::read(&path).unwrap();
            files.push((path, bytes));
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_file_of_a_demo_with_images_and_a_backup_holds_a_patients_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data_arg = data.to_str().unwrap();
    let password = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{text}\n")).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let clinician = password("clinician.txt", "demo-clinician-passphrase");
    let admin = password("admin.txt", "demo-admin-passphrase");

    let made = run(&["demo", "--patients", "300", "--data-dir", data_arg]);
    assert!(made.status.success());
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dicom");
    let imported = run(&[
        "import",
        "--data-dir",
        data_arg,
        "--user",
        "amina",
        "--password-file",
        &clinician,
        "--patient",
        "OUT-000001",
        // The sample files name other (fictional) people.
        "--accept-other-names",
        samples,
    ]);
    assert!(imported.status.success());
    let backup = run(&[
        "backup",
        "--data-dir",
        data_arg,
        "--user",
        "admin",
        "--password-file",
        &admin,
    ]);
    assert!(backup.status.success());
    let backup_dir = String::from_utf8_lossy(&backup.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("backup: ").map(PathBuf::from))
        .unwrap();
    assert!(backup_dir.starts_with(&data), "{backup_dir:?}");

    // The backup's manifest vouches for every file; no password is needed to check it.
    let verified = run(&["backup", "verify", backup_dir.to_str().unwrap()]);
    assert!(verified.status.success());
    let said = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(said.contains("encrypted: yes"), "{said}");
    // A damaged copy: one image file changed by a byte, another gone; both are named.
    let damaged = dir.path().join("damaged-backup");
    copy_tree(&backup_dir, &damaged);
    let mut images: Vec<PathBuf> = Vec::new();
    let mut folders = vec![damaged.join("blobs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                images.push(path);
            }
        }
    }
    images.sort();
    assert!(images.len() >= 2, "{images:?}");
    let mut bytes = std::fs::read(&images[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&images[0], bytes).unwrap();
    std::fs::remove_file(&images[1]).unwrap();
    let refused = run(&["backup", "verify", damaged.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stdout).into_owned();
    let name = |path: &Path| path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        said.lines().any(|l| l.starts_with("problem: ")
            && l.contains(&name(&images[0]))
            && l.contains("changed")),
        "{said}"
    );
    assert!(
        said.lines().any(|l| l.starts_with("problem: ")
            && l.contains(&name(&images[1]))
            && l.contains("missing")),
        "{said}"
    );

    // Signed in and writing, so the WAL holds fresh pages while the files are searched.
    let mut service = AppService::open_dir(&data).unwrap();
    service
        .sign_in("amina", "demo-clinician-passphrase")
        .unwrap();
    let store = service.store();
    let order = store.patient_order(PatientSort::Name, false).unwrap();
    let rows = store.patient_rows(&order).unwrap();
    assert_eq!(rows.len(), 300);
    let mut names: Vec<String> = Vec::new();
    for row in &rows {
        let patient = store.patient(row.patient_id).unwrap();
        for name in [
            &patient.family_name,
            &patient.given_name,
            &patient.other_script_name,
        ] {
            // Shorter byte strings turn up by chance in megabytes of ciphertext.
            if name.len() >= 6 && !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    // The names written inside the imported DICOM files.
    let first = rows.iter().find(|r| r.number == "OUT-000001").unwrap();
    let attachments = store.attachments(first.patient_id, false).unwrap();
    assert!(!attachments.is_empty());
    for attachment in &attachments {
        let name = attachment.source_patient_name.trim().to_owned();
        if name.len() >= 6 && !names.contains(&name) {
            names.push(name);
        }
    }
    assert!(names.len() > 200, "{} names", names.len());
    let registered = Patient {
        family_name: "Wanjiru-Kamau".to_owned(),
        given_name: "Esther Nyambura".to_owned(),
        sex: Sex::Female,
        ..Patient::blank(store.clinic_id())
    };
    service
        .execute(outpost::app::Command::RegisterPatient(registered))
        .unwrap();
    names.extend(["Wanjiru-Kamau".to_owned(), "Esther Nyambura".to_owned()]);
    assert!(data.join(format!("{DATABASE_FILE}-wal")).is_file());

    let files = every_file(&data);
    let blob_files = files
        .iter()
        .filter(|(path, _)| path.components().any(|c| c.as_os_str() == "blobs"))
        .count();
    assert!(
        blob_files >= 2 * attachments.len(),
        "{blob_files} image files"
    );
    let total: usize = files.iter().map(|(_, bytes)| bytes.len()).sum();
    assert!(total > 1_000_000, "{total} bytes");
    for (path, bytes) in &files {
        for name in &names {
            assert!(
                !contains(bytes, name.as_bytes()),
                "{} holds a patient's name",
                path.display()
            );
        }
    }
    drop(service);

    // The backup is a data folder of its own: the clinician's password opens it.
    let mut restored = AppService::open_dir(&backup_dir).unwrap();
    restored
        .sign_in("amina", "demo-clinician-passphrase")
        .unwrap();
    let store = restored.store();
    assert_eq!(
        store.patient_order(PatientSort::Name, false).unwrap().len(),
        300
    );
    for attachment in store.attachments(first.patient_id, false).unwrap() {
        let bytes = store.read_blob(&attachment.blob).unwrap().unwrap();
        assert_eq!(BlobHash::of_bytes(&bytes), attachment.blob);
    }
}

#[test]
fn the_sqlite3_shell_cannot_read_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let mut service = support::signed_in(Store::open(&path).unwrap());
    let clinic = service.store().clinic_id();
    service
        .execute(outpost::app::Command::RegisterPatient(Patient {
            family_name: "Otieno".to_owned(),
            given_name: "Brian".to_owned(),
            sex: Sex::Male,
            ..Patient::blank(clinic)
        }))
        .unwrap();
    drop(service);
    assert_eq!(file_state(&path).unwrap(), FileState::Encrypted);
    // The sqlite3 shell (installed by .ci/run), or the same library through Python's module.
    let shell = Command::new("sqlite3")
        .arg(&path)
        .arg("SELECT count(*) FROM patient;")
        .output();
    let output = match shell {
        Ok(output) => output,
        Err(_) => Command::new("python3")
            .args([
                "-c",
                "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM patient').fetchone())",
            ])
            .arg(&path)
            .output()
            .unwrap(),
    };
    let said = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(!output.status.success(), "{output:?}");
    assert!(said.contains("not a database"), "{said}");
}

/// Copies a folder as it is at this instant (what a power cut would leave).
fn snapshot(from: &Path, to: &Path) {
    for (path, bytes) in every_file(from) {
        let target = to.join(path.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

/// A step callback that, after `stop`, copies `live` to `cut` as a power cut would leave it and
/// stops the work.
fn power_cut_after<'a>(
    stop: EncryptStep,
    live: &'a Path,
    cut: &'a Path,
) -> impl FnMut(EncryptStep) -> Result<(), StoreError> + 'a {
    move |step| {
        if step == stop {
            snapshot(live, cut);
            return Err(StoreError::Encrypting {
                step: "the test's power cut",
                detail: format!("{step:?}"),
            });
        }
        Ok(())
    }
}

fn patients_in(store: &Store) -> usize {
    store.patient_order(PatientSort::Name, false).unwrap().len()
}

#[test]
fn a_power_cut_after_any_step_of_the_move_to_encryption_leaves_a_usable_workstation() {
    let key = DataKey::generate().unwrap();
    for stop in EncryptStep::ALL {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let (path, blob, image) = support::plain_workstation(&live);
        let cut = dir.path().join("cut");
        let stopped = encrypt_in_place(
            &path,
            &key,
            power_cut_after(stop, &live, &cut),
            |written, of| assert!(written <= of),
        );
        assert!(stopped.is_err());
        let cut_db = cut.join(DATABASE_FILE);
        // Before the rename the plain file is whole and still opens as it is; after it, the
        // encrypted one opens with the key.
        match file_state(&cut_db).unwrap() {
            FileState::Plain => {
                assert!(stop != EncryptStep::Replaced);
                assert_eq!(patients_in(&Store::open(&cut_db).unwrap()), 2, "{stop:?}");
            }
            FileState::Encrypted => assert_eq!(stop, EncryptStep::Replaced),
            FileState::Missing => panic!("no database after {stop:?}"),
        }
        // The next open goes on, whatever the step.
        let store = Store::open_keyed(&cut_db, &key).unwrap();
        assert_eq!(patients_in(&store), 2, "{stop:?}");
        assert_eq!(store.read_blob(&blob).unwrap().unwrap(), image);
        assert!(!cut.join(format!("{DATABASE_FILE}.encrypting")).exists());
        let sealed = std::fs::read(store.blob_path(&blob)).unwrap();
        assert!(!contains(&sealed, b"Kiprotich"), "{stop:?}");
    }
}

#[test]
fn a_power_cut_while_the_images_are_sealed_leaves_each_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let (path, blob, image) = support::plain_workstation(&live);
    // A second image, so the cut falls between two.
    let other: Vec<u8> = (0..150_000u32).map(|i| (i % 7) as u8).collect();
    let other_blob = BlobHash::of_bytes(&other);
    Store::open(&path)
        .unwrap()
        .put_blob(&other_blob, &other)
        .unwrap();
    let key = DataKey::generate().unwrap();
    let cut = dir.path().join("cut");
    let reported = std::sync::Mutex::new(Vec::new());
    let store = Store::open_keyed_with_progress(&path, &key, &|progress| {
        if progress == (MigrationProgress::Images { done: 1, of: 2 }) {
            snapshot(&live, &cut);
        }
        reported.lock().unwrap().push(progress);
    })
    .unwrap();
    let reported = reported.into_inner().unwrap();
    // The copy's size, reported while it is written (as often as the copy takes time), grows.
    assert!(
        reported
            .windows(2)
            .all(|w| w[0].fraction() <= w[1].fraction())
    );
    let seen: Vec<MigrationProgress> = reported
        .into_iter()
        .filter(|p| !matches!(p, MigrationProgress::Copying { .. }))
        .collect();
    assert_eq!(
        seen,
        EncryptStep::ALL
            .iter()
            .map(|s| MigrationProgress::Database(*s))
            .chain([
                MigrationProgress::Images { done: 1, of: 2 },
                MigrationProgress::Images { done: 2, of: 2 }
            ])
            .collect::<Vec<_>>()
    );
    assert!(seen.windows(2).all(|w| w[0].fraction() < w[1].fraction()));
    drop(store);
    // The cut folder: the database encrypted, one image sealed and one plain. Both read, and the
    // next open seals the other.
    let cut_db = cut.join(DATABASE_FILE);
    let files = BlobFiles::new(cut.join("blobs"), Some(key.blob_key()));
    let plain_now = [&blob, &other_blob]
        .iter()
        .filter(|b| {
            !std::fs::read(files.path(b))
                .unwrap()
                .starts_with(b"OPSEAL1")
        })
        .count();
    assert_eq!(plain_now, 1);
    let store = Store::open_keyed(&cut_db, &key).unwrap();
    assert_eq!(store.read_blob(&blob).unwrap().unwrap(), image);
    assert_eq!(store.read_blob(&other_blob).unwrap().unwrap(), other);
    for b in [&blob, &other_blob] {
        assert!(
            std::fs::read(files.path(b))
                .unwrap()
                .starts_with(b"OPSEAL1")
        );
    }
}

#[test]
fn a_plain_workstation_is_encrypted_at_its_first_sign_in_on_the_encrypt_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (path, blob, image) = support::plain_workstation(dir.path());
    let mut service = AppService::open_dir(dir.path()).unwrap();
    assert!(service.is_open());
    let (woken_tx, woken) = std::sync::mpsc::channel();
    let started = service
        .begin_sign_in("achieng", support::PASSWORD, move || {
            let _ = woken_tx.send(());
        })
        .unwrap();
    assert_eq!(started, SignInStart::Encrypting);
    // Nothing of a patient is open while the files are encrypted.
    assert!(!service.is_open());
    assert!(service.user().is_none());
    woken.recv().unwrap();
    service.wait_for_encryption();
    assert_eq!(
        service.poll_encryption().unwrap().unwrap(),
        EncryptionState::SignedIn
    );
    assert!(service.poll_encryption().is_none());
    assert_eq!(service.user().unwrap().user_name, "achieng");
    assert_eq!(file_state(&path).unwrap(), FileState::Encrypted);
    assert_eq!(patients_in(service.store()), 2);
    assert_eq!(service.store().read_blob(&blob).unwrap().unwrap(), image);
    drop(service);

    // From then on a sign-in opens the encrypted file at once.
    let mut service = AppService::open_dir(dir.path()).unwrap();
    assert!(!service.is_open());
    assert_eq!(
        service
            .begin_sign_in("achieng", support::PASSWORD, || {})
            .unwrap(),
        SignInStart::SignedIn
    );
}

#[test]
fn a_wrong_password_starts_no_encryption() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = support::plain_workstation(dir.path());
    let mut service = AppService::open_dir(dir.path()).unwrap();
    assert!(
        service
            .begin_sign_in("achieng", "not the password at all", || {})
            .is_err()
    );
    assert!(service.poll_encryption().is_none());
    assert_eq!(file_state(&path).unwrap(), FileState::Plain);
    assert!(service.is_open());
}

#[test]
fn a_power_cut_while_a_workstation_takes_its_clinics_key_is_finished_by_the_next_sign_in() {
    use outpost::keys::{KdfParams, KeySlot, seal_forward, user_slot_owner};
    use outpost::model::{Action, Role, Roles, UserAccount, UserId};
    use outpost::store::Keyring;
    let clinic_key = DataKey::generate().unwrap();
    for stop in EncryptStep::ALL {
        for who in ["achieng", "wambui"] {
            let dir = tempfile::tempdir().unwrap();
            let live = dir.path().join("live");
            // A workstation with its own key, a patient, an image, and a clinic user (whose slot
            // holds the clinic's key) as enrollment brings them.
            let mut service = support::signed_in(Store::open_dir(&live).unwrap());
            let clinic = service.store().clinic_id();
            let registered = match service
                .execute(outpost::app::Command::RegisterPatient(Patient {
                    family_name: "Nyaboke".into(),
                    given_name: "Ruth".into(),
                    sex: Sex::Female,
                    ..Patient::blank(clinic)
                }))
                .unwrap()
            {
                outpost::app::Outcome::PatientRegistered(p) => p,
                other => panic!("{other:?}"),
            };
            let image = b"an outpost photo ".repeat(10_000);
            let blob = BlobHash::of_bytes(&image);
            let store = service.store_for(Action::WriteClinical).unwrap();
            store.put_blob(&blob, &image).unwrap();
            let wambui = UserId::new();
            store
                .save_user(&UserAccount {
                    user_id: wambui,
                    user_name: "wambui".into(),
                    full_name: "Dr Wambui".into(),
                    roles: Roles::of(&[Role::Clinician]),
                    disabled: false,
                    must_change_password: false,
                    key_slot: KeySlot::seal(
                        &clinic_key,
                        support::PASSWORD.as_bytes(),
                        &user_slot_owner(&wambui.to_string()),
                        KdfParams::TEST_ONLY,
                    )
                    .unwrap()
                    .to_text(),
                })
                .unwrap();
            let own_key = service.session().unwrap().data_key().clone();
            drop(service);

            // What taking the clinic's key does, cut after `stop`.
            let mut keyring = Keyring::load(&live).unwrap();
            keyring.forward_slot = Some(seal_forward(&clinic_key, &own_key).unwrap().to_text());
            keyring.moving_from_slot = Some(seal_forward(&own_key, &clinic_key).unwrap().to_text());
            keyring.save(&live).unwrap();
            let cut = dir.path().join("cut");
            let path = live.join(DATABASE_FILE);
            let stopped = Store::rekey(
                &path,
                &own_key,
                &clinic_key,
                power_cut_after(stop, &live, &cut),
            );
            assert!(stopped.is_err());

            // Whoever signs in next, a local user or the clinic's, finishes the move.
            let mut service = AppService::open_dir(&cut)
                .unwrap()
                .with_kdf(KdfParams::TEST_ONLY);
            service.sign_in(who, support::PASSWORD).unwrap();
            assert_eq!(service.session().unwrap().data_key(), &clinic_key);
            assert!(service.store().is_keyed_with(&clinic_key), "{stop:?} {who}");
            assert_eq!(
                service.store().patient(registered.patient_id).unwrap(),
                registered
            );
            assert_eq!(service.store().read_blob(&blob).unwrap().unwrap(), image);
            let clinic_files = BlobFiles::new(cut.join("blobs"), Some(clinic_key.blob_key()));
            assert_eq!(clinic_files.read(&blob).unwrap().unwrap(), image);
            assert!(Keyring::load(&cut).unwrap().moving_from_slot.is_none());
            drop(service);
            let mut again = AppService::open_dir(&cut)
                .unwrap()
                .with_kdf(KdfParams::TEST_ONLY);
            again.sign_in("achieng", support::PASSWORD).unwrap();
            again.sign_out().unwrap();
            again.sign_in("wambui", support::PASSWORD).unwrap();
        }
    }
}

/// Copies a folder and everything in it.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
