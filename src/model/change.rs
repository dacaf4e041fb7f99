//! Change records: what sync pushes. Every local write appends one in the same transaction as the
//! data it describes, carrying only the fields that write changed.

use super::hlc::HlcStamp;
use super::ids::{ChangeId, ClinicId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The kind of record a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// Demographics of a patient.
    Patient,
    /// One allergy of a patient.
    Allergy,
    /// One entry of a patient's problem list.
    Problem,
    /// A visit.
    Encounter,
    /// An amendment to a signed visit.
    Amendment,
}

impl EntityKind {
    /// The stable text name used in the store and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Allergy => "allergy",
            Self::Problem => "problem",
            Self::Encounter => "encounter",
            Self::Amendment => "amendment",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntityKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "patient" => Self::Patient,
            "allergy" => Self::Allergy,
            "problem" => Self::Problem,
            "encounter" => Self::Encounter,
            "amendment" => Self::Amendment,
            other => return Err(format!("unknown entity kind {other:?}")),
        })
    }
}

/// One write, as sync carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Unique id of this change; the server stores each id once.
    pub change_id: ChangeId,
    /// What kind of record was written.
    pub entity: EntityKind,
    /// Which record.
    pub entity_id: Uuid,
    /// The fields written, with their new values.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// When, by the hybrid logical clock.
    pub hlc: HlcStamp,
    /// The clinic whose workstation wrote it.
    pub clinic_id: ClinicId,
}
