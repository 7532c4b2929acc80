//! Data access registration over HTTP: 2-step verification, the code of conduct, training
//! and its assessment, identity, tiers, expiry and reminders.

use reqwest::StatusCode;
use wb_domain::access::AccessModule;

use crate::support::wb_clock_now::Now;
use crate::support::{TestApp, field, text_of};

mod oidc;

crate::on_both_databases!(
    two_step_verification_enrols_and_guards_every_sign_in,
    code_of_conduct_needs_matching_initials,
    training_assessment_is_graded_and_the_retake_wait_enforced,
    controlled_tier_training_only_for_eligible_users,
    completing_every_module_grants_both_tiers_and_expiry_takes_them,
    expiry_reminders_are_sent_once_per_threshold,
    access_api_reports_modules_and_tiers,
);

async fn access_api_reports_modules_and_tiers(app: TestApp) {
    let r = app.get("/api/v1/me/access").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["error"], "unauthenticated");
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let r = app.get("/api/v1/me/access").await;
    assert_eq!(r.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["username"], "ada.l");
    assert_eq!(body["tiers"], serde_json::json!([]));
    assert_eq!(body["controlled_tier_eligible"], true);
    assert_eq!(body["modules"].as_array().unwrap().len(), 6);
    let profile = body["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "profile_confirmation")
        .unwrap();
    assert_eq!(profile["status"], "completed");
    assert!(profile["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        body["missing_for_registered"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("two_factor"))
    );
    assert!(
        !body["missing_for_registered"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("ct_training"))
    );
}

async fn two_step_verification_enrols_and_guards_every_sign_in(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    // A wrong code is refused and the same secret stays on the page.
    let page = app.get("/two-step-verification").await;
    let secret_text = TestApp::by_id(&page.body, "totp-secret").unwrap();
    assert!(
        page.body.contains("<svg"),
        "a QR code is rendered by the server"
    );
    let pending = field(&page.body, "pending").unwrap();
    let r = app
        .submit_raw_form(
            "/two-step-verification",
            &page.body,
            &[("code", "000000"), ("pending", &pending)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(TestApp::by_id(&r.body, "totp-secret").unwrap(), secret_text);
    // Opening the page stored nothing; a tampered proposal is refused.
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert!(
        app.store.totp(u.id).await.unwrap().is_none(),
        "GET wrote nothing"
    );
    let r = app
        .submit_raw_form(
            "/two-step-verification",
            &page.body,
            &[("code", "000000"), ("pending", "tampered")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("was open for more than 30 minutes or was changed"));
    let (secret, codes) = app.enrol_totp().await;
    assert_eq!(codes.len(), 10);
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    let stored = app.store.totp(u.id).await.unwrap().unwrap();
    assert!(
        !stored.secret_sealed.contains(&secret.to_base32()),
        "the seed is encrypted at rest"
    );
    assert!(
        app.store
            .module_records(u.id)
            .await
            .unwrap()
            .iter()
            .any(|r| r.module == AccessModule::TwoFactor && r.completed_at.is_some())
    );
    // Every sign-in now asks for a code; the data pages stay closed until it is given.
    app.sign_out().await;
    let r = app.sign_in("ada.l", "violet harbor lantern 2931").await;
    assert_eq!(r.location.as_deref(), Some("/sign-in/verify"));
    assert_eq!(
        app.get("/data-access-requirements")
            .await
            .location
            .as_deref(),
        Some("/sign-in/verify")
    );
    assert_eq!(
        app.get("/change-password").await.location.as_deref(),
        Some("/sign-in/verify")
    );
    // The code used for enrolment cannot be replayed; two steps back is too old.
    let now = app.clock.now_secs();
    let used = wb_auth::totp::code_at(&secret, now);
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &used)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    app.clock.advance(90);
    let old = wb_auth::totp::code_at(&secret, app.clock.now_secs() - 60);
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &old)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let before = app.session_cookie();
    let code = wb_auth::totp::code_at(&secret, app.clock.now_secs());
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &code)])
        .await;
    assert_eq!(r.location.as_deref(), Some("/data-access-requirements"));
    assert_ne!(
        app.session_cookie(),
        before,
        "a new session id after the second factor"
    );
    // A recovery code works once.
    app.sign_out().await;
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let r = app
        .submit(
            "/sign-in/verify",
            "/sign-in/verify",
            &[("code", &codes[0].to_uppercase())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    app.sign_out().await;
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &codes[0])])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.store.recovery_codes_left(u.id).await.unwrap(), 9);
}

