//! The window as its users meet accounts: the first administrator's setup with the recovery key,
//! signing in with a wrong then the right password, what a receptionist may see, a signature
//! that names the clinician, the idle lock over an unsaved draft, and switching user. Real store,
//! real app service, a hand-moved clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{Duration, Utc};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{By, NodeT as _, Queryable as _};
use outpost::app::{AppService, Command, ManualClock, Outcome};
use outpost::keys::KdfParams;
use outpost::model::{Encounter, EncounterStatus, Patient, Role as UserRole, Sex};
use outpost::store::Store;
use outpost::ui::{OutpostApp, Screen};
use std::sync::Arc;
use support::PASSWORD;

fn harness(app: OutpostApp) -> Harness<'static, OutpostApp> {
    support::window(app)
}

/// The role of the field named `label`: passwords, multi-line notes and other text.
fn field_role(label: &str) -> Role {
    if label.contains("assword") {
        Role::PasswordInput
    } else if label == "Chief complaint" {
        Role::MultilineTextInput
    } else {
        Role::TextInput
    }
}

fn type_into(harness: &mut Harness<'_, OutpostApp>, label: &str, text: &str) {
    let role = field_role(label);
    harness.get_by_role_and_label(role, label).focus();
    harness.run();
    harness.get_by_role_and_label(role, label).type_text(text);
    harness.run();
}

fn replace_text(harness: &mut Harness<'_, OutpostApp>, label: &str, text: &str) {
    harness
        .get_by_role_and_label(field_role(label), label)
        .set_text_value_accesskit(text);
    harness.run();
}

fn press(harness: &mut Harness<'_, OutpostApp>, label: &str) {
    harness
        .get_by_role_and_label(Role::Button, label)
        .click_accesskit();
    harness.run();
}

/// A set-up workstation with Wanjiru Kamau registered and one signed visit, and a receptionist:
/// the service at the next start, nobody signed in and the encrypted database still closed.
fn clinic(dir: &tempfile::TempDir) -> (AppService, Patient) {
    let mut store = Store::open_dir(dir.path()).unwrap();
    store.ensure_icd10().unwrap();
    let mut service = support::signed_in(store);
    let mut patient = Patient::blank(service.store().clinic_id());
    patient.given_name = "Wanjiru".into();
    patient.family_name = "Kamau".into();
    patient.sex = Sex::Female;
    let Ok(Outcome::PatientRegistered(patient)) =
        service.execute(Command::RegisterPatient(patient))
    else {
        panic!("registered");
    };
    let mut visit = Encounter::new_draft(patient.patient_id, "", Utc::now());
    visit.chief_complaint = "Cough for three days".into();
    visit.history = "Dry cough, no fever.".into();
    service.execute(Command::SignEncounter(visit)).unwrap();
    support::add_user(
        &mut service,
        "grace",
        "Grace Mutua",
        &[UserRole::Receptionist],
    );
    service.sign_out().unwrap();
    drop(service);
    let service = AppService::open_dir(dir.path())
        .unwrap()
        .with_kdf(KdfParams::TEST_ONLY);
    (service, patient)
}

