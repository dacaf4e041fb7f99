//! The sync protocol at the edge: the types generated from `proto/sync.proto`, the protocol's
//! limits, and the conversions between wire messages and domain types.
//!
//! Generated protobuf types stay in [`pb`]; the rest of the library talks in domain types
//! ([`ChangeRecord`], [`Ack`], [`BlobHash`]). Converting from the wire is fallible and says why in
//! words that name ids and fields, never values, so the server can answer `INVALID_ARGUMENT` with
//! the reason and never panic on what a client sent.

pub use crate::model::{BlobHash, BlobHashError};
use crate::model::{ChangeRecord, EntityKind, HlcStamp};
use std::collections::BTreeMap;
use std::str::FromStr;
use uuid::Uuid;

/// The code generated from `sync.proto` (package `outpost.sync.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("outpost.sync.v1");
}

/// The encoded file descriptor set of `sync.proto`, served by the reflection service so tools
/// such as `grpcurl` can call the server without the `.proto` file.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("outpost_sync_v1_descriptor");

/// Most changes one push may carry; a larger batch is refused with `RESOURCE_EXHAUSTED`.
pub const MAX_PUSH_CHANGES: usize = 1_000;

/// The most audit entries one `PushAudit` may carry.
pub const MAX_PUSH_AUDIT: usize = 1_000;

/// Most bytes of one change's `fields_json` (and, separately, of its `supersedes_json`). A
/// larger change fails the whole push with `RESOURCE_EXHAUSTED`, naming the change: it is a size
/// limit like the others, and the workstation must split or shorten the record.
pub const MAX_FIELDS_JSON_BYTES: usize = 256 * 1024;

/// Longest accepted text of a clock stamp (`hlc` and the stamps inside `supersedes_json`).
pub const MAX_HLC_TEXT: usize = 128;

/// Size of the chunks blobs travel in, and the most one upload chunk may carry
/// (`RESOURCE_EXHAUSTED` beyond it).
pub const BLOB_CHUNK_BYTES: usize = 1024 * 1024;

/// Most blob names one `MissingBlobs` call may ask about (`RESOURCE_EXHAUSTED` beyond it).
pub const MAX_MISSING_QUERY: usize = 10_000;

/// Largest blob the server accepts (`RESOURCE_EXHAUSTED` beyond it).
pub const MAX_BLOB_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Changes per pull page when the request leaves it to the server.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// Most changes per pull page; a larger request is served with pages of this size.
pub const MAX_PAGE_SIZE: u32 = 2_000;

/// Most bytes of changes the server puts in one pull page before starting the next, whatever
/// the page size, so a page of large visits stays well under [`MAX_MESSAGE_BYTES`].
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Largest gRPC message either side encodes or decodes. A batch of changes must fit in it as
/// well as under [`MAX_PUSH_CHANGES`]. Messages beyond it are refused by the gRPC layer with
/// `OUT_OF_RANGE` before the server reads them.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Why a wire message could not become a domain value. Messages name the change and the field,
/// never the field's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// An id field does not hold a UUID.
    #[error("change {change_id}: {field} is not a UUID")]
    BadUuid {
        /// The change, as sent (shortened).
        change_id: String,
        /// Which field.
        field: &'static str,
    },
    /// The entity is not one of the kinds the protocol knows.
    #[error(
        "change {change_id}: entity {entity:?} is not one of patient, allergy, problem, encounter or amendment"
    )]
    UnknownEntity {
        /// The change, as sent (shortened).
        change_id: String,
        /// The entity name, as sent (shortened).
        entity: String,
    },
    /// `fields_json` is not a JSON object.
    #[error("change {change_id}: fields_json is not a JSON object")]
    FieldsNotObject {
        /// The change.
        change_id: String,
    },
    /// `hlc` is not a clock stamp.
    #[error("change {change_id}: hlc is not a clock stamp (<millis>-<counter>-<node>)")]
    BadHlc {
        /// The change.
        change_id: String,
    },
    /// `supersedes_json` is not an object of field names to lists of clock stamps.
    #[error(
        "change {change_id}: supersedes_json is not a JSON object of field names to lists of clock stamps"
    )]
    BadSupersedes {
        /// The change.
        change_id: String,
    },
    /// A message lacks a part the protocol requires.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// An acknowledgement has a status this version does not know, or lacks its sequence number.
    #[error("acknowledgement for change {change_id} is not valid: {reason}")]
    BadAck {
        /// The change.
        change_id: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Text from the wire, shortened for an error message.
fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A change in its text form: what the wire carries and the server stores, column for column, so
/// what is pulled is exactly what was pushed. The server's store keeps this form without seeing
/// a protobuf type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeText {
    /// The change's id.
    pub change_id: String,
    /// The entity kind's name.
    pub entity: String,
    /// The record's id.
    pub entity_id: String,
    /// The fields written, as a JSON object.
    pub fields_json: String,
    /// The stamp.
    pub hlc: String,
    /// The writing clinic.
    pub clinic_id: String,
    /// The superseded stamps per field, as JSON (empty: none).
    pub supersedes_json: String,
}

