//! HTTP tests against a real server on 127.0.0.1, on SQLite and (when the test command
//! provides one) PostgreSQL. Mail goes to the memory transport; time is a manual clock.
//!
//! Cases that need a peer (PostgreSQL, the OpenID Connect provider) are `#[ignore]`d with the
//! reason, so a plain `cargo test` lists them as ignored instead of passing them unrun;
//! scripts/test starts the peers and runs them with `--include-ignored`.

mod access;
mod cohorts_tests;
mod hardening;
mod profile_tests;
mod support;
mod workspaces_tests;

use reqwest::StatusCode;
use support::{TestApp, field, label_of, revealed_by, text_by_id, text_of};

#[macro_export]
macro_rules! on_both_databases {
    (spawn = $spawn:path; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            #[ignore = "needs an OpenID Connect provider: set WB_TEST_OIDC_ISSUER (scripts/test starts one and runs these)"]
            async fn $name() {
                if let Some(app) = $spawn(wb_store::testing::sqlite().await).await {
                    super::$name(app).await
                }
            })*
        }
        mod postgres {
            $(#[tokio::test]
            #[ignore = "needs PostgreSQL and an OpenID Connect provider: set WB_TEST_POSTGRES_URL and WB_TEST_OIDC_ISSUER (scripts/test starts both and runs these)"]
            async fn $name() {
                if let Some(s) = wb_store::testing::postgres().await
                    && let Some(app) = $spawn(s).await {
                    super::$name(app).await
                }
            })*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                super::$name(super::TestApp::spawn(wb_store::testing::sqlite().await).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            #[ignore = "needs PostgreSQL: set WB_TEST_POSTGRES_URL (scripts/test starts one and runs these)"]
            async fn $name() {
                if let Some(s) = wb_store::testing::postgres().await {
                    super::$name(super::TestApp::spawn(s).await).await
                }
            })*
        }
    };
}

on_both_databases!(
    create_account_then_first_sign_in_and_password_change,
    terms_must_be_accepted,
    step1_refuses_each_bad_input_and_keeps_values,
    step2_refuses_each_bad_input_and_keeps_values,
    tampered_or_expired_signup_state_changes_nothing,
    duplicate_username_and_email_are_refused,
    username_live_check,
    other_boxes_show_with_their_option_and_are_ignored_without_it,
    state_changing_requests_need_csrf_token_and_same_site,
    sign_in_failures_are_uniform_and_throttled,
    temporary_password_expires,
    temporary_password_cannot_be_reused,
    forced_password_change_gates_every_page,
    password_policy_over_http,
    forgot_password_links_are_single_use_and_expire,
    sign_out_ends_the_session_on_the_server,
    idle_sessions_time_out,
    public_profile_shows_only_public_fields,
    institution_requests_are_recorded_and_confirmed,
    security_headers_and_redirects,
);

const GOOD_PASSWORD: &str = "violet harbor lantern 2931";

