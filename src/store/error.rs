//! What can go wrong in the store, with enough context to act on and never a patient's name.

use crate::model::Validation;
use std::path::PathBuf;

/// An error from the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A backup is missing files or holds changed ones; nothing was restored.
    #[error("the backup is not whole: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    BackupNotWhole {
        /// What is wrong, file by file.
        problems: Vec<super::BackupProblem>,
    },
    /// The database file could not be opened.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// A file or folder could not be used.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A query failed.
    #[error("database error while {context}: {source}")]
    Sqlite {
        /// What the store was doing.
        context: &'static str,
        /// Why.
        source: rusqlite::Error,
    },
    /// The file was written by a newer Outpost.
    #[error(
        "this database has schema version {found}, newer than this Outpost understands ({supported}): update Outpost"
    )]
    NewerSchema {
        /// Version in the file.
        found: u32,
        /// Newest version this build knows.
        supported: u32,
    },
    /// The record breaks a rule; nothing was saved.
    #[error("not saved: {}", .0.summary())]
    Invalid(Validation),
    /// The record does not exist.
    #[error("no {what} with id {id}")]
    NotFound {
        /// What kind of record.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A signed or voided visit cannot change; add an amendment instead.
    #[error("this visit is {state} and cannot be changed; add an amendment instead")]
    ReadOnly {
        /// "signed" or "voided".
        state: &'static str,
    },
    /// Only the visit's author may sign it.
    #[error("only {author} can sign this visit")]
    NotAuthor {
        /// The visit's author.
        author: String,
    },
    /// A merge of two records, or its undoing, was refused.
    #[error("{0}")]
    MergeRefused(super::MergeRefusal),
    /// A stored value could not be read back.
    #[error("the database holds an unreadable value in {what}")]
    Corrupt {
        /// Where.
        what: &'static str,
    },
    /// A setting was refused.
    #[error("{0}")]
    InvalidSetting(String),
    /// An asset shipped with Outpost could not be read.
    #[error("cannot read the bundled {what}: {detail}")]
    Asset {
        /// Which asset.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The database is encrypted and the key given is not its key (or none was given).
    #[error("the database {path} cannot be opened with this key")]
    WrongKey {
        /// The file.
        path: PathBuf,
    },
    /// Encrypting the database failed at a step; the file is as it was before.
    #[error("the database could not be encrypted ({step}): {detail}")]
    Encrypting {
        /// Which step.
        step: &'static str,
        /// Why.
        detail: String,
    },
}

impl StoreError {
    /// Wraps a SQLite error with what the store was doing: `.map_err(StoreError::sqlite("…"))`.
    pub(crate) fn sqlite(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Self::Sqlite { context, source }
    }
}
