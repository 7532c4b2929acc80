//! Integration tests of wb-mail: every transport end to end.
//!
//! The SMTP delivery test needs a real SMTP server that stores what it
//! receives as files, such as `crates/wb-mail/smtp-sink.py`:
//!
//! ```sh
//! python3 crates/wb-mail/smtp-sink.py --host 127.0.0.1 --port 2525 --dir /tmp/sink &
//! WB_TEST_SMTP_ADDR=127.0.0.1:2525 WB_TEST_SMTP_DIR=/tmp/sink \
//!     cargo test -p wb-mail --test integration
//! ```
//!
//! Without those variables it is skipped, unless `WB_TEST_REQUIRE_PEERS=1`
//! is set, in which case it fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mailparse::{MailHeaderMap, ParsedMail};
use wb_mail::messages::{self, Welcome};
use wb_mail::{MailError, MailTransportConfig, Mailer, OutgoingEmail};

const FROM: &str = "Workbench <no-reply@workbench.example.org>";

fn sample_welcome<'a>(username: &'a str, password: &'a str) -> Welcome<'a> {
    Welcome {
        given_name: "Ada",
        username,
        temporary_password: password,
        complete_registration_url: "https://workbench.example.org/complete-registration",
        expires_on: "Dec 5, 2026",
        support_email: "support@workbench.example.org",
    }
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{}x{nanos}", std::process::id())
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read outbox")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
}

/// The decoded bodies of the text/plain and text/html parts.
fn text_and_html(parsed: &ParsedMail) -> (String, String) {
    assert_eq!(parsed.ctype.mimetype, "multipart/alternative");
    assert_eq!(parsed.subparts.len(), 2);
    let text = &parsed.subparts[0];
    let html = &parsed.subparts[1];
    assert_eq!(text.ctype.mimetype, "text/plain");
    assert_eq!(html.ctype.mimetype, "text/html");
    (
        text.get_body().expect("text body"),
        html.get_body().expect("html body"),
    )
}

#[tokio::test]
async fn memory_outbox_records_messages() {
    let (mailer, outbox) = Mailer::memory(FROM);
    assert_eq!(mailer.describe(), "memory");
    let first = messages::welcome("ada@example.org", &sample_welcome("ada.l", "pw-1"));
    let second = messages::password_reset(
        "Grace <grace@example.org>",
        &messages::PasswordReset {
            given_name: "Grace",
            username: "grace.h@researchworkbench.example",
            reset_url: "https://workbench.example.org/reset/abc",
            valid_minutes: 60,
            support_email: "support@workbench.example.org",
        },
    );
    mailer.send(&first).await.unwrap();
    // Clones share the outbox.
    mailer.clone().send(&second).await.unwrap();
    assert_eq!(outbox.messages(), vec![first.clone(), second.clone()]);
    assert_eq!(outbox.last_to("ada@example.org"), Some(first));
    assert_eq!(outbox.last_to("grace@example.org"), Some(second));
    assert_eq!(outbox.last_to("nobody@example.org"), None);
    outbox.clone().clear();
    assert!(outbox.messages().is_empty());
}

