//! The app service driven directly, as the window and the command line drive it: every command
//! as every role, signing in and its delay, the idle lock, passwords and the recovery key, and
//! the audit trail that all of it writes. Real SQLite files; a hand-moved clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Duration, Utc};
use outpost::app::{
    AppError, AppService, Command, FirstAdministrator, LoginError, ManualClock, Outcome,
};
use outpost::keys::KdfParams;
use outpost::model::{
    Action, Allergy, AllergyId, AllergySeverity, AllergyStatus, Amendment, AmendmentId,
    AuditAction, BlobHash, Diagnosis, Encounter, EntityKind, HybridClock, NodeId, Patient, Problem,
    ProblemId, ProblemStatus, Role, Roles, Sex, UserId,
};
use outpost::store::{AuditFilter, Conflict, ConflictKind, Store, StoreError};
use std::sync::Arc;
use support::PASSWORD;

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_780_000_000_000).unwrap()
}

/// A set-up workstation (Dr Achieng, administrator and clinician, signed in) on a hand-moved
/// clock.
fn service_in(dir: &tempfile::TempDir) -> (AppService, ManualClock) {
    let clock = ManualClock::new(start());
    let store = Store::open_dir(dir.path()).unwrap();
    let mut service =
        AppService::with_clock(store, Arc::new(clock.clone())).with_kdf(KdfParams::TEST_ONLY);
    service
        .set_up(FirstAdministrator {
            full_name: "Dr Achieng".into(),
            user_name: "achieng".into(),
            password: PASSWORD.into(),
            confirm: PASSWORD.into(),
            also_clinician: true,
        })
        .unwrap();
    (service, clock)
}

fn patient(clinic: outpost::model::ClinicId) -> Patient {
    let mut p = Patient::blank(clinic);
    p.given_name = "Wanjiru".into();
    p.family_name = "Kamau".into();
    p.sex = Sex::Female;
    p
}

/// Records every command can act on, written by the administrator-clinician.
struct Fixture {
    patient: Patient,
    /// A patient nobody asked about allergies yet.
    unasked: Patient,
    draft: Encounter,
    signed: Encounter,
    to_void: Encounter,
    allergy: Allergy,
    spare_user: UserId,
}

fn fixture(service: &mut AppService) -> Fixture {
    let clinic = service.store().clinic_id();
    let Outcome::PatientRegistered(patient) = service
        .execute(Command::RegisterPatient(patient(clinic)))
        .unwrap()
    else {
        panic!("registering answers with the patient");
    };
    let visit = |complaint: &str| {
        let mut e = Encounter::new_draft(patient.patient_id, "", Utc::now());
        e.chief_complaint = complaint.into();
        e
    };
    let draft = visit("Cough");
    service
        .execute(Command::SaveEncounter(draft.clone()))
        .unwrap();
    let sign = |service: &mut AppService, e: Encounter| match service
        .execute(Command::SignEncounter(e))
        .unwrap()
    {
        Outcome::VisitSigned(signed) => signed,
        other => panic!("signing answered {other:?}"),
    };
    let signed = sign(service, visit("Fever"));
    let to_void = sign(service, visit("Headache"));
    let allergy = Allergy {
        allergy_id: AllergyId::new(),
        patient_id: patient.patient_id,
        substance: "Penicillin".into(),
        reaction: "Rash".into(),
        severity: AllergySeverity::Moderate,
        active: true,
    };
    service
        .execute(Command::SaveAllergy(allergy.clone()))
        .unwrap();
    let Outcome::PatientRegistered(unasked) = service
        .execute(Command::RegisterPatient(self::patient(clinic)))
        .unwrap()
    else {
        panic!("registering answers with the patient");
    };
    support::add_user(service, "spare", "Spare User", &[Role::Receptionist]);
    let spare_user = service.store().users_named("spare").unwrap()[0].user_id;
    Fixture {
        patient,
        unasked,
        draft,
        signed,
        to_void,
        allergy,
        spare_user,
    }
}

fn conflict(
    entity: EntityKind,
    entity_id: uuid::Uuid,
    field: &str,
    kind: ConflictKind,
) -> Conflict {
    let stamp = HybridClock::resume(NodeId("node".into()), None).tick(1);
    Conflict {
        entity,
        entity_id,
        field: field.into(),
        kind,
        kept_value: serde_json::json!("kept"),
        kept_hlc: stamp.clone(),
        other_value: serde_json::json!("other"),
        other_hlc: stamp,
        other_clinic: "River Clinic".into(),
    }
}

