//! Prescribing safety through the app service on a real store: a medicine that meets a
//! recorded allergy is refused until the prescriber answers the alert with a reason, the answer
//! is kept in the visit and audited once, an allergy recorded after the draft stops its signing,
//! and the shipped medicine list and dose table read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use outpost::app::{AppError, AppService, Command, Outcome};
use outpost::model::{
    AlertKind, Allergy, AllergyOverride, AllergySeverity, AuditAction, DrugClass, Encounter,
    EncounterStatus, Patient, PatientId, Prescription, Sex,
};
use outpost::store::{AuditFilter, Store};

fn register(service: &mut AppService) -> PatientId {
    let mut p = Patient::blank(service.store().clinic_id());
    p.given_name = "Wanjiru".into();
    p.family_name = "Kamau".into();
    p.sex = Sex::Female;
    match service.execute(Command::RegisterPatient(p)).unwrap() {
        Outcome::PatientRegistered(p) => p.patient_id,
        other => panic!("{other:?}"),
    }
}

fn allergic_to(service: &mut AppService, patient_id: PatientId, substance: &str) {
    let mut allergy = Allergy::new(patient_id, substance);
    allergy.reaction = "anaphylaxis".into();
    allergy.severity = AllergySeverity::Severe;
    service.execute(Command::SaveAllergy(allergy)).unwrap();
}

fn line(medicine: &str) -> Prescription {
    Prescription {
        medicine: medicine.into(),
        strength: "500 mg".into(),
        dose: "1 capsule".into(),
        route: "oral".into(),
        frequency: "3 times a day".into(),
        duration: "5 days".into(),
        quantity: "15".into(),
        ..Prescription::default()
    }
}

fn overrides(service: &AppService, patient_id: PatientId) -> usize {
    service
        .store()
        .audit_entries(&AuditFilter {
            patient_id: Some(patient_id),
            action: Some(AuditAction::AllergyAlertOverridden),
            ..AuditFilter::default()
        })
        .unwrap()
        .len()
}

#[test]
fn amoxicillin_for_a_penicillin_allergic_patient_needs_a_reason_kept_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = support::signed_in(Store::open_dir(dir.path()).unwrap());
    let patient_id = register(&mut service);
    allergic_to(&mut service, patient_id, "Penicillin");

    let clinician = service.user().unwrap().full_name.clone();
    let mut visit = Encounter::new_draft(patient_id, &clinician, chrono::Utc::now());
    visit.clinician_id = Some(service.user().unwrap().user_id);
    visit.chief_complaint = "Sore throat".into();
    visit.prescriptions.push(line("Amoxicillin"));

    // Refused, with the alert: amoxicillin is a penicillin. Nothing is written.
    let refused = service
        .execute(Command::SaveEncounter(visit.clone()))
        .unwrap_err();
    let AppError::AllergyAlert(alerts) = &refused else {
        panic!("{refused:?}");
    };
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::Class(DrugClass::Penicillin));
    assert_eq!(alerts[0].allergy, "Penicillin");
    assert!(
        refused
            .to_string()
            .contains("Amoxicillin is a penicillin, and the patient is allergic to Penicillin"),
        "{refused}"
    );
    assert!(service.store().encounter(visit.encounter_id).is_err());
    // Signing is refused the same way.
    assert!(matches!(
        service.execute(Command::SignEncounter(visit.clone())),
        Err(AppError::AllergyAlert(_))
    ));
    // An answer for another medicine, or with no reason, answers nothing.
    visit.prescriptions[0].allergy_override = Some(AllergyOverride {
        medicine: "Ampicillin".into(),
        reason: "Tolerated before".into(),
        allergies: vec!["Penicillin".into()],
    });
    assert!(matches!(
        service.execute(Command::SaveEncounter(visit.clone())),
        Err(AppError::AllergyAlert(_))
    ));
    visit.prescriptions[0].allergy_override = Some(AllergyOverride {
        medicine: "Amoxicillin".into(),
        reason: " ".into(),
        allergies: vec!["Penicillin".into()],
    });
    assert!(matches!(
        service.execute(Command::SaveEncounter(visit.clone())),
        Err(AppError::AllergyAlert(_))
    ));
    assert_eq!(overrides(&service, patient_id), 0);

    // With a reason it is saved; the reason is in the visit and the override in the audit
    // trail, once, however often the draft is saved again.
    let reason = "Skin test negative last month; no alternative in stock";
    visit.prescriptions[0].allergy_override = Some(AllergyOverride {
        medicine: "Amoxicillin".into(),
        reason: reason.into(),
        allergies: vec!["Penicillin".into()],
    });
    service
        .execute(Command::SaveEncounter(visit.clone()))
        .unwrap();
    assert_eq!(overrides(&service, patient_id), 1);
    visit.plan = "Review in 3 days".into();
    service
        .execute(Command::SaveEncounter(visit.clone()))
        .unwrap();
    assert_eq!(overrides(&service, patient_id), 1);
    let signed = match service
        .execute(Command::SignEncounter(visit.clone()))
        .unwrap()
    {
        Outcome::VisitSigned(signed) => signed,
        other => panic!("{other:?}"),
    };
    assert!(matches!(signed.status, EncounterStatus::Signed { .. }));
    let kept = signed.prescriptions[0].allergy_override.as_ref().unwrap();
    assert_eq!(kept.reason, reason);
    assert!(
        signed
            .signing_summary()
            .contains(&format!("Allergy alert overridden (Penicillin): {reason}")),
        "{:?}",
        signed.signing_summary()
    );
    // The entry names the visit.
    let entry = service
        .store()
        .audit_entries(&AuditFilter {
            action: Some(AuditAction::AllergyAlertOverridden),
            ..AuditFilter::default()
        })
        .unwrap()
        .remove(0);
    assert_eq!(entry.event.record_id, Some(visit.encounter_id.0));
    assert_eq!(entry.event.user_id, Some(service.user().unwrap().user_id));
}

