//! "Sign In", the forced password change after the first sign-in, signing out, and
//! "Forgot password".

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use wb_auth::password::{PasswordError, PasswordPolicy, dummy_hash};
use wb_domain::{EmailAddress, FieldErrors, Username};
use wb_store::{SessionStage, UserRecord};

use super::{Layout, ok, page};
use crate::error::WebResult;
use crate::guard::{AnySession, RequestContext, Visitor, safe_next};
use crate::state::AppState;
use crate::throttle;

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
    domain: String,
}

fn notice_text(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "signed-out" => "You have signed out.",
            "reset" => "Your password was changed. Sign in with your new password.",
            "complete" => {
                "Welcome! Sign in with the username and temporary password from your welcome \
                 e-mail. You will then choose your own password."
            }
            "expired" => "Your session ended. Sign in again to continue.",
            _ => return None,
        }
        .to_owned(),
    )
}

fn sign_in_page(
    state: &AppState,
    v: &Visitor,
    username: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
) -> SignInPage {
    SignInPage {
        layout: Layout::new("Sign In", &v.ctx, None),
        username,
        next,
        error,
        notice,
        domain: state.config.accounts.username_domain.clone(),
    }
}

pub async fn sign_in(
    State(state): State<AppState>,
    v: Visitor,
    Query(q): Query<SignInQuery>,
) -> WebResult<Response> {
    if let Some(s) = &v.session {
        return Ok(match s.stage {
            SessionStage::Active => Redirect::to("/data-access-requirements"),
            SessionStage::SecondFactor => Redirect::to("/sign-in/verify"),
            SessionStage::PasswordChange => Redirect::to("/change-password"),
        }
        .into_response());
    }
    ok(&sign_in_page(
        &state,
        &v,
        q.username.unwrap_or_default(),
        safe_next(q.next.as_deref()).unwrap_or_default(),
        None,
        notice_text(q.notice.as_deref()),
    ))
}

/// "Complete Registration" from the welcome e-mail leads here, then to "Sign In".
pub async fn complete_registration(Query(q): Query<SignInQuery>) -> Response {
    let name: String =
        url::form_urlencoded::byte_serialize(q.username.unwrap_or_default().as_bytes()).collect();
    Redirect::to(&format!("/sign-in?notice=complete&username={name}")).into_response()
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

const WRONG: &str = "The username or password is incorrect. Check both and try again, or use \
\"Forgot password\".";

fn locked_message(state: &AppState, until: i64) -> String {
    let wait = wb_domain::throttle::wait_text(until, state.now());
    if until >= wb_domain::throttle::UNTIL_RESET {
        "Too many failed sign-in attempts: this account is locked until its password is \
         reset. Use \"Forgot password\" to choose a new password."
            .to_owned()
    } else {
        format!(
            "Too many failed sign-in attempts. Wait {wait} and try again, or use \
             \"Forgot password\" to choose a new password."
        )
    }
}

/// The throttle key of the account a sign-in names: the account itself when the name
/// matches one (so `ada` and `ada@<domain>` share one count), else the name as parsed.
pub(crate) fn account_key(user: Option<&UserRecord>, typed: &str, domain: &str) -> String {
    match (user, Username::parse_sign_in(typed, domain)) {
        (Some(u), _) => format!("account:{}", u.id),
        (None, Ok(name)) => format!("account:name:{}", name.as_str()),
        (None, Err(_)) => format!("account:name:{}", typed.trim().to_lowercase()),
    }
}

pub async fn sign_in_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    v: Visitor,
    Form(form): Form<SignInForm>,
) -> WebResult<Response> {
    let now = state.now();
    let typed = form.username.trim().to_lowercase();
    let next = safe_next(Some(&form.next)).unwrap_or_default();
    let refuse = |status: StatusCode, message: String| {
        page(
            status,
            &sign_in_page(
                &state,
                &v,
                form.username.clone(),
                next.clone(),
                Some(message),
                None,
            ),
        )
    };
    let domain = &state.config.accounts.username_domain;
    let user = match Username::parse_sign_in(&typed, domain) {
        Ok(u) => state.store.user_by_username(u.as_str()).await?,
        Err(_) => None,
    };
    // Count this try before checking the password: a locked key refuses it unchecked, and
    // parallel guesses cannot get past the limit.
    let account = account_key(user.as_ref(), &typed, domain);
    let ip = format!("ip:{}", v.ctx.ip);
    let (account_rule, ip_rule) = (state.account_rule(), state.ip_rule());
    let reserved =
        match throttle::reserve_all(&state, &[(&ip, ip_rule), (&account, account_rule)], now)
            .await?
        {
            Ok(r) => r,
            Err(until) => {
                return refuse(StatusCode::TOO_MANY_REQUESTS, locked_message(&state, until));
            }
        };
    // Verify against a dummy hash for unknown names, so both cases take the same time.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_owned());
    let password_ok = crate::crypto::verify_password(&form.password, &hash).await && user.is_some();
    let Some(user) = user.filter(|_| password_ok) else {
        // The reservations stand as the failure.
        if let Some(until) = reserved.iter().filter_map(|s| s.locked_until).max() {
            return refuse(StatusCode::TOO_MANY_REQUESTS, locked_message(&state, until));
        }
        return refuse(StatusCode::UNAUTHORIZED, WRONG.into());
    };
    state.store.throttle_clear(&account).await?;
    state.store.throttle_release(&ip, &ip_rule).await?;
    if user.disabled {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "This account is disabled. Contact {} if you think this is a mistake.",
                state.config.accounts.support_email
            ),
        );
    }
    if user.password_is_temporary && user.temporary_password_expires_at.is_some_and(|e| e <= now) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "Your temporary password has expired. Use \"Forgot password\" below to get a link \
             to choose a new password."
                .into(),
        );
    }
    let has_second_factor = state
        .store
        .totp(user.id)
        .await?
        .is_some_and(|t| t.confirmed_at.is_some());
    let stage = if user.password_is_temporary {
        SessionStage::PasswordChange
    } else if has_second_factor {
        SessionStage::SecondFactor
    } else {
        SessionStage::Active
    };
    let jar = start_session(&state, jar, &v.ctx, &user, stage).await?;
    state.store.record_sign_in(user.id, now).await?;
    audit(&state, &user, "session.signed_in", &v.ctx).await?;
    let to = match stage {
        SessionStage::PasswordChange => "/change-password".to_owned(),
        SessionStage::SecondFactor => "/sign-in/verify".to_owned(),
        SessionStage::Active if !next.is_empty() => next,
        SessionStage::Active => "/data-access-requirements".to_owned(),
    };
    Ok((jar, Redirect::to(&to)).into_response())
}

