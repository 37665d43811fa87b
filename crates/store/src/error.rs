/// Every way the store can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kind} {name:?} does not exist")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} {name:?} already exists")]
    AlreadyExists { kind: &'static str, name: String },
    #[error("{kind} {name:?} is in use: {reason}")]
    InUse { kind: &'static str, name: String, reason: String },
    #[error("database error ({context}): {source}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    /// The database server did not answer (PostgreSQL): down, wrong address, refused.
    #[error("cannot reach the database at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {message}")]
    Migration { message: String },
    #[error(
        "{path} was written by a newer trainyard (schema version {found}; this binary knows up to {known}): \
         run the newer trainyard, or restore a backup made with this version"
    )]
    NewerSchema { path: String, found: i64, known: i64 },
    #[error("stored record is corrupt ({context}): {message}")]
    Corrupt { context: String, message: String },
}

impl Error {
    /// Maps a unique-constraint violation to `AlreadyExists`.
    pub(crate) fn on_insert(kind: &'static str, name: &str) -> impl FnOnce(sqlx::Error) -> Error {
        let name = name.to_string();
        move |source| match &source {
            sqlx::Error::Database(d) if d.is_unique_violation() => Error::AlreadyExists { kind, name },
            _ => Error::Database { context: format!("insert {kind} {name}"), source },
        }
    }
}
