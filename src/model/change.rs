//! Change records: what sync pushes. Every local write appends one in the same transaction as the
//! data it describes, carrying only the fields that write changed.

use super::hlc::HlcStamp;
use super::ids::{ChangeId, ClinicId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The kind of record a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// An imported image file (DICOM instance or photo).
    Attachment,
    /// A user of the clinic.
    User,
    /// The clinic's letterhead: what heads its printed documents.
    Letterhead,
    /// A patient's arrival in the day's queue.
    QueueEntry,
    /// One patient's second record merged into the first (see `model::patient_merge`).
    PatientMerge,
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
            Self::Attachment => "attachment",
            Self::User => "user",
            Self::Letterhead => "letterhead",
            Self::QueueEntry => "queue_entry",
            Self::PatientMerge => "patient_merge",
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
            "attachment" => Self::Attachment,
            "user" => Self::User,
            "letterhead" => Self::Letterhead,
            "queue_entry" => Self::QueueEntry,
            "patient_merge" => Self::PatientMerge,
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
    /// For each field written, the stamps of the values the writer saw and knowingly replaced.
    /// A write that replaced what another replica wrote is an overwrite; one that did not know of
    /// it is concurrent, and the losing value becomes a conflict for a person to resolve.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub supersedes: BTreeMap<String, Vec<HlcStamp>>,
}

/// The kind of value a synced field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Text, never null.
    Text,
    /// Text or null.
    OptionalText,
    /// A record id (UUID text), never null.
    Id,
    /// A whole number, never null.
    Integer,
    /// A whole number or null.
    OptionalInteger,
    /// True or false.
    Bool,
    /// A JSON object (vitals).
    Object,
    /// A JSON list (diagnoses, prescriptions, lab results).
    List,
}

const PATIENT_FIELDS: &[(&str, FieldKind)] = &[
    ("clinic_id", FieldKind::Id),
    ("number_prefix", FieldKind::Text),
    ("number_seq", FieldKind::Integer),
    ("given_name", FieldKind::Text),
    ("family_name", FieldKind::Text),
    ("other_script_name", FieldKind::Text),
    ("sex", FieldKind::Text),
    ("birth_date", FieldKind::OptionalText),
    ("birth_estimated", FieldKind::Bool),
    ("phone", FieldKind::Text),
    ("village", FieldKind::Text),
    ("national_id", FieldKind::Text),
    ("kin_name", FieldKind::Text),
    ("kin_phone", FieldKind::Text),
    ("notes", FieldKind::Text),
    ("allergy_status", FieldKind::Text),
    ("voided", FieldKind::Bool),
    ("void_reason", FieldKind::Text),
];

const ALLERGY_FIELDS: &[(&str, FieldKind)] = &[
    ("patient_id", FieldKind::Id),
    ("substance", FieldKind::Text),
    ("reaction", FieldKind::Text),
    ("severity", FieldKind::Text),
    ("active", FieldKind::Bool),
];

const PROBLEM_FIELDS: &[(&str, FieldKind)] = &[
    ("patient_id", FieldKind::Id),
    ("code", FieldKind::OptionalText),
    ("title", FieldKind::Text),
    ("onset", FieldKind::OptionalText),
    ("status", FieldKind::Text),
];

const ENCOUNTER_FIELDS: &[(&str, FieldKind)] = &[
    ("patient_id", FieldKind::Id),
    ("started_at", FieldKind::Text),
    ("kind", FieldKind::Text),
    ("clinician", FieldKind::Text),
    ("clinician_id", FieldKind::OptionalText),
    ("chief_complaint", FieldKind::Text),
    ("history", FieldKind::Text),
    ("examination", FieldKind::Text),
    ("vitals", FieldKind::Object),
    ("diagnoses", FieldKind::List),
    ("prescriptions", FieldKind::List),
    ("lab_results", FieldKind::List),
    ("plan", FieldKind::Text),
    ("follow_up", FieldKind::OptionalText),
    ("status", FieldKind::Text),
    ("signed_by", FieldKind::OptionalText),
    ("signed_at", FieldKind::OptionalText),
    ("voided_by", FieldKind::OptionalText),
    ("voided_at", FieldKind::OptionalText),
    ("void_reason", FieldKind::OptionalText),
    ("signed_by_id", FieldKind::OptionalText),
    ("signed_role", FieldKind::OptionalText),
    ("voided_by_id", FieldKind::OptionalText),
];

const AMENDMENT_FIELDS: &[(&str, FieldKind)] = &[
    ("encounter_id", FieldKind::Id),
    ("text", FieldKind::Text),
    ("reason", FieldKind::Text),
    ("author", FieldKind::Text),
    ("author_id", FieldKind::OptionalText),
    ("amended_at", FieldKind::Text),
    ("stops", FieldKind::List),
    ("withdraws", FieldKind::List),
    ("adds", FieldKind::List),
    ("vitals", FieldKind::List),
];

