//! Sync from the window: connecting a workstation to the real server on `127.0.0.1:0`, sending a
//! registered patient with "Sync now", and settling a conflict on the Conflicts screen. Each test
//! runs the real app on a real store in a fresh temp dir; the server runs on a tokio runtime the
//! test owns, while the app's own "sync" thread talks to it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/stores.rs"]
mod stores;
mod support;

use chrono::{NaiveDate, Utc};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use outpost::model::{DateOfBirth, Patient, Sex};
use outpost::server::{ServerConfig, ServerStore, add_clinic, serve};
use outpost::store::Store;
use outpost::sync::client::SyncClient;
use outpost::sync::engine;
use outpost::ui::OutpostApp;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The real server on a runtime of its own; stops when dropped.
struct Server {
    url: String,
    store: Arc<dyn ServerStore>,
    stop: Option<oneshot::Sender<()>>,
    runtime: tokio::runtime::Runtime,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn start_server() -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = stores::open_server_store(dir.path());
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let served = store.clone();
    // The listener is bound already, so connections queue until the server accepts them.
    runtime.spawn(async move {
        serve(served, listener, ServerConfig::default(), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Server {
        url,
        store,
        stop: Some(stop),
        runtime,
        _dir: dir,
    }
}

impl Server {
    fn enrollment_code(&self, clinic: &str) -> String {
        add_clinic(
            self.store.as_ref(),
            clinic,
            Utc::now().timestamp_millis(),
            outpost::server::DEFAULT_CODE_VALIDITY,
        )
        .unwrap()
        .enrollment_code
    }

    /// An enrollment code for another workstation of `clinic`.
    fn another_code(&self, clinic: outpost::model::ClinicId) -> String {
        outpost::server::new_enrollment_code(
            self.store.as_ref(),
            clinic,
            Utc::now().timestamp_millis(),
            outpost::server::DEFAULT_CODE_VALIDITY,
        )
        .unwrap()
    }

    /// A workstation store in `dir`, enrolled in a new clinic.
    fn workstation(&self, dir: &TempDir, clinic: &str) -> Store {
        let code = self.enrollment_code(clinic);
        self.enrolled(dir, clinic, &code)
    }

    /// A workstation store in `dir/name`, enrolled with `code`.
    fn enrolled(&self, dir: &TempDir, name: &str, code: &str) -> Store {
        let mut store = Store::open_dir(&dir.path().join(name)).unwrap();
        self.runtime
            .block_on(engine::enroll(
                &mut store,
                &self.url,
                code,
                "Front desk",
                None,
                false,
            ))
            .unwrap();
        store
    }

    /// One sync round of `store`, the way the engine runs it.
    fn sync(&self, store: &mut Store) {
        self.runtime.block_on(async {
            let client = SyncClient::connect(engine::client_config(store).unwrap())
                .await
                .unwrap();
            engine::sync_once(store, &client, |_| {}).await.unwrap();
        });
    }
}

fn harness(app: OutpostApp) -> Harness<'static, OutpostApp> {
    Harness::builder()
        .with_size([1400.0, 900.0])
        .with_theme(egui::Theme::Light)
        .with_max_steps(16)
        .with_context_setup(outpost::ui::setup_context)
        .build_ui_state(|ui, app: &mut OutpostApp| app.show(ui), app)
}

fn store_in(dir: &Path) -> Store {
    let mut store = Store::open_dir(dir).unwrap();
    store.ensure_icd10().unwrap();
    store.set_setting("user_name", "Dr Achieng").unwrap();
    store
}

/// Steps frames until `done` holds, waking whenever the sync thread (or the window) asks for a
/// repaint; panics with the window's labels if it never does.
fn wait_until(
    harness: &mut Harness<'_, OutpostApp>,
    what: &str,
    done: impl Fn(&Harness<'_, OutpostApp>) -> bool,
) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        support::step_until(harness, what, &done);
    }));
    if result.is_err() {
        let shown: Vec<String> = harness
            .query_all_by_role(Role::Label)
            .filter_map(|node| node.value())
            .collect();
        panic!("waited in vain for {what}; the window shows: {shown:?}");
    }
}

fn shows(harness: &Harness<'_, OutpostApp>, text: &str) -> bool {
    harness.query_by_label_contains(text).is_some()
}

fn type_into(harness: &mut Harness<'_, OutpostApp>, label: &str, text: &str) {
    harness
        .get_by_role_and_label(Role::TextInput, label)
        .focus();
    harness.run();
    harness
        .get_by_role_and_label(Role::TextInput, label)
        .type_text(text);
    harness.run();
}

