//! The signed visits of a period, as amended, with their patients (what the monthly report and
//! the research extract are made from), and what the monthly report counts of each: the
//! patient's sex and age, whether it was their first, its diagnoses, the MUAC, and whether a
//! referral letter was issued from it.

use super::{Store, StoreError, time_text};
use crate::model::{EncounterId, EncounterStatus, PatientId, SignedVisit, age_on};
use crate::reports::VisitFact;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

impl Store {
    /// The signed visits that began in `[from, to)`, as amended and with their patients, in the
    /// order they began, and how many visits of that time are still drafts. Voided visits are
    /// not visits.
    pub fn signed_visits(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Vec<SignedVisit>, u64), StoreError> {
        let rows: Vec<(String, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT encounter_id, patient_id, status FROM encounter
                 WHERE started_at >= ?1 AND started_at < ?2 AND status <> 'voided'
                 ORDER BY started_at",
            )
            .and_then(|mut stmt| {
                stmt.query_map([time_text(from), time_text(to)], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect()
            })
            .map_err(StoreError::sqlite("reading the period's visits"))?;
        let mut drafts = 0;
        let mut visits = Vec::new();
        let mut first_visits: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut patients = BTreeMap::new();
        for (encounter_id, patient_id, status) in rows {
            if status == "draft" {
                drafts += 1;
                continue;
            }
            let id: EncounterId = encounter_id
                .parse()
                .map_err(|_| StoreError::Corrupt { what: "a visit id" })?;
            let visit = self.encounter(id)?;
            if !matches!(visit.status, EncounterStatus::Signed { .. }) {
                continue;
            }
            let amendments = self.amendments(id)?;
            let visit = visit.as_amended(&amendments);
            let first = match first_visits.get(&patient_id) {
                Some(first) => first.clone(),
                None => {
                    let first: Option<String> = self
                        .conn
                        .prepare_cached(
                            "SELECT encounter_id FROM encounter
                             WHERE patient_id = ?1 AND status = 'signed'
                             ORDER BY started_at, encounter_id LIMIT 1",
                        )
                        .and_then(|mut stmt| {
                            use rusqlite::OptionalExtension;
                            stmt.query_row([&patient_id], |row| row.get(0)).optional()
                        })
                        .map_err(StoreError::sqlite("reading a patient's first visit"))?;
                    first_visits.insert(patient_id.clone(), first.clone());
                    first
                }
            };
            let pid: PatientId = patient_id.parse().map_err(|_| StoreError::Corrupt {
                what: "a patient id",
            })?;
            let patient = match patients.get(&pid) {
                Some(patient) => patient,
                None => {
                    let patient = self.patient(pid)?;
                    patients.entry(pid).or_insert(patient)
                }
            };
            visits.push(SignedVisit {
                patient: patient.clone(),
                visit,
                first_visit: first.as_deref() == Some(encounter_id.as_str()),
            });
        }
        Ok((visits, drafts))
    }

    /// The facts of the signed visits that began in `[from, to)`, and how many visits of that
    /// time are still drafts (not counted). Voided visits are not visits. A visit counts as a
    /// referral when this workstation's audit trail has a referral letter issued from it.
    pub fn report_facts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(Vec<VisitFact>, u64), StoreError> {
        let referred: BTreeSet<String> = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT record_id FROM audit_log
                 WHERE action = 'referral_issued' AND record_id IS NOT NULL",
            )
            .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
            .map_err(StoreError::sqlite("reading the referrals"))?;
        self.report_facts_with(from, to, &referred)
    }

    /// [`Store::report_facts`], with the visits referral letters were issued from given (the
    /// server knows them from every workstation's audit trail).
    pub fn report_facts_with(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        referred: &BTreeSet<String>,
    ) -> Result<(Vec<VisitFact>, u64), StoreError> {
        let (visits, drafts) = self.signed_visits(from, to)?;
        let facts = visits
            .into_iter()
            .map(
                |SignedVisit {
                     patient,
                     visit,
                     first_visit,
                 }| {
                    let day = visit.started_at.with_timezone(&chrono::Local).date_naive();
                    VisitFact {
                        sex: patient.sex,
                        age_months: patient
                            .birth
                            .and_then(|b| age_on(b.date, day))
                            .map(|(years, months, _)| years * 12 + months),
                        first_visit,
                        diagnoses: visit
                            .diagnoses
                            .iter()
                            .map(|d| (d.code.clone(), d.title.clone()))
                            .collect(),
                        muac_mm: visit.vitals.muac_mm,
                        referred: referred.contains(&visit.encounter_id.to_string()),
                    }
                },
            )
            .collect();
        Ok((facts, drafts))
    }
}