const ATTACHMENT_FIELDS: &[(&str, FieldKind)] = &[
    ("patient_id", FieldKind::Id),
    ("encounter_id", FieldKind::OptionalText),
    ("blob_sha256", FieldKind::Text),
    ("byte_size", FieldKind::Integer),
    ("media_type", FieldKind::Text),
    ("file_name", FieldKind::Text),
    ("study_uid", FieldKind::Text),
    ("study_date", FieldKind::OptionalText),
    ("study_description", FieldKind::Text),
    ("series_uid", FieldKind::Text),
    ("series_number", FieldKind::OptionalInteger),
    ("series_description", FieldKind::Text),
    ("modality", FieldKind::Text),
    ("body_part", FieldKind::Text),
    ("sop_uid", FieldKind::Text),
    ("instance_number", FieldKind::OptionalInteger),
    ("frames", FieldKind::Integer),
    ("rows", FieldKind::Integer),
    ("columns", FieldKind::Integer),
    ("pixel_spacing", FieldKind::OptionalText),
    ("source_patient_id", FieldKind::Text),
    ("source_patient_name", FieldKind::Text),
    ("source_birth_date", FieldKind::OptionalText),
    ("source_sex", FieldKind::Text),
    ("imported_at", FieldKind::Text),
    ("removed", FieldKind::Bool),
];

const USER_FIELDS: &[(&str, FieldKind)] = &[
    ("user_name", FieldKind::Text),
    ("full_name", FieldKind::Text),
    ("roles", FieldKind::List),
    ("disabled", FieldKind::Bool),
    ("must_change_password", FieldKind::Bool),
    ("key_slot", FieldKind::Text),
];

const LETTERHEAD_FIELDS: &[(&str, FieldKind)] = &[
    ("clinic_name", FieldKind::Text),
    ("address", FieldKind::Text),
    ("phone", FieldKind::Text),
    // A small PNG, base64 (see `model::letterhead`).
    ("logo_png", FieldKind::Text),
];

const QUEUE_FIELDS: &[(&str, FieldKind)] = &[
    ("patient_id", FieldKind::Id),
    ("day", FieldKind::Text),
    ("arrived_at", FieldKind::Text),
    ("state", FieldKind::Text),
    ("priority", FieldKind::OptionalText),
    ("signs", FieldKind::List),
    ("clinician", FieldKind::Text),
];

const PATIENT_MERGE_FIELDS: &[(&str, FieldKind)] = &[
    // The survivor: the record whose chart shows both.
    ("patient_id", FieldKind::Id),
    // The record that no longer shows on its own.
    ("retired_id", FieldKind::Id),
    // The hybrid-clock stamp of the merge, which orders merges on every replica.
    ("made_at", FieldKind::Text),
    ("reason", FieldKind::Text),
    ("made_by", FieldKind::Text),
    ("undone", FieldKind::Bool),
];

/// The longest text one synced field may hold (a visit's history, a patient's notes).
pub const MAX_FIELD_TEXT: usize = 64 * 1024;

impl EntityKind {
    /// Every kind.
    pub const ALL: [EntityKind; 10] = [
        Self::Patient,
        Self::Allergy,
        Self::Problem,
        Self::Encounter,
        Self::Amendment,
        Self::Attachment,
        Self::User,
        Self::Letterhead,
        Self::QueueEntry,
        Self::PatientMerge,
    ];

    /// The fields a change to this kind of record may carry, with the kind of value each holds.
    pub fn fields(self) -> &'static [(&'static str, FieldKind)] {
        match self {
            Self::Patient => PATIENT_FIELDS,
            Self::Allergy => ALLERGY_FIELDS,
            Self::Problem => PROBLEM_FIELDS,
            Self::Encounter => ENCOUNTER_FIELDS,
            Self::Amendment => AMENDMENT_FIELDS,
            Self::Attachment => ATTACHMENT_FIELDS,
            Self::User => USER_FIELDS,
            Self::Letterhead => LETTERHEAD_FIELDS,
            Self::QueueEntry => QUEUE_FIELDS,
            Self::PatientMerge => PATIENT_MERGE_FIELDS,
        }
    }

    /// The value a field holds before any change writes it (what a new row starts with).
    pub fn field_default(self, field: &str) -> serde_json::Value {
        use serde_json::Value;
        match (self, self.field_kind(field)) {
            // An allergy is active until someone says otherwise.
            (Self::Allergy, _) if field == "active" => Value::Bool(true),
            (Self::Patient, _) if field == "sex" => Value::from("unknown"),
            (Self::Patient, _) if field == "allergy_status" => Value::from("not_asked"),
            (Self::Allergy, _) if field == "severity" => Value::from("moderate"),
            (Self::Problem | Self::Encounter, _) if field == "status" => {
                Value::from(if self == Self::Problem {
                    "active"
                } else {
                    "draft"
                })
            }
            (_, Some(FieldKind::Text)) => Value::from(""),
            (_, Some(FieldKind::Integer)) => Value::from(0),
            (_, Some(FieldKind::Bool)) => Value::Bool(false),
            (_, Some(FieldKind::Object)) => Value::Object(serde_json::Map::new()),
            (_, Some(FieldKind::List)) => Value::Array(Vec::new()),
            (
                _,
                Some(FieldKind::OptionalText | FieldKind::OptionalInteger | FieldKind::Id) | None,
            ) => Value::Null,
        }
    }

    /// The kind of value `field` holds, or `None` if this kind of record has no such field.
    pub fn field_kind(self, field: &str) -> Option<FieldKind> {
        self.fields()
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, kind)| *kind)
    }
}

