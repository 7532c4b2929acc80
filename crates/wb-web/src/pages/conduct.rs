//! "Sign Data User Code of Conduct": read the text and "Proceed", then initial every
//! statement and "Accept". The version, time and initials are recorded; a new version must be
//! signed again.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use wb_domain::FieldErrors;
use wb_domain::access::AccessModule;
use wb_domain::conduct::{self, CodeOfConduct};

use super::{Layout, ok, page};
use crate::error::WebResult;
use crate::guard::SignedIn;
use crate::registration;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "conduct_read.html")]
struct ReadPage {
    layout: Layout,
    c: &'static CodeOfConduct,
}

pub async fn read(SignedIn(s): SignedIn) -> WebResult<Response> {
    ok(&ReadPage {
        layout: Layout::new("Data User Code of Conduct", &s.ctx, Some(&s)),
        c: &conduct::CURRENT,
    })
}

#[derive(Template)]
#[template(path = "conduct_accept.html")]
struct AcceptPage {
    layout: Layout,
    c: &'static CodeOfConduct,
    full_name: String,
    institution: String,
    typed: Vec<String>,
    errors: FieldErrors,
}

impl AcceptPage {
    fn typed_at(&self, i: &usize) -> &str {
        self.typed.get(*i).map(String::as_str).unwrap_or("")
    }
    fn error_at(&self, i: &usize) -> Option<&str> {
        self.errors.get(&format!("initials_{i}"))
    }
}

async fn accept_page(
    state: &AppState,
    s: &crate::guard::Session,
    typed: Vec<String>,
    errors: FieldErrors,
) -> WebResult<AcceptPage> {
    let institution = state
        .store
        .institution(&s.user.institution)
        .await?
        .map(|i| i.display_name)
        .unwrap_or_default();
    Ok(AcceptPage {
        layout: Layout::new("Accept Data User Code of Conduct", &s.ctx, Some(s)),
        c: &conduct::CURRENT,
        full_name: s.user.full_name(),
        institution,
        typed,
        errors,
    })
}

pub async fn accept(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    ok(&accept_page(&state, &s, Vec::new(), FieldErrors::new()).await?)
}

pub async fn accept_submit(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    let n = conduct::CURRENT.statements.len();
    let mut typed = vec![String::new(); n];
    let mut version = None;
    for (k, v) in &form {
        if let Some(i) = k
            .strip_prefix("initials_")
            .and_then(|i| i.parse::<usize>().ok())
        {
            if i < n {
                typed[i] = v.clone();
            } else {
                typed.push(v.clone());
            }
        } else if k == "version" {
            version = v.parse::<i64>().ok();
        }
    }
    if version != Some(conduct::CURRENT.version) {
        let mut errors = FieldErrors::new();
        errors.add(
            "initials",
            "The code of conduct was updated while you were reading it. Read this version and initial it again.",
        );
        return page(
            StatusCode::CONFLICT,
            &accept_page(&state, &s, Vec::new(), errors).await?,
        );
    }
    let initials = match conduct::check_initials(&typed, &s.user.given_name, &s.user.family_name) {
        Ok(i) => i,
        Err(errors) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &accept_page(&state, &s, typed, errors).await?,
            );
        }
    };
    state
        .store
        .sign_code_of_conduct(s.user.id, conduct::CURRENT.version, &initials, state.now())
        .await?;
    registration::audit_module(
        &state,
        &s.user,
        AccessModule::CodeOfConduct,
        "module.completed",
        &s.ctx.ip,
    )
    .await?;
    registration::sync(&state, &s.user).await?;
    Ok(Redirect::to("/data-access-requirements").into_response())
}