#[tokio::test]
async fn file_transport_writes_parseable_eml() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("outbox");
    let mailer = Mailer::new(&MailTransportConfig::File { dir: dir.clone() }, FROM).unwrap();
    assert_eq!(mailer.describe(), format!("files in {}", dir.display()));

    let email = messages::welcome(
        "Ada Lovelace <ada@example.org>",
        &sample_welcome("ada.l@researchworkbench.example", "Tmp-7qK2-xw9P"),
    );
    mailer.send(&email).await.unwrap();

    let files = eml_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_stem().unwrap().to_str().unwrap();
    assert_eq!(name.len(), 36, "uuid file name: {name}");
    let raw = std::fs::read(&files[0]).unwrap();
    let parsed = mailparse::parse_mail(&raw).unwrap();
    let headers = &parsed.headers;
    assert_eq!(
        headers.get_first_value("Subject").as_deref(),
        Some("Welcome to the Researcher Workbench")
    );
    assert!(
        headers
            .get_first_value("To")
            .unwrap()
            .contains("<ada@example.org>")
    );
    assert!(
        headers
            .get_first_value("From")
            .unwrap()
            .contains("<no-reply@workbench.example.org>")
    );
    assert!(headers.get_first_value("Message-ID").is_some());
    assert!(headers.get_first_value("Date").is_some());

    let (text, html) = text_and_html(&parsed);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert!(
        lines.contains(&"Your Username: ada.l@researchworkbench.example"),
        "{text}"
    );
    assert!(
        lines.contains(&"Your Temporary Password: Tmp-7qK2-xw9P"),
        "{text}"
    );
    assert!(html.contains("COMPLETE REGISTRATION"));
    // Short ASCII lines: both parts go out as 7bit, readable in the raw file.
    let raw = String::from_utf8(raw).unwrap();
    assert!(!raw.contains("quoted-printable"), "{raw}");
    assert!(!raw.contains("base64"), "{raw}");
    assert!(raw.contains("\r\nYour Temporary Password: Tmp-7qK2-xw9P\r\n"));
}

#[tokio::test]
async fn invalid_recipient_is_invalid_address_on_every_transport() {
    let tmp = tempfile::tempdir().unwrap();
    // Nothing listens on this port, but the address is checked before any
    // connection is made.
    let configs = [
        MailTransportConfig::Memory,
        MailTransportConfig::File {
            dir: tmp.path().to_path_buf(),
        },
        MailTransportConfig::Smtp {
            url: "smtp://127.0.0.1:9".into(),
        },
    ];
    for config in &configs {
        let mailer = Mailer::new(config, FROM).unwrap();
        for bad in [
            "not-an-address",
            "",
            "ada@",
            "ada@example.org, eve@example.org",
        ] {
            let email = messages::welcome(bad, &sample_welcome("ada", "pw"));
            let err = mailer.send(&email).await.unwrap_err();
            match &err {
                MailError::InvalidAddress { address, .. } => assert_eq!(address, bad),
                other => panic!("{config:?} {bad:?}: expected InvalidAddress, got {other:?}"),
            }
            assert!(err.to_string().contains("invalid e-mail address"), "{err}");
        }
    }
    assert!(eml_files(tmp.path()).is_empty());

    let (mailer, outbox) = Mailer::memory(FROM);
    let err = mailer
        .send(&messages::welcome("bad address", &sample_welcome("a", "b")))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::InvalidAddress { .. }));
    assert!(outbox.messages().is_empty());

    let err = Mailer::new(&MailTransportConfig::Memory, "no at sign").unwrap_err();
    assert!(matches!(err, MailError::InvalidAddress { .. }));
}

#[tokio::test]
async fn html_escapes_given_name_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let mailer = Mailer::new(
        &MailTransportConfig::File {
            dir: tmp.path().to_path_buf(),
        },
        FROM,
    )
    .unwrap();
    let mut w = sample_welcome("ada.l@researchworkbench.example", "pw");
    w.given_name = "<script>alert('x')</script>";
    mailer
        .send(&messages::welcome("ada@example.org", &w))
        .await
        .unwrap();
    let files = eml_files(tmp.path());
    let raw = std::fs::read(&files[0]).unwrap();
    let parsed = mailparse::parse_mail(&raw).unwrap();
    let (text, html) = text_and_html(&parsed);
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(&#39;x&#39;)"),
        "{html}"
    );
    assert!(
        text.contains("Hello <script>alert('x')</script>,"),
        "{text}"
    );
}

const SUPPORT: &str = "support@workbench.example.org";
const SIGN_OFF: &str = "The Researcher Workbench team";