#[test]
fn setup_shows_the_recovery_key_once_and_signs_the_administrator_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    let service = AppService::new(store).with_kdf(KdfParams::TEST_ONLY);
    let mut harness = harness(OutpostApp::new(service));
    harness.run();
    harness.get_by_label("Set up this workstation");
    assert!(
        harness.query_by_label("Patients").is_none(),
        "nothing of the record before setup"
    );
    type_into(&mut harness, "Full name", "Dr Achieng Oduor");
    type_into(&mut harness, "User name", "achieng");
    type_into(&mut harness, "Password", "short");
    harness.get_by_label("Too short: use at least 10 characters.");
    type_into(&mut harness, "Password again", "short");
    press(&mut harness, "Create administrator");
    // The hint, and now the refusal too.
    assert_eq!(
        harness
            .query_all_by_label("Too short: use at least 10 characters.")
            .count(),
        2
    );
    assert_eq!(harness.state().store().user_count().unwrap(), 0);

    replace_text(&mut harness, "Password", PASSWORD);
    replace_text(&mut harness, "Password again", PASSWORD);
    press(&mut harness, "Create administrator");
    harness.get_by_label("The clinic's recovery key");
    let key_label = harness
        .query_all(By::new().predicate(|node| {
            node.value().is_some_and(|text| {
                text.len() == 39 && text.split('-').count() == 8 && !text.contains(' ')
            })
        }))
        .next()
        .expect("the key is shown")
        .accesskit_node()
        .value()
        .unwrap();
    let last = key_label.rsplit('-').next().unwrap().to_owned();

    type_into(
        &mut harness,
        "Type the last group of four to confirm",
        "ZZZZ",
    );
    press(&mut harness, "I have written it down");
    harness.get_by_label("That is not the last group of the key above.");
    replace_text(
        &mut harness,
        "Type the last group of four to confirm",
        &last.to_lowercase(),
    );
    press(&mut harness, "I have written it down");
    harness.get_by_label("Patients");
    harness.get_by_label_contains("Dr Achieng Oduor");
    let user = harness.state().service().user().unwrap().clone();
    assert_eq!(user.user_name, "achieng");
    assert!(user.roles.has(UserRole::Administrator));
    // The key typed back opens the clinic's data.
    let mut again = AppService::open_dir(dir.path())
        .unwrap()
        .with_kdf(KdfParams::TEST_ONLY);
    again
        .recover(
            &key_label,
            "achieng",
            "a brand new passphrase",
            "a brand new passphrase",
        )
        .unwrap();
}

#[test]
fn a_wrong_password_is_refused_and_the_right_one_opens_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let (service, _patient) = clinic(&dir);
    let mut harness = harness(OutpostApp::new(service));
    harness.run();
    harness.get_by_role_and_label(Role::Button, "Sign in");
    type_into(&mut harness, "User name", "achieng");
    type_into(&mut harness, "Password", "not my password");
    press(&mut harness, "Sign in");
    harness.get_by_label("The user name or password is not right.");
    assert!(harness.query_by_label("Patients").is_none());
    assert_eq!(
        harness
            .get_by_role_and_label(Role::PasswordInput, "Password")
            .value()
            .as_deref(),
        Some(""),
        "a refused password is cleared"
    );
    type_into(&mut harness, "Password", PASSWORD);
    press(&mut harness, "Sign in");
    harness.get_by_label("Patients");
    assert_eq!(
        harness.state().service().user().unwrap().full_name,
        "Dr Achieng"
    );
}

#[test]
fn a_receptionist_sees_demographics_and_allergies_but_no_notes_and_cannot_sign() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, patient) = clinic(&dir);
    service.sign_in("grace", PASSWORD).unwrap();
    let visit_id = service
        .store()
        .encounters_for_patient(patient.patient_id)
        .unwrap()[0]
        .encounter_id;
    let mut harness = harness(OutpostApp::new(service));
    harness.run();
    harness.state_mut().open(Screen::Chart(patient.patient_id));
    harness.run();
    harness.get_by_label("Kamau, Wanjiru");
    harness.get_by_label("Visits, problems and images are shown to nurses and clinicians.");
    harness.get_by_label("Allergies");
    assert!(harness.query_by_label_contains("Visits (").is_none());
    assert!(
        harness
            .query_by_label_contains("Cough for three days")
            .is_none()
    );
    assert!(
        harness
            .query_by_role_and_label(Role::Button, "New visit")
            .is_none()
    );
    harness.get_by_role_and_label(Role::Button, "Edit patient");
    assert!(harness.query_by_label("Users").is_none());

    // Asking for the visit anyway is refused by the service.
    harness.state_mut().open(Screen::Visit(visit_id));
    harness.run();
    harness.get_by_label_contains("Your role does not allow you to read clinical notes");
    assert!(harness.query_by_label_contains("Dry cough").is_none());
}