/// One of every command, on the fixture's records.
fn every_command(fx: &Fixture) -> Vec<Command> {
    let mut edited = fx.patient.clone();
    edited.village = "Kisumu".into();
    let mut triage = Encounter::new_draft(fx.patient.patient_id, "", Utc::now());
    triage.chief_complaint = "Fever since yesterday".into();
    triage.vitals.temperature_c = Some(38.4);
    let mut clinical = fx.draft.clone();
    clinical.diagnoses.push(Diagnosis {
        code: Some("J06.9".into()),
        title: "Acute upper respiratory infection".into(),
        primary: true,
    });
    let mut to_sign = Encounter::new_draft(fx.patient.patient_id, "", Utc::now());
    to_sign.chief_complaint = "Back pain".into();
    let amendment = |text: &str| Amendment {
        amendment_id: AmendmentId::new(),
        encounter_id: fx.signed.encounter_id,
        text: text.into(),
        reason: "Correction".into(),
        author: String::new(),
        author_id: None,
        created_at: Utc::now(),
        corrections: Default::default(),
    };
    vec![
        Command::RegisterPatient(patient(fx.patient.clinic_id)),
        Command::SavePatient(edited),
        Command::SaveEncounter(triage),
        // Another clinician's draft is written only after a hand-over.
        Command::TakeOverDraft(fx.draft.encounter_id),
        Command::SaveEncounter(clinical),
        Command::SignEncounter(to_sign),
        Command::AddAmendment(amendment("Temperature was 38.9")),
        Command::AmendFromConflict {
            conflict: Box::new(conflict(
                EntityKind::Encounter,
                fx.signed.encounter_id.0,
                "plan",
                ConflictKind::SignedVisit,
            )),
            amendment: amendment("Plan from the other clinic"),
        },
        Command::VoidEncounter {
            encounter_id: fx.to_void.encounter_id,
            reason: "Wrong patient".into(),
        },
        Command::SaveAllergy(Allergy {
            reaction: "Hives".into(),
            ..fx.allergy.clone()
        }),
        Command::SetAllergyStatus {
            patient_id: fx.unasked.patient_id,
            status: AllergyStatus::NoKnownAllergies,
        },
        Command::SaveProblem(Problem {
            problem_id: ProblemId::new(),
            patient_id: fx.patient.patient_id,
            code: Some("I10".into()),
            title: "Hypertension".into(),
            onset: None,
            status: ProblemStatus::Active,
        }),
        Command::ResolveConflict {
            conflict: Box::new(conflict(
                EntityKind::Patient,
                fx.patient.patient_id.0,
                "village",
                ConflictKind::Concurrent,
            )),
            value: serde_json::json!("Kisumu"),
        },
        Command::SetImagesRemoved {
            attachment_ids: Vec::new(),
            removed: true,
        },
        Command::FetchImage(BlobHash::of_bytes(b"an image from another clinic")),
        Command::CreateUser {
            user_name: "newnurse".into(),
            full_name: "New Nurse".into(),
            roles: Roles::of(&[Role::Nurse]),
            password: "a first password".into(),
        },
        Command::SetUserRoles {
            user_id: fx.spare_user,
            roles: Roles::of(&[Role::Receptionist, Role::Nurse]),
        },
        Command::SetUserDisabled {
            user_id: fx.spare_user,
            disabled: true,
        },
        Command::ResetPassword {
            user_id: fx.spare_user,
            password: "another first password".into(),
        },
        Command::SetAutoLockMinutes(5),
    ]
}

