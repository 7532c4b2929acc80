//! 2-Step Verification (TOTP, RFC 6238): enrolment with a QR code and the secret in text,
//! confirmation with a code, recovery codes shown once; and the second step of every sign-in
//! once it is on.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use wb_auth::totp::{self, TotpError, TotpSecret};
use wb_domain::access::AccessModule;
use wb_store::SessionStage;

use super::signin::start_session;
use super::{Layout, ok, page};
use crate::error::{WebError, WebResult};
use crate::guard::{SecondFactorPending, SignedIn};
use crate::registration;
use crate::state::AppState;

const ISSUER: &str = "Researcher Workbench";
const RECOVERY_CODES: usize = 10;

#[derive(Template)]
#[template(path = "two_step.html")]
struct EnrolPage {
    layout: Layout,
    enabled: bool,
    enabled_on: String,
    codes_left: i64,
    qr: String,
    secret: String,
    error: Option<String>,
    recovery_codes: Vec<String>,
}

impl AppState {
    fn open_secret(&self, sealed: &str) -> WebResult<TotpSecret> {
        self.secrets
            .open(sealed)
            .and_then(|b| TotpSecret::from_bytes(&b))
            .ok_or_else(|| {
                WebError::BadRequest(
                    "The stored authenticator cannot be read with this server's key. Ask an \
                     administrator to reset your 2-step verification."
                        .into(),
                )
            })
    }
}

fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn enrol_page(
    state: &AppState,
    s: &crate::guard::Session,
    error: Option<String>,
) -> WebResult<EnrolPage> {
    let existing = state.store.totp(s.user.id).await?;
    let layout = Layout::new("2-Step Verification", &s.ctx, Some(s));
    if let Some(t) = existing.as_ref().filter(|t| t.confirmed_at.is_some()) {
        return Ok(EnrolPage {
            layout,
            enabled: true,
            enabled_on: state.date(t.confirmed_at.unwrap_or_default()),
            codes_left: state.store.recovery_codes_left(s.user.id).await?,
            qr: String::new(),
            secret: String::new(),
            error,
            recovery_codes: Vec::new(),
        });
    }
    // Keep showing the same unconfirmed secret, so a mistyped code does not invalidate the
    // QR code the user has already scanned.
    let secret = match existing {
        Some(t) => state.open_secret(&t.secret_sealed)?,
        None => {
            let secret = TotpSecret::generate();
            state
                .store
                .start_totp(
                    s.user.id,
                    &state.secrets.seal(secret.as_bytes()),
                    state.now(),
                )
                .await?;
            secret
        }
    };
    let account = format!(
        "{}@{}",
        s.user.username, state.config.accounts.username_domain
    );
    Ok(EnrolPage {
        layout,
        enabled: false,
        enabled_on: String::new(),
        codes_left: 0,
        qr: totp::qr_svg(&totp::otpauth_url(&secret, &account, ISSUER)),
        secret: grouped(&secret.to_base32()),
        error,
        recovery_codes: Vec::new(),
    })
}

pub async fn two_step(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    ok(&enrol_page(&state, &s, None).await?)
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn two_step_confirm(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(form): Form<CodeForm>,
) -> WebResult<Response> {
    let now = state.now();
    let Some(t) = state.store.totp(s.user.id).await? else {
        return Ok(Redirect::to("/two-step-verification").into_response());
    };
    if t.confirmed_at.is_some() {
        return Ok(Redirect::to("/two-step-verification").into_response());
    }
    let secret = state.open_secret(&t.secret_sealed)?;
    let step = match totp::verify(&secret, &form.code, now, None) {
        Ok(step) => step,
        Err(e) => {
            let p = enrol_page(&state, &s, Some(e.to_string())).await?;
            return page(StatusCode::UNPROCESSABLE_ENTITY, &p);
        }
    };
    let codes = totp::recovery_codes(RECOVERY_CODES);
    let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery_code(c)).collect();
    state
        .store
        .confirm_totp(s.user.id, step, &hashes, now)
        .await?;
    registration::audit_module(
        &state,
        &s.user,
        AccessModule::TwoFactor,
        "module.completed",
        &s.ctx.ip,
    )
    .await?;
    registration::load(&state, &s.user).await?;
    let notice = wb_mail::OutgoingEmail {
        to: s.user.contact_email.clone(),
        subject: "2-step verification was turned on".into(),
        text: format!(
            "Hello {},\n\n2-step verification was turned on for your Researcher Workbench\naccount {} on {}.\n\nIf this was not you, contact {} at once.\n",
            s.user.given_name,
            s.user.username,
            state.date(now),
            state.config.accounts.support_email
        ),
        html: None,
    };
    if let Err(e) = state.mailer.send(&notice).await {
        tracing::warn!(error = %e, "2-step verification notice not sent");
    }
    let mut p = enrol_page(&state, &s, None).await?;
    p.recovery_codes = codes;
    ok(&p)
}