/// Presses a button that hands work to the sync thread (its answers wake the window, so the
/// frames do not settle at once).
fn press_for_worker(harness: &mut Harness<'_, OutpostApp>, label: &str) {
    harness
        .get_by_role_and_label(Role::Button, label)
        .click_accesskit();
    harness.run_ok();
}

#[test]
fn connect_to_the_server_then_sync_a_registered_patient() {
    let server = start_server();
    let code = server.enrollment_code("Hill Clinic");
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store_in(dir.path()))));
    harness.get_by_label("Not connected to a server");

    harness
        .get_by_role_and_label(Role::Button, "Connect to server…")
        .click();
    harness.run();

    // An address nobody answers at: the error is in plain words and the typed values stay.
    type_into(&mut harness, "Server address", "http://127.0.0.1:1");
    type_into(&mut harness, "Enrollment code", &code);
    press_for_worker(&mut harness, "Connect");
    wait_until(&mut harness, "the unreachable address to fail", |h| {
        shows(h, "Server unreachable")
    });
    assert_eq!(
        harness
            .get_by_role_and_label(Role::TextInput, "Enrollment code")
            .value()
            .as_deref(),
        Some(code.as_str()),
        "the code is kept"
    );

    // The right address: "Test connection" says it works, "Connect" joins the clinic.
    harness
        .get_by_role_and_label(Role::TextInput, "Server address")
        .set_text_value_accesskit(&server.url);
    harness.run();
    press_for_worker(&mut harness, "Test connection");
    wait_until(&mut harness, "the connection test", |h| {
        shows(h, "the connection works")
    });
    press_for_worker(&mut harness, "Connect");
    wait_until(&mut harness, "the first round after enrolling", |h| {
        shows(h, "Online — last sync")
    });
    harness.get_by_label("Connected to Hill Clinic.");
    assert!(
        harness
            .query_by_role_and_label(Role::TextInput, "Enrollment code")
            .is_none(),
        "the dialog closed"
    );
    assert_eq!(
        engine::clinic_name(harness.state().store())
            .unwrap()
            .as_deref(),
        Some("Hill Clinic")
    );

    // A patient registered here reaches the server (with "Sync now", unless the sync thread has
    // taken the change up first).
    let before = server.store.last_seq().unwrap();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::N);
    harness.run();
    type_into(&mut harness, "Given name", "Amina");
    type_into(&mut harness, "Family name", "Achieng");
    type_into(
        &mut harness,
        "Date of birth",
        &support::typed_date(1988, 2, 29),
    );
    harness
        .get_by_role_and_label(Role::Button, "Save patient")
        .click_accesskit();
    harness.run();
    assert_eq!(harness.state().store().patient_count().unwrap(), 1);

    press_for_worker(&mut harness, "Sync now");
    wait_until(&mut harness, "the patient to reach the server", |h| {
        server.store.last_seq().unwrap() > before && shows(h, "All changes synced")
    });
    assert_eq!(harness.state().store().status().unwrap().pending_changes, 0);

    // A second workstation of the clinic receives the patient.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = Store::open_dir(other_dir.path()).unwrap();
    let other_code = server.another_code(harness.state().store().clinic_id());
    server
        .runtime
        .block_on(engine::enroll(
            &mut other,
            &server.url,
            &other_code,
            "Ward",
            None,
            false,
        ))
        .unwrap();
    server.sync(&mut other);
    let found = other.search_patients("Amina", 5).unwrap();
    assert_eq!(found.rows.len(), 1, "{found:?}");
}

fn amina(store: &Store) -> Patient {
    let mut patient = Patient::blank(store.clinic_id());
    patient.given_name = "Amina".into();
    patient.family_name = "Achieng".into();
    patient.sex = Sex::Female;
    patient.birth = Some(DateOfBirth::exact(
        NaiveDate::from_ymd_opt(1988, 2, 29).unwrap(),
    ));
    patient
}

