//! Reading a fetched row of either backend. The row mappers (`rule_from`, `job_from`, …)
//! are written once, in the domain files, over `Columns`; each backend's row implements it.

use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Postgres, Row, Sqlite, Type};

/// A Rust type both backends decode a column into (text, integers, floats, bytes, options).
pub(crate) trait Decoded<'r>: Decode<'r, Sqlite> + Type<Sqlite> + Decode<'r, Postgres> + Type<Postgres> {}

impl<'r, T> Decoded<'r> for T where T: Decode<'r, Sqlite> + Type<Sqlite> + Decode<'r, Postgres> + Type<Postgres> {}

/// The columns of a fetched row, by name.
pub(crate) trait Columns {
    /// The column's value. Panics, as `sqlx::Row::get` does, when the column is missing or
    /// its type does not decode as `T`.
    fn get<'r, T: Decoded<'r>>(&'r self, column: &str) -> T;

    /// A yes/no column: BOOLEAN on PostgreSQL, INTEGER 0/1 on SQLite (which has no
    /// boolean type). Not for columns that are integer 0/1 on both (`stop_requested`).
    fn flag(&self, column: &str) -> bool;
}

impl Columns for SqliteRow {
    fn get<'r, T: Decoded<'r>>(&'r self, column: &str) -> T {
        Row::get(self, column)
    }

    fn flag(&self, column: &str) -> bool {
        Row::get::<i64, _>(self, column) != 0
    }
}

impl Columns for PgRow {
    fn get<'r, T: Decoded<'r>>(&'r self, column: &str) -> T {
        Row::get(self, column)
    }

    fn flag(&self, column: &str) -> bool {
        Row::get(self, column)
    }
}

/// A JSON text column as a value; `Null` when it does not parse.
pub(crate) fn json(row: &impl Columns, column: &str) -> Value {
    serde_json::from_str(row.get::<&str>(column)).unwrap_or(Value::Null)
}
