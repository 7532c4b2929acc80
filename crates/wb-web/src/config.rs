//! Configuration: built-in defaults, then `wb.toml`, then `WB_*` environment variables (the
//! binary layers them; this crate only defines the shape and the defaults).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded defaults keep their files: the SQLite database, the outbox, keys.
    pub data_dir: PathBuf,
    /// HMAC key for signed forms and CSRF tokens, at least 32 bytes. When unset a random key
    /// is generated once and kept in `<data_dir>/secret.key`.
    pub secret_key: Option<String>,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub mail: MailConfig,
    pub accounts: AccountsConfig,
    pub sessions: SessionConfig,
    pub throttle: ThrottleConfig,
    pub access: AccessConfig,
    pub identity: IdentityConfig,
    pub workspaces: WorkspacesConfig,
    pub demo: DemoConfig,
    pub jobs: JobsConfig,
}

/// Scheduled work inside `wb serve` (expiry reminders, tier records, session clean-up).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// How often the jobs run (the node holding the database lease runs them).
    pub interval_seconds: i64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            interval_seconds: 3600,
        }
    }
}

/// Workspaces and billing.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspacesConfig {
    /// Initial credits every user gets, in cents (default $300.00).
    pub initial_credits_cents: i64,
}

impl Default for WorkspacesConfig {
    fn default() -> Self {
        Self {
            initial_credits_cents: wb_domain::credits::DEFAULT_INITIAL_CREDITS_CENTS,
        }
    }
}

/// Identity verification providers (OpenID Connect). With none configured, identity is
/// verified manually by an administrator.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    pub providers: Vec<wb_auth::oidc::ProviderConfig>,
}

/// Data access registration: how long completions last, reminders and the assessments.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Training, the code of conduct and the profile confirmation expire after this many days.
    pub expiry_days: i64,
    /// Reminder e-mails go out this many days before access expires.
    pub reminder_days: Vec<i64>,
    /// The assessment pass mark, in percent.
    pub pass_percent: u32,
    /// After a failed assessment, the retake opens after this many hours (0: at once).
    pub retake_wait_hours: i64,
    /// At most this many attempts at one course's assessment may start in any 24 hours (a
    /// rolling window: an attempt counts until 24 hours after it started).
    pub attempts_per_day: u32,
    /// Questions per attempt, each attempt drawn afresh from the course's bank.
    pub rt_questions: usize,
    pub ct_questions: usize,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            expiry_days: 365,
            reminder_days: vec![30, 15, 7, 1],
            pass_percent: 80,
            retake_wait_hours: 0,
            attempts_per_day: 3,
            rt_questions: 10,
            ct_questions: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub bind: String,
    /// The address users reach, used in e-mailed links. `https://` turns on Secure cookies and
    /// HSTS.
    pub public_url: String,
    /// Reverse proxies in front of the workbench (IP addresses or CIDR ranges). Only when a
    /// request comes from one of them is the client's address read from `X-Forwarded-For`
    /// (the nearest address that is not a trusted proxy); otherwise it is the socket's peer.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; default `sqlite://<data_dir>/wb.sqlite3?mode=rwc`.
    pub url: Option<String>,
    /// Apply pending migrations at start-up (otherwise `wb migrate` must be run first).
    pub auto_migrate: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `file` (default: `.eml` files in `outbox_dir`), `smtp` or `memory`.
    pub transport: String,
    pub outbox_dir: Option<PathBuf>,
    pub smtp_url: Option<String>,
    pub from: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// Accounts are named `username@<username_domain>`.
    pub username_domain: String,
    pub temporary_password_days: i64,
    pub reset_link_minutes: i64,
    pub support_email: String,
    /// Where requests for an administrator's action go (identity verification requested when
    /// no identity provider is configured). Unset: `support_email`.
    pub admin_email: Option<String>,
}

