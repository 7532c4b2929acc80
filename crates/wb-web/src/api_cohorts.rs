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
use wb_domain::analysis::Shown;
use wb_domain::workspace::WorkspaceAction;
use wb_store::{CohortRecord, WorkspaceRecord};

use crate::cohorts::{SaveError, SaveTarget};

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
        count: crate::cohorts::current_count(state, ws, c)
            .await
            .map(|(n, _)| Shown::of(n)),
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

/// A refused save as the API answers it.
fn refused(e: SaveError) -> Response {
    let message = e.message();
    match e {
        SaveError::Name(_) => error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_name", message),
        SaveError::Description(_) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_description",
            message,
        ),
        SaveError::Invalid(errors) => invalid(message, errors),
        SaveError::NameTaken(_) => error(StatusCode::CONFLICT, "name_taken", message),
        SaveError::Stale { .. } => error(StatusCode::CONFLICT, "stale_revision", message),
        SaveError::NotFound => api(WebError::NotFound),
        SaveError::Web(e) => api(e),
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
    let def = match parse_definition(input.definition.clone()) {
        Ok(d) => d,
        Err(m) => return invalid(m, Vec::new()),
    };
    match crate::cohorts::save_cohort(
        &state,
        &s.user,
        &o.ws,
        SaveTarget::New,
        &input.name,
        &input.description,
        &def,
    )
    .await
    {
        Ok(c) => (
            StatusCode::CREATED,
            Json(view(&state, &o.ws, &c, true).await),
        )
            .into_response(),
        Err(e) => refused(e),
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
    let def = match parse_definition(input.definition.clone()) {
        Ok(d) => d,
        Err(m) => return invalid(m, Vec::new()),
    };
    match crate::cohorts::save_cohort(
        &state,
        &s.user,
        &o.ws,
        SaveTarget::Existing { id, revision },
        &input.name,
        &input.description,
        &def,
    )
    .await
    {
        Ok(c) => Json(view(&state, &o.ws, &c, true).await).into_response(),
        Err(e) => refused(e),
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
    match crate::cohorts::duplicate_cohort(&state, &s.user, &o.ws, &c).await {
        Ok(copy) => (
            StatusCode::CREATED,
            Json(view(&state, &o.ws, &copy, true).await),
        )
            .into_response(),
        Err(e) => refused(e),
    }
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
