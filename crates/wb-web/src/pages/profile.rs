//! The signed-in user's own profile (everything, public and private), "Edit your profile",
//! the yearly "Confirm your profile" step, and the workbench home behind "Get Started".

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use wb_domain::access::AccessModule;
use wb_domain::choices::Role;
use wb_domain::signup::{
    ProfileEditInput, ProfileSection, RESEARCH_BACKGROUND_MAX, saved_message, validate_profile_edit,
};
use wb_domain::{AccessTier, FieldErrors};

use super::account::{CHOICES, Choices, current_year};
use super::{Layout, has, ok, page};
use crate::error::WebResult;
use crate::guard::SignedIn;
use crate::registration;
use crate::state::AppState;
use crate::when::Rich;

#[derive(Template)]
#[template(path = "my_profile.html")]
struct MyProfile {
    layout: Layout,
    u: wb_store::UserRecord,
    account: String,
    institution: String,
    role: String,
    status: crate::when::Rich,
    degrees: String,
    /// "Profile saved: … updated." or "No changes." after a save.
    saved: Option<String>,
}

const SAVED_PURPOSE: &str = "profile-saved";

#[derive(Debug, Deserialize)]
pub struct ProfileQuery {
    #[serde(default)]
    saved: Option<String>,
}

fn role_text(role: Role, other: &Option<String>) -> String {
    match (role, other) {
        (Role::Other, Some(t)) => t.clone(),
        (r, _) => r.label().to_owned(),
    }
}

pub async fn my_profile(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Query(q): Query<ProfileQuery>,
) -> WebResult<Response> {
    let a = registration::load(&state, &s.user).await?;
    let v = super::access::view(&state, &a, AccessModule::ProfileConfirmation);
    let role = role_text(s.user.role, &s.user.role_other);
    // What the save that redirected here changed, sealed so a link cannot claim a save.
    let saved = q
        .saved
        .as_deref()
        .and_then(|t| {
            state
                .signer
                .open::<Vec<String>>(SAVED_PURPOSE, t, state.now())
        })
        .map(|codes| {
            let sections: Vec<ProfileSection> = codes
                .iter()
                .filter_map(|c| ProfileSection::from_code(c))
                .collect();
            saved_message(&sections)
        });
    let degrees = s
        .user
        .degrees
        .iter()
        .map(|d| d.label())
        .collect::<Vec<_>>()
        .join(", ");
    ok(&MyProfile {
        degrees,
        saved,
        layout: Layout::new("Your profile", &s.ctx, Some(&s)),
        account: format!(
            "{}@{}",
            s.user.username, state.config.accounts.username_domain
        ),
        institution: a.institution_name.clone(),
        role,
        status: match v.expires_on {
            Some(e) => Rich::new()
                .rich(&v.status)
                .text(" · Confirm again by ")
                .time(e),
            None => v.status,
        },
        u: s.user,
    })
}

#[derive(Template)]
#[template(path = "profile_edit.html")]
struct EditPage {
    layout: Layout,
    account: String,
    contact_email: String,
    institution: String,
    support_email: String,
    roles: Vec<Role>,
    research_max: usize,
    c: &'static Choices,
    input: ProfileEditInput,
    errors: FieldErrors,
}

impl EditPage {
    fn checked(&self, list: &[String], code: &str) -> bool {
        has(list, code)
    }
}

/// The stored profile as the edit form shows it.
fn input_of(u: &wb_store::UserRecord) -> ProfileEditInput {
    let d = &u.demographics;
    let codes = |v: Vec<&'static str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
    ProfileEditInput {
        role: u.role.code().to_owned(),
        role_other: u.role_other.clone().unwrap_or_default(),
        given_name: u.given_name.clone(),
        family_name: u.family_name.clone(),
        degrees: codes(u.degrees.iter().map(|x| x.code()).collect()),
        professional_url: u.professional_url.clone().unwrap_or_default(),
        street1: u.address.street1.clone(),
        street2: u.address.street2.clone().unwrap_or_default(),
        city: u.address.city.clone(),
        state: u.address.state.clone(),
        zip: u.address.zip.clone(),
        country: u.address.country.clone(),
        research_background: u.research_background.clone(),
        race: codes(d.race.iter().map(|x| x.code()).collect()),
        gender: codes(d.gender.iter().map(|x| x.code()).collect()),
        orientation: codes(d.orientation.iter().map(|x| x.code()).collect()),
        sex_at_birth: d
            .sex_at_birth
            .map(|x| x.code().to_owned())
            .unwrap_or_default(),
        year_of_birth: match (d.year_of_birth, d.year_of_birth_prefer_not) {
            (_, true) => "prefer_not".to_owned(),
            (Some(y), false) => y.to_string(),
            (None, false) => String::new(),
        },
        education: d.education.map(|x| x.code().to_owned()).unwrap_or_default(),
        disability: d
            .disability
            .map(|x| x.code().to_owned())
            .unwrap_or_default(),
        disadvantaged: d
            .disadvantaged
            .map(|x| x.code().to_owned())
            .unwrap_or_default(),
    }
}

