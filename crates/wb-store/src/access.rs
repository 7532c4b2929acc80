//! Data access registration: module records, the TOTP authenticator and recovery codes,
//! identity links, training progress and assessment attempts, code of conduct signatures,
//! reminders and tier changes.

use sqlx::Row;
use sqlx::any::AnyRow;
use wb_domain::AccessTier;
use wb_domain::access::{AccessModule, ModuleRecord};

use crate::{LockKey, Result, Store, StoreError};

/// The stored authenticator of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub secret_sealed: String,
    pub created_at: i64,
    pub confirmed_at: Option<i64>,
    pub last_used_step: Option<i64>,
}

/// One assessment attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: i64,
    pub course: String,
    /// The ids of the questions drawn for this attempt, in order.
    pub questions: Vec<String>,
    pub started_at: i64,
    pub submitted_at: Option<i64>,
    pub correct: Option<i64>,
    pub total: Option<i64>,
    pub passed: Option<bool>,
}

/// What [`Store::begin_attempt`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStart {
    /// An attempt was already open; this is its id and nothing was written.
    Resumed(i64),
    /// A new attempt with this id was recorded.
    Started(i64),
}

impl AttemptStart {
    pub fn id(self) -> i64 {
        match self {
            AttemptStart::Resumed(id) | AttemptStart::Started(id) => id,
        }
    }
}

/// An open request for an administrator to verify a user's identity (when no identity
/// provider is configured), with who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRequest {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    pub contact_email: String,
    pub institution: String,
    pub requested_at: i64,
}

fn attempt_from_row(r: &AnyRow) -> Result<Attempt> {
    let questions: String = r.try_get("questions")?;
    Ok(Attempt {
        id: r.try_get("id")?,
        course: r.try_get("course")?,
        questions: serde_json::from_str(&questions)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        started_at: r.try_get("started_at")?,
        submitted_at: r.try_get("submitted_at")?,
        correct: r.try_get("correct")?,
        total: r.try_get("total")?,
        passed: r.try_get::<Option<i64>, _>("passed")?.map(|p| p != 0),
    })
}