#[test]
fn every_command_is_checked_against_every_role() {
    let mut checked = 0;
    for role in Role::ALL {
        let dir = tempfile::tempdir().unwrap();
        let (mut service, _clock) = service_in(&dir);
        let fx = fixture(&mut service);
        support::add_user(&mut service, "actor", "The Actor", &[role]);
        service.sign_in("actor", PASSWORD).unwrap();
        let roles = Roles::of(&[role]);
        for command in every_command(&fx) {
            let described = format!("{command:?}");
            let stored = match &command {
                Command::SaveEncounter(e) | Command::SignEncounter(e) => {
                    service.store().encounter(e.encounter_id).ok()
                }
                _ => None,
            };
            let action = command.action(stored.as_ref());
            // Asking for an image's bytes, and hiding no image, change no record.
            let writes_record = !matches!(
                &command,
                Command::FetchImage(_) | Command::SetImagesRemoved { .. }
            );
            let before = service.store().audit_chains().unwrap().len();
            let result = service.execute(command);
            if roles.allows(action) {
                assert!(
                    result.is_ok(),
                    "{role:?} may {action:?}, but {described:.80} answered {:?}",
                    result.err()
                );
                assert!(
                    !writes_record || service.store().audit_chains().unwrap().len() > before,
                    "{described:.80} as {role:?} left no audit entry"
                );
            } else {
                assert!(
                    matches!(result, Err(AppError::Forbidden(a)) if a == action),
                    "{role:?} may not {action:?}, but {described:.80} answered {result:?}"
                );
                assert_eq!(
                    service.store().audit_chains().unwrap().len(),
                    before,
                    "a refused command writes nothing"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * 20);
}

#[test]
fn the_role_table_in_readme_is_the_one_the_service_enforces() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| may … | receptionist"))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect();
    assert_eq!(table.len(), Action::ALL.len(), "one row per action");
    for (row, action) in table.iter().zip(Action::ALL) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[1], action.label(), "{row}");
        for (cell, role) in cells[2..6].iter().zip(Role::ALL) {
            assert_eq!(
                *cell == "✓",
                Roles::of(&[role]).allows(action),
                "{role:?} × {action:?} in README: {row}"
            );
        }
    }
}

#[test]
fn a_nurse_records_vitals_in_a_visit_but_not_a_diagnosis() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, _clock) = service_in(&dir);
    let fx = fixture(&mut service);
    support::add_user(&mut service, "peter", "Nurse Peter", &[Role::Nurse]);
    service.sign_in("peter", PASSWORD).unwrap();
    let mut triage = Encounter::new_draft(fx.patient.patient_id, "someone else", Utc::now());
    triage.vitals.temperature_c = Some(39.1);
    triage.chief_complaint = "Fever".into();
    assert!(matches!(
        service.execute(Command::SaveEncounter(triage.clone())),
        Ok(Outcome::DraftSaved(true))
    ));
    let saved = service.store().encounter(triage.encounter_id).unwrap();
    assert_eq!(
        saved.clinician, "Nurse Peter",
        "a new visit is its writer's"
    );
    let mut diagnosed = saved.clone();
    diagnosed.plan = "Paracetamol".into();
    assert!(matches!(
        service.execute(Command::SaveEncounter(diagnosed)),
        Err(AppError::Forbidden(Action::WriteClinical))
    ));
}

#[test]
fn a_signature_names_the_signed_in_user_their_role_and_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, _clock) = service_in(&dir);
    let fx = fixture(&mut service);
    let user = service.user().unwrap().clone();
    match &fx.signed.status {
        outpost::model::EncounterStatus::Signed {
            signed_by,
            signer_id,
            signer_role,
            ..
        } => {
            assert_eq!(signed_by, "Dr Achieng");
            assert_eq!(*signer_id, Some(user.user_id));
            assert_eq!(*signer_role, Some(Role::Clinician));
        }
        other => panic!("not signed: {other:?}"),
    }
    // What the store reads back says the same.
    assert_eq!(
        service
            .store()
            .encounter(fx.signed.encounter_id)
            .unwrap()
            .status,
        fx.signed.status
    );
    let signed = service
        .store()
        .audit_entries(&AuditFilter {
            action: Some(AuditAction::VisitSigned),
            ..AuditFilter::default()
        })
        .unwrap();
    assert!(
        signed
            .iter()
            .any(|e| e.event.record_id == Some(fx.signed.encounter_id.0)
                && e.event.user_id == Some(user.user_id)
                && e.event.patient_id == Some(fx.patient.patient_id))
    );
    // Another clinician cannot sign the first one's draft.
    support::add_user(&mut service, "otieno", "Dr Otieno", &[Role::Clinician]);
    service.sign_in("otieno", PASSWORD).unwrap();
    let refused = service.execute(Command::SignEncounter(fx.draft.clone()));
    assert!(
        matches!(
            refused,
            Err(AppError::Store(
                outpost::store::StoreError::NotAuthor { .. }
            ))
        ),
        "{refused:?}"
    );
}

