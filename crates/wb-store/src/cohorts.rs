//! Saved cohorts and the cohort builder's drafts.
//!
//! Every read and write is scoped by workspace: a cohort id of another workspace is simply not
//! found. Saves name the revision they edited and are refused when another save came first;
//! the last count is recorded only if the definition it was taken of is still the saved one.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{AuditEvent, LockKey, Result, Store, StoreError, audit_on, on_unique};

/// A saved cohort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CohortRecord {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub description: String,
    /// The definition's JSON.
    pub definition: String,
    pub definition_hash: String,
    pub revision: i64,
    /// The last count, exact (pages show it through the dissemination rule), with the hash and
    /// dataset version it was taken on.
    pub count_total: Option<i64>,
    pub count_hash: Option<String>,
    pub count_cdr_version_id: Option<i64>,
    pub counted_at: Option<i64>,
    pub created_by: i64,
    pub created_at: i64,
    pub updated_by: i64,
    pub updated_at: i64,
}

impl CohortRecord {
    /// Whether the recorded count is of the saved definition on `cdr_version_id`.
    pub fn count_is_current(&self, cdr_version_id: i64) -> bool {
        self.count_total.is_some()
            && self.count_hash.as_deref() == Some(self.definition_hash.as_str())
            && self.count_cdr_version_id == Some(cdr_version_id)
    }
}

/// What a save writes.
#[derive(Debug, Clone, Copy)]
pub struct CohortWrite<'a> {
    pub workspace_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub definition: &'a str,
    pub definition_hash: &'a str,
    pub user_id: i64,
    /// For the audit trail: "user:<name>".
    pub actor: &'a str,
    pub now: i64,
}

/// The outcome of [`Store::update_cohort`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CohortUpdate {
    Saved(Box<CohortRecord>),
    /// Someone saved the cohort since `revision`: nothing was written.
    Stale {
        current: Box<CohortRecord>,
    },
}