impl From<pb::Change> for ChangeText {
    fn from(change: pb::Change) -> Self {
        Self {
            change_id: change.change_id,
            entity: change.entity,
            entity_id: change.entity_id,
            fields_json: change.fields_json,
            hlc: change.hlc,
            clinic_id: change.clinic_id,
            supersedes_json: change.supersedes_json,
        }
    }
}

impl From<ChangeText> for pb::Change {
    fn from(text: ChangeText) -> Self {
        Self {
            change_id: text.change_id,
            entity: text.entity,
            entity_id: text.entity_id,
            fields_json: text.fields_json,
            hlc: text.hlc,
            clinic_id: text.clinic_id,
            supersedes_json: text.supersedes_json,
        }
    }
}

impl TryFrom<pb::Change> for ChangeRecord {
    type Error = WireError;

    fn try_from(change: pb::Change) -> Result<Self, Self::Error> {
        ChangeRecord::try_from(ChangeText::from(change))
    }
}

impl From<&ChangeRecord> for pb::Change {
    fn from(record: &ChangeRecord) -> Self {
        ChangeText::from(record).into()
    }
}

impl TryFrom<ChangeText> for ChangeRecord {
    type Error = WireError;

    fn try_from(change: ChangeText) -> Result<Self, Self::Error> {
        let label = || shorten(&change.change_id);
        let change_id = change.change_id.parse().map_err(|_| WireError::BadUuid {
            change_id: label(),
            field: "change_id",
        })?;
        let entity =
            EntityKind::from_str(&change.entity).map_err(|_| WireError::UnknownEntity {
                change_id: label(),
                entity: shorten(&change.entity),
            })?;
        let entity_id = Uuid::parse_str(&change.entity_id).map_err(|_| WireError::BadUuid {
            change_id: label(),
            field: "entity_id",
        })?;
        let fields = match serde_json::from_str(&change.fields_json) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => {
                return Err(WireError::FieldsNotObject { change_id: label() });
            }
        };
        let hlc =
            parse_stamp(&change.hlc).ok_or_else(|| WireError::BadHlc { change_id: label() })?;
        let clinic_id = change.clinic_id.parse().map_err(|_| WireError::BadUuid {
            change_id: label(),
            field: "clinic_id",
        })?;
        let supersedes = parse_supersedes(&change.supersedes_json)
            .ok_or_else(|| WireError::BadSupersedes { change_id: label() })?;
        Ok(ChangeRecord {
            change_id,
            entity,
            entity_id,
            fields,
            hlc,
            clinic_id,
            supersedes,
        })
    }
}

fn parse_stamp(text: &str) -> Option<HlcStamp> {
    if text.len() > MAX_HLC_TEXT {
        return None;
    }
    text.parse().ok()
}

