//! Dataset (CDR) versions, billing accounts, the initial-credits ledger, workspaces, their
//! members and review requests.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{AuditEvent, LockKey, Result, Store, StoreError, on_unique};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrVersion {
    pub id: i64,
    pub name: String,
    /// `registered` or `controlled`.
    pub tier: String,
    pub is_default: bool,
    pub data_dir: Option<String>,
    pub created_at: i64,
}

/// One ledger row. `kind`: `initial_grant`, `grant`, `charge` or `refund`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub id: i64,
    pub kind: String,
    pub cents: i64,
    pub at: i64,
    pub workspace_id: Option<i64>,
    pub note: String,
}

impl LedgerRow {
    /// The row as the domain's ledger entry (the one-time initial grant is a grant).
    pub fn entry(&self) -> Option<wb_domain::credits::LedgerEntry> {
        use wb_domain::credits::EntryKind;
        let kind = match self.kind.as_str() {
            "initial_grant" => EntryKind::Grant,
            k => EntryKind::from_code(k)?,
        };
        Some(wb_domain::credits::LedgerEntry {
            kind,
            cents: self.cents,
            at: self.at,
            workspace: self.workspace_id,
            note: self.note.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRecord {
    pub id: i64,
    pub namespace: String,
    pub name: String,
    pub creator_user_id: i64,
    pub tier: String,
    pub cdr_version_id: i64,
    pub billing_account_id: Option<i64>,
    /// The research use statement as JSON (the domain's `ResearchPurpose`).
    pub research_purpose: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

/// What the public directory lists for a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRow {
    pub workspace: WorkspaceRecord,
    pub creator_name: String,
    pub creator_username: String,
    pub institution_name: String,
}

/// A ledger entry to append.
#[derive(Debug, Clone, Copy)]
pub struct NewLedgerEntry<'a> {
    pub user_id: i64,
    /// `grant`, `charge` or `refund`.
    pub kind: &'a str,
    pub cents: i64,
    pub at: i64,
    pub workspace_id: Option<i64>,
    pub note: &'a str,
}

/// A workspace to create; its creator becomes its owner.
#[derive(Debug, Clone, Copy)]
pub struct NewWorkspace<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub creator_user_id: i64,
    pub tier: &'a str,
    pub cdr_version_id: i64,
    pub billing_account_id: Option<i64>,
    pub research_purpose: &'a str,
    pub review_requested: bool,
    /// `Some(cents)`: the workspace spends its creator's initial credits, which are granted
    /// now (in the same transaction) if they never were.
    pub initial_credits_cents: Option<i64>,
    pub now: i64,
}

/// One write of [`Store::change_members`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberWrite {
    pub user_id: i64,
    /// The role before (for the caller's report; `None`: an addition).
    pub before: Option<String>,
    /// The new role code; `None` removes the member.
    pub role: Option<String>,
    pub audit_detail: String,
}

async fn write_member(
    conn: &mut sqlx::AnyConnection,
    workspace_id: i64,
    user_id: i64,
    role: Option<&str>,
    now: i64,
) -> Result<()> {
    match role {
        None => {
            sqlx::query("DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2")
                .bind(workspace_id)
                .bind(user_id)
                .execute(conn)
                .await?;
        }
        Some(role) => {
            sqlx::query(
                "INSERT INTO workspace_members (workspace_id, user_id, role, added_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
            )
            .bind(workspace_id)
            .bind(user_id)
            .bind(role)
            .bind(now)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// Inserts the one-time initial grant unless it exists; `true` when this call inserted it.
async fn initial_grant_on(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    cents: i64,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO credit_ledger (user_id, kind, cents, at, note) \
         VALUES ($1, 'initial_grant', $2, $3, 'Initial credits') ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(cents)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn cdr_from_row(r: &AnyRow) -> Result<CdrVersion> {
    Ok(CdrVersion {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        tier: r.try_get("tier")?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
        data_dir: r.try_get("data_dir")?,
        created_at: r.try_get("created_at")?,
    })
}

fn ledger_from_row(r: &AnyRow) -> Result<LedgerRow> {
    Ok(LedgerRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        cents: r.try_get("cents")?,
        at: r.try_get("at")?,
        workspace_id: r.try_get("workspace_id")?,
        note: r.try_get("note")?,
    })
}

fn workspace_from_row(r: &AnyRow) -> Result<WorkspaceRecord> {
    Ok(WorkspaceRecord {
        id: r.try_get("id")?,
        namespace: r.try_get("namespace")?,
        name: r.try_get("name")?,
        creator_user_id: r.try_get("creator_user_id")?,
        tier: r.try_get("tier")?,
        cdr_version_id: r.try_get("cdr_version_id")?,
        billing_account_id: r.try_get("billing_account_id")?,
        research_purpose: r.try_get("research_purpose")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        deleted_at: r.try_get("deleted_at")?,
    })
}

const WS_COLUMNS: &str = "w.id, w.namespace, w.name, w.creator_user_id, w.tier, w.cdr_version_id, \
     w.billing_account_id, w.research_purpose, w.created_at, w.updated_at, w.deleted_at";

impl Store {
    /// Registers a dataset version for a tier. A new default replaces the tier's old default.
    pub async fn register_cdr_version(
        &self,
        name: &str,
        tier: &str,
        is_default: bool,
        data_dir: Option<&str>,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.begin().await?;
        if is_default {
            sqlx::query("UPDATE cdr_versions SET is_default = 0 WHERE tier = $1")
                .bind(tier)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(
            "INSERT INTO cdr_versions (name, tier, is_default, data_dir, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(tier)
        .bind(i64::from(is_default))
        .bind(data_dir)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, &["name"]))?;
        tx.commit().await?;
        Ok(row.try_get(0)?)
    }

    /// The live dataset versions of a tier: the default first, then newest first.
    pub async fn cdr_versions(&self, tier: &str) -> Result<Vec<CdrVersion>> {
        let rows = sqlx::query(
            "SELECT * FROM cdr_versions WHERE tier = $1 AND archived = 0 \
             ORDER BY is_default DESC, created_at DESC, id DESC",
        )
        .bind(tier)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(cdr_from_row).collect()
    }

    /// Points a dataset version that has no data yet at `data_dir`; `false` (nothing written)
    /// when it already has one, so a registered directory is never replaced.
    pub async fn attach_cdr_data(&self, id: i64, data_dir: &str) -> Result<bool> {
        let r =
            sqlx::query("UPDATE cdr_versions SET data_dir = $2 WHERE id = $1 AND data_dir IS NULL")
                .bind(id)
                .bind(data_dir)
                .execute(self.pool())
                .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn cdr_version(&self, id: i64) -> Result<Option<CdrVersion>> {
        sqlx::query("SELECT * FROM cdr_versions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(cdr_from_row)
            .transpose()
    }

    /// Grants the initial credits once per user; `false` when they were granted before.
    pub async fn ensure_initial_credits(&self, user_id: i64, cents: i64, now: i64) -> Result<bool> {
        let mut conn = self.pool().acquire().await?;
        initial_grant_on(&mut conn, user_id, cents, now).await
    }

    /// Whether the user's one-time initial credits are in the ledger.
    pub async fn has_initial_credits(&self, user_id: i64) -> Result<bool> {
        Ok(
            sqlx::query(
                "SELECT 1 FROM credit_ledger WHERE user_id = $1 AND kind = 'initial_grant'",
            )
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?
            .is_some(),
        )
    }

    /// A user's ledger, oldest first.
    pub async fn ledger(&self, user_id: i64) -> Result<Vec<LedgerRow>> {
        let rows = sqlx::query(
            "SELECT id, kind, cents, at, workspace_id, note FROM credit_ledger \
             WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(ledger_from_row).collect()
    }

    /// Appends a ledger entry after `check` approves it against the entries already there,
    /// in one transaction (two concurrent charges cannot both spend the same balance: the
    /// second sees the first).
    pub async fn append_ledger(
        &self,
        e: &NewLedgerEntry<'_>,
        check: impl FnOnce(&[LedgerRow]) -> std::result::Result<(), String>,
    ) -> Result<i64> {
        let user_id = e.user_id;
        let mut tx = self.begin().await?;
        self.lock(&mut tx, LockKey::Ledger(user_id)).await?;
        let rows = sqlx::query(
            "SELECT id, kind, cents, at, workspace_id, note FROM credit_ledger \
             WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        let existing: Vec<LedgerRow> = rows.iter().map(ledger_from_row).collect::<Result<_>>()?;
        check(&existing).map_err(StoreError::Refused)?;
        let row = sqlx::query(
            "INSERT INTO credit_ledger (user_id, kind, cents, at, workspace_id, note) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(e.kind)
        .bind(e.cents)
        .bind(e.at)
        .bind(e.workspace_id)
        .bind(e.note)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.try_get(0)?)
    }

    /// Creates a workspace with its creator as owner (and a review request when asked for).
    /// A live workspace of the same creator with the same name gives `Conflict("name")`.
    pub async fn create_workspace(&self, w: &NewWorkspace<'_>) -> Result<i64> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO workspaces (namespace, name, creator_user_id, tier, cdr_version_id, \
             billing_account_id, research_purpose, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(w.namespace)
        .bind(w.name)
        .bind(w.creator_user_id)
        .bind(w.tier)
        .bind(w.cdr_version_id)
        .bind(w.billing_account_id)
        .bind(w.research_purpose)
        .bind(w.now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| on_unique(e, &["namespace", "name"]))?;
        let id: i64 = row.try_get(0)?;
        sqlx::query(
            "INSERT INTO workspace_members (workspace_id, user_id, role, added_at) \
             VALUES ($1, $2, 'owner', $3)",
        )
        .bind(id)
        .bind(w.creator_user_id)
        .bind(w.now)
        .execute(&mut *tx)
        .await?;
        if w.review_requested {
            sqlx::query(
                "INSERT INTO review_requests (workspace_id, requested_at, status) \
                 VALUES ($1, $2, 'open')",
            )
            .bind(id)
            .bind(w.now)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(cents) = w.initial_credits_cents {
            initial_grant_on(&mut tx, w.creator_user_id, cents, w.now).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn workspace(&self, id: i64) -> Result<Option<WorkspaceRecord>> {
        sqlx::query(&format!(
            "SELECT {WS_COLUMNS} FROM workspaces w WHERE w.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(workspace_from_row)
        .transpose()
    }

    /// A live workspace by namespace.
    pub async fn workspace_by_namespace(&self, namespace: &str) -> Result<Option<WorkspaceRecord>> {
        sqlx::query(&format!(
            "SELECT {WS_COLUMNS} FROM workspaces w WHERE w.namespace = $1 AND w.deleted_at IS NULL"
        ))
        .bind(namespace)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(workspace_from_row)
        .transpose()
    }

    /// The live workspaces a user is a member of, with their role, newest first.
    pub async fn workspaces_of(&self, user_id: i64) -> Result<Vec<(WorkspaceRecord, String)>> {
        let rows = sqlx::query(&format!(
            "SELECT {WS_COLUMNS}, m.role FROM workspaces w \
             JOIN workspace_members m ON m.workspace_id = w.id \
             WHERE m.user_id = $1 AND w.deleted_at IS NULL ORDER BY w.created_at DESC, w.id DESC"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((workspace_from_row(r)?, r.try_get("role")?)))
            .collect()
    }

    /// The members of a workspace and their roles.
    pub async fn workspace_members(&self, workspace_id: i64) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT user_id, role FROM workspace_members WHERE workspace_id = $1 ORDER BY added_at, user_id",
        )
        .bind(workspace_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Sets a member's role (`None` removes them), with no rules: for administrators and
    /// tests. The share dialog goes through [`Store::change_members`].
    pub async fn set_workspace_role(
        &self,
        workspace_id: i64,
        user_id: i64,
        role: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        write_member(&mut tx, workspace_id, user_id, role, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies one "Save" of the share dialog as one transaction, serialised per workspace:
    /// `plan` gets the members as they are inside the transaction (user id, role code) and
    /// returns the writes to make (user id, new role code or `None` to remove, audit detail)
    /// or refuses. Each write gets an audit row (`audit` with the member as target) in the
    /// same transaction. Two owners demoting each other at once cannot both succeed: the
    /// second plan sees the first one's change.
    pub async fn change_members<E>(
        &self,
        workspace_id: i64,
        now: i64,
        audit: &AuditEvent<'_>,
        plan: impl FnOnce(&[(i64, String)]) -> std::result::Result<Vec<MemberWrite>, E>,
    ) -> Result<std::result::Result<Vec<MemberWrite>, E>> {
        let mut tx = self.begin().await?;
        self.lock(&mut tx, LockKey::Workspace(workspace_id)).await?;
        let rows = sqlx::query(
            "SELECT user_id, role FROM workspace_members WHERE workspace_id = $1 \
             ORDER BY added_at, user_id",
        )
        .bind(workspace_id)
        .fetch_all(&mut *tx)
        .await?;
        let members: Vec<(i64, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_>>()?;
        let writes = match plan(&members) {
            Ok(w) => w,
            Err(e) => return Ok(Err(e)),
        };
        for w in &writes {
            write_member(&mut tx, workspace_id, w.user_id, w.role.as_deref(), now).await?;
            crate::audit_on(
                &mut tx,
                &AuditEvent {
                    target_user_id: Some(w.user_id),
                    detail: &w.audit_detail,
                    ..*audit
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(writes))
    }

    pub async fn update_research_purpose(
        &self,
        workspace_id: i64,
        json: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE workspaces SET research_purpose = $2, updated_at = $3 WHERE id = $1")
            .bind(workspace_id)
            .bind(json)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Soft-deletes a workspace (its data stays for audit; it disappears from every list).
    pub async fn delete_workspace(&self, workspace_id: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE workspaces SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL")
            .bind(workspace_id)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Every live workspace with its creator and institution, for the public directory.
    pub async fn directory(&self) -> Result<Vec<DirectoryRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {WS_COLUMNS}, u.given_name, u.family_name, u.username, i.display_name \
             FROM workspaces w JOIN users u ON u.id = w.creator_user_id \
             JOIN institutions i ON i.short_name = u.institution \
             WHERE w.deleted_at IS NULL ORDER BY w.created_at DESC, w.id DESC"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DirectoryRow {
                    workspace: workspace_from_row(r)?,
                    creator_name: format!(
                        "{} {}",
                        r.try_get::<String, _>("given_name")?,
                        r.try_get::<String, _>("family_name")?
                    ),
                    creator_username: r.try_get("username")?,
                    institution_name: r.try_get("display_name")?,
                })
            })
            .collect()
    }

    /// Queues a review request for a workspace unless one is already open.
    pub async fn request_review(&self, workspace_id: i64, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        self.lock(&mut tx, LockKey::Workspace(workspace_id)).await?;
        let open = sqlx::query(
            "SELECT 1 FROM review_requests WHERE workspace_id = $1 AND status = 'open'",
        )
        .bind(workspace_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !open {
            sqlx::query(
                "INSERT INTO review_requests (workspace_id, requested_at, status) \
                 VALUES ($1, $2, 'open')",
            )
            .bind(workspace_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(!open)
    }

    /// Open review requests: (request id, workspace id, requested at).
    pub async fn open_review_requests(&self) -> Result<Vec<(i64, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT id, workspace_id, requested_at FROM review_requests WHERE status = 'open' ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }
}
