//! Compaction of the change log: what the server has acknowledged is folded into the records.
//!
//! Every change a workstation knows stays in `change_log` until the server has it and the pull
//! has brought it back, because a record's value is merged from its changes (`model::merge`).
//! Once a record is *settled* — every field has one head, no conflict waits, nothing of it is
//! pending — the merge needs far less than the changes themselves:
//! - for each field, the stamp (and clinic) of the change whose value the row shows;
//! - for each field, every stamp that field's changes superseded, so a late copy of an older
//!   change is still recognised as replaced;
//! - for a signed visit, its earliest signing, which fixes what may change after it.
//!
//! That is kept in the record's `merge_state` column (field values are read from the row
//! itself), and the record's acknowledged changes are deleted from the log. The merge reads a
//! compacted record's state as the writes it stands for, so local edits, pulled changes and
//! conflicts behave as before. Each record is checked before its changes go: its state read back
//! must merge to exactly the record the full history gives, or the record is left as it is.
//!
//! What is forgotten is the old values of superseded changes. Only one case could bring such a
//! value back: a signing of the visit stamped *earlier* than the one known, arriving after the
//! compaction, which sets aside the changes after it. A compacted replica then shows the same
//! values as one that kept its log, and may list fewer conflicts on that visit. A change pulled
//! again (a restored backup pulls from the start) is recognised by its stamp, which the state
//! keeps, rather than by its id.

use super::write::{Fields, table_of};
use super::{Store, StoreError, meta_get, meta_set};
use crate::model::merge::{EntityWrite, merge_entity};
use crate::model::{EntityKind, FieldKind, HlcStamp, NodeId};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A stamp as kept in a compacted record: milliseconds, counter, and the node's `merge_name`.
type Stamp = (i64, u32, i64);

/// One write a compacted record still stands for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SettledWrite {
    /// Its stamp.
    s: Stamp,
    /// The clinic that wrote it (a `merge_name`).
    c: i64,
    /// The fields whose value, as the row shows it, it wrote. Absent: every field no other write
    /// of the record names and whose value is not its default, and those in `a` (most records
    /// were written once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<Vec<String>>,
    /// With `f` absent: the fields it also wrote, whose value is the default or that another
    /// write names with a value of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    a: Vec<String>,
    /// Fields it wrote with a value the row no longer shows (a visit's first signing).
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    v: Fields,
    /// Per field, every stamp the field's changes superseded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    x: BTreeMap<String, Vec<Stamp>>,
}

/// Node and clinic ids, each stored once and named by number in compacted records.
pub(crate) trait Names {
    /// The number of `name`, given one if it has none.
    fn intern(&mut self, name: &str) -> Result<i64, StoreError>;
    /// The name numbered `number`.
    fn name(&mut self, number: i64) -> Result<Option<String>, StoreError>;
}

/// The kinds of record whose history is compacted (user accounts, letterheads and merges are
/// few, and keep theirs).
pub(crate) fn compactable(kind: EntityKind) -> bool {
    !matches!(
        kind,
        EntityKind::User | EntityKind::Letterhead | EntityKind::PatientMerge
    )
}

