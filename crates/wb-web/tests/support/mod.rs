//! A real workbench server on 127.0.0.1 for HTTP tests, and helpers to drive its forms.

use std::sync::Arc;

use reqwest::cookie::CookieStore;
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, redirect};
use wb_mail::{Mailer, MemoryOutbox};
use wb_store::Store;
use wb_web::{AppState, Config, ManualClock};

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub jar: Arc<reqwest::cookie::Jar>,
    pub outbox: MemoryOutbox,
    pub clock: Arc<ManualClock>,
    pub store: Store,
    pub state: AppState,
    _shutdown: Arc<tokio::sync::oneshot::Sender<()>>,
}

pub struct Resp {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: HeaderMap,
    pub body: String,
}

/// The value of the form field `name` (input value or textarea text) in `html`.
/// A small generated CDR with its index, made once per test run and shared by every app.
pub fn test_cdr() -> &'static std::path::Path {
    static DIR: std::sync::LazyLock<std::path::PathBuf> = std::sync::LazyLock::new(|| {
        let dir = tempfile::tempdir().unwrap().keep().join("cdr");
        wb_cdr::generate::generate(
            &dir,
            &wb_cdr::generate::GenerateConfig {
                seed: 5,
                persons: 800,
                concepts_per_domain: 400,
                threads: 2,
                chunk: 200,
                ..Default::default()
            },
            &|_, _| {},
            &mut |staging| wb_cdr::index::Index::build_and_save(staging).map(|_| ()),
        )
        .unwrap();
        dir
    });
    &DIR
}

pub fn field(html: &str, name: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!(
        "input[name=\"{name}\"], textarea[name=\"{name}\"]"
    ))
    .unwrap();
    doc.select(&sel).next().map(|e| {
        if e.value().name() == "textarea" {
            e.text().collect()
        } else {
            e.value().attr("value").unwrap_or_default().to_owned()
        }
    })
}

/// The visible text of a page, whitespace folded.
pub fn text_of(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let main = scraper::Selector::parse("main").unwrap();
    let text: String = doc
        .select(&main)
        .next()
        .map(|m| m.text().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| html.to_owned());
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// For a field shown only while an option is chosen (`.reveal` > `.revealed`, see app.css): the
/// name and value of the option that reveals the field `name` (a checkbox or radio marked
/// `data-reveal` in a `.choice` of the nearest `.reveal`, or such an `<option>` of its
/// `<select>`). `None` when the field is always shown.
pub fn revealed_by(html: &str, name: &str) -> Option<(String, String)> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("[name=\"{name}\"]")).unwrap();
    let el = doc.select(&sel).next()?;
    let has_class = |n: &scraper::ElementRef, c: &str| n.value().classes().any(|x| x == c);
    let revealed = el
        .ancestors()
        .filter_map(scraper::ElementRef::wrap)
        .find(|a| has_class(a, "revealed"))?;
    let reveal =
        scraper::ElementRef::wrap(revealed.parent()?).filter(|p| has_class(p, "reveal"))?;
    fn children(n: scraper::ElementRef<'_>) -> Vec<scraper::ElementRef<'_>> {
        n.children().filter_map(scraper::ElementRef::wrap).collect()
    }
    let marked = |n: &scraper::ElementRef| n.value().attr("data-reveal").is_some();
    children(reveal)
        .into_iter()
        .find_map(|c| {
            if has_class(&c, "choice") {
                let opt = children(c).into_iter().find(marked)?;
                Some((opt.value().attr("name")?, opt.value().attr("value")?))
            } else if c.value().name() == "select" {
                let opt = children(c).into_iter().find(marked)?;
                Some((c.value().attr("name")?, opt.value().attr("value")?))
            } else {
                None
            }
        })
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
}

/// The visible text of the `<label for="id">`, if there is one.
pub fn label_of(html: &str, id: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("label[for=\"{id}\"]")).unwrap();
    let text: String = doc.select(&sel).next()?.text().collect();
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The text of the element with id `id`, whitespace folded, if there is one.
pub fn text_by_id(html: &str, id: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(&format!("#{id}")).unwrap();
    let text: String = doc.select(&sel).next()?.text().collect();
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The text of the page's error messages.
pub fn error_text(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(".field-error").unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>())
        .collect::<Vec<_>>()
        .join("|")
}

