//! The schema, as an ordered list of migrations. `PRAGMA user_version` records how many have run;
//! opening a store runs the rest, each in its own transaction, so a file from any earlier version
//! of Outpost opens in this one.

use super::StoreError;
use rusqlite::Connection;

/// One step of the schema's history. Never edit a step that has shipped: add a new one.
struct Migration {
    /// What the step does, for the log.
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        description: "patients, allergies, problems, visits, amendments and the change outbox",
        sql: r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE patient (
    patient_rowid     INTEGER PRIMARY KEY,
    patient_id        TEXT NOT NULL UNIQUE,
    clinic_id         TEXT NOT NULL,
    number_prefix     TEXT NOT NULL,
    number_seq        INTEGER NOT NULL,
    given_name        TEXT NOT NULL DEFAULT '',
    family_name       TEXT NOT NULL DEFAULT '',
    other_script_name TEXT NOT NULL DEFAULT '',
    sex               TEXT NOT NULL DEFAULT 'unknown',
    birth_date        TEXT,
    birth_estimated   INTEGER NOT NULL DEFAULT 0,
    phone             TEXT NOT NULL DEFAULT '',
    village           TEXT NOT NULL DEFAULT '',
    national_id       TEXT NOT NULL DEFAULT '',
    kin_name          TEXT NOT NULL DEFAULT '',
    kin_phone         TEXT NOT NULL DEFAULT '',
    notes             TEXT NOT NULL DEFAULT '',
    allergy_status    TEXT NOT NULL DEFAULT 'not_asked',
    voided            INTEGER NOT NULL DEFAULT 0,
    void_reason       TEXT NOT NULL DEFAULT '',
    -- Derived locally from the fields above; never synced.
    sort_name         TEXT NOT NULL DEFAULT '',
    phone_digits      TEXT NOT NULL DEFAULT '',
    last_visit_at     TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
) STRICT;
-- Numbers are unique among the patients a workstation registers (the next number is one more than
-- the highest with its prefix); patients synced from other clinics may share a prefix.
CREATE INDEX patient_by_number ON patient (number_prefix, number_seq);
CREATE INDEX patient_by_sort_name ON patient (sort_name) WHERE voided = 0;
CREATE INDEX patient_by_number_seq ON patient (number_seq);
CREATE INDEX patient_by_birth ON patient (birth_date) WHERE voided = 0;
CREATE INDEX patient_by_village ON patient (village) WHERE voided = 0;
CREATE INDEX patient_by_last_visit ON patient (last_visit_at) WHERE voided = 0;
CREATE INDEX patient_by_national_id ON patient (national_id) WHERE national_id <> '';
CREATE INDEX patient_by_phone ON patient (phone_digits) WHERE phone_digits <> '';

-- Search: names in any script, identifiers and village; case and diacritics folded. The number's
-- prefix is left out: every patient of a clinic shares it, so it would only slow prefix queries.
CREATE VIRTUAL TABLE patient_fts USING fts5 (
    names, identifiers, village,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);
CREATE TRIGGER patient_fts_insert AFTER INSERT ON patient BEGIN
    INSERT INTO patient_fts (rowid, names, identifiers, village) VALUES (
        new.patient_rowid,
        new.given_name || ' ' || new.family_name || ' ' || new.other_script_name,
        printf('%06d', new.number_seq) || ' ' || new.number_seq
            || ' ' || new.phone_digits || ' ' || new.national_id,
        new.village);
END;
CREATE TRIGGER patient_fts_update AFTER UPDATE OF given_name, family_name, other_script_name,
        number_prefix, number_seq, phone_digits, national_id, village ON patient BEGIN
    DELETE FROM patient_fts WHERE rowid = old.patient_rowid;
    INSERT INTO patient_fts (rowid, names, identifiers, village) VALUES (
        new.patient_rowid,
        new.given_name || ' ' || new.family_name || ' ' || new.other_script_name,
        printf('%06d', new.number_seq) || ' ' || new.number_seq
            || ' ' || new.phone_digits || ' ' || new.national_id,
        new.village);
END;

CREATE TABLE allergy (
    allergy_id  TEXT PRIMARY KEY,
    patient_id  TEXT NOT NULL REFERENCES patient (patient_id),
    substance   TEXT NOT NULL,
    reaction    TEXT NOT NULL DEFAULT '',
    severity    TEXT NOT NULL DEFAULT 'moderate',
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX allergy_by_patient ON allergy (patient_id);

CREATE TABLE problem (
    problem_id  TEXT PRIMARY KEY,
    patient_id  TEXT NOT NULL REFERENCES patient (patient_id),
    code        TEXT,
    title       TEXT NOT NULL,
    onset       TEXT,
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX problem_by_patient ON problem (patient_id);

CREATE TABLE encounter (
    encounter_id    TEXT PRIMARY KEY,
    patient_id      TEXT NOT NULL REFERENCES patient (patient_id),
    started_at      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    clinician       TEXT NOT NULL,
    chief_complaint TEXT NOT NULL DEFAULT '',
    history         TEXT NOT NULL DEFAULT '',
    examination     TEXT NOT NULL DEFAULT '',
    vitals          TEXT NOT NULL DEFAULT '{}',
    diagnoses       TEXT NOT NULL DEFAULT '[]',
    prescriptions   TEXT NOT NULL DEFAULT '[]',
    lab_results     TEXT NOT NULL DEFAULT '[]',
    plan            TEXT NOT NULL DEFAULT '',
    follow_up       TEXT,
    status          TEXT NOT NULL DEFAULT 'draft',
    signed_by       TEXT,
    signed_at       TEXT,
    voided_by       TEXT,
    voided_at       TEXT,
    void_reason     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX encounter_by_patient ON encounter (patient_id, started_at);

CREATE TABLE amendment (
    amendment_id TEXT PRIMARY KEY,
    encounter_id TEXT NOT NULL REFERENCES encounter (encounter_id),
    text         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    author       TEXT NOT NULL,
    amended_at   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;
CREATE INDEX amendment_by_encounter ON amendment (encounter_id);

-- Every local write appends here in its own transaction; sync pushes what is not yet acknowledged.
CREATE TABLE change_outbox (
    change_seq  INTEGER PRIMARY KEY,
    change_id   TEXT NOT NULL UNIQUE,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    fields      TEXT NOT NULL,
    hlc         TEXT NOT NULL,
    clinic_id   TEXT NOT NULL,
    acked_at    TEXT
) STRICT;
CREATE INDEX change_outbox_pending ON change_outbox (change_seq) WHERE acked_at IS NULL;
"#,
    },
    Migration {
        description: "ICD-10 code list with search, and the clinic's medicine usage",
        sql: r#"
CREATE TABLE icd10 (
    icd10_rowid INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL
) STRICT;
CREATE VIRTUAL TABLE icd10_fts USING fts5 (
    code, title,
    content = 'icd10', content_rowid = 'icd10_rowid',
    tokenize = 'unicode61 remove_diacritics 2 tokenchars ''.'''
);

-- How often this clinic prescribed each medicine: offered first in the prescription editor.
CREATE TABLE medicine_usage (
    medicine_key TEXT PRIMARY KEY,
    medicine     TEXT NOT NULL,
    uses         INTEGER NOT NULL,
    last_used_at TEXT NOT NULL
) STRICT;
"#,
    },
    Migration {
        description: "sync: every known change (local and remote), field heads and conflicts",
        sql: r#"
ALTER TABLE change_outbox RENAME TO change_log;
-- For each field written: the stamps of the values the writer saw and replaced (JSON object).
ALTER TABLE change_log ADD COLUMN supersedes TEXT NOT NULL DEFAULT '{}';
-- 'local' (written here) or 'remote' (pulled from the server).
ALTER TABLE change_log ADD COLUMN origin TEXT NOT NULL DEFAULT 'local';
ALTER TABLE change_log ADD COLUMN server_seq INTEGER;
-- Local changes: 'pending', 'sent', 'refused' or 'quarantined'; remote ones: 'remote', or
-- 'invalid' when they could not be read (kept, reported, never applied).
ALTER TABLE change_log ADD COLUMN push_state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE change_log ADD COLUMN push_note TEXT NOT NULL DEFAULT '';
UPDATE change_log SET push_state = 'sent' WHERE acked_at IS NOT NULL;
DROP INDEX change_outbox_pending;
CREATE INDEX change_log_pending ON change_log (change_seq) WHERE push_state = 'pending';
CREATE INDEX change_log_by_entity ON change_log (entity, entity_id);

-- The history written before this version is one workstation's, in order: each write of a field
-- replaced the previous one.
CREATE TEMP TABLE previous_stamp AS
    SELECT c.change_seq AS seq, j.key AS field,
           lag(c.hlc) OVER (PARTITION BY c.entity, c.entity_id, j.key ORDER BY c.hlc) AS prev
    FROM change_log c, json_each(c.fields) j;
CREATE INDEX temp.previous_stamp_by_seq ON previous_stamp (seq);
UPDATE change_log SET supersedes = coalesce((
    SELECT json_group_object(field, json_array(prev)) FROM previous_stamp
    WHERE seq = change_log.change_seq AND prev IS NOT NULL), '{}');
DROP TABLE previous_stamp;

-- The stamps of the current values of each field: one, or several while a conflict is open.
CREATE TABLE field_head (
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    hlc       TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id, field, hlc)
) WITHOUT ROWID, STRICT;
INSERT INTO field_head (entity, entity_id, field, hlc)
    SELECT c.entity, c.entity_id, j.key, max(c.hlc)
    FROM change_log c, json_each(c.fields) j GROUP BY c.entity, c.entity_id, j.key;

-- Values that lost to a concurrent write, waiting for a person's decision. Derived from the
-- change log each time an entity's changes are merged.
CREATE TABLE sync_conflict (
    entity        TEXT NOT NULL,
    entity_id     TEXT NOT NULL,
    field         TEXT NOT NULL,
    kind          TEXT NOT NULL,
    kept_hlc      TEXT NOT NULL,
    kept_value    TEXT NOT NULL,
    other_hlc     TEXT NOT NULL,
    other_value   TEXT NOT NULL,
    other_clinic  TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id, field, other_hlc)
) WITHOUT ROWID, STRICT;

-- Entities whose remote changes could not be applied yet (e.g. a record that refers to one not
-- received yet); retried on every pull, so nothing received is lost.
CREATE TABLE sync_unapplied (
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id)
) WITHOUT ROWID, STRICT;
"#,
    },
    Migration {
        description: "settled conflicts of signed visits",
        sql: r#"
-- A value that arrived after its visit was signed can only be carried into an amendment; once a
-- person has done that here, the conflict is settled at this workstation.
CREATE TABLE sync_settled (
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    other_hlc TEXT NOT NULL,
    settled_at TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id, field, other_hlc)
) WITHOUT ROWID, STRICT;
"#,
    },
    Migration {
        description: "field heads are derived from the change log",
        sql: r#"
-- Each record's changes are few and indexed by record, so the heads of its fields are computed
-- from them when needed; keeping a row per field cost more on every pulled record than it saved.
DROP TABLE field_head;
"#,
    },
    Migration {
        description: "index of the changes the server refused or holds back",
        sql: r#"
-- The status bar lists them after every sync; without an index that read the whole change log.
CREATE INDEX change_log_held ON change_log (change_seq)
    WHERE push_state IN ('refused', 'quarantined');
"#,
    },
    Migration {
        description: "imaging attachments and the blobs they name",
        sql: r#"
-- One row per imported file (DICOM instance or photo). Studies and series are these rows grouped
-- by their UIDs. Nothing is deleted: `removed` hides an attachment and can be undone.
CREATE TABLE attachment (
    attachment_id       TEXT PRIMARY KEY,
    patient_id          TEXT NOT NULL REFERENCES patient (patient_id),
    encounter_id        TEXT REFERENCES encounter (encounter_id),
    blob_sha256         TEXT NOT NULL,
    byte_size           INTEGER NOT NULL DEFAULT 0,
    media_type          TEXT NOT NULL DEFAULT '',
    file_name           TEXT NOT NULL DEFAULT '',
    study_uid           TEXT NOT NULL DEFAULT '',
    study_date          TEXT,
    study_description   TEXT NOT NULL DEFAULT '',
    series_uid          TEXT NOT NULL DEFAULT '',
    series_number       INTEGER,
    series_description  TEXT NOT NULL DEFAULT '',
    modality            TEXT NOT NULL DEFAULT '',
    body_part           TEXT NOT NULL DEFAULT '',
    sop_uid             TEXT NOT NULL DEFAULT '',
    instance_number     INTEGER,
    frames              INTEGER NOT NULL DEFAULT 1,
    rows                INTEGER NOT NULL DEFAULT 0,
    columns             INTEGER NOT NULL DEFAULT 0,
    pixel_spacing       TEXT,
    source_patient_id   TEXT NOT NULL DEFAULT '',
    source_patient_name TEXT NOT NULL DEFAULT '',
    source_birth_date   TEXT,
    source_sex          TEXT NOT NULL DEFAULT '',
    imported_at         TEXT NOT NULL DEFAULT '',
    removed             INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
) STRICT;
CREATE INDEX attachment_by_patient ON attachment (patient_id, study_uid, series_uid);
CREATE INDEX attachment_by_blob ON attachment (blob_sha256);

-- The blobs this workstation holds in its blob folder (named by SHA-256), and whether the server
-- has confirmed it holds them too.
CREATE TABLE blob (
    sha256      TEXT PRIMARY KEY,
    byte_size   INTEGER NOT NULL,
    stored_at   TEXT NOT NULL,
    uploaded    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX blob_to_upload ON blob (sha256) WHERE uploaded = 0;

-- Blobs a user asked to see that are not here yet: the next sync downloads them.
CREATE TABLE blob_wanted (
    sha256       TEXT PRIMARY KEY,
    requested_at TEXT NOT NULL
) STRICT;
"#,
    },
    Migration {
        description: "users of the clinic and the audit trail",
        sql: r#"
-- The clinic's users, synced like any record. key_slot is the clinic's data key wrapped by the
-- user's password; no password is stored.
CREATE TABLE user_account (
    user_id              TEXT PRIMARY KEY,
    user_name            TEXT NOT NULL DEFAULT '',
    full_name            TEXT NOT NULL DEFAULT '',
    roles                TEXT NOT NULL DEFAULT '[]',
    disabled             INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    key_slot             TEXT NOT NULL DEFAULT '',
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
) STRICT;
CREATE INDEX user_by_name ON user_account (user_name);

-- Signatures, voids and amendments name the user by id and role as well as by name.
ALTER TABLE encounter ADD COLUMN clinician_id TEXT;
ALTER TABLE encounter ADD COLUMN signed_by_id TEXT;
ALTER TABLE encounter ADD COLUMN signed_role TEXT;
ALTER TABLE encounter ADD COLUMN voided_by_id TEXT;
ALTER TABLE amendment ADD COLUMN author_id TEXT;

-- The audit trail: each workstation's entries numbered from 1 and chained by SHA-256. Entries
-- name ids only. Rows are never updated or deleted (triggers refuse it), apart from marking
-- them sent.
CREATE TABLE audit_log (
    node_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    at         TEXT NOT NULL,
    user_id    TEXT,
    action     TEXT NOT NULL,
    patient_id TEXT,
    record_id  TEXT,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    sent       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, seq)
) STRICT;
CREATE INDEX audit_by_patient ON audit_log (patient_id, at) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_by_user ON audit_log (user_id, at);
CREATE INDEX audit_by_time ON audit_log (at);
CREATE INDEX audit_unsent ON audit_log (node_id, seq) WHERE sent = 0;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit entries are never deleted');
END;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OF node_id, seq, at, user_id, action,
    patient_id, record_id, prev_hash, hash ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit entries are never changed');
END;
"#,
    },
    Migration {
        description: "how often this clinic signed each diagnosis code",
        sql: r#"
-- How often each ICD-10 code was signed here: offered first when a diagnosis is looked up.
CREATE TABLE diagnosis_usage (
    code         TEXT PRIMARY KEY,
    uses         INTEGER NOT NULL,
    last_used_at TEXT NOT NULL
) STRICT;
INSERT INTO diagnosis_usage (code, uses, last_used_at)
    SELECT json_extract(d.value, '$.code'), count(*), max(coalesce(e.signed_at, e.updated_at))
    FROM encounter e, json_each(e.diagnoses) d
    WHERE e.status = 'signed' AND json_extract(d.value, '$.code') IS NOT NULL
    GROUP BY json_extract(d.value, '$.code');
"#,
    },
    Migration {
        description: "amendments that stop a prescribed medicine",
        sql: r#"
ALTER TABLE amendment ADD COLUMN stops TEXT NOT NULL DEFAULT '[]';
"#,
    },
    Migration {
        description: "amendments that withdraw or add a diagnosis and correct a vital sign",
        sql: r#"
ALTER TABLE amendment ADD COLUMN withdraws TEXT NOT NULL DEFAULT '[]';
ALTER TABLE amendment ADD COLUMN adds TEXT NOT NULL DEFAULT '[]';
ALTER TABLE amendment ADD COLUMN vitals TEXT NOT NULL DEFAULT '[]';
"#,
    },
    Migration {
        description: "compacted history: what the merge still needs of acknowledged changes",
        sql: r#"
-- A record whose acknowledged changes were folded into it (see store::compact): per clock stamp
-- still needed, the fields whose value it wrote and the stamps those fields superseded, as
-- compact JSON. NULL for a record whose whole history is in change_log.
ALTER TABLE patient ADD COLUMN merge_state TEXT;
ALTER TABLE allergy ADD COLUMN merge_state TEXT;
ALTER TABLE problem ADD COLUMN merge_state TEXT;
ALTER TABLE encounter ADD COLUMN merge_state TEXT;
ALTER TABLE amendment ADD COLUMN merge_state TEXT;
ALTER TABLE attachment ADD COLUMN merge_state TEXT;
-- Node and clinic ids named by merge_state, each stored once.
CREATE TABLE merge_name (
    name_ref INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE
) STRICT;
"#,
    },
    Migration {
        description: "the clinic's letterhead, synced to its workstations",
        sql: r#"
CREATE TABLE letterhead (
    letterhead_id TEXT PRIMARY KEY,
    clinic_name   TEXT NOT NULL DEFAULT '',
    address       TEXT NOT NULL DEFAULT '',
    phone         TEXT NOT NULL DEFAULT '',
    -- A PNG of at most 240 pixels a side, base64.
    logo_png      TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;
"#,
    },
    Migration {
        description: "the day's queue: each patient's arrival, triage and where they are",
        sql: r#"
CREATE TABLE queue_entry (
    queue_entry_id TEXT PRIMARY KEY,
    patient_id     TEXT NOT NULL REFERENCES patient (patient_id),
    day            TEXT NOT NULL,
    arrived_at     TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'arrived',
    priority       TEXT,
    signs          TEXT NOT NULL DEFAULT '[]',
    clinician      TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    merge_state    TEXT
) STRICT;
CREATE INDEX queue_entry_by_day ON queue_entry (day, arrived_at);
CREATE INDEX queue_entry_by_patient ON queue_entry (patient_id);
"#,
    },
    Migration {
        description: "blocking keys for finding likely duplicate patients",
        sql: r#"
-- Derived locally from the patient's fields (model::blocking_keys), never synced; filled for the
-- patients already here when the store opens (store::duplicates).
ALTER TABLE patient ADD COLUMN match_keys TEXT NOT NULL DEFAULT '[]';
CREATE TABLE patient_match_key (
    key           TEXT NOT NULL,
    patient_rowid INTEGER NOT NULL,
    PRIMARY KEY (key, patient_rowid)
) STRICT, WITHOUT ROWID;
CREATE INDEX patient_match_key_by_patient ON patient_match_key (patient_rowid);
CREATE TRIGGER patient_match_key_insert AFTER INSERT ON patient BEGIN
    INSERT OR IGNORE INTO patient_match_key (key, patient_rowid)
        SELECT value, new.patient_rowid FROM json_each(new.match_keys);
END;
CREATE TRIGGER patient_match_key_update AFTER UPDATE OF match_keys ON patient BEGIN
    DELETE FROM patient_match_key WHERE patient_rowid = old.patient_rowid;
    INSERT OR IGNORE INTO patient_match_key (key, patient_rowid)
        SELECT value, new.patient_rowid FROM json_each(new.match_keys);
END;
CREATE TRIGGER patient_match_key_delete AFTER DELETE ON patient BEGIN
    DELETE FROM patient_match_key WHERE patient_rowid = old.patient_rowid;
END;
"#,
    },
    Migration {
        description: "merges of a patient's two records, and where each record shows",
        sql: r#"
CREATE TABLE patient_merge (
    patient_merge_id TEXT PRIMARY KEY,
    -- The survivor, whose chart shows both records.
    patient_id       TEXT NOT NULL REFERENCES patient (patient_id),
    retired_id       TEXT NOT NULL REFERENCES patient (patient_id),
    made_at          TEXT NOT NULL DEFAULT '',
    reason           TEXT NOT NULL DEFAULT '',
    made_by          TEXT NOT NULL DEFAULT '',
    undone           INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    merge_state      TEXT
) STRICT;
CREATE INDEX patient_merge_by_patient ON patient_merge (patient_id);
CREATE INDEX patient_merge_by_retired ON patient_merge (retired_id);
-- Derived locally from every merge (model::resolve_merges), never synced: the patient whose
-- chart shows this one's records, NULL while it shows on its own.
ALTER TABLE patient ADD COLUMN merged_into TEXT;
CREATE INDEX patient_by_merged_into ON patient (merged_into) WHERE merged_into IS NOT NULL;
"#,
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The schema version recorded in the file.
pub fn schema_version(conn: &Connection) -> Result<u32, StoreError> {
    conn.query_row("PRAGMA user_version", [], |row| row.get::<_, u32>(0))
        .map_err(StoreError::sqlite("reading the schema version"))
}

/// Brings the file up to `target` (normally [`SCHEMA_VERSION`]); a file newer than this build is
/// refused rather than guessed at.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), StoreError> {
    let found = schema_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().take(target as usize) {
        let version = index as u32 + 1;
        if version <= found {
            continue;
        }
        tracing::info!(
            version,
            migration = migration.description,
            "migrating the store"
        );
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::sqlite("starting a migration"))?;
        tx.execute_batch(migration.sql)
            .map_err(StoreError::sqlite("running a migration"))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(StoreError::sqlite("recording the schema version"))?;
        tx.commit()
            .map_err(StoreError::sqlite("committing a migration"))?;
    }
    Ok(())
}