/// The state of a settled record: the writes the merge still needs, or `None` when the record
/// is not settled (a conflict, a change after the signing, a row that differs from its merge)
/// or its state would not read back to the same record.
pub(crate) fn settle(
    kind: EntityKind,
    changes: &[EntityWrite],
    row: &Fields,
    names: &mut impl Names,
) -> Result<Option<Vec<SettledWrite>>, StoreError> {
    if let [only] = changes
        && only
            .supersedes
            .values()
            .all(|seen| seen.as_array().is_none_or(Vec::is_empty))
    {
        return Ok(settle_one(kind, only, row, names)?.map(|state| vec![state]));
    }
    let merged = merge_entity(kind, changes);
    if !merged.after_signing.is_empty()
        || merged
            .fields
            .iter()
            .any(|(field, m)| m.heads.len() != 1 || kind.field_kind(field).is_none())
    {
        return Ok(None);
    }
    // The row must show what the merge gives, field by field.
    for (field, _) in kind.fields() {
        let expected = match merged.fields.get(*field) {
            Some(m) => m.winner.1.clone(),
            None => kind.field_default(field),
        };
        if row.get(*field) != Some(&expected) {
            return Ok(None);
        }
    }
    let mut clinic_of: HashMap<&HlcStamp, &str> = HashMap::new();
    let mut superseded: BTreeMap<&str, BTreeSet<HlcStamp>> = BTreeMap::new();
    for write in changes {
        clinic_of.entry(&write.hlc).or_insert(&write.clinic);
        for field in write.fields.keys() {
            let seen = write
                .supersedes
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str()?.parse::<HlcStamp>().ok())
                .filter(|s| *s < write.hlc);
            superseded.entry(field).or_default().extend(seen);
        }
    }
    struct Group {
        fields: Vec<String>,
        values: Fields,
        superseded: BTreeMap<String, Vec<HlcStamp>>,
    }
    let mut groups: BTreeMap<HlcStamp, Group> = BTreeMap::new();
    let group = |groups: &mut BTreeMap<HlcStamp, Group>, stamp: &HlcStamp| {
        groups.entry(stamp.clone()).or_insert_with(|| Group {
            fields: Vec::new(),
            values: Fields::new(),
            superseded: BTreeMap::new(),
        });
    };
    for (field, m) in &merged.fields {
        let head = &m.heads[0];
        group(&mut groups, head);
        if let Some(g) = groups.get_mut(head) {
            g.fields.push(field.clone());
            if let Some(seen) = superseded.get(field.as_str()).filter(|s| !s.is_empty()) {
                g.superseded
                    .insert(field.clone(), seen.iter().cloned().collect());
            }
        }
    }
    if let Some(signing) = &merged.signing_stamp {
        let shown = merged.fields.get("status");
        let shows_it = shown.is_some_and(|m| &m.heads[0] == signing);
        if !shows_it {
            group(&mut groups, signing);
            if let Some(g) = groups.get_mut(signing) {
                g.values.insert("status".into(), Value::from("signed"));
            }
        }
    }
    // One group is written without its list: its fields are every non-default field no other
    // group names, plus the few it lists in `a` (values it wrote that equal the default, such as
    // a `false`). The group that leaves the fewest names to write is chosen.
    let mut implicit: Option<(HlcStamp, Vec<String>, usize)> = None;
    let field_count: usize = groups.values().map(|g| g.fields.len()).sum();
    for stamp in groups.keys() {
        let named_elsewhere: BTreeSet<&str> = groups
            .iter()
            .filter(|(other, _)| *other != stamp)
            .flat_map(|(_, g)| {
                g.fields
                    .iter()
                    .map(String::as_str)
                    .chain(g.values.keys().map(String::as_str))
            })
            .collect();
        let implied: BTreeSet<&str> = implied_fields(kind, row, &named_elsewhere).collect();
        let own: BTreeSet<&str> = groups[stamp].fields.iter().map(String::as_str).collect();
        if !implied.is_subset(&own) {
            continue;
        }
        let also: Vec<String> = own.difference(&implied).map(|f| (*f).to_owned()).collect();
        // Names written: this group's `a`, and every other group's list.
        let cost = also.len() + field_count - own.len();
        if implicit.as_ref().is_none_or(|(_, _, least)| cost < *least) {
            implicit = Some((stamp.clone(), also, cost));
        }
    }
    let mut state = Vec::with_capacity(groups.len());
    for (stamp, g) in groups {
        let Some(clinic) = clinic_of.get(&stamp) else {
            return Ok(None);
        };
        let mut x = BTreeMap::new();
        for (field, stamps) in g.superseded {
            let mut kept = Vec::with_capacity(stamps.len());
            for s in &stamps {
                kept.push(pack(s, names)?);
            }
            x.insert(field, kept);
        }
        let (f, a) = match &implicit {
            Some((chosen, also, _)) if *chosen == stamp => (None, also.clone()),
            _ => (Some(g.fields), Vec::new()),
        };
        state.push(SettledWrite {
            s: pack(&stamp, names)?,
            c: names.intern(clinic)?,
            f,
            a,
            v: g.values,
            x,
        });
    }
    // Read back, the state must merge to the same record.
    let Some(again) = unsettle(kind, &state, row, names)? else {
        return Ok(None);
    };
    let check = merge_entity(kind, &again);
    if check.fields != merged.fields || check.signing_stamp != merged.signing_stamp {
        return Ok(None);
    }
    Ok(Some(state))
}

/// [`settle`] for a record written once, superseding nothing (most records): its one write
/// holds every field it wrote, and the row shows each of them.
fn settle_one(
    kind: EntityKind,
    only: &EntityWrite,
    row: &Fields,
    names: &mut impl Names,
) -> Result<Option<SettledWrite>, StoreError> {
    if only
        .fields
        .keys()
        .any(|field| kind.field_kind(field).is_none())
    {
        return Ok(None);
    }
    let mut also = Vec::new();
    for (field, _) in kind.fields() {
        let default = kind.field_default(field);
        let expected = only.fields.get(*field).unwrap_or(&default);
        if row.get(*field) != Some(expected) {
            return Ok(None);
        }
        if only.fields.contains_key(*field) && *expected == default {
            also.push((*field).to_owned());
        }
    }
    Ok(Some(SettledWrite {
        s: pack(&only.hlc, names)?,
        c: names.intern(&only.clinic)?,
        f: None,
        a: also,
        v: Fields::new(),
        x: BTreeMap::new(),
    }))
}

