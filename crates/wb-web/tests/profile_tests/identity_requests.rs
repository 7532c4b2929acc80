//! "Request verification" on "Verify your identity" when no identity provider is configured:
//! one open request per user (also under parallel clicks), e-mails to the administrators and
//! the user, "Requested on …" on the page and in the requirements list.

use reqwest::StatusCode;

use super::later;
use crate::support::wb_clock_now::Now;
use crate::support::{TestApp, field, text_by_id, text_of};

crate::on_both_databases!(
    identity_request_is_queued_once_and_mailed_to_admin_and_user,
    parallel_identity_requests_make_one_row_and_one_mail,
);

const ADMIN_SUBJECT: &str = "Identity verification requested by";
const RECEIVED_SUBJECT: &str = "We received your identity verification request";

/// The identity page and the Data Access Requirements row, as text.
async fn identity_texts(app: &TestApp) -> (String, String) {
    let identity = app.get("/identity").await;
    let dar = app.get("/data-access-requirements").await;
    let doc = scraper::Html::parse_document(&dar.body);
    let sel = scraper::Selector::parse("li[data-module=identity]").unwrap();
    let row: String = doc
        .select(&sel)
        .next()
        .unwrap()
        .text()
        .collect::<Vec<_>>()
        .join(" ");
    (
        identity.body,
        row.split_whitespace().collect::<Vec<_>>().join(" "),
    )
}

/// The user's open requests (every row the insert can make is open).
async fn open_rows(app: &TestApp, user_id: i64) -> usize {
    app.store
        .open_identity_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.user_id == user_id)
        .count()
}

fn mails(app: &TestApp, to: &str, subject: &str) -> usize {
    app.outbox
        .messages()
        .iter()
        .filter(|m| m.to.to_lowercase().contains(to) && m.subject.contains(subject))
        .count()
}