/// Sends `email` through a file transport into a fresh folder and returns
/// the raw message and its decoded subject, text and HTML.
async fn send_to_file(email: &OutgoingEmail) -> (String, String, String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mailer = Mailer::new(
        &MailTransportConfig::File {
            dir: tmp.path().to_path_buf(),
        },
        FROM,
    )
    .unwrap();
    mailer.send(email).await.unwrap();
    let files = eml_files(tmp.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read(&files[0]).unwrap();
    let parsed = mailparse::parse_mail(&raw).unwrap();
    let subject = parsed.headers.get_first_value("Subject").expect("subject");
    let (text, html) = text_and_html(&parsed);
    (String::from_utf8(raw).unwrap(), subject, text, html)
}

fn shared_by(sharer_name: &str) -> OutgoingEmail {
    messages::workspace_shared(
        "grace@example.org",
        &messages::WorkspaceShared {
            given_name: "Grace",
            sharer_name,
            workspace_name: "Diabetes cohort",
            role: "Reader",
            workspace_url: "https://workbench.example.org/workspaces/ws-1",
            support_email: SUPPORT,
        },
    )
}

#[tokio::test]
async fn name_with_line_breaks_adds_no_header_end_to_end() {
    let email = shared_by("Morgan Lee\r\nBcc: eve@example.org\r\nX-Injected: 1");
    let (raw, subject, text, _) = send_to_file(&email).await;
    let head = raw.split("\r\n\r\n").next().unwrap();
    for line in head.split("\r\n") {
        assert!(!line.starts_with("Bcc:"), "{head}");
        assert!(!line.starts_with("X-Injected:"), "{head}");
    }
    assert!(!raw.contains("\r\nBcc:"), "{raw}");
    assert!(!raw.contains("\r\nX-Injected:"), "{raw}");
    assert_eq!(
        subject,
        "Morgan Lee Bcc: eve@example.org X-Injected: 1 shared a workspace with you"
    );
    assert!(
        text.contains("Morgan Lee Bcc: eve@example.org X-Injected: 1 shared a workspace"),
        "{text}"
    );
}

#[tokio::test]
async fn utf8_names_survive_end_to_end() {
    let email = shared_by("Zoë Ñúñez 李");
    let (raw, subject, text, html) = send_to_file(&email).await;
    // lettre encodes what is not ASCII: the message itself stays ASCII.
    assert!(raw.is_ascii());
    assert!(raw.contains("charset=utf-8"), "{raw}");
    assert!(raw.contains("Subject: =?utf-8?"), "{raw}");
    assert_eq!(subject, "Zoë Ñúñez 李 shared a workspace with you");
    assert!(text.contains("Zoë Ñúñez 李 shared a workspace"), "{text}");
    assert!(html.contains("<strong>Zoë Ñúñez 李</strong>"), "{html}");
}

#[tokio::test]
async fn new_emails_go_out_with_sign_off_and_support_line() {
    let when = "Nov 28, 2026 14:05 UTC";
    let requirements = "https://workbench.example.org/data-access-requirements";
    let emails = [
        shared_by("Morgan Lee"),
        messages::two_step_enabled(
            "ada@example.org",
            &messages::TwoStepEnabled {
                given_name: "Ada",
                username: "ada.l@researchworkbench.example",
                when,
                support_email: SUPPORT,
            },
        ),
        messages::two_step_changed(
            "ada@example.org",
            &messages::TwoStepChanged {
                given_name: "Ada",
                username: "ada.l@researchworkbench.example",
                change: messages::TwoStepChange::RecoveryCodes,
                when,
                support_email: SUPPORT,
            },
        ),
        messages::access_expiry_reminder(
            "ada@example.org",
            &messages::AccessExpiryReminder {
                given_name: "Ada",
                tier: "Controlled Tier",
                expires_on: "Dec 5, 2026",
                requirements_url: requirements,
                renew: &["Controlled Tier training"],
                support_email: SUPPORT,
            },
        ),
        messages::identity_verification_requested(
            "admins@workbench.example.org",
            &messages::IdentityVerificationRequested {
                full_name: "Ada Lovelace",
                username: "ada.l",
                institution: "Northfield University",
                contact_email: "ada@northfield.example",
                when,
                support_email: SUPPORT,
            },
        ),
        messages::identity_verification_request_received(
            "ada@example.org",
            &messages::IdentityVerificationRequestReceived {
                given_name: "Ada",
                requirements_url: requirements,
                support_email: SUPPORT,
            },
        ),
        messages::profile_updated(
            "ada@example.org",
            &messages::ProfileUpdated {
                given_name: "Ada",
                username: "ada.l@researchworkbench.example",
                when,
                sections: &["Contact information"],
                profile_url: "https://workbench.example.org/profile",
                support_email: SUPPORT,
            },
        ),
    ];
    for email in &emails {
        let (raw, subject, text, html) = send_to_file(email).await;
        assert_eq!(subject, email.subject);
        assert!(!raw.contains("quoted-printable") && !raw.contains("base64"));
        let text = text.replace("\r\n", "\n");
        assert!(text.starts_with("Hello"), "{text}");
        assert!(
            text.ends_with(&format!("{SIGN_OFF}\n\nQuestions? Write to {SUPPORT}.\n")),
            "{subject}:\n{text}"
        );
        assert!(html.contains(&format!("<p>{SIGN_OFF}</p>")), "{html}");
        assert!(
            html.contains(&format!("<a href=\"mailto:{SUPPORT}\">")),
            "{html}"
        );
    }
}

#[tokio::test]
async fn smtp_unreachable_server_is_send_error() {
    // Take a free loopback port and close it again, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("smtp://127.0.0.1:{port}");
    let mailer = Mailer::new(&MailTransportConfig::Smtp { url: url.clone() }, FROM).unwrap();
    assert_eq!(mailer.describe(), format!("SMTP {url}"));
    let email = messages::welcome("ada@example.org", &sample_welcome("ada", "pw"));
    let err = mailer.send(&email).await.unwrap_err();
    assert!(matches!(err, MailError::Send(_)), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test]
#[ignore = "needs an SMTP sink: set WB_TEST_SMTP_ADDR and WB_TEST_SMTP_DIR (scripts/test starts one and runs this)"]
async fn smtp_delivers_to_real_server() {
    let addr = std::env::var("WB_TEST_SMTP_ADDR")
        .ok()
        .filter(|v| !v.is_empty());
    let dir = std::env::var("WB_TEST_SMTP_DIR")
        .ok()
        .filter(|v| !v.is_empty());
    let (addr, dir) = match (addr, dir) {
        (Some(addr), Some(dir)) => (addr, PathBuf::from(dir)),
        _ => {
            let required = std::env::var("WB_TEST_REQUIRE_PEERS").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "WB_TEST_REQUIRE_PEERS=1 but WB_TEST_SMTP_ADDR and WB_TEST_SMTP_DIR \
                 are not both set: start crates/wb-mail/smtp-sink.py and set them"
            );
            println!(
                "skipped smtp_delivers_to_real_server: set WB_TEST_SMTP_ADDR \
                 and WB_TEST_SMTP_DIR to run it"
            );
            return;
        }
    };

    let url = format!("smtp://{addr}");
    let mailer = Mailer::new(&MailTransportConfig::Smtp { url: url.clone() }, FROM).unwrap();
    assert_eq!(mailer.describe(), format!("SMTP {url}"));
    let suffix = unique_suffix();
    let recipient = format!("ada.{suffix}@example.org");
    let password = format!("Tmp-{suffix}");
    let email: OutgoingEmail = messages::welcome(
        &recipient,
        &sample_welcome("ada.l@researchworkbench.example", &password),
    );
    mailer
        .send(&email)
        .await
        .unwrap_or_else(|e| panic!("sending via {url}: {e}"));

    let deadline = Instant::now() + Duration::from_secs(10);
    let received = loop {
        let found = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .find(|content| content.contains(&recipient) && content.contains(&password));
        if let Some(content) = found {
            break content;
        }
        assert!(
            Instant::now() < deadline,
            "no message for {recipient} appeared in {} within 10 s",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        received.contains(&format!("Your Temporary Password: {password}")),
        "{received}"
    );
    assert!(received.contains("Subject: Welcome to the Researcher Workbench"));
    let first_line = received.lines().next().unwrap_or_default();
    assert!(
        first_line.starts_with("X-Envelope-To:") && first_line.contains(&recipient),
        "{first_line}"
    );
}
