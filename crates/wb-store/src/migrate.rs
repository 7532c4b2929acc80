//! Migrations, shipped inside the binary and written once for both databases.
//!
//! Each migration is a SQL file in `migrations/`. `{{ID}}` expands to an auto-numbered BIGINT
//! primary key in the dialect at hand. Applied migrations are recorded with a checksum; a
//! migration edited after it was applied is refused rather than silently skipped.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Backend, Result, Store, StoreError};

/// (version, name, SQL).
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "accounts",
        include_str!("../migrations/0001_accounts.sql"),
    ),
    (2, "access", include_str!("../migrations/0002_access.sql")),
    (
        3,
        "workspaces",
        include_str!("../migrations/0003_workspaces.sql"),
    ),
    (
        4,
        "training_groups",
        include_str!("../migrations/0004_training_groups.sql"),
    ),
    (
        5,
        "concurrency",
        include_str!("../migrations/0005_concurrency.sql"),
    ),
    (
        6,
        "identity_requests",
        include_str!("../migrations/0006_identity_requests.sql"),
    ),
    (7, "cohorts", include_str!("../migrations/0007_cohorts.sql")),
];

fn dialect(sql: &str, backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    sql.replace("{{ID}}", id)
}

fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn checksum(sql: &str) -> String {
    let digest = Sha256::digest(sql.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What [`Store::migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub applied: Vec<(i64, &'static str)>,
    pub current: i64,
}

impl Store {
    async fn ensure_migrations_table(&self) -> Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS wb_migrations (version BIGINT PRIMARY KEY, \
             name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn applied(&self) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT version, checksum FROM wb_migrations ORDER BY version")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Versions that this build knows and the database has not applied yet.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>> {
        self.ensure_migrations_table().await?;
        let applied = self.applied().await?;
        self.check_applied(&applied)?;
        Ok(MIGRATIONS
            .iter()
            .map(|m| m.0)
            .filter(|v| !applied.iter().any(|(a, _)| a == v))
            .collect())
    }

    fn check_applied(&self, applied: &[(i64, String)]) -> Result<()> {
        for (version, sum) in applied {
            match MIGRATIONS.iter().find(|m| m.0 == *version) {
                None => return Err(StoreError::MigrationTooNew(*version)),
                Some((v, name, sql)) if checksum(sql) != *sum => {
                    return Err(StoreError::MigrationChanged {
                        version: *v,
                        name: (*name).to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Applies every pending migration, each in its own transaction.
    pub async fn migrate(&self, now: i64) -> Result<MigrationReport> {
        self.ensure_migrations_table().await?;
        let applied = self.applied().await?;
        self.check_applied(&applied)?;
        let mut report = MigrationReport {
            applied: Vec::new(),
            current: applied.last().map(|a| a.0).unwrap_or(0),
        };
        for (version, name, sql) in MIGRATIONS {
            if applied.iter().any(|(a, _)| a == version) {
                continue;
            }
            let mut tx = self.begin().await?;
            for stmt in statements(&dialect(sql, self.backend())) {
                sqlx::query(&stmt).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO wb_migrations (version, name, checksum, applied_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(*version)
            .bind(*name)
            .bind(checksum(sql))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(version, name, "applied migration");
            report.applied.push((*version, *name));
            report.current = *version;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_and_dialects_differ() {
        let (_, _, sql) = MIGRATIONS[0];
        let lite = statements(&dialect(sql, Backend::Sqlite));
        let pg = statements(&dialect(sql, Backend::Postgres));
        assert_eq!(lite.len(), pg.len());
        assert!(lite.iter().all(|s| !s.contains("{{")));
        assert!(pg.iter().any(|s| s.contains("BIGSERIAL")));
    }
}
