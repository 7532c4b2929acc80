//! Sessions and sign-in throttling.

use sqlx::Row;

use crate::{Result, Store, StoreError};

/// How far a session has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    /// Signed in with a temporary password: the only thing allowed is choosing a new one.
    PasswordChange,
    /// The password was right; the second factor (TOTP or a recovery code) is still due.
    SecondFactor,
    /// Fully signed in.
    Active,
}

impl SessionStage {
    pub fn code(self) -> &'static str {
        match self {
            SessionStage::PasswordChange => "password_change",
            SessionStage::SecondFactor => "second_factor",
            SessionStage::Active => "active",
        }
    }

    fn from_code(s: &str) -> Option<Self> {
        match s {
            "password_change" => Some(SessionStage::PasswordChange),
            "second_factor" => Some(SessionStage::SecondFactor),
            "active" => Some(SessionStage::Active),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: i64,
    pub stage: SessionStage,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// A session to store. Only a hash of the cookie value is kept.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub user_id: i64,
    pub stage: SessionStage,
    pub now: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// The state of a throttle key after a failure was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: i64,
    /// Set when the key is locked.
    pub locked_until: Option<i64>,
}

impl Store {
    pub async fn create_session(&self, s: &NewSession<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, stage, created_at, last_seen_at, expires_at, \
             ip, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(s.id_hash)
        .bind(s.user_id)
        .bind(s.stage.code())
        .bind(s.now)
        .bind(s.expires_at)
        .bind(s.ip)
        .bind(s.user_agent)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session, if it exists, has not expired and was seen within `idle_limit` seconds.
    /// A session that fails either rule is deleted.
    pub async fn live_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_limit: i64,
    ) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT s.user_id, s.stage, s.created_at, s.last_seen_at, s.expires_at, u.disabled \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let stage: String = r.try_get("stage")?;
        let rec = SessionRecord {
            user_id: r.try_get("user_id")?,
            stage: SessionStage::from_code(&stage)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown session stage '{stage}'")))?,
            created_at: r.try_get("created_at")?,
            last_seen_at: r.try_get("last_seen_at")?,
            expires_at: r.try_get("expires_at")?,
        };
        let disabled = r.try_get::<i64, _>("disabled")? != 0;
        if disabled || rec.expires_at <= now || now - rec.last_seen_at > idle_limit {
            self.delete_session(id_hash).await?;
            return Ok(None);
        }
        // Write the activity time at most once a minute.
        if now - rec.last_seen_at >= 60 {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(now)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(rec))
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a user except, optionally, one.
    pub async fn delete_user_sessions(&self, user_id: i64, except: Option<&str>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user_id)
            .bind(except.unwrap_or(""))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn session_count(&self, user_id: i64) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(self.pool())
                .await?
                .try_get(0)?,
        )
    }

    /// Removes expired sessions; returns how many.
    pub async fn purge_expired_sessions(&self, now: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// When `key` is locked at `now`, the time the lock ends.
    pub async fn throttle_locked_until(&self, key: &str, now: i64) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT locked_until FROM sign_in_failures WHERE throttle_key = $1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        Ok(row
            .map(|r| r.try_get::<Option<i64>, _>(0))
            .transpose()?
            .flatten()
            .filter(|until| *until > now))
    }

    /// Counts a failure for `key`. Failures older than `window` seconds start a new count; at
    /// `limit` failures the key is locked for `lock_seconds`.
    pub async fn record_failure(
        &self,
        key: &str,
        now: i64,
        window: i64,
        limit: i64,
        lock_seconds: i64,
    ) -> Result<ThrottleState> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "SELECT failures, window_started_at FROM sign_in_failures WHERE throttle_key = $1",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let (failures, started) = match row {
            Some(r) => {
                let f: i64 = r.try_get(0)?;
                let s: i64 = r.try_get(1)?;
                if now - s > window {
                    (1, now)
                } else {
                    (f + 1, s)
                }
            }
            None => (1, now),
        };
        let locked_until = (failures >= limit).then_some(now + lock_seconds);
        sqlx::query("DELETE FROM sign_in_failures WHERE throttle_key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_failures (throttle_key, failures, window_started_at, locked_until) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(key)
        .bind(if locked_until.is_some() { 0 } else { failures })
        .bind(started)
        .bind(locked_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ThrottleState {
            failures,
            locked_until,
        })
    }

    pub async fn clear_failures(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE throttle_key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
