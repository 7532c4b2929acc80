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
        !k.as_str().starts_with("test_")
            && !k.as_str().starts_with("e2e_")
            && k.as_str() != "config"
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
