//! The merge: a record's value as a pure function of the set of changes known for it.
//!
//! - a change *supersedes* the values its writer saw; the changes no other change supersedes are
//!   a field's *heads*;
//! - the head with the highest clock stamp is the value shown (ties cannot happen: stamps carry
//!   the node id);
//! - other heads with a different value are conflicts, kept for a person to resolve;
//! - a write supersedes only values stamped before it: no stamp can claim to have seen the future;
//! - a signed visit is fixed by its earliest signing, which writes every clinical field as the
//!   signer saw it: a change stamped before the signing that the signer never saw is a concurrent
//!   head and so a conflict, and a change stamped after it is not applied but reported
//!   (`after_signing`) — whatever its stamp, no change silently rewrites signed content. Only
//!   voiding may still change a signed visit.
//!
//! Every replica that has seen the same changes computes the same record, whatever order they
//! arrived in (the proptest below shuffles them).

use super::{EntityKind, HlcStamp};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One change of an entity as stored: its stamp, the fields it wrote, the clinic that wrote it,
/// and per field the stamps of the values its writer saw (a JSON list of stamp texts).
#[derive(Clone, Debug, PartialEq)]
pub struct EntityWrite {
    /// The change's stamp.
    pub hlc: HlcStamp,
    /// Field → value.
    pub fields: Map<String, Value>,
    /// The clinic that wrote it.
    pub clinic: String,
    /// Field → the stamps it supersedes.
    pub supersedes: Map<String, Value>,
}

/// One change as the merge sees it.
#[derive(Clone, Debug)]
struct Candidate {
    hlc: HlcStamp,
    value: Value,
    clinic: String,
    supersedes: Vec<HlcStamp>,
}

/// The outcome of merging one field.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldMerge {
    /// The value shown and its stamp.
    pub winner: (HlcStamp, Value),
    /// All heads (including the winner).
    pub heads: Vec<HlcStamp>,
    /// Heads that lost with a different value: (stamp, value, clinic).
    pub losers: Vec<(HlcStamp, Value, String)>,
}

/// Merges the writes of one field: the heads are the writes no other write supersedes; the head
/// with the highest stamp wins; heads with other values are conflicts. `None` when nothing writes
/// the field. The order of `candidates` does not matter.
fn merge_field(candidates: &[Candidate]) -> Option<FieldMerge> {
    let superseded: BTreeSet<&HlcStamp> = candidates
        .iter()
        .flat_map(|c| c.supersedes.iter().filter(|seen| **seen < c.hlc))
        .collect();
    let mut heads: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| !superseded.contains(&c.hlc))
        .collect();
    heads.sort_by(|a, b| b.hlc.cmp(&a.hlc));
    heads.dedup_by(|a, b| a.hlc == b.hlc);
    let winner = heads.first()?;
    Some(FieldMerge {
        winner: (winner.hlc.clone(), winner.value.clone()),
        heads: heads.iter().map(|c| c.hlc.clone()).collect(),
        losers: heads
            .iter()
            .skip(1)
            .filter(|c| c.value != winner.value)
            .map(|c| (c.hlc.clone(), c.value.clone(), c.clinic.clone()))
            .collect(),
    })
}

/// Fields of a visit that may still change after it is signed: voiding it. (`status` may change
/// only to "voided".)
const AFTER_SIGNING: &[&str] = &["voided_by", "voided_at", "void_reason", "voided_by_id"];

/// Whether a write stamped after the signing may still apply.
fn allowed_after_signing(field: &str, value: &Value) -> bool {
    AFTER_SIGNING.contains(&field) || (field == "status" && value.as_str() == Some("voided"))
}

/// The merged state of one entity.
pub struct EntityMerge {
    /// When a visit was signed (its earliest signing).
    pub signing_stamp: Option<HlcStamp>,
    /// Each field written, merged.
    pub fields: BTreeMap<String, FieldMerge>,
    /// Changes to a signed visit made after the signing: (field, stamp, value, clinic).
    pub after_signing: Vec<(String, HlcStamp, Value, String)>,
}