async fn code_of_conduct_needs_matching_initials(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let read = app.get("/code-of-conduct").await;
    assert!(read.body.contains("Proceed"));
    let page = app.get("/code-of-conduct/accept").await;
    assert!(text_of(&page.body).contains("Ada Lindqvist"));
    let n = wb_domain::conduct::CURRENT.statements.len();
    let version = wb_domain::conduct::CURRENT.version.to_string();
    let names: Vec<String> = (0..n).map(|i| format!("initials_{i}")).collect();
    let mut wrong: Vec<(&str, &str)> = names.iter().map(|k| (k.as_str(), "AL")).collect();
    wrong[1].1 = "ZZ";
    wrong.push(("version", &version));
    let r = app
        .submit_raw_form("/code-of-conduct/accept", &page.body, &wrong)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field(&r.body, "initials_1"),
        Some("ZZ".into()),
        "typed initials are kept"
    );
    assert_eq!(field(&r.body, "initials_0"), Some("AL".into()));
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert!(
        !app.store
            .module_records(u.id)
            .await
            .unwrap()
            .iter()
            .any(|r| r.module == AccessModule::CodeOfConduct)
    );
    let mut stale: Vec<(&str, &str)> = names.iter().map(|k| (k.as_str(), "AL")).collect();
    stale.push(("version", "0"));
    let r = app
        .submit_raw_form("/code-of-conduct/accept", &page.body, &stale)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let mut good: Vec<(&str, &str)> = names.iter().map(|k| (k.as_str(), "a.l")).collect();
    good.push(("version", &version));
    let r = app
        .submit_raw_form("/code-of-conduct/accept", &page.body, &good)
        .await;
    assert_eq!(r.location.as_deref(), Some("/data-access-requirements"));
    let rec = app.store.module_records(u.id).await.unwrap();
    let c = rec
        .iter()
        .find(|r| r.module == AccessModule::CodeOfConduct)
        .unwrap();
    assert_eq!(c.version, Some(wb_domain::conduct::CURRENT.version));
}

