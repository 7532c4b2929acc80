//! Workspaces: the list ("Workspaces" with "+"), creating one (name, tier, dataset version,
//! billing, the Research Use Statement, a "Confirm" step listing what becomes public), the
//! workspace itself ("DATA ANALYSIS" and "ABOUT"), and the public Research Hub directory.
//!
//! Every workspace route goes through [`open_workspace`]: a non-member gets 404 (no hint that
//! the workspace exists), a member whose tier lapsed gets 403 with the reason, and each action
//! is checked against the role matrix in `wb_domain::workspace`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::{Deserialize, Serialize};
use wb_domain::credits::{self, LedgerEntry};
use wb_domain::research_purpose::{
    self, Choice, Dissemination, Outcome, PopulationAnswer, PopulationGroup, PrimaryPurpose,
    PublicSummary, ResearchArea, ResearchPurpose, ResearchPurposeInput, ReviewRequest,
};
use wb_domain::workspace::{self, WorkspaceAction, WorkspaceName, WorkspaceRole};
use wb_domain::{AccessTier, FieldErrors};
use wb_store::{StoreError, WorkspaceRecord};

use super::{Layout, has, ok, page};
use crate::error::{WebError, WebResult};
use crate::guard::{Session, SignedIn};
use crate::registration;
use crate::state::AppState;

/// A workspace the caller may act on, with their role.
pub struct Opened {
    pub ws: WorkspaceRecord,
    pub role: WorkspaceRole,
    pub tier: AccessTier,
}

/// Loads a workspace for `action`: 404 for non-members, 403 when the caller's tier lapsed or
/// the role does not allow the action.
pub async fn open_workspace(
    state: &AppState,
    s: &Session,
    namespace: &str,
    action: WorkspaceAction,
) -> WebResult<Opened> {
    let ws = state
        .store
        .workspace_by_namespace(namespace)
        .await?
        .ok_or(WebError::NotFound)?;
    let members = state.store.workspace_members(ws.id).await?;
    let role = members
        .iter()
        .find(|(u, _)| *u == s.user.id)
        .and_then(|(_, r)| WorkspaceRole::from_code(r))
        .ok_or(WebError::NotFound)?;
    let tier = AccessTier::from_code(&ws.tier)
        .ok_or_else(|| WebError::BadRequest("unknown tier".into()))?;
    let a = registration::load(state, &s.user).await?;
    if !a.has_tier(tier) {
        return Err(WebError::Forbidden(format!(
            "This workspace uses {} data, and you do not hold {} access now. Your workspace is \
             kept: renew what is due on your Data Access Requirements page to open it again.",
            tier.label(),
            tier.label()
        )));
    }
    if !workspace::allows(role, action) {
        return Err(WebError::Forbidden(format!(
            "As a {} of this workspace you cannot do this ({}). Ask an owner to change your role.",
            role.label(),
            action.label().to_lowercase()
        )));
    }
    Ok(Opened { ws, role, tier })
}

pub fn purpose_of(ws: &WorkspaceRecord) -> WebResult<ResearchPurpose> {
    serde_json::from_str(&ws.research_purpose)
        .map_err(|e| WebError::BadRequest(format!("stored research purpose unreadable: {e}")))
}

/// The user's credits balance in cents. A user who never spent any still has the initial
/// credits, which are written to the ledger only when a workspace first uses them (reading
/// the balance writes nothing).
pub async fn credits_left(state: &AppState, user_id: i64) -> WebResult<i64> {
    let rows = state.store.ledger(user_id).await?;
    let mut entries: Vec<LedgerEntry> =
        rows.iter().filter_map(wb_store::LedgerRow::entry).collect();
    if !rows.iter().any(|r| r.kind == "initial_grant") {
        entries.push(LedgerEntry {
            kind: credits::EntryKind::Grant,
            cents: state.config.workspaces.initial_credits_cents,
            at: state.now(),
            workspace: None,
            note: "Initial credits".into(),
        });
    }
    Ok(credits::balance_cents(&entries))
}

pub struct ListRow {
    pub namespace: String,
    pub name: String,
    pub tier: &'static str,
    pub role: &'static str,
    pub created: crate::when::Stamp,
    pub locked: Option<String>,
}

