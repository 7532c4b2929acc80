//! Saved cohorts over the JSON API: list, create, read, save (over a revision), delete,
//! duplicate. Readers list and read; writers and owners change. A cohort id of another
//! workspace is a 404. Counts are shown through the dissemination rule and recomputed when the
//! saved one is stale (the definition or the dataset version changed).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wb_domain::analysis::{CountAnswer, Shown};
use wb_domain::cohort::{self, CohortDefinition};
use wb_domain::workspace::WorkspaceAction;
use wb_store::{CohortRecord, CohortUpdate, CohortWrite, StoreError, WorkspaceRecord};

use crate::api::{ApiError, ApiUser, invalid, parse_definition};
use crate::error::WebError;
use crate::guard::Session;
use crate::pages::workspaces::{Opened, open_workspace};
use crate::state::AppState;

/// A saved cohort as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohortView {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Grows with every save; a save names the revision it edited.
    pub revision: i64,
    pub definition_hash: String,
    /// The participant count (`count` is `null` and `display` "≤ 20" from 1 to 20), or `null`
    /// when the dataset cannot be counted now.
    #[schema(value_type = Option<Object>)]
    pub count: Option<Shown>,
    /// RFC 3339.
    pub updated_at: String,
    /// The definition (in `GET` of one cohort and answers to changes; not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub definition: Option<serde_json::Value>,
}

/// Create or save a cohort.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CohortInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    /// For a save: the revision edited (required).
    #[serde(default)]
    pub revision: Option<i64>,
}

fn api(e: WebError) -> Response {
    e.into_api_response()
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(ApiError {
            error: code.into(),
            message,
        }),
    )
        .into_response()
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The cohort's count, recomputed and recorded when the saved one is stale; `None` when the
/// dataset cannot answer now (the cohort is still shown).
async fn current_count(state: &AppState, ws: &WorkspaceRecord, c: &CohortRecord) -> Option<u64> {
    if c.count_is_current(ws.cdr_version_id) {
        return c.count_total.map(|n| n as u64);
    }
    let def: CohortDefinition = serde_json::from_str(&c.definition).ok()?;
    match crate::cohorts::count(state, ws, def).await {
        Ok((data, CountAnswer::Counts(n))) => {
            if let Err(e) = state
                .store
                .record_cohort_count(
                    ws.id,
                    c.id,
                    &c.definition_hash,
                    data.version.id,
                    n.total as i64,
                    state.now(),
                )
                .await
            {
                tracing::warn!(error = %e, cohort = c.id, "count not recorded");
            }
            Some(n.total)
        }
        Ok((_, CountAnswer::Invalid(_))) | Err(_) => None,
    }
}

async fn view(
    state: &AppState,
    ws: &WorkspaceRecord,
    c: &CohortRecord,
    with_definition: bool,
) -> CohortView {
    CohortView {
        id: c.id,
        name: c.name.clone(),
        description: c.description.clone(),
        revision: c.revision,
        definition_hash: c.definition_hash.clone(),
        count: current_count(state, ws, c).await.map(Shown::of),
        updated_at: rfc3339(c.updated_at),
        definition: with_definition
            .then(|| serde_json::from_str(&c.definition).ok())
            .flatten(),
    }
}

async fn opened(
    state: &AppState,
    s: &Session,
    ns: &str,
    action: WorkspaceAction,
) -> Result<Opened, Response> {
    open_workspace(state, s, ns, action).await.map_err(api)
}

async fn find(state: &AppState, o: &Opened, id: i64) -> Result<CohortRecord, Response> {
    match state.store.cohort(o.ws.id, id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(api(WebError::NotFound)),
        Err(e) => Err(api(e.into())),
    }
}

