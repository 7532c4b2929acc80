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
use crate::when::{Rich, Stamp};

/// One module as the page shows it.
pub struct ModuleView {
    pub code: &'static str,
    pub label: &'static str,
    pub done: bool,
    pub status: Rich,
    pub expires_on: Option<Stamp>,
    /// A line under the status about what is possible next, e.g. when a training assessment
    /// can be retaken, or "Requested on Dec 5, 2026" for identity verification asked of an
    /// administrator.
    pub note: Option<Rich>,
    pub action: Option<(String, &'static str)>,
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

pub fn view(_state: &AppState, s: &AccessState, m: AccessModule) -> ModuleView {
    let status = s.status(m);
    let date = Stamp::date;
    let (text, expires, done) = match status {
        ModuleStatus::NotStarted => (Rich::new().text("Not completed"), None, false),
        ModuleStatus::Completed {
            completed_at,
            expires_at,
        } => (
            Rich::new().text("Completed on: ").time(date(completed_at)),
            expires_at.map(date),
            true,
        ),
        ModuleStatus::Bypassed { at } => (
            Rich::new()
                .text("Bypassed by an administrator on: ")
                .time(date(at)),
            None,
            true,
        ),
        ModuleStatus::Expired { expired_at, .. } => (
            Rich::new()
                .text("Expired on: ")
                .time(date(expired_at))
                .text(". Renew it to keep your access."),
            None,
            false,
        ),
        ModuleStatus::OutdatedVersion { completed_at } => (
            Rich::new()
                .text("You signed an earlier version on ")
                .time(date(completed_at))
                .text(". Sign the current version."),
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
    } else if m == AccessModule::TwoFactor && matches!(status, ModuleStatus::Completed { .. }) {
        // New recovery codes or a new authenticator app, after the password.
        Some((module_url(m).to_owned(), "Manage"))
    } else {
        None
    };
    let note = match (m, s.identity_requested_at) {
        (AccessModule::Identity, Some(at)) if !done => {
            Some(Rich::new().text("Requested on ").time(date(at)))
        }
        _ => None,
    };
    ModuleView {
        code: m.code(),
        label: m.label(),
        done,
        status: text,
        expires_on: expires,
        note,
        action,
    }
}

/// A training module's row, with a line about the assessment while it is not done: when the
/// retake becomes possible ("Retake available at …") or how many attempts are left.
async fn training_view(
    state: &AppState,
    s: &AccessState,
    m: AccessModule,
    user_id: i64,
) -> WebResult<ModuleView> {
    let mut v = view(state, s, m);
    let key = if m == AccessModule::CtTraining {
        "ct"
    } else {
        "rt"
    };
    if v.done {
        return Ok(v);
    }
    let Some(course) = wb_domain::training::course(key) else {
        return Ok(v);
    };
    let attempts = state.store.attempts(user_id, key).await?;
    if attempts.iter().any(|a| a.submitted_at.is_none()) {
        v.note = Some(Rich::new().text("Assessment in progress"));
        v.action = Some((module_url(m).to_owned(), "Continue"));
        return Ok(v);
    }
    if !attempts.iter().any(|a| a.passed == Some(false)) {
        return Ok(v);
    }
    let policy = state.assessment_policy(course);
    let now = state.now();
    v.note = Some(match super::training::may_start(&attempts, &policy, now) {
        Err(not_yet) => {
            v.action = None;
            Rich::new()
                .text("Not passed yet · Retake available at ")
                .time(Stamp::datetime(not_yet.until()))
        }
        Ok(()) => {
            let started: Vec<i64> = attempts.iter().map(|a| a.started_at).collect();
            match wb_domain::training::attempts_left(&started, &policy, now) {
                Some(left) => Rich::new().text(&format!(
                    "Not passed yet · Retake available now ({left} of {} attempts in 24 hours left)",
                    policy.attempts_per_day
                )),
                None => Rich::new().text("Not passed yet · Retake available now"),
            }
        }
    });
    Ok(v)
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
    registered_expires: Option<Stamp>,
    controlled_expires: Option<Stamp>,
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
        registration: vec![
            view(&state, &a, AccessModule::TwoFactor),
            view(&state, &a, AccessModule::Identity),
            training_view(&state, &a, AccessModule::RtTraining, s.user.id).await?,
        ],
        controlled: if a.controlled_email_eligible {
            Some(training_view(&state, &a, AccessModule::CtTraining, s.user.id).await?)
        } else {
            None
        },
        controlled_reason,
        conduct: view(&state, &a, AccessModule::CodeOfConduct),
        profile: view(&state, &a, AccessModule::ProfileConfirmation),
        registered,
        controlled_granted,
        complete,
        registered_expires: a
            .tier_expires_at(AccessTier::Registered)
            .filter(|_| registered)
            .map(Stamp::date),
        controlled_expires: a
            .tier_expires_at(AccessTier::Controlled)
            .filter(|_| controlled_granted)
            .map(Stamp::date),
    })
}
