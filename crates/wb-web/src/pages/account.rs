//! "Create Account": Terms of Use, Step 1 (institution, e-mail, role), Step 2 (username,
//! profile, address, research background, optional demographics), confirmation and the
//! welcome e-mail.
//!
//! What earlier steps established travels in a signed, expiring `state` field, so the server
//! keeps nothing for half-finished sign-ups and a changed form is detected. Every step is
//! validated again on the server when the account is finally created.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::{Deserialize, Serialize};
use wb_domain::choices::{
    Degree, DiscoverySource, Education, GenderIdentity, RaceEthnicity, Role, SexAtBirth,
    SexualOrientation, YesNoPreferNot,
};
use wb_domain::signup::{
    Affiliation, RESEARCH_BACKGROUND_MAX, Step1Input, Step2Input, validate_step1, validate_step2,
};
use wb_domain::{AccessTier, FieldErrors, Institution, TERMS_VERSION, Username, username};
use wb_store::StoreError;

use super::{Layout, has, ok, page};
use crate::error::{WebError, WebResult};
use crate::guard::Visitor;
use crate::state::AppState;

const STATE_PURPOSE: &str = "signup";
const DONE_PURPOSE: &str = "signup-done";
const STATE_LIFETIME: i64 = 3 * 3600;

/// What the earlier steps established.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignupState {
    terms_version: i64,
    terms_accepted_at: i64,
    affiliation: Option<Affiliation>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Done {
    account: String,
    contact_email: String,
    mailed: bool,
}

#[derive(Template)]
#[template(path = "signup_terms.html")]
struct TermsPage {
    layout: Layout,
    error: Option<String>,
    version: i64,
}

fn terms_page(v: &Visitor, error: Option<String>) -> TermsPage {
    TermsPage {
        layout: Layout::new("Create Account", &v.ctx, v.session.as_ref()),
        error,
        version: TERMS_VERSION,
    }
}

pub async fn terms(v: Visitor) -> WebResult<Response> {
    ok(&terms_page(&v, None))
}

#[derive(Debug, Deserialize)]
pub struct TermsForm {
    #[serde(default)]
    agree: Option<String>,
    #[serde(default)]
    version: Option<i64>,
}

/// One institution as the select lists it.
struct InstitutionOption {
    short_name: String,
    display_name: String,
}

#[derive(Template)]
#[template(path = "signup_step1.html")]
struct Step1Page {
    layout: Layout,
    state: String,
    institutions: Vec<InstitutionOption>,
    roles: Vec<Role>,
    input: Step1Input,
    errors: FieldErrors,
}

#[derive(Template)]
#[template(path = "signup_roles.html")]
struct RolesFragment {
    roles: Vec<Role>,
    selected: String,
}

async fn step1_page(
    state: &AppState,
    v: &Visitor,
    sealed: String,
    input: Step1Input,
    errors: FieldErrors,
) -> WebResult<Step1Page> {
    let all = state.store.institutions().await?;
    let roles = roles_for(&all, &input.institution);
    Ok(Step1Page {
        layout: Layout::new("Create your account", &v.ctx, v.session.as_ref()),
        state: sealed,
        institutions: all
            .into_iter()
            .filter(|i| i.check_email_possible())
            .map(|i| InstitutionOption {
                short_name: i.short_name,
                display_name: i.display_name,
            })
            .collect(),
        roles,
        input,
        errors,
    })
}

trait Listed {
    fn check_email_possible(&self) -> bool;
}

impl Listed for Institution {
    /// Only institutions whose agreement covers the Registered Tier are offered.
    fn check_email_possible(&self) -> bool {
        self.tier(AccessTier::Registered)
            .is_some_and(|t| t.requirement != wb_domain::MembershipRequirement::NoAccess)
    }
}

fn roles_for(all: &[Institution], short_name: &str) -> Vec<Role> {
    all.iter()
        .find(|i| i.short_name == short_name)
        .map(|i| Role::for_organization(i.organization_type).to_vec())
        .unwrap_or_else(|| Role::ALL.to_vec())
}

pub async fn terms_submit(
    State(state): State<AppState>,
    v: Visitor,
    Form(form): Form<TermsForm>,
) -> WebResult<Response> {
    if form.agree.as_deref() != Some("yes") {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &terms_page(
                &v,
                Some(
                    "Check the box to confirm you have read, understand and agree to the Terms \
                     of Use and Privacy Statement. You cannot continue without it."
                        .into(),
                ),
            ),
        );
    }
    if form.version != Some(TERMS_VERSION) {
        return page(
            StatusCode::CONFLICT,
            &terms_page(
                &v,
                Some("The terms were updated while you were reading. Read this version and accept it.".into()),
            ),
        );
    }
    let now = state.now();
    let sealed = seal(
        &state,
        &SignupState {
            terms_version: TERMS_VERSION,
            terms_accepted_at: now,
            affiliation: None,
        },
    );
    ok(&step1_page(
        &state,
        &v,
        sealed,
        Step1Input::default(),
        FieldErrors::new(),
    )
    .await?)
}

