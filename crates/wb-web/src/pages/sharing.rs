//! "SHARE", as the user guide teaches it: type a name in "Find collaborators", click the **+**
//! next to the person (they join the list as Reader, changeable), then **Save**.
//!
//! Nothing changes before Save. Save applies every row of the dialog in one transaction
//! (`Store::change_members`), checked by `wb_domain::workspace::plan_member_changes` against
//! the collaborators as they are inside it: the last owner stays, rows that change nothing are
//! no-ops, and the page then says exactly what changed ("Morgan Lee added as Reader") or
//! "No changes". Only people who hold the workspace's tier now can be added; new collaborators
//! get an e-mail, once.
//!
//! Without script the dialog is one form: "Search" and "+" post it back and it comes back
//! with the results or the added row, everything chosen kept; with htmx the same happen in
//! place.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use wb_domain::AccessTier;
use wb_domain::workspace::{self, WorkspaceAction, WorkspaceRole};
use wb_store::{MemberWrite, UserRecord};

use super::workspaces::{Opened, open_workspace};
use super::{Layout, page};
use crate::error::WebResult;
use crate::guard::{Session, SignedIn};
use crate::registration;
use crate::state::AppState;

const DONE_PURPOSE: &str = "share-done";

/// One person in the dialog's list.
pub struct Row {
    pub id: i64,
    pub name: String,
    pub account: String,
    /// The role chosen in the dialog (the current one unless changed).
    pub role: String,
    pub is_me: bool,
    /// Added with "+", not saved yet.
    pub pending: bool,
}

/// One match of "Find collaborators".
pub struct Candidate {
    pub id: i64,
    pub name: String,
    pub account: String,
    pub eligible: bool,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "workspace_share.html")]
struct SharePage {
    layout: Layout,
    ns: String,
    name: String,
    tier: &'static str,
    rows: Vec<Row>,
    roles: &'static [WorkspaceRole],
    term: String,
    candidates: Vec<Candidate>,
    searched: bool,
    errors: Vec<String>,
    /// What the last Save changed (or "No changes"), or what "+" just did.
    notices: Vec<String>,
}

fn account(state: &AppState, u: &UserRecord) -> String {
    format!("{}@{}", u.username, state.config.accounts.username_domain)
}

/// What the dialog's form says: the search term, the role chosen for each person (`None`:
/// remove), and which button was pressed.
#[derive(Default)]
struct Dialog {
    term: String,
    roles: Vec<(i64, Option<WorkspaceRole>)>,
    add: Option<i64>,
    search: bool,
    bad_roles: Vec<String>,
}

fn parse_dialog(fields: &[(String, String)]) -> Dialog {
    let mut d = Dialog::default();
    for (k, v) in fields {
        match k.as_str() {
            "q" => d.term = v.trim().to_owned(),
            "add" => d.add = v.parse().ok(),
            "search" => d.search = true,
            _ => {
                let Some(id) = k.strip_prefix("role_").and_then(|i| i.parse::<i64>().ok()) else {
                    continue;
                };
                if v == "remove" {
                    d.roles.push((id, None));
                } else if let Some(r) = WorkspaceRole::from_code(v) {
                    d.roles.push((id, Some(r)));
                } else {
                    d.bad_roles.push(format!(
                        "'{v}' is not a role: choose Reader, Writer or Owner."
                    ));
                }
            }
        }
    }
    d
}

async fn members(state: &AppState, o: &Opened) -> WebResult<Vec<(i64, WorkspaceRole)>> {
    Ok(state
        .store
        .workspace_members(o.ws.id)
        .await?
        .into_iter()
        .filter_map(|(u, r)| Some((u, WorkspaceRole::from_code(&r)?)))
        .collect())
}

