//! Configuration layering and the parts built from it.

use std::path::Path;

use anyhow::{Context, Result, bail};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use wb_web::Config;

/// Defaults (in `wb_web::Config`), then the TOML file, then `WB_*` variables.
pub fn load(path: Option<&Path>) -> Result<Config> {
    let mut fig = Figment::new();
    match path {
        Some(p) => {
            if !p.exists() {
                bail!("the configuration file {} does not exist", p.display());
            }
            fig = fig.merge(Toml::file(p));
        }
        None => fig = fig.merge(Toml::file("wb.toml")),
    }
    // Variables for the test harness and the binary's own flags are not settings.
    fig = fig.merge(Env::prefixed("WB_").split("__").filter(|k| {
        let k = k.as_str().to_ascii_lowercase();
        !(k.starts_with("test_") || k.starts_with("e2e_") || k == "config")
    }));
    let cfg: Config = fig.extract().context("reading the configuration")?;
    cfg.validate().map_err(anyhow::Error::msg)?;
    Ok(cfg)
}

pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}

pub async fn open_store(cfg: &Config) -> Result<wb_store::Store> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let url = cfg.database_url();
    wb_store::Store::connect(&url)
        .await
        .with_context(|| format!("opening the database {}", redact(&url)))
}

/// The signing key: from the configuration, or generated once into `<data_dir>/secret.key`.
pub fn secret_key(cfg: &Config) -> Result<Vec<u8>> {
    if let Some(k) = &cfg.secret_key {
        anyhow::ensure!(k.len() >= 32, "secret_key must be at least 32 characters");
        return Ok(k.as_bytes().to_vec());
    }
    let path = cfg.data_dir.join("secret.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        let k = k.trim().to_owned();
        anyhow::ensure!(
            k.len() >= 32,
            "{} is too short; delete it to make a new one",
            path.display()
        );
        return Ok(k.into_bytes());
    }
    let k = format!("{}{}", wb_auth::random_token(), wb_auth::random_token());
    std::fs::write(&path, &k).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(k.into_bytes())
}

pub fn mailer(cfg: &Config) -> Result<wb_mail::Mailer> {
    let transport = match cfg.mail.transport.as_str() {
        "smtp" => wb_mail::MailTransportConfig::Smtp {
            url: cfg.mail.smtp_url.clone().unwrap_or_default(),
        },
        "memory" => wb_mail::MailTransportConfig::Memory,
        _ => wb_mail::MailTransportConfig::File {
            dir: cfg.outbox_dir(),
        },
    };
    Ok(wb_mail::Mailer::new(&transport, &cfg.mail.from)?)
}

#[cfg(test)]
// figment::Jail's closures return figment::Error, which is large by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "wb.toml",
                "[http]\nbind = \"127.0.0.1:9000\"\n[accounts]\ntemporary_password_days = 3\n",
            )?;
            jail.set_env("WB_HTTP__BIND", "127.0.0.1:9100");
            jail.set_env("WB_MAIL__TRANSPORT", "memory");
            // Harness variables are not settings and do not trip the unknown-key check.
            jail.set_env("WB_TEST_POSTGRES_URL", "postgres://x/y");
            let cfg = load(None).map_err(|e| format!("{e:#}"))?;
            assert_eq!(cfg.http.bind, "127.0.0.1:9100");
            assert_eq!(cfg.accounts.temporary_password_days, 3);
            assert_eq!(cfg.mail.transport, "memory");
            assert_eq!(cfg.sessions.idle_minutes, 30, "defaults fill the rest");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_their_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("wb.toml", "[http]\nbnd = \"x\"\n")?;
            let err = load(None).unwrap_err();
            assert!(format!("{err:#}").contains("bnd"), "{err:#}");
            jail.create_file("wb.toml", "[sessions]\nidle_minutes = 600\n")?;
            let err = load(None).unwrap_err();
            assert!(err.to_string().contains("sessions.idle_minutes"), "{err}");
            jail.create_file("wb.toml", "[mail]\ntransport = \"smtp\"\n")?;
            assert!(load(None).unwrap_err().to_string().contains("smtp_url"));
            Ok(())
        });
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact("postgres://wb:secret@db/wb"), "postgres://***@db/wb");
        assert_eq!(
            redact("sqlite://./data/wb.sqlite3"),
            "sqlite://./data/wb.sqlite3"
        );
    }
}