async fn create_account_then_first_sign_in_and_password_change(app: TestApp) {
    let (account, temp) = app.create_account("ada.l", "Ada@northfield.example").await;
    assert_eq!(account, "ada.l@researchworkbench.example");
    // The welcome e-mail reached the contact address with the username, password and link.
    let mail = app.outbox.last_to("ada@northfield.example").unwrap();
    assert_eq!(mail.subject, "Welcome to the Researcher Workbench");
    assert!(
        mail.text
            .contains("Your Username: ada.l@researchworkbench.example")
    );
    assert!(
        mail.text
            .contains(&format!("Your Temporary Password: {temp}"))
    );
    let link = support::extract(&mail.text, r"(https?://\S+/complete-registration\S*)").unwrap();
    let path = link.trim_start_matches(&app.base);
    // "Complete Registration" leads to Sign In with the username filled in.
    let r = app.get_follow(path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(field(&r.body, "username"), Some("ada.l".into()));
    assert!(r.body.contains("Sign In"));
    // Sign in with the temporary password: a new session, and the forced password change.
    let before = app.session_cookie();
    let r = app.sign_in("ada.l@researchworkbench.example", &temp).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location.as_deref(), Some("/change-password"));
    let first = app.session_cookie().expect("session cookie");
    assert_ne!(Some(first.clone()), before);
    let page = app.get("/change-password").await;
    assert!(page.body.contains("Change Your Password"));
    assert!(
        !page.body.contains("Current password"),
        "no current password on the forced change"
    );
    let r = app
        .submit(
            "/change-password",
            "/change-password",
            &[
                ("new_password", GOOD_PASSWORD),
                ("confirm_password", GOOD_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.location.as_deref(),
        Some("/data-access-requirements?welcome=1")
    );
    let second = app.session_cookie().unwrap();
    assert_ne!(first, second, "a password change issues a new session id");
    // After "Enter" the user lands on the registration page: never an error page.
    let r = app.get("/data-access-requirements?welcome=1").await;
    assert_eq!(r.status, StatusCode::OK);
    for step in [
        "Turn on 2-Step Verification",
        "Verify your identity",
        "Responsible Conduct of Research",
        "Controlled Tier Training",
        "Data User Code of Conduct",
    ] {
        assert!(r.body.contains(step), "{step}");
    }
    assert!(
        app.outbox
            .messages()
            .iter()
            .any(|m| m.subject.to_lowercase().contains("password")
                && m.to.to_lowercase().contains("ada@northfield.example"))
    );
    // The stored account: terms version and time, a non-temporary argon2id hash.
    let u = app.store.user_by_username("ada.l").await.unwrap().unwrap();
    assert!(!u.password_is_temporary);
    assert!(u.password_hash.starts_with("$argon2id$"));
    assert_eq!(app.store.terms_acceptances(u.id).await.unwrap().len(), 1);
    let actions: Vec<String> = app
        .store
        .audit_for_user(u.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"account.created".into()) && actions.contains(&"password.changed".into())
    );
}

async fn terms_must_be_accepted(app: TestApp) {
    let r = app.submit("/create-account", "/create-account", &[]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Check the box"));
    let r = app
        .submit(
            "/create-account",
            "/create-account",
            &[("agree", "yes"), ("version", "0")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

async fn step1_refuses_each_bad_input_and_keeps_values(app: TestApp) {
    app.store
        .create_institution_request("x", "x", "x@x.org", None, "x", 0)
        .await
        .unwrap();
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "",
            "ada@northfield.example",
            "graduate_trainee",
            "Select your institution.",
        ),
        (
            "atlantis",
            "ada@northfield.example",
            "graduate_trainee",
            "no data use agreement",
        ),
        (
            "northfield",
            "ada@gmail.com",
            "graduate_trainee",
            "does not match your institution",
        ),
        (
            "northfield",
            "ada@cs.northfield.example",
            "graduate_trainee",
            "ends in @cs.northfield.example",
        ),
        (
            "harbor-point",
            "someone@harborpoint.example",
            "scientist",
            "authorized access only to select members",
        ),
        (
            "northfield",
            "not-an-address",
            "graduate_trainee",
            "name@example.edu",
        ),
        (
            "northfield",
            "ada@northfield.example",
            "",
            "Select the role",
        ),
        (
            "northfield",
            "ada@northfield.example",
            "teacher",
            "not a role offered",
        ),
        (
            "northfield",
            "ada@northfield.example",
            "other",
            "Describe your role.",
        ),
    ];
    for (institution, email, role, message) in cases {
        let state = app.accept_terms().await;
        let r = app
            .submit_state(
                "/create-account/step-1",
                &state,
                &[
                    ("institution", institution),
                    ("email", email),
                    ("role", role),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(
            r.body.contains(message),
            "expected '{message}' in {}",
            text_of(&r.body)
        );
        assert_eq!(
            field(&r.body, "email").unwrap_or_default(),
            email.to_string(),
            "the typed e-mail is kept"
        );
    }
}

async fn step2_refuses_each_bad_input_and_keeps_values(app: TestApp) {
    let state = app.step1("ada@northfield.example").await;
    let cases: &[(&str, &str, &str)] = &[
        ("username", "ab", "3 to 64 characters"),
        ("username", "admin", "is reserved"),
        ("username", "Ada Lovelace", "only lower-case letters"),
        ("given_name", "", "Enter your first name."),
        (
            "research_background",
            &"y".repeat(2001),
            "at most 2000 characters",
        ),
        ("zip", "12345678901", "at most 10 characters"),
        ("professional_url", "javascript:alert(1)", "https://"),
        ("year_of_birth", "1850", "Enter a year between"),
        ("sex_at_birth", "robot", "Choose one of the listed options."),
    ];
    for (name, value, message) in cases {
        let mut fields = support::step2_fields("ada.l");
        fields.retain(|(k, _)| k != name);
        fields.push((name.to_string(), value.to_string()));
        let r = app
            .submit_owned_state("/create-account/step-2", &state, &fields)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            r.body.contains(message),
            "{name}: expected '{message}' in {}",
            text_of(&r.body)
        );
        assert_eq!(
            field(&r.body, "city"),
            Some("Northfield".into()),
            "typed values are kept"
        );
    }
    assert!(app.store.user_by_username("ada.l").await.unwrap().is_none());
}

async fn tampered_or_expired_signup_state_changes_nothing(app: TestApp) {
    let state = app.step1("ada@northfield.example").await;
    let mut bad = state.clone();
    bad.insert(5, 'x');
    let fields = support::step2_fields("ada.l");
    let r = app
        .submit_owned_state("/create-account/step-2", &bad, &fields)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("start again"));
    app.clock.advance(3 * 3600 + 1);
    let r = app
        .submit_owned_state("/create-account/step-2", &state, &fields)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(app.store.user_by_username("ada.l").await.unwrap().is_none());
    assert!(app.outbox.messages().is_empty());
}

async fn duplicate_username_and_email_are_refused(app: TestApp) {
    app.create_account("ada.l", "ada@northfield.example").await;
    // The same e-mail (any case) is refused at Step 1.
    let state = app.accept_terms().await;
    let r = app
        .submit_state(
            "/create-account/step-1",
            &state,
            &[
                ("institution", "northfield"),
                ("email", "ADA@northfield.example"),
                ("role", "graduate_trainee"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body
            .contains("An account already exists for this e-mail address")
    );
    // The same username is refused at Step 2, with what was typed kept.
    let state = app.step1("grace@northfield.example").await;
    let r = app
        .submit_owned_state(
            "/create-account/step-2",
            &state,
            &support::step2_fields("Ada.L"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body
            .contains("ada.l@researchworkbench.example is already taken")
    );
    assert_eq!(field(&r.body, "username"), Some("Ada.L".into()));
    // The message sits in the element the live check replaces (hx-target, outerHTML), so a
    // later "available" answer takes its place instead of appearing under a stale error.
    assert_eq!(
        text_by_id(&r.body, "username-status").as_deref(),
        Some("ada.l@researchworkbench.example is already taken. Choose another username.")
    );
    assert_eq!(
        r.body.matches("is already taken").count(),
        1,
        "one message for the username"
    );
    let hx = r##"hx-target="#username-status" hx-swap="outerHTML""##;
    assert!(
        r.body.contains(hx),
        "the live check replaces #username-status"
    );
    let live = app.get("/create-account/username?username=grace.h").await;
    assert!(
        live.body
            .trim_start()
            .starts_with(r#"<p id="username-status""#),
        "{}",
        live.body
    );
}

/// "Other" boxes are shown only while their option is chosen (CSS on `.reveal`/`.revealed`
/// with the option marked `data-reveal`), each with a visible label; text left in a hidden box
/// is ignored rather than refused.
async fn other_boxes_show_with_their_option_and_are_ignored_without_it(app: TestApp) {
    let state = app.accept_terms().await;
    let other_role = [
        ("institution", "northfield"),
        ("email", "ada@northfield.example"),
        ("role", "other"),
        ("role_other", ""),
    ];
    let r = app
        .submit_state("/create-account/step-1", &state, &other_role)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        revealed_by(&r.body, "role_other"),
        Some(("role".into(), "other".into()))
    );
    assert_eq!(
        label_of(&r.body, "role_other").as_deref(),
        Some("Describe your role")
    );
    assert!(support::error_text(&r.body).contains("Describe your role."));
    assert_eq!(revealed_by(&r.body, "email"), None);
    // The role list that replaces the select when the institution changes marks "Other" too.
    let roles = app
        .get("/create-account/roles?institution=northfield&role=other")
        .await;
    assert!(
        roles.body.contains(r#"value="other" selected data-reveal"#),
        "{}",
        roles.body
    );
    // A description left in the hidden box, with another role chosen: accepted, not stored.
    let r = app
        .submit_state(
            "/create-account/step-1",
            &state,
            &[
                ("institution", "northfield"),
                ("email", "ada@northfield.example"),
                ("role", "graduate_trainee"),
                ("role_other", &"x".repeat(300)),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", support::error_text(&r.body));
    let step2 = field(&r.body, "state").unwrap();

    let mut fields = support::step2_fields("ada.l");
    fields.push(("discovery_other".into(), "y".repeat(300)));
    fields.retain(|(k, _)| k != "given_name");
    let r = app
        .submit_owned_state("/create-account/step-2", &step2, &fields)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        revealed_by(&r.body, "discovery_other"),
        Some(("discovery".into(), "other".into()))
    );
    assert!(label_of(&r.body, "discovery_other").is_some_and(|l| !l.is_empty()));
    assert_eq!(
        support::error_text(&r.body),
        "Some fields need your attention: see the messages below. Everything you typed is kept.|Enter your first name.",
        "only the visible problem is reported"
    );
    assert_eq!(field(&r.body, "discovery_other"), Some("y".repeat(300)));
    fields.push(("given_name".into(), "Ada".into()));
    let r = app
        .submit_owned_state("/create-account/step-2", &step2, &fields)
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        support::error_text(&r.body)
    );
}

async fn username_live_check(app: TestApp) {
    let r = app.get("/create-account/username?username=grace.h").await;
    assert!(
        r.body
            .contains("grace.h@researchworkbench.example is available.")
    );
    app.create_account("grace.h", "grace@northfield.example")
        .await;
    let r = app.get("/create-account/username?username=Grace.H").await;
    assert!(r.body.contains("is already taken"));
    let r = app.get("/create-account/username?username=root").await;
    assert!(r.body.contains("reserved"));
}

async fn state_changing_requests_need_csrf_token_and_same_site(app: TestApp) {
    app.get("/").await;
    let r = app
        .post_raw(
            "/create-account",
            &[("agree", "yes"), ("version", "1")],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post_raw(
            "/create-account",
            &[("agree", "yes"), ("version", "1"), ("csrf_token", "forged")],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let token = field(&app.get("/create-account").await.body, "csrf_token").unwrap();
    let r = app
        .post_raw(
            "/create-account",
            &[("agree", "yes"), ("version", "1"), ("csrf_token", &token)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post_raw(
            "/create-account",
            &[("agree", "yes"), ("version", "1"), ("csrf_token", &token)],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post_raw(
            "/create-account",
            &[("agree", "yes"), ("version", "1"), ("csrf_token", &token)],
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn sign_in_failures_are_uniform_and_throttled(app: TestApp) {
    let (_, temp) = app.create_account("ada.l", "ada@northfield.example").await;
    let unknown = app.sign_in("nobody", "whatever password").await;
    let wrong = app.sign_in("ada.l", "whatever password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(
        support::error_text(&unknown.body),
        support::error_text(&wrong.body)
    );
    assert!(wrong.body.contains("The username or password is incorrect"));
    // The test app locks an account name after 3 failures in a row.
    app.sign_in("ada.l", "yet another wrong one").await;
    let locked = app.sign_in("ada.l", "another wrong one").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.body.contains("Too many failed sign-in attempts"));
    // Unknown names lock the same way: no enumeration.
    app.sign_in("nobody", "x").await;
    app.sign_in("nobody", "y").await;
    let r = app.sign_in("nobody", "x").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // While locked even the right password is refused; after the lock it works.
    let r = app.sign_in("ada.l", &temp).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(15 * 60);
    let r = app.sign_in("ada.l", &temp).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

async fn temporary_password_expires(app: TestApp) {
    let (_, temp) = app.create_account("ada.l", "ada@northfield.example").await;
    app.clock.advance(7 * 86_400 + 1);
    let r = app.sign_in("ada.l", &temp).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Your temporary password has expired"));
    assert!(app.session_cookie().is_none());
}

async fn temporary_password_cannot_be_reused(app: TestApp) {
    let (_, temp) = app.create_account("ada.l", "ada@northfield.example").await;
    app.first_sign_in("ada.l", &temp).await;
    app.sign_out().await;
    let r = app.sign_in("ada.l", &temp).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = app.sign_in("ada.l", GOOD_PASSWORD).await;
    assert_eq!(r.location.as_deref(), Some("/data-access-requirements"));
}

async fn forced_password_change_gates_every_page(app: TestApp) {
    let (_, temp) = app.create_account("ada.l", "ada@northfield.example").await;
    app.sign_in("ada.l", &temp).await;
    let r = app.get("/data-access-requirements").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location.as_deref(), Some("/change-password"));
    // Without a session, the page asks to sign in and comes back afterwards.
    app.sign_out().await;
    let r = app.get("/data-access-requirements").await;
    assert_eq!(
        r.location.as_deref(),
        Some("/sign-in?next=%2Fdata-access-requirements")
    );
    let r = app.get("/change-password").await;
    assert!(r.location.unwrap().starts_with("/sign-in"));
}

async fn password_policy_over_http(app: TestApp) {
    let (_, temp) = app.create_account("ada.l", "ada@northfield.example").await;
    app.sign_in("ada.l", &temp).await;
    let cases: &[(&str, &str, &str)] = &[
        ("fjordmaple7kit", "fjordmaple7kit", "at least 15 characters"),
        (
            "passwordpassword",
            "passwordpassword",
            "common or easily guessed",
        ),
        (
            "ada.l-workbench-2026",
            "ada.l-workbench-2026",
            "Do not use your username",
        ),
        (
            "violet harbor lantern",
            "violet harbor lantren",
            "do not match",
        ),
    ];
    for (new, confirm, message) in cases {
        let r = app
            .submit(
                "/change-password",
                "/change-password",
                &[("new_password", new), ("confirm_password", confirm)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
        assert!(r.body.contains(message), "{message}: {}", text_of(&r.body));
    }
    let r = app
        .submit(
            "/change-password",
            "/change-password",
            &[("new_password", &temp), ("confirm_password", &temp)],
        )
        .await;
    assert!(
        r.body.contains("different from your temporary password") || r.body.contains("at least 15")
    );
    // Fifteen lower-case letters, no composition rules.
    let r = app
        .submit(
            "/change-password",
            "/change-password",
            &[
                ("new_password", "qzvtrmplkwhdnbx"),
                ("confirm_password", "qzvtrmplkwhdnbx"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // A voluntary change needs the current password.
    let r = app
        .submit(
            "/change-password",
            "/change-password",
            &[
                ("current_password", "wrong"),
                ("new_password", GOOD_PASSWORD),
                ("confirm_password", GOOD_PASSWORD),
            ],
        )
        .await;
    assert!(r.body.contains("Your current password is not correct."));
}

async fn forgot_password_links_are_single_use_and_expire(app: TestApp) {
    let (_, temp) = app.create_account("ada.l", "ada@northfield.example").await;
    app.first_sign_in("ada.l", &temp).await;
    let unknown = app
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("login", "nobody@northfield.example")],
        )
        .await;
    let known = app
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("login", "ada@northfield.example")],
        )
        .await;
    assert_eq!(
        text_of(&unknown.body),
        text_of(&known.body),
        "the same answer either way"
    );
    let mail = app.mail_to("ada@northfield.example", "Reset your").await;
    let link = support::extract(&mail.text, r"(https?://\S+/reset-password/\S+)").unwrap();
    let path = link.trim_start_matches(&app.base).to_string();
    let r = app.get(&path).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .submit(
            &path,
            &path,
            &[("new_password", "short"), ("confirm_password", "short")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .submit(
            &path,
            &path,
            &[
                ("new_password", "copper meadow falcon 77"),
                ("confirm_password", "copper meadow falcon 77"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/sign-in?notice=reset"));
    // The old session ended with the reset.
    let r = app.get("/data-access-requirements").await;
    assert!(r.location.unwrap().starts_with("/sign-in"));
    // Used once: refused the second time.
    let r = app.get(&path).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.body.contains("already been used"));
    let r = app.sign_in("ada.l", "copper meadow falcon 77").await;
    assert_eq!(r.location.as_deref(), Some("/data-access-requirements"));
    // A new link expires after the configured 60 minutes.
    app.submit(
        "/forgot-password",
        "/forgot-password",
        &[("login", "ada.l")],
    )
    .await;
    let mail = app.mail_to("ada@northfield.example", "Reset your").await;
    let link = support::extract(&mail.text, r"(https?://\S+/reset-password/\S+)").unwrap();
    let path = link.trim_start_matches(&app.base).to_string();
    app.clock.advance(3601);
    let r = app.get(&path).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(r.body.contains("expired"));
}

async fn sign_out_ends_the_session_on_the_server(app: TestApp) {
    let (_, temp) = app.create_account("ada.l", "ada@northfield.example").await;
    app.first_sign_in("ada.l", &temp).await;
    let cookie = app.session_cookie().unwrap();
    app.sign_out().await;
    // Replaying the old cookie does not get in.
    let r = app
        .get_with_cookie("/data-access-requirements", &format!("wb_session={cookie}"))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location.unwrap().starts_with("/sign-in"));
}

async fn idle_sessions_time_out(app: TestApp) {
    let (_, temp) = app.create_account("ada.l", "ada@northfield.example").await;
    app.first_sign_in("ada.l", &temp).await;
    app.clock.advance(29 * 60);
    assert_eq!(
        app.get("/data-access-requirements").await.status,
        StatusCode::OK
    );
    app.clock.advance(31 * 60);
    assert_eq!(
        app.get("/data-access-requirements").await.status,
        StatusCode::SEE_OTHER
    );
}

async fn public_profile_shows_only_public_fields(app: TestApp) {
    app.create_account("ada.l", "ada@northfield.example").await;
    let r = app.get("/people/ada.l").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = text_of(&r.body);
    for shown in [
        "Ada Lindqvist",
        "Northfield University",
        "Graduate trainee",
        "Kidney disease epidemiology",
    ] {
        assert!(text.contains(shown), "{shown}");
    }
    for hidden in ["1 College Way", "ada@northfield.example", "55057"] {
        assert!(!r.body.contains(hidden), "{hidden} must stay private");
    }
    assert_eq!(
        app.get("/people/nobody").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn institution_requests_are_recorded_and_confirmed(app: TestApp) {
    let r = app
        .submit(
            "/institutions/request",
            "/institutions/request",
            &[
                ("institution_name", "Lakeview College"),
                ("contact_name", ""),
                ("contact_email", "sam@"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.contains("Enter your name.")
            && r.body.contains("name@example.edu")
            && r.body.contains("Tell us why")
    );
    assert_eq!(
        field(&r.body, "institution_name"),
        Some("Lakeview College".into())
    );
    assert!(app.store.institution_requests().await.unwrap().is_empty());
    let r = app
        .submit(
            "/institutions/request",
            "/institutions/request",
            &[
                ("institution_name", "Lakeview College"),
                ("contact_name", "Sam Ortiz"),
                ("contact_email", "sam@lakeview.example"),
                ("reason", "Faculty want access."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("We received your request"));
    assert_eq!(app.store.institution_requests().await.unwrap().len(), 1);
    app.mail_to("sam@lakeview.example", "institution request")
        .await;
}

async fn security_headers_and_redirects(app: TestApp) {
    let r = app.get("/").await;
    for h in [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
    ] {
        assert!(r.headers.contains_key(h), "{h}");
    }
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("object-src 'none'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline")
    );
    assert_eq!(r.headers["cache-control"], "no-store");
    // A next= pointing elsewhere is ignored after sign-in.
    let (_, temp) = app.create_account("ada.l", "ada@northfield.example").await;
    app.first_sign_in("ada.l", &temp).await;
    app.sign_out().await;
    let page = app.get("/sign-in?next=https://evil.example/").await;
    assert_eq!(field(&page.body, "next"), Some(String::new()));
    let r = app
        .submit_raw_form(
            "/sign-in",
            &page.body,
            &[
                ("username", "ada.l"),
                ("password", GOOD_PASSWORD),
                ("next", "//evil.example"),
            ],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/data-access-requirements"));
    // Session cookies are HttpOnly and SameSite.
    let set = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("wb_session="))
        .unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"));
}

/// The API contract is checked in: a change to the API shows up as a diff of
/// `docs/openapi.json` (regenerate with `WB_UPDATE_SNAPSHOTS=1 cargo test -p wb-web`).
#[test]
fn openapi_document_is_checked_in() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let current = format!("{}\n", wb_web::api::openapi_json());
    if std::env::var("WB_UPDATE_SNAPSHOTS").as_deref() == Ok("1") {
        std::fs::write(&path, &current).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        stored, current,
        "docs/openapi.json is out of date: run WB_UPDATE_SNAPSHOTS=1 cargo test -p wb-web"
    );
    assert!(current.contains("/api/v1/me/access"));
}
