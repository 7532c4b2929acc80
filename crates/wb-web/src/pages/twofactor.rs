//! 2-Step Verification (TOTP, RFC 6238): enrolment with a QR code and the secret in text,
//! confirmation with a code, recovery codes shown once (and downloadable); managing it later
//! (new recovery codes, a new authenticator app, both after re-entering the password); and the
//! second step of every sign-in once it is on.
//!
//! Opening the page stores nothing: the proposed secret travels in the form, encrypted and
//! bound to the user with an expiry, and is stored only when a code from it is confirmed.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};
use wb_auth::totp::{self, TotpError, TotpSecret};
use wb_domain::access::AccessModule;
use wb_store::{SessionStage, StoreError, Try};

use super::signin::{account_key, start_session};
use super::{Layout, ok, page};
use crate::error::{WebError, WebResult};
use crate::guard::{SecondFactorPending, Session, SignedIn};
use crate::registration;
use crate::state::AppState;

const ISSUER: &str = "Researcher Workbench";
const RECOVERY_CODES: usize = 10;
/// How long a proposed secret (an open enrolment page) stays usable.
const PENDING_SECONDS: i64 = 30 * 60;

/// What the enrolment form carries: the proposed secret, whose it is, until when.
#[derive(Serialize, Deserialize)]
struct Pending {
    user_id: i64,
    secret: String,
    expires_at: i64,
    /// A new authenticator for an account that has one already.
    replace: bool,
}

/// What the page shows.
enum View {
    /// Not on: scan this, enter a code.
    Enrol {
        qr: String,
        secret: String,
        pending: String,
        replace: bool,
    },
    /// On, with its management forms.
    On {
        since: crate::when::Stamp,
        codes_left: i64,
    },
    /// Just turned on, or new codes made: the codes, once.
    Codes { codes: Vec<String>, first: bool },
    /// A new authenticator app was set up.
    Replaced,
}

#[derive(Template)]
#[template(path = "two_step.html")]
struct TwoStepPage {
    layout: Layout,
    view: View,
    error: Option<String>,
    /// Which management form the error belongs to (`codes` or `replace`).
    error_for: &'static str,
}

