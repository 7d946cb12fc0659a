//! [`StoreError`]: what every storage call can fail with, and the mapping
//! from sqlx errors (connection trouble becomes [`StoreError::Unavailable`],
//! which the API answers with 503).

use sqlx::error::ErrorKind;

/// Why a storage call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist, e.g. "project `acme`".
    #[error("{what} not found")]
    NotFound { what: String },
    /// It exists already, or conflicts with what is stored (a duplicate
    /// event sequence number, finishing a run that has finished).
    #[error("{what}")]
    Conflict { what: String },
    /// The caller passed something the store refuses (a bad slug, a secret
    /// name with spaces, a token scope it cannot parse).
    #[error("{message}")]
    Invalid { message: String },
    /// The database cannot be reached (refused, timed out, shutting down,
    /// locked for too long). Worth retrying later; the API answers 503.
    #[error("the database is unavailable: {message}")]
    Unavailable { message: String },
    /// A secret cannot be encrypted or decrypted: no key configured, or
    /// the configured key is not the one the secret was encrypted with.
    #[error("{message}")]
    SecretKey { message: String },
    /// Any other database failure (a bug, a schema mismatch, corrupt data).
    #[error("database error while {context}: {message}")]
    Database { context: String, message: String },
}

impl StoreError {
    pub(crate) fn not_found(what: impl Into<String>) -> StoreError {
        StoreError::NotFound { what: what.into() }
    }

    pub(crate) fn conflict(what: impl Into<String>) -> StoreError {
        StoreError::Conflict { what: what.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> StoreError {
        StoreError::Invalid {
            message: message.into(),
        }
    }

    /// A stored value that does not parse back (corrupt data).
    pub(crate) fn corrupt(context: &str, message: impl std::fmt::Display) -> StoreError {
        StoreError::Database {
            context: context.to_string(),
            message: format!("stored data does not parse: {message}"),
        }
    }

    /// True for [`StoreError::Unavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// PostgreSQL SQLSTATEs meaning "cannot serve you now": connection
/// exceptions (class 08), shutdowns (57P01..57P03), too many connections,
/// and a database that does not exist (dropped, or not created yet).
fn pg_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "3D000")
}

/// SQLite primary result codes meaning the same: BUSY (locked longer than
/// the busy timeout), IOERR, CANTOPEN, FULL.
fn sqlite_unavailable(code: &str) -> bool {
    code.parse::<i64>()
        .is_ok_and(|c| matches!(c & 0xff, 5 | 10 | 13 | 14))
}

fn database_unavailable(d: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = d.code() else {
        return false;
    };
    if d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        pg_unavailable(&code)
    } else if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        sqlite_unavailable(&code)
    } else {
        false
    }
}

/// Maps an sqlx error met while doing `context` (e.g. "saving a version of
/// `hello`"). Unique and foreign-key violations are left to callers that
/// know what they mean ([`db_kind`]); here they are database errors.
pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let context = context.into();
    move |e| from_sqlx(&context, e)
}

pub(crate) fn from_sqlx(context: &str, e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable {
            message: format!("{context}: {e}"),
        },
        sqlx::Error::Database(d) if database_unavailable(d.as_ref()) => StoreError::Unavailable {
            message: format!("{context}: {e}"),
        },
        _ => StoreError::Database {
            context: context.to_string(),
            message: e.to_string(),
        },
    }
}

/// The kind of a database error (unique violation, foreign-key violation),
/// for callers that turn those into [`StoreError::Conflict`] or
/// [`StoreError::NotFound`].
pub(crate) fn db_kind(e: &sqlx::Error) -> Option<ErrorKind> {
    match e {
        sqlx::Error::Database(d) => Some(d.kind()),
        _ => None,
    }
}

/// True when `e` is a unique or primary-key violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(db_kind(e), Some(ErrorKind::UniqueViolation))
}

/// True when `e` is a foreign-key violation.
pub(crate) fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(db_kind(e), Some(ErrorKind::ForeignKeyViolation))
}