/// The user's workspaces as the lists show them (newest first; a workspace whose tier the
/// user lost is listed, locked, with what to renew).
pub async fn list_rows(
    state: &AppState,
    s: &Session,
    a: &registration::AccessState,
) -> WebResult<Vec<ListRow>> {
    Ok(state
        .store
        .workspaces_of(s.user.id)
        .await?
        .into_iter()
        .map(|(w, role)| {
            let tier = AccessTier::from_code(&w.tier).unwrap_or(AccessTier::Controlled);
            ListRow {
                locked: (!a.has_tier(tier)).then(|| {
                    format!(
                        "You need {} access to open it: renew on Data Access Requirements.",
                        tier.label()
                    )
                }),
                namespace: w.namespace,
                name: w.name,
                tier: tier.label(),
                role: WorkspaceRole::from_code(&role)
                    .map(|r| r.label())
                    .unwrap_or("Reader"),
                created: crate::when::Stamp::date(w.created_at),
            }
        })
        .collect())
}

#[derive(Template)]
#[template(path = "workspaces.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<ListRow>,
    can_create: bool,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    deleted: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Query(q): Query<ListQuery>,
) -> WebResult<Response> {
    let a = registration::load(&state, &s.user).await?;
    let rows = list_rows(&state, &s, &a).await?;
    ok(&ListPage {
        layout: Layout::new("Workspaces", &s.ctx, Some(&s)),
        rows,
        can_create: a.has_tier(AccessTier::Registered),
        notice: q.deleted.map(|_| "Workspace deleted."),
    })
}

/// The create form as a browser sends it. (`serde(flatten)` cannot carry repeated keys, so
/// every field of the statement is listed here.)
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawWorkspaceForm {
    duplicate_of: String,
    name: String,
    tier: String,
    cdr_version: String,
    cdr_version_registered: String,
    cdr_version_controlled: String,
    billing: String,
    purposes: Vec<String>,
    research_areas: Vec<String>,
    disease_of_focus: String,
    other_purpose_details: String,
    intended_study: String,
    scientific_approach: String,
    anticipated_findings: String,
    dissemination: Vec<String>,
    dissemination_other: String,
    outcomes: Vec<String>,
    population: String,
    population_groups: Vec<String>,
    population_other: String,
    review_requested: String,
}

impl From<RawWorkspaceForm> for WorkspaceForm {
    fn from(r: RawWorkspaceForm) -> Self {
        WorkspaceForm {
            duplicate_of: r.duplicate_of,
            name: r.name,
            tier: r.tier.clone(),
            // One dataset list per tier (only the chosen tier's is shown); a plain
            // `cdr_version` (an API client) wins.
            cdr_version: if r.cdr_version.is_empty() {
                match r.tier.as_str() {
                    "controlled" => r.cdr_version_controlled.clone(),
                    _ => r.cdr_version_registered.clone(),
                }
            } else {
                r.cdr_version.clone()
            },
            cdr_version_registered: r.cdr_version_registered,
            cdr_version_controlled: r.cdr_version_controlled,
            billing: r.billing,
            purpose: ResearchPurposeInput {
                purposes: r.purposes,
                research_areas: r.research_areas,
                disease_of_focus: r.disease_of_focus,
                other_purpose_details: r.other_purpose_details,
                intended_study: r.intended_study,
                scientific_approach: r.scientific_approach,
                anticipated_findings: r.anticipated_findings,
                dissemination: r.dissemination,
                dissemination_other: r.dissemination_other,
                outcomes: r.outcomes,
                population: r.population,
                population_groups: r.population_groups,
                population_other: r.population_other,
                review_requested: r.review_requested,
            },
        }
    }
}

/// The create form as typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkspaceForm {
    /// The namespace of the workspace being duplicated, if any: the tier must stay the same.
    #[serde(default)]
    pub duplicate_of: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub tier: String,
    /// The dataset version for the chosen tier.
    #[serde(default)]
    pub cdr_version: String,
    /// What each tier's list shows chosen (kept when the tier changes and the form comes back).
    #[serde(default)]
    pub cdr_version_registered: String,
    #[serde(default)]
    pub cdr_version_controlled: String,
    #[serde(default)]
    pub billing: String,
    pub purpose: ResearchPurposeInput,
}