async fn identity_request_is_queued_once_and_mailed_to_admin_and_user(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    let admin = app.state.config.accounts.admin_email().to_owned();
    assert_eq!(admin, "admins@researchworkbench.example");
    let support = app.state.config.accounts.support_email.clone();
    // No provider: the page offers the request, and support is a mailto: link.
    let (page, row) = identity_texts(&app).await;
    assert_eq!(
        text_by_id(&page, "request-verification").as_deref(),
        Some("Request verification")
    );
    assert!(page.contains(&format!("href=\"mailto:{support}\"")));
    assert!(!row.contains("Requested on"), "{row}");
    let r = app.submit("/identity", "/identity/request", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    assert_eq!(r.location.as_deref(), Some("/identity"));
    let day = app.state.date(app.clock.now_secs());
    let (page, row) = identity_texts(&app).await;
    let requested = text_by_id(&page, "identity-requested").unwrap();
    assert!(
        requested.starts_with(&format!("Requested on {day}.")),
        "{requested}"
    );
    assert!(
        text_by_id(&page, "request-verification").is_none(),
        "no second button"
    );
    assert!(row.contains(&format!("Requested on {day}")), "{row}");
    assert!(row.contains("Not completed"), "{row}");
    assert_eq!(
        app.store.open_identity_request(u.id).await.unwrap(),
        Some(app.clock.now_secs())
    );
    // The administrators and the user are told.
    let to_admin = app.mail_to(&admin, ADMIN_SUBJECT).await;
    assert!(to_admin.subject.contains("Ada Lindqvist (ada.l)"));
    assert!(to_admin.text.contains("ada@northfield.example"));
    assert!(
        to_admin
            .text
            .contains("wb admin user verify-identity ada.l")
    );
    let to_user = app
        .mail_to("ada@northfield.example", RECEIVED_SUBJECT)
        .await;
    assert!(to_user.text.contains("/data-access-requirements"));
    // Asking again (a second tab, a later day) makes no second request and no e-mail.
    later(&app, 86_400).await;
    let token = field(&app.get("/identity").await.body, "csrf_token").unwrap();
    let r = app
        .post_raw("/identity/request", &[("csrf_token", &token)], &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let (page, _) = identity_texts(&app).await;
    assert!(
        text_by_id(&page, "identity-requested")
            .unwrap()
            .contains(&day),
        "the first request's date stays"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(open_rows(&app, u.id).await, 1);
    assert_eq!(mails(&app, &admin, ADMIN_SUBJECT), 1);
    assert_eq!(mails(&app, "ada@northfield.example", RECEIVED_SUBJECT), 1);
    // Without a CSRF token: refused.
    let r = app.post_raw("/identity/request", &[], &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // An administrator verifies: the module completes and the request closes.
    assert!(
        app.store
            .verify_identity_manually(u.id, "admin-cli", app.clock.now_secs())
            .await
            .unwrap()
    );
    let (page, row) = identity_texts(&app).await;
    assert!(text_by_id(&page, "identity-verified").is_some());
    assert!(!row.contains("Requested on"), "{row}");
    assert!(row.contains("Completed on"), "{row}");
}

async fn parallel_identity_requests_make_one_row_and_one_mail(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    let admin = app.state.config.accounts.admin_email().to_owned();
    let token = field(&app.get("/identity").await.body, "csrf_token").unwrap();
    let posts: Vec<_> = (0..8)
        .map(|_| {
            let client = app.client.clone();
            let url = format!("{}/identity/request", app.base);
            let token = token.clone();
            tokio::spawn(async move {
                client
                    .post(url)
                    .form(&[("csrf_token", token.as_str())])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for p in posts {
        assert_eq!(p.await.unwrap(), StatusCode::SEE_OTHER);
    }
    app.mail_to(&admin, ADMIN_SUBJECT).await;
    app.mail_to("ada@northfield.example", RECEIVED_SUBJECT)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(open_rows(&app, u.id).await, 1, "one row");
    assert_eq!(mails(&app, &admin, ADMIN_SUBJECT), 1, "one e-mail to admin");
    assert_eq!(
        mails(&app, "ada@northfield.example", RECEIVED_SUBJECT),
        1,
        "one e-mail to the user"
    );
    let requested: Vec<_> = app
        .store
        .audit_for_user(u.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "identity.requested")
        .collect();
    assert_eq!(requested.len(), 1, "one audit row");
}

/// With a provider configured the page stays as it was: no request button, and the request
/// route does not exist.
async fn with_a_provider_there_is_no_request(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let page = app.get("/identity").await;
    assert!(text_of(&page.body).contains("ID.me"));
    assert!(text_by_id(&page.body, "request-verification").is_none());
    assert!(text_by_id(&page.body, "no-provider").is_none());
    let token = field(&page.body, "csrf_token").unwrap();
    let r = app
        .post_raw("/identity/request", &[("csrf_token", &token)], &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(app.store.open_identity_requests().await.unwrap().is_empty());
}

async fn spawn_with_provider(store: wb_store::Store) -> TestApp {
    TestApp::spawn_with(store, 1_790_000_000, |c| {
        c.identity.providers = vec![wb_auth::oidc::ProviderConfig {
            key: "id-me".into(),
            name: "ID.me".into(),
            description: "For all users".into(),
            issuer: "https://idp.invalid".into(),
            client_id: "workbench".into(),
            client_secret: "secret".into(),
            required_acr: None,
        }];
    })
    .await
}

mod with_provider {
    #[tokio::test]
    async fn sqlite() {
        let app = super::spawn_with_provider(wb_store::testing::sqlite().await).await;
        super::with_a_provider_there_is_no_request(app).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set WB_TEST_POSTGRES_URL (scripts/test starts one and runs these)"]
    async fn postgres() {
        if let Some(s) = wb_store::testing::postgres().await {
            let app = super::spawn_with_provider(s).await;
            super::with_a_provider_there_is_no_request(app).await;
        }
    }
}
