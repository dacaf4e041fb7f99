//! The store's merge of changes from other workstations, on real SQLite files: changes are carried
//! between stores as sync carries them (each store's outbox, in a shared log with sequence
//! numbers), so these tests pin the merge rules without a network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, Utc};
use outpost::model::{ChangeRecord, DateOfBirth, Diagnosis, Encounter, Patient, Sex};
use outpost::store::{ConflictKind, PushOutcome, Store};
use proptest::prelude::*;

/// A shared, ordered log of changes, as the server keeps it.
#[derive(Default)]
struct Log {
    changes: Vec<ChangeRecord>,
}

impl Log {
    /// Moves a store's pending changes into the log, as a push does.
    fn push(&mut self, store: &mut Store) {
        let pending = store.pending_changes(10_000).unwrap();
        let mut outcomes = Vec::new();
        for change in pending {
            let seq = match self
                .changes
                .iter()
                .position(|c| c.change_id == change.change_id)
            {
                Some(index) => index as u64 + 1,
                None => {
                    self.changes.push(change.clone());
                    self.changes.len() as u64
                }
            };
            outcomes.push((change.change_id, PushOutcome::Stored { server_seq: seq }));
        }
        store.record_push_outcomes(&outcomes).unwrap();
    }

    /// Applies what the store has not seen yet, as a pull does.
    fn pull(&self, store: &mut Store) {
        let cursor = store.sync_cursor().unwrap() as usize;
        let page: Vec<(u64, ChangeRecord)> = self
            .changes
            .iter()
            .enumerate()
            .skip(cursor)
            .map(|(i, c)| (i as u64 + 1, c.clone()))
            .collect();
        store
            .apply_remote_page(&page, self.changes.len() as u64)
            .unwrap();
    }

    fn sync(&mut self, store: &mut Store) {
        self.push(store);
        self.pull(store);
    }
}

fn patient(store: &Store, given: &str) -> Patient {
    let mut p = Patient::blank(store.clinic_id());
    p.given_name = given.into();
    p.family_name = "Odhiambo".into();
    p.sex = Sex::Female;
    p.birth = Some(DateOfBirth::exact(
        NaiveDate::from_ymd_opt(1990, 4, 12).unwrap(),
    ));
    p
}

fn clinics() -> (tempfile::TempDir, Store, Store) {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open_dir(&dir.path().join("a")).unwrap();
    let mut b = Store::open_dir(&dir.path().join("b")).unwrap();
    b.set_number_prefix("KSM").unwrap();
    (dir, a, b)
}

#[test]
fn a_patient_registered_at_one_clinic_appears_at_the_other_and_edits_come_back() {
    let (_dir, mut a, mut b) = clinics();
    let mut log = Log::default();
    let amina = a.register_patient(patient(&a, "Amina")).unwrap();
    log.sync(&mut a);
    log.sync(&mut b);
    let at_b = b.patient(amina.patient_id).unwrap();
    assert_eq!(at_b, amina);
    assert_eq!(
        b.search_patients("amina", 5).unwrap().rows.len(),
        1,
        "searchable at B"
    );

    let mut edited = at_b.clone();
    edited.phone = "+254 712 000 111".into();
    b.update_patient(&edited).unwrap();
    log.sync(&mut b);
    log.sync(&mut a);
    assert_eq!(
        a.patient(amina.patient_id).unwrap().phone,
        "+254 712 000 111"
    );
    assert!(a.conflicts().unwrap().is_empty());
    assert_eq!(a.status().unwrap().pending_changes, 0);
    // Pulling again changes nothing and applies nothing twice.
    log.pull(&mut a);
    assert_eq!(
        a.patient(amina.patient_id).unwrap().phone,
        "+254 712 000 111"
    );
}