struct TierOption {
    code: &'static str,
    label: &'static str,
    held: bool,
    reason: String,
}

struct VersionOption {
    id: i64,
    name: String,
}

/// One tier's dataset list on the form.
struct TierVersions {
    tier: &'static str,
    label: &'static str,
    /// The id chosen in this list.
    chosen: String,
    versions: Vec<VersionOption>,
}

struct RusChoices {
    purposes: Vec<Choice>,
    research_areas: Vec<Choice>,
    dissemination: Vec<Choice>,
    outcomes: Vec<Choice>,
    population: Vec<Choice>,
    population_groups: Vec<Choice>,
    review: Vec<Choice>,
    q: &'static [research_purpose::Question],
}

fn rus_choices() -> RusChoices {
    RusChoices {
        purposes: PrimaryPurpose::choices(),
        research_areas: ResearchArea::choices(),
        dissemination: Dissemination::choices(),
        outcomes: Outcome::choices(),
        population: PopulationAnswer::choices(),
        population_groups: PopulationGroup::choices(),
        review: ReviewRequest::choices(),
        q: research_purpose::QUESTIONS,
    }
}

#[derive(Template)]
#[template(path = "workspace_new.html")]
struct NewPage {
    layout: Layout,
    heading: String,
    action: String,
    form: WorkspaceForm,
    errors: FieldErrors,
    tiers: Vec<TierOption>,
    versions: Vec<TierVersions>,
    /// The "Create Workspace" state (filled in by `new_check` as the form is edited).
    missing: Vec<String>,
    checked: bool,
    credits: String,
    accounts: Vec<(String, String)>,
    name_rules: &'static str,
    c: RusChoices,
    limits: [usize; 3],
}

impl NewPage {
    fn checked(&self, list: &[String], code: &str) -> bool {
        has(list, code)
    }
}

async fn new_page(
    state: &AppState,
    s: &Session,
    heading: &str,
    action: &str,
    form: WorkspaceForm,
    errors: FieldErrors,
) -> WebResult<NewPage> {
    let a = registration::load(state, &s.user).await?;
    let mut tiers = Vec::new();
    let mut versions = Vec::new();
    for t in AccessTier::ALL {
        let held = a.has_tier(*t);
        let reason = if held {
            String::new()
        } else if *t == AccessTier::Controlled && !a.controlled_email_eligible {
            format!(
                "{}'s agreement does not cover the Controlled Tier for your account.",
                a.institution_name
            )
        } else {
            let missing: Vec<&str> = a.missing_for(*t).iter().map(|m| m.label()).collect();
            format!("Complete first: {}.", missing.join("; "))
        };
        tiers.push(TierOption {
            code: t.code(),
            label: t.label(),
            held,
            reason,
        });
        if held {
            let list = state.store.cdr_versions(t.code()).await?;
            let typed = match t {
                AccessTier::Registered => &form.cdr_version_registered,
                AccessTier::Controlled => &form.cdr_version_controlled,
            };
            // What this list shows chosen: what was chosen in it, else (for the chosen tier)
            // the version the form carries, else the tier's default.
            let chosen = if !typed.is_empty() {
                typed.clone()
            } else if form.tier == t.code() && !form.cdr_version.is_empty() {
                form.cdr_version.clone()
            } else {
                list.iter()
                    .find(|v| v.is_default)
                    .or(list.first())
                    .map(|v| v.id.to_string())
                    .unwrap_or_default()
            };
            versions.push(TierVersions {
                tier: t.code(),
                label: t.label(),
                chosen,
                versions: list
                    .into_iter()
                    .map(|v| VersionOption {
                        id: v.id,
                        name: v.name,
                    })
                    .collect(),
            });
        }
    }
    let credits = credits::format_dollars(credits_left(state, s.user.id).await?);
    let accounts = state
        .store
        .billing_accounts_of(s.user.id)
        .await?
        .into_iter()
        .map(|b| (format!("account:{}", b.id), b.name))
        .collect();
    Ok(NewPage {
        accounts,
        layout: Layout::new(heading, &s.ctx, Some(s)),
        heading: heading.to_owned(),
        action: action.to_owned(),
        form,
        errors,
        tiers,
        versions,
        missing: Vec::new(),
        checked: false,
        credits,
        name_rules: workspace::NAME_RULES,
        c: rus_choices(),
        limits: [
            research_purpose::INTENDED_STUDY_MAX,
            research_purpose::SCIENTIFIC_APPROACH_MAX,
            research_purpose::ANTICIPATED_FINDINGS_MAX,
        ],
    })
}

