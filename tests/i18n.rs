//! The window's languages: every message file reads, every key exists in every language with the
//! same arguments, and the screens translated so far show no raw key in any language (kittest);
//! a user's choice of language is kept and comes back at their next sign-in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{By, NodeT as _, Queryable as _};
use outpost::app::Command;
use outpost::i18n::{Language, check_catalog, keys, tr_in};
use outpost::model::Patient;
use outpost::store::Store;
use outpost::ui::OutpostApp;
use std::collections::BTreeSet;

fn harness(app: OutpostApp) -> Harness<'static, OutpostApp> {
    support::window(app)
}

/// The `$name`s a message of `language` uses, from its text in the files.
fn arguments(language: Language, key: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (_, text) in
        outpost::i18n::FILES[Language::ALL.iter().position(|l| *l == language).unwrap()].iter()
    {
        let mut in_message = false;
        for line in text.lines() {
            if !line.starts_with([' ', '\t']) {
                in_message = line.split('=').next().map(str::trim) == Some(key);
            }
            if in_message {
                let mut rest = line;
                while let Some(at) = rest.find('$') {
                    let name: String = rest[at + 1..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                        .collect();
                    found.insert(name);
                    rest = &rest[at + 1..];
                }
            }
        }
    }
    found
}

#[test]
fn every_key_is_in_every_language_with_the_same_arguments() {
    check_catalog().unwrap();
    let english: BTreeSet<String> = keys(Language::English).into_iter().collect();
    assert!(english.len() > 50, "{}", english.len());
    for language in Language::ALL {
        let theirs: BTreeSet<String> = keys(language).into_iter().collect();
        let missing: Vec<_> = english.difference(&theirs).collect();
        let extra: Vec<_> = theirs.difference(&english).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{language}: missing {missing:?}, not in English {extra:?}"
        );
        for key in &english {
            let (ours, other) = (arguments(Language::English, key), arguments(language, key));
            // A plural may say "1" in words where English counts; every argument it uses must
            // be one English passes.
            assert!(
                other.is_subset(&ours),
                "{language} {key}: {other:?} not in {ours:?}"
            );
            assert_ne!(tr_in(language, key, &[]), *key, "{language} {key}");
        }
    }
}

fn store_with_patients(dir: &tempfile::TempDir) -> Store {
    let mut store = Store::open_dir(dir.path()).unwrap();
    for (given, family) in [("Amina", "Mwangi"), ("Neema", "Juma")] {
        let mut p = Patient::blank(store.clinic_id());
        p.given_name = given.into();
        p.family_name = family.into();
        store.register_patient(p).unwrap();
    }
    store
}

/// Every label, button and text on screen now.
fn shown(harness: &Harness<'_, OutpostApp>) -> Vec<String> {
    harness
        .query_all(By::new())
        .flat_map(|node| {
            let node = node.accesskit_node();
            [node.label(), node.value()]
        })
        .flatten()
        .collect()
}

/// Some text on screen is `text`.
fn shows(harness: &Harness<'_, OutpostApp>, text: &str) {
    let shown = shown(harness);
    assert!(
        shown.iter().any(|t| t == text),
        "{text:?} is not in {shown:?}"
    );
}

/// No text on screen is a message key.
fn no_raw_key(harness: &Harness<'_, OutpostApp>, language: Language, screen: &str) {
    let shown = shown(harness);
    for key in keys(Language::English) {
        assert!(
            !shown.iter().any(|label| label.contains(key.as_str())),
            "{language} {screen}: the key {key} shows"
        );
    }
}

#[test]
fn the_patient_list_in_each_language_shows_no_raw_key() {
    for language in Language::ALL {
        let dir = tempfile::tempdir().unwrap();
        let service = support::signed_in(store_with_patients(&dir));
        let mut harness = harness(OutpostApp::new(service).with_language(language));
        harness.run();
        // Its own words, as the files give them.
        for key in [
            "nav-patients",
            "list-search",
            "list-new-patient",
            "list-column-name",
        ] {
            let words = tr_in(language, key, &[]);
            assert!(
                harness.query_all_by_label_contains(&words).next().is_some(),
                "{language}: {words}"
            );
        }
        harness.get_by_role_and_label(Role::Button, &tr_in(language, "list-open-chart", &[]));
        no_raw_key(&harness, language, "list");
        // The count is written as the language writes numbers and plurals.
        let expected = match language {
            Language::English => "2 patients registered",
            Language::French => "2 patients enregistrés",
            Language::Spanish => "2 pacientes registrados",
            Language::Portuguese => "2 pacientes registados",
            Language::Swahili => "Wagonjwa 2 wameandikishwa",
            // Laid out for egui, which draws left to right (see `i18n::visual_order`).
            Language::Arabic => "مسجّلان مريضان",
        };
        harness.get_by_label(expected);
    }
}

