//! The JSON API, described by OpenAPI (`GET /api/v1/openapi.json`). It uses the same session
//! and the same rules as the pages; an unauthenticated call gets 401 with a JSON body.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use wb_domain::AccessTier;
use wb_domain::access::{AccessModule, ModuleStatus};
use wb_store::SessionStage;

use crate::error::WebError;
use crate::guard::{AnySession, Session};
use crate::registration;
use crate::state::AppState;

/// The error body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// A stable code, e.g. `unauthenticated`.
    pub error: String,
    /// What went wrong and what to do, for a person.
    pub message: String,
}

fn api_error(status: StatusCode, error: &str, message: &str) -> Response {
    (
        status,
        Json(ApiError {
            error: error.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

impl WebError {
    /// This error as the API answers it (JSON).
    pub fn into_api_response(self) -> Response {
        self.into_api()
    }

    fn into_api(self) -> Response {
        match self {
            WebError::NotFound => {
                api_error(StatusCode::NOT_FOUND, "not_found", "No such resource.")
            }
            WebError::Forbidden(m) => api_error(StatusCode::FORBIDDEN, "forbidden", &m),
            WebError::BadRequest(m) => api_error(StatusCode::BAD_REQUEST, "bad_request", &m),
            WebError::Unavailable(m) => {
                api_error(StatusCode::SERVICE_UNAVAILABLE, "data_unavailable", &m)
            }
            other => {
                tracing::error!(error = %other, "API request failed");
                api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "The workbench could not complete this request; try again later.",
                )
            }
        }
    }
}

/// A fully signed-in user, for API routes: 401 JSON otherwise.
pub struct ApiUser(pub Session);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match AnySession::from_request_parts(parts, state).await {
            Ok(AnySession(s)) if s.stage == SessionStage::Active => Ok(ApiUser(s)),
            _ => Err(api_error(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Sign in (with your second factor, and after changing a temporary password) to use the API.",
            )),
        }
    }
}

/// One access module's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModuleAccess {
    /// `two_factor`, `identity`, `rt_training`, `ct_training`, `code_of_conduct` or
    /// `profile_confirmation`.
    pub module: String,
    pub label: String,
    /// `not_started`, `completed`, `bypassed`, `expired` or `outdated_version`.
    pub status: String,
    /// Whether the module currently counts towards access.
    pub compliant: bool,
    /// RFC 3339 times.
    pub completed_at: Option<String>,
    pub expires_at: Option<String>,
    pub bypassed_at: Option<String>,
    /// The tiers that need this module.
    pub required_for: Vec<String>,
}

/// The caller's data access: tiers held, eligibility and every module.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyAccess {
    pub username: String,
    /// Tiers held now: `registered`, `controlled`.
    pub tiers: Vec<String>,
    pub registered_tier_eligible: bool,
    pub controlled_tier_eligible: bool,
    /// When each held tier lapses unless renewed (RFC 3339), by tier.
    pub registered_tier_expires_at: Option<String>,
    pub controlled_tier_expires_at: Option<String>,
    /// Modules still needed for each tier.
    pub missing_for_registered: Vec<String>,
    pub missing_for_controlled: Vec<String>,
    pub modules: Vec<ModuleAccess>,
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The signed-in user's access modules and tiers.
#[utoipa::path(
    get,
    path = "/api/v1/me/access",
    responses(
        (status = 200, description = "The caller's access", body = MyAccess),
        (status = 401, description = "Not signed in", body = ApiError)
    )
)]
pub async fn my_access(State(state): State<AppState>, ApiUser(s): ApiUser) -> Response {
    match build(&state, &s).await {
        Ok(a) => Json(a).into_response(),
        Err(e) => e.into_api(),
    }
}

async fn build(state: &AppState, s: &Session) -> Result<MyAccess, WebError> {
    let a = registration::load(state, &s.user).await?;
    let codes = |v: Vec<AccessModule>| v.into_iter().map(|m| m.code().to_owned()).collect();
    let modules = AccessModule::REGISTRATION_ORDER
        .iter()
        .map(|m| {
            let st = a.status(*m);
            let (status, completed_at, expires_at, bypassed_at) = match st {
                ModuleStatus::NotStarted => ("not_started", None, None, None),
                ModuleStatus::Completed {
                    completed_at,
                    expires_at,
                } => ("completed", Some(completed_at), expires_at, None),
                ModuleStatus::Bypassed { at } => ("bypassed", None, None, Some(at)),
                ModuleStatus::Expired {
                    completed_at,
                    expired_at,
                } => ("expired", Some(completed_at), Some(expired_at), None),
                ModuleStatus::OutdatedVersion { completed_at } => {
                    ("outdated_version", Some(completed_at), None, None)
                }
            };
            ModuleAccess {
                module: m.code().into(),
                label: m.label().into(),
                status: status.into(),
                compliant: st.is_compliant(),
                completed_at: completed_at.map(rfc3339),
                expires_at: expires_at.map(rfc3339),
                bypassed_at: bypassed_at.map(rfc3339),
                required_for: AccessTier::ALL
                    .iter()
                    .filter(|t| m.required_for(**t))
                    .map(|t| t.code().to_owned())
                    .collect(),
            }
        })
        .collect();
    let held = |t| {
        a.has_tier(t)
            .then(|| a.tier_expires_at(t))
            .flatten()
            .map(rfc3339)
    };
    Ok(MyAccess {
        username: s.user.username.clone(),
        tiers: a.tiers.iter().map(|t| t.code().to_owned()).collect(),
        registered_tier_eligible: a.registered_email_eligible,
        controlled_tier_eligible: a.controlled_email_eligible,
        registered_tier_expires_at: held(AccessTier::Registered),
        controlled_tier_expires_at: held(AccessTier::Controlled),
        missing_for_registered: codes(a.missing_for(AccessTier::Registered)),
        missing_for_controlled: codes(a.missing_for(AccessTier::Controlled)),
        modules,
    })
}