pub async fn new_form(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    let a = registration::load(&state, &s.user).await?;
    if !a.has_tier(AccessTier::Registered) {
        return Err(WebError::Forbidden(
            "Creating a workspace needs Registered Tier access. Complete the steps on your Data Access Requirements page first.".into(),
        ));
    }
    let form = WorkspaceForm {
        tier: AccessTier::Registered.code().into(),
        billing: "initial_credits".into(),
        ..Default::default()
    };
    ok(&new_page(
        &state,
        &s,
        "Create a new workspace",
        "/workspaces/new",
        form,
        FieldErrors::new(),
    )
    .await?)
}

/// What the billing select means: the creator's initial credits (`None`) or a billing
/// account the user belongs to.
pub async fn billing_choice(
    state: &AppState,
    s: &Session,
    choice: &str,
) -> WebResult<Result<Option<i64>, String>> {
    if choice == "initial_credits" {
        if credits_left(state, s.user.id).await? <= 0 {
            return Ok(Err(
                "Your initial credits are used up. Choose a billing account.".into(),
            ));
        }
        return Ok(Ok(None));
    }
    let Some(id) = choice
        .strip_prefix("account:")
        .and_then(|i| i.parse::<i64>().ok())
    else {
        return Ok(Err("Choose a billing account.".into()));
    };
    let mine = state.store.billing_accounts_of(s.user.id).await?;
    Ok(if mine.iter().any(|b| b.id == id) {
        Ok(Some(id))
    } else {
        Err("You are not a member of this billing account.".into())
    })
}

/// The create form again, with `errors` next to their fields and everything typed kept.
async fn form_again(
    state: &AppState,
    s: &Session,
    status: StatusCode,
    form: WorkspaceForm,
    errors: FieldErrors,
) -> WebResult<Response> {
    let p = new_page(
        state,
        s,
        "Create a new workspace",
        "/workspaces/new",
        form,
        errors,
    )
    .await?;
    page(status, &p)
}

/// What is still missing before "Create Workspace" is accepted, in form order, named as the
/// form names it ("Workspace name", "Question 3"). It comes from the same `check_form` the
/// submit runs, so the button's state and the server's answer agree.
fn still_to_answer(errors: &FieldErrors) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for (field, label) in [
        ("name", "Workspace name"),
        ("tier", "Data access tier"),
        ("cdr_version", "Dataset version"),
        ("billing", "Billing"),
    ] {
        if errors.get(field).is_some() {
            push(label.to_owned());
        }
    }
    for q in research_purpose::QUESTIONS {
        if errors.iter().any(|(f, _)| {
            research_purpose::question_of_field(f).is_some_and(|x| x.number == q.number)
        }) {
            push(format!("Question {}", q.number));
        }
    }
    out
}

#[derive(Template)]
#[template(path = "workspace_create_state.html")]
struct CreateState {
    missing: Vec<String>,
    checked: bool,
}

/// The "Create Workspace" button as the form stands (htmx, as the researcher fills it in):
/// disabled with what is left named, or enabled. Writes nothing.
pub async fn new_check(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(raw): Form<RawWorkspaceForm>,
) -> WebResult<Response> {
    let form = WorkspaceForm::from(raw);
    let missing = match check_form(&state, &s, &form).await? {
        Ok(_) => Vec::new(),
        Err(errors) => still_to_answer(&errors),
    };
    Ok(axum::response::Html(
        CreateState {
            missing,
            checked: true,
        }
        .render()?,
    )
    .into_response())
}

/// A form that passed validation.
pub struct Checked {
    pub name: WorkspaceName,
    pub billing_account_id: Option<i64>,
    pub tier: AccessTier,
    pub cdr_version_id: i64,
    pub purpose: ResearchPurpose,
}

