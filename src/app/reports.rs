//! The monthly report, made from what this workstation holds, for a user who may make reports;
//! each report made is in the audit trail.

use super::{AppError, AppService};
use crate::model::{Action, AuditAction, AuditEvent};
use crate::reports::{self, Month, MonthlyReport, Notifiable};
use chrono::TimeZone;

/// The start of `day` in this workstation's time zone.
pub(super) fn local_midnight(day: chrono::NaiveDate) -> chrono::DateTime<chrono::Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    chrono::Local
        .from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&chrono::Utc))
}

impl AppService {
    /// The report of `month` (in this workstation's time zone) with `notifiable` conditions.
    pub fn monthly_report(
        &mut self,
        month: Month,
        notifiable: &[Notifiable],
    ) -> Result<MonthlyReport, AppError> {
        let user_id = self.authorize(Action::RunReports)?.user.user_id;
        let (facts, drafts) = self.store.report_facts(
            local_midnight(month.first_day()),
            local_midnight(month.next_first_day()),
        )?;
        let clinic = self.letterhead()?.clinic_name;
        let report = reports::monthly(&clinic, month, &facts, drafts, notifiable);
        self.store
            .record_audit(AuditEvent::new(AuditAction::Export, Some(user_id)))?;
        Ok(report)
    }
}
