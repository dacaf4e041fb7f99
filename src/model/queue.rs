//! The clinic's day: who has arrived, in what order they are seen, and where each one is.
//!
//! A queue entry is a synced record of one patient's arrival on one day, so every workstation of
//! the clinic shows one queue. It moves arrived → triaged → with a clinician → done, or leaves
//! without being seen. A nurse's triage gives it a priority by the WHO Emergency Triage
//! Assessment and Treatment (ETAT) signs: any emergency sign makes it an emergency, any priority
//! sign urgent, and otherwise it is routine. The waiting are seen emergencies first, then urgent,
//! then everyone else in the order they arrived.

use super::ids::{PatientId, QueueEntryId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Where an arrival is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QueueState {
    /// Waiting, not triaged yet.
    #[default]
    Arrived,
    /// Waiting, triaged.
    Triaged,
    /// Being seen.
    WithClinician,
    /// Seen.
    Done,
    /// Went home without being seen.
    LeftUnseen,
}

impl QueueState {
    /// Every state, in the order of the day.
    pub const ALL: [Self; 5] = [
        Self::Arrived,
        Self::Triaged,
        Self::WithClinician,
        Self::Done,
        Self::LeftUnseen,
    ];

    /// The stable code stored and synced.
    pub fn code(self) -> &'static str {
        match self {
            Self::Arrived => "arrived",
            Self::Triaged => "triaged",
            Self::WithClinician => "with_clinician",
            Self::Done => "done",
            Self::LeftUnseen => "left_unseen",
        }
    }

    /// The state of a stored code (an unknown one reads as arrived).
    pub fn from_code(code: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .unwrap_or_default()
    }

    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Arrived => "Waiting for triage",
            Self::Triaged => "Waiting",
            Self::WithClinician => "With clinician",
            Self::Done => "Done",
            Self::LeftUnseen => "Left without being seen",
        }
    }

    /// Still waiting to be seen.
    pub fn is_waiting(self) -> bool {
        matches!(self, Self::Arrived | Self::Triaged)
    }
}

/// How soon an arrival must be seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    /// An emergency sign: seen at once.
    Emergency,
    /// A priority sign: seen before the routine.
    Urgent,
    /// Neither: in order of arrival.
    Routine,
}

impl Priority {
    /// The stable code stored and synced.
    pub fn code(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Urgent => "urgent",
            Self::Routine => "routine",
        }
    }

    /// The priority of a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Emergency, Self::Urgent, Self::Routine]
            .into_iter()
            .find(|p| p.code() == code)
    }

    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Emergency => "Emergency",
            Self::Urgent => "Urgent",
            Self::Routine => "Routine",
        }
    }
}

/// A sign a nurse looks for at triage (WHO ETAT: the emergency signs, then the priority signs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum TriageSign {
    /// Obstructed or absent breathing.
    ObstructedBreathing,
    /// Severe respiratory distress.
    SevereRespiratoryDistress,
    /// Central cyanosis.
    CentralCyanosis,
    /// Signs of shock: cold hands, slow capillary refill, weak fast pulse.
    Shock,
    /// Coma.
    Coma,
    /// Convulsing now.
    Convulsions,
    /// Severe dehydration (in diarrhoea: lethargy, sunken eyes, very slow skin pinch).
    SevereDehydration,
    /// A tiny baby (under two months).
    TinyBaby,
    /// A very high temperature.
    VeryHighFever,
    /// Trauma or another urgent surgical condition.
    Trauma,
    /// Severe pallor.
    SeverePallor,
    /// Poisoning.
    Poisoning,
    /// Severe pain.
    SeverePain,
    /// Respiratory distress.
    RespiratoryDistress,
    /// Restless, continuously irritable or lethargic.
    Restless,
    /// Referred as urgent.
    UrgentReferral,
    /// Visible severe wasting, or oedema of both feet.
    Malnutrition,
    /// Major burns.
    Burns,
}

impl TriageSign {
    /// Every sign, emergency signs first.
    pub const ALL: [Self; 18] = [
        Self::ObstructedBreathing,
        Self::SevereRespiratoryDistress,
        Self::CentralCyanosis,
        Self::Shock,
        Self::Coma,
        Self::Convulsions,
        Self::SevereDehydration,
        Self::TinyBaby,
        Self::VeryHighFever,
        Self::Trauma,
        Self::SeverePallor,
        Self::Poisoning,
        Self::SeverePain,
        Self::RespiratoryDistress,
        Self::Restless,
        Self::UrgentReferral,
        Self::Malnutrition,
        Self::Burns,
    ];

    /// An emergency sign (the others are priority signs).
    pub fn is_emergency(self) -> bool {
        matches!(
            self,
            Self::ObstructedBreathing
                | Self::SevereRespiratoryDistress
                | Self::CentralCyanosis
                | Self::Shock
                | Self::Coma
                | Self::Convulsions
                | Self::SevereDehydration
        )
    }