/// The list as the dialog shows it: the collaborators with the roles chosen in the form, then
/// the people added with "+" (`chosen` may name anyone; unknown or disabled people are left
/// out, Save reports them).
async fn rows(
    state: &AppState,
    s: &Session,
    current: &[(i64, WorkspaceRole)],
    chosen: &[(i64, Option<WorkspaceRole>)],
) -> WebResult<Vec<Row>> {
    let choice = |id: i64| chosen.iter().rev().find(|(i, _)| *i == id).map(|(_, r)| *r);
    let mut out = Vec::new();
    let mut ids: Vec<(i64, bool)> = current.iter().map(|(i, _)| (*i, false)).collect();
    for (id, _) in chosen {
        if !ids.iter().any(|(i, _)| i == id) {
            ids.push((*id, true));
        }
    }
    for (id, pending) in ids {
        let Some(u) = state.store.user_by_id(id).await?.filter(|u| !u.disabled) else {
            continue;
        };
        let now_role = current.iter().find(|(i, _)| *i == id).map(|(_, r)| *r);
        let role = match choice(id) {
            Some(Some(r)) => r.code().to_owned(),
            Some(None) if !pending => "remove".to_owned(),
            // A "+" row set to Remove is simply not added.
            Some(None) => continue,
            None => now_role.map(|r| r.code()).unwrap_or("reader").to_owned(),
        };
        out.push(Row {
            id,
            name: u.full_name(),
            account: account(state, &u),
            role,
            is_me: id == s.user.id,
            pending,
        });
    }
    Ok(out)
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

/// The people matching `term` who are not in the list yet.
async fn candidates(
    state: &AppState,
    o: &Opened,
    term: &str,
    listed: &[i64],
) -> WebResult<Vec<Candidate>> {
    let mut out = Vec::new();
    if term.chars().count() < 2 {
        return Ok(out);
    }
    for u in state.store.search_users(term, 10).await? {
        if listed.contains(&u.id) {
            continue;
        }
        let e = eligibility(state, &u, o.tier).await?;
        out.push(Candidate {
            id: u.id,
            name: u.full_name(),
            account: account(state, &u),
            eligible: e.is_ok(),
            reason: e.err().unwrap_or_default(),
        });
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn share_page(
    s: &Session,
    o: &Opened,
    rows: Vec<Row>,
    term: String,
    candidates: Vec<Candidate>,
    searched: bool,
    errors: Vec<String>,
    notices: Vec<String>,
) -> SharePage {
    SharePage {
        layout: Layout::new(&format!("Share {}", o.ws.name), &s.ctx, Some(s)),
        ns: o.ws.namespace.clone(),
        name: o.ws.name.clone(),
        tier: o.tier.label(),
        rows,
        roles: WorkspaceRole::ALL,
        term,
        candidates,
        searched,
        errors,
        notices,
    }
}

#[derive(Debug, Deserialize)]
pub struct ShareQuery {
    #[serde(default)]
    done: Option<String>,
}

pub async fn share(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Query(q): Query<ShareQuery>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Share).await?;
    let notices: Vec<String> = q
        .done
        .and_then(|d| state.signer.open(DONE_PURPOSE, &d, state.now()))
        .unwrap_or_default();
    let current = members(&state, &o).await?;
    let rows = rows(&state, &s, &current, &[]).await?;
    page(
        StatusCode::OK,
        &share_page(
            &s,
            &o,
            rows,
            String::new(),
            Vec::new(),
            false,
            Vec::new(),
            notices,
        ),
    )
}

#[derive(Template)]
#[template(path = "workspace_share_search.html")]
struct SearchFragment {
    ns: String,
    candidates: Vec<Candidate>,
    term: String,
}

/// "Find collaborators" as the owner types (htmx). The rows already in the dialog come along
/// (`role_<id>`), so people just added with "+" are not offered again.
pub async fn search(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Query(fields): Query<Vec<(String, String)>>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Share).await?;
    let d = parse_dialog(&fields);
    let mut listed: Vec<i64> = members(&state, &o).await?.iter().map(|(i, _)| *i).collect();
    listed.extend(d.roles.iter().map(|(i, _)| *i));
    let candidates = candidates(&state, &o, &d.term, &listed).await?;
    Ok(Html(
        SearchFragment {
            ns: o.ws.namespace.clone(),
            candidates,
            term: d.term,
        }
        .render()?,
    )
    .into_response())
}

#[derive(Template)]
#[template(path = "workspace_share_added.html")]
struct AddedFragment {
    row: Option<Row>,
    candidate_id: i64,
    message: String,
    roles: &'static [WorkspaceRole],
}

#[derive(Debug, Deserialize)]
pub struct AddQuery {
    #[serde(default)]
    user: i64,
}

/// "+" (htmx): the person's row for the list, as Reader, and the search result marked added.
/// Nothing is saved.
pub async fn add_row(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Query(q): Query<AddQuery>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Share).await?;
    let (row, message) = match state
        .store
        .user_by_id(q.user)
        .await?
        .filter(|u| !u.disabled)
    {
        None => (None, "This person has no active account.".to_owned()),
        Some(u) => match eligibility(&state, &u, o.tier).await? {
            Err(reason) => (None, reason),
            Ok(()) => (
                Some(Row {
                    id: u.id,
                    name: u.full_name(),
                    account: account(&state, &u),
                    role: WorkspaceRole::Reader.code().to_owned(),
                    is_me: u.id == s.user.id,
                    pending: true,
                }),
                format!("{} added to the list. Choose Save to share.", u.full_name()),
            ),
        },
    };
    Ok(Html(
        AddedFragment {
            row,
            candidate_id: q.user,
            message,
            roles: WorkspaceRole::ALL,
        }
        .render()?,
    )
    .into_response())
}

