//! The workbench's e-mails, rendered from the askama templates in
//! `crates/wb-mail/templates/` as plain text plus an HTML alternative.
//!
//! Every interpolated value is HTML-escaped in the HTML part. The text part
//! is kept to short ASCII lines so lettre can send it as `7bit`; lines such
//! as `Your Username: <username>` stand alone so tests can parse them.

use askama::Template;

use crate::OutgoingEmail;

/// Data of the welcome e-mail sent when an account is created.
#[derive(Debug, Clone, Copy)]
pub struct Welcome<'a> {
    pub given_name: &'a str,
    /// Full username, e.g. `ada.l@researchworkbench.example`.
    pub username: &'a str,
    pub temporary_password: &'a str,
    pub complete_registration_url: &'a str,
    /// Human-readable date, e.g. `Dec 5, 2026`.
    pub expires_on: &'a str,
    pub support_email: &'a str,
}

/// Data of the password-reset e-mail.
#[derive(Debug, Clone, Copy)]
pub struct PasswordReset<'a> {
    pub given_name: &'a str,
    pub username: &'a str,
    pub reset_url: &'a str,
    pub valid_minutes: i64,
}

/// Data of the notice sent after a password change.
#[derive(Debug, Clone, Copy)]
pub struct PasswordChanged<'a> {
    pub given_name: &'a str,
    pub username: &'a str,
    /// Human-readable time of the change.
    pub when: &'a str,
    pub support_email: &'a str,
}

/// Data of the acknowledgement of a request to add an institution.
#[derive(Debug, Clone, Copy)]
pub struct InstitutionRequestReceived<'a> {
    pub contact_name: &'a str,
    pub institution_name: &'a str,
}

const WELCOME_SUBJECT: &str = "Welcome to the Researcher Workbench";
const RESET_SUBJECT: &str = "Reset your Researcher Workbench password";
const CHANGED_SUBJECT: &str = "Your Researcher Workbench password was changed";
const INSTITUTION_SUBJECT: &str = "We received your institution request";

#[derive(Template)]
#[template(path = "welcome.txt", escape = "none")]
struct WelcomeText<'a> {
    given_name: &'a str,
    username: &'a str,
    temporary_password: &'a str,
    complete_registration_url: &'a str,
    expires_on: &'a str,
    support_email: &'a str,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomeHtml<'a> {
    subject: &'a str,
    given_name: &'a str,
    username: &'a str,
    temporary_password: &'a str,
    complete_registration_url: &'a str,
    expires_on: &'a str,
    support_email: &'a str,
}

#[derive(Template)]
#[template(path = "password_reset.txt", escape = "none")]
struct PasswordResetText<'a> {
    given_name: &'a str,
    username: &'a str,
    reset_url: &'a str,
    validity: &'a str,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct PasswordResetHtml<'a> {
    subject: &'a str,
    given_name: &'a str,
    username: &'a str,
    reset_url: &'a str,
    validity: &'a str,
}

#[derive(Template)]
#[template(path = "password_changed.txt", escape = "none")]
struct PasswordChangedText<'a> {
    given_name: &'a str,
    username: &'a str,
    when: &'a str,
    support_email: &'a str,
}

#[derive(Template)]
#[template(path = "password_changed.html")]
struct PasswordChangedHtml<'a> {
    subject: &'a str,
    given_name: &'a str,
    username: &'a str,
    when: &'a str,
    support_email: &'a str,
}

#[derive(Template)]
#[template(path = "institution_request_received.txt", escape = "none")]
struct InstitutionText<'a> {
    contact_name: &'a str,
    institution_name: &'a str,
}

#[derive(Template)]
#[template(path = "institution_request_received.html")]
struct InstitutionHtml<'a> {
    subject: &'a str,
    contact_name: &'a str,
    institution_name: &'a str,
}

/// Renders a template whose fields are all strings: askama can only fail
/// when a field's `Display` impl fails, which `str`'s never does.
fn render(template: &impl Template) -> String {
    let mut out = template
        .render()
        .expect("templates with string fields always render");
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn email(to: &str, subject: &str, text: String, html: String) -> OutgoingEmail {
    OutgoingEmail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text,
        html: Some(html),
    }
}