#[test]
fn a_clinician_signs_and_the_signature_names_them_with_their_role() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, patient) = clinic(&dir);
    service.sign_in("achieng", PASSWORD).unwrap();
    let mut harness = harness(OutpostApp::new(service));
    harness.run();
    harness
        .state_mut()
        .open(Screen::NewVisit(patient.patient_id));
    harness.run();
    type_into(&mut harness, "Chief complaint", "Headache since morning");
    press(&mut harness, "Sign visit…");
    harness
        .get_by_role_and_label(Role::Button, "Sign")
        .click_accesskit();
    harness.run();
    harness.get_by_label_contains("Signed by Dr Achieng (Clinician)");
    let visits = harness
        .state()
        .store()
        .encounters_for_patient(patient.patient_id)
        .unwrap();
    let signed = visits
        .iter()
        .find(|v| v.chief_complaint == "Headache since morning")
        .unwrap();
    let me = harness.state().service().user().unwrap().user_id;
    assert_eq!(signed.clinician_id, Some(me));
    assert!(matches!(
        &signed.status,
        EncounterStatus::Signed { signer_id: Some(id), signer_role: Some(UserRole::Clinician), .. }
            if *id == me
    ));
}

/// The app on a hand-moved clock with Dr Achieng signed in, writing a new visit for the patient.
fn writing_a_visit(
    dir: &tempfile::TempDir,
) -> (Harness<'static, OutpostApp>, ManualClock, Patient) {
    let (service, patient) = clinic(dir);
    drop(service);
    let clock = ManualClock::new(Utc::now());
    let mut service = AppService::open_dir_with_clock(dir.path(), Arc::new(clock.clone()))
        .unwrap()
        .with_kdf(KdfParams::TEST_ONLY);
    service.sign_in("achieng", PASSWORD).unwrap();
    let mut harness = harness(OutpostApp::new(service));
    harness.run();
    harness
        .state_mut()
        .open(Screen::NewVisit(patient.patient_id));
    harness.run();
    type_into(&mut harness, "Chief complaint", "Painful knee");
    (harness, clock, patient)
}

#[test]
fn the_idle_lock_hides_the_visit_and_unlocking_returns_to_the_unsaved_typing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut harness, clock, _patient) = writing_a_visit(&dir);
    clock.advance(Duration::minutes(9));
    harness.run();
    let complaint = |harness: &Harness<'_, OutpostApp>| {
        harness
            .query_by_role_and_label(Role::MultilineTextInput, "Chief complaint")
            .and_then(|field| field.value())
    };
    assert_eq!(complaint(&harness).as_deref(), Some("Painful knee"));
    clock.advance(Duration::minutes(1));
    harness.run();
    harness.get_by_label("Locked");
    harness.get_by_label("Dr Achieng is signed in. Enter the password to go on.");
    assert_eq!(complaint(&harness), None, "the visit is covered");
    assert!(harness.query_by_label_contains("Kamau").is_none());

    type_into(&mut harness, "Password", "wrong password");
    press(&mut harness, "Unlock");
    harness.get_by_label("The user name or password is not right.");
    type_into(&mut harness, "Password", PASSWORD);
    press(&mut harness, "Unlock");
    assert_eq!(complaint(&harness).as_deref(), Some("Painful knee"));
}

#[test]
fn another_user_signs_in_at_the_lock_screen_and_the_first_users_draft_stays_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut harness, _clock, patient) = writing_a_visit(&dir);
    let achieng = harness.state().service().user().unwrap().user_id;
    harness
        .get_by_label("Dr Achieng · Clinician, Administrator")
        .click();
    harness.run();
    press(&mut harness, "Switch user");
    harness.get_by_label("Locked");
    type_into(&mut harness, "User name", "grace");
    type_into(&mut harness, "Password", PASSWORD);
    press(&mut harness, "Sign in");
    harness.get_by_label("Patients");
    assert_eq!(harness.state().service().user().unwrap().user_name, "grace");
    assert!(harness.query_by_label_contains("Painful knee").is_none());
    let draft = harness
        .state()
        .store()
        .encounters_for_patient(patient.patient_id)
        .unwrap()
        .into_iter()
        .find(|v| v.chief_complaint == "Painful knee")
        .expect("the draft was saved when the screen locked");
    assert!(draft.is_draft());
    assert_eq!(draft.clinician_id, Some(achieng));
}