/// Validates the whole form against the domain rules and what the user holds now.
pub async fn check_form(
    state: &AppState,
    s: &Session,
    f: &WorkspaceForm,
) -> WebResult<Result<Checked, FieldErrors>> {
    let mut errors = FieldErrors::new();
    let name = WorkspaceName::parse(&f.name)
        .map_err(|e| errors.add("name", e.to_string()))
        .ok();
    let a = registration::load(state, &s.user).await?;
    let tier = match AccessTier::from_code(&f.tier) {
        Some(t) if a.has_tier(t) => Some(t),
        Some(t) => {
            errors.add(
                "tier",
                format!(
                    "You do not hold {} access, so you cannot create a workspace with its data.",
                    t.label()
                ),
            );
            None
        }
        None => {
            errors.add("tier", "Choose the data access tier.");
            None
        }
    };
    let mut cdr_version_id = None;
    match f.cdr_version.parse::<i64>().ok() {
        None => errors.add("cdr_version", "Choose the dataset version."),
        Some(id) => match state.store.cdr_version(id).await? {
            Some(v) if tier.is_some_and(|t| t.code() == v.tier) => cdr_version_id = Some(v.id),
            Some(_) => errors.add("cdr_version", "This dataset version belongs to another tier: choose one of the tier you selected."),
            None => errors.add("cdr_version", "This dataset version does not exist."),
        },
    }
    if !f.duplicate_of.is_empty() {
        let source = open_workspace(state, s, &f.duplicate_of, WorkspaceAction::Duplicate).await?;
        if tier.is_some_and(|t| t != source.tier) {
            errors.add(
                "tier",
                format!(
                    "A duplicate keeps the tier of its source: {}.",
                    source.tier.label()
                ),
            );
        }
    }
    let billing_account_id = match billing_choice(state, s, &f.billing).await? {
        Ok(b) => b,
        Err(msg) => {
            errors.add("billing", msg);
            None
        }
    };
    let purpose = match research_purpose::validate(&f.purpose) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.merge(e);
            None
        }
    };
    Ok(
        match (errors.is_empty(), name, tier, cdr_version_id, purpose) {
            (true, Some(name), Some(tier), Some(cdr_version_id), Some(purpose)) => Ok(Checked {
                name,
                billing_account_id,
                tier,
                cdr_version_id,
                purpose,
            }),
            _ => Err(errors),
        },
    )
}

#[derive(Template)]
#[template(path = "workspace_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    action: String,
    sealed: String,
    name: String,
    summary: PublicSummary,
}

const CONFIRM_PURPOSE: &str = "workspace-create";

/// "Create Workspace": a complete form leads to the "Confirm" step; an incomplete one comes
/// back with every problem named and everything typed kept.
pub async fn new_submit(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(raw): Form<RawWorkspaceForm>,
) -> WebResult<Response> {
    let form = WorkspaceForm::from(raw);
    match check_form(&state, &s, &form).await? {
        Err(errors) => form_again(&state, &s, StatusCode::UNPROCESSABLE_ENTITY, form, errors).await,
        Ok(checked) => ok(&ConfirmPage {
            layout: Layout::new("Create Workspace", &s.ctx, Some(&s)),
            action: "/workspaces/confirm".into(),
            sealed: state
                .signer
                .seal(CONFIRM_PURPOSE, &form, state.now() + 3600),
            name: checked.name.as_str().to_owned(),
            summary: checked.purpose.public_summary(),
        }),
    }
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    decision: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(f): Form<ConfirmForm>,
) -> WebResult<Response> {
    let Some(form) = state
        .signer
        .open::<WorkspaceForm>(CONFIRM_PURPOSE, &f.state, state.now())
    else {
        return Err(WebError::BadRequest(
            "This confirmation was open for more than an hour or was changed. Nothing was created; fill in the form again.".into(),
        ));
    };
    if f.decision != "confirm" {
        // "Keep Editing": back to the form with everything as it was.
        return ok(&new_page(
            &state,
            &s,
            "Create a new workspace",
            "/workspaces/new",
            form,
            FieldErrors::new(),
        )
        .await?);
    }
    let checked = match check_form(&state, &s, &form).await? {
        Ok(c) => c,
        Err(errors) => {
            return form_again(&state, &s, StatusCode::UNPROCESSABLE_ENTITY, form, errors).await;
        }
    };
    let ns = create(&state, &s, &checked).await?;
    match ns {
        Ok(ns) => Ok(Redirect::to(&format!("/workspaces/{ns}?created=1")).into_response()),
        Err(errors) => form_again(&state, &s, StatusCode::CONFLICT, form, errors).await,
    }
}