fn cohort_from_row(r: &AnyRow) -> Result<CohortRecord> {
    Ok(CohortRecord {
        id: r.try_get("id")?,
        workspace_id: r.try_get("workspace_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        definition: r.try_get("definition")?,
        definition_hash: r.try_get("definition_hash")?,
        revision: r.try_get("revision")?,
        count_total: r.try_get("count_total")?,
        count_hash: r.try_get("count_hash")?,
        count_cdr_version_id: r.try_get("count_cdr_version_id")?,
        counted_at: r.try_get("counted_at")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_by: r.try_get("updated_by")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "id, workspace_id, name, description, definition, definition_hash, \
     revision, count_total, count_hash, count_cdr_version_id, counted_at, created_by, \
     created_at, updated_by, updated_at";

/// Names are unique per workspace ignoring case.
fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Appends a cohort's audit row in the transaction that changed it.
async fn audit(
    tx: &mut crate::Tx<'_>,
    at: i64,
    user_id: i64,
    actor: &str,
    action: &str,
    id: i64,
    name: &str,
) -> Result<()> {
    let detail = serde_json::json!({ "cohort_id": id, "name": name }).to_string();
    audit_on(
        tx,
        &AuditEvent {
            at,
            actor_user_id: Some(user_id),
            actor,
            action,
            target_user_id: None,
            detail: &detail,
            ip: None,
        },
    )
    .await
}

impl Store {
    /// Saves a new cohort; `Conflict("name")` when the workspace has one of that name.
    pub async fn create_cohort(&self, w: &CohortWrite<'_>) -> Result<CohortRecord> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO cohorts (workspace_id, name, name_key, description, definition, \
             definition_hash, revision, created_by, created_at, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $7, $8) RETURNING {COLUMNS}"
        ))
        .bind(w.workspace_id)
        .bind(w.name.trim())
        .bind(name_key(w.name))
        .bind(w.description)
        .bind(w.definition)
        .bind(w.definition_hash)
        .bind(w.user_id)
        .bind(w.now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, &["name"]))?;
        let c = cohort_from_row(&row)?;
        sqlx::query(
            "DELETE FROM cohort_drafts WHERE workspace_id = $1 AND user_id = $2 AND draft_key = 'new'",
        )
        .bind(w.workspace_id)
        .bind(w.user_id)
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            w.now,
            w.user_id,
            w.actor,
            "cohort.created",
            c.id,
            &c.name,
        )
        .await?;
        tx.commit().await?;
        Ok(c)
    }

    /// The workspace's cohorts, by name.
    pub async fn cohorts(&self, workspace_id: i64) -> Result<Vec<CohortRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cohorts WHERE workspace_id = $1 ORDER BY name_key, id"
        ))
        .bind(workspace_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(cohort_from_row).collect()
    }

    /// One cohort of this workspace (another workspace's id: `None`).
    pub async fn cohort(&self, workspace_id: i64, id: i64) -> Result<Option<CohortRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM cohorts WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(cohort_from_row).transpose()
    }

    /// Saves a cohort over `revision`: one conditional UPDATE, so of two saves of the same
    /// revision exactly one wins and the other gets [`CohortUpdate::Stale`].
    pub async fn update_cohort(
        &self,
        id: i64,
        revision: i64,
        w: &CohortWrite<'_>,
    ) -> Result<CohortUpdate> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "UPDATE cohorts SET name = $1, name_key = $2, description = $3, definition = $4, \
             definition_hash = $5, revision = revision + 1, updated_by = $6, updated_at = $7 \
             WHERE workspace_id = $8 AND id = $9 AND revision = $10 RETURNING {COLUMNS}"
        ))
        .bind(w.name.trim())
        .bind(name_key(w.name))
        .bind(w.description)
        .bind(w.definition)
        .bind(w.definition_hash)
        .bind(w.user_id)
        .bind(w.now)
        .bind(w.workspace_id)
        .bind(id)
        .bind(revision)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| on_unique(e, &["name"]))?;
        let Some(row) = row else {
            drop(tx);
            return match self.cohort(w.workspace_id, id).await? {
                Some(current) => Ok(CohortUpdate::Stale {
                    current: Box::new(current),
                }),
                None => Err(StoreError::NotFound),
            };
        };
        let c = cohort_from_row(&row)?;
        sqlx::query(
            "DELETE FROM cohort_drafts WHERE workspace_id = $1 AND user_id = $2 AND draft_key = $3",
        )
        .bind(w.workspace_id)
        .bind(w.user_id)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            w.now,
            w.user_id,
            w.actor,
            "cohort.updated",
            c.id,
            &c.name,
        )
        .await?;
        tx.commit().await?;
        Ok(CohortUpdate::Saved(Box::new(c)))
    }

    /// Deletes a cohort of this workspace and every draft of it; false when there was none.
    pub async fn delete_cohort(
        &self,
        workspace_id: i64,
        id: i64,
        user_id: i64,
        actor: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let row =
            sqlx::query("DELETE FROM cohorts WHERE workspace_id = $1 AND id = $2 RETURNING name")
                .bind(workspace_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let name: String = row.try_get(0)?;
        sqlx::query("DELETE FROM cohort_drafts WHERE workspace_id = $1 AND draft_key = $2")
            .bind(workspace_id)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, now, user_id, actor, "cohort.deleted", id, &name).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a count of the cohort, only if `definition_hash` is still its saved one (a count
    /// of a definition since replaced is dropped); true when recorded.
    pub async fn record_cohort_count(
        &self,
        workspace_id: i64,
        id: i64,
        definition_hash: &str,
        cdr_version_id: i64,
        total: i64,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE cohorts SET count_total = $1, count_hash = $2, count_cdr_version_id = $3, \
             counted_at = $4 WHERE workspace_id = $5 AND id = $6 AND definition_hash = $2",
        )
        .bind(total)
        .bind(definition_hash)
        .bind(cdr_version_id)
        .bind(now)
        .bind(workspace_id)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Keeps the builder's work in progress (`cohort_id` `None`: a cohort not saved yet): one
    /// upsert, so parallel autosaves leave one draft, the last written.
    pub async fn save_cohort_draft(
        &self,
        workspace_id: i64,
        user_id: i64,
        cohort_id: Option<i64>,
        definition: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO cohort_drafts (workspace_id, user_id, draft_key, definition, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, user_id, draft_key) \
             DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
        )
        .bind(workspace_id)
        .bind(user_id)
        .bind(draft_key(cohort_id))
        .bind(definition)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One edit of the user's draft, read, changed and written in one transaction that holds
    /// the user's draft lock, so parallel edits (two tabs, a double click) each apply to what
    /// the one before wrote and none is lost. `f` gets the draft (`None`: there is none) and
    /// says what to write.
    pub async fn edit_cohort_draft<T>(
        &self,
        workspace_id: i64,
        user_id: i64,
        cohort_id: Option<i64>,
        now: i64,
        f: impl FnOnce(Option<String>) -> (DraftWrite, T),
    ) -> Result<T> {
        let mut tx = self.begin().await?;
        self.lock(&mut tx, LockKey::CohortDrafts(user_id)).await?;
        let key = draft_key(cohort_id);
        let current: Option<String> = sqlx::query(
            "SELECT definition FROM cohort_drafts \
             WHERE workspace_id = $1 AND user_id = $2 AND draft_key = $3",
        )
        .bind(workspace_id)
        .bind(user_id)
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        let (write, out) = f(current);
        match write {
            DraftWrite::Save(text) => {
                sqlx::query(
                    "INSERT INTO cohort_drafts (workspace_id, user_id, draft_key, definition, \
                     updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (workspace_id, user_id, draft_key) \
                     DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at",
                )
                .bind(workspace_id)
                .bind(user_id)
                .bind(&key)
                .bind(text)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            DraftWrite::Discard => {
                sqlx::query(
                    "DELETE FROM cohort_drafts \
                     WHERE workspace_id = $1 AND user_id = $2 AND draft_key = $3",
                )
                .bind(workspace_id)
                .bind(user_id)
                .bind(&key)
                .execute(&mut *tx)
                .await?;
            }
            DraftWrite::Nothing => {}
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The user's draft and when it was written.
    pub async fn cohort_draft(
        &self,
        workspace_id: i64,
        user_id: i64,
        cohort_id: Option<i64>,
    ) -> Result<Option<(String, i64)>> {
        let row = sqlx::query(
            "SELECT definition, updated_at FROM cohort_drafts \
             WHERE workspace_id = $1 AND user_id = $2 AND draft_key = $3",
        )
        .bind(workspace_id)
        .bind(user_id)
        .bind(draft_key(cohort_id))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Drops the user's draft ("Discard changes"); true when there was one.
    pub async fn discard_cohort_draft(
        &self,
        workspace_id: i64,
        user_id: i64,
        cohort_id: Option<i64>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM cohort_drafts WHERE workspace_id = $1 AND user_id = $2 AND draft_key = $3",
        )
        .bind(workspace_id)
        .bind(user_id)
        .bind(draft_key(cohort_id))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// What [`Store::edit_cohort_draft`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftWrite {
    Save(String),
    /// The draft is the saved cohort again: there is nothing unsaved.
    Discard,
    Nothing,
}

fn draft_key(cohort_id: Option<i64>) -> String {
    cohort_id.map_or_else(|| "new".to_owned(), |id| id.to_string())
}