#[test]
fn an_administrator_sees_who_has_opened_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, patient) = clinic(&dir);
    // Grace (receptionist) looks the patient up; then the administrator asks who did.
    service.sign_in("grace", PASSWORD).unwrap();
    service.open_chart(patient.patient_id).unwrap();
    service.sign_in("achieng", PASSWORD).unwrap();
    let mut harness = harness(OutpostApp::new(service));
    harness.run();
    harness.state_mut().open(Screen::Chart(patient.patient_id));
    harness.run();
    press(&mut harness, "Who has opened this record");
    harness.get_by_label("Audit trail");
    let heading = harness
        .get_by_label_contains("Who opened or changed the record of")
        .accesskit_node()
        .value()
        .unwrap_or_default();
    assert!(heading.ends_with("Kamau, Wanjiru"), "{heading}");
    assert_eq!(
        harness.query_all_by_label("Opened the chart").count(),
        2,
        "Grace's look-up and the administrator's own"
    );
    harness.get_by_label("Grace Mutua");
    harness.get_by_label("Signed a visit");
    // Sign-ins are not about the patient: they are not listed here.
    assert!(harness.query_by_label("Signed in").is_none());
}

#[test]
fn a_workstation_from_before_encryption_is_encrypted_at_the_first_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = support::plain_workstation(dir.path());
    let service = AppService::open_dir(dir.path()).unwrap();
    let mut harness = harness(OutpostApp::new(service));
    harness.run();
    type_into(&mut harness, "User name", "achieng");
    type_into(&mut harness, "Password", PASSWORD);
    harness
        .get_by_role_and_label(Role::Button, "Sign in")
        .click_accesskit();
    // The frame that takes the click starts the "encrypt" thread; the next shows its progress.
    harness.step();
    assert!(harness.state().service().user().is_none());
    assert!(!harness.state().service().is_open());
    harness.state_mut().wait_for_encryption();
    harness.run();
    harness.get_by_label("Patients");
    harness.get_by_label_contains("Kiprotich");
    assert_eq!(
        harness.state().service().user().unwrap().user_name,
        "achieng"
    );
    assert_eq!(
        outpost::store::file_state(&path).unwrap(),
        outpost::store::FileState::Encrypted
    );
}

#[test]
fn an_administrator_takes_the_clinics_key_from_the_users_screen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).unwrap();
    let mut service = support::signed_in(store);
    // A clinic user as enrollment brings them: their slot holds the clinic's key.
    let clinic_key = outpost::keys::DataKey::generate().unwrap();
    let clinic_user = outpost::model::UserId::new();
    let slot = outpost::keys::KeySlot::seal(
        &clinic_key,
        b"clinic pass phrase",
        &outpost::keys::user_slot_owner(&clinic_user.to_string()),
        KdfParams::TEST_ONLY,
    )
    .unwrap();
    service
        .store_for(outpost::model::Action::ManageUsers)
        .unwrap()
        .save_user(&outpost::model::UserAccount {
            user_id: clinic_user,
            user_name: "wambui".into(),
            full_name: "Dr Wambui".into(),
            roles: outpost::model::Roles::of(&[UserRole::Clinician]),
            disabled: false,
            must_change_password: false,
            key_slot: slot.to_text(),
        })
        .unwrap();
    let mut harness = harness(OutpostApp::new(service));
    harness.run();
    harness.state_mut().open(Screen::Users);
    harness.run();
    harness.get_by_label("The clinic's key").click_accesskit();
    harness.run();
    type_into(&mut harness, "Clinic user name", "wambui");
    type_into(&mut harness, "Their password", "wrong pass phrase");
    press(&mut harness, "Take the clinic's key");
    harness.get_by_label("The user name or password is not right.");
    type_into(&mut harness, "Their password", "clinic pass phrase");
    press(&mut harness, "Take the clinic's key");
    harness.get_by_label_contains("now encrypted with the clinic's key");
    assert_eq!(
        harness.state().service().session().unwrap().data_key(),
        &clinic_key
    );
    assert!(harness.state().store().is_keyed_with(&clinic_key));
}