#[test]
fn the_sign_in_the_days_queue_and_a_childs_growth_in_each_language_show_no_raw_key() {
    use outpost::model::{DateOfBirth, Encounter, QueueEntry, Sex};
    for language in Language::ALL {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_patients(&dir);
        let today = chrono::Local::now().date_naive();
        let mut child = Patient::blank(store.clinic_id());
        child.given_name = "Neema".into();
        child.family_name = "Juma".into();
        child.sex = Sex::Female;
        child.birth = Some(DateOfBirth::exact(today - chrono::TimeDelta::days(540)));
        let child = store.register_patient(child).unwrap();
        let mut visit = Encounter::new_draft(child.patient_id, "Dr Achieng", chrono::Utc::now());
        visit.vitals.weight_kg = Some(7.0);
        visit.vitals.height_cm = Some(80.0);
        store.save_encounter(&visit).unwrap();
        store
            .add_to_queue(&QueueEntry::arrival(
                child.patient_id,
                today,
                chrono::Utc::now(),
            ))
            .unwrap();
        let mut service = support::signed_in(store);
        service.sign_out().unwrap();

        // The sign-in screen, before anyone chose a language: `--lang`.
        let mut harness = harness(OutpostApp::new(service).with_language(language));
        harness.run();
        let title = tr_in(language, "auth-sign-in-title", &[]);
        shows(&harness, &title);
        no_raw_key(&harness, language, "sign-in");
        let user_label = tr_in(language, "auth-user-name", &[]);
        let user = harness.get_by_role_and_label(Role::TextInput, &user_label);
        user.click();
        user.type_text("achieng");
        harness.run();
        let password_label = tr_in(language, "auth-password", &[]);
        let password = harness.get_by_role_and_label(Role::PasswordInput, &password_label);
        password.click();
        password.type_text(support::PASSWORD);
        harness.run();
        harness
            .get_by_role_and_label(Role::Button, &tr_in(language, "auth-sign-in", &[]))
            .click();
        harness.run_steps(3);

        // The day's queue, with its triage dialog open.
        harness
            .get_by_role_and_label(Role::Button, &tr_in(language, "nav-today", &[]))
            .click();
        harness.run_steps(2);
        shows(&harness, &tr_in(language, "today-queue", &[]));
        harness
            .get_by_role_and_label(Role::Button, &tr_in(language, "today-triage", &[]))
            .click();
        harness.run_steps(2);
        shows(&harness, &tr_in(language, "today-emergency-signs", &[]));
        no_raw_key(&harness, language, "today");
        harness
            .get_by_role_and_label(Role::Button, &tr_in(language, "today-cancel", &[]))
            .click();
        harness.run_steps(2);

        // The child's chart: the growth banner and chart.
        harness.get_by_label_contains("Juma, Neema").click();
        harness.run_steps(3);
        shows(&harness, &tr_in(language, "growth-banner", &[]));
        shows(
            &harness,
            &format!("⚠ {}", tr_in(language, "growth-flag-severe-wasting", &[])),
        );
        no_raw_key(&harness, language, "chart");
    }
}

#[test]
fn a_users_language_is_kept_for_their_next_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = support::signed_in(store_with_patients(&dir));
    assert_eq!(service.user_language(), None);
    service
        .execute(Command::SetLanguage(Language::Swahili))
        .unwrap();
    support::add_user(
        &mut service,
        "wekesa",
        "Nurse Wekesa",
        &[outpost::model::Role::Nurse],
    );
    service.sign_in("wekesa", support::PASSWORD).unwrap();
    assert_eq!(
        service.user_language(),
        None,
        "another user's choice is theirs"
    );
    service.sign_in("achieng", support::PASSWORD).unwrap();
    assert_eq!(service.user_language(), Some(Language::Swahili));
    // The window opens in her language whatever `--lang` says.
    let mut harness = harness(OutpostApp::new(service).with_language(Language::French));
    harness.run();
    harness.get_by_label("Wagonjwa 2 wameandikishwa");
}
