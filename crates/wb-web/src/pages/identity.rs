//! "Verify your identity" with an external OpenID Connect provider.
//!
//! "Get Started" on a provider sends the user there with PKCE, `state` and `nonce`; what the
//! callback needs is kept in a signed cookie that lives ten minutes and names the user. The
//! callback checks the state, exchanges the code, verifies the ID token and binds the
//! provider's subject to this account (one identity, one account).
//!
//! With no provider configured, "Request verification" queues a request for an administrator
//! (one open request per user, kept by the database), e-mails the administrators and the user,
//! and the page says when it was requested; `wb admin identity-requests resolve` completes it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use wb_auth::oidc::PendingLogin;
use wb_domain::access::{AccessModule, ModuleStatus};
use wb_store::StoreError;

use super::{Layout, ok, page};
use crate::error::{WebError, WebResult};
use crate::guard::SignedIn;
use crate::registration;
use crate::state::AppState;

const COOKIE: &str = "wb_oidc";
const PURPOSE: &str = "oidc-login";
const LIFETIME: i64 = 600;

#[derive(Serialize, Deserialize)]
struct Pending {
    user_id: i64,
    login: PendingLogin,
}

struct ProviderView {
    key: String,
    name: String,
    description: String,
}

#[derive(Template)]
#[template(path = "identity.html")]
struct IdentityPage {
    layout: Layout,
    verified_on: Option<crate::when::Stamp>,
    providers: Vec<ProviderView>,
    error: Option<String>,
    support_email: String,
    /// With no provider: when the open request for an administrator was made.
    requested_on: Option<String>,
}

async fn identity_page(
    state: &AppState,
    s: &crate::guard::Session,
    error: Option<String>,
) -> WebResult<IdentityPage> {
    let a = registration::load(state, &s.user).await?;
    let verified_on = match a.status(AccessModule::Identity) {
        ModuleStatus::Completed { completed_at, .. } => {
            Some(crate::when::Stamp::date(completed_at))
        }
        ModuleStatus::Bypassed { at } => Some(crate::when::Stamp::date(at)),
        _ => None,
    };
    Ok(IdentityPage {
        layout: Layout::new("Verify your identity", &s.ctx, Some(s)),
        verified_on,
        providers: state
            .identity_providers
            .iter()
            .map(|p| ProviderView {
                key: p.config.key.clone(),
                name: p.config.name.clone(),
                description: p.config.description.clone(),
            })
            .collect(),
        error,
        support_email: state.config.accounts.support_email.clone(),
        requested_on: a.identity_requested_at.map(|t| state.date(t)),
    })
}

/// "Request verification" (no provider configured): queues one request for administrators
/// and, the first time only, e-mails them and the user. Parallel clicks make one request and
/// one pair of e-mails.
pub async fn request(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    if !state.identity_providers.is_empty() {
        return Err(WebError::NotFound);
    }
    let a = registration::load(&state, &s.user).await?;
    if a.is_compliant(AccessModule::Identity) {
        return Ok(Redirect::to("/identity").into_response());
    }
    let now = state.now();
    let (created, at) = state
        .store
        .request_identity_verification(s.user.id, now)
        .await?;
    if created {
        registration::audit_user(&state, &s.user, "identity.requested", "", &s.ctx.ip).await?;
        let support = &state.config.accounts.support_email;
        state.send_in_background(wb_mail::messages::identity_verification_requested(
            state.config.accounts.admin_email(),
            &wb_mail::messages::IdentityVerificationRequested {
                full_name: &s.user.full_name(),
                username: &s.user.username,
                institution: &a.institution_name,
                contact_email: &s.user.contact_email,
                when: &state.datetime(at),
                support_email: support,
            },
        ));
        state.send_in_background(wb_mail::messages::identity_verification_request_received(
            &s.user.contact_email,
            &wb_mail::messages::IdentityVerificationRequestReceived {
                given_name: &s.user.given_name,
                requirements_url: &state.link("/data-access-requirements"),
                support_email: support,
            },
        ));
    }
    Ok(Redirect::to("/identity").into_response())
}

pub async fn identity(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    ok(&identity_page(&state, &s, None).await?)
}

fn callback_url(state: &AppState) -> String {
    state.link("/identity/callback")
}

