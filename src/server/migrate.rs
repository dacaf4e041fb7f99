//! `outpost-server migrate`: a district's whole history moved from the SQLite store to
//! PostgreSQL, in one transaction, then checked table by table.
//!
//! Every row of every table is copied as it is stored — sequence numbers, stamps, hashes and
//! the change text — so workstations carry on pulling from where they were, and their device
//! credentials still work. The check reads both stores again and compares, for each table, the
//! number of rows and a digest of them all (a sum of each row's SHA-256, which does not depend
//! on the order rows come back in).

use super::blobs::BlobFolder;
use super::postgres::{PostgresServerStore, PostgresTarget, TABLES, pg};
use super::sqlite::{BLOB_DIR, SqliteServerStore};
use super::store::StoreError;
use postgres::types::ToSql;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Rows sent to PostgreSQL per statement.
const CHUNK: usize = 5_000;

/// What was moved, table by table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    /// Each table with the rows it holds on both sides.
    pub tables: Vec<(&'static str, u64)>,
    /// Blobs copied into the new blob folder.
    pub blobs: usize,
}

/// Why a migration stopped. Nothing was written to PostgreSQL when it did (blobs already copied
/// stay, and are copied again by the next attempt).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// One of the stores failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The PostgreSQL database already holds a district.
    #[error(
        "the PostgreSQL database already holds {rows} rows of {table}: migrate into an empty database"
    )]
    NotEmpty {
        /// The table found not empty.
        table: &'static str,
        /// Its rows.
        rows: u64,
    },
    /// The copy does not match the original.
    #[error("table {table} differs after the copy: {detail}")]
    Mismatch {
        /// Which table.
        table: &'static str,
        /// Counts or digests that differ.
        detail: String,
    },
}

/// One column's values, typed as the table declares them.
enum Column {
    Number(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
}

impl Column {
    fn as_param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Number(values) => values,
            Self::Text(values) => values,
        }
    }
}

/// A row's digest input: each value tagged with its kind and length.
fn digest_value(hasher: &mut Sha256, value: &Cell) {
    match value {
        Cell::Number(Some(n)) => hasher.update(format!("i{n};")),
        Cell::Text(Some(t)) => {
            hasher.update(format!("t{}:", t.len()));
            hasher.update(t.as_bytes());
        }
        Cell::Number(None) | Cell::Text(None) => hasher.update(b"n;"),
    }
}

/// One value read from either store.
enum Cell {
    Number(Option<i64>),
    Text(Option<String>),
}

/// The order-independent digest of a table: the sum of its rows' SHA-256, in four 64-bit lanes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TableDigest {
    rows: u64,
    lanes: [u64; 4],
}

impl TableDigest {
    fn add(&mut self, row: &[Cell]) {
        let mut hasher = Sha256::new();
        for cell in row {
            digest_value(&mut hasher, cell);
        }
        let hash = hasher.finalize();
        for (lane, bytes) in self.lanes.iter_mut().zip(hash.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(bytes);
            *lane = lane.wrapping_add(u64::from_le_bytes(word));
        }
        self.rows += 1;
    }
}

/// Reads a SQLite value as the column's type: numbers stored as text are read as numbers where
/// they parse (SQLite keeps what it is given; PostgreSQL's columns are typed).
fn sqlite_cell(value: rusqlite::types::ValueRef<'_>, number: bool) -> Cell {
    use rusqlite::types::ValueRef;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    if number {
        Cell::Number(match value {
            ValueRef::Integer(n) => Some(n),
            // Whole numbers only are written to these columns; a fraction is cut as SQLite's
            // own CAST does.
            #[allow(clippy::cast_possible_truncation)]
            ValueRef::Real(f) => Some(f as i64),
            ValueRef::Text(t) => text(t).trim().parse().ok(),
            ValueRef::Null | ValueRef::Blob(_) => None,
        })
    } else {
        Cell::Text(match value {
            ValueRef::Text(t) | ValueRef::Blob(t) => Some(text(t)),
            ValueRef::Integer(n) => Some(n.to_string()),
            ValueRef::Real(f) => Some(f.to_string()),
            ValueRef::Null => None,
        })
    }
}