/// "1 minute", "30 minutes".
fn minutes(n: i64) -> String {
    if n == 1 {
        "1 minute".to_owned()
    } else {
        format!("{n} minutes")
    }
}

/// Welcome e-mail with the username and temporary password.
pub fn welcome(to: &str, w: &Welcome) -> OutgoingEmail {
    let text = render(&WelcomeText {
        given_name: w.given_name,
        username: w.username,
        temporary_password: w.temporary_password,
        complete_registration_url: w.complete_registration_url,
        expires_on: w.expires_on,
        support_email: w.support_email,
    });
    let html = render(&WelcomeHtml {
        subject: WELCOME_SUBJECT,
        given_name: w.given_name,
        username: w.username,
        temporary_password: w.temporary_password,
        complete_registration_url: w.complete_registration_url,
        expires_on: w.expires_on,
        support_email: w.support_email,
    });
    email(to, WELCOME_SUBJECT, text, html)
}

/// Password-reset e-mail with a single-use link.
pub fn password_reset(to: &str, r: &PasswordReset) -> OutgoingEmail {
    let validity = minutes(r.valid_minutes);
    let text = render(&PasswordResetText {
        given_name: r.given_name,
        username: r.username,
        reset_url: r.reset_url,
        validity: &validity,
    });
    let html = render(&PasswordResetHtml {
        subject: RESET_SUBJECT,
        given_name: r.given_name,
        username: r.username,
        reset_url: r.reset_url,
        validity: &validity,
    });
    email(to, RESET_SUBJECT, text, html)
}

/// Notice that the account's password was changed.
pub fn password_changed(to: &str, p: &PasswordChanged) -> OutgoingEmail {
    let text = render(&PasswordChangedText {
        given_name: p.given_name,
        username: p.username,
        when: p.when,
        support_email: p.support_email,
    });
    let html = render(&PasswordChangedHtml {
        subject: CHANGED_SUBJECT,
        given_name: p.given_name,
        username: p.username,
        when: p.when,
        support_email: p.support_email,
    });
    email(to, CHANGED_SUBJECT, text, html)
}

