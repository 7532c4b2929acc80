//! The signed-in user's own profile (everything, public and private), the yearly "Confirm
//! your profile" step, and the workbench home behind "Get Started".

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use wb_domain::AccessTier;
use wb_domain::access::AccessModule;

use super::{Layout, ok};
use crate::error::WebResult;
use crate::guard::SignedIn;
use crate::registration;
use crate::state::AppState;
use crate::when::Rich;

#[derive(Template)]
#[template(path = "my_profile.html")]
struct MyProfile {
    layout: Layout,
    u: wb_store::UserRecord,
    account: String,
    institution: String,
    role: String,
    status: crate::when::Rich,
}

pub async fn my_profile(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
) -> WebResult<Response> {
    let a = registration::load(&state, &s.user).await?;
    let v = super::access::view(&state, &a, AccessModule::ProfileConfirmation);
    let role = match (&s.user.role, &s.user.role_other) {
        (wb_domain::choices::Role::Other, Some(t)) => t.clone(),
        (r, _) => r.label().to_owned(),
    };
    ok(&MyProfile {
        layout: Layout::new("Your profile", &s.ctx, Some(&s)),
        account: format!(
            "{}@{}",
            s.user.username, state.config.accounts.username_domain
        ),
        institution: a.institution_name.clone(),
        role,
        status: match v.expires_on {
            Some(e) => Rich::new()
                .rich(&v.status)
                .text(" · Confirm again by ")
                .time(e),
            None => v.status,
        },
        u: s.user,
    })
}

pub async fn confirm_profile(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
) -> WebResult<Response> {
    state
        .store
        .complete_module(
            s.user.id,
            AccessModule::ProfileConfirmation,
            state.now(),
            None,
        )
        .await?;
    registration::audit_module(
        &state,
        &s.user,
        AccessModule::ProfileConfirmation,
        "module.completed",
        &s.ctx.ip,
    )
    .await?;
    registration::sync(&state, &s.user).await?;
    Ok(Redirect::to("/data-access-requirements").into_response())
}

#[derive(Template)]
#[template(path = "workbench_home.html")]
struct HomePage {
    layout: Layout,
    given_name: String,
    registered: bool,
    controlled: bool,
    /// "Workspaces +" and the user's workspaces, as the guide's home page has them.
    rows: Vec<super::workspaces::ListRow>,
    can_create: bool,
}

/// The workbench home, behind "Get Started".
pub async fn home(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    let a = registration::load(&state, &s.user).await?;
    if !a.has_tier(AccessTier::Registered) {
        return Ok(Redirect::to("/data-access-requirements").into_response());
    }
    ok(&HomePage {
        layout: Layout::new("Researcher Workbench", &s.ctx, Some(&s)),
        given_name: s.user.given_name.clone(),
        registered: true,
        controlled: a.has_tier(AccessTier::Controlled),
        rows: super::workspaces::list_rows(&state, &s, &a).await?,
        can_create: true,
    })
}
