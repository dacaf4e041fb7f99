//! The command lines as a clinic's IT person uses them: the real `outpost-server` and `outpost`
//! binaries, a server on 127.0.0.1:0, two workstations' data folders.

#![cfg(feature = "gui")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use support::run;

const SERVER: &str = env!("CARGO_BIN_EXE_outpost-server");
const OUTPOST: &str = env!("CARGO_BIN_EXE_outpost");

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Value of a `key: value` line.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {key:?} in {text}"))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `outpost-server serve` on a free loopback port and returns it with its URL.
fn serve(data: &Path) -> (Server, String) {
    serve_on(data, "127.0.0.1:0")
}

/// Starts `outpost-server serve` on `listen` and returns it with its URL (`https://` when it
/// says it listens with TLS), once it has said so.
fn serve_on(data: &Path, listen: &str) -> (Server, String) {
    let mut child = Command::new(SERVER)
        .args(["serve", "--listen", listen, "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let rest = line
        .trim()
        .strip_prefix("outpost-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let url = match rest.strip_suffix(" with TLS") {
        Some(address) => format!("https://{address}"),
        None => format!("http://{rest}"),
    };
    (Server(child), url)
}

/// `outpost sync` on the workstation in `data` as the demo's administrator (password in
/// `admin`), with `extra` arguments.
fn sync_as_admin(data: &Path, admin: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sync",
        "--data-dir",
        data.to_str().unwrap(),
        "--user",
        "admin",
        "--password-file",
        admin.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(OUTPOST, &args)
}

#[test]
fn two_workstations_share_a_patient_through_the_server_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server_data = dir.path().join("server");
    let (hill, river) = (dir.path().join("hill"), dir.path().join("river"));
    let server_dir = server_data.to_str().unwrap();

    let mut codes = Vec::new();
    let mut clinic_ids = Vec::new();
    for clinic in ["Hill Clinic", "River Clinic"] {
        let added = run(SERVER, &["clinic", "add", clinic, "--data-dir", server_dir]);
        assert!(added.status.success());
        codes.push(field(&stdout(&added), "Enrollment code"));
        clinic_ids.push(field(&stdout(&added), "Clinic id"));
    }
    // A second workstation at Hill gets a code of its own.
    let second = run(
        SERVER,
        &["clinic", "code", &clinic_ids[0], "--data-dir", server_dir],
    );
    assert!(second.status.success());
    let second_code = field(&stdout(&second), "Enrollment code");
    assert_ne!(second_code, codes[0]);
    let unknown = run(
        SERVER,
        &[
            "clinic",
            "code",
            &clinic_ids[0][..8],
            "--data-dir",
            server_dir,
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    let (server, url) = serve(&server_data);

    // Each clinic's first workstation is set up (the demo's accounts), then enrolls as its
    // administrator; records written before enrolling become the clinic's.
    let admin = dir.path().join("admin.txt");
    std::fs::write(&admin, "demo-admin-passphrase\n").unwrap();
    let as_admin = [
        "--user",
        "admin",
        "--password-file",
        admin.to_str().unwrap(),
    ];
    for (dir, patients) in [(&hill, "3"), (&river, "0")] {
        let demo = run(
            OUTPOST,
            &[
                "demo",
                "--patients",
                patients,
                "--visits",
                "1-2",
                "--data-dir",
                dir.to_str().unwrap(),
            ],
        );
        assert!(demo.status.success());
    }
    // Nothing is acknowledged before the first sync: compacting keeps every change.
    let compact = |dir: &Path| {
        let mut args = vec!["compact", "--data-dir", dir.to_str().unwrap()];
        args.extend_from_slice(&as_admin);
        let output = run(OUTPOST, &args);
        assert!(output.status.success(), "{output:?}");
        stdout(&output)
    };
    let before_sync = compact(&hill);
    assert_eq!(field(&before_sync, "changes removed"), "0");
    let waiting: u64 = field(&before_sync, "changes left in the log")
        .parse()
        .unwrap();
    assert!(
        waiting > 3,
        "the demo's patients, visits and users wait for the server"
    );
    for (dir, code) in [(&hill, &codes[0]), (&river, &codes[1])] {
        let mut args = vec![
            "sync",
            "--data-dir",
            dir.to_str().unwrap(),
            "--server",
            &url,
            "--enroll",
            code,
        ];
        args.extend_from_slice(&as_admin);
        assert!(run(OUTPOST, &args).status.success());
    }
    let sync_as_admin = |dir: &Path| {
        let mut args = vec!["sync", "--data-dir", dir.to_str().unwrap()];
        args.extend_from_slice(&as_admin);
        run(OUTPOST, &args)
    };
    let nobody = run(OUTPOST, &["sync", "--data-dir", hill.to_str().unwrap()]);
    assert_eq!(
        nobody.status.code(),
        Some(1),
        "syncing reads records: a user signs in"
    );
    assert!(sync_as_admin(&hill).status.success());
    assert!(sync_as_admin(&river).status.success());
    // Acknowledged and pulled back, the records' changes left the log with the rounds; what is
    // left is the user accounts' history.
    let after_sync = compact(&hill);
    let left: u64 = field(&after_sync, "changes left in the log")
        .parse()
        .unwrap();
    assert!(left < waiting, "{after_sync}");
    assert_eq!(field(&after_sync, "records keeping their history"), "0");
    // Each compaction is in the audit trail, as the administrator's.
    let mut args = vec!["audit", "export", "--data-dir", hill.to_str().unwrap()];
    args.extend_from_slice(&as_admin);
    let trail = run(OUTPOST, &args);
    assert!(trail.status.success());
    assert_eq!(stdout(&trail).matches("store_compacted").count(), 2);

    // A second Hill workstation, new: enrolling brings the clinic's users, and Hill's
    // administrator signing in there opens the clinic's records.
    let hill2 = dir.path().join("hill2");
    let mut args = vec![
        "sync",
        "--data-dir",
        hill2.to_str().unwrap(),
        "--server",
        &url,
        "--enroll",
        &second_code,
    ];
    args.extend_from_slice(&as_admin);
    let enrolled = run(OUTPOST, &args);
    assert!(enrolled.status.success());
    let status = stdout(&run(
        OUTPOST,
        &["status", "--data-dir", hill2.to_str().unwrap()],
    ));
    assert_eq!(
        field(&status, "patients"),
        "3",
        "the second Hill workstation has them too"
    );
    let status = stdout(&run(
        OUTPOST,
        &["status", "--data-dir", river.to_str().unwrap()],
    ));
    assert_eq!(
        field(&status, "patients"),
        "0",
        "River is another clinic: Hill's patients stay at Hill until shared"
    );
    assert_eq!(field(&status, "server"), url);
    assert_ne!(field(&status, "last sync"), "never");
    assert_eq!(field(&status, "pending changes"), "0");
    assert_eq!(field(&status, "open conflicts"), "0");

    // With the server gone, sync says so and exits 3; nothing local is lost.
    drop(server);
    let offline = sync_as_admin(&river);
    assert_eq!(offline.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&offline.stderr).contains("Server unreachable"));
    let status = stdout(&run(
        OUTPOST,
        &["status", "--data-dir", hill2.to_str().unwrap()],
    ));
    assert_eq!(field(&status, "patients"), "3");

    let devices = stdout(&run(SERVER, &["device", "list", "--data-dir", server_dir]));
    assert_eq!(devices.matches("Workstation").count(), 3, "{devices}");

    // Nothing crossed a clinic's boundary: the access log says so, and exports a header only.
    let log = run(SERVER, &["access-log", "--data-dir", server_dir]);
    assert!(log.status.success());
    assert!(stdout(&log).contains("No reads have crossed a clinic's boundary."));
    let csv = dir.path().join("access.csv");
    let export = run(
        SERVER,
        &[
            "access-log",
            "--data-dir",
            server_dir,
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    assert!(export.status.success());
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        "time,device_id,clinic_id,kind,patient_id,reason\n"
    );

    // A lost workstation: revoked, its changes listed (flagged) and held back.
    let hill_device = devices
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(
        run(
            SERVER,
            &["device", "revoke", hill_device, "--data-dir", server_dir]
        )
        .status
        .success()
    );
    let held = run(
        SERVER,
        &[
            "device",
            "changes",
            hill_device,
            "--hold",
            "--data-dir",
            server_dir,
        ],
    );
    assert!(held.status.success());
    let held = stdout(&held);
    assert!(held.contains("FLAGGED (revoked device)"), "{held}");
    assert!(held.contains("changes held back"), "{held}");

    // Codes live 1 to 30 days, and an unused one can be revoked once.
    let forever = run(
        SERVER,
        &[
            "clinic",
            "add",
            "Lake",
            "--code-valid-days",
            "0",
            "--data-dir",
            server_dir,
        ],
    );
    assert_eq!(forever.status.code(), Some(2), "clap refuses it");
    let spare = run(
        SERVER,
        &["clinic", "code", &clinic_ids[1], "--data-dir", server_dir],
    );
    let spare = field(&stdout(&spare), "Enrollment code");
    let revoke = |code: &str| {
        run(
            SERVER,
            &["clinic", "code", "--revoke", code, "--data-dir", server_dir],
        )
    };
    assert!(revoke(&spare).status.success());
    let again = revoke(&spare);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no unused code matches"));
}

#[test]
fn a_server_made_by_init_speaks_tls_and_workstations_trust_it_by_the_code_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (real, other) = (dir.path().join("real"), dir.path().join("other"));
    // `init` makes the data folder and the server's own certificate, once.
    let mut pins = Vec::new();
    for data in [&real, &other] {
        let init = run(
            SERVER,
            &[
                "init",
                "--data-dir",
                data.to_str().unwrap(),
                "--name",
                "outpost.example.org",
            ],
        );
        assert!(init.status.success());
        pins.push(field(&stdout(&init), "Pin"));
    }
    assert_ne!(pins[0], pins[1]);
    let again = run(SERVER, &["init", "--data-dir", real.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // Its codes carry the certificate's pin after the secret.
    let added = run(
        SERVER,
        &[
            "clinic",
            "add",
            "Hill Clinic",
            "--data-dir",
            real.to_str().unwrap(),
        ],
    );
    let code = field(&stdout(&added), "Enrollment code");
    assert_eq!(code.split('-').count(), 8, "{code}");
    assert_eq!(code.replace('-', "")[12..], pins[0]);
    let second = run(
        SERVER,
        &[
            "clinic",
            "code",
            &field(&stdout(&added), "Clinic id"),
            "--data-dir",
            real.to_str().unwrap(),
        ],
    );
    let second_code = field(&stdout(&second), "Enrollment code");

    // `serve` speaks TLS with it by default.
    let (real_server, url) = serve(&real);
    assert!(url.starts_with("https://"), "{url}");
    let (_other_server, other_url) = serve(&other);

    let admin = dir.path().join("admin.txt");
    std::fs::write(&admin, "demo-admin-passphrase\n").unwrap();
    let hill = dir.path().join("hill");
    let demo = run(
        OUTPOST,
        &[
            "demo",
            "--patients",
            "2",
            "--visits",
            "1",
            "--data-dir",
            hill.to_str().unwrap(),
        ],
    );
    assert!(demo.status.success());
    let sync = |data: &Path, extra: &[&str]| sync_as_admin(data, &admin, extra);

    // A man in the middle: the code sent to a server with another certificate is refused before
    // it is sent; that server never hears it.
    let intercepted = sync(&hill, &["--server", &other_url, "--enroll", &code]);
    assert_eq!(intercepted.status.code(), Some(1));
    let said = String::from_utf8_lossy(&intercepted.stderr);
    assert!(
        said.contains("not the one the enrollment code names"),
        "{said}"
    );
    let devices = run(
        SERVER,
        &["device", "list", "--data-dir", other.to_str().unwrap()],
    );
    assert!(stdout(&devices).contains("No devices enrolled yet."));

    // The real server: no certificate file to copy.
    let enrolled = sync(&hill, &["--server", &url, "--enroll", &code]);
    assert!(enrolled.status.success());
    assert!(sync(&hill, &[]).status.success());
    let devices = run(
        SERVER,
        &["device", "list", "--data-dir", real.to_str().unwrap()],
    );
    assert_eq!(stdout(&devices).matches("Workstation").count(), 1);

    // The server's address now answers with another certificate: refused, and not taken for a
    // network failure (exit 1, not 3).
    let port = url.rsplit(':').next().unwrap().to_owned();
    drop(real_server);
    let (_impostor, impostor_url) = serve_on(&other, &format!("127.0.0.1:{port}"));
    assert_eq!(impostor_url, url);
    let refused = sync(&hill, &[]);
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("not the one this workstation trusts"),
        "{said}"
    );

    // A second workstation of the clinic, given its own code, gets the same pinned trust.
    let hill2 = dir.path().join("hill2");
    let (_real_again, url_again) = serve(&real);
    let enrolled = sync(&hill2, &["--server", &url_again, "--enroll", &second_code]);
    assert!(enrolled.status.success());
}

#[test]
fn a_server_backed_up_while_it_serves_is_restored_with_its_records_and_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let data_arg = data.to_str().unwrap();
    assert!(
        run(SERVER, &["init", "--data-dir", data_arg])
            .status
            .success()
    );
    let added = run(
        SERVER,
        &["clinic", "add", "Hill Clinic", "--data-dir", data_arg],
    );
    let code = field(&stdout(&added), "Enrollment code");
    let (server, url) = serve(&data);

    let admin = dir.path().join("admin.txt");
    std::fs::write(&admin, "demo-admin-passphrase\n").unwrap();
    let hill = dir.path().join("hill");
    let hill_arg = hill.to_str().unwrap();
    assert!(
        run(
            OUTPOST,
            &[
                "demo",
                "--patients",
                "4",
                "--visits",
                "1",
                "--data-dir",
                hill_arg
            ]
        )
        .status
        .success()
    );
    let sync = |extra: &[&str]| sync_as_admin(&hill, &admin, extra);
    assert!(
        sync(&["--server", &url, "--enroll", &code])
            .status
            .success()
    );

    // Written while the server serves; checked against its manifest.
    let backup = dir.path().join("server-backup");
    let written = run(
        SERVER,
        &[
            "backup",
            "--data-dir",
            data_arg,
            "--to",
            backup.to_str().unwrap(),
        ],
    );
    assert!(written.status.success());
    let verified = run(SERVER, &["backup", "verify", backup.to_str().unwrap()]);
    assert!(verified.status.success());
    assert!(stdout(&verified).contains("The backup is whole."));

    // The server's disk is lost: the backup becomes its data folder, on the same address.
    let port = url.rsplit(':').next().unwrap().to_owned();
    drop(server);
    std::fs::remove_dir_all(&data).unwrap();
    let (_restored, restored_url) = serve_on(&backup, &format!("127.0.0.1:{port}"));
    assert_eq!(restored_url, url);
    // The workstation trusts it (the same certificate) and finds its device and records there.
    let synced = sync(&[]);
    assert!(synced.status.success());
    let devices = run(
        SERVER,
        &["device", "list", "--data-dir", backup.to_str().unwrap()],
    );
    assert_eq!(stdout(&devices).matches("active").count(), 1);
    let status = stdout(&run(OUTPOST, &["status", "--data-dir", hill_arg]));
    assert_eq!(field(&status, "pending changes"), "0");
}

#[test]
fn bad_input_gets_a_clear_error_and_a_failure_status() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let bad = run(OUTPOST, &["demo", "--visits", "9-2", "--data-dir", data]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("MIN-MAX"));
    let unenrolled = run(OUTPOST, &["sync", "--data-dir", data]);
    assert_eq!(unenrolled.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unenrolled.stderr).contains("not set up yet"));
    let out = dir.path().join("rx.pdf");
    let out = out.to_str().unwrap();
    for (args, says) in [
        (
            ["--visit", "not-an-id", "--paper", "a4"],
            "--visit is a visit's id",
        ),
        (
            [
                "--visit",
                "01a23cde-17f3-7760-b03b-a1a88eb0aacb",
                "--paper",
                "a5",
            ],
            "--paper is a4, letter or 80mm",
        ),
    ] {
        let mut line = vec!["print", "prescription", "--data-dir", data, "--out", out];
        line.extend_from_slice(&args);
        let refused = run(OUTPOST, &line);
        assert_eq!(refused.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&refused.stderr).contains(says));
    }
    assert!(!Path::new(out).exists(), "nothing written");
}