/// Merges every change known for one entity. The order of `changes` does not matter.
pub fn merge_entity(kind: EntityKind, changes: &[EntityWrite]) -> EntityMerge {
    let mut by_field: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for EntityWrite {
        hlc,
        fields,
        clinic,
        supersedes,
    } in changes
    {
        for (field, value) in fields {
            let replaced = supersedes
                .get(field)
                .and_then(Value::as_array)
                .map(|stamps| {
                    stamps
                        .iter()
                        .filter_map(|s| s.as_str()?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            by_field.entry(field.clone()).or_default().push(Candidate {
                hlc: hlc.clone(),
                value: value.clone(),
                clinic: clinic.clone(),
                supersedes: replaced,
            });
        }
    }
    let mut after_signing = Vec::new();
    let mut signing_stamp = None;
    if kind == EntityKind::Encounter {
        // The earliest signing fixes the visit; later clinical changes do not apply.
        let signed_at = by_field.get("status").and_then(|writes| {
            writes
                .iter()
                .filter(|c| c.value.as_str() == Some("signed"))
                .map(|c| c.hlc.clone())
                .min()
        });
        signing_stamp = signed_at.clone();
        if let Some(signing) = signed_at {
            for (field, writes) in by_field.iter_mut() {
                let (late, early): (Vec<Candidate>, Vec<Candidate>) = writes
                    .drain(..)
                    .partition(|c| c.hlc > signing && !allowed_after_signing(field, &c.value));
                *writes = early;
                after_signing.extend(
                    late.into_iter()
                        .map(|c| (field.clone(), c.hlc, c.value, c.clinic)),
                );
            }
        }
    }
    EntityMerge {
        signing_stamp,
        fields: by_field
            .iter()
            .filter_map(|(field, writes)| Some((field.clone(), merge_field(writes)?)))
            .collect(),
        after_signing,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn stamp(millis: i64, node: &str) -> HlcStamp {
        format!("{millis:013}-0000-{node}").parse().unwrap()
    }

    /// Writes of a few fields by three nodes, each superseding some of the earlier ones.
    fn writes(script: &[(u8, u8, u8, u8)]) -> Vec<EntityWrite> {
        let nodes = ["a", "b", "c"];
        let fields = ["family_name", "phone", "status", "notes"];
        let mut out: Vec<EntityWrite> = Vec::new();
        for (i, (node, field, value, seen)) in script.iter().enumerate() {
            let hlc = stamp(1_000 + i as i64 * 7, nodes[*node as usize % 3]);
            let field = fields[*field as usize % 4];
            let value = match field {
                "status" => Value::from(if value % 3 == 0 { "signed" } else { "draft" }),
                _ => Value::from(format!("v{}", value % 4)),
            };
            // It saw the earlier writes of its field picked by the bits of `seen`.
            let saw: Vec<Value> = out
                .iter()
                .enumerate()
                .filter(|(j, w)| w.fields.contains_key(field) && seen >> (j % 8) & 1 == 1)
                .map(|(_, w)| Value::from(w.hlc.to_string()))
                .collect();
            let mut fields_map = Map::new();
            fields_map.insert(field.to_owned(), value);
            let mut supersedes = Map::new();
            supersedes.insert(field.to_owned(), Value::from(saw));
            out.push(EntityWrite {
                hlc,
                fields: fields_map,
                clinic: format!("clinic-{}", node % 2),
                supersedes,
            });
        }
        out
    }

    proptest! {
        #[test]
        fn the_same_changes_in_any_order_merge_to_the_same_record(
            script in proptest::collection::vec((0u8..3, 0u8..4, 0u8..6, 0u8..=255), 1..24),
            seed in any::<u64>(),
        ) {
            let changes = writes(&script);
            let mut shuffled = changes.clone();
            fastrand::Rng::with_seed(seed).shuffle(&mut shuffled);
            for kind in [EntityKind::Patient, EntityKind::Encounter] {
                let a = merge_entity(kind, &changes);
                let b = merge_entity(kind, &shuffled);
                prop_assert_eq!(&a.fields, &b.fields);
                prop_assert_eq!(&a.signing_stamp, &b.signing_stamp);
                let mut late_a = a.after_signing.clone();
                let mut late_b = b.after_signing.clone();
                late_a.sort_by(|x, y| x.1.cmp(&y.1));
                late_b.sort_by(|x, y| x.1.cmp(&y.1));
                prop_assert_eq!(late_a, late_b);
                // The shown value is always a head, and the highest one.
                for merged in a.fields.values() {
                    prop_assert_eq!(Some(&merged.winner.0), merged.heads.iter().max());
                }
            }
        }
    }

    #[test]
    fn a_write_that_saw_the_other_replaces_it_and_one_that_did_not_is_a_conflict() {
        let first = EntityWrite {
            hlc: stamp(1_000, "a"),
            fields: [("phone".to_owned(), Value::from("111"))]
                .into_iter()
                .collect(),
            clinic: "hill".into(),
            supersedes: Map::new(),
        };
        let mut replaced = first.clone();
        replaced.hlc = stamp(2_000, "b");
        replaced.fields.insert("phone".into(), Value::from("222"));
        replaced
            .supersedes
            .insert("phone".into(), Value::from(vec![first.hlc.to_string()]));
        let merged = merge_entity(EntityKind::Patient, &[replaced.clone(), first.clone()]);
        assert_eq!(merged.fields["phone"].winner.1, Value::from("222"));
        assert!(merged.fields["phone"].losers.is_empty());

        let mut concurrent = replaced;
        concurrent.supersedes = Map::new();
        let merged = merge_entity(EntityKind::Patient, &[first, concurrent]);
        assert_eq!(merged.fields["phone"].winner.1, Value::from("222"));
        assert_eq!(merged.fields["phone"].losers.len(), 1);
    }

    fn write(
        millis: i64,
        node: &str,
        clinic: &str,
        fields: &[(&str, &str)],
        saw: &[&HlcStamp],
    ) -> EntityWrite {
        let mut map = Map::new();
        let mut supersedes = Map::new();
        for (field, value) in fields {
            map.insert((*field).to_owned(), Value::from(*value));
            let seen: Vec<Value> = saw.iter().map(|s| Value::from(s.to_string())).collect();
            supersedes.insert((*field).to_owned(), Value::from(seen));
        }
        EntityWrite {
            hlc: stamp(millis, node),
            fields: map,
            clinic: clinic.into(),
            supersedes,
        }
    }

    #[test]
    fn a_backdated_change_the_signer_never_saw_is_a_conflict_not_signed_content() {
        let draft = write(
            1_000,
            "a",
            "hill",
            &[("plan", "rest"), ("status", "draft")],
            &[],
        );
        // The signing writes every field as the signer saw it.
        let signing = write(
            5_000,
            "a",
            "hill",
            &[("plan", "rest"), ("status", "signed")],
            &[&draft.hlc],
        );
        // Stamped 1 ms before the signing, claiming to replace the draft's plan.
        let forged = write(
            4_999,
            "x",
            "river",
            &[("plan", "double the dose")],
            &[&draft.hlc],
        );
        for order in [
            vec![draft.clone(), signing.clone(), forged.clone()],
            vec![forged.clone(), signing.clone(), draft.clone()],
        ] {
            let merged = merge_entity(EntityKind::Encounter, &order);
            let plan = &merged.fields["plan"];
            assert_eq!(plan.winner.1, Value::from("rest"), "the signed text stays");
            assert_eq!(
                plan.losers,
                vec![(
                    forged.hlc.clone(),
                    Value::from("double the dose"),
                    "river".to_owned()
                )],
                "the forged text is a conflict for a person"
            );
        }
    }

    #[test]
    fn a_write_cannot_supersede_a_value_stamped_after_it() {
        let signing = write(5_000, "a", "hill", &[("plan", "rest")], &[]);
        let forged = write(4_000, "x", "river", &[("plan", "other")], &[&signing.hlc]);
        let merged = merge_entity(EntityKind::Patient, &[signing, forged]);
        assert_eq!(merged.fields["plan"].winner.1, Value::from("rest"));
        assert_eq!(merged.fields["plan"].losers.len(), 1);
    }

    #[test]
    fn after_signing_only_voiding_applies() {
        let signing = write(
            5_000,
            "a",
            "hill",
            &[("plan", "rest"), ("status", "signed")],
            &[],
        );
        let unsign = write(
            6_000,
            "x",
            "hill",
            &[("status", "draft"), ("plan", "new")],
            &[&signing.hlc],
        );
        let merged = merge_entity(EntityKind::Encounter, &[signing.clone(), unsign]);
        assert_eq!(merged.fields["status"].winner.1, Value::from("signed"));
        assert_eq!(merged.fields["plan"].winner.1, Value::from("rest"));
        assert_eq!(merged.after_signing.len(), 2);
        let void = write(
            7_000,
            "a",
            "hill",
            &[("status", "voided"), ("void_reason", "wrong patient")],
            &[&signing.hlc],
        );
        let merged = merge_entity(EntityKind::Encounter, &[signing, void]);
        assert_eq!(merged.fields["status"].winner.1, Value::from("voided"));
        assert!(merged.after_signing.is_empty());
    }
}