/// The state of a record new here written whole by `changes`, which supersede nothing and write
/// no field twice: its row will show each field as its one writer wrote it, and the default
/// elsewhere. The change with the most fields is written without its list. `None` if a change
/// writes a field the record does not have.
pub(crate) fn settle_disjoint(
    changes: &[&crate::model::ChangeRecord],
    names: &mut impl Names,
) -> Result<Option<String>, StoreError> {
    let Some(implicit) = (0..changes.len()).max_by_key(|i| changes[*i].fields.len()) else {
        return Ok(None);
    };
    let mut state = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        let kind = change.entity;
        if change
            .fields
            .keys()
            .any(|field| kind.field_kind(field).is_none())
        {
            return Ok(None);
        }
        let (f, a) = if i == implicit {
            let also = change
                .fields
                .iter()
                .filter(|(field, value)| **value == kind.field_default(field))
                .map(|(field, _)| field.clone())
                .collect();
            (None, also)
        } else {
            (Some(change.fields.keys().cloned().collect()), Vec::new())
        };
        state.push(SettledWrite {
            s: pack(&change.hlc, names)?,
            c: names.intern(&change.clinic_id.to_string())?,
            f,
            a,
            v: Fields::new(),
            x: BTreeMap::new(),
        });
    }
    serde_json::to_string(&state)
        .map(Some)
        .map_err(|_| corrupt())
}

/// The fields of a row no write names and whose value is not the default.
fn implied_fields<'a>(
    kind: EntityKind,
    row: &'a Fields,
    named: &'a BTreeSet<&str>,
) -> impl Iterator<Item = &'static str> + 'a {
    kind.fields()
        .iter()
        .map(|(field, _)| *field)
        .filter(move |field| {
            !named.contains(field)
                && row
                    .get(*field)
                    .is_some_and(|value| *value != kind.field_default(field))
        })
}

fn pack(stamp: &HlcStamp, names: &mut impl Names) -> Result<Stamp, StoreError> {
    Ok((stamp.millis, stamp.counter, names.intern(&stamp.node.0)?))
}

fn unpack(stamp: Stamp, names: &mut impl Names) -> Result<Option<HlcStamp>, StoreError> {
    Ok(names.name(stamp.2)?.map(|node| HlcStamp {
        millis: stamp.0,
        counter: stamp.1,
        node: NodeId(node),
    }))
}

/// The writes a compacted record stands for, with their values read from `row`; `None` if the
/// state names a node or clinic that is not known.
pub(crate) fn unsettle(
    kind: EntityKind,
    state: &[SettledWrite],
    row: &Fields,
    names: &mut impl Names,
) -> Result<Option<Vec<EntityWrite>>, StoreError> {
    let named: BTreeSet<&str> = named_fields(state).collect();
    let mut writes = Vec::with_capacity(state.len());
    for w in state {
        let (Some(hlc), Some(clinic)) = (unpack(w.s, names)?, names.name(w.c)?) else {
            return Ok(None);
        };
        let mut fields = fields_from_row(kind, w, row, &named);
        fields.extend(w.v.clone());
        let mut supersedes = Fields::new();
        for (field, stamps) in &w.x {
            let mut texts = Vec::with_capacity(stamps.len());
            for s in stamps {
                let Some(stamp) = unpack(*s, names)? else {
                    return Ok(None);
                };
                texts.push(Value::from(stamp.to_string()));
            }
            supersedes.insert(field.clone(), Value::from(texts));
        }
        writes.push(EntityWrite {
            hlc,
            fields,
            clinic,
            supersedes,
        });
    }
    Ok(Some(writes))
}

/// `merge_name` through a connection, with the names already seen kept in memory.
pub(crate) struct NameTable<'c> {
    conn: &'c Connection,
    by_name: HashMap<String, i64>,
    by_number: HashMap<i64, String>,
}

impl<'c> NameTable<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            by_name: HashMap::new(),
            by_number: HashMap::new(),
        }
    }
}

impl NameTable<'_> {
    /// The number of `name`, if it has one.
    fn lookup(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        if let Some(number) = self.by_name.get(name) {
            return Ok(Some(*number));
        }
        self.conn
            .prepare_cached("SELECT name_ref FROM merge_name WHERE name = ?1")
            .and_then(|mut stmt| stmt.query_row([name], |row| row.get(0)).optional())
            .map_err(StoreError::sqlite("reading a compacted record"))
    }
}

impl Names for NameTable<'_> {
    fn intern(&mut self, name: &str) -> Result<i64, StoreError> {
        if let Some(number) = self.by_name.get(name) {
            return Ok(*number);
        }
        let number: i64 = self
            .conn
            .prepare_cached(
                "INSERT INTO merge_name (name) VALUES (?1)
                 ON CONFLICT (name) DO UPDATE SET name = excluded.name
                 RETURNING name_ref",
            )
            .and_then(|mut stmt| stmt.query_row([name], |row| row.get(0)))
            .map_err(StoreError::sqlite("compacting the change log"))?;
        self.by_name.insert(name.to_owned(), number);
        self.by_number.insert(number, name.to_owned());
        Ok(number)
    }

    fn name(&mut self, number: i64) -> Result<Option<String>, StoreError> {
        if let Some(name) = self.by_number.get(&number) {
            return Ok(Some(name.clone()));
        }
        let name: Option<String> = self
            .conn
            .prepare_cached("SELECT name FROM merge_name WHERE name_ref = ?1")
            .and_then(|mut stmt| stmt.query_row([number], |row| row.get(0)).optional())
            .map_err(StoreError::sqlite("reading a compacted record"))?;
        if let Some(name) = &name {
            self.by_name.insert(name.clone(), number);
            self.by_number.insert(number, name.clone());
        }
        Ok(name)
    }
}

