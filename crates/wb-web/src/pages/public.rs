//! Pages anyone may open: the home page, public researcher profiles, and the request to add an
//! institution.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use wb_domain::{EmailAddress, FieldErrors};
use wb_store::PublicProfile;

use super::{Layout, ok, page};
use crate::error::{WebError, WebResult};
use crate::guard::Visitor;
use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn not_found() -> WebError {
    WebError::NotFound
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
}

pub async fn home(v: Visitor) -> WebResult<Response> {
    if v.session
        .as_ref()
        .is_some_and(|s| s.stage == wb_store::SessionStage::Active)
    {
        return Ok(Redirect::to("/data-access-requirements").into_response());
    }
    ok(&Home {
        layout: Layout::new("Researcher Workbench", &v.ctx, v.session.as_ref()),
    })
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    p: PublicProfile,
    role: String,
    degrees: String,
}

pub async fn profile(
    State(state): State<AppState>,
    v: Visitor,
    Path(username): Path<String>,
) -> WebResult<Response> {
    let p = state
        .store
        .public_profile(&username.to_ascii_lowercase())
        .await?
        .ok_or(WebError::NotFound)?;
    let role = match (&p.role, &p.role_other) {
        (wb_domain::choices::Role::Other, Some(t)) => t.clone(),
        (r, _) => r.label().to_owned(),
    };
    let degrees = p
        .degrees
        .iter()
        .filter(|d| **d != wb_domain::choices::Degree::NoDegree)
        .map(|d| d.label())
        .collect::<Vec<_>>()
        .join(", ");
    ok(&ProfilePage {
        layout: Layout::new(
            &format!("{} {}", p.given_name, p.family_name),
            &v.ctx,
            v.session.as_ref(),
        ),
        p,
        role,
        degrees,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct InstitutionRequestForm {
    #[serde(default)]
    institution_name: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    website: String,
    #[serde(default)]
    reason: String,
}

#[derive(Template)]
#[template(path = "institution_request.html")]
struct InstitutionRequestPage {
    layout: Layout,
    form: InstitutionRequestForm,
    errors: FieldErrors,
    done: bool,
}

pub async fn institution_request_form(v: Visitor) -> WebResult<Response> {
    ok(&InstitutionRequestPage {
        layout: Layout::new(
            "Request to add your institution",
            &v.ctx,
            v.session.as_ref(),
        ),
        form: InstitutionRequestForm::default(),
        errors: FieldErrors::new(),
        done: false,
    })
}

pub async fn institution_request_submit(
    State(state): State<AppState>,
    v: Visitor,
    Form(form): Form<InstitutionRequestForm>,
) -> WebResult<Response> {
    let mut errors = FieldErrors::new();
    let limits = [
        (
            "institution_name",
            form.institution_name.trim(),
            200,
            "Enter the institution's name.",
        ),
        (
            "contact_name",
            form.contact_name.trim(),
            120,
            "Enter your name.",
        ),
        (
            "reason",
            form.reason.trim(),
            2000,
            "Tell us why you need access.",
        ),
    ];
    for (field, value, max, missing) in limits {
        let kind = if field == "reason" {
            wb_domain::text::Kind::Paragraphs
        } else {
            wb_domain::text::Kind::Line
        };
        if value.is_empty() {
            errors.add(field, missing);
        } else if value.chars().count() > max {
            errors.add(field, format!("Use at most {max} characters."));
        } else if let Err(m) = wb_domain::text::check(value, kind) {
            errors.add(field, m);
        }
    }
    let email = EmailAddress::parse(&form.contact_email);
    if let Err(e) = &email {
        errors.add("contact_email", e.to_string());
    }
    let website = form.website.trim();
    if !website.is_empty()
        && (!(website.starts_with("https://") || website.starts_with("http://"))
            || url::Url::parse(website).is_err()
            || website.len() > 500)
    {
        errors.add(
            "website",
            "Enter a web address starting with https://, or leave it empty.",
        );
    }
    let layout = Layout::new(
        "Request to add your institution",
        &v.ctx,
        v.session.as_ref(),
    );
    let Ok(email) = email else {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &InstitutionRequestPage {
                layout,
                form,
                errors,
                done: false,
            },
        );
    };
    if !errors.is_empty() {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &InstitutionRequestPage {
                layout,
                form,
                errors,
                done: false,
            },
        );
    }
    // The confirmation goes to an address the visitor typed: limited per client address and
    // per recipient, so the form cannot be used to flood someone's mailbox.
    if let Err(until) = crate::throttle::mail_allowed(&state, &v.ctx.ip, email.as_str()).await? {
        errors.add(
            "contact_email",
            format!(
                "Too many requests were sent from your network or to this address. Try again in {}.",
                wb_domain::throttle::wait_text(until, state.now())
            ),
        );
        return page(
            StatusCode::TOO_MANY_REQUESTS,
            &InstitutionRequestPage {
                layout,
                form,
                errors,
                done: false,
            },
        );
    }
    state
        .store
        .create_institution_request(
            form.institution_name.trim(),
            form.contact_name.trim(),
            email.as_str(),
            (!website.is_empty()).then_some(website),
            form.reason.trim(),
            state.now(),
        )
        .await?;
    state.send_in_background(wb_mail::messages::institution_request_received(
        email.as_str(),
        &wb_mail::messages::InstitutionRequestReceived {
            contact_name: form.contact_name.trim(),
            institution_name: form.institution_name.trim(),
            support_email: &state.config.accounts.support_email,
        },
    ));
    ok(&InstitutionRequestPage {
        layout,
        form,
        errors,
        done: true,
    })
}
