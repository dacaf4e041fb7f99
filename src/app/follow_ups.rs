//! Follow-ups: who was asked to come back, and the printable list of those who have not, with
//! their phone numbers, for the clinic to call; printing it is an entry of the audit trail.

use super::{AppError, AppService};
use crate::documents::{Block, Footer, Paper};
use crate::model::{Action, AuditAction, AuditEvent};
use crate::store::FollowUp;
use chrono::NaiveDate;

/// How far back the missed list looks.
pub const MISSED_LOOKBACK_DAYS: i64 = 180;

impl AppService {
    /// The follow-ups missed by `today`: due in the last [`MISSED_LOOKBACK_DAYS`] days and not
    /// seen within `grace_days` after their day, oldest first.
    pub fn missed_follow_ups(
        &self,
        today: NaiveDate,
        grace_days: i64,
    ) -> Result<Vec<FollowUp>, AppError> {
        self.authorize(Action::FindPatients)?;
        let from = today - chrono::TimeDelta::days(MISSED_LOOKBACK_DAYS);
        Ok(self
            .store
            .follow_ups(from, today)?
            .into_iter()
            .filter(|f| f.missed(today, grace_days))
            .collect())
    }

    /// The missed follow-ups as a PDF to print: name, number, phone, the day they were due
    /// and why. The print is audited.
    pub fn missed_follow_ups_pdf(
        &mut self,
        today: NaiveDate,
        grace_days: i64,
        paper: Paper,
    ) -> Result<Vec<u8>, AppError> {
        let missed = self.missed_follow_ups(today, grace_days)?;
        let session = self.authorize(Action::FindPatients)?;
        let (user_id, printed_by) = (session.user.user_id, session.user.full_name.clone());
        let clinic = self.letterhead()?.clinic_name;
        let mut blocks = vec![
            Block::Title(clinic),
            Block::Heading(format!(
                "Missed follow-ups on {} ({} day(s) of grace)",
                today.format("%-d %B %Y"),
                grace_days
            )),
            Block::Rule,
        ];
        if missed.is_empty() {
            blocks.push(Block::Text("Nobody has missed a follow-up.".to_owned()));
        }
        for f in &missed {
            let p = &f.patient;
            let number = p
                .number
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let phone = if p.phone.trim().is_empty() {
                "no phone".to_owned()
            } else {
                p.phone.trim().to_owned()
            };
            blocks.push(Block::Text(format!(
                "{}  {number}  ·  {phone}",
                p.display_name()
            )));
            let kin = if p.next_of_kin.phone.trim().is_empty() {
                String::new()
            } else {
                format!(
                    "  ·  next of kin {} {}",
                    p.next_of_kin.name.trim(),
                    p.next_of_kin.phone.trim()
                )
            };
            blocks.push(Block::Small(format!(
                "Due {} ({} days ago){}{}",
                f.due.format("%-d %b %Y"),
                (today - f.due).num_days(),
                if f.reason.is_empty() {
                    String::new()
                } else {
                    format!("  ·  {}", f.reason)
                },
                kin
            )));
        }
        let pdf = crate::documents::render(
            &blocks,
            paper,
            &Footer {
                printed_by,
                printed_at: chrono::Utc::now().format("%-d %b %Y %H:%M UTC").to_string(),
            },
        )?;
        self.store
            .record_audit(AuditEvent::new(AuditAction::Print, Some(user_id)))?;
        Ok(pdf)
    }
}