/// A record's synced fields as its row holds them, typed as changes carry them.
pub(crate) fn row_fields(
    conn: &Connection,
    kind: EntityKind,
    entity_id: &str,
) -> Result<Option<Fields>, StoreError> {
    let (table, id_column) = table_of(kind);
    let columns: Vec<&str> = kind.fields().iter().map(|(name, _)| *name).collect();
    let sql = format!(
        "SELECT {} FROM {table} WHERE {id_column} = ?1",
        columns.join(", ")
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_row([entity_id], |row| {
                let mut fields = Fields::new();
                for (i, (name, field_kind)) in kind.fields().iter().enumerate() {
                    let value: SqlValue = row.get(i)?;
                    fields.insert((*name).to_owned(), typed(*field_kind, value));
                }
                Ok(fields)
            })
            .optional()
        })
        .map_err(StoreError::sqlite("reading a compacted record"))
}

/// A stored value as the field's kind carries it in a change.
fn typed(kind: FieldKind, value: SqlValue) -> Value {
    match (kind, value) {
        (_, SqlValue::Null) => Value::Null,
        (FieldKind::Bool, SqlValue::Integer(i)) => Value::Bool(i != 0),
        (FieldKind::Object | FieldKind::List, SqlValue::Text(text)) => {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        }
        (_, SqlValue::Integer(i)) => Value::from(i),
        (_, SqlValue::Real(r)) => Value::from(r),
        (_, SqlValue::Text(text)) => Value::String(text),
        (_, SqlValue::Blob(_)) => Value::Null,
    }
}

/// A record's compacted state, if it has one.
fn read_state(
    conn: &Connection,
    kind: EntityKind,
    entity_id: &str,
) -> Result<Option<Vec<SettledWrite>>, StoreError> {
    let (table, id_column) = table_of(kind);
    let state: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT merge_state FROM {table} WHERE {id_column} = ?1"
        ))
        .and_then(|mut stmt| stmt.query_row([entity_id], |row| row.get(0)).optional())
        .map_err(StoreError::sqlite("reading a compacted record"))?
        .flatten();
    state
        .map(|text| serde_json::from_str(&text).map_err(|_| corrupt()))
        .transpose()
}

/// The error of a compacted state that cannot be read or written.
pub(crate) fn corrupt() -> StoreError {
    StoreError::Corrupt {
        what: "a compacted record's history",
    }
}

/// The writes a compacted record stands for (none for a record whose history is all in the log).
pub(crate) fn settled_changes(
    conn: &Connection,
    kind: EntityKind,
    entity_id: &str,
) -> Result<Vec<EntityWrite>, StoreError> {
    if !compactable(kind) {
        return Ok(Vec::new());
    }
    let Some(state) = read_state(conn, kind, entity_id)? else {
        return Ok(Vec::new());
    };
    let row = row_fields(conn, kind, entity_id)?.unwrap_or_default();
    unsettle(kind, &state, &row, &mut NameTable::new(conn))?.ok_or_else(corrupt)
}

/// Writes a compacted record's field values into its state, before its row changes: the state
/// reads values from the row, which shows only the winners, and a write it stands for may stay a
/// head (a conflict) once a concurrent change arrives. The next compaction folds it again.
pub(crate) fn freeze(
    conn: &Connection,
    kind: EntityKind,
    entity_id: &str,
) -> Result<(), StoreError> {
    if !compactable(kind) {
        return Ok(());
    }
    let Some(state) = read_state(conn, kind, entity_id)? else {
        return Ok(());
    };
    if state
        .iter()
        .all(|w| w.f.as_ref().is_some_and(Vec::is_empty))
    {
        return Ok(());
    }
    let row = row_fields(conn, kind, entity_id)?.unwrap_or_default();
    let named: BTreeSet<&str> = named_fields(&state).collect();
    let frozen: Vec<SettledWrite> = state
        .iter()
        .map(|w| {
            let mut values = fields_from_row(kind, w, &row, &named);
            values.extend(w.v.clone());
            SettledWrite {
                s: w.s,
                c: w.c,
                f: Some(Vec::new()),
                a: Vec::new(),
                v: values,
                x: w.x.clone(),
            }
        })
        .collect();
    let text = serde_json::to_string(&frozen).map_err(|_| corrupt())?;
    let (table, id_column) = table_of(kind);
    conn.prepare_cached(&format!(
        "UPDATE {table} SET merge_state = ?2 WHERE {id_column} = ?1"
    ))
    .and_then(|mut stmt| stmt.execute(params![entity_id, text]))
    .map(drop)
    .map_err(StoreError::sqlite("reading a compacted record"))
}