#[test]
fn wrong_passwords_are_refused_then_delayed_by_the_clock_and_all_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, clock) = service_in(&dir);
    service.sign_out().unwrap();
    for _ in 0..5 {
        assert!(matches!(
            service.sign_in("achieng", "not the password"),
            Err(AppError::Login(LoginError::WrongPassword))
        ));
    }
    // Five failures: the next try waits 5 s, whatever the password.
    assert!(matches!(
        service.sign_in("achieng", PASSWORD),
        Err(AppError::Login(LoginError::Throttled { wait_seconds: 5 }))
    ));
    clock.advance(Duration::seconds(5));
    // Unknown names get the same answer as wrong passwords.
    assert!(matches!(
        service.sign_in("nobody", "not the password"),
        Err(AppError::Login(LoginError::WrongPassword))
    ));
    // Six failures: the next try waits 10 s.
    assert!(matches!(
        service.sign_in("achieng", PASSWORD),
        Err(AppError::Login(LoginError::Throttled { wait_seconds: 10 }))
    ));
    clock.advance(Duration::seconds(9));
    assert!(matches!(
        service.sign_in("achieng", PASSWORD),
        Err(AppError::Login(LoginError::Throttled { wait_seconds: 1 }))
    ));
    clock.advance(Duration::seconds(1));
    service.sign_in("achieng", PASSWORD).unwrap();
    assert_eq!(service.user().unwrap().user_name, "achieng");
    let failed = service
        .store()
        .audit_entries(&AuditFilter {
            action: Some(AuditAction::LoginFailed),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(failed.len(), 6);
    assert_eq!(
        failed.iter().filter(|e| e.event.user_id.is_none()).count(),
        1
    );
    // A success starts the count again.
    service.sign_out().unwrap();
    assert!(matches!(
        service.sign_in("achieng", "not the password"),
        Err(AppError::Login(LoginError::WrongPassword))
    ));
}

#[test]
fn the_screen_locks_after_the_idle_time_and_unlocks_with_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, clock) = service_in(&dir);
    clock.advance(Duration::minutes(9));
    assert!(!service.idle_lock_due());
    service.touch();
    clock.advance(Duration::minutes(9));
    assert!(!service.idle_lock_due(), "touching restarts the count");
    clock.advance(Duration::minutes(1));
    assert!(service.idle_lock_due());
    service.lock().unwrap();
    assert!(
        service.user().is_none(),
        "a locked screen shows nobody's data"
    );
    assert!(matches!(
        service.execute(Command::SetAutoLockMinutes(3)),
        Err(AppError::NotSignedIn)
    ));
    assert!(service.unlock("wrong password").is_err());
    service.unlock(PASSWORD).unwrap();
    service.execute(Command::SetAutoLockMinutes(3)).unwrap();
    clock.advance(Duration::minutes(3));
    assert!(service.idle_lock_due());
    let locks = service
        .store()
        .audit_entries(&AuditFilter {
            action: Some(AuditAction::Lock),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(locks.len(), 1);
}

#[test]
fn passwords_change_and_reset_without_touching_the_records_and_disabled_users_stay_out() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, _clock) = service_in(&dir);
    let fx = fixture(&mut service);
    let key_before = service.session().unwrap().data_key().clone();
    service
        .change_password(PASSWORD, "lantern meadow copper", "lantern meadow copper")
        .unwrap();
    assert!(matches!(
        service.change_password("wrong", "x", "x"),
        Err(AppError::Login(LoginError::WrongPassword))
    ));
    assert!(matches!(
        service.change_password("lantern meadow copper", "short", "short"),
        Err(AppError::WeakPassword(_))
    ));
    service.sign_out().unwrap();
    assert!(service.sign_in("achieng", PASSWORD).is_err());
    service.sign_in("achieng", "lantern meadow copper").unwrap();
    assert_eq!(
        service.session().unwrap().data_key(),
        &key_before,
        "a new password opens the same data key"
    );
    assert_eq!(
        service.store().patient(fx.patient.patient_id).unwrap(),
        fx.patient
    );

    // An administrator's reset: the user must choose a new password before anything else.
    service
        .execute(Command::ResetPassword {
            user_id: fx.spare_user,
            password: "temporary again 1".into(),
        })
        .unwrap();
    service.sign_in("spare", "temporary again 1").unwrap();
    assert!(matches!(
        service.execute(Command::RegisterPatient(patient(fx.patient.clinic_id))),
        Err(AppError::MustChangePassword)
    ));
    service
        .change_password("temporary again 1", PASSWORD, PASSWORD)
        .unwrap();
    assert!(
        service
            .execute(Command::RegisterPatient(patient(fx.patient.clinic_id)))
            .is_ok()
    );

    service.sign_in("achieng", "lantern meadow copper").unwrap();
    service
        .execute(Command::SetUserDisabled {
            user_id: fx.spare_user,
            disabled: true,
        })
        .unwrap();
    assert!(matches!(
        service.sign_in("spare", PASSWORD),
        Err(AppError::Login(LoginError::Disabled))
    ));
    // The last administrator cannot be disabled or lose the role.
    service.sign_in("achieng", "lantern meadow copper").unwrap();
    let me = service.user().unwrap().user_id;
    assert!(matches!(
        service.execute(Command::SetUserRoles {
            user_id: me,
            roles: Roles::of(&[Role::Clinician]),
        }),
        Err(AppError::LastAdministrator)
    ));
}

