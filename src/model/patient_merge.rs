//! Merging two records of one patient, reversibly.
//!
//! A merge moves nothing: it is a record of its own (`patient_merge`) saying that one patient
//! (the retired record) is another (the survivor). Wherever records are read for a patient, the
//! records of every patient retired into it are read too, so visits, allergies, problems, images
//! and queue entries show under the survivor, including those another workstation writes to the
//! retired record after the merge, before it has heard of it. Undoing the merge marks the record
//! undone, and each record shows where it was written again.
//!
//! Merges sync like any record and may arrive in any order, so where each patient shows is a
//! pure function of the set of merges ([`resolve_merges`]): active merges are taken in the order
//! they were made (their stamp, then id); a merge is passed over when its retired record was
//! already retired by an earlier one, or when it would make a circle (two workstations merging
//! opposite ways: the earlier stands). A survivor retired in turn takes its retired records along.

use std::collections::BTreeMap;

use super::hlc::HlcStamp;
use super::ids::{PatientId, PatientMergeId};

/// One merge of a patient's second record into the first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientMerge {
    /// Id.
    pub merge_id: PatientMergeId,
    /// The record that no longer shows on its own.
    pub retired: PatientId,
    /// The record it shows under.
    pub survivor: PatientId,
    /// When the merge was made (its first change's stamp): what orders merges.
    pub made_at: HlcStamp,
    /// Undone: each record shows where it was written again.
    pub undone: bool,
}

/// Why a merge does not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeStatus {
    /// It applies.
    Applied,
    /// It was undone.
    Undone,
    /// Its retired record had been retired by an earlier merge.
    AlreadyRetired,
    /// It would make a circle with earlier merges (or merges a record into itself).
    Circular,
}

/// Where each patient's records show, and what became of each merge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeMap {
    /// Each retired patient and the patient its records show under (the end of the chain).
    pub shows_under: BTreeMap<PatientId, PatientId>,
    /// Each merge and whether it applies.
    pub status: BTreeMap<PatientMergeId, MergeStatus>,
}

impl MergeMap {
    /// The patient whose chart shows `patient`'s records (itself when not retired).
    pub fn survivor_of(&self, patient: PatientId) -> PatientId {
        self.shows_under.get(&patient).copied().unwrap_or(patient)
    }

    /// The patients whose records show in `survivor`'s chart: itself and every patient retired
    /// into it, directly or through a chain.
    pub fn records_of(&self, survivor: PatientId) -> Vec<PatientId> {
        let mut all = vec![survivor];
        all.extend(
            self.shows_under
                .iter()
                .filter(|(_, s)| **s == survivor)
                .map(|(retired, _)| *retired),
        );
        all
    }
}

/// Where each patient shows, from the set of merges in any order (see the module).
pub fn resolve_merges(merges: &[PatientMerge]) -> MergeMap {
    let mut ordered: Vec<&PatientMerge> = merges.iter().collect();
    ordered.sort_by(|a, b| {
        a.made_at
            .cmp(&b.made_at)
            .then(a.merge_id.0.cmp(&b.merge_id.0))
    });
    let mut pointer: BTreeMap<PatientId, PatientId> = BTreeMap::new();
    let mut status = BTreeMap::new();
    let end_of = |pointer: &BTreeMap<PatientId, PatientId>, mut p: PatientId| {
        // Chains are acyclic by construction; the bound only guards the loop.
        for _ in 0..=pointer.len() {
            match pointer.get(&p) {
                Some(next) => p = *next,
                None => break,
            }
        }
        p
    };
    for merge in ordered {
        let verdict = if merge.undone {
            MergeStatus::Undone
        } else if pointer.contains_key(&merge.retired) {
            MergeStatus::AlreadyRetired
        } else if end_of(&pointer, merge.survivor) == merge.retired {
            MergeStatus::Circular
        } else {
            pointer.insert(merge.retired, merge.survivor);
            MergeStatus::Applied
        };
        // A merge made twice with one id keeps the first verdict.
        status.entry(merge.merge_id).or_insert(verdict);
    }
    let shows_under = pointer
        .keys()
        .map(|retired| (*retired, end_of(&pointer, *retired)))
        .collect();
    MergeMap {
        shows_under,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NodeId;
    use proptest::prelude::*;

    fn stamp(millis: i64) -> HlcStamp {
        HlcStamp {
            millis,
            counter: 0,
            node: NodeId("a".into()),
        }
    }

    fn merge(retired: PatientId, survivor: PatientId, at: i64) -> PatientMerge {
        PatientMerge {
            merge_id: PatientMergeId::new(),
            retired,
            survivor,
            made_at: stamp(at),
            undone: false,
        }
    }

    #[test]
    fn a_merge_a_chain_an_undo_and_opposite_merges() {
        let [a, b, c] = [PatientId::new(), PatientId::new(), PatientId::new()];
        let ab = merge(a, b, 1);
        let map = resolve_merges(std::slice::from_ref(&ab));
        assert_eq!(map.survivor_of(a), b);
        assert_eq!(map.records_of(b), [b, a]);

        // B is then merged into C: A's records go with it.
        let bc = merge(b, c, 2);
        let map = resolve_merges(&[bc.clone(), ab.clone()]);
        assert_eq!(map.survivor_of(a), c);
        assert_eq!(map.survivor_of(b), c);
        // Undoing B → C puts A back under B.
        let mut bc_undone = bc.clone();
        bc_undone.undone = true;
        let map = resolve_merges(&[ab.clone(), bc_undone.clone()]);
        assert_eq!(map.survivor_of(a), b);
        assert_eq!(map.survivor_of(b), b);
        assert_eq!(map.status[&bc_undone.merge_id], MergeStatus::Undone);

        // Two workstations merge opposite ways: the earlier stands.
        let ba = merge(b, a, 3);
        let map = resolve_merges(&[ba.clone(), ab.clone()]);
        assert_eq!(map.survivor_of(a), b);
        assert_eq!(map.status[&ba.merge_id], MergeStatus::Circular);
        // Or the same way twice: one applies, the other finds A already retired.
        let ab_again = merge(a, b, 4);
        let map = resolve_merges(&[ab_again.clone(), ab.clone()]);
        assert_eq!(map.survivor_of(a), b);
        assert_eq!(map.status[&ab_again.merge_id], MergeStatus::AlreadyRetired);
    }

    proptest! {
        /// Every workstation that holds the same merges, received in any order, shows every
        /// patient in the same chart; no chain circles.
        #[test]
        fn the_same_merges_in_any_order_give_the_same_charts(
            script in proptest::collection::vec((0usize..5, 0usize..5, 0i64..6, any::<bool>()), 0..12),
            seed in any::<u64>(),
        ) {
            let patients: Vec<PatientId> = (0..5).map(|_| PatientId::new()).collect();
            let merges: Vec<PatientMerge> = script
                .iter()
                .map(|(r, s, at, undone)| {
                    let mut m = merge(patients[*r], patients[*s], *at);
                    m.undone = *undone;
                    m
                })
                .collect();
            let first = resolve_merges(&merges);
            let mut shuffled = merges.clone();
            fastrand::Rng::with_seed(seed).shuffle(&mut shuffled);
            let second = resolve_merges(&shuffled);
            prop_assert_eq!(&first, &second);
            for p in &patients {
                let end = first.survivor_of(*p);
                // The end of a chain is not retired itself.
                prop_assert_eq!(first.survivor_of(end), end);
            }
        }
    }
}