fn seal(state: &AppState, s: &SignupState) -> String {
    state
        .signer
        .seal(STATE_PURPOSE, s, state.now() + STATE_LIFETIME)
}

fn open(state: &AppState, sealed: &str) -> Option<SignupState> {
    state.signer.open(STATE_PURPOSE, sealed, state.now())
}

/// The sign-up state was missing, expired or changed: start again from the terms.
fn restart(v: &Visitor) -> WebResult<Response> {
    page(
        StatusCode::BAD_REQUEST,
        &terms_page(
            v,
            Some(
                "Your sign-up was open for more than 3 hours, or the form was changed, so it \
                 cannot be used. Nothing was saved. Please start again."
                    .into(),
            ),
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct Step1Form {
    #[serde(default)]
    state: String,
    #[serde(flatten)]
    input: Step1Input,
}

/// Checks Step 1 with the store's facts (institution, existing account).
async fn check_step1(
    state: &AppState,
    input: &Step1Input,
) -> WebResult<Result<Affiliation, FieldErrors>> {
    let institution = state.store.institution(input.institution.trim()).await?;
    let mut result = validate_step1(input, institution.as_ref());
    if let Ok(a) = &result
        && state
            .store
            .contact_email_taken(&a.contact_email.canonical())
            .await?
    {
        let mut errors = FieldErrors::new();
        errors.add(
            "email",
            "An account already exists for this e-mail address. Sign in, or use \"Forgot \
             password\" on the Sign In page if you cannot.",
        );
        result = Err(errors);
    }
    Ok(result)
}

pub async fn step1_submit(
    State(state): State<AppState>,
    v: Visitor,
    Form(form): Form<Step1Form>,
) -> WebResult<Response> {
    let Some(mut s) = open(&state, &form.state) else {
        return restart(&v);
    };
    match check_step1(&state, &form.input).await? {
        Err(errors) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &step1_page(&state, &v, form.state, form.input, errors).await?,
        ),
        Ok(a) => {
            s.affiliation = Some(a);
            let sealed = seal(&state, &s);
            ok(&step2_page(
                &state,
                &v,
                sealed,
                Step2Input::default(),
                FieldErrors::new(),
            ))
        }
    }
}

/// The fixed choices of Step 2 (and of "Edit your profile"), for the template.
pub(crate) struct Choices {
    pub(crate) degrees: &'static [Degree],
    pub(crate) discovery: &'static [DiscoverySource],
    pub(crate) race: &'static [RaceEthnicity],
    pub(crate) gender: &'static [GenderIdentity],
    pub(crate) orientation: &'static [SexualOrientation],
    pub(crate) sex_at_birth: &'static [SexAtBirth],
    pub(crate) education: &'static [Education],
    pub(crate) yes_no: &'static [YesNoPreferNot],
}

pub(crate) const CHOICES: Choices = Choices {
    degrees: Degree::ALL,
    discovery: DiscoverySource::ALL,
    race: RaceEthnicity::ALL,
    gender: GenderIdentity::ALL,
    orientation: SexualOrientation::ALL,
    sex_at_birth: SexAtBirth::ALL,
    education: Education::ALL,
    yes_no: YesNoPreferNot::ALL,
};

#[derive(Template)]
#[template(path = "signup_step2.html")]
struct Step2Page {
    layout: Layout,
    state: String,
    domain: String,
    username_rules: &'static str,
    research_max: usize,
    c: &'static Choices,
    input: Step2Input,
    errors: FieldErrors,
    form_error: Option<String>,
}

impl Step2Page {
    fn checked(&self, list: &[String], code: &str) -> bool {
        has(list, code)
    }
}

fn step2_page(
    state: &AppState,
    v: &Visitor,
    sealed: String,
    input: Step2Input,
    errors: FieldErrors,
) -> Step2Page {
    Step2Page {
        layout: Layout::new("Create your account", &v.ctx, v.session.as_ref()),
        state: sealed,
        domain: state.config.accounts.username_domain.clone(),
        username_rules: username::RULES,
        research_max: RESEARCH_BACKGROUND_MAX,
        c: &CHOICES,
        input,
        errors,
        form_error: None,
    }
}

#[derive(Debug, Deserialize)]
pub struct Step2Form {
    #[serde(default)]
    state: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
    #[serde(default)]
    degrees: Vec<String>,
    #[serde(default)]
    professional_url: String,
    #[serde(default)]
    street1: String,
    #[serde(default)]
    street2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    state_province: String,
    #[serde(default)]
    zip: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    research_background: String,
    #[serde(default)]
    discovery: Vec<String>,
    #[serde(default)]
    discovery_other: String,
    #[serde(default)]
    race: Vec<String>,
    #[serde(default)]
    gender: Vec<String>,
    #[serde(default)]
    orientation: Vec<String>,
    #[serde(default)]
    sex_at_birth: String,
    #[serde(default)]
    year_of_birth: String,
    #[serde(default)]
    year_of_birth_prefer_not: Option<String>,
    #[serde(default)]
    education: String,
    #[serde(default)]
    disability: String,
    #[serde(default)]
    disadvantaged: String,
}

impl Step2Form {
    fn into_parts(self) -> (String, Step2Input) {
        (
            self.state,
            Step2Input {
                username: self.username,
                given_name: self.given_name,
                family_name: self.family_name,
                degrees: self.degrees,
                professional_url: self.professional_url,
                street1: self.street1,
                street2: self.street2,
                city: self.city,
                state: self.state_province,
                zip: self.zip,
                country: self.country,
                research_background: self.research_background,
                discovery: self.discovery,
                discovery_other: self.discovery_other,
                race: self.race,
                gender: self.gender,
                orientation: self.orientation,
                sex_at_birth: self.sex_at_birth,
                year_of_birth: if self.year_of_birth_prefer_not.is_some() {
                    "prefer_not".into()
                } else {
                    self.year_of_birth
                },
                education: self.education,
                disability: self.disability,
                disadvantaged: self.disadvantaged,
            },
        )
    }
}

pub(crate) fn current_year(now: i64) -> i32 {
    use chrono::Datelike;
    chrono::DateTime::from_timestamp(now, 0)
        .map(|d| d.year())
        .unwrap_or(2026)
}

pub async fn step2_submit(
    State(state): State<AppState>,
    v: Visitor,
    Form(form): Form<Step2Form>,
) -> WebResult<Response> {
    let (sealed, input) = form.into_parts();
    let Some(s) = open(&state, &sealed) else {
        return restart(&v);
    };
    let Some(affiliation) = s.affiliation.clone() else {
        return restart(&v);
    };
    // The agreement may have changed since Step 1: check it again.
    let step1 = Step1Input {
        institution: affiliation.institution.clone(),
        email: affiliation.contact_email.to_string(),
        role: affiliation.role.code().into(),
        role_other: affiliation.role_other.clone().unwrap_or_default(),
    };
    if let Err(errors) = check_step1(&state, &step1).await? {
        let fresh = seal(
            &state,
            &SignupState {
                affiliation: None,
                ..s
            },
        );
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &step1_page(&state, &v, fresh, step1, errors).await?,
        );
    }
    let now = state.now();
    let mut details = validate_step2(&input, current_year(now));
    if let Ok(d) = &details
        && state.store.username_taken(d.username.as_str()).await?
    {
        let mut errors = FieldErrors::new();
        errors.add("username", taken_message(&d.username, &state));
        details = Err(errors);
    }
    let details = match details {
        Ok(d) => d,
        Err(errors) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &step2_page(&state, &v, sealed, input, errors),
            );
        }
    };
    // A new account e-mails the address typed in Step 1: limited per client address and per
    // recipient, so sign-up cannot be used to flood someone's mailbox.
    if let Err(until) =
        crate::throttle::mail_allowed(&state, &v.ctx.ip, &affiliation.contact_email.canonical())
            .await?
    {
        let mut p = step2_page(&state, &v, sealed, input, FieldErrors::new());
        p.form_error = Some(format!(
            "Too many accounts were requested from your network or for this e-mail address. \
             Nothing was created; try again in {}.",
            wb_domain::throttle::wait_text(until, now)
        ));
        return page(StatusCode::TOO_MANY_REQUESTS, &p);
    }
    let temporary = wb_auth::temporary_password();
    let hash = crate::crypto::hash_password(&temporary).await;
    let expires = now + state.config.accounts.temporary_password_days * 86_400;
    let created = state
        .store
        .create_user(&wb_store::NewUser {
            affiliation: &affiliation,
            details: &details,
            password_hash: &hash,
            temporary_password_expires_at: expires,
            terms_version: s.terms_version,
            terms_accepted_at: s.terms_accepted_at,
            now,
        })
        .await;
    let user_id = match created {
        Ok(id) => id,
        Err(StoreError::Conflict(what)) => {
            let mut errors = FieldErrors::new();
            if what == "username" {
                errors.add("username", taken_message(&details.username, &state));
            }
            let mut p = step2_page(&state, &v, sealed, input, errors);
            if what != "username" {
                p.form_error = Some(
                    "An account was created for this e-mail address a moment ago. Sign in, or \
                     use \"Forgot password\" on the Sign In page."
                        .into(),
                );
            }
            return page(StatusCode::CONFLICT, &p);
        }
        Err(e) => return Err(e.into()),
    };
    // The profile was entered just now: it counts as confirmed for the year.
    state
        .store
        .complete_module(
            user_id,
            wb_domain::access::AccessModule::ProfileConfirmation,
            now,
            None,
        )
        .await?;
    let account = details
        .username
        .account_name(&state.config.accounts.username_domain);
    let complete = state.link(&format!(
        "/complete-registration?username={}",
        details.username.as_str()
    ));
    let mail = wb_mail::messages::welcome(
        affiliation.contact_email.as_str(),
        &wb_mail::messages::Welcome {
            given_name: &details.given_name,
            username: &account,
            temporary_password: &temporary,
            complete_registration_url: &complete,
            expires_on: &state.date(expires),
            support_email: &state.config.accounts.support_email,
        },
    );
    let mailed = match state.mailer.send(&mail).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, user_id, "welcome e-mail not sent");
            false
        }
    };
    state
        .store
        .audit(&wb_store::AuditEvent {
            at: now,
            actor_user_id: Some(user_id),
            actor: &format!("user:{}", details.username),
            action: "account.created",
            target_user_id: Some(user_id),
            detail: &serde_json::json!({
                "institution": affiliation.institution,
                "terms_version": s.terms_version,
                "welcome_mailed": mailed,
            })
            .to_string(),
            ip: Some(&v.ctx.ip),
        })
        .await?;
    let done = state.signer.seal(
        DONE_PURPOSE,
        &Done {
            account,
            contact_email: affiliation.contact_email.to_string(),
            mailed,
        },
        now + 3600,
    );
    Ok(Redirect::to(&format!("/create-account/done?t={done}")).into_response())
}

