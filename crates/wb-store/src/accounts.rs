//! Researchers' accounts: creation, credentials, profiles, password reset links.

use sqlx::Row;
use sqlx::any::AnyRow;
use wb_domain::access::AccessModule;
use wb_domain::choices::{Degree, Role};
use wb_domain::signup::{
    Address, Affiliation, Demographics, ProfileDetails, ProfileEdit, ProfileSection,
};

use crate::{AuditEvent, LockKey, Result, Store, StoreError, audit_on, flag, on_unique};

/// Everything needed to create an account.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub affiliation: &'a Affiliation,
    pub details: &'a ProfileDetails,
    pub password_hash: &'a str,
    pub temporary_password_expires_at: i64,
    pub terms_version: i64,
    pub terms_accepted_at: i64,
    pub now: i64,
}

/// A stored account. Fields that are public are marked in [`PublicProfile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub contact_email: String,
    pub institution: String,
    pub role: Role,
    pub role_other: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub degrees: Vec<Degree>,
    pub professional_url: Option<String>,
    pub research_background: String,
    pub address: Address,
    pub demographics: Demographics,
    pub password_hash: String,
    pub password_is_temporary: bool,
    pub temporary_password_expires_at: Option<i64>,
    pub password_changed_at: Option<i64>,
    pub disabled: bool,
    pub created_at: i64,
    pub first_sign_in_at: Option<i64>,
}

impl UserRecord {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }

    /// The part of the profile the user may edit, as it is stored.
    pub fn profile_edit(&self) -> ProfileEdit {
        ProfileEdit {
            role: self.role,
            role_other: self.role_other.clone(),
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            degrees: self.degrees.clone(),
            professional_url: self.professional_url.clone(),
            address: self.address.clone(),
            research_background: self.research_background.clone(),
            demographics: self.demographics.clone(),
        }
    }
}

/// A profile edit to save (see [`Store::update_profile`]).
#[derive(Debug, Clone, Copy)]
pub struct ProfileUpdate<'a> {
    pub user_id: i64,
    pub edit: &'a ProfileEdit,
    pub now: i64,
    /// Who saves it, for the audit trail ("user:<name>").
    pub actor: &'a str,
    pub ip: Option<&'a str>,
}

/// What anyone may see of a researcher: name, institution, role, research background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicProfile {
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    pub degrees: Vec<Degree>,
    pub professional_url: Option<String>,
    pub institution_name: String,
    pub role: Role,
    pub role_other: Option<String>,
    pub research_background: String,
}

/// Why a password reset link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResetTokenError {
    #[error("This link is not valid. Ask for a new one.")]
    Unknown,
    #[error("This link has expired. Ask for a new one.")]
    Expired,
    #[error("This link has already been used. Ask for a new one if you need to.")]
    Used,
}

fn degrees_to_text(d: &[Degree]) -> String {
    d.iter().map(|d| d.code()).collect::<Vec<_>>().join(",")
}