async fn write_recovery_codes(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    hashes: &[String],
    now: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for h in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(h)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Every module record of a user.
    pub async fn module_records(&self, user_id: i64) -> Result<Vec<ModuleRecord>> {
        let rows = sqlx::query(
            "SELECT module, completed_at, bypassed_at, version FROM access_modules WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let code: String = r.try_get("module")?;
                Ok(ModuleRecord {
                    module: AccessModule::from_code(&code)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown module '{code}'")))?,
                    completed_at: r.try_get("completed_at")?,
                    bypassed_at: r.try_get("bypassed_at")?,
                    version: r.try_get("version")?,
                })
            })
            .collect()
    }

    async fn ensure_module_row(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: i64,
        module: AccessModule,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO access_modules (user_id, module, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, module) DO NOTHING",
        )
        .bind(user_id)
        .bind(module.code())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Inside `tx`: marks a module completed at `at` with an optional version.
    pub(crate) async fn mark_completed(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user_id: i64,
        module: AccessModule,
        at: i64,
        version: Option<i64>,
    ) -> Result<()> {
        self.ensure_module_row(tx, user_id, module, at).await?;
        sqlx::query(
            "UPDATE access_modules SET completed_at = $3, version = $4, updated_at = $3 \
             WHERE user_id = $1 AND module = $2",
        )
        .bind(user_id)
        .bind(module.code())
        .bind(at)
        .bind(version)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Marks a module completed at `at` (a renewal replaces the earlier completion).
    pub async fn complete_module(
        &self,
        user_id: i64,
        module: AccessModule,
        at: i64,
        version: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        self.mark_completed(&mut tx, user_id, module, at, version)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets (with a reason) or clears an administrator's bypass of a module.
    pub async fn set_module_bypass(
        &self,
        user_id: i64,
        module: AccessModule,
        bypass: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        self.ensure_module_row(&mut tx, user_id, module, now)
            .await?;
        sqlx::query(
            "UPDATE access_modules SET bypassed_at = $3, bypass_reason = $4, updated_at = $5 \
             WHERE user_id = $1 AND module = $2",
        )
        .bind(user_id)
        .bind(module.code())
        .bind(bypass.map(|_| now))
        .bind(bypass)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Clears a module's completion so the user must do it again.
    pub async fn reset_module(&self, user_id: i64, module: AccessModule, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE access_modules SET completed_at = NULL, version = NULL, updated_at = $3 \
             WHERE user_id = $1 AND module = $2",
        )
        .bind(user_id)
        .bind(module.code())
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn totp(&self, user_id: i64) -> Result<Option<TotpRecord>> {
        let row = sqlx::query(
            "SELECT secret_sealed, created_at, confirmed_at, last_used_step \
             FROM totp_authenticators WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(TotpRecord {
                secret_sealed: r.try_get("secret_sealed")?,
                created_at: r.try_get("created_at")?,
                confirmed_at: r.try_get("confirmed_at")?,
                last_used_step: r.try_get("last_used_step")?,
            })
        })
        .transpose()
    }

    /// Turns 2-step verification on in one transaction: the confirmed authenticator (its
    /// first accepted step marks that code used), the recovery codes' hashes, and the module.
    /// Refused when an authenticator is on already (a second tab confirming too).
    pub async fn enable_totp(
        &self,
        user_id: i64,
        secret_sealed: &str,
        step: i64,
        recovery_hashes: &[String],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        // An unconfirmed row is what earlier versions stored on opening the page.
        sqlx::query("DELETE FROM totp_authenticators WHERE user_id = $1 AND confirmed_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(
            "INSERT INTO totp_authenticators (user_id, secret_sealed, created_at, confirmed_at, \
             last_used_step) VALUES ($1, $2, $3, $3, $4) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(secret_sealed)
        .bind(now)
        .bind(step)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Refused(
                "2-step verification is already turned on".into(),
            ));
        }
        write_recovery_codes(&mut tx, user_id, recovery_hashes, now).await?;
        self.mark_completed(&mut tx, user_id, AccessModule::TwoFactor, now, None)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the confirmed authenticator with a new one (its first accepted step used);
    /// the recovery codes stay. Refused when 2-step verification is not on.
    pub async fn replace_totp(
        &self,
        user_id: i64,
        secret_sealed: &str,
        step: i64,
        now: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE totp_authenticators SET secret_sealed = $2, created_at = $3, \
             confirmed_at = $3, last_used_step = $4 WHERE user_id = $1 AND confirmed_at IS NOT NULL",
        )
        .bind(user_id)
        .bind(secret_sealed)
        .bind(now)
        .bind(step)
        .execute(self.pool())
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Refused("2-step verification is not on".into()));
        }
        Ok(())
    }

    /// Replaces every recovery code (used or not) with new ones.
    pub async fn replace_recovery_codes(
        &self,
        user_id: i64,
        recovery_hashes: &[String],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        write_recovery_codes(&mut tx, user_id, recovery_hashes, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records `step` as used if it is newer than the last used one. `false` means the code
    /// was already used (or a newer one was): a replay. Atomic under concurrency.
    pub async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE totp_authenticators SET last_used_step = $2 WHERE user_id = $1 \
             AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses a recovery code once. `false` when it is unknown or already used.
    pub async fn use_recovery_code(&self, user_id: i64, code_hash: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(code_hash)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn recovery_codes_left(&self, user_id: i64) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await?
        .try_get(0)?)
    }

    /// Removes the authenticator and recovery codes and clears the module (a lost device).
    pub async fn reset_totp(&self, user_id: i64, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        for sql in [
            "DELETE FROM totp_authenticators WHERE user_id = $1",
            "DELETE FROM recovery_codes WHERE user_id = $1",
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
        sqlx::query(
            "UPDATE access_modules SET completed_at = NULL, updated_at = $3 \
             WHERE user_id = $1 AND module = $2",
        )
        .bind(user_id)
        .bind(AccessModule::TwoFactor.code())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Binds an external identity to a user and completes identity verification. The same
    /// identity bound to another account gives `Conflict("identity")`.
    pub async fn link_identity(
        &self,
        provider: &str,
        subject: &str,
        user_id: i64,
        acr: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO identity_links (provider, subject, user_id, acr, verified_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, subject) DO NOTHING",
        )
        .bind(provider)
        .bind(subject)
        .bind(user_id)
        .bind(acr)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let owner: i64 =
            sqlx::query("SELECT user_id FROM identity_links WHERE provider = $1 AND subject = $2")
                .bind(provider)
                .bind(subject)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        if owner != user_id {
            return Err(StoreError::Conflict("identity"));
        }
        self.mark_completed(&mut tx, user_id, AccessModule::Identity, now, None)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queues a request for an administrator to verify the user's identity. The database
    /// holds at most one open request per user (a partial unique index), and the insert does
    /// nothing when one is open, so parallel clicks make one row. Returns whether this call
    /// created it, and when the open request was made.
    pub async fn request_identity_verification(
        &self,
        user_id: i64,
        now: i64,
    ) -> Result<(bool, i64)> {
        let done = sqlx::query(
            "INSERT INTO identity_requests (user_id, requested_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) WHERE resolved_at IS NULL DO NOTHING",
        )
        .bind(user_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        let at = self
            .open_identity_request(user_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((done.rows_affected() == 1, at))
    }

    /// When the user's open identity verification request was made, if one is open.
    pub async fn open_identity_request(&self, user_id: i64) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT requested_at FROM identity_requests WHERE user_id = $1 AND resolved_at IS NULL",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Every open identity verification request, oldest first.
    pub async fn open_identity_requests(&self) -> Result<Vec<IdentityRequest>> {
        let rows = sqlx::query(
            "SELECT r.id, r.user_id, r.requested_at, u.username, u.given_name, u.family_name, \
             u.contact_email, u.institution FROM identity_requests r \
             JOIN users u ON u.id = r.user_id WHERE r.resolved_at IS NULL \
             ORDER BY r.requested_at, r.id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(IdentityRequest {
                    id: r.try_get("id")?,
                    user_id: r.try_get("user_id")?,
                    username: r.try_get("username")?,
                    given_name: r.try_get("given_name")?,
                    family_name: r.try_get("family_name")?,
                    contact_email: r.try_get("contact_email")?,
                    institution: r.try_get("institution")?,
                    requested_at: r.try_get("requested_at")?,
                })
            })
            .collect()
    }

    /// An administrator verified the user's identity: binds a manual identity, completes the
    /// identity module and resolves the open request (if any) as done by `by`, in one
    /// transaction. Returns whether an open request was resolved.
    pub async fn verify_identity_manually(&self, user_id: i64, by: &str, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO identity_links (provider, subject, user_id, acr, verified_at) \
             VALUES ('manual', $1, $2, NULL, $3) ON CONFLICT (provider, subject) DO NOTHING",
        )
        .bind(format!("admin:{user_id}"))
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.mark_completed(&mut tx, user_id, AccessModule::Identity, now, None)
            .await?;
        let resolved = sqlx::query(
            "UPDATE identity_requests SET resolved_at = $2, resolved_by = $3 \
             WHERE user_id = $1 AND resolved_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(resolved.rows_affected() > 0)
    }

    /// Records a finished course module (idempotent).
    pub async fn complete_course_module(
        &self,
        user_id: i64,
        course: &str,
        module_key: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO training_progress (user_id, course, module_key, completed_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, course, module_key) DO NOTHING",
        )
        .bind(user_id)
        .bind(course)
        .bind(module_key)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The course modules a user has finished.
    pub async fn course_progress(&self, user_id: i64, course: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT module_key FROM training_progress WHERE user_id = $1 AND course = $2",
        )
        .bind(user_id)
        .bind(course)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Opens an assessment attempt, atomically: in one transaction that holds the user's
    /// training lock, it reads the user's attempts at `course`; if one is still open it is
    /// returned as [`AttemptStart::Resumed`] and nothing is written; otherwise `decide` sees
    /// every attempt (oldest first) and either returns the questions of the new attempt, which
    /// is recorded as started at `now`, or refuses with its own error (`Ok(Err(e))`).
    ///
    /// So the rules `decide` applies (how many attempts a day, the wait after a failure) hold
    /// however many requests start attempts at once: each sees the ones before it.
    pub async fn begin_attempt<E>(
        &self,
        user_id: i64,
        course: &str,
        now: i64,
        decide: impl FnOnce(&[Attempt]) -> std::result::Result<Vec<String>, E>,
    ) -> Result<std::result::Result<AttemptStart, E>> {
        let mut tx = self.begin().await?;
        self.lock(&mut tx, LockKey::Training(user_id)).await?;
        let rows = sqlx::query(
            "SELECT * FROM assessment_attempts WHERE user_id = $1 AND course = $2 ORDER BY id",
        )
        .bind(user_id)
        .bind(course)
        .fetch_all(&mut *tx)
        .await?;
        let attempts: Vec<Attempt> = rows.iter().map(attempt_from_row).collect::<Result<_>>()?;
        if let Some(open) = attempts.iter().rev().find(|a| a.submitted_at.is_none()) {
            return Ok(Ok(AttemptStart::Resumed(open.id)));
        }
        let questions = match decide(&attempts) {
            Ok(q) => q,
            Err(e) => return Ok(Err(e)),
        };
        let json =
            serde_json::to_string(&questions).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let row = sqlx::query(
            "INSERT INTO assessment_attempts (user_id, course, questions, started_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user_id)
        .bind(course)
        .bind(json)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get(0)?;
        tx.commit().await?;
        Ok(Ok(AttemptStart::Started(id)))
    }

    /// A user's attempts at a course, oldest first.
    pub async fn attempts(&self, user_id: i64, course: &str) -> Result<Vec<Attempt>> {
        let rows = sqlx::query(
            "SELECT * FROM assessment_attempts WHERE user_id = $1 AND course = $2 ORDER BY id",
        )
        .bind(user_id)
        .bind(course)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(attempt_from_row).collect()
    }

    /// Records the grade of an open attempt of this user. `false` when the attempt is not the
    /// user's or was already submitted (a double submit).
    pub async fn submit_attempt(
        &self,
        user_id: i64,
        attempt_id: i64,
        correct: i64,
        total: i64,
        passed: bool,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE assessment_attempts SET submitted_at = $3, correct = $4, total = $5, \
             passed = $6 WHERE id = $1 AND user_id = $2 AND submitted_at IS NULL",
        )
        .bind(attempt_id)
        .bind(user_id)
        .bind(now)
        .bind(correct)
        .bind(total)
        .bind(i64::from(passed))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a code of conduct signature and completes the module with its version.
    pub async fn sign_code_of_conduct(
        &self,
        user_id: i64,
        version: i64,
        initials: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO code_of_conduct_signatures (user_id, version, initials, signed_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(version)
        .bind(initials)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        self.mark_completed(
            &mut tx,
            user_id,
            AccessModule::CodeOfConduct,
            now,
            Some(version),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The reminders (days before) already sent for one expiry date of a tier.
    pub async fn reminders_sent(
        &self,
        user_id: i64,
        tier: AccessTier,
        expires_at: i64,
    ) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT days_before FROM access_reminders WHERE user_id = $1 AND tier = $2 AND expires_at = $3",
        )
        .bind(user_id)
        .bind(tier.code())
        .bind(expires_at)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Records a reminder as sent; `false` when it had been recorded already (another run of
    /// the job got there first).
    pub async fn record_reminder(
        &self,
        user_id: i64,
        tier: AccessTier,
        expires_at: i64,
        days_before: i64,
        now: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO access_reminders (user_id, tier, expires_at, days_before, sent_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, tier, expires_at, days_before) DO NOTHING",
        )
        .bind(user_id)
        .bind(tier.code())
        .bind(expires_at)
        .bind(days_before)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The tiers a user held when last computed.
    pub async fn user_tiers(&self, user_id: i64) -> Result<Vec<AccessTier>> {
        let rows = sqlx::query("SELECT tier FROM user_tiers WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?;
        let mut tiers: Vec<AccessTier> = rows
            .iter()
            .filter_map(|r| r.try_get::<String, _>(0).ok())
            .filter_map(|c| AccessTier::from_code(&c))
            .collect();
        tiers.sort();
        Ok(tiers)
    }

    /// Replaces the stored tiers; returns (granted, lost): only the rows this call changed,
    /// so callers running at the same moment report each change once.
    pub async fn set_user_tiers(
        &self,
        user_id: i64,
        tiers: &[AccessTier],
        now: i64,
    ) -> Result<(Vec<AccessTier>, Vec<AccessTier>)> {
        let mut wanted = tiers.to_vec();
        wanted.sort();
        if self.user_tiers(user_id).await? == wanted {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut tx = self.begin().await?;
        let (mut granted, mut lost) = (Vec::new(), Vec::new());
        for t in AccessTier::ALL {
            if wanted.contains(t) {
                let done = sqlx::query(
                    "INSERT INTO user_tiers (user_id, tier, granted_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, tier) DO NOTHING",
                )
                .bind(user_id)
                .bind(t.code())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 1 {
                    granted.push(*t);
                }
            } else {
                let done = sqlx::query("DELETE FROM user_tiers WHERE user_id = $1 AND tier = $2")
                    .bind(user_id)
                    .bind(t.code())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 1 {
                    lost.push(*t);
                }
            }
        }
        tx.commit().await?;
        Ok((granted, lost))
    }
}