/// A count request: the definition (format in `docs/cohort-definition.md`).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountRequest {
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
}

/// The counts of a definition, every count from 1 to 20 given as `null` with `display` "≤ 20".
#[derive(Debug, Serialize, ToSchema)]
pub struct CountResponse {
    /// The dataset version counted.
    pub cdr_version: String,
    /// `definition_hash` of the definition counted (a saved count is stale when it changes).
    pub definition_hash: String,
    /// `total`, `groups`, `criteria`, `attrition` (each `{id, count, display}`) and `chart`
    /// (`sex_at_birth`, `age`, `race`, `ethnicity`: `{label, count, display}` bars).
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub counts: wb_domain::analysis::DisplayedCounts,
}

/// A definition that cannot be counted: every problem, at its criterion.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvalidDefinition {
    /// `invalid_definition`.
    pub error: String,
    pub message: String,
    /// `{code, section, group_index, group_id, list, criterion_index, criterion_id, field,
    /// message}`; parts that do not apply are omitted.
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<wb_domain::cohort::CriterionError>,
}

pub fn invalid(message: String, errors: Vec<wb_domain::cohort::CriterionError>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(InvalidDefinition {
            error: "invalid_definition".into(),
            message,
            errors,
        }),
    )
        .into_response()
}

/// Parses a definition sent as JSON, with a message that says where it went wrong.
pub fn parse_definition(
    value: serde_json::Value,
) -> Result<wb_domain::cohort::CohortDefinition, String> {
    serde_json::from_value(value).map_err(|e| {
        format!(
            "The cohort definition cannot be read: {e}. The format is in docs/cohort-definition.md."
        )
    })
}

/// Opens the workspace for editing analyses and reads `{"definition": …}` from the body.
async fn definition_request(
    state: &AppState,
    s: &Session,
    namespace: &str,
    body: &[u8],
) -> Result<
    (
        crate::pages::workspaces::Opened,
        wb_domain::cohort::CohortDefinition,
    ),
    Response,
> {
    let opened = crate::pages::workspaces::open_workspace(
        state,
        s,
        namespace,
        wb_domain::workspace::WorkspaceAction::EditAnalysis,
    )
    .await
    .map_err(WebError::into_api)?;
    let request: CountRequest = serde_json::from_slice(body).map_err(|e| {
        invalid(
            format!("The request is not a JSON object with a \"definition\": {e}."),
            Vec::new(),
        )
    })?;
    let def = parse_definition(request.definition).map_err(|m| invalid(m, Vec::new()))?;
    Ok((opened, def))
}