/// The fields some write of a state names (with its list, or with a value).
fn named_fields(state: &[SettledWrite]) -> impl Iterator<Item = &str> {
    state.iter().flat_map(|w| {
        w.f.iter()
            .flatten()
            .map(String::as_str)
            .chain(w.v.keys().map(String::as_str))
    })
}

/// The fields a write of a state took from the row, with the row's values.
fn fields_from_row(
    kind: EntityKind,
    write: &SettledWrite,
    row: &Fields,
    named: &BTreeSet<&str>,
) -> Fields {
    match &write.f {
        Some(list) => list
            .iter()
            .map(|field| {
                (
                    field.clone(),
                    row.get(field).cloned().unwrap_or(Value::Null),
                )
            })
            .collect(),
        None => implied_fields(kind, row, named)
            .map(str::to_owned)
            .chain(write.a.iter().cloned())
            .map(|field| {
                let value = row.get(&field).cloned().unwrap_or(Value::Null);
                (field, value)
            })
            .collect(),
    }
}

/// Whether a compacted record's state already holds the change stamped `stamp` (as a write it
/// stands for, or a value superseded): a change pulled again after its row left the log.
pub(crate) fn state_knows(
    conn: &Connection,
    kind: EntityKind,
    entity_id: &str,
    stamp: &HlcStamp,
) -> Result<bool, StoreError> {
    if !compactable(kind) {
        return Ok(false);
    }
    let Some(state) = read_state(conn, kind, entity_id)? else {
        return Ok(false);
    };
    let node = match NameTable::new(conn).lookup(&stamp.node.0)? {
        Some(node) => node,
        None => return Ok(false),
    };
    let wanted = (stamp.millis, stamp.counter, node);
    Ok(state
        .iter()
        .any(|w| w.s == wanted || w.x.values().flatten().any(|s| *s == wanted)))
}

/// What one pass of compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Records whose acknowledged changes were folded into them.
    pub records: usize,
    /// Change records deleted from the log.
    pub changes_removed: usize,
    /// Records left with their history (a conflict, a change waiting for the server…).
    pub records_kept: usize,
    /// Whether the pass reached the last change it may compact; `false`: call again.
    pub finished: bool,
}

impl CompactReport {
    fn add(&mut self, other: CompactReport) {
        self.records += other.records;
        self.changes_removed += other.changes_removed;
        self.records_kept += other.records_kept;
        self.finished = other.finished;
    }
}

/// Where the last pass stopped: changes up to this `change_seq` have been looked at.
const COMPACTED_UP_TO: &str = "compact.after_seq";

impl Store {
    /// Compacts the records named by the next `max_changes` log rows the server has
    /// acknowledged (and the pull has brought back), in one transaction. It stops before the
    /// first change still waiting for the server; call again while not `finished`.
    pub fn compact_log(&mut self, max_changes: usize) -> Result<CompactReport, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("compacting the change log"))?;
        let cursor: i64 = meta_get(&tx, "sync.cursor")?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let after: i64 = meta_get(&tx, COMPACTED_UP_TO)?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let rows: Vec<(i64, String, String, String, Option<i64>)> = tx
            .prepare_cached(
                "SELECT change_seq, entity, entity_id, push_state, server_seq FROM change_log
                 WHERE change_seq > ?1 ORDER BY change_seq LIMIT ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_map(
                    params![after, i64::try_from(max_changes).unwrap_or(i64::MAX)],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                        ))
                    },
                )?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(StoreError::sqlite("compacting the change log"))?;
        let mut report = CompactReport {
            finished: rows.len() < max_changes,
            ..CompactReport::default()
        };
        let mut last = after;
        let mut seen = BTreeSet::new();
        let mut records = Vec::new();
        for (seq, entity, entity_id, push_state, server_seq) in rows {
            if waits_for_server(&push_state, server_seq, cursor) {
                report.finished = true;
                break;
            }
            last = seq;
            if let Ok(kind) = entity.parse::<EntityKind>()
                && compactable(kind)
                && seen.insert((kind, entity_id.clone()))
            {
                records.push((kind, entity_id));
            }
        }
        let mut names = NameTable::new(&tx);
        for (kind, entity_id) in records {
            match compact_record(&tx, kind, &entity_id, cursor, &mut names)? {
                Some(removed) => {
                    report.records += 1;
                    report.changes_removed += removed;
                }
                None => report.records_kept += 1,
            }
        }
        drop(names);
        meta_set(&tx, COMPACTED_UP_TO, &last.to_string())?;
        tx.commit()
            .map_err(StoreError::sqlite("compacting the change log"))?;
        Ok(report)
    }

    /// Compacts everything the server has acknowledged, `chunk` log rows per transaction,
    /// telling `progress` how many rows were looked at of how many.
    pub fn compact_all(
        &mut self,
        chunk: usize,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<CompactReport, StoreError> {
        let after: i64 = meta_get(&self.conn, COMPACTED_UP_TO)?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let total: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM change_log WHERE change_seq > ?1",
                [after],
                |row| row.get(0),
            )
            .map_err(StoreError::sqlite("compacting the change log"))?;
        let total = u64::try_from(total).unwrap_or(0);
        let mut report = CompactReport::default();
        let mut looked_at = 0u64;
        loop {
            let pass = self.compact_log(chunk)?;
            report.add(pass);
            looked_at = (looked_at + chunk as u64).min(total);
            progress(if pass.finished { total } else { looked_at }, total);
            if pass.finished {
                return Ok(report);
            }
        }
    }

    /// Gives the space freed by compaction back to the disk (SQLite's VACUUM: the file is
    /// rewritten, so it needs as much free space again while it runs).
    pub fn reclaim_space(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("VACUUM")
            .map_err(StoreError::sqlite("giving free space back to the disk"))
    }

    /// The database file's size in bytes.
    pub fn file_size(&self) -> Result<u64, StoreError> {
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// Change records in the log (local and pulled), for `outpost status` and the benchmark.
    pub fn change_log_size(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM change_log", [], |row| row.get(0))
            .map_err(StoreError::sqlite("counting the change log"))
    }
}

