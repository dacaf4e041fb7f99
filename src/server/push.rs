//! What happens to each change of a push, for every server store: answered as before when it was
//! sent before, refused when the device may not push it, kept in quarantine when it is stamped
//! too far ahead, and otherwise placed and numbered.
//!
//! The rules are written once, over [`ChangeLog`]: the store's view of its log inside the
//! transaction that stores the push.

use super::scope::{self, Placement, Records};
use super::store::{
    Device, FAR_FUTURE_MILLIS, STAMP_TOLERANCE_MILLIS, StoreError, far_future_reason,
    quarantine_reason,
};
use crate::model::{ChangeRecord, HlcStamp};
use crate::sync::wire::{Ack, ChangeText};

/// A device's clock as the server holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct DeviceClock {
    /// The clock node bound to the device (at enrollment, or at its first push).
    pub(super) node: Option<String>,
    /// The highest stamp it pushed.
    pub(super) last_hlc: Option<String>,
    /// The node of the device it took over, whose stamps it may push too.
    pub(super) inherited: Option<String>,
}

/// A change about to be stored, with what the store keeps beside it.
pub(super) struct Incoming<'a> {
    /// The change in its stored (wire) text form.
    pub(super) text: &'a ChangeText,
    /// Its stamp's wall-clock part.
    pub(super) hlc_millis: i64,
    /// Where its record sits.
    pub(super) placement: &'a Placement,
}

/// What the push rules need of a store's log, inside one transaction.
pub(super) trait ChangeLog: Records {
    /// The device's clock as stored now.
    fn device_clock(&mut self, device_id: &str) -> Result<DeviceClock, StoreError>;
    /// The number a change with this id has in the log, if it is there.
    fn logged_seq(&mut self, change_id: &str) -> Result<Option<u64>, StoreError>;
    /// What the workstation was told when this change went into quarantine, if it is there.
    fn quarantined_reason(&mut self, change_id: &str) -> Result<Option<String>, StoreError>;
    /// Whether an unrevoked device of another clinic has this clock node.
    fn node_elsewhere(&mut self, node: &str, clinic_id: &str) -> Result<bool, StoreError>;
    /// Appends a change to the log and returns its new number.
    fn append(
        &mut self,
        change: Incoming<'_>,
        device_id: &str,
        now_millis: i64,
    ) -> Result<u64, StoreError>;
    /// Keeps a change in quarantine with the reason the workstation is told.
    fn quarantine(
        &mut self,
        change: Incoming<'_>,
        device_id: &str,
        now_millis: i64,
        reason: &str,
    ) -> Result<(), StoreError>;
    /// Stores the device's clock after the push.
    fn set_device_clock(
        &mut self,
        device_id: &str,
        node: Option<&str>,
        last_hlc: Option<&str>,
    ) -> Result<(), StoreError>;
}

/// Stores a batch of changes from `device` and answers for each, in order (see
/// [`super::ServerStore::push_changes`]). The caller releases due quarantined changes first and
/// commits afterwards.
pub(super) fn push(
    log: &mut impl ChangeLog,
    device: &Device,
    changes: &[ChangeRecord],
    now_millis: i64,
    max_skew_millis: i64,
) -> Result<Vec<Ack>, StoreError> {
    let device_id = device.device_id.hyphenated().to_string();
    // The device as stored now: its node may have been bound by an earlier push.
    let DeviceClock {
        mut node,
        last_hlc,
        inherited,
    } = log.device_clock(&device_id)?;
    let mut last: Option<HlcStamp> = last_hlc.and_then(|t| t.parse().ok());
    let bound_before = node.clone();
    let mut acks = Vec::with_capacity(changes.len());
    for change in changes {
        // The wire's text form is the stored form: what is pulled is exactly what was pushed.
        let text = ChangeText::from(change);
        // Sent before (a reply was lost): answered as it was, whatever has changed since.
        if let Some(seq) = log.logged_seq(&text.change_id)? {
            acks.push(Ack::Duplicate { seq });
            continue;
        }
        if let Some(reason) = log.quarantined_reason(&text.change_id)? {
            acks.push(Ack::Quarantined { reason });
            continue;
        }
        let stamp_node = &change.hlc.node.0;
        match &node {
            // Taken over from the device this one replaced: its stamps, as they were.
            Some(_) if inherited.as_deref() == Some(stamp_node.as_str()) => {}
            Some(own) if own != stamp_node => {
                tracing::warn!(device_id = %device.device_id, change_id = %change.change_id, "a change stamped by another workstation was refused");
                acks.push(Ack::Refused {
                    reason: format!(
                        "this change is stamped by workstation {stamp_node}, but this device is \
                         workstation {own}: a workstation pushes only its own changes"
                    ),
                });
                continue;
            }
            Some(_) => {}
            None => {
                // Bound at the first push (a workstation enrolled before nodes were bound),
                // unless the node is another clinic's.
                if log.node_elsewhere(stamp_node, &device.clinic_id.to_string())? {
                    acks.push(Ack::Refused {
                        reason: format!(
                            "this change is stamped by workstation {stamp_node}, which belongs \
                             to another clinic"
                        ),
                    });
                    continue;
                }
                node = Some(stamp_node.clone());
            }
        }
        let ahead = change.hlc.millis.saturating_sub(now_millis);
        if ahead > FAR_FUTURE_MILLIS {
            acks.push(Ack::Refused {
                reason: far_future_reason(ahead),
            });
            continue;
        }
        if let Some(last) = &last
            && change.hlc.millis < last.millis.saturating_sub(STAMP_TOLERANCE_MILLIS)
        {
            tracing::warn!(device_id = %device.device_id, change_id = %change.change_id, "a backdated change was refused");
            acks.push(Ack::Refused {
                reason: "this change is stamped earlier than changes this workstation sent \
                         before: a workstation's stamps only move forward"
                    .into(),
            });
            continue;
        }
        let placement = match scope::place(log, change)? {
            Ok(placement) => placement,
            Err(reason) => {
                tracing::warn!(device_id = %device.device_id, change_id = %change.change_id, "a change to a record of another clinic was refused");
                acks.push(Ack::Refused { reason });
                continue;
            }
        };
        if last.as_ref().is_none_or(|l| change.hlc > *l) {
            last = Some(change.hlc.clone());
        }
        scope::record_effects(log, change, &placement)?;
        let incoming = Incoming {
            text: &text,
            hlc_millis: change.hlc.millis,
            placement: &placement,
        };
        if ahead > max_skew_millis {
            let reason = quarantine_reason(ahead, max_skew_millis);
            log.quarantine(incoming, &device_id, now_millis, &reason)?;
            acks.push(Ack::Quarantined { reason });
            continue;
        }
        let seq = log.append(incoming, &device_id, now_millis)?;
        acks.push(Ack::Accepted { seq });
    }
    if node != bound_before {
        tracing::info!(device_id = %device.device_id, "the device's clock node was bound at its first push");
    }
    log.set_device_clock(
        &device_id,
        node.as_deref(),
        last.map(|l| l.to_string()).as_deref(),
    )?;
    Ok(acks)
}