/// Counts a cohort definition over the workspace's dataset: the total, each group, each
/// criterion, the attrition and the demographic chart. Writers and owners only.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{namespace}/cohorts/count",
    params(("namespace" = String, Path, description = "The workspace")),
    request_body = CountRequest,
    responses(
        (status = 200, description = "The counts", body = CountResponse),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "The caller's tier lapsed or their role cannot edit analyses", body = ApiError),
        (status = 404, description = "No such workspace, or the caller is not a collaborator", body = ApiError),
        (status = 422, description = "The definition is invalid", body = InvalidDefinition),
        (status = 503, description = "The dataset has no data yet", body = ApiError)
    )
)]
pub async fn cohort_count(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    axum::extract::Path(namespace): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (opened, def) = match definition_request(&state, &s, &namespace, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let hash = wb_domain::cohort::definition_hash(&def);
    match crate::cohorts::count(&state, &opened.ws, def).await {
        Ok((data, wb_domain::analysis::CountAnswer::Counts(c))) => Json(CountResponse {
            cdr_version: data.version.name,
            definition_hash: hash,
            counts: c.displayed(),
        })
        .into_response(),
        Ok((_, wb_domain::analysis::CountAnswer::Invalid(errors))) => invalid(
            format!(
                "The cohort definition has {} problem{}; each is named at its criterion.",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
            errors,
        ),
        Err(e) => e.into_api(),
    }
}

/// The SQL a definition compiles to.
#[derive(Debug, Serialize, ToSchema)]
pub struct SqlResponse {
    /// SQL over the dataset's OMOP tables returning the cohort's `person_id`s: the reference
    /// meaning of the definition, runnable on DataFusion.
    pub sql: String,
}

/// "View SQL": the SQL the definition compiles to. Writers and owners.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{namespace}/cohorts/sql",
    params(("namespace" = String, Path, description = "The workspace")),
    request_body = CountRequest,
    responses(
        (status = 200, description = "The SQL", body = SqlResponse),
        (status = 422, description = "The definition is invalid", body = InvalidDefinition)
    )
)]
pub async fn cohort_sql(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    axum::extract::Path(namespace): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (opened, def) = match definition_request(&state, &s, &namespace, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(errors) = wb_domain::cohort::validate(&def) {
        return invalid(
            crate::cohorts::SaveError::Invalid(Vec::new()).message(),
            errors,
        );
    }
    match crate::cohorts::sql(&state, &opened.ws, def).await {
        Ok(sql) => Json(SqlResponse { sql }).into_response(),
        Err(e) => e.into_api(),
    }
}

/// Concept search parameters: `q` (code, name or synonym; every word must match) or
/// `parent` (its children), optionally within `domain` and of `class`; neither gives every
/// concept of `class` in `domain`, or without a class the domain's roots.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ConceptParams {
    #[serde(default)]
    pub q: String,
    pub parent: Option<i64>,
    pub domain: Option<String>,
    /// An OMOP `concept_class_id` ("Race", "Module", "Clinical Observation" …).
    pub class: Option<String>,
    pub limit: Option<usize>,
}

/// One concept with its participant counts (each through the dissemination rule).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConceptView {
    pub concept_id: i64,
    pub name: String,
    pub code: String,
    pub domain: String,
    pub vocabulary: String,
    pub class: String,
    pub standard: bool,
    /// Participants with the concept or a descendant.
    #[schema(value_type = Object)]
    pub participants: wb_domain::analysis::Shown,
    /// Participants with exactly this concept.
    #[schema(value_type = Object)]
    pub own_participants: wb_domain::analysis::Shown,
    pub has_children: bool,
}

/// Concept search and hierarchy browsing over the workspace's dataset, ranked by
/// participants. Collaborators of any role.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/{namespace}/concepts",
    params(("namespace" = String, Path, description = "The workspace"), ConceptParams),
    responses(
        (status = 200, description = "Matching concepts", body = Vec<ConceptView>),
        (status = 404, description = "No such workspace, or not a collaborator", body = ApiError),
        (status = 503, description = "The dataset has no data yet", body = ApiError)
    )
)]
pub async fn concepts(
    State(state): State<AppState>,
    ApiUser(s): ApiUser,
    axum::extract::Path(namespace): axum::extract::Path<String>,
    axum::extract::Query(p): axum::extract::Query<ConceptParams>,
) -> Response {
    let opened = match crate::pages::workspaces::open_workspace(
        &state,
        &s,
        &namespace,
        wb_domain::workspace::WorkspaceAction::View,
    )
    .await
    {
        Ok(o) => o,
        Err(e) => return e.into_api(),
    };
    if p.q.chars().count() > 200 {
        return api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
            "Search for at most 200 characters.",
        );
    }
    let q = wb_domain::analysis::ConceptQuery {
        text: p.q,
        parent: p.parent,
        domain: p.domain,
        class: p.class,
        ids: Vec::new(),
        limit: p.limit.unwrap_or(50),
    };
    match crate::cohorts::concepts(&state, &opened.ws, q).await {
        Ok(hits) => Json(
            hits.into_iter()
                .map(|h| ConceptView {
                    concept_id: h.concept_id,
                    name: h.name,
                    code: h.code,
                    domain: h.domain,
                    vocabulary: h.vocabulary,
                    class: h.class,
                    standard: h.standard,
                    participants: wb_domain::analysis::Shown::of(h.persons),
                    own_participants: wb_domain::analysis::Shown::of(h.own_persons),
                    has_children: h.has_children,
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => e.into_api(),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Researcher Workbench API", version = "1"),
    paths(
        my_access,
        cohort_count,
        cohort_sql,
        concepts,
        crate::api_cohorts::list,
        crate::api_cohorts::create,
        crate::api_cohorts::get_one,
        crate::api_cohorts::save,
        crate::api_cohorts::delete,
        crate::api_cohorts::duplicate,
        crate::api_cohorts::get_draft,
        crate::api_cohorts::put_draft,
        crate::api_cohorts::delete_draft
    ),
    components(schemas(
        MyAccess,
        ModuleAccess,
        ApiError,
        CountRequest,
        CountResponse,
        InvalidDefinition,
        SqlResponse,
        ConceptView,
        crate::api_cohorts::CohortView,
        crate::api_cohorts::CohortInput,
        crate::api_cohorts::DraftView
    ))
)]
pub struct ApiDoc;

/// The OpenAPI document.
pub async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// The OpenAPI document as pretty JSON, as checked in at `docs/openapi.json`.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
}