/// Checks an input: name, description and a definition that validates and whose concepts
/// are in the workspace's dataset. The answer is the definition and its JSON.
async fn checked(state: &AppState, o: &Opened, input: CohortInput) -> Result<Checked, Response> {
    let name = cohort::check_name(&input.name)
        .map_err(|m| error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_name", m))?;
    let description = cohort::check_description(&input.description)
        .map_err(|m| error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_description", m))?;
    let def = parse_definition(input.definition).map_err(|m| invalid(m, Vec::new()))?;
    if let Err(errors) = cohort::validate(&def) {
        return Err(invalid_definition(errors));
    }
    // The concepts must be in this dataset; when it cannot answer now, the cohort is saved
    // anyway (nothing typed is lost) and counted later.
    let count = match crate::cohorts::count(state, &o.ws, def.clone()).await {
        Ok((_, CountAnswer::Invalid(errors))) => return Err(invalid_definition(errors)),
        Ok((data, CountAnswer::Counts(c))) => Some((data.version.id, c.total)),
        Err(_) => None,
    };
    Ok(Checked {
        json: serde_json::to_string(&def).expect("a definition serialises"),
        hash: cohort::definition_hash(&def),
        name,
        description,
        count,
    })
}

/// An input that passed [`checked`], with the count taken while checking it.
struct Checked {
    name: String,
    description: String,
    json: String,
    hash: String,
    /// `(dataset version, total)`.
    count: Option<(i64, u64)>,
}

/// Records the count taken while checking, so the answer does not count again.
async fn record(state: &AppState, ws: &WorkspaceRecord, c: &mut CohortRecord, checked: &Checked) {
    let Some((version, total)) = checked.count else {
        return;
    };
    match state
        .store
        .record_cohort_count(
            ws.id,
            c.id,
            &c.definition_hash,
            version,
            total as i64,
            state.now(),
        )
        .await
    {
        Ok(true) => {
            c.count_total = Some(total as i64);
            c.count_hash = Some(c.definition_hash.clone());
            c.count_cdr_version_id = Some(version);
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, cohort = c.id, "count not recorded"),
    }
}

pub fn invalid_definition(errors: Vec<wb_domain::cohort::CriterionError>) -> Response {
    invalid(
        "The cohort definition has problems; each is named at its criterion.".into(),
        errors,
    )
}

fn name_taken(name: &str) -> Response {
    error(
        StatusCode::CONFLICT,
        "name_taken",
        format!("This workspace has a cohort named \"{name}\" already; choose another name."),
    )
}

/// What a save writes: `(name, description, definition JSON, hash)` by the caller.
fn write<'a>(
    state: &AppState,
    s: &Session,
    o: &Opened,
    actor: &'a str,
    (name, description, definition, definition_hash): (&'a str, &'a str, &'a str, &'a str),
) -> CohortWrite<'a> {
    CohortWrite {
        workspace_id: o.ws.id,
        name,
        description,
        definition,
        definition_hash,
        user_id: s.user.id,
        actor,
        now: state.now(),
    }
}

/// The workspace's saved cohorts, by name.
#[utoipa::path(get, path = "/api/v1/workspaces/{namespace}/cohorts",
    params(("namespace" = String, Path, description = "The workspace")),
    responses((status = 200, body = Vec<CohortView>), (status = 404, body = ApiError)))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(ns): Path<String>,
) -> Response {
    let o = match opened(&state, &s, &ns, WorkspaceAction::View).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let rows = match state.store.cohorts(o.ws.id).await {
        Ok(r) => r,
        Err(e) => return api(e.into()),
    };
    let mut out = Vec::with_capacity(rows.len());
    for c in &rows {
        out.push(view(&state, &o.ws, c, false).await);
    }
    Json(out).into_response()
}

/// Saves a new cohort ("Save Cohort"). Writers and owners.
#[utoipa::path(post, path = "/api/v1/workspaces/{namespace}/cohorts",
    params(("namespace" = String, Path, description = "The workspace")),
    request_body = CohortInput,
    responses((status = 201, body = CohortView), (status = 409, body = ApiError),
        (status = 422, body = crate::api::InvalidDefinition)))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path(ns): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let o = match opened(&state, &s, &ns, WorkspaceAction::EditAnalysis).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let input: CohortInput = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => return invalid(format!("The request cannot be read: {e}."), Vec::new()),
    };
    let ch = match checked(&state, &o, input).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let actor = format!("user:{}", s.user.username);
    let w = write(
        &state,
        &s,
        &o,
        &actor,
        (&ch.name, &ch.description, &ch.json, &ch.hash),
    );
    match state.store.create_cohort(&w).await {
        Ok(mut c) => {
            record(&state, &o.ws, &mut c, &ch).await;
            (
                StatusCode::CREATED,
                Json(view(&state, &o.ws, &c, true).await),
            )
                .into_response()
        }
        Err(StoreError::Conflict(_)) => name_taken(&ch.name),
        Err(e) => api(e.into()),
    }
}

