//! Identity verification against a real OpenID Connect provider on loopback (npm
//! `oidc-provider`, started by scripts/test): success, denied consent, a tampered state, a
//! wrong nonce, an expired ID token, an assurance level below the required one, and a subject
//! already bound to another account.

use reqwest::StatusCode;
use wb_domain::access::AccessModule;

use crate::support::{Consent, TestApp, text_of};

crate::on_both_databases!(
    spawn = crate::support::TestApp::spawn_oidc;
    identity_is_verified_through_the_provider,
    denied_consent_records_nothing,
    tampered_state_and_nonce_are_refused,
    expired_id_token_is_refused,
    assurance_level_below_required_is_refused,
    one_identity_binds_to_one_account,
    a_verification_started_by_another_user_is_refused,
);

async fn a_verification_started_by_another_user_is_refused(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let auth = app.start_identity("id-me").await;
    let callback = app
        .drive_provider(&auth, "ada-at-idp", Consent::Allow)
        .await;
    // Someone else signs in on the same browser and delivers Ada's callback.
    app.sign_out().await;
    app.signed_in_user("grace.h", "grace@northfield.example")
        .await;
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("was not started from this browser"));
    assert!(!identity_done(&app, "ada.l").await);
    assert!(!identity_done(&app, "grace.h").await);
}

async fn identity_done(app: &TestApp, username: &str) -> bool {
    let u = app.store.user_by_username(username).await.unwrap().unwrap();
    app.store
        .module_records(u.id)
        .await
        .unwrap()
        .iter()
        .any(|r| r.module == AccessModule::Identity && r.completed_at.is_some())
}

async fn identity_is_verified_through_the_provider(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let page = app.get("/identity").await;
    assert!(page.body.contains("LOGIN.GOV") && page.body.contains("For all users"));
    // The form that starts verification answers with a redirect to the provider, which the
    // browser allows only when the provider's origin is in `form-action`.
    let issuer = url::Url::parse(&std::env::var("WB_TEST_OIDC_ISSUER").unwrap()).unwrap();
    let csp = page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!(
            "form-action 'self' {}",
            issuer.origin().ascii_serialization()
        )),
        "{csp}"
    );
    let auth = app.start_identity("login-gov").await;
    let url = url::Url::parse(&auth).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q.contains_key("state") && q.contains_key("nonce"));
    let callback = app
        .drive_provider(&auth, "ada-at-idp", Consent::Allow)
        .await;
    assert!(
        callback.starts_with("/identity/callback?code="),
        "{callback}"
    );
    let r = app.get(&callback).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/data-access-requirements"),
        "{}",
        text_of(&r.body)
    );
    assert!(identity_done(&app, "ada.l").await);
    let page = app.get("/identity").await;
    assert!(page.body.contains("Your identity was verified on"));
    // The callback cannot be replayed: the pending verification is gone.
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

async fn denied_consent_records_nothing(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let auth = app.start_identity("id-me").await;
    let callback = app.drive_provider(&auth, "ada-at-idp", Consent::Deny).await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("You did not allow ID.me"));
    assert!(!identity_done(&app, "ada.l").await);
}

async fn tampered_state_and_nonce_are_refused(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    // A callback whose state is not the one this browser started with.
    let auth = app.start_identity("id-me").await;
    let callback = app
        .drive_provider(&auth, "ada-at-idp", Consent::Allow)
        .await;
    let forged = regex_replace_state(&callback);
    let r = app.get(&forged).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("does not belong to the verification you started")
    );
    assert!(!identity_done(&app, "ada.l").await);
    // An ID token carrying another nonce than the one we sent.
    let auth = app.start_identity("id-me").await;
    let mut url = url::Url::parse(&auth).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "nonce" {
                (k, "attacker-nonce".into())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let callback = app
        .drive_provider(url.as_str(), "ada-at-idp", Consent::Allow)
        .await;
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("could not be verified"),
        "{}",
        text_of(&r.body)
    );
    assert!(!identity_done(&app, "ada.l").await);
}

fn regex_replace_state(callback: &str) -> String {
    let mut url = url::Url::parse(&format!("http://x{callback}")).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, "forged-state".into())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    format!("{}?{}", url.path(), url.query().unwrap())
}

async fn expired_id_token_is_refused(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let auth = app.start_identity("id-me").await;
    let callback = app
        .drive_provider(&auth, "ada-at-idp", Consent::Allow)
        .await;
    // The provider's ID tokens live 5 minutes; our clock moves past that.
    app.clock.advance(400);
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("could not be verified"),
        "{}",
        text_of(&r.body)
    );
    assert!(!identity_done(&app, "ada.l").await);
}

async fn assurance_level_below_required_is_refused(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let auth = app.start_identity("login-gov").await;
    let callback = app.drive_provider(&auth, "low-ada", Consent::Allow).await;
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("assurance level ial1, but ial2 is required"),
        "{}",
        text_of(&r.body)
    );
    assert!(!identity_done(&app, "ada.l").await);
}

async fn one_identity_binds_to_one_account(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let auth = app.start_identity("id-me").await;
    let callback = app
        .drive_provider(&auth, "shared-person", Consent::Allow)
        .await;
    assert_eq!(app.get(&callback).await.status, StatusCode::SEE_OTHER);
    app.sign_out().await;
    app.signed_in_user("grace.h", "grace@northfield.example")
        .await;
    let auth = app.start_identity("id-me").await;
    let callback = app
        .drive_provider(&auth, "shared-person", Consent::Allow)
        .await;
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(
        r.body
            .contains("already linked to another Researcher Workbench account")
    );
    assert!(!identity_done(&app, "grace.h").await);
}