#[test]
fn the_recovery_key_opens_the_data_when_every_password_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start());
    let store = Store::open_dir(dir.path()).unwrap();
    let mut service = AppService::with_clock(store, Arc::new(clock)).with_kdf(KdfParams::TEST_ONLY);
    let recovery = service
        .set_up(FirstAdministrator {
            full_name: "Dr Achieng".into(),
            user_name: "achieng".into(),
            password: PASSWORD.into(),
            confirm: PASSWORD.into(),
            also_clinician: true,
        })
        .unwrap();
    let key = service.session().unwrap().data_key().clone();
    service.sign_out().unwrap();
    drop(service);

    // A new start: the password is forgotten.
    let mut service = AppService::open_dir(dir.path())
        .unwrap()
        .with_kdf(KdfParams::TEST_ONLY);
    let other = outpost::keys::RecoveryKey::generate().unwrap();
    assert!(matches!(
        service.recover(
            &other.display(),
            "achieng",
            "new pass phrase",
            "new pass phrase"
        ),
        Err(AppError::Login(LoginError::WrongRecoveryKey))
    ));
    let typed = recovery.display().to_lowercase().replace('-', " ");
    service
        .recover(&typed, "achieng", "new pass phrase", "new pass phrase")
        .unwrap();
    assert_eq!(service.session().unwrap().data_key(), &key);
    service.sign_out().unwrap();
    service.sign_in("achieng", "new pass phrase").unwrap();
}

#[test]
fn the_audit_trail_is_chained_and_verify_finds_a_changed_removed_or_inserted_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, _clock) = service_in(&dir);
    let fx = fixture(&mut service);
    service.open_chart(fx.patient.patient_id).unwrap();
    service.view_images(fx.patient.patient_id).unwrap();
    let report = service.store().verify_audit().unwrap().unwrap();
    assert_eq!(report.workstations, 1);
    let entries = service.store().audit_chains().unwrap();
    assert_eq!(report.entries, entries.len() as u64);
    let opened = service
        .store()
        .audit_entries(&AuditFilter {
            patient_id: Some(fx.patient.patient_id),
            ..AuditFilter::default()
        })
        .unwrap();
    for action in [
        AuditAction::RecordCreated,
        AuditAction::VisitSigned,
        AuditAction::ChartOpened,
        AuditAction::ImagesViewed,
    ] {
        assert!(
            opened.iter().any(|e| e.event.action == action),
            "{action:?} about the patient is in the trail"
        );
    }
    let path = service.store().path().to_owned();
    let key = service.session().unwrap().data_key().clone();
    drop(service);

    // Tampering needs the key and the triggers gone first; the chain still tells.
    let tamper = |sql: &str| {
        let conn = support::keyed_connection(&path, &key);
        conn.execute_batch(
            "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;",
        )
        .unwrap();
        conn.execute_batch(sql).unwrap();
    };
    let verify = || {
        Store::open_keyed(&path, &key)
            .unwrap()
            .verify_audit()
            .unwrap()
    };
    let copy = dir.path().join("copy.sqlite3");
    std::fs::copy(&path, &copy).unwrap();

    tamper("UPDATE audit_log SET action = 'login' WHERE seq = 3");
    assert!(matches!(
        verify(),
        Err(outpost::model::ChainBreak::Changed { seq: 3, .. })
    ));

    std::fs::copy(&copy, &path).unwrap();
    let _ = std::fs::remove_file(path.with_extension("sqlite3-wal"));
    tamper("DELETE FROM audit_log WHERE seq = 4");
    assert!(matches!(
        verify(),
        Err(outpost::model::ChainBreak::Numbering {
            after: 3,
            found: 5,
            ..
        })
    ));

    std::fs::copy(&copy, &path).unwrap();
    let _ = std::fs::remove_file(path.with_extension("sqlite3-wal"));
    tamper(
        "UPDATE audit_log SET seq = -(seq + 1) WHERE seq >= 2;
         UPDATE audit_log SET seq = -seq WHERE seq < 0;
         INSERT INTO audit_log (node_id, seq, at, user_id, action, prev_hash, hash)
         SELECT node_id, 2, at, user_id, 'login', hash, hash FROM audit_log WHERE seq = 1;",
    );
    assert!(verify().is_err(), "an inserted entry breaks the chain");
}

