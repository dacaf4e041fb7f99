//! The monthly report at the server, for the whole district or one clinic
//! (`outpost-server report --month 2026-11`).
//!
//! The server keeps changes, not records: the changes are replayed into a workstation store in
//! memory (the same merge a workstation does, as the records API reads a record), and the
//! report is counted there by the same code as a workstation's. Referrals are the visits that
//! referral letters were issued from, by every workstation's audit trail the server holds. For
//! one clinic, the visits (and their amendments) its workstations wrote; for the district,
//! every clinic's.

use super::store::{ServerStore, StoreError};
use crate::model::{AuditAction, ClinicId, EntityKind};
use crate::reports::{Month, MonthlyReport, Notifiable};
use std::collections::{BTreeSet, HashSet};

/// Changes read from the log at a time.
const PAGE: usize = 5_000;

/// Why the report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DistrictReportError {
    /// The server's store failed.
    #[error(transparent)]
    Server(#[from] StoreError),
    /// The replay into a store in memory failed.
    #[error("the records could not be replayed: {0}")]
    Replay(#[from] crate::store::StoreError),
    /// No clinic has that id.
    #[error("no clinic has the id {0}: see `outpost-server clinic list`")]
    UnknownClinic(ClinicId),
}

/// The report of `month` (in this computer's time zone) for one clinic, or every clinic.
pub fn district_report(
    store: &dyn ServerStore,
    month: Month,
    clinic: Option<ClinicId>,
    notifiable: &[Notifiable],
) -> Result<MonthlyReport, DistrictReportError> {
    let clinics = store.clinics()?;
    let (chosen, title) = match clinic {
        Some(id) => {
            let Some(found) = clinics.iter().find(|c| c.clinic_id == id) else {
                return Err(DistrictReportError::UnknownClinic(id));
            };
            (vec![found.clinic_id], found.name.clone())
        }
        None => (
            clinics.iter().map(|c| c.clinic_id).collect::<Vec<_>>(),
            format!("District: {} clinic(s)", clinics.len()),
        ),
    };
    let mut replica = crate::store::Store::open_in_memory()?;
    let last = store.last_seq()?;
    let mut applied: HashSet<u64> = HashSet::new();
    for clinic_id in &chosen {
        let mut after = 0;
        loop {
            let page = store.changes_between(*clinic_id, after, last, PAGE, usize::MAX)?;
            let Some((seq, _)) = page.last() else {
                break;
            };
            after = *seq;
            let wanted: Vec<_> = page
                .into_iter()
                .filter(|(seq, change)| {
                    // A clinic's report counts the visits its own workstations wrote; the
                    // patients and everything else about them come whoever wrote it.
                    let visit_part =
                        matches!(change.entity, EntityKind::Encounter | EntityKind::Amendment);
                    (!visit_part || chosen.contains(&change.clinic_id)) && applied.insert(*seq)
                })
                .collect();
            replica.apply_remote_out_of_order(&wanted)?;
        }
    }
    let referred: BTreeSet<String> = store
        .audit_entries()?
        .into_iter()
        .filter(|entry| entry.event.action == AuditAction::ReferralIssued)
        .filter_map(|entry| entry.event.record_id)
        .map(|id| id.hyphenated().to_string())
        .collect();
    let (start, end) = month.local_bounds();
    let (facts, drafts) = replica.report_facts_with(start, end, &referred)?;
    Ok(crate::reports::monthly(
        &title, month, &facts, drafts, notifiable,
    ))
}