#[derive(Template)]
#[template(path = "sign_in_verify.html")]
struct VerifyPage {
    layout: Layout,
    error: Option<String>,
}

pub async fn verify(SecondFactorPending(s): SecondFactorPending) -> WebResult<Response> {
    ok(&VerifyPage {
        layout: Layout::new("2-Step Verification", &s.ctx, None),
        error: None,
    })
}

/// The second step of sign-in: a current TOTP code (each usable once) or an unused recovery
/// code. Failures share the account's sign-in throttle.
pub async fn verify_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    SecondFactorPending(s): SecondFactorPending,
    Form(form): Form<CodeForm>,
) -> WebResult<Response> {
    let now = state.now();
    let t = &state.config.throttle;
    let key = format!("second-factor:{}", s.user.id);
    let refuse = |status, message: String| {
        page(
            status,
            &VerifyPage {
                layout: Layout::new("2-Step Verification", &s.ctx, None),
                error: Some(message),
            },
        )
    };
    if let Some(until) = state.store.throttle_locked_until(&key, now).await? {
        let minutes = (until - now + 59) / 60;
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many wrong codes. Wait {minutes} minutes and try again."),
        );
    }
    let code = form.code.trim();
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let accepted = if digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit()) {
        let record = state
            .store
            .totp(s.user.id)
            .await?
            .filter(|r| r.confirmed_at.is_some());
        match record {
            None => Err(TotpError::Invalid),
            Some(r) => {
                let secret = state.open_secret(&r.secret_sealed)?;
                match totp::verify(&secret, &digits, now, r.last_used_step) {
                    Ok(step) if state.store.use_totp_step(s.user.id, step).await? => Ok(()),
                    Ok(_) => Err(TotpError::Replayed),
                    Err(e) => Err(e),
                }
            }
        }
    } else if state
        .store
        .use_recovery_code(s.user.id, &totp::hash_recovery_code(code), now)
        .await?
    {
        registration::audit_module(
            &state,
            &s.user,
            AccessModule::TwoFactor,
            "second_factor.recovery_code_used",
            &s.ctx.ip,
        )
        .await?;
        Ok(())
    } else {
        Err(TotpError::Invalid)
    };
    if let Err(e) = accepted {
        let window = t.window_minutes * 60;
        let st = state
            .store
            .record_failure(&key, now, window, t.account_failures, t.lock_minutes * 60)
            .await?;
        let msg = if st.locked_until.is_some() {
            "Too many wrong codes. Wait a few minutes and try again.".to_owned()
        } else if e == TotpError::Invalid {
            "That code is not correct. Enter the current 6-digit code from your authenticator app, or one of your recovery codes.".to_owned()
        } else {
            e.to_string()
        };
        return refuse(StatusCode::UNAUTHORIZED, msg);
    }
    state.store.clear_failures(&key).await?;
    let jar = start_session(&state, jar, &s.ctx, &s.user, SessionStage::Active).await?;
    Ok((jar, Redirect::to("/data-access-requirements")).into_response())
}