#[test]
fn entries_are_never_changed_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (service, _clock) = service_in(&dir);
    let path = service.store().path().to_owned();
    let conn = support::keyed_connection(&path, service.session().unwrap().data_key());
    let refused = conn.execute("UPDATE audit_log SET action = 'login'", []);
    assert!(refused.unwrap_err().to_string().contains("never changed"));
    let refused = conn.execute("DELETE FROM audit_log", []);
    assert!(refused.unwrap_err().to_string().contains("never deleted"));
}

#[test]
fn backups_and_audit_exports_are_an_administrators_and_each_is_in_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, clock) = service_in(&dir);
    let fx = fixture(&mut service);
    support::add_user(&mut service, "amina", "Dr Amina", &[Role::Clinician]);
    assert_eq!(service.last_backup(), None);
    assert!(service.backup_overdue(), "no backup yet is a warning");
    let exports = |service: &AppService| {
        service
            .store()
            .audit_entries(&AuditFilter {
                action: Some(AuditAction::Export),
                ..AuditFilter::default()
            })
            .unwrap()
            .len()
    };

    service.sign_in("amina", PASSWORD).unwrap();
    assert!(matches!(
        service.backup(None),
        Err(AppError::Forbidden(Action::Backup))
    ));
    assert!(matches!(
        service.export_audit(),
        Err(AppError::Forbidden(Action::ReadAudit))
    ));
    assert_eq!(exports(&service), 0);

    service.sign_in("achieng", PASSWORD).unwrap();
    let report = service.backup(None).unwrap();
    assert!(report.encrypted);
    // When it happened is kept, and a week later it is a warning again.
    assert_eq!(service.last_backup(), Some(start()));
    assert!(!service.backup_overdue());
    clock.advance(Duration::days(7));
    assert!(!service.backup_overdue());
    clock.advance(Duration::minutes(1));
    assert!(service.backup_overdue());
    assert!(report.folder.starts_with(dir.path().join("backups")));
    assert_eq!(exports(&service), 1);
    let entries = service.export_audit().unwrap();
    assert!(entries.len() > 5);
    assert_eq!(exports(&service), 2);
    // A second backup into the same folder is refused; the first is left as it was.
    assert!(matches!(
        service.backup(Some(&report.folder)),
        Err(AppError::Store(StoreError::InvalidSetting(_)))
    ));

    // The backup opens with the same password and holds the same records.
    let mut restored = AppService::open_dir(&report.folder)
        .unwrap()
        .with_kdf(KdfParams::TEST_ONLY);
    restored.sign_in("achieng", PASSWORD).unwrap();
    assert_eq!(
        restored.store().patient(fx.patient.patient_id).unwrap(),
        service.store().patient(fx.patient.patient_id).unwrap()
    );
    assert_eq!(
        restored.store().encounter(fx.signed.encounter_id).unwrap(),
        service.store().encounter(fx.signed.encounter_id).unwrap()
    );
}

