//! E-mail for the Researcher Workbench.
//!
//! [`Mailer`] sends [`OutgoingEmail`]s through one of three transports chosen
//! by [`MailTransportConfig`]:
//!
//! * `File`: each message is written as `<uuid>.eml` into a folder
//!   (development, demos, browser tests that read the outbox);
//! * `Smtp`: a real SMTP relay, configured by a lettre connection URL
//!   (`smtp://host:port` plain, `smtp://host:port?tls=required` STARTTLS,
//!   `smtps://user:pass@host:465` implicit TLS);
//! * `Memory`: messages are kept in a [`MemoryOutbox`] (unit tests).
//!
//! Every transport builds the same lettre [`Message`], so a bad address
//! fails the same way everywhere. [`messages`] renders the workbench's
//! e-mails (multipart/alternative plain text + HTML) from askama templates.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

pub mod messages;

/// Timeout of each network operation (connect, command, data) of the SMTP
/// transport.
const SMTP_IO_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for one whole SMTP delivery, all round trips included.
const SMTP_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// A memory outbox keeps at most this many messages (oldest dropped first),
/// so a long-running server configured with `Memory` does not grow forever.
const MEMORY_OUTBOX_LIMIT: usize = 10_000;

/// Where the workbench's e-mail goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MailTransportConfig {
    /// Write each message as `<uuid>.eml` into `dir` (created if missing).
    File { dir: PathBuf },
    /// Send through an SMTP server given as a lettre connection URL.
    Smtp { url: String },
    /// Keep messages in memory (see [`Mailer::memory`]).
    Memory,
}

/// One e-mail to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    /// Recipient, `user@example.org` or `Name <user@example.org>`.
    pub to: String,
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// Optional HTML alternative of `text`.
    pub html: Option<String>,
}

/// Errors of the mail crate.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid e-mail address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    #[error("mail configuration error: {0}")]
    Config(String),
    #[error("could not build the e-mail message: {0}")]
    Build(String),
    #[error("could not send e-mail: {0}")]
    Send(String),
}

/// Messages recorded by a memory [`Mailer`]. Clones share the same outbox.
#[derive(Debug, Clone, Default)]
pub struct MemoryOutbox {
    messages: Arc<Mutex<Vec<OutgoingEmail>>>,
    /// Sends wait while [`MemoryOutbox::hold`]'s guard lives (a slow mail server, for tests).
    gate: Arc<tokio::sync::RwLock<()>>,
}

impl MemoryOutbox {
    fn lock(&self) -> MutexGuard<'_, Vec<OutgoingEmail>> {
        // A panic while holding the lock cannot leave the Vec half-updated.
        self.messages.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, email: OutgoingEmail) {
        let mut messages = self.lock();
        if messages.len() >= MEMORY_OUTBOX_LIMIT {
            messages.remove(0);
        }
        messages.push(email);
    }

    /// All messages sent so far, oldest first.
    pub fn messages(&self) -> Vec<OutgoingEmail> {
        self.lock().clone()
    }

    /// The most recent message sent to `to`. Addresses are compared without
    /// display names and case-insensitively (`Ada <ADA@x.org>` matches
    /// `ada@x.org`).
    pub fn last_to(&self, to: &str) -> Option<OutgoingEmail> {
        let wanted = normalize_address(to);
        self.lock()
            .iter()
            .rev()
            .find(|m| normalize_address(&m.to) == wanted)
            .cloned()
    }

    /// Makes every send through this outbox wait until the returned guard is dropped, as a
    /// mail server that does not answer would: tests use it to prove that a page does not
    /// wait for its e-mail.
    pub async fn hold(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().write_owned().await
    }

    /// Forget every recorded message.
    pub fn clear(&self) {
        self.lock().clear();
    }
}

fn normalize_address(address: &str) -> String {
    match address.trim().parse::<Mailbox>() {
        Ok(mailbox) => mailbox.email.to_string().to_ascii_lowercase(),
        Err(_) => address.trim().to_ascii_lowercase(),
    }
}

enum Transport {
    File {
        dir: PathBuf,
        transport: AsyncFileTransport<Tokio1Executor>,
    },
    Smtp {
        shown_url: String,
        transport: AsyncSmtpTransport<Tokio1Executor>,
    },
    Memory(MemoryOutbox),
}

struct Inner {
    from: Mailbox,
    transport: Transport,
}

/// Sends e-mail. Cheap to clone; clones share the transport.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.inner.from.to_string())
            .field("transport", &self.describe())
            .finish()
    }
}

fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| MailError::InvalidAddress {
            address: address.to_owned(),
            reason: e.to_string(),
        })
}

/// The URL with any password replaced by `***`, for logs and status pages.
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    match authority.rfind('@') {
        Some(at) => {
            let user_info = &authority[..at];
            let user = user_info.split(':').next().unwrap_or("");
            let shown = if user_info.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!(
                "{}{}{}",
                &url[..authority_start],
                shown,
                &url[authority_start + at..]
            )
        }
        None => url.to_owned(),
    }
}

