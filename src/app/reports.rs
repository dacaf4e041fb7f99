//! The monthly report, made from what this workstation holds, for a user who may make reports;
//! each report made is in the audit trail.

use super::{AppError, AppService};
use crate::model::{Action, AuditAction, AuditEvent};
use crate::reports::{self, Month, MonthlyReport, Notifiable};

impl AppService {
    /// The report of `month` (in this workstation's time zone) with `notifiable` conditions.
    pub fn monthly_report(
        &mut self,
        month: Month,
        notifiable: &[Notifiable],
    ) -> Result<MonthlyReport, AppError> {
        let user_id = self.authorize(Action::RunReports)?.user.user_id;
        let (start, end) = month.local_bounds();
        let (facts, drafts) = self.store.report_facts(start, end)?;
        let clinic = self.letterhead()?.clinic_name;
        let report = reports::monthly(&clinic, month, &facts, drafts, notifiable);
        self.store
            .record_audit(AuditEvent::new(AuditAction::Export, Some(user_id)))?;
        Ok(report)
    }
}
