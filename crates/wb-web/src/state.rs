//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use wb_auth::Signer;
use wb_auth::secretbox::SecretBox;
use wb_mail::Mailer;
use wb_store::Store;

use crate::config::Config;

/// The time source. Tests use [`ManualClock`] to move through expiry rules.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }
}

/// A clock that moves only when told to.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: i64) -> Self {
        Self(AtomicI64::new(start))
    }
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub mailer: Mailer,
    pub signer: Signer,
    /// Encrypts secrets kept in the database (TOTP seeds).
    pub secrets: SecretBox,
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// One client per configured identity provider, in configuration order.
    pub identity_providers: Vec<Arc<wb_auth::oidc::OidcClient>>,
    /// The Content-Security-Policy of every response. Forms may submit only to this site,
    /// and to the identity providers' origins, because starting identity verification is a
    /// form whose answer redirects there (browsers apply `form-action` to that redirect).
    pub content_security_policy: String,
    /// `http.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<crate::guard::Cidr>,
    /// The datasets' query engines (`wb_cdr` in the binary), set once at start.
    pub analysis: std::sync::OnceLock<Arc<dyn wb_domain::analysis::CdrService>>,
}

fn content_security_policy(config: &Config) -> String {
    let mut form_action = vec!["'self'".to_owned()];
    for p in &config.identity.providers {
        if let Ok(u) = url::Url::parse(&p.issuer) {
            let origin = u.origin().ascii_serialization();
            if !form_action.contains(&origin) {
                form_action.push(origin);
            }
        }
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {}",
        form_action.join(" ")
    )
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// `key` is the server's secret (at least 32 bytes): it signs forms and CSRF tokens and,
    /// through a derived key, encrypts stored secrets.
    pub fn new(
        store: Store,
        mailer: Mailer,
        key: &[u8],
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            mailer,
            signer: Signer::new(key),
            secrets: SecretBox::derive(key, "workbench secrets at rest v1"),
            identity_providers: config
                .identity
                .providers
                .iter()
                .cloned()
                .map(|p| Arc::new(wb_auth::oidc::OidcClient::new(p)))
                .collect(),
            content_security_policy: content_security_policy(&config),
            trusted_proxies: config
                .http
                .trusted_proxies
                .iter()
                .filter_map(|p| crate::guard::Cidr::parse(p))
                .collect(),
            config,
            clock,
            analysis: std::sync::OnceLock::new(),
        }))
    }

    /// Gives the server its dataset engines (once; later calls are ignored).
    pub fn set_analysis(&self, service: Arc<dyn wb_domain::analysis::CdrService>) {
        let _ = self.analysis.set(service);
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Sends `mail` after the answer, off the request path: a slow or failing mail server
    /// neither delays the page nor fails it, and answers take the same time whether or not an
    /// e-mail goes out. Failures are logged.
    pub fn send_in_background(&self, mail: wb_mail::OutgoingEmail) {
        let mailer = self.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&mail).await {
                tracing::error!(error = %e, subject = %mail.subject, "e-mail not sent");
            }
        });
    }

    /// An absolute link for e-mails.
    pub fn link(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.config.http.public_url.trim_end_matches('/'),
            path
        )
    }

    /// "Dec 5, 2026 14:30 UTC" for a Unix time.
    pub fn datetime(&self, at: i64) -> String {
        chrono::DateTime::from_timestamp(at, 0)
            .map(|d| d.format("%b %-d, %Y %H:%M UTC").to_string())
            .unwrap_or_default()
    }

    /// "Dec 5, 2026" for a Unix time, as pages and e-mails show dates.
    pub fn date(&self, at: i64) -> String {
        chrono::DateTime::from_timestamp(at, 0)
            .map(|d| d.format("%b %-d, %Y").to_string())
            .unwrap_or_default()
    }
}
