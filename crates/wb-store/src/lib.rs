//! Workbench persistence: one code base on SQLite and PostgreSQL.
//!
//! The store talks to either database through sqlx's `Any` driver with SQL written once: `$N`
//! placeholders (SQLite accepts them too), BIGINT times in Unix seconds, BIGINT 0/1 flags and
//! TEXT for everything else. Migrations ship inside the binary ([`migrate`]). Callers pass the
//! current time in, so expiry rules can be tested with a controllable clock.

mod access;
mod accounts;
mod cohorts;
mod groups;
mod institutions;
pub mod migrate;
mod sessions;
pub mod testing;
mod workspaces;

use std::sync::Once;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use access::{Attempt, AttemptStart, IdentityRequest, TotpRecord};
pub use accounts::{NewUser, ProfileUpdate, PublicProfile, ResetTokenError, UserRecord};
pub use cohorts::{CohortRecord, CohortUpdate, CohortWrite, DraftWrite};
pub use groups::{BillingAccount, TrainingGroup};
pub use institutions::InstitutionRequest;
pub use sessions::{NewSession, SessionRecord, SessionStage, Try};
pub use workspaces::{
    CdrVersion, DirectoryRow, LedgerRow, MemberWrite, NewLedgerEntry, NewWorkspace, WorkspaceRecord,
};

/// Errors of the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the string names what is taken (e.g. "username").
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("refused: {0}")]
    Refused(String),
    #[error("unsupported database URL '{0}': use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("migration {version} ({name}) was changed after it was applied")]
    MigrationChanged { version: i64, name: String },
    #[error("the database has migration {0}, newer than this build knows; upgrade Workbench")]
    MigrationTooNew(i64),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The handle to the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

static DRIVERS: Once = Once::new();

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc`, `sqlite::memory:` is refused because each
    /// pooled connection would see its own database; `postgres://…`).
    pub async fn connect(url: &str) -> Result<Self> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("sqlite:") {
            if url.contains(":memory:") {
                return Err(StoreError::UnsupportedUrl(url.to_owned()));
            }
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        if backend == Backend::Sqlite {
            // WAL lets readers go on while one connection writes. Switching the journal mode
            // needs an exclusive lock that a busy timeout cannot wait for, so it is done once,
            // on one connection, before the pool opens more (the mode is kept in the file).
            use sqlx::Connection;
            let mut first = sqlx::AnyConnection::connect(url).await?;
            sqlx::query("PRAGMA busy_timeout = 10000")
                .execute(&mut first)
                .await?;
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&mut first)
                .await?;
            first.close().await?;
        }
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Wait for the write lock instead of failing with "database is locked".
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            });
        let pool = options.connect(url).await?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction: every transaction of the store goes through here.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`, which takes the database's write lock up front (and
    /// waits for it under the busy timeout): a deferred transaction that reads first and writes
    /// later fails with "database is locked" when another connection wrote in between, and the
    /// busy timeout cannot help it. On PostgreSQL it is a plain `BEGIN` (read committed);
    /// invariants that span rows take [`Store::lock`] first.
    pub async fn begin(&self) -> Result<Tx<'static>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Inside `tx`: serialises this transaction with every other one that locks the same
    /// `key` until it ends. PostgreSQL takes a transaction-scoped advisory lock; SQLite needs
    /// nothing more, because [`Store::begin`] already holds the one write lock.
    pub async fn lock(&self, tx: &mut Tx<'_>, key: LockKey) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key.id())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A value from the key-value table of the application, e.g. whether demo data was loaded.
    pub async fn meta(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT meta_value FROM app_meta WHERE meta_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO app_meta (meta_key, meta_value) VALUES ($1, $2) \
             ON CONFLICT (meta_key) DO UPDATE SET meta_value = excluded.meta_value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Appends an audit event. `detail` is a short JSON or text description.
    pub async fn audit(&self, event: &AuditEvent<'_>) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        audit_on(&mut conn, event).await
    }

    /// The audit events about one user, oldest first.
    pub async fn audit_for_user(&self, user_id: i64) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, detail FROM audit_events \
             WHERE target_user_id = $1 OR actor_user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}

/// A transaction of the store (see [`Store::begin`]).
pub type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// What a transaction serialises on with [`Store::lock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKey {
    /// A workspace's membership (the last owner stays).
    Workspace(i64),
    /// A user's credits ledger.
    Ledger(i64),
    /// Scheduled jobs' leases.
    Jobs,
    /// A user's assessment attempts (the daily limit, one open attempt).
    Training(i64),
    /// A user's own profile (an edit reads, compares and writes it).
    Profile(i64),
    /// A user's cohort builder drafts (an edit reads, changes and writes one).
    CohortDrafts(i64),
}

impl LockKey {
    /// One BIGINT per key: the kind in the top 16 bits, the row id below.
    fn id(self) -> i64 {
        let (class, id): (i64, i64) = match self {
            LockKey::Workspace(id) => (1, id),
            LockKey::Ledger(id) => (2, id),
            LockKey::Jobs => (3, 0),
            LockKey::Training(id) => (4, id),
            LockKey::Profile(id) => (5, id),
            LockKey::CohortDrafts(id) => (6, id),
        };
        (class << 48) | (id & 0xFFFF_FFFF_FFFF)
    }
}

/// Appends an audit event on `conn` (a pooled connection or an open transaction), so a
/// change and its audit row commit together.
pub(crate) async fn audit_on(conn: &mut sqlx::AnyConnection, event: &AuditEvent<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor_user_id, actor, action, target_user_id, detail, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.at)
    .bind(event.actor_user_id)
    .bind(event.actor)
    .bind(event.action)
    .bind(event.target_user_id)
    .bind(event.detail)
    .bind(event.ip)
    .execute(conn)
    .await?;
    Ok(())
}

/// An event to append to the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct AuditEvent<'a> {
    pub at: i64,
    pub actor_user_id: Option<i64>,
    /// "user:<name>", "admin-cli", "system" or "anonymous".
    pub actor: &'a str,
    pub action: &'a str,
    pub target_user_id: Option<i64>,
    pub detail: &'a str,
    pub ip: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`], naming the first of
/// `fields` that the database's message mentions.
pub(crate) fn on_unique(err: sqlx::Error, fields: &[&'static str]) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        let text = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
        let field = fields
            .iter()
            .find(|f| text.contains(*f))
            .copied()
            .unwrap_or("value");
        return StoreError::Conflict(field);
    }
    StoreError::Database(err)
}

pub(crate) fn flag(row: &AnyRow, col: &str) -> Result<bool> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}
