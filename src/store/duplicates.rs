//! Likely duplicate patients in the store: candidates found by their blocking keys
//! (`patient_match_key`, filled by triggers from the `match_keys` column every write path sets),
//! then scored by `model::likeness`.

use super::patients::patients_by_rowid;
use super::{Store, StoreError, meta_get, meta_set};
use crate::model::{Comparable, Likeness, Patient, blocking_keys, likeness};
use rusqlite::params;
use std::collections::HashMap;

/// The version of the blocking keys; a store whose keys were made by another is re-keyed when
/// opened.
const MATCH_KEYS_VERSION: &str = "2";

/// Candidates scored at most, per look-up (those sharing the most keys).
const MAX_CANDIDATES: usize = 100;

/// A key filed for more patients than this is passed over when looking up candidates.
const UNSELECTIVE: i64 = 500;

/// A patient's blocking keys as stored (a JSON list).
pub(super) fn match_keys(p: &Patient) -> String {
    serde_json::to_string(&blocking_keys(&Comparable::of(p), 0)).unwrap_or_else(|_| "[]".into())
}

/// A patient who may be the one being registered or looked at.
#[derive(Clone, Debug)]
pub struct DuplicateCandidate {
    /// The patient in the store.
    pub patient: Patient,
    /// How alike, and why.
    pub likeness: Likeness,
}

/// Two patients of the store who may be one person.
#[derive(Clone, Debug)]
pub struct DuplicatePair {
    /// The one registered first (the smaller row key).
    pub first: Patient,
    /// The other.
    pub second: Patient,
    /// How alike, and why.
    pub likeness: Likeness,
}

impl Store {
    /// Fills the blocking keys of every patient when they were made by another version (or by
    /// none: a store from before they existed). Returns how many patients were re-keyed.
    pub(super) fn refresh_match_keys(&mut self) -> Result<usize, StoreError> {
        if meta_get(&self.conn, "match_keys_version")?.as_deref() == Some(MATCH_KEYS_VERSION) {
            return Ok(0);
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("filing patients for duplicate checks"))?;
        let rowids: Vec<i64> = {
            let mut stmt = tx
                .prepare("SELECT patient_rowid FROM patient")
                .map_err(StoreError::sqlite("filing patients for duplicate checks"))?;
            stmt.query_map([], |row| row.get(0))
                .and_then(Iterator::collect)
                .map_err(StoreError::sqlite("filing patients for duplicate checks"))?
        };
        let mut done = 0;
        for chunk in rowids.chunks(5_000) {
            let patients = patients_by_rowid(&tx, chunk, true)?;
            let mut update = tx
                .prepare_cached("UPDATE patient SET match_keys = ?1 WHERE patient_rowid = ?2")
                .map_err(StoreError::sqlite("filing patients for duplicate checks"))?;
            for (rowid, patient) in &patients {
                update
                    .execute(params![match_keys(patient), rowid])
                    .map_err(StoreError::sqlite("filing patients for duplicate checks"))?;
                done += 1;
            }
        }
        meta_set(&tx, "match_keys_version", MATCH_KEYS_VERSION)?;
        tx.commit()
            .map_err(StoreError::sqlite("filing patients for duplicate checks"))?;
        Ok(done)
    }