/// Whether a log row is not yet acknowledged, or acknowledged but not yet seen in the pull (so
/// the pull, bringing it back, must still recognise it by its id).
fn waits_for_server(push_state: &str, server_seq: Option<i64>, cursor: i64) -> bool {
    match push_state {
        "pending" | "quarantined" => true,
        "sent" => server_seq.is_none_or(|seq| seq > cursor),
        _ => false,
    }
}

/// Folds one record's acknowledged changes into it; returns how many log rows went, or `None`
/// if the record keeps its history.
fn compact_record(
    conn: &Connection,
    kind: EntityKind,
    entity_id: &str,
    cursor: i64,
    names: &mut NameTable<'_>,
) -> Result<Option<usize>, StoreError> {
    let states: Vec<(String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT push_state, server_seq FROM change_log WHERE entity = ?1 AND entity_id = ?2",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![kind.as_str(), entity_id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(StoreError::sqlite("compacting the change log"))?;
    let folded = states
        .iter()
        .filter(|(state, _)| state == "sent" || state == "remote")
        .count();
    if folded == 0
        || states
            .iter()
            .any(|(state, seq)| waits_for_server(state, *seq, cursor))
    {
        return Ok(None);
    }
    let waiting: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sync_unapplied WHERE entity = ?1 AND entity_id = ?2)
                 OR EXISTS (SELECT 1 FROM sync_conflict WHERE entity = ?1 AND entity_id = ?2)",
        )
        .and_then(|mut stmt| stmt.query_row(params![kind.as_str(), entity_id], |row| row.get(0)))
        .map_err(StoreError::sqlite("compacting the change log"))?;
    if waiting {
        return Ok(None);
    }
    let Some(row) = row_fields(conn, kind, entity_id)? else {
        return Ok(None);
    };
    let changes = super::write::entity_changes(conn, kind, entity_id)?;
    let Some(state) = settle(kind, &changes, &row, names)? else {
        return Ok(None);
    };
    let (table, id_column) = table_of(kind);
    let state = serde_json::to_string(&state).map_err(|_| corrupt())?;
    conn.prepare_cached(&format!(
        "UPDATE {table} SET merge_state = ?2 WHERE {id_column} = ?1"
    ))
    .and_then(|mut stmt| stmt.execute(params![entity_id, state]))
    .map_err(StoreError::sqlite("compacting the change log"))?;
    let removed = conn
        .prepare_cached(
            "DELETE FROM change_log
             WHERE entity = ?1 AND entity_id = ?2 AND push_state IN ('sent', 'remote')",
        )
        .and_then(|mut stmt| stmt.execute(params![kind.as_str(), entity_id]))
        .map_err(StoreError::sqlite("compacting the change log"))?;
    Ok(Some(removed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[derive(Default)]
    struct MemoryNames(Vec<String>);

    impl Names for MemoryNames {
        fn intern(&mut self, name: &str) -> Result<i64, StoreError> {
            let at = match self.0.iter().position(|n| n == name) {
                Some(at) => at,
                None => {
                    self.0.push(name.to_owned());
                    self.0.len() - 1
                }
            };
            Ok(at as i64)
        }
        fn name(&mut self, number: i64) -> Result<Option<String>, StoreError> {
            Ok(usize::try_from(number)
                .ok()
                .and_then(|at| self.0.get(at).cloned()))
        }
    }

    fn stamp(millis: i64, node: &str) -> HlcStamp {
        format!("{millis:013}-0000-{node}").parse().unwrap()
    }

    fn row_of(kind: EntityKind, changes: &[EntityWrite]) -> Fields {
        let merged = merge_entity(kind, changes);
        kind.fields()
            .iter()
            .map(|(field, _)| {
                let value = merged
                    .fields
                    .get(*field)
                    .map(|m| m.winner.1.clone())
                    .unwrap_or_else(|| kind.field_default(field));
                ((*field).to_owned(), value)
            })
            .collect()
    }

    const FIELDS: [&str; 4] = ["plan", "status", "examination", "signed_by"];

    /// Writes by three nodes of a few fields; each sees every earlier write of its field unless
    /// its bit in `blind` is set.
    fn history(script: &[(u8, u8, u8, bool)], start: i64) -> Vec<EntityWrite> {
        let nodes = ["a", "b", "c"];
        let mut out: Vec<EntityWrite> = Vec::new();
        for (i, (node, field, value, blind)) in script.iter().enumerate() {
            let field = FIELDS[*field as usize % FIELDS.len()];
            let value = match field {
                "status" => Value::from(["draft", "signed", "voided"][*value as usize % 3]),
                _ => Value::from(format!("v{}", value % 3)),
            };
            let saw: Vec<Value> = if *blind {
                Vec::new()
            } else {
                out.iter()
                    .filter(|w| w.fields.contains_key(field))
                    .map(|w| Value::from(w.hlc.to_string()))
                    .collect()
            };
            let mut fields = Fields::new();
            fields.insert(field.to_owned(), value);
            let mut supersedes = Fields::new();
            supersedes.insert(field.to_owned(), Value::from(saw));
            out.push(EntityWrite {
                hlc: stamp(start + i as i64 * 7, nodes[*node as usize % 3]),
                fields,
                clinic: format!("clinic-{}", node % 2),
                supersedes,
            });
        }
        out
    }

    proptest! {
        /// A settled record's state, read back, merges with any later changes exactly as its
        /// full history does (a later change that is an earlier signing aside: see the module).
        #[test]
        fn a_compacted_record_merges_later_changes_as_its_history_does(
            past in proptest::collection::vec((0u8..3, 0u8..4, 0u8..3, proptest::bool::weighted(0.1)), 1..12),
            later in proptest::collection::vec((0u8..3, 0u8..4, 0u8..3, proptest::bool::weighted(0.5)), 0..6),
            later_start in 0i64..200,
            kind in prop_oneof![Just(EntityKind::Encounter), Just(EntityKind::Problem)],
        ) {
            let past = history(&past, 1_000);
            let row = row_of(kind, &past);
            let mut names = MemoryNames::default();
            let Some(state) = settle(kind, &past, &row, &mut names).unwrap() else {
                // Not settled: nothing to compare (the record keeps its history).
                let merged = merge_entity(kind, &past);
                prop_assert!(
                    !merged.after_signing.is_empty()
                        || merged.fields.values().any(|m| m.heads.len() > 1)
                        || merged.fields.keys().any(|f| kind.field_kind(f).is_none())
                );
                return Ok(());
            };
            let compacted = unsettle(kind, &state, &row, &mut names).unwrap().unwrap();
            // Later changes: some saw the record's current values, some did not; stamps may be
            // earlier than the record's. An earlier signing is the one case left out.
            let mut later = history(&later, 1_000 + later_start);
            for (i, w) in later.iter_mut().enumerate() {
                w.hlc = stamp(1_000 + later_start + i as i64 * 5, "d");
                if kind == EntityKind::Encounter && w.fields.get("status") == Some(&Value::from("signed")) {
                    w.fields.insert("status".into(), Value::from("draft"));
                }
                let field = w.fields.keys().next().unwrap().clone();
                if w.supersedes[&field].as_array().unwrap().is_empty() && i % 2 == 0 {
                    let heads = merge_entity(kind, &past).fields.get(&field).map(|m| m.heads.clone()).unwrap_or_default();
                    let heads: Vec<Value> = heads.iter().map(|h| Value::from(h.to_string())).collect();
                    w.supersedes.insert(field, Value::from(heads));
                }
            }
            let full: Vec<EntityWrite> = past.iter().chain(&later).cloned().collect();
            let folded: Vec<EntityWrite> = compacted.iter().chain(&later).cloned().collect();
            let a = merge_entity(kind, &full);
            let b = merge_entity(kind, &folded);
            prop_assert_eq!(&a.fields, &b.fields);
            prop_assert_eq!(&a.signing_stamp, &b.signing_stamp);
            let mut late_a = a.after_signing.clone();
            let mut late_b = b.after_signing.clone();
            late_a.sort_by(|x, y| x.1.cmp(&y.1));
            late_b.sort_by(|x, y| x.1.cmp(&y.1));
            prop_assert_eq!(late_a, late_b);
        }
    }

    #[test]
    fn a_record_written_once_keeps_one_stamp_and_no_field_names() {
        let mut fields = Fields::new();
        fields.insert("family_name".into(), Value::from("Odhiambo"));
        fields.insert("given_name".into(), Value::from("Amina"));
        fields.insert("sex".into(), Value::from("female"));
        fields.insert("number_seq".into(), Value::from(7));
        fields.insert("birth_estimated".into(), Value::Bool(false));
        let created = EntityWrite {
            hlc: stamp(1_000, "01a23cde17f2773a9f4e49ae0e618b81"),
            fields,
            clinic: "01a23cde-17f2-773a-9f4e-49af94bdd7cd".into(),
            supersedes: Fields::new(),
        };
        let row = row_of(EntityKind::Patient, std::slice::from_ref(&created));
        let mut names = MemoryNames::default();
        let state = settle(
            EntityKind::Patient,
            std::slice::from_ref(&created),
            &row,
            &mut names,
        )
        .unwrap()
        .unwrap();
        assert_eq!(state.len(), 1);
        assert_eq!(state[0].f, None, "the fields follow from the row");
        assert_eq!(
            state[0].a,
            vec!["birth_estimated".to_owned()],
            "a false it wrote"
        );
        let text = serde_json::to_string(&state).unwrap();
        assert!(text.len() < 60, "{text}");
        let back = unsettle(EntityKind::Patient, &state, &row, &mut names)
            .unwrap()
            .unwrap();
        assert_eq!(back, vec![created]);
    }

    #[test]
    fn a_record_written_by_changes_of_their_own_fields_reads_back_as_them() {
        use crate::model::{ChangeId, ChangeRecord, ClinicId};
        let clinic = ClinicId(uuid::Uuid::now_v7());
        let record = uuid::Uuid::now_v7();
        let change = |millis: i64, fields: &[(&str, Value)]| ChangeRecord {
            change_id: ChangeId::new(),
            entity: EntityKind::Patient,
            entity_id: record,
            fields: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            hlc: stamp(millis, "a"),
            clinic_id: clinic,
            supersedes: fields
                .iter()
                .map(|(k, _)| ((*k).to_owned(), Vec::new()))
                .collect(),
        };
        let registered = change(
            1_000,
            &[
                ("family_name", Value::from("Achieng")),
                ("given_name", Value::from("Amina")),
                ("birth_estimated", Value::Bool(false)),
            ],
        );
        let asked = change(2_000, &[("allergy_status", Value::from("none_known"))]);
        let mut names = MemoryNames::default();
        let text = settle_disjoint(&[&registered, &asked], &mut names)
            .unwrap()
            .unwrap();
        let state: Vec<SettledWrite> = serde_json::from_str(&text).unwrap();
        assert_eq!(state[0].f, None, "the registration names no field");
        assert_eq!(state[1].f, Some(vec!["allergy_status".to_owned()]));
        let as_writes = |c: &ChangeRecord| EntityWrite {
            hlc: c.hlc.clone(),
            fields: c.fields.clone(),
            clinic: c.clinic_id.to_string(),
            supersedes: c
                .supersedes
                .keys()
                .map(|k| (k.clone(), Value::Array(Vec::new())))
                .collect(),
        };
        let history = vec![as_writes(&registered), as_writes(&asked)];
        let row = row_of(EntityKind::Patient, &history);
        let back = unsettle(EntityKind::Patient, &state, &row, &mut names)
            .unwrap()
            .unwrap();
        assert_eq!(
            merge_entity(EntityKind::Patient, &back).fields,
            merge_entity(EntityKind::Patient, &history).fields
        );
    }

    #[test]
    fn a_voided_visit_keeps_its_first_signing() {
        let sign = |millis, value: &str, saw: &[&HlcStamp]| {
            let mut fields = Fields::new();
            fields.insert("status".into(), Value::from(value));
            fields.insert("plan".into(), Value::from("rest"));
            let seen: Vec<Value> = saw.iter().map(|s| Value::from(s.to_string())).collect();
            let mut supersedes = Fields::new();
            supersedes.insert("status".into(), Value::from(seen.clone()));
            supersedes.insert("plan".into(), Value::from(seen));
            EntityWrite {
                hlc: stamp(millis, "a"),
                fields,
                clinic: "hill".into(),
                supersedes,
            }
        };
        let draft = sign(1_000, "draft", &[]);
        let signed = sign(2_000, "signed", &[&draft.hlc]);
        let mut voided = sign(3_000, "voided", &[&signed.hlc]);
        voided.fields.remove("plan");
        voided.supersedes.remove("plan");
        let past = vec![draft, signed.clone(), voided];
        let row = row_of(EntityKind::Encounter, &past);
        let mut names = MemoryNames::default();
        let state = settle(EntityKind::Encounter, &past, &row, &mut names)
            .unwrap()
            .unwrap();
        let back = unsettle(EntityKind::Encounter, &state, &row, &mut names)
            .unwrap()
            .unwrap();
        let merged = merge_entity(EntityKind::Encounter, &back);
        assert_eq!(merged.signing_stamp, Some(signed.hlc));
        assert_eq!(merged.fields["status"].winner.1, Value::from("voided"));
        // A later change to the plan is still held back as after the signing.
        let mut late = sign(4_000, "draft", &[]);
        late.fields.remove("status");
        late.fields
            .insert("plan".into(), Value::from("double the dose"));
        let merged = merge_entity(
            EntityKind::Encounter,
            &back.iter().cloned().chain([late]).collect::<Vec<_>>(),
        );
        assert_eq!(merged.fields["plan"].winner.1, Value::from("rest"));
        assert_eq!(merged.after_signing.len(), 1);
    }
}
