//! The error type of the web layer.
//!
//! Expected problems (bad input, a missing page, a refused action) are rendered by handlers as
//! pages with the user's input kept. What reaches [`WebError`] is either a plain refusal with a
//! message for the person, or an internal failure: those are logged once, in full, with an
//! id, and the person sees a generic page quoting that id.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Store(#[from] wb_store::StoreError),
    #[error(transparent)]
    Mail(#[from] wb_mail::MailError),
    #[error(transparent)]
    Template(#[from] askama::Error),
    /// A dataset's data cannot answer now (not attached yet, being prepared): 503.
    #[error("{0}")]
    Unavailable(String),
    /// Reading a dataset failed.
    #[error("dataset: {0}")]
    Cdr(String),
}

impl From<wb_domain::analysis::ServiceError> for WebError {
    fn from(e: wb_domain::analysis::ServiceError) -> Self {
        match e {
            wb_domain::analysis::ServiceError::Unavailable(m) => WebError::Unavailable(m),
            wb_domain::analysis::ServiceError::Failed(m) => WebError::Cdr(m),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: crate::pages::Layout,
    heading: &'a str,
    message: &'a str,
}

pub fn error_page(status: StatusCode, heading: &str, message: &str) -> Response {
    let page = ErrorPage {
        layout: crate::pages::Layout::bare(heading),
        heading,
        message,
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, message.to_owned()).into_response(),
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match &self {
            WebError::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no page at this address. Check the link, or start from the home page.",
            ),
            WebError::Forbidden(m) => error_page(StatusCode::FORBIDDEN, "Not allowed", m),
            WebError::BadRequest(m) => {
                error_page(StatusCode::BAD_REQUEST, "This request cannot be used", m)
            }
            WebError::Unavailable(m) => {
                error_page(StatusCode::SERVICE_UNAVAILABLE, "Data not available yet", m)
            }
            _ => {
                let id = wb_auth::random_token()[..10].to_owned();
                tracing::error!(error = %self, error_id = %id, "request failed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    &format!(
                        "The workbench could not complete this request. Nothing you typed was \
                         saved. Try again in a moment; if it keeps happening, contact support \
                         and quote error id {id}."
                    ),
                )
            }
        }
    }
}

pub type WebResult<T> = Result<T, WebError>;