/// One cohort with its definition and count.
#[utoipa::path(get, path = "/api/v1/workspaces/{namespace}/cohorts/{id}",
    params(("namespace" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = CohortView), (status = 404, body = ApiError)))]
pub async fn get_one(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path((ns, id)): Path<(String, i64)>,
) -> Response {
    let o = match opened(&state, &s, &ns, WorkspaceAction::View).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    match find(&state, &o, id).await {
        Ok(c) => Json(view(&state, &o.ws, &c, true).await).into_response(),
        Err(r) => r,
    }
}

/// Saves a cohort over the revision it edited; 409 when another save came first.
#[utoipa::path(put, path = "/api/v1/workspaces/{namespace}/cohorts/{id}",
    params(("namespace" = String, Path), ("id" = i64, Path)),
    request_body = CohortInput,
    responses((status = 200, body = CohortView), (status = 404, body = ApiError),
        (status = 409, body = ApiError), (status = 422, body = crate::api::InvalidDefinition)))]
pub async fn save(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path((ns, id)): Path<(String, i64)>,
    body: axum::body::Bytes,
) -> Response {
    let o = match opened(&state, &s, &ns, WorkspaceAction::EditAnalysis).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = find(&state, &o, id).await {
        return r;
    }
    let input: CohortInput = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => return invalid(format!("The request cannot be read: {e}."), Vec::new()),
    };
    let Some(revision) = input.revision else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "revision_required",
            "Name the revision you edited (\"revision\"), so a newer save is never overwritten."
                .into(),
        );
    };
    let ch = match checked(&state, &o, input).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let actor = format!("user:{}", s.user.username);
    let w = write(
        &state,
        &s,
        &o,
        &actor,
        (&ch.name, &ch.description, &ch.json, &ch.hash),
    );
    match state.store.update_cohort(id, revision, &w).await {
        Ok(CohortUpdate::Saved(mut c)) => {
            record(&state, &o.ws, &mut c, &ch).await;
            Json(view(&state, &o.ws, &c, true).await).into_response()
        }
        Ok(CohortUpdate::Stale { current }) => error(
            StatusCode::CONFLICT,
            "stale_revision",
            format!(
                "This cohort was saved since you opened it (revision {} now, you edited {revision}). \
                 Nothing was overwritten: open it again, or save yours under another name.",
                current.revision
            ),
        ),
        Err(StoreError::Conflict(_)) => name_taken(&ch.name),
        Err(StoreError::NotFound) => api(WebError::NotFound),
        Err(e) => api(e.into()),
    }
}

/// Deletes a cohort. Writers and owners.
#[utoipa::path(delete, path = "/api/v1/workspaces/{namespace}/cohorts/{id}",
    params(("namespace" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ApiError)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path((ns, id)): Path<(String, i64)>,
) -> Response {
    let o = match opened(&state, &s, &ns, WorkspaceAction::EditAnalysis).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let actor = format!("user:{}", s.user.username);
    match state
        .store
        .delete_cohort(o.ws.id, id, s.user.id, &actor, state.now())
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => api(WebError::NotFound),
        Err(e) => api(e.into()),
    }
}

/// Saves a copy of a cohort as "Copy of …" (a number added while the name is taken).
#[utoipa::path(post, path = "/api/v1/workspaces/{namespace}/cohorts/{id}/duplicate",
    params(("namespace" = String, Path), ("id" = i64, Path)),
    responses((status = 201, body = CohortView), (status = 404, body = ApiError)))]