/// Ends the browser's current session (if any) and starts a new one with a new id.
pub(crate) async fn start_session(
    state: &AppState,
    jar: CookieJar,
    ctx: &RequestContext,
    user: &UserRecord,
    stage: SessionStage,
) -> WebResult<CookieJar> {
    if let Some(old) = &ctx.session_token {
        state
            .store
            .delete_session(&wb_auth::sha256_hex(old))
            .await?;
    }
    let token = wb_auth::random_token();
    let now = state.now();
    state
        .store
        .create_session(&wb_store::NewSession {
            id_hash: &wb_auth::sha256_hex(&token),
            user_id: user.id,
            stage,
            now,
            expires_at: now + state.config.sessions.absolute_hours * 3600,
            ip: Some(&ctx.ip),
            user_agent: ctx.user_agent.as_deref(),
        })
        .await?;
    Ok(jar.add(state.session_cookie(token)))
}

async fn audit(
    state: &AppState,
    user: &UserRecord,
    action: &str,
    ctx: &RequestContext,
) -> WebResult<()> {
    crate::registration::audit_user(state, user, action, "{}", &ctx.ip).await
}

pub async fn sign_out(
    State(state): State<AppState>,
    jar: CookieJar,
    ctx: RequestContext,
) -> WebResult<Response> {
    if let Some(token) = &ctx.session_token {
        state
            .store
            .delete_session(&wb_auth::sha256_hex(token))
            .await?;
    }
    let mut r = (
        jar.add(state.expired_session_cookie()),
        Redirect::to("/sign-in?notice=signed-out"),
    )
        .into_response();
    r.headers_mut()
        .insert("clear-site-data", HeaderValue::from_static("\"cache\""));
    Ok(r)
}

#[derive(Template)]
#[template(path = "change_password.html")]
struct ChangePasswordPage {
    layout: Layout,
    forced: bool,
    account: String,
    errors: FieldErrors,
    min: usize,
}

fn policy_context(state: &AppState, u: &UserRecord) -> Vec<String> {
    vec![
        u.username.clone(),
        u.given_name.clone(),
        u.family_name.clone(),
        u.contact_email.clone(),
        u.institution.clone(),
        state.config.accounts.username_domain.clone(),
    ]
}

fn change_page(
    state: &AppState,
    s: &crate::guard::Session,
    errors: FieldErrors,
) -> ChangePasswordPage {
    ChangePasswordPage {
        layout: Layout::new("Change Your Password", &s.ctx, Some(s)),
        forced: s.stage == SessionStage::PasswordChange,
        account: Username::parse(&s.user.username)
            .map(|u| u.account_name(&state.config.accounts.username_domain))
            .unwrap_or_else(|_| s.user.username.clone()),
        errors,
        min: wb_auth::password::MIN_LENGTH,
    }
}

