//! "Data Access Requirements": every access module with its status, completion and expiry
//! dates and the next action, the tiers they grant, and "Get Started" once all are done.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use wb_domain::AccessTier;
use wb_domain::access::{AccessModule, ModuleStatus};

use super::{Layout, ok};
use crate::error::WebResult;
use crate::guard::SignedIn;
use crate::registration::{self, AccessState};
use crate::state::AppState;

/// One module as the page shows it.
pub struct ModuleView {
    pub code: &'static str,
    pub label: &'static str,
    pub done: bool,
    pub status: String,
    pub expires_on: Option<String>,
    pub action: Option<(String, &'static str)>,
    /// A line under the status, e.g. "Requested on Dec 5, 2026" for identity verification
    /// asked of an administrator.
    pub note: Option<String>,
}

/// Where each module is completed.
pub fn module_url(m: AccessModule) -> &'static str {
    match m {
        AccessModule::TwoFactor => "/two-step-verification",
        AccessModule::Identity => "/identity",
        AccessModule::RtTraining => "/training/rt",
        AccessModule::CtTraining => "/training/ct",
        AccessModule::CodeOfConduct => "/code-of-conduct",
        AccessModule::ProfileConfirmation => "/profile",
    }
}

pub fn view(state: &AppState, s: &AccessState, m: AccessModule) -> ModuleView {
    let status = s.status(m);
    let date = |t: i64| state.date(t);
    let (text, expires, done) = match status {
        ModuleStatus::NotStarted => ("Not completed".to_owned(), None, false),
        ModuleStatus::Completed {
            completed_at,
            expires_at,
        } => (
            format!("Completed on: {}", date(completed_at)),
            expires_at.map(date),
            true,
        ),
        ModuleStatus::Bypassed { at } => (
            format!("Bypassed by an administrator on: {}", date(at)),
            None,
            true,
        ),
        ModuleStatus::Expired { expired_at, .. } => (
            format!(
                "Expired on: {}. Renew it to keep your access.",
                date(expired_at)
            ),
            None,
            false,
        ),
        ModuleStatus::OutdatedVersion { completed_at } => (
            format!(
                "You signed an earlier version on {}. Sign the current version.",
                date(completed_at)
            ),
            None,
            false,
        ),
    };
    let renewable = wb_domain::access::renewal_open(
        m,
        s.records.iter().find(|r| r.module == m),
        &s.policy,
        s.now,
    );
    let action = if !done {
        Some((module_url(m).to_owned(), "Start"))
    } else if renewable && m.expires() {
        Some((module_url(m).to_owned(), "Renew"))
    } else {
        None
    };
    let note = match (m, s.identity_requested_at) {
        (AccessModule::Identity, Some(at)) if !done => Some(format!("Requested on {}", date(at))),
        _ => None,
    };
    ModuleView {
        code: m.code(),
        label: m.label(),
        done,
        status: text,
        expires_on: expires,
        action,
        note,
    }
}

#[derive(Template)]
#[template(path = "access_requirements.html")]
struct RequirementsPage {
    layout: Layout,
    given_name: String,
    institution: String,
    welcome: bool,
    registration: Vec<ModuleView>,
    controlled: Option<ModuleView>,
    controlled_reason: String,
    conduct: ModuleView,
    profile: ModuleView,
    registered: bool,
    controlled_granted: bool,
    complete: bool,
    registered_expires: Option<String>,
    controlled_expires: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RequirementsQuery {
    #[serde(default)]
    welcome: Option<String>,
}

pub async fn requirements(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Query(q): Query<RequirementsQuery>,
) -> WebResult<Response> {
    let a = registration::load(&state, &s.user).await?;
    let registered = a.has_tier(AccessTier::Registered);
    let controlled_granted = a.has_tier(AccessTier::Controlled);
    let complete = registered && (controlled_granted || !a.controlled_email_eligible);
    let controlled_reason = if a.controlled_email_eligible {
        String::new()
    } else {
        format!(
            "{}'s agreement does not make {} eligible for the Controlled Tier, so Controlled \
             Tier training is not offered. If you believe it should, ask your institution's \
             research office.",
            a.institution_name, s.user.contact_email
        )
    };
    ok(&RequirementsPage {
        layout: Layout::new("Data Access Requirements", &s.ctx, Some(&s)),
        given_name: s.user.given_name.clone(),
        institution: a.institution_name.clone(),
        welcome: q.welcome.is_some(),
        registration: [
            AccessModule::TwoFactor,
            AccessModule::Identity,
            AccessModule::RtTraining,
        ]
        .into_iter()
        .map(|m| view(&state, &a, m))
        .collect(),
        controlled: a
            .controlled_email_eligible
            .then(|| view(&state, &a, AccessModule::CtTraining)),
        controlled_reason,
        conduct: view(&state, &a, AccessModule::CodeOfConduct),
        profile: view(&state, &a, AccessModule::ProfileConfirmation),
        registered,
        controlled_granted,
        complete,
        registered_expires: a
            .tier_expires_at(AccessTier::Registered)
            .filter(|_| registered)
            .map(|t| state.date(t)),
        controlled_expires: a
            .tier_expires_at(AccessTier::Controlled)
            .filter(|_| controlled_granted)
            .map(|t| state.date(t)),
    })
}