pub async fn duplicate(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path((ns, id)): Path<(String, i64)>,
) -> Response {
    let o = match opened(&state, &s, &ns, WorkspaceAction::EditAnalysis).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let c = match find(&state, &o, id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let actor = format!("user:{}", s.user.username);
    for n in 1..=50 {
        let base: String = format!("Copy of {}", c.name);
        let name = if n == 1 {
            base
        } else {
            format!("{base} ({n})")
        };
        let name: String = name.chars().take(cohort::MAX_NAME_CHARS).collect();
        let w = CohortWrite {
            workspace_id: o.ws.id,
            name: &name,
            description: &c.description,
            definition: &c.definition,
            definition_hash: &c.definition_hash,
            user_id: s.user.id,
            actor: &actor,
            now: state.now(),
        };
        match state.store.create_cohort(&w).await {
            Ok(copy) => {
                return (
                    StatusCode::CREATED,
                    Json(view(&state, &o.ws, &copy, true).await),
                )
                    .into_response();
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return api(e.into()),
        }
    }
    error(
        StatusCode::CONFLICT,
        "name_taken",
        "Too many copies of this cohort have its name; rename some first.".into(),
    )
}

/// A draft: the builder's work in progress, kept as typed (it may not be a valid definition
/// yet).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DraftView {
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
    /// RFC 3339; set by the server.
    #[serde(default, skip_deserializing)]
    pub updated_at: String,
}

/// `new` (a cohort not saved yet) or a cohort id of this workspace.
async fn draft_key(state: &AppState, o: &Opened, key: &str) -> Result<Option<i64>, Response> {
    if key == "new" {
        return Ok(None);
    }
    let id: i64 = key.parse().map_err(|_| api(WebError::NotFound))?;
    find(state, o, id).await.map(|c| Some(c.id))
}

/// The caller's draft of a cohort (`new` or a cohort id), to restore after a refresh.
#[utoipa::path(get, path = "/api/v1/workspaces/{namespace}/cohort-drafts/{key}",
    params(("namespace" = String, Path), ("key" = String, Path, description = "`new` or a cohort id")),
    responses((status = 200, body = DraftView), (status = 404, body = ApiError)))]
pub async fn get_draft(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path((ns, key)): Path<(String, String)>,
) -> Response {
    let o = match opened(&state, &s, &ns, WorkspaceAction::EditAnalysis).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let id = match draft_key(&state, &o, &key).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    match state.store.cohort_draft(o.ws.id, s.user.id, id).await {
        Ok(Some((definition, at))) => Json(DraftView {
            definition: serde_json::from_str(&definition).unwrap_or(serde_json::Value::Null),
            updated_at: rfc3339(at),
        })
        .into_response(),
        Ok(None) => api(WebError::NotFound),
        Err(e) => api(e.into()),
    }
}

/// Keeps the caller's draft (any JSON the builder holds; checked only when saved).
#[utoipa::path(put, path = "/api/v1/workspaces/{namespace}/cohort-drafts/{key}",
    params(("namespace" = String, Path), ("key" = String, Path, description = "`new` or a cohort id")),
    request_body = DraftView,
    responses((status = 200, body = DraftView), (status = 404, body = ApiError),
        (status = 422, body = ApiError)))]
pub async fn put_draft(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path((ns, key)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let o = match opened(&state, &s, &ns, WorkspaceAction::EditAnalysis).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let id = match draft_key(&state, &o, &key).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let draft: DraftView = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_draft",
                format!("A draft is a JSON object with a \"definition\": {e}."),
            );
        }
    };
    let now = state.now();
    let text = draft.definition.to_string();
    match state
        .store
        .save_cohort_draft(o.ws.id, s.user.id, id, &text, now)
        .await
    {
        Ok(()) => Json(DraftView {
            definition: draft.definition,
            updated_at: rfc3339(now),
        })
        .into_response(),
        Err(e) => api(e.into()),
    }
}

/// Discards the caller's draft.
#[utoipa::path(delete, path = "/api/v1/workspaces/{namespace}/cohort-drafts/{key}",
    params(("namespace" = String, Path), ("key" = String, Path, description = "`new` or a cohort id")),
    responses((status = 204), (status = 404, body = ApiError)))]
pub async fn delete_draft(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    Path((ns, key)): Path<(String, String)>,
) -> Response {
    let o = match opened(&state, &s, &ns, WorkspaceAction::EditAnalysis).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let id = match draft_key(&state, &o, &key).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    match state
        .store
        .discard_cohort_draft(o.ws.id, s.user.id, id)
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => api(WebError::NotFound),
        Err(e) => api(e.into()),
    }
}