/// Whether a value's JSON text is at most `limit` bytes: a bound from its strings' lengths
/// first (each character escaped at worst to six bytes, each number at most 24), and only when
/// that bound is over the limit, the text counted as it is written.
fn json_fits(value: &serde_json::Value, limit: usize) -> bool {
    fn bound(value: &serde_json::Value) -> usize {
        use serde_json::Value;
        match value {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 24,
            Value::String(s) => s.len() * 6 + 2,
            Value::Array(items) => items.iter().map(|v| bound(v) + 1).sum::<usize>() + 2,
            Value::Object(map) => {
                map.iter()
                    .map(|(k, v)| k.len() * 6 + 4 + bound(v))
                    .sum::<usize>()
                    + 2
            }
        }
    }
    bound(value) <= limit || json_len(value) <= limit
}

/// The length of a value's JSON text, counted as it is written, without keeping it.
fn json_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

impl ChangeRecord {
    /// Checks that every field exists for the entity and holds the right kind of value, so a
    /// change from another replica can be stored and applied without surprises. The message names
    /// the field, never its value.
    pub fn check_fields(&self) -> Result<(), String> {
        if self.fields.is_empty() {
            return Err("a change must write at least one field".to_owned());
        }
        for (name, value) in &self.fields {
            let Some(kind) = self.entity.field_kind(name) else {
                return Err(format!("{} has no field {name:?}", self.entity));
            };
            use serde_json::Value;
            let fits = match (kind, value) {
                (FieldKind::Text, Value::String(s)) => s.len() <= MAX_FIELD_TEXT,
                (FieldKind::OptionalText, Value::String(s)) => s.len() <= MAX_FIELD_TEXT,
                (FieldKind::OptionalText, Value::Null) => true,
                (FieldKind::Id, Value::String(s)) => Uuid::parse_str(s).is_ok(),
                (FieldKind::Integer | FieldKind::OptionalInteger, Value::Number(n)) => n.is_i64(),
                (FieldKind::OptionalInteger, Value::Null) => true,
                (FieldKind::Bool, Value::Bool(_)) => true,
                (FieldKind::Object, Value::Object(_)) => json_fits(value, MAX_FIELD_TEXT),
                (FieldKind::List, Value::Array(_)) => json_fits(value, MAX_FIELD_TEXT),
                _ => false,
            };
            if !fits {
                return Err(format!(
                    "{}.{name} does not hold a {kind:?} value of an accepted size",
                    self.entity
                ));
            }
        }
        for field in self.supersedes.keys() {
            if !self.fields.contains_key(field) {
                return Err(format!(
                    "supersedes names {field:?}, which the change does not write"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn a_list_fits_by_the_length_of_its_json_text() {
        let short = json!([{"medicine": "Amoxicillin", "dose": 500.0}]);
        assert!(json_fits(&short, MAX_FIELD_TEXT));
        // Quotes are escaped: 40,000 of them are 80,000 bytes of text.
        let quotes = Value::from(vec![Value::from("\"".repeat(40_000))]);
        assert!(!json_fits(&quotes, MAX_FIELD_TEXT));
        // Over the quick bound, under the limit once counted.
        let plain = Value::from(vec![Value::from("a".repeat(60_000))]);
        assert!(json_fits(&plain, MAX_FIELD_TEXT));
        let long = Value::from(vec![Value::from("a".repeat(MAX_FIELD_TEXT))]);
        assert!(!json_fits(&long, MAX_FIELD_TEXT));
        for value in [short, quotes, plain, long] {
            assert_eq!(json_len(&value), value.to_string().len());
        }
    }
}