pub async fn change_password(
    State(state): State<AppState>,
    AnySession(s): AnySession,
) -> WebResult<Response> {
    ok(&change_page(&state, &s, FieldErrors::new()))
}

#[derive(Debug, Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

pub async fn change_password_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    AnySession(s): AnySession,
    Form(form): Form<ChangePasswordForm>,
) -> WebResult<Response> {
    let mut errors = FieldErrors::new();
    // A voluntary change needs the current password; the forced change follows a sign-in
    // with the temporary password in this very session.
    if s.stage == SessionStage::Active
        && !crate::crypto::verify_password(&form.current_password, &s.user.password_hash).await
    {
        errors.add("current_password", "Your current password is not correct.");
    }
    let context = policy_context(&state, &s.user);
    let words: Vec<&str> = context.iter().map(String::as_str).collect();
    let mut checked =
        PasswordPolicy { context: &words }.check(&form.new_password, &form.confirm_password);
    if checked.is_ok()
        && crate::crypto::verify_password(&form.new_password, &s.user.password_hash).await
    {
        checked = Err(PasswordError::SameAsOld);
    }
    match checked {
        Err(PasswordError::Mismatch) => {
            errors.add("confirm_password", PasswordError::Mismatch.to_string())
        }
        Err(e) => errors.add("new_password", e.to_string()),
        Ok(()) => {}
    }
    if !errors.is_empty() {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &change_page(&state, &s, errors),
        );
    }
    let now = state.now();
    let hash = crate::crypto::hash_password(&form.new_password).await;
    state
        .store
        .set_password(s.user.id, &hash, None, now)
        .await?;
    // A new password ends every session, this one included, and starts a fresh one.
    state.store.delete_user_sessions(s.user.id, None).await?;
    let jar = start_session(&state, jar, &s.ctx, &s.user, SessionStage::Active).await?;
    audit(&state, &s.user, "password.changed", &s.ctx).await?;
    let notice = wb_mail::messages::password_changed(
        &s.user.contact_email,
        &wb_mail::messages::PasswordChanged {
            given_name: &s.user.given_name,
            username: &s.user.username,
            when: &state.date(now),
            support_email: &state.config.accounts.support_email,
        },
    );
    if let Err(e) = state.mailer.send(&notice).await {
        tracing::warn!(error = %e, "password-changed notice not sent");
    }
    Ok((jar, Redirect::to("/data-access-requirements?welcome=1")).into_response())
}

#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPage {
    layout: Layout,
    login: String,
    error: Option<String>,
    sent: bool,
    minutes: i64,
}

pub async fn forgot_password(State(state): State<AppState>, v: Visitor) -> WebResult<Response> {
    ok(&ForgotPage {
        layout: Layout::new("Forgot password", &v.ctx, None),
        login: String::new(),
        error: None,
        sent: false,
        minutes: state.config.accounts.reset_link_minutes,
    })
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    login: String,
}

pub async fn forgot_password_submit(
    State(state): State<AppState>,
    v: Visitor,
    Form(form): Form<ForgotForm>,
) -> WebResult<Response> {
    let login = form.login.trim();
    let minutes = state.config.accounts.reset_link_minutes;
    if login.is_empty() {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ForgotPage {
                layout: Layout::new("Forgot password", &v.ctx, None),
                login: form.login.clone(),
                error: Some("Enter your username or your contact e-mail address.".into()),
                sent: false,
                minutes,
            },
        );
    }
    let user = if login.contains('@')
        && !login
            .to_lowercase()
            .ends_with(&format!("@{}", state.config.accounts.username_domain))
    {
        match EmailAddress::parse(login) {
            Ok(e) => state.store.user_by_contact_email(&e.canonical()).await?,
            Err(_) => None,
        }
    } else {
        match Username::parse_sign_in(login, &state.config.accounts.username_domain) {
            Ok(u) => state.store.user_by_username(u.as_str()).await?,
            Err(_) => None,
        }
    };
    if let Some(user) = user.filter(|u| !u.disabled) {
        // Everything that happens only for a real account (the link, the e-mail, the audit
        // row) runs after the answer is sent, so the answer takes the same time either way.
        let state = state.clone();
        let ip = v.ctx.ip.clone();
        tokio::spawn(async move {
            if let Err(e) = send_reset_link(&state, &user, &ip).await {
                tracing::error!(error = %e, user = user.id, "password reset link not sent");
            }
        });
    }
    // The same answer whether or not an account matched: no enumeration.
    ok(&ForgotPage {
        layout: Layout::new("Forgot password", &v.ctx, None),
        login: String::new(),
        error: None,
        sent: true,
        minutes,
    })
}

