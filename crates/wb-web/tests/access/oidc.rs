//! Identity verification against a real OpenID Connect provider on loopback (npm
//! `oidc-provider`, started by scripts/test): success (with `acr_values`), denied consent, a
//! tampered state, a wrong nonce, an expired ID token, an unknown sign-in code, an assurance
//! level below the required one, and a subject already bound to another account; each refusal
//! names its own reason.
//!
//! The key-rotation tests start providers of their own (`tests/oidc/provider.mjs` on a free
//! port, restarted on the same port with a new key) while the workbench keeps running; they are
//! skipped, like the others, when `WB_TEST_OIDC_ISSUER` is not set.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use wb_auth::oidc::{OidcClient, OidcError, ProviderConfig, RefreshPolicy, TokenProblem};
use wb_domain::access::AccessModule;

use crate::support::{Consent, Resp, TestApp, text_of};

crate::on_both_databases!(
    spawn = crate::support::TestApp::spawn_oidc;
    identity_is_verified_through_the_provider,
    denied_consent_records_nothing,
    tampered_state_and_nonce_are_refused,
    expired_id_token_is_refused,
    assurance_level_below_required_is_refused,
    one_identity_binds_to_one_account,
    a_verification_started_by_another_user_is_refused,
    an_unknown_sign_in_code_is_refused,
);

/// The error message on the identity page.
fn identity_error(r: &Resp) -> String {
    TestApp::by_id(&r.body, "identity-error")
        .unwrap_or_else(|| panic!("no error on the page: {}", text_of(&r.body)))
}

/// Asserts a refused verification: 400, the page names `reason`, and the common frame.
fn assert_refused(r: &Resp, reason: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", text_of(&r.body));
    let e = identity_error(r);
    assert!(
        e.starts_with("Your identity could not be verified: ")
            && e.ends_with(". Nothing was recorded."),
        "{e}"
    );
    assert!(e.contains(reason), "expected {reason:?} in {e:?}");
}

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
    // LOGIN.GOV has required_acr "ial2": it is asked for (the test provider gives "ial1" to a
    // request without it, which the callback would refuse).
    assert_eq!(q.get("acr_values").map(String::as_str), Some("ial2"));
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
    // The callback cannot be replayed: the pending verification is gone (the code itself is
    // refused by the provider too: `a_sign_in_code_is_refused_the_second_time`).
    let r = app.get(&callback).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        identity_error(&r)
            .starts_with("This identity verification was not started from this browser"),
        "{}",
        text_of(&r.body)
    );
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
    assert_refused(
        &r,
        "belongs to another verification attempt (its nonce does not match the one we sent); choose your provider again",
    );
    assert!(!identity_done(&app, "ada.l").await);
}

fn regex_replace_state(callback: &str) -> String {
    replace_param(callback, "state", "forged-state")
}

/// `callback` (a path with a query) with the parameter `name` set to `value`.
fn replace_param(callback: &str, name: &str, value: &str) -> String {
    let mut url = url::Url::parse(&format!("http://x{callback}")).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == name { (k, value.into()) } else { (k, v) })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    format!("{}?{}", url.path(), url.query().unwrap())
}

