//! Billing accounts and training groups.

use sqlx::Row;

use crate::{Result, Store, on_unique};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAccount {
    pub id: i64,
    pub name: String,
    pub owner_user_id: i64,
    pub budget_cents: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingGroup {
    pub id: i64,
    pub name: String,
    pub instructor_user_id: i64,
    pub join_code: String,
    pub created_at: i64,
}

fn account(r: &sqlx::any::AnyRow) -> Result<BillingAccount> {
    Ok(BillingAccount {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        owner_user_id: r.try_get("owner_user_id")?,
        budget_cents: r.try_get("budget_cents")?,
        created_at: r.try_get("created_at")?,
    })
}

fn group(r: &sqlx::any::AnyRow) -> Result<TrainingGroup> {
    Ok(TrainingGroup {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        instructor_user_id: r.try_get("instructor_user_id")?,
        join_code: r.try_get("join_code")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Creates a billing account; its owner is also a member.
    pub async fn create_billing_account(
        &self,
        name: &str,
        owner_user_id: i64,
        budget_cents: Option<i64>,
        members: &[i64],
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO billing_accounts (name, owner_user_id, budget_cents, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(owner_user_id)
        .bind(budget_cents)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, &["name"]))?;
        let id: i64 = row.try_get(0)?;
        let mut all: Vec<i64> = members.to_vec();
        all.push(owner_user_id);
        all.sort_unstable();
        all.dedup();
        for m in all {
            sqlx::query(
                "INSERT INTO billing_account_members (billing_account_id, user_id) VALUES ($1, $2)",
            )
            .bind(id)
            .bind(m)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// The billing accounts a user belongs to, by name.
    pub async fn billing_accounts_of(&self, user_id: i64) -> Result<Vec<BillingAccount>> {
        let rows = sqlx::query(
            "SELECT b.* FROM billing_accounts b JOIN billing_account_members m \
             ON m.billing_account_id = b.id WHERE m.user_id = $1 ORDER BY b.name",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(account).collect()
    }

    pub async fn billing_account(&self, id: i64) -> Result<Option<BillingAccount>> {
        sqlx::query("SELECT * FROM billing_accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(account)
            .transpose()
    }

    /// Points a workspace at a billing account, or back at the creator's initial credits.
    pub async fn set_workspace_billing(
        &self,
        workspace_id: i64,
        account: Option<i64>,
        now: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE workspaces SET billing_account_id = $2, updated_at = $3 WHERE id = $1")
            .bind(workspace_id)
            .bind(account)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn create_training_group(
        &self,
        name: &str,
        instructor_user_id: i64,
        join_code: &str,
        now: i64,
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO training_groups (name, instructor_user_id, join_code, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(instructor_user_id)
        .bind(join_code)
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(|e| on_unique(e, &["join_code"]))?;
        Ok(row.try_get(0)?)
    }

    pub async fn training_group_by_code(&self, code: &str) -> Result<Option<TrainingGroup>> {
        sqlx::query("SELECT * FROM training_groups WHERE join_code = $1")
            .bind(code)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(group)
            .transpose()
    }

    pub async fn training_group(&self, id: i64) -> Result<Option<TrainingGroup>> {
        sqlx::query("SELECT * FROM training_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(group)
            .transpose()
    }

    /// Groups a user teaches.
    pub async fn training_groups_taught(&self, user_id: i64) -> Result<Vec<TrainingGroup>> {
        let rows = sqlx::query(
            "SELECT * FROM training_groups WHERE instructor_user_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(group).collect()
    }

    /// Groups a user has joined.
    pub async fn training_groups_joined(&self, user_id: i64) -> Result<Vec<TrainingGroup>> {
        let rows = sqlx::query(
            "SELECT g.* FROM training_groups g JOIN training_group_members m ON m.group_id = g.id \
             WHERE m.user_id = $1 ORDER BY g.name",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(group).collect()
    }

    /// Adds a member; `false` when they were already in the group.
    pub async fn join_training_group(&self, group_id: i64, user_id: i64, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO training_group_members (group_id, user_id, joined_at) VALUES ($1, $2, $3) \
             ON CONFLICT (group_id, user_id) DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The members of a group with the time they joined.
    pub async fn training_group_members(&self, group_id: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT user_id, joined_at FROM training_group_members WHERE group_id = $1 ORDER BY joined_at, user_id",
        )
        .bind(group_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