#[test]
fn a_phone_changed_at_two_workstations_is_settled_on_the_conflicts_screen() {
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let mut a = server.workstation(&dir, "Hill Clinic");
    let code = server.another_code(a.clinic_id());
    let mut b = server.enrolled(&dir, "Hill back room", &code);
    let registered = a.register_patient(amina(&a)).unwrap();
    let patient_id = registered.patient_id;
    server.sync(&mut a);
    server.sync(&mut b);

    // Both change the phone without seeing each other's change.
    let mut at_a = a.patient(patient_id).unwrap();
    at_a.phone = "0711 111 111".into();
    a.update_patient(&at_a).unwrap();
    let mut at_b = b.patient(patient_id).unwrap();
    at_b.phone = "0722 222 222".into();
    b.update_patient(&at_b).unwrap();
    server.sync(&mut a);
    server.sync(&mut b);
    server.sync(&mut a);
    let conflicts = a.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let shown = a.patient(patient_id).unwrap().phone;
    let other = conflicts[0].other_value.as_str().unwrap().to_owned();
    assert_ne!(shown, other);

    a.ensure_icd10().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(a)));
    // The window catches up with the server as it opens.
    wait_until(&mut harness, "the first round", |h| {
        shows(h, "Online — last sync")
    });
    harness
        .get_by_role_and_label(Role::Link, "1 conflict to review")
        .click();
    harness.run_ok();

    let heading = harness.get_by_label_contains("— Phone").value().unwrap();
    assert!(heading.starts_with("Achieng, Amina"), "{heading}");
    harness.get_by_label(&shown);
    harness.get_by_label(&other);
    harness.get_by_label_contains("From clinic");
    harness
        .get_by_role_and_label(Role::Button, "Use other value")
        .click();
    harness.run_ok();

    let store = harness.state().store();
    assert!(store.conflicts().unwrap().is_empty());
    assert_eq!(store.patient(patient_id).unwrap().phone, other);
    harness.get_by_label("No conflicts: every record agrees.");
    assert!(
        harness
            .query_by_label_contains("conflict to review")
            .is_none()
    );
}

#[test]
fn a_patient_of_another_clinic_is_found_at_the_district_server_and_opened_with_a_reason() {
    use outpost::model::AuditAction;
    use outpost::server::AccessKind;
    let server = start_server();
    let dir = tempfile::tempdir().unwrap();
    let mut hill = server.workstation(&dir, "Hill Clinic");
    let registered = hill.register_patient(amina(&hill)).unwrap();
    server.sync(&mut hill);
    let mut river = server.workstation(&dir, "River Clinic");
    river.ensure_icd10().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(river)));
    wait_until(&mut harness, "the first round", |h| {
        shows(h, "Online — last sync")
    });

    // Nobody here: the window offers the district server, starting from the search.
    type_into(&mut harness, "Search", "Achieng");
    harness.get_by_label("No patient matches “Achieng”.");
    harness
        .get_by_role_and_label(Role::Button, "Find at the district server…")
        .click_accesskit();
    harness.run();
    assert_eq!(
        harness
            .get_by_role_and_label(Role::TextInput, "Family name")
            .value()
            .as_deref(),
        Some("Achieng")
    );
    // A name alone is not enough.
    harness
        .get_by_role_and_label(Role::Button, "Search the district")
        .click_accesskit();
    harness.run();
    harness.get_by_label_contains("a name alone finds too many people");
    type_into(&mut harness, "Year of birth", "1988");
    press_for_worker(&mut harness, "Search the district");
    wait_until(&mut harness, "the district's answer", |h| {
        shows(h, "Hill Clinic")
    });
    harness.get_by_label("HIL1-000001");
    // A patient and a reason are both needed before "Open here".
    assert!(
        harness
            .get_by_role_and_label(Role::Button, "Open here")
            .accesskit_node()
            .is_disabled()
    );
    harness
        .get_by_role_and_label(Role::RadioButton, "Referred")
        .click_accesskit();
    harness.run();
    press_for_worker(&mut harness, "Open here");
    wait_until(&mut harness, "the record to arrive", |h| {
        shows(
            h,
            "Opened Achieng, Amina from the district server. Reason: Referred.",
        )
    });

    // Her chart is open here, the workstation's trail says who opened her, and the server's
    // access log has the lookup, the grant with its reason, and the record fetched.
    let store = harness.state().store();
    assert_eq!(
        store.patient(registered.patient_id).unwrap().given_name,
        "Amina"
    );
    let trail = store.audit_chains().unwrap();
    assert!(trail.iter().any(|e| {
        e.event.action == AuditAction::OpenedFromDistrict
            && e.event.patient_id == Some(registered.patient_id)
    }));
    let kinds: Vec<(AccessKind, String)> = server
        .store
        .access_log()
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.reason))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (AccessKind::Lookup, "by name and year of birth".to_owned()),
            (AccessKind::Shared, "referred".to_owned()),
            (AccessKind::Opened, String::new()),
        ]
    );
}