/// The parameter `name` of `url` (absolute, or a path with a query).
fn param(url: &str, name: &str) -> String {
    url::Url::parse("http://x")
        .unwrap()
        .join(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
        .into_owned()
}

async fn an_unknown_sign_in_code_is_refused(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let auth = app.start_identity("id-me").await;
    let callback = app
        .drive_provider(&auth, "ada-at-idp", Consent::Allow)
        .await;
    // The state is the right one, so the code goes to the provider, which does not know it.
    let r = app
        .get(&replace_param(
            &callback,
            "code",
            "a-code-the-provider-never-issued",
        ))
        .await;
    assert_refused(
        &r,
        "the identity provider refused the sign-in code (it was already used, has expired or belongs to another attempt)",
    );
    assert!(!identity_done(&app, "ada.l").await);
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
    assert_refused(
        &r,
        "the identity provider's answer had expired when it reached us",
    );
    assert!(!identity_done(&app, "ada.l").await);
}

async fn assurance_level_below_required_is_refused(app: TestApp) {
    app.signed_in_user("ada.l", "ada@northfield.example").await;
    let auth = app.start_identity("login-gov").await;
    let callback = app.drive_provider(&auth, "low-ada", Consent::Allow).await;
    let r = app.get(&callback).await;
    assert_refused(
        &r,
        "the identity provider verified you at assurance level ial1, but ial2 is required",
    );
    // It was asked for: the person could not reach it.
    assert_eq!(param(&auth, "acr_values"), "ial2");
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

// ---- The relying party on its own, against the shared provider --------------------------

/// The shared provider's issuer, or `None` (a skip) when it is not running, by the rule of
/// `TestApp::spawn_oidc`.
fn shared_issuer() -> Option<String> {
    match std::env::var("WB_TEST_OIDC_ISSUER") {
        Ok(issuer) => Some(issuer),
        Err(_) => {
            assert!(
                std::env::var("WB_TEST_REQUIRE_PEERS").as_deref() != Ok("1"),
                "WB_TEST_REQUIRE_PEERS=1 but WB_TEST_OIDC_ISSUER is not set"
            );
            eprintln!("WB_TEST_OIDC_ISSUER not set: skipping the OpenID Connect tests");
            None
        }
    }
}

fn provider_config(issuer: &str, client: &str, required_acr: Option<&str>) -> ProviderConfig {
    let (key, name, client_id, client_secret) = match client {
        "login" => ("login-gov", "LOGIN.GOV", "workbench-login", "login-secret"),
        "idme" => ("id-me", "ID.me", "workbench-idme", "idme-secret"),
        other => panic!("no client {other} in tests/oidc/provider.mjs"),
    };
    ProviderConfig {
        key: key.into(),
        name: name.into(),
        description: String::new(),
        issuer: issuer.into(),
        client_id: client_id.into(),
        client_secret: client_secret.into(),
        required_acr: required_acr.map(Into::into),
    }
}

/// A sign-in at the provider with `client` (the workbench at `app` only lends its callback
/// URL and the provider driver; its server is not asked); returns what `finish` says.
async fn verify_directly(
    app: &TestApp,
    client: &OidcClient,
    login: &str,
) -> Result<wb_auth::oidc::VerifiedIdentity, OidcError> {
    let redirect = format!("{}/identity/callback", app.base);
    let (auth, pending) = client.start(&redirect).await.unwrap();
    let callback = app.drive_provider(&auth, login, Consent::Allow).await;
    client
        .finish(
            &redirect,
            &pending,
            &param(&callback, "code"),
            chrono::Utc::now().timestamp(),
        )
        .await
}

#[tokio::test]
#[ignore = "needs an OpenID Connect provider: set WB_TEST_OIDC_ISSUER (scripts/test starts one and runs these)"]
async fn required_acr_is_requested_and_the_provider_honours_it() {
    let Some(issuer) = shared_issuer() else {
        return;
    };
    let app = TestApp::spawn(wb_store::testing::sqlite().await).await;
    let redirect = format!("{}/identity/callback", app.base);
    let ial2 = OidcClient::new(provider_config(&issuer, "login", Some("ial2")));
    let (auth, _) = ial2.start(&redirect).await.unwrap();
    assert_eq!(param(&auth, "acr_values"), "ial2");
    let id = verify_directly(&app, &ial2, "ada-at-idp").await.unwrap();
    assert_eq!(id.acr.as_deref(), Some("ial2"));
    assert_eq!(id.subject, "ada-at-idp");
    assert_eq!(id.issuer, issuer);
    // Without required_acr nothing is asked for, and this provider then gives its lowest level.
    let any = OidcClient::new(provider_config(&issuer, "idme", None));
    let (auth, _) = any.start(&redirect).await.unwrap();
    let url = url::Url::parse(&auth).unwrap();
    assert!(!url.query_pairs().any(|(k, _)| k == "acr_values"), "{auth}");
    let id = verify_directly(&app, &any, "ada-at-idp").await.unwrap();
    assert_eq!(id.acr.as_deref(), Some("ial1"));
    // A person who cannot reach the requested level is refused, with the levels named.
    let e = verify_directly(&app, &ial2, "low-ada").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "the identity provider verified you at assurance level ial1, but ial2 is required"
    );
}

#[tokio::test]
#[ignore = "needs an OpenID Connect provider: set WB_TEST_OIDC_ISSUER (scripts/test starts one and runs these)"]
async fn a_sign_in_code_is_refused_the_second_time() {
    let Some(issuer) = shared_issuer() else {
        return;
    };
    let app = TestApp::spawn(wb_store::testing::sqlite().await).await;
    let client = OidcClient::new(provider_config(&issuer, "idme", None));
    let redirect = format!("{}/identity/callback", app.base);
    let (auth, pending) = client.start(&redirect).await.unwrap();
    let callback = app
        .drive_provider(&auth, "ada-at-idp", Consent::Allow)
        .await;
    let code = param(&callback, "code");
    let now = chrono::Utc::now().timestamp();
    client
        .finish(&redirect, &pending, &code, now)
        .await
        .unwrap();
    let e = client
        .finish(&redirect, &pending, &code, now)
        .await
        .unwrap_err();
    assert!(matches!(e, OidcError::CodeRefused { .. }), "{e:?}");
    assert!(e.detail().unwrap().contains("invalid_grant"), "{e:?}");
}

// ---- Providers of our own: key rotation with the workbench running ------------------------

/// `node tests/oidc/provider.mjs` on a port of our own, stopped when dropped.
struct OwnProvider {
    port: u16,
    kid: Option<String>,
    child: std::process::Child,
    stderr: Arc<Mutex<String>>,
}

impl OwnProvider {
    /// A provider on a free port, or `None` (a skip) when the OIDC tests do not run.
    async fn start(kid: Option<&str>) -> Option<OwnProvider> {
        shared_issuer()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Some(Self::start_on(port, kid.map(Into::into)).await)
    }

    async fn start_on(port: u16, kid: Option<String>) -> OwnProvider {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc/provider.mjs");
        let mut cmd = Command::new("node");
        cmd.arg(&script).arg("--port").arg(port.to_string());
        if let Some(kid) = &kid {
            cmd.arg("--kid").arg(kid);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node {}: {e}", script.display()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (err_pipe, err_text) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err_pipe)
                .lines()
                .map_while(Result::ok)
            {
                let mut text = err_text.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        // Read stdout to its end (a closed pipe would make the provider's next write fail),
        // telling when the line that it listens comes.
        let out = child.stdout.take().unwrap();
        let want = format!("listening http://127.0.0.1:{port}");
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(out).lines().map_while(Result::ok);
            let _ = tx.send(lines.any(|l| l == want));
            lines.for_each(drop);
        });
        let ok = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .is_ok_and(|r| r.unwrap_or(false));
        let provider = OwnProvider {
            port,
            kid,
            child,
            stderr,
        };
        assert!(
            ok,
            "the provider did not start on port {port}: {}",
            provider.stderr.lock().unwrap()
        );
        provider
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops this provider and starts another on the same port, with the same `--kid` (if any)
    /// but a new signing key.
    async fn restart(self) -> OwnProvider {
        let (port, kid) = (self.port, self.kid.clone());
        drop(self);
        Self::start_on(port, kid).await
    }

    /// The key ids the provider publishes now.
    async fn kids(&self) -> Vec<String> {
        let body = reqwest::get(format!("{}/jwks", self.issuer()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let jwks: serde_json::Value = serde_json::from_str(&body).unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// How often discovery and the keys were fetched from this provider process (`kids` counts
    /// too).
    async fn metadata_fetches(&self) -> (u64, u64) {
        let body = reqwest::get(format!("{}/_test/requests", self.issuer()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let counts: serde_json::Value = serde_json::from_str(&body).unwrap();
        let n = |path: &str| counts[path].as_u64().unwrap_or(0);
        (n("/.well-known/openid-configuration"), n("/jwks"))
    }
}

impl Drop for OwnProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Verification through the workbench's pages for a new user `username`, who signs in at the
/// provider as `login`; returns the callback's answer.
async fn verify_through_pages(app: &TestApp, username: &str, login: &str) -> Resp {
    if app.session_cookie().is_some() {
        app.sign_out().await;
    }
    app.signed_in_user(username, &format!("{username}@northfield.example"))
        .await;
    let auth = app.start_identity("id-me").await;
    let callback = app.drive_provider(&auth, login, Consent::Allow).await;
    app.get(&callback).await
}

#[tokio::test]
#[ignore = "needs an OpenID Connect provider: set WB_TEST_OIDC_ISSUER (scripts/test starts one and runs these)"]
async fn a_rotated_signing_key_is_fetched_again_but_not_for_every_bad_token() {
    let Some(provider) = OwnProvider::start(None).await else {
        return;
    };
    let issuer = provider.issuer();
    let now = chrono::Utc::now().timestamp();
    let app = TestApp::spawn_with(wb_store::testing::sqlite().await, now, |c| {
        c.identity.providers = vec![provider_config(&issuer, "idme", None)];
    })
    .await;
    let r = verify_through_pages(&app, "ada.l", "ada-at-idp").await;
    assert_eq!(
        r.location.as_deref(),
        Some("/data-access-requirements"),
        "{}",
        text_of(&r.body)
    );
    assert!(identity_done(&app, "ada.l").await);
    let key_a = provider.kids().await;

    // The provider restarts with a new key; the workbench keeps running.
    let provider = provider.restart().await;
    let r = verify_through_pages(&app, "grace.h", "grace-at-idp").await;
    assert_eq!(
        r.location.as_deref(),
        Some("/data-access-requirements"),
        "{}",
        text_of(&r.body)
    );
    assert!(identity_done(&app, "grace.h").await);
    // One fetch of the metadata and keys did it (forced by the unknown key id).
    assert_eq!(provider.metadata_fetches().await, (1, 1));
    assert_ne!(key_a, provider.kids().await);

    // Rotated again at once: a forced fetch within a minute of the last one is not made, so
    // the token is refused (with a reason the person can act on), however often it comes.
    let provider = provider.restart().await;
    let r = verify_through_pages(&app, "alan.t", "alan-at-idp").await;
    assert_refused(
        &r,
        "signed with a key the provider does not publish (yet); try again in a minute",
    );
    let auth = app.start_identity("id-me").await;
    let callback = app
        .drive_provider(&auth, "alan-at-idp", Consent::Allow)
        .await;
    assert_refused(&app.get(&callback).await, "try again in a minute");
    assert!(!identity_done(&app, "alan.t").await);
    assert_eq!(provider.metadata_fetches().await, (0, 0));
}

#[tokio::test]
#[ignore = "needs an OpenID Connect provider: set WB_TEST_OIDC_ISSUER (scripts/test starts one and runs these)"]
async fn a_key_replaced_under_its_id_fails_the_signature_until_the_keys_are_old() {
    let Some(provider) = OwnProvider::start(Some("the-only-key")).await else {
        return;
    };
    let app = TestApp::spawn(wb_store::testing::sqlite().await).await;
    let config = provider_config(&provider.issuer(), "idme", None);
    // The same provider, trusted for the default hour and for one second.
    let hour = OidcClient::new(config.clone());
    let max_age = Duration::from_secs(1);
    let second = OidcClient::with_refresh_policy(
        config,
        RefreshPolicy {
            max_age,
            ..RefreshPolicy::default()
        },
    );
    verify_directly(&app, &hour, "ada-at-idp").await.unwrap();
    assert_eq!(provider.metadata_fetches().await, (1, 1));
    // Within its age the cache serves: two uses in a row fetch once.
    let redirect = format!("{}/identity/callback", app.base);
    second.start(&redirect).await.unwrap();
    second.start(&redirect).await.unwrap();
    assert_eq!(provider.metadata_fetches().await, (2, 2));

    // A new key under the same id: the id is known, so nothing forces a fetch.
    let provider = provider.restart().await;
    tokio::time::sleep(max_age + Duration::from_millis(100)).await;
    let e = verify_directly(&app, &hour, "ada-at-idp")
        .await
        .unwrap_err();
    assert_eq!(e.token_problem(), Some(TokenProblem::Signature), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the signature on the identity provider's answer does not match the provider's published keys"
    );
    // Older than its max age, the other client fetched them again and verifies.
    assert_eq!(provider.metadata_fetches().await, (0, 0));
    verify_directly(&app, &second, "ada-at-idp").await.unwrap();
    assert_eq!(provider.metadata_fetches().await, (1, 1));
    assert_eq!(provider.kids().await, ["the-only-key"]);
}