impl Mailer {
    /// A mailer sending from `from` (e.g.
    /// `Workbench <no-reply@workbench.example.org>`) through `transport`.
    ///
    /// A `Memory` config gives a mailer whose outbox is not reachable; use
    /// [`Mailer::memory`] to read it.
    pub fn new(transport: &MailTransportConfig, from: &str) -> Result<Mailer, MailError> {
        let from = parse_mailbox(from)?;
        let transport = match transport {
            MailTransportConfig::File { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    MailError::Config(format!("cannot create mail folder {}: {e}", dir.display()))
                })?;
                Transport::File {
                    dir: dir.clone(),
                    transport: AsyncFileTransport::<Tokio1Executor>::new(dir),
                }
            }
            MailTransportConfig::Smtp { url } => {
                let shown_url = redact_url(url);
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailError::Config(format!("invalid SMTP URL {shown_url}: {e}")))?
                    .timeout(Some(SMTP_IO_TIMEOUT))
                    .build();
                Transport::Smtp {
                    shown_url,
                    transport,
                }
            }
            MailTransportConfig::Memory => Transport::Memory(MemoryOutbox::default()),
        };
        Ok(Mailer {
            inner: Arc::new(Inner { from, transport }),
        })
    }

    /// A mailer that keeps messages in memory, and the outbox to read them.
    /// If `from` is not a valid address, `Researcher Workbench
    /// <no-reply@workbench.example.org>` is used instead.
    pub fn memory(from: &str) -> (Mailer, MemoryOutbox) {
        let from = from.parse::<Mailbox>().unwrap_or_else(|_| {
            Mailbox::new(
                Some("Researcher Workbench".to_owned()),
                "no-reply@workbench.example.org"
                    .parse()
                    .expect("constant address is valid"),
            )
        });
        let outbox = MemoryOutbox::default();
        let mailer = Mailer {
            inner: Arc::new(Inner {
                from,
                transport: Transport::Memory(outbox.clone()),
            }),
        };
        (mailer, outbox)
    }

    /// Human-readable description of where mail goes (no secrets).
    pub fn describe(&self) -> String {
        match &self.inner.transport {
            Transport::File { dir, .. } => format!("files in {}", dir.display()),
            Transport::Smtp { shown_url, .. } => format!("SMTP {shown_url}"),
            Transport::Memory(_) => "memory".to_owned(),
        }
    }

    fn build_message(&self, email: &OutgoingEmail) -> Result<Message, MailError> {
        let to = parse_mailbox(&email.to)?;
        let builder = Message::builder()
            .from(self.inner.from.clone())
            .to(to)
            .subject(email.subject.as_str())
            .message_id(None);
        let built = match &email.html {
            Some(html) => builder.multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(email.text.clone()))
                    .singlepart(SinglePart::html(html.clone())),
            ),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.text.clone()),
        };
        built.map_err(|e| MailError::Build(e.to_string()))
    }

    /// Send one e-mail.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let message = self.build_message(email)?;
        match &self.inner.transport {
            Transport::File { dir, transport } => {
                let id = transport
                    .send(message)
                    .await
                    .map_err(|e| MailError::Send(format!("writing to {}: {e}", dir.display())))?;
                tracing::info!(to = %email.to, subject = %email.subject, %id, "e-mail written");
            }
            Transport::Smtp {
                shown_url,
                transport,
            } => match tokio::time::timeout(SMTP_SEND_TIMEOUT, transport.send(message)).await {
                Ok(Ok(response)) => {
                    tracing::info!(
                        to = %email.to,
                        subject = %email.subject,
                        code = %response.code(),
                        "e-mail sent"
                    );
                }
                Ok(Err(e)) => {
                    return Err(MailError::Send(format!("via {shown_url}: {e}")));
                }
                Err(_) => {
                    return Err(MailError::Send(format!(
                        "via {shown_url}: timed out after {} s",
                        SMTP_SEND_TIMEOUT.as_secs()
                    )));
                }
            },
            Transport::Memory(outbox) => {
                let _open = outbox.gate.read().await;
                outbox.push(email.clone());
                tracing::debug!(to = %email.to, subject = %email.subject, "e-mail kept in memory");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str) -> OutgoingEmail {
        OutgoingEmail {
            to: to.to_owned(),
            subject: "Hello".to_owned(),
            text: "Plain body\n".to_owned(),
            html: Some("<p>HTML body</p>\n".to_owned()),
        }
    }

    #[test]
    fn mailer_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Mailer>();
        check::<MemoryOutbox>();
    }

    #[test]
    fn redacts_password_only() {
        assert_eq!(redact_url("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
        assert_eq!(
            redact_url("smtps://mailer:s3cr@t@smtp.example.org:465/hello?x=1"),
            "smtps://mailer:***@smtp.example.org:465/hello?x=1"
        );
        assert_eq!(redact_url("smtp://user@host:25"), "smtp://user@host:25");
    }

    #[test]
    fn describe_each_transport() {
        let smtp = Mailer::new(
            &MailTransportConfig::Smtp {
                url: "smtp://u:pw@127.0.0.1:2525".into(),
            },
            "Workbench <no-reply@workbench.example.org>",
        )
        .unwrap();
        assert_eq!(smtp.describe(), "SMTP smtp://u:***@127.0.0.1:2525");
        assert!(!format!("{smtp:?}").contains("pw"));
        let (memory, _) = Mailer::memory("no-reply@workbench.example.org");
        assert_eq!(memory.describe(), "memory");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("outbox");
        let file = Mailer::new(
            &MailTransportConfig::File { dir: out.clone() },
            "no-reply@workbench.example.org",
        )
        .unwrap();
        assert!(out.is_dir());
        assert_eq!(file.describe(), format!("files in {}", out.display()));
    }

    #[test]
    fn bad_config_is_reported() {
        let err = Mailer::new(
            &MailTransportConfig::Smtp {
                url: "gopher://x".into(),
            },
            "no-reply@workbench.example.org",
        )
        .unwrap_err();
        assert!(matches!(err, MailError::Config(_)), "{err}");
        let err = Mailer::new(&MailTransportConfig::Memory, "not an address").unwrap_err();
        assert!(matches!(err, MailError::InvalidAddress { .. }), "{err}");
    }

    #[test]
    fn last_to_ignores_display_name_and_case() {
        let outbox = MemoryOutbox::default();
        outbox.push(email("Ada <Ada@Example.org>"));
        let mut second = email("ada@example.org");
        second.subject = "Second".into();
        outbox.push(second);
        outbox.push(email("bob@example.org"));
        assert_eq!(outbox.last_to("ADA@example.org").unwrap().subject, "Second");
        assert!(outbox.last_to("carol@example.org").is_none());
        outbox.clear();
        assert!(outbox.messages().is_empty());
    }

    #[test]
    fn message_is_multipart_alternative_7bit() {
        let (mailer, _) = Mailer::memory("Workbench <no-reply@workbench.example.org>");
        let raw = String::from_utf8(
            mailer
                .build_message(&email("ada@example.org"))
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("Message-ID: <"), "{raw}");
        assert!(raw.contains("Content-Transfer-Encoding: 7bit"), "{raw}");
        assert!(!raw.contains("quoted-printable"), "{raw}");
    }

    /// What lettre itself does with a subject: a word holding CR, LF or NUL
    /// (or any non-ASCII character) is RFC 2047-encoded, so it cannot start
    /// a header of its own. Other control characters (ESC, vertical tab, ...)
    /// pass through raw, which is why `messages` cleans every value first.
    #[test]
    fn lettre_encodes_line_breaks_in_the_subject() {
        let (mailer, _) = Mailer::memory("no-reply@workbench.example.org");
        let mut e = email("ada@example.org");
        e.subject = "Eve\r\nBcc: eve@example.org\nX-Injected: 1\x1b[31m".into();
        let raw = String::from_utf8(mailer.build_message(&e).unwrap().formatted()).unwrap();
        let head = raw.split("\r\n\r\n").next().unwrap();
        for line in head.split("\r\n") {
            assert!(!line.starts_with("Bcc:"), "{head}");
            assert!(!line.starts_with("X-Injected:"), "{head}");
        }
        assert!(
            !head.contains("\nBcc:") && !head.contains("\rBcc:"),
            "{head}"
        );
        assert!(head.contains("Subject: =?utf-8?b?"), "{head}");
        assert!(
            head.contains("1\x1b[31m"),
            "ESC is passed through raw: {head}"
        );
        let parsed = mailparse::parse_mail(raw.as_bytes()).unwrap();
        assert_eq!(
            parsed
                .headers
                .iter()
                .filter(|h| h.get_key() == "Bcc")
                .count(),
            0
        );
        // Decoded, the subject still holds the line breaks and the escape.
        let subject =
            mailparse::MailHeaderMap::get_first_value(parsed.headers.as_slice(), "Subject");
        assert_eq!(subject.as_deref(), Some(e.subject.as_str()));
    }

    #[tokio::test]
    async fn header_injection_in_recipient_is_rejected() {
        let (mailer, outbox) = Mailer::memory("no-reply@workbench.example.org");
        let err = mailer
            .send(&email("ada@example.org\r\nBcc: eve@example.org"))
            .await
            .unwrap_err();
        assert!(matches!(err, MailError::InvalidAddress { .. }), "{err}");
        assert!(outbox.messages().is_empty());
    }
}