/// The dialog's form: "Search" and "+" (without script) re-render it with nothing saved;
/// "Save" applies every row as one change.
pub async fn save(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Share).await?;
    let mut d = parse_dialog(&form);
    let current = members(&state, &o).await?;
    let again = |rows: Vec<Row>, candidates, searched, errors, notices, status| {
        page(
            status,
            &share_page(
                &s,
                &o,
                rows,
                d.term.clone(),
                candidates,
                searched,
                errors,
                notices,
            ),
        )
    };
    if d.search || d.add.is_some() {
        let mut notices = Vec::new();
        let mut errors = Vec::new();
        if let Some(id) = d.add {
            match state.store.user_by_id(id).await?.filter(|u| !u.disabled) {
                None => errors.push("This person has no active account.".to_owned()),
                Some(u) => match eligibility(&state, &u, o.tier).await? {
                    Err(reason) => errors.push(format!("{}: {reason}", u.full_name())),
                    Ok(()) => {
                        if !d.roles.iter().any(|(i, _)| *i == id)
                            && !current.iter().any(|(i, _)| *i == id)
                        {
                            d.roles.push((id, Some(WorkspaceRole::Reader)));
                        }
                        notices.push(format!(
                            "{} added to the list. Choose Save to share.",
                            u.full_name()
                        ));
                    }
                },
            }
        }
        let rows = rows(&state, &s, &current, &d.roles).await?;
        let listed: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let found = if d.search {
            candidates(&state, &o, &d.term, &listed).await?
        } else {
            Vec::new()
        };
        return again(rows, found, d.search, errors, notices, StatusCode::OK);
    }

    // Save. Who is named, and may new people join?
    let mut errors = d.bad_roles.clone();
    let mut people: HashMap<i64, UserRecord> = HashMap::new();
    for (id, role) in &d.roles {
        if people.contains_key(id) {
            continue;
        }
        let Some(u) = state.store.user_by_id(*id).await?.filter(|u| !u.disabled) else {
            errors.push("One of the people chosen has no active account.".into());
            continue;
        };
        if role.is_some()
            && !current.iter().any(|(i, _)| i == id)
            && let Err(reason) = eligibility(&state, &u, o.tier).await?
        {
            errors.push(format!("{}: {reason}", u.full_name()));
        }
        people.insert(*id, u);
    }
    if !errors.is_empty() {
        let rows = rows(&state, &s, &current, &d.roles).await?;
        return again(
            rows,
            Vec::new(),
            false,
            errors,
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let now = state.now();
    let actor = format!("user:{}", s.user.username);
    let audit = wb_store::AuditEvent {
        at: now,
        actor_user_id: Some(s.user.id),
        actor: &actor,
        action: "workspace.role_changed",
        target_user_id: None,
        detail: "",
        ip: Some(&s.ctx.ip),
    };
    let requested = d.roles.clone();
    let actor_id = s.user.id;
    let ns_code = o.ws.namespace.clone();
    let applied = state
        .store
        .change_members(o.ws.id, now, &audit, |inside| {
            let members: Vec<(i64, WorkspaceRole)> = inside
                .iter()
                .filter_map(|(u, r)| Some((*u, WorkspaceRole::from_code(r)?)))
                .collect();
            let plan = workspace::plan_member_changes(&members, actor_id, &requested).map_err(
                |refused| {
                    refused
                        .into_iter()
                        .map(|(id, e)| match people.get(&id) {
                            Some(u) => format!("{}: {e}", u.full_name()),
                            None => e.to_string(),
                        })
                        .collect::<Vec<_>>()
                },
            )?;
            Ok(plan
                .into_iter()
                .map(|c| MemberWrite {
                    user_id: c.user_id,
                    before: c.before.map(|r| r.code().to_owned()),
                    role: c.after.map(|r| r.code().to_owned()),
                    audit_detail: format!(
                        "{ns_code} {} {}",
                        people
                            .get(&c.user_id)
                            .map(|u| u.username.as_str())
                            .unwrap_or("?"),
                        c.after.map(|r| r.code()).unwrap_or("removed")
                    ),
                })
                .collect())
        })
        .await?;
    let applied = match applied {
        Ok(a) => a,
        Err(errors) => {
            let current = members(&state, &o).await?;
            let rows = rows(&state, &s, &current, &d.roles).await?;
            return again(
                rows,
                Vec::new(),
                false,
                errors,
                Vec::new(),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let mut notices = Vec::new();
    for w in &applied {
        let Some(u) = people.get(&w.user_id) else {
            continue;
        };
        let before = w.before.as_deref().and_then(WorkspaceRole::from_code);
        let after = w.role.as_deref().and_then(WorkspaceRole::from_code);
        notices.push(match (before, after) {
            (None, Some(r)) => format!("{} added as {}", u.full_name(), r.label()),
            (Some(_), Some(r)) => format!("{} is now {}", u.full_name(), r.label()),
            (_, None) => format!("{} removed", u.full_name()),
        });
        if let (None, Some(r)) = (before, after) {
            state.send_in_background(wb_mail::messages::workspace_shared(
                &u.contact_email,
                &wb_mail::messages::WorkspaceShared {
                    given_name: &u.given_name,
                    sharer_name: &s.user.full_name(),
                    workspace_name: &o.ws.name,
                    role: r.label(),
                    workspace_url: &state.link(&format!("/workspaces/{}", o.ws.namespace)),
                    support_email: &state.config.accounts.support_email,
                },
            ));
        }
    }
    if notices.is_empty() {
        notices.push("No changes.".to_owned());
    }
    let done = state.signer.seal(DONE_PURPOSE, &notices, now + 600);
    let done: String = url::form_urlencoded::byte_serialize(done.as_bytes()).collect();
    Ok(Redirect::to(&format!("/workspaces/{}/share?done={done}", o.ws.namespace)).into_response())
}