/// Acknowledgement of a request to add an institution.
pub fn institution_request_received(to: &str, r: &InstitutionRequestReceived) -> OutgoingEmail {
    let text = render(&InstitutionText {
        contact_name: r.contact_name,
        institution_name: r.institution_name,
    });
    let html = render(&InstitutionHtml {
        subject: INSTITUTION_SUBJECT,
        contact_name: r.contact_name,
        institution_name: r.institution_name,
    });
    email(to, INSTITUTION_SUBJECT, text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WELCOME: Welcome<'static> = Welcome {
        given_name: "Ada",
        username: "ada.l@researchworkbench.example",
        temporary_password: "Tmp-7qK2-xw9P",
        complete_registration_url: "https://workbench.example.org/login",
        expires_on: "Dec 5, 2026",
        support_email: "support@workbench.example.org",
    };

    fn all_samples() -> Vec<OutgoingEmail> {
        vec![
            welcome("ada@example.org", &WELCOME),
            password_reset(
                "ada@example.org",
                &PasswordReset {
                    given_name: "Ada",
                    username: "ada.l@researchworkbench.example",
                    reset_url: "https://workbench.example.org/reset?token=abc",
                    valid_minutes: 30,
                },
            ),
            password_changed(
                "ada@example.org",
                &PasswordChanged {
                    given_name: "Ada",
                    username: "ada.l@researchworkbench.example",
                    when: "Nov 28, 2026 14:05 UTC",
                    support_email: "support@workbench.example.org",
                },
            ),
            institution_request_received(
                "grace@example.edu",
                &InstitutionRequestReceived {
                    contact_name: "Grace",
                    institution_name: "Example University",
                },
            ),
        ]
    }

    #[test]
    fn welcome_text_has_parseable_credential_lines() {
        let m = welcome("ada@example.org", &WELCOME);
        assert_eq!(m.subject, "Welcome to the Researcher Workbench");
        let lines: Vec<&str> = m.text.lines().collect();
        assert!(lines.contains(&"Your Username: ada.l@researchworkbench.example"));
        assert!(lines.contains(&"Your Temporary Password: Tmp-7qK2-xw9P"));
        assert!(lines.contains(&"This temporary password expires on Dec 5, 2026."));
        assert!(lines.contains(&"Complete Registration: https://workbench.example.org/login"));
        for needle in [
            "60-90 minutes",
            "2-step verification",
            "verify your identity",
            "Responsible Conduct of Research",
            "(Optional) Controlled Tier training",
            "Sign the Data User Code of Conduct",
            "support@workbench.example.org",
        ] {
            assert!(m.text.contains(needle), "missing {needle:?}");
        }
        let html = m.html.unwrap();
        let html_lines: Vec<&str> = html.lines().collect();
        assert!(html_lines.contains(&"Your Username: ada.l@researchworkbench.example"));
        assert!(html_lines.contains(&"Your Temporary Password: Tmp-7qK2-xw9P"));
        assert!(html.contains("COMPLETE REGISTRATION"));
        assert!(html.contains("href=\"https://workbench.example.org/login\""));
    }

    #[test]
    fn no_third_party_branding() {
        for m in all_samples() {
            for part in [m.text.as_str(), m.html.as_deref().unwrap()] {
                let lower = part.to_lowercase();
                assert!(!lower.contains("google"));
                assert!(!lower.contains("all of us"));
            }
        }
    }

    #[test]
    fn lines_are_short_ascii() {
        for m in all_samples() {
            for part in [m.text.as_str(), m.html.as_deref().unwrap()] {
                assert!(part.is_ascii(), "{}", m.subject);
                for line in part.lines() {
                    assert!(line.len() < 76, "{}: {line:?}", m.subject);
                }
            }
        }
    }

    #[test]
    fn html_escapes_every_value() {
        let evil = "<script>alert(1)</script>";
        let m = welcome(
            "ada@example.org",
            &Welcome {
                given_name: evil,
                username: evil,
                temporary_password: "a&b\"c<d",
                complete_registration_url: "https://x.example/\"><img src=x>",
                expires_on: evil,
                support_email: evil,
            },
        );
        let html = m.html.unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
        assert!(!html.contains("a&b"), "{html}");
        // The text part is not HTML and carries the values verbatim.
        assert!(m.text.contains("Hello <script>alert(1)</script>,"));
        assert!(m.text.contains("Your Temporary Password: a&b\"c<d\n"));

        let r = password_reset(
            "ada@example.org",
            &PasswordReset {
                given_name: evil,
                username: evil,
                reset_url: evil,
                valid_minutes: 1,
            },
        );
        assert!(!r.html.unwrap().contains("<script>"));
        assert!(r.text.contains("valid for 1 minute."));
        let p = password_changed(
            "ada@example.org",
            &PasswordChanged {
                given_name: evil,
                username: evil,
                when: evil,
                support_email: evil,
            },
        );
        assert!(!p.html.unwrap().contains("<script>"));
        let i = institution_request_received(
            "ada@example.org",
            &InstitutionRequestReceived {
                contact_name: evil,
                institution_name: evil,
            },
        );
        assert!(!i.html.unwrap().contains("<script>"));
    }

    #[test]
    fn reset_and_changed_wording() {
        let all = all_samples();
        let reset = &all[1];
        assert!(
            reset
                .text
                .contains("https://workbench.example.org/reset?token=abc")
        );
        assert!(reset.text.contains("used only once"));
        assert!(reset.text.contains("valid for 30 minutes"));
        assert!(
            reset
                .text
                .contains("If you did not ask to reset your password")
        );
        let changed = &all[2];
        assert!(changed.text.contains("was changed"));
        assert!(changed.text.contains("If you did not change your password"));
        assert!(changed.text.contains("support@workbench.example.org"));
        let inst = &all[3];
        assert!(inst.text.contains("Example University"));
        assert!(inst.text.starts_with("Hello Grace,\n"));
    }
}