    /// The stable code stored and synced.
    pub fn code(self) -> &'static str {
        match self {
            Self::ObstructedBreathing => "obstructed_breathing",
            Self::SevereRespiratoryDistress => "severe_respiratory_distress",
            Self::CentralCyanosis => "central_cyanosis",
            Self::Shock => "shock",
            Self::Coma => "coma",
            Self::Convulsions => "convulsions",
            Self::SevereDehydration => "severe_dehydration",
            Self::TinyBaby => "tiny_baby",
            Self::VeryHighFever => "very_high_fever",
            Self::Trauma => "trauma",
            Self::SeverePallor => "severe_pallor",
            Self::Poisoning => "poisoning",
            Self::SeverePain => "severe_pain",
            Self::RespiratoryDistress => "respiratory_distress",
            Self::Restless => "restless",
            Self::UrgentReferral => "urgent_referral",
            Self::Malnutrition => "malnutrition",
            Self::Burns => "burns",
        }
    }

    /// The sign of a stored code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// In words, as the triage form asks.
    pub fn label(self) -> &'static str {
        match self {
            Self::ObstructedBreathing => "Obstructed or absent breathing",
            Self::SevereRespiratoryDistress => "Severe respiratory distress",
            Self::CentralCyanosis => "Central cyanosis",
            Self::Shock => "Signs of shock",
            Self::Coma => "Coma",
            Self::Convulsions => "Convulsing",
            Self::SevereDehydration => "Severe dehydration",
            Self::TinyBaby => "Tiny baby (under 2 months)",
            Self::VeryHighFever => "Very high temperature",
            Self::Trauma => "Trauma or urgent surgical condition",
            Self::SeverePallor => "Severe pallor",
            Self::Poisoning => "Poisoning",
            Self::SeverePain => "Severe pain",
            Self::RespiratoryDistress => "Respiratory distress",
            Self::Restless => "Restless, irritable or lethargic",
            Self::UrgentReferral => "Urgent referral",
            Self::Malnutrition => "Severe wasting or oedema of both feet",
            Self::Burns => "Major burns",
        }
    }
}

/// The priority the signs give: any emergency sign, emergency; any priority sign, urgent;
/// none, routine.
pub fn triage_priority(signs: &[TriageSign]) -> Priority {
    if signs.iter().any(|s| s.is_emergency()) {
        Priority::Emergency
    } else if signs.is_empty() {
        Priority::Routine
    } else {
        Priority::Urgent
    }
}

/// One patient's arrival on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// This record.
    pub queue_entry_id: QueueEntryId,
    /// Who.
    pub patient_id: PatientId,
    /// The clinic's day it belongs to.
    pub day: NaiveDate,
    /// When they arrived.
    pub arrived_at: DateTime<Utc>,
    /// Where they are.
    pub state: QueueState,
    /// The triage's priority, once triaged.
    pub priority: Option<Priority>,
    /// The signs the triage found.
    pub signs: Vec<TriageSign>,
    /// The clinician seeing (or who saw) them.
    pub clinician: String,
}

impl QueueEntry {
    /// A new arrival.
    pub fn arrival(patient_id: PatientId, day: NaiveDate, arrived_at: DateTime<Utc>) -> Self {
        Self {
            queue_entry_id: QueueEntryId::new(),
            patient_id,
            day,
            arrived_at,
            state: QueueState::Arrived,
            priority: None,
            signs: Vec::new(),
            clinician: String::new(),
        }
    }

    /// Whole minutes since arrival (0 before it).
    pub fn minutes_waited(&self, now: DateTime<Utc>) -> i64 {
        (now - self.arrived_at).num_minutes().max(0)
    }

    /// Where it stands in the day's order: the waiting by priority (not yet triaged counts as
    /// routine) then arrival; then those being seen; then the done and those who left.
    pub fn order_key(&self) -> (u8, u8, DateTime<Utc>, QueueEntryId) {
        let stage = match self.state {
            QueueState::Arrived | QueueState::Triaged => 0,
            QueueState::WithClinician => 1,
            QueueState::Done | QueueState::LeftUnseen => 2,
        };
        let priority = match self.priority {
            Some(Priority::Emergency) => 0,
            Some(Priority::Urgent) => 1,
            Some(Priority::Routine) | None => 2,
        };
        (stage, priority, self.arrived_at, self.queue_entry_id)
    }
}

/// The day's queue in the order it is seen ([`QueueEntry::order_key`]).
pub fn queue_order(entries: &mut [QueueEntry]) {
    entries.sort_by_key(QueueEntry::order_key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 8, minute, 0).unwrap()
    }

    #[test]
    fn the_signs_give_the_priority() {
        assert_eq!(triage_priority(&[]), Priority::Routine);
        assert_eq!(triage_priority(&[TriageSign::SeverePain]), Priority::Urgent);
        assert_eq!(
            triage_priority(&[TriageSign::SeverePain, TriageSign::Convulsions]),
            Priority::Emergency
        );
        for sign in TriageSign::ALL {
            assert_eq!(TriageSign::from_code(sign.code()), Some(sign));
        }
        assert_eq!(
            TriageSign::ALL.iter().filter(|s| s.is_emergency()).count(),
            7
        );
    }

    #[test]
    fn emergencies_first_then_urgent_then_arrival_order() {
        let day = at(0).date_naive();
        let mut first = QueueEntry::arrival(PatientId::new(), day, at(0));
        first.state = QueueState::Triaged;
        first.priority = Some(Priority::Routine);
        let second = QueueEntry::arrival(PatientId::new(), day, at(5));
        let mut third = QueueEntry::arrival(PatientId::new(), day, at(10));
        third.state = QueueState::Triaged;
        third.priority = Some(Priority::Emergency);
        let mut fourth = QueueEntry::arrival(PatientId::new(), day, at(15));
        fourth.state = QueueState::Triaged;
        fourth.priority = Some(Priority::Urgent);
        let mut seen = QueueEntry::arrival(PatientId::new(), day, at(1));
        seen.state = QueueState::Done;
        let mut queue = vec![
            seen.clone(),
            first.clone(),
            second.clone(),
            third.clone(),
            fourth.clone(),
        ];
        queue_order(&mut queue);
        let order: Vec<_> = queue.iter().map(|e| e.queue_entry_id).collect();
        assert_eq!(
            order,
            [
                third.queue_entry_id,
                fourth.queue_entry_id,
                first.queue_entry_id,
                second.queue_entry_id,
                seen.queue_entry_id
            ]
        );
        assert_eq!(second.minutes_waited(at(35)), 30);
    }
}
