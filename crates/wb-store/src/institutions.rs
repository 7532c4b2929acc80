//! Institutions, their per-tier agreements, and requests to add an institution.

use sqlx::Row;
use sqlx::any::AnyRow;
use wb_domain::{
    AccessTier, AgreementType, Institution, MembershipRequirement, OrganizationType,
    TierRequirement,
};

use crate::{Result, Store, StoreError};

/// A "Don't see your institution listed?" request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstitutionRequest {
    pub id: i64,
    pub institution_name: String,
    pub contact_name: String,
    pub contact_email: String,
    pub website: Option<String>,
    pub reason: String,
    pub status: String,
    pub created_at: i64,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("unknown {what} '{value}'"))
}

impl Store {
    /// Creates the institution, or replaces every field and tier list of an existing one.
    pub async fn upsert_institution(&self, inst: &Institution, now: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM institutions WHERE short_name = $1")
            .bind(&inst.short_name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if exists {
            sqlx::query(
                "UPDATE institutions SET display_name = $2, organization_type = $3, \
                 organization_type_other = $4, agreement_type = $5, request_access_url = $6, \
                 updated_at = $7 WHERE short_name = $1",
            )
        } else {
            sqlx::query(
                "INSERT INTO institutions (short_name, display_name, organization_type, \
                 organization_type_other, agreement_type, request_access_url, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
        }
        .bind(&inst.short_name)
        .bind(&inst.display_name)
        .bind(inst.organization_type.code())
        .bind(inst.organization_type_other.as_deref())
        .bind(inst.agreement_type.code())
        .bind(inst.request_access_url.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM institution_tier_emails WHERE institution = $1")
            .bind(&inst.short_name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM institution_tiers WHERE institution = $1")
            .bind(&inst.short_name)
            .execute(&mut *tx)
            .await?;
        for t in &inst.tiers {
            sqlx::query(
                "INSERT INTO institution_tiers (institution, tier, requirement) VALUES ($1, $2, $3)",
            )
            .bind(&inst.short_name)
            .bind(t.tier.code())
            .bind(t.requirement.code())
            .execute(&mut *tx)
            .await?;
            let values = t
                .email_domains
                .iter()
                .map(|d| ("domain", d))
                .chain(t.email_addresses.iter().map(|a| ("address", a)));
            for (kind, value) in values {
                sqlx::query(
                    "INSERT INTO institution_tier_emails (institution, tier, kind, value) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&inst.short_name)
                .bind(t.tier.code())
                .bind(kind)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    fn institution_from_row(row: &AnyRow) -> Result<Institution> {
        let org: String = row.try_get("organization_type")?;
        let agreement: String = row.try_get("agreement_type")?;
        Ok(Institution {
            short_name: row.try_get("short_name")?,
            display_name: row.try_get("display_name")?,
            organization_type: OrganizationType::from_code(&org)
                .ok_or_else(|| corrupt("organization type", &org))?,
            organization_type_other: row.try_get("organization_type_other")?,
            agreement_type: AgreementType::from_code(&agreement)
                .ok_or_else(|| corrupt("agreement type", &agreement))?,
            tiers: Vec::new(),
            request_access_url: row.try_get("request_access_url")?,
        })
    }

    async fn load_tiers(&self, inst: &mut Institution) -> Result<()> {
        let tiers = sqlx::query(
            "SELECT tier, requirement FROM institution_tiers WHERE institution = $1 ORDER BY tier",
        )
        .bind(&inst.short_name)
        .fetch_all(self.pool())
        .await?;
        let emails = sqlx::query(
            "SELECT tier, kind, value FROM institution_tier_emails WHERE institution = $1 \
             ORDER BY value",
        )
        .bind(&inst.short_name)
        .fetch_all(self.pool())
        .await?;
        for row in tiers {
            let tier_code: String = row.try_get("tier")?;
            let req: String = row.try_get("requirement")?;
            let tier =
                AccessTier::from_code(&tier_code).ok_or_else(|| corrupt("tier", &tier_code))?;
            let requirement = MembershipRequirement::from_code(&req)
                .ok_or_else(|| corrupt("membership requirement", &req))?;
            let mut domains = Vec::new();
            let mut addresses = Vec::new();
            for e in &emails {
                if e.try_get::<String, _>("tier")? != tier_code {
                    continue;
                }
                let value: String = e.try_get("value")?;
                match e.try_get::<String, _>("kind")?.as_str() {
                    "domain" => domains.push(value),
                    _ => addresses.push(value),
                }
            }
            inst.tiers
                .push(TierRequirement::new(tier, requirement, domains, addresses));
        }
        inst.tiers.sort_by_key(|t| t.tier);
        Ok(())
    }

    pub async fn institution(&self, short_name: &str) -> Result<Option<Institution>> {
        let row = sqlx::query("SELECT * FROM institutions WHERE short_name = $1")
            .bind(short_name)
            .fetch_optional(self.pool())
            .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let mut inst = Self::institution_from_row(&row)?;
                self.load_tiers(&mut inst).await?;
                Ok(Some(inst))
            }
        }
    }

    /// Every institution, by display name.
    pub async fn institutions(&self) -> Result<Vec<Institution>> {
        let rows = sqlx::query("SELECT * FROM institutions ORDER BY display_name")
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut inst = Self::institution_from_row(row)?;
            self.load_tiers(&mut inst).await?;
            out.push(inst);
        }
        Ok(out)
    }

    /// Deletes an institution that no user belongs to.
    pub async fn delete_institution(&self, short_name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let members: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE institution = $1")
            .bind(short_name)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if members > 0 {
            return Err(StoreError::Refused(format!(
                "{members} user(s) belong to '{short_name}'; it cannot be deleted"
            )));
        }
        sqlx::query("DELETE FROM institution_tier_emails WHERE institution = $1")
            .bind(short_name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM institution_tiers WHERE institution = $1")
            .bind(short_name)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM institutions WHERE short_name = $1")
            .bind(short_name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn create_institution_request(
        &self,
        institution_name: &str,
        contact_name: &str,
        contact_email: &str,
        website: Option<&str>,
        reason: &str,
        now: i64,
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO institution_requests (institution_name, contact_name, contact_email, \
             website, reason, status, created_at) VALUES ($1, $2, $3, $4, $5, 'open', $6) \
             RETURNING id",
        )
        .bind(institution_name)
        .bind(contact_name)
        .bind(contact_email)
        .bind(website)
        .bind(reason)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get(0)?)
    }

    pub async fn institution_requests(&self) -> Result<Vec<InstitutionRequest>> {
        let rows = sqlx::query("SELECT * FROM institution_requests ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(InstitutionRequest {
                    id: r.try_get("id")?,
                    institution_name: r.try_get("institution_name")?,
                    contact_name: r.try_get("contact_name")?,
                    contact_email: r.try_get("contact_email")?,
                    website: r.try_get("website")?,
                    reason: r.try_get("reason")?,
                    status: r.try_get("status")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