#[test]
fn concurrent_edits_of_one_field_converge_and_keep_the_losing_value_as_a_conflict() {
    let (_dir, mut a, mut b) = clinics();
    let mut log = Log::default();
    let amina = a.register_patient(patient(&a, "Amina")).unwrap();
    log.sync(&mut a);
    log.sync(&mut b);

    // Both edit the phone without seeing each other; B also edits the village.
    let mut at_a = amina.clone();
    at_a.phone = "0711 111 111".into();
    a.update_patient(&at_a).unwrap();
    let mut at_b = b.patient(amina.patient_id).unwrap();
    at_b.phone = "0722 222 222".into();
    at_b.village = "Siaya".into();
    b.update_patient(&at_b).unwrap();

    log.sync(&mut a);
    log.sync(&mut b);
    log.sync(&mut a);
    let (pa, pb) = (
        a.patient(amina.patient_id).unwrap(),
        b.patient(amina.patient_id).unwrap(),
    );
    assert_eq!(pa, pb, "both clinics show the same record");
    assert_eq!(
        pa.village, "Siaya",
        "edits of different fields both survive"
    );
    assert_eq!(pa.phone, "0722 222 222", "the later stamp wins");

    for store in [&a, &b] {
        let conflicts = store.conflicts().unwrap();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        let conflict = &conflicts[0];
        assert_eq!(conflict.field, "phone");
        assert_eq!(conflict.kind, ConflictKind::Concurrent);
        assert_eq!(conflict.kept_value, "0722 222 222");
        assert_eq!(conflict.other_value, "0711 111 111");
    }

    // A person at A keeps A's number: the decision reaches B and closes the conflict there too.
    let conflict = a.conflicts().unwrap().remove(0);
    a.resolve_conflict(&conflict, conflict.other_value.clone())
        .unwrap();
    assert!(a.conflicts().unwrap().is_empty());
    log.sync(&mut a);
    log.sync(&mut b);
    assert_eq!(b.patient(amina.patient_id).unwrap().phone, "0711 111 111");
    assert!(b.conflicts().unwrap().is_empty());
    assert_eq!(
        a.patient(amina.patient_id).unwrap(),
        b.patient(amina.patient_id).unwrap()
    );
}

#[test]
fn a_visit_signed_at_one_clinic_stays_immutable_everywhere() {
    let (_dir, mut a, mut b) = clinics();
    let mut log = Log::default();
    let amina = a.register_patient(patient(&a, "Amina")).unwrap();
    let mut visit = Encounter::new_draft(amina.patient_id, "Dr Achieng", Utc::now());
    visit.chief_complaint = "Fever".into();
    visit.diagnoses.push(Diagnosis {
        code: Some("B54".into()),
        title: "Unspecified malaria".into(),
        primary: true,
    });
    a.save_encounter(&visit).unwrap();
    log.sync(&mut a);
    log.sync(&mut b);

    // B edits the draft while A signs it, neither seeing the other.
    let mut at_b = b.encounter(visit.encounter_id).unwrap();
    assert!(at_b.is_draft());
    at_b.plan = "Edited at B".into();
    a.sign_encounter(
        visit.encounter_id,
        &outpost::model::Signer::named("Dr Achieng"),
    )
    .unwrap();
    b.save_encounter(&at_b).unwrap();
    log.sync(&mut a);
    log.sync(&mut b);
    log.sync(&mut a);

    for store in [&a, &b] {
        let shown = store.encounter(visit.encounter_id).unwrap();
        assert!(!shown.is_draft(), "signed everywhere");
        assert_eq!(
            shown.plan, "",
            "the late edit does not change a signed visit"
        );
        let conflicts = store.conflicts().unwrap();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0].kind, ConflictKind::SignedVisit);
        assert_eq!(conflicts[0].other_value, "Edited at B");
    }
    assert_eq!(
        a.encounter(visit.encounter_id).unwrap(),
        b.encounter(visit.encounter_id).unwrap()
    );
    // A person carries B's late value into an amendment: the visit stays as signed, the value is
    // kept, and the conflict is settled here.
    let conflict = a.conflicts().unwrap().remove(0);
    let amendment = outpost::model::Amendment {
        amendment_id: outpost::model::AmendmentId::new(),
        encounter_id: visit.encounter_id,
        text: "Plan from the other clinic: Edited at B".into(),
        reason: "Arrived after signing".into(),
        author: "Dr Achieng".into(),
        author_id: None,
        created_at: Utc::now(),
        corrections: outpost::model::Corrections {
            stops: vec!["Amoxicillin".into()],
            withdraws: vec!["B54".into()],
            adds: vec![outpost::model::Diagnosis {
                code: Some("J06.9".into()),
                title: "Acute upper respiratory infection, unspecified".into(),
                primary: true,
            }],
            vitals: vec![outpost::model::VitalCorrection {
                field: "weight_kg".into(),
                value: Some(27.5),
            }],
        },
    };
    a.amend_from_conflict(&conflict, &amendment).unwrap();
    assert!(a.conflicts().unwrap().is_empty());
    assert_eq!(a.amendments(visit.encounter_id).unwrap().len(), 1);
    assert_eq!(a.encounter(visit.encounter_id).unwrap().plan, "");
    log.sync(&mut a);
    log.sync(&mut b);
    let travelled = b.amendments(visit.encounter_id).unwrap();
    assert_eq!(travelled.len(), 1, "the amendment travels");
    assert_eq!(
        travelled[0].corrections, amendment.corrections,
        "with what it stops, withdraws, adds and corrects"
    );

    // At B the visit is now read-only like anywhere else.
    let mut again = b.encounter(visit.encounter_id).unwrap();
    again.plan = "Another edit".into();
    assert!(b.save_encounter(&again).is_err());
}