impl TwoStepPage {
    /// The recovery codes as a text file for the download link (a `data:` URL).
    fn codes_file(&self) -> String {
        let View::Codes { codes, .. } = &self.view else {
            return String::new();
        };
        let mut text = format!(
            "{ISSUER}: recovery codes for {}\r\nEach code signs you in once instead of a code from your authenticator app.\r\n\r\n",
            self.layout.signed_in.as_deref().unwrap_or("your account")
        );
        for c in codes {
            text.push_str(c);
            text.push_str("\r\n");
        }
        let encoded: String = url::form_urlencoded::byte_serialize(text.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        format!("data:text/plain;charset=utf-8,{encoded}")
    }
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

    fn seal_pending(&self, p: &Pending) -> String {
        self.secrets
            .seal(&serde_json::to_vec(p).unwrap_or_default())
    }

    fn open_pending(&self, sealed: &str, user_id: i64) -> Option<Pending> {
        let p: Pending = serde_json::from_slice(&self.secrets.open(sealed)?).ok()?;
        (p.user_id == user_id && p.expires_at > self.now()).then_some(p)
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

fn account_name(state: &AppState, s: &Session) -> String {
    format!(
        "{}@{}",
        s.user.username, state.config.accounts.username_domain
    )
}

/// The enrolment view for `secret` (a new one unless the form brought one back).
fn enrol_view(state: &AppState, s: &Session, existing: Option<Pending>, replace: bool) -> View {
    let pending = existing.unwrap_or_else(|| Pending {
        user_id: s.user.id,
        secret: TotpSecret::generate().to_base32(),
        expires_at: state.now() + PENDING_SECONDS,
        replace,
    });
    let secret = TotpSecret::from_base32(&pending.secret).unwrap_or_else(TotpSecret::generate);
    View::Enrol {
        qr: totp::qr_svg(&totp::otpauth_url(&secret, &account_name(state, s), ISSUER)),
        secret: grouped(&secret.to_base32()),
        replace: pending.replace,
        pending: state.seal_pending(&pending),
    }
}

async fn current_view(state: &AppState, s: &Session) -> WebResult<View> {
    Ok(
        match state
            .store
            .totp(s.user.id)
            .await?
            .and_then(|t| t.confirmed_at)
        {
            Some(since) => View::On {
                since: crate::when::Stamp::date(since),
                codes_left: state.store.recovery_codes_left(s.user.id).await?,
            },
            None => enrol_view(state, s, None, false),
        },
    )
}

fn render(
    s: &Session,
    status: StatusCode,
    view: View,
    error: Option<String>,
    error_for: &'static str,
) -> WebResult<Response> {
    page(
        status,
        &TwoStepPage {
            layout: Layout::new("2-Step Verification", &s.ctx, Some(s)),
            view,
            error,
            error_for,
        },
    )
}

pub async fn two_step(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    let view = current_view(&state, &s).await?;
    render(&s, StatusCode::OK, view, None, "")
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    pending: String,
}

fn notice(state: &AppState, s: &Session, change: Option<wb_mail::messages::TwoStepChange>) {
    let when = state.datetime(state.now());
    let support = &state.config.accounts.support_email;
    let mail = match change {
        None => wb_mail::messages::two_step_enabled(
            &s.user.contact_email,
            &wb_mail::messages::TwoStepEnabled {
                given_name: &s.user.given_name,
                username: &account_name(state, s),
                when: &when,
                support_email: support,
            },
        ),
        Some(change) => wb_mail::messages::two_step_changed(
            &s.user.contact_email,
            &wb_mail::messages::TwoStepChanged {
                given_name: &s.user.given_name,
                username: &account_name(state, s),
                change,
                when: &when,
                support_email: support,
            },
        ),
    };
    state.send_in_background(mail);
}

/// "Turn on 2-Step Verification" (and the confirmation of a new authenticator app): the code
/// must come from the secret the page proposed.
pub async fn two_step_confirm(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(form): Form<CodeForm>,
) -> WebResult<Response> {
    let now = state.now();
    let Some(pending) = state.open_pending(&form.pending, s.user.id) else {
        let view = current_view(&state, &s).await?;
        return render(
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            view,
            Some(
                "This page was open for more than 30 minutes or was changed. Nothing was turned \
                 on: scan the new QR code below and enter a code from it."
                    .into(),
            ),
            "",
        );
    };
    let Some(secret) = TotpSecret::from_base32(&pending.secret) else {
        return Err(WebError::BadRequest(
            "The proposed key cannot be read.".into(),
        ));
    };
    let step = match totp::verify(&secret, &form.code, now, None) {
        Ok(step) => step,
        Err(e) => {
            // The same secret again, so the QR code already scanned still works.
            let replace = pending.replace;
            let view = enrol_view(&state, &s, Some(pending), replace);
            return render(
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                view,
                Some(e.to_string()),
                "",
            );
        }
    };
    let sealed = state.secrets.seal(secret.as_bytes());
    if pending.replace {
        state
            .store
            .replace_totp(s.user.id, &sealed, step, now)
            .await?;
        registration::audit_user(
            &state,
            &s.user,
            "second_factor.authenticator_replaced",
            "{}",
            &s.ctx.ip,
        )
        .await?;
        notice(
            &state,
            &s,
            Some(wb_mail::messages::TwoStepChange::AuthenticatorApp),
        );
        return render(&s, StatusCode::OK, View::Replaced, None, "");
    }
    let codes = totp::recovery_codes(RECOVERY_CODES);
    let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery_code(c)).collect();
    match state
        .store
        .enable_totp(s.user.id, &sealed, step, &hashes, now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Refused(_)) => {
            // Confirmed a moment ago from another tab: it is on, with that tab's codes.
            return Ok(Redirect::to("/two-step-verification").into_response());
        }
        Err(e) => return Err(e.into()),
    }
    registration::audit_module(
        &state,
        &s.user,
        AccessModule::TwoFactor,
        "module.completed",
        &s.ctx.ip,
    )
    .await?;
    registration::sync(&state, &s.user).await?;
    notice(&state, &s, None);
    render(
        &s,
        StatusCode::OK,
        View::Codes { codes, first: true },
        None,
        "",
    )
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// Checks the re-entered password for a change to 2-step verification. Wrong passwords count
/// on the account's sign-in throttle, so a stolen session cannot be used to guess it.
async fn password_again(
    state: &AppState,
    s: &Session,
    password: &str,
) -> WebResult<Option<String>> {
    let key = account_key(Some(&s.user), "", "");
    let rule = state.account_rule();
    if let Try::Refused { until } = state
        .store
        .throttle_reserve(&key, &rule, state.now())
        .await?
    {
        return Ok(Some(format!(
            "Too many wrong passwords. Wait {} and try again.",
            wb_domain::throttle::wait_text(until, state.now())
        )));
    }
    if crate::crypto::verify_password(password, &s.user.password_hash).await {
        state.store.throttle_clear(&key).await?;
        Ok(None)
    } else {
        Ok(Some(
            "Your password is not correct. Enter the password you sign in with.".into(),
        ))
    }
}

async fn require_on(state: &AppState, s: &Session) -> WebResult<bool> {
    Ok(state
        .store
        .totp(s.user.id)
        .await?
        .is_some_and(|t| t.confirmed_at.is_some()))
}

/// "Generate new recovery codes": every earlier code stops working.
pub async fn new_recovery_codes(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(form): Form<PasswordForm>,
) -> WebResult<Response> {
    if !require_on(&state, &s).await? {
        return Ok(Redirect::to("/two-step-verification").into_response());
    }
    if let Some(e) = password_again(&state, &s, &form.password).await? {
        let view = current_view(&state, &s).await?;
        return render(&s, StatusCode::UNPROCESSABLE_ENTITY, view, Some(e), "codes");
    }
    let codes = totp::recovery_codes(RECOVERY_CODES);
    let hashes: Vec<String> = codes.iter().map(|c| totp::hash_recovery_code(c)).collect();
    state
        .store
        .replace_recovery_codes(s.user.id, &hashes, state.now())
        .await?;
    registration::audit_user(
        &state,
        &s.user,
        "second_factor.recovery_codes_replaced",
        "{}",
        &s.ctx.ip,
    )
    .await?;
    notice(
        &state,
        &s,
        Some(wb_mail::messages::TwoStepChange::RecoveryCodes),
    );
    render(
        &s,
        StatusCode::OK,
        View::Codes {
            codes,
            first: false,
        },
        None,
        "",
    )
}

/// "Set up a new authenticator app": after the password, a new QR code; the old app keeps
/// working until a code from the new one is confirmed.
pub async fn replace_authenticator(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(form): Form<PasswordForm>,
) -> WebResult<Response> {
    if !require_on(&state, &s).await? {
        return Ok(Redirect::to("/two-step-verification").into_response());
    }
    if let Some(e) = password_again(&state, &s, &form.password).await? {
        let view = current_view(&state, &s).await?;
        return render(
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            view,
            Some(e),
            "replace",
        );
    }
    let view = enrol_view(&state, &s, None, true);
    render(&s, StatusCode::OK, view, None, "")
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
/// code. Each try is counted before it is checked (`second-factor:<user>`, the account's rule),
/// so parallel guesses cannot get past the limit.
pub async fn verify_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    SecondFactorPending(s): SecondFactorPending,
    Form(form): Form<CodeForm>,
) -> WebResult<Response> {
    let now = state.now();
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
    let locked = |until: i64| {
        format!(
            "Too many wrong codes. Wait {} and try again.",
            wb_domain::throttle::wait_text(until, now)
        )
    };
    let reserved = match state
        .store
        .throttle_reserve(&key, &state.account_rule(), now)
        .await?
    {
        Try::Allowed(r) => r,
        Try::Refused { until } => return refuse(StatusCode::TOO_MANY_REQUESTS, locked(until)),
    };
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
        if let Some(until) = reserved.locked_until {
            return refuse(StatusCode::TOO_MANY_REQUESTS, locked(until));
        }
        let msg = if e == TotpError::Invalid {
            "That code is not correct. Enter the current 6-digit code from your authenticator app, or one of your recovery codes.".to_owned()
        } else {
            e.to_string()
        };
        return refuse(StatusCode::UNAUTHORIZED, msg);
    }
    state.store.throttle_clear(&key).await?;
    let jar = start_session(&state, jar, &s.ctx, &s.user, SessionStage::Active).await?;
    Ok((jar, Redirect::to("/data-access-requirements")).into_response())
}
