//! Workbench web: the axum router, server-rendered pages and the checks every request passes.
//!
//! Layout:
//! - [`config`]: the configuration shape and defaults.
//! - [`state`]: what handlers share (store, mailer, signer, clock).
//! - [`guard`]: the per-request context, CSRF check and security headers (middleware), and the
//!   session extractors that name what each handler needs ([`guard::SignedIn`] …).
//! - [`pages`]: one module per product area; handlers stay thin and call domain rules and the
//!   store.
//! - [`error`]: the one error type of this layer and how it becomes a page.

pub mod api;
pub mod api_cohorts;
pub mod assets;
pub mod cohorts;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod guard;
pub mod jobs;
pub mod pages;
pub mod registration;
pub mod state;
pub mod throttle;
pub mod when;

use axum::Router;
use axum::routing::{get, post};

pub use config::Config;
pub use state::{AppState, Clock, ManualClock, SystemClock};

/// The whole application.
pub fn router(state: AppState) -> Router {
    use pages::{
        access, account, cohorts, conduct, groups, identity, profile, public, sharing, signin,
        training, twofactor, workspaces,
    };
    Router::new()
        .route("/", get(public::home))
        .route("/healthz", get(public::healthz))
        .route("/people/{username}", get(public::profile))
        .route(
            "/institutions/request",
            get(public::institution_request_form).post(public::institution_request_submit),
        )
        .route(
            "/create-account",
            get(account::terms).post(account::terms_submit),
        )
        .route("/create-account/step-1", post(account::step1_submit))
        .route("/create-account/step-2", post(account::step2_submit))
        .route("/create-account/username", get(account::username_check))
        .route("/create-account/roles", get(account::roles))
        .route("/create-account/done", get(account::done))
        .route("/complete-registration", get(signin::complete_registration))
        .route(
            "/sign-in",
            get(signin::sign_in).post(signin::sign_in_submit),
        )
        .route("/sign-out", post(signin::sign_out))
        .route(
            "/change-password",
            get(signin::change_password).post(signin::change_password_submit),
        )
        .route(
            "/forgot-password",
            get(signin::forgot_password).post(signin::forgot_password_submit),
        )
        .route(
            "/reset-password/{token}",
            get(signin::reset_password).post(signin::reset_password_submit),
        )
        .route("/data-access-requirements", get(access::requirements))
        .route(
            "/two-step-verification",
            get(twofactor::two_step).post(twofactor::two_step_confirm),
        )
        .route(
            "/two-step-verification/recovery-codes",
            post(twofactor::new_recovery_codes),
        )
        .route(
            "/two-step-verification/replace",
            post(twofactor::replace_authenticator),
        )
        .route("/code-of-conduct", get(conduct::read))
        .route(
            "/code-of-conduct/accept",
            get(conduct::accept).post(conduct::accept_submit),
        )
        .route("/profile", get(profile::my_profile))
        .route(
            "/profile/edit",
            get(profile::edit_form).post(profile::edit_submit),
        )
        .route("/profile/confirm", post(profile::confirm_profile))
        .route("/identity", get(identity::identity))
        .route("/identity/request", post(identity::request))
        .route("/identity/{provider}/start", post(identity::start))
        .route("/identity/callback", get(identity::callback))
        .route("/home", get(profile::home))
        .route("/training", get(training::courses))
        .route("/training/{course}", get(training::course))
        .route(
            "/training/{course}/modules/{module}",
            get(training::module).post(training::module_done),
        )
        .route(
            "/training/{course}/assessment/start",
            post(training::start_assessment),
        )
        .route(
            "/training/{course}/assessment",
            get(training::assessment).post(training::submit_assessment),
        )
        .route("/training/{course}/certificate", get(training::certificate))
        .route(
            "/sign-in/verify",
            get(twofactor::verify).post(twofactor::verify_submit),
        )
        .route("/api/v1/me/access", get(api::my_access))
        .route(
            "/api/v1/workspaces/{namespace}/cohorts/count",
            post(api::cohort_count),
        )
        .route(
            "/api/v1/workspaces/{namespace}/concepts",
            get(api::concepts),
        )
        .route(
            "/api/v1/workspaces/{namespace}/cohorts/sql",
            post(api::cohort_sql),
        )
        .route(
            "/api/v1/workspaces/{namespace}/cohorts",
            get(api_cohorts::list).post(api_cohorts::create),
        )
        .route(
            "/api/v1/workspaces/{namespace}/cohorts/{id}",
            get(api_cohorts::get_one)
                .put(api_cohorts::save)
                .delete(api_cohorts::delete),
        )
        .route(
            "/api/v1/workspaces/{namespace}/cohort-drafts/{key}",
            get(api_cohorts::get_draft)
                .put(api_cohorts::put_draft)
                .delete(api_cohorts::delete_draft),
        )
        .route(
            "/api/v1/workspaces/{namespace}/cohorts/{id}/duplicate",
            post(api_cohorts::duplicate),
        )
        .route("/api/v1/openapi.json", get(api::openapi))
        .route("/workspaces", get(workspaces::list))
        .route(
            "/workspaces/new",
            get(workspaces::new_form).post(workspaces::new_submit),
        )
        .route("/workspaces/new/check", post(workspaces::new_check))
        .route("/workspaces/confirm", post(workspaces::confirm))
        .route("/workspaces/{ns}", get(workspaces::data))
        .route("/workspaces/{ns}/about", get(workspaces::about))
        .route(
            "/workspaces/{ns}/share",
            get(sharing::share).post(sharing::save),
        )
        .route("/workspaces/{ns}/share/search", get(sharing::search))
        .route("/workspaces/{ns}/share/add", get(sharing::add_row))
        .route(
            "/workspaces/{ns}/delete",
            get(workspaces::delete_form).post(workspaces::delete),
        )
        .route(
            "/workspaces/{ns}/duplicate",
            get(workspaces::duplicate_form),
        )
        .route("/workspaces/{ns}/billing", post(workspaces::change_billing))
        .route(
            "/workspaces/{ns}/edit",
            get(workspaces::edit_form).post(workspaces::edit),
        )
        .route("/workspaces/{ns}/cohorts/{key}", get(cohorts::builder))
        .route("/workspaces/{ns}/cohorts/{key}/edit", post(cohorts::edit))
        .route(
            "/workspaces/{ns}/cohorts/{key}/criteria",
            get(cohorts::criteria),
        )
        .route("/workspaces/{ns}/cohorts/{key}/save", post(cohorts::save))
        .route(
            "/workspaces/{ns}/cohorts/{key}/discard",
            post(cohorts::discard),
        )
        .route("/workspaces/{ns}/cohorts/{key}/sql", get(cohorts::sql))
        .route(
            "/workspaces/{ns}/cohorts/{key}/duplicate",
            post(cohorts::duplicate),
        )
        .route(
            "/workspaces/{ns}/cohorts/{key}/delete",
            get(cohorts::delete_form).post(cohorts::delete),
        )
        .route("/research-hub", get(workspaces::research_hub))
        .route("/training-groups", get(groups::groups).post(groups::create))
        .route("/training-groups/join", post(groups::join))
        .route("/training-groups/{id}", get(groups::group))
        .route("/training-groups/{id}/progress.csv", get(groups::group_csv))
        .route("/static/{file}", get(assets::serve))
        .fallback(public::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::request_context,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

/// Serves `router` on `listener` until the future `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// What `wb serve` runs: the web server and the scheduled jobs ([`jobs::run_scheduler`]),
/// until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let scheduler = tokio::spawn(jobs::run_scheduler(state.clone()));
    let served = serve(listener, state, shutdown).await;
    scheduler.abort();
    served
}