/// Reads `supersedes_json`; the empty string (proto3's default) means no stamps.
fn parse_supersedes(text: &str) -> Option<BTreeMap<String, Vec<HlcStamp>>> {
    if text.trim().is_empty() {
        return Some(BTreeMap::new());
    }
    let raw: BTreeMap<String, Vec<String>> = serde_json::from_str(text).ok()?;
    raw.into_iter()
        .map(|(field, stamps)| {
            let stamps = stamps
                .iter()
                .map(|s| parse_stamp(s))
                .collect::<Option<Vec<_>>>()?;
            Some((field, stamps))
        })
        .collect()
}

impl From<&ChangeRecord> for ChangeText {
    fn from(record: &ChangeRecord) -> Self {
        let supersedes: BTreeMap<&str, Vec<String>> = record
            .supersedes
            .iter()
            .map(|(field, stamps)| {
                (
                    field.as_str(),
                    stamps.iter().map(ToString::to_string).collect(),
                )
            })
            .collect();
        Self {
            change_id: record.change_id.to_string(),
            entity: record.entity.as_str().to_owned(),
            entity_id: record.entity_id.hyphenated().to_string(),
            // Serialising a map with text keys cannot fail; an empty result would be refused by
            // the server as "not a JSON object", never silently stored.
            fields_json: serde_json::to_string(&record.fields).unwrap_or_default(),
            hlc: record.hlc.to_string(),
            clinic_id: record.clinic_id.to_string(),
            supersedes_json: serde_json::to_string(&supersedes).unwrap_or_default(),
        }
    }
}

/// Why a clinic opens a patient registered at another clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShareReason {
    /// Sent by the other clinic.
    Referred,
    /// Needs care now.
    Emergency,
    /// Lives in this clinic's area now.
    PatientMoved,
}

impl ShareReason {
    /// Every reason, in the order a person is offered them.
    pub const ALL: [ShareReason; 3] = [Self::Referred, Self::Emergency, Self::PatientMoved];

    /// The stable code on the wire and in the access log.
    pub fn code(self) -> &'static str {
        match self {
            Self::Referred => "referred",
            Self::Emergency => "emergency",
            Self::PatientMoved => "patient_moved",
        }
    }

    /// The reason read from its code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// As a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Referred => "Referred",
            Self::Emergency => "Emergency",
            Self::PatientMoved => "Patient moved",
        }
    }
}

/// What the server said about one pushed change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ack {
    /// Stored now, under this server sequence number.
    Accepted {
        /// The server's sequence number.
        seq: u64,
    },
    /// Stored before (a retried batch), under this server sequence number.
    Duplicate {
        /// The server's sequence number.
        seq: u64,
    },
    /// Not stored; the workstation keeps the change and shows the reason.
    Refused {
        /// Why, in plain words.
        reason: String,
    },
    /// Kept by the server but not passed on until its clock reaches the change's stamp.
    Quarantined {
        /// Why, in plain words.
        reason: String,
    },
}

impl Ack {
    /// The server sequence number, for a change the server stored.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::Accepted { seq } | Self::Duplicate { seq } => Some(*seq),
            Self::Refused { .. } | Self::Quarantined { .. } => None,
        }
    }

    /// The wire form of this acknowledgement for `change_id`.
    pub fn to_wire(&self, change_id: &str) -> pb::ChangeAck {
        use pb::change_ack::Status;
        let (status, server_seq, reason) = match self {
            Self::Accepted { seq } => (Status::Accepted, *seq, String::new()),
            Self::Duplicate { seq } => (Status::Duplicate, *seq, String::new()),
            Self::Refused { reason } => (Status::Refused, 0, reason.clone()),
            Self::Quarantined { reason } => (Status::Quarantined, 0, reason.clone()),
        };
        pb::ChangeAck {
            change_id: change_id.to_owned(),
            status: status.into(),
            server_seq,
            reason,
        }
    }
}

impl TryFrom<&pb::ChangeAck> for Ack {
    type Error = WireError;

