//! "SHARE": owners find collaborators by name or username as they type, give them a role
//! (Reader, Writer, Owner) or remove them, and "Save". Only people who hold the workspace's
//! tier now can be added; others are listed with the reason. The last owner cannot be removed
//! or demoted. New collaborators get an e-mail.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use wb_domain::AccessTier;
use wb_domain::workspace::{self, WorkspaceAction, WorkspaceRole};
use wb_store::UserRecord;

use super::workspaces::{Opened, open_workspace};
use super::{Layout, ok, page};
use crate::error::WebResult;
use crate::guard::{Session, SignedIn};
use crate::registration;
use crate::state::AppState;

struct MemberRow {
    id: i64,
    name: String,
    account: String,
    role: &'static str,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "workspace_share.html")]
struct SharePage {
    layout: Layout,
    ns: String,
    name: String,
    tier: &'static str,
    members: Vec<MemberRow>,
    roles: &'static [WorkspaceRole],
    errors: Vec<String>,
    saved: bool,
}

async fn share_page(
    state: &AppState,
    s: &Session,
    o: &Opened,
    errors: Vec<String>,
    saved: bool,
) -> WebResult<SharePage> {
    let mut members = Vec::new();
    for (uid, role) in state.store.workspace_members(o.ws.id).await? {
        if let Some(u) = state.store.user_by_id(uid).await? {
            members.push(MemberRow {
                id: uid,
                name: u.full_name(),
                account: account(state, &u),
                role: WorkspaceRole::from_code(&role)
                    .map(|r| r.code())
                    .unwrap_or("reader"),
                is_me: uid == s.user.id,
            });
        }
    }
    Ok(SharePage {
        layout: Layout::new(&format!("Share {}", o.ws.name), &s.ctx, Some(s)),
        ns: o.ws.namespace.clone(),
        name: o.ws.name.clone(),
        tier: o.tier.label(),
        members,
        roles: WorkspaceRole::ALL,
        errors,
        saved,
    })
}

fn account(state: &AppState, u: &UserRecord) -> String {
    format!("{}@{}", u.username, state.config.accounts.username_domain)
}

#[derive(Debug, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn share(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Query(q): Query<SavedQuery>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Share).await?;
    ok(&share_page(&state, &s, &o, Vec::new(), q.saved.is_some()).await?)
}

struct Candidate {
    id: i64,
    name: String,
    account: String,
    eligible: bool,
    reason: String,
}

#[derive(Template)]
#[template(path = "workspace_share_search.html")]
struct SearchFragment {
    candidates: Vec<Candidate>,
    roles: &'static [WorkspaceRole],
    term: String,
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// Whether `u` holds `tier` now, or why not.
async fn eligibility(
    state: &AppState,
    u: &UserRecord,
    tier: AccessTier,
) -> WebResult<Result<(), String>> {
    let a = registration::load(state, u).await?;
    Ok(if a.has_tier(tier) {
        Ok(())
    } else {
        Err(format!(
            "Cannot be added: does not hold {} access{}.",
            tier.label(),
            if a.missing_for(tier).is_empty() {
                ""
            } else {
                " (registration not complete or expired)"
            }
        ))
    })
}

/// "Find collaborators": matches by name or username as the owner types.
pub async fn search(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Query(q): Query<SearchQuery>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Share).await?;
    let term = q.q.trim().to_owned();
    let members = state.store.workspace_members(o.ws.id).await?;
    let mut candidates = Vec::new();
    if term.chars().count() >= 2 {
        for u in state.store.search_users(&term, 10).await? {
            if members.iter().any(|(m, _)| *m == u.id) {
                continue;
            }
            let e = eligibility(&state, &u, o.tier).await?;
            candidates.push(Candidate {
                id: u.id,
                name: u.full_name(),
                account: account(&state, &u),
                eligible: e.is_ok(),
                reason: e.err().unwrap_or_default(),
            });
        }
    }
    Ok(Html(
        SearchFragment {
            candidates,
            roles: WorkspaceRole::ALL,
            term,
        }
        .render()?,
    )
    .into_response())
}

/// "Save": every `role_<user id>` field gives that person's role (`remove` removes them).
/// All changes are checked first; if any is refused, nothing changes.
pub async fn save(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Share).await?;
    let current: Vec<(i64, WorkspaceRole)> = state
        .store
        .workspace_members(o.ws.id)
        .await?
        .into_iter()
        .filter_map(|(u, r)| Some((u, WorkspaceRole::from_code(&r)?)))
        .collect();
    let mut errors = Vec::new();
    let mut changes: Vec<(UserRecord, Option<WorkspaceRole>)> = Vec::new();
    let mut members = current.clone();
    for (k, v) in &form {
        let Some(id) = k.strip_prefix("role_").and_then(|i| i.parse::<i64>().ok()) else {
            continue;
        };
        let new_role = if v == "remove" {
            None
        } else {
            WorkspaceRole::from_code(v)
        };
        if v != "remove" && new_role.is_none() {
            errors.push(format!(
                "'{v}' is not a role: choose Reader, Writer or Owner."
            ));
            continue;
        }
        let before = members.iter().find(|(m, _)| *m == id).map(|(_, r)| *r);
        if before == new_role {
            continue;
        }
        let Some(u) = state.store.user_by_id(id).await?.filter(|u| !u.disabled) else {
            errors.push("One of the people chosen has no active account.".into());
            continue;
        };
        if let Err(e) = workspace::check_role_change(&members, s.user.id, id, new_role) {
            errors.push(format!("{}: {e}", u.full_name()));
            continue;
        }
        if before.is_none()
            && let Err(reason) = eligibility(&state, &u, o.tier).await?
        {
            errors.push(format!("{}: {reason}", u.full_name()));
            continue;
        }
        members.retain(|(m, _)| *m != id);
        if let Some(r) = new_role {
            members.push((id, r));
        }
        changes.push((u, new_role));
    }
    if !errors.is_empty() {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &share_page(&state, &s, &o, errors, false).await?,
        );
    }
    let now = state.now();
    for (u, role) in &changes {
        let was_member = current.iter().any(|(m, _)| *m == u.id);
        state
            .store
            .set_workspace_role(o.ws.id, u.id, role.map(|r| r.code()), now)
            .await?;
        registration::audit_user(
            &state,
            &s.user,
            "workspace.role_changed",
            &format!(
                "{} {} {}",
                o.ws.namespace,
                u.username,
                role.map(|r| r.code()).unwrap_or("removed")
            ),
            &s.ctx.ip,
        )
        .await?;
        if let (false, Some(r)) = (was_member, role) {
            let mail = wb_mail::OutgoingEmail {
                to: u.contact_email.clone(),
                subject: format!("{} shared a workspace with you", s.user.full_name()),
                text: format!(
                    "Hello {},\n\n{} shared the workspace \"{}\" with you as a {}.\nOpen it in the Researcher Workbench:\n{}\n",
                    u.given_name,
                    s.user.full_name(),
                    o.ws.name,
                    r.label(),
                    state.link(&format!("/workspaces/{}", o.ws.namespace))
                ),
                html: None,
            };
            if let Err(e) = state.mailer.send(&mail).await {
                tracing::warn!(error = %e, "sharing notice not sent");
            }
        }
    }
    Ok(Redirect::to(&format!("/workspaces/{}/share?saved=1", o.ws.namespace)).into_response())
}