#[test]
fn another_clinicians_draft_is_written_only_after_a_recorded_hand_over() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, _clock) = service_in(&dir);
    let fx = fixture(&mut service);
    support::add_user(&mut service, "otieno", "Dr Otieno", &[Role::Clinician]);
    support::add_user(&mut service, "peter", "Nurse Peter", &[Role::Nurse]);
    let stored = service.store().encounter(fx.draft.encounter_id).unwrap();
    let mut edited = stored.clone();
    edited.plan = "Paracetamol and fluids".into();

    // Dr Otieno may not write in Dr Achieng's draft; a nurse may still record vitals in it.
    service.sign_in("otieno", PASSWORD).unwrap();
    let refused = service.execute(Command::SaveEncounter(edited.clone()));
    assert!(
        matches!(&refused, Err(AppError::NotYourDraft { author }) if author == "Dr Achieng"),
        "{refused:?}"
    );
    service.sign_in("peter", PASSWORD).unwrap();
    let mut triage = stored.clone();
    triage.vitals.pulse_bpm = Some(88.0);
    service.execute(Command::SaveEncounter(triage)).unwrap();

    // Taken over, the draft is Dr Otieno's, and the trail says so.
    service.sign_in("otieno", PASSWORD).unwrap();
    let otieno = service.user().unwrap().user_id;
    match service
        .execute(Command::TakeOverDraft(fx.draft.encounter_id))
        .unwrap()
    {
        Outcome::DraftTakenOver(draft) => {
            assert_eq!(draft.clinician, "Dr Otieno");
            assert_eq!(draft.clinician_id, Some(otieno));
        }
        other => panic!("{other:?}"),
    }
    edited.vitals.pulse_bpm = Some(88.0);
    service.execute(Command::SaveEncounter(edited)).unwrap();
    let stored = service.store().encounter(fx.draft.encounter_id).unwrap();
    assert_eq!(stored.plan, "Paracetamol and fluids");
    assert_eq!(stored.vitals.pulse_bpm, Some(88.0));
    let handed = service
        .store()
        .audit_entries(&AuditFilter {
            action: Some(AuditAction::DraftTakenOver),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0].event.user_id, Some(otieno));
    assert_eq!(handed[0].event.record_id, Some(fx.draft.encounter_id.0));
    // A signed visit is not handed over.
    assert!(
        service
            .execute(Command::TakeOverDraft(fx.signed.encounter_id))
            .is_err()
    );
}

#[test]
fn the_daily_backup_is_an_administrators_setting_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, clock) = service_in(&dir);
    fixture(&mut service);
    support::add_user(&mut service, "amina", "Dr Amina", &[Role::Clinician]);
    let usb = dir.path().join("usb");
    let schedule = outpost::app::BackupSchedule {
        folder: usb.clone(),
        keep: 2,
    };

    service.sign_in("amina", PASSWORD).unwrap();
    assert!(matches!(
        service.execute(Command::SetBackupSchedule(Some(schedule.clone()))),
        Err(AppError::Forbidden(Action::Backup))
    ));
    assert!(service.scheduled_backup_due().is_none(), "none set up");

    service.sign_in("achieng", PASSWORD).unwrap();
    service
        .execute(Command::SetBackupSchedule(Some(schedule.clone())))
        .unwrap();
    assert_eq!(service.backup_schedule(), Some(&schedule));
    // Due at once (never backed up), then a day after each one. Three days: three backups,
    // the newest two kept.
    for _ in 0..3 {
        let (opener, target, keep) = service.scheduled_backup_due().expect("due");
        let report = opener.open().unwrap().backup_to(&target).unwrap();
        outpost::store::prune_backups(&usb, keep as usize).unwrap();
        assert!(
            outpost::store::verify_backup(&report.folder)
                .unwrap()
                .problems
                .is_empty()
        );
        service.record_scheduled_backup().unwrap();
        assert!(
            service.scheduled_backup_due().is_none(),
            "not again the same day"
        );
        clock.advance(Duration::hours(23));
        assert!(service.scheduled_backup_due().is_none());
        clock.advance(Duration::hours(1));
    }
    let kept = std::fs::read_dir(&usb).unwrap().count();
    assert_eq!(kept, 2);
    // Something else in the folder is never removed.
    std::fs::create_dir(usb.join("photos")).unwrap();
    outpost::store::prune_backups(&usb, 1).unwrap();
    assert!(usb.join("photos").is_dir());
    assert_eq!(std::fs::read_dir(&usb).unwrap().count(), 2);

    // Turned off.
    service.execute(Command::SetBackupSchedule(None)).unwrap();
    assert!(service.backup_schedule().is_none());
    assert!(service.scheduled_backup_due().is_none());
}
