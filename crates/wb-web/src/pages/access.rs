//! "Data Access Requirements": where a researcher lands after signing in. This issue lists
//! the steps; the access modules themselves arrive with the data access registration work.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use wb_domain::AccessTier;

use super::{Layout, ok};
use crate::error::WebResult;
use crate::guard::SignedIn;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "access_requirements.html")]
struct RequirementsPage {
    layout: Layout,
    given_name: String,
    institution: String,
    welcome: bool,
    controlled_eligible: bool,
}

#[derive(Debug, Deserialize)]
pub struct RequirementsQuery {
    #[serde(default)]
    welcome: Option<String>,
}

pub async fn requirements(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Query(q): Query<RequirementsQuery>,
) -> WebResult<Response> {
    let institution = state.store.institution(&s.user.institution).await?;
    let controlled_eligible = institution.as_ref().is_some_and(|i| {
        wb_domain::EmailAddress::parse(&s.user.contact_email)
            .is_ok_and(|e| i.check_email(&e, AccessTier::Controlled).is_eligible())
    });
    ok(&RequirementsPage {
        layout: Layout::new("Data Access Requirements", &s.ctx, Some(&s)),
        given_name: s.user.given_name.clone(),
        institution: institution
            .map(|i| i.display_name)
            .unwrap_or_else(|| s.user.institution.clone()),
        welcome: q.welcome.is_some(),
        controlled_eligible,
    })
}