impl AccountsConfig {
    /// The address that administrators read: `admin_email`, or else `support_email`.
    pub fn admin_email(&self) -> &str {
        self.admin_email
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .unwrap_or(&self.support_email)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    pub idle_minutes: i64,
    pub absolute_hours: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Consecutive failed sign-ins for one account name before it is locked.
    pub account_failures: i64,
    /// Failed sign-ins from one IP address within `window_minutes` before it is locked.
    pub ip_failures: i64,
    pub window_minutes: i64,
    /// The first lock's length; each further failure of a locked-out account locks it longer.
    pub lock_minutes: i64,
    /// Consecutive failures after which an account (or its second factor) stays locked until
    /// its password is reset (NIST SP 800-63B: at most 100).
    pub max_consecutive_failures: i64,
    /// E-mails a visitor who is not signed in can make the workbench send (sign-up,
    /// institution requests): at most this many an hour from one client address …
    pub mail_per_ip_per_hour: i64,
    /// … and this many an hour to one address.
    pub mail_per_address_per_hour: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Load the fictional demo institutions when the database has none.
    pub load: bool,
    /// With `load`, the size of the synthetic CDR that `wb serve` generates under
    /// `<data_dir>/cdr/` for the demo dataset versions that have no data (0: none).
    pub cdr_persons: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            secret_key: None,
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            mail: MailConfig::default(),
            accounts: AccountsConfig::default(),
            sessions: SessionConfig::default(),
            throttle: ThrottleConfig::default(),
            access: AccessConfig::default(),
            identity: IdentityConfig::default(),
            workspaces: WorkspacesConfig::default(),
            demo: DemoConfig::default(),
            jobs: JobsConfig::default(),
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            load: true,
            cdr_persons: 20_000,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: "file".into(),
            outbox_dir: None,
            smtp_url: None,
            from: "Researcher Workbench <no-reply@researchworkbench.example>".into(),
        }
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            username_domain: "researchworkbench.example".into(),
            temporary_password_days: 7,
            reset_link_minutes: 60,
            support_email: "support@researchworkbench.example".into(),
            admin_email: None,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_minutes: 30,
            absolute_hours: 12,
        }
    }
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_failures: 10,
            ip_failures: 50,
            window_minutes: 15,
            lock_minutes: 15,
            max_consecutive_failures: 100,
            mail_per_ip_per_hour: 20,
            mail_per_address_per_hour: 3,
        }
    }
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("wb.sqlite3").display()
            )
        })
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.mail
            .outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    pub fn secure_cookies(&self) -> bool {
        self.http.public_url.starts_with("https://")
    }

    /// Checks values that would otherwise fail later, with a message naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.demo.cdr_persons > 10_000_000 {
            return Err("demo.cdr_persons must be at most 10000000 (0: no demo CDR)".into());
        }
        if url::Url::parse(&self.http.public_url).is_err() {
            return Err(format!(
                "http.public_url '{}' is not a URL",
                self.http.public_url
            ));
        }
        if !(1..=60).contains(&self.sessions.idle_minutes) {
            return Err("sessions.idle_minutes must be between 1 and 60".into());
        }
        if !(1..=24).contains(&self.sessions.absolute_hours) {
            return Err("sessions.absolute_hours must be between 1 and 24".into());
        }
        if !(1..=90).contains(&self.accounts.temporary_password_days) {
            return Err("accounts.temporary_password_days must be between 1 and 90".into());
        }
        if !(5..=24 * 60).contains(&self.accounts.reset_link_minutes) {
            return Err("accounts.reset_link_minutes must be between 5 and 1440".into());
        }
        if let Some(a) = &self.accounts.admin_email
            && wb_domain::EmailAddress::parse(a).is_err()
        {
            return Err(format!(
                "accounts.admin_email '{a}' is not an e-mail address"
            ));
        }
        if !(1..=100).contains(&self.throttle.account_failures) {
            return Err("throttle.account_failures must be between 1 and 100".into());
        }
        if !(self.throttle.account_failures..=100).contains(&self.throttle.max_consecutive_failures)
        {
            return Err(
                "throttle.max_consecutive_failures must be between throttle.account_failures and 100"
                    .into(),
            );
        }
        for (name, v) in [
            ("throttle.ip_failures", self.throttle.ip_failures),
            ("throttle.window_minutes", self.throttle.window_minutes),
            ("throttle.lock_minutes", self.throttle.lock_minutes),
            (
                "throttle.mail_per_ip_per_hour",
                self.throttle.mail_per_ip_per_hour,
            ),
            (
                "throttle.mail_per_address_per_hour",
                self.throttle.mail_per_address_per_hour,
            ),
        ] {
            if !(1..=100_000).contains(&v) {
                return Err(format!("{name} must be between 1 and 100000"));
            }
        }
        for p in &self.http.trusted_proxies {
            if crate::guard::Cidr::parse(p).is_none() {
                return Err(format!(
                    "http.trusted_proxies: '{p}' is not an IP address or a CIDR range like 10.0.0.0/8"
                ));
            }
        }
        if !(1..=3650).contains(&self.access.expiry_days) {
            return Err("access.expiry_days must be between 1 and 3650".into());
        }
        if !(1..=100).contains(&self.access.pass_percent) {
            return Err("access.pass_percent must be between 1 and 100".into());
        }
        if !(0..=24 * 30).contains(&self.access.retake_wait_hours) {
            return Err("access.retake_wait_hours must be between 0 and 720".into());
        }
        if !(1..=100).contains(&self.access.attempts_per_day) {
            return Err("access.attempts_per_day must be between 1 and 100".into());
        }
        for (name, n, course) in [
            (
                "access.rt_questions",
                self.access.rt_questions,
                &wb_domain::training::RESPONSIBLE_CONDUCT,
            ),
            (
                "access.ct_questions",
                self.access.ct_questions,
                &wb_domain::training::CONTROLLED_TIER,
            ),
        ] {
            if !(1..=course.bank.len()).contains(&n) {
                return Err(format!(
                    "{name} must be between 1 and {}, the questions in the course's bank",
                    course.bank.len()
                ));
            }
        }
        if !(1..=7 * 24 * 3600).contains(&self.jobs.interval_seconds) {
            return Err("jobs.interval_seconds must be between 1 and 604800".into());
        }
        if !(0..=100_000_000).contains(&self.workspaces.initial_credits_cents) {
            return Err("workspaces.initial_credits_cents must be between 0 and 100000000".into());
        }
        for (i, p) in self.identity.providers.iter().enumerate() {
            if p.key.is_empty()
                || !p
                    .key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(format!(
                    "identity.providers[{i}].key must be lower-case letters, digits and '-'"
                ));
            }
            if url::Url::parse(&p.issuer).is_err() {
                return Err(format!("identity.providers[{i}].issuer is not a URL"));
            }
            if self
                .identity
                .providers
                .iter()
                .filter(|q| q.key == p.key)
                .count()
                > 1
            {
                return Err(format!("identity provider key '{}' is used twice", p.key));
            }
        }
        match self.mail.transport.as_str() {
            "file" | "memory" => {}
            "smtp" if self.mail.smtp_url.is_some() => {}
            "smtp" => return Err("mail.transport = \"smtp\" needs mail.smtp_url".into()),
            other => {
                return Err(format!(
                    "mail.transport '{other}' is not one of file, smtp, memory"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn the_default_retake_policy_is_three_a_day_at_once() {
        let c = Config::default();
        assert_eq!(c.access.retake_wait_hours, 0);
        assert_eq!(c.access.attempts_per_day, 3);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn assessment_settings_are_checked() {
        let check = |f: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate()
        };
        assert!(
            check(&|c| c.access.attempts_per_day = 0)
                .unwrap_err()
                .contains("access.attempts_per_day")
        );
        assert!(check(&|c| c.access.attempts_per_day = 101).is_err());
        assert_eq!(check(&|c| c.access.attempts_per_day = 100), Ok(()));
        assert!(check(&|c| c.access.retake_wait_hours = -1).is_err());
        assert!(check(&|c| c.access.retake_wait_hours = 721).is_err());
        assert_eq!(check(&|c| c.access.retake_wait_hours = 720), Ok(()));
        let too_many = check(&|c| c.access.rt_questions = 26).unwrap_err();
        assert!(
            too_many.contains("access.rt_questions") && too_many.contains("25"),
            "{too_many}"
        );
        assert_eq!(check(&|c| c.access.rt_questions = 25), Ok(()));
        assert!(check(&|c| c.access.ct_questions = 17).is_err());
        assert!(check(&|c| c.access.ct_questions = 0).is_err());
    }
}
