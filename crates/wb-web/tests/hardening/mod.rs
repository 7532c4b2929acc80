//! What a tester found by probing with parallel and hostile requests, each as a test through
//! the running server on both databases: throttles that hold under parallel guesses, one
//! change per Save, reads that write nothing, strict redirects, mail off the request path and
//! rate-limited, plain names, security headers on every answer, and the scheduled jobs.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use wb_domain::throttle::UNTIL_RESET;
use wb_web::{AppState, Clock};

use crate::support::wb_clock_now::Now;
use crate::support::{Resp, TestApp, field, text_of};

crate::on_both_databases!(
    parallel_wrong_passwords_lock_the_account_at_the_limit,
    parallel_wrong_codes_lock_the_second_factor,
    parallel_wrong_recovery_codes_lock_the_second_factor,
    one_account_one_count_however_the_name_is_written,
    locks_grow_and_a_password_reset_lifts_them,
    next_accepts_only_paths_on_this_site,
    forgot_password_answers_before_its_mail_is_sent,
    visitors_cannot_flood_mailboxes,
    parallel_saves_of_the_share_dialog_change_once,
    reads_do_not_write,
    the_idle_timeout_is_exact,
    every_answer_has_the_security_headers_and_the_api_answers_json,
    names_refuse_line_breaks_and_direction_controls,
    two_step_verification_is_managed_after_the_password,
);

const GOOD: &str = "violet harbor lantern 2931";

