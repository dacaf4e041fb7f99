//! The audit trail: who did what, when, at which workstation, to which patient's record.
//!
//! Entries name ids only (user, patient, record), never names: names are looked up when an entry
//! is shown. Each workstation numbers its entries 1, 2, 3… and each entry holds the SHA-256 of the
//! one before, so changing, removing or inserting an entry breaks the chain at that point, and
//! [`verify_chain`] names the first broken link.

use super::hlc::NodeId;
use super::ids::PatientId;
use super::user::UserId;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditAction {
    /// A user signed in.
    Login,
    /// A sign-in was refused (wrong password, disabled user, unknown name).
    LoginFailed,
    /// The screen was locked (by the user or by the idle timer).
    Lock,
    /// A user signed out.
    SignOut,
    /// A patient's chart was opened.
    ChartOpened,
    /// A patient's images were viewed.
    ImagesViewed,
    /// A record was created.
    RecordCreated,
    /// A record was changed.
    RecordChanged,
    /// A visit was signed.
    VisitSigned,
    /// An amendment was added to a signed visit.
    VisitAmended,
    /// A visit was voided.
    VisitVoided,
    /// Records left the workstation as a file.
    Export,
    /// A document was printed.
    Print,
    /// A user was created.
    UserCreated,
    /// A user's name, roles or state changed.
    UserChanged,
    /// A user changed their own password.
    PasswordChanged,
    /// An administrator set a new password for a user.
    PasswordReset,
    /// A setting changed.
    SettingChanged,
    /// The workstation synced with the server.
    Sync,
    /// Another clinic's patient was opened here from the district server, with a reason.
    OpenedFromDistrict,
    /// A clinician took over another clinician's draft visit.
    DraftTakenOver,
    /// An administrator compacted the store: acknowledged history folded into the records and
    /// the file rewritten.
    StoreCompacted,
    /// A referral letter was issued from a visit (besides its print): what the monthly report
    /// counts as a referral.
    ReferralIssued,
    /// A medicine was prescribed despite an allergy alert, with a reason (kept in the visit).
    AllergyAlertOverridden,
    /// Two records of one patient were merged (the record is the merge; the patient, the survivor).
    PatientsMerged,
    /// A merge of two records was undone.
    MergeUndone,
}

impl AuditAction {
    /// Every action, in the order filters list them.
    pub const ALL: [AuditAction; 26] = [
        Self::Login,
        Self::LoginFailed,
        Self::Lock,
        Self::SignOut,
        Self::ChartOpened,
        Self::ImagesViewed,
        Self::RecordCreated,
        Self::RecordChanged,
        Self::VisitSigned,
        Self::VisitAmended,
        Self::VisitVoided,
        Self::Export,
        Self::Print,
        Self::UserCreated,
        Self::UserChanged,
        Self::PasswordChanged,
        Self::PasswordReset,
        Self::SettingChanged,
        Self::Sync,
        Self::OpenedFromDistrict,
        Self::DraftTakenOver,
        Self::StoreCompacted,
        Self::ReferralIssued,
        Self::AllergyAlertOverridden,
        Self::PatientsMerged,
        Self::MergeUndone,
    ];

    /// Stable code, as stored, hashed and exported.
    pub fn code(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::Lock => "lock",
            Self::SignOut => "sign_out",
            Self::ChartOpened => "chart_opened",
            Self::ImagesViewed => "images_viewed",
            Self::RecordCreated => "record_created",
            Self::RecordChanged => "record_changed",
            Self::VisitSigned => "visit_signed",
            Self::VisitAmended => "visit_amended",
            Self::VisitVoided => "visit_voided",
            Self::Export => "export",
            Self::Print => "print",
            Self::UserCreated => "user_created",
            Self::UserChanged => "user_changed",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::SettingChanged => "setting_changed",
            Self::Sync => "sync",
            Self::OpenedFromDistrict => "opened_from_district",
            Self::DraftTakenOver => "draft_taken_over",
            Self::StoreCompacted => "store_compacted",
            Self::ReferralIssued => "referral_issued",
            Self::AllergyAlertOverridden => "allergy_alert_overridden",
            Self::PatientsMerged => "patients_merged",
            Self::MergeUndone => "merge_undone",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for AuditAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.code() == s)
            .ok_or_else(|| format!("unknown audit action {s:?}"))
    }
}

/// What is about to be recorded: the store numbers, dates and chains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// What happened.
    pub action: AuditAction,
    /// Who did it (none for a refused sign-in under an unknown name).
    pub user_id: Option<UserId>,
    /// Whose record, if a patient's.
    pub patient_id: Option<PatientId>,
    /// Which record (a visit, an allergy, a user…), if one.
    pub record_id: Option<Uuid>,
}

impl AuditEvent {
    /// An event with no patient or record.
    pub fn new(action: AuditAction, user_id: Option<UserId>) -> Self {
        Self {
            action,
            user_id,
            patient_id: None,
            record_id: None,
        }
    }

    /// The same event about a patient's record.
    pub fn patient(mut self, patient_id: PatientId) -> Self {
        self.patient_id = Some(patient_id);
        self
    }

    /// The same event about one record.
    pub fn record(mut self, record_id: Uuid) -> Self {
        self.record_id = Some(record_id);
        self
    }
}

/// A SHA-256 digest, the link between two entries.
pub type ChainHash = [u8; 32];

/// The hash the first entry of a workstation's chain points back to.
pub const CHAIN_START: ChainHash = [0; 32];

