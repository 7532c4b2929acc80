//! Sessions and sign-in throttling.

use sqlx::Row;
use wb_domain::throttle::{Rule, State, UNTIL_RESET};

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

/// The answer to a reserved try (see [`Store::throttle_reserve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Try {
    /// Counted; `locked_until` is set when this try reached the limit.
    Allowed(State),
    /// The key is locked until `until`; the try was not counted and must not be checked.
    Refused { until: i64 },
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

    /// The session, if it exists, has not expired and was last used at most `idle_limit`
    /// seconds ago; using it now records `now` as its last use, in the same statement, so the
    /// idle rule is exact. A session that fails either rule is deleted. (Whether the account
    /// is disabled is for the caller, who loads the user anyway.)
    pub async fn live_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_limit: i64,
    ) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "UPDATE sessions SET last_seen_at = $2 \
             WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at >= $2 - $3 \
             RETURNING user_id, stage, created_at, last_seen_at, expires_at",
        )
        .bind(id_hash)
        .bind(now)
        .bind(idle_limit)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else {
            self.delete_session(id_hash).await?;
            return Ok(None);
        };
        let stage: String = r.try_get("stage")?;
        Ok(Some(SessionRecord {
            user_id: r.try_get("user_id")?,
            stage: SessionStage::from_code(&stage)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown session stage '{stage}'")))?,
            created_at: r.try_get("created_at")?,
            last_seen_at: r.try_get("last_seen_at")?,
            expires_at: r.try_get("expires_at")?,
        }))
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

    /// Reserves one try of `key` under `rule` at `now`, in one atomic statement: refused
    /// (and not counted) while the key is locked, otherwise counted, and the key locked when
    /// this try reaches the rule's limit. The caller checks the password or code only after a
    /// reservation, and gives it back with [`Store::throttle_release`] or
    /// [`Store::throttle_clear`] when the try succeeds. Implements
    /// [`wb_domain::throttle::Rule::reserve`] (the conformance suite compares them).
    pub async fn throttle_reserve(&self, key: &str, rule: &Rule, now: i64) -> Result<Try> {
        let locked =
            "(sign_in_failures.locked_until IS NOT NULL AND sign_in_failures.locked_until > $2)";
        let next = "(CASE WHEN $3 > 0 AND sign_in_failures.window_started_at + $3 < $2 THEN 1 \
                    ELSE sign_in_failures.failures + 1 END)";
        let lock = |f: &str| {
            let grown = format!("(CASE WHEN $3 > 0 THEN $5 ELSE $5 * ({f} - $4 + 1) END)");
            format!(
                "(CASE WHEN $7 > 0 AND {f} >= $7 THEN $8 \
                 WHEN {f} >= $4 THEN $2 + (CASE WHEN {grown} > $6 THEN $6 ELSE {grown} END) \
                 ELSE NULL END)"
            )
        };
        let sql = format!(
            "INSERT INTO sign_in_failures (throttle_key, failures, window_started_at, \
             locked_until, refused) VALUES ($1, 1, $2, {first}, 0) \
             ON CONFLICT (throttle_key) DO UPDATE SET \
             failures = CASE WHEN {locked} THEN sign_in_failures.failures ELSE {next} END, \
             window_started_at = CASE WHEN {locked} THEN sign_in_failures.window_started_at \
               WHEN $3 > 0 AND sign_in_failures.window_started_at + $3 < $2 THEN $2 \
               ELSE sign_in_failures.window_started_at END, \
             locked_until = CASE WHEN {locked} THEN sign_in_failures.locked_until \
               ELSE {lock_next} END, \
             refused = CASE WHEN {locked} THEN 1 ELSE 0 END \
             RETURNING failures, window_started_at, locked_until, refused",
            first = lock("1"),
            lock_next = lock(next),
        );
        let r = sqlx::query(&sql)
            .bind(key)
            .bind(now)
            .bind(rule.window_seconds.unwrap_or(0))
            .bind(rule.limit)
            .bind(rule.lock_seconds)
            .bind(rule.max_lock_seconds)
            .bind(rule.hard_cap.unwrap_or(0))
            .bind(UNTIL_RESET)
            .fetch_one(self.pool())
            .await?;
        let locked_until: Option<i64> = r.try_get("locked_until")?;
        if r.try_get::<i64, _>("refused")? != 0 {
            return Ok(Try::Refused {
                until: locked_until.unwrap_or(now),
            });
        }
        Ok(Try::Allowed(State {
            tries: r.try_get("failures")?,
            started_at: r.try_get("window_started_at")?,
            locked_until,
        }))
    }

    /// Gives back one reservation of a rate-limited key whose try succeeded (a lock that this
    /// try's reservation set goes with it).
    pub async fn throttle_release(&self, key: &str, rule: &Rule) -> Result<()> {
        sqlx::query(
            "UPDATE sign_in_failures SET failures = failures - 1, \
             locked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE locked_until END \
             WHERE throttle_key = $1 AND failures > 0",
        )
        .bind(key)
        .bind(rule.limit)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets a key's count and lock (a success ends consecutive failures; a password reset
    /// lifts the account's lock).
    pub async fn throttle_clear(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE throttle_key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A key's count, for administrators and tests.
    pub async fn throttle_state(&self, key: &str) -> Result<Option<State>> {
        let row = sqlx::query(
            "SELECT failures, window_started_at, locked_until FROM sign_in_failures \
             WHERE throttle_key = $1",
        )
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(State {
                tries: r.try_get(0)?,
                started_at: r.try_get(1)?,
                locked_until: r.try_get(2)?,
            })
        })
        .transpose()
    }
}

impl Store {
    /// Takes or renews the lease of `job` for `holder` until `now + seconds`, in one atomic
    /// statement: `true` when `holder` holds it now (it was free, expired, or already
    /// `holder`'s), `false` when another holder's lease is still running.
    pub async fn take_lease(
        &self,
        job: &str,
        holder: &str,
        now: i64,
        seconds: i64,
    ) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE job_leases.holder = excluded.holder OR job_leases.expires_at <= $4 \
             RETURNING holder",
        )
        .bind(job)
        .bind(holder)
        .bind(now + seconds)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }
}
