//! The de-identified research extract, made from what this workstation holds under the clinic's
//! research key (derived from the data key the signed-in user's password opened), for a user
//! who may export records; each extract made is in the audit trail.

use super::{AppError, AppService};
use crate::model::{Action, AuditAction, AuditEvent};
use crate::reports::local_midnight;
use crate::research::{self, ExtractOptions, ResearchExtract};
use chrono::NaiveDate;

/// Why an extract could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResearchError {
    /// The period ends before it starts.
    #[error("The period ends ({to}) before it starts ({from}).")]
    EmptyPeriod {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
    },
    /// k must be at least 2 for the check to protect anyone.
    #[error("k must be at least 2 (it is {0}).")]
    SmallK(usize),
}

impl AppService {
    /// The research extract of the signed visits from `from` to `to` (both days included, in
    /// this workstation's time zone).
    pub fn research_extract(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        options: &ExtractOptions,
    ) -> Result<ResearchExtract, AppError> {
        let session = self.authorize(Action::ExportRecords)?;
        let user_id = session.user.user_id;
        let key = session.data_key().research_key();
        if to < from {
            return Err(ResearchError::EmptyPeriod { from, to }.into());
        }
        if options.k < 2 {
            return Err(ResearchError::SmallK(options.k).into());
        }
        let end = to.succ_opt().unwrap_or(to);
        let (visits, _drafts) = self
            .store
            .signed_visits(local_midnight(from), local_midnight(end))?;
        let extract = research::extract(&visits, &key, options);
        self.store
            .record_audit(AuditEvent::new(AuditAction::Export, Some(user_id)))?;
        Ok(extract)
    }
}