/// One recorded entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// The workstation that recorded it.
    pub node_id: NodeId,
    /// Its place in that workstation's chain, from 1.
    pub seq: i64,
    /// When (the workstation's corrected clock, millisecond precision).
    pub at: DateTime<Utc>,
    /// What happened, to what, by whom.
    pub event: AuditEvent,
    /// The hash of the entry before it ([`CHAIN_START`] for the first).
    pub prev_hash: ChainHash,
    /// This entry's hash, over all of the above.
    pub hash: ChainHash,
}

impl AuditEntry {
    /// Seals an event as entry `seq` after `prev_hash`.
    pub fn seal(
        node_id: NodeId,
        seq: i64,
        at: DateTime<Utc>,
        event: AuditEvent,
        prev_hash: ChainHash,
    ) -> Self {
        let mut entry = Self {
            node_id,
            seq,
            at,
            event,
            prev_hash,
            hash: [0; 32],
        };
        entry.hash = entry.computed_hash();
        entry
    }

    /// The hash of the entry's content and its link, as `verify_chain` recomputes it. The text
    /// hashed is one line of `|`-separated fields, none of which can contain `|`.
    pub fn computed_hash(&self) -> ChainHash {
        let optional = |id: Option<String>| id.unwrap_or_default();
        let line = format!(
            "outpost-audit-v1|{}|{}|{}|{}|{}|{}|{}|{}",
            self.node_id.0,
            self.seq,
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            optional(self.event.user_id.map(|u| u.to_string())),
            self.event.action.code(),
            optional(self.event.patient_id.map(|p| p.to_string())),
            optional(self.event.record_id.map(|r| r.hyphenated().to_string())),
            hex(&self.prev_hash),
        );
        Sha256::digest(line.as_bytes()).into()
    }
}

/// Lower-case hex of a hash.
pub fn hex(hash: &ChainHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads lower- or upper-case hex of a hash.
pub fn hash_from_hex(text: &str) -> Option<ChainHash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (slot, pair) in hash.iter_mut().zip(bytes.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *slot = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(hash)
}

/// Where a chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// The entry's content does not match its hash: it was changed.
    #[error("entry {seq} of workstation {node} was changed after it was written")]
    Changed {
        /// The workstation.
        node: String,
        /// The entry.
        seq: i64,
    },
    /// The entry does not point at the one before it: an entry before it was removed, inserted or
    /// replaced.
    #[error(
        "the link into entry {seq} of workstation {node} is broken: an entry before it was removed, inserted or replaced"
    )]
    Link {
        /// The workstation.
        node: String,
        /// The entry whose link does not match.
        seq: i64,
    },
    /// The numbering skips or repeats.
    #[error(
        "workstation {node}'s entries jump from {after} to {found}: entries are missing or were inserted"
    )]
    Numbering {
        /// The workstation.
        node: String,
        /// The last good number.
        after: i64,
        /// The number found next.
        found: i64,
    },
}

/// Checks one workstation's entries, in `seq` order from its first: every hash recomputes and
/// every entry links to the one before. Returns the first broken link.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
) -> Result<u64, ChainBreak> {
    let mut prev_hash = CHAIN_START;
    let mut prev_seq = 0;
    let mut checked = 0;
    for entry in entries {
        let node = entry.node_id.0.clone();
        if entry.seq != prev_seq + 1 {
            return Err(ChainBreak::Numbering {
                node,
                after: prev_seq,
                found: entry.seq,
            });
        }
        if entry.computed_hash() != entry.hash {
            return Err(ChainBreak::Changed {
                node,
                seq: entry.seq,
            });
        }
        if entry.prev_hash != prev_hash {
            return Err(ChainBreak::Link {
                node,
                seq: entry.seq,
            });
        }
        prev_hash = entry.hash;
        prev_seq = entry.seq;
        checked += 1;
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let node = NodeId("ws1".to_owned());
        let start = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
        let mut prev = CHAIN_START;
        (1..=n)
            .map(|seq| {
                let event = AuditEvent::new(AuditAction::ChartOpened, Some(UserId::new()))
                    .patient(PatientId::new());
                let entry = AuditEntry::seal(
                    node.clone(),
                    seq,
                    start + chrono::Duration::seconds(seq),
                    event,
                    prev,
                );
                prev = entry.hash;
                entry
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(5));
    }

    #[test]
    fn a_changed_entry_is_named() {
        let mut entries = chain(5);
        entries[2].event.action = AuditAction::Login;
        assert!(matches!(
            verify_chain(&entries),
            Err(ChainBreak::Changed { seq: 3, .. })
        ));
    }

    #[test]
    fn a_removed_entry_breaks_the_numbering_and_a_renumbered_removal_the_link() {
        let mut entries = chain(5);
        entries.remove(1);
        assert!(matches!(
            verify_chain(&entries),
            Err(ChainBreak::Numbering {
                after: 1,
                found: 3,
                ..
            })
        ));
        // Renumbering and resealing what follows still cannot reproduce the link.
        let mut entries = chain(5);
        entries.remove(1);
        for (index, entry) in entries.iter_mut().enumerate().skip(1) {
            entry.seq = index as i64 + 1;
            entry.hash = entry.computed_hash();
        }
        assert!(matches!(
            verify_chain(&entries),
            Err(ChainBreak::Link { seq: 2, .. })
        ));
    }

    #[test]
    fn hashes_round_trip_through_hex() {
        let entry = &chain(1)[0];
        assert_eq!(hash_from_hex(&hex(&entry.hash)), Some(entry.hash));
        assert_eq!(hash_from_hex("zz"), None);
    }
}