pub async fn start(
    State(state): State<AppState>,
    jar: CookieJar,
    SignedIn(s): SignedIn,
    Path(key): Path<String>,
) -> WebResult<Response> {
    let provider = state
        .identity_providers
        .iter()
        .find(|p| p.config.key == key)
        .ok_or(WebError::NotFound)?;
    let (url, login) = match provider.start(&callback_url(&state)).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(error = %e, detail = e.detail().unwrap_or_default(), provider = %key, "identity provider unavailable");
            let msg = format!(
                "{} cannot be reached right now. Nothing was changed; try again in a few minutes.",
                provider.config.name
            );
            return page(
                StatusCode::BAD_GATEWAY,
                &identity_page(&state, &s, Some(msg)).await?,
            );
        }
    };
    let sealed = state.signer.seal(
        PURPOSE,
        &Pending {
            user_id: s.user.id,
            login,
        },
        state.now() + LIFETIME,
    );
    let jar = jar.add(state.cookie(COOKIE, sealed, LIFETIME));
    Ok((jar, Redirect::to(&url)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

async fn fail(
    state: &AppState,
    s: &crate::guard::Session,
    jar: &CookieJar,
    status: StatusCode,
    msg: String,
) -> WebResult<Response> {
    let p = identity_page(state, s, Some(msg)).await?;
    Ok((jar.clone(), page(status, &p)?).into_response())
}

pub async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    SignedIn(s): SignedIn,
    Query(q): Query<CallbackQuery>,
) -> WebResult<Response> {
    let pending: Option<Pending> = jar
        .get(COOKIE)
        .and_then(|c| state.signer.open(PURPOSE, c.value(), state.now()));
    let jar = jar.add(state.cookie(COOKIE, String::new(), 0));
    let Some(pending) = pending.filter(|p| p.user_id == s.user.id) else {
        return fail(&state, &s, &jar,
            StatusCode::BAD_REQUEST,
            "This identity verification was not started from this browser or took longer than 10 minutes. Nothing was recorded; choose your provider again.".into(),
        )
        .await;
    };
    let state_ok = q.state.as_deref().is_some_and(|st| {
        state.signer.tag("oidc-state", st) == state.signer.tag("oidc-state", &pending.login.state)
    });
    if !state_ok {
        return fail(&state, &s, &jar,
            StatusCode::BAD_REQUEST,
            "The answer from the identity provider does not belong to the verification you started. Nothing was recorded; choose your provider again.".into(),
        )
        .await;
    }
    let Some(provider) = state
        .identity_providers
        .iter()
        .find(|p| p.config.key == pending.login.provider)
        .cloned()
    else {
        return Err(WebError::NotFound);
    };
    if let Some(err) = q.error {
        let msg = if err == "access_denied" {
            format!(
                "You did not allow {} to share your verified identity, so nothing was recorded. To continue, choose your provider again and select 'Allow'.",
                provider.config.name
            )
        } else {
            format!(
                "{} could not verify you ({}). Nothing was recorded.",
                provider.config.name,
                q.error_description.unwrap_or(err)
            )
        };
        return fail(&state, &s, &jar, StatusCode::BAD_REQUEST, msg).await;
    }
    let Some(code) = q.code else {
        return fail(
            &state,
            &s,
            &jar,
            StatusCode::BAD_REQUEST,
            "The identity provider sent no result. Nothing was recorded; try again.".into(),
        )
        .await;
    };
    let now = state.now();
    let identity = match provider
        .finish(&callback_url(&state), &pending.login, &code, now)
        .await
    {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, detail = e.detail().unwrap_or_default(), provider = %provider.config.key, user = s.user.id, "identity verification refused");
            return fail(
                &state,
                &s,
                &jar,
                StatusCode::BAD_REQUEST,
                format!("Your identity could not be verified: {e}. Nothing was recorded."),
            )
            .await;
        }
    };
    match state
        .store
        .link_identity(
            &provider.config.key,
            &identity.subject,
            s.user.id,
            identity.acr.as_deref(),
            now,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return fail(&state, &s, &jar,
                StatusCode::CONFLICT,
                format!(
                    "This {} identity is already linked to another Researcher Workbench account. Each person may have one account; contact {} if you think this is a mistake.",
                    provider.config.name, state.config.accounts.support_email
                ),
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    }
    registration::audit_module(
        &state,
        &s.user,
        AccessModule::Identity,
        "module.completed",
        &s.ctx.ip,
    )
    .await?;
    registration::sync(&state, &s.user).await?;
    Ok((jar, Redirect::to("/data-access-requirements")).into_response())
}