/// Creates the workspace; `Err` with a field error when the name is taken.
pub async fn create(
    state: &AppState,
    s: &Session,
    c: &Checked,
) -> WebResult<Result<String, FieldErrors>> {
    let now = state.now();
    let suffix: String = wb_auth::random_token()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_lowercase();
    let namespace = workspace::namespace_for(c.name.as_str(), &suffix);
    let json =
        serde_json::to_string(&c.purpose).map_err(|e| WebError::BadRequest(e.to_string()))?;
    let created = state
        .store
        .create_workspace(&wb_store::NewWorkspace {
            namespace: &namespace,
            name: c.name.as_str(),
            creator_user_id: s.user.id,
            tier: c.tier.code(),
            cdr_version_id: c.cdr_version_id,
            billing_account_id: c.billing_account_id,
            research_purpose: &json,
            review_requested: c.purpose.review_requested,
            initial_credits_cents: c
                .billing_account_id
                .is_none()
                .then_some(state.config.workspaces.initial_credits_cents),
            now,
        })
        .await;
    match created {
        Ok(_) => {}
        Err(StoreError::Conflict(_)) => {
            let mut errors = FieldErrors::new();
            errors.add(
                "name",
                "You already have a workspace with this name. Choose another name.",
            );
            return Ok(Err(errors));
        }
        Err(e) => return Err(e.into()),
    }
    registration::audit_user(state, &s.user, "workspace.created", &namespace, &s.ctx.ip).await?;
    Ok(Ok(namespace))
}

#[derive(Debug, Deserialize)]
pub struct TabQuery {
    #[serde(default)]
    show: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
}

struct Collaborator {
    name: String,
    account: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "workspace.html")]
struct WorkspacePage {
    layout: Layout,
    ws: WorkspaceRecord,
    tab: &'static str,
    role: &'static str,
    can_share: bool,
    can_edit_analysis: bool,
    tier: &'static str,
    dataset: String,
    credits: String,
    creator: String,
    summary: PublicSummary,
    collaborators: Vec<Collaborator>,
    show: String,
    show_links: Vec<(&'static str, &'static str, bool)>,
    notice: Option<&'static str>,
    cohorts: Vec<crate::pages::cohorts::CohortItem>,
    cohort_draft: bool,
}

async fn workspace_page(
    state: &AppState,
    s: &Session,
    o: Opened,
    tab: &'static str,
    show: String,
) -> WebResult<WorkspacePage> {
    let dataset = state
        .store
        .cdr_version(o.ws.cdr_version_id)
        .await?
        .map(|v| v.name)
        .unwrap_or_default();
    let mut collaborators = Vec::new();
    let mut creator = String::new();
    for (uid, role) in state.store.workspace_members(o.ws.id).await? {
        if let Some(u) = state.store.user_by_id(uid).await? {
            if uid == o.ws.creator_user_id {
                creator = u.full_name();
            }
            collaborators.push(Collaborator {
                name: u.full_name(),
                account: format!("{}@{}", u.username, state.config.accounts.username_domain),
                role: WorkspaceRole::from_code(&role)
                    .map(|r| r.label())
                    .unwrap_or("Reader"),
            });
        }
    }
    if creator.is_empty()
        && let Some(u) = state.store.user_by_id(o.ws.creator_user_id).await?
    {
        creator = u.full_name();
    }
    let credits = match o.ws.billing_account_id {
        Some(id) => format!(
            "Billing account {}",
            state
                .store
                .billing_account(id)
                .await?
                .map(|b| b.name)
                .unwrap_or_default()
        ),
        None => format!(
            "Initial credits of the creator · {} left",
            credits::format_dollars(credits_left(state, o.ws.creator_user_id).await?)
        ),
    };
    let (cohorts, cohort_draft) = if tab == "data" {
        crate::pages::cohorts::items(state, s, &o).await?
    } else {
        (Vec::new(), false)
    };
    Ok(WorkspacePage {
        cohorts,
        cohort_draft,
        layout: Layout::new(&o.ws.name, &s.ctx, Some(s)),
        summary: purpose_of(&o.ws)?.public_summary(),
        tab,
        role: o.role.label(),
        can_share: workspace::allows(o.role, WorkspaceAction::Share),
        can_edit_analysis: workspace::allows(o.role, WorkspaceAction::EditAnalysis),
        tier: o.tier.label(),
        dataset,
        credits,
        creator,
        collaborators,
        show_links: [
            ("all", "Show All"),
            ("cohorts", "Cohorts"),
            ("reviews", "Cohort Reviews"),
            ("concept-sets", "Concept Sets"),
            ("datasets", "Datasets"),
        ]
        .into_iter()
        .map(|(k, l)| (k, l, k == show))
        .collect(),
        show,
        ws: o.ws,
        notice: None,
    })
}