#[test]
fn dicom_info_describes_and_decodes_each_file_and_fails_on_a_bad_one() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom");
    let ct = samples.join("CT_small.dcm");
    let cine = samples.join("examples_ybr_color.dcm");
    let output = run(
        OUTPOST,
        &["dicom-info", ct.to_str().unwrap(), cine.to_str().unwrap()],
    );
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(
        text.contains("patient: CT1 CompressedSamples (ID 1CT1"),
        "{text}"
    );
    assert!(text.contains("modality: CT"), "{text}");
    assert!(
        text.contains("transfer syntax: Explicit VR Little Endian (1.2.840.10008.1.2.1)"),
        "{text}"
    );
    assert!(text.contains("size: 128 x 128, 1 frame(s)"), "{text}");
    assert!(
        text.contains("1.2.840.10008.1.2.4.50"),
        "the JPEG file names its syntax: {text}"
    );
    assert!(
        text.contains("frame 30/30: 320 x 240, colour"),
        "every frame decoded: {text}"
    );

    let bad = samples.join("no_meta.dcm");
    let output = run(
        OUTPOST,
        &["dicom-info", ct.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("no_meta.dcm: not a DICOM file"), "{errors}");
    assert!(
        errors.contains("1 of 2 file(s) could not be read"),
        "{errors}"
    );
}