fn degrees_from_text(s: &str) -> Vec<Degree> {
    s.split(',').filter_map(Degree::from_code).collect()
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn user_from_row(r: &AnyRow) -> Result<UserRecord> {
    let role: String = r.try_get("role")?;
    Ok(UserRecord {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        contact_email: r.try_get("contact_email")?,
        institution: r.try_get("institution")?,
        role: Role::from_code(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?,
        role_other: r.try_get("role_other")?,
        given_name: r.try_get("given_name")?,
        family_name: r.try_get("family_name")?,
        degrees: degrees_from_text(&r.try_get::<String, _>("degrees")?),
        professional_url: r.try_get("professional_url")?,
        research_background: r.try_get("research_background")?,
        address: Address {
            street1: r.try_get("street1")?,
            street2: r.try_get("street2")?,
            city: r.try_get("city")?,
            state: r.try_get("state")?,
            zip: r.try_get("zip")?,
            country: r.try_get("country")?,
        },
        demographics: json(&r.try_get::<String, _>("demographics_json")?)?,
        password_hash: r.try_get("password_hash")?,
        password_is_temporary: flag(r, "password_is_temporary")?,
        temporary_password_expires_at: r.try_get("temporary_password_expires_at")?,
        password_changed_at: r.try_get("password_changed_at")?,
        disabled: flag(r, "disabled")?,
        created_at: r.try_get("created_at")?,
        first_sign_in_at: r.try_get("first_sign_in_at")?,
    })
}

impl Store {
    /// Creates an account with a temporary password and records the terms acceptance, in one
    /// transaction. A taken username or contact e-mail gives [`StoreError::Conflict`].
    pub async fn create_user(&self, u: &NewUser<'_>) -> Result<i64> {
        let d = u.details;
        let a = u.affiliation;
        let discovery = serde_json::json!({
            "sources": d.discovery.iter().map(|s| s.code()).collect::<Vec<_>>(),
            "other": d.discovery_other,
        });
        let demographics = serde_json::to_string(&d.demographics)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO users (username, contact_email, contact_email_canonical, institution, \
             role, role_other, given_name, family_name, degrees, professional_url, \
             research_background, street1, street2, city, state, zip, country, discovery_json, \
             demographics_json, password_hash, password_is_temporary, \
             temporary_password_expires_at, disabled, created_at) VALUES ($1, $2, $3, $4, $5, \
             $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 1, $21, 0, \
             $22) RETURNING id",
        )
        .bind(d.username.as_str())
        .bind(a.contact_email.as_str())
        .bind(a.contact_email.canonical())
        .bind(&a.institution)
        .bind(a.role.code())
        .bind(a.role_other.as_deref())
        .bind(&d.given_name)
        .bind(&d.family_name)
        .bind(degrees_to_text(&d.degrees))
        .bind(d.professional_url.as_deref())
        .bind(&d.research_background)
        .bind(&d.address.street1)
        .bind(d.address.street2.as_deref())
        .bind(&d.address.city)
        .bind(&d.address.state)
        .bind(&d.address.zip)
        .bind(&d.address.country)
        .bind(discovery.to_string())
        .bind(demographics)
        .bind(u.password_hash)
        .bind(u.temporary_password_expires_at)
        .bind(u.now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, &["username", "contact_email"]))?;
        let id: i64 = row.try_get(0)?;
        sqlx::query(
            "INSERT INTO terms_acceptances (user_id, version, accepted_at) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(u.terms_version)
        .bind(u.terms_accepted_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The ids of every account that is not disabled, for scheduled jobs.
    pub async fn active_user_ids(&self) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM users WHERE disabled = 0 ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// Up to `limit` active users whose username, given name, family name or full name
    /// contains `term` (case-insensitive), by username.
    pub async fn search_users(&self, term: &str, limit: i64) -> Result<Vec<UserRecord>> {
        let escaped: String = term
            .to_lowercase()
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let pattern = format!("%{escaped}%");
        let rows = sqlx::query(
            "SELECT * FROM users WHERE disabled = 0 AND (LOWER(username) LIKE $1 ESCAPE '\\' \
             OR LOWER(given_name || ' ' || family_name) LIKE $1 ESCAPE '\\') \
             ORDER BY username LIMIT $2",
        )
        .bind(pattern)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn username_taken(&self, username: &str) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(self.pool())
            .await?
            .is_some())
    }

    pub async fn contact_email_taken(&self, canonical_email: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM users WHERE contact_email_canonical = $1")
                .bind(canonical_email)
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>> {
        sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    pub async fn user_by_contact_email(&self, canonical_email: &str) -> Result<Option<UserRecord>> {
        sqlx::query("SELECT * FROM users WHERE contact_email_canonical = $1")
            .bind(canonical_email)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    /// The terms versions a user accepted, with times, oldest first.
    pub async fn terms_acceptances(&self, user_id: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT version, accepted_at FROM terms_acceptances WHERE user_id = $1 ORDER BY version",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub async fn public_profile(&self, username: &str) -> Result<Option<PublicProfile>> {
        let row = sqlx::query(
            "SELECT u.username, u.given_name, u.family_name, u.degrees, u.professional_url, \
             i.display_name, u.role, u.role_other, u.research_background \
             FROM users u JOIN institutions i ON i.short_name = u.institution \
             WHERE u.username = $1 AND u.disabled = 0",
        )
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.try_get("role")?;
        Ok(Some(PublicProfile {
            username: r.try_get("username")?,
            given_name: r.try_get("given_name")?,
            family_name: r.try_get("family_name")?,
            degrees: degrees_from_text(&r.try_get::<String, _>("degrees")?),
            professional_url: r.try_get("professional_url")?,
            institution_name: r.try_get("display_name")?,
            role: Role::from_code(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown role '{role}'")))?,
            role_other: r.try_get("role_other")?,
            research_background: r.try_get("research_background")?,
        }))
    }

    /// Saves a profile edit in one transaction: compares it with the stored profile, writes
    /// the changed fields and one `profile.updated` audit row naming the changed sections (only
    /// when something changed), and records the yearly profile confirmation either way (the
    /// user has just looked at every field). Returns the changed sections, in form order.
    pub async fn update_profile(&self, u: &ProfileUpdate<'_>) -> Result<Vec<ProfileSection>> {
        let e = u.edit;
        let mut tx = self.begin().await?;
        self.lock(&mut tx, LockKey::Profile(u.user_id)).await?;
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(u.user_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let before = user_from_row(&row)?.profile_edit();
        let changes = e.changes(&before);
        if !changes.is_empty() {
            let demographics = serde_json::to_string(&e.demographics)
                .map_err(|err| StoreError::Corrupt(err.to_string()))?;
            sqlx::query(
                "UPDATE users SET role = $2, role_other = $3, given_name = $4, family_name = $5, \
                 degrees = $6, professional_url = $7, research_background = $8, street1 = $9, \
                 street2 = $10, city = $11, state = $12, zip = $13, country = $14, \
                 demographics_json = $15 WHERE id = $1",
            )
            .bind(u.user_id)
            .bind(e.role.code())
            .bind(e.role_other.as_deref())
            .bind(&e.given_name)
            .bind(&e.family_name)
            .bind(degrees_to_text(&e.degrees))
            .bind(e.professional_url.as_deref())
            .bind(&e.research_background)
            .bind(&e.address.street1)
            .bind(e.address.street2.as_deref())
            .bind(&e.address.city)
            .bind(&e.address.state)
            .bind(&e.address.zip)
            .bind(&e.address.country)
            .bind(demographics)
            .execute(&mut *tx)
            .await?;
            let detail = changes
                .iter()
                .map(|s| s.code())
                .collect::<Vec<_>>()
                .join(",");
            audit_on(
                &mut tx,
                &AuditEvent {
                    at: u.now,
                    actor_user_id: Some(u.user_id),
                    actor: u.actor,
                    action: "profile.updated",
                    target_user_id: Some(u.user_id),
                    detail: &detail,
                    ip: u.ip,
                },
            )
            .await?;
        }
        self.mark_completed(
            &mut tx,
            u.user_id,
            AccessModule::ProfileConfirmation,
            u.now,
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(changes)
    }

    /// Replaces the password. A temporary one gets an expiry; a chosen one clears it.
    pub async fn set_password(
        &self,
        user_id: i64,
        hash: &str,
        temporary_until: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, password_is_temporary = $3, \
             temporary_password_expires_at = $4, password_changed_at = $5 WHERE id = $1",
        )
        .bind(user_id)
        .bind(hash)
        .bind(i64::from(temporary_until.is_some()))
        .bind(temporary_until)
        .bind(now)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Records the first successful sign-in (later calls keep the first time).
    pub async fn record_sign_in(&self, user_id: i64, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE users SET first_sign_in_at = $2 WHERE id = $1 AND first_sign_in_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn set_disabled(&self, user_id: i64, disabled: bool) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
            .bind(user_id)
            .bind(i64::from(disabled))
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores a reset link's token hash. Earlier unused links of the user stop working.
    pub async fn create_reset_token(
        &self,
        user_id: i64,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE password_reset_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks a reset token without using it up: the user it belongs to, or why it fails.
    pub async fn check_reset_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Result<i64, ResetTokenError>> {
        let row = sqlx::query(
            "SELECT user_id, expires_at, used_at FROM password_reset_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else {
            return Ok(Err(ResetTokenError::Unknown));
        };
        if r.try_get::<Option<i64>, _>("used_at")?.is_some() {
            return Ok(Err(ResetTokenError::Used));
        }
        if r.try_get::<i64, _>("expires_at")? <= now {
            return Ok(Err(ResetTokenError::Expired));
        }
        Ok(Ok(r.try_get("user_id")?))
    }

    /// Uses a reset token and sets the new password atomically; every session of the user
    /// ends. Two concurrent uses: exactly one succeeds.
    pub async fn reset_password_with_token(
        &self,
        token_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<Result<i64, ResetTokenError>> {
        let user_id = match self.check_reset_token(token_hash, now).await? {
            Ok(id) => id,
            Err(e) => return Ok(Err(e)),
        };
        let mut tx = self.begin().await?;
        let used = sqlx::query(
            "UPDATE password_reset_tokens SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(Err(ResetTokenError::Used));
        }
        sqlx::query(
            "UPDATE users SET password_hash = $2, password_is_temporary = 0, \
             temporary_password_expires_at = NULL, password_changed_at = $3 WHERE id = $1",
        )
        .bind(user_id)
        .bind(new_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(user_id))
    }
}