pub async fn data(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Query(q): Query<TabQuery>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::View).await?;
    let show = q.show.unwrap_or_else(|| "all".into());
    let mut p = workspace_page(&state, &s, o, "data", show).await?;
    p.notice = q
        .created
        .map(|_| "Workspace created. Share it from ABOUT → SHARE; its research purpose is now on the Research Hub.")
        .or(q.deleted.map(|_| "Cohort deleted."));
    ok(&p)
}

pub async fn about(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::View).await?;
    ok(&workspace_page(&state, &s, o, "about", String::new()).await?)
}

struct HubRow {
    name: String,
    creator: String,
    creator_username: String,
    institution: String,
    tier: &'static str,
    created: crate::when::Stamp,
    summary: PublicSummary,
}

#[derive(Template)]
#[template(path = "research_hub.html")]
struct HubPage {
    layout: Layout,
    q: String,
    rows: Vec<HubRow>,
    total: usize,
}

#[derive(Debug, Deserialize)]
pub struct HubQuery {
    #[serde(default)]
    q: String,
}

/// The public Research Hub directory: every workspace's public answers, searchable, open
/// without signing in.
pub async fn research_hub(
    State(state): State<AppState>,
    v: crate::guard::Visitor,
    Query(q): Query<HubQuery>,
) -> WebResult<Response> {
    let needle = q.q.trim().to_lowercase();
    let all = state.store.directory().await?;
    let total = all.len();
    let mut rows = Vec::new();
    for d in all {
        let Ok(p) = purpose_of(&d.workspace) else {
            continue;
        };
        let summary = p.public_summary();
        let haystack = format!(
            "{} {} {} {} {} {} {} {}",
            d.workspace.name,
            d.creator_name,
            d.institution_name,
            summary.purposes.join(" "),
            summary.research_areas.join(" "),
            summary.intended_study,
            summary.scientific_approach,
            summary.anticipated_findings
        )
        .to_lowercase();
        if !needle.is_empty() && !needle.split_whitespace().all(|w| haystack.contains(w)) {
            continue;
        }
        rows.push(HubRow {
            name: d.workspace.name.clone(),
            creator: d.creator_name,
            creator_username: d.creator_username,
            institution: d.institution_name,
            tier: AccessTier::from_code(&d.workspace.tier)
                .map(|t| t.label())
                .unwrap_or(""),
            created: crate::when::Stamp::date(d.workspace.created_at),
            summary,
        });
    }
    ok(&HubPage {
        layout: Layout::new("Research Hub", &v.ctx, v.session.as_ref()),
        q: q.q,
        rows,
        total,
    })
}

#[derive(Template)]
#[template(path = "workspace_delete.html")]
struct DeletePage {
    layout: Layout,
    ws: WorkspaceRecord,
}

/// "Delete": owners only, after a confirmation.
pub async fn delete_form(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Delete).await?;
    ok(&DeletePage {
        layout: Layout::new(&format!("Delete {}", o.ws.name), &s.ctx, Some(&s)),
        ws: o.ws,
    })
}

