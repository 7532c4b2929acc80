//! Training groups: an instructor creates a group and gives trainees its join code; a trainee
//! joins from their profile; the instructor's page shows each member's progress through the
//! account, every access module (with dates) and workspace creation, and exports it as CSV.
//! Only the instructor sees the group's page, and trainees are told what joining shares.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use wb_domain::access::{AccessModule, ModuleStatus};
use wb_store::{StoreError, TrainingGroup};

use super::{Layout, ok, page};
use crate::error::{WebError, WebResult};
use crate::guard::{Session, SignedIn};
use crate::registration;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    layout: Layout,
    taught: Vec<TrainingGroup>,
    joined: Vec<TrainingGroup>,
    name: String,
    code: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn groups_page(
    state: &AppState,
    s: &Session,
    name: String,
    code: String,
    error: Option<String>,
    notice: Option<String>,
) -> WebResult<GroupsPage> {
    Ok(GroupsPage {
        layout: Layout::new("Training groups", &s.ctx, Some(s)),
        taught: state.store.training_groups_taught(s.user.id).await?,
        joined: state.store.training_groups_joined(s.user.id).await?,
        name,
        code,
        error,
        notice,
    })
}

pub async fn groups(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    ok(&groups_page(&state, &s, String::new(), String::new(), None, None).await?)
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(f): Form<CreateForm>,
) -> WebResult<Response> {
    let name = f.name.trim();
    let problem = if name.is_empty() || name.chars().count() > 120 {
        Some("Name the group (1 to 120 characters).".to_owned())
    } else {
        wb_domain::text::check(name, wb_domain::text::Kind::Line)
            .err()
            .map(str::to_owned)
    };
    if let Some(problem) = problem {
        let p = groups_page(
            &state,
            &s,
            f.name.clone(),
            String::new(),
            Some(problem),
            None,
        )
        .await?;
        return page(StatusCode::UNPROCESSABLE_ENTITY, &p);
    }
    // A readable code: 10 characters from an alphabet without look-alikes.
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    for _ in 0..5 {
        let token = wb_auth::random_token();
        let code: String = token
            .bytes()
            .take(10)
            .map(|b| ALPHABET[(b as usize) % ALPHABET.len()] as char)
            .collect();
        match state
            .store
            .create_training_group(name, s.user.id, &code, state.now())
            .await
        {
            Ok(id) => {
                registration::audit_user(
                    &state,
                    &s.user,
                    "training_group.created",
                    &code,
                    &s.ctx.ip,
                )
                .await?;
                return Ok(Redirect::to(&format!("/training-groups/{id}")).into_response());
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(WebError::BadRequest(
        "Could not make a unique join code; try again.".into(),
    ))
}

#[derive(Debug, Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    code: String,
}

pub async fn join(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(f): Form<JoinForm>,
) -> WebResult<Response> {
    let code: String = f
        .code
        .trim()
        .to_uppercase()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let Some(g) = state.store.training_group_by_code(&code).await? else {
        let p = groups_page(
            &state,
            &s,
            String::new(),
            f.code.clone(),
            Some("No training group has this join code. Check it with your instructor.".into()),
            None,
        )
        .await?;
        return page(StatusCode::UNPROCESSABLE_ENTITY, &p);
    };
    let added = state
        .store
        .join_training_group(g.id, s.user.id, state.now())
        .await?;
    let notice = if added {
        format!(
            "You joined {}. Its instructor can now see your registration progress.",
            g.name
        )
    } else {
        format!("You are already a member of {}.", g.name)
    };
    ok(&groups_page(&state, &s, String::new(), String::new(), None, Some(notice)).await?)
}

/// One member's progress.
struct Progress {
    name: String,
    account: String,
    joined: String,
    account_created: String,
    modules: Vec<String>,
    workspaces: usize,
    first_workspace: String,
}

async fn progress(state: &AppState, g: &TrainingGroup) -> WebResult<Vec<Progress>> {
    let mut rows = Vec::new();
    for (uid, joined) in state.store.training_group_members(g.id).await? {
        let Some(u) = state.store.user_by_id(uid).await? else {
            continue;
        };
        let a = registration::load(state, &u).await?;
        let modules = AccessModule::REGISTRATION_ORDER
            .iter()
            .map(|m| match a.status(*m) {
                ModuleStatus::Completed { completed_at, .. } => state.date(completed_at),
                ModuleStatus::Bypassed { at } => format!("bypassed {}", state.date(at)),
                ModuleStatus::Expired { expired_at, .. } => {
                    format!("expired {}", state.date(expired_at))
                }
                ModuleStatus::OutdatedVersion { .. } => "outdated".into(),
                ModuleStatus::NotStarted => String::new(),
            })
            .collect();
        let ws = state.store.workspaces_of(uid).await?;
        let created: Vec<&wb_store::WorkspaceRecord> = ws
            .iter()
            .map(|(w, _)| w)
            .filter(|w| w.creator_user_id == uid)
            .collect();
        rows.push(Progress {
            name: u.full_name(),
            account: format!("{}@{}", u.username, state.config.accounts.username_domain),
            joined: state.date(joined),
            account_created: state.date(u.created_at),
            modules,
            workspaces: created.len(),
            first_workspace: created
                .iter()
                .map(|w| w.created_at)
                .min()
                .map(|t| state.date(t))
                .unwrap_or_default(),
        });
    }
    Ok(rows)
}

async fn own_group(state: &AppState, s: &Session, id: i64) -> WebResult<TrainingGroup> {
    state
        .store
        .training_group(id)
        .await?
        .filter(|g| g.instructor_user_id == s.user.id)
        .ok_or(WebError::NotFound)
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    layout: Layout,
    g: TrainingGroup,
    headers: Vec<&'static str>,
    rows: Vec<Progress>,
}

pub async fn group(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(id): Path<i64>,
) -> WebResult<Response> {
    let g = own_group(&state, &s, id).await?;
    ok(&GroupPage {
        layout: Layout::new(&g.name, &s.ctx, Some(&s)),
        headers: AccessModule::REGISTRATION_ORDER
            .iter()
            .map(|m| m.label())
            .collect(),
        rows: progress(&state, &g).await?,
        g,
    })
}

fn csv_field(s: &str) -> String {
    // Quote every field; neutralise spreadsheet formulas.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub async fn group_csv(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(id): Path<i64>,
) -> WebResult<Response> {
    let g = own_group(&state, &s, id).await?;
    let mut out = String::new();
    let mut head = vec!["Name", "Account", "Joined", "Account created"];
    head.extend(AccessModule::REGISTRATION_ORDER.iter().map(|m| m.label()));
    head.extend(["Workspaces created", "First workspace created"]);
    out.push_str(
        &head
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    for r in progress(&state, &g).await? {
        let mut fields = vec![r.name, r.account, r.joined, r.account_created];
        fields.extend(r.modules);
        fields.push(r.workspaces.to_string());
        fields.push(r.first_workspace);
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"training-group-{}.csv\"", g.id),
            ),
        ],
        out,
    )
        .into_response())
}