/// Creates a reset link for `user` and e-mails it: at most 5 an hour per account, so the
/// form cannot flood a mailbox.
async fn send_reset_link(state: &AppState, user: &UserRecord, ip: &str) -> WebResult<()> {
    let now = state.now();
    let key = format!("reset:{}", user.id);
    let rule = wb_domain::throttle::Rule::per_window(5, 3600);
    if let wb_store::Try::Refused { .. } = state.store.throttle_reserve(&key, &rule, now).await? {
        return Ok(());
    }
    let minutes = state.config.accounts.reset_link_minutes;
    let token = wb_auth::random_token();
    state
        .store
        .create_reset_token(
            user.id,
            &wb_auth::sha256_hex(&token),
            now,
            now + minutes * 60,
        )
        .await?;
    let mail = wb_mail::messages::password_reset(
        &user.contact_email,
        &wb_mail::messages::PasswordReset {
            given_name: &user.given_name,
            username: &user.username,
            reset_url: &state.link(&format!("/reset-password/{token}")),
            valid_minutes: minutes,
            support_email: &state.config.accounts.support_email,
        },
    );
    state.mailer.send(&mail).await?;
    crate::registration::audit_user(state, user, "password.reset_requested", "{}", ip).await
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPage {
    layout: Layout,
    token: String,
    link_error: Option<String>,
    errors: FieldErrors,
    min: usize,
}

pub async fn reset_password(
    State(state): State<AppState>,
    v: Visitor,
    Path(token): Path<String>,
) -> WebResult<Response> {
    let check = state
        .store
        .check_reset_token(&wb_auth::sha256_hex(&token), state.now())
        .await?;
    let status = if check.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    page(
        status,
        &ResetPage {
            layout: Layout::new("Choose a new password", &v.ctx, None),
            token,
            link_error: check.err().map(|e| e.to_string()),
            errors: FieldErrors::new(),
            min: wb_auth::password::MIN_LENGTH,
        },
    )
}

pub async fn reset_password_submit(
    State(state): State<AppState>,
    v: Visitor,
    Path(token): Path<String>,
    Form(form): Form<ChangePasswordForm>,
) -> WebResult<Response> {
    let hash_of_token = wb_auth::sha256_hex(&token);
    let now = state.now();
    let render = |status, link_error: Option<String>, errors| {
        page(
            status,
            &ResetPage {
                layout: Layout::new("Choose a new password", &v.ctx, None),
                token: token.clone(),
                link_error,
                errors,
                min: wb_auth::password::MIN_LENGTH,
            },
        )
    };
    let user_id = match state.store.check_reset_token(&hash_of_token, now).await? {
        Ok(id) => id,
        Err(e) => return render(StatusCode::GONE, Some(e.to_string()), FieldErrors::new()),
    };
    let Some(user) = state.store.user_by_id(user_id).await? else {
        return render(
            StatusCode::GONE,
            Some("This link is not valid.".into()),
            FieldErrors::new(),
        );
    };
    let context = policy_context(&state, &user);
    let words: Vec<&str> = context.iter().map(String::as_str).collect();
    if let Err(e) =
        (PasswordPolicy { context: &words }).check(&form.new_password, &form.confirm_password)
    {
        let mut errors = FieldErrors::new();
        let field = if e == PasswordError::Mismatch {
            "confirm_password"
        } else {
            "new_password"
        };
        errors.add(field, e.to_string());
        return render(StatusCode::UNPROCESSABLE_ENTITY, None, errors);
    }
    let hash = crate::crypto::hash_password(&form.new_password).await;
    if let Err(e) = state
        .store
        .reset_password_with_token(&hash_of_token, &hash, now)
        .await?
    {
        return render(StatusCode::GONE, Some(e.to_string()), FieldErrors::new());
    }
    // A new password lifts the account's sign-in lock (a hard lock needs exactly this).
    state
        .store
        .throttle_clear(&account_key(Some(&user), "", ""))
        .await?;
    audit(&state, &user, "password.reset", &v.ctx).await?;
    let notice = wb_mail::messages::password_changed(
        &user.contact_email,
        &wb_mail::messages::PasswordChanged {
            given_name: &user.given_name,
            username: &user.username,
            when: &state.date(now),
            support_email: &state.config.accounts.support_email,
        },
    );
    if let Err(e) = state.mailer.send(&notice).await {
        tracing::warn!(error = %e, "password-changed notice not sent");
    }
    let mut r = Redirect::to("/sign-in?notice=reset").into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}