fn taken_message(u: &Username, state: &AppState) -> String {
    format!(
        "{} is already taken. Choose another username.",
        u.account_name(&state.config.accounts.username_domain)
    )
}

#[derive(Debug, Deserialize)]
pub struct UsernameQuery {
    #[serde(default)]
    username: String,
}

#[derive(Template)]
#[template(path = "signup_username.html")]
struct UsernameStatus {
    ok: bool,
    message: String,
}

/// The live check under the username field: the account name it makes, or why it cannot be
/// used.
pub async fn username_check(
    State(state): State<AppState>,
    Query(q): Query<UsernameQuery>,
) -> WebResult<Response> {
    let domain = &state.config.accounts.username_domain;
    let status = match Username::parse(&q.username) {
        Err(e) => UsernameStatus {
            ok: false,
            message: e.to_string(),
        },
        Ok(u) if state.store.username_taken(u.as_str()).await? => UsernameStatus {
            ok: false,
            message: taken_message(&u, &state),
        },
        Ok(u) => UsernameStatus {
            ok: true,
            message: format!("{} is available.", u.account_name(domain)),
        },
    };
    Ok(Html(status.render()?).into_response())
}

#[derive(Debug, Deserialize)]
pub struct RolesQuery {
    #[serde(default)]
    institution: String,
    #[serde(default)]
    role: String,
}

/// The role choices for the institution picked in Step 1.
pub async fn roles(
    State(state): State<AppState>,
    Query(q): Query<RolesQuery>,
) -> WebResult<Response> {
    let all = state.store.institutions().await?;
    let f = RolesFragment {
        roles: roles_for(&all, &q.institution),
        selected: q.role,
    };
    Ok(Html(f.render()?).into_response())
}

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    t: String,
}

#[derive(Template)]
#[template(path = "signup_done.html")]
struct DonePage {
    layout: Layout,
    done: Done,
    support_email: String,
}

pub async fn done(
    State(state): State<AppState>,
    v: Visitor,
    Query(q): Query<DoneQuery>,
) -> WebResult<Response> {
    let done: Done = state
        .signer
        .open(DONE_PURPOSE, &q.t, state.now())
        .ok_or_else(|| {
            WebError::BadRequest(
                "This confirmation link has expired. Your account details were sent to your \
                 contact e-mail; use them to sign in."
                    .into(),
            )
        })?;
    ok(&DonePage {
        layout: Layout::new("Your account was created", &v.ctx, v.session.as_ref()),
        done,
        support_email: state.config.accounts.support_email.clone(),
    })
}