#[derive(Clone, Debug)]
enum Step {
    /// Replica `r` edits field `f` of the shared patient to value `v`.
    Edit(usize, usize, u8),
    /// Replica `r` pushes and pulls.
    Sync(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 0..3usize, 0..4u8).prop_map(|(r, f, v)| Step::Edit(r, f, v)),
        2 => (0..3usize).prop_map(Step::Sync),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Three replicas, random edits and syncs in any interleaving: after everyone syncs twice,
    /// all show the same record and the same conflicts.
    #[test]
    fn replicas_converge_whatever_the_interleaving(steps in proptest::collection::vec(step(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut replicas: Vec<Store> = (0..3)
            .map(|i| Store::open_dir(&dir.path().join(format!("r{i}"))).unwrap())
            .collect();
        let mut log = Log::default();
        let first_patient = patient(&replicas[0], "Amina");
        let shared = replicas[0].register_patient(first_patient).unwrap();
        for replica in replicas.iter_mut() {
            log.sync(replica);
        }
        for step in steps {
            match step {
                Step::Edit(r, f, v) => {
                    let store = &mut replicas[r];
                    let mut p = store.patient(shared.patient_id).unwrap();
                    let value = format!("value {v} from {r}");
                    match f {
                        0 => p.village = value,
                        1 => p.notes = value,
                        _ => p.next_of_kin.name = value,
                    }
                    store.update_patient(&p).unwrap();
                }
                Step::Sync(r) => log.sync(&mut replicas[r]),
            }
        }
        for _ in 0..2 {
            for replica in replicas.iter_mut() {
                log.sync(replica);
            }
        }
        let first = replicas[0].patient(shared.patient_id).unwrap();
        let first_conflicts = replicas[0].conflicts().unwrap();
        for replica in &replicas[1..] {
            prop_assert_eq!(&replica.patient(shared.patient_id).unwrap(), &first);
            prop_assert_eq!(&replica.conflicts().unwrap(), &first_conflicts);
            prop_assert_eq!(replica.status().unwrap().pending_changes, 0);
        }
    }
}

#[test]
fn a_refused_change_is_kept_with_its_reason_and_no_longer_counts() {
    let (_dir, mut a, _b) = clinics();
    let mut log = Log::default();
    let amina = a.register_patient(patient(&a, "Amina")).unwrap();
    log.sync(&mut a);
    let mut edited = amina.clone();
    edited.village = "Siaya".into();
    a.update_patient(&edited).unwrap();
    let pending = a.pending_changes(10).unwrap();
    assert_eq!(pending.len(), 1);
    a.record_push_outcomes(&[(
        pending[0].change_id,
        PushOutcome::Refused {
            reason: "the record was voided at another clinic".into(),
        },
    )])
    .unwrap();
    let held = a.held_changes().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].state, "refused");
    assert_eq!(held[0].reason, "the record was voided at another clinic");
    assert_eq!(a.status().unwrap().pending_changes, 0);
    assert_eq!(
        a.patient(amina.patient_id).unwrap().village,
        "",
        "the refused edit is undone"
    );
}