/// Moves the SQLite store in `from_dir` into the (empty) PostgreSQL database `to`, with the
/// blobs into `blob_dir`, and checks the copy. `progress` hears each table as it is done.
pub fn sqlite_to_postgres(
    from_dir: &Path,
    to: &PostgresTarget,
    blob_dir: &Path,
    mut progress: impl FnMut(&str, u64) + Send,
) -> Result<MigrationReport, MigrateError> {
    // Opening brings the SQLite schema up to date first, so every table has every column.
    let source = SqliteServerStore::open(from_dir)?;
    let sqlite = rusqlite::Connection::open_with_flags(
        source.database_path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(StoreError::database("opening the SQLite store"))?;
    let target = PostgresServerStore::open(to, blob_dir)?;

    let blobs = if same_folder(&from_dir.join(BLOB_DIR), blob_dir) {
        0
    } else {
        BlobFolder::open(from_dir.join(BLOB_DIR))?.copy_complete_to(blob_dir)?
    };

    let mut expected = Vec::new();
    target.with_client("copying the district's history", |client| {
        let context = "copying the district's history";
        // Moved here: the copy may run on a thread of its own.
        let sqlite = sqlite;
        let mut tx = client.transaction().map_err(pg(context))?;
        for (table, _) in TABLES {
            let rows: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .and_then(|row| row.try_get(0))
                .map_err(pg(context))?;
            if rows > 0 {
                return Ok(Err(MigrateError::NotEmpty {
                    table,
                    rows: u64::try_from(rows).unwrap_or(0),
                }));
            }
        }
        // Read in one snapshot of the SQLite store.
        let snapshot = sqlite
            .unchecked_transaction()
            .map_err(StoreError::database("reading the SQLite store"))?;
        for (table, columns) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
            let mut stmt = snapshot
                .prepare(&format!("SELECT {} FROM {table}", names.join(", ")))
                .map_err(StoreError::database("reading the SQLite store"))?;
            let mut rows = stmt
                .query([])
                .map_err(StoreError::database("reading the SQLite store"))?;
            let mut digest = TableDigest::default();
            let mut chunk: Vec<Column> = fresh_columns(columns);
            let mut in_chunk = 0;
            while let Some(row) = rows
                .next()
                .map_err(StoreError::database("reading the SQLite store"))?
            {
                let mut cells = Vec::with_capacity(columns.len());
                for (i, (_, number)) in columns.iter().enumerate() {
                    let value = row
                        .get_ref(i)
                        .map_err(StoreError::database("reading the SQLite store"))?;
                    cells.push(sqlite_cell(value, *number));
                }
                digest.add(&cells);
                for (column, cell) in chunk.iter_mut().zip(cells) {
                    match (column, cell) {
                        (Column::Number(values), Cell::Number(v)) => values.push(v),
                        (Column::Text(values), Cell::Text(v)) => values.push(v),
                        _ => {}
                    }
                }
                in_chunk += 1;
                if in_chunk == CHUNK {
                    insert_chunk(&mut tx, table, columns, &chunk)?;
                    chunk = fresh_columns(columns);
                    in_chunk = 0;
                }
            }
            if in_chunk > 0 {
                insert_chunk(&mut tx, table, columns, &chunk)?;
            }
            progress(table, digest.rows);
            expected.push((*table, digest));
        }
        // The access log's numbers continue after the copied ones.
        tx.execute(
            "SELECT setval(pg_get_serial_sequence('access_log', 'entry_id'),
                           coalesce((SELECT max(entry_id) FROM access_log), 0) + 1, false)",
            &[],
        )
        .map_err(pg(context))?;
        tx.commit().map_err(pg(context))?;
        Ok(Ok(()))
    })??;

    // Fresh statistics, so the first pulls are planned for the tables as they now are.
    target.with_client("checking the copy", |client| {
        client
            .batch_execute("ANALYZE")
            .map_err(pg("updating the database's statistics"))
    })?;

    // The check: both stores read again, table by table.
    let mut tables = Vec::new();
    for (table, want) in expected {
        let columns = TABLES
            .iter()
            .find(|(name, _)| *name == table)
            .map(|(_, columns)| *columns)
            .unwrap_or_default();
        let got = postgres_digest(&target, table, columns)?;
        if got != want {
            return Err(MigrateError::Mismatch {
                table,
                detail: format!(
                    "{} rows in SQLite, {} in PostgreSQL{}",
                    want.rows,
                    got.rows,
                    if got.rows == want.rows {
                        ", with different contents"
                    } else {
                        ""
                    }
                ),
            });
        }
        tables.push((table, got.rows));
    }
    Ok(MigrationReport { tables, blobs })
}

fn fresh_columns(columns: &[(&str, bool)]) -> Vec<Column> {
    columns
        .iter()
        .map(|(_, number)| {
            if *number {
                Column::Number(Vec::with_capacity(CHUNK))
            } else {
                Column::Text(Vec::with_capacity(CHUNK))
            }
        })
        .collect()
}

/// Inserts a chunk of rows, one array per column.
fn insert_chunk(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    columns: &[(&str, bool)],
    chunk: &[Column],
) -> Result<(), StoreError> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, number))| {
            format!("${}::{}[]", i + 1, if *number { "BIGINT" } else { "TEXT" })
        })
        .collect();
    // The table and column names come from the fixed list, never from the data.
    let overriding = if table == "access_log" {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO {table} ({}){overriding} SELECT * FROM unnest({})",
        names.join(", "),
        arrays.join(", ")
    );
    let params: Vec<&(dyn ToSql + Sync)> = chunk.iter().map(Column::as_param).collect();
    tx.execute(&sql, &params)
        .map(drop)
        .map_err(pg("copying the district's history"))
}

/// A table's digest as PostgreSQL holds it.
fn postgres_digest(
    store: &PostgresServerStore,
    table: &str,
    columns: &[(&str, bool)],
) -> Result<TableDigest, StoreError> {
    let context = "checking the copy";
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    let sql = format!("SELECT {} FROM {table}", names.join(", "));
    store.with_client(context, |client| {
        let mut digest = TableDigest::default();
        let params: [&(dyn ToSql + Sync); 0] = [];
        let mut rows = client
            .query_raw(sql.as_str(), params.iter().copied())
            .map_err(pg(context))?;
        use postgres::fallible_iterator::FallibleIterator;
        while let Some(row) = rows.next().map_err(pg(context))? {
            let mut cells = Vec::with_capacity(columns.len());
            for (i, (_, number)) in columns.iter().enumerate() {
                cells.push(if *number {
                    Cell::Number(row.try_get(i).map_err(pg(context))?)
                } else {
                    Cell::Text(row.try_get(i).map_err(pg(context))?)
                });
            }
            digest.add(&cells);
        }
        Ok(digest)
    })
}

fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