    fn try_from(ack: &pb::ChangeAck) -> Result<Self, Self::Error> {
        use pb::change_ack::Status;
        let bad = |reason| WireError::BadAck {
            change_id: shorten(&ack.change_id),
            reason,
        };
        let status = Status::try_from(ack.status).map_err(|_| bad("unknown status"))?;
        // Sequence numbers start at 1, so 0 means the server left it out.
        let seq = || (ack.server_seq > 0).then_some(ack.server_seq);
        match status {
            Status::Accepted => Ok(Self::Accepted {
                seq: seq().ok_or_else(|| bad("no server sequence number"))?,
            }),
            Status::Duplicate => Ok(Self::Duplicate {
                seq: seq().ok_or_else(|| bad("no server sequence number"))?,
            }),
            Status::Refused => Ok(Self::Refused {
                reason: ack.reason.clone(),
            }),
            Status::Quarantined => Ok(Self::Quarantined {
                reason: ack.reason.clone(),
            }),
            Status::Unspecified => Err(bad("no status")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::model::{ChangeId, ClinicId, NodeId};
    use proptest::prelude::*;
    use serde_json::Value;

    fn stamp() -> impl Strategy<Value = HlcStamp> {
        (0..=i64::MAX, any::<u32>(), "[a-z0-9][a-z0-9-]{0,20}").prop_map(
            |(millis, counter, node)| HlcStamp {
                millis,
                counter,
                node: NodeId(node),
            },
        )
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-1.0e12..1.0e12f64).prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn change() -> impl Strategy<Value = ChangeRecord> {
        (
            any::<u128>(),
            prop::sample::select(EntityKind::ALL.to_vec()),
            any::<u128>(),
            prop::collection::btree_map("[a-z_]{1,12}", json_value(), 0..6),
            stamp(),
            any::<u128>(),
            prop::collection::btree_map("[a-z_]{1,12}", prop::collection::vec(stamp(), 0..3), 0..3),
        )
            .prop_map(
                |(change, entity, entity_id, fields, hlc, clinic, supersedes)| ChangeRecord {
                    change_id: ChangeId(Uuid::from_u128(change)),
                    entity,
                    entity_id: Uuid::from_u128(entity_id),
                    fields: fields.into_iter().collect(),
                    hlc,
                    clinic_id: ClinicId(Uuid::from_u128(clinic)),
                    supersedes,
                },
            )
    }

    proptest! {
        #[test]
        fn change_round_trips_through_the_wire(record in change()) {
            let wire = pb::Change::from(&record);
            let back = ChangeRecord::try_from(wire).unwrap();
            prop_assert_eq!(back, record);
        }

        #[test]
        fn acks_round_trip(seq in 1..u64::MAX, reason in ".{0,40}", which in 0..4u8) {
            let ack = match which {
                0 => Ack::Accepted { seq },
                1 => Ack::Duplicate { seq },
                2 => Ack::Refused { reason },
                _ => Ack::Quarantined { reason },
            };
            let wire = ack.to_wire("id");
            prop_assert_eq!(Ack::try_from(&wire).unwrap(), ack);
        }
    }

    fn valid() -> pb::Change {
        pb::Change {
            change_id: Uuid::now_v7().to_string(),
            entity: "patient".into(),
            entity_id: Uuid::now_v7().to_string(),
            fields_json: r#"{"given_name":"A"}"#.into(),
            hlc: "000001700000000000-000000-node".into(),
            clinic_id: Uuid::now_v7().to_string(),
            supersedes_json: String::new(),
        }
    }

    #[test]
    fn floats_read_back_exactly() {
        // Without serde_json's exact float parsing this value came back one bit off.
        let mut record = ChangeRecord::try_from(valid()).unwrap();
        record.fields.insert(
            "vitals".into(),
            serde_json::json!({ "x": 487263015197.91516f64 }),
        );
        let back = ChangeRecord::try_from(pb::Change::from(&record)).unwrap();
        assert_eq!(back, record);
    }

    type Spoiler = fn(&mut pb::Change);

    #[test]
    fn malformed_changes_say_why() {
        assert!(ChangeRecord::try_from(valid()).is_ok());
        let cases: [(Spoiler, &str); 6] = [
            (|c| c.change_id = "nope".into(), "change_id is not a UUID"),
            (|c| c.entity = "visit".into(), "is not one of"),
            (
                |c| c.fields_json = "[1,2]".into(),
                "fields_json is not a JSON object",
            ),
            (|c| c.hlc = "yesterday".into(), "hlc is not a clock stamp"),
            (
                |c| c.supersedes_json = r#"{"a":[3]}"#.into(),
                "supersedes_json",
            ),
            (|c| c.clinic_id = String::new(), "clinic_id is not a UUID"),
        ];
        for (spoil, expected) in cases {
            let mut change = valid();
            spoil(&mut change);
            let error = ChangeRecord::try_from(change).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn blob_names_are_64_lower_case_hex_digits() {
        let name = BlobHash::of_bytes(b"abc");
        assert_eq!(
            name.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(name.as_str().parse::<BlobHash>().unwrap(), name);
        assert!(name.as_str().to_uppercase().parse::<BlobHash>().is_err());
        assert!("../../etc/passwd".parse::<BlobHash>().is_err());
        assert!("".parse::<BlobHash>().is_err());
    }
}

/// Why an audit entry from the wire cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("audit entry {seq}: {what} is not valid")]
pub struct AuditWireError {
    /// The entry's number as sent.
    pub seq: i64,
    /// Which part.
    pub what: &'static str,
}

impl TryFrom<pb::AuditEntry> for crate::model::AuditEntry {
    type Error = AuditWireError;

    fn try_from(entry: pb::AuditEntry) -> Result<Self, Self::Error> {
        use crate::model::{AuditEvent, NodeId, hash_from_hex};
        let seq = entry.seq;
        let bad = |what| AuditWireError { seq, what };
        let optional_uuid = |text: &str, what| -> Result<Option<Uuid>, AuditWireError> {
            if text.is_empty() {
                Ok(None)
            } else {
                Uuid::parse_str(text).map(Some).map_err(|_| bad(what))
            }
        };
        if entry.node_id.is_empty() || entry.node_id.len() > 64 || entry.node_id.contains('|') {
            return Err(bad("node_id"));
        }
        if seq < 1 {
            return Err(bad("seq"));
        }
        let at = chrono::DateTime::parse_from_rfc3339(&entry.at)
            .map_err(|_| bad("at"))?
            .with_timezone(&chrono::Utc);
        Ok(Self {
            node_id: NodeId(entry.node_id),
            seq,
            at,
            event: AuditEvent {
                action: entry.action.parse().map_err(|_| bad("action"))?,
                user_id: optional_uuid(&entry.user_id, "user_id")?.map(crate::model::UserId),
                patient_id: optional_uuid(&entry.patient_id, "patient_id")?
                    .map(crate::model::PatientId),
                record_id: optional_uuid(&entry.record_id, "record_id")?,
            },
            prev_hash: hash_from_hex(&entry.prev_hash).ok_or_else(|| bad("prev_hash"))?,
            hash: hash_from_hex(&entry.hash).ok_or_else(|| bad("hash"))?,
        })
    }
}

impl From<&crate::model::AuditEntry> for pb::AuditEntry {
    fn from(entry: &crate::model::AuditEntry) -> Self {
        use crate::model::hex;
        let text = |id: Option<Uuid>| id.map(|u| u.hyphenated().to_string()).unwrap_or_default();
        Self {
            node_id: entry.node_id.0.clone(),
            seq: entry.seq,
            at: entry
                .at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            user_id: text(entry.event.user_id.map(|u| u.0)),
            action: entry.event.action.code().to_owned(),
            patient_id: text(entry.event.patient_id.map(|p| p.0)),
            record_id: text(entry.event.record_id),
            prev_hash: hex(&entry.prev_hash),
            hash: hex(&entry.hash),
        }
    }
}