#[test]
fn a_page_applied_twice_changes_nothing_the_second_time() {
    let (_dir, mut a, mut b) = clinics();
    let mut log = Log::default();
    let amina = a.register_patient(patient(&a, "Amina")).unwrap();
    log.push(&mut a);
    let page: Vec<(u64, ChangeRecord)> = log
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| (i as u64 + 1, c.clone()))
        .collect();
    let first = b.apply_remote_page(&page, page.len() as u64).unwrap();
    assert_eq!(first.applied, 1);
    let second = b.apply_remote_page(&page, page.len() as u64).unwrap();
    assert_eq!((second.applied, second.known), (0, 1));
    assert_eq!(b.patient(amina.patient_id).unwrap(), amina);
    assert_eq!(b.sync_cursor().unwrap(), 1);

    // A change that names a field the record does not have is kept aside, not applied.
    let mut bad = log.changes[0].clone();
    bad.change_id = outpost::model::ChangeId::new();
    bad.fields.insert("favourite_colour".into(), "blue".into());
    let report = b.apply_remote_page(&[(2, bad)], 2).unwrap();
    assert_eq!(report.invalid, 1);
    assert_eq!(b.patient(amina.patient_id).unwrap(), amina);
}

/// One step of two workstations merging, undoing and syncing at will.
#[derive(Clone, Debug)]
enum MergeStep {
    /// Workstation `.0` merges patient `.2` into patient `.1` (refused when its view forbids).
    Merge(bool, usize, usize),
    /// Workstation `.0` undoes the `.1`-th merge it knows of that is not undone.
    Undo(bool, usize),
    /// Workstation `.0` syncs.
    Sync(bool),
}

fn merge_step() -> impl Strategy<Value = MergeStep> {
    prop_oneof![
        3 => (any::<bool>(), 0..3usize, 0..3usize).prop_map(|(w, s, r)| MergeStep::Merge(w, s, r)),
        1 => (any::<bool>(), 0..4usize).prop_map(|(w, i)| MergeStep::Undo(w, i)),
        2 => any::<bool>().prop_map(MergeStep::Sync),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Merges of three records of one person, made and undone at two workstations in any order
    /// (the same pair twice, opposite pairs, chains), through the store's real merge of pulled
    /// changes: once both have everything, every record shows under the same survivor on both.
    #[test]
    fn merges_made_and_undone_anywhere_converge(steps in proptest::collection::vec(merge_step(), 1..14)) {
        let (_dir, mut a, mut b) = clinics();
        let mut log = Log::default();
        let ids: Vec<_> = ["Amina", "Aminah", "Amena"]
            .into_iter()
            .map(|given| a.register_patient(patient(&a, given)).unwrap().patient_id)
            .collect();
        log.sync(&mut a);
        log.sync(&mut b);
        for step in steps {
            match step {
                MergeStep::Merge(on_a, s, r) => {
                    let store = if on_a { &mut a } else { &mut b };
                    // A refusal (a record already merged, or one into itself) is the store's
                    // view at that moment, and fine.
                    let _ = store.merge_patients(ids[s], ids[r], "one person", "Clerk");
                }
                MergeStep::Undo(on_a, index) => {
                    let store = if on_a { &mut a } else { &mut b };
                    let mut open: Vec<_> = ids
                        .iter()
                        .flat_map(|id| store.merges_of(*id).unwrap())
                        .filter(|m| !m.merge.undone)
                        .map(|m| m.merge.merge_id)
                        .collect();
                    open.sort_by_key(|id| id.0);
                    open.dedup();
                    if let Some(id) = open.get(index % open.len().max(1)) {
                        store.undo_merge(*id).unwrap();
                    }
                }
                MergeStep::Sync(on_a) => log.sync(if on_a { &mut a } else { &mut b }),
            }
        }
        log.sync(&mut a);
        log.sync(&mut b);
        log.sync(&mut a);
        let view = |store: &Store| -> Vec<_> {
            ids.iter().map(|id| store.survivor_of(*id).unwrap()).collect()
        };
        prop_assert_eq!(view(&a), view(&b));
        // Each record shows under a survivor that shows on its own.
        for survivor in view(&a) {
            prop_assert_eq!(a.survivor_of(survivor).unwrap(), survivor);
        }
        prop_assert_eq!(a.patient_count().unwrap(), b.patient_count().unwrap());
    }
}