    /// The row keys of patients sharing a blocking key with `keys`, those sharing the most
    /// first, at most [`MAX_CANDIDATES`]. A key filed for more than [`UNSELECTIVE`] patients
    /// ("Maria, born 1980" in a large store) says too little to look through: a duplicate among
    /// them shares a narrower key too (the family name with the year, the phone, the ID).
    fn candidates(&self, keys: &[String]) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT patient_rowid FROM patient_match_key WHERE key = ?1 LIMIT ?2")
            .map_err(StoreError::sqlite("looking for duplicates"))?;
        let mut hits: HashMap<i64, u32> = HashMap::new();
        for key in keys {
            let rows: Vec<i64> = stmt
                .query_map(params![key, UNSELECTIVE + 1], |row| row.get(0))
                .and_then(Iterator::collect)
                .map_err(StoreError::sqlite("looking for duplicates"))?;
            if rows.len() > UNSELECTIVE as usize {
                continue;
            }
            for rowid in rows {
                *hits.entry(rowid).or_default() += 1;
            }
        }
        let mut ranked: Vec<(i64, u32)> = hits.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(ranked
            .into_iter()
            .take(MAX_CANDIDATES)
            .map(|(rowid, _)| rowid)
            .collect())
    }

    /// How many patients share the name both of a pair are filed under (the least common of
    /// the name keys they share; 0 when they share none).
    fn name_sharing(
        &self,
        a: &Comparable,
        b: &Comparable,
        counted: &mut HashMap<String, i64>,
    ) -> Result<usize, StoreError> {
        let theirs = blocking_keys(b, 0);
        let mut least: Option<i64> = None;
        for key in blocking_keys(a, 0)
            .into_iter()
            .filter(|k| k.starts_with("n:") && theirs.contains(k))
        {
            // Many candidates share one name: each key is counted once per look-up.
            let count = match counted.get(&key) {
                Some(count) => *count,
                None => {
                    let count: i64 = self
                        .conn
                        .prepare_cached("SELECT count(*) FROM patient_match_key WHERE key = ?1")
                        .and_then(|mut stmt| stmt.query_row([&key], |row| row.get(0)))
                        .map_err(StoreError::sqlite("looking for duplicates"))?;
                    counted.insert(key, count);
                    count
                }
            };
            least = Some(least.map_or(count, |l| l.min(count)));
        }
        Ok(usize::try_from(least.unwrap_or(0)).unwrap_or(0))
    }

    /// The likeness of a pair, a common name's weight lowered; `in_store` counts one of them
    /// as filed already (`a` is being typed).
    fn weighed(
        &self,
        a: &Comparable,
        b: &Comparable,
        a_in_store: bool,
        counted: &mut HashMap<String, i64>,
    ) -> Result<Likeness, StoreError> {
        let raw = likeness(a, b);
        // Only a pair that could be shown needs the count.
        if raw.score < crate::model::LIKELY || !raw.names_agree() {
            return Ok(raw);
        }
        let sharing = self.name_sharing(a, b, counted)? + usize::from(!a_in_store);
        Ok(raw.with_name_shared_by(sharing))
    }

    /// Patients already here who are likely the patient being registered (or edited), the most
    /// alike first, at most `limit`. The patient itself is left out.
    pub fn likely_duplicates(
        &self,
        typed: &Patient,
        limit: usize,
    ) -> Result<Vec<DuplicateCandidate>, StoreError> {
        let wanted = Comparable::of(typed);
        if !wanted.is_searchable() {
            return Ok(Vec::new());
        }
        let rowids = self.candidates(&blocking_keys(&wanted, 1))?;
        let in_store = rowids.is_empty()
            || self
                .conn
                .prepare_cached("SELECT count(*) FROM patient WHERE patient_id = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row([typed.patient_id.to_string()], |row| row.get::<_, i64>(0))
                })
                .map_err(StoreError::sqlite("looking for duplicates"))?
                > 0;
        let mut found = Vec::new();
        let mut counted = HashMap::new();
        for (_, patient) in patients_by_rowid(&self.conn, &rowids, false)? {
            if patient.patient_id == typed.patient_id {
                continue;
            }
            let likeness =
                self.weighed(&wanted, &Comparable::of(&patient), in_store, &mut counted)?;
            if likeness.is_likely() {
                found.push(DuplicateCandidate { patient, likeness });
            }
        }
        found.sort_by(|a, b| b.likeness.score.total_cmp(&a.likeness.score));
        found.truncate(limit);
        Ok(found)
    }

    /// Every pair of live patients likely to be one person, the most alike first: the
    /// administrator's worklist. Each patient is compared with the candidates its keys find.
    pub fn duplicate_pairs(&self) -> Result<Vec<DuplicatePair>, StoreError> {
        let rowids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT patient_rowid FROM patient WHERE voided = 0 AND merged_into IS NULL",
                )
                .map_err(StoreError::sqlite("looking for duplicates"))?;
            stmt.query_map([], |row| row.get(0))
                .and_then(Iterator::collect)
                .map_err(StoreError::sqlite("looking for duplicates"))?
        };
        let mut pairs = Vec::new();
        let mut counted = HashMap::new();
        for chunk in rowids.chunks(1_000) {
            for (rowid, patient) in patients_by_rowid(&self.conn, chunk, false)? {
                let wanted = Comparable::of(&patient);
                let later: Vec<i64> = self
                    .candidates(&blocking_keys(&wanted, 1))?
                    .into_iter()
                    .filter(|other| *other > rowid)
                    .collect();
                for (_, other) in patients_by_rowid(&self.conn, &later, false)? {
                    let likeness =
                        self.weighed(&wanted, &Comparable::of(&other), true, &mut counted)?;
                    if likeness.is_likely() {
                        pairs.push(DuplicatePair {
                            first: patient.clone(),
                            second: other,
                            likeness,
                        });
                    }
                }
            }
        }
        pairs.sort_by(|a, b| b.likeness.score.total_cmp(&a.likeness.score));
        Ok(pairs)
    }
}
