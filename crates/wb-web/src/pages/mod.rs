//! Pages, one module per product area.

pub mod access;
pub mod account;
pub mod cohorts;
pub mod conduct;
pub mod groups;
pub mod identity;
pub mod profile;
pub mod public;
pub mod sharing;
pub mod signin;
pub mod training;
pub mod twofactor;
pub mod workspaces;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::error::WebResult;
use crate::guard::{RequestContext, Session};

/// What the shared page frame needs: the title, the CSRF token for its forms (sign out) and
/// who is signed in.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub title: String,
    pub csrf: String,
    pub signed_in: Option<String>,
    /// Rendered without knowing the visitor (error pages): the header offers only neutral links.
    pub bare: bool,
}

impl Layout {
    pub fn new(title: &str, ctx: &RequestContext, session: Option<&Session>) -> Self {
        Self {
            title: title.to_owned(),
            csrf: ctx.csrf.clone(),
            signed_in: session
                .filter(|s| s.stage == wb_store::SessionStage::Active)
                .map(|s| s.user.full_name()),
            bare: false,
        }
    }

    /// For pages rendered outside a request context (error pages).
    pub fn bare(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            bare: true,
            ..Self::default()
        }
    }
}

/// Renders a template as a page with a status.
pub fn page(status: StatusCode, t: &impl Template) -> WebResult<Response> {
    Ok((status, Html(t.render()?)).into_response())
}

/// Renders a template as a 200 page.
pub fn ok(t: &impl Template) -> WebResult<Response> {
    page(StatusCode::OK, t)
}

/// `true` when `list` holds `code`: used by templates to keep checkboxes checked.
pub fn has(list: &[String], code: &str) -> bool {
    list.iter().any(|v| v == code)
}