#[test]
fn import_puts_the_sample_cd_into_a_patients_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let demo = run(OUTPOST, &["demo", "--patients", "3", "--data-dir", data]);
    assert!(demo.status.success());
    // The demo prints an account for each role.
    let accounts = stdout(&demo);
    for line in [
        "account: administrator admin demo-admin-passphrase",
        "account: clinician amina demo-clinician-passphrase",
        "account: nurse peter demo-nurse-passphrase",
        "account: receptionist grace demo-reception-passphrase",
    ] {
        assert!(accounts.lines().any(|l| l == line), "{accounts}");
    }
    let password_file = |name: &str, password: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{password}\n")).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let clinician = password_file("clinician.txt", "demo-clinician-passphrase");
    let receptionist = password_file("receptionist.txt", "demo-reception-passphrase");
    let cd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom/dicomdir_cd");
    let import_as = |user: &[&str], number: &str| {
        let mut args = vec!["import", "--patient", number, "--data-dir", data];
        args.extend_from_slice(user);
        args.push(cd.to_str().unwrap());
        run(OUTPOST, &args)
    };

    // Nobody signed in, and a receptionist: refused, nothing imported.
    let output = import_as(&[], "OUT-000001");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--user NAME"));
    let output = import_as(
        &["--user", "grace", "--password-file", &receptionist],
        "OUT-000001",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Your role does not allow you"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = import_as(
        &["--user", "amina", "--password-file", &receptionist],
        "OUT-000001",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("user name or password"));

    // The CD's images name other people: without a terminal to ask, nothing is imported.
    let output = import_as(
        &["--user", "amina", "--password-file", &clinician],
        "OUT-000001",
    );
    assert_eq!(output.status.code(), Some(1));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        errors.contains("24 file(s) of Peter Doe (different name)"),
        "{errors}"
    );
    assert!(errors.contains("--accept-other-names"), "{errors}");
    // Said so: imported (all 31 files, so none came in before).
    let output = import_as(
        &[
            "--user",
            "amina",
            "--password-file",
            &clinician,
            "--accept-other-names",
        ],
        "OUT-000001",
    );
    assert!(output.status.success());
    assert!(
        stdout(&output).starts_with(
            "imported 31 file(s) into 6 stud(ies), 13 series; 0 already there; 0 failed"
        ),
        "{}",
        stdout(&output)
    );
    let output = import_as(
        &["--user", "amina", "--password-file", &clinician],
        "OUT-999999",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no patient numbered OUT-999999"));

    // The CD goes out again, de-identified, as a folder with a DICOMDIR.
    let out = dir.path().join("teaching");
    let export = |extra: &[&str]| {
        let mut args = vec![
            "export",
            "dicom",
            "--data-dir",
            data,
            "--user",
            "amina",
            "--password-file",
            &clinician,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(OUTPOST, &args)
    };
    let output = export(&["--patient", "OUT-000001", "--deidentify"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(&output);
    assert_eq!(field(&text, "files"), "31");
    assert_eq!(field(&text, "studies"), "6");
    assert!(
        field(&text, "de-identified").ends_with("DEIDENT.TXT"),
        "{text}"
    );
    assert!(out.join("DICOMDIR").exists() && out.join("DEIDENT.TXT").exists());
    let output = export(&["--patient", "OUT-000001"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not empty"));
    let output = export(&["--patient", "nobody"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--patient is a patient number"));
}

#[test]
fn print_writes_a_patient_summary_by_number_and_refuses_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let demo = run(OUTPOST, &["demo", "--patients", "5", "--data-dir", data]);
    assert!(demo.status.success());
    let password = dir.path().join("clinician.txt");
    std::fs::write(&password, "demo-clinician-passphrase\n").unwrap();
    let password = password.to_str().unwrap();
    let out = dir.path().join("summary.pdf");
    let print = |number: &str| {
        run(
            OUTPOST,
            &[
                "print",
                "patient-summary",
                "--patient",
                number,
                "--paper",
                "80mm",
                "--out",
                out.to_str().unwrap(),
                "--data-dir",
                data,
                "--user",
                "amina",
                "--password-file",
                password,
            ],
        )
    };
    let printed = print("OUT-000002");
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    assert_eq!(
        field(&stdout(&printed), "bytes"),
        std::fs::metadata(&out).unwrap().len().to_string()
    );
    assert!(std::fs::read(&out).unwrap().starts_with(b"%PDF-"));
    std::fs::remove_file(&out).unwrap();
    let unknown = print("OUT-000999");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no patient here has the number"));
    assert!(!out.exists());
}

#[test]
fn export_research_writes_the_tables_and_refuses_a_folder_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let demo = run(OUTPOST, &["demo", "--patients", "200", "--data-dir", data]);
    assert!(demo.status.success());
    let password = dir.path().join("clinician.txt");
    std::fs::write(&password, "demo-clinician-passphrase\n").unwrap();
    let out = dir.path().join("extract");
    let export = || {
        run(
            OUTPOST,
            &[
                "export",
                "research",
                "--data-dir",
                data,
                "--user",
                "amina",
                "--password-file",
                password.to_str().unwrap(),
                "--from",
                "2020-01-01",
                "--to",
                "2030-12-31",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    let output = export();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = stdout(&output);
    let visits: usize = field(&text, "visits").parse().unwrap();
    assert!(visits > 0, "{text}");
    assert_eq!(field(&text, "k"), "5");
    let smallest: usize = field(&text, "smallest group").parse().unwrap();
    assert!(smallest >= 5, "{text}");
    let written = std::fs::read_to_string(out.join("visits.csv")).unwrap();
    assert_eq!(
        written.lines().count(),
        visits + 1,
        "a header and one line per visit"
    );
    for name in [
        "diagnoses.csv",
        "vitals.csv",
        "prescriptions.csv",
        "extract.txt",
    ] {
        assert!(out.join(name).exists(), "{name}");
    }
    let again = export();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
}
