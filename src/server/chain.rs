//! The server's copy of each workstation's audit chain, checked link by link as entries arrive,
//! for every server store. The rules are written once, over [`ChainStore`].

use super::store::{Device, StoreError};
use crate::model::{AuditEntry, hex};

/// What the chain check needs of a store, inside one transaction.
pub(super) trait ChainStore {
    /// The clock node whose entries the device sends, once it sent any.
    fn chain_node(&mut self, device_id: &str) -> Result<Option<String>, StoreError>;
    /// Binds a device to a node; `false` when another device has it.
    fn bind_chain_node(&mut self, device_id: &str, node: &str) -> Result<bool, StoreError>;
    /// The number and hash of the node's last entry held.
    fn chain_end(&mut self, node: &str) -> Result<Option<(i64, String)>, StoreError>;
    /// The hash of the node's entry with this number, if held.
    fn chain_hash(&mut self, node: &str, seq: i64) -> Result<Option<String>, StoreError>;
    /// Keeps an entry.
    fn add_chain_entry(
        &mut self,
        node: &str,
        entry: &AuditEntry,
        device_id: &str,
    ) -> Result<(), StoreError>;
}

/// Appends `entries` of `device`'s workstation (see [`super::ServerStore::append_audit`]).
/// Returns the highest number held; the caller commits only when this succeeds.
pub(super) fn append(
    store: &mut impl ChainStore,
    device: &Device,
    entries: &[AuditEntry],
) -> Result<i64, StoreError> {
    let device_id = device.device_id.hyphenated().to_string();
    let node = match (store.chain_node(&device_id)?, entries.first()) {
        (Some(node), _) => node,
        (None, None) => return Ok(0),
        (None, Some(first)) => {
            let node = first.node_id.0.clone();
            if !store.bind_chain_node(&device_id, &node)? {
                return Err(StoreError::AuditRefused(
                    "those entries belong to another workstation".into(),
                ));
            }
            node
        }
    };
    let (mut last_seq, mut last_hash) = match store.chain_end(&node)? {
        Some((seq, hash)) => (seq, hash),
        None => (0, hex(&crate::model::CHAIN_START)),
    };
    for entry in entries {
        let refuse = |why: String| Err(StoreError::AuditRefused(why));
        if entry.node_id.0 != node {
            return refuse("those entries belong to another workstation".into());
        }
        if entry.computed_hash() != entry.hash {
            return refuse(format!("entry {} does not match its hash", entry.seq));
        }
        let hash = hex(&entry.hash);
        if entry.seq <= last_seq {
            // Sent again (a reply was lost): it must be exactly what is held.
            if store.chain_hash(&node, entry.seq)?.as_deref() != Some(hash.as_str()) {
                tracing::warn!(device_id = %device.device_id, seq = entry.seq, "an audit chain that rewrites an entry was refused");
                return refuse(format!(
                    "entry {} differs from the one the server holds: the chain was rewritten",
                    entry.seq
                ));
            }
            continue;
        }
        if entry.seq != last_seq + 1 {
            return refuse(format!(
                "entries {} to {} are missing",
                last_seq + 1,
                entry.seq - 1
            ));
        }
        if hex(&entry.prev_hash) != last_hash {
            tracing::warn!(device_id = %device.device_id, seq = entry.seq, "an audit chain with a broken link was refused");
            return refuse(format!(
                "entry {} does not follow the entry before it: the chain was rewritten",
                entry.seq
            ));
        }
        store.add_chain_entry(&node, entry, &device_id)?;
        last_seq = entry.seq;
        last_hash = hash;
    }
    Ok(last_seq)
}

/// An entry's columns as stored: `at` (RFC 3339, milliseconds), user, action, patient and
/// record (empty when none), previous hash and hash.
pub(super) fn entry_columns(entry: &AuditEntry) -> [String; 7] {
    let text = |id: Option<uuid::Uuid>| id.map(|u| u.hyphenated().to_string()).unwrap_or_default();
    [
        entry
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        text(entry.event.user_id.map(|u| u.0)),
        entry.event.action.code().to_owned(),
        text(entry.event.patient_id.map(|p| p.0)),
        text(entry.event.record_id),
        hex(&entry.prev_hash),
        hex(&entry.hash),
    ]
}