/// The first capture of `pattern` in `text` (a tiny regex: one `(…\S+…)` group with literal
/// text around `\S+` / `\S*`).
pub fn extract(text: &str, pattern: &str) -> Option<String> {
    // The patterns used here are "(https?://\S+<path>\S*)" shapes: find the path, then widen
    // to the surrounding non-space run.
    let inner = pattern.trim_start_matches('(').trim_end_matches(')');
    let path = inner
        .trim_start_matches(r"https?://\S+")
        .trim_end_matches(r"\S*")
        .trim_end_matches(r"\S+");
    let at = text.find(path)?;
    let start = text[..at]
        .rfind(|c: char| c.is_whitespace())
        .map(|i| i + 1)
        .unwrap_or(0);
    let end = text[at..]
        .find(|c: char| c.is_whitespace())
        .map(|i| at + i)
        .unwrap_or(text.len());
    Some(
        text[start..end]
            .trim_end_matches(['.', ',', ')', '>'])
            .to_owned(),
    )
}

/// A complete, valid Step 2.
pub fn step2_fields(username: &str) -> Vec<(String, String)> {
    [
        ("username", username),
        ("given_name", "Ada"),
        ("family_name", "Lindqvist"),
        ("degrees", "phd"),
        ("street1", "1 College Way"),
        ("city", "Northfield"),
        ("state_province", "MN"),
        ("zip", "55057"),
        ("country", "United States"),
        (
            "research_background",
            "Kidney disease epidemiology in rural populations.",
        ),
        ("discovery", "colleagues"),
        ("sex_at_birth", "prefer_not"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl TestApp {
    pub async fn spawn(store: Store) -> TestApp {
        Self::spawn_with(store, 1_790_000_000, |_| {}).await
    }

    /// A server whose identity verification uses the local OpenID Connect provider named by
    /// `WB_TEST_OIDC_ISSUER` (started by scripts/test), with the clock at the real time (the
    /// provider's tokens carry real times). `None` (a skip) when the provider is not running,
    /// unless `WB_TEST_REQUIRE_PEERS=1`.
    pub async fn spawn_oidc(store: Store) -> Option<TestApp> {
        let Ok(issuer) = std::env::var("WB_TEST_OIDC_ISSUER") else {
            assert!(
                std::env::var("WB_TEST_REQUIRE_PEERS").as_deref() != Ok("1"),
                "WB_TEST_REQUIRE_PEERS=1 but WB_TEST_OIDC_ISSUER is not set"
            );
            eprintln!("WB_TEST_OIDC_ISSUER not set: skipping the OpenID Connect tests");
            return None;
        };
        let now = chrono::Utc::now().timestamp();
        Some(
            Self::spawn_with(store, now, |c| {
                c.identity.providers = vec![
                    wb_auth::oidc::ProviderConfig {
                        key: "login-gov".into(),
                        name: "LOGIN.GOV".into(),
                        description: "For U.S. residents and U.S. citizens".into(),
                        issuer: issuer.clone(),
                        client_id: "workbench-login".into(),
                        client_secret: "login-secret".into(),
                        required_acr: Some("ial2".into()),
                    },
                    wb_auth::oidc::ProviderConfig {
                        key: "id-me".into(),
                        name: "ID.me".into(),
                        description: "For all users".into(),
                        issuer,
                        client_id: "workbench-idme".into(),
                        client_secret: "idme-secret".into(),
                        required_acr: None,
                    },
                ];
            })
            .await,
        )
    }

    pub async fn spawn_with(store: Store, start: i64, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config::default();
        config.throttle.account_failures = 3;
        config.throttle.ip_failures = 1000;
        config.throttle.mail_per_ip_per_hour = 1000;
        config.accounts.admin_email = Some("admins@researchworkbench.example".into());
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        config.http.public_url = base.clone();
        config.http.bind = addr.to_string();
        let clock = Arc::new(ManualClock::new(start));
        wb_web::demo::load_if_empty(&store, start).await.unwrap();
        // Every dataset version without data gets the test CDR (as `wb serve` attaches its
        // demo CDR).
        let cdr = test_cdr().display().to_string();
        for tier in ["registered", "controlled"] {
            for v in store.cdr_versions(tier).await.unwrap() {
                if v.data_dir.is_none() {
                    store.attach_cdr_data(v.id, &cdr).await.unwrap();
                }
            }
        }
        let (mailer, outbox): (Mailer, MemoryOutbox) = Mailer::memory(&config.mail.from);
        let state = AppState::new(store.clone(), mailer, &[42u8; 32], config, clock.clone());
        state.set_analysis(Arc::new(wb_cdr::cohort::Engines::default()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // What `wb serve` runs: the server and the scheduled jobs.
        tokio::spawn(wb_web::run(listener, state.clone(), async {
            let _ = rx.await;
        }));
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        TestApp {
            base,
            client,
            jar,
            outbox,
            clock,
            store,
            state,
            _shutdown: Arc::new(tx),
        }
    }

    async fn resp(r: reqwest::Response) -> Resp {
        let status = r.status();
        let headers = r.headers().clone();
        let location = headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = r.text().await.unwrap();
        Resp {
            status,
            location,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        Self::resp(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// GET with an explicit Cookie header, bypassing the cookie jar.
    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> Resp {
        let c = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        Self::resp(
            c.get(format!("{}{path}", self.base))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn get_follow(&self, path: &str) -> Resp {
        let mut r = self.get(path).await;
        for _ in 0..5 {
            match (&r.status, &r.location) {
                (s, Some(l)) if s.is_redirection() => r = self.get(&l.clone()).await,
                _ => break,
            }
        }
        r
    }

    /// POSTs JSON to an API route with the session's CSRF token (read from a page).
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Resp {
        self.api(reqwest::Method::POST, path, Some(body)).await
    }

    /// Calls an API route with the session's CSRF token (read from a page) and a JSON body.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Resp {
        let page = self.get("/workspaces").await;
        let token = field(&page.body, "csrf_token").unwrap_or_default();
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-csrf-token", token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        Self::resp(req.send().await.unwrap()).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::resp(req.send().await.unwrap()).await
    }

    /// Posts `fields` to `action` with the CSRF token of the page at `page`.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Resp {
        let got = self.get(page).await;
        assert!(
            got.status.is_success() || got.status.is_client_error(),
            "GET {page} answered {} (to {:?})",
            got.status,
            got.location
        );
        let html = got.body;
        self.submit_raw_form(action, &html, fields).await
    }

    /// Posts `fields` to `action` with the CSRF token found in `html`.
    pub async fn submit_raw_form(&self, action: &str, html: &str, fields: &[(&str, &str)]) -> Resp {
        let token = field(html, "csrf_token")
            .unwrap_or_else(|| panic!("the page has no CSRF token: {}", text_of(html)));
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(action, &all, &[]).await
    }

    fn csrf_now(&self, html: &str) -> String {
        field(html, "csrf_token").unwrap()
    }

    /// Accepts the terms; returns the sign-up state for Step 1.
    pub async fn accept_terms(&self) -> String {
        let r = self
            .submit(
                "/create-account",
                "/create-account",
                &[("agree", "yes"), ("version", "1")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", text_of(&r.body));
        field(&r.body, "state").unwrap()
    }

    pub async fn submit_state(&self, action: &str, state: &str, fields: &[(&str, &str)]) -> Resp {
        let html = self.get("/create-account").await.body;
        let token = self.csrf_now(&html);
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("state", state));
        all.push(("csrf_token", &token));
        self.post_raw(action, &all, &[]).await
    }

    pub async fn submit_owned_state(
        &self,
        action: &str,
        state: &str,
        fields: &[(String, String)],
    ) -> Resp {
        let borrowed: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.submit_state(action, state, &borrowed).await
    }

    /// Terms and Step 1 done; returns the state for Step 2.
    pub async fn step1(&self, email: &str) -> String {
        let state = self.accept_terms().await;
        let (institution, role) = if email.ends_with("@cedarvalley.example") {
            ("cedar-valley", "teacher")
        } else {
            ("northfield", "graduate_trainee")
        };
        let r = self
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
        assert_eq!(r.status, StatusCode::OK, "{}", text_of(&r.body));
        field(&r.body, "state").unwrap()
    }

    /// Creates an account through the pages; returns the account name and the temporary
    /// password from the welcome e-mail.
    pub async fn create_account(&self, username: &str, email: &str) -> (String, String) {
        let state = self.step1(email).await;
        let r = self
            .submit_owned_state("/create-account/step-2", &state, &step2_fields(username))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
        let done = self.get(r.location.as_deref().unwrap()).await;
        assert_eq!(done.status, StatusCode::OK);
        assert!(done.body.contains("Congratulations!"));
        let account = scraper::Html::parse_document(&done.body)
            .select(&scraper::Selector::parse("#account-name").unwrap())
            .next()
            .unwrap()
            .text()
            .collect::<String>();
        let mail = self.outbox.last_to(email).expect("welcome e-mail");
        let temp = mail
            .text
            .lines()
            .find_map(|l| l.strip_prefix("Your Temporary Password: "))
            .expect("temporary password line")
            .trim()
            .to_owned();
        (account, temp)
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Resp {
        self.submit(
            "/sign-in",
            "/sign-in",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// Signs in with the temporary password and sets the test's good password.
    pub async fn first_sign_in(&self, username: &str, temp: &str) {
        let r = self.sign_in(username, temp).await;
        assert_eq!(r.location.as_deref(), Some("/change-password"));
        let p = "violet harbor lantern 2931";
        let r = self
            .submit(
                "/change-password",
                "/change-password",
                &[("new_password", p), ("confirm_password", p)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
    }

    pub async fn sign_out(&self) {
        let html = self.get("/sign-in").await.body;
        let html = if field(&html, "csrf_token").is_some() {
            html
        } else {
            self.get("/change-password").await.body
        };
        let r = self.submit_raw_form("/sign-out", &html, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }

    /// The current session cookie value, if any.
    pub fn session_cookie(&self) -> Option<String> {
        let url = self.base.parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, v)| *k == "wb_session" && !v.is_empty())
            .map(|(_, v)| v.to_owned())
    }
}

impl TestApp {
    /// The same server seen from another browser (its own cookies): for two people at once.
    pub fn another_browser(&self) -> TestApp {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        TestApp {
            base: self.base.clone(),
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            jar,
            outbox: self.outbox.clone(),
            clock: self.clock.clone(),
            store: self.store.clone(),
            state: self.state.clone(),
            _shutdown: self._shutdown.clone(),
        }
    }

    /// The newest e-mail to `to` whose subject contains `subject`, waiting up to five seconds
    /// for it (some are sent after the answer, off the request path).
    pub async fn mail_to(&self, to: &str, subject: &str) -> wb_mail::OutgoingEmail {
        for _ in 0..100 {
            if let Some(m) = self
                .outbox
                .last_to(to)
                .filter(|m| m.subject.contains(subject))
            {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no e-mail to {to} about \"{subject}\" within 5 s");
    }

    /// Creates an account, signs in and sets the good password; returns the username.
    pub async fn signed_in_user(&self, username: &str, email: &str) -> String {
        let (_, temp) = self.create_account(username, email).await;
        self.first_sign_in(username, &temp).await;
        username.to_owned()
    }

    /// The text content of the element with `id` in `html`.
    pub fn by_id(html: &str, id: &str) -> Option<String> {
        let doc = scraper::Html::parse_document(html);
        let sel = scraper::Selector::parse(&format!("#{id}")).ok()?;
        doc.select(&sel)
            .next()
            .map(|e| e.text().collect::<String>())
    }

    /// Turns on 2-step verification; returns the secret and the recovery codes.
    pub async fn enrol_totp(&self) -> (wb_auth::totp::TotpSecret, Vec<String>) {
        let page = self.get("/two-step-verification").await;
        let secret_text = Self::by_id(&page.body, "totp-secret").expect("secret shown");
        let secret = wb_auth::totp::TotpSecret::from_base32(&secret_text).unwrap();
        let code = wb_auth::totp::code_at(&secret, wb_web::Clock::now(&*self.clock));
        let pending = field(&page.body, "pending").expect("the proposed secret");
        let r = self
            .submit_raw_form(
                "/two-step-verification",
                &page.body,
                &[("code", &code), ("pending", &pending)],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", text_of(&r.body));
        let doc = scraper::Html::parse_document(&r.body);
        let sel = scraper::Selector::parse("#recovery-codes code").unwrap();
        let codes = doc
            .select(&sel)
            .map(|e| e.text().collect::<String>())
            .collect();
        (secret, codes)
    }

    /// Reads every module of a course and returns the answers to the open assessment.
    pub async fn take_assessment(&self, course: &str, all_correct: bool) -> Resp {
        let c = wb_domain::training::course(course).unwrap();
        for m in c.modules {
            let path = format!("/training/{course}/modules/{}", m.key);
            let r = self.submit(&path, &path, &[]).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER);
        }
        let start = format!("/training/{course}/assessment/start");
        let r = self
            .submit(&format!("/training/{course}"), &start, &[])
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
        let page = self.get(&format!("/training/{course}/assessment")).await;
        let doc = scraper::Html::parse_document(&page.body);
        let sel = scraper::Selector::parse("input[type=radio]").unwrap();
        let mut ids: Vec<String> = doc
            .select(&sel)
            .filter_map(|e| e.value().attr("name"))
            .map(|n| n.trim_start_matches("q_").to_owned())
            .collect();
        ids.dedup();
        let answers: Vec<(String, String)> = ids
            .iter()
            .map(|id| {
                let q = c.bank.iter().find(|q| q.id == id).unwrap();
                let pick = if all_correct {
                    q.correct
                } else {
                    (q.correct + 1) % q.options.len()
                };
                (format!("q_{id}"), pick.to_string())
            })
            .collect();
        let fields: Vec<(&str, &str)> = answers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.submit_raw_form(
            &format!("/training/{course}/assessment"),
            &page.body,
            &fields,
        )
        .await
    }
}

/// `ManualClock` as seconds, for TOTP codes.
pub mod wb_clock_now {
    pub trait Now {
        fn now_secs(&self) -> i64;
    }
    impl Now for wb_web::ManualClock {
        fn now_secs(&self) -> i64 {
            wb_web::Clock::now(self)
        }
    }
}

/// How a person answers the identity provider.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    Allow,
    Deny,
}

impl TestApp {
    /// Follows the provider's pages (oidc-provider's devInteractions: a login form, then a
    /// consent form; or the "Cancel" link) from `auth_url` until it redirects back to this
    /// workbench; returns that callback path with its query.
    pub async fn drive_provider(&self, auth_url: &str, login: &str, consent: Consent) -> String {
        let provider = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        let base = url::Url::parse(auth_url).unwrap();
        let mut next = base.clone();
        let mut method_post: Option<Vec<(String, String)>> = None;
        for _ in 0..20 {
            let r = match method_post.take() {
                Some(fields) => provider
                    .post(next.clone())
                    .form(&fields)
                    .send()
                    .await
                    .unwrap(),
                None => provider.get(next.clone()).send().await.unwrap(),
            };
            if let Some(loc) = r.headers().get("location") {
                let loc = loc.to_str().unwrap().to_owned();
                let target = base.join(&loc).unwrap();
                if target.as_str().starts_with(&self.base) {
                    return target.as_str().trim_start_matches(&self.base).to_owned();
                }
                next = target;
                continue;
            }
            let html = r.text().await.unwrap();
            let doc = scraper::Html::parse_document(&html);
            if consent == Consent::Deny {
                let abort = scraper::Selector::parse("a[href$='/abort']").unwrap();
                let href = doc
                    .select(&abort)
                    .next()
                    .expect("a Cancel link")
                    .value()
                    .attr("href")
                    .unwrap()
                    .to_owned();
                next = next.join(&href).unwrap();
                continue;
            }
            let form_sel = scraper::Selector::parse("form").unwrap();
            let form = doc
                .select(&form_sel)
                .next()
                .unwrap_or_else(|| panic!("no form on the provider page: {html}"));
            let action = form.value().attr("action").unwrap();
            let prompt_sel = scraper::Selector::parse("input[name=prompt]").unwrap();
            let prompt = doc
                .select(&prompt_sel)
                .next()
                .and_then(|e| e.value().attr("value"))
                .unwrap_or("")
                .to_owned();
            let mut fields = vec![("prompt".to_owned(), prompt.clone())];
            if prompt == "login" {
                fields.push(("login".into(), login.into()));
                fields.push(("password".into(), "any password".into()));
            }
            next = next.join(action).unwrap();
            method_post = Some(fields);
        }
        panic!("the provider never redirected back to the workbench");
    }

    /// Starts verification with `provider` from the identity page; returns the provider's
    /// authorization URL.
    pub async fn start_identity(&self, provider: &str) -> String {
        let action = format!("/identity/{provider}/start");
        let r = self.submit("/identity", &action, &[]).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
        r.location.unwrap()
    }
}

impl TestApp {
    /// A signed-in user who holds every access module (set in the store directly, as the
    /// access tests cover the pages that complete them).
    pub async fn user_with_access(&self, username: &str, email: &str) -> i64 {
        use wb_domain::access::AccessModule;
        self.signed_in_user(username, email).await;
        let u = self
            .store
            .user_by_username(username)
            .await
            .unwrap()
            .unwrap();
        let now = wb_web::Clock::now(&*self.clock);
        for m in [
            AccessModule::TwoFactor,
            AccessModule::Identity,
            AccessModule::RtTraining,
            AccessModule::CtTraining,
        ] {
            self.store
                .complete_module(u.id, m, now, None)
                .await
                .unwrap();
        }
        self.store
            .sign_code_of_conduct(u.id, wb_domain::conduct::CURRENT.version, "XX", now)
            .await
            .unwrap();
        u.id
    }

    /// The training statement from the user guide as form fields, plus name, tier and dataset.
    pub fn workspace_fields(name: &str, tier: &str, cdr_version: i64) -> Vec<(String, String)> {
        let p = wb_domain::research_purpose::training_input();
        let mut f: Vec<(String, String)> = vec![
            ("name".into(), name.into()),
            ("tier".into(), tier.into()),
            (format!("cdr_version_{tier}"), cdr_version.to_string()),
            ("billing".into(), "initial_credits".into()),
            ("intended_study".into(), p.intended_study.clone()),
            ("scientific_approach".into(), p.scientific_approach.clone()),
            (
                "anticipated_findings".into(),
                p.anticipated_findings.clone(),
            ),
            ("disease_of_focus".into(), p.disease_of_focus.clone()),
            (
                "other_purpose_details".into(),
                p.other_purpose_details.clone(),
            ),
            ("dissemination_other".into(), p.dissemination_other.clone()),
            ("population".into(), p.population.clone()),
            ("population_other".into(), p.population_other.clone()),
            ("review_requested".into(), p.review_requested.clone()),
        ];
        for (k, list) in [
            ("purposes", &p.purposes),
            ("research_areas", &p.research_areas),
            ("dissemination", &p.dissemination),
            ("outcomes", &p.outcomes),
            ("population_groups", &p.population_groups),
        ] {
            for v in list {
                f.push((k.into(), v.clone()));
            }
        }
        f
    }

    /// Posts `fields` to `action` with a CSRF token from `page`.
    pub async fn submit_owned(
        &self,
        page: &str,
        action: &str,
        fields: &[(String, String)],
    ) -> Resp {
        let borrowed: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.submit(page, action, &borrowed).await
    }

    /// Creates a workspace through the form and its confirm step; returns its namespace.
    pub async fn create_workspace(&self, name: &str, tier: &str) -> String {
        let cdr = self.store.cdr_versions(tier).await.unwrap()[0].id;
        let r = self
            .submit_owned(
                "/workspaces/new",
                "/workspaces/new",
                &Self::workspace_fields(name, tier, cdr),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", text_of(&r.body));
        self.confirm_workspace(&r.body).await
    }

    /// Chooses "Confirm" on the confirm step `page`; returns the new workspace's namespace.
    pub async fn confirm_workspace(&self, page: &str) -> String {
        let state = field(page, "state").expect("the confirm step");
        let r = self
            .submit_raw_form(
                "/workspaces/confirm",
                page,
                &[("state", &state), ("decision", "confirm")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text_of(&r.body));
        r.location
            .unwrap()
            .trim_start_matches("/workspaces/")
            .trim_end_matches("?created=1")
            .to_owned()
    }
}