async fn training_assessment_is_graded_and_the_retake_wait_enforced(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    // The assessment opens only after every module.
    let r = app
        .submit("/training/rt", "/training/rt/assessment/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let course = app.get("/training/rt").await;
    assert!(
        TestApp::by_id(&course.body, "policy")
            .unwrap()
            .contains("24 hours")
    );
    let r = app.take_assessment("rt", false).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("You did not pass"));
    // The wait the page states is enforced.
    let r = app
        .submit("/training/rt", "/training/rt/assessment/start", &[])
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body.contains("You can retake the assessment from"));
    app.clock.advance(24 * 3600);
    // The session timed out meanwhile: sign in again.
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    // Answers for a question that was not asked are refused and nothing is recorded.
    let start = app
        .submit("/training/rt", "/training/rt/assessment/start", &[])
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let page = app.get("/training/rt/assessment").await;
    let r = app
        .submit_raw_form(
            "/training/rt/assessment",
            &page.body,
            &[("q_not-a-question", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert_eq!(
        app.store
            .attempts(u.id, "rt")
            .await
            .unwrap()
            .iter()
            .filter(|a| a.submitted_at.is_some())
            .count(),
        1
    );
    let r = app.take_assessment("rt", true).await;
    assert!(
        r.body.contains("Continue to Researcher Workbench"),
        "{}",
        text_of(&r.body)
    );
    let cert = app.get("/training/rt/certificate").await;
    assert_eq!(cert.status, StatusCode::OK);
    assert!(text_of(&cert.body).contains("Ada Lindqvist"));
    let req = app.get("/data-access-requirements").await;
    assert!(req.body.contains("Completed on:"));
}

async fn controlled_tier_training_only_for_eligible_users(app: TestApp) {
    app.signed_in_user("cam.r", "cam@cedarvalley.example").await;
    let r = app.get("/training/ct").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("does not cover cam@cedarvalley.example"));
    let req = app.get("/data-access-requirements").await;
    assert!(
        TestApp::by_id(&req.body, "ct-reason")
            .unwrap()
            .contains("not offered")
    );
    let r = app
        .submit("/training", "/training/ct/modules/anything", &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn complete_everything(
    app: &TestApp,
    username: &str,
    email: &str,
) -> (i64, wb_auth::totp::TotpSecret) {
    app.signed_in_user(username, email).await;
    let (secret, _) = app.enrol_totp().await;
    let u = app.store.user_by_username(username).await.unwrap().unwrap();
    app.store
        .link_identity(
            "test-idp",
            &format!("sub-{username}"),
            u.id,
            Some("ial2"),
            app.clock.now_secs(),
        )
        .await
        .unwrap();
    app.take_assessment("rt", true).await;
    app.take_assessment("ct", true).await;
    let page = app.get("/code-of-conduct/accept").await;
    let n = wb_domain::conduct::CURRENT.statements.len();
    let initials = wb_domain::conduct::expected_initials(&u.given_name, &u.family_name);
    let names: Vec<String> = (0..n).map(|i| format!("initials_{i}")).collect();
    let version = wb_domain::conduct::CURRENT.version.to_string();
    let mut fields: Vec<(&str, &str)> = names
        .iter()
        .map(|k| (k.as_str(), initials.as_str()))
        .collect();
    fields.push(("version", &version));
    let r = app
        .submit_raw_form("/code-of-conduct/accept", &page.body, &fields)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    (u.id, secret)
}

async fn completing_every_module_grants_both_tiers_and_expiry_takes_them(app: TestApp) {
    use wb_domain::AccessTier;
    let (id, secret) = complete_everything(&app, "ada.l", "ada@northfield.example").await;
    let req = app.get("/data-access-requirements").await;
    assert!(
        req.body
            .contains("Researcher Workbench data access is complete"),
        "{}",
        text_of(&req.body)
    );
    assert!(req.body.contains("Get Started"));
    assert_eq!(
        app.store.user_tiers(id).await.unwrap(),
        vec![AccessTier::Registered, AccessTier::Controlled]
    );
    assert_eq!(app.get("/home").await.status, StatusCode::OK);
    // A year later training, the code of conduct and the profile confirmation expire: the
    // tiers go at once and the page says what to renew.
    app.clock.advance(366 * 86_400);
    // The session ended long ago: sign in again, with the second factor.
    app.sign_in("ada.l", "violet harbor lantern 2931").await;
    let code = wb_auth::totp::code_at(&secret, app.clock.now_secs());
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &code)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let req = app.get("/data-access-requirements").await;
    assert!(req.body.contains("Expired on:"), "{}", text_of(&req.body));
    // The page computed the loss; the scheduled job records it (reading writes nothing).
    assert_eq!(app.store.user_tiers(id).await.unwrap().len(), 2);
    wb_web::jobs::access_reminders(&app.state).await.unwrap();
    assert!(app.store.user_tiers(id).await.unwrap().is_empty());
    let actions: Vec<String> = app
        .store
        .audit_for_user(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"tier.granted".into()) && actions.contains(&"tier.lost".into()));
}

async fn expiry_reminders_are_sent_once_per_threshold(app: TestApp) {
    let (id, _) = complete_everything(&app, "ada.l", "ada@northfield.example").await;
    let state_expiry = app.store.user_tiers(id).await.unwrap();
    assert_eq!(state_expiry.len(), 2);
    let state = app.state.clone();
    let count = |app: &TestApp| {
        app.outbox
            .messages()
            .iter()
            .filter(|m| m.subject.contains("access expires"))
            .count()
    };
    let r = wb_web::jobs::access_reminders(&state).await.unwrap();
    assert_eq!(r.sent, 0, "nothing is due a year ahead");
    app.clock.advance((365 - 30) * 86_400);
    let r = wb_web::jobs::access_reminders(&state).await.unwrap();
    assert_eq!(r.sent, 2, "one reminder per tier at 30 days");
    let r = wb_web::jobs::access_reminders(&state).await.unwrap();
    assert_eq!(r.sent, 0, "running again sends nothing");
    app.clock.advance(16 * 86_400);
    wb_web::jobs::access_reminders(&state).await.unwrap();
    assert_eq!(count(&app), 4, "the 15-day reminders");
}