/// Posts `fields` to `path` `n` times at once, with the CSRF token of `page`.
async fn parallel_posts(
    app: &TestApp,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
    n: usize,
) -> Vec<Resp> {
    let html = app.get(page).await.body;
    let token = field(&html, "csrf_token").expect("a CSRF token");
    let mut all: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.push(("csrf_token".into(), token));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (client, url, all) = (
                app.client.clone(),
                format!("{}{path}", app.base),
                all.clone(),
            );
            tokio::spawn(async move {
                let r = client.post(url).form(&all).send().await.unwrap();
                let status = r.status();
                let location = r
                    .headers()
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_owned());
                let headers = r.headers().clone();
                Resp {
                    status,
                    location,
                    headers,
                    body: r.text().await.unwrap(),
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn statuses(rs: &[Resp]) -> std::collections::BTreeMap<u16, usize> {
    let mut m = std::collections::BTreeMap::new();
    for r in rs {
        *m.entry(r.status.as_u16()).or_insert(0) += 1;
    }
    m
}

async fn uid(app: &TestApp, name: &str) -> i64 {
    app.store.user_by_username(name).await.unwrap().unwrap().id
}

async fn parallel_wrong_passwords_lock_the_account_at_the_limit(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    app.sign_out().await;
    let id = uid(&app, "ada.l").await;
    let key = format!("account:{id}");
    // Four bursts of 30 wrong passwords at once (the limit is 3 in these tests).
    for burst in 0..4 {
        let rs = parallel_posts(
            &app,
            "/sign-in",
            "/sign-in",
            &[
                ("username", "ada.l"),
                ("password", "wrong wrong wrong wrong"),
            ],
            30,
        )
        .await;
        let s = statuses(&rs);
        assert!(
            s.keys().all(|k| *k == 401 || *k == 429),
            "burst {burst}: only refusals, never an error: {s:?}"
        );
        let state = app.store.throttle_state(&key).await.unwrap().unwrap();
        assert_eq!(
            state.tries, 3,
            "burst {burst}: exactly the limit was checked"
        );
        assert!(state.locked_until.is_some_and(|u| u > app.clock.now_secs()));
        // The first burst checks three passwords: two say "incorrect", the third reaches the
        // limit and says "locked"; later bursts meet the lock and check none.
        let expected = if burst == 0 { 2 } else { 0 };
        assert_eq!(
            s.get(&401).copied().unwrap_or(0),
            expected,
            "burst {burst}: {s:?}"
        );
    }
    // The right password is refused while the account is locked.
    let r = app.sign_in("ada.l", GOOD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(text_of(&r.body).contains("Too many failed sign-in attempts"));
    assert!(app.session_cookie().is_none());
    // 29 wrong and 1 right at once, on a fresh account: no error, and never more than the
    // limit of passwords checked.
    app.signed_in_user("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    let grace = uid(&app, "grace.h").await;
    let html = app.get("/sign-in").await.body;
    let token = field(&html, "csrf_token").unwrap();
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (client, url, token) = (
                app.client.clone(),
                format!("{}/sign-in", app.base),
                token.clone(),
            );
            tokio::spawn(async move {
                let pw = if i == 17 {
                    GOOD
                } else {
                    "wrong wrong wrong wrong"
                };
                client
                    .post(url)
                    .form(&[
                        ("username", "grace.h"),
                        ("password", pw),
                        ("csrf_token", &token),
                    ])
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert!(
        codes.iter().all(|c| [303, 401, 429].contains(c)),
        "{codes:?}"
    );
    let checked = codes.iter().filter(|c| **c != 429).count();
    assert!(checked <= 3, "at most the limit was checked: {codes:?}");
    if let Some(s) = app
        .store
        .throttle_state(&format!("account:{grace}"))
        .await
        .unwrap()
    {
        assert!(s.tries <= 3);
    }
}

/// Signs in with the password of an account that has 2-step verification on.
async fn second_factor_pending(
    app: &TestApp,
    name: &str,
    email: &str,
) -> (wb_auth::totp::TotpSecret, Vec<String>) {
    app.signed_in_user(name, email).await;
    let enrolled = app.enrol_totp().await;
    app.sign_out().await;
    let r = app.sign_in(name, GOOD).await;
    assert_eq!(r.location.as_deref(), Some("/sign-in/verify"));
    enrolled
}

async fn parallel_wrong_codes_lock_the_second_factor(app: TestApp) {
    let (secret, _) = second_factor_pending(&app, "ada.l", "ada@northfield.example").await;
    let id = uid(&app, "ada.l").await;
    app.clock.advance(60);
    let good = wb_auth::totp::code_at(&secret, app.clock.now_secs());
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let rs = parallel_posts(
        &app,
        "/sign-in/verify",
        "/sign-in/verify",
        &[("code", wrong)],
        30,
    )
    .await;
    let s = statuses(&rs);
    assert!(s.keys().all(|k| *k == 401 || *k == 429), "{s:?}");
    let state = app
        .store
        .throttle_state(&format!("second-factor:{id}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.tries, 3, "exactly the limit of codes was checked");
    // The correct code is refused while locked.
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &good)])
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        text_of(&r.body)
    );
    assert_eq!(
        app.get("/data-access-requirements")
            .await
            .location
            .as_deref(),
        Some("/sign-in/verify")
    );
}

async fn parallel_wrong_recovery_codes_lock_the_second_factor(app: TestApp) {
    let (_, codes) = second_factor_pending(&app, "ada.l", "ada@northfield.example").await;
    let id = uid(&app, "ada.l").await;
    let rs = parallel_posts(
        &app,
        "/sign-in/verify",
        "/sign-in/verify",
        &[("code", "zzzz-zzzz-zzzz")],
        30,
    )
    .await;
    let s = statuses(&rs);
    assert!(s.keys().all(|k| *k == 401 || *k == 429), "{s:?}");
    assert_eq!(
        app.store
            .throttle_state(&format!("second-factor:{id}"))
            .await
            .unwrap()
            .unwrap()
            .tries,
        3
    );
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &codes[0])])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.store.recovery_codes_left(id).await.unwrap(),
        10,
        "nothing was used"
    );
}

async fn one_account_one_count_however_the_name_is_written(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    app.sign_out().await;
    for name in ["ada.l", "ADA.L@researchworkbench.example", " ada.l "] {
        let r = app.sign_in(name, "wrong wrong wrong wrong").await;
        assert!(r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::TOO_MANY_REQUESTS);
    }
    for name in ["ada.l", "ada.l@researchworkbench.example"] {
        let r = app.sign_in(name, GOOD).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{name}");
    }
    // A name that matches no account locks the same way (no hint that it does not exist).
    for _ in 0..3 {
        app.sign_in("nobody.here", "wrong wrong wrong wrong").await;
    }
    let r = app.sign_in("nobody.here", "wrong wrong wrong wrong").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn locks_grow_and_a_password_reset_lifts_them(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    app.sign_out().await;
    for _ in 0..3 {
        app.sign_in("ada.l", "wrong wrong wrong wrong").await;
    }
    let r = app.sign_in("ada.l", GOOD).await;
    assert!(
        text_of(&r.body).contains("Wait 15 minutes"),
        "{}",
        text_of(&r.body)
    );
    // After the lock, one more wrong password locks for longer.
    app.clock.advance(15 * 60);
    let r = app.sign_in("ada.l", "wrong wrong wrong wrong").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        text_of(&r.body).contains("Wait 30 minutes"),
        "{}",
        text_of(&r.body)
    );
    // At the hard cap, only a reset unlocks.
    let id = uid(&app, "ada.l").await;
    let rule = app.state.account_rule();
    for i in 0..200 {
        if let wb_store::Try::Refused { until } = app
            .store
            .throttle_reserve(
                &format!("account:{id}"),
                &rule,
                app.clock.now_secs() + i * 100_000,
            )
            .await
            .unwrap()
            && until == UNTIL_RESET
        {
            break;
        }
    }
    app.clock.advance(400 * 86_400);
    let r = app.sign_in("ada.l", GOOD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(text_of(&r.body).contains("locked until its password is reset"));
    // "Forgot password" → the link → a new password: the lock is gone.
    app.submit(
        "/forgot-password",
        "/forgot-password",
        &[("login", "ada.l")],
    )
    .await;
    let mail = app.mail_to("ada@northfield.example", "Reset your").await;
    let link = crate::support::extract(&mail.text, r"(https?://\S+/reset-password/\S+)").unwrap();
    let path = link.trim_start_matches(&app.base).to_owned();
    let new = "copper meadow falcon 77";
    let r = app
        .submit(
            &path,
            &path,
            &[("new_password", new), ("confirm_password", new)],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/sign-in?notice=reset"));
    let r = app.sign_in("ada.l", new).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
}

/// Not a database matter: on SQLite only.
#[tokio::test]
async fn client_addresses_come_from_trusted_proxies_only() {
    let spawn = |trusted: bool| async move {
        TestApp::spawn_with(wb_store::testing::sqlite().await, 1_790_000_000, move |c| {
            c.throttle.ip_failures = 3;
            if trusted {
                c.http.trusted_proxies = vec!["127.0.0.0/8".into()];
            }
        })
        .await
    };
    let try_as = |app: &TestApp, name: &'static str, from: &'static str| {
        let app_base = app.base.clone();
        let client = app.client.clone();
        async move {
            let html = client
                .get(format!("{app_base}/sign-in"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let token = field(&html, "csrf_token").unwrap();
            client
                .post(format!("{app_base}/sign-in"))
                .header("x-forwarded-for", from)
                .form(&[
                    ("username", name),
                    ("password", "nope nope nope nope"),
                    ("csrf_token", &token),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Behind a trusted proxy: each client address has its own count.
    let app = spawn(true).await;
    for name in ["a1", "a2", "a3"] {
        try_as(&app, name, "203.0.113.5").await;
    }
    assert_eq!(
        try_as(&app, "a4", "203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        try_as(&app, "a5", "198.51.100.7, 203.0.113.6").await,
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy is not locked out"
    );
    // No trusted proxies: the header is ignored, everyone is the socket peer.
    let app = spawn(false).await;
    for (name, from) in [
        ("b1", "203.0.113.5"),
        ("b2", "203.0.113.6"),
        ("b3", "203.0.113.7"),
    ] {
        try_as(&app, name, from).await;
    }
    assert_eq!(
        try_as(&app, "b4", "203.0.113.8").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged X-Forwarded-For does not escape the limit"
    );
}

async fn next_accepts_only_paths_on_this_site(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    app.sign_out().await;
    for (next, to) in [
        ("/\t/evil.example", "/data-access-requirements"),
        ("/\n/evil.example", "/data-access-requirements"),
        ("/x\r\nSet-Cookie: a=b", "/data-access-requirements"),
        ("//evil.example", "/data-access-requirements"),
        ("/workspaces?x=1", "/workspaces?x=1"),
    ] {
        let r = app
            .submit(
                "/sign-in",
                "/sign-in",
                &[("username", "ada.l"), ("password", GOOD), ("next", next)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{next:?}: {}", r.status);
        assert_eq!(r.location.as_deref(), Some(to), "{next:?}");
        app.sign_out().await;
    }
    // The encoded form in a link: the sign-in page keeps only a safe `next`.
    let page = app.get("/sign-in?next=/%09/evil.example").await;
    assert_eq!(field(&page.body, "next").unwrap_or_default(), "");
}

async fn forgot_password_answers_before_its_mail_is_sent(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    app.sign_out().await;
    // The mail server hangs: the answer must not wait for it.
    let held = app.outbox.hold().await;
    let known = tokio::time::timeout(
        Duration::from_secs(5),
        app.submit(
            "/forgot-password",
            "/forgot-password",
            &[("login", "ada.l")],
        ),
    )
    .await
    .expect("the answer came while the e-mail could not be sent");
    let unknown = app
        .submit(
            "/forgot-password",
            "/forgot-password",
            &[("login", "nobody.here")],
        )
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(text_of(&known.body), text_of(&unknown.body));
    assert!(
        app.outbox
            .last_to("ada@northfield.example")
            .is_none_or(|m| !m.subject.contains("Reset")),
        "not sent yet"
    );
    drop(held);
    app.mail_to("ada@northfield.example", "Reset your").await;
}

async fn visitors_cannot_flood_mailboxes(app: TestApp) {
    // Institution requests: three an hour to one address.
    let send = |email: &'static str| {
        let app = &app;
        async move {
            app.submit(
                "/institutions/request",
                "/institutions/request",
                &[
                    ("institution_name", "Lakeview College"),
                    ("contact_name", "Sam Ortiz"),
                    ("contact_email", email),
                    ("reason", "Our faculty want access."),
                ],
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(send("victim@example.org").await.status, StatusCode::OK);
    }
    let r = send("victim@example.org").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(text_of(&r.body).contains("Too many requests"));
    assert_eq!(
        field(&r.body, "contact_name").as_deref(),
        Some("Sam Ortiz"),
        "what was typed is kept"
    );
    assert_eq!(app.store.institution_requests().await.unwrap().len(), 3);
    app.clock.advance(3601);
    assert_eq!(send("victim@example.org").await.status, StatusCode::OK);
    // Sign-up: per client address (20 an hour by default; 2 here).
    let app = TestApp::spawn_with(wb_store::testing::sqlite().await, 1_790_000_000, |c| {
        c.throttle.mail_per_ip_per_hour = 2;
    })
    .await;
    app.create_account("one.a", "one@northfield.example").await;
    app.create_account("two.b", "two@northfield.example").await;
    let state = app.step1("three@northfield.example").await;
    let r = app
        .submit_owned_state(
            "/create-account/step-2",
            &state,
            &crate::support::step2_fields("three.c"),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(text_of(&r.body).contains("Nothing was created"));
    assert!(
        app.store
            .user_by_username("three.c")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(field(&r.body, "given_name").as_deref(), Some("Ada"));
}

async fn parallel_saves_of_the_share_dialog_change_once(app: TestApp) {
    app.user_with_access("grace.h", "grace@northfield.example")
        .await;
    app.sign_out().await;
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let ns = app.create_workspace("Shared study", "registered").await;
    let grace = uid(&app, "grace.h").await;
    let share = format!("/workspaces/{ns}/share");
    let role = format!("role_{grace}");
    let rs = parallel_posts(
        &app,
        &share,
        &share,
        &[(&role, "reader"), ("save", "1")],
        20,
    )
    .await;
    assert_eq!(
        statuses(&rs),
        [(303, 20)].into_iter().collect(),
        "no Save fails"
    );
    let w = app
        .store
        .workspace_by_namespace(&ns)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.store.workspace_members(w.id).await.unwrap().len(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mails = app
        .outbox
        .messages()
        .iter()
        .filter(|m| m.to.contains("grace@") && m.subject.contains("shared a workspace"))
        .count();
    assert_eq!(mails, 1, "one e-mail");
    let audits = app
        .store
        .audit_for_user(grace)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "workspace.role_changed")
        .count();
    assert_eq!(audits, 1, "one audit row");
    // Nineteen of the twenty answers say "No changes.", one says what changed.
    let mut added = 0;
    for r in &rs {
        let done = app.get(r.location.as_deref().unwrap()).await;
        if text_of(&done.body).contains("added as Reader") {
            added += 1;
        } else {
            assert!(text_of(&done.body).contains("No changes."));
        }
    }
    assert_eq!(added, 1);
    // Two owners demoting each other at once: one wins, the workspace keeps an owner.
    app.submit(&share, &share, &[(&role, "owner")]).await;
    let me = uid(&app, "ada.l").await;
    let grace_app = app.another_browser();
    grace_app.sign_in("grace.h", GOOD).await;
    let (demote_grace, demote_me) = (format!("role_{grace}"), format!("role_{me}"));
    let (fa, fb) = (
        [(demote_grace.as_str(), "reader")],
        [(demote_me.as_str(), "reader")],
    );
    let (a, b) = tokio::join!(
        app.submit(&share, &share, &fa),
        grace_app.submit(&share, &share, &fb),
    );
    let owners = app
        .store
        .workspace_members(w.id)
        .await
        .unwrap()
        .iter()
        .filter(|(_, r)| r == "owner")
        .count();
    assert!(
        owners >= 1,
        "the workspace keeps an owner ({} / {})",
        a.status,
        b.status
    );
    let won = [a.status, b.status]
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    assert_eq!(
        won, 1,
        "one demotion wins, the other is refused (422 last owner, or 403 no longer an owner): {} / {}",
        a.status, b.status
    );
    assert_eq!(owners, 1);
}

async fn reads_do_not_write(app: TestApp) {
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    let id = uid(&app, "ada.l").await;
    let html = app.get("/workspaces/new").await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(text_of(&html.body).contains("$300.00 left"));
    // Twenty at once: no error, and nothing written.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (c, u) = (app.client.clone(), format!("{}/workspaces/new", app.base));
            tokio::spawn(async move { c.get(u).send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert!(
        app.store.ledger(id).await.unwrap().is_empty(),
        "no ledger row on GET"
    );
    // The credits are granted when a workspace uses them.
    app.create_workspace("First study", "registered").await;
    let ledger = app.store.ledger(id).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].kind, "initial_grant");
    // Opening 2-step verification stores no authenticator.
    for _ in 0..3 {
        assert_eq!(
            app.get("/two-step-verification").await.status,
            StatusCode::OK
        );
    }
    assert!(app.store.totp(id).await.unwrap().is_none());
}

async fn the_idle_timeout_is_exact(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let idle = 30 * 60;
    // Activity 59 s after sign-in, then exactly the idle limit later: still signed in.
    app.clock.advance(59);
    assert_eq!(app.get("/profile").await.status, StatusCode::OK);
    app.clock.advance(idle);
    assert_eq!(app.get("/profile").await.status, StatusCode::OK);
    // One second past the limit: signed out.
    app.clock.advance(idle + 1);
    let r = app.get("/profile").await;
    assert!(r.location.unwrap().starts_with("/sign-in"));
}

fn has_security_headers(r: &Resp) -> bool {
    r.headers.contains_key("content-security-policy")
        && r.headers
            .get("x-content-type-options")
            .map(|v| v.to_str().unwrap())
            == Some("nosniff")
        && r.headers.contains_key("x-frame-options")
}

async fn every_answer_has_the_security_headers_and_the_api_answers_json(app: TestApp) {
    let c = &app.client;
    let trace = c
        .request(reqwest::Method::TRACE, format!("{}/", app.base))
        .send()
        .await
        .unwrap();
    let trace = Resp {
        status: trace.status(),
        location: None,
        headers: trace.headers().clone(),
        body: String::new(),
    };
    assert_eq!(trace.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(has_security_headers(&trace), "TRACE");
    let big = "x".repeat(300 * 1024);
    let r = app.post_raw("/sign-in", &[("username", &big)], &[]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(has_security_headers(&r), "413");
    let r = app.get("/sign-out").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(has_security_headers(&r), "405");
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(has_security_headers(&r), "404");
    // Unknown API paths and wrong methods answer JSON.
    for (r, status, code) in [
        (app.get("/api/v1/no-such-thing").await, 404, "not_found"),
        (
            app.post_raw("/api/v1/me/access", &[], &[]).await,
            403,
            "forbidden",
        ),
    ] {
        assert_eq!(r.status.as_u16(), status);
        assert!(has_security_headers(&r));
        let j: serde_json::Value = serde_json::from_str(&r.body).expect("JSON");
        assert_eq!(j["error"], code);
    }
}

async fn names_refuse_line_breaks_and_direction_controls(app: TestApp) {
    let state = app.step1("ada@northfield.example").await;
    let mut f = crate::support::step2_fields("ada.l");
    f.iter_mut().find(|(k, _)| k == "given_name").unwrap().1 =
        "Ada\r\nBcc: victim@example.org".into();
    f.iter_mut().find(|(k, _)| k == "family_name").unwrap().1 = "Lind\u{202E}tsiuq".into();
    let r = app
        .submit_owned_state("/create-account/step-2", &state, &f)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let errors = crate::support::error_text(&r.body);
    assert_eq!(
        errors.matches(wb_domain::text::LINE_MESSAGE).count(),
        2,
        "{errors}"
    );
    assert_eq!(
        field(&r.body, "family_name").as_deref(),
        Some("Lind\u{202E}tsiuq"),
        "the value is kept to be corrected"
    );
    // Workspace names.
    app.user_with_access("grace.h", "grace@northfield.example")
        .await;
    let cdr = app.store.cdr_versions("registered").await.unwrap()[0].id;
    let r = app
        .submit_owned(
            "/workspaces/new",
            "/workspaces/new",
            &TestApp::workspace_fields("study\u{202E}gnp.exe", "registered", cdr),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(crate::support::error_text(&r.body).contains("text-direction controls"));
    // Institution requests.
    let r = app
        .submit(
            "/institutions/request",
            "/institutions/request",
            &[
                ("institution_name", "Lakeview College"),
                ("contact_name", "Sam\nOrtiz"),
                ("contact_email", "sam@lakeview.example"),
                ("reason", "Line one.\nLine two."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        crate::support::error_text(&r.body),
        wb_domain::text::LINE_MESSAGE,
        "only the name is refused; the reason may have lines"
    );
}

async fn two_step_verification_is_managed_after_the_password(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let (secret, codes) = app.enrol_totp().await;
    let id = uid(&app, "ada.l").await;
    // Data Access Requirements leads there from the completed module.
    let req = app.get("/data-access-requirements").await;
    let row = scraper::Html::parse_document(&req.body);
    let sel = scraper::Selector::parse("li[data-module=\"two_factor\"] a.button").unwrap();
    let link = row.select(&sel).next().expect("a link on the 2-step row");
    assert_eq!(link.text().collect::<String>(), "Manage");
    assert_eq!(link.value().attr("href"), Some("/two-step-verification"));
    let page = app.get("/two-step-verification").await;
    assert!(text_of(&page.body).contains("You have 10 unused recovery codes"));
    // New recovery codes: the password first.
    let r = app
        .submit(
            "/two-step-verification",
            "/two-step-verification/recovery-codes",
            &[("password", "not my password at all")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text_of(&r.body).contains("Your password is not correct"));
    let r = app
        .submit(
            "/two-step-verification",
            "/two-step-verification/recovery-codes",
            &[("password", GOOD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(text_of(&r.body).contains("Your earlier recovery codes no longer work"));
    let doc = scraper::Html::parse_document(&r.body);
    let fresh: Vec<String> = doc
        .select(&scraper::Selector::parse("#recovery-codes code").unwrap())
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    let download = doc
        .select(&scraper::Selector::parse("#download-codes").unwrap())
        .next()
        .unwrap()
        .value()
        .attr("href")
        .unwrap()
        .to_owned();
    assert!(download.starts_with("data:text/plain"));
    assert!(download.contains(&fresh[0]), "the file holds the codes");
    app.mail_to("ada@northfield.example", "New recovery codes")
        .await;
    // A new authenticator app: password, new QR code, a code from the new app.
    let r = app
        .submit(
            "/two-step-verification",
            "/two-step-verification/replace",
            &[("password", GOOD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let new_secret =
        wb_auth::totp::TotpSecret::from_base32(&TestApp::by_id(&r.body, "totp-secret").unwrap())
            .unwrap();
    assert_ne!(new_secret.to_base32(), secret.to_base32());
    // Until it is confirmed, the old app still works: nothing was stored.
    let stored = app.store.totp(id).await.unwrap().unwrap().secret_sealed;
    app.clock.advance(60);
    let code = wb_auth::totp::code_at(&new_secret, app.clock.now_secs());
    let pending = field(&r.body, "pending").unwrap();
    let done = app
        .submit_raw_form(
            "/two-step-verification",
            &r.body,
            &[("code", &code), ("pending", &pending)],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", text_of(&done.body));
    assert!(text_of(&done.body).contains("Your new authenticator app is set up"));
    assert_ne!(
        app.store.totp(id).await.unwrap().unwrap().secret_sealed,
        stored
    );
    app.mail_to("ada@northfield.example", "new authenticator app")
        .await;
    // Signing in now takes a code from the new app, not the old one.
    app.sign_out().await;
    app.sign_in("ada.l", GOOD).await;
    app.clock.advance(60);
    let old = wb_auth::totp::code_at(&secret, app.clock.now_secs());
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &old)])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let new = wb_auth::totp::code_at(&new_secret, app.clock.now_secs());
    let r = app
        .submit("/sign-in/verify", "/sign-in/verify", &[("code", &new)])
        .await;
    assert_eq!(r.location.as_deref(), Some("/data-access-requirements"));
}

/// The expiry reminders go out from the running server's scheduler, and when two servers share
/// one database only one of them sends each reminder.
#[tokio::test]
async fn reminders_are_sent_by_the_running_servers_once() {
    let store = wb_store::testing::sqlite().await;
    reminders_through_two_nodes(store).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set WB_TEST_POSTGRES_URL (scripts/test starts one and runs these)"]
async fn reminders_are_sent_by_the_running_servers_once_on_postgres() {
    if let Some(store) = wb_store::testing::postgres().await {
        reminders_through_two_nodes(store).await;
    }
}

async fn reminders_through_two_nodes(store: wb_store::Store) {
    let app = TestApp::spawn_with(store.clone(), 1_790_000_000, |c| {
        c.jobs.interval_seconds = 1
    })
    .await;
    app.user_with_access("ada.l", "ada@northfield.example")
        .await;
    // A second node on the same database and clock.
    let (mailer, second_outbox) = wb_mail::Mailer::memory("Workbench <no-reply@example.org>");
    let mut config = app.state.config.clone();
    config.jobs.interval_seconds = 1;
    let clock: Arc<dyn Clock> = app.clock.clone();
    let second = AppState::new(store.clone(), mailer, &[42u8; 32], config, clock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (_stop, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(wb_web::run(listener, second, async {
        let _ = rx.await;
    }));
    let reminders = |app: &TestApp| {
        app.outbox
            .messages()
            .into_iter()
            .chain(second_outbox.messages())
            .filter(|m| m.subject.contains("access expires"))
            .count()
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(reminders(&app), 0, "nothing is due a year ahead");
    // 30 days before expiry, both tiers are due.
    app.clock.advance((365 - 30) * 86_400);
    for _ in 0..60 {
        if reminders(&app) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(reminders(&app), 2, "one reminder per tier, from one node");
    let from_first = app
        .outbox
        .messages()
        .iter()
        .filter(|m| m.subject.contains("access expires"))
        .count();
    assert!(from_first == 0 || from_first == 2, "one node sent both");
    let mail = app
        .outbox
        .messages()
        .into_iter()
        .chain(second_outbox.messages())
        .find(|m| m.subject.contains("access expires"))
        .unwrap();
    assert!(mail.text.contains("The Researcher Workbench team"));
}