#[test]
fn an_allergy_recorded_after_the_draft_stops_its_signing_with_the_cross_reaction_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = support::signed_in(Store::open_dir(dir.path()).unwrap());
    let patient_id = register(&mut service);
    let clinician = service.user().unwrap().full_name.clone();
    let mut visit = Encounter::new_draft(patient_id, &clinician, chrono::Utc::now());
    visit.clinician_id = Some(service.user().unwrap().user_id);
    visit.chief_complaint = "Cellulitis of the leg".into();
    visit.prescriptions.push(line("Cefalexin"));
    service
        .execute(Command::SaveEncounter(visit.clone()))
        .unwrap();

    // The patient then says she reacted to penicillin; it is recorded.
    allergic_to(&mut service, patient_id, "penicillins");
    // Saving the draft with its prescriptions unchanged (vital signs taken) is not prescribing.
    visit.vitals.weight_kg = Some(61.0);
    service
        .execute(Command::SaveEncounter(visit.clone()))
        .unwrap();
    // Signing it is: refused, naming the cross-reaction.
    let refused = service
        .execute(Command::SignEncounter(visit.clone()))
        .unwrap_err();
    let AppError::AllergyAlert(alerts) = &refused else {
        panic!("{refused:?}");
    };
    assert_eq!(
        alerts[0].kind,
        AlertKind::CrossReactive {
            allergy: DrugClass::Penicillin,
            medicine: DrugClass::Cephalosporin
        }
    );
    assert!(refused.to_string().contains("1–2 %"), "{refused}");
    assert!(
        service
            .store()
            .encounter(visit.encounter_id)
            .unwrap()
            .is_draft()
    );

    // A medicine of no related class signs at once.
    visit.prescriptions[0] = line("Clindamycin");
    visit.prescriptions[0].strength = "150 mg".into();
    assert!(matches!(
        service.execute(Command::SignEncounter(visit)).unwrap(),
        Outcome::VisitSigned(_)
    ));
    assert_eq!(overrides(&service, patient_id), 0);
}