async fn edit_page(
    state: &AppState,
    s: &crate::guard::Session,
    input: ProfileEditInput,
    errors: FieldErrors,
) -> WebResult<EditPage> {
    let institution = state.store.institution(&s.user.institution).await?;
    let mut roles = institution
        .as_ref()
        .map(|i| Role::for_organization(i.organization_type).to_vec())
        .unwrap_or_else(|| Role::ALL.to_vec());
    // A role the user holds stays offered, even if the institution no longer lists it.
    if !roles.contains(&s.user.role) {
        roles.insert(0, s.user.role);
    }
    Ok(EditPage {
        layout: Layout::new("Edit your profile", &s.ctx, Some(s)),
        account: format!(
            "{}@{}",
            s.user.username, state.config.accounts.username_domain
        ),
        contact_email: s.user.contact_email.clone(),
        institution: institution
            .map(|i| i.display_name)
            .unwrap_or_else(|| s.user.institution.clone()),
        support_email: state.config.accounts.support_email.clone(),
        roles,
        research_max: RESEARCH_BACKGROUND_MAX,
        c: &CHOICES,
        input,
        errors,
    })
}

pub async fn edit_form(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
) -> WebResult<Response> {
    let input = input_of(&s.user);
    ok(&edit_page(&state, &s, input, FieldErrors::new()).await?)
}

/// "Edit your profile" as posted. The field names are Step 2's.
#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    role_other: String,
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

impl From<EditForm> for ProfileEditInput {
    fn from(f: EditForm) -> Self {
        ProfileEditInput {
            role: f.role,
            role_other: f.role_other,
            given_name: f.given_name,
            family_name: f.family_name,
            degrees: f.degrees,
            professional_url: f.professional_url,
            street1: f.street1,
            street2: f.street2,
            city: f.city,
            state: f.state_province,
            zip: f.zip,
            country: f.country,
            research_background: f.research_background,
            race: f.race,
            gender: f.gender,
            orientation: f.orientation,
            sex_at_birth: f.sex_at_birth,
            year_of_birth: if f.year_of_birth_prefer_not.is_some() {
                "prefer_not".into()
            } else {
                f.year_of_birth
            },
            education: f.education,
            disability: f.disability,
            disadvantaged: f.disadvantaged,
        }
    }
}

/// Saves "Edit your profile": validated with the sign-up rules, written in one store
/// transaction that also counts as the yearly profile confirmation; the audit row and the
/// e-mail only when something changed.
pub async fn edit_submit(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(form): Form<EditForm>,
) -> WebResult<Response> {
    let input = ProfileEditInput::from(form);
    let now = state.now();
    let institution = state.store.institution(&s.user.institution).await?;
    let edit =
        match validate_profile_edit(&input, institution.as_ref(), s.user.role, current_year(now)) {
            Ok(e) => e,
            Err(errors) => {
                return page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &edit_page(&state, &s, input, errors).await?,
                );
            }
        };
    let changes = state
        .store
        .update_profile(&wb_store::ProfileUpdate {
            user_id: s.user.id,
            edit: &edit,
            now,
            actor: &format!("user:{}", s.user.username),
            ip: Some(&s.ctx.ip),
        })
        .await?;
    registration::sync(&state, &s.user).await?;
    if !changes.is_empty() {
        let labels: Vec<String> = changes.iter().map(|c| capitalized(c.label())).collect();
        let sections: Vec<&str> = labels.iter().map(String::as_str).collect();
        let account = format!(
            "{}@{}",
            s.user.username, state.config.accounts.username_domain
        );
        state.send_in_background(wb_mail::messages::profile_updated(
            &s.user.contact_email,
            &wb_mail::messages::ProfileUpdated {
                given_name: &edit.given_name,
                username: &account,
                when: &state.datetime(now),
                sections: &sections,
                profile_url: &state.link("/profile"),
                support_email: &state.config.accounts.support_email,
            },
        ));
    }
    let codes: Vec<&str> = changes.iter().map(|c| c.code()).collect();
    let sealed = state.signer.seal(SAVED_PURPOSE, &codes, now + 600);
    Ok(Redirect::to(&format!("/profile?saved={sealed}")).into_response())
}

/// "research background" → "Research background", as the e-mail lists sections.
fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub async fn confirm_profile(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
) -> WebResult<Response> {
    state
        .store
        .complete_module(
            s.user.id,
            AccessModule::ProfileConfirmation,
            state.now(),
            None,
        )
        .await?;
    registration::audit_module(
        &state,
        &s.user,
        AccessModule::ProfileConfirmation,
        "module.completed",
        &s.ctx.ip,
    )
    .await?;
    registration::sync(&state, &s.user).await?;
    Ok(Redirect::to("/data-access-requirements").into_response())
}

#[derive(Template)]
#[template(path = "workbench_home.html")]
struct HomePage {
    layout: Layout,
    given_name: String,
    registered: bool,
    controlled: bool,
    /// "Workspaces +" and the user's workspaces, as the guide's home page has them.
    rows: Vec<super::workspaces::ListRow>,
    can_create: bool,
}

/// The workbench home, behind "Get Started".
pub async fn home(State(state): State<AppState>, SignedIn(s): SignedIn) -> WebResult<Response> {
    let a = registration::load(&state, &s.user).await?;
    if !a.has_tier(AccessTier::Registered) {
        return Ok(Redirect::to("/data-access-requirements").into_response());
    }
    ok(&HomePage {
        layout: Layout::new("Researcher Workbench", &s.ctx, Some(&s)),
        given_name: s.user.given_name.clone(),
        registered: true,
        controlled: a.has_tier(AccessTier::Controlled),
        rows: super::workspaces::list_rows(&state, &s, &a).await?,
        can_create: true,
    })
}