pub async fn delete(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Delete).await?;
    state.store.delete_workspace(o.ws.id, state.now()).await?;
    registration::audit_user(
        &state,
        &s.user,
        "workspace.deleted",
        &o.ws.namespace,
        &s.ctx.ip,
    )
    .await?;
    Ok(Redirect::to("/workspaces?deleted=1").into_response())
}

/// "Duplicate": any collaborator; the form comes prefilled ("Duplicate of …", the research
/// purpose) and keeps the tier; the review question is asked again.
pub async fn duplicate_form(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::Duplicate).await?;
    let mut purpose = purpose_of(&o.ws)?.to_input();
    purpose.review_requested = String::new();
    let form = WorkspaceForm {
        duplicate_of: o.ws.namespace.clone(),
        name: format!("Duplicate of {}", o.ws.name),
        tier: o.tier.code().into(),
        cdr_version: o.ws.cdr_version_id.to_string(),
        billing: "initial_credits".into(),
        purpose,
        ..Default::default()
    };
    ok(&new_page(
        &state,
        &s,
        &format!("Duplicate {}", o.ws.name),
        "/workspaces/new",
        form,
        FieldErrors::new(),
    )
    .await?)
}

#[derive(Template)]
#[template(path = "workspace_edit.html")]
struct EditPage {
    layout: Layout,
    ws: WorkspaceRecord,
    form: WorkspaceForm,
    errors: FieldErrors,
    c: RusChoices,
    limits: [usize; 3],
}

impl EditPage {
    fn checked(&self, list: &[String], code: &str) -> bool {
        has(list, code)
    }
}

fn edit_page(
    s: &Session,
    ws: WorkspaceRecord,
    purpose: ResearchPurposeInput,
    errors: FieldErrors,
) -> EditPage {
    EditPage {
        layout: Layout::new(&format!("Edit {}", ws.name), &s.ctx, Some(s)),
        form: WorkspaceForm {
            purpose,
            ..Default::default()
        },
        ws,
        errors,
        c: rus_choices(),
        limits: [
            research_purpose::INTENDED_STUDY_MAX,
            research_purpose::SCIENTIFIC_APPROACH_MAX,
            research_purpose::ANTICIPATED_FINDINGS_MAX,
        ],
    }
}

/// Editing the research purpose: owners only.
pub async fn edit_form(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::EditPurpose).await?;
    let input = purpose_of(&o.ws)?.to_input();
    ok(&edit_page(&s, o.ws, input, FieldErrors::new()))
}

pub async fn edit(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Form(raw): Form<RawWorkspaceForm>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::EditPurpose).await?;
    let input = WorkspaceForm::from(raw).purpose;
    match research_purpose::validate(&input) {
        Err(errors) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &edit_page(&s, o.ws, input, errors),
        ),
        Ok(p) => {
            let json =
                serde_json::to_string(&p).map_err(|e| WebError::BadRequest(e.to_string()))?;
            let now = state.now();
            state
                .store
                .update_research_purpose(o.ws.id, &json, now)
                .await?;
            if p.review_requested {
                state.store.request_review(o.ws.id, now).await?;
            }
            registration::audit_user(
                &state,
                &s.user,
                "workspace.purpose_edited",
                &o.ws.namespace,
                &s.ctx.ip,
            )
            .await?;
            Ok(Redirect::to(&format!("/workspaces/{}/about", o.ws.namespace)).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct BillingForm {
    #[serde(default)]
    billing: String,
}

/// Owners change the workspace's billing.
pub async fn change_billing(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(ns): Path<String>,
    Form(f): Form<BillingForm>,
) -> WebResult<Response> {
    let o = open_workspace(&state, &s, &ns, WorkspaceAction::ChangeBilling).await?;
    match billing_choice(&state, &s, &f.billing).await? {
        Ok(account) => {
            state
                .store
                .set_workspace_billing(o.ws.id, account, state.now())
                .await?;
            registration::audit_user(
                &state,
                &s.user,
                "workspace.billing_changed",
                &o.ws.namespace,
                &s.ctx.ip,
            )
            .await?;
            Ok(Redirect::to(&format!("/workspaces/{}/about", o.ws.namespace)).into_response())
        }
        Err(msg) => Err(WebError::BadRequest(msg)),
    }
}
